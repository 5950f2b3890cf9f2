//! Drives `POST /graphql` in-process with arbitrary bodies and judges each answer: what
//! the fuzz target runs per input, and what the regression test replays its findings with.

use std::{path::Path, time::Duration};

use axum::{
    body::to_bytes,
    http::{HeaderMap, HeaderValue, StatusCode, header},
};
use entity::Role;

use super::{HttpState, graphql};
use crate::{
    config::{DatabaseConfig, HandoffConfig, JwtConfig, LimitsConfig, LiveConfig},
    db,
    domain::time,
    seed,
    startup::{self, ServerOptions},
};

/// A server's request path on a SQLite database with the demo data, and an admin's token.
pub struct Probe {
    http: HttpState,
    headers: HeaderMap,
}

impl Probe {
    /// Builds the state once: migrates a database in `dir`, loads the demo data, and signs
    /// in as its admin. Limits are the defaults, without rate limiting.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let database = DatabaseConfig {
            url: format!("sqlite://{}/probe.db?mode=rwc", dir.display()),
            max_connections: Some(4),
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
        };
        let jwt = JwtConfig {
            secret: Some("a-probe-secret-that-is-long-enough-for-hs256".into()),
            public_key: None,
            private_key: None,
            issuer: None,
            audience: None,
            leeway_secs: 5,
            key_id: None,
        };
        // The demo data goes in before the live parts (tailer, SLA sweep) start writing.
        let (db, _) = db::connect_migrated(&database).await?;
        let users = seed::load_demo(&db, time::now()).await?;
        db.close().await?;
        let state =
            startup::build_state_with(&database, &jwt, &HandoffConfig::default(), false, LiveConfig::default()).await?;
        let admin =
            users.iter().find(|user| user.role == Role::Admin).ok_or_else(|| anyhow::anyhow!("no demo admin"))?;
        let token = state.auth.issue(admin.id, Duration::from_secs(24 * 3600))?;
        let limits = LimitsConfig {
            rate_limit_per_minute: 0,
            anonymous_rate_limit_per_minute: 0,
            execution_timeout: Duration::from_secs(2),
            ..LimitsConfig::default()
        };
        let http = startup::http_state(state, ServerOptions { graphiql: false, introspection: true }, &limits);
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}"))?);
        Ok(Self { http, headers })
    }

    /// The body to send for a fuzz input: an input starting with a NUL byte is GraphQL
    /// text (the rest, as UTF-8) in a `{"query": …}` envelope, so the fuzzer reaches the
    /// GraphQL parser without having to keep the JSON around it valid; any other input is
    /// the body itself.
    pub fn body_for(input: &[u8]) -> Vec<u8> {
        match input.split_first() {
            Some((0, query)) => serde_json::json!({ "query": String::from_utf8_lossy(query) }).to_string().into_bytes(),
            _ => input.to_vec(),
        }
    }

    /// Sends `body` as a POST; `Err` says what was wrong with the answer. Any status but
    /// 500 is fine; the body must be JSON, and no error may be `INTERNAL`.
    pub async fn send(&self, body: &[u8]) -> Result<(), String> {
        let response = graphql::respond(&self.http, None, &self.headers, body).await;
        let status = response.status();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.map_err(|e| format!("unreadable body: {e}"))?;
        let text = String::from_utf8_lossy(&bytes);
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return Err(format!("500: {text}"));
        }
        let json: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("{status}, not JSON ({e}): {text}"))?;
        let answers = match json {
            serde_json::Value::Array(answers) => answers,
            answer => vec![answer],
        };
        for answer in answers {
            for error in answer["errors"].as_array().into_iter().flatten() {
                if !error["extensions"]["code"].is_string() || error["extensions"]["code"] == "INTERNAL" {
                    return Err(format!("{status}: {error}"));
                }
            }
        }
        Ok(())
    }
}
