//! Events: the records, the listener the app implements, and the outbox read from a cursor.
//!
//! Every change crmkit makes emits an [`Event`], written to a durable outbox in the same atomic
//! batch as the change. The app gets them two ways:
//!
//! - a [`CrmListener`] registered with `Crm::add_listener`: called in-process, after each write
//!   commits, on the writing thread. Not durable: events written while no listener is registered
//!   (or before the app started) are not replayed to it.
//! - the outbox, read from a named consumer's cursor (`poll_events`, then `ack_events`): durable
//!   and at-least-once, across restarts.
//!
//! A listener that throws cannot break the write that emitted the event (it has committed): the
//! exception arrives as a [`ListenerError`], is counted on the listener's [`ListenerHandle`] (with
//! the text of the last one), the other listeners still get the event, and the write returns
//! normally. The event is not delivered to that listener again; it stays in the outbox.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crmkit::automation as core;

use crate::automation::CrmTask;
use crate::convert::to_time;
use crate::crm::Crm;
use crate::customer::{Customer, LifecycleStage};
use crate::error::{CrmResult, guard, panic_message};
use crate::interaction::Money;
use crate::objects::CrmObject;

/// The headline numbers of a customer's scores, as carried by `EventPayload.ScoreChanged`.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ScoreBrief {
    /// The model version.
    pub model_version: u64,
    /// P(alive).
    pub p_alive: f64,
    /// Expected purchases over the model's horizon.
    pub expected_purchases: f64,
    /// CLV; `null` without a spend model.
    pub clv: Option<f64>,
    /// The RFM segment's name.
    pub segment: String,
}

impl From<core::ScoreBrief> for ScoreBrief {
    fn from(b: core::ScoreBrief) -> Self {
        let core::ScoreBrief { model_version, p_alive, expected_purchases, clv, segment } = b;
        ScoreBrief { model_version, p_alive, expected_purchases, clv, segment }
    }
}

/// What happened. `Event.typeName` has the same as text (`"segment_entered"`...).
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
// The customer and object records are inline: UniFFI fields cannot be boxed, and a payload lives only as long
// as it takes to serialise it across the FFI.
#[allow(clippy::large_enum_variant)]
pub enum EventPayload {
    /// A customer was created.
    CustomerCreated {
        /// The new record.
        customer: Customer,
    },
    /// A customer was changed.
    CustomerUpdated {
        /// Before.
        before: Customer,
        /// After.
        after: Customer,
    },
    /// A customer's lifecycle stage changed.
    StageChanged {
        /// From.
        from: LifecycleStage,
        /// To.
        to: LifecycleStage,
    },
    /// An interaction was stored (a duplicate skipped by its idempotency key emits nothing).
    InteractionRecorded {
        /// Its id.
        interaction_id: u64,
        /// Its kind (`"purchase"`, `"email"`, a custom kind's name...).
        kind: String,
        /// When it happened.
        occurred_at: SystemTime,
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
        /// Why: the predicates that changed (or `removed by hand`, `segment deleted`).
        reason: Vec<String>,
    },
    /// A customer's scores changed.
    ScoreChanged {
        /// Before (`null` for the first scores).
        before: Option<ScoreBrief>,
        /// After.
        after: ScoreBrief,
    },
    /// A task was created (by a playbook or by hand).
    TaskCreated {
        /// The task.
        task: CrmTask,
    },
    /// A task was completed.
    TaskCompleted {
        /// The task.
        task: CrmTask,
    },
    /// A playbook's custom action for the app (`Action.Emit`).
    Action {
        /// The playbook.
        playbook: String,
        /// The action's name.
        action: String,
        /// Its data, as JSON text.
        payload_json: String,
    },
    /// An object of a user-defined type was created.
    ObjectCreated {
        /// The new object.
        crm_object: CrmObject,
    },
    /// An object was changed.
    ObjectUpdated {
        /// Before.
        before: CrmObject,
        /// After.
        after: CrmObject,
    },
    /// An object was deleted.
    ObjectDeleted {
        /// The object as it was.
        crm_object: CrmObject,
    },
}

