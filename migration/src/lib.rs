//! Baton's schema. The same migrations run on SQLite and PostgreSQL, so they use only
//! sea-query's portable schema builders; columns mirror the `entity` crate one to one.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_create_user;
mod m20261126_000002_create_account;
mod m20261126_000003_create_campaign;
mod m20261126_000004_create_stage;
mod m20261126_000005_create_reason;
mod m20261126_000006_create_lead;
mod m20261126_000007_create_touchpoint;
mod m20261126_000008_create_lead_event;
mod m20261126_000009_create_kpi_definition;
mod m20261126_000010_create_setting;
mod m20261126_000011_seed_stage;
mod m20261126_000012_seed_reason;
mod m20261126_000013_seed_kpi_definition;
mod m20261126_000014_create_idempotency_key;
mod m20261126_000015_add_lead_event_txid;
mod m20261126_000016_add_lead_event_sla_breach_index;
mod m20261126_000017_create_kpi_rollups;
mod m20261126_000018_seed_more_kpi_definitions;
mod m20261126_000019_widen_lead_owner_index;
mod m20261126_000020_create_kpi_customer_rollups;
mod m20261126_000021_widen_lead_account_index;
mod m20261127_000022_cluster_kpi_rollups;
mod m20261127_000023_add_lead_sal_awaiting_contact_index;
mod m20261127_000024_add_lead_sla_breached_at;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_user::Migration),
            Box::new(m20261126_000002_create_account::Migration),
            Box::new(m20261126_000003_create_campaign::Migration),
            Box::new(m20261126_000004_create_stage::Migration),
            Box::new(m20261126_000005_create_reason::Migration),
            Box::new(m20261126_000006_create_lead::Migration),
            Box::new(m20261126_000007_create_touchpoint::Migration),
            Box::new(m20261126_000008_create_lead_event::Migration),
            Box::new(m20261126_000009_create_kpi_definition::Migration),
            Box::new(m20261126_000010_create_setting::Migration),
            Box::new(m20261126_000011_seed_stage::Migration),
            Box::new(m20261126_000012_seed_reason::Migration),
            Box::new(m20261126_000013_seed_kpi_definition::Migration),
            Box::new(m20261126_000014_create_idempotency_key::Migration),
            Box::new(m20261126_000015_add_lead_event_txid::Migration),
            Box::new(m20261126_000016_add_lead_event_sla_breach_index::Migration),
            Box::new(m20261126_000017_create_kpi_rollups::Migration),
            Box::new(m20261126_000018_seed_more_kpi_definitions::Migration),
            Box::new(m20261126_000019_widen_lead_owner_index::Migration),
            Box::new(m20261126_000020_create_kpi_customer_rollups::Migration),
            Box::new(m20261126_000021_widen_lead_account_index::Migration),
            Box::new(m20261127_000022_cluster_kpi_rollups::Migration),
            Box::new(m20261127_000023_add_lead_sal_awaiting_contact_index::Migration),
            Box::new(m20261127_000024_add_lead_sla_breached_at::Migration),
        ]
    }
}

/// A named, non-unique index. Explicit names let later migrations drop or replace it.
fn index<T, C>(name: &str, table: T, cols: impl IntoIterator<Item = C>) -> IndexCreateStatement
where
    T: IntoIden,
    C: IntoIndexColumn,
{
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(col);
    }
    index.take()
}

/// A foreign key with the default `NO ACTION` on delete: rows that history points at
/// (users, leads, campaigns, reasons) are kept forever (users are deactivated instead),
/// so deleting one should fail loudly rather than cascade into the event log.
fn foreign_key<T, C, R, D>(from_table: T, from_col: C, to_table: R, to_col: D) -> ForeignKeyCreateStatement
where
    T: IntoIden,
    C: IntoIden,
    R: IntoIden,
    D: IntoIden,
{
    let (from_table, from_col) = (from_table.into_iden(), from_col.into_iden());
    ForeignKey::create()
        .name(format!("fk_{from_table}_{from_col}"))
        .from(from_table, from_col)
        .to(to_table, to_col)
        .take()
}

/// The migration time for seed rows, bound as a chrono value so it is stored exactly as
/// the application stores timestamps. `CURRENT_TIMESTAMP` would decode too, but on SQLite
/// its text (`2026-11-26 10:00:00`) does not compare correctly against sea-orm's RFC 3339
/// text (`2026-11-26T10:00:00.123+00:00`), and SQLite compares timestamps as text.
fn now() -> Expr {
    Expr::val(chrono::Utc::now())
}

/// Inserting seed rows can only fail on a column/value count mismatch, a coding error.
fn seed_error(err: sea_orm_migration::sea_query::error::Error) -> DbErr {
    DbErr::Migration(err.to_string())
}

#[cfg(test)]
mod tests;
