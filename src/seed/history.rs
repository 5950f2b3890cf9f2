//! One lead's life, shared by `seed` and `load_demo`.
//!
//! A history is made in two passes. [`Planner::plan`] walks the funnel with random
//! choices and yields a [`Plan`]: steps at offsets from the lead's creation, each a
//! touchpoint or a legal stage move. [`Plan::materialize`] then places the plan at a real
//! creation time, drops whatever would happen at or after a cutoff (`now`), and writes
//! the rows exactly as the mutations would: the lead, its touchpoints, and one
//! `lead_event` per change. Keeping the passes apart lets the demo pick plans by their
//! outcome and fit them before `now`, while `seed` simply cuts every history at `now`.

use chrono::{DateTime, Utc};
use entity::{Channel, LeadEventKind, Stage, TouchpointKind, lead, lead_event, touchpoint};
use rand::{Rng, seq::IndexedRandom};
use sea_orm::{ActiveEnum, DbErr};
use uuid::Uuid;

use super::names;
use crate::domain::kpi_facts::FirstContact;

pub(super) const SECOND: i64 = 1_000_000;
pub(super) const MINUTE: i64 = 60 * SECOND;
pub(super) const HOUR: i64 = 60 * MINUTE;
pub(super) const DAY: i64 = 24 * HOUR;

/// Every generated amount is in this currency.
pub(super) const CURRENCY: &str = "USD";

/// Marketing points a lead collects in one nurture cycle before it is qualified; leads
/// that are never qualified stay below it.
const MQL_POINTS: i32 = 25;

/// Score points per marketing touchpoint; sales contacts add none.
fn points(kind: TouchpointKind) -> i32 {
    match kind {
        TouchpointKind::PageView => 2,
        TouchpointKind::EmailClick => 5,
        TouchpointKind::ContentDownload => 10,
        TouchpointKind::FormSubmission => 15,
        TouchpointKind::Webinar => 20,
        TouchpointKind::EventVisit => 25,
        TouchpointKind::Call | TouchpointKind::Meeting | TouchpointKind::EmailSent => 0,
    }
}

/// The people who act on leads.
pub(super) struct Cast {
    pub marketers: Vec<Uuid>,
    pub reps: Vec<Uuid>,
    pub managers: Vec<Uuid>,
}

/// The reason codes present in the database. Each situation prefers some codes; any that
/// an installation removed are skipped, so the generator never writes a dangling code.
pub(super) struct Reasons {
    codes: Vec<String>,
}

impl Reasons {
    pub fn new(codes: Vec<String>) -> Result<Self, DbErr> {
        if codes.is_empty() {
            return Err(DbErr::Custom("the reason table is empty; run the migrations first".to_owned()));
        }
        Ok(Self { codes })
    }

    fn pick(&self, rng: &mut impl Rng, preferred: &[(&str, u32)]) -> &str {
        let known = |code: &str| self.codes.iter().any(|c| c == code);
        let total: u32 = preferred.iter().filter(|(code, _)| known(code)).map(|(_, w)| w).sum();
        if total == 0 {
            return self.codes.choose(rng).map_or("OTHER", String::as_str);
        }
        let mut roll = rng.random_range(0..total);
        for (code, weight) in preferred.iter().filter(|(code, _)| known(code)) {
            if roll < *weight {
                // Return the stored string so the borrow is tied to `self`, not `preferred`.
                return self.codes.iter().find(|c| c == code).map_or("OTHER", String::as_str);
            }
            roll -= weight;
        }
        "OTHER"
    }
}

const LEAD_DISQUALIFY: &[(&str, u32)] = &[("INVALID_DATA", 45), ("DUPLICATE_LEAD", 25), ("NOT_A_FIT", 30)];
const MQL_RETURN: &[(&str, u32)] = &[
    ("BAD_TIMING", 30),
    ("NOT_A_FIT", 20),
    ("WRONG_CONTACT", 15),
    ("NO_NEED", 15),
    ("NO_AUTHORITY", 10),
    ("OTHER", 5),
];
const MQL_DISQUALIFY: &[(&str, u32)] = &[
    ("NOT_A_FIT", 35),
    ("INVALID_DATA", 20),
    ("NO_NEED", 15),
    ("DUPLICATE_LEAD", 10),
    ("WRONG_CONTACT", 10),
    ("OTHER", 5),
];
const SAL_RETURN: &[(&str, u32)] =
    &[("NO_RESPONSE", 35), ("BAD_TIMING", 30), ("NO_BUDGET", 15), ("NO_AUTHORITY", 10), ("NOT_A_FIT", 10)];
