//! Random sequences of handoff requests by random roles, through the real API, checked
//! against a model written from the design alone (the transition table of section 1 and
//! the permissions of section 4): only legal moves succeed, each refusal has the expected
//! code, the event log is exactly the successful moves, and stage, owner and version
//! always agree with the log.

use std::ops::Not;

use entity::{Role, Stage, user};
use proptest::{prelude::*, test_runner::TestRunner};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, TestUser, sample_input};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Actor {
    Admin,
    Marketing,
    Manager,
    /// A sales rep, by index into the two reps.
    Rep(usize),
    Viewer,
}

const ACTORS: [Actor; 6] =
    [Actor::Admin, Actor::Marketing, Actor::Manager, Actor::Rep(0), Actor::Rep(1), Actor::Viewer];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    Qualify,
    /// Accept, naming a rep or not.
    Accept(Option<usize>),
    Return,
    Disqualify,
    Convert,
    CloseWon,
    CloseLost,
    Assign(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    Omitted,
    Current,
    Stale,
}

/// One request, as resolved against the lead's current state by [`Plan::resolve`].
#[derive(Clone, Copy, Debug)]
struct Op {
    actor: Actor,
    lead: usize,
    request: Request,
    version: Version,
}

/// Who sends a planned request: a fixed role, or whoever works the lead at that point
/// (marketing for a LEAD, a rep for an MQL, its owner after that).
#[derive(Clone, Copy, Debug)]
enum Sender {
    Fixed(Actor),
    Responsible,
}

/// Which request: any at all, or one the table allows from the lead's stage at that point —
/// the forward move, or the n-th allowed — so that random sequences go deep into the funnel
/// instead of mostly bouncing off it.
#[derive(Clone, Copy, Debug)]
enum Pick {
    Any(Request),
    Forward,
    Allowed(usize),
}

/// A generated step, resolved into an [`Op`] when it runs.
#[derive(Clone, Copy, Debug)]
struct Plan {
    sender: Sender,
    lead: usize,
    pick: Pick,
    /// The rep an acceptance or reassignment names, if any.
    named: Option<usize>,
    version: Version,
}

impl Request {
    fn mutation(self) -> &'static str {
        match self {
            Self::Qualify => "qualifyLead",
            Self::Accept(_) => "acceptLead",
            Self::Return => "returnToMarketing",
            Self::Disqualify => "disqualifyLead",
            Self::Convert => "convertToSql",
            Self::CloseWon => "closeWon",
            Self::CloseLost => "closeLost",
            Self::Assign(_) => "assignLead",
        }
    }

    /// The design's transition table: where a move may start, and where it leads.
    fn table(self) -> Option<(&'static [&'static str], &'static str)> {
        Some(match self {
            Self::Qualify => (&["LEAD"], "MQL"),
            Self::Accept(_) => (&["MQL"], "SAL"),
            Self::Return => (&["MQL", "SAL", "SQL", "LOST"], "LEAD"),
            Self::Disqualify => (&["LEAD", "MQL", "SAL"], "DISQUALIFIED"),
            Self::Convert => (&["SAL"], "SQL"),
            Self::CloseWon => (&["SQL"], "WON"),
            Self::CloseLost => (&["SQL"], "LOST"),
            Self::Assign(_) => return None,
        })
    }
}

/// One entry of a lead's log, as the model expects it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    from: Option<&'static str>,
    to: Option<&'static str>,
    actor: Actor,
    owner: Option<usize>,
}

#[derive(Clone, Debug)]
struct ModelLead {
    stage: &'static str,
    owner: Option<usize>,
    log: Vec<Entry>,
}

impl ModelLead {
    fn version(&self) -> i64 {
        self.log.len() as i64
    }
}

/// What the design says happens.
struct Model {
    leads: Vec<ModelLead>,
    /// The reps in round-robin order (by id), and the last one routing chose.
    rep_order: [usize; 2],
    routed_last: Option<usize>,
}

/// Whether the role ever makes this request (design section 4), whatever the lead.
fn role_may(actor: Actor, request: Request) -> bool {
    match (actor, request) {
        (Actor::Admin, _) => true,
        (Actor::Marketing, request) => matches!(request, Request::Qualify | Request::Disqualify),
        (Actor::Manager, request) => request != Request::Qualify,
        (Actor::Rep(_), request) => !matches!(request, Request::Qualify | Request::Assign(_)),
        (Actor::Viewer, _) => false,
    }
}

