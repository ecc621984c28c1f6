//! The engine side of automation: every write goes through [`Crm::commit`], which adds the
//! change events, re-evaluates only the (customer, segment) pairs the write can affect, runs the
//! playbooks of the entries, and writes all of it in the same atomic batch.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use chrono::{DateTime, TimeDelta, Utc};

use super::{
    Action, Event, EventPayload, Membership, NewEvent, Playbook, ScoreBrief, Segment, SegmentKind,
    Task, TaskQuery, TaskStatus,
};
use crate::crm::{Crm, check_attribute, diff, validate_tag};
use crate::customer::Customer;
use crate::error::{Error, Result};
use crate::ids::{CustomerId, InteractionId, TaskId};
use crate::rules::{CompiledRule, Deciles, Evaluation, Facts, InteractionFact, RuleDeps};
use crate::store::{BatchOutcome, CustomerScore, StoreExt, TimeRange, WriteBatch, WriteOp};

type Subscriber = dyn Fn(&Event) + Send + Sync;

/// Per-engine automation state, shared by the engine's clones.
#[derive(Default)]
pub(crate) struct AutomationState {
    /// The segment and playbook definitions, by automation revision.
    definitions: Mutex<Option<Arc<Definitions>>>,
    deciles: Mutex<Option<Arc<Deciles>>>,
    subscribers: Mutex<Vec<(u64, Arc<Subscriber>)>>,
    next_subscriber: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>> {
    m.lock().map_err(|_| Error::Internal { message: "engine lock poisoned by a panic".into() })
}

/// A segment ready to evaluate.
struct Compiled {
    segment: Segment,
    /// The rule, prepared for evaluation.
    rule: Option<CompiledRule>,
    deps: RuleDeps,
    leaf_text: Vec<String>,
    /// Indices of the segments whose rules refer to this one.
    dependents: Vec<usize>,
}

impl Compiled {
    fn is_dynamic(&self) -> bool {
        self.segment.kind == SegmentKind::Dynamic && self.segment.rule.is_some()
    }
}

/// Segments in dependency order (a segment after those it refers to) and the playbooks.
pub(crate) struct Definitions {
    revision: u64,
    segments: Vec<Compiled>,
    index: HashMap<String, usize>,
    playbooks: Vec<Playbook>,
    any_dynamic: bool,
    any_deciles: bool,
}

impl Definitions {
    fn build(
        revision: u64,
        segments: Vec<Segment>,
        playbooks: Vec<Playbook>,
    ) -> Result<Definitions> {
        let order = topological(&segments)?;
        let mut by_order: Vec<Option<Segment>> = segments.into_iter().map(Some).collect();
        let mut compiled: Vec<Compiled> = Vec::with_capacity(order.len());
        for i in order {
            let Some(segment) = by_order[i].take() else { continue };
            let (deps, leaf_text) = match &segment.rule {
                Some(r) => (r.deps(), r.leaves().iter().map(|p| p.to_string()).collect()),
                None => (RuleDeps::default(), Vec::new()),
            };
            let rule = segment.rule.clone().map(CompiledRule::new);
            compiled.push(Compiled { segment, rule, deps, leaf_text, dependents: Vec::new() });
        }
        let index: HashMap<String, usize> =
            compiled.iter().enumerate().map(|(i, c)| (c.segment.name.clone(), i)).collect();
        for i in 0..compiled.len() {
            let refs: Vec<String> = compiled[i].deps.segments.iter().cloned().collect();
            for r in refs {
                if let Some(&j) = index.get(&r) {
                    compiled[j].dependents.push(i);
                }
            }
        }
        let any_dynamic = compiled.iter().any(Compiled::is_dynamic);
        let any_deciles = compiled.iter().any(|c| c.is_dynamic() && c.deps.deciles);
        let playbooks = playbooks.into_iter().filter(|p| p.enabled).collect();
        Ok(Definitions { revision, segments: compiled, index, playbooks, any_dynamic, any_deciles })
    }
}

/// Orders segments so that each comes after the segments its rule refers to; a cycle is an error
/// that names it.
fn topological(segments: &[Segment]) -> Result<Vec<usize>> {
    let index: HashMap<&str, usize> =
        segments.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let refs: Vec<Vec<usize>> = segments
        .iter()
        .map(|s| {
            s.rule.as_ref().map_or_else(Vec::new, |r| {
                r.deps().segments.iter().filter_map(|n| index.get(n.as_str()).copied()).collect()
            })
        })
        .collect();
    // 0 = unvisited, 1 = on the path, 2 = done.
    let mut state = vec![0u8; segments.len()];
    let mut order = Vec::with_capacity(segments.len());
    fn visit(
        i: usize,
        refs: &[Vec<usize>],
        state: &mut [u8],
        path: &mut Vec<usize>,
        order: &mut Vec<usize>,
        segments: &[Segment],
    ) -> Result<()> {
        match state[i] {
            2 => return Ok(()),
            1 => {
                let start = path.iter().position(|&p| p == i).unwrap_or(0);
                let mut names: Vec<&str> =
                    path[start..].iter().map(|&p| segments[p].name.as_str()).collect();
                names.push(&segments[i].name);
                return Err(Error::validation(
                    "rule",
                    format!("segments would refer to each other in a cycle: {}", names.join(" → ")),
                ));
            }
            _ => {}
        }
        state[i] = 1;
        path.push(i);
        for &j in &refs[i] {
            visit(j, refs, state, path, order, segments)?;
        }
        path.pop();
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    // From the last: a segment being defined is pushed last, so a cycle is named from it.
    for i in (0..segments.len()).rev() {
        visit(i, &refs, &mut state, &mut Vec::new(), &mut order, segments)?;
    }
    Ok(order)
}

/// What a write does to one customer.
#[derive(Default)]
struct Touch {
    created: bool,
    customer_changed: bool,
    kinds: BTreeSet<String>,
    new_facts: Vec<InteractionFact>,
    score_changed: bool,
    deciles_changed: bool,
    /// Segments to re-evaluate regardless of triggers (due time checks).
    forced: BTreeSet<usize>,
    /// Segments whose membership the write sets directly (manual segments).
    set_rows: Vec<Membership>,
}

/// One customer's post-write state, as rules see it.
struct Ctx {
    record: Customer,
    record_changed_by_playbook: bool,
    facts: Vec<InteractionFact>,
    score: Option<CustomerScore>,
    rows: HashMap<String, Membership>,
}

impl Ctx {
    fn evaluate(
        &self,
        rule: &CompiledRule,
        deciles: Option<&Deciles>,
        now: DateTime<Utc>,
    ) -> Evaluation {
        let member = |name: &str| self.rows.get(name).is_some_and(|m| m.member);
        let facts = Facts {
            customer: &self.record,
            interactions: &self.facts,
            score: self.score.as_ref(),
            deciles,
            segments: &member,
        };
        rule.evaluate(&facts, now)
    }
}

/// Writes the automation adds to a batch.
#[derive(Default)]
struct Out {
    ops: Vec<WriteOp>,
    /// Final records of customers that playbooks changed.
    overrides: BTreeMap<CustomerId, Customer>,
}

/// The result of [`Crm::explain_segment`]: the stored membership and why the rule holds or not now.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, NewCustomer, automation::Segment};
/// let crm = Crm::in_memory();
/// crm.define_segment(Segment::dynamic("vip", "tag \"vip\" or p_alive > 0.9")?)?;
/// let c = crm.create_customer(NewCustomer::person("Ada").tag("vip"))?;
/// let e = crm.explain_segment("vip", c.id)?;
/// assert!(e.member && e.matches_now);
/// assert_eq!(e.predicates, vec![("tag \"vip\"".to_string(), true), ("p_alive > 0.9".to_string(), false)]);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentExplanation {
    /// The segment.
    pub segment: String,
    /// Its version.
    pub version: u64,
    /// The stored membership.
    pub member: bool,
    /// Whether the rule holds at the engine's current time (manual segments: the stored value).
    pub matches_now: bool,
    /// Each predicate and whether it holds now.
    pub predicates: Vec<(String, bool)>,
    /// When time alone can next change the result.
    pub next_check: Option<DateTime<Utc>>,
}

/// What full re-evaluation found different from the stored membership (empty when they agree).
///
/// # Examples
///
/// ```
/// let crm = crmkit_core::Crm::in_memory();
/// assert!(crm.verify_segments()?.is_empty());
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipDiff {
    /// The segment.
    pub segment: String,
    /// Members by re-evaluation but not stored.
    pub missing: Vec<CustomerId>,
    /// Stored members that re-evaluation does not find.
    pub extra: Vec<CustomerId>,
}

/// Keeps an in-process subscriber registered; dropping it unsubscribes.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use crmkit_core::{Crm, NewCustomer};
/// let crm = Crm::in_memory();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// let sub = crm.subscribe(move |e| sink.lock().unwrap().push(e.payload.type_name()));
/// crm.create_customer(NewCustomer::person("Ada"))?;
/// drop(sub);
/// crm.create_customer(NewCustomer::person("Bo"))?;
/// assert_eq!(*seen.lock().unwrap(), vec!["customer_created"]);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[must_use = "dropping the subscription unsubscribes"]
pub struct Subscription {
    state: Weak<AutomationState>,
    id: u64,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("id", &self.id).finish()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(state) = self.state.upgrade()
            && let Ok(mut subs) = state.subscribers.lock()
        {
            subs.retain(|(id, _)| *id != self.id);
        }
    }
}

