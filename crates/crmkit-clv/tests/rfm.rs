//! RFM scores and segment schemes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeSet;

use crmkit_clv::ClvError;
use crmkit_clv::rfm::{
    Cell, MAX_SCORE, RfmScores, Rule, Scheme, quantile_scores, rfm_scores, segment, segment_names,
    segment_sizes,
};
use crmkit_clv::summary::{MICROS_PER_DAY, SummaryOptions, TimeUnit, summary};
use proptest::prelude::*;

// ------------------------------------------------------------------ scores

#[test]
fn tie_rule_lowest_rank_then_quantile_bin() {
    // n = 10, distinct: ranks 0..9 → 1 + floor(5·rank/10) = 1,1,2,2,3,3,4,4,5,5.
    let v: Vec<f64> = (0..10).map(f64::from).collect();
    assert_eq!(quantile_scores(&v, 5).unwrap(), vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    // Ties share the lowest rank: six zeros (rank 0), then ranks 6, 7, 8, 9.
    let v = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 3.0];
    assert_eq!(quantile_scores(&v, 5).unwrap(), vec![1, 1, 1, 1, 1, 1, 4, 4, 5, 5]);
    // All equal: everyone scores 1. One customer: 1.
    assert_eq!(quantile_scores(&[7.0; 4], 5).unwrap(), vec![1; 4]);
    assert_eq!(quantile_scores(&[7.0], 5).unwrap(), vec![1]);
    assert!(quantile_scores(&[], 5).unwrap().is_empty());
    // Other bin counts.
    assert_eq!(quantile_scores(&[1.0, 2.0, 3.0, 4.0], 2).unwrap(), vec![1, 1, 2, 2]);
    assert_eq!(quantile_scores(&[1.0, 2.0, 3.0], 1).unwrap(), vec![1, 1, 1]);
    // Float noise does not split ties.
    let a = 272.0 / 7.0 - 213.0 / 7.0;
    let b = 59.0 / 7.0;
    assert_eq!(quantile_scores(&[a, b], 5).unwrap()[0], quantile_scores(&[a, b], 5).unwrap()[1]);
}

#[test]
fn score_errors() {
    let e = quantile_scores(&[1.0, f64::NAN], 5).unwrap_err();
    assert!(e.to_string().contains("value at row 1"), "{e}");
    assert!(matches!(quantile_scores(&[1.0], 0).unwrap_err(), ClvError::InvalidParameter { .. }));
    let e = rfm_scores(&[0.0], &[0.0, 1.0], &[1.0], &[0.0]).unwrap_err();
    assert!(matches!(e, ClvError::LengthMismatch { .. }), "{e}");
    let e = rfm_scores(&[1.0, 1.0], &[2.0, 5.0], &[3.0, 4.0], &[1.0, 1.0]).unwrap_err();
    assert!(e.to_string().contains("recency at row 1"), "{e}");
    let e = rfm_scores(&[1.0], &[0.0], &[1.0], &[f64::INFINITY]).unwrap_err();
    assert!(e.to_string().contains("monetary at row 0"), "{e}");
}

#[test]
fn recency_scores_days_since_last_purchase() {
    // Same recency (t_x) but different T: the one who bought more recently scores higher.
    let s = rfm_scores(&[1.0, 1.0], &[10.0, 10.0], &[40.0, 11.0], &[5.0, 5.0]).unwrap();
    assert!(s.r[1] > s.r[0]);
    // Larger recency at the same T = more recent.
    let s = rfm_scores(&[1.0, 1.0], &[2.0, 30.0], &[40.0, 40.0], &[5.0, 5.0]).unwrap();
    assert!(s.r[1] > s.r[0]);
}

fn arb_values() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(prop_oneof![(0u32..6).prop_map(f64::from), -1e6f64..1e6], 1..80)
}

