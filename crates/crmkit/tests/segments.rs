//! Segments and automation, end to end on both stores.
//!
//! The central property: after any sequence of writes and clock advances, the incrementally
//! maintained membership equals a full re-evaluation from scratch, and the enter/exit events
//! tell the same story as the stored membership.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use crmkit::automation::{Action, EventPayload, Playbook, Segment, TaskQuery};
use crmkit::{
    Crm, CustomerId, CustomerUpdate, ErrorKind, FixedClock, InteractionKind, LifecycleStage, Money,
    NewCustomer, NewInteraction, SqliteStore,
};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    "2024-01-01T00:00:00Z".parse().unwrap()
}

/// The segments every run defines: each kind of predicate, references, a manual list.
fn define_all(crm: &Crm) {
    for (name, rule) in [
        ("recent", "count(purchase, 30d) >= 1"),
        ("lapsed", "count(purchase) > 0 and days_since(purchase) > 45"),
        ("big", "sum(purchase, 90d) >= 100 USD"),
        ("vip", "tag \"vip\" or segment(\"big\")"),
        ("supported", "count(ticket_opened, 14d) >= 2"),
        ("vip-lapsed", "segment(\"vip\") and segment(\"lapsed\")"),
        ("emailed-soon", "count(email, 7d) >= 1 and not stage = customer"),
        ("gold-beta", "segment(\"beta\") and tag \"gold\""),
    ] {
        if name == "gold-beta" {
            crm.define_segment(Segment::manual("beta")).unwrap();
        }
        crm.define_segment(Segment::dynamic(name, rule).unwrap()).unwrap();
    }
    // Playbooks that change the customer, so that entries cascade into other segments.
    crm.define_playbook(
        Playbook::new("gild-vips", "vip").action(Action::AddTag { tag: "gold".into() }).action(
            Action::CreateTask { title: "Thank them".into(), due_in_days: 3, assignee: None },
        ),
    )
    .unwrap();
    crm.define_playbook(
        Playbook::new("unvip-lapsed", "lapsed").action(Action::RemoveTag { tag: "vip".into() }),
    )
    .unwrap();
}

