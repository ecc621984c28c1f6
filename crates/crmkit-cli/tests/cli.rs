//! The `crmkit` command end to end, as a user runs it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

fn crmkit(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crmkit")).arg("--db").arg(db).args(args).output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn fails(out: Output) -> String {
    assert!(!out.status.success(), "should have failed: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn import_list_show_and_interactions() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crm.db");
    let people = dir.path().join("people.csv");
    std::fs::write(
        &people,
        "email,name,plan\nada@example.org,Ada Lovelace,pro\nbo@example.org,Bo,free\n",
    )
    .unwrap();
    ok(crmkit(&db, &["fields", "define", "plan", "string"]));
    let out = ok(crmkit(
        &db,
        &[
            "import",
            "customers",
            people.to_str().unwrap(),
            "--map",
            "key=email",
            "--map",
            "name=name",
            "--attr",
            "plan=plan",
        ],
    ));
    assert!(out.contains("2 customers created"), "{out}");

    let orders = dir.path().join("orders.jsonl");
    std::fs::write(
        &orders,
        "{\"who\": \"ada@example.org\", \"at\": \"2024-01-02T10:00:00Z\", \"total\": \"19.99\"}\n\
         {\"who\": \"ada@example.org\", \"at\": \"2024-02-02T10:00:00Z\", \"total\": \"5.01\"}\n",
    )
    .unwrap();
    let out = ok(crmkit(
        &db,
        &[
            "import",
            "interactions",
            orders.to_str().unwrap(),
            "--map",
            "customer=who",
            "--map",
            "timestamp=at",
            "--map",
            "amount=total",
            "--currency",
            "EUR",
        ],
    ));
    assert!(out.contains("2 interactions written"), "{out}");

    let list = ok(crmkit(&db, &["customers", "list", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    let shown = ok(crmkit(&db, &["customers", "show", "ADA@example.org"]));
    assert!(
        shown.contains("Ada Lovelace") && shown.contains("plan") && shown.contains("pro"),
        "{shown}"
    );
    let inter = ok(crmkit(&db, &["interactions", "email:ada@example.org", "--from", "2024-02-01"]));
    assert!(inter.contains("5.01 EUR") && !inter.contains("19.99"), "{inter}");
    let report = ok(crmkit(&db, &["report"]));
    assert!(report.contains("25.00 EUR"), "{report}");
}

#[test]
fn errors_are_readable_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crm.db");
    let err = fails(crmkit(&db, &["customers", "show", "nobody@example.org"]));
    assert!(err.contains("customer not found: email:nobody@example.org"), "{err}");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "customer,timestamp,amount\na@x.org,2024-01-01,1\nb@x.org,yesterday,2\n")
        .unwrap();
    let err = fails(crmkit(
        &db,
        &[
            "import",
            "interactions",
            bad.to_str().unwrap(),
            "--map",
            "amount=amount",
            "--currency",
            "USD",
            "--create-customers",
        ],
    ));
    assert!(err.contains("bad.csv, line 3, field `timestamp`"), "{err}");
    assert!(err.contains("\"yesterday\""), "{err}");
    // Nothing of the failing batch was written.
    let report = ok(crmkit(&db, &["report"]));
    assert!(report.contains("transactions                        0"), "{report}");
    // With --rejects the good row goes in and the bad one is explained.
    let rejects = dir.path().join("rejects.csv");
    ok(crmkit(
        &db,
        &[
            "import",
            "interactions",
            bad.to_str().unwrap(),
            "--map",
            "amount=amount",
            "--currency",
            "USD",
            "--create-customers",
            "--rejects",
            rejects.to_str().unwrap(),
        ],
    ));
    let r = std::fs::read_to_string(&rejects).unwrap();
    assert!(r.contains("3,timestamp,") && r.contains("yesterday"), "{r}");
    let err = fails(crmkit(&db, &["import", "interactions", "/no/such/file.csv"]));
    assert!(err.contains("/no/such/file.csv"), "{err}");
    let err = fails(crmkit(
        &db,
        &["import", "interactions", bad.to_str().unwrap(), "--map", "colour=blue"],
    ));
    assert!(err.contains("unknown field \"colour\""), "{err}");
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    // `crmkit report | head -1` must not panic when head closes the pipe.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crm.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_crmkit"))
        .arg("--db")
        .arg(&db)
        .arg("report")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // close the read end before the report is printed
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn fit_from_a_transaction_file_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("unused.db");
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/CDNOW_sample.txt");
    let out = ok(crmkit(
        &db,
        &[
            "fit",
            "--csv",
            sample,
            "--input-format",
            "whitespace",
            "--no-header",
            "--map",
            "customer=#2",
            "--map",
            "timestamp=#3",
            "--map",
            "amount=#5",
            "--as-of",
            "1997-09-30",
            "--format",
            "json",
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let p = &v["purchase_model"];
    assert_eq!(p["model"], "bgnbd");
    for (name, published) in [("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426)] {
        let value = p["parameters"][name]["value"].as_f64().unwrap();
        assert!((value - published).abs() < 5e-4, "{name} = {value}");
        assert!(p["parameters"][name]["standard_error"].as_f64().unwrap() > 0.0);
    }
    assert!((p["log_likelihood"].as_f64().unwrap() - -9582.43).abs() < 0.01, "{p}");
    assert_eq!(v["customers_scored"], 2357);
    assert!(!db.exists(), "--csv must not touch the database");
}

#[test]
fn fit_then_score_and_explain_from_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crm.db");
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/CDNOW_sample.txt");
    ok(crmkit(
        &db,
        &[
            "import",
            "interactions",
            sample,
            "--format",
            "whitespace",
            "--no-header",
            "--key",
            "external:cdnow",
            "--map",
            "customer=#2",
            "--map",
            "timestamp=#3",
            "--map",
            "amount=#5",
            "--currency",
            "USD",
            "--create-customers",
        ],
    ));
    let fit = ok(crmkit(&db, &["fit", "--as-of", "1997-09-30", "--model", "paretonbd"]));
    assert!(fit.contains("paretonbd") && fit.contains("gamma-gamma"), "{fit}");
    let top = ok(crmkit(&db, &["score", "--top", "5", "--as-of", "1997-09-30"]));
    assert!(top.contains("Top 5 customers by CLV"), "{top}");
    let explained = ok(crmkit(&db, &["score", "ext:cdnow:0001"]));
    assert!(explained.contains("P(alive)") && explained.contains("segment"), "{explained}");
    let err = fails(crmkit(&db, &["fit", "--model", "bgbd"]));
    assert!(err.contains("expected bgnbd, mbgnbd or paretonbd"), "{err}");
}

#[test]
fn segments_playbooks_tasks_and_events_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crm.db");
    let now = ["--now", "2024-03-01T00:00:00Z"];
    let run = |args: &[&str]| crmkit(&db, &[&now[..], args].concat());
    let orders = dir.path().join("orders.csv");
    std::fs::write(
        &orders,
        "customer,timestamp,amount\n\
         ada@example.org,2024-02-20,120.00\n\
         ada@example.org,2024-02-25,30.00\n\
         bo@example.org,2023-10-01,10.00\n",
    )
    .unwrap();
    ok(run(&[
        "import",
        "interactions",
        orders.to_str().unwrap(),
        "--map",
        "amount=amount",
        "--currency",
        "EUR",
        "--create-customers",
    ]));
    let out = ok(run(&["segment", "create", "big", "--rule", "sum(purchase, 30d) >= 100 EUR"]));
    assert!(out.contains("segment big (dynamic, version 1): 1 members"), "{out}");
    ok(run(&[
        "segment",
        "create",
        "lapsed",
        "--rule",
        "days_since(purchase) >= 90",
        "--description",
        "win back",
    ]));
    let out = ok(run(&[
        "playbook",
        "create",
        "thank",
        "--segment",
        "big",
        "--task",
        "Say thanks",
        "--assignee",
        "sam",
        "--emit",
        "send_card",
    ]));
    assert!(out.contains("playbook thank on segment big: 2 actions"), "{out}");
    let out = ok(run(&["segment", "list"]));
    assert!(out.contains("lapsed") && out.contains("days_since(purchase) >= 90"), "{out}");
    let out = ok(run(&["segment", "members", "lapsed"]));
    assert!(out.contains("email:bo@example.org") && !out.contains("ada"), "{out}");
    let out = ok(run(&["segment", "explain", "big", "ada@example.org"]));
    assert!(
        out.contains("is a member of big") && out.contains("[x] sum(purchase, 30d) >= 100 EUR"),
        "{out}"
    );
    assert!(out.contains("time alone can change this on 2024-03-21"), "{out}");
    // Bo buys big: enters `big`, the playbook makes a task; leaves `lapsed`.
    let more = dir.path().join("more.csv");
    std::fs::write(&more, "customer,timestamp,amount\nbo@example.org,2024-02-29,500.00\n").unwrap();
    ok(run(&[
        "import",
        "interactions",
        more.to_str().unwrap(),
        "--map",
        "amount=amount",
        "--currency",
        "EUR",
    ]));
    let out = ok(run(&["tasks", "list", "--assignee", "sam"]));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains("email:bo@example.org")
            && out.contains("Say thanks")
            && out.contains("due 2024-03-04"),
        "{out}"
    );
    let out = ok(run(&["events", "tail", "--type", "segment_exited"]));
    assert!(out.contains("lapsed: days_since(purchase) >= 90 became false"), "{out}");
    let out = ok(run(&[
        "events",
        "tail",
        "--consumer",
        "mailer",
        "--ack",
        "--limit",
        "1000",
        "--format",
        "json",
    ]));
    assert!(out.lines().count() > 5 && out.contains("\"type\":\"action\""), "{out}");
    assert_eq!(ok(run(&["events", "tail", "--consumer", "mailer"])), "", "acknowledged");
    // Time passes: Ada leaves `big` when her purchases leave the 30-day window.
    let out = ok(crmkit(&db, &["--now", "2024-03-27T00:00:00Z", "advance"]));
    assert!(out.starts_with("re-checked "), "{out}");
    let out = ok(crmkit(&db, &["--now", "2024-03-27T00:00:00Z", "segment", "verify"]));
    assert!(out.contains("matches"), "{out}");
    let out = ok(crmkit(&db, &["--now", "2024-03-27T00:00:00Z", "segment", "members", "big"]));
    assert!(!out.contains("ada") && out.contains("bo@example.org"), "{out}");
    // Manual lists and errors.
    ok(run(&["segment", "create", "beta", "--kind", "manual"]));
    assert_eq!(ok(run(&["segment", "add", "beta", "ada@example.org"])).trim(), "added");
    let err = fails(run(&["segment", "add", "big", "ada@example.org"]));
    assert!(err.contains("only manual segments are changed by hand"), "{err}");
    let err = fails(run(&["segment", "create", "bad", "--rule", "count(purchase, 30d) >"]));
    assert!(err.contains("rule, line 1, column 23: expected a value to compare with"), "{err}");
    let err = fails(run(&["segment", "delete", "big"]));
    assert!(err.contains("playbook \"thank\" acts on it"), "{err}");
    let err = fails(run(&["events", "tail", "--ack"]));
    assert!(err.contains("--ack needs --consumer"), "{err}");
}

#[test]
fn user_defined_objects_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.db");
    let csv = dir.path().join("people.csv");
    std::fs::write(&csv, "email,name\nada@example.org,Ada\n").unwrap();
    ok(crmkit(
        &db,
        &["import", "customers", csv.to_str().unwrap(), "--map", "key=email", "--map", "name=name"],
    ));
    let out = ok(crmkit(
        &db,
        &[
            "objects",
            "define",
            "invoice",
            "--field",
            "number:string:required:indexed",
            "--field",
            "total:decimal:indexed",
            "--field",
            "due:date",
            "--field",
            "customer:customer",
        ],
    ));
    assert!(out.contains("object type invoice defined (revision 1, 4 fields)"), "{out}");
    for (n, total) in [(1, "49.90"), (2, "120.00"), (3, "7.5")] {
        let number = format!("number=INV-{n}");
        let total = format!("total={total}");
        let out = ok(crmkit(
            &db,
            &[
                "objects",
                "create",
                "invoice",
                "--id",
                &format!("inv-{n}"),
                "--set",
                &number,
                "--set",
                &total,
                "--set",
                "customer=ada@example.org",
                "--set",
                "due=2024-06-30",
            ],
        ));
        assert!(out.contains(&format!("created invoice inv-{n} (revision 1)")), "{out}");
    }
    // By an indexed field; decimals keep their scale; a range in value order.
    let out = ok(crmkit(&db, &["objects", "list", "invoice", "--where", "number=INV-2"]));
    assert!(out.contains("inv-2") && out.contains("120.00") && !out.contains("inv-1"), "{out}");
    let out =
        ok(crmkit(&db, &["objects", "list", "invoice", "--min", "total=10", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> =
        v["items"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["inv-1", "inv-2"], "total >= 10 by value: 49.90 then 120.00");
    // Paging: one a page, follow the printed cursor.
    let first =
        ok(crmkit(&db, &["objects", "list", "invoice", "--max", "total=100", "--limit", "1"]));
    let cursor = first
        .lines()
        .find_map(|l| l.strip_prefix("(more: --after "))
        .unwrap()
        .trim_end_matches(')');
    assert!(first.contains("inv-3") && !first.contains("inv-1"), "7.5 comes first: {first}");
    let second = ok(crmkit(
        &db,
        &["objects", "list", "invoice", "--max", "total=100", "--limit", "1", "--after", cursor],
    ));
    assert!(second.contains("inv-1") && second.contains("(1 objects)"), "{second}");
    // Update with the right and a stale revision; unset; history.
    ok(crmkit(
        &db,
        &["objects", "update", "invoice", "inv-1", "--set", "total=59.90", "--revision", "1"],
    ));
    let stale = fails(crmkit(
        &db,
        &["objects", "update", "invoice", "inv-1", "--unset", "due", "--revision", "1"],
    ));
    assert!(stale.contains("revision"), "{stale}");
    let out = ok(crmkit(&db, &["objects", "show", "invoice", "inv-1", "--history"]));
    assert!(out.contains("total: 49.90 -> 59.90") && out.contains("by cli"), "{out}");
    // Bad input names the field.
    let bad = fails(crmkit(
        &db,
        &["objects", "create", "invoice", "--set", "number=X", "--set", "total=lots"],
    ));
    assert!(bad.contains("invoice.total"), "{bad}");
    let bad = fails(crmkit(&db, &["objects", "create", "invoice", "--set", "total=1"]));
    assert!(bad.contains("invoice.number: is required"), "{bad}");
    let bad = fails(crmkit(&db, &["objects", "list", "invoice", "--where", "due=2024-06-30"]));
    assert!(bad.contains("is not indexed"), "{bad}");
    let bad = fails(crmkit(
        &db,
        &[
            "objects",
            "create",
            "invoice",
            "--set",
            "number=X",
            "--set",
            "customer=nobody@example.org",
        ],
    ));
    assert!(bad.contains("not found"), "{bad}");
    // Delete; the events are in the outbox.
    ok(crmkit(&db, &["objects", "delete", "invoice", "inv-3"]));
    let out = ok(crmkit(&db, &["objects", "list", "invoice"]));
    assert!(out.contains("(2 objects)"), "{out}");
    let events = ok(crmkit(&db, &["events", "tail", "--format", "json"]));
    for t in ["object_created", "object_updated", "object_deleted"] {
        assert!(events.contains(t), "{t} in {events}");
    }
    let types = ok(crmkit(&db, &["objects", "types"]));
    assert!(
        types.contains("number:string:required:indexed")
            && types.contains("customer:customer:indexed"),
        "{types}"
    );
}
