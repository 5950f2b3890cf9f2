//! Reading KPIs and the funnel: whole days (or whole months) from the rollups, the partial
//! first and last day straight from the event log through the same facts, so any period is
//! answered exactly at the cost of a bounded number of rollup rows.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeDelta, Utc};
use entity::{Channel, Stage, Team, campaign, stage, user};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::{
    cache::{self, RollupCache, Segment, SegmentKey},
    collect::{
        Collector, read_cohort, read_created, read_current, read_customers, read_durations, read_events, read_flows,
        read_new_customers,
    },
    rollup::{DAY, DETAIL, MONTH, first_of_month},
};
use crate::{
    domain::{
        kpi_facts::DurationMetric,
        kpi_tally::{Context, Tally, View},
    },
    error::{AppError, AppResult},
};

/// Longest period a request may cover.
const MAX_PERIOD: TimeDelta = TimeDelta::days(5 * 366);
/// The period when none is given: the 30 days up to now.
const DEFAULT_PERIOD: TimeDelta = TimeDelta::days(30);

/// Which leads and events to count. Every condition present must hold.
#[derive(Clone, Debug, Default)]
pub struct KpiFilter {
    pub channels: Option<Vec<Channel>>,
    pub campaign_ids: Option<Vec<Uuid>>,
    pub owner_ids: Option<Vec<Uuid>>,
    pub team: Option<Team>,
}

/// A dimension to split the answer by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupBy {
    Channel,
    Owner,
    Week,
    Month,
}

/// A checked KPI request.
#[derive(Clone, Debug)]
pub struct KpiRequest {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub view: View,
    pub filter: KpiFilter,
    pub group_by: Vec<GroupBy>,
    /// The duration histograms the answer needs (they are the bulk of the rows read).
    pub durations: Vec<DurationMetric>,
    /// Whether the answer needs the new customer accounts and their lifetime value.
    pub customers: bool,
}

impl KpiRequest {
    /// Checks the period (half-open, at most five years; the last 30 days when absent) and
    /// that the view supports the filter and grouping.
    pub fn new(
        period: Option<(DateTime<Utc>, DateTime<Utc>)>,
        now: DateTime<Utc>,
        view: View,
        filter: KpiFilter,
        group_by: Vec<GroupBy>,
    ) -> AppResult<Self> {
        let (from, to) = period.unwrap_or((now - DEFAULT_PERIOD, now));
        if to <= from {
            return Err(AppError::bad_input("period.to", "must be after period.from"));
        }
        if to - from > MAX_PERIOD {
            return Err(AppError::bad_input("period.to", "a period may span at most five years"));
        }
        if group_by.contains(&GroupBy::Week) && group_by.contains(&GroupBy::Month) {
            return Err(AppError::bad_input("groupBy", "group by WEEK or by MONTH, not both"));
        }
        if view == View::Cohort {
            if filter.owner_ids.is_some() || filter.team.is_some() {
                return Err(AppError::bad_input("filter", "the cohort view filters by channel and campaign only"));
            }
            if group_by.contains(&GroupBy::Owner) {
                return Err(AppError::bad_input("groupBy", "the cohort view cannot be grouped by owner"));
            }
        }
        Ok(Self { from, to, view, filter, group_by, durations: DurationMetric::ALL.to_vec(), customers: true })
    }

    pub(super) fn by(&self, dimension: GroupBy) -> bool {
        self.group_by.contains(&dimension)
    }

    /// The start of the time bucket `day` falls in, when grouping by time.
    pub(super) fn bucket_start(&self, day: NaiveDate) -> Option<NaiveDate> {
        if self.by(GroupBy::Month) {
            Some(first_of_month(day))
        } else if self.by(GroupBy::Week) {
            Some(day - TimeDelta::days(i64::from(day.weekday().num_days_from_monday())))
        } else {
            None
        }
    }

    /// Every time bucket the period touches, in order (none when not grouping by time).
    fn bucket_starts(&self) -> Vec<NaiveDate> {
        let mut starts = Vec::new();
        let (Some(mut start), last) = (self.bucket_start(self.from.date_naive()), self.to - TimeDelta::microseconds(1))
        else {
            return starts;
        };
        while start <= last.date_naive() {
            starts.push(start);
            start = if self.by(GroupBy::Month) {
                start.checked_add_months(Months::new(1)).unwrap_or(NaiveDate::MAX)
            } else {
                start + TimeDelta::days(7)
            };
        }
        starts
    }
}

