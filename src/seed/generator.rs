//! `seed`: a cast of users, accounts and campaigns for this run, then leads in chunks.
//! A generator thread (`factory`) builds each chunk's rows and INSERT statements while
//! the async side writes the previous chunk (`bulk`), so generation and the database run
//! side by side and memory stays bounded by the hand-off buffer. Into an empty database, a
//! third thread adds up the KPI rollups of the rows as they are written.

use std::time::Instant;

use entity::{Channel, Role, Team, account, campaign, reason, user};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use crate::{db::bulk_insert::Inserts, service::kpi::rebuild};

use super::{
    SeedOptions, SeedReport,
    bulk::Bulk,
    factory::{CHUNK, LeadFactory, Written},
    history::{Cast, Contact, DAY, HOUR, Reasons, at, lognormal, uuid_v7},
    indexes::DeferredIndexes,
    names::{self, FIRST_NAMES, INDUSTRIES, LAST_NAMES, TITLES, pick},
    pipe, positions,
};

/// Chunks the generator may run ahead of the writer.
const AHEAD: usize = 2;

/// Share of leads per channel, in percent.
const CHANNELS: &[(Channel, u32)] = &[
    (Channel::OrganicSearch, 18),
    (Channel::PaidSearch, 16),
    (Channel::PaidSocial, 10),
    (Channel::Email, 10),
    (Channel::Webinar, 8),
    (Channel::Outbound, 8),
    (Channel::OrganicSocial, 6),
    (Channel::Event, 6),
    (Channel::Referral, 6),
    (Channel::Partner, 5),
    (Channel::Direct, 5),
    (Channel::Other, 2),
];

