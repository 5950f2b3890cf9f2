//! KPIs in the API: definitions with targets, values with status, and their series.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use entity::kpi_definition;
use sea_orm::ActiveEnum as _;

use super::{
    enums::{Channel, Team},
    money::Money,
    user::User,
};
use crate::{
    domain::{
        kpi::{self as rules, KpiStatus as Status},
        kpi_tally::{KpiValue, View},
    },
    graphql::context::{ContextExt, parse_id},
    service::kpi::read::{GroupBy, GroupKey, KpiFilter},
};

/// Which leads a KPI or funnel answer follows.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KpiView {
    /// Moves whose time falls in the period (the default).
    #[default]
    Period,
    /// Leads created in the period, followed to where they are now.
    Cohort,
}

impl From<KpiView> for View {
    fn from(view: KpiView) -> Self {
        match view {
            KpiView::Period => Self::Period,
            KpiView::Cohort => Self::Cohort,
        }
    }
}

impl From<View> for KpiView {
    fn from(view: View) -> Self {
        match view {
            View::Period => Self::Period,
            View::Cohort => Self::Cohort,
        }
    }
}

/// A dimension to split KPI and funnel answers by.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KpiGroupBy {
    /// The lead's channel.
    Channel,
    /// The rep the lead's events are attributed to (period view only).
    Owner,
    /// The ISO week (starting Monday, UTC) of the event, or of the lead's creation in the cohort view.
    Week,
    /// The UTC calendar month of the event, or of the lead's creation in the cohort view.
    Month,
}

impl From<KpiGroupBy> for GroupBy {
    fn from(group: KpiGroupBy) -> Self {
        match group {
            KpiGroupBy::Channel => Self::Channel,
            KpiGroupBy::Owner => Self::Owner,
            KpiGroupBy::Week => Self::Week,
            KpiGroupBy::Month => Self::Month,
        }
    }
}

/// Where a KPI stands against its target.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "rules::KpiStatus")]
pub enum KpiStatus {
    /// The value meets the target.
    OnTrack,
    /// The value misses the target by no more than the KPI's tolerance.
    AtRisk,
    /// The value misses the target by more than the tolerance.
    OffTrack,
}

/// How a KPI value is expressed.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::KpiUnit")]
pub enum KpiUnit {
    /// A share between 0 and 1.
    Ratio,
    /// A duration in minutes.
    Minutes,
    /// An amount in currency units; exact in `money`.
    Money,
    /// A number of things.
    Count,
}

/// Whether a KPI improves as it rises or as it falls.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::KpiDirection")]
pub enum KpiDirection {
    /// Higher values are better.
    HigherIsBetter,
    /// Lower values are better.
    LowerIsBetter,
}

/// A half-open time range [from, to).
#[derive(InputObject, Clone, Copy, Debug)]
pub struct PeriodInput {
    /// Start, included.
    pub from: DateTime<Utc>,
    /// End, excluded; after `from`, at most five years later.
    pub to: DateTime<Utc>,
}

/// The half-open time range [from, to) an answer covers.
#[derive(SimpleObject, Clone, Copy, Debug)]
pub struct Period {
    /// Start, included.
    pub from: DateTime<Utc>,
    /// End, excluded.
    pub to: DateTime<Utc>,
}

/// Which leads and events KPIs and the funnel count. Every condition present must hold.
#[derive(InputObject, Clone, Debug, Default)]
pub struct FunnelFilter {
    /// Only leads from these channels.
    pub channels: Option<Vec<Channel>>,
    /// Only leads from these campaigns.
    pub campaign_ids: Option<Vec<ID>>,
    /// Only events attributed to these reps (period view only).
    pub owner_ids: Option<Vec<ID>>,
    /// Only events attributed to members of this team (period view only).
    pub team: Option<Team>,
}

impl FunnelFilter {
    pub fn to_service(&self) -> Result<KpiFilter, crate::error::AppError> {
        let ids = |field: &str, ids: &Option<Vec<ID>>| {
            ids.as_ref().map(|ids| ids.iter().map(|id| parse_id(field, id)).collect::<Result<Vec<_>, _>>()).transpose()
        };
        Ok(KpiFilter {
            channels: self.channels.as_ref().map(|c| c.iter().map(|&c| c.into()).collect()),
            campaign_ids: ids("filter.campaignIds", &self.campaign_ids)?,
            owner_ids: ids("filter.ownerIds", &self.owner_ids)?,
            team: self.team.map(Into::into),
        })
    }
}

/// One group of a split answer: the values of the dimensions it was split by.
#[derive(Clone, Debug)]
pub struct KpiGroup(pub GroupKey);

#[Object]
impl KpiGroup {
    /// The channel, when split by channel.
    async fn channel(&self) -> Option<Channel> {
        self.0.channel.map(Into::into)
    }

    /// The rep's id, when split by owner; null for events of leads without one.
    async fn owner_id(&self) -> Option<ID> {
        self.0.owner.filter(|id| !id.is_nil()).map(|id| ID(id.to_string()))
    }

