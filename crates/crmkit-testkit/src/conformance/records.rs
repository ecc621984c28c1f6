//! Conformance checks of the record layer: revisions and conflicts, index queries and paging,
//! and atomicity with the other writes of a batch.

use std::ops::Bound;
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use crmkit_core::{
    CustomerId, Error, ErrorKind, Expected, IndexRange, IndexValue, NewRecord, Record,
    RecordCursor, RecordQuery, RecordType, Store, StoreExt, WriteBatch, WriteOp,
};
use rust_decimal::Decimal;
use serde_json::json;

use super::{base_time, expect_err, raw_customer};

fn put(record: NewRecord, expected: Expected) -> WriteOp {
    WriteOp::PutRecord { record, expected }
}

fn delete(kind: &str, id: &str, expected: Expected) -> WriteOp {
    WriteOp::DeleteRecord { kind: kind.into(), id: id.into(), expected }
}

fn apply(
    store: &Arc<dyn Store>,
    ops: Vec<WriteOp>,
) -> crmkit_core::Result<crmkit_core::BatchOutcome> {
    store.apply(WriteBatch { ops })
}

fn ids(records: &[Record]) -> Vec<&str> {
    records.iter().map(|r| r.id.as_str()).collect()
}

/// Every id a query returns, page by page with `limit` per page, and the number of pages.
fn all_pages(store: &Arc<dyn Store>, query: RecordQuery) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut pages = 0;
    let mut query = query;
    loop {
        let page = store.records(&query).unwrap();
        pages += 1;
        assert!(page.items.len() <= query.limit, "a page holds at most `limit` records");
        out.extend(page.items.iter().map(|r| r.id.clone()));
        match page.next {
            Some(cursor) => query = query.after(cursor),
            None => return (out, pages),
        }
        assert!(pages < 1000, "paging does not end");
    }
}

/// Records count revisions from 1; `Expected` is checked against the stored revision and a
/// mismatch is a typed conflict that names both; deletes need the record and its revision.
pub fn records_are_versioned_and_conflict(store: Arc<dyn Store>) {
    let deal = |name: &str| NewRecord::new("deal", "d-1", json!({ "name": name }));
    let o = apply(&store, vec![put(deal("first"), Expected::Absent)]).unwrap();
    assert_eq!(o.record_revisions, [1], "a new record has revision 1");
    let stored = store.record("deal", "d-1").unwrap().expect("the record is stored");
    assert_eq!((stored.kind.as_str(), stored.id.as_str(), stored.revision), ("deal", "d-1", 1));
    assert_eq!(stored.body, json!({"name": "first"}));

    let err = expect_err(
        apply(&store, vec![put(deal("again"), Expected::Absent)]),
        ErrorKind::Conflict,
        "creating a record that exists",
    );
    assert!(
        matches!(&err, Error::RecordConflict { expected: None, found: Some(1), .. }),
        "{err:?}"
    );
    let o = apply(&store, vec![put(deal("second"), Expected::Revision(1))]).unwrap();
    assert_eq!(o.record_revisions, [2]);
    let err = expect_err(
        apply(&store, vec![put(deal("stale"), Expected::Revision(1))]),
        ErrorKind::Conflict,
        "a write based on an old revision",
    );
    assert!(
        matches!(&err, Error::RecordConflict { expected: Some(1), found: Some(2), .. }),
        "{err:?}"
    );
    assert_eq!(store.record("deal", "d-1").unwrap().unwrap().body, json!({"name": "second"}));
    let o = apply(&store, vec![put(deal("any"), Expected::Any)]).unwrap();
    assert_eq!(o.record_revisions, [3], "Expected::Any writes whatever is stored");
    expect_err(
        apply(&store, vec![put(NewRecord::new("deal", "d-2", json!(1)), Expected::Revision(1))]),
        ErrorKind::Conflict,
        "expecting a revision of a record that does not exist",
    );

    // Kinds are separate namespaces.
    apply(&store, vec![put(NewRecord::new("case", "d-1", json!("a case")), Expected::Absent)])
        .unwrap();
    assert_eq!(store.record("case", "d-1").unwrap().unwrap().revision, 1);
    assert_eq!(store.record("deal", "d-1").unwrap().unwrap().revision, 3);
    assert_eq!(store.record("deal", "nope").unwrap(), None);

    // Deletes.
    expect_err(
        apply(&store, vec![delete("deal", "d-1", Expected::Revision(2))]),
        ErrorKind::Conflict,
        "deleting an old revision",
    );
    expect_err(
        apply(&store, vec![delete("deal", "d-1", Expected::Absent)]),
        ErrorKind::Validation,
        "a delete that expects no record",
    );
    apply(&store, vec![delete("deal", "d-1", Expected::Revision(3))]).unwrap();
    assert_eq!(store.record("deal", "d-1").unwrap(), None, "deleted");
    assert_eq!(store.record("case", "d-1").unwrap().unwrap().revision, 1, "the other kind stays");
    expect_err(
        apply(&store, vec![delete("deal", "d-1", Expected::Any)]),
        ErrorKind::NotFound,
        "deleting a deleted record",
    );
    let o = apply(&store, vec![put(deal("reborn"), Expected::Absent)]).unwrap();
    assert_eq!(o.record_revisions, [1], "a record created again starts over");

    // Names are checked.
    let long = "x".repeat(crmkit_core::store::MAX_RECORD_NAME + 1);
    for (record, what) in [
        (NewRecord::new("", "1", json!(null)), "an empty kind"),
        (NewRecord::new("deal", "", json!(null)), "an empty id"),
        (NewRecord::new("deal", long.as_str(), json!(null)), "an id over the limit"),
        (
            NewRecord::new("deal", "3", json!(null))
                .index("stage", IndexValue::Int(1))
                .index("stage", IndexValue::Int(2)),
            "an index given twice",
        ),
        (
            NewRecord::new("deal", "3", json!(null)).index("", IndexValue::Int(1)),
            "an empty index name",
        ),
    ] {
        expect_err(apply(&store, vec![put(record, Expected::Any)]), ErrorKind::Validation, what);
    }
    assert_eq!(store.record("deal", "3").unwrap(), None);
}