const SAL_DISQUALIFY: &[(&str, u32)] = &[
    ("NOT_A_FIT", 35),
    ("NO_NEED", 20),
    ("NO_BUDGET", 15),
    ("NO_AUTHORITY", 10),
    ("WRONG_CONTACT", 10),
    ("INVALID_DATA", 5),
];
const SQL_RETURN: &[(&str, u32)] = &[("BAD_TIMING", 60), ("NO_BUDGET", 25), ("NO_AUTHORITY", 15)];
const SQL_LOST: &[(&str, u32)] = &[
    ("LOST_TO_COMPETITOR", 35),
    ("PRICE", 20),
    ("NO_BUDGET", 15),
    ("CHOSE_STATUS_QUO", 15),
    ("BAD_TIMING", 10),
    ("NO_RESPONSE", 5),
];
const LOST_RETURN: &[(&str, u32)] = &[("BAD_TIMING", 70), ("NO_BUDGET", 30)];

/// One thing that happens to a lead, `at` microseconds after its creation.
pub(super) struct Step<'a> {
    pub at: i64,
    pub action: Action<'a>,
}

pub(super) enum Action<'a> {
    Touch { kind: TouchpointKind, actor: Option<Uuid> },
    Move(Move<'a>),
}

/// A stage change with everything its event records.
pub(super) struct Move<'a> {
    pub to: Stage,
    pub actor: Option<Uuid>,
    /// The owner after the move.
    pub owner: Option<Uuid>,
    pub reason: Option<&'a str>,
    pub note: Option<&'static str>,
    /// Deal value (to SQL) or final amount (to WON), in cents.
    pub amount: Option<i64>,
    pub bant: Option<&'static [&'static str; 4]>,
}

/// A lead's whole planned life, not yet placed in time.
pub(super) struct Plan<'a> {
    /// Who created the lead: a marketer, or nobody for a form or an import.
    pub creator: Option<Uuid>,
    pub steps: Vec<Step<'a>>,
}

impl Plan<'_> {
    fn last_move(&self) -> Option<&Move<'_>> {
        self.steps.iter().rev().find_map(|step| match &step.action {
            Action::Move(m) => Some(m),
            Action::Touch { .. } => None,
        })
    }

    pub fn final_stage(&self) -> Stage {
        self.last_move().map_or(Stage::Lead, |m| m.to)
    }

    pub fn final_owner(&self) -> Option<Uuid> {
        self.last_move().and_then(|m| m.owner)
    }

    pub fn returns(&self) -> usize {
        self.steps.iter().filter(|s| matches!(&s.action, Action::Move(m) if m.to == Stage::Lead)).count()
    }

    /// Offset of the last step: how long the whole history takes.
    pub fn span(&self) -> i64 {
        self.steps.last().map_or(0, |s| s.at)
    }

    /// Offset of the last stage change: when the lead entered its final stage.
    pub fn last_move_at(&self) -> i64 {
        self.steps.iter().rev().find(|s| matches!(s.action, Action::Move(_))).map_or(0, |s| s.at)
    }
}

/// Draws plans from the funnel's transition probabilities.
pub(super) struct Planner<'a> {
    pub cast: &'a Cast,
    pub reasons: &'a Reasons,
}

impl<'a> Planner<'a> {
    pub fn plan(&self, rng: &mut impl Rng, channel: Channel) -> Plan<'a> {
        let creator = if rng.random_bool(0.35) { self.marketer(rng) } else { None };
        let mut sim = Sim {
            planner: self,
            steps: Vec::with_capacity(10),
            t: 0,
            stage: Stage::Lead,
            owner: None,
            deal: None,
            returns: 0,
        };
        // The touch that brought the lead in (a form, a badge scan, a sign-up) is logged
        // seconds after the record.
        let mut carried = 0;
        if let Some(kind) = first_touch(channel)
            && rng.random_bool(0.45)
        {
            sim.touch(rng.random_range(2 * SECOND..90 * SECOND), kind, None);
            carried = points(kind);
        }
        loop {
            let more = match sim.stage {
                Stage::Lead => sim.nurture(rng, std::mem::take(&mut carried)),
                Stage::Mql => sim.mql(rng),
                Stage::Sal => sim.sal(rng),
                Stage::Sql => sim.sql(rng),
                Stage::Lost => sim.lost(rng),
                Stage::Won | Stage::Disqualified => false,
            };
            if !more {
                break;
            }
        }
        Plan { creator, steps: sim.steps }
    }

    fn marketer(&self, rng: &mut impl Rng) -> Option<Uuid> {
        self.cast.marketers.choose(rng).copied()
    }

    fn rep(&self, rng: &mut impl Rng) -> Option<Uuid> {
        self.cast.reps.choose(rng).copied()
    }

    fn manager(&self, rng: &mut impl Rng) -> Option<Uuid> {
        self.cast.managers.choose(rng).copied()
    }
}

