//! The rules of a [`WriteBatch`], written once for every backend.
//!
//! A backend provides a [`BatchView`] (reads of the state as the batch has left it so far) and a
//! [`BatchWriter`] (storage primitives that check nothing); [`apply_batch`] checks every rule of
//! [`WriteOp`] and calls the primitives. Atomicity is the backend's: it runs `apply_batch` inside
//! its transaction (or undo log) and discards everything when it fails.

use super::{
    AuditRecord, BatchOutcome, CustomerScore, Expected, ModelRecord, Record, WriteBatch, WriteOp,
};
use crate::automation::{EventPayload, Membership, NewEvent, Playbook, Segment, Task};
use crate::customer::{Customer, FieldDef, FieldType};
use crate::error::{Error, Result};
use crate::identity::IdentityKey;
use crate::ids::{CustomerId, InteractionId};
use crate::interaction::NewInteraction;
use crate::time::truncate_micros;

/// What [`apply_batch`] reads: the stored state including the batch's earlier writes.
///
/// Methods take `&mut self` so that a backend can cache (imports check one customer thousands of
/// times); none may change what is stored.
pub trait BatchView {
    /// A customer's stored revision, `None` when it does not exist.
    fn customer_revision(&mut self, id: CustomerId) -> Result<Option<u64>>;

    /// Whether a customer exists. Backends override it when they can answer from a cache.
    fn customer_exists(&mut self, id: CustomerId) -> Result<bool> {
        Ok(self.customer_revision(id)?.is_some())
    }

    /// The customer holding an identity key.
    fn identity_key_owner(&mut self, key: &IdentityKey) -> Result<Option<CustomerId>>;

    /// A custom field's declared type.
    fn field_type(&mut self, name: &str) -> Result<Option<FieldType>>;

    /// The latest stored model version (0 when none).
    fn latest_model_version(&mut self) -> Result<u64>;

    /// Whether a segment of this name exists.
    fn segment_exists(&mut self, name: &str) -> Result<bool>;

    /// Whether a playbook of this name exists.
    fn playbook_exists(&mut self, name: &str) -> Result<bool>;

    /// The sequence number of the last event (0 when none).
    fn last_event_seq(&mut self) -> Result<u64>;

    /// A consumer's cursor, `None` for a consumer never seen.
    fn consumer_cursor(&mut self, consumer: &str) -> Result<Option<u64>>;

    /// A record's stored revision, `None` when it does not exist.
    fn record_revision(&mut self, kind: &str, id: &str) -> Result<Option<u64>>;
}

/// The storage primitives [`apply_batch`] calls once it has checked the rules. They check
/// nothing themselves: a backend writes storage code, not rules.
pub trait BatchWriter: BatchView {
    /// Stores a new customer with its identity keys and tags.
    fn insert_customer(&mut self, customer: Customer) -> Result<()>;

    /// Replaces a stored customer; its identity keys and tags become the new record's.
    fn replace_customer(&mut self, customer: Customer) -> Result<()>;

    /// Appends an interaction with the next interaction id; `None` (and nothing written) when
    /// its idempotency key is stored already.
    fn append_interaction(&mut self, interaction: &NewInteraction)
    -> Result<Option<InteractionId>>;

    /// Appends the `interaction_recorded` event of a just-appended interaction; returns its
    /// sequence number. Backends may store it as a reference to the interaction row, as long as
    /// reading it back gives [`interaction_event`].
    fn append_interaction_event(
        &mut self,
        id: InteractionId,
        interaction: &NewInteraction,
    ) -> Result<u64> {
        self.append_event(interaction_event(id, interaction))
    }

    /// Appends an event with the next sequence number and returns it.
    fn append_event(&mut self, event: NewEvent) -> Result<u64>;

    /// Stores a new field definition.
    fn define_field(&mut self, def: FieldDef) -> Result<()>;

