//! Baton's rules, free of I/O: the funnel, who may do what, money, and input parsing.

pub mod access;
pub mod email;
pub mod funnel;
pub mod kpi;
pub mod kpi_facts;
pub mod kpi_tally;
pub mod money;
pub mod routing;
pub mod scoring;
pub mod text;
pub mod time;
