//! What one `lead_event` row adds to the KPI rollups. The incremental path (every append),
//! the rebuild and the exact reading of partial days all derive their numbers from this
//! one function, so they cannot disagree.

use chrono::{DateTime, NaiveDate, Utc};
use entity::{Channel, LeadEventKind, Stage};
use uuid::Uuid;

/// The parts of a `lead_event` row the KPIs read. Deserializes from a JSON object or
/// from an array of the fields in this order (the rebuild's packed pages).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct KpiEvent {
    pub lead_id: Uuid,
    pub kind: LeadEventKind,
    pub from_stage: Option<Stage>,
    pub to_stage: Option<Stage>,
    pub from_stage_entered_at: Option<DateTime<Utc>>,
    /// The lead's owner after the event.
    pub owner_id: Option<Uuid>,
    pub channel: Channel,
    pub campaign_id: Option<Uuid>,
    pub reason_code: Option<String>,
    pub amount: Option<i64>,
    pub currency_code: Option<String>,
    pub detail: Option<serde_json::Value>,
    pub occurred_at: DateTime<Utc>,
}

/// The parts of a `lead` row the KPIs read: where it stands now and the cohort it belongs
/// to. Deserializes from an array of the fields in this order (the rebuild's packed pages).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct KpiLead {
    pub id: Uuid,
    pub stage: Stage,
    pub channel: Channel,
    pub campaign_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub deal_value_amount: Option<i64>,
    pub currency_code: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What a counted fact is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowKind {
    /// A lead was created (into LEAD).
    Created,
    /// A stage move.
    Moved,
    /// A SAL's first sales contact; tagged with the SLA verdict.
    Contacted,
    /// A SAL waited past its SLA without a contact.
    SlaBreached,
}

impl FlowKind {
    pub const ALL: [Self; 4] = [Self::Created, Self::Moved, Self::Contacted, Self::SlaBreached];

    pub fn key(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::Moved => "MOVED",
            Self::Contacted => "CONTACTED",
            Self::SlaBreached => "SLA_BREACHED",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.key() == key)
    }
}

/// Which duration a histogram holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DurationMetric {
    /// Time a lead spent in the stage it left, over every move.
    TimeInStage,
    /// Time in MQL, over moves from MQL to SAL.
    MqlAcceptance,
    /// Time from entering SAL to the first sales contact.
    SpeedToLead,
}

impl DurationMetric {
    pub const ALL: [Self; 3] = [Self::TimeInStage, Self::MqlAcceptance, Self::SpeedToLead];

    pub fn key(self) -> &'static str {
        match self {
            Self::TimeInStage => "TIME_IN_STAGE",
            Self::MqlAcceptance => "MQL_ACCEPTANCE",
            Self::SpeedToLead => "SPEED_TO_LEAD",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|metric| metric.key() == key)
    }
}

/// SLA verdicts of a first contact.
pub const WITHIN_SLA: &str = "WITHIN_SLA";
pub const OVER_SLA: &str = "OVER_SLA";

/// Where a fact is counted: its UTC day and the lead's channel, campaign and owner.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Dims {
    pub day: NaiveDate,
    pub channel: Channel,
    pub campaign_id: Option<Uuid>,
    /// The owner the fact is attributed to: the owner after the event, or, for a move that
    /// takes the lead away from its rep (a return to marketing), the rep who had it.
    pub owner_id: Option<Uuid>,
}

/// A counted fact, with the money it moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    pub kind: FlowKind,
    pub from: Option<Stage>,
    pub to: Option<Stage>,
    /// Reason code of a move, or SLA verdict of a contact.
    pub tag: Option<String>,
    pub currency: Option<String>,
    pub amount: i64,
}

/// A measured duration, in microseconds, spent in `stage`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duration {
    pub metric: DurationMetric,
    pub stage: Stage,
    pub micros: i64,
}

/// Everything one event adds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub dims: Option<Dims>,
    pub flows: Vec<Flow>,
    pub durations: Vec<Duration>,
}

