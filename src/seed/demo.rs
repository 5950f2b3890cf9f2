//! `load_demo`: a small, fixed world to try the API with — one user per role, twenty
//! companies, eight campaigns and about three hundred leads in every stage.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{Channel, Role, Stage, Team, account, user};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, TransactionTrait};
use uuid::Uuid;

use crate::db::bulk_insert::Inserts;

use super::{
    generator::{Arrivals, campaign_for, load_reason_codes, make_campaigns, pick_channel},
    history::{Batch, Cast, Contact, DAY, HOUR, MINUTE, Plan, Planner, Reasons, at, lognormal, uuid_v7},
    names::{self, FIRST_NAMES, LAST_NAMES, TITLES, pick},
};

/// The demo's users, by e-mail. The first one marks the demo as loaded.
const USERS: [(&str, &str, Role, Team); 6] = [
    ("admin@demo.baton", "Riley Chen", Role::Admin, Team::RevOps),
    ("marketing@demo.baton", "Maya Patel", Role::Marketing, Team::Marketing),
    ("manager@demo.baton", "Sam Ortega", Role::SalesManager, Team::Sales),
    ("rep1@demo.baton", "Jordan Lee", Role::SalesRep, Team::Sales),
    ("rep2@demo.baton", "Taylor Brooks", Role::SalesRep, Team::Sales),
    ("viewer@demo.baton", "Casey Nguyen", Role::Viewer, Team::RevOps),
];

/// Name, domain, industry, employees.
const ACCOUNTS: [(&str, &str, &str, i32); 20] = [
    ("Northwind Traders", "northwindtraders.com", "Retail", 850),
    ("Contoso Pharmaceuticals", "contoso-pharma.com", "Healthcare", 4_200),
    ("Globex Logistics", "globexlogistics.com", "Logistics", 1_300),
    ("Initech Software", "initech.io", "Software", 240),
    ("Umbra Insurance", "umbrainsurance.com", "Insurance", 3_100),
    ("Blue Harbor Capital", "blueharborcapital.com", "Financial Services", 410),
    ("Summit Peak Health", "summitpeakhealth.com", "Healthcare", 980),
    ("Cedar & Stone Manufacturing", "cedarstone-mfg.com", "Manufacturing", 1_650),
    ("Lumen Learning Labs", "lumenlearninglabs.com", "Education", 130),
    ("Falcon Freight", "falconfreight.com", "Logistics", 520),
    ("Vertex Robotics", "vertexrobotics.ai", "Manufacturing", 310),
    ("Evergreen Energy Partners", "evergreenenergy.co", "Energy", 2_200),
    ("Orbit Media Group", "orbitmediagroup.com", "Media", 175),
    ("Quantum Bio", "quantumbio.tech", "Biotech", 90),
    ("Redwood Hospitality", "redwoodhospitality.com", "Hospitality", 5_400),
    ("Sterling Analytics", "sterlinganalytics.io", "Software", 65),
    ("Beacon Telecom", "beacontelecom.net", "Telecommunications", 7_800),
    ("Crescent Real Estate", "crescentrealestate.com", "Real Estate", 260),
    ("Pioneer Foods", "pioneerfoods.com", "Retail", 1_900),
    ("Atlas Professional Services", "atlasps.com", "Professional Services", 720),
];

const FREE_MAIL: [&str; 3] = ["gmail.com", "outlook.com", "proton.me"];

/// Where a demo lead should end up.
#[derive(Clone, Copy)]
enum Want {
    /// In LEAD, never handed to sales.
    Fresh,
    /// Back in LEAD after sales returned it at least once.
    Recycled,
    /// A SAL owned by the demo rep at this index of `Cast::reps`.
    SalOf(usize),
    /// In this stage, any history.
    In(Stage),
}

/// How many demo leads end where: about 300, every stage, SALs for both reps.
const WANTS: [(Want, usize); 9] = [
    (Want::Fresh, 70),
    (Want::Recycled, 20),
    (Want::In(Stage::Mql), 35),
    (Want::SalOf(0), 20),
    (Want::SalOf(1), 20),
    (Want::In(Stage::Sql), 40),
    (Want::In(Stage::Won), 35),
    (Want::In(Stage::Lost), 35),
    (Want::In(Stage::Disqualified), 25),
];

