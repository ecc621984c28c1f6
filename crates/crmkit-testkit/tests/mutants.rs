//! The suite must catch broken stores: each mutant below is `MemoryStore` with one bug a real
//! backend could plausibly have, and the checks named for it (and, for some, the differential
//! test) must fail on it.

// Test code: the mutant store and the helpers outside `#[test]` functions fail by panicking.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use crmkit_core::{
    AuditEntry, BatchOutcome, Customer, CustomerId, CustomerQuery, FieldDef, IdentityKey,
    Interaction, MemoryStore, Page, PurchaseColumns, Result, Store, StoreStats, TimeRange,
    WriteBatch, WriteOp, prelude::*,
};
use crmkit_testkit::conformance;
use proptest::test_runner::{Config, RngSeed};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bug {
    /// No bug: the wrapper must pass everything.
    None,
    /// Time-range bounds truncated to microseconds before comparing.
    RangeBoundsTruncated,
    /// `name_contains` lower-cases ASCII only.
    AsciiCaseOnly,
    /// `name_contains` treats `_` as any character (an unescaped SQL LIKE).
    UnderscoreWildcard,
    /// A full last page still gets a `next`.
    NextOnFullPage,
    /// Batches applied write by write: no rollback, and readers see partial batches.
    NotAtomic,
    /// Purchase amounts lose their scale.
    AmountScaleLost,
    /// Identities come back in text order.
    IdentitiesInTextOrder,
    /// The expected revision is not checked.
    RevisionNotChecked,
    /// With a customer filter, `after` skips that many of the customer's entries.
    AuditAfterIsACount,
    /// `customer_id_by_key` answers from an index that never forgets a key.
    StaleKeyIndex,
    /// Idempotency keys are only checked against earlier batches, not within one.
    IdempotencyAcrossBatchesOnly,
    /// `due_checks` treats `until` as exclusive.
    DueBoundExclusive,
    /// A consumer's cursor is the last acknowledged number, even when that went back.
    CursorMovesBack,
    /// A membership row that is neither a member nor scheduled is kept.
    EmptyRowsKept,
    /// A skipped duplicate interaction still emits an `interaction_recorded` event.
    EventForSkippedDuplicate,
}

struct Mutant {
    inner: MemoryStore,
    bug: Bug,
    keys: Mutex<HashMap<IdentityKey, CustomerId>>,
    last_ack: Mutex<HashMap<String, u64>>,
}

impl Mutant {
    fn new(bug: Bug) -> Self {
        Mutant {
            inner: MemoryStore::new(),
            bug,
            keys: Mutex::new(HashMap::new()),
            last_ack: Mutex::new(HashMap::new()),
        }
    }
}

fn micros(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    crmkit_core::time::truncate_micros(t)
}

impl Store for Mutant {
    fn write(&self, work: crmkit_core::WriteWork<'_>) -> Result<BatchOutcome> {
        // Not serialised: the mutants are about what one batch does.
        let batch = work()?;
        self.apply(batch)
    }