impl Facts {
    /// The won deal these facts record, if they are a move from SQL to WON: where it is
    /// counted and its amount. WON is final (no move leaves it), so a won deal is never
    /// taken back.
    pub fn won(&self) -> Option<(&Dims, &Flow)> {
        let dims = self.dims.as_ref()?;
        let flow = self
            .flows
            .iter()
            .find(|f| f.kind == FlowKind::Moved && f.from == Some(Stage::Sql) && f.to == Some(Stage::Won))?;
        Some((dims, flow))
    }
}

/// The first-contact details a `TOUCHPOINT` event carries in its `detail`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirstContact {
    /// When the contact happened (the touchpoint's time).
    pub contact_at: DateTime<Utc>,
    /// When the lead entered SAL.
    pub sal_entered_at: DateTime<Utc>,
    /// The SAL stage's SLA when the contact was recorded, if it had one.
    pub sla_minutes: Option<i32>,
}

impl FirstContact {
    /// Reads the first contact from a touchpoint event's detail, if it marks one.
    pub fn from_detail(detail: Option<&serde_json::Value>) -> Option<Self> {
        let detail = detail?;
        if detail.get("firstContact").and_then(serde_json::Value::as_bool) != Some(true) {
            return None;
        }
        serde_json::from_value(detail.clone()).ok()
    }

    pub fn within_sla(&self) -> bool {
        self.sla_minutes
            .is_none_or(|minutes| self.contact_at - self.sal_entered_at <= chrono::TimeDelta::minutes(minutes.into()))
    }
}

