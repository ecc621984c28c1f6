//! Kill an import with SIGKILL in the middle; the database must open cleanly and hold exactly the
//! batches that were committed, each whole, with their events in the outbox and the segment
//! membership they caused: an event whose change committed is delivered after the restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use crmkit::prelude::*;
use crmkit::{SqliteStore, StoreExt};

const BATCH: u64 = 500;

#[test]
fn sigkill_mid_import_loses_no_committed_batch_and_leaves_no_partial_one() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("big.csv");
    let db = dir.path().join("crm.db");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
        writeln!(f, "customer,timestamp,amount").unwrap();
        for i in 0..300_000u64 {
            writeln!(
                f,
                "c{}@example.org,2024-{:02}-{:02},{}.{:02}",
                i % 997,
                i % 12 + 1,
                i % 28 + 1,
                i % 300,
                i % 100
            )
            .unwrap();
        }
    }
    // A dynamic segment, so that each batch also writes membership rows and enter events.
    let defined = Command::new(env!("CARGO_BIN_EXE_crmkit"))
        .args(["--db", db.to_str().unwrap(), "segment", "create", "regulars"])
        .args(["--rule", "count(purchase) >= 3"])
        .output()
        .unwrap();
    assert!(defined.status.success(), "{}", String::from_utf8_lossy(&defined.stderr));
    let mut child = Command::new(env!("CARGO_BIN_EXE_crmkit"))
        .args(["--db", db.to_str().unwrap(), "import", "interactions", csv.to_str().unwrap()])
        .args(["--map", "amount=amount", "--currency", "EUR", "--create-customers", "--verbose"])
        .args(["--batch-size", &BATCH.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reported = 0u64;
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        // "committed batch N: R rows"
        if let Some(rows) = line.strip_suffix(" rows").and_then(|l| l.rsplit(' ').next()) {
            reported = rows.parse().unwrap();
        }
        if reported >= 5 * BATCH {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the import finished before it could be killed; make the file bigger"
    );
    assert!(reported >= 5 * BATCH, "saw only {reported} committed rows before the child ended");

    let store = SqliteStore::open(&db).unwrap();
    store.check_integrity().unwrap();
    let stored = store.stats().unwrap().interactions;
    assert!(stored >= reported, "{stored} stored < {reported} reported committed");
    assert_eq!(stored % BATCH, 0, "{stored} is not a whole number of batches");
    assert!(stored < 300_000, "the import was not interrupted");
    // Exactly the first `stored` lines of the file are there: derived keys start with the line number.
    let mut lines_seen: Vec<u64> = Vec::new();
    for c in store.all_customers().unwrap() {
        for i in store.interactions(c.id, Default::default()).unwrap() {
            let key = i.idempotency_key.unwrap();
            lines_seen.push(key.split(':').nth(1).unwrap().parse().unwrap());
        }
    }
    lines_seen.sort_unstable();
    assert_eq!(lines_seen, (2..stored + 2).collect::<Vec<u64>>());
    // The outbox holds exactly the events of the committed batches, numbered without gaps, and a
    // consumer that never saw them (the process died first) gets every one after the restart.
    let crm = crmkit::Crm::open(&db).unwrap();
    let events = crm.poll_events("after-crash", usize::MAX).unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=events.len() as u64).collect::<Vec<_>>()
    );
    let count = |t: &str| events.iter().filter(|e| e.payload.type_name() == t).count() as u64;
    assert_eq!(count("interaction_recorded"), stored);
    assert_eq!(count("customer_created"), store.stats().unwrap().customers);
    let members = crm.segment_members("regulars", None, usize::MAX).unwrap();
    assert!(!members.is_empty());
    assert_eq!(count("segment_entered"), members.len() as u64);
    assert!(crm.verify_segments().unwrap().is_empty(), "membership matches the committed data");
    // And the import can simply be run again to finish the job, writing each row once.
    let out = Command::new(env!("CARGO_BIN_EXE_crmkit"))
        .args(["--db", db.to_str().unwrap(), "import", "interactions", csv.to_str().unwrap()])
        .args(["--map", "amount=amount", "--currency", "EUR", "--create-customers"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(store.stats().unwrap().interactions, 300_000);
}