/// One group of an answer: a channel, an owner (the nil id for leads without one) and the
/// start of a week or month, each present when grouping by it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GroupKey {
    pub channel: Option<Channel>,
    pub owner: Option<Uuid>,
    pub start: Option<NaiveDate>,
}

impl GroupKey {
    fn order(&self) -> (Option<NaiveDate>, Option<u8>, Option<Uuid>) {
        (self.start, self.channel.map(|c| c as u8), self.owner)
    }
}

/// Groups come in time order, then channel (in the enum's order), then owner.
impl Ord for GroupKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order().cmp(&other.order())
    }
}

impl PartialOrd for GroupKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Everything counted for a request: the whole, and each group.
#[derive(Clone, Debug)]
pub struct Report {
    pub request: KpiRequest,
    pub total: Tally,
    pub groups: BTreeMap<GroupKey, Tally>,
    pub context: Context,
    /// Spend per channel in scope, for groups by channel.
    pub spend_by_channel: HashMap<Channel, BTreeMap<String, i64>>,
}

impl Report {
    /// The context of a group: its channel's spend when grouped by channel.
    pub fn context_of(&self, key: &GroupKey) -> Context {
        match key.channel {
            Some(channel) => Context {
                spend: self.spend_by_channel.get(&channel).cloned().unwrap_or_default(),
                ..self.context.clone()
            },
            None => self.context.clone(),
        }
    }
}

/// The period split into a partial first day, whole days and a partial last day.
struct Segments {
    partial: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    days: Option<(NaiveDate, NaiveDate)>,
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn segments(from: DateTime<Utc>, to: DateTime<Utc>) -> Segments {
    let first_whole =
        if midnight(from.date_naive()) == from { from.date_naive() } else { from.date_naive() + TimeDelta::days(1) };
    let end_whole = to.date_naive();
    if first_whole >= end_whole {
        // No whole day in between: at most two partial days.
        let split = midnight(end_whole).clamp(from, to);
        let partial = [(from, split), (split, to)].into_iter().filter(|(a, b)| a < b).collect();
        return Segments { partial, days: None };
    }
    let partial =
        [(from, midnight(first_whole)), (midnight(end_whole), to)].into_iter().filter(|(a, b)| a < b).collect();
    Segments { partial, days: Some((first_whole, end_whole)) }
}

/// Counts everything the request asks for.
#[tracing::instrument(skip_all)]
pub async fn report(db: &DatabaseConnection, cache: &RollupCache, request: KpiRequest) -> AppResult<Report> {
    let owners = owner_scope(db, &request.filter).await?;
    let mut collector = Collector::new(&request, owners);
    // Read before any rollup row: a late fact committed after this makes the generation
    // stale, so what is counted below is never kept under a generation it does not match.
    let generation = if collector.detailed() { None } else { Some(cache::generation(db).await?) };
    let segments = segments(request.from, request.to);
    let open_from = cache::open_from();
    match request.view {
        View::Period => {
            if let Some(days) = segments.days {
                for (grain, from, to) in grain_ranges(&collector, days) {
                    for (from, to, closed) in split_at(from, to, open_from) {
                        match &generation {
                            Some(generation) if closed => {
                                let key = SegmentKey {
                                    generation: generation.clone(),
                                    grain,
                                    from,
                                    to,
                                    channels: request.filter.channels.clone(),
                                    group_by: request.group_by.clone(),
                                    durations: request.durations.clone(),
                                };
                                let segment = cache.segment(key, count_segment(db, &request, grain, from, to)).await?;
                                collector.merge(&segment);
                            }
                            _ => read_moves(db, &mut collector, grain, from, to).await?,
                        }
                    }
                    if request.customers {
                        read_customers(db, &mut collector, grain, from, to).await?;
                    }
                }
            }
            for (from, to) in &segments.partial {
                read_events(db, &mut collector, *from, *to).await?;
                if request.customers {
                    read_new_customers(db, &mut collector, *from, *to).await?;
                }
            }
            read_current(db, &mut collector).await?;
        }
        View::Cohort => {
            if let Some((from, to)) = segments.days {
                read_cohort(db, &mut collector, from, to).await?;
            }
            for (from, to) in &segments.partial {
                read_created(db, &mut collector, *from, *to).await?;
            }
        }
    }
    let Collector { total, mut groups, now, .. } = collector;
    let mut report_groups = BTreeMap::new();
    if !request.group_by.is_empty() {
        let starts = request.bucket_starts();
        let mut bases: BTreeSet<GroupKey> = now.keys().cloned().collect();
        bases.extend(groups.keys().map(|k| GroupKey { start: None, ..k.clone() }));
        for base in bases {
            let timeless = now.get(&base).cloned().unwrap_or_default();
            let keys: Vec<GroupKey> = if starts.is_empty() {
                vec![base.clone()]
            } else {
                starts.iter().map(|start| GroupKey { start: Some(*start), ..base.clone() }).collect()
            };
            for key in keys {
                let mut tally = groups.remove(&key).unwrap_or_default();
                tally.merge(&timeless);
                report_groups.insert(key, tally);
            }
        }
    }
    let (context, spend_by_channel) = context(db, &request.filter).await?;
    Ok(Report { request, total, groups: report_groups, context, spend_by_channel })
}

/// Flows and, when asked for, duration histograms of whole days at one grain.
async fn read_moves(
    db: &DatabaseConnection,
    collector: &mut Collector<'_>,
    grain: &'static str,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<()> {
    read_flows(db, collector, grain, from, to).await?;
    if !collector.request.durations.is_empty() {
        read_durations(db, collector, grain, from, to).await?;
    }
    Ok(())
}

/// What [`read_moves`] counts for closed days, on its own, to be kept.
async fn count_segment(
    db: &DatabaseConnection,
    request: &KpiRequest,
    grain: &'static str,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<Segment> {
    let mut collector = Collector::new(request, None);
    read_moves(db, &mut collector, grain, from, to).await?;
    Ok(Segment { total: collector.total, groups: collector.groups })
}

/// [from, to) split at `open_from`: the closed days before it and the open ones after,
/// each with whether it is closed.
fn split_at(from: NaiveDate, to: NaiveDate, open_from: NaiveDate) -> Vec<(NaiveDate, NaiveDate, bool)> {
    let split = open_from.clamp(from, to);
    [(from, split, true), (split, to, false)].into_iter().filter(|(a, b, _)| a < b).collect()
}

/// The owners a filter by owner and team allows, or none for every owner.
async fn owner_scope(db: &DatabaseConnection, filter: &KpiFilter) -> Result<Option<BTreeSet<Uuid>>, DbErr> {
    let mut owners: Option<BTreeSet<Uuid>> = filter.owner_ids.as_ref().map(|ids| ids.iter().copied().collect());
    if let Some(team) = filter.team {
        let members: BTreeSet<Uuid> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::Team.eq(team))
            .into_tuple::<Uuid>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        owners = Some(match owners {
            Some(ids) => ids.intersection(&members).copied().collect(),
            None => members,
        });
    }
    Ok(owners)
}