#[derive(Debug, Clone)]
enum Op {
    Create { vip: bool, customer_stage: bool },
    Tag { who: usize, tag: &'static str, add: bool },
    Stage { who: usize, customer: bool },
    Record { who: usize, kind: u8, days: i64, cents: i64, key: Option<u8> },
    Manual { who: usize, add: bool },
    Advance { hours: i64, tick: bool },
    Redefine { threshold: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (any::<bool>(), any::<bool>()).prop_map(|(vip, customer_stage)| Op::Create { vip, customer_stage }),
        2 => (0..8usize, prop::sample::select(vec!["vip", "gold"]), any::<bool>())
            .prop_map(|(who, tag, add)| Op::Tag { who, tag, add }),
        1 => (0..8usize, any::<bool>()).prop_map(|(who, customer)| Op::Stage { who, customer }),
        5 => (0..8usize, 0..3u8, -120..10i64, 100..9000i64, prop::option::of(0..4u8))
            .prop_map(|(who, kind, days, cents, key)| Op::Record { who, kind, days, cents, key }),
        1 => (0..8usize, any::<bool>()).prop_map(|(who, add)| Op::Manual { who, add }),
        3 => (1..24 * 40i64, any::<bool>()).prop_map(|(hours, tick)| Op::Advance { hours, tick }),
        1 => (1..4u8).prop_map(|threshold| Op::Redefine { threshold }),
    ]
}

fn run(crm: &Crm, clock: &FixedClock, ops: &[Op]) {
    define_all(crm);
    let mut ids: Vec<CustomerId> = Vec::new();
    let pick = |ids: &[CustomerId], who: usize| (!ids.is_empty()).then(|| ids[who % ids.len()]);
    for (step, op) in ops.iter().enumerate() {
        let now = crm.now();
        match op {
            Op::Create { vip, customer_stage } => {
                let mut n = NewCustomer::person(format!("c{step}"));
                if *vip {
                    n = n.tag("vip");
                }
                if *customer_stage {
                    n = n.stage(LifecycleStage::Customer);
                }
                ids.push(crm.create_customer(n).unwrap().id);
            }
            Op::Tag { who, tag, add } => {
                if let Some(id) = pick(&ids, *who) {
                    let u = if *add {
                        CustomerUpdate::new().add_tag(*tag)
                    } else {
                        CustomerUpdate::new().remove_tag(*tag)
                    };
                    crm.update_customer(id, u).unwrap();
                }
            }
            Op::Stage { who, customer } => {
                if let Some(id) = pick(&ids, *who) {
                    let s = if *customer { LifecycleStage::Customer } else { LifecycleStage::Lead };
                    crm.update_customer(id, CustomerUpdate::new().stage(s)).unwrap();
                }
            }
            Op::Record { who, kind, days, cents, key } => {
                if let Some(id) = pick(&ids, *who) {
                    let at = now + TimeDelta::days(*days);
                    let kind = match kind {
                        0 => InteractionKind::Purchase {
                            total: Money::new(
                                rust_decimal::Decimal::new(*cents, 2),
                                "USD".parse().unwrap(),
                            ),
                            items: vec![],
                        },
                        1 => InteractionKind::TicketOpened {
                            ticket: format!("T{step}"),
                            subject: None,
                        },
                        _ => InteractionKind::Email {
                            direction: crmkit::Direction::Outbound,
                            subject: None,
                        },
                    };
                    let mut n = NewInteraction::new(id, at, kind);
                    if let Some(k) = key {
                        // A few shared keys: later records with the same key are duplicates.
                        n = n.idempotency_key(format!("k{k}"));
                    }
                    crm.record(n).unwrap();
                }
            }
            Op::Manual { who, add } => {
                if let Some(id) = pick(&ids, *who) {
                    if *add {
                        crm.add_to_segment("beta", id).unwrap();
                    } else {
                        crm.remove_from_segment("beta", id).unwrap();
                    }
                }
            }
            Op::Advance { hours, tick } => {
                clock.set(now + TimeDelta::hours(*hours));
                if *tick {
                    crm.advance_to(crm.now()).unwrap();
                }
            }
            Op::Redefine { threshold } => {
                let rule = format!("count(purchase, 30d) >= {threshold}");
                crm.define_segment(Segment::dynamic("recent", &rule).unwrap()).unwrap();
            }
        }
        // Between ticks the stored state may lag the clock; after one it must be exact.
        crm.advance_to(crm.now()).unwrap();
        let diff = crm.verify_segments().unwrap();
        assert!(diff.is_empty(), "after step {step} ({op:?}): {diff:?}");
    }
    check_events_agree(crm);
}

/// Replaying the enter/exit events gives the stored membership, and they alternate.
fn check_events_agree(crm: &Crm) {
    let mut state: BTreeMap<(String, CustomerId), bool> = BTreeMap::new();
    for e in crm.events_after(0, usize::MAX).unwrap() {
        let (seg, entered) = match &e.payload {
            EventPayload::SegmentEntered { segment, .. } => (segment.clone(), true),
            EventPayload::SegmentExited { segment, .. } => (segment.clone(), false),
            _ => continue,
        };
        let key = (seg, e.customer.unwrap());
        let was = state.insert(key.clone(), entered).unwrap_or(false);
        assert_ne!(was, entered, "event {} repeats the state of {key:?}", e.seq);
    }
    for s in crm.segments().unwrap() {
        let members = crm.segment_members(&s.name, None, usize::MAX).unwrap();
        let from_events: Vec<CustomerId> = state
            .iter()
            .filter(|((seg, _), m)| *seg == s.name && **m)
            .map(|((_, c), _)| *c)
            .collect();
        assert_eq!(members, from_events, "segment {}", s.name);
    }
}

fn memory_crm() -> (Crm, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new(t0()));
    (Crm::in_memory().with_clock(clock.clone()), clock)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn incremental_membership_equals_full_reevaluation_in_memory(ops in prop::collection::vec(op(), 1..40)) {
        let (crm, clock) = memory_crm();
        run(&crm, &clock, &ops);
    }