/// The facts of `event`, given the lead's owner before it (`previous_owner`).
pub fn facts(event: &KpiEvent, previous_owner: Option<Uuid>) -> Facts {
    let owner_id = match (event.kind, event.owner_id) {
        (LeadEventKind::StageChanged, None) => previous_owner,
        (_, owner) => owner,
    };
    let dims =
        Dims { day: event.occurred_at.date_naive(), channel: event.channel, campaign_id: event.campaign_id, owner_id };
    let mut facts = Facts { dims: Some(dims), ..Facts::default() };
    match event.kind {
        LeadEventKind::Created => facts.flows.push(Flow {
            kind: FlowKind::Created,
            from: None,
            to: event.to_stage,
            tag: None,
            currency: None,
            amount: 0,
        }),
        LeadEventKind::StageChanged => {
            facts.flows.push(Flow {
                kind: FlowKind::Moved,
                from: event.from_stage,
                to: event.to_stage,
                tag: event.reason_code.clone(),
                currency: event.amount.and(event.currency_code.clone()),
                amount: event.amount.unwrap_or(0),
            });
            if let (Some(from), Some(entered)) = (event.from_stage, event.from_stage_entered_at) {
                let micros = (event.occurred_at - entered).num_microseconds().unwrap_or(i64::MAX);
                facts.durations.push(Duration { metric: DurationMetric::TimeInStage, stage: from, micros });
                if from == Stage::Mql && event.to_stage == Some(Stage::Sal) {
                    facts.durations.push(Duration { metric: DurationMetric::MqlAcceptance, stage: from, micros });
                }
            }
        }
        LeadEventKind::Touchpoint => {
            if let Some(contact) = FirstContact::from_detail(event.detail.as_ref()) {
                let verdict = if contact.within_sla() { WITHIN_SLA } else { OVER_SLA };
                facts.flows.push(Flow {
                    kind: FlowKind::Contacted,
                    from: Some(Stage::Sal),
                    to: None,
                    tag: Some(verdict.to_owned()),
                    currency: None,
                    amount: 0,
                });
                let micros = (contact.contact_at - contact.sal_entered_at).num_microseconds().unwrap_or(i64::MAX);
                facts.durations.push(Duration { metric: DurationMetric::SpeedToLead, stage: Stage::Sal, micros });
            }
        }
        LeadEventKind::SlaBreached => facts.flows.push(Flow {
            kind: FlowKind::SlaBreached,
            from: event.from_stage,
            to: None,
            tag: None,
            currency: None,
            amount: 0,
        }),
        LeadEventKind::Assigned => {}
    }
    facts
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn event(kind: LeadEventKind) -> KpiEvent {
        KpiEvent {
            lead_id: Uuid::now_v7(),
            kind,
            from_stage: None,
            to_stage: None,
            from_stage_entered_at: None,
            owner_id: None,
            channel: Channel::Webinar,
            campaign_id: None,
            reason_code: None,
            amount: None,
            currency_code: None,
            detail: None,
            occurred_at: Utc::now(),
        }
    }

    #[test]
    fn a_return_counts_for_the_rep_who_had_the_lead() {
        let rep = Uuid::now_v7();
        let mut ret = event(LeadEventKind::StageChanged);
        (ret.from_stage, ret.to_stage, ret.reason_code) =
            (Some(Stage::Sal), Some(Stage::Lead), Some("BAD_TIMING".into()));
        ret.from_stage_entered_at = Some(ret.occurred_at - TimeDelta::minutes(5));
        let facts = facts(&ret, Some(rep));
        assert_eq!(facts.dims.map(|d| d.owner_id), Some(Some(rep)));
        assert_eq!(facts.flows[0].tag.as_deref(), Some("BAD_TIMING"));
        assert_eq!(
            facts.durations,
            vec![Duration { metric: DurationMetric::TimeInStage, stage: Stage::Sal, micros: 300_000_000 }]
        );
    }

    #[test]
    fn an_acceptance_measures_time_in_mql_twice() {
        let mut accept = event(LeadEventKind::StageChanged);
        (accept.from_stage, accept.to_stage) = (Some(Stage::Mql), Some(Stage::Sal));
        accept.from_stage_entered_at = Some(accept.occurred_at - TimeDelta::seconds(90));
        let metrics: Vec<_> = facts(&accept, None).durations.iter().map(|d| (d.metric, d.micros)).collect();
        assert_eq!(
            metrics,
            vec![(DurationMetric::TimeInStage, 90_000_000), (DurationMetric::MqlAcceptance, 90_000_000)]
        );
    }

    #[test]
    fn only_a_move_from_sql_to_won_is_a_won_deal() {
        let mut win = event(LeadEventKind::StageChanged);
        (win.from_stage, win.to_stage, win.amount, win.currency_code) =
            (Some(Stage::Sql), Some(Stage::Won), Some(150_000), Some("EUR".into()));
        let facts_of_win = facts(&win, None);
        let (dims, flow) = facts_of_win.won().expect("a won deal");
        assert_eq!((dims.channel, flow.amount, flow.currency.as_deref()), (Channel::Webinar, 150_000, Some("EUR")));
        let mut lost = win.clone();
        lost.to_stage = Some(Stage::Lost);
        assert!(facts(&lost, None).won().is_none());
        assert!(facts(&event(LeadEventKind::Created), None).won().is_none());
    }

    #[test]
    fn only_a_first_contact_touchpoint_counts_and_is_judged_against_its_sla() {
        let mut touch = event(LeadEventKind::Touchpoint);
        touch.detail = Some(serde_json::json!({ "firstContact": false, "kind": "CALL" }));
        assert!(facts(&touch, None).flows.is_empty());
        let entered = touch.occurred_at - TimeDelta::minutes(40);
        let contact = FirstContact {
            contact_at: entered + TimeDelta::minutes(31),
            sal_entered_at: entered,
            sla_minutes: Some(30),
        };
        let mut detail = serde_json::to_value(&contact).unwrap_or_default();
        detail["firstContact"] = true.into();
        touch.detail = Some(detail);
        let facts = facts(&touch, None);
        assert_eq!(facts.flows[0].tag.as_deref(), Some(OVER_SLA));
        assert_eq!(facts.durations[0].micros, 31 * 60_000_000);
    }
}
