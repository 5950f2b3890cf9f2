//! Spawning a fresh app per test, and talking to it like a client would.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use baton::{
    config::{DatabaseConfig, HandoffConfig, JwtConfig, LimitsConfig, LiveConfig},
    startup::{self, ServerOptions},
    state::AppState,
};
use entity::{Channel, LeadEventKind, Role, Stage, campaign, lead, lead_event};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, IntoActiveModel};
use serde_json::{Value, json};
use uuid::Uuid;

pub const TEST_SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";

/// A running Baton on its own database.
pub struct TestApp {
    pub address: SocketAddr,
    pub state: AppState,
    pub client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// An admin who reads leads to check what changed, created on first use.
    observer: tokio::sync::OnceCell<TestUser>,
    _database: TestDatabase,
}

/// A user created for a test, with a valid token.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: Uuid,
    pub email: String,
    pub token: String,
}

impl TestApp {
    /// Baton with HS256 tokens signed by [`TEST_SECRET`].
    pub async fn spawn() -> Self {
        Self::spawn_with(jwt_config(Some(TEST_SECRET), None, None)).await
    }

    pub async fn spawn_with(jwt: JwtConfig) -> Self {
        Self::spawn_with_config(jwt, HandoffConfig::default()).await
    }

    /// Baton with HS256 test tokens and these scoring and routing rules.
    pub async fn spawn_with_handoff(handoff: HandoffConfig) -> Self {
        Self::spawn_with_config(jwt_config(Some(TEST_SECRET), None, None), handoff).await
    }

    async fn spawn_with_config(jwt: JwtConfig, handoff: HandoffConfig) -> Self {
        Self::spawn_on(TestDatabase::create().await, jwt, handoff, LiveConfig::default()).await
    }

    /// Baton with these tokens and these WebSocket and SLA sweep timers.
    pub async fn spawn_live(jwt: JwtConfig, live: LiveConfig) -> Self {
        Self::spawn_on(TestDatabase::create().await, jwt, HandoffConfig::default(), live).await
    }

    /// Another instance of Baton on this app's database (for PostgreSQL multi-instance tests),
    /// with the same test tokens. The database stays until its first app is dropped.
    pub async fn second_instance(&self) -> Self {
        let database = TestDatabase::Shared(self._database.url());
        let jwt = jwt_config(Some(TEST_SECRET), None, None);
        Self::spawn_on(database, jwt, HandoffConfig::default(), LiveConfig::default()).await
    }

    /// The URL of this app's database.
    pub fn database_url(&self) -> String {
        self._database.url()
    }

    /// Whether this app runs on PostgreSQL.
    pub fn on_postgres(&self) -> bool {
        self.state.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres
    }

    /// Baton as [`Self::spawn`] starts it, for a test that needs PostgreSQL: `None`, saying
    /// the test is skipped, when the suite runs on SQLite.
    pub async fn spawn_on_postgres() -> Option<Self> {
        let app = Self::spawn().await;
        if app.on_postgres() {
            return Some(app);
        }
        eprintln!("skipped: needs PostgreSQL (BATON_TEST_DATABASE_URL)");
        None
    }

    /// Baton with HS256 test tokens, these HTTP switches and these limits.
    pub async fn spawn_serving(options: ServerOptions, limits: LimitsConfig) -> Self {
        let jwt = jwt_config(Some(TEST_SECRET), None, None);
        Self::spawn_full(
            TestDatabase::create().await,
            jwt,
            HandoffConfig::default(),
            LiveConfig::default(),
            options,
            limits,
        )
        .await
    }

    async fn spawn_on(database: TestDatabase, jwt: JwtConfig, handoff: HandoffConfig, live: LiveConfig) -> Self {
        let options = ServerOptions { graphiql: true, introspection: true };
        Self::spawn_full(database, jwt, handoff, live, options, test_limits()).await
    }