/// Queries by kind page in id order; queries by index return the records whose value lies in
/// the range, ordered by value then id, page by page without loss or repetition, and follow
/// every change of a record's index values.
pub fn records_query_by_kind_and_index(store: Arc<dyn Store>) {
    let t = base_time();
    // 25 deals: amounts -3..=21 as ints and as decimals (with equal values for paging by key),
    // a stage, a close date and time; every third has no `owner` index.
    let mut ops = Vec::new();
    for n in 0..25_i64 {
        let mut r = NewRecord::new("deal", format!("d-{n:02}"), json!({ "n": n }))
            .index("amount", IndexValue::Int(n - 3))
            .index("bucket", IndexValue::Int(n / 5))
            .index("value", IndexValue::Decimal(Decimal::new(n * 25 - 300, 2)))
            .index("stage", IndexValue::Text(if n % 2 == 0 { "open" } else { "won" }.into()))
            .index(
                "closes",
                IndexValue::Date(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + Duration::days(n)),
            )
            .index("touched", IndexValue::Time(t + Duration::minutes(n)));
        if n % 3 != 0 {
            r = r.index("owner", IndexValue::Text(format!("rep-{}", n % 2)));
        }
        ops.push(put(r, Expected::Absent));
    }
    // Another kind with the same index names must never show up.
    ops.push(put(
        NewRecord::new("case", "c-1", json!({})).index("amount", IndexValue::Int(5)),
        Expected::Absent,
    ));
    // A deal whose `amount` is text: an int range must not match it.
    ops.push(put(
        NewRecord::new("deal", "text-amount", json!({}))
            .index("amount", IndexValue::Text("5".into())),
        Expected::Absent,
    ));
    apply(&store, ops).unwrap();

    let expected_ids = |ns: &mut dyn Iterator<Item = i64>| -> Vec<String> {
        ns.map(|n| format!("d-{n:02}")).collect()
    };

    // By kind, in id order, 10 a page.
    let (all, pages) = all_pages(&store, RecordQuery::kind("deal").limit(10));
    let mut want = expected_ids(&mut (0..25));
    want.push("text-amount".into());
    assert_eq!((all, pages), (want, 3), "every deal by id, in 3 pages");
    assert_eq!(all_pages(&store, RecordQuery::kind("nothing")).0, Vec::<String>::new());

    // Equality.
    let open = store
        .records(&RecordQuery::kind("deal").equal("stage", IndexValue::Text("open".into())))
        .unwrap();
    assert_eq!(ids(&open.items), expected_ids(&mut (0..25).step_by(2)), "stage = open, by id");
    assert!(open.next.is_none());
    let (rep1, _) = all_pages(
        &store,
        RecordQuery::kind("deal").equal("owner", IndexValue::Text("rep-1".into())).limit(2),
    );
    assert_eq!(
        rep1,
        expected_ids(&mut (0..25).filter(|n| n % 3 != 0 && n % 2 == 1)),
        "records without the index are not in it"
    );

    // Ranges of ints, including negative values and both kinds of bound.
    let range = |name: &str, lower, upper| {
        RecordQuery::kind("deal").range(IndexRange { name: name.into(), lower, upper })
    };
    let int = IndexValue::Int;
    let q = range("amount", Bound::Included(int(-2)), Bound::Excluded(int(2)));
    assert_eq!(all_pages(&store, q.limit(1)).0, expected_ids(&mut (1..5)), "-2 <= amount < 2");
    let q = range("amount", Bound::Excluded(int(-2)), Bound::Included(int(2)));
    assert_eq!(all_pages(&store, q).0, expected_ids(&mut (2..6)), "-2 < amount <= 2");
    let q = range("amount", Bound::Included(int(19)), Bound::Unbounded);
    assert_eq!(all_pages(&store, q).0, expected_ids(&mut (22..25)), "amount >= 19 holds no text");
    let q = range("amount", Bound::Unbounded, Bound::Excluded(int(-1)));
    assert_eq!(all_pages(&store, q).0, expected_ids(&mut (0..2)), "amount < -1");
    let q = range("amount", Bound::Included(int(5)), Bound::Excluded(int(5)));
    assert!(store.records(&q).unwrap().items.is_empty(), "an empty range");
    let q = RecordQuery::kind("deal").equal("amount", IndexValue::Text("5".into()));
    assert_eq!(ids(&store.records(&q).unwrap().items), ["text-amount"]);

    // Equal keys page by id: bucket 1 is d-05..d-09, 2 a page.
    let q = RecordQuery::kind("deal").equal("bucket", int(1)).limit(2);
    assert_eq!(all_pages(&store, q), (expected_ids(&mut (5..10)), 3));
    let q = range("bucket", Bound::Included(int(1)), Bound::Included(int(2))).limit(3);
    assert_eq!(all_pages(&store, q).0, expected_ids(&mut (5..15)), "value, then id");

    // Decimals (-3.00 + n/4), dates and times.
    let dec = |s: &str| IndexValue::Decimal(s.parse().unwrap());
    let q = range("value", Bound::Included(dec("-0.5")), Bound::Included(dec("0.50")));
    assert_eq!(
        all_pages(&store, q).0,
        expected_ids(&mut (10..15)),
        "-0.5 <= value <= 0.5 (scale ignored)"
    );
    let day = |d| IndexValue::Date(NaiveDate::from_ymd_opt(2024, 1, d).unwrap());
    let q = range("closes", Bound::Included(day(30)), Bound::Unbounded);
    assert_eq!(all_pages(&store, q).0, Vec::<String>::new(), "no deal closes after Jan 25");
    let q = range("closes", Bound::Excluded(day(20)), Bound::Unbounded);
    assert_eq!(all_pages(&store, q).0, expected_ids(&mut (20..25)));
    let q = range(
        "touched",
        Bound::Included(IndexValue::Time(t + Duration::minutes(3))),
        Bound::Excluded(IndexValue::Time(t + Duration::minutes(5))),
    );
    assert_eq!(all_pages(&store, q).0, expected_ids(&mut (3..5)));

    // The stored index reads back typed and sorted by name.
    let r = store.record("deal", "d-04").unwrap().unwrap();
    let names: Vec<&str> = r.index.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["amount", "bucket", "closes", "owner", "stage", "touched", "value"]);
    assert_eq!(r.index_value("value"), Some(&dec("-2")));
    assert_eq!(r.index_value("owner"), Some(&IndexValue::Text("rep-0".into())));

    // Changing a record's index moves it; deleting removes it.
    apply(
        &store,
        vec![put(
            NewRecord::new("deal", "d-00", json!({}))
                .index("stage", IndexValue::Text("won".into())),
            Expected::Revision(1),
        )],
    )
    .unwrap();
    let q = RecordQuery::kind("deal").equal("stage", IndexValue::Text("open".into()));
    assert_eq!(
        all_pages(&store, q).0,
        expected_ids(&mut (2..25).step_by(2)),
        "d-00 left stage = open"
    );
    let q = range("amount", Bound::Unbounded, Bound::Excluded(int(-1)));
    assert_eq!(all_pages(&store, q).0, expected_ids(&mut (1..2)), "d-00 has no amount any more");
    apply(&store, vec![delete("deal", "d-01", Expected::Revision(1))]).unwrap();
    let q = RecordQuery::kind("deal").equal("stage", IndexValue::Text("won".into()));
    let mut want = vec!["d-00".to_string()];
    want.extend(expected_ids(&mut (3..25).step_by(2)));
    assert_eq!(all_pages(&store, q).0, want, "d-01 is gone from the index");

    // A cursor from before the range start is ignored; one past the end gives nothing.
    let q = range("amount", Bound::Included(int(10)), Bound::Excluded(int(12)))
        .after(RecordCursor { key: Some(int(-100).sort_key()), id: "zzz".into() });
    assert_eq!(all_pages(&store, q).0, expected_ids(&mut (13..15)));
    let q = RecordQuery::kind("deal").after(RecordCursor { key: None, id: "d-23".into() });
    assert_eq!(all_pages(&store, q).0, ["d-24", "text-amount"]);
}