const MAX_PLAYBOOK_ROUNDS: usize = 8;

impl Crm {
    /// The cached definitions, reloaded when the store's automation revision has moved.
    fn definitions(&self) -> Result<Arc<Definitions>> {
        let revision = self.store.automation_revision()?;
        let mut cache = lock(&self.automation.definitions)?;
        if let Some(d) = cache.as_ref()
            && d.revision == revision
        {
            return Ok(d.clone());
        }
        let d = Arc::new(Definitions::build(
            revision,
            self.store.segments()?,
            self.store.playbooks()?,
        )?);
        *cache = Some(d.clone());
        Ok(d)
    }

    /// The deciles of the latest stored scores (cached per model version).
    fn stored_deciles(&self) -> Result<Arc<Deciles>> {
        let latest = self.store.model(None)?.map_or(0, |m| m.version);
        let mut cache = lock(&self.automation.deciles)?;
        if let Some(d) = cache.as_ref()
            && d.model_version == latest
        {
            return Ok(d.clone());
        }
        let mut d = Deciles::from_scores(&self.store.all_scores()?);
        // Keyed by the latest model even if it stored no scores, so the cache still hits.
        d.model_version = latest;
        let d = Arc::new(d);
        *cache = Some(d.clone());
        Ok(d)
    }

    /// Writes a batch with its events and the automation it triggers, atomically.
    pub(crate) fn commit(&self, batch: WriteBatch) -> Result<BatchOutcome> {
        self.commit_with(move || Ok((batch, ()))).map(|(outcome, ())| outcome)
    }

    /// Builds a batch from what `build` reads, adds its events and the automation it triggers,
    /// and writes it, all as the store's only writer ([`Store::write`](crate::Store::write)):
    /// another writer cannot commit between the reads and the write, so what is derived from
    /// them (revisions, memberships, events, tasks) is never stale. Returns `build`'s value too.
    pub(crate) fn commit_with<T>(
        &self,
        build: impl FnOnce() -> Result<(WriteBatch, T)>,
    ) -> Result<(BatchOutcome, T)> {
        let now = self.now();
        self.write_with(|| {
            let (batch, value) = build()?;
            let defs = self.definitions()?;
            Ok((self.automate(batch, &defs, now, BTreeMap::new())?, value))
        })
    }

    /// Like [`Crm::commit_with`] for batches that carry their automation already (the caller
    /// evaluated it from the same reads).
    pub(crate) fn write_with<T>(
        &self,
        build: impl FnOnce() -> Result<(WriteBatch, T)>,
    ) -> Result<(BatchOutcome, T)> {
        let mut value = None;
        let outcome = self.store.write(Box::new(|| {
            let (batch, v) = build()?;
            value = Some(v);
            Ok(batch)
        }))?;
        self.notify(&outcome);
        let value = value.ok_or_else(|| Error::Internal {
            message: "the store returned from a write without running it".into(),
        })?;
        Ok((outcome, value))
    }

    fn notify(&self, outcome: &BatchOutcome) {
        let subs: Vec<Arc<Subscriber>> = match self.automation.subscribers.lock() {
            Ok(s) if !s.is_empty() && outcome.events > 0 => {
                s.iter().map(|(_, f)| f.clone()).collect()
            }
            _ => return,
        };
        // The outbox is durable: a subscriber that misses events (the read fails) can catch up
        // from a consumer cursor.
        let Ok(events) =
            self.store.events(outcome.last_event - outcome.events, outcome.events as usize)
        else {
            return;
        };
        for e in &events {
            for f in &subs {
                f(e);
            }
        }
    }

    /// Adds change events and automation to a batch.
    fn automate(
        &self,
        batch: WriteBatch,
        defs: &Definitions,
        now: DateTime<Utc>,
        mut touches: BTreeMap<CustomerId, Touch>,
    ) -> Result<WriteBatch> {
        let mut records: HashMap<CustomerId, Customer> = HashMap::new();
        let mut batch_scores: HashMap<CustomerId, CustomerScore> = HashMap::new();
        if defs.any_dynamic || !touches.is_empty() {
            let mut seen_keys: HashSet<&str> = HashSet::new();
            for op in &batch.ops {
                match op {
                    WriteOp::InsertCustomer(c) => {
                        records.insert(c.id, c.clone());
                        touches.entry(c.id).or_default().created = true;
                    }
                    WriteOp::UpdateCustomer { customer, .. } => {
                        records.insert(customer.id, customer.clone());
                        touches.entry(customer.id).or_default().customer_changed = true;
                    }
                    WriteOp::AppendInteraction(i) => {
                        if let Some(key) = &i.idempotency_key
                            && (!seen_keys.insert(key) || self.store.idempotency_key_exists(key)?)
                        {
                            continue; // a duplicate: the store will skip it
                        }
                        let t = touches.entry(i.customer).or_default();
                        t.kinds.insert(i.kind.name().to_owned());
                        t.new_facts.push(InteractionFact::new(&i.kind, i.occurred_at));
                    }
                    WriteOp::SaveScores(scores) => {
                        for s in scores {
                            batch_scores.insert(s.customer, s.clone());
                            touches.entry(s.customer).or_default().score_changed = true;
                        }
                    }
                    WriteOp::SetMembership(m) => {
                        touches.entry(m.customer).or_default().set_rows.push(m.clone());
                    }
                    _ => {}
                }
            }
        }
        let mut out = Out::default();
        if defs.any_dynamic && !touches.is_empty() {
            let deciles = if defs.any_deciles {
                Some(self.deciles_after(&batch_scores, &mut touches)?)
            } else {
                None
            };
            for (id, touch) in touches {
                let needed = needed_segments(defs, &touch);
                if !needed.iter().any(|&n| n) {
                    continue;
                }
                let Some(mut ctx) =
                    self.load_ctx(id, &records, &batch_scores, touch, defs, &needed)?
                else {
                    continue;
                };
                self.run_customer(defs, &mut ctx, needed, deciles.as_deref(), now, &mut out)?;
                if ctx.record_changed_by_playbook {
                    out.overrides.insert(id, ctx.record);
                }
            }
        }
        self.assemble(batch, out, now)
    }