    /// Appends an audit entry with the next audit sequence number.
    fn append_audit(&mut self, record: AuditRecord) -> Result<()>;

    /// Stores a new model version.
    fn insert_model(&mut self, model: ModelRecord) -> Result<()>;

    /// Stores a customer's scores, replacing their previous ones.
    fn put_score(&mut self, score: CustomerScore) -> Result<()>;

    /// Stores a segment, replacing one of the same name.
    fn put_segment(&mut self, segment: Segment) -> Result<()>;

    /// Deletes a segment and all its membership rows.
    fn delete_segment(&mut self, name: &str) -> Result<()>;

    /// Stores a membership row, replacing the customer's row for that segment.
    fn put_membership(&mut self, membership: Membership) -> Result<()>;

    /// Deletes a membership row, if there is one.
    fn delete_membership(&mut self, segment: &str, customer: CustomerId) -> Result<()>;

    /// Stores a playbook, replacing one of the same name.
    fn put_playbook(&mut self, playbook: Playbook) -> Result<()>;

    /// Deletes a playbook.
    fn delete_playbook(&mut self, name: &str) -> Result<()>;

    /// Increases the automation revision by one.
    fn bump_automation_revision(&mut self) -> Result<()>;

    /// Sets a consumer's cursor.
    fn set_consumer_cursor(&mut self, consumer: &str, seq: u64) -> Result<()>;

    /// Stores a task, replacing one with the same id.
    fn put_task(&mut self, task: Task) -> Result<()>;

    /// Stores a record with its index keys, replacing the record of the same kind and id and
    /// all of its index keys.
    fn put_record(&mut self, record: Record) -> Result<()>;

    /// Deletes a record and its index keys.
    fn delete_record(&mut self, kind: &str, id: &str) -> Result<()>;
}

/// Applies a batch's writes through a backend's primitives, checking every rule of [`WriteOp`].
///
/// On an error some primitives may have run: the caller (the backend's `write`) discards them.
///
/// # Examples
///
/// ```
/// use crmkit_core::{MemoryStore, Store, WriteOp, NewRecord, Expected, ErrorKind};
/// let store = MemoryStore::new();
/// let put = |expected| WriteOp::PutRecord { record: NewRecord::new("deal", "d1", serde_json::json!({})), expected };
/// store.apply(vec![put(Expected::Absent)].into())?;
/// // A second creation conflicts, and the whole batch is refused.
/// let err = store.apply(vec![put(Expected::Revision(1)), put(Expected::Absent)].into()).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Conflict);
/// assert_eq!(crmkit_core::RecordStore::record(&store, "deal", "d1")?.unwrap().revision, 1);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
pub fn apply_batch<W: BatchWriter + ?Sized>(
    writer: &mut W,
    batch: WriteBatch,
) -> Result<BatchOutcome> {
    let mut outcome = BatchOutcome::default();
    for op in batch.ops {
        apply_op(writer, op, &mut outcome)?;
    }
    Ok(outcome)
}

