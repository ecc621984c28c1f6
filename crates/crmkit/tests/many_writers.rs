//! Many writers on one SQLite file: 4 processes, and 4 threads with their own `Crm` handles,
//! writing purchases, tag changes and stage changes to the same customers while dynamic segments
//! (a window, a count, a segment of a segment) and a playbook are defined. Afterwards the stored
//! membership must equal a full re-evaluation, the playbook must have fired exactly once per
//! entry, and the outbox must be contiguous and read once, in order, from 0. Concurrent imports
//! that create the same new customers must all succeed and end as if run one after another.
//!
//! Four processes updating one user-defined object by read-modify-write with its revision lose
//! no update, and racing to create the same objects create each once.
//!
//! The processes are this test binary run again with `CRMKIT_WRITER` set (see `child`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use crmkit::automation::{Action, EventPayload, Playbook, Segment, TaskQuery};
use crmkit::objects::{
    NewObject, ObjectField, ObjectFieldType, ObjectTypeDef, ObjectUpdate, ObjectValue,
};
use crmkit::{
    Crm, CustomerUpdate, ErrorKind, FixedClock, ImportOptions, InputFormat, InteractionField as F,
    InteractionMapping, LifecycleStage, Money, NewCustomer, NewInteraction, StoreExt,
};

const CUSTOMERS: usize = 24;
const WRITERS: usize = 4;
const ROUNDS: usize = 3;

fn now() -> DateTime<Utc> {
    "2024-06-01T00:00:00Z".parse().unwrap()
}

fn open(path: &Path) -> Crm {
    Crm::open(path).unwrap().with_clock(Arc::new(FixedClock::new(now())))
}

fn email(i: usize) -> String {
    format!("c{i}@example.org")
}

fn setup(path: &Path) {
    let crm = open(path);
    for i in 0..CUSTOMERS {
        crm.create_customer(NewCustomer::person(format!("C{i}")).email(email(i))).unwrap();
    }
    crm.define_segment(Segment::dynamic("regular", "count(purchase) >= 3").unwrap()).unwrap();
    crm.define_segment(Segment::dynamic("recent", "count(purchase, 30d) >= 2").unwrap()).unwrap();
    crm.define_segment(
        Segment::dynamic("vip regular", "segment(\"regular\") and tag \"vip\"").unwrap(),
    )
    .unwrap();
    crm.define_playbook(Playbook::new("welcome-regular", "regular").action(Action::CreateTask {
        title: "Welcome a regular".into(),
        due_in_days: 2,
        assignee: None,
    }))
    .unwrap();
}

/// One writer's work: every round, for every customer, a purchase, a tag change and a stage
/// change, each a separate commit (so the writers interleave).
fn work(path: &Path, writer: usize) {
    let crm = open(path);
    for round in 0..ROUNDS {
        for i in 0..CUSTOMERS {
            let c = crm.lookup(&email(i)).unwrap();
            let at = now() - TimeDelta::days((10 * round + writer) as i64 + 1);
            crm.record(
                NewInteraction::purchase(c.id, at, Money::parse("10.00", "USD").unwrap())
                    .idempotency_key(format!("w{writer}-r{round}-c{i}")),
            )
            .unwrap();
            let tags = if (round + writer + i).is_multiple_of(2) {
                CustomerUpdate::new().add_tag("vip")
            } else {
                CustomerUpdate::new().remove_tag("vip")
            };
            crm.update_customer(c.id, tags).unwrap();
            let stage = if round.is_multiple_of(2) {
                LifecycleStage::Customer
            } else {
                LifecycleStage::Lead
            };
            crm.update_customer(c.id, CustomerUpdate::new().stage(stage)).unwrap();
        }
    }
}

