use chrono::{Duration, Utc};
use entity::{LeadEventKind, Role, Stage, lead, lead_event, user};
use migration::{Migrator, MigratorTrait};
use rand::{SeedableRng, rngs::StdRng};
use sea_orm::{ColumnTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use uuid::Uuid;

use crate::{
    config::DatabaseConfig,
    db::{StatementCounter, Writer},
};

use super::{
    SeedOptions,
    checks::check,
    history::{Action, Cast, Planner, Reasons},
    load_demo, seed,
};

const STAGES: [&str; 7] = ["LEAD", "MQL", "SAL", "SQL", "WON", "LOST", "DISQUALIFIED"];

async fn fresh_db() -> (tempfile::TempDir, DatabaseConnection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Database::connect(database_url(&dir)).await.expect("connect");
    Migrator::up(&db, None).await.expect("migrate");
    (dir, db)
}

fn database_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.path().join("seed.db").display())
}

/// The writer a server would sweep with, on the database in `dir`.
async fn writer(dir: &tempfile::TempDir, db: &DatabaseConnection) -> Writer {
    let config = DatabaseConfig {
        url: database_url(dir),
        max_connections: None,
        acquire_timeout: std::time::Duration::from_secs(5),
        statement_timeout: std::time::Duration::from_secs(5),
    };
    Writer::connect(&config, db, &StatementCounter::default()).await.expect("writer")
}

async fn assert_rules_hold(db: &DatabaseConnection, now: chrono::DateTime<Utc>) -> super::checks::Findings {
    let findings = check(db, Some(now)).await.expect("checks run");
    assert!(findings.violations.is_empty(), "broken rules: {:#?}", findings.violations);
    findings
}

#[tokio::test]
async fn seeded_histories_obey_the_funnel_rules_and_reach_every_stage() {
    let (dir, db) = fresh_db().await;
    let now = Utc::now();
    let report = seed(&db, &SeedOptions { leads: 3_000, rng_seed: 7, now }).await.expect("seed");

    let findings = assert_rules_hold(&db, now).await;
    assert_eq!(report.leads, 3_000);
    assert_eq!(findings.leads, 3_000);
    assert_eq!(findings.events as u64, report.events);
    assert_eq!(findings.touchpoints as u64, report.touchpoints);
    assert_eq!(report.users, 5 + 2 + 5);
    assert_eq!(report.accounts, 375);
    for stage in STAGES {
        assert!(findings.stages.get(stage).copied().unwrap_or(0) > 0, "no lead ends in {stage}: {:?}", findings.stages);
    }
    // Every SAL that ran out of SLA has its breach in the log, as the live sweep records
    // it: the first sweep after a seed finds nothing left to do.
    let breaches = lead_event::Entity::find()
        .filter(lead_event::Column::Kind.eq(LeadEventKind::SlaBreached))
        .count(&db)
        .await
        .expect("count breaches");
    assert!(breaches > 0, "no SAL ran out of its SLA");
    assert_eq!(crate::service::sla::sweep(&writer(&dir, &db).await, now).await.expect("sweep"), 0);
}

#[tokio::test]
async fn seeding_after_the_demo_and_twice_with_one_seed_adds_rows_without_collisions() {
    let (_dir, db) = fresh_db().await;
    let now = Utc::now();
    load_demo(&db, now).await.expect("demo");
    let options = SeedOptions { leads: 500, rng_seed: 1, now };
    seed(&db, &options).await.expect("first seed");
    seed(&db, &options).await.expect("second seed, same rng seed");

    let findings = assert_rules_hold(&db, now).await;
    assert!(findings.leads >= 1_000 + 250, "{} leads", findings.leads);
}

#[tokio::test]
async fn the_demo_covers_every_stage_for_both_reps_and_loads_only_once() {
    let (_dir, db) = fresh_db().await;
    let now = Utc::now();
    let users = load_demo(&db, now).await.expect("demo");
    let emails: Vec<&str> = users.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(
        emails,
        [
            "admin@demo.baton",
            "marketing@demo.baton",
            "manager@demo.baton",
            "rep1@demo.baton",
            "rep2@demo.baton",
            "viewer@demo.baton"
        ]
    );
    assert_eq!(users[0].role, Role::Admin);
    assert_eq!(users[3].role, Role::SalesRep);

    let findings = assert_rules_hold(&db, now).await;
    assert!((250..=350).contains(&findings.leads), "{} leads", findings.leads);
    for stage in STAGES {
        assert!(findings.stages.get(stage).copied().unwrap_or(0) >= 10, "few leads in {stage}: {:?}", findings.stages);
    }
    for rep in &users[3..5] {
        let sals = lead::Entity::find()
            .filter(lead::Column::Stage.eq(Stage::Sal))
            .filter(lead::Column::OwnerId.eq(rep.id))
            .count(&db)
            .await
            .expect("count");
        assert!(sals >= 10, "{} owns {sals} SALs", rep.email);
    }
    let recycled = lead::Entity::find()
        .filter(lead::Column::Stage.eq(Stage::Lead))
        .filter(lead::Column::RecycleCount.gt(0))
        .count(&db)
        .await
        .expect("count");
    assert!(recycled >= 10, "{recycled} returned leads");
    // Open queues are fresh, as a live demo should show them.
    let stale_sals = lead::Entity::find()
        .filter(lead::Column::Stage.eq(Stage::Sal))
        .filter(lead::Column::StageEnteredAt.lt(now - Duration::days(3)))
        .count(&db)
        .await
        .expect("count");
    assert_eq!(stale_sals, 0);

    let again = load_demo(&db, now).await.expect("second demo");
    assert_eq!(again.iter().map(|u| u.id).collect::<Vec<_>>(), users.iter().map(|u| u.id).collect::<Vec<_>>());
    assert_eq!(lead::Entity::find().count(&db).await.expect("count"), findings.leads as u64);
    assert_eq!(user::Entity::find().count(&db).await.expect("count"), 6);
}

