//! What `BATON_ENV=production` turns off (GraphiQL, introspection, field suggestions), and
//! that each can be turned back on.

use baton::{
    config::{Cli, Command, ServeArgs},
    startup::ServerOptions,
};
use clap::Parser;
use entity::Role;
use serde_json::json;

use crate::helpers::{TestApp, test_limits};

/// `baton serve` with these flags, as the command line parses them.
fn serve_args(flags: &[&str]) -> ServeArgs {
    let cli = Cli::try_parse_from(["baton", "serve"].iter().chain(flags)).expect("command line");
    match cli.command {
        Command::Serve(args) => args,
        _ => unreachable!("serve"),
    }
}

/// What a client can learn from a server started with `flags`.
struct Exposure {
    graphiql: bool,
    introspection: bool,
    suggestions: bool,
}

async fn exposure(flags: &[&str]) -> Exposure {
    let app = TestApp::spawn_serving(ServerOptions::from_args(&serve_args(flags)), test_limits()).await;
    let user = app.user(Role::Viewer).await;
    let graphiql = app.client.get(app.url("/")).send().await.expect("GET /").status().as_u16() == 200;
    let (_, schema) = app.post(&user.token, "{ __schema { queryType { name } } }", json!({})).await;
    let (_, typed) = app.post(&user.token, "{ __type(name: \"Lead\") { name } }", json!({})).await;
    let introspection = schema["data"]["__schema"]["queryType"]["name"] == "Query";
    assert_eq!(introspection, typed["data"]["__type"]["name"] == "Lead", "{schema} {typed}");
    if !introspection {
        assert!(schema["data"]["__schema"].is_null() && typed["data"]["__type"].is_null(), "{schema} {typed}");
    }
    let (_, typo) = app.post(&user.token, "{ me { emai } }", json!({})).await;
    let message = typo["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
    assert_eq!(typo["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{typo}");
    let suggestions = message.contains("Did you mean") && message.contains("email");
    // `__typename` is not introspection: it always answers.
    assert_eq!(app.data(&user, "{ __typename }", json!({})).await["__typename"], "Query");
    Exposure { graphiql, introspection, suggestions }
}

#[tokio::test]
async fn production_turns_graphiql_introspection_and_suggestions_off() {
    let seen = exposure(&["--env", "production"]).await;
    assert!(!seen.graphiql, "GraphiQL is served in production");
    assert!(!seen.introspection, "introspection answers in production");
    assert!(!seen.suggestions, "field names are suggested in production");
}

#[tokio::test]
async fn development_serves_all_three() {
    let seen = exposure(&[]).await;
    assert!(seen.graphiql && seen.introspection && seen.suggestions);
}

#[tokio::test]
async fn production_can_turn_graphiql_and_introspection_back_on() {
    let seen = exposure(&["--env", "production", "--graphiql", "true", "--introspection", "true"]).await;
    assert!(seen.graphiql && seen.introspection);
    let seen = exposure(&["--introspection", "false"]).await;
    assert!(seen.graphiql && !seen.introspection && !seen.suggestions);
}