    /// Deciles after the batch's scores; marks every scored customer when they moved.
    fn deciles_after(
        &self,
        batch_scores: &HashMap<CustomerId, CustomerScore>,
        touches: &mut BTreeMap<CustomerId, Touch>,
    ) -> Result<Arc<Deciles>> {
        if batch_scores.is_empty() {
            return self.stored_deciles();
        }
        let mut all: BTreeMap<CustomerId, CustomerScore> =
            self.store.all_scores()?.into_iter().map(|s| (s.customer, s)).collect();
        all.extend(batch_scores.iter().map(|(k, v)| (*k, v.clone())));
        let d = Deciles::from_scores(all.values());
        for id in all.keys() {
            touches.entry(*id).or_default().deciles_changed = true;
        }
        Ok(Arc::new(d))
    }

    fn load_ctx(
        &self,
        id: CustomerId,
        records: &HashMap<CustomerId, Customer>,
        batch_scores: &HashMap<CustomerId, CustomerScore>,
        touch: Touch,
        defs: &Definitions,
        needed: &[bool],
    ) -> Result<Option<Ctx>> {
        let record = match records.get(&id) {
            Some(r) => r.clone(),
            None => match self.store.customer(id)? {
                Some(r) => r,
                None => return Ok(None),
            },
        };
        let wants = |f: fn(&RuleDeps) -> bool| {
            defs.segments.iter().zip(needed).any(|(c, &n)| n && f(&c.deps))
                || defs.playbooks.iter().any(|p| p.condition.as_ref().is_some_and(|r| f(&r.deps())))
        };
        let mut facts = Vec::new();
        if wants(|d| !d.kinds.is_empty()) && !touch.created {
            facts = self.stored_facts(id)?;
        }
        facts.extend(touch.new_facts);
        let score = match batch_scores.get(&id) {
            Some(s) => Some(s.clone()),
            None if wants(|d| d.scores) => self.store.score(id)?,
            None => None,
        };
        let mut rows: HashMap<String, Membership> = if touch.created {
            HashMap::new()
        } else {
            self.store.memberships(id)?.into_iter().map(|m| (m.segment.clone(), m)).collect()
        };
        for m in touch.set_rows {
            if m.is_stored() {
                rows.insert(m.segment.clone(), m);
            } else {
                rows.remove(&m.segment);
            }
        }
        Ok(Some(Ctx { record, record_changed_by_playbook: false, facts, score, rows }))
    }

    /// Evaluates the needed segments for one customer in dependency order, runs the playbooks of
    /// the entries, and repeats while playbooks change the customer.
    fn run_customer(
        &self,
        defs: &Definitions,
        ctx: &mut Ctx,
        mut needed: Vec<bool>,
        deciles: Option<&Deciles>,
        now: DateTime<Utc>,
        out: &mut Out,
    ) -> Result<()> {
        for _round in 0..MAX_PLAYBOOK_ROUNDS {
            let mut entries = Vec::new();
            for i in 0..defs.segments.len() {
                if !needed[i] {
                    continue;
                }
                let seg = &defs.segments[i];
                // Callers ask for snapshot segments only when (re)taking the snapshot.
                let Some(rule) = seg.rule.as_ref() else { continue };
                let mut e = ctx.evaluate(rule, deciles, now);
                if seg.segment.kind == SegmentKind::Snapshot {
                    e.next_check = None;
                }
                let flipped = record_evaluation(seg, ctx, e, now, out);
                if flipped {
                    for &d in &seg.dependents {
                        needed[d] |= defs.segments[d].is_dynamic();
                    }
                    if e.matched {
                        entries.push(i);
                    }
                }
            }
            let before = ctx.record.clone();
            for i in entries {
                self.run_playbooks(defs, &defs.segments[i].segment.name, ctx, deciles, now, out)?;
            }
            if ctx.record == before {
                return Ok(());
            }
            // A playbook changed the customer: re-check the segments that read the record.
            needed = defs.segments.iter().map(|c| c.is_dynamic() && c.deps.customer).collect();
        }
        Ok(())
    }

    fn run_playbooks(
        &self,
        defs: &Definitions,
        segment: &str,
        ctx: &mut Ctx,
        deciles: Option<&Deciles>,
        now: DateTime<Utc>,
        out: &mut Out,
    ) -> Result<()> {
        let id = ctx.record.id;
        for p in defs.playbooks.iter().filter(|p| p.segment == segment) {
            if let Some(cond) = &p.condition
                && !ctx.evaluate(&CompiledRule::new(cond.clone()), deciles, now).matched
            {
                continue;
            }
            let actor = format!("playbook:{}", p.name);
            for action in &p.actions {
                let before = ctx.record.clone();
                match action {
                    Action::CreateTask { title, due_in_days, assignee } => {
                        let task = Task {
                            id: TaskId::new(),
                            customer: id,
                            title: title.clone(),
                            due: now + TimeDelta::days(i64::from(*due_in_days)),
                            assignee: assignee.clone(),
                            status: TaskStatus::Open,
                            created_at: now,
                            completed_at: None,
                            playbook: Some(p.name.clone()),
                        };
                        out.ops.push(WriteOp::PutTask(task.clone()));
                        out.ops.push(event(
                            now,
                            id,
                            EventPayload::TaskCreated { task: Box::new(task) },
                        ));
                    }
                    Action::AddTag { tag } => {
                        ctx.record.tags.insert(tag.clone());
                    }
                    Action::RemoveTag { tag } => {
                        ctx.record.tags.remove(tag);
                    }
                    Action::SetAttribute { field, value } => {
                        ctx.record.attributes.insert(field.clone(), value.clone());
                    }
                    Action::Emit { action, payload } => out.ops.push(event(
                        now,
                        id,
                        EventPayload::Action {
                            playbook: p.name.clone(),
                            action: action.clone(),
                            payload: payload.clone(),
                        },
                    )),
                }
                if ctx.record != before {
                    ctx.record.updated_at = now;
                    ctx.record_changed_by_playbook = true;
                    out.ops.extend(
                        diff(&before, &ctx.record, now, &actor).into_iter().map(WriteOp::Audit),
                    );
                }
            }
        }
        Ok(())
    }

    /// The final batch: the original writes (with playbook changes folded into the records they
    /// write), each followed by its events, then the automation's writes.
    fn assemble(&self, batch: WriteBatch, mut out: Out, now: DateTime<Utc>) -> Result<WriteBatch> {
        let mut ops = Vec::with_capacity(batch.ops.len() * 2 + out.ops.len());
        for op in batch.ops {
            match op {
                WriteOp::InsertCustomer(c) => {
                    let c = out.overrides.remove(&c.id).unwrap_or(c);
                    let e = event(
                        now,
                        c.id,
                        EventPayload::CustomerCreated { customer: Box::new(c.clone()) },
                    );
                    ops.push(WriteOp::InsertCustomer(c));
                    ops.push(e);
                }
                WriteOp::UpdateCustomer { customer, expected_revision } => {
                    let after = out.overrides.remove(&customer.id).unwrap_or(customer);
                    let before = self.store.customer(after.id)?;
                    ops.push(WriteOp::UpdateCustomer {
                        customer: after.clone(),
                        expected_revision,
                    });
                    if let Some(before) = before {
                        push_update_events(&mut ops, before, after, now);
                    }
                }
                WriteOp::SaveScores(scores) => {
                    let events = self.score_events(&scores, now)?;
                    ops.push(WriteOp::SaveScores(scores));
                    ops.extend(events);
                }
                other => ops.push(other),
            }
        }
        // Customers a playbook changed (and the write did not): their update and its events come
        // after the entries that caused them, so the outbox reads cause before effect.
        let mut playbook_updates = Vec::new();
        for (id, mut after) in std::mem::take(&mut out.overrides) {
            let before = self.store.require_customer(id)?;
            after.revision = before.revision + 1;
            playbook_updates.push(WriteOp::UpdateCustomer {
                customer: after.clone(),
                expected_revision: before.revision,
            });
            push_update_events(&mut playbook_updates, before, after, now);
        }
        ops.extend(out.ops);
        ops.extend(playbook_updates);
        Ok(WriteBatch { ops })
    }