    /// The rep, when split by owner; null for events of leads without one.
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(owner) = self.0.owner.filter(|id| !id.is_nil()) else { return Ok(None) };
        Ok(ctx.loaders()?.users.load_one(owner).await?.map(User))
    }

    /// Start (UTC midnight) of the week or month, when split by time.
    async fn period_start(&self) -> Option<DateTime<Utc>> {
        self.0.start.map(midnight)
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// A KPI's value in one group.
pub struct KpiPoint {
    pub group: GroupKey,
    pub value: KpiValue,
    pub definition: kpi_definition::Model,
}

#[Object]
impl KpiPoint {
    /// Which group this is.
    async fn group(&self) -> KpiGroup {
        KpiGroup(self.group.clone())
    }

    /// The value in this group (null when there is nothing to divide by).
    async fn value(&self) -> Option<f64> {
        self.value.value
    }

    /// The exact amount, for money KPIs in a single currency.
    async fn money(&self) -> Option<Money> {
        single_money(&self.value)
    }

    /// The value's status against the KPI's target.
    async fn status(&self) -> Option<KpiStatus> {
        status(&self.definition, &self.value)
    }
}

/// A KPI: its shared definition, its target, and its value for the period and filter asked.
pub struct Kpi {
    pub definition: kpi_definition::Model,
    pub value: KpiValue,
    pub view: View,
    pub series: Vec<KpiPoint>,
}

#[Object]
impl Kpi {
    /// Stable key, e.g. `mql_to_sal_rate`.
    async fn key(&self) -> &str {
        &self.definition.key
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.definition.name
    }

    /// The one definition both teams read the number by.
    async fn description(&self) -> &str {
        &self.definition.description
    }

    /// How the value is expressed.
    async fn unit(&self) -> KpiUnit {
        self.definition.unit.into()
    }

    /// Whether higher or lower is better.
    async fn direction(&self) -> KpiDirection {
        self.definition.direction.into()
    }

    /// A ratio in 0..1, minutes, a count, or for money KPIs the amount in currency units;
    /// null for a ratio with nothing to divide by (or money in several currencies).
    async fn value(&self) -> Option<f64> {
        self.value.value
    }

    /// The exact amount, for money KPIs in a single currency.
    async fn money(&self) -> Option<Money> {
        single_money(&self.value)
    }

    /// Every currency's exact amount, for money KPIs.
    async fn amounts(&self) -> Vec<Money> {
        self.value.amounts.iter().filter_map(|(amount, code)| Money::from_minor(Some(*amount), Some(code))).collect()
    }

    /// The target, in the KPI's unit; null when none is set.
    async fn target(&self) -> Option<f64> {
        self.definition.target
    }

    /// Relative distance from the target still counted as AT_RISK.
    async fn tolerance(&self) -> f64 {
        self.definition.tolerance
    }

    /// Where the value stands against the target; null without a value or a target.
    async fn status(&self) -> Option<KpiStatus> {
        status(&self.definition, &self.value)
    }

    /// The teams that own the KPI.
    async fn owners(&self) -> Vec<Team> {
        owners(&self.definition)
    }

    /// The view the value was computed in.
    async fn view(&self) -> KpiView {
        self.view.into()
    }

    /// The value per group, when `groupBy` was given (time groups in order, every week or
    /// month of the period present).
    async fn series(&self) -> &[KpiPoint] {
        &self.series
    }
}

fn single_money(value: &KpiValue) -> Option<Money> {
    match value.amounts.as_slice() {
        [(amount, code)] => Money::from_minor(Some(*amount), Some(code)),
        _ => None,
    }
}

fn status(definition: &kpi_definition::Model, value: &KpiValue) -> Option<KpiStatus> {
    rules::status(value.value, definition.target, definition.tolerance, definition.direction).map(Status::into)
}

fn owners(definition: &kpi_definition::Model) -> Vec<Team> {
    definition
        .owners
        .split(',')
        .filter_map(|team| entity::Team::try_from_value(&team.trim().to_owned()).ok())
        .map(Into::into)
        .collect()
}

/// A KPI's definition and target, as an admin edits it.
pub struct KpiDefinition(pub kpi_definition::Model);

#[Object]
impl KpiDefinition {
    /// Stable key, e.g. `mql_to_sal_rate`.
    async fn key(&self) -> &str {
        &self.0.key
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The one definition both teams read the number by.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// How the value is expressed.
    async fn unit(&self) -> KpiUnit {
        self.0.unit.into()
    }

    /// Whether higher or lower is better.
    async fn direction(&self) -> KpiDirection {
        self.0.direction.into()
    }

    /// The target, in the KPI's unit; null when none is set.
    async fn target(&self) -> Option<f64> {
        self.0.target
    }

    /// Relative distance from the target still counted as AT_RISK.
    async fn tolerance(&self) -> f64 {
        self.0.tolerance
    }

    /// The teams that own the KPI.
    async fn owners(&self) -> Vec<Team> {
        owners(&self.0)
    }

    /// When the definition or target last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}
