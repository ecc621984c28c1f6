//! Segments, playbooks and tasks as records, and the `Crm` methods that define and read them.
//!
//! Rules cross as their text form (`count(purchase, 90d) = 0 and tag "vip"`, the grammar of
//! `crmkit::rules`): parsed on the way in, so a bad rule is a `Validation` error naming the line
//! and column; printed with the core's `Display` on the way out.

use std::time::SystemTime;

use crmkit::automation as core;
use crmkit::rules::Rule;

use crate::convert::{count, customer_id, from_time, to_time};
use crate::crm::Crm;
use crate::customer::AttributeValue;
use crate::error::{CrmError, CrmResult, guard};

/// How a segment's membership is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum SegmentKind {
    /// A static list: customers are added and removed by hand (`addToSegment`).
    Manual,
    /// A rule, kept current as customers change, interactions arrive, scores are stored and
    /// time passes (`advanceTo`).
    Dynamic,
    /// A rule evaluated once, when defined (again when its rule is edited).
    Snapshot,
}

impl From<core::SegmentKind> for SegmentKind {
    fn from(k: core::SegmentKind) -> Self {
        match k {
            core::SegmentKind::Manual => SegmentKind::Manual,
            core::SegmentKind::Dynamic => SegmentKind::Dynamic,
            core::SegmentKind::Snapshot => SegmentKind::Snapshot,
        }
    }
}

impl From<SegmentKind> for core::SegmentKind {
    fn from(k: SegmentKind) -> Self {
        match k {
            SegmentKind::Manual => core::SegmentKind::Manual,
            SegmentKind::Dynamic => core::SegmentKind::Dynamic,
            SegmentKind::Snapshot => core::SegmentKind::Snapshot,
        }
    }
}

/// A segment to define (or to redefine: a changed rule or kind makes a new version).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SegmentDefinition {
    /// Unique name (1 to 100 letters, digits, spaces, `_ - . : '`).
    pub name: String,
    /// Manual, dynamic or snapshot.
    pub kind: SegmentKind,
    /// The rule's text form (dynamic and snapshot segments; `null` for manual ones), e.g.
    /// `count(purchase, 90d) = 0 and days_since(purchase) < 365`.
    #[uniffi(default = None)]
    pub rule: Option<String>,
    /// What it is for.
    #[uniffi(default = "")]
    pub description: String,
}

impl SegmentDefinition {
    fn into_core(self) -> CrmResult<core::Segment> {
        let SegmentDefinition { name, kind, rule, description } = self;
        let rule = rule.as_deref().map(Rule::parse).transpose()?;
        Ok(core::Segment::with_rule(&name, kind.into(), rule).describe(description))
    }
}

/// A defined segment.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Segment {
    /// Unique name.
    pub name: String,
    /// How membership is kept.
    pub kind: SegmentKind,
    /// The rule in its canonical text form; `null` for manual segments.
    pub rule: Option<String>,
    /// What it is for.
    pub description: String,
    /// 1 when defined, +1 on each edit of the rule or kind.
    pub version: u64,
    /// When first defined.
    pub created_at: SystemTime,
    /// When last edited.
    pub updated_at: SystemTime,
}

impl From<core::Segment> for Segment {
    fn from(s: core::Segment) -> Self {
        let core::Segment { name, kind, rule, description, version, created_at, updated_at } = s;
        Segment {
            name,
            kind: kind.into(),
            rule: rule.map(|r| r.to_string()),
            description,
            version,
            created_at: to_time(created_at),
            updated_at: to_time(updated_at),
        }
    }
}

/// A segment and how many members it has.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct SegmentSize {
    /// The segment.
    pub segment: String,
    /// Its members.
    pub members: u64,
}