    fn apply(&self, batch: WriteBatch) -> Result<BatchOutcome> {
        let mut batch = batch;
        match self.bug {
            Bug::NotAtomic => {
                let mut outcome = BatchOutcome::default();
                for op in batch.ops {
                    let o = self.inner.apply(WriteBatch { ops: vec![op] })?;
                    outcome.appended.extend(o.appended);
                    // Leave readers a window into the half-written batch.
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
                return Ok(outcome);
            }
            Bug::RevisionNotChecked => {
                for op in &mut batch.ops {
                    if let WriteOp::UpdateCustomer { customer, expected_revision } = op
                        && let Some(current) = self.inner.customer(customer.id)?
                    {
                        *expected_revision = current.revision;
                    }
                }
            }
            Bug::EmptyRowsKept => {
                for op in &mut batch.ops {
                    if let WriteOp::SetMembership(m) = op
                        && !m.is_stored()
                    {
                        // Kept as a row that looks scheduled far in the future.
                        m.next_check = Some(chrono::DateTime::<chrono::Utc>::MAX_UTC);
                    }
                }
            }
            Bug::EventForSkippedDuplicate => {
                let mut ops = Vec::new();
                for op in batch.ops {
                    if let WriteOp::AppendInteraction(i) = &op
                        && let Some(k) = &i.idempotency_key
                        && self.inner.idempotency_key_exists(k)?
                    {
                        ops.push(WriteOp::Emit(crmkit_core::store::interaction_event(
                            crmkit_core::InteractionId(0),
                            i,
                        )));
                    }
                    ops.push(op);
                }
                batch.ops = ops;
            }
            Bug::CursorMovesBack => {
                let acks: Vec<(String, u64)> = batch
                    .ops
                    .iter()
                    .filter_map(|op| match op {
                        WriteOp::Ack { consumer, seq } => Some((consumer.clone(), *seq)),
                        _ => None,
                    })
                    .collect();
                let outcome = self.inner.apply(batch)?;
                self.last_ack.lock().unwrap().extend(acks);
                return Ok(outcome);
            }
            Bug::IdempotencyAcrossBatchesOnly => {
                let mut seen = std::collections::HashSet::new();
                let mut outcome = BatchOutcome::default();
                // Apply duplicates-within-the-batch as if they were new: drop their keys.
                for op in &mut batch.ops {
                    if let WriteOp::AppendInteraction(i) = op
                        && let Some(k) = &i.idempotency_key
                        && !seen.insert(k.clone())
                    {
                        i.idempotency_key = None;
                    }
                }
                let o = self.inner.apply(batch)?;
                outcome.appended = o.appended;
                return Ok(outcome);
            }
            _ => {}
        }
        let inserted: Vec<Customer> = batch
            .ops
            .iter()
            .filter_map(|op| match op {
                WriteOp::InsertCustomer(c) | WriteOp::UpdateCustomer { customer: c, .. } => {
                    Some(c.clone())
                }
                _ => None,
            })
            .collect();
        let outcome = self.inner.apply(batch)?;
        let mut keys = self.keys.lock().unwrap();
        for c in inserted {
            for k in c.identities {
                keys.insert(k, c.id);
            }
        }
        Ok(outcome)
    }
}

impl CustomerStore for Mutant {
    fn customer(&self, id: CustomerId) -> Result<Option<Customer>> {
        let mut c = self.inner.customer(id)?;
        if self.bug == Bug::IdentitiesInTextOrder
            && let Some(c) = &mut c
        {
            c.identities.sort_by_key(|k| k.to_string());
        }
        Ok(c)
    }

    fn customer_by_key(&self, key: &IdentityKey) -> Result<Option<Customer>> {
        self.inner.customer_by_key(key)
    }

    fn customer_id_by_key(&self, key: &IdentityKey) -> Result<Option<CustomerId>> {
        if self.bug == Bug::StaleKeyIndex {
            return Ok(self.keys.lock().unwrap().get(key).copied());
        }
        self.inner.customer_id_by_key(key)
    }

    fn list_customers(&self, query: &CustomerQuery) -> Result<Page<Customer>> {
        let filtered_by_name = matches!(self.bug, Bug::AsciiCaseOnly | Bug::UnderscoreWildcard)
            && query.name_contains.is_some();
        if !filtered_by_name && self.bug != Bug::NextOnFullPage {
            return self.inner.list_customers(query);
        }
        // Re-implement on top of an unfiltered listing.
        let mut all = Vec::new();
        let mut q = CustomerQuery { name_contains: None, limit: 1000, ..query.clone() };
        loop {
            let page = self.inner.list_customers(&q)?;
            all.extend(page.items);
            match page.next {
                Some(n) => q.after = Some(n),
                None => break,
            }
        }
        if let Some(text) = &query.name_contains {
            all.retain(|c| match self.bug {
                Bug::AsciiCaseOnly => {
                    c.name.to_ascii_lowercase().contains(&text.to_ascii_lowercase())
                }
                Bug::UnderscoreWildcard => {
                    let (n, t) = (c.name.to_lowercase(), text.to_lowercase());
                    let (n, t): (Vec<char>, Vec<char>) = (n.chars().collect(), t.chars().collect());
                    t.len() <= n.len()
                        && (0..=n.len() - t.len())
                            .any(|s| t.iter().zip(&n[s..]).all(|(a, b)| *a == '_' || a == b))
                }
                _ => c.name.to_lowercase().contains(&text.to_lowercase()),
            });
        }
        let limit = query.limit.max(1);
        let full = all.len() >= limit;
        all.truncate(limit);
        let next = if full { all.last().map(|c| c.id) } else { None };
        Ok(Page { items: all, next })
    }