#[tokio::test]
async fn bulk_inserted_rows_read_back_byte_for_byte_like_rows_sea_orm_inserts() {
    let (_dir, db) = fresh_db().await;
    let at = Utc::now();
    let user = |n: u8| user::Model {
        id: Uuid::now_v7(),
        email: format!("u{n}@test.baton"),
        name: "Test".to_owned(),
        role: Role::Viewer,
        team: entity::Team::RevOps,
        active: true,
        created_at: at,
    };
    let event = |lead_id| entity::lead_event::Model {
        position: 0,
        id: Uuid::now_v7(),
        lead_id,
        kind: entity::LeadEventKind::Touchpoint,
        from_stage: None,
        to_stage: None,
        from_stage_entered_at: Some(at),
        actor_id: None,
        owner_id: None,
        channel: entity::Channel::Email,
        campaign_id: None,
        reason_code: None,
        note: None,
        amount: None,
        currency_code: None,
        detail: Some(serde_json::json!({"touchpointId": "x", "kind": "CALL", "points": 0, "nested": {"a": [1, 2]}})),
        occurred_at: at,
    };
    let lead = lead::Model {
        id: Uuid::now_v7(),
        email: "l@test.baton".to_owned(),
        search_text: "l@test.baton".to_owned(),
        first_name: None,
        last_name: None,
        title: None,
        account_id: None,
        channel: entity::Channel::Email,
        campaign_id: None,
        score: 0,
        stage: Stage::Lead,
        owner_id: None,
        version: 1,
        stage_entered_at: at,
        first_contact_at: None,
        sla_breached_at: None,
        deal_value_amount: None,
        currency_code: None,
        budget: None,
        authority: None,
        need: None,
        timeline: None,
        reason_code: None,
        reason_note: None,
        recycle_count: 0,
        created_at: at,
        updated_at: at,
    };
    use sea_orm::{ActiveModelTrait, ConnectionTrait, IntoActiveModel, Statement};
    lead.clone().into_active_model().insert(&db).await.expect("lead");
    user(1).into_active_model().insert(&db).await.expect("user by sea-orm");
    let mut by_orm = event(lead.id).into_active_model();
    by_orm.position = sea_orm::ActiveValue::NotSet;
    by_orm.insert(&db).await.expect("event by sea-orm");
    let mut inserts = crate::db::bulk_insert::Inserts::new(db.get_database_backend());
    inserts.insert(&db, &[user(2)]).await.expect("user in bulk");
    inserts.insert(&db, &[event(lead.id)]).await.expect("event in bulk");

    let raw = |sql: &str| {
        let db = &db;
        let sql = sql.to_owned();
        async move {
            let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.expect("query");
            rows.iter().map(|row| row.try_get::<String>("", "v").expect("text")).collect::<Vec<_>>()
        }
    };
    let users = raw("SELECT quote(created_at) || typeof(created_at) AS v FROM user ORDER BY email").await;
    assert_eq!(users[0], users[1]);
    let events =
        raw("SELECT quote(occurred_at) || quote(from_stage_entered_at) || quote(detail) AS v FROM lead_event ORDER BY position")
            .await;
    assert_eq!(events[0], events[1]);
}

#[test]
fn the_funnel_converts_at_realistic_rates() {
    let cast = Cast { marketers: vec![Uuid::nil()], reps: vec![Uuid::max()], managers: vec![Uuid::nil()] };
    let codes = ["BAD_TIMING", "NOT_A_FIT", "NO_BUDGET", "NO_RESPONSE", "LOST_TO_COMPETITOR", "OTHER"];
    let reasons = Reasons::new(codes.map(str::to_owned).to_vec()).expect("codes");
    let planner = Planner { cast: &cast, reasons: &reasons };
    let mut rng = StdRng::seed_from_u64(3);
    let (mut leads, mut mql, mut sal, mut sql, mut won, mut lost) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for _ in 0..50_000 {
        let plan = planner.plan(&mut rng, entity::Channel::PaidSearch);
        leads += 1.0;
        // First pass through the funnel only, as the targets are stated.
        let mut seen = Vec::new();
        for step in &plan.steps {
            if let Action::Move(m) = &step.action {
                seen.push(m.to);
                if m.to == Stage::Lead {
                    break;
                }
            }
        }
        let has = |stage| f64::from(u8::from(seen.contains(&stage)));
        (mql, sal, sql, won, lost) = (
            mql + has(Stage::Mql),
            sal + has(Stage::Sal),
            sql + has(Stage::Sql),
            won + has(Stage::Won),
            lost + has(Stage::Lost),
        );
    }
    let within =
        |value: f64, low: f64, high: f64| assert!((low..=high).contains(&value), "{value} not in {low}..{high}");
    within(mql / leads, 0.27, 0.35);
    within(sal / mql, 0.66, 0.78);
    within(sql / sal, 0.45, 0.55);
    within(won / sql, 0.21, 0.29);
    within(lost / sql, 0.40, 0.50);
}