    fn score_events(&self, scores: &[CustomerScore], now: DateTime<Utc>) -> Result<Vec<WriteOp>> {
        let before: HashMap<CustomerId, CustomerScore> = if scores.len() > 64 {
            self.store.all_scores()?.into_iter().map(|s| (s.customer, s)).collect()
        } else {
            let mut m = HashMap::new();
            for s in scores {
                if let Some(b) = self.store.score(s.customer)? {
                    m.insert(s.customer, b);
                }
            }
            m
        };
        let mut out = Vec::new();
        for s in scores {
            let after = ScoreBrief::from(s);
            let prev = before.get(&s.customer).map(ScoreBrief::from);
            // A new model version is a change even with equal numbers: consumers key on it.
            if prev.as_ref() != Some(&after) {
                out.push(event(
                    now,
                    s.customer,
                    EventPayload::ScoreChanged { before: prev, after },
                ));
            }
        }
        Ok(out)
    }
}

fn push_update_events(
    ops: &mut Vec<WriteOp>,
    before: Customer,
    after: Customer,
    now: DateTime<Utc>,
) {
    let id = after.id;
    let stage = (before.stage != after.stage).then(|| EventPayload::StageChanged {
        from: before.stage.clone(),
        to: after.stage.clone(),
    });
    ops.push(event(
        now,
        id,
        EventPayload::CustomerUpdated { before: Box::new(before), after: Box::new(after) },
    ));
    if let Some(s) = stage {
        ops.push(event(now, id, s));
    }
}

fn event(at: DateTime<Utc>, customer: CustomerId, payload: EventPayload) -> WriteOp {
    WriteOp::Emit(NewEvent { at, customer: Some(customer), payload })
}

/// Which dynamic segments a touch can affect (before propagation to dependents).
fn needed_segments(defs: &Definitions, t: &Touch) -> Vec<bool> {
    let mut needed: Vec<bool> = defs
        .segments
        .iter()
        .enumerate()
        .map(|(i, c)| {
            c.is_dynamic()
                && (t.created
                    || t.forced.contains(&i)
                    || (t.customer_changed && c.deps.customer)
                    || (t.score_changed && c.deps.scores)
                    || (t.deciles_changed && c.deps.deciles)
                    || t.kinds.iter().any(|k| c.deps.reads_kind(k)))
        })
        .collect();
    for m in &t.set_rows {
        if let Some(&i) = defs.index.get(&m.segment) {
            for &d in &defs.segments[i].dependents {
                needed[d] = true;
            }
        }
    }
    needed
}

/// Stores one evaluation's outcome; returns whether membership flipped.
fn record_evaluation(
    seg: &Compiled,
    ctx: &mut Ctx,
    e: Evaluation,
    now: DateTime<Utc>,
    out: &mut Out,
) -> bool {
    let name = &seg.segment.name;
    let old = ctx.rows.get(name);
    let was = old.is_some_and(|m| m.member);
    let flipped = was != e.matched;
    let since = match old {
        Some(o) if !flipped => o.since,
        _ => now,
    };
    let row = Membership {
        segment: name.clone(),
        customer: ctx.record.id,
        member: e.matched,
        since,
        version: seg.segment.version,
        leaves: e.leaves,
        next_check: e.next_check,
    };
    if old != Some(&row) && (row.is_stored() || old.is_some()) {
        let old_leaves = old.map_or(0, |o| o.leaves);
        if flipped {
            let changed = old_leaves ^ e.leaves;
            let mut reason: Vec<String> = seg
                .leaf_text
                .iter()
                .enumerate()
                .filter(|(i, _)| *i < 64 && changed & (1 << i) != 0)
                .map(|(i, text)| format!("{text} became {}", e.leaves & (1 << i) != 0))
                .collect();
            if reason.is_empty() {
                reason.push(if e.matched {
                    "the rule holds".into()
                } else {
                    "the rule no longer holds".into()
                });
            }
            let payload = if e.matched {
                EventPayload::SegmentEntered { segment: name.clone(), version: row.version, reason }
            } else {
                EventPayload::SegmentExited { segment: name.clone(), version: row.version, reason }
            };
            out.ops.push(event(now, row.customer, payload));
        }
        out.ops.push(WriteOp::SetMembership(row.clone()));
        if row.is_stored() {
            ctx.rows.insert(name.clone(), row);
        } else {
            ctx.rows.remove(name);
        }
    }
    flipped
}

impl Crm {
    /// A customer's interactions, as rules see them.
    fn stored_facts(&self, customer: CustomerId) -> Result<Vec<InteractionFact>> {
        Ok(self
            .store
            .interactions(customer, TimeRange::new())?
            .iter()
            .map(|i| InteractionFact::new(&i.kind, i.occurred_at))
            .collect())
    }

    /// A customer as stored, as rules see them.
    fn stored_ctx(&self, customer: CustomerId) -> Result<Ctx> {
        Ok(Ctx {
            record: self.store.require_customer(customer)?,
            facts: self.stored_facts(customer)?,
            score: self.store.score(customer)?,
            rows: self
                .store
                .memberships(customer)?
                .into_iter()
                .map(|m| (m.segment.clone(), m))
                .collect(),
            record_changed_by_playbook: false,
        })
    }
}

/// Everyone's facts, read in bulk for full evaluations.
struct Bulk {
    customers: Vec<Customer>,
    facts: HashMap<CustomerId, Vec<InteractionFact>>,
    scores: HashMap<CustomerId, CustomerScore>,
}

impl Crm {
    fn bulk(&self, facts: bool, scores: bool) -> Result<Bulk> {
        let customers = self.store.all_customers()?;
        let mut by_customer: HashMap<CustomerId, Vec<InteractionFact>> = HashMap::new();
        if facts {
            let mut after = InteractionId(0);
            loop {
                let page = self.store.interactions_after(after, 50_000)?;
                let Some(last) = page.last() else { break };
                after = last.id;
                for i in &page {
                    by_customer
                        .entry(i.customer)
                        .or_default()
                        .push(InteractionFact::new(&i.kind, i.occurred_at));
                }
            }
        }
        let scores = if scores {
            self.store.all_scores()?.into_iter().map(|s| (s.customer, s)).collect()
        } else {
            HashMap::new()
        };
        Ok(Bulk { customers, facts: by_customer, scores })
    }

    fn all_rows(&self, segment: &str) -> Result<Vec<Membership>> {
        let mut out: Vec<Membership> = Vec::new();
        loop {
            let page = self.store.segment_rows(segment, out.last().map(|m| m.customer), 10_000)?;
            if page.is_empty() {
                return Ok(out);
            }
            out.extend(page);
        }
    }