    #[test]
    fn incremental_membership_equals_full_reevaluation_on_sqlite(ops in prop::collection::vec(op(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::new(t0()));
        let crm = Crm::new(SqliteStore::open(dir.path().join("crm.db")).unwrap()).with_clock(clock.clone());
        run(&crm, &clock, &ops);
    }
}

#[test]
fn a_playbook_fires_once_per_entry_and_again_after_an_exit() {
    let (crm, _clock) = memory_crm();
    crm.define_segment(Segment::dynamic("vip", "tag \"vip\"").unwrap()).unwrap();
    crm.define_playbook(
        Playbook::new("welcome", "vip")
            .action(Action::CreateTask {
                title: "Call".into(),
                due_in_days: 2,
                assignee: Some("sam".into()),
            })
            .action(Action::Emit {
                action: "send_gift".into(),
                payload: serde_json::json!({"value": 10}),
            }),
    )
    .unwrap();
    let c = crm.create_customer(NewCustomer::person("Ada")).unwrap();
    let tasks = || crm.tasks(&TaskQuery::new().customer(c.id)).unwrap().len();
    crm.update_customer(c.id, CustomerUpdate::new().add_tag("vip")).unwrap();
    assert_eq!(tasks(), 1);
    // Still in the segment: an unrelated change does not re-fire.
    crm.update_customer(c.id, CustomerUpdate::new().name("Ada L.")).unwrap();
    assert_eq!(tasks(), 1);
    crm.update_customer(c.id, CustomerUpdate::new().remove_tag("vip")).unwrap();
    crm.update_customer(c.id, CustomerUpdate::new().add_tag("vip")).unwrap();
    assert_eq!(tasks(), 2);
    let t = &crm.tasks(&TaskQuery::new().customer(c.id)).unwrap()[0];
    assert_eq!((t.assignee.as_deref(), t.playbook.as_deref()), (Some("sam"), Some("welcome")));
    assert_eq!(t.due, crm.now() + TimeDelta::days(2));
    let actions: Vec<_> = crm
        .events_after(0, 1000)
        .unwrap()
        .into_iter()
        .filter(
            |e| matches!(&e.payload, EventPayload::Action { action, .. } if action == "send_gift"),
        )
        .collect();
    assert_eq!(actions.len(), 2);
}

#[test]
fn a_playbook_condition_gates_it() {
    let (crm, _clock) = memory_crm();
    crm.define_field(crmkit::FieldDef::new("seats", crmkit::FieldType::Integer)).unwrap();
    crm.define_segment(Segment::dynamic("vip", "tag \"vip\"").unwrap()).unwrap();
    crm.define_playbook(Playbook::new("big-vip", "vip").when("attr.seats >= 10").unwrap().action(
        Action::SetAttribute { field: "seats".into(), value: crmkit::AttributeValue::Integer(99) },
    ))
    .unwrap();
    let small = crm
        .create_customer(
            NewCustomer::person("S")
                .attribute("seats", crmkit::AttributeValue::Integer(2))
                .tag("vip"),
        )
        .unwrap();
    let big = crm
        .create_customer(
            NewCustomer::person("B")
                .attribute("seats", crmkit::AttributeValue::Integer(12))
                .tag("vip"),
        )
        .unwrap();
    assert_eq!(
        crm.customer(small.id).unwrap().attributes["seats"],
        crmkit::AttributeValue::Integer(2)
    );
    let big = crm.customer(big.id).unwrap();
    assert_eq!(big.attributes["seats"], crmkit::AttributeValue::Integer(99));
    // The playbook's change is audited under its name.
    let log = crm.audit_log(Some(big.id), 0, 100).unwrap();
    assert!(
        log.iter().any(|e| e.actor == "playbook:big-vip" && e.field == "attributes.seats"),
        "{log:?}"
    );
}

#[test]
fn enter_and_exit_events_say_which_predicate_flipped() {
    let (crm, clock) = memory_crm();
    crm.define_segment(
        Segment::dynamic("active", "count(purchase, 30d) >= 1 and not tag \"churned\"").unwrap(),
    )
    .unwrap();
    let c = crm.create_customer(NewCustomer::person("Ada")).unwrap();
    crm.record(NewInteraction::purchase(c.id, t0(), Money::parse("5", "USD").unwrap())).unwrap();
    clock.set(t0() + TimeDelta::days(31));
    assert_eq!(crm.advance_to(crm.now()).unwrap(), 1);
    let reasons: Vec<(String, Vec<String>, u64)> = crm
        .events_after(0, 1000)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.payload {
            EventPayload::SegmentEntered { reason, version, .. } => {
                Some(("entered".into(), reason, version))
            }
            EventPayload::SegmentExited { reason, version, .. } => {
                Some(("exited".into(), reason, version))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("entered".to_string(), vec!["count(purchase, 30d) >= 1 became true".to_string()], 1),
            ("exited".to_string(), vec!["count(purchase, 30d) >= 1 became false".to_string()], 1),
        ]
    );
}

#[test]
fn bad_rules_are_refused_precisely_and_change_nothing() {
    let (crm, _clock) = memory_crm();
    crm.define_field(crmkit::FieldDef::new("plan", crmkit::FieldType::String)).unwrap();
    crm.define_segment(Segment::dynamic("a", "tag \"x\"").unwrap()).unwrap();
    crm.define_segment(Segment::dynamic("b", "segment(\"a\")").unwrap()).unwrap();
    let revision = crm.store().automation_revision().unwrap();
    let cases: Vec<(&str, &str, &str)> = vec![
        (
            "s",
            "count(purchase, 30d) >=",
            "line 1, column 24: expected a value to compare with, found end of rule",
        ),
        ("s", "tag vip", "line 1, column 5: expected a quoted tag"),
        ("s", "p_alive < 0.3 and\n  (clv > 10 or", "line 2, column 15: expected a predicate"),
        ("s", "count(purchase, 30x) > 1", "expected a duration such as 90d or 4w, found `30x`"),
        ("s", "lifetime > 3", "line 1, column 1: unknown value `lifetime`"),
        ("s", "attr.plan > 3", "attr.plan is a text, and 3 is not one"),
        ("s", "attr.seats = 3", "attr.seats: no such field (declared: plan)"),
        ("s", "sum(email, 30d) > 3 USD", "only purchase and refund have amounts to sum"),
        (
            "s",
            "sum(purchase, 30d) > 3",
            "sum(purchase, 30d) is a money (e.g. 100 USD), and 3 is not one",
        ),
        ("s", "decile(clv) = 11", "deciles run 1 to 10"),
        ("s", "segment(\"nope\")", "segment(\"nope\"): no such segment"),
        ("a", "segment(\"b\")", "cycle: a → b → a"),
        ("s", "segment(\"s\")", "cycle: s → s"),
        ("s", "stage = 3", "stage is a lifecycle stage, and 3 is not one"),
        ("s", "stage < customer", "a lifecycle stage can only be compared with = or !="),
        ("s", "tag \"vip\" and", "line 1, column 14: expected a predicate"),
        ("s", "", "line 1, column 1: expected a rule, found end of rule"),
        (
            "s",
            "p_alive < 0.3 p_alive",
            "expected `and`, `or` or the end of the rule, found `p_alive`",
        ),
    ];
    for (name, rule, want) in cases {
        let err = Segment::dynamic(name, rule).and_then(|s| crm.define_segment(s)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation, "{rule}: {err}");
        assert!(err.to_string().contains(want), "{rule:?}: got `{err}`, want `{want}`");
    }
    assert_eq!(crm.store().automation_revision().unwrap(), revision, "nothing was written");
    assert_eq!(crm.segments().unwrap().len(), 2);
    assert_eq!(crm.segment("a").unwrap().rule.unwrap().to_string(), "tag \"x\"");
}

#[test]
fn consumers_read_at_least_once_and_independently_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.db");
    let crm = Crm::open(&path).unwrap();
    crm.define_segment(Segment::dynamic("vip", "tag \"vip\"").unwrap()).unwrap();
    let c = crm.create_customer(NewCustomer::person("Ada").tag("vip")).unwrap();
    let types: Vec<&str> =
        crm.poll_events("mailer", 10).unwrap().iter().map(|e| e.payload.type_name()).collect();
    assert_eq!(types, vec!["customer_created", "segment_entered"]);
    crm.ack_events("mailer", 1).unwrap();
    drop(crm);
    let crm = Crm::open(&path).unwrap();
    let left = crm.poll_events("mailer", 10).unwrap();
    assert_eq!((left.len(), left[0].seq, left[0].customer), (1, 2, Some(c.id)));
    assert_eq!(crm.poll_events("crm-sync", 10).unwrap().len(), 2);
    // A cursor never moves back; acknowledging beyond the end is an error.
    crm.ack_events("mailer", 2).unwrap();
    crm.ack_events("mailer", 1).unwrap();
    assert_eq!(crm.consumer_cursor("mailer").unwrap(), 2);
    assert_eq!(crm.ack_events("mailer", 3).unwrap_err().kind(), ErrorKind::Validation);
}

