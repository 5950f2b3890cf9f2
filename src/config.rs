//! The command line and its configuration, from flags or `BATON_` environment variables.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use entity::{Role, Team};
use secrecy::SecretString;

/// Baton: the system of record for the marketing-to-sales handoff.
#[derive(Debug, Parser)]
#[command(name = "baton", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, then serve GraphQL over HTTP and WebSocket.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Print a signed JWT for a user, accepted by `baton serve` with the same key settings.
    Token(TokenArgs),
    /// Fill the database with synthetic users, accounts, campaigns and leads with histories.
    Seed(SeedArgs),
    /// Maintain the KPI rollups.
    #[command(subcommand)]
    Kpi(KpiCommand),
}

#[derive(Debug, Subcommand)]
pub enum KpiCommand {
    /// Recompute every KPI rollup from the event log, in one transaction.
    Rebuild,
}

#[derive(Clone, Debug, Args)]
pub struct DatabaseConfig {
    /// Database URL: `sqlite://FILE?mode=rwc` (embedded) or `postgres://USER@HOST/DB`.
    #[arg(
        long = "database-url",
        env = "BATON_DATABASE_URL",
        default_value = "sqlite://baton.db?mode=rwc",
        global = true
    )]
    pub url: String,
    /// Maximum pooled database connections.
    #[arg(
        long = "database-max-connections",
        env = "BATON_DATABASE_MAX_CONNECTIONS",
        default_value_t = 16,
        global = true
    )]
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before failing.
    #[arg(long = "database-acquire-timeout", env = "BATON_DATABASE_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration, global = true)]
    pub acquire_timeout: Duration,
}

/// How tokens are verified (and, for `baton token`, signed).
#[derive(Clone, Debug, Args)]
pub struct JwtConfig {
    /// Shared HS256 secret. Without it or a public key, a development secret kept in the database is used.
    #[arg(long = "jwt-secret", env = "BATON_JWT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub secret: Option<SecretString>,
    /// PEM file with the RS256, ES256 or EdDSA public key tokens are verified with.
    #[arg(long = "jwt-public-key", env = "BATON_JWT_PUBLIC_KEY")]
    pub public_key: Option<PathBuf>,
    /// PEM file with the matching private key, used only by `baton token`.
    #[arg(long = "jwt-private-key", env = "BATON_JWT_PRIVATE_KEY")]
    pub private_key: Option<PathBuf>,
    /// Required `iss` claim, when set.
    #[arg(long = "jwt-issuer", env = "BATON_JWT_ISSUER")]
    pub issuer: Option<String>,
    /// Required `aud` claim, when set.
    #[arg(long = "jwt-audience", env = "BATON_JWT_AUDIENCE")]
    pub audience: Option<String>,
    /// Clock skew tolerated for `exp` and `nbf`, in seconds.
    #[arg(long = "jwt-leeway", env = "BATON_JWT_LEEWAY", default_value_t = 30)]
    pub leeway_secs: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "BATON_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Load demo users, accounts and leads, and print a token for each demo user.
    #[arg(long)]
    pub demo: bool,
    /// `production` turns GraphiQL, introspection and field suggestions off unless enabled explicitly.
    #[arg(long = "env", env = "BATON_ENV", value_enum, default_value_t = Environment::Development)]
    pub environment: Environment,
    /// Serve GraphiQL at `/` (default: on outside production).
    #[arg(long, env = "BATON_GRAPHIQL")]
    pub graphiql: Option<bool>,
    /// Answer introspection queries (default: on outside production).
    #[arg(long, env = "BATON_INTROSPECTION")]
    pub introspection: Option<bool>,
    #[command(flatten)]
    pub jwt: JwtConfig,
    #[command(flatten)]
    pub handoff: HandoffConfig,
}