/// Fixed, so every demo tells the same story; only ids differ.
const DEMO_RNG_SEED: u64 = 20_260_101;

/// Loads the demo users, accounts, campaigns and leads, with histories ending before
/// `now`. Idempotent: if `admin@demo.baton` exists it inserts nothing and returns the
/// demo users that exist. Returns the users in the order admin, marketing, manager,
/// rep1, rep2, viewer.
#[tracing::instrument(skip_all)]
pub async fn load_demo(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<Vec<user::Model>, DbErr> {
    let txn = db.begin().await?;
    let emails = USERS.map(|(email, ..)| email);
    let existing = user::Entity::find().filter(user::Column::Email.is_in(emails)).all(&txn).await?;
    if existing.iter().any(|u| u.email == USERS[0].0) {
        return Ok(in_demo_order(existing));
    }

    let now = now.timestamp_micros();
    let start = now - 365 * DAY;
    let founded = start - 30 * DAY;
    let mut rng = StdRng::seed_from_u64(DEMO_RNG_SEED);
    let mut ids = StdRng::from_os_rng();
    let mut inserts = Inserts::new(db.get_database_backend());

    // Users someone already added by hand (say rep1) are reused, not duplicated.
    let new_users: Vec<user::Model> = USERS
        .iter()
        .filter(|(email, ..)| !existing.iter().any(|u| u.email == *email))
        .map(|&(email, name, role, team)| user::Model {
            id: uuid_v7(founded, &mut ids),
            email: email.to_owned(),
            name: name.to_owned(),
            role,
            team,
            active: true,
            created_at: at(founded),
        })
        .collect();
    inserts.insert(&txn, &new_users).await?;
    let users = in_demo_order(existing.into_iter().chain(new_users).collect());
    let with_email = |email: &str| users.iter().filter(|u| u.email == email).map(|u| u.id).collect::<Vec<_>>();
    let cast = Cast {
        marketers: with_email("marketing@demo.baton"),
        reps: [with_email("rep1@demo.baton"), with_email("rep2@demo.baton")].concat(),
        managers: with_email("manager@demo.baton"),
    };

    // Accounts: an existing company with the same domain is reused.
    let domains = ACCOUNTS.map(|(_, domain, ..)| domain);
    let mut account_ids: HashMap<String, Uuid> = account::Entity::find()
        .filter(account::Column::Domain.is_in(domains))
        .all(&txn)
        .await?
        .into_iter()
        .filter_map(|a| Some((a.domain?, a.id)))
        .collect();
    let mut new_accounts = Vec::new();
    for (name, domain, industry, employees) in ACCOUNTS {
        if account_ids.contains_key(domain) {
            continue;
        }
        let created = founded - rng.random_range(0..300 * DAY);
        let id = uuid_v7(created, &mut ids);
        account_ids.insert(domain.to_owned(), id);
        new_accounts.push(account::Model {
            id,
            name: name.to_owned(),
            search_name: name.to_lowercase(),
            domain: Some(domain.to_owned()),
            industry: Some(industry.to_owned()),
            employees: Some(employees),
            owner_id: cast.reps.choose(&mut rng).copied(),
            created_at: at(created),
            updated_at: at(created),
        });
    }
    inserts.insert(&txn, &new_accounts).await?;
    let accounts: Vec<(Uuid, &str)> =
        ACCOUNTS.iter().filter_map(|(_, domain, ..)| Some((*account_ids.get(*domain)?, *domain))).collect();

    // One campaign per channel that runs campaigns.
    let mut campaigns = make_campaigns(&mut rng, &mut ids, founded);
    campaigns.dedup_by_key(|c| c.channel);
    inserts.insert(&txn, &campaigns).await?;
    let campaigns: Vec<(Uuid, Channel)> = campaigns.iter().map(|c| (c.id, c.channel)).collect();

    let reasons = Reasons::new(load_reason_codes(&txn).await?)?;
    let planner = Planner { cast: &cast, reasons: &reasons };
    let mut batch = Batch::default();
    let mut emails = HashSet::new();
    for (want, count) in WANTS {
        for _ in 0..count {
            let channel = pick_channel(&mut rng);
            let (plan, created) = plan_ending(&mut rng, &planner, channel, want, start, now)?;
            let contact = demo_contact(&mut rng, channel, &accounts, &campaigns, &mut emails);
            plan.materialize(contact, created, now, &mut ids, &mut batch);
        }
    }
    batch.sort_by_time();
    inserts.insert(&txn, &batch.leads).await?;
    inserts.insert(&txn, &batch.touchpoints).await?;
    inserts.insert(&txn, &batch.events).await?;
    txn.commit().await?;
    // The rows went in directly, not through the append path: recompute the KPI rollups.
    crate::service::kpi::rebuild::rebuild(db).await?;
    tracing::info!(leads = batch.leads.len(), events = batch.events.len(), "demo loaded");
    Ok(users)
}

fn in_demo_order(mut users: Vec<user::Model>) -> Vec<user::Model> {
    users.sort_by_key(|u| USERS.iter().position(|(email, ..)| *email == u.email));
    users
}

/// Draws plans until one ends as wanted and fits in the year before `now`, and returns it
/// with its creation time. MQL and SAL queues are recent, as live queues are.
fn plan_ending<'a>(
    rng: &mut impl Rng,
    planner: &Planner<'a>,
    channel: Channel,
    want: Want,
    start: i64,
    now: i64,
) -> Result<(Plan<'a>, i64), DbErr> {
    // The rarest outcome (WON) comes up in about one plan in forty.
    for _ in 0..100_000 {
        let plan = planner.plan(rng, channel);
        let stage = plan.final_stage();
        let wanted = match want {
            Want::Fresh => stage == Stage::Lead && plan.returns() == 0,
            Want::Recycled => stage == Stage::Lead && plan.returns() > 0,
            Want::SalOf(rep) => stage == Stage::Sal && plan.final_owner() == planner.cast.reps.get(rep).copied(),
            Want::In(wanted) => stage == wanted,
        };
        if !wanted {
            continue;
        }
        let created = match stage {
            // A live queue: the lead reached it `waiting` ago, and whatever its plan does
            // after that (the first call, follow-ups) is cut at `now` if not yet due.
            Stage::Mql | Stage::Sal => {
                let waiting = if stage == Stage::Mql {
                    // Mostly fresh, with a few SLA breaches.
                    lognormal(rng, 2 * HOUR, 1.2, MINUTE, 5 * DAY)
                } else {
                    // Accepted within the last two days; the newest not yet called.
                    lognormal(rng, 3 * HOUR, 1.2, 5 * MINUTE, 2 * DAY)
                };
                now - plan.last_move_at() - waiting
            }
            // Anything else happened in full, its last step at least a minute ago.
            _ => {
                let latest = now - plan.span() - MINUTE;
                if latest <= start {
                    continue;
                }
                Arrivals::new(start, latest).at(rng.random())
            }
        };
        if created < start {
            continue;
        }
        return Ok((plan, created));
    }
    Err(DbErr::Custom("demo: could not draw a lead history ending in the wanted stage".to_owned()))
}

fn demo_contact(
    rng: &mut impl Rng,
    channel: Channel,
    accounts: &[(Uuid, &str)],
    campaigns: &[(Uuid, Channel)],
    emails: &mut HashSet<String>,
) -> Contact {
    let first = pick(rng, FIRST_NAMES);
    let last = pick(rng, LAST_NAMES);
    let local = names::email_local(first, last);
    let (account_id, domain) = match accounts.choose(rng) {
        Some((id, domain)) if rng.random_bool(0.9) => (Some(*id), *domain),
        _ => (None, pick(rng, &FREE_MAIL)),
    };
    // Two demo leads with the same name at one company get a number, as mail admins do.
    let mut email = format!("{local}@{domain}");
    let mut n = 2;
    while !emails.insert(email.clone()) {
        email = format!("{local}{n}@{domain}");
        n += 1;
    }
    Contact {
        email,
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        title: Some(pick(rng, TITLES).to_owned()),
        account_id,
        channel,
        campaign_id: campaign_for(rng, channel, campaigns),
    }
}
