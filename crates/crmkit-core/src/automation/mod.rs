//! Segments that stay current as events arrive, the durable event outbox, and playbooks that
//! act on segment entries.
//!
//! - [`Segment`]: manual (a hand-kept list), dynamic (a [`Rule`](crate::rules::Rule), always
//!   current) or snapshot (a rule evaluated once). Membership is stored as [`Membership`] rows.
//! - [`Event`]: every change the engine makes emits one, in the same atomic batch as the change,
//!   into an outbox that named consumers read from a cursor and acknowledge (at least once).
//! - [`Playbook`]: "when a customer enters segment S (and a rule holds), do X": create a
//!   [`Task`], add or remove a tag, set an attribute, or emit a custom action event.
//!
//! The engine side (re-evaluating only what a change touches) is in the `Crm` methods
//! `define_segment`, `advance_to`, `subscribe`, `poll_events`, `ack_events` and friends.

pub(crate) mod engine;
mod event;
mod playbook;
mod segment;

pub use engine::{MembershipDiff, SegmentExplanation, Subscription};
pub use event::{Event, EventPayload, NewEvent, ScoreBrief};
pub use playbook::{Action, Playbook, Task, TaskQuery, TaskStatus};
pub use segment::{Membership, Segment, SegmentKind};