    fn interactions(&self, customer: CustomerId, range: TimeRange) -> Result<Vec<Interaction>> {
        if self.bug == Bug::RangeBoundsTruncated {
            let r = TimeRange { from: range.from.map(micros), to: range.to.map(micros) };
            return self.inner.interactions(customer, r);
        }
        self.inner.interactions(customer, range)
    }

    fn interactions_after(
        &self,
        after: crmkit_core::InteractionId,
        limit: usize,
    ) -> Result<Vec<Interaction>> {
        self.inner.interactions_after(after, limit)
    }

    fn idempotency_key_exists(&self, key: &str) -> Result<bool> {
        self.inner.idempotency_key_exists(key)
    }

    fn scan_purchases(&self) -> Result<PurchaseColumns> {
        let mut cols = self.inner.scan_purchases()?;
        if self.bug == Bug::AmountScaleLost {
            for a in &mut cols.amount {
                *a = a.normalize();
            }
        }
        Ok(cols)
    }

    fn audit_log(
        &self,
        customer: Option<CustomerId>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        if self.bug == Bug::AuditAfterIsACount
            && let Some(c) = customer
        {
            let all = self.inner.audit_log(Some(c), 0, usize::MAX)?;
            return Ok(all.into_iter().skip(after as usize).take(limit).collect());
        }
        self.inner.audit_log(customer, after, limit)
    }

    fn field_schema(&self) -> Result<Vec<FieldDef>> {
        self.inner.field_schema()
    }

    fn stats(&self) -> Result<StoreStats> {
        self.inner.stats()
    }
}

impl ValueStore for Mutant {
    fn model(&self, version: Option<u64>) -> Result<Option<crmkit_core::ModelRecord>> {
        self.inner.model(version)
    }

    fn score(&self, customer: CustomerId) -> Result<Option<crmkit_core::CustomerScore>> {
        self.inner.score(customer)
    }

    fn all_scores(&self) -> Result<Vec<crmkit_core::CustomerScore>> {
        self.inner.all_scores()
    }
}

impl AutomationStore for Mutant {
    fn segments(&self) -> Result<Vec<crmkit_core::automation::Segment>> {
        self.inner.segments()
    }

    fn playbooks(&self) -> Result<Vec<crmkit_core::automation::Playbook>> {
        self.inner.playbooks()
    }

    fn automation_revision(&self) -> Result<u64> {
        self.inner.automation_revision()
    }

    fn memberships(
        &self,
        customer: CustomerId,
    ) -> Result<Vec<crmkit_core::automation::Membership>> {
        self.inner.memberships(customer)
    }

    fn segment_rows(
        &self,
        segment: &str,
        after: Option<CustomerId>,
        limit: usize,
    ) -> Result<Vec<crmkit_core::automation::Membership>> {
        self.inner.segment_rows(segment, after, limit)
    }

    fn segment_sizes(&self) -> Result<Vec<(String, u64)>> {
        self.inner.segment_sizes()
    }

    fn due_checks(
        &self,
        until: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<crmkit_core::automation::Membership>> {
        if self.bug == Bug::DueBoundExclusive {
            return self.inner.due_checks(until - chrono::Duration::microseconds(1), limit);
        }
        self.inner.due_checks(until, limit)
    }

    fn tasks(
        &self,
        query: &crmkit_core::automation::TaskQuery,
    ) -> Result<Vec<crmkit_core::automation::Task>> {
        self.inner.tasks(query)
    }

    fn task(&self, id: crmkit_core::TaskId) -> Result<Option<crmkit_core::automation::Task>> {
        self.inner.task(id)
    }
}

impl OutboxStore for Mutant {
    fn events(&self, after: u64, limit: usize) -> Result<Vec<crmkit_core::automation::Event>> {
        self.inner.events(after, limit)
    }

    fn consumer_cursor(&self, consumer: &str) -> Result<u64> {
        if self.bug == Bug::CursorMovesBack {
            return Ok(self.last_ack.lock().unwrap().get(consumer).copied().unwrap_or(0));
        }
        self.inner.consumer_cursor(consumer)
    }
}

impl RecordStore for Mutant {
    fn record(&self, kind: &str, id: &str) -> Result<Option<crmkit_core::Record>> {
        self.inner.record(kind, id)
    }