/// Whether the actor may make the move on this lead (design sections 1 and 4).
fn may_move(actor: Actor, request: Request, from: &str, owner: Option<usize>) -> bool {
    match actor {
        Actor::Admin => true,
        Actor::Marketing => request == Request::Qualify || (request == Request::Disqualify && from != "SAL"),
        Actor::Manager => request != Request::Disqualify || from != "LEAD",
        Actor::Rep(rep) => matches!(request, Request::Accept(_)) || owner == Some(rep),
        Actor::Viewer => false,
    }
}

impl Model {
    fn new(marketer: Actor, rep_order: [usize; 2]) -> Self {
        let created = Entry { kind: "CREATED", from: None, to: Some("LEAD"), actor: marketer, owner: None };
        let lead = ModelLead { stage: "LEAD", owner: None, log: vec![created] };
        Self { leads: vec![lead.clone(), lead], rep_order, routed_last: None }
    }

    /// Applies `op`, or says which error code refuses it.
    fn apply(&mut self, op: Op) -> Result<(), &'static str> {
        let lead = &self.leads[op.lead];
        if let Actor::Rep(rep) = op.actor
            && lead.stage != "MQL"
            && lead.owner != Some(rep)
        {
            return Err("NOT_FOUND");
        }
        if !role_may(op.actor, op.request) {
            return Err("FORBIDDEN");
        }
        if op.version == Version::Stale {
            return Err("CONFLICT");
        }
        let (stage, owner) = (lead.stage, lead.owner);
        let entry = match op.request {
            Request::Assign(rep) => {
                if !matches!(stage, "SAL" | "SQL") {
                    return Err("BAD_USER_INPUT");
                }
                if owner == Some(rep) {
                    return Ok(());
                }
                Entry { kind: "ASSIGNED", from: None, to: None, actor: op.actor, owner: Some(rep) }
            }
            request => {
                let (sources, target) = request.table().expect("a stage move");
                if !sources.contains(&stage) {
                    return Err("INVALID_TRANSITION");
                }
                if !may_move(op.actor, request, stage, owner) {
                    return Err("FORBIDDEN");
                }
                let owner = match (request, op.actor) {
                    (Request::Accept(named), Actor::Rep(rep)) => match named {
                        Some(other) if other != rep => return Err("FORBIDDEN"),
                        _ => Some(rep),
                    },
                    (Request::Accept(Some(named)), _) => Some(named),
                    (Request::Accept(None), _) => Some(self.route()),
                    (Request::Return, _) => None,
                    _ => owner,
                };
                Entry { kind: "STAGE_CHANGED", from: Some(stage), to: Some(target), actor: op.actor, owner }
            }
        };
        let lead = &mut self.leads[op.lead];
        lead.stage = entry.to.unwrap_or(lead.stage);
        lead.owner = entry.owner;
        lead.log.push(entry);
        Ok(())
    }

    /// Round robin over the two reps (neither near capacity here).
    fn route(&mut self) -> usize {
        let next = match self.routed_last {
            Some(last) if last == self.rep_order[0] => self.rep_order[1],
            _ => self.rep_order[0],
        };
        self.routed_last = Some(next);
        next
    }
}

impl Plan {
    fn resolve(self, model: &Model) -> Op {
        let lead = &model.leads[self.lead];
        let actor = match (self.sender, lead.stage) {
            (Sender::Fixed(actor), _) => actor,
            (Sender::Responsible, "LEAD") => Actor::Marketing,
            (Sender::Responsible, "MQL") => Actor::Rep(self.named.unwrap_or(0)),
            (Sender::Responsible, _) => lead.owner.map_or(Actor::Manager, Actor::Rep),
        };
        // Forward moves first, the way back and out last.
        let allowed: Vec<Request> = [
            Request::Qualify,
            Request::Accept(self.named),
            Request::Convert,
            Request::CloseWon,
            Request::CloseLost,
            Request::Return,
            Request::Disqualify,
        ]
        .into_iter()
        .filter(|request| request.table().is_some_and(|(sources, _)| sources.contains(&lead.stage)))
        .chain(matches!(lead.stage, "SAL" | "SQL").then_some(Request::Assign(self.named.unwrap_or(0))))
        .collect();
        let request = match self.pick {
            Pick::Any(request) => request,
            // WON and DISQUALIFIED allow nothing: then it is a return, which must fail.
            Pick::Forward => allowed.first().copied().unwrap_or(Request::Return),
            Pick::Allowed(n) => allowed.get(n % allowed.len().max(1)).copied().unwrap_or(Request::Return),
        };
        Op { actor, lead: self.lead, request, version: self.version }
    }
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Qualify),
        proptest::option::of(0..2usize).prop_map(Request::Accept),
        Just(Request::Return),
        Just(Request::Disqualify),
        Just(Request::Convert),
        Just(Request::CloseWon),
        Just(Request::CloseLost),
        (0..2usize).prop_map(Request::Assign),
    ]
}