/// The new customers of import `k`: overlapping with the other imports' (rows `k..k+12` of 16).
fn import_rows(k: usize) -> String {
    let mut csv = String::from("customer,timestamp,amount,currency\n");
    for j in k..k + 12 {
        csv.push_str(&format!("new{j}@example.org,2024-05-{:02}T10:00:00Z,5.00,EUR\n", j + 1));
    }
    csv
}

fn import(path: &Path, k: usize) {
    let crm = open(path);
    let mapping = InteractionMapping::new(InputFormat::Csv { delimiter: b',' })
        .column(F::Amount, "amount")
        .column(F::Currency, "currency");
    // Small batches, so that the imports interleave batch by batch.
    let options =
        ImportOptions::new(format!("import{k}.csv")).create_missing_customers(true).batch_size(3);
    crm.import_interactions(import_rows(k).as_bytes(), &mapping, options).unwrap();
}

const BUMPS: i64 = 15;

fn define_counter(path: &Path) {
    let crm = open(path);
    crm.define_object_type(
        ObjectTypeDef::new("counter").field(ObjectField::new("n", ObjectFieldType::Integer)),
    )
    .unwrap();
    crm.create_object("counter", NewObject::new().id("c").set("n", ObjectValue::Integer(0)))
        .unwrap();
}

/// Creates the shared objects (whoever comes first) and increments `c` `BUMPS` times, each
/// an update expecting the revision it read, retried on a conflict.
fn bump_objects(path: &Path) {
    let crm = open(path);
    for k in 0..3 {
        match crm.create_object("counter", NewObject::new().id(format!("shared-{k}"))) {
            Ok(_) => {}
            Err(e) => assert_eq!(e.kind(), ErrorKind::Conflict, "{e}"),
        }
    }
    for _ in 0..BUMPS {
        loop {
            let c = crm.object("counter", "c").unwrap().unwrap();
            let ObjectValue::Integer(n) = c.fields["n"] else { panic!("n is not an integer") };
            let update = ObjectUpdate::new()
                .set("n", ObjectValue::Integer(n + 1))
                .expect_revision(c.revision);
            match crm.update_object("counter", "c", update) {
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::Conflict => continue,
                Err(e) => panic!("{e}"),
            }
        }
    }
}

/// The child side: runs one writer's work when started by `spawn`, and nothing otherwise.
#[test]
fn child() {
    let (Ok(role), Ok(path)) = (std::env::var("CRMKIT_WRITER"), std::env::var("CRMKIT_DB")) else {
        return;
    };
    let path = Path::new(&path);
    match role.split_once(':') {
        Some(("work", n)) => work(path, n.parse().unwrap()),
        Some(("import", n)) => import(path, n.parse().unwrap()),
        Some(("objects", _)) => bump_objects(path),
        _ => panic!("unknown role {role}"),
    }
}

fn spawn(path: &Path, role: String) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads", "1"])
        .env("CRMKIT_WRITER", role)
        .env("CRMKIT_DB", path)
        .spawn()
        .unwrap()
}

fn run_processes(path: &Path, roles: Vec<String>) {
    let children: Vec<_> = roles.into_iter().map(|r| spawn(path, r)).collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a writer process failed");
    }
}