#[test]
fn scores_drive_segments_and_deciles_on_cdnow() {
    let clock = Arc::new(FixedClock::new("1998-07-01T00:00:00Z".parse().unwrap()));
    let crm = Crm::in_memory().with_clock(clock);
    let data =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/CDNOW_sample.txt"))
            .unwrap();
    let mapping = crmkit::InteractionMapping::new(crmkit::InputFormat::Whitespace)
        .has_header(false)
        .customer_key(crmkit::IdentityKind::External("cdnow".into()))
        .column(crmkit::InteractionField::Customer, "#2")
        .column(crmkit::InteractionField::Timestamp, "#3")
        .column(crmkit::InteractionField::Amount, "#5")
        .default_currency(crmkit::Currency::USD);
    crm.import_interactions(
        &data[..],
        &mapping,
        crmkit::ImportOptions::new("CDNOW_sample.txt").create_missing_customers(true),
    )
    .unwrap();
    crm.define_segment(Segment::dynamic("top-clv", "decile(clv) = 10").unwrap()).unwrap();
    crm.define_segment(
        Segment::dynamic("slipping", "p_alive < 0.3 and count(purchase) >= 3").unwrap(),
    )
    .unwrap();
    assert!(crm.segment_members("top-clv", None, 10).unwrap().is_empty(), "no scores yet");
    let report =
        crm.fit_value(&crmkit::ValueOptions::new("1998-07-01T00:00:00Z".parse().unwrap())).unwrap();
    let n = report.scores.len();
    let top = crm.segment_members("top-clv", None, usize::MAX).unwrap();
    // A tenth of the scored customers, give or take ties.
    assert!(top.len() * 10 >= n - 10 && top.len() * 10 <= n + 10, "{} of {n}", top.len());
    let min_top = top
        .iter()
        .map(|id| crm.store().score(*id).unwrap().unwrap().clv.unwrap())
        .fold(f64::INFINITY, f64::min);
    let above = report.scores.iter().filter(|s| s.clv.unwrap() > min_top).count();
    assert!(above < top.len(), "every customer above the cut is in the top decile");
    let slipping = crm.segment_members("slipping", None, usize::MAX).unwrap();
    for id in &slipping {
        let s = crm.store().score(*id).unwrap().unwrap();
        assert!(s.p_alive < 0.3);
    }
    assert!(crm.verify_segments().unwrap().is_empty());
    let changed = crm
        .events_after(0, usize::MAX)
        .unwrap()
        .iter()
        .filter(|e| e.payload.type_name() == "score_changed")
        .count();
    assert_eq!(changed, n);
}