proptest! {
    #[test]
    fn scores_are_monotone_tie_consistent_and_in_range(v in arb_values(), bins in 1u8..10) {
        let s = quantile_scores(&v, bins).unwrap();
        for i in 0..v.len() {
            prop_assert!(s[i] >= 1 && s[i] <= bins);
            for j in 0..v.len() {
                if v[i] == v[j] { prop_assert_eq!(s[i], s[j]); }
                if v[i] < v[j] { prop_assert!(s[i] <= s[j]); }
            }
            // The definition, by brute force.
            let rank = v.iter().filter(|&&x| x < v[i]).count();
            prop_assert_eq!(usize::from(s[i]), 1 + usize::from(bins) * rank / v.len());
        }
        // The lowest value always scores 1.
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        prop_assert!(v.iter().zip(&s).all(|(&x, &sc)| x != min || sc == 1));
    }

    #[test]
    fn scores_do_not_depend_on_order(v in arb_values(), rot in 0usize..80) {
        let s = quantile_scores(&v, 5).unwrap();
        let k = rot % v.len();
        let mut w = v.clone();
        w.rotate_left(k);
        let mut t = quantile_scores(&w, 5).unwrap();
        t.rotate_right(k);
        prop_assert_eq!(s, t);
    }
}

// ------------------------------------------------------------------ schemes

#[test]
fn default_scheme_covers_every_cell_exactly_once() {
    let scheme = Scheme::default();
    let report = scheme.report();
    assert_eq!(report.cells, 25);
    assert!(report.is_partition(), "{report}");
    assert!(
        report.unreachable.is_empty() && report.overlaps.is_empty() && report.uncovered.is_empty()
    );
    assert!(!scheme.uses_m());
    // By brute force: each cell matched by exactly one rule, and every rule used.
    let mut used = BTreeSet::new();
    for r in 1..=MAX_SCORE {
        for f in 1..=MAX_SCORE {
            let hits: Vec<usize> =
                (0..scheme.rules().len()).filter(|&k| scheme.rules()[k].matches(r, f, 1)).collect();
            assert_eq!(hits.len(), 1, "R{r} F{f}: {hits:?}");
            assert_eq!(scheme.classify(r, f, 3), Some(hits[0]));
            used.insert(hits[0]);
        }
    }
    assert_eq!(used.len(), 10);
    // The grid, row by row (R5 at the top), as in the usual picture.
    let name = |r, f| scheme.names()[scheme.classify(r, f, 1).unwrap()];
    let expected = [
        (
            5,
            [
                "new customers",
                "potential loyalists",
                "potential loyalists",
                "champions",
                "champions",
            ],
        ),
        (
            4,
            [
                "promising",
                "potential loyalists",
                "potential loyalists",
                "loyal customers",
                "loyal customers",
            ],
        ),
        (
            3,
            [
                "about to sleep",
                "about to sleep",
                "need attention",
                "loyal customers",
                "loyal customers",
            ],
        ),
        (2, ["hibernating", "hibernating", "at risk", "at risk", "can't lose them"]),
        (1, ["hibernating", "hibernating", "at risk", "at risk", "can't lose them"]),
    ];
    for (r, row) in expected {
        for (f, want) in (1..=5).zip(row) {
            assert_eq!(name(r, f), want, "R{r} F{f}");
        }
    }
    assert!(Scheme::strict(scheme.rules().to_vec()).is_ok());
}

/// The widely copied 11-segment R/F/M table, in its usual order.
fn eleven_segment_rules() -> Vec<Rule> {
    vec![
        Rule::new("Champions", 4..=5, 4..=5).with_m(4..=5),
        Rule::new("Loyal Customers", 2..=5, 3..=5).with_m(3..=5),
        Rule::new("Potential Loyalist", 3..=5, 1..=3).with_m(1..=3),
        Rule::new("Recent Customers", 4..=5, 1..=1).with_m(1..=1),
        Rule::new("Promising", 3..=4, 1..=1).with_m(1..=1),
        Rule::new("Customers Needing Attention", 2..=3, 2..=3).with_m(2..=3),
        Rule::new("About To Sleep", 2..=3, 1..=2).with_m(1..=2),
        Rule::new("At Risk", 1..=2, 2..=5).with_m(2..=5),
        Rule::new("Can't Lose Them", 1..=1, 4..=5).with_m(4..=5),
        Rule::new("Hibernating", 1..=2, 1..=2).with_m(1..=2),
        Rule::new("Lost", 1..=2, 1..=2).with_m(1..=2),
    ]
}