/// Which grain to read for which whole days: whole months from the month grain when
/// nothing finer is asked, the rest from the day (or detail) grain.
fn grain_ranges(
    collector: &Collector<'_>,
    (from, to): (NaiveDate, NaiveDate),
) -> Vec<(&'static str, NaiveDate, NaiveDate)> {
    if collector.detailed() {
        return vec![(DETAIL, from, to)];
    }
    if collector.request.by(GroupBy::Week) {
        return vec![(DAY, from, to)];
    }
    let first_month =
        if from.day() == 1 { from } else { first_of_month(from).checked_add_months(Months::new(1)).unwrap_or(to) };
    let end_month = first_of_month(to);
    if first_month >= end_month {
        return vec![(DAY, from, to)];
    }
    [(DAY, from, first_month), (MONTH, first_month, end_month), (DAY, end_month, to)]
        .into_iter()
        .filter(|(_, a, b)| a < b)
        .collect()
}

/// The SQL stage's win probability, and campaign spend in scope (total and per channel).
async fn context(
    db: &DatabaseConnection,
    filter: &KpiFilter,
) -> AppResult<(Context, HashMap<Channel, BTreeMap<String, i64>>)> {
    let sql_win_probability_percent =
        stage::Entity::find_by_id(Stage::Sql).one(db).await?.map_or(0, |s| s.win_probability_percent);
    let mut query = campaign::Entity::find();
    if let Some(channels) = &filter.channels {
        query = query.filter(campaign::Column::Channel.is_in(channels.iter().copied()));
    }
    if let Some(campaigns) = &filter.campaign_ids {
        query = query.filter(campaign::Column::Id.is_in(campaigns.iter().copied()));
    }
    let mut spend: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_channel: HashMap<Channel, BTreeMap<String, i64>> = HashMap::new();
    for campaign in query.all(db).await? {
        *spend.entry(campaign.currency_code.clone()).or_default() += campaign.spend_amount;
        *by_channel.entry(campaign.channel).or_default().entry(campaign.currency_code).or_default() +=
            campaign.spend_amount;
    }
    Ok((Context { sql_win_probability_percent, spend }, by_channel))
}
