//! Lists and the point read decode their rows by position (`baton::db::rows`), skipping
//! sea-orm's lookup by name; every column must still read exactly as sea-orm reads it, NULL
//! or not, joined or not, on both databases.

use baton::db::rows::ByPosition;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use entity::{Channel, Role, Stage, Team, account, campaign, lead, reason, user};
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, EntityTrait, IntoActiveModel, Iterable, PrimaryKeyToColumn, QueryOrder,
};
use uuid::Uuid;

use crate::helpers::TestApp;

/// Inserts `models` and checks that the table reads the same both ways.
async fn assert_reads_alike<E>(db: &DatabaseConnection, models: Vec<E::Model>)
where
    E: EntityTrait,
    E::Model: baton::db::rows::DecodeByPosition + IntoActiveModel<E::ActiveModel> + Clone + PartialEq + std::fmt::Debug,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    for model in &models {
        model.clone().into_active_model().insert(db).await.expect("insert");
    }
    let primary = E::PrimaryKey::iter().next().expect("a primary key").into_column();
    let by_name = E::find().order_by_asc(primary).all(db).await.expect("read by name");
    let by_position = baton::db::rows::all(E::find().order_by_asc(primary), db).await.expect("read by position");
    assert_eq!(by_position, by_name);
    for model in &models {
        assert!(by_name.contains(model), "{model:?} did not read back as written");
    }
}

/// Distinct instants, whole microseconds (what both databases keep).
fn at(minutes: i64) -> DateTime<Utc> {
    (DateTime::parse_from_rfc3339("2026-03-04T05:06:07.123456Z").expect("time").with_timezone(&Utc)
        + Duration::minutes(minutes))
    .trunc_subsecs(6)
}

#[tokio::test]
async fn every_column_of_a_listed_or_joined_model_reads_as_sea_orm_reads_it_null_or_not() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;

    let owner = user::Model {
        id: Uuid::now_v7(),
        email: "owner@example.com".into(),
        name: "Olive Owner".into(),
        role: Role::SalesRep,
        team: Team::Sales,
        active: true,
        created_at: at(1),
    };
    let inactive = user::Model {
        id: Uuid::now_v7(),
        email: "gone@example.com".into(),
        name: "Gus Gone".into(),
        role: Role::Marketing,
        team: Team::Marketing,
        active: false,
        created_at: at(2),
    };
    assert_reads_alike::<user::Entity>(db, vec![owner.clone(), inactive]).await;

    let full_account = account::Model {
        id: Uuid::now_v7(),
        name: "Acme Corp".into(),
        search_name: "acme corp".into(),
        domain: Some("acme.example".into()),
        industry: Some("Manufacturing".into()),
        employees: Some(420),
        owner_id: Some(owner.id),
        created_at: at(3),
        updated_at: at(4),
    };
    let bare_account = account::Model {
        id: Uuid::now_v7(),
        name: "Bare".into(),
        search_name: "bare".into(),
        domain: None,
        industry: None,
        employees: None,
        owner_id: None,
        created_at: at(5),
        updated_at: at(6),
    };
    assert_reads_alike::<account::Entity>(db, vec![full_account.clone(), bare_account]).await;

    let spring = campaign::Model {
        id: Uuid::now_v7(),
        name: "Spring webinar".into(),
        channel: Channel::Webinar,
        spend_amount: 1_234_500,
        currency_code: "EUR".into(),
        created_at: at(7),
    };
    assert_reads_alike::<campaign::Entity>(db, vec![spring.clone()]).await;

    let reason_code = reason::Entity::find().one(db).await.expect("reasons").expect("a seeded reason").code;
    // Every nullable column set, and to a value no other column of its type holds, so a
    // column read in another's place shows.
    let full_lead = lead::Model {
        id: Uuid::now_v7(),
        email: "full@example.com".into(),
        first_name: Some("Fiona".into()),
        last_name: Some("Full".into()),
        title: Some("CTO".into()),
        search_text: "fiona full cto".into(),
        account_id: Some(full_account.id),
        channel: Channel::PaidSearch,
        campaign_id: Some(spring.id),
        score: 77,
        stage: Stage::Sql,
        owner_id: Some(owner.id),
        version: 5,
        stage_entered_at: at(10),
        first_contact_at: Some(at(11)),
        sla_breached_at: Some(at(12)),
        deal_value_amount: Some(9_900_000_000),
        currency_code: Some("USD".into()),
        budget: Some("approved".into()),
        authority: Some("decider".into()),
        need: Some("pipeline".into()),
        timeline: Some("this quarter".into()),
        reason_code: Some(reason_code),
        reason_note: Some("came back".into()),
        recycle_count: 2,
        created_at: at(13),
        updated_at: at(14),
    };
    let bare_lead = lead::Model {
        id: Uuid::now_v7(),
        email: "bare@example.com".into(),
        first_name: None,
        last_name: None,
        title: None,
        search_text: "bare".into(),
        account_id: None,
        channel: Channel::Other,
        campaign_id: None,
        score: 0,
        stage: Stage::Lead,
        owner_id: None,
        version: 1,
        stage_entered_at: at(20),
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
        created_at: at(21),
        updated_at: at(22),
    };
    assert_reads_alike::<lead::Entity>(db, vec![full_lead.clone(), bare_lead.clone()]).await;

    // A lead joined with its account and owner (the point read), and one without either.
    for lead in [&full_lead, &bare_lead] {
        let joined =
            || lead::Entity::find_by_id(lead.id).find_also_related(account::Entity).find_also_related(user::Entity);
        let by_name = joined().one(db).await.expect("read by name").expect("the lead");
        let by_position = joined()
            .into_model::<ByPosition<lead::Model>, ByPosition<account::Model>, ByPosition<user::Model>>()
            .one(db)
            .await
            .expect("read by position")
            .expect("the lead");
        assert_eq!((by_position.0.0, by_position.1.map(|a| a.0), by_position.2.map(|u| u.0)), by_name);
    }
    assert_eq!(
        lead::Entity::find_by_id(full_lead.id)
            .find_also_related(account::Entity)
            .find_also_related(user::Entity)
            .one(db)
            .await
            .expect("read")
            .map(|(_, account, owner)| (account, owner)),
        Some((Some(full_account), Some(owner)))
    );
}
