//! The events the engine emits into the outbox.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::playbook::Task;
use crate::customer::{Customer, LifecycleStage};
use crate::ids::{CustomerId, InteractionId};
use crate::money::Money;
use crate::objects::Object;
use crate::store::CustomerScore;

/// What happened. Serialised with a `type` tag (`customer_created`, `segment_entered`, ...).
///
/// # Examples
///
/// ```
/// use crmkit_core::automation::EventPayload;
/// let e = EventPayload::Action { playbook: "win-back".into(), action: "send_coupon".into(), payload: serde_json::json!({"pct": 10}) };
/// assert_eq!(e.type_name(), "action");
/// assert!(serde_json::to_string(&e).unwrap().starts_with(r#"{"type":"action""#));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventPayload {
    /// A customer was created.
    CustomerCreated {
        /// The new record.
        customer: Box<Customer>,
    },
    /// A customer was changed.
    CustomerUpdated {
        /// Before.
        before: Box<Customer>,
        /// After.
        after: Box<Customer>,
    },
    /// A customer's lifecycle stage changed.
    StageChanged {
        /// From.
        from: LifecycleStage,
        /// To.
        to: LifecycleStage,
    },
    /// An interaction was stored (emitted by the store itself, so a duplicate that is skipped
    /// emits nothing).
    InteractionRecorded {
        /// Its id.
        interaction: InteractionId,
        /// Its kind's name.
        kind: String,
        /// When it happened.
        occurred_at: DateTime<Utc>,
        /// Its amount (purchases and refunds).
        amount: Option<Money>,
    },
    /// A customer entered a segment.
    SegmentEntered {
        /// The segment.
        segment: String,
        /// Its version.
        version: u64,
        /// Why: the predicates that changed (or `added by hand`).
        reason: Vec<String>,
    },
    /// A customer left a segment.
    SegmentExited {
        /// The segment.
        segment: String,
        /// Its version.
        version: u64,
        /// Why.
        reason: Vec<String>,
    },
    /// A customer's scores changed.
    ScoreChanged {
        /// Before (`None` for the first scores).
        before: Option<ScoreBrief>,
        /// After.
        after: ScoreBrief,
    },
    /// A task was created (by a playbook or by hand).
    TaskCreated {
        /// The task.
        task: Box<Task>,
    },
    /// A task was completed.
    TaskCompleted {
        /// The task.
        task: Box<Task>,
    },
    /// A user-defined object was created.
    ObjectCreated {
        /// The object.
        object: Box<Object>,
    },
    /// A user-defined object was changed.
    ObjectUpdated {
        /// Before.
        before: Box<Object>,
        /// After.
        after: Box<Object>,
    },
    /// A user-defined object was deleted.
    ObjectDeleted {
        /// The object as it was.
        object: Box<Object>,
    },
    /// A playbook's custom action for the host application.
    Action {
        /// The playbook.
        playbook: String,
        /// The action's name.
        action: String,
        /// Its data.
        payload: serde_json::Value,
    },
}

impl EventPayload {
    /// The `type` tag.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{automation::EventPayload, LifecycleStage};
    /// let e = EventPayload::StageChanged { from: LifecycleStage::Lead, to: LifecycleStage::Customer };
    /// assert_eq!(e.type_name(), "stage_changed");
    /// ```
    pub fn type_name(&self) -> &'static str {
        match self {
            EventPayload::CustomerCreated { .. } => "customer_created",
            EventPayload::CustomerUpdated { .. } => "customer_updated",
            EventPayload::StageChanged { .. } => "stage_changed",
            EventPayload::InteractionRecorded { .. } => "interaction_recorded",
            EventPayload::SegmentEntered { .. } => "segment_entered",
            EventPayload::SegmentExited { .. } => "segment_exited",
            EventPayload::ScoreChanged { .. } => "score_changed",
            EventPayload::TaskCreated { .. } => "task_created",
            EventPayload::TaskCompleted { .. } => "task_completed",
            EventPayload::ObjectCreated { .. } => "object_created",
            EventPayload::ObjectUpdated { .. } => "object_updated",
            EventPayload::ObjectDeleted { .. } => "object_deleted",
            EventPayload::Action { .. } => "action",
        }
    }
}

/// The headline numbers of a customer's scores, as carried by [`EventPayload::ScoreChanged`].
///
/// # Examples
///
/// ```
/// use crmkit_core::{automation::ScoreBrief, CustomerScore, CustomerId};
/// let b = ScoreBrief::from(&CustomerScore::empty(CustomerId::new(), 3));
/// assert_eq!(b.model_version, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreBrief {
    /// The model version.
    pub model_version: u64,
    /// P(alive).
    pub p_alive: f64,
    /// Expected purchases over the model's horizon.
    pub expected_purchases: f64,
    /// CLV.
    pub clv: Option<f64>,
    /// RFM segment.
    pub segment: String,
}

impl From<&CustomerScore> for ScoreBrief {
    fn from(s: &CustomerScore) -> ScoreBrief {
        ScoreBrief {
            model_version: s.model_version,
            p_alive: s.p_alive,
            expected_purchases: s.expected_purchases,
            clv: s.clv,
            segment: s.segment.clone(),
        }
    }
}

/// An event to write; the store gives it its sequence number.
///
/// # Examples
///
/// ```
/// use crmkit_core::automation::{NewEvent, EventPayload};
/// let e = NewEvent { at: chrono::Utc::now(), customer: None,
///     payload: EventPayload::Action { playbook: "p".into(), action: "a".into(), payload: serde_json::Value::Null } };
/// assert!(e.customer.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// Whom it is about.
    pub customer: Option<CustomerId>,
    /// What.
    pub payload: EventPayload,
}

/// A stored event.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, NewCustomer};
/// let crm = Crm::in_memory();
/// crm.create_customer(NewCustomer::person("Ada"))?;
/// let events = crm.events_after(0, 10)?;
/// assert_eq!((events[0].seq, events[0].payload.type_name()), (1, "customer_created"));
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// 1, 2, 3... in write order, store-wide.
    pub seq: u64,
    /// When.
    pub at: DateTime<Utc>,
    /// Whom it is about.
    pub customer: Option<CustomerId>,
    /// What.
    pub payload: EventPayload,
}

impl Event {
    /// A stored event from a new one and its sequence number.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::automation::{Event, NewEvent, EventPayload};
    /// let n = NewEvent { at: chrono::Utc::now(), customer: None,
    ///     payload: EventPayload::Action { playbook: "p".into(), action: "a".into(), payload: serde_json::Value::Null } };
    /// assert_eq!(Event::from_new(5, n).seq, 5);
    /// ```
    pub fn from_new(seq: u64, e: NewEvent) -> Event {
        Event {
            seq,
            at: crate::time::truncate_micros(e.at),
            customer: e.customer,
            payload: e.payload,
        }
    }
}
