use std::collections::BTreeMap;
use std::sync::Arc;
use crmkit_core::{MemoryStore, Store};
use crmkit_testkit::ops;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
#[test]
fn dbg() {
    let mut runner = TestRunner::deterministic();
    let strategy = ops::ops_strategy();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..300 {
        let ops = strategy.new_tree(&mut runner).unwrap().current();
        let m = || -> Arc<dyn Store> { Arc::new(MemoryStore::new()) };
        let results = ops::assert_same_behaviour(m(), m(), &ops);
        for (op, r) in ops.iter().zip(results) {
            let k = match op { ops::Op::CreateCustomer(_) => "create", ops::Op::UpdateCustomer(..) => "update", ops::Op::Record(_) => "record", _ => continue };
            if let Err(e) = r {
                let msg = e.to_string();
                let short: String = msg.chars().take(40).collect();
                *seen.entry(format!("{k}: {short}")).or_default() += 1;
            }
        }
    }
    let mut v: Vec<_> = seen.into_iter().collect();
    v.sort_by_key(|x| std::cmp::Reverse(x.1));
    for (k, n) in v.iter().take(25) { eprintln!("{n:5} {k}"); }
}
