//! Everything a store lets one observe, read through the `Store` trait, for comparisons.

use std::ops::Bound;

use crmkit_core::{
    AuditEntry, Customer, CustomerId, FieldDef, IndexRange, IndexValue, Interaction,
    PurchaseColumns, Record, RecordQuery, Store, StoreExt, StoreStats, TimeRange,
};

use crate::ops::{RECORD_KINDS, RECORD_STAGES};

/// Everything observable in a store, read through [`Store`] (and [`StoreExt`]).
///
/// Two snapshots are equal when the stores are indistinguishable through the trait: same
/// counts, customers, interactions, purchases, audit log and field schema. Because
/// `rust_decimal::Decimal`'s `==` ignores the scale (`0.10 == 0.1`), [`Snapshot::exact_text`]
/// also keeps a scale-sensitive text form of every value that holds a decimal.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, MemoryStore, NewCustomer};
/// use crmkit_testkit::Snapshot;
/// let crm = Crm::new(MemoryStore::new());
/// let before = Snapshot::of(crm.store().as_ref());
/// crm.create_customer(NewCustomer::person("Ada"))?;
/// assert_ne!(before, Snapshot::of(crm.store().as_ref()));
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// [`CustomerStore::stats`](crmkit_core::CustomerStore::stats).
    pub stats: StoreStats,
    /// [`StoreExt::all_customers`], ordered by id.
    pub customers: Vec<Customer>,
    /// Each customer's interactions over all time (ordered by time then id), in customer order.
    pub interactions: Vec<(CustomerId, Vec<Interaction>)>,
    /// [`CustomerStore::scan_purchases`](crmkit_core::CustomerStore::scan_purchases).
    pub purchases: PurchaseColumns,
    /// [`StoreExt::full_audit_log`].
    pub audit: Vec<AuditEntry>,
    /// [`CustomerStore::field_schema`](crmkit_core::CustomerStore::field_schema).
    pub schema: Vec<FieldDef>,
    /// Every record of each of [`RECORD_KINDS`], by id.
    pub records: Vec<Record>,
    /// Every object change (audit entry) as JSON, sorted: their record ids are random.
    pub object_changes: Vec<String>,
    /// The ids each index query (every stage; amount ranges) returns, read two a page.
    pub record_queries: Vec<(String, Vec<String>)>,
    /// Scale-sensitive text: every customer and interaction as JSON (decimals are strings that
    /// keep their scale) and every purchase amount's `to_string()`.
    pub exact_text: Vec<String>,
}

impl Snapshot {
    /// Reads everything from `store`; panics if a read fails or the store contradicts itself
    /// (stats that do not match what the listing methods return, a key that does not find the
    /// customer listed with it, audit sequence numbers that are not 1, 2, 3...).
    ///
    /// # Examples
    ///
    /// ```
    /// let snap = crmkit_testkit::Snapshot::of(&crmkit_core::MemoryStore::new());
    /// assert!(snap.customers.is_empty());
    /// ```
    pub fn of(store: &dyn Store) -> Snapshot {
        let stats = store.stats().expect("stats()");
        let customers = store.all_customers().expect("all_customers()");
        let mut interactions = Vec::with_capacity(customers.len());
        for c in &customers {
            let list =
                store.interactions(c.id, TimeRange::new()).expect("interactions(customer, all)");
            interactions.push((c.id, list));
        }
        let purchases = store.scan_purchases().expect("scan_purchases()");
        let audit = store.full_audit_log().expect("audit_log()");
        let schema = store.field_schema().expect("field_schema()");

        assert_eq!(
            stats.customers,
            customers.len() as u64,
            "stats().customers disagrees with the number of customers list_customers() returns"
        );
        let listed: usize = interactions.iter().map(|(_, l)| l.len()).sum();
        assert_eq!(
            stats.interactions, listed as u64,
            "stats().interactions disagrees with the interactions listed per customer"
        );
        for (id, list) in &interactions {
            assert!(
                list.iter().all(|i| i.customer == *id),
                "interactions({id}) returned another customer's interaction: {list:#?}"
            );
        }
        for c in &customers {
            for k in &c.identities {
                let owner = store.customer_by_key(k).expect("customer_by_key()");
                assert_eq!(
                    owner.as_ref(),
                    Some(c),
                    "customer_by_key({k}) does not return the customer listed with that key"
                );
                let owner_id = store.customer_id_by_key(k).expect("customer_id_by_key()");
                assert_eq!(
                    owner_id,
                    Some(c.id),
                    "customer_id_by_key({k}) does not return the customer listed with that key"
                );
            }
        }
        assert!(
            audit.iter().enumerate().all(|(n, e)| e.seq == n as u64 + 1),
            "audit sequence numbers are not 1, 2, 3...: {:?}",
            audit.iter().map(|e| e.seq).collect::<Vec<_>>()
        );

        let mut exact_text = Vec::new();
        for c in &customers {
            exact_text.push(serde_json::to_string(c).expect("customer to JSON"));
        }
        for (_, list) in &interactions {
            for i in list {
                exact_text.push(serde_json::to_string(i).expect("interaction to JSON"));
            }
        }
        exact_text.extend(purchases.amount.iter().map(|a| a.to_string()));

        let mut records = Vec::new();
        let mut record_queries = Vec::new();
        for kind in RECORD_KINDS {
            records
                .extend(store.all_records(RecordQuery::kind(*kind).limit(2)).expect("records()"));
            for (label, query) in index_queries(kind) {
                let found = store.all_records(query.limit(2)).expect("records() by index");
                record_queries.push((label, found.into_iter().map(|r| r.id).collect()));
            }
        }

        let mut object_changes: Vec<String> = store
            .all_records(RecordQuery::kind("object_change"))
            .expect("records() of object changes")
            .into_iter()
            .map(|r| {
                serde_json::json!({ "revision": r.revision, "body": r.body, "index": r.index })
                    .to_string()
            })
            .collect();
        object_changes.sort();

        Snapshot {
            object_changes,
            stats,
            customers,
            interactions,
            purchases,
            audit,
            schema,
            records,
            record_queries,
            exact_text,
        }
    }