/// A customer's stored state in one segment: a member, or a non-member with a scheduled
/// re-check.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Membership {
    /// The segment.
    pub segment: String,
    /// The customer.
    pub customer_id: String,
    /// Whether they are in it.
    pub member: bool,
    /// When they entered (members) or were last evaluated (others).
    pub since: SystemTime,
    /// The segment version that decided.
    pub version: u64,
    /// Which predicates held at the last evaluation (bit `i` = predicate `i` of the rule).
    pub leaves: u64,
    /// When time alone can next change the result (`advanceTo` re-checks it then).
    pub next_check: Option<SystemTime>,
}

impl From<core::Membership> for Membership {
    fn from(m: core::Membership) -> Self {
        let core::Membership { segment, customer, member, since, version, leaves, next_check } = m;
        Membership {
            segment,
            customer_id: customer.to_string(),
            member,
            since: to_time(since),
            version,
            leaves,
            next_check: next_check.map(to_time),
        }
    }
}

/// One predicate of a rule and whether it holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct PredicateCheck {
    /// The predicate's text, e.g. `days_since(purchase) >= 90`.
    pub predicate: String,
    /// Whether it holds now.
    pub holds: bool,
}

/// Why a customer is or is not in a segment.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SegmentExplanation {
    /// The segment.
    pub segment: String,
    /// Its version.
    pub version: u64,
    /// The stored membership.
    pub member: bool,
    /// Whether the rule holds at the engine's current time (manual segments: the stored value).
    pub matches_now: bool,
    /// Each predicate of the rule, in order, and whether it holds now (empty for manual segments).
    pub predicates: Vec<PredicateCheck>,
    /// When time alone can next change the result.
    pub next_check: Option<SystemTime>,
}

impl From<core::SegmentExplanation> for SegmentExplanation {
    fn from(e: core::SegmentExplanation) -> Self {
        let core::SegmentExplanation {
            segment,
            version,
            member,
            matches_now,
            predicates,
            next_check,
        } = e;
        SegmentExplanation {
            segment,
            version,
            member,
            matches_now,
            predicates: predicates
                .into_iter()
                .map(|(predicate, holds)| PredicateCheck { predicate, holds })
                .collect(),
            next_check: next_check.map(to_time),
        }
    }
}

/// What a full re-evaluation found different from the stored membership of a dynamic segment.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MembershipDiff {
    /// The segment.
    pub segment: String,
    /// Customers the rule selects who are not stored as members.
    pub missing: Vec<String>,
    /// Stored members the rule does not select.
    pub extra: Vec<String>,
}

impl From<core::MembershipDiff> for MembershipDiff {
    fn from(d: core::MembershipDiff) -> Self {
        let core::MembershipDiff { segment, missing, extra } = d;
        let ids = |v: Vec<crmkit::CustomerId>| v.into_iter().map(|id| id.to_string()).collect();
        MembershipDiff { segment, missing: ids(missing), extra: ids(extra) }
    }
}

/// What a playbook does for a customer who enters its segment.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Action {
    /// Create a task about the customer (a `TaskCreated` event).
    CreateTask {
        /// Its title.
        title: String,
        /// Due this many days after the entry.
        due_in_days: u32,
        /// Who should do it.
        #[uniffi(default = None)]
        assignee: Option<String>,
    },
    /// Add a tag to the customer.
    AddTag {
        /// The tag.
        tag: String,
    },
    /// Remove a tag from the customer.
    RemoveTag {
        /// The tag.
        tag: String,
    },
    /// Set a declared custom attribute.
    SetAttribute {
        /// The field.
        field: String,
        /// The value (of the field's type).
        value: AttributeValue,
    },
    /// Emit an `EventPayload.Action` event for the app to act on (send a coupon, a push...).
    Emit {
        /// The action's name.
        action: String,
        /// Its data, as JSON text (`{"pct": 10}`); `null` for none.
        #[uniffi(default = "null")]
        payload_json: String,
    },
}