/// What must hold after any number of concurrent writers.
fn check(path: &Path) {
    let crm = open(path);
    assert_eq!(crm.verify_segments().unwrap(), vec![], "stored membership != re-evaluation");
    let stored = crm.recompute_memberships(now()).unwrap();
    assert_eq!(stored["regular"].len(), CUSTOMERS, "everyone bought at least 3 times");

    // The outbox: contiguous from 1, each event once and in order for a reader from 0.
    let mut events = Vec::new();
    loop {
        let page = crm.events_after(events.len() as u64, 97).unwrap();
        if page.is_empty() {
            break;
        }
        events.extend(page);
    }
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "outbox sequence has a gap or is out of order");
    }

    // Replaying the outbox gives the stored membership, and the playbook fired once per entry.
    let mut replayed: BTreeMap<&str, BTreeSet<crmkit::CustomerId>> = BTreeMap::new();
    let mut entries_regular = 0;
    for e in &events {
        match &e.payload {
            EventPayload::SegmentEntered { segment, .. } => {
                let fresh = replayed.entry(segment).or_default().insert(e.customer.unwrap());
                assert!(fresh, "{segment}: entered twice without leaving");
                entries_regular += usize::from(segment == "regular");
            }
            EventPayload::SegmentExited { segment, .. } => {
                let was = replayed.entry(segment).or_default().remove(&e.customer.unwrap());
                assert!(was, "{segment}: left without having entered");
            }
            _ => {}
        }
    }
    for (segment, members) in &stored {
        let empty = BTreeSet::new();
        assert_eq!(replayed.get(segment.as_str()).unwrap_or(&empty), members, "{segment}");
    }
    let tasks = crm.tasks(&TaskQuery::new()).unwrap();
    let fired = tasks.iter().filter(|t| t.playbook.as_deref() == Some("welcome-regular")).count();
    assert_eq!(fired, entries_regular, "the playbook fires exactly once per entry");
    assert_eq!(entries_regular, CUSTOMERS, "purchase counts only grow: one entry each");
}

#[test]
fn four_processes_keep_segments_playbooks_and_the_outbox_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.db");
    setup(&path);
    run_processes(&path, (0..WRITERS).map(|w| format!("work:{w}")).collect());
    check(&path);
    let crm = open(&path);
    assert_eq!(crm.store().stats().unwrap().interactions as usize, CUSTOMERS * WRITERS * ROUNDS);
}

#[test]
fn four_threads_with_their_own_handles_keep_segments_playbooks_and_the_outbox_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.db");
    setup(&path);
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let path = &path;
            s.spawn(move || work(path, w));
        }
    });
    check(&path);
}

#[test]
fn four_processes_updating_one_object_by_revision_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("objects.db");
    define_counter(&path);
    run_processes(&path, (0..WRITERS).map(|w| format!("objects:{w}")).collect());
    let crm = open(&path);
    let c = crm.object("counter", "c").unwrap().unwrap();
    let bumps = WRITERS as i64 * BUMPS;
    assert_eq!(c.fields["n"], ObjectValue::Integer(bumps), "no update was lost");
    assert_eq!(c.revision, 1 + bumps as u64);
    assert_eq!(crm.object_history("counter", "c").unwrap().len(), 1 + bumps as usize);
    for k in 0..3 {
        let history = crm.object_history("counter", &format!("shared-{k}")).unwrap();
        assert_eq!(history.len(), 1, "shared-{k} was created once");
    }
    let events = crm.events_after(0, 100_000).unwrap();
    let count = |t: &str| events.iter().filter(|e| e.payload.type_name() == t).count();
    assert_eq!((count("object_created"), count("object_updated")), (4, bumps as usize));
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>(), "the outbox is contiguous");
}

#[test]
fn concurrent_imports_creating_the_same_customers_end_as_if_run_one_after_another() {
    let dir = tempfile::tempdir().unwrap();
    let concurrent = dir.path().join("concurrent.db");
    let serial = dir.path().join("serial.db");
    open(&concurrent);
    run_processes(&concurrent, (0..WRITERS).map(|k| format!("import:{k}")).collect());
    for k in 0..WRITERS {
        import(&serial, k);
    }
    let summary = |path: &Path| {
        let crm = open(path);
        let mut per_customer: Vec<(String, usize)> = crm
            .store()
            .all_customers()
            .unwrap()
            .into_iter()
            .map(|c| {
                let n = crm.interactions(c.id, Default::default()).unwrap().len();
                (c.identities[0].to_string(), n)
            })
            .collect();
        per_customer.sort();
        per_customer
    };
    let got = summary(&concurrent);
    assert_eq!(got.len(), WRITERS + 11, "one customer per distinct key");
    assert_eq!(got, summary(&serial));
}