    /// Asserts `self == other`, component by component, so that a failure says which part
    /// differs; `context` says what is being compared.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_testkit::Snapshot;
    /// let a = Snapshot::of(&crmkit_core::MemoryStore::new());
    /// let b = Snapshot::of(&crmkit_core::MemoryStore::new());
    /// a.assert_same(&b, "two empty stores");
    /// ```
    pub fn assert_same(&self, other: &Snapshot, context: &str) {
        assert_eq!(self.stats, other.stats, "{context}: stats() differ");
        assert_eq!(self.schema, other.schema, "{context}: field_schema() differs");
        assert_eq!(
            self.customers.len(),
            other.customers.len(),
            "{context}: number of customers differs"
        );
        for (a, b) in self.customers.iter().zip(&other.customers) {
            assert_eq!(a, b, "{context}: customer differs");
        }
        for (a, b) in self.interactions.iter().zip(&other.interactions) {
            assert_eq!(a, b, "{context}: interactions of customer {} differ", a.0);
        }
        assert_eq!(self.purchases, other.purchases, "{context}: scan_purchases() differs");
        assert_eq!(self.audit.len(), other.audit.len(), "{context}: audit log length differs");
        for (a, b) in self.audit.iter().zip(&other.audit) {
            assert_eq!(a, b, "{context}: audit entry differs");
        }
        assert_eq!(self.records, other.records, "{context}: records differ");
        assert_eq!(self.object_changes, other.object_changes, "{context}: object changes differ");
        assert_eq!(
            self.record_queries, other.record_queries,
            "{context}: records found by index differ"
        );
        assert_eq!(
            self.exact_text, other.exact_text,
            "{context}: values differ in their exact text (decimal scale?)"
        );
        assert_eq!(self, other, "{context}: snapshots differ");
    }
}

/// The index queries a snapshot runs on each record kind: every stage, and amount ranges.
fn index_queries(kind: &str) -> Vec<(String, RecordQuery)> {
    let mut out = Vec::new();
    for stage in RECORD_STAGES {
        let q = RecordQuery::kind(kind).equal("stage", IndexValue::Text((*stage).into()));
        out.push((format!("{kind} stage = {stage}"), q));
    }
    let amount = |lower, upper| {
        RecordQuery::kind(kind).range(IndexRange { name: "amount".into(), lower, upper })
    };
    let int = IndexValue::Int;
    out.push((format!("{kind} amount >= 0"), amount(Bound::Included(int(0)), Bound::Unbounded)));
    out.push((
        format!("{kind} -1 < amount <= 1"),
        amount(Bound::Excluded(int(-1)), Bound::Included(int(1))),
    ));
    out.push((format!("{kind} amount < 0"), amount(Bound::Unbounded, Bound::Excluded(int(0)))));
    out
}