#[test]
fn a_snapshot_is_taken_once_and_retaken_when_its_rule_changes() {
    let (crm, _clock) = memory_crm();
    let a = crm.create_customer(NewCustomer::person("A").tag("vip")).unwrap();
    let s = crm.define_segment(Segment::snapshot("vips-then", "tag \"vip\"").unwrap()).unwrap();
    assert_eq!(crm.segment_members("vips-then", None, 10).unwrap(), vec![a.id]);
    // Later changes do not move a snapshot.
    let b = crm.create_customer(NewCustomer::person("B").tag("vip")).unwrap();
    crm.update_customer(a.id, CustomerUpdate::new().remove_tag("vip")).unwrap();
    assert_eq!(crm.segment_members("vips-then", None, 10).unwrap(), vec![a.id]);
    assert!(crm.verify_segments().unwrap().is_empty(), "snapshots are not re-evaluated");
    // The same definition again changes nothing; a new rule is a new version, taken now.
    assert_eq!(
        crm.define_segment(Segment::snapshot("vips-then", "tag \"vip\"").unwrap()).unwrap().version,
        s.version
    );
    let s2 = crm
        .define_segment(Segment::snapshot("vips-then", "tag \"vip\" or name = \"A\"").unwrap())
        .unwrap();
    assert_eq!(s2.version, 2);
    let mut want = vec![a.id, b.id];
    want.sort();
    assert_eq!(crm.segment_members("vips-then", None, 10).unwrap(), want);
    assert!(
        crm.memberships(a.id).unwrap().iter().all(|m| m.next_check.is_none()),
        "never re-checked"
    );
}