impl From<core::EventPayload> for EventPayload {
    fn from(p: core::EventPayload) -> Self {
        use core::EventPayload as P;
        match p {
            P::CustomerCreated { customer } => {
                EventPayload::CustomerCreated { customer: (*customer).into() }
            }
            P::CustomerUpdated { before, after } => {
                EventPayload::CustomerUpdated { before: (*before).into(), after: (*after).into() }
            }
            P::StageChanged { from, to } => {
                EventPayload::StageChanged { from: from.into(), to: to.into() }
            }
            P::InteractionRecorded { interaction, kind, occurred_at, amount } => {
                EventPayload::InteractionRecorded {
                    interaction_id: interaction.0,
                    kind,
                    occurred_at: to_time(occurred_at),
                    amount: amount.map(Into::into),
                }
            }
            P::SegmentEntered { segment, version, reason } => {
                EventPayload::SegmentEntered { segment, version, reason }
            }
            P::SegmentExited { segment, version, reason } => {
                EventPayload::SegmentExited { segment, version, reason }
            }
            P::ScoreChanged { before, after } => {
                EventPayload::ScoreChanged { before: before.map(Into::into), after: after.into() }
            }
            P::TaskCreated { task } => EventPayload::TaskCreated { task: (*task).into() },
            P::TaskCompleted { task } => EventPayload::TaskCompleted { task: (*task).into() },
            P::Action { playbook, action, payload } => {
                EventPayload::Action { playbook, action, payload_json: payload.to_string() }
            }
            P::ObjectCreated { object } => {
                EventPayload::ObjectCreated { crm_object: (*object).into() }
            }
            P::ObjectUpdated { before, after } => {
                EventPayload::ObjectUpdated { before: (*before).into(), after: (*after).into() }
            }
            P::ObjectDeleted { object } => {
                EventPayload::ObjectDeleted { crm_object: (*object).into() }
            }
        }
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Event {
    /// 1, 2, 3... in write order, store-wide: pass it to `ackEvents` (or as `after` to
    /// `eventsAfter`).
    pub seq: u64,
    /// When.
    pub at: SystemTime,
    /// Whom it is about; `null` for events about no one customer (an object's event is about the
    /// first customer it links to, by field name).
    pub customer_id: Option<String>,
    /// The payload's type as text: `customer_created`, `customer_updated`, `stage_changed`,
    /// `interaction_recorded`, `segment_entered`, `segment_exited`, `score_changed`,
    /// `task_created`, `task_completed`, `action`, `object_created`, `object_updated` or
    /// `object_deleted` (for logs and filters).
    pub type_name: String,
    /// What happened.
    pub payload: EventPayload,
}

impl From<core::Event> for Event {
    fn from(e: core::Event) -> Self {
        let core::Event { seq, at, customer, payload } = e;
        Event {
            seq,
            at: to_time(at),
            customer_id: customer.map(|c| c.to_string()),
            type_name: payload.type_name().to_owned(),
            payload: payload.into(),
        }
    }
}

/// Implemented by the app to be told of every event as it happens (Kotlin `CrmListener`, Swift
/// protocol `CrmListener`); registered with `Crm.addListener`.
///
/// Called after each write commits, on the thread that made the write, before that call
/// returns: keep it short (hand the event to your own queue or coroutine). Writes from several
/// threads can call it concurrently. It may call the `Crm` (a write from inside it delivers its
/// own events to it, nested).
///
/// An exception thrown here (any exception in Kotlin; any `Error` in Swift) does not fail the
/// write, which has committed, and does not stop the other listeners: it is counted on the
/// `ListenerHandle` (`failures`, `lastFailure`) and the event is not delivered again. For
/// delivery that survives crashes and restarts, read the outbox with `pollEvents` / `ackEvents`.
#[uniffi::export(foreign)]
pub trait CrmListener: Send + Sync {
    /// An event was committed.
    fn on_event(&self, event: Event) -> Result<(), ListenerError>;
}

/// What a `CrmListener` may throw (Kotlin `ListenerException`). Any other exception it throws
/// arrives as `Failed` too, with the exception as text (Kotlin: with its stack trace).
///
/// A listener's own error type rather than `CrmError`: a flat error cannot be read back from the
/// foreign side, and an exception that is not an error of the method's type would reach Rust as a
/// panic (which a library built with `panic = "abort"` could not survive).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum ListenerError {
    /// The listener failed.
    #[error("{reason}")]
    Failed {
        /// Why.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for ListenerError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        ListenerError::Failed { reason: e.reason }
    }
}

/// Delivery counts, shared by a handle and its subscriber.
#[derive(Debug, Default)]
struct Stats {
    delivered: AtomicU64,
    failures: AtomicU64,
    last_failure: Mutex<Option<String>>,
}

/// A registered listener. It stays registered while this handle lives: `unsubscribe()`, or
/// releasing the handle (Kotlin `close()` / `use {}`, or its garbage collection; Swift: its last
/// reference going away), removes it. Keep a reference for as long as you want events.
#[derive(uniffi::Object)]
pub struct ListenerHandle {
    subscription: Mutex<Option<crmkit::automation::Subscription>>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for ListenerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerHandle").field("stats", &self.stats).finish_non_exhaustive()
    }
}