/// Creates users, accounts, campaigns and `options.leads` leads with their histories.
///
/// Safe to run against a database that already holds data: every e-mail and domain
/// carries a short id of this run. Needs the seeded `reason` rows. Writes through
/// connections of its own (see `Bulk::open`), so the pool's limits do not matter.
#[tracing::instrument(skip_all, fields(leads = options.leads, rng_seed = options.rng_seed))]
pub async fn seed(db: &DatabaseConnection, options: &SeedOptions) -> Result<SeedReport, DbErr> {
    let started = Instant::now();
    let deferred = DeferredIndexes::drop_if_empty(db).await?;
    // Into an empty database, the log is exactly what this run writes: its rollups are
    // added up from the rows as they are written instead of read back afterwards.
    let loaded = load(db, options, deferred.database_was_empty()).await;
    let (mut report, folded_as_written) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            // The indexes come back whether or not the load succeeded.
            deferred.restore(db).await?;
            return Err(error);
        }
    };
    tracing::info!(elapsed_ms = started.elapsed().as_millis(), "rows written");
    // The bulk load bypasses the append path, so the KPI rollups are computed once for the
    // whole log, as `baton kpi rebuild` would. PostgreSQL plans from table statistics,
    // which a bulk load leaves stale until autovacuum comes by; the first requests after a
    // seed should not pay for that, so the loaded tables are analyzed once their indexes
    // are back, and the rollups once written. (SQLite plans from its own rules.)
    let postgres = db.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
    let restore_and_analyze = async {
        deferred.restore(db).await?;
        if postgres {
            db.execute_unprepared("ANALYZE").await?;
        }
        tracing::info!(elapsed_ms = started.elapsed().as_millis(), "indexes rebuilt");
        Ok::<_, DbErr>(())
    };
    let written = match folded_as_written {
        // PostgreSQL writes the rollup tables beside the other tables' index builds;
        // SQLite has one writer, so there they take turns.
        Some(folded) if postgres => {
            let (restored, written) = tokio::join!(restore_and_analyze, rebuild::rebuild_from(db, folded));
            restored?;
            written?
        }
        Some(folded) => {
            restore_and_analyze.await?;
            rebuild::rebuild_from(db, folded).await?
        }
        // Beside other data, the log is read back. Adding it up only reads the tables by
        // their primary keys, so it runs beside the index builds, on a snapshot.
        None => {
            let (restored, folded) = tokio::join!(restore_and_analyze, async {
                let snapshot = db.begin().await?;
                let folded = rebuild::fold(&snapshot).await;
                snapshot.rollback().await?;
                tracing::info!(elapsed_ms = started.elapsed().as_millis(), "rollups added up");
                folded
            });
            restored?;
            rebuild::rebuild_from(db, folded?).await?
        }
    };
    report.rollups = written.elapsed;
    tracing::info!(elapsed_ms = started.elapsed().as_millis(), "rollups written");
    if postgres {
        db.execute_unprepared(&format!("ANALYZE {}", rebuild::rollup_tables().join(", "))).await?;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Writes the rows; with `fold`, adds up their rollups as it goes.
async fn load(
    db: &DatabaseConnection,
    options: &SeedOptions,
    fold: bool,
) -> Result<(SeedReport, Option<rebuild::Folded>), DbErr> {
    let started = Instant::now();
    let mut bulk = Bulk::open(db, options.leads).await?;
    let now = options.now.timestamp_micros();
    let start = now - 365 * DAY;
    let mut rng = StdRng::seed_from_u64(options.rng_seed);
    // Ids and the run id come from the OS so that a second run never collides with the
    // first, whatever its seed.
    let mut ids = StdRng::from_os_rng();
    let run = run_id(&mut ids);
    let reasons = Reasons::new(load_reason_codes(db).await?)?;
    // Events are numbered as they are generated (see `factory`).
    let mut inserts = Inserts::with_given_keys(db.get_database_backend());
    let first_position = positions::first_free(db).await?;
    let mut report = SeedReport::default();

    // The cast exists before the year of history starts.
    let founded = start - 30 * DAY;
    let reps = (options.leads / 5_000).clamp(5, 200);
    let users = make_users(&mut rng, &mut ids, &run, reps, founded);
    let cast = Cast {
        marketers: ids_with_role(&users, Role::Marketing),
        reps: ids_with_role(&users, Role::SalesRep),
        managers: ids_with_role(&users, Role::SalesManager),
    };
    let campaigns = make_campaigns(&mut rng, &mut ids, founded);
    let txn = bulk.conn().begin().await?;
    inserts.insert(&txn, &users).await?;
    inserts.insert(&txn, &campaigns).await?;
    txn.commit().await?;
    report.users = users.len() as u64;
    report.campaigns = campaigns.len() as u64;
    let campaigns: Vec<(Uuid, Channel)> = campaigns.iter().map(|c| (c.id, c.channel)).collect();

    // Accounts are written in chunks too; only id and domain stay in memory.
    let account_count = (options.leads / 8).max(1);
    let mut accounts: Vec<(Uuid, String)> = Vec::with_capacity(usize::try_from(account_count).unwrap_or(0));
    let mut rows = Vec::new();
    for i in 0..account_count {
        let row = make_account(&mut rng, &mut ids, &run, i, &cast.reps, founded);
        accounts.push((row.id, row.domain.clone().unwrap_or_default()));
        rows.push(row);
        if rows.len() as u64 == CHUNK || i + 1 == account_count {
            let txn = bulk.conn().begin().await?;
            inserts.insert(&txn, &rows).await?;
            txn.commit().await?;
            rows.clear();
        }
    }
    report.accounts = account_count;

    let lanes = bulk.lanes();
    let (written, folding) = if fold {
        let (sender, receiver) = std::sync::mpsc::sync_channel(AHEAD);
        let folding = std::thread::Builder::new()
            .name("seed-fold".to_owned())
            .spawn(move || fold_as_written(receiver))
            .map_err(|err| DbErr::Custom(format!("cannot start the seed's fold thread: {err}")))?;
        (Some(sender), Some(folding))
    } else {
        (None, None)
    };
    let factory = LeadFactory {
        rng,
        ids,
        run,
        cast,
        reasons,
        accounts,
        campaigns,
        inserts,
        leads: options.leads,
        start,
        now,
        lanes,
        first_position,
        written,
    };
    let (sender, mut receiver) = pipe::bounded(AHEAD);
    std::thread::Builder::new()
        .name("seed-generator".to_owned())
        .spawn(move || factory.run(&sender))
        .map_err(|err| DbErr::Custom(format!("cannot start the seed generator thread: {err}")))?;
    while let Some(chunk) = receiver.recv().await {
        let chunk = chunk?;
        bulk.write(chunk.lanes).await?;
        report.leads += chunk.leads;
        report.touchpoints += chunk.touchpoints;
        report.events += chunk.events;
        if report.leads % (10 * CHUNK) == 0 || report.leads == options.leads {
            let elapsed_ms = started.elapsed().as_millis();
            tracing::info!(leads = report.leads, events = report.events, elapsed_ms, "seeding");
        }
    }
    // The generator only stops early if it panicked; what it wrote is rolled back.
    if report.leads != options.leads {
        return Err(DbErr::Custom(format!("the seed generator stopped after {} leads", report.leads)));
    }
    bulk.finish().await?;
    positions::continue_numbering(db).await?;
    let folded = match folding {
        Some(folding) => {
            let joined = tokio::task::spawn_blocking(move || folding.join()).await;
            let folded = joined.ok().and_then(Result::ok);
            Some(folded.ok_or_else(|| DbErr::Custom("the seed's KPI fold stopped".to_owned()))?)
        }
        None => None,
    };
    report.elapsed = started.elapsed();
    Ok((report, folded))
}

/// Adds up the rollups of what the generator hands over, until it is done.
fn fold_as_written(written: std::sync::mpsc::Receiver<Written>) -> rebuild::Folded {
    let mut fold = rebuild::WrittenFold::default();
    for Written { leads, events } in written {
        fold.add_leads(&leads);
        // The lanes' events interleave in the log: merged back into its order here, off
        // the generator's thread.
        let mut events: Vec<_> = events.into_iter().flatten().collect();
        events.sort_unstable_by_key(|event| event.position);
        fold.add_events(events);
    }
    fold.finish()
}

/// Active reason codes, in a stable order so a seed reproduces.
pub(super) async fn load_reason_codes(db: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    let mut codes: Vec<String> = reason::Entity::find()
        .select_only()
        .column(reason::Column::Code)
        .filter(reason::Column::Active.eq(true))
        .into_tuple()
        .all(db)
        .await?;
    codes.sort();
    Ok(codes)
}

/// Six base-36 characters: short enough to read in an e-mail, enough to tell runs apart.
fn run_id(rng: &mut impl Rng) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..6).map(|_| char::from(DIGITS[rng.random_range(0..DIGITS.len())])).collect()
}