#[test]
fn every_change_emits_its_typed_event() {
    let (crm, clock) = memory_crm();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let _sub = crm.subscribe(move |e| sink.lock().unwrap().push(e.clone()));
    let c = crm.create_customer(NewCustomer::person("Ada").email("ada@example.org")).unwrap();
    crm.update_customer(c.id, CustomerUpdate::new().stage(LifecycleStage::Customer)).unwrap();
    crm.record(
        NewInteraction::purchase(c.id, t0(), Money::parse("10.00", "EUR").unwrap())
            .idempotency_key("o-1"),
    )
    .unwrap();
    crm.record(
        NewInteraction::purchase(c.id, t0(), Money::parse("10.00", "EUR").unwrap())
            .idempotency_key("o-1"),
    )
    .unwrap(); // a duplicate: no event
    clock.set(t0() + TimeDelta::hours(1));
    let task = crm.create_task(c.id, "Call", 1, None).unwrap();
    crm.complete_task(task.id).unwrap();
    let events = seen.lock().unwrap().clone();
    let types: Vec<&str> = events.iter().map(|e| e.payload.type_name()).collect();
    assert_eq!(
        types,
        [
            "customer_created",
            "customer_updated",
            "stage_changed",
            "interaction_recorded",
            "task_created",
            "task_completed"
        ]
    );
    assert_eq!(events, crm.events_after(0, 100).unwrap(), "subscribers see what the outbox holds");
    match &events[1].payload {
        EventPayload::CustomerUpdated { before, after } => {
            assert_eq!(
                (before.stage.clone(), after.stage.clone()),
                (LifecycleStage::Prospect, LifecycleStage::Customer)
            );
            assert_eq!((before.revision, after.revision), (1, 2));
        }
        other => panic!("{other:?}"),
    }
    match &events[3].payload {
        EventPayload::InteractionRecorded { kind, amount, .. } => {
            assert_eq!(
                (kind.as_str(), amount.as_ref().unwrap().to_string()),
                ("purchase", "10.00 EUR".to_string())
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(events.iter().all(|e| e.customer == Some(c.id)));
    assert_eq!(events[4].at, t0() + TimeDelta::hours(1), "events carry the engine's clock");
}

#[test]
fn the_outbox_reads_cause_before_effect_when_a_playbook_changes_the_customer() {
    let (crm, _clock) = memory_crm();
    crm.define_segment(Segment::dynamic("buyers", "count(purchase) >= 1").unwrap()).unwrap();
    crm.define_playbook(
        Playbook::new("tag-buyers", "buyers").action(Action::AddTag { tag: "buyer".into() }),
    )
    .unwrap();
    let c = crm.create_customer(NewCustomer::person("Ada")).unwrap();
    let after = crm.events_after(0, 100).unwrap().last().unwrap().seq;
    crm.record(NewInteraction::purchase(c.id, t0(), Money::parse("1", "EUR").unwrap())).unwrap();
    let types: Vec<&str> =
        crm.events_after(after, 100).unwrap().iter().map(|e| e.payload.type_name()).collect();
    assert_eq!(types, ["interaction_recorded", "segment_entered", "customer_updated"]);
    let c = crm.customer(c.id).unwrap();
    assert!(c.tags.contains("buyer") && c.revision == 2);
}

#[test]
fn the_general_and_fast_paths_agree_on_windows() {
    use crmkit::rules::{Facts, InteractionFact, Rule, evaluate};
    let (crm, _clock) = memory_crm();
    let c = crm.create_customer(NewCustomer::person("A")).unwrap();
    let facts: Vec<InteractionFact> = [-40i64, -20, -3, 5]
        .iter()
        .map(|d| {
            InteractionFact::of_kind(
                "purchase",
                t0() + TimeDelta::days(*d),
                Some(Money::parse("10", "USD").unwrap()),
            )
        })
        .collect();
    let none = |_: &str| false;
    let f =
        Facts { customer: &c, interactions: &facts, score: None, deciles: None, segments: &none };
    // `in` goes through the general path, `=` through the fast one.
    for (general, fast) in [
        ("count(purchase, 30d) in (2)", "count(purchase, 30d) = 2"),
        ("sum(purchase, 30d) in (20 USD)", "sum(purchase, 30d) = 20 USD"),
        ("days_since(purchase) in (3)", "days_since(purchase) = 3"),
    ] {
        let g = evaluate(&Rule::parse(general).unwrap(), &f, t0());
        let q = evaluate(&Rule::parse(fast).unwrap(), &f, t0());
        assert_eq!((g.matched, g.next_check), (q.matched, q.next_check), "{general} vs {fast}");
        assert!(g.matched, "{general}");
    }
}
