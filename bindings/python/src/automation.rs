//! Segments, playbooks, tasks and events (issue 4): the records `Crm`'s automation methods
//! return, the playbook actions, the subscription handle, and the conversions they need.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use crmkit::automation::{self as auto, SegmentKind};
use crmkit::rules::Rule;
use crmkit::{AttributeValue, FieldType};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use uuid::Uuid;

use crate::convert::{
    attribute_from_py, attribute_to_py, json_to_py, py_to_json, type_name, uuid_of,
};
use crate::error::{crm_error, invalid};

/// A rule from its text form or its serde AST (a dict, as ``Segment.rule_ast`` returns).
pub(crate) fn rule_from_py(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Rule> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Rule::parse(&s.to_cow()?).map_err(|e| crm_error(&e));
    }
    if obj.is_instance_of::<PyDict>() {
        let json = py_to_json(obj, field)?;
        return serde_json::from_value::<Rule>(json)
            .map_err(|e| invalid(format!("{field}: not a rule AST: {e}")));
    }
    Err(invalid(format!(
        "{field}: expected the rule's text or its AST (a dict), got {}",
        type_name(obj)
    )))
}

/// The segment kind: given, or dynamic with a rule and manual without.
pub(crate) fn segment_kind(kind: Option<&str>, has_rule: bool) -> PyResult<SegmentKind> {
    match kind {
        Some(k) => k.parse::<SegmentKind>().map_err(|e| crm_error(&e)),
        None if has_rule => Ok(SegmentKind::Dynamic),
        None => Ok(SegmentKind::Manual),
    }
}

fn json_or_none<'py>(py: Python<'py>, v: Option<serde_json::Value>) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Some(v) => json_to_py(py, &v),
        None => Ok(py.None().into_bound(py)),
    }
}

/// A named segment of customers: ``manual`` (a hand-kept list), ``dynamic`` (a rule, always
/// current) or ``snapshot`` (a rule evaluated when defined).
///
/// Returned by :meth:`Crm.define_segment`, :meth:`Crm.segment` and :meth:`Crm.segments`.
///
/// >>> from crmkit import Crm
/// >>> crm = Crm()
/// >>> s = crm.define_segment("at-risk", "p_alive < 0.3 and decile(clv) >= 8")
/// >>> (s.name, s.kind, s.version, s.rule)
/// ('at-risk', 'dynamic', 1, 'p_alive < 0.3 and decile(clv) >= 8')
/// >>> s.rule_ast["op"]
/// 'and'
#[pyclass(frozen, module = "crmkit._crmkit")]
pub struct Segment {
    pub(crate) inner: auto::Segment,
}

#[pymethods]
impl Segment {
    /// The unique name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name.clone()
    }

    /// ``manual``, ``dynamic`` or ``snapshot``.
    #[getter]
    fn kind(&self) -> String {
        self.inner.kind.to_string()
    }

    /// The rule in its text form (``None`` for a manual segment).
    #[getter]
    fn rule(&self) -> Option<String> {
        self.inner.rule.as_ref().map(ToString::to_string)
    }

    /// The rule's serde AST as a dict (``None`` for a manual segment); ``define_segment``
    /// accepts it in place of the text.
    #[getter]
    fn rule_ast<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_or_none(py, self.inner.rule.as_ref().and_then(|r| serde_json::to_value(r).ok()))
    }

    /// 1 when defined, one more on each change of the rule or kind.
    #[getter]
    fn version(&self) -> u64 {
        self.inner.version
    }

    /// What it is for.
    #[getter]
    fn description(&self) -> String {
        self.inner.description.clone()
    }

    /// When first defined (UTC).
    #[getter]
    fn created_at(&self) -> DateTime<Utc> {
        self.inner.created_at
    }

    /// When last edited (UTC).
    #[getter]
    fn updated_at(&self) -> DateTime<Utc> {
        self.inner.updated_at
    }

    fn __repr__(&self) -> String {
        match &self.inner.rule {
            Some(r) => format!(
                "Segment(name={:?}, kind={:?}, version={}, rule={:?})",
                self.inner.name,
                self.inner.kind.to_string(),
                self.inner.version,
                r.to_string()
            ),
            None => format!(
                "Segment(name={:?}, kind={:?}, version={})",
                self.inner.name,
                self.inner.kind.to_string(),
                self.inner.version
            ),
        }
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Segment>().is_ok_and(|o| o.get().inner == self.inner)
    }
}