/// Scoring and routing rules of the handoff.
#[derive(Clone, Debug, Args)]
pub struct HandoffConfig {
    /// Score at which a LEAD becomes an MQL automatically.
    #[arg(long, env = "BATON_MQL_THRESHOLD", default_value_t = 50)]
    pub mql_threshold: i32,
    /// Points per touchpoint kind, overriding the defaults, e.g. `WEBINAR=25,PAGE_VIEW=2`.
    #[arg(long, env = "BATON_SCORE_POINTS", default_value = "")]
    pub score_points: String,
    /// Open SALs a rep may hold before routing passes them over.
    #[arg(long, env = "BATON_MAX_OPEN_SALS_PER_REP", default_value_t = 25)]
    pub max_open_sals_per_rep: u64,
}

impl Default for HandoffConfig {
    fn default() -> Self {
        Self { mql_threshold: 50, score_points: String::new(), max_open_sals_per_rep: 25 }
    }
}

/// Limits and timers of WebSocket connections. The defaults suit production; tests shorten them.
#[derive(Clone, Copy, Debug)]
pub struct WsConfig {
    /// How long a new socket may wait before sending `connection_init` (then: close 4408).
    pub init_timeout: Duration,
    /// How often the server sends a keep-alive (`ping`, or `ka` in the legacy protocol).
    pub keep_alive: Duration,
    /// Subscriptions one socket may run at once; one more is refused with an `error` message.
    pub max_subscriptions: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self { init_timeout: Duration::from_secs(10), keep_alive: Duration::from_secs(15), max_subscriptions: 20 }
    }
}

/// Timers of the live parts: WebSocket connections and the SLA sweep.
#[derive(Clone, Copy, Debug)]
pub struct LiveConfig {
    pub ws: WsConfig,
    /// How often each instance looks for SALs past their SLA.
    pub sla_sweep_interval: Duration,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self { ws: WsConfig::default(), sla_sweep_interval: Duration::from_secs(30) }
    }
}

impl ServeArgs {
    pub fn graphiql_enabled(&self) -> bool {
        self.graphiql.unwrap_or(self.environment == Environment::Development)
    }

    pub fn introspection_enabled(&self) -> bool {
        self.introspection.unwrap_or(self.environment == Environment::Development)
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user and print their id.
    Add(UserAddArgs),
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub name: String,
    /// ADMIN, MARKETING, SALES_REP, SALES_MANAGER or VIEWER.
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    /// MARKETING, SALES or REV_OPS (default: from the role).
    #[arg(long, value_parser = parse_team)]
    pub team: Option<Team>,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Email of an existing, active user.
    #[arg(long)]
    pub email: String,
    /// How long the token is valid, e.g. `15m`, `1h`, `7d`.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
    #[command(flatten)]
    pub jwt: JwtConfig,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Number of leads to create (with users, accounts, campaigns and full histories).
    #[arg(long)]
    pub leads: u64,
    /// Seed of the random generator, for reproducible data.
    #[arg(long, default_value_t = 42)]
    pub rng_seed: u64,
}

fn parse_secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value))
}

fn parse_role(value: &str) -> Result<Role, String> {
    match value.to_ascii_uppercase().replace('-', "_").as_str() {
        "ADMIN" => Ok(Role::Admin),
        "MARKETING" => Ok(Role::Marketing),
        "SALES_REP" => Ok(Role::SalesRep),
        "SALES_MANAGER" => Ok(Role::SalesManager),
        "VIEWER" => Ok(Role::Viewer),
        _ => Err("expected ADMIN, MARKETING, SALES_REP, SALES_MANAGER or VIEWER".into()),
    }
}

fn parse_team(value: &str) -> Result<Team, String> {
    match value.to_ascii_uppercase().replace('-', "_").as_str() {
        "MARKETING" => Ok(Team::Marketing),
        "SALES" => Ok(Team::Sales),
        "REV_OPS" | "REVOPS" => Ok(Team::RevOps),
        _ => Err("expected MARKETING, SALES or REV_OPS".into()),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn roles_parse_in_any_case() {
        assert_eq!(parse_role("sales-rep"), Ok(Role::SalesRep));
        assert_eq!(parse_role("SALES_MANAGER"), Ok(Role::SalesManager));
        assert!(parse_role("boss").is_err());
    }
}
