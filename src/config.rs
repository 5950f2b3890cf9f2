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
    /// Maximum pooled database connections [default: 16 on PostgreSQL; on SQLite one per
    /// core, at least 2].
    #[arg(long = "database-max-connections", env = "BATON_DATABASE_MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<u32>,
    /// How long a request waits for a pooled connection before failing.
    #[arg(long = "database-acquire-timeout", env = "BATON_DATABASE_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration, global = true)]
    pub acquire_timeout: Duration,
    /// Longest one SQL statement may run on PostgreSQL (its `statement_timeout`); 0 for no limit.
    #[arg(long = "database-statement-timeout", env = "BATON_DATABASE_STATEMENT_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    pub statement_timeout: Duration,
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
    /// The `kid` tokens must name, when the issuer sets one; without it, tokens naming any key are refused.
    #[arg(long = "jwt-key-id", env = "BATON_JWT_KEY_ID")]
    pub key_id: Option<String>,
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
    #[command(flatten)]
    pub live: LiveConfig,
    #[command(flatten)]
    pub limits: LimitsConfig,
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

/// What one client may ask of the server: query cost, batches, time and request rate.
#[derive(Clone, Debug, Args)]
pub struct LimitsConfig {
    /// Deepest nesting of selection sets in one operation (GraphiQL's introspection query needs 13).
    #[arg(long, env = "BATON_MAX_QUERY_DEPTH", default_value_t = 15)]
    pub max_query_depth: usize,
    /// Largest complexity of one operation (a connection field costs its children once per
    /// item of `first`, default 20).
    #[arg(long, env = "BATON_MAX_QUERY_COMPLEXITY", default_value_t = 20_000)]
    pub max_query_complexity: usize,
    /// Most fields one operation selects, counting each fragment spread again.
    #[arg(long, env = "BATON_MAX_QUERY_FIELDS", default_value_t = 2_000)]
    pub max_query_fields: usize,
    /// Most aliased fields in one operation.
    #[arg(long, env = "BATON_MAX_ALIASES", default_value_t = 50)]
    pub max_aliases: usize,
    /// Most fields at the top level of one operation.
    #[arg(long, env = "BATON_MAX_ROOT_FIELDS", default_value_t = 20)]
    pub max_root_fields: usize,
    /// Most directives on one field.
    #[arg(long, env = "BATON_MAX_DIRECTIVES_PER_FIELD", default_value_t = 4)]
    pub max_directives_per_field: usize,
    /// Most lexical tokens in one document.
    #[arg(long, env = "BATON_MAX_QUERY_TOKENS", default_value_t = 10_000)]
    pub max_query_tokens: usize,
    /// Operations accepted in one batched request; 0 refuses batches.
    #[arg(long, env = "BATON_MAX_BATCH", default_value_t = 0)]
    pub max_batch: usize,
    /// Longest one operation may run before it is abandoned with a typed error.
    #[arg(long, env = "BATON_EXECUTION_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub execution_timeout: Duration,
    /// Operations per minute per user (token subject); 0 turns rate limiting off.
    #[arg(long, env = "BATON_RATE_LIMIT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_per_minute: u32,
    /// Operations a user may send at once above the steady rate.
    #[arg(long, env = "BATON_RATE_LIMIT_BURST", default_value_t = 100)]
    pub rate_limit_burst: u32,
    /// Requests per minute per IP address without a valid token.
    #[arg(long, env = "BATON_ANONYMOUS_RATE_LIMIT_PER_MINUTE", default_value_t = 60)]
    pub anonymous_rate_limit_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_query_depth: 15,
            max_query_complexity: 20_000,
            max_query_fields: 2_000,
            max_aliases: 50,
            max_root_fields: 20,
            max_directives_per_field: 4,
            max_query_tokens: 10_000,
            max_batch: 0,
            execution_timeout: Duration::from_secs(10),
            rate_limit_per_minute: 600,
            rate_limit_burst: 100,
            anonymous_rate_limit_per_minute: 60,
        }
    }
}

impl LimitsConfig {
    /// The bounds checked on every document before it is validated or run.
    pub fn cost(&self) -> crate::graphql::cost::Limits {
        crate::graphql::cost::Limits {
            max_depth: self.max_query_depth,
            max_fields: self.max_query_fields,
            max_aliases: self.max_aliases,
            max_root_fields: self.max_root_fields,
            max_directives_per_field: self.max_directives_per_field,
            max_tokens: self.max_query_tokens,
        }
    }
}

/// Limits and timers of WebSocket connections. The defaults suit production; tests shorten them.
#[derive(Clone, Copy, Debug, Args)]
pub struct WsConfig {
    /// How long a new socket may wait before sending `connection_init` (then: close 4408).
    #[arg(long = "ws-init-timeout", env = "BATON_WS_INIT_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub init_timeout: Duration,
    /// How often the server sends a keep-alive (`ping`, or `ka` in the legacy protocol) and a
    /// WebSocket ping; a peer silent for two of these is dropped.
    #[arg(long = "ws-keep-alive", env = "BATON_WS_KEEP_ALIVE", default_value = "15s", value_parser = humantime::parse_duration)]
    pub keep_alive: Duration,
    /// Subscriptions one socket may run at once; one more is refused with an `error` message.
    #[arg(long = "ws-max-subscriptions", env = "BATON_WS_MAX_SUBSCRIPTIONS", default_value_t = 20)]
    pub max_subscriptions: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self { init_timeout: Duration::from_secs(10), keep_alive: Duration::from_secs(15), max_subscriptions: 20 }
    }
}

/// Timers of the live parts: WebSocket connections and the SLA sweep.
#[derive(Clone, Copy, Debug, Args)]
pub struct LiveConfig {
    #[command(flatten)]
    pub ws: WsConfig,
    /// How often each instance looks for SALs past their SLA.
    #[arg(long = "sla-sweep-interval", env = "BATON_SLA_SWEEP_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
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
    fn limit_defaults_agree_between_flags_and_code() {
        let cli = Cli::try_parse_from(["baton", "serve"]).expect("parse");
        let Command::Serve(args) = cli.command else { panic!("serve") };
        let defaults = LimitsConfig::default();
        assert_eq!(format!("{:?}", args.limits), format!("{defaults:?}"));
        assert_eq!(defaults.cost(), crate::graphql::cost::Limits::default());
    }

    #[test]
    fn roles_parse_in_any_case() {
        assert_eq!(parse_role("sales-rep"), Ok(Role::SalesRep));
        assert_eq!(parse_role("SALES_MANAGER"), Ok(Role::SalesManager));
        assert!(parse_role("boss").is_err());
    }
}