/// A customer's stored state in one segment (see :meth:`Crm.memberships`): a member, or a
/// non-member whose result can change with time alone at ``next_check``.
#[pyclass(frozen, module = "crmkit._crmkit")]
pub struct Membership {
    pub(crate) inner: auto::Membership,
}

#[pymethods]
impl Membership {
    /// The segment.
    #[getter]
    fn segment(&self) -> String {
        self.inner.segment.clone()
    }

    /// The customer.
    #[getter]
    fn customer(&self) -> Uuid {
        uuid_of(self.inner.customer)
    }

    /// Whether they are in the segment.
    #[getter]
    fn member(&self) -> bool {
        self.inner.member
    }

    /// When they entered (members) or were last evaluated (others), UTC.
    #[getter]
    fn since(&self) -> DateTime<Utc> {
        self.inner.since
    }

    /// The segment version that decided.
    #[getter]
    fn version(&self) -> u64 {
        self.inner.version
    }

    /// Which predicates held at the last evaluation, as bits (bit ``i`` = predicate ``i``).
    #[getter]
    fn leaves(&self) -> u64 {
        self.inner.leaves
    }

    /// When time alone can next change the result (UTC), if ever.
    #[getter]
    fn next_check(&self) -> Option<DateTime<Utc>> {
        self.inner.next_check
    }

    fn __repr__(&self) -> String {
        format!(
            "Membership(segment={:?}, customer={}, member={}, version={})",
            self.inner.segment,
            self.inner.customer,
            if self.inner.member { "True" } else { "False" },
            self.inner.version
        )
    }
}

/// Why a customer is or is not in a segment (see :meth:`Crm.explain_segment`): the stored
/// membership, whether the rule holds now, and each predicate's value now.
///
/// >>> from crmkit import Crm
/// >>> crm = Crm()
/// >>> _ = crm.define_segment("vip", 'tag "vip" or p_alive > 0.9')
/// >>> ada = crm.create_customer("Ada", tags=["vip"])
/// >>> e = crm.explain_segment("vip", ada)
/// >>> (e.member, e.matches_now, e.predicates)
/// (True, True, [('tag "vip"', True), ('p_alive > 0.9', False)])
/// >>> print(e)
/// vip (version 1): member; the rule holds now
///   yes  tag "vip"
///   no   p_alive > 0.9
#[pyclass(frozen, module = "crmkit._crmkit")]
pub struct SegmentExplanation {
    pub(crate) inner: auto::SegmentExplanation,
}

#[pymethods]
impl SegmentExplanation {
    /// The segment.
    #[getter]
    fn segment(&self) -> String {
        self.inner.segment.clone()
    }

    /// Its version.
    #[getter]
    fn version(&self) -> u64 {
        self.inner.version
    }

    /// The stored membership.
    #[getter]
    fn member(&self) -> bool {
        self.inner.member
    }

    /// Whether the rule holds at the engine's current time (manual segments: the stored value).
    #[getter]
    fn matches_now(&self) -> bool {
        self.inner.matches_now
    }

    /// Each predicate (text) and whether it holds now, in rule order.
    #[getter]
    fn predicates(&self) -> Vec<(String, bool)> {
        self.inner.predicates.clone()
    }

    /// When time alone can next change the result (UTC), if ever.
    #[getter]
    fn next_check(&self) -> Option<DateTime<Utc>> {
        self.inner.next_check
    }

    fn __str__(&self) -> String {
        let e = &self.inner;
        let mut out = format!(
            "{} (version {}): {}; the rule {} now",
            e.segment,
            e.version,
            if e.member { "member" } else { "not a member" },
            if e.matches_now { "holds" } else { "does not hold" }
        );
        for (text, holds) in &e.predicates {
            out.push_str(&format!("\n  {}  {text}", if *holds { "yes" } else { "no " }));
        }
        if let Some(t) = e.next_check {
            out.push_str(&format!("\n  next time-based check: {}", t.to_rfc3339()));
        }
        out
    }

    fn __repr__(&self) -> String {
        format!(
            "SegmentExplanation(segment={:?}, member={}, matches_now={})",
            self.inner.segment,
            if self.inner.member { "True" } else { "False" },
            if self.inner.matches_now { "True" } else { "False" }
        )
    }
}

