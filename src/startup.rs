//! Wires the parts together: database, authenticator, schema and router.

use std::{future::Future, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderName, Request},
    routing::get,
};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{
    auth::Authenticator,
    config::{DatabaseConfig, HandoffConfig, JwtConfig, LimitsConfig, LiveConfig, ServeArgs},
    db,
    domain::scoring::ScoringRules,
    events::Events,
    graphql::subscription::render::Renderer,
    graphql::{SchemaOptions, build_schema_with_state},
    http::{self, HttpState, rate_limit::RateLimits},
    service::{sla, user},
    state::AppState,
    telemetry,
};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Longest a request may run, whatever it is: a backstop behind the execution time limit,
/// which answers with a typed GraphQL error first.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Options of the HTTP surface.
#[derive(Clone, Copy, Debug)]
pub struct ServerOptions {
    pub graphiql: bool,
    pub introspection: bool,
}

impl ServerOptions {
    /// The switches `baton serve` was given, with the environment's defaults.
    pub fn from_args(args: &ServeArgs) -> Self {
        Self { graphiql: args.graphiql_enabled(), introspection: args.introspection_enabled() }
    }
}

/// Connects, migrates, and builds the shared state; starts the tailer and the SLA sweep.
pub async fn build_state_with(
    database: &DatabaseConfig,
    jwt: &JwtConfig,
    handoff: &HandoffConfig,
    production: bool,
    live: LiveConfig,
) -> anyhow::Result<AppState> {
    let mut scoring = ScoringRules::default().with_points(&handoff.score_points)?;
    scoring.mql_threshold = handoff.mql_threshold;
    let (db, statements) = db::connect_migrated(database).await?;
    let writer = db::Writer::connect(database, &db, &statements).await?;
    let auth = Authenticator::from_config(jwt, &db, production).await?;
    let events = Events::start(db::connect_log_reader(database, &db).await?).await?;
    let sla_sweeper = Arc::new(sla::Sweeper::spawn(writer.clone(), events.clone(), live.sla_sweep_interval));
    let deactivated = Arc::new(user::Deactivated::watch(db::uncounted(&db), live.ws.keep_alive));
    let renderer = Arc::new(Renderer::new(db.clone()));
    Ok(AppState {
        db,
        writer,
        statements,
        auth: Arc::new(auth),
        scoring: Arc::new(scoring),
        max_open_sals_per_rep: handoff.max_open_sals_per_rep,
        events,
        ws: live.ws,
        sla_sweeper,
        renderer,
        kpi_cache: Arc::default(),
        deactivated,
        shutdown: CancellationToken::new(),
        connections: TaskTracker::new(),
    })
}

/// The HTTP router with the default limits.
pub fn router(state: AppState, options: ServerOptions) -> Router {
    router_with_limits(state, options, &LimitsConfig::default())
}

/// The HTTP router with these limits.
pub fn router_with_limits(state: AppState, options: ServerOptions, limits: &LimitsConfig) -> Router {
    let http_state = http_state(state, options, limits);
    let backstop = REQUEST_TIMEOUT.max(limits.execution_timeout + Duration::from_secs(5));
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/graphql", get(http::ws::get).post(http::graphql::post))
        .route("/", get(http::graphiql))
        .route("/healthz", get(http::health::healthz))
        .route("/readyz", get(http::health::readyz))
        .route("/metrics", get(http::health::metrics))
        .with_state(http_state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, backstop))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// What the handlers share: the state, the executable schema and the limits.
pub fn http_state(state: AppState, options: ServerOptions, limits: &LimitsConfig) -> HttpState {
    let schema_options = SchemaOptions {
        introspection: options.introspection,
        max_depth: limits.max_query_depth,
        max_complexity: limits.max_query_complexity,
    };
    HttpState {
        app: state.clone(),
        schema: build_schema_with_state(schema_options, state),
        prometheus: telemetry::prometheus(),
        graphiql: options.graphiql,
        cost: limits.cost(),
        documents: Arc::default(),
        rate_limits: Arc::new(RateLimits::new(limits)),
        limits: limits.clone(),
    }
}

/// Serves until `shutdown` completes, then lets in-flight requests finish. Handlers see
/// the peer address (rate limits for requests without a token are per address).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