/// The walk through the funnel that builds one plan.
struct Sim<'p, 'a> {
    planner: &'p Planner<'a>,
    steps: Vec<Step<'a>>,
    t: i64,
    stage: Stage,
    owner: Option<Uuid>,
    deal: Option<i64>,
    returns: u32,
}

impl<'a> Sim<'_, 'a> {
    fn touch(&mut self, after: i64, kind: TouchpointKind, actor: Option<Uuid>) {
        self.t += after.max(SECOND);
        self.steps.push(Step { at: self.t, action: Action::Touch { kind, actor } });
    }

    fn move_to(&mut self, after: i64, m: Move<'a>) {
        self.t += after.max(SECOND);
        if m.to == Stage::Lead {
            self.returns += 1;
        }
        self.stage = m.to;
        self.owner = m.owner;
        self.steps.push(Step { at: self.t, action: Action::Move(m) });
    }

    fn reason(&self, rng: &mut impl Rng, preferred: &[(&str, u32)]) -> (Option<&'a str>, Option<&'static str>) {
        let code = self.planner.reasons.pick(rng, preferred);
        let note = if rng.random_bool(0.4) { names::reason_notes(code).choose(rng).copied() } else { None };
        (Some(code), note)
    }

    /// Whoever on the sales side acts: mostly the owner, sometimes a manager.
    fn sales_actor(&self, rng: &mut impl Rng) -> Option<Uuid> {
        if self.owner.is_some() && rng.random_bool(0.85) { self.owner } else { self.planner.manager(rng) }
    }

    /// Marketing nurture in LEAD. Returns whether the lead was qualified.
    fn nurture(&mut self, rng: &mut impl Rng, carried: i32) -> bool {
        let p = match self.returns {
            0 => 0.31,
            1 | 2 => 0.35,
            // A lead sales rejected three times is not worth another round.
            _ => 0.0,
        };
        if rng.random_bool(p) {
            // A returned lead goes quiet for weeks before it engages again.
            let mut gap = if self.returns == 0 { 2 * DAY } else { 25 * DAY };
            let mut score = carried;
            while score < MQL_POINTS {
                let kind = engaged_touch(rng);
                self.touch(lognormal(rng, gap, 1.0, 10 * MINUTE, 90 * DAY), kind, None);
                score += points(kind);
                gap = 3 * DAY;
            }
            // Most leads qualify automatically as the score crosses the threshold; the
            // rest are qualified by a marketer reviewing the queue.
            let (after, actor) = if rng.random_bool(0.6) {
                (SECOND, None)
            } else {
                (lognormal(rng, 4 * HOUR, 1.0, 5 * MINUTE, 10 * DAY), self.planner.marketer(rng))
            };
            self.move_to(
                after,
                Move { to: Stage::Mql, actor, owner: None, reason: None, note: None, amount: None, bant: None },
            );
            return true;
        }
        // Most leads that never qualify do little more than arrive; some come back once,
        // never enough to cross the threshold.
        let kind = casual_touch(rng);
        if rng.random_bool(0.2) && carried + points(kind) < MQL_POINTS {
            self.touch(lognormal(rng, 6 * DAY, 1.2, 10 * MINUTE, 120 * DAY), kind, None);
        }
        if rng.random_bool(if self.returns == 0 { 0.04 } else { 0.02 }) {
            let (reason, note) = self.reason(rng, LEAD_DISQUALIFY);
            let actor = self.planner.marketer(rng);
            let after = lognormal(rng, 3 * DAY, 1.0, HOUR, 60 * DAY);
            self.move_to(
                after,
                Move { to: Stage::Disqualified, actor, owner: None, reason, note, amount: None, bant: None },
            );
        }
        false
    }

    /// Waiting for sales to accept. Returns whether anything moved.
    fn mql(&mut self, rng: &mut impl Rng) -> bool {
        let roll: f64 = rng.random();
        if roll < 0.72 {
            let owner = self.planner.rep(rng);
            // Reps take most leads from the queue themselves; managers assign the rest.
            let actor = if rng.random_bool(0.65) { owner } else { self.planner.manager(rng) };
            let after = lognormal(rng, 3 * HOUR, 1.3, 2 * MINUTE, 20 * DAY);
            self.move_to(
                after,
                Move { to: Stage::Sal, actor, owner, reason: None, note: None, amount: None, bant: None },
            );
        } else if roll < 0.87 {
            let (reason, note) = self.reason(rng, MQL_RETURN);
            let actor = if rng.random_bool(0.6) { self.planner.rep(rng) } else { self.planner.manager(rng) };
            let after = lognormal(rng, DAY, 1.0, 10 * MINUTE, 20 * DAY);
            self.move_to(after, Move { to: Stage::Lead, actor, owner: None, reason, note, amount: None, bant: None });
        } else if roll < 0.97 {
            let (reason, note) = self.reason(rng, MQL_DISQUALIFY);
            let actor = if rng.random_bool(0.5) { self.planner.marketer(rng) } else { self.planner.manager(rng) };
            let after = lognormal(rng, DAY, 1.0, 10 * MINUTE, 20 * DAY);
            self.move_to(
                after,
                Move { to: Stage::Disqualified, actor, owner: None, reason, note, amount: None, bant: None },
            );
        } else {
            // Forgotten in the queue: these are the SLA breaches.
            return false;
        }
        true
    }

    /// Owned by a rep who must reach the lead now. Returns whether anything moved.
    fn sal(&mut self, rng: &mut impl Rng) -> bool {
        if rng.random_bool(0.92) {
            // Speed-to-lead: most reps call within minutes, some only the next day.
            let after = if rng.random_bool(0.88) {
                lognormal(rng, 35 * MINUTE, 0.8, 5 * MINUTE, 3 * HOUR)
            } else {
                lognormal(rng, 8 * HOUR, 0.8, 3 * HOUR, 3 * DAY)
            };
            self.touch(after, sales_touch(rng), self.owner);
            if rng.random_bool(0.25) {
                let after = lognormal(rng, 2 * DAY, 0.8, HOUR, 14 * DAY);
                self.touch(after, sales_touch(rng), self.owner);
            }
        }
        let roll: f64 = rng.random();
        let after = lognormal(rng, 5 * DAY, 0.8, HOUR, 60 * DAY);
        let actor = self.sales_actor(rng);
        let m = if roll < 0.50 {
            let deal = deal_value(rng);
            self.deal = Some(deal);
            let bant = names::BANT.choose(rng);
            Move { to: Stage::Sql, actor, owner: self.owner, reason: None, note: None, amount: Some(deal), bant }
        } else if roll < 0.70 {
            let (reason, note) = self.reason(rng, SAL_RETURN);
            Move { to: Stage::Lead, actor, owner: None, reason, note, amount: None, bant: None }
        } else if roll < 0.85 {
            let (reason, note) = self.reason(rng, SAL_DISQUALIFY);
            Move { to: Stage::Disqualified, actor, owner: self.owner, reason, note, amount: None, bant: None }
        } else {
            return false;
        };
        self.move_to(after, m);
        true
    }

    /// An open opportunity. Returns whether anything moved.
    fn sql(&mut self, rng: &mut impl Rng) -> bool {
        for _ in 0..if rng.random_bool(0.4) { 2 } else { 1 } {
            let after = lognormal(rng, 7 * DAY, 0.7, HOUR, 45 * DAY);
            self.touch(after, sales_touch(rng), self.owner);
        }
        let roll: f64 = rng.random();
        let actor = self.sales_actor(rng);
        let m = if roll < 0.25 {
            // The signed amount lands near the quoted deal value.
            let quoted = self.deal.unwrap_or_else(|| deal_value(rng));
            let amount = round_to_hundred_dollars(quoted as f64 * rng.random_range(0.85..1.15));
            Move {
                to: Stage::Won,
                actor,
                owner: self.owner,
                reason: None,
                note: None,
                amount: Some(amount),
                bant: None,
            }
        } else if roll < 0.70 {
            let (reason, note) = self.reason(rng, SQL_LOST);
            Move { to: Stage::Lost, actor, owner: self.owner, reason, note, amount: None, bant: None }
        } else if roll < 0.75 {
            let (reason, note) = self.reason(rng, SQL_RETURN);
            Move { to: Stage::Lead, actor, owner: None, reason, note, amount: None, bant: None }
        } else {
            return false;
        };
        let after = lognormal(rng, 20 * DAY, 0.7, DAY, 180 * DAY);
        self.move_to(after, m);
        true
    }

    /// Closed lost: some come back to marketing for another try later.
    fn lost(&mut self, rng: &mut impl Rng) -> bool {
        if self.returns >= 3 || !rng.random_bool(0.15) {
            return false;
        }
        let (reason, note) = self.reason(rng, LOST_RETURN);
        let actor = self.sales_actor(rng);
        let after = lognormal(rng, 30 * DAY, 0.6, 7 * DAY, 120 * DAY);
        self.move_to(after, Move { to: Stage::Lead, actor, owner: None, reason, note, amount: None, bant: None });
        true
    }
}