/// A dynamic segment whose stored membership differs from a full re-evaluation (see
/// :meth:`Crm.verify_segments`).
#[pyclass(frozen, get_all, module = "crmkit._crmkit")]
pub struct MembershipDiff {
    /// The segment.
    pub segment: String,
    /// Members by re-evaluation but not stored.
    pub missing: Vec<Uuid>,
    /// Stored members that re-evaluation does not find.
    pub extra: Vec<Uuid>,
}

#[pymethods]
impl MembershipDiff {
    fn __repr__(&self) -> String {
        format!(
            "MembershipDiff(segment={:?}, missing={}, extra={})",
            self.segment,
            self.missing.len(),
            self.extra.len()
        )
    }
}

impl From<auto::MembershipDiff> for MembershipDiff {
    fn from(d: auto::MembershipDiff) -> MembershipDiff {
        MembershipDiff {
            segment: d.segment,
            missing: d.missing.into_iter().map(uuid_of).collect(),
            extra: d.extra.into_iter().map(uuid_of).collect(),
        }
    }
}

/// What a playbook does for a customer who enters its segment. Make one with the static
/// methods; :meth:`Crm.define_playbook` also takes the same as dicts, e.g.
/// ``{"do": "add_tag", "tag": "vip"}``.
///
/// >>> from crmkit import Action
/// >>> a = Action.create_task("Call to win back", due_in_days=3, assignee="sam")
/// >>> a.kind, a.to_dict()
/// ('create_task', {'do': 'create_task', 'title': 'Call to win back', 'due_in_days': 3, 'assignee': 'sam'})
/// >>> Action.emit("send_coupon", {"pct": 10}).to_dict()
/// {'do': 'emit', 'action': 'send_coupon', 'payload': {'pct': 10}}
/// >>> Action.add_tag("vip") == Action.from_dict({"do": "add_tag", "tag": "vip"})
/// True
#[pyclass(frozen, module = "crmkit._crmkit")]
pub struct Action {
    pub(crate) inner: auto::Action,
}

#[pymethods]
impl Action {
    /// Create a task for the customer, due ``due_in_days`` after the entry.
    #[staticmethod]
    #[pyo3(signature = (title, due_in_days=0, assignee=None))]
    fn create_task(title: String, due_in_days: u32, assignee: Option<String>) -> Action {
        Action { inner: auto::Action::CreateTask { title, due_in_days, assignee } }
    }

    /// Add a tag to the customer.
    #[staticmethod]
    fn add_tag(tag: String) -> Action {
        Action { inner: auto::Action::AddTag { tag } }
    }

    /// Remove a tag from the customer.
    #[staticmethod]
    fn remove_tag(tag: String) -> Action {
        Action { inner: auto::Action::RemoveTag { tag } }
    }

    /// Set a declared attribute (the value as for ``create_customer(attributes=...)``; text is
    /// parsed as the field's type when the playbook is defined).
    #[staticmethod]
    fn set_attribute(field: String, value: &Bound<'_, PyAny>) -> PyResult<Action> {
        let value = attribute_from_py(value, &field, None)?;
        Ok(Action { inner: auto::Action::SetAttribute { field, value } })
    }

    /// Emit an ``action`` event (with a JSON-able ``payload``) for the host application.
    #[staticmethod]
    #[pyo3(signature = (action, payload=None))]
    fn emit(action: String, payload: Option<&Bound<'_, PyAny>>) -> PyResult<Action> {
        let payload = match payload {
            Some(p) => py_to_json(p, "payload")?,
            None => serde_json::Value::Null,
        };
        Ok(Action { inner: auto::Action::Emit { action, payload } })
    }

    /// An action from its dict form (``{"do": "create_task", "title": ..., ...}``).
    #[staticmethod]
    fn from_dict(d: &Bound<'_, PyDict>) -> PyResult<Action> {
        action_from_dict(d)
    }