impl From<core::Action> for Action {
    fn from(a: core::Action) -> Self {
        match a {
            core::Action::CreateTask { title, due_in_days, assignee } => {
                Action::CreateTask { title, due_in_days, assignee }
            }
            core::Action::AddTag { tag } => Action::AddTag { tag },
            core::Action::RemoveTag { tag } => Action::RemoveTag { tag },
            core::Action::SetAttribute { field, value } => {
                Action::SetAttribute { field, value: value.into() }
            }
            core::Action::Emit { action, payload } => {
                Action::Emit { action, payload_json: payload.to_string() }
            }
        }
    }
}

impl Action {
    fn into_core(self) -> CrmResult<core::Action> {
        Ok(match self {
            Action::CreateTask { title, due_in_days, assignee } => {
                core::Action::CreateTask { title, due_in_days, assignee }
            }
            Action::AddTag { tag } => core::Action::AddTag { tag },
            Action::RemoveTag { tag } => core::Action::RemoveTag { tag },
            Action::SetAttribute { field, value } => {
                let value = value.into_core(&format!("attributes.{field}"))?;
                core::Action::SetAttribute { field, value }
            }
            Action::Emit { action, payload_json } => {
                let payload = serde_json::from_str(&payload_json).map_err(|e| {
                    CrmError::invalid(
                        "action payload",
                        format!("{payload_json:?} is not JSON ({e})"),
                    )
                })?;
                core::Action::Emit { action, payload }
            }
        })
    }
}

/// "When a customer enters `segment` (and `condition` holds), do `actions`." It fires once per
/// entry: again only after the customer has left the segment and re-entered it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Playbook {
    /// Unique name.
    pub name: String,
    /// The segment whose entries trigger it.
    pub segment: String,
    /// What to do, in order.
    pub actions: Vec<Action>,
    /// Only when this rule (text form) also holds at the entry; `null`: always.
    #[uniffi(default = None)]
    pub condition: Option<String>,
    /// Disabled playbooks do nothing.
    #[uniffi(default = true)]
    pub enabled: bool,
}

impl From<core::Playbook> for Playbook {
    fn from(p: core::Playbook) -> Self {
        let core::Playbook { name, segment, condition, actions, enabled } = p;
        Playbook {
            name,
            segment,
            actions: actions.into_iter().map(Into::into).collect(),
            condition: condition.map(|r| r.to_string()),
            enabled,
        }
    }
}

impl Playbook {
    fn into_core(self) -> CrmResult<core::Playbook> {
        let Playbook { name, segment, actions, condition, enabled } = self;
        let mut p = core::Playbook::new(&name, &segment);
        if let Some(rule) = condition {
            p = p.when(&rule)?;
        }
        for a in actions {
            p = p.action(a.into_core()?);
        }
        p.enabled = enabled;
        Ok(p)
    }
}

/// Whether a task is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum TaskStatus {
    /// To do.
    Open,
    /// Done.
    Done,
}

impl From<core::TaskStatus> for TaskStatus {
    fn from(s: core::TaskStatus) -> Self {
        match s {
            core::TaskStatus::Open => TaskStatus::Open,
            core::TaskStatus::Done => TaskStatus::Done,
        }
    }
}

impl From<TaskStatus> for core::TaskStatus {
    fn from(s: TaskStatus) -> Self {
        match s {
            TaskStatus::Open => core::TaskStatus::Open,
            TaskStatus::Done => core::TaskStatus::Done,
        }
    }
}

/// A piece of work about a customer, created by a playbook or by hand.
///
/// Named `CrmTask`, not `Task`: in Swift a `Task` would shadow the concurrency `Task` in every
/// file that imports `CrmKit`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CrmTask {
    /// Its id (a UUID).
    pub id: String,
    /// The customer.
    pub customer_id: String,
    /// What to do.
    pub title: String,
    /// When it is due.
    pub due: SystemTime,
    /// Who should do it.
    pub assignee: Option<String>,
    /// Open or done.
    pub status: TaskStatus,
    /// When created.
    pub created_at: SystemTime,
    /// When completed.
    pub completed_at: Option<SystemTime>,
    /// The playbook that created it; `null` for tasks created by hand.
    pub playbook: Option<String>,
}

