//! What was counted for closed days, kept between requests.
//!
//! The rollup rows of a day stop changing once the day is over, except when a fact is
//! recorded for a past day (events count on the day they are appended, so this takes an
//! append dated in the past, such as a sweep run as of an earlier time) or the rollups are
//! rebuilt. Both replace the
//! generation setting in the same transaction. A request reads the generation before any
//! rollup row and reuses what was counted for the same closed days, filter and grouping
//! under the same generation, on any instance. A day counts as closed once a whole further
//! day has passed, so a move dated before midnight that commits after it cannot be missed by
//! an answer counted in between (its fact is for a day that was still open).

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use chrono::{NaiveDate, TimeDelta};
use entity::{Channel, setting};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};
use uuid::Uuid;

use super::read::{GroupBy, GroupKey};
use crate::{
    domain::{kpi_facts::DurationMetric, kpi_tally::Tally, time},
    error::AppResult,
};

/// The setting naming the current state of the closed days' rollups.
const GENERATION: &str = "kpi_rollup_generation";
/// Counted segments kept; each is a few hundred kilobytes at most (a year by month and
/// channel is 144 groups).
const SEGMENTS: u64 = 256;
/// A segment nobody asked for in this long is dropped.
const IDLE: Duration = Duration::from_secs(3600);

/// The counts of one stretch of closed days.
#[derive(Clone, Debug, Default)]
pub struct Segment {
    pub total: Tally,
    pub groups: BTreeMap<GroupKey, Tally>,
}

/// What identifies a counted segment: the rollups' generation, the grain and days read, and
/// everything of the request that shapes the counts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SegmentKey {
    pub generation: String,
    pub grain: &'static str,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub channels: Option<Vec<Channel>>,
    pub group_by: Vec<GroupBy>,
    pub durations: Vec<DurationMetric>,
}

/// This instance's counted segments.
pub struct RollupCache {
    segments: moka::future::Cache<SegmentKey, Arc<Segment>>,
}

impl Default for RollupCache {
    fn default() -> Self {
        Self { segments: moka::future::Cache::builder().max_capacity(SEGMENTS).time_to_idle(IDLE).build() }
    }
}

impl RollupCache {
    /// The segment under `key`, counted by `count` when nobody has yet (concurrent requests
    /// for the same key wait for one count).
    pub async fn segment(
        &self,
        key: SegmentKey,
        count: impl Future<Output = AppResult<Segment>>,
    ) -> AppResult<Arc<Segment>> {
        self.segments.try_get_with(key, async { count.await.map(Arc::new) }).await.map_err(|error| (*error).clone())
    }
}

/// The first day that is not closed yet: days before it are cached.
pub fn open_from() -> NaiveDate {
    time::now().date_naive() - TimeDelta::days(1)
}

/// The rollups' current generation (empty before the first late fact or rebuild).
pub async fn generation(db: &impl ConnectionTrait) -> Result<String, DbErr> {
    Ok(setting::Entity::find_by_id(GENERATION).one(db).await?.map(|row| row.value).unwrap_or_default())
}

/// Marks every cached segment stale, on every instance: call it in the transaction that
/// changes the rollups of a day before today.
pub async fn invalidate(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let row = setting::ActiveModel {
        key: Set(GENERATION.to_owned()),
        value: Set(Uuid::now_v7().to_string()),
        updated_at: Set(time::now()),
    };
    setting::Entity::insert(row)
        .on_conflict(
            OnConflict::column(setting::Column::Key)
                .update_columns([setting::Column::Value, setting::Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}
