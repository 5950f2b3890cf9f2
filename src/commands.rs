//! What each subcommand does.

use std::time::Duration;

use anyhow::Context as _;
use sea_orm::ActiveEnum;
use tokio::net::TcpListener;

use crate::{
    auth::Authenticator,
    config::{Cli, Command, DatabaseConfig, Environment, KpiCommand, ServeArgs, UserCommand},
    db, domain, graphql, seed, service,
    startup::{self, ServerOptions},
};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(&cli.database, args).await,
        Command::Migrate => {
            db::connect_migrated(&cli.database).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Schema => {
            print!("{}", graphql::schema::sdl());
            Ok(())
        }
        Command::User(UserCommand::Add(args)) => {
            let (db, _) = db::connect_migrated(&cli.database).await?;
            let user = service::user::add(&db, &args.email, &args.name, args.role, args.team)
                .await
                .map_err(|e| anyhow::anyhow!(e.message()))?;
            println!("{}", user.id);
            Ok(())
        }
        Command::Token(args) => {
            let (db, _) = db::connect_migrated(&cli.database).await?;
            let user = service::user::find_by_email(&db, &args.email)
                .await
                .map_err(|e| anyhow::anyhow!(e.message()))?
                .filter(|user| user.active)
                .with_context(|| format!("no active user has the email {}", args.email))?;
            let auth = Authenticator::from_config(&args.jwt, &db, false).await?;
            println!("{}", auth.issue(user.id, args.ttl)?);
            Ok(())
        }
        Command::Seed(args) => {
            let (db, _) = db::connect_migrated(&bulk_work(&cli.database)).await?;
            let options = seed::SeedOptions { leads: args.leads, rng_seed: args.rng_seed, now: domain::time::now() };
            let report = seed::seed(&db, &options).await?;
            println!(
                "seeded {} leads, {} events, {} touchpoints, {} accounts, {} campaigns, {} users in {:.1} s \
                 (KPI rollups {:.1} s)",
                report.leads,
                report.events,
                report.touchpoints,
                report.accounts,
                report.campaigns,
                report.users,
                report.elapsed.as_secs_f64(),
                report.rollups.as_secs_f64()
            );
            Ok(())
        }
        Command::Kpi(KpiCommand::Rebuild) => {
            let (db, _) = db::connect_migrated(&bulk_work(&cli.database)).await?;
            let report = service::kpi::rebuild::rebuild(&db).await?;
            println!(
                "rebuilt the KPI rollups from {} events and {} leads in {:.1} s",
                report.events,
                report.leads,
                report.elapsed.as_secs_f64()
            );
            Ok(())
        }
    }
}

/// The database settings for work over whole tables (seeding, rebuilding the rollups):
/// no statement timeout, as building an index or reading the log of ten million leads
/// takes minutes, and the timeout is there to keep a server's pool from being held.
fn bulk_work(database: &DatabaseConfig) -> DatabaseConfig {
    DatabaseConfig { statement_timeout: Duration::ZERO, ..database.clone() }
}

async fn serve(database: &DatabaseConfig, args: ServeArgs) -> anyhow::Result<()> {
    let production = args.environment == Environment::Production;
    let state = startup::build_state_with(database, &args.jwt, &args.handoff, production, args.live).await?;
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    let options = ServerOptions::from_args(&args);
    println!("Baton is serving GraphQL at http://{address}/graphql");
    if options.graphiql {
        println!("GraphiQL: http://{address}/ (add the header Authorization: Bearer <token>)");
    }
    if args.demo {
        let users = seed::load_demo(&state.db, domain::time::now()).await?;
        println!("Demo data loaded. Tokens, valid for 12 hours:");
        for user in users {
            let token = state.auth.issue(user.id, Duration::from_secs(12 * 3600))?;
            println!("  {:<14} {:<24} {token}", user.role.to_value(), user.email);
        }
    } else {
        println!("Get a token: baton user add --email you@example.com --name You --role ADMIN");
        println!("             baton token --email you@example.com");
    }
    tokio::spawn(sweep_idempotency_keys(state.db.clone()));
    let (shutdown, connections) = (state.shutdown.clone(), state.connections.clone());
    let stopping = async move {
        startup::shutdown_signal().await;
        shutdown.cancel();
    };
    startup::serve(listener, startup::router_with_limits(state, options, &args.limits), stopping).await?;
    // Upgraded WebSockets outlive the HTTP server: let each send its going-away close.
    connections.close();
    if tokio::time::timeout(Duration::from_secs(5), connections.wait()).await.is_err() {
        tracing::warn!("some WebSocket connections did not close in time");
    }
    Ok(())
}

/// Forgets idempotency keys past their retention, hourly.
async fn sweep_idempotency_keys(db: sea_orm::DatabaseConnection) {
    let mut interval = tokio::time::interval(Duration::from_secs(3600));
    loop {
        interval.tick().await;
        match service::idempotency::sweep(&db, domain::time::now()).await {
            Ok(0) => {}
            Ok(swept) => tracing::info!(swept, "expired idempotency keys removed"),
            Err(error) => tracing::warn!(error = %error.message(), "sweeping idempotency keys failed"),
        }
    }
}