impl From<core::Task> for CrmTask {
    fn from(t: core::Task) -> Self {
        let core::Task {
            id,
            customer,
            title,
            due,
            assignee,
            status,
            created_at,
            completed_at,
            playbook,
        } = t;
        CrmTask {
            id: id.to_string(),
            customer_id: customer.to_string(),
            title,
            due: to_time(due),
            assignee,
            status: status.into(),
            created_at: to_time(created_at),
            completed_at: completed_at.map(to_time),
            playbook,
        }
    }
}

/// Which tasks to list (ordered by due date, then id). Every filter is optional.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TaskQuery {
    /// Only this customer's.
    #[uniffi(default = None)]
    pub customer_id: Option<String>,
    /// Only in this status.
    #[uniffi(default = None)]
    pub status: Option<TaskStatus>,
    /// Only this assignee's.
    #[uniffi(default = None)]
    pub assignee: Option<String>,
    /// Only those this playbook created.
    #[uniffi(default = None)]
    pub playbook: Option<String>,
    /// At most this many (at least 1).
    #[uniffi(default = 100)]
    pub limit: u32,
}

impl TaskQuery {
    fn into_core(self) -> CrmResult<core::TaskQuery> {
        let TaskQuery { customer_id: customer, status, assignee, playbook, limit } = self;
        let mut q = core::TaskQuery::new().limit(limit as usize);
        if let Some(id) = customer {
            q = q.customer(customer_id(&id)?);
        }
        if let Some(s) = status {
            q = q.status(s.into());
        }
        if let Some(a) = assignee {
            q = q.assignee(a);
        }
        if let Some(p) = playbook {
            q = q.playbook(p);
        }
        Ok(q)
    }
}

#[uniffi::export]
impl Crm {
    /// Defines a segment, or redefines one of the same name (a changed rule or kind makes a new
    /// version and recomputes its membership, with enter and exit events). A bad rule (syntax,
    /// unknown field or segment, type mismatch, cycle) is a `Validation` error whose message
    /// names the line and column (`rule, line 1, column 12: expected …`), and changes nothing.
    pub fn define_segment(&self, segment: SegmentDefinition) -> CrmResult<Segment> {
        guard(|| Ok(self.inner.define_segment(segment.into_core()?)?.into()))
    }

    /// Deletes a segment; its members get an exit event. A `Conflict` while another segment's
    /// rule or a playbook refers to it; `NotFound` if there is no such segment.
    pub fn delete_segment(&self, name: String) -> CrmResult<()> {
        guard(|| Ok(self.inner.delete_segment(&name)?))
    }

    /// Every segment, by name.
    pub fn segments(&self) -> CrmResult<Vec<Segment>> {
        guard(|| Ok(self.inner.segments()?.into_iter().map(Into::into).collect()))
    }

    /// A segment by name, or `NotFound`.
    pub fn segment(&self, name: String) -> CrmResult<Segment> {
        guard(|| Ok(self.inner.segment(&name)?.into()))
    }

    /// A page of a segment's members (customer ids, in id order) after the customer id `after`
    /// (`null`: from the start). Pass the last id of a page as `after` to read on.
    #[uniffi::method(default(after = None, limit = 100))]
    pub fn segment_members(
        &self,
        name: String,
        after: Option<String>,
        limit: u32,
    ) -> CrmResult<Vec<String>> {
        guard(|| {
            let after = after.as_deref().map(customer_id).transpose()?;
            Ok(self
                .inner
                .segment_members(&name, after, limit as usize)?
                .into_iter()
                .map(|id| id.to_string())
                .collect())
        })
    }