fn apply_op<W: BatchWriter + ?Sized>(
    w: &mut W,
    op: WriteOp,
    outcome: &mut BatchOutcome,
) -> Result<()> {
    match op {
        WriteOp::InsertCustomer(mut c) => {
            if w.customer_revision(c.id)?.is_some() {
                return Err(Error::AlreadyExists { entity: "customer", key: c.id.to_string() });
            }
            check_keys_free(w, &c)?;
            c.truncate_to_micros();
            w.insert_customer(c)?;
        }
        WriteOp::UpdateCustomer { customer: mut c, expected_revision } => {
            let found = w.customer_revision(c.id)?.ok_or_else(|| customer_not_found(c.id))?;
            if found != expected_revision {
                return Err(Error::StaleRevision {
                    customer: c.id,
                    expected: expected_revision,
                    found,
                });
            }
            check_keys_free(w, &c)?;
            c.truncate_to_micros();
            w.replace_customer(c)?;
        }
        WriteOp::AppendInteraction(n) => {
            require_customer(w, n.customer)?;
            let written = w.append_interaction(&n)?;
            if let Some(id) = written {
                let seq = w.append_interaction_event(id, &n)?;
                counted_event(outcome, seq);
            }
            outcome.appended.push(written);
        }
        WriteOp::DefineField(def) => match w.field_type(&def.name)? {
            Some(existing) if existing != def.field_type => {
                return Err(Error::FieldTypeConflict {
                    name: def.name,
                    existing: existing.to_string(),
                    requested: def.field_type.to_string(),
                });
            }
            Some(_) => {}
            None => w.define_field(def)?,
        },
        WriteOp::Audit(mut record) => {
            require_customer(w, record.customer)?;
            record.at = truncate_micros(record.at);
            w.append_audit(record)?;
        }
        WriteOp::SaveModel(mut model) => {
            check_model_version(w.latest_model_version()?, model.version)?;
            model.fitted_at = truncate_micros(model.fitted_at);
            model.as_of = truncate_micros(model.as_of);
            w.insert_model(model)?;
        }
        WriteOp::SaveScores(scores) => {
            let latest = w.latest_model_version()?;
            for score in scores {
                require_customer(w, score.customer)?;
                if score.model_version == 0 || score.model_version > latest {
                    return Err(Error::NotFound {
                        entity: "model version",
                        key: score.model_version.to_string(),
                    });
                }
                w.put_score(score)?;
            }
        }
        WriteOp::SaveSegment(mut segment) => {
            segment.created_at = truncate_micros(segment.created_at);
            segment.updated_at = truncate_micros(segment.updated_at);
            w.put_segment(segment)?;
            w.bump_automation_revision()?;
        }
        WriteOp::DeleteSegment(name) => {
            if !w.segment_exists(&name)? {
                return Err(Error::NotFound { entity: "segment", key: name });
            }
            w.delete_segment(&name)?;
            w.bump_automation_revision()?;
        }
        WriteOp::SetMembership(mut m) => {
            if !w.segment_exists(&m.segment)? {
                return Err(Error::NotFound { entity: "segment", key: m.segment });
            }
            require_customer(w, m.customer)?;
            if m.is_stored() {
                m.since = truncate_micros(m.since);
                m.next_check = m.next_check.map(truncate_micros);
                w.put_membership(m)?;
            } else {
                w.delete_membership(&m.segment, m.customer)?;
            }
        }
        WriteOp::SavePlaybook(playbook) => {
            w.put_playbook(playbook)?;
            w.bump_automation_revision()?;
        }
        WriteOp::DeletePlaybook(name) => {
            if !w.playbook_exists(&name)? {
                return Err(Error::NotFound { entity: "playbook", key: name });
            }
            w.delete_playbook(&name)?;
            w.bump_automation_revision()?;
        }
        WriteOp::Emit(mut event) => {
            event.at = truncate_micros(event.at);
            let seq = w.append_event(event)?;
            counted_event(outcome, seq);
        }
        WriteOp::Ack { consumer, seq } => {
            let last = w.last_event_seq()?;
            if seq > last {
                return Err(Error::validation(
                    "seq",
                    format!("{seq} is beyond the last event ({last})"),
                ));
            }
            // A cursor never moves back.
            if w.consumer_cursor(&consumer)?.is_none_or(|old| seq > old) {
                w.set_consumer_cursor(&consumer, seq)?;
            }
        }
        WriteOp::PutTask(mut task) => {
            require_customer(w, task.customer)?;
            task.due = truncate_micros(task.due);
            task.created_at = truncate_micros(task.created_at);
            task.completed_at = task.completed_at.map(truncate_micros);
            w.put_task(task)?;
        }
        WriteOp::PutRecord { record, expected } => {
            let mut record = record.normalised()?;
            let found = w.record_revision(&record.kind, &record.id)?;
            check_expected(&record.kind, &record.id, expected, found)?;
            for (_, value) in &mut record.index {
                *value = std::mem::replace(value, super::IndexValue::Bool(false)).normalised();
            }
            let revision = found.map_or(1, |r| r + 1);
            outcome.record_revisions.push(revision);
            w.put_record(record.into_record(revision))?;
        }
        WriteOp::DeleteRecord { kind, id, expected } => {
            let found = w.record_revision(&kind, &id)?;
            if found.is_none() {
                return Err(Error::NotFound { entity: "record", key: format!("{kind} {id}") });
            }
            if expected == Expected::Absent {
                return Err(Error::validation(
                    "expected",
                    format!("deleting {kind} {id}: a delete cannot expect no record"),
                ));
            }
            check_expected(&kind, &id, expected, found)?;
            w.delete_record(&kind, &id)?;
        }
    }
    Ok(())
}