/// Record writes share the batch's atomicity: a failing batch leaves records and their index as
/// they were, and a batch sees its own earlier record writes.
pub fn record_writes_are_atomic_with_other_writes(store: Arc<dyn Store>) {
    let t = base_time();
    let stage = |s: &str| IndexValue::Text(s.into());
    let deal =
        |s: &str| NewRecord::new("deal", "d-1", json!({ "stage": s })).index("stage", stage(s));
    apply(&store, vec![put(deal("lead"), Expected::Absent)]).unwrap();

    // A change and a creation, then an op that fails: nothing of it stays.
    let unknown = CustomerId::from_u128(99);
    let err = apply(
        &store,
        vec![
            put(deal("won"), Expected::Revision(1)),
            put(
                NewRecord::new("deal", "d-2", json!({})).index("stage", stage("won")),
                Expected::Absent,
            ),
            delete("deal", "d-1", Expected::Revision(2)),
            WriteOp::InsertCustomer(raw_customer(CustomerId::from_u128(1), "A", &[], t)),
            WriteOp::Audit(super::audit_record(unknown, t, "x")),
        ],
    );
    expect_err(err, ErrorKind::NotFound, "the batch's last op");
    let r = store.record("deal", "d-1").unwrap().expect("d-1 is still there");
    assert_eq!((r.revision, r.body.clone()), (1, json!({"stage": "lead"})));
    assert_eq!(store.record("deal", "d-2").unwrap(), None, "d-2 was not created");
    let lead = store.records(&RecordQuery::kind("deal").equal("stage", stage("lead"))).unwrap();
    assert_eq!(ids(&lead.items), ["d-1"], "the old index entry is back");
    let won = store.records(&RecordQuery::kind("deal").equal("stage", stage("won"))).unwrap();
    assert!(
        won.items.is_empty(),
        "no index entry of the failed batch stays: {:?}",
        ids(&won.items)
    );
    assert_eq!(store.stats().unwrap().customers, 0, "the customer was not inserted either");

    // A conflict in the middle refuses the whole batch too.
    let err = apply(
        &store,
        vec![
            put(NewRecord::new("deal", "d-3", json!({})), Expected::Absent),
            put(deal("proposal"), Expected::Revision(7)),
        ],
    );
    expect_err(err, ErrorKind::Conflict, "a stale revision after a creation");
    assert_eq!(store.record("deal", "d-3").unwrap(), None);

    // A batch sees its own writes: create, update and delete one record in one batch.
    let o = apply(
        &store,
        vec![
            put(NewRecord::new("deal", "d-4", json!(1)), Expected::Absent),
            put(NewRecord::new("deal", "d-4", json!(2)), Expected::Revision(1)),
            put(deal("proposal"), Expected::Revision(1)),
            delete("deal", "d-4", Expected::Revision(2)),
            put(NewRecord::new("deal", "d-4", json!(3)), Expected::Absent),
        ],
    )
    .unwrap();
    assert_eq!(o.record_revisions, [1, 2, 2, 1]);
    assert_eq!(store.record("deal", "d-4").unwrap().unwrap().body, json!(3));
    let r = store.record("deal", "d-1").unwrap().unwrap();
    assert_eq!(
        (r.decode::<serde_json::Value>().unwrap(), r.revision),
        (json!({"stage": "proposal"}), 2)
    );

    // A domain type round-trips through `NewRecord::of` and `StoreExt::typed_record`.
    let note = Note { id: "n-1".into(), topic: "renewal".into(), words: 3 };
    apply(&store, vec![put(NewRecord::of(&note).unwrap(), Expected::Absent)]).unwrap();
    assert_eq!(store.typed_record::<Note>("n-1").unwrap(), Some((note, 1)));
    let by_topic = store
        .all_records(RecordQuery::kind(Note::KIND).equal("topic", stage("renewal")).limit(1))
        .unwrap();
    assert_eq!(ids(&by_topic), ["n-1"]);
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Note {
    id: String,
    topic: String,
    words: u32,
}

impl RecordType for Note {
    const KIND: &'static str = "testkit:note";

    fn id(&self) -> String {
        self.id.clone()
    }

    fn index(&self) -> Vec<(String, IndexValue)> {
        vec![("topic".into(), IndexValue::Text(self.topic.clone()))]
    }
}