    /// Each segment with members, and how many.
    pub fn segment_sizes(&self) -> CrmResult<Vec<SegmentSize>> {
        guard(|| {
            Ok(self
                .inner
                .segment_sizes()?
                .into_iter()
                .map(|(segment, members)| SegmentSize { segment, members })
                .collect())
        })
    }

    /// A customer's stored membership rows: the segments they are in, and those with a
    /// scheduled re-check.
    pub fn memberships(&self, customer_id: String) -> CrmResult<Vec<Membership>> {
        guard(|| {
            let id = crate::convert::customer_id(&customer_id)?;
            Ok(self.inner.memberships(id)?.into_iter().map(Into::into).collect())
        })
    }

    /// The names of the segments a customer is in.
    pub fn segments_of(&self, customer_id: String) -> CrmResult<Vec<String>> {
        guard(|| Ok(self.inner.segments_of(crate::convert::customer_id(&customer_id)?)?))
    }

    /// Adds a customer to a manual segment (an entry event; its playbooks fire). Returns whether
    /// they were not in it already. Dynamic and snapshot segments are a `Validation` error.
    pub fn add_to_segment(&self, name: String, customer_id: String) -> CrmResult<bool> {
        guard(|| {
            Ok(self.inner.add_to_segment(&name, crate::convert::customer_id(&customer_id)?)?)
        })
    }

    /// Removes a customer from a manual segment. Returns whether they were in it.
    pub fn remove_from_segment(&self, name: String, customer_id: String) -> CrmResult<bool> {
        guard(|| {
            Ok(self.inner.remove_from_segment(&name, crate::convert::customer_id(&customer_id)?)?)
        })
    }

    /// Why a customer is or is not in a segment: each predicate of its rule and whether it
    /// holds now.
    pub fn explain_segment(
        &self,
        name: String,
        customer_id: String,
    ) -> CrmResult<SegmentExplanation> {
        guard(|| {
            let id = crate::convert::customer_id(&customer_id)?;
            Ok(self.inner.explain_segment(&name, id)?.into())
        })
    }

    /// Re-checks the memberships that time alone can have changed by `now` ("no purchase in
    /// 90 days" becomes true on day 90), writing their enter and exit events and running the
    /// playbooks. Call it from a periodic job (Android WorkManager, iOS background task) with the
    /// current time. Returns how many (customer, segment) pairs it re-checked.
    pub fn advance_to(&self, now: SystemTime) -> CrmResult<u64> {
        guard(|| Ok(count(self.inner.advance_to(from_time("now", now)?)?)))
    }

    /// Compares the stored membership of every dynamic segment with a full re-evaluation at the
    /// engine's current time. Empty when they agree (they should: this is a consistency check).
    pub fn verify_segments(&self) -> CrmResult<Vec<MembershipDiff>> {
        guard(|| Ok(self.inner.verify_segments()?.into_iter().map(Into::into).collect()))
    }

    /// Parses a rule and checks it against the declared fields without defining anything:
    /// returns its canonical text, or throws the `Validation` error `defineSegment` would (with
    /// the line and column). For rule editors in the app.
    pub fn check_rule(&self, rule: String) -> CrmResult<String> {
        guard(|| {
            let rule = Rule::parse(&rule)?;
            rule.check(&self.inner.store().field_schema()?)?;
            Ok(rule.to_string())
        })
    }

    /// Defines (or replaces) a playbook. Its segment must exist (`NotFound`), its condition must
    /// check and its actions must be valid (tags, declared attributes of the right type, JSON
    /// payloads) (`Validation`). It acts on entries from now on, not on current members.
    pub fn define_playbook(&self, playbook: Playbook) -> CrmResult<Playbook> {
        guard(|| Ok(self.inner.define_playbook(playbook.into_core()?)?.into()))
    }

    /// Deletes a playbook (its tasks stay).
    pub fn delete_playbook(&self, name: String) -> CrmResult<()> {
        guard(|| Ok(self.inner.delete_playbook(&name)?))
    }