    /// ``create_task``, ``add_tag``, ``remove_tag``, ``set_attribute`` or ``emit``.
    #[getter]
    fn kind(&self) -> &'static str {
        match &self.inner {
            auto::Action::CreateTask { .. } => "create_task",
            auto::Action::AddTag { .. } => "add_tag",
            auto::Action::RemoveTag { .. } => "remove_tag",
            auto::Action::SetAttribute { .. } => "set_attribute",
            auto::Action::Emit { .. } => "emit",
        }
    }

    /// The dict form (``do`` and the action's fields).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("do", self.kind())?;
        match &self.inner {
            auto::Action::CreateTask { title, due_in_days, assignee } => {
                d.set_item("title", title)?;
                d.set_item("due_in_days", due_in_days)?;
                d.set_item("assignee", assignee)?;
            }
            auto::Action::AddTag { tag } | auto::Action::RemoveTag { tag } => {
                d.set_item("tag", tag)?;
            }
            auto::Action::SetAttribute { field, value } => {
                d.set_item("field", field)?;
                d.set_item("value", attribute_to_py(py, value)?)?;
            }
            auto::Action::Emit { action, payload } => {
                d.set_item("action", action)?;
                d.set_item("payload", json_to_py(py, payload)?)?;
            }
        }
        Ok(d)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let d = self.to_dict(py)?;
        d.del_item("do")?;
        let mut args = Vec::new();
        for (k, v) in d.iter() {
            args.push(format!("{}={}", k.str()?, v.repr()?));
        }
        Ok(format!("Action.{}({})", self.kind(), args.join(", ")))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Action>().is_ok_and(|o| o.get().inner == self.inner)
    }
}

fn action_from_dict(d: &Bound<'_, PyDict>) -> PyResult<Action> {
    let get = |key: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
        Ok(d.get_item(key)?.filter(|v| !v.is_none()))
    };
    let text = |key: &str, kind: &str| -> PyResult<String> {
        get(key)?
            .ok_or_else(|| invalid(format!("actions: a {kind} action needs {key:?}")))?
            .extract::<String>()
            .map_err(|_| invalid(format!("actions: {kind}.{key} must be a str")))
    };
    let kind: String = get("do")?
        .ok_or_else(|| {
            invalid("actions: an action dict needs \"do\" (create_task, add_tag, remove_tag, set_attribute or emit)")
        })?
        .extract()
        .map_err(|_| invalid("actions: \"do\" must be a str"))?;
    match kind.as_str() {
        "create_task" => {
            let due: u32 = match get("due_in_days")? {
                Some(v) => v.extract().map_err(|_| {
                    invalid("actions: create_task.due_in_days must be a non-negative int")
                })?,
                None => 0,
            };
            let assignee = match get("assignee")? {
                Some(v) => Some(
                    v.extract::<String>()
                        .map_err(|_| invalid("actions: create_task.assignee must be a str"))?,
                ),
                None => None,
            };
            Ok(Action::create_task(text("title", "create_task")?, due, assignee))
        }
        "add_tag" => Ok(Action::add_tag(text("tag", "add_tag")?)),
        "remove_tag" => Ok(Action::remove_tag(text("tag", "remove_tag")?)),
        "set_attribute" => {
            let field = text("field", "set_attribute")?;
            let value = get("value")?
                .ok_or_else(|| invalid("actions: a set_attribute action needs \"value\""))?;
            Action::set_attribute(field, &value)
        }
        "emit" => Action::emit(text("action", "emit")?, get("payload")?.as_ref()),
        other => Err(invalid(format!(
            "actions: unknown action {other:?}: expected create_task, add_tag, remove_tag, set_attribute or emit"
        ))),
    }
}

/// An action from an `Action` or its dict form; attribute text is parsed as the declared type.
pub(crate) fn action_from_py(
    obj: &Bound<'_, PyAny>,
    declared: &HashMap<String, FieldType>,
) -> PyResult<auto::Action> {
    let action = if let Ok(a) = obj.cast::<Action>() {
        a.get().inner.clone()
    } else if let Ok(d) = obj.cast::<PyDict>() {
        action_from_dict(d)?.inner
    } else {
        return Err(invalid(format!(
            "actions: expected an Action or a dict such as {{\"do\": \"add_tag\", \"tag\": \"vip\"}}, got {}",
            type_name(obj)
        )));
    };
    Ok(match action {
        auto::Action::SetAttribute { field, value } => {
            let value = coerce_attribute(value, &field, declared.get(&field).copied())?;
            auto::Action::SetAttribute { field, value }
        }
        other => other,
    })
}

/// Text for a declared non-text field is parsed as that type; an int for a decimal field
/// becomes a decimal.
fn coerce_attribute(
    value: AttributeValue,
    field: &str,
    declared: Option<FieldType>,
) -> PyResult<AttributeValue> {
    match (value, declared) {
        (AttributeValue::String(s), Some(t)) if t != FieldType::String => {
            t.parse_value(&format!("attributes.{field}"), &s).map_err(|e| crm_error(&e))
        }
        (AttributeValue::Integer(i), Some(FieldType::Decimal)) => {
            Ok(AttributeValue::Decimal(rust_decimal::Decimal::from(i)))
        }
        (v, _) => Ok(v),
    }
}