fn plan() -> impl Strategy<Value = Plan> {
    let sender = prop_oneof![
        1 => (0..ACTORS.len()).prop_map(|actor| Sender::Fixed(ACTORS[actor])),
        1 => Just(Sender::Responsible),
    ];
    let pick = prop_oneof![
        1 => request().prop_map(Pick::Any),
        3 => Just(Pick::Forward),
        2 => (0..8usize).prop_map(Pick::Allowed),
    ];
    let version = prop_oneof![4 => Just(Version::Omitted), 2 => Just(Version::Current), 1 => Just(Version::Stale)];
    (sender, 0..2usize, pick, proptest::option::of(0..2usize), version)
        .prop_map(|(sender, lead, pick, named, version)| Plan { sender, lead, pick, named, version })
}

/// The users of one case, one per actor.
struct Cast {
    admin: TestUser,
    marketer: TestUser,
    manager: TestUser,
    reps: [TestUser; 2],
    viewer: TestUser,
}

impl Cast {
    async fn new(app: &TestApp) -> Self {
        Self {
            admin: app.user(Role::Admin).await,
            marketer: app.user(Role::Marketing).await,
            manager: app.user(Role::SalesManager).await,
            reps: [app.user(Role::SalesRep).await, app.user(Role::SalesRep).await],
            viewer: app.user(Role::Viewer).await,
        }
    }

    fn user(&self, actor: Actor) -> &TestUser {
        match actor {
            Actor::Admin => &self.admin,
            Actor::Marketing => &self.marketer,
            Actor::Manager => &self.manager,
            Actor::Rep(rep) => &self.reps[rep],
            Actor::Viewer => &self.viewer,
        }
    }

    fn id(&self, actor: Actor) -> Value {
        json!({ "id": self.user(actor).id.to_string() })
    }

    fn rep_id(&self, rep: Option<usize>) -> Value {
        rep.map_or(Value::Null, |rep| self.id(Actor::Rep(rep)))
    }

    /// A log entry as `lead { events { … } }` shows it.
    fn entry(&self, entry: &Entry) -> Value {
        json!({
            "kind": entry.kind,
            "fromStage": entry.from,
            "toStage": entry.to,
            "actor": self.id(entry.actor),
            "owner": self.rep_id(entry.owner),
        })
    }
}

/// The request the op stands for, valid in every field the model does not vary.
fn input(op: Op, lead_id: &str, model: &Model, cast: &Cast) -> Value {
    let mut input = sample_input(op.request.mutation(), lead_id);
    match op.request {
        Request::Accept(Some(rep)) | Request::Assign(rep) => input["ownerId"] = json!(cast.reps[rep].id.to_string()),
        _ => {}
    }
    let version = model.leads[op.lead].version();
    match op.version {
        Version::Omitted => {}
        Version::Current => input["expectedVersion"] = json!(version),
        Version::Stale => input["expectedVersion"] = json!(version - 1),
    }
    input
}

/// Checks that the lead, as the API shows it, is the model's, and its history the model's log.
async fn assert_agrees(app: &TestApp, cast: &Cast, lead_id: &str, lead: &ModelLead, context: &str) {
    let lead_now = app.snapshot(lead_id).await;
    assert_eq!(lead_now["stage"], lead.stage, "{context}");
    assert_eq!(lead_now["version"], lead.version(), "{context}");
    assert_eq!(lead_now["owner"], cast.rep_id(lead.owner), "{context}");
    let history: Vec<Value> = app
        .history(lead_id)
        .await
        .iter()
        .map(|event| {
            json!({
                "kind": event["kind"],
                "fromStage": event["fromStage"],
                "toStage": event["toStage"],
                "actor": event["actor"],
                "owner": event["owner"],
            })
        })
        .collect();
    let expected: Vec<Value> = lead.log.iter().map(|entry| cast.entry(entry)).collect();
    assert_eq!(history, expected, "{context}");
    // The log alone gives the stage: the target of its last stage-bearing event.
    let last_stage = history.iter().rev().find_map(|event| event["toStage"].as_str());
    assert_eq!(last_stage, lead_now["stage"].as_str(), "{context}");
}