    /// Every playbook, by name.
    pub fn playbooks(&self) -> CrmResult<Vec<Playbook>> {
        guard(|| Ok(self.inner.playbooks()?.into_iter().map(Into::into).collect()))
    }

    /// Creates a task about a customer by hand (a `TaskCreated` event), due `dueInDays` days
    /// from now.
    #[uniffi::method(default(assignee = None))]
    pub fn create_task(
        &self,
        customer_id: String,
        title: String,
        due_in_days: u32,
        assignee: Option<String>,
    ) -> CrmResult<CrmTask> {
        guard(|| {
            let id = crate::convert::customer_id(&customer_id)?;
            Ok(self.inner.create_task(id, &title, due_in_days, assignee.as_deref())?.into())
        })
    }

    /// Marks a task done (a `TaskCompleted` event); completing a done task changes nothing.
    /// `NotFound` for an unknown id.
    pub fn complete_task(&self, id: String) -> CrmResult<CrmTask> {
        guard(|| {
            let id = id.parse::<crmkit::TaskId>()?;
            Ok(self.inner.complete_task(id)?.into())
        })
    }

    /// Tasks matching a query, by due date.
    pub fn tasks(&self, query: TaskQuery) -> CrmResult<Vec<CrmTask>> {
        guard(|| Ok(self.inner.tasks(&query.into_core()?)?.into_iter().map(Into::into).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FieldDef, FieldType};

    #[test]
    fn the_rules_in_the_guides_check() -> CrmResult<()> {
        let crm = Crm::open_in_memory()?;
        crm.define_field(FieldDef { name: "plan".into(), field_type: FieldType::String })?;
        for rule in [
            "tag \"vip\"",
            "attr.plan = \"pro\"",
            "stage = \"lead\"",
            "count(purchase, 30d) >= 3",
            "sum(purchase, 365d) >= 100 USD",
            "days_since(purchase) >= 90",
            "p_alive < 0.3",
            "decile(clv) >= 8",
            "rfm.segment = \"champions\"",
            "count(purchase) >= 3 and days_since(purchase) >= 90",
            "not tag \"do-not-contact\"",
            "(tag \"vip\" or clv > 100) and not segment(\"x\")",
        ] {
            let canonical = crm.check_rule(rule.into())?;
            assert_eq!(crm.check_rule(canonical.clone())?, canonical, "{rule}");
        }
        let err = crm.check_rule("tag \"vip\" and\n  days_since(purchase) >=".into());
        assert!(
            matches!(&err, Err(CrmError::Validation { message }) if message.starts_with("rule, line 2, column 26: ")),
            "{err:?}"
        );
        Ok(())
    }

    #[test]
    fn definitions_round_trip() -> CrmResult<()> {
        let crm = Crm::open_in_memory()?;
        let s = crm.define_segment(SegmentDefinition {
            name: "vip".into(),
            kind: SegmentKind::Dynamic,
            rule: Some("tag \"vip\"".into()),
            description: "the best".into(),
        })?;
        assert_eq!(
            (s.rule.as_deref(), s.version, s.description.as_str()),
            (Some("tag \"vip\""), 1, "the best")
        );
        let p = Playbook {
            name: "welcome".into(),
            segment: "vip".into(),
            actions: vec![
                Action::CreateTask { title: "Call".into(), due_in_days: 1, assignee: None },
                Action::Emit { action: "coupon".into(), payload_json: "{\"pct\":10}".into() },
            ],
            condition: Some("not tag \"staff\"".into()),
            enabled: false,
        };
        assert_eq!(crm.define_playbook(p.clone())?, p);
        assert_eq!(crm.playbooks()?, vec![p]);
        let bad = Action::Emit { action: "x".into(), payload_json: "{".into() };
        assert!(matches!(bad.into_core(), Err(CrmError::Validation { .. })));
        Ok(())
    }
}