/// "When a customer enters ``segment`` (and ``condition`` holds), do ``actions``": fires once
/// per entry (again only after an exit). See :meth:`Crm.define_playbook`.
#[pyclass(frozen, module = "crmkit._crmkit")]
pub struct Playbook {
    pub(crate) inner: auto::Playbook,
}

#[pymethods]
impl Playbook {
    /// The unique name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name.clone()
    }

    /// The segment whose entries trigger it.
    #[getter]
    fn segment(&self) -> String {
        self.inner.segment.clone()
    }

    /// The extra condition (rule text), if any.
    #[getter]
    fn condition(&self) -> Option<String> {
        self.inner.condition.as_ref().map(ToString::to_string)
    }

    /// What it does, in order.
    #[getter]
    fn actions(&self) -> Vec<Action> {
        self.inner.actions.iter().map(|a| Action { inner: a.clone() }).collect()
    }

    /// Whether it is enabled (a disabled playbook does nothing).
    #[getter]
    fn enabled(&self) -> bool {
        self.inner.enabled
    }

    fn __repr__(&self) -> String {
        format!(
            "Playbook(name={:?}, segment={:?}, actions={}{})",
            self.inner.name,
            self.inner.segment,
            self.inner.actions.len(),
            self.inner
                .condition
                .as_ref()
                .map(|c| format!(", condition={:?}", c.to_string()))
                .unwrap_or_default()
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Playbook>().is_ok_and(|o| o.get().inner == self.inner)
    }
}

/// A piece of work about a customer, created by hand (:meth:`Crm.create_task`) or by a
/// playbook.
#[pyclass(frozen, module = "crmkit._crmkit")]
pub struct Task {
    pub(crate) inner: auto::Task,
}

#[pymethods]
impl Task {
    /// The task id.
    #[getter]
    fn id(&self) -> Uuid {
        self.inner.id.0
    }

    /// The customer.
    #[getter]
    fn customer(&self) -> Uuid {
        uuid_of(self.inner.customer)
    }

    /// What to do.
    #[getter]
    fn title(&self) -> String {
        self.inner.title.clone()
    }

    /// When it is due (UTC).
    #[getter]
    fn due(&self) -> DateTime<Utc> {
        self.inner.due
    }

    /// Who should do it.
    #[getter]
    fn assignee(&self) -> Option<String> {
        self.inner.assignee.clone()
    }

    /// ``open`` or ``done``.
    #[getter]
    fn status(&self) -> String {
        self.inner.status.to_string()
    }

    /// When created (UTC).
    #[getter]
    fn created_at(&self) -> DateTime<Utc> {
        self.inner.created_at
    }

    /// When completed (UTC), if done.
    #[getter]
    fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.inner.completed_at
    }

    /// The playbook that created it, if any.
    #[getter]
    fn playbook(&self) -> Option<String> {
        self.inner.playbook.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "Task(title={:?}, status={:?}, due={}, assignee={:?})",
            self.inner.title,
            self.inner.status.to_string(),
            self.inner.due.to_rfc3339(),
            self.inner.assignee
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Task>().is_ok_and(|o| o.get().inner == self.inner)
    }
}

/// A task id from a `Task`, a `uuid.UUID` or its text.
pub(crate) fn task_id(obj: &Bound<'_, PyAny>) -> PyResult<crmkit::TaskId> {
    if let Ok(t) = obj.cast::<Task>() {
        return Ok(t.get().inner.id);
    }
    if let Ok(u) = obj.extract::<Uuid>() {
        return Ok(crmkit::TaskId(u));
    }
    if let Ok(s) = obj.extract::<String>() {
        return s.parse::<crmkit::TaskId>().map_err(|e| crm_error(&e));
    }
    Err(invalid(format!("task: expected a Task, a uuid.UUID or its text, got {}", type_name(obj))))
}