/// The touch that creates an inbound lead; outbound and unknown sources start without one.
fn first_touch(channel: Channel) -> Option<TouchpointKind> {
    match channel {
        Channel::Event => Some(TouchpointKind::EventVisit),
        Channel::Webinar => Some(TouchpointKind::Webinar),
        Channel::Email => Some(TouchpointKind::EmailClick),
        Channel::OrganicSearch | Channel::OrganicSocial => Some(TouchpointKind::ContentDownload),
        Channel::PaidSearch | Channel::PaidSocial | Channel::Referral | Channel::Partner | Channel::Direct => {
            Some(TouchpointKind::FormSubmission)
        }
        Channel::Outbound | Channel::Other => None,
    }
}

/// What a lead on its way to MQL does: mostly high-intent touches.
fn engaged_touch(rng: &mut impl Rng) -> TouchpointKind {
    match rng.random_range(0..100) {
        0..8 => TouchpointKind::PageView,
        8..25 => TouchpointKind::EmailClick,
        25..55 => TouchpointKind::ContentDownload,
        55..80 => TouchpointKind::FormSubmission,
        80..93 => TouchpointKind::Webinar,
        _ => TouchpointKind::EventVisit,
    }
}

/// What a lead that never qualifies does.
fn casual_touch(rng: &mut impl Rng) -> TouchpointKind {
    match rng.random_range(0..10) {
        0..5 => TouchpointKind::PageView,
        5..8 => TouchpointKind::EmailClick,
        _ => TouchpointKind::ContentDownload,
    }
}