    /// Evaluates `targets` (segment indices, with their dynamic dependents) for every customer.
    fn evaluate_everyone(
        &self,
        defs: &Definitions,
        targets: &[usize],
        now: DateTime<Utc>,
    ) -> Result<Out> {
        let mut needed0 = vec![false; defs.segments.len()];
        for &t in targets {
            needed0[t] = true;
        }
        // Everything downstream may change too.
        for i in 0..needed0.len() {
            if needed0[i] {
                for &d in &defs.segments[i].dependents {
                    needed0[d] |= defs.segments[d].is_dynamic();
                }
            }
        }
        let used = |f: fn(&RuleDeps) -> bool| {
            defs.segments.iter().zip(&needed0).any(|(c, &n)| n && f(&c.deps))
                || defs.playbooks.iter().any(|p| p.condition.as_ref().is_some_and(|r| f(&r.deps())))
        };
        let bulk = self.bulk(used(|d| !d.kinds.is_empty()), used(|d| d.scores))?;
        let deciles = if used(|d| d.deciles) { Some(self.stored_deciles()?) } else { None };
        let mut rows: HashMap<CustomerId, HashMap<String, Membership>> = HashMap::new();
        // Only the rows evaluation reads or rewrites: the segments evaluated and those they refer to.
        let mut wanted: HashSet<&str> = HashSet::new();
        for (c, _) in defs.segments.iter().zip(&needed0).filter(|(_, n)| **n) {
            wanted.insert(&c.segment.name);
            wanted.extend(c.deps.segments.iter().map(String::as_str));
        }
        let playbook_refs: Vec<String> = defs
            .playbooks
            .iter()
            .filter_map(|p| p.condition.as_ref())
            .flat_map(|r| r.deps().segments)
            .collect();
        wanted.extend(playbook_refs.iter().map(String::as_str));
        for c in defs.segments.iter().filter(|c| wanted.contains(c.segment.name.as_str())) {
            for m in self.all_rows(&c.segment.name)? {
                rows.entry(m.customer).or_default().insert(m.segment.clone(), m);
            }
        }
        let mut out = Out::default();
        let mut facts = bulk.facts;
        let mut scores = bulk.scores;
        for record in bulk.customers {
            let id = record.id;
            let mut ctx = Ctx {
                record,
                record_changed_by_playbook: false,
                facts: facts.remove(&id).unwrap_or_default(),
                score: scores.remove(&id),
                rows: rows.remove(&id).unwrap_or_default(),
            };
            self.run_customer(defs, &mut ctx, needed0.clone(), deciles.as_deref(), now, &mut out)?;
            if ctx.record_changed_by_playbook {
                out.overrides.insert(id, ctx.record);
            }
        }
        Ok(out)
    }

    /// Validates a segment against the others: name, rule (fields and types), references, cycles.
    fn check_segment(&self, segment: &Segment, others: &[Segment]) -> Result<()> {
        let name = segment.name.as_str();
        if name.is_empty()
            || name.len() > 100
            || !name.chars().all(|c| c.is_alphanumeric() || " _-.:'".contains(c))
        {
            return Err(Error::validation(
                "segment name",
                format!("{name:?}: use 1 to 100 letters, digits, spaces, _ - . : '"),
            ));
        }
        match (&segment.kind, &segment.rule) {
            (SegmentKind::Manual, Some(_)) => {
                return Err(Error::validation(
                    "rule",
                    format!("segment {name:?} is manual: it has no rule"),
                ));
            }
            (SegmentKind::Dynamic | SegmentKind::Snapshot, None) => {
                return Err(Error::validation(
                    "rule",
                    format!("segment {name:?} is {}: it needs a rule", segment.kind),
                ));
            }
            _ => {}
        }
        if let Some(rule) = &segment.rule {
            rule.check(&self.store.field_schema()?)?;
            for r in rule.deps().segments {
                if r != name && !others.iter().any(|o| o.name == r) {
                    return Err(Error::validation(
                        "rule",
                        format!("segment({r:?}): no such segment"),
                    ));
                }
            }
        }
        let mut all: Vec<Segment> = others.iter().filter(|o| o.name != name).cloned().collect();
        all.push(segment.clone());
        topological(&all).map(drop)
    }

    /// Defines a segment, or edits one: a changed rule or kind makes a new version, and the
    /// segment's membership (and that of the dynamic segments that refer to it) is recomputed for
    /// every customer, with enter/exit events. Bad rules (syntax, unknown fields or segments, type
    /// mismatches, cycles) are errors and change nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, ErrorKind, automation::Segment};
    /// let crm = Crm::in_memory();
    /// crm.create_customer(NewCustomer::person("Ada").tag("vip"))?;
    /// let s = crm.define_segment(Segment::dynamic("vip", "tag \"vip\"")?)?;
    /// assert_eq!(crm.segment_members("vip", None, 10)?.len(), 1);
    /// // Editing the rule versions the segment and recomputes it.
    /// let s2 = crm.define_segment(Segment::dynamic("vip", "tag \"gold\"")?)?;
    /// assert_eq!((s.version, s2.version), (1, 2));
    /// assert!(crm.segment_members("vip", None, 10)?.is_empty());
    /// // A cycle is refused.
    /// crm.define_segment(Segment::dynamic("a", "segment(\"vip\")")?)?;
    /// let err = crm.define_segment(Segment::dynamic("vip", "segment(\"a\")")?).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Validation);
    /// assert!(err.to_string().contains("cycle"), "{err}");
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn define_segment(&self, mut segment: Segment) -> Result<Segment> {
        segment.name = segment.name.trim().to_owned();
        let now = self.now();
        let (_, segment) = self.write_with(|| {
            let existing = self.store.segments()?;
            self.check_segment(&segment, &existing)?;
            let previous = existing.iter().find(|s| s.name == segment.name);
            if let Some(p) = previous
                && p.rule == segment.rule
                && p.kind == segment.kind
                && p.description == segment.description
            {
                return Ok((WriteBatch::new(), p.clone())); // the same definition again writes nothing
            }
            let recompute = match previous {
                Some(p) => {
                    segment.created_at = p.created_at;
                    let changed = p.rule != segment.rule || p.kind != segment.kind;
                    segment.version = if changed { p.version + 1 } else { p.version };
                    changed
                }
                None => {
                    segment.created_at = now;
                    segment.version = 1;
                    true
                }
            };
            segment.updated_at = now;
            let mut all: Vec<Segment> =
                existing.iter().filter(|s| s.name != segment.name).cloned().collect();
            all.push(segment.clone());
            let revision = self.store.automation_revision()?;
            let defs = Definitions::build(revision + 1, all, self.store.playbooks()?)?;
            let mut batch = WriteBatch::new();
            batch.push(WriteOp::SaveSegment(segment.clone()));
            if recompute {
                let idx = defs.index.get(&segment.name).copied().unwrap_or(0);
                if segment.kind == SegmentKind::Manual {
                    // A manual list keeps its members; drop any rows a former rule scheduled.
                    for mut m in self.all_rows(&segment.name)? {
                        m.next_check = None;
                        m.version = segment.version;
                        batch.push(WriteOp::SetMembership(m));
                    }
                } else {
                    let out = self.evaluate_everyone(&defs, &[idx], now)?;
                    batch = self.assemble(batch, out, now)?;
                }
            }
            Ok((batch, segment))
        })?;
        Ok(segment)
    }