/// One event of the outbox: what changed (``type`` and ``payload``), about whom, when, and its
/// store-wide sequence number.
///
/// ``type`` is ``customer_created``, ``customer_updated``, ``stage_changed``,
/// ``interaction_recorded``, ``segment_entered``, ``segment_exited``, ``score_changed``,
/// ``task_created``, ``task_completed``, ``object_created``, ``object_updated``,
/// ``object_deleted`` or ``action``; ``payload`` is the event's JSON form as
/// a dict (with its ``type`` tag), e.g. ``{"type": "segment_entered", "segment": "vip",
/// "version": 1, "reason": ['tag "vip" became true']}``.
///
/// >>> from crmkit import Crm
/// >>> crm = Crm()
/// >>> _ = crm.define_segment("vip", 'tag "vip"')
/// >>> _ = crm.create_customer("Ada", tags=["vip"])
/// >>> [(e.seq, e.type) for e in crm.events_after(0)]
/// [(1, 'customer_created'), (2, 'segment_entered')]
/// >>> e = crm.events_after(1)[0]
/// >>> e.payload["segment"], e.payload["reason"], e.at.tzinfo is not None
/// ('vip', ['tag "vip" became true'], True)
#[pyclass(frozen, module = "crmkit._crmkit")]
pub struct Event {
    pub(crate) inner: auto::Event,
}

#[pymethods]
impl Event {
    /// 1, 2, 3... in write order, store-wide.
    #[getter]
    fn seq(&self) -> u64 {
        self.inner.seq
    }

    /// When (UTC).
    #[getter]
    fn at(&self) -> DateTime<Utc> {
        self.inner.at
    }

    /// Whom it is about, if anyone.
    #[getter]
    fn customer(&self) -> Option<Uuid> {
        self.inner.customer.map(uuid_of)
    }

    /// What happened: ``customer_created``, ``segment_entered``, ...
    #[getter(r#type)]
    fn type_name(&self) -> &'static str {
        self.inner.payload.type_name()
    }

    /// The payload's JSON form as a dict (with its ``type`` tag).
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = serde_json::to_value(&self.inner.payload)
            .map_err(|e| invalid(format!("event {}: {e}", self.inner.seq)))?;
        json_to_py(py, &v)
    }

    /// The whole event as JSON text (``seq``, ``at``, ``customer``, ``payload``), for forwarding.
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.inner)
            .map_err(|e| invalid(format!("event {}: {e}", self.inner.seq)))
    }

    fn __repr__(&self) -> String {
        let who = self.inner.customer.map(|c| format!(", customer={c}")).unwrap_or_default();
        format!(
            "Event(seq={}, type={:?}, at={}{who})",
            self.inner.seq,
            self.inner.payload.type_name(),
            self.inner.at.to_rfc3339()
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Event>().is_ok_and(|o| o.get().inner == self.inner)
    }
}

/// The engine's subscription, shared by the handle and the `Crm` (which ends it on close).
pub(crate) type SubscriptionSlot = Arc<Mutex<Option<auto::Subscription>>>;

/// Calls a Python callback with an event, holding the GIL. An exception in the callback (or a
/// failure to call it) goes to ``sys.unraisablehook``: the write has already committed and the
/// other subscribers still get the event.
pub(crate) fn deliver(callback: &Py<PyAny>, event: &auto::Event) {
    // try_attach: nothing to do while the interpreter shuts down; catch_unwind: never unwind
    // into the engine's commit path.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        Python::try_attach(|py| {
            let called =
                Py::new(py, Event { inner: event.clone() }).and_then(|e| callback.call1(py, (e,)));
            if let Err(err) = called {
                err.write_unraisable(py, Some(callback.bind(py)));
            }
        })
    }));
}

/// A registration of a callback made by :meth:`Crm.subscribe`. It stays active until
/// :meth:`close` (or the ``with`` block ends, or the ``Crm`` is closed).
#[pyclass(frozen, module = "crmkit._crmkit")]
pub struct Subscription {
    pub(crate) slot: SubscriptionSlot,
}

#[pymethods]
impl Subscription {
    /// Ends the subscription: the callback is not called again. Idempotent.
    fn close(&self, py: Python<'_>) {
        let slot = self.slot.clone();
        py.detach(move || {
            let taken = match slot.lock() {
                Ok(mut g) => g.take(),
                Err(poisoned) => poisoned.into_inner().take(),
            };
            drop(taken);
        });
    }

    /// Whether the callback is still registered.
    #[getter]
    fn active(&self) -> bool {
        match self.slot.lock() {
            Ok(g) => g.is_some(),
            Err(poisoned) => poisoned.into_inner().is_some(),
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        format!("Subscription(active={})", if self.active() { "True" } else { "False" })
    }
}