fn counted_event(outcome: &mut BatchOutcome, seq: u64) {
    outcome.events += 1;
    outcome.last_event = seq;
}

fn customer_not_found(id: CustomerId) -> Error {
    Error::NotFound { entity: "customer", key: id.to_string() }
}

fn require_customer<W: BatchView + ?Sized>(w: &mut W, id: CustomerId) -> Result<()> {
    if w.customer_exists(id)? { Ok(()) } else { Err(customer_not_found(id)) }
}

/// Fails if a key of `c` belongs to another customer.
fn check_keys_free<W: BatchView + ?Sized>(w: &mut W, c: &Customer) -> Result<()> {
    for key in &c.identities {
        if let Some(owner) = w.identity_key_owner(key)?
            && owner != c.id
        {
            return Err(Error::DuplicateIdentityKey { key: key.to_string(), owner });
        }
    }
    Ok(())
}

fn check_expected(kind: &str, id: &str, expected: Expected, found: Option<u64>) -> Result<()> {
    let ok = match expected {
        Expected::Absent => found.is_none(),
        Expected::Revision(r) => found == Some(r),
        Expected::Any => true,
    };
    if ok {
        return Ok(());
    }
    Err(Error::RecordConflict {
        kind: kind.to_owned(),
        id: id.to_owned(),
        expected: match expected {
            Expected::Revision(r) => Some(r),
            _ => None,
        },
        found,
    })
}

/// The rule for `SaveModel`, shared by every backend: versions count up by one.
///
/// # Examples
///
/// ```
/// assert!(crmkit_core::store::check_model_version(0, 1).is_ok());
/// assert!(crmkit_core::store::check_model_version(1, 1).is_err());
/// ```
pub fn check_model_version(latest: u64, version: u64) -> Result<()> {
    if version <= latest {
        return Err(Error::AlreadyExists { entity: "model version", key: version.to_string() });
    }
    if version != latest + 1 {
        return Err(Error::validation(
            "model version",
            format!("{version} skips versions: the latest stored is {latest}"),
        ));
    }
    Ok(())
}

/// The outbox event a store appends for a written interaction. Its time is the interaction's
/// `occurred_at` (stores have no clock; the outbox is ordered by sequence number).
///
/// # Examples
///
/// ```
/// use crmkit_core::{NewInteraction, InteractionId, InteractionKind, CustomerId};
/// let n = NewInteraction::new(CustomerId::new(), chrono::Utc::now(), InteractionKind::Note { text: "hi".into() });
/// let e = crmkit_core::store::interaction_event(InteractionId(7), &n);
/// assert_eq!(e.payload.type_name(), "interaction_recorded");
/// ```
pub fn interaction_event(id: InteractionId, n: &NewInteraction) -> NewEvent {
    let at = crate::time::truncate_micros(n.occurred_at);
    NewEvent {
        at,
        customer: Some(n.customer),
        payload: EventPayload::InteractionRecorded {
            interaction: id,
            kind: n.kind.name().to_owned(),
            occurred_at: at,
            amount: n.kind.amount().cloned(),
        },
    }
}