    /// Deletes a segment; its members get an exit event. Refused while another segment's rule or
    /// a playbook refers to it.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, automation::Segment};
    /// let crm = Crm::in_memory();
    /// crm.define_segment(Segment::manual("beta"))?;
    /// crm.delete_segment("beta")?;
    /// assert!(crm.segments()?.is_empty());
    /// assert!(crm.delete_segment("beta").is_err());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn delete_segment(&self, name: &str) -> Result<()> {
        let now = self.now();
        self.write_with(|| {
            let segments = self.store.segments()?;
            let Some(seg) = segments.iter().find(|s| s.name == name) else {
                return Err(Error::NotFound { entity: "segment", key: name.to_owned() });
            };
            if let Some(user) = segments
                .iter()
                .find(|s| s.rule.as_ref().is_some_and(|r| r.deps().segments.contains(name)))
            {
                return Err(Error::AlreadyExists {
                    entity: "reference to segment",
                    key: format!("{name:?} (segment {:?} refers to it)", user.name),
                });
            }
            if let Some(p) = self.store.playbooks()?.iter().find(|p| p.segment == name) {
                return Err(Error::AlreadyExists {
                    entity: "reference to segment",
                    key: format!("{name:?} (playbook {:?} acts on it)", p.name),
                });
            }
            let mut batch = WriteBatch::new();
            for m in self.all_rows(name)?.into_iter().filter(|m| m.member) {
                batch.push(event(
                    now,
                    m.customer,
                    EventPayload::SegmentExited {
                        segment: name.to_owned(),
                        version: seg.version,
                        reason: vec!["segment deleted".into()],
                    },
                ));
            }
            batch.push(WriteOp::DeleteSegment(name.to_owned()));
            Ok((batch, ()))
        })?;
        Ok(())
    }

    /// Every segment, by name.
    ///
    /// # Examples
    ///
    /// ```
    /// let crm = crmkit_core::Crm::in_memory();
    /// crm.define_segment(crmkit_core::automation::Segment::manual("b"))?;
    /// assert_eq!(crm.segments()?[0].name, "b");
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn segments(&self) -> Result<Vec<Segment>> {
        self.store.segments()
    }

    /// A segment by name.
    ///
    /// # Examples
    ///
    /// ```
    /// let crm = crmkit_core::Crm::in_memory();
    /// assert!(crm.segment("nope").is_err());
    /// ```
    pub fn segment(&self, name: &str) -> Result<Segment> {
        self.store
            .segments()?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::NotFound { entity: "segment", key: name.to_owned() })
    }

    /// A page of a segment's members, by customer id, after `after`.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, automation::Segment};
    /// let crm = Crm::in_memory();
    /// crm.define_segment(Segment::dynamic("everyone", "true")?)?;
    /// let a = crm.create_customer(NewCustomer::person("A"))?;
    /// assert_eq!(crm.segment_members("everyone", None, 10)?, vec![a.id]);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn segment_members(
        &self,
        name: &str,
        after: Option<CustomerId>,
        limit: usize,
    ) -> Result<Vec<CustomerId>> {
        self.segment(name)?;
        let mut out = Vec::new();
        let mut cursor = after;
        while out.len() < limit {
            let page = self.store.segment_rows(name, cursor, limit.max(100))?;
            let Some(last) = page.last() else { break };
            cursor = Some(last.customer);
            out.extend(page.into_iter().filter(|m| m.member).map(|m| m.customer));
        }
        out.truncate(limit);
        Ok(out)
    }

    /// Each segment with members, and how many.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::Crm::in_memory().segment_sizes()?.is_empty());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn segment_sizes(&self) -> Result<Vec<(String, u64)>> {
        self.store.segment_sizes()
    }

    /// A customer's stored membership rows (members, and scheduled re-checks).
    ///
    /// # Examples
    ///
    /// ```
    /// let crm = crmkit_core::Crm::in_memory();
    /// assert!(crm.memberships(crmkit_core::CustomerId::new())?.is_empty());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn memberships(&self, customer: CustomerId) -> Result<Vec<Membership>> {
        self.store.memberships(customer)
    }

    /// The segments a customer is in.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, automation::Segment};
    /// let crm = Crm::in_memory();
    /// crm.define_segment(Segment::manual("beta"))?;
    /// let c = crm.create_customer(NewCustomer::person("A"))?;
    /// crm.add_to_segment("beta", c.id)?;
    /// assert_eq!(crm.segments_of(c.id)?, vec!["beta".to_string()]);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn segments_of(&self, customer: CustomerId) -> Result<Vec<String>> {
        Ok(self
            .store
            .memberships(customer)?
            .into_iter()
            .filter(|m| m.member)
            .map(|m| m.segment)
            .collect())
    }

    fn set_manual(&self, name: &str, customer: CustomerId, member: bool) -> Result<bool> {
        let now = self.now();
        let (_, changed) = self.write_with(|| {
            let seg = self.segment(name)?;
            if seg.kind != SegmentKind::Manual {
                return Err(Error::validation(
                    "segment",
                    format!("{name:?} is {}: only manual segments are changed by hand", seg.kind),
                ));
            }
            self.store.require_customer(customer)?;
            let was =
                self.store.memberships(customer)?.iter().any(|m| m.segment == name && m.member);
            if was == member {
                return Ok((WriteBatch::new(), false));
            }
            let reason = vec![if member {
                "added by hand".to_owned()
            } else {
                "removed by hand".to_owned()
            }];
            let mut batch = WriteBatch::new();
            batch.push(WriteOp::SetMembership(Membership {
                segment: name.to_owned(),
                customer,
                member,
                since: now,
                version: seg.version,
                leaves: 0,
                next_check: None,
            }));
            let (segment, version) = (name.to_owned(), seg.version);
            batch.push(event(
                now,
                customer,
                if member {
                    EventPayload::SegmentEntered { segment, version, reason }
                } else {
                    EventPayload::SegmentExited { segment, version, reason }
                },
            ));
            Ok((self.automate_manual(batch, name, customer, member, now)?, true))
        })?;
        Ok(changed)
    }

    /// Adds the automation of a manual change: the playbooks of the manual segment on an entry.
    fn automate_manual(
        &self,
        batch: WriteBatch,
        segment: &str,
        customer: CustomerId,
        entered: bool,
        now: DateTime<Utc>,
    ) -> Result<WriteBatch> {
        let defs = self.definitions()?;
        let mut batch = self.automate(batch, &defs, now, BTreeMap::new())?;
        if entered && defs.playbooks.iter().any(|p| p.segment == segment) {
            let mut ctx = self.stored_ctx(customer)?;
            let mut out = Out::default();
            let deciles = if defs.any_deciles { Some(self.stored_deciles()?) } else { None };
            self.run_playbooks(&defs, segment, &mut ctx, deciles.as_deref(), now, &mut out)?;
            if ctx.record_changed_by_playbook {
                out.overrides.insert(customer, ctx.record);
            }
            let extra = self.assemble(WriteBatch::new(), out, now)?;
            batch.ops.extend(extra.ops);
        }
        Ok(batch)
    }

    /// Adds a customer to a manual segment (an entry event; playbooks on it fire). Returns
    /// whether they were not already in it.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, automation::Segment};
    /// let crm = Crm::in_memory();
    /// crm.define_segment(Segment::manual("beta"))?;
    /// let c = crm.create_customer(NewCustomer::person("A"))?;
    /// assert!(crm.add_to_segment("beta", c.id)?);
    /// assert!(!crm.add_to_segment("beta", c.id)?);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn add_to_segment(&self, name: &str, customer: CustomerId) -> Result<bool> {
        self.set_manual(name, customer, true)
    }

    /// Removes a customer from a manual segment. Returns whether they were in it.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, automation::Segment};
    /// let crm = Crm::in_memory();
    /// crm.define_segment(Segment::manual("beta"))?;
    /// let c = crm.create_customer(NewCustomer::person("A"))?;
    /// assert!(!crm.remove_from_segment("beta", c.id)?);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn remove_from_segment(&self, name: &str, customer: CustomerId) -> Result<bool> {
        self.set_manual(name, customer, false)
    }

    /// Why a customer is or is not in a segment: each predicate's value now.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, automation::Segment};
    /// let crm = Crm::in_memory();
    /// crm.define_segment(Segment::dynamic("lapsed", "days_since(purchase) >= 90")?)?;
    /// let c = crm.create_customer(NewCustomer::person("A"))?;
    /// let e = crm.explain_segment("lapsed", c.id)?;
    /// assert!(e.member && e.matches_now);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn explain_segment(&self, name: &str, customer: CustomerId) -> Result<SegmentExplanation> {
        let seg = self.segment(name)?;
        let ctx = self.stored_ctx(customer)?;
        let member = ctx.rows.get(name).is_some_and(|m| m.member);
        let Some(rule) = &seg.rule else {
            return Ok(SegmentExplanation {
                segment: seg.name,
                version: seg.version,
                member,
                matches_now: member,
                predicates: Vec::new(),
                next_check: None,
            });
        };
        let deciles = if rule.deps().deciles { Some(self.stored_deciles()?) } else { None };
        let e = ctx.evaluate(&CompiledRule::new(rule.clone()), deciles.as_deref(), self.now());
        Ok(SegmentExplanation {
            segment: seg.name,
            version: seg.version,
            member,
            matches_now: e.matched,
            predicates: rule
                .leaves()
                .iter()
                .enumerate()
                .map(|(i, p)| (p.to_string(), i < 64 && e.leaves & (1 << i) != 0))
                .collect(),
            next_check: e.next_check,
        })
    }

    /// Re-checks the (customer, segment) pairs whose membership can have changed with time by
    /// `now` (and what depends on them), writing their changes and events. Returns how many
    /// pairs it re-checked.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use crmkit_core::{Crm, FixedClock, NewCustomer, NewInteraction, Money, automation::Segment};
    /// let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    /// let clock = Arc::new(FixedClock::new(t("2024-01-01T00:00:00Z")));
    /// let crm = Crm::in_memory().with_clock(clock.clone());
    /// crm.define_segment(Segment::dynamic("lapsed", "count(purchase) > 0 and days_since(purchase) >= 90")?)?;
    /// let c = crm.create_customer(NewCustomer::person("A"))?;
    /// crm.record(NewInteraction::purchase(c.id, t("2024-01-01T00:00:00Z"), Money::parse("5", "USD")?))?;
    /// assert!(crm.segments_of(c.id)?.is_empty());
    /// assert_eq!(crm.advance_to(t("2024-03-30T00:00:00Z"))?, 0); // day 89: nothing is due
    /// assert_eq!(crm.advance_to(t("2024-03-31T00:00:00Z"))?, 1); // day 90
    /// assert_eq!(crm.segments_of(c.id)?, vec!["lapsed".to_string()]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn advance_to(&self, now: DateTime<Utc>) -> Result<usize> {
        let mut checked = 0;
        let mut previous: Vec<Membership> = Vec::new();
        loop {
            let (_, due) = self.write_with(|| {
                let due = self.store.due_checks(now, 10_000)?;
                if due.is_empty() {
                    return Ok((WriteBatch::new(), due));
                }
                if due == previous {
                    return Err(Error::Storage {
                        message: "advance_to made no progress on due re-checks".into(),
                        source: None,
                    });
                }
                let defs = self.definitions()?;
                let mut touches: BTreeMap<CustomerId, Touch> = BTreeMap::new();
                let mut batch = WriteBatch::new();
                for m in &due {
                    match defs.index.get(&m.segment) {
                        Some(&i) if defs.segments[i].is_dynamic() => {
                            touches.entry(m.customer).or_default().forced.insert(i);
                        }
                        _ => {
                            // No longer a dynamic segment: nothing to re-check.
                            let mut m = m.clone();
                            m.next_check = None;
                            batch.push(WriteOp::SetMembership(m));
                        }
                    }
                }
                Ok((self.automate(batch, &defs, now, touches)?, due))
            })?;
            if due.is_empty() {
                return Ok(checked);
            }
            checked += due.len();
            previous = due;
        }
    }

    /// Every segment's membership computed from scratch at `at` (dynamic segments by their
    /// rules; manual and snapshot segments as stored). Writes nothing. This is the reference the
    /// incremental maintenance is tested against.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, automation::Segment};
    /// let crm = Crm::in_memory();
    /// crm.define_segment(Segment::dynamic("vip", "tag \"vip\"")?)?;
    /// let c = crm.create_customer(NewCustomer::person("A").tag("vip"))?;
    /// let all = crm.recompute_memberships(crm.now())?;
    /// assert!(all["vip"].contains(&c.id));
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn recompute_memberships(
        &self,
        at: DateTime<Utc>,
    ) -> Result<BTreeMap<String, BTreeSet<CustomerId>>> {
        let defs = self.definitions()?;
        let used =
            |f: fn(&RuleDeps) -> bool| defs.segments.iter().any(|c| c.is_dynamic() && f(&c.deps));
        let bulk = self.bulk(used(|d| !d.kinds.is_empty()), used(|d| d.scores))?;
        let deciles = if used(|d| d.deciles) {
            Some(Deciles::from_scores(bulk.scores.values()))
        } else {
            None
        };
        let mut result: BTreeMap<String, BTreeSet<CustomerId>> = BTreeMap::new();
        let mut stored: HashMap<CustomerId, HashMap<String, Membership>> = HashMap::new();
        for c in &defs.segments {
            result.insert(c.segment.name.clone(), BTreeSet::new());
            if !c.is_dynamic() {
                for m in self.all_rows(&c.segment.name)?.into_iter().filter(|m| m.member) {
                    stored.entry(m.customer).or_default().insert(m.segment.clone(), m);
                }
            }
        }
        let mut facts = bulk.facts;
        let mut scores = bulk.scores;
        for record in bulk.customers {
            let id = record.id;
            let mut ctx = Ctx {
                record,
                record_changed_by_playbook: false,
                facts: facts.remove(&id).unwrap_or_default(),
                score: scores.remove(&id),
                rows: stored.remove(&id).unwrap_or_default(),
            };
            for c in &defs.segments {
                let member = match (&c.rule, c.is_dynamic()) {
                    (Some(rule), true) => {
                        let e = ctx.evaluate(rule, deciles.as_ref(), at);
                        if e.matched {
                            ctx.rows.insert(
                                c.segment.name.clone(),
                                Membership {
                                    segment: c.segment.name.clone(),
                                    customer: id,
                                    member: true,
                                    since: at,
                                    version: 0,
                                    leaves: 0,
                                    next_check: None,
                                },
                            );
                        }
                        e.matched
                    }
                    _ => ctx.rows.get(&c.segment.name).is_some_and(|m| m.member),
                };
                if member && let Some(set) = result.get_mut(&c.segment.name) {
                    set.insert(id);
                }
            }
        }
        Ok(result)
    }

    /// Compares the stored membership of every dynamic segment with [`Crm::recompute_memberships`]
    /// at the engine's current time (after [`Crm::advance_to`] it). Empty when they agree.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, automation::Segment};
    /// let crm = Crm::in_memory();
    /// crm.define_segment(Segment::dynamic("vip", "tag \"vip\"")?)?;
    /// crm.create_customer(NewCustomer::person("A").tag("vip"))?;
    /// assert!(crm.verify_segments()?.is_empty());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn verify_segments(&self) -> Result<Vec<MembershipDiff>> {
        let expected = self.recompute_memberships(self.now())?;
        let mut out = Vec::new();
        for seg in self.store.segments()? {
            if seg.kind != SegmentKind::Dynamic {
                continue;
            }
            let stored: BTreeSet<CustomerId> = self
                .all_rows(&seg.name)?
                .into_iter()
                .filter(|m| m.member)
                .map(|m| m.customer)
                .collect();
            let want = expected.get(&seg.name).cloned().unwrap_or_default();
            let missing: Vec<CustomerId> = want.difference(&stored).copied().collect();
            let extra: Vec<CustomerId> = stored.difference(&want).copied().collect();
            if !missing.is_empty() || !extra.is_empty() {
                out.push(MembershipDiff { segment: seg.name, missing, extra });
            }
        }
        Ok(out)
    }

    /// Defines (or replaces) a playbook. Its segment must exist, its condition must check, and
    /// its actions must be valid (tags, declared attributes of the right type).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, AttributeValue, automation::{Playbook, Action, Segment}};
    /// let crm = Crm::in_memory();
    /// let err = crm.define_playbook(Playbook::new("p", "nope")).unwrap_err();
    /// assert!(err.to_string().contains("nope"));
    /// crm.define_segment(Segment::manual("s"))?;
    /// let bad = Playbook::new("p", "s").action(Action::SetAttribute { field: "plan".into(), value: AttributeValue::Bool(true) });
    /// assert!(crm.define_playbook(bad).is_err()); // `plan` is not a declared field
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn define_playbook(&self, playbook: Playbook) -> Result<Playbook> {
        self.write_with(|| self.save_playbook_batch(&playbook).map(|b| (b, ())))?;
        Ok(playbook)
    }

    /// The batch that stores a valid playbook (empty when it is stored already).
    fn save_playbook_batch(&self, playbook: &Playbook) -> Result<WriteBatch> {
        if playbook.name.is_empty() || playbook.name.chars().any(char::is_control) {
            return Err(Error::validation(
                "playbook name",
                format!("{:?} is empty or not printable", playbook.name),
            ));
        }
        if !self.store.segments()?.iter().any(|s| s.name == playbook.segment) {
            return Err(Error::NotFound { entity: "segment", key: playbook.segment.clone() });
        }
        let fields = self.store.field_schema()?;
        if let Some(c) = &playbook.condition {
            c.check(&fields)?;
        }
        let by_name: HashMap<String, crate::FieldDef> =
            fields.into_iter().map(|f| (f.name.clone(), f)).collect();
        for a in &playbook.actions {
            match a {
                Action::CreateTask { title, .. } if title.trim().is_empty() => {
                    return Err(Error::validation("task title", "is empty"));
                }
                Action::AddTag { tag } | Action::RemoveTag { tag } => {
                    validate_tag(tag)?;
                }
                Action::SetAttribute { field, value } => check_attribute(&by_name, field, value)?,
                Action::Emit { action, .. } if action.trim().is_empty() => {
                    return Err(Error::validation("action", "is empty"));
                }
                _ => {}
            }
        }
        let mut batch = WriteBatch::new();
        // The same definition again writes nothing.
        if !self.store.playbooks()?.contains(playbook) {
            batch.push(WriteOp::SavePlaybook(playbook.clone()));
        }
        Ok(batch)
    }

    /// Deletes a playbook.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::Crm::in_memory().delete_playbook("nope").is_err());
    /// ```
    pub fn delete_playbook(&self, name: &str) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.push(WriteOp::DeletePlaybook(name.to_owned()));
        self.store.apply(batch).map(drop)
    }

    /// Every playbook, by name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::Crm::in_memory().playbooks()?.is_empty());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn playbooks(&self) -> Result<Vec<Playbook>> {
        self.store.playbooks()
    }

    /// Creates a task by hand (a `task_created` event).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer};
    /// let crm = Crm::in_memory();
    /// let c = crm.create_customer(NewCustomer::person("A"))?;
    /// let t = crm.create_task(c.id, "Call back", 1, Some("sam"))?;
    /// assert_eq!(t.assignee.as_deref(), Some("sam"));
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn create_task(
        &self,
        customer: CustomerId,
        title: &str,
        due_in_days: u32,
        assignee: Option<&str>,
    ) -> Result<Task> {
        if title.trim().is_empty() {
            return Err(Error::validation("task title", "is empty"));
        }
        let now = self.now();
        let task = Task {
            id: TaskId::new(),
            customer,
            title: title.trim().to_owned(),
            due: now + TimeDelta::days(i64::from(due_in_days)),
            assignee: assignee.map(str::to_owned),
            status: TaskStatus::Open,
            created_at: now,
            completed_at: None,
            playbook: None,
        };
        let mut batch = WriteBatch::new();
        batch.push(WriteOp::PutTask(task.clone()));
        batch.push(event(
            now,
            customer,
            EventPayload::TaskCreated { task: Box::new(task.clone()) },
        ));
        self.commit(batch)?;
        Ok(task)
    }

    /// Marks a task done (a `task_completed` event); completing a done task changes nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::Crm::in_memory().complete_task(crmkit_core::TaskId::new()).is_err());
    /// ```
    pub fn complete_task(&self, id: TaskId) -> Result<Task> {
        let now = self.now();
        let (_, task) = self.commit_with(|| {
            let mut task = self
                .store
                .task(id)?
                .ok_or_else(|| Error::NotFound { entity: "task", key: id.to_string() })?;
            let mut batch = WriteBatch::new();
            if task.status == TaskStatus::Done {
                return Ok((batch, task));
            }
            task.status = TaskStatus::Done;
            task.completed_at = Some(now);
            batch.push(WriteOp::PutTask(task.clone()));
            batch.push(event(
                now,
                task.customer,
                EventPayload::TaskCompleted { task: Box::new(task.clone()) },
            ));
            Ok((batch, task))
        })?;
        Ok(task)
    }

    /// Tasks matching a query, by due date.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::Crm::in_memory().tasks(&crmkit_core::automation::TaskQuery::new())?.is_empty());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn tasks(&self, query: &TaskQuery) -> Result<Vec<Task>> {
        self.store.tasks(query)
    }

    /// Calls `f` with every event this engine writes, after each write commits. For delivery
    /// that survives restarts use a consumer cursor ([`Crm::poll_events`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
    /// let crm = crmkit_core::Crm::in_memory();
    /// let n = Arc::new(AtomicUsize::new(0));
    /// let k = n.clone();
    /// let _sub = crm.subscribe(move |_| { k.fetch_add(1, Ordering::SeqCst); });
    /// crm.create_customer(crmkit_core::NewCustomer::person("A"))?;
    /// assert_eq!(n.load(Ordering::SeqCst), 1);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn subscribe(&self, f: impl Fn(&Event) + Send + Sync + 'static) -> Subscription {
        let id = self.automation.next_subscriber.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut subs) = self.automation.subscribers.lock() {
            subs.push((id, Arc::new(f)));
        }
        Subscription { state: Arc::downgrade(&self.automation), id }
    }

    /// Events after a sequence number, oldest first.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::Crm::in_memory().events_after(0, 10)?.is_empty());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        self.store.events(after, limit)
    }

    /// The next events a named consumer has not acknowledged (at least once: until
    /// [`Crm::ack_events`], the same events come back).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer};
    /// let crm = Crm::in_memory();
    /// crm.create_customer(NewCustomer::person("A"))?;
    /// let batch = crm.poll_events("mailer", 100)?;
    /// assert_eq!(batch.len(), 1);
    /// assert_eq!(crm.poll_events("mailer", 100)?, batch); // not acknowledged yet
    /// crm.ack_events("mailer", batch[0].seq)?;
    /// assert!(crm.poll_events("mailer", 100)?.is_empty());
    /// assert_eq!(crm.poll_events("billing", 100)?.len(), 1); // consumers are independent
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn poll_events(&self, consumer: &str, limit: usize) -> Result<Vec<Event>> {
        let after = self.store.consumer_cursor(consumer)?;
        self.store.events(after, limit)
    }

    /// Acknowledges every event up to `seq` for a consumer.
    ///
    /// # Examples
    ///
    /// ```
    /// let crm = crmkit_core::Crm::in_memory();
    /// assert!(crm.ack_events("x", 5).is_err()); // there is no event 5
    /// ```
    pub fn ack_events(&self, consumer: &str, seq: u64) -> Result<()> {
        if consumer.trim().is_empty() {
            return Err(Error::validation("consumer", "is empty"));
        }
        let mut batch = WriteBatch::new();
        batch.push(WriteOp::Ack { consumer: consumer.to_owned(), seq });
        self.store.apply(batch).map(drop)
    }

    /// The last event a consumer acknowledged.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::Crm::in_memory().consumer_cursor("x")?, 0);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn consumer_cursor(&self, consumer: &str) -> Result<u64> {
        self.store.consumer_cursor(consumer)
    }
}