    fn records(
        &self,
        query: &crmkit_core::RecordQuery,
    ) -> Result<Page<crmkit_core::Record, crmkit_core::RecordCursor>> {
        self.inner.records(query)
    }
}

fn fails(check: conformance::Check, bug: Bug) -> bool {
    catch_unwind(AssertUnwindSafe(|| check(Arc::new(Mutant::new(bug))))).is_err()
}

fn check_named(name: &str) -> conformance::Check {
    conformance::CHECKS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
        .unwrap_or_else(|| panic!("no check {name}"))
}

#[test]
fn every_mutant_is_caught() {
    let expectations: &[(Bug, &[&str], bool)] = &[
        (Bug::RangeBoundsTruncated, &["timestamps_are_truncated_to_micros"], true),
        (Bug::AsciiCaseOnly, &["list_customers_pages_and_filters"], true),
        (Bug::UnderscoreWildcard, &["list_customers_pages_and_filters"], true),
        (Bug::NextOnFullPage, &["list_customers_pages_and_filters"], true),
        (
            Bug::NotAtomic,
            &[
                "failed_batch_leaves_store_unchanged",
                "duplicate_identity_key_is_conflict",
                "stats_count_customers_and_interactions",
                "concurrent_readers_see_whole_batches",
            ],
            true,
        ),
        (Bug::AmountScaleLost, &["scan_purchases_columns"], true),
        (Bug::IdentitiesInTextOrder, &["customer_roundtrip"], true),
        (Bug::RevisionNotChecked, &["stale_revision_is_detected"], true),
        (Bug::AuditAfterIsACount, &["audit_log_paging"], true),
        (Bug::StaleKeyIndex, &["removed_identity_key_is_freed"], true),
        (
            Bug::IdempotencyAcrossBatchesOnly,
            &["idempotency_key_skips_duplicates", "batch_sees_its_own_earlier_writes"],
            true,
        ),
        // Automation writes are not in the differential generator; the checks must catch these.
        (Bug::DueBoundExclusive, &["membership_rows_and_schedule"], false),
        (Bug::CursorMovesBack, &["outbox_events_and_cursors"], false),
        (Bug::EmptyRowsKept, &["membership_rows_and_schedule"], false),
        (Bug::EventForSkippedDuplicate, &["outbox_events_and_cursors"], false),
    ];
    // The checks panic by design here; keep the output readable.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut missed = Vec::new();
    for (bug, checks, differential) in expectations {
        for name in *checks {
            if !fails(check_named(name), *bug) {
                missed.push(format!("{bug:?} passes {name}"));
            }
        }
        if *differential {
            let caught = catch_unwind(|| {
                // A fixed seed keeps this test deterministic.
                let config = Config {
                    cases: 64,
                    rng_seed: RngSeed::Fixed(20240501),
                    failure_persistence: None,
                    ..Config::default()
                };
                crmkit_testkit::ops::check_differential_with(
                    config,
                    || -> Arc<dyn Store> { Arc::new(MemoryStore::new()) },
                    || -> Arc<dyn Store> { Arc::new(Mutant::new(*bug)) },
                )
            })
            .is_err();
            if !caught {
                missed.push(format!("{bug:?} passes the differential test"));
            }
        }
        // The mutant is not flagged by checks about other things.
        let bystanders = ["lookup_by_identity_key"];
        for name in bystanders {
            if fails(check_named(name), *bug) && !checks.contains(&name) {
                missed.push(format!("{bug:?} unexpectedly fails {name}"));
            }
        }
    }
    std::panic::set_hook(hook);
    assert!(missed.is_empty(), "the suite misses mutants: {missed:#?}");
}

#[test]
fn the_wrapper_without_a_bug_passes_everything() {
    conformance::run_all(|| Arc::new(Mutant::new(Bug::None)));
    crmkit_testkit::ops::check_differential(
        16,
        || -> Arc<dyn Store> { Arc::new(MemoryStore::new()) },
        || -> Arc<dyn Store> { Arc::new(Mutant::new(Bug::None)) },
    );
}