#[test]
fn eleven_segment_table_has_four_unreachable_segments() {
    let scheme = Scheme::new(eleven_segment_rules()).unwrap();
    let report = scheme.report();
    assert!(scheme.uses_m());
    assert_eq!(report.cells, 125);
    let unreachable: Vec<(&str, usize, Vec<&str>)> = report
        .unreachable
        .iter()
        .map(|u| (u.segment.as_str(), u.cells, u.taken_by.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        unreachable,
        vec![
            ("Recent Customers", 2, vec!["Potential Loyalist"]),
            ("Promising", 2, vec!["Potential Loyalist"]),
            ("Can't Lose Them", 4, vec!["At Risk"]),
            // Lost has the same ranges as Hibernating; its cells go to whichever earlier rule
            // matches first.
            (
                "Lost",
                8,
                vec!["Customers Needing Attention", "About To Sleep", "At Risk", "Hibernating"]
            ),
        ]
    );
    // And it leaves cells without any segment, e.g. high recency with low frequency but high
    // monetary value.
    assert_eq!(report.uncovered.len(), 36);
    assert!(report.uncovered.contains(&Cell { r: 5, f: 1, m: Some(5) }));
    assert!(report.uncovered.contains(&Cell { r: 1, f: 1, m: Some(3) }));
    assert_eq!(report.overlaps.len(), 42);
    assert!(!report.is_sound());
    let e = Scheme::strict(eleven_segment_rules()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("4 unreachable segment(s)") && text.contains("unreachable \"Lost\""),
        "{text}"
    );
    // The segments that are reachable take these many cells.
    let sizes = (0..scheme.rules().len())
        .map(|k| {
            let mut n = 0;
            for r in 1..=5 {
                for f in 1..=5 {
                    for m in 1..=5 {
                        n += usize::from(scheme.classify(r, f, m) == Some(k));
                    }
                }
            }
            n
        })
        .collect::<Vec<_>>();
    assert_eq!(sizes, vec![8, 28, 24, 0, 0, 3, 3, 20, 0, 3, 0]);
    assert_eq!(sizes.iter().sum::<usize>() + report.uncovered.len(), 125);
}

#[test]
#[allow(clippy::reversed_empty_ranges)] // an empty range is one of the errors tested
fn scheme_validation_errors_and_reports() {
    let e = Scheme::new(vec![]).unwrap_err();
    assert!(e.to_string().contains("no rules"), "{e}");
    for (r, f, m) in [
        (0..=1, 1..=5, None),
        (1..=6, 1..=5, None),
        (3..=2, 1..=5, None),
        (1..=5, 1..=5, Some(2..=9)),
    ] {
        let mut rule = Rule::new("x", r, f);
        if let Some(m) = m {
            rule = rule.with_m(m);
        }
        assert!(matches!(Scheme::new(vec![rule]).unwrap_err(), ClvError::InvalidParameter { .. }));
    }
    let e =
        Scheme::new(vec![Rule::new("a", 1..=5, 1..=5), Rule::new("a", 1..=1, 1..=1)]).unwrap_err();
    assert!(e.to_string().contains("used twice"), "{e}");
    // Uncovered cells only.
    let s = Scheme::new(vec![Rule::new("top", 5..=5, 5..=5)]).unwrap();
    assert_eq!(s.report().uncovered.len(), 24);
    assert!(s.report().unreachable.is_empty());
    assert!(Scheme::strict(vec![Rule::new("top", 5..=5, 5..=5)]).is_err());
    // Overlaps, all reachable and covering: sound but not a partition.
    let s = Scheme::strict(vec![Rule::new("best", 5..=5, 5..=5), Rule::new("rest", 1..=5, 1..=5)])
        .unwrap();
    assert!(s.report().is_sound() && !s.report().is_partition());
    assert_eq!(s.report().overlaps.len(), 1);
    assert_eq!(s.report().overlaps[0].cell, Cell { r: 5, f: 5, m: None });
    assert_eq!(s.report().overlaps[0].cell.to_string(), "R5 F5");
    // A rule partly shadowed is reachable.
    let s = Scheme::new(vec![Rule::new("a", 1..=3, 1..=5), Rule::new("b", 3..=5, 1..=5)]).unwrap();
    assert!(s.report().unreachable.is_empty());
}

#[test]
fn segment_vectorised_and_sizes() {
    let scheme = Scheme::default();
    let r = [5, 5, 1, 3, 4, 2];
    let f = [5, 1, 5, 3, 1, 2];
    let names = segment_names(&scheme, &r, &f, None).unwrap();
    assert_eq!(
        names,
        vec![
            Some("champions"),
            Some("new customers"),
            Some("can't lose them"),
            Some("need attention"),
            Some("promising"),
            Some("hibernating")
        ]
    );
    let seg = segment(&scheme, &r, &f, Some(&[1, 2, 3, 4, 5, 5])).unwrap();
    assert_eq!(seg, segment(&scheme, &r, &f, None).unwrap());
    let sizes = segment_sizes(&scheme, &seg).unwrap();
    assert_eq!(sizes.name.len(), 10);
    assert_eq!(sizes.total(), 6);
    assert_eq!(sizes.unmatched, 0);
    assert_eq!(sizes.count.iter().sum::<usize>(), 6);
    assert_eq!(sizes.count[0], 1);
    assert!((sizes.share.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    // Errors.
    assert!(segment(&scheme, &[1, 2], &[1], None).is_err());
    let e = segment(&scheme, &[1, 6], &[1, 1], None).unwrap_err();
    assert!(e.to_string().contains("r at row 1"), "{e}");
    let e = segment(&scheme, &[1], &[0], None).unwrap_err();
    assert!(e.to_string().contains("f at row 0"), "{e}");
    let e = segment(&scheme, &[1], &[1], Some(&[9])).unwrap_err();
    assert!(e.to_string().contains("m at row 0"), "{e}");
    let m_scheme = Scheme::new(eleven_segment_rules()).unwrap();
    assert!(matches!(
        segment(&m_scheme, &[1], &[1], None).unwrap_err(),
        ClvError::InvalidParameter { .. }
    ));
    assert!(segment_sizes(&scheme, &[Some(10)]).is_err());
    // Unmatched customers with the 11-segment table.
    let seg = segment(&m_scheme, &[5, 5], &[1, 5], Some(&[5, 5])).unwrap();
    assert_eq!(seg, vec![None, Some(0)]);
    let sizes = segment_sizes(&m_scheme, &seg).unwrap();
    assert_eq!((sizes.unmatched, sizes.count[0], sizes.share[0]), (1, 1, 0.5));
}

#[test]
fn scores_and_segments_from_a_summary() {
    let d = MICROS_PER_DAY;
    // 20 customers: customer c buys on day 0 and then c more times, the last on day 2c.
    let mut customer = vec![];
    let mut ts = vec![];
    let mut amount = vec![];
    for c in 0..20u32 {
        customer.push(c);
        ts.push(0);
        amount.push(10.0);
        for k in 1..=c {
            customer.push(c);
            ts.push(i64::from(2 * k) * d);
            amount.push(f64::from(c));
        }
    }
    let s =
        summary(&customer, &ts, &amount, &SummaryOptions::new(40 * d).time_unit(TimeUnit::Week))
            .unwrap();
    let scores = RfmScores::from_summary(&s).unwrap();
    // Everything increases with c: 4 customers per score.
    let expected: Vec<u8> = (0..20).map(|c| 1 + (c * 5 / 20) as u8).collect();
    // Customers 0 (no repeat, last purchase on day 0) and 1..: days since last = 40 − 2c.
    assert_eq!(scores.r, expected);
    assert_eq!(scores.f, expected);
    assert_eq!(scores.m[0], 1);
    assert_eq!(&scores.m[1..], &expected[1..]);
    let scheme = Scheme::default();
    let seg = segment_names(&scheme, &scores.r, &scores.f, None).unwrap();
    assert_eq!(seg[0], Some("hibernating"));
    assert_eq!(seg[19], Some("champions"));
}