    async fn spawn_full(
        database: TestDatabase,
        jwt: JwtConfig,
        handoff: HandoffConfig,
        live: LiveConfig,
        options: ServerOptions,
        limits: LimitsConfig,
    ) -> Self {
        let config = DatabaseConfig {
            url: database.url(),
            max_connections: Some(8),
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
        };
        let state = startup::build_state_with(&config, &jwt, &handoff, false, live).await.expect("app state");
        let router = startup::router_with_limits(state.clone(), options, &limits);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = startup::serve(listener, router, async {
                let _ = stopped.await;
            })
            .await;
        });
        Self {
            address,
            state,
            client: reqwest::Client::new(),
            shutdown: Some(shutdown),
            observer: tokio::sync::OnceCell::new(),
            _database: database,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// Adds an active user with `role` and returns them with a one-hour token.
    pub async fn user(&self, role: Role) -> TestUser {
        let email = format!("{}-{}@example.com", format!("{role:?}").to_lowercase(), Uuid::now_v7().simple());
        let user = baton::service::user::add(&self.state.db, &email, "Test User", role, None).await.expect("add user");
        let token = self.state.auth.issue(user.id, Duration::from_secs(3600)).expect("token");
        TestUser { id: user.id, email, token }
    }

    /// Adds an active user without issuing a token (for apps that cannot sign).
    pub async fn user_without_token(&self, role: Role) -> Uuid {
        let email = format!("{}-{}@example.com", format!("{role:?}").to_lowercase(), Uuid::now_v7().simple());
        baton::service::user::add(&self.state.db, &email, "Test User", role, None).await.expect("add user").id
    }

    /// POSTs a GraphQL operation with a bearer token; returns the status and JSON body.
    pub async fn post(&self, token: &str, query: &str, variables: Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url("/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// Runs an operation that must succeed and returns its `data`.
    pub async fn data(&self, user: &TestUser, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(&user.token, query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Runs an operation that must fail and returns its first error's `extensions.code`.
    pub async fn error_code(&self, user: &TestUser, query: &str, variables: Value) -> String {
        let (_, body) = self.post(&user.token, query, variables).await;
        body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}")).to_owned()
    }

    /// Runs an operation that must fail and returns its first error, whole.
    pub async fn error(&self, user: &TestUser, query: &str, variables: Value) -> Value {
        let (_, body) = self.post(&user.token, query, variables).await;
        if !body["errors"][0]["extensions"]["code"].is_string() {
            let text = body.to_string();
            panic!("expected an error in {}", text.get(..2000).unwrap_or(&text));
        }
        body["errors"][0].clone()
    }

    /// Asserts that an operation fails with `BAD_USER_INPUT` naming `field`.
    pub async fn assert_bad_input(&self, user: &TestUser, query: &str, variables: Value, field: &str) {
        let error = self.error(user, query, variables.clone()).await;
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{variables}: {error}");
        assert_eq!(error["extensions"]["field"], field, "{variables}: {error}");
    }

    /// Follows `endCursor` from the first page to the last, `first` items at a time, and
    /// returns every node in the order served. `query` takes `$first: Int` and
    /// `$after: String` besides `variables`, and selects `edges { cursor node { … } }` and
    /// `pageInfo { hasNextPage hasPreviousPage startCursor endCursor }` of the connection
    /// that `path` leads to from `data`. Checks every page's size and page info on the way.
    pub async fn walk(
        &self,
        user: &TestUser,
        query: &str,
        variables: Value,
        path: &[&str],
        first: usize,
    ) -> Vec<Value> {
        let mut nodes = Vec::new();
        let mut after = Value::Null;
        for _ in 0..1000 {
            let mut page_variables = variables.clone();
            page_variables["first"] = json!(first);
            page_variables["after"] = after.clone();
            let data = self.data(user, query, page_variables).await;
            let connection = path.iter().fold(&data, |value, key| &value[*key]);
            let edges = connection["edges"].as_array().unwrap_or_else(|| panic!("no edges in {data}"));
            let info = &connection["pageInfo"];
            assert_eq!(info["hasPreviousPage"], false, "{info}");
            assert_eq!(info["startCursor"], edges.first().map_or(Value::Null, |e| e["cursor"].clone()), "{info}");
            assert_eq!(info["endCursor"], edges.last().map_or(Value::Null, |e| e["cursor"].clone()), "{info}");
            nodes.extend(edges.iter().map(|e| e["node"].clone()));
            if info["hasNextPage"] == false {
                assert!(edges.len() <= first, "{} edges on a page of {first}", edges.len());
                return nodes;
            }
            assert_eq!(edges.len(), first, "a page before the last is full: {data}");
            after = info["endCursor"].clone();
        }
        panic!("more than 1000 pages")
    }

    /// Adds a campaign row directly (no mutation creates campaigns) and returns its id.
    pub async fn campaign(&self, name: &str, channel: Channel) -> String {
        let campaign = campaign::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name.to_owned()),
            channel: Set(channel),
            spend_amount: Set(0),
            currency_code: Set("USD".to_owned()),
            created_at: Set(baton::domain::time::now()),
        };
        campaign.insert(&self.state.db).await.expect("insert campaign").id.to_string()
    }

    /// Creates a lead through the API and returns its id.
    pub async fn create_lead(&self, marketer: &TestUser, email: &str, extra: Value) -> String {
        let mut input = json!({ "email": email, "channel": "WEBINAR" });
        if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
            input.extend(extra.clone());
        }
        let data = self
            .data(
                marketer,
                "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await;
        data["createLead"]["id"].as_str().expect("lead id").to_owned()
    }

    /// Creates an account through the API and returns its id.
    pub async fn create_account(&self, marketer: &TestUser, name: &str, domain: &str) -> String {
        let data = self
            .data(
                marketer,
                "mutation($input: CreateAccountInput!) { createAccount(input: $input) { id } }",
                json!({ "input": { "name": name, "domain": domain } }),
            )
            .await;
        data["createAccount"]["id"].as_str().expect("account id").to_owned()
    }

    /// Test fixture: moves a lead to `stage` with `owner`, appending the matching event, as
    /// the handoff mutations do. Lets read tests set up any funnel state directly.
    pub async fn put_in_stage(&self, lead_id: &str, stage: Stage, owner: Option<Uuid>) {
        let id = Uuid::parse_str(lead_id).expect("uuid");
        let db = &self.state.db;
        let lead = lead::Entity::find_by_id(id).one(db).await.expect("query").expect("lead");
        let now = baton::domain::time::now();
        let event = lead_event::ActiveModel {
            id: Set(Uuid::now_v7()),
            lead_id: Set(id),
            kind: Set(LeadEventKind::StageChanged),
            from_stage: Set(Some(lead.stage)),
            to_stage: Set(Some(stage)),
            from_stage_entered_at: Set(Some(lead.stage_entered_at)),
            actor_id: Set(None),
            owner_id: Set(owner),
            channel: Set(lead.channel),
            campaign_id: Set(lead.campaign_id),
            reason_code: Set(None),
            note: Set(None),
            amount: Set(None),
            currency_code: Set(None),
            detail: Set(None),
            occurred_at: Set(now),
            ..Default::default()
        };
        let mut row = lead.clone().into_active_model();
        row.stage = Set(stage);
        row.owner_id = Set(owner);
        row.version = Set(lead.version + 1);
        row.stage_entered_at = Set(now);
        row.updated_at = Set(now);
        row.update(db).await.expect("update lead");
        event.insert(db).await.expect("append event");
    }

    /// An admin to read leads with, whatever their stage and owner.
    pub async fn observer(&self) -> &TestUser {
        self.observer.get_or_init(|| self.user(Role::Admin)).await
    }

    /// Runs the handoff mutation `name` (`acceptLead`, `recordTouchpoint` …) with `input`:
    /// the lead it returns (with [`LEAD_FIELDS`]), or its first error.
    pub async fn act(&self, user: &TestUser, name: &str, input: Value) -> Result<Value, Value> {
        let (_, body) = self.post(&user.token, &handoff_mutation(name), json!({ "input": input })).await;
        match body.get("errors") {
            Some(errors) => Err(errors[0].clone()),
            None => Ok(body["data"][name].clone()),
        }
    }

    /// Runs a handoff mutation that must succeed and returns the lead.
    pub async fn moved(&self, user: &TestUser, name: &str, input: Value) -> Value {
        self.act(user, name, input.clone()).await.unwrap_or_else(|error| panic!("{name} {input}: {error}"))
    }

    /// Runs a handoff mutation that must fail with `code`, checks that the lead (named by
    /// `input.leadId`) did not change at all, version and history included, and returns the error.
    pub async fn refused(&self, user: &TestUser, name: &str, input: Value, code: &str) -> Value {
        let lead_id = input["leadId"].as_str().unwrap_or_default().to_owned();
        let before = self.snapshot(&lead_id).await;
        let error = match self.act(user, name, input.clone()).await {
            Ok(lead) => panic!("{name} {input} succeeded: {lead}"),
            Err(error) => error,
        };
        assert_eq!(error["extensions"]["code"], code, "{name} {input}: {error}");
        assert_eq!(self.snapshot(&lead_id).await, before, "{name} {input} changed the lead");
        error
    }

    /// Everything about a lead a refused request must leave alone (null for no such lead).
    pub async fn snapshot(&self, lead_id: &str) -> Value {
        if Uuid::parse_str(lead_id).is_err() {
            return Value::Null;
        }
        let query = "query($id: ID!) { lead(id: $id) {
            stage version score recycleCount updatedAt stageEnteredAt firstContactAt slaBreachedAt owner { id }
            dealValue { amount currencyCode } reason { code } reasonNote
            events(first: 100) { edges { node { id kind } } }
            touchpoints(first: 100) { edges { node { id } } }
        } }";
        self.data(self.observer().await, query, json!({ "id": lead_id })).await["lead"].clone()
    }

    /// A lead's history, oldest first, with [`EVENT_FIELDS`].
    pub async fn history(&self, lead_id: &str) -> Vec<Value> {
        let query = format!(
            "query($id: ID!) {{ lead(id: $id) {{ events(first: 100) {{ edges {{ node {{ {EVENT_FIELDS} }} }} }} }} }}"
        );
        nodes(&self.data(self.observer().await, &query, json!({ "id": lead_id })).await["lead"]["events"])
    }

    /// A new lead, moved to `stage` through the real mutations by an admin (`owner` takes
    /// it at SAL; it must be a rep). Returns its id.
    pub async fn lead_in_stage(&self, email: &str, stage: Stage, owner: Option<&TestUser>) -> String {
        let admin = self.observer().await;
        let id = self.create_lead(admin, email, json!({})).await;
        let path: &[&str] = match stage {
            Stage::Lead => &[],
            Stage::Mql => &["qualifyLead"],
            Stage::Sal => &["qualifyLead", "acceptLead"],
            Stage::Sql => &["qualifyLead", "acceptLead", "convertToSql"],
            Stage::Won => &["qualifyLead", "acceptLead", "convertToSql", "closeWon"],
            Stage::Lost => &["qualifyLead", "acceptLead", "convertToSql", "closeLost"],
            Stage::Disqualified => &["disqualifyLead"],
        };
        for name in path {
            let mut input = sample_input(name, &id);
            if *name == "acceptLead" {
                let owner = owner.expect("an owner for a SAL");
                input["ownerId"] = json!(owner.id.to_string());
            }
            self.moved(admin, name, input).await;
        }
        id
    }

    /// Sends every handoff request at once, each from its own task on the test's runtime
    /// (released together by a barrier), and returns their results in the order given.
    pub async fn all_at_once(
        self: &Arc<Self>,
        requests: Vec<(TestUser, &'static str, Value)>,
    ) -> Vec<Result<Value, Value>> {
        let barrier = Arc::new(tokio::sync::Barrier::new(requests.len()));
        let tasks: Vec<_> = requests
            .into_iter()
            .map(|(user, name, input)| {
                let (app, barrier) = (Arc::clone(self), Arc::clone(&barrier));
                tokio::spawn(async move {
                    barrier.wait().await;
                    app.act(&user, name, input).await
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("request task"));
        }
        results
    }

    /// SQL statements sent so far on this app's pool.
    pub fn statements(&self) -> u64 {
        self.state.statements.get()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The lead fields the handoff tests check; every mutation run by [`TestApp::act`] selects them.
pub const LEAD_FIELDS: &str =
    "id stage version score recycleCount stageEnteredAt updatedAt firstContactAt slaBreachedAt
    owner { id } dealValue { amount currencyCode } reason { code } reasonNote
    qualification { budget authority need timeline }";

/// The event fields the handoff tests check.
pub const EVENT_FIELDS: &str = "kind fromStage toStage actor { id } owner { id } reason { code } note
    amount { amount currencyCode } occurredAt timeInPreviousStageSeconds";

/// The mutation `name` taking `$input: <Name>Input!` and selecting [`LEAD_FIELDS`].
pub fn handoff_mutation(name: &str) -> String {
    let mut chars = name.chars();
    let input_type: String = chars.next().map(|c| c.to_ascii_uppercase()).into_iter().chain(chars).collect();
    format!("mutation($input: {input_type}Input!) {{ {name}(input: $input) {{ {LEAD_FIELDS} }} }}")
}

/// A valid input for the handoff mutation `name` on `lead_id`, with every required field.
pub fn sample_input(name: &str, lead_id: &str) -> Value {
    match name {
        "returnToMarketing" => json!({ "leadId": lead_id, "reasonCode": "BAD_TIMING" }),
        "disqualifyLead" => json!({ "leadId": lead_id, "reasonCode": "NOT_A_FIT" }),
        "closeLost" => json!({ "leadId": lead_id, "reasonCode": "LOST_TO_COMPETITOR" }),
        "convertToSql" => json!({
            "leadId": lead_id,
            "dealValue": { "amount": "12000.50", "currencyCode": "USD" },
            "budget": "Approved for Q3",
            "authority": "VP Sales signs",
            "need": "Pipeline visibility",
            "timeline": "This quarter",
        }),
        "closeWon" => json!({ "leadId": lead_id, "amount": { "amount": "11500", "currencyCode": "USD" } }),
        _ => json!({ "leadId": lead_id }),
    }
}

/// The default limits without rate limiting: tests send requests faster than any person.
pub fn test_limits() -> LimitsConfig {
    LimitsConfig { rate_limit_per_minute: 0, anonymous_rate_limit_per_minute: 0, ..LimitsConfig::default() }
}

pub fn jwt_config(secret: Option<&str>, public_key: Option<&str>, audience: Option<&str>) -> JwtConfig {
    JwtConfig {
        secret: secret.map(Into::into),
        public_key: public_key.map(|name| fixture(name).into()),
        private_key: None,
        issuer: None,
        audience: audience.map(str::to_owned),
        leeway_secs: 5,
        key_id: None,
    }
}

/// Path of a file in tests/api/fixtures.
pub fn fixture(name: &str) -> String {
    format!("{}/tests/api/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A database used by one test and removed after it.
enum TestDatabase {
    Sqlite(tempfile::TempDir),
    Postgres {
        server: String,
        name: String,
    },
    /// Another app's database, left to that app to remove.
    Shared(String),
}

impl TestDatabase {
    async fn create() -> Self {
        match std::env::var("BATON_TEST_DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => {
                let name = format!("baton_test_{}", Uuid::now_v7().simple());
                let admin = sea_orm::Database::connect(&url).await.expect("connect to PostgreSQL");
                admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create database");
                admin.close().await.expect("close");
                let server = url.rsplit_once('/').map_or(url.clone(), |(server, _)| server.to_owned());
                Self::Postgres { server, name }
            }
            _ => Self::Sqlite(tempfile::tempdir().expect("temp dir")),
        }
    }

    fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => format!("sqlite://{}/baton.db?mode=rwc", dir.path().display()),
            Self::Postgres { server, name } => format!("{server}/{name}"),
            Self::Shared(url) => url.clone(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Self::Postgres { server, name } = self {
            let admin_url = format!("{server}/postgres");
            let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            // Drop runs outside async code, so the cleanup gets a runtime of its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                runtime.block_on(async {
                    if let Ok(admin) = sea_orm::Database::connect(&admin_url).await {
                        let _ = admin.execute_unprepared(&statement).await;
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// A `DateTime` from the API.
pub fn time(value: &Value) -> chrono::DateTime<chrono::Utc> {
    let text = value.as_str().unwrap_or_else(|| panic!("not a time: {value}"));
    chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}")).to_utc()
}

/// The nodes of a connection, in order.
pub fn nodes(connection: &Value) -> Vec<Value> {
    connection["edges"].as_array().into_iter().flatten().map(|edge| edge["node"].clone()).collect()
}

/// One string field of every node of a connection, in order.
pub fn node_strings(connection: &Value, field: &str) -> Vec<String> {
    nodes(connection).iter().map(|node| node[field].as_str().unwrap_or_default().to_owned()).collect()
}