fn ids_with_role(users: &[user::Model], role: Role) -> Vec<Uuid> {
    users.iter().filter(|u| u.role == role).map(|u| u.id).collect()
}

fn make_users(rng: &mut impl Rng, ids: &mut impl Rng, run: &str, reps: u64, created: i64) -> Vec<user::Model> {
    let mut users = Vec::new();
    let groups = [
        ("marketing", Role::Marketing, Team::Marketing, 5),
        ("manager", Role::SalesManager, Team::Sales, 2),
        ("rep", Role::SalesRep, Team::Sales, reps),
    ];
    for (prefix, role, team, count) in groups {
        for i in 1..=count {
            users.push(user::Model {
                id: uuid_v7(created, ids),
                email: format!("{prefix}{i}.{run}@seed.baton"),
                name: format!("{} {}", pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES)),
                role,
                team,
                active: true,
                created_at: at(created),
            });
        }
    }
    users
}

/// One campaign per name in the pools (29), with a plausible spend for its channel.
pub(super) fn make_campaigns(rng: &mut impl Rng, ids: &mut impl Rng, created: i64) -> Vec<campaign::Model> {
    let mut campaigns = Vec::new();
    for (channel, _) in CHANNELS {
        let (low, high) = spend_range(*channel);
        for name in names::campaign_names(*channel) {
            let dollars = rng.random_range(low..=high);
            campaigns.push(campaign::Model {
                id: uuid_v7(created, ids),
                name: (*name).to_owned(),
                channel: *channel,
                spend_amount: dollars / 100 * 100 * 100,
                currency_code: super::history::CURRENCY.to_owned(),
                created_at: at(created),
            });
        }
    }
    campaigns
}

/// A year's spend in dollars for a campaign on `channel`.
fn spend_range(channel: Channel) -> (i64, i64) {
    match channel {
        Channel::PaidSearch => (20_000, 150_000),
        Channel::PaidSocial => (10_000, 100_000),
        Channel::Event => (15_000, 80_000),
        Channel::Outbound => (10_000, 60_000),
        Channel::Partner => (5_000, 30_000),
        Channel::Webinar => (2_000, 10_000),
        Channel::Email => (1_000, 5_000),
        _ => (0, 2_000),
    }
}

fn make_account(
    rng: &mut impl Rng,
    ids: &mut impl Rng,
    run: &str,
    i: u64,
    reps: &[Uuid],
    before: i64,
) -> account::Model {
    let (name, slug) = names::company(rng);
    let created = before - rng.random_range(0..400 * DAY);
    account::Model {
        id: uuid_v7(created, ids),
        search_name: name.to_lowercase(),
        name,
        domain: Some(format!("{slug}-{run}{i}.com")),
        industry: Some(pick(rng, INDUSTRIES).to_owned()),
        employees: Some(i32::try_from(lognormal(rng, 120, 1.4, 2, 200_000)).unwrap_or(i32::MAX)),
        owner_id: if rng.random_bool(0.7) { reps.choose(rng).copied() } else { None },
        created_at: at(created),
        updated_at: at(created),
    }
}

