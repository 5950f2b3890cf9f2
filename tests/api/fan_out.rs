//! A pushed event is resolved and serialized once for every subscriber that asks the same
//! query with the same view of the leads, and pushing it to many costs no more database
//! statements than pushing it to one.

use entity::Role;
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, TestUser},
    ws::{PATIENCE, Protocol, WsClient, head_cursor},
};

/// Relations at two levels, each of which would cost a query per subscriber if resolved per subscriber.
const SAL_CREATED: &str = "subscription($after: String) {
    salCreated(after: $after) { cursor kind lead { email stage account { name } owner { name } } owner { name } actor { name } }
}";

/// What pushing one SAL cost: statements sent, renders made, and what each subscriber received.
struct Push {
    statements: u64,
    renders: u64,
    received: Vec<Value>,
}

/// Accepts a new MQL of a new account for `rep` and collects the SAL from every subscriber.
async fn push_one_sal(app: &TestApp, rep: &TestUser, subscribers: &mut [WsClient], name: &str) -> Push {
    let admin = app.observer().await;
    let account = app.create_account(admin, name, &format!("{name}.example")).await;
    let lead = app.create_lead(admin, &format!("buyer@{name}.example"), json!({ "accountId": account })).await;
    app.moved(admin, "qualifyLead", json!({ "leadId": lead })).await;
    let statements = app.statements();
    let renders = app.state.renderer.renders();
    app.moved(admin, "acceptLead", json!({ "leadId": lead, "ownerId": rep.id.to_string() })).await;
    let mut received = Vec::new();
    for subscriber in subscribers.iter_mut() {
        received.push(subscriber.next_data(PATIENCE).await["salCreated"].clone());
    }
    Push { statements: app.statements() - statements, renders: app.state.renderer.renders() - renders, received }
}

/// Subscribes on a new socket from the head of the log: each subscriber's cursor differs,
/// but the cursor only chooses events, so renders are still shared.
async fn subscribe(app: &TestApp, user: &TestUser) -> WsClient {
    let mut client = WsClient::signed_in(app, Protocol::Current, user).await;
    client.subscribe("sals", SAL_CREATED, json!({ "after": head_cursor(app).await })).await;
    client
}

#[tokio::test]
async fn an_event_pushed_to_thirty_managers_is_rendered_once_and_costs_the_statements_of_one() {
    let app = TestApp::spawn().await;
    let rep = app.user(Role::SalesRep).await;
    // The rep sees the same leads differently from managers, so is rendered for on their own.
    let mut subscribers = vec![subscribe(&app, &rep).await, subscribe(&app, &app.user(Role::SalesManager).await).await];
    // A first SAL makes sure both subscriptions have caught up and follow the live log.
    push_one_sal(&app, &rep, &mut subscribers, "warmup").await;

    let one = push_one_sal(&app, &rep, &mut subscribers, "one").await;
    assert_eq!(one.renders, 2, "one render for the rep, one for the manager");

    for _ in 0..29 {
        let manager = app.user(Role::SalesManager).await;
        subscribers.push(subscribe(&app, &manager).await);
    }
    push_one_sal(&app, &rep, &mut subscribers, "warmup-many").await;
    let many = push_one_sal(&app, &rep, &mut subscribers, "many").await;

    assert_eq!(many.renders, 2, "thirty managers share one render");
    // A few statements come and go between pushes: whether the owner and the actor load
    // in one statement or two depends on how their loads meet, and whether the mutation's
    // token user is still cached (for a second). Resolving per subscriber would add at least
    // one statement for each of the 29 new ones.
    assert!(
        many.statements < one.statements + 5,
        "pushing to 31 subscribers cost {} statements, to 2 cost {}",
        many.statements,
        one.statements
    );
    let expected = &many.received[0];
    assert_eq!(expected["lead"]["account"]["name"], "many");
    assert_eq!(expected["owner"]["name"], expected["lead"]["owner"]["name"]);
    assert!(many.received.iter().all(|payload| payload == expected), "subscribers got different payloads");
    eprintln!("one SAL to 2 subscribers: {} statements; to 31: {}", one.statements, many.statements);
}