/// Plays one case on `app`, which earlier cases used too: the case brings its own users and
/// leads, and retires the reps of earlier cases so that routing sees only its two.
async fn run(app: &TestApp, plans: Vec<Plan>) {
    user::Entity::update_many()
        .col_expr(user::Column::Active, Expr::value(false))
        .filter(user::Column::Role.eq(Role::SalesRep))
        .exec(&app.state.db)
        .await
        .expect("retire earlier reps");
    let cast = Cast::new(app).await;
    let case = Uuid::now_v7().simple();
    let ids = [
        app.create_lead(&cast.marketer, &format!("first-{case}@example.com"), json!({})).await,
        app.create_lead(&cast.marketer, &format!("second-{case}@example.com"), json!({})).await,
    ];
    let rep_order = if cast.reps[0].id < cast.reps[1].id { [0, 1] } else { [1, 0] };
    let mut model = Model::new(Actor::Marketing, rep_order);
    for (step, plan) in plans.into_iter().enumerate() {
        let op = plan.resolve(&model);
        let lead_id = &ids[op.lead];
        let input = input(op, lead_id, &model, &cast);
        let expected = model.apply(op);
        let got = app.act(cast.user(op.actor), op.request.mutation(), input).await;
        let context = format!("step {step}: {op:?} expected {expected:?}, got {got:?}");
        match (&expected, &got) {
            (Ok(()), Ok(lead)) => {
                let modelled = &model.leads[op.lead];
                assert_eq!(lead["stage"], modelled.stage, "{context}");
                assert_eq!(lead["version"], modelled.version(), "{context}");
                assert_eq!(lead["owner"], cast.rep_id(modelled.owner), "{context}");
            }
            (Err(code), Err(error)) => assert_eq!(error["extensions"]["code"], *code, "{context}"),
            _ => panic!("{context}"),
        }
        assert_agrees(app, &cast, lead_id, &model.leads[op.lead], &context).await;
    }
    for (lead_id, lead) in ids.iter().zip(&model.leads) {
        assert_agrees(app, &cast, lead_id, lead, "at the end").await;
    }
}

/// One app for all cases (a fresh database per case would cost a second each on PostgreSQL),
/// on a runtime that outlives them; each case still starts from fresh users and leads.
#[test]
fn random_requests_by_random_roles_do_exactly_what_the_design_allows() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let app = runtime.block_on(TestApp::spawn());
    let config =
        ProptestConfig { cases: 16, max_shrink_iters: 64, failure_persistence: None, ..ProptestConfig::default() };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&prop::collection::vec(plan(), 1..40), |plans| {
        runtime.block_on(run(&app, plans));
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

/// The whole table at once: every role sends every request to a lead in every stage (owned
/// by the first rep from SAL on), and the API answers as the model says.
#[tokio::test]
async fn every_role_gets_exactly_what_the_design_says_for_every_request_from_every_stage() {
    let app = TestApp::spawn().await;
    let cast = Cast::new(&app).await;
    let stages = [
        (Stage::Lead, "LEAD"),
        (Stage::Mql, "MQL"),
        (Stage::Sal, "SAL"),
        (Stage::Sql, "SQL"),
        (Stage::Won, "WON"),
        (Stage::Lost, "LOST"),
        (Stage::Disqualified, "DISQUALIFIED"),
    ];
    let requests = [
        Request::Qualify,
        Request::Accept(None),
        Request::Accept(Some(1)),
        Request::Return,
        Request::Disqualify,
        Request::Convert,
        Request::CloseWon,
        Request::CloseLost,
        Request::Assign(1),
    ];
    let (mut allowed, mut refused) = (0, 0);
    for (stage, key) in stages {
        let owner = matches!(stage, Stage::Lead | Stage::Mql | Stage::Disqualified).not().then_some(0);
        let mut lead_id =
            app.lead_in_stage(&format!("{key}-0@example.com").to_lowercase(), stage, Some(&cast.reps[0])).await;
        for actor in ACTORS {
            for request in requests {
                let mut model = Model::new(Actor::Marketing, [0, 1]);
                model.leads[0] = ModelLead { stage: key, owner, log: Vec::new() };
                let op = Op { actor, lead: 0, request, version: Version::Omitted };
                let input = input(op, &lead_id, &model, &cast);
                let context = format!("{op:?} on a {key}");
                match model.apply(op) {
                    Err(code) => {
                        app.refused(cast.user(actor), request.mutation(), input, code).await;
                        refused += 1;
                    }
                    Ok(()) => {
                        let lead = app.act(cast.user(actor), request.mutation(), input).await;
                        let lead = lead.unwrap_or_else(|error| panic!("{context}: {error}"));
                        assert_eq!(lead["stage"], model.leads[0].stage, "{context}");
                        if request != Request::Accept(None) || matches!(actor, Actor::Rep(_)) {
                            assert_eq!(lead["owner"], cast.rep_id(model.leads[0].owner), "{context}");
                        }
                        allowed += 1;
                        let email = format!("{key}-{allowed}@example.com").to_lowercase();
                        lead_id = app.lead_in_stage(&email, stage, Some(&cast.reps[0])).await;
                    }
                }
            }
        }
    }
    assert_eq!(allowed + refused, 7 * 6 * 9);
}
