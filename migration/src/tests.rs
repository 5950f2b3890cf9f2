//! Runs the migrations on a fresh SQLite database and reads and writes rows through the
//! entities, so a column that does not match its entity fails here rather than in the API.

use entity::{Channel, LeadEventKind, Stage, Team, lead, lead_event, stage};
use sea_orm_migration::sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    Database, EntityTrait, NotSet, PaginatorTrait, QueryOrder,
    prelude::{Json, Uuid},
};

use super::*;

#[tokio::test]
async fn migrations_match_entities_on_sqlite() {
    // sea-orm gives SQLite a one-connection pool, so the in-memory database lives for the test.
    let db = Database::connect("sqlite::memory:").await.expect("open sqlite");
    // A full round trip first: every `down` must undo its `up`.
    Migrator::up(&db, None).await.expect("migrate up");
    Migrator::down(&db, None).await.expect("migrate down");
    Migrator::up(&db, None).await.expect("migrate up again");

    // The rollups live in their keys' B-trees.
    let rollup = db
        .query_one_raw(sea_orm_migration::sea_orm::Statement::from_string(
            sea_orm_migration::sea_orm::DbBackend::Sqlite,
            "SELECT sql FROM sqlite_master WHERE name = 'kpi_duration'",
        ))
        .await
        .expect("read the schema")
        .expect("kpi_duration");
    let rollup: String = rollup.try_get("", "sql").expect("its definition");
    assert!(rollup.ends_with("WITHOUT ROWID"), "{rollup}");

    // Seeds decode through the entities, timestamps included.
    let sql = stage::Entity::find_by_id(Stage::Sql).one(&db).await.expect("query stage").expect("SQL stage");
    assert_eq!((sql.team, sql.sla_minutes, sql.win_probability_percent), (Team::Sales, Some(43_200), 35));
    assert_eq!(stage::Entity::find().count(&db).await.expect("count stages"), 7);
    assert_eq!(entity::kpi_definition::Entity::find().count(&db).await.expect("count kpis"), 21);
    let reason = entity::reason::Entity::find_by_id("NO_BUDGET").one(&db).await.expect("query reason");
    assert!(reason.expect("NO_BUDGET reason").active);

    // The event log: positions come from the database, in insertion order.
    // PostgreSQL keeps microseconds, so compare at that precision.
    let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
    let new_lead = lead::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set("ada@example.com".into()),
        search_text: Set("ada@example.com".into()),
        first_name: Set(None),
        last_name: Set(None),
        title: Set(None),
        account_id: Set(None),
        channel: Set(Channel::Webinar),
        campaign_id: Set(None),
        score: Set(0),
        stage: Set(Stage::Lead),
        owner_id: Set(None),
        version: Set(1),
        stage_entered_at: Set(now),
        first_contact_at: Set(None),
        sla_breached_at: Set(None),
        deal_value_amount: Set(None),
        currency_code: Set(None),
        budget: Set(None),
        authority: Set(None),
        need: Set(None),
        timeline: Set(None),
        reason_code: Set(Some("NO_BUDGET".into())),
        reason_note: Set(None),
        recycle_count: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    };
    // Foreign keys are enforced: an unknown reason code is refused.
    let mut bad = new_lead.clone();
    bad.reason_code = Set(Some("NO_SUCH_REASON".into()));
    assert!(bad.insert(&db).await.is_err(), "unknown reason code accepted");
    let lead = new_lead.insert(&db).await.expect("insert lead");
    for kind in [LeadEventKind::Created, LeadEventKind::StageChanged] {
        lead_event::ActiveModel {
            position: NotSet,
            id: Set(Uuid::now_v7()),
            lead_id: Set(lead.id),
            kind: Set(kind),
            from_stage: Set(None),
            to_stage: Set(Some(Stage::Lead)),
            from_stage_entered_at: Set(None),
            actor_id: Set(None),
            owner_id: Set(None),
            channel: Set(lead.channel),
            campaign_id: Set(None),
            reason_code: Set(None),
            note: Set(None),
            amount: Set(Some(480_050)),
            currency_code: Set(Some("EUR".into())),
            detail: Set(Some(Json::from("routed"))),
            occurred_at: Set(now),
        }
        .insert(&db)
        .await
        .expect("insert lead_event");
    }
    let events =
        lead_event::Entity::find().order_by_asc(lead_event::Column::Position).all(&db).await.expect("read lead_event");
    assert_eq!(events.iter().map(|e| e.position).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(events[1].occurred_at, now);
    assert_eq!(events[1].detail, Some(Json::from("routed")));
}

#[tokio::test]
async fn a_sals_recorded_breach_is_copied_onto_its_lead() {
    let db = Database::connect("sqlite::memory:").await.expect("open sqlite");
    let before_breach_column = Migrator::migrations().len() as u32 - 1;
    Migrator::up(&db, Some(before_breach_column)).await.expect("migrate up to the breach column");
    let entered = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6) - chrono::TimeDelta::hours(3);
    let breached_at = entered + chrono::TimeDelta::hours(1);
    // Two SALs, one breached in its current stay and one in an earlier stay only, and a
    // lead that breached as a SAL before it moved on.
    let leads = [
        (Stage::Sal, Some(entered)),
        (Stage::Sal, Some(entered - chrono::TimeDelta::days(1))),
        (Stage::Sql, Some(entered)),
    ];
    let mut ids = Vec::new();
    for (n, (stage, breach_stay)) in leads.into_iter().enumerate() {
        let id = Uuid::now_v7();
        ids.push(id);
        let lead = lead::ActiveModel {
            id: Set(id),
            email: Set(format!("{n}@example.com")),
            search_text: Set(format!("{n}@example.com")),
            channel: Set(Channel::Webinar),
            score: Set(0),
            stage: Set(stage),
            version: Set(3),
            stage_entered_at: Set(entered),
            recycle_count: Set(0),
            created_at: Set(entered),
            updated_at: Set(entered),
            ..Default::default()
        };
        lead::Entity::insert(lead).exec_without_returning(&db).await.expect("insert lead");
        let event = lead_event::ActiveModel {
            id: Set(Uuid::now_v7()),
            lead_id: Set(id),
            kind: Set(LeadEventKind::SlaBreached),
            from_stage: Set(Some(Stage::Sal)),
            from_stage_entered_at: Set(breach_stay),
            channel: Set(Channel::Webinar),
            occurred_at: Set(breached_at),
            ..Default::default()
        };
        lead_event::Entity::insert(event).exec_without_returning(&db).await.expect("insert breach");
    }

    Migrator::up(&db, None).await.expect("migrate up");
    let mut breaches = Vec::new();
    for id in ids {
        breaches.push(lead::Entity::find_by_id(id).one(&db).await.expect("read lead").expect("lead").sla_breached_at);
    }
    assert_eq!(breaches, [Some(breached_at), None, None]);
}