fn sales_touch(rng: &mut impl Rng) -> TouchpointKind {
    match rng.random_range(0..20) {
        0..11 => TouchpointKind::Call,
        11..18 => TouchpointKind::EmailSent,
        _ => TouchpointKind::Meeting,
    }
}

/// A deal value in cents: median $24k, long tail, whole hundreds of dollars.
fn deal_value(rng: &mut impl Rng) -> i64 {
    let dollars = lognormal(rng, 24_000, 0.9, 2_000, 750_000);
    round_to_hundred_dollars(dollars as f64 * 100.0)
}

fn round_to_hundred_dollars(cents: f64) -> i64 {
    ((cents / 10_000.0).round() as i64).max(1) * 10_000
}

/// A standard normal draw (Box–Muller), so the crate needs no distributions dependency.
fn std_normal(rng: &mut impl Rng) -> f64 {
    let u1 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal duration (or amount) around `median`, clamped to `[min, max]`: waiting
/// times are skewed, with a long tail of slow ones.
pub(super) fn lognormal(rng: &mut impl Rng, median: i64, sigma: f64, min: i64, max: i64) -> i64 {
    let value = median as f64 * (sigma * std_normal(rng)).exp();
    (value as i64).clamp(min, max)
}

/// A UUID v7 for a row created at `micros`, the layout
/// `Uuid::new_v7(Timestamp::from_unix(NoContext, ..))` produces, with the random bits drawn
/// from `rng` so a run costs no system calls.
pub(super) fn uuid_v7(micros: i64, rng: &mut impl Rng) -> Uuid {
    let mut random = [0u8; 10];
    rng.fill(&mut random);
    let millis = u64::try_from(micros.div_euclid(1000)).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

/// Microseconds since the epoch as a timestamp. Every time here derives from a real
/// `now`, so it is always in chrono's range.
pub(super) fn at(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// Who the lead is, fixed before its history is placed.
pub(super) struct Contact {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub title: Option<String>,
    pub account_id: Option<Uuid>,
    pub channel: Channel,
    pub campaign_id: Option<Uuid>,
}

/// Rows ready to insert, in dependency order: leads, then their touchpoints and events.
#[derive(Default)]
pub(super) struct Batch {
    pub leads: Vec<lead::Model>,
    pub touchpoints: Vec<touchpoint::Model>,
    pub events: Vec<lead_event::Model>,
}

impl Batch {
    /// Orders touchpoints and events by time, as the live system writes them. The sort
    /// is stable and each lead's rows are strictly increasing in time, so every lead's
    /// events keep their order.
    pub fn sort_by_time(&mut self) {
        self.touchpoints.sort_by_key(|t| t.occurred_at);
        self.events.sort_by_key(|e| e.occurred_at);
    }

    pub fn clear(&mut self) {
        self.leads.clear();
        self.touchpoints.clear();
        self.events.clear();
    }
}

/// The SAL stage's SLA as the migrations seed it: synthetic first contacts are judged
/// against it.
const SAL_SLA_MINUTES: i32 = 60;

/// The lead row as the mutations would leave it after each step.
struct State<'a> {
    stage: Stage,
    entered: i64,
    owner: Option<Uuid>,
    version: i32,
    score: i32,
    first_contact: Option<i64>,
    /// When this stay in SAL had its SLA breach recorded.
    breached: Option<i64>,
    deal: Option<i64>,
    bant: Option<&'static [&'static str; 4]>,
    reason: Option<&'a str>,
    note: Option<&'static str>,
    recycles: i32,
    updated: i64,
}

impl Plan<'_> {
    /// Writes the lead created at `created` (µs) with every step before `cutoff` into `out`.
    /// Returns the lead's id.
    pub fn materialize(
        &self,
        contact: Contact,
        created: i64,
        cutoff: i64,
        ids: &mut impl Rng,
        out: &mut Batch,
    ) -> Uuid {
        let lead_id = uuid_v7(created, ids);
        let Contact { email, first_name, last_name, title, account_id, channel, campaign_id } = contact;
        let event = |id, kind, occurred: i64, actor, owner| lead_event::Model {
            // Assigned by the database; the writer leaves this column out.
            position: 0,
            id,
            lead_id,
            kind,
            from_stage: None,
            to_stage: None,
            from_stage_entered_at: None,
            actor_id: actor,
            owner_id: owner,
            channel,
            campaign_id,
            reason_code: None,
            note: None,
            amount: None,
            currency_code: None,
            detail: None,
            occurred_at: at(occurred),
        };
        let mut created_event = event(uuid_v7(created, ids), LeadEventKind::Created, created, self.creator, None);
        created_event.to_stage = Some(Stage::Lead);
        out.events.push(created_event);

        let mut s = State {
            stage: Stage::Lead,
            entered: created,
            owner: None,
            version: 1,
            score: 0,
            first_contact: None,
            breached: None,
            deal: None,
            bant: None,
            reason: None,
            note: None,
            recycles: 0,
            updated: created,
        };
        // Each step, and then the cutoff, which only lets a SAL's SLA run out.
        for step in self.steps.iter().map(Some).chain([None]) {
            let when = step.map_or(cutoff, |step| (created + step.at).min(cutoff));
            // As the SLA sweep records it: a SAL still without a first contact when its SLA
            // runs out gets one SLA_BREACHED event, then, and the lead keeps the time.
            let due = s.entered + i64::from(SAL_SLA_MINUTES) * MINUTE;
            if s.stage == Stage::Sal && s.first_contact.is_none() && s.breached.is_none() && due < when {
                s.breached = Some(due);
                let mut e = event(uuid_v7(due, ids), LeadEventKind::SlaBreached, due, None, s.owner);
                e.from_stage = Some(Stage::Sal);
                e.from_stage_entered_at = Some(at(s.entered));
                e.detail = Some(serde_json::json!({
                    "stage": Stage::Sal,
                    "slaMinutes": SAL_SLA_MINUTES,
                    "dueAt": at(due),
                }));
                out.events.push(e);
            }
            let Some(step) = step.filter(|_| when < cutoff) else { break };
            s.version += 1;
            s.updated = when;
            match &step.action {
                Action::Touch { kind, actor } => {
                    let kind = *kind;
                    let touchpoint_id = uuid_v7(when, ids);
                    // Sales contacts are not marketing attribution.
                    let marketing = !kind.is_sales_contact();
                    out.touchpoints.push(touchpoint::Model {
                        id: touchpoint_id,
                        lead_id,
                        kind,
                        channel: marketing.then_some(channel),
                        campaign_id: campaign_id.filter(|_| marketing),
                        actor_id: *actor,
                        points: points(kind),
                        occurred_at: at(when),
                        created_at: at(when),
                    });
                    s.score += points(kind);
                    let first_contact = kind.is_sales_contact() && s.stage == Stage::Sal && s.first_contact.is_none();
                    let mut detail = serde_json::json!({
                        "touchpointId": touchpoint_id,
                        "kind": kind.to_value(),
                        "points": points(kind),
                        "firstContact": first_contact,
                    });
                    if first_contact {
                        s.first_contact = Some(when);
                        // As `recordTouchpoint` keeps it, for speed-to-lead and SLA compliance.
                        let contact = FirstContact {
                            contact_at: at(when),
                            sal_entered_at: at(s.entered),
                            sla_minutes: Some(SAL_SLA_MINUTES),
                        };
                        if let (Some(detail), Ok(serde_json::Value::Object(extra))) =
                            (detail.as_object_mut(), serde_json::to_value(contact))
                        {
                            detail.extend(extra);
                        }
                    }
                    let mut e = event(uuid_v7(when, ids), LeadEventKind::Touchpoint, when, *actor, s.owner);
                    e.detail = Some(detail);
                    out.events.push(e);
                }
                Action::Move(m) => {
                    let mut e = event(uuid_v7(when, ids), LeadEventKind::StageChanged, when, m.actor, m.owner);
                    e.from_stage = Some(s.stage);
                    e.to_stage = Some(m.to);
                    e.from_stage_entered_at = Some(at(s.entered));
                    e.reason_code = m.reason.map(str::to_owned);
                    e.note = m.note.map(str::to_owned);
                    e.amount = m.amount;
                    e.currency_code = m.amount.map(|_| CURRENCY.to_owned());
                    out.events.push(e);
                    match m.to {
                        Stage::Lead => {
                            // Back with marketing: a fresh start for sales next time.
                            s.recycles += 1;
                            s.first_contact = None;
                            s.deal = None;
                            s.bant = None;
                        }
                        Stage::Sql => {
                            s.deal = m.amount;
                            s.bant = m.bant;
                        }
                        Stage::Won => s.deal = m.amount,
                        Stage::Mql | Stage::Sal | Stage::Lost | Stage::Disqualified => {}
                    }
                    if m.reason.is_some() {
                        s.reason = m.reason;
                        s.note = m.note;
                    }
                    s.owner = m.owner;
                    s.stage = m.to;
                    s.entered = when;
                    s.breached = None;
                }
            }
        }
        let bant = |i: usize| s.bant.map(|b| b[i].to_owned());
        out.leads.push(lead::Model {
            id: lead_id,
            search_text: format!("{} {} {}", first_name.to_lowercase(), last_name.to_lowercase(), email),
            email,
            first_name: Some(first_name),
            last_name: Some(last_name),
            title,
            account_id,
            channel,
            campaign_id,
            score: s.score,
            stage: s.stage,
            owner_id: s.owner,
            version: s.version,
            stage_entered_at: at(s.entered),
            first_contact_at: s.first_contact.map(at),
            sla_breached_at: s.breached.map(at),
            deal_value_amount: s.deal,
            currency_code: s.deal.map(|_| CURRENCY.to_owned()),
            budget: bant(0),
            authority: bant(1),
            need: bant(2),
            timeline: bant(3),
            reason_code: s.reason.map(str::to_owned),
            reason_note: s.note.map(str::to_owned),
            recycle_count: s.recycles,
            created_at: at(created),
            updated_at: at(s.updated),
        });
        lead_id
    }
}