#[uniffi::export]
impl ListenerHandle {
    /// Removes the listener now (it may still be running for an event in flight). Doing it
    /// again does nothing.
    pub fn unsubscribe(&self) {
        let taken = match self.subscription.lock() {
            Ok(mut s) => s.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        drop(taken);
    }

    /// Whether the listener is still registered.
    pub fn is_active(&self) -> bool {
        match self.subscription.lock() {
            Ok(s) => s.is_some(),
            Err(poisoned) => poisoned.into_inner().is_some(),
        }
    }

    /// Events handed to the listener so far, those it threw on included.
    pub fn delivered(&self) -> u64 {
        self.stats.delivered.load(Ordering::Relaxed)
    }

    /// Events on which the listener threw.
    pub fn failures(&self) -> u64 {
        self.stats.failures.load(Ordering::Relaxed)
    }

    /// The last exception the listener threw, as text (`null` if it never threw).
    pub fn last_failure(&self) -> Option<String> {
        match self.stats.last_failure.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Calls the foreign listener with one event, containing its failure.
///
/// The core calls subscribers after the write committed, inside the call that wrote: an error or
/// a panic let out of here would make that committed write return an error, and keep the other
/// subscribers from the event.
fn deliver(listener: &dyn CrmListener, stats: &Stats, event: &core::Event) {
    stats.delivered.fetch_add(1, Ordering::Relaxed);
    let event = Event::from(event.clone());
    let failure = match catch_unwind(AssertUnwindSafe(|| listener.on_event(event))) {
        Ok(Ok(())) => return,
        Ok(Err(ListenerError::Failed { reason })) => reason,
        Err(payload) => panic_message(payload.as_ref()),
    };
    stats.failures.fetch_add(1, Ordering::Relaxed);
    match stats.last_failure.lock() {
        Ok(mut s) => *s = Some(failure),
        Err(poisoned) => *poisoned.into_inner() = Some(failure),
    }
}

#[uniffi::export]
impl Crm {
    /// Registers a listener, called with every event from now on, after each write commits
    /// (see `CrmListener`). It stays registered while the returned handle lives.
    pub fn add_listener(&self, listener: Arc<dyn CrmListener>) -> Arc<ListenerHandle> {
        let stats = Arc::new(Stats::default());
        let sink = stats.clone();
        let subscription = self.inner.subscribe(move |e| deliver(listener.as_ref(), &sink, e));
        Arc::new(ListenerHandle { subscription: Mutex::new(Some(subscription)), stats })
    }

    /// Events after the sequence number `after` (0: from the first), oldest first, at most
    /// `limit`. Reads the outbox without moving any consumer's cursor.
    #[uniffi::method(default(after = 0, limit = 100))]
    pub fn events_after(&self, after: u64, limit: u32) -> CrmResult<Vec<Event>> {
        guard(|| {
            Ok(self
                .inner
                .events_after(after, limit as usize)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    /// The next events (at most `limit`) that the named consumer has not acknowledged. At least
    /// once: the same events come back, across restarts too, until `ackEvents`. Consumers
    /// (`"mailer"`, `"sync"`...) are independent of each other.
    #[uniffi::method(default(limit = 100))]
    pub fn poll_events(&self, consumer: String, limit: u32) -> CrmResult<Vec<Event>> {
        guard(|| {
            Ok(self
                .inner
                .poll_events(&consumer, limit as usize)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    /// Acknowledges every event up to and including `seq` for a consumer (after handling them).
    pub fn ack_events(&self, consumer: String, seq: u64) -> CrmResult<()> {
        guard(|| Ok(self.inner.ack_events(&consumer, seq)?))
    }

    /// The last event a consumer acknowledged (0: none).
    pub fn consumer_cursor(&self, consumer: String) -> CrmResult<u64> {
        guard(|| Ok(self.inner.consumer_cursor(&consumer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting(AtomicU64);
    impl CrmListener for Counting {
        fn on_event(&self, _event: Event) -> Result<(), ListenerError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    struct Throwing;
    impl CrmListener for Throwing {
        fn on_event(&self, event: Event) -> Result<(), ListenerError> {
            Err(ListenerError::Failed { reason: format!("listener broke on {}", event.type_name) })
        }
    }

    struct Panicking;
    impl CrmListener for Panicking {
        #[allow(clippy::panic)]
        fn on_event(&self, event: Event) -> Result<(), ListenerError> {
            panic!("listener panicked on {}", event.type_name);
        }
    }

    fn person(name: &str) -> crate::NewCustomer {
        crate::NewCustomer {
            name: name.into(),
            kind: crate::CustomerKind::Person,
            stage: LifecycleStage::Lead,
            identities: vec![],
            tags: vec![],
            attributes: Default::default(),
            consents: vec![],
            source: "test".into(),
            id: None,
        }
    }

    #[test]
    fn a_throwing_listener_does_not_break_the_write_or_the_others() -> CrmResult<()> {
        let crm = Crm::open_in_memory()?;
        let counting = Arc::new(Counting(AtomicU64::new(0)));
        let good = crm.add_listener(counting.clone());
        let bad = crm.add_listener(Arc::new(Throwing));
        let worse = crm.add_listener(Arc::new(Panicking));
        crm.create_customer(person("Ada"))?;
        assert_eq!(counting.0.load(Ordering::SeqCst), 1);
        assert_eq!((bad.delivered(), bad.failures()), (1, 1));
        assert_eq!(bad.last_failure().as_deref(), Some("listener broke on customer_created"));
        assert_eq!(worse.last_failure().as_deref(), Some("listener panicked on customer_created"));
        drop(worse);
        assert_eq!((good.delivered(), good.failures(), good.last_failure()), (1, 0, None));
        bad.unsubscribe();
        assert!(!bad.is_active() && good.is_active());
        crm.create_customer(person("Bo"))?;
        assert_eq!((bad.delivered(), counting.0.load(Ordering::SeqCst)), (1, 2));
        drop(good);
        crm.create_customer(person("Cy"))?;
        assert_eq!(counting.0.load(Ordering::SeqCst), 2);
        Ok(())
    }

    #[test]
    fn events_convert_with_their_type_names() -> CrmResult<()> {
        let crm = Crm::open_in_memory()?;
        let c = crm.create_customer(person("Ada"))?;
        let events = crm.events_after(0, 10)?;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].type_name, "customer_created");
        assert_eq!(events[0].customer_id.as_deref(), Some(c.id.as_str()));
        assert!(
            matches!(&events[0].payload, EventPayload::CustomerCreated { customer } if *customer == c)
        );
        Ok(())
    }
}