pub(super) fn make_contact(
    rng: &mut impl Rng,
    run: &str,
    i: u64,
    accounts: &[(Uuid, String)],
    campaigns: &[(Uuid, Channel)],
) -> Contact {
    let first = pick(rng, FIRST_NAMES);
    let last = pick(rng, LAST_NAMES);
    let local = names::email_local(first, last);
    // Most leads come with a work address at a known company; the rest use a free mailbox.
    let (account_id, email) = match accounts.choose(rng) {
        Some((id, domain)) if rng.random_bool(0.88) => (Some(*id), format!("{local}.{i}@{domain}")),
        _ => (None, format!("{local}.{run}{i}@example.net")),
    };
    let channel = pick_channel(rng);
    Contact {
        email,
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        title: rng.random_bool(0.85).then(|| pick(rng, TITLES).to_owned()),
        account_id,
        channel,
        campaign_id: campaign_for(rng, channel, campaigns),
    }
}

pub(super) fn pick_channel(rng: &mut impl Rng) -> Channel {
    let total: u32 = CHANNELS.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (channel, weight) in CHANNELS {
        if roll < *weight {
            return *channel;
        }
        roll -= weight;
    }
    Channel::Other
}

/// Paid and programme channels always run through a campaign; organic ones rarely do.
pub(super) fn campaign_for(rng: &mut impl Rng, channel: Channel, campaigns: &[(Uuid, Channel)]) -> Option<Uuid> {
    let share = match channel {
        Channel::PaidSearch | Channel::PaidSocial | Channel::Email | Channel::Event | Channel::Webinar => 1.0,
        Channel::Partner | Channel::Outbound => 0.8,
        Channel::OrganicSocial => 0.3,
        _ => 0.0,
    };
    if !rng.random_bool(share) {
        return None;
    }
    let matching = campaigns.iter().filter(|(_, c)| *c == channel);
    let count = matching.clone().count();
    if count == 0 {
        return None;
    }
    matching.map(|(id, _)| *id).nth(rng.random_range(0..count))
}

/// When leads arrive in a window: volume grows over the year, and fewer leads come at
/// night and at weekends. Kept as cumulative weights per hour, so evenly spread quantiles
/// map to creation times in order, and leads can be generated oldest first.
pub(super) struct Arrivals {
    start: i64,
    end: i64,
    /// `cumulative[i]`: the weight of every hour up to and including hour `i`.
    cumulative: Vec<f64>,
}

impl Arrivals {
    pub fn new(start: i64, end: i64) -> Self {
        let end = end.max(start + 1);
        let span = (end - start) as f64;
        let mut cumulative = Vec::with_capacity(usize::try_from((end - start) / HOUR + 1).unwrap_or(0));
        let mut total = 0.0;
        let mut hour_start = start;
        while hour_start < end {
            let hour_end = (hour_start + HOUR).min(end);
            let middle = (hour_start + hour_end) / 2;
            // Density rising linearly from 0.7 to 1.3 over the window.
            let mut weight = 0.7 + 0.6 * (middle - start) as f64 / span;
            // 1970-01-01 was a Thursday: day 0 has weekday 3 counting from Monday = 0.
            if (middle.div_euclid(DAY) + 3).rem_euclid(7) >= 5 {
                weight *= 0.4;
            }
            if middle.rem_euclid(DAY) < 6 * HOUR {
                weight *= 0.5;
            }
            total += weight * (hour_end - hour_start) as f64 / HOUR as f64;
            cumulative.push(total);
            hour_start = hour_end;
        }
        Self { start, end, cumulative }
    }

    /// The time below which a share `quantile` (in `[0, 1)`) of the arrivals fall.
    pub fn at(&self, quantile: f64) -> i64 {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let target = quantile.clamp(0.0, 1.0) * total;
        let hour = self.cumulative.partition_point(|&c| c <= target).min(self.cumulative.len().saturating_sub(1));
        let before = if hour == 0 { 0.0 } else { self.cumulative[hour - 1] };
        let weight = self.cumulative[hour] - before;
        let fraction = if weight > 0.0 { (target - before) / weight } else { 0.0 };
        let hour_start = self.start + hour as i64 * HOUR;
        let t = hour_start + (fraction * HOUR as f64) as i64;
        t.clamp(self.start, self.end - 1)
    }
}
