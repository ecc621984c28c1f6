//! Evaluating a rule against one customer's facts at an explicit instant: the result, which
//! predicates held (a bit per leaf) and the next instant at which the result can change by the
//! passage of time alone.
//!
//! Absent values (no such attribute, no scores yet, no CLV without a spend model) make every
//! comparison false and `is empty` true. `days_since` of a kind that never occurred is infinite.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::{IdentityPresence, Literal, Metric, Predicate, Rule, Value};
use crate::customer::{AttributeValue, ConsentStatus, Customer, LifecycleStage};
use crate::identity::IdentityKind;
use crate::money::Money;
use crate::store::CustomerScore;

/// What a rule needs to know of one interaction.
///
/// # Examples
///
/// ```
/// use crmkit_core::rules::InteractionFact;
/// let f = InteractionFact::of_kind("email", "2024-01-01T00:00:00Z".parse().unwrap(), None);
/// assert_eq!((f.kind.as_str(), f.at_micros), ("email", 1_704_067_200_000_000));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct InteractionFact {
    /// The kind's name (`purchase`, a custom name...), stored inline up to 24 bytes.
    pub kind: compact_str::CompactString,
    /// When it happened, in microseconds since the Unix epoch (how stores keep time; rules
    /// compare integers on their hot path).
    pub at_micros: i64,
    /// The amount of a purchase or refund.
    pub amount: Option<Money>,
}

impl InteractionFact {
    /// The facts of a stored or new interaction.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{rules::InteractionFact, InteractionKind};
    /// let kind = InteractionKind::Note { text: "hi".into() };
    /// let f = InteractionFact::new(&kind, chrono::Utc::now());
    /// assert_eq!(f.kind, "note");
    /// ```
    pub fn new(kind: &crate::InteractionKind, occurred_at: DateTime<Utc>) -> InteractionFact {
        InteractionFact::of_kind(kind.name(), occurred_at, kind.amount().cloned())
    }

    /// The facts of an interaction given by its kind's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = crmkit_core::rules::InteractionFact::of_kind("call", chrono::DateTime::UNIX_EPOCH, None);
    /// assert_eq!(f.occurred_at(), chrono::DateTime::UNIX_EPOCH);
    /// ```
    pub fn of_kind(
        kind: &str,
        occurred_at: DateTime<Utc>,
        amount: Option<Money>,
    ) -> InteractionFact {
        InteractionFact { kind: kind.into(), at_micros: occurred_at.timestamp_micros(), amount }
    }

    /// When it happened.
    ///
    /// # Examples
    ///
    /// ```
    /// let t: chrono::DateTime<chrono::Utc> = "2024-05-01T10:00:00.000001Z".parse().unwrap();
    /// assert_eq!(crmkit_core::rules::InteractionFact::of_kind("note", t, None).occurred_at(), t);
    /// ```
    pub fn occurred_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.at_micros).unwrap_or_default()
    }
}

/// Every scored customer's metric values, sorted, to rank one customer by decile.
///
/// # Examples
///
/// ```
/// use crmkit_core::{rules::{Deciles, Metric}, CustomerScore, CustomerId};
/// let scores: Vec<CustomerScore> = (0..100).map(|i| {
///     let mut s = CustomerScore::empty(CustomerId::from_u128(i), 1);
///     s.p_alive = i as f64 / 100.0;
///     s
/// }).collect();
/// let d = Deciles::from_scores(&scores);
/// assert_eq!(d.decile(Metric::PAlive, 0.0), Some(1));
/// assert_eq!(d.decile(Metric::PAlive, 0.99), Some(10));
/// assert_eq!(d.decile(Metric::PAlive, 0.5), Some(6));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Deciles {
    /// The model version the scores came from.
    pub model_version: u64,
    sorted: [Vec<f64>; 4],
}

impl Deciles {
    /// Ranks the scores of the latest model version among `scores` (older ones are ignored: a
    /// customer's decile compares them with the scores of the same fit).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::rules::Deciles::from_scores(&[]).decile(crmkit_core::rules::Metric::Clv, 1.0), None);
    /// ```
    pub fn from_scores<'a>(scores: impl IntoIterator<Item = &'a CustomerScore> + Clone) -> Deciles {
        let latest = scores.clone().into_iter().map(|s| s.model_version).max().unwrap_or(0);
        let mut sorted: [Vec<f64>; 4] = Default::default();
        for s in scores.into_iter().filter(|s| s.model_version == latest) {
            for (i, m) in Metric::ALL.into_iter().enumerate() {
                if let Some(v) = metric_of(s, m).filter(|v| v.is_finite()) {
                    sorted[i].push(v);
                }
            }
        }
        for v in &mut sorted {
            v.sort_by(f64::total_cmp);
        }
        Deciles { model_version: latest, sorted }
    }

    /// The decile of a value: 1 + ⌊10 · (number of customers with a smaller value) / n⌋, so
    /// ties share the lower decile. `None` when nobody has the metric.
    ///
    /// # Examples
    ///
    /// ```
    /// let d = crmkit_core::rules::Deciles::default();
    /// assert_eq!(d.decile(crmkit_core::rules::Metric::Clv, 3.0), None);
    /// ```
    pub fn decile(&self, metric: Metric, value: f64) -> Option<u8> {
        let idx = Metric::ALL.iter().position(|m| *m == metric)?;
        let v = &self.sorted[idx];
        if v.is_empty() || !value.is_finite() {
            return None;
        }
        let below = v.partition_point(|x| *x < value);
        Some((1 + below * 10 / v.len()).min(10) as u8)
    }
}

fn metric_of(s: &CustomerScore, m: Metric) -> Option<f64> {
    match m {
        Metric::PAlive => Some(s.p_alive),
        Metric::ExpectedPurchases => Some(s.expected_purchases),
        Metric::Clv => s.clv,
        Metric::Monetary => Some(s.monetary),
    }
}

/// One customer as a rule sees it.
///
/// # Examples
///
/// ```
/// use crmkit_core::{rules::{Rule, Facts, evaluate}, Crm, NewCustomer};
/// let crm = Crm::in_memory();
/// let c = crm.create_customer(NewCustomer::person("Ada").tag("vip"))?;
/// let no_segments = |_: &str| false;
/// let facts = Facts { customer: &c, interactions: &[], score: None, deciles: None, segments: &no_segments };
/// let e = evaluate(&Rule::parse("tag \"vip\" and days_since(purchase) > 30")?, &facts, crm.now());
/// assert!(e.matched && e.next_check.is_none());
/// # Ok::<(), crmkit_core::Error>(())
/// ```
pub struct Facts<'a> {
    /// The customer record.
    pub customer: &'a Customer,
    /// Their interactions, in any order.
    pub interactions: &'a [InteractionFact],
    /// Their latest scores.
    pub score: Option<&'a CustomerScore>,
    /// Every customer's scores, ranked (for `decile(..)`).
    pub deciles: Option<&'a Deciles>,
    /// Whether they are a member of a segment.
    pub segments: &'a dyn Fn(&str) -> bool,
}

/// The outcome of [`evaluate`].
///
/// # Examples
///
/// ```
/// let e = crmkit_core::rules::Evaluation::default();
/// assert!(!e.matched && e.leaves == 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// Whether the rule holds.
    pub matched: bool,
    /// Bit `i` is set when predicate `i` (see [`Rule::leaves`]) holds.
    pub leaves: u64,
    /// The next instant after `now` at which the result can change with time alone.
    pub next_check: Option<DateTime<Utc>>,
}

/// Evaluates a rule at `now`. Every predicate is evaluated (no short-circuit), so that
/// [`Evaluation::leaves`] is complete.
///
/// # Examples
///
/// ```
/// use crmkit_core::{rules::{Rule, Facts, InteractionFact, evaluate}, Crm, NewCustomer};
/// let crm = Crm::in_memory();
/// let c = crm.create_customer(NewCustomer::person("Bo"))?;
/// let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
/// let tickets: Vec<InteractionFact> = ["2024-01-02", "2024-01-10", "2024-01-20"].iter()
///     .map(|d| InteractionFact::of_kind("ticket_opened", t(&format!("{d}T00:00:00Z")), None))
///     .collect();
/// let rule = Rule::parse("count(ticket_opened, 30d) >= 3")?;
/// let none = |_: &str| false;
/// let facts = Facts { customer: &c, interactions: &tickets, score: None, deciles: None, segments: &none };
/// let e = evaluate(&rule, &facts, t("2024-01-25T00:00:00Z"));
/// assert!(e.matched);
/// // The first ticket leaves the 30-day window on 1 February.
/// assert_eq!(e.next_check, Some(t("2024-02-01T00:00:00Z")));
/// assert!(!evaluate(&rule, &facts, t("2024-02-01T00:00:00Z")).matched);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
pub fn evaluate(rule: &Rule, facts: &Facts<'_>, now: DateTime<Utc>) -> Evaluation {
    CompiledRule::new(rule.clone()).evaluate(facts, now)
}

/// A rule prepared for repeated evaluation: numbers converted once, windows in microseconds,
/// the common predicates (interaction counts, days since, scores) on a fast path. Engines keep
/// one per segment.
///
/// # Examples
///
/// ```
/// use crmkit_core::{rules::{CompiledRule, Rule, Facts}, Crm, NewCustomer};
/// let crm = Crm::in_memory();
/// let c = crm.create_customer(NewCustomer::person("Ada").tag("vip"))?;
/// let rule = CompiledRule::new(Rule::parse("tag \"vip\" and count(purchase, 30d) = 0")?);
/// let none = |_: &str| false;
/// let facts = Facts { customer: &c, interactions: &[], score: None, deciles: None, segments: &none };
/// assert!(rule.evaluate(&facts, crm.now()).matched);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CompiledRule {
    rule: Rule,
    root: Node,
    leaves: Vec<Leaf>,
}

#[derive(Debug, Clone)]
enum Node {
    Const(bool),
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Not(Box<Node>),
    Leaf(usize),
}

#[derive(Debug, Clone)]
enum Leaf {
    /// `count(kind, window) cmp n`.
    Count { kind: Box<str>, window_us: Option<i64>, cmp: super::Cmp, n: f64 },
    /// `days_since(kind) cmp n`; `flips` are the day counts at which the result can change.
    DaysSince { kind: Box<str>, cmp: super::Cmp, n: f64, flips: [i64; 3] },
    /// A score compared with a number.
    Score { of: ScoreOf, cmp: super::Cmp, n: f64 },
    /// `sum(kind, window) cmp amount CURRENCY`: exact money.
    Sum {
        kind: Box<str>,
        window_us: i64,
        cmp: super::Cmp,
        amount: rust_decimal::Decimal,
        currency: crate::Currency,
    },
    /// Everything else.
    General(Predicate),
}

#[derive(Debug, Clone, Copy)]
enum ScoreOf {
    PAlive,
    ExpectedPurchases,
    ExpectedSpend,
    Clv,
    Rfm(usize),
}

const DAY_US: i64 = 86_400_000_000;

impl CompiledRule {
    /// Prepares a rule.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = crmkit_core::rules::CompiledRule::new(crmkit_core::rules::Rule::Const(true));
    /// assert_eq!(r.rule(), &crmkit_core::rules::Rule::Const(true));
    /// ```
    pub fn new(rule: Rule) -> CompiledRule {
        let mut leaves = Vec::new();
        let root = compile(&rule, &mut leaves);
        CompiledRule { rule, root, leaves }
    }

    /// The rule.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = crmkit_core::rules::CompiledRule::new(crmkit_core::rules::Rule::Const(false));
    /// assert_eq!(r.rule().leaf_count(), 0);
    /// ```
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// Evaluates at `now`; see [`evaluate`].
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{rules::{CompiledRule, Rule, Facts}, Crm, NewCustomer};
    /// let crm = Crm::in_memory();
    /// let c = crm.create_customer(NewCustomer::person("Bo"))?;
    /// let none = |_: &str| false;
    /// let facts = Facts { customer: &c, interactions: &[], score: None, deciles: None, segments: &none };
    /// let e = CompiledRule::new(Rule::parse("p_alive < 0.5 or days_since(any) > 7")?).evaluate(&facts, crm.now());
    /// assert_eq!((e.matched, e.leaves), (true, 0b10)); // no scores: p_alive is absent
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn evaluate(&self, facts: &Facts<'_>, now: DateTime<Utc>) -> Evaluation {
        let now_us = now.timestamp_micros();
        let mut next_us = i64::MAX;
        let mut bits = 0u64;
        for (i, leaf) in self.leaves.iter().enumerate() {
            let held = match leaf {
                Leaf::General(p) => predicate(p, facts, now_us, &mut next_us),
                fast => fast_leaf(fast, facts, now_us, &mut next_us),
            };
            if held && i < 64 {
                bits |= 1 << i;
            }
        }
        let matched = eval_node(&self.root, bits);
        let next_check =
            (next_us != i64::MAX).then(|| DateTime::from_timestamp_micros(next_us)).flatten();
        Evaluation { matched, leaves: bits, next_check }
    }
}

fn compile(rule: &Rule, leaves: &mut Vec<Leaf>) -> Node {
    use rust_decimal::prelude::ToPrimitive;
    match rule {
        Rule::Const(b) => Node::Const(*b),
        Rule::And(v) => Node::And(v.iter().map(|r| compile(r, leaves)).collect()),
        Rule::Or(v) => Node::Or(v.iter().map(|r| compile(r, leaves)).collect()),
        Rule::Not(r) => Node::Not(Box::new(compile(r, leaves))),
        Rule::Pred(p) => {
            let leaf = match p {
                Predicate::Compare { value, cmp, literal: Literal::Number(n) } => {
                    let f = n.to_f64().unwrap_or(f64::NAN);
                    let score = |of| Leaf::Score { of, cmp: *cmp, n: f };
                    match value {
                        Value::Count { kind, window_days } => Leaf::Count {
                            kind: kind.as_str().into(),
                            window_us: window_days.map(|d| i64::from(d) * DAY_US),
                            cmp: *cmp,
                            n: f,
                        },
                        Value::DaysSince { kind } => Leaf::DaysSince {
                            kind: kind.as_str().into(),
                            cmp: *cmp,
                            n: f,
                            flips: flip_days(n),
                        },
                        Value::PAlive => score(ScoreOf::PAlive),
                        Value::ExpectedPurchases => score(ScoreOf::ExpectedPurchases),
                        Value::ExpectedSpend => score(ScoreOf::ExpectedSpend),
                        Value::Clv => score(ScoreOf::Clv),
                        Value::RfmR => score(ScoreOf::Rfm(0)),
                        Value::RfmF => score(ScoreOf::Rfm(1)),
                        Value::RfmM => score(ScoreOf::Rfm(2)),
                        _ => Leaf::General(p.clone()),
                    }
                }
                Predicate::Compare {
                    value: Value::Sum { kind, window_days },
                    cmp,
                    literal: Literal::Money { amount, currency },
                } => Leaf::Sum {
                    kind: kind.as_str().into(),
                    window_us: i64::from(*window_days) * DAY_US,
                    cmp: *cmp,
                    amount: *amount,
                    currency: *currency,
                },
                _ => Leaf::General(p.clone()),
            };
            leaves.push(leaf);
            Node::Leaf(leaves.len() - 1)
        }
    }
}

fn eval_node(node: &Node, bits: u64) -> bool {
    match node {
        Node::Const(b) => *b,
        Node::And(v) => v.iter().all(|n| eval_node(n, bits)),
        Node::Or(v) => v.iter().any(|n| eval_node(n, bits)),
        Node::Not(n) => !eval_node(n, bits),
        // Rules have at most 64 leaves (checked when defined); beyond, a leaf reads as false.
        Node::Leaf(i) => *i < 64 && bits & (1 << i) != 0,
    }
}

fn cmp_f64(x: f64, cmp: super::Cmp, n: f64) -> bool {
    x.partial_cmp(&n).is_some_and(|o| cmp.holds(o))
}

fn fast_leaf(leaf: &Leaf, facts: &Facts<'_>, now_us: i64, next_us: &mut i64) -> bool {
    match leaf {
        Leaf::Count { kind, window_us, cmp, n } => {
            let mut count = 0u32;
            for_window(facts, kind, *window_us, now_us, next_us, |_| count += 1);
            cmp_f64(f64::from(count), *cmp, *n)
        }
        Leaf::DaysSince { kind, cmp, n, flips } => {
            let Some(last) = last_before(facts, kind, now_us, next_us) else {
                return cmp_f64(f64::INFINITY, *cmp, *n);
            };
            schedule_flips(last, flips, now_us, next_us);
            cmp_f64((now_us - last).div_euclid(DAY_US) as f64, *cmp, *n)
        }
        Leaf::Score { of, cmp, n } => {
            let Some(s) = facts.score else { return false };
            let v = match of {
                ScoreOf::PAlive => Some(s.p_alive),
                ScoreOf::ExpectedPurchases => Some(s.expected_purchases),
                ScoreOf::ExpectedSpend => s.expected_spend,
                ScoreOf::Clv => s.clv,
                ScoreOf::Rfm(i) => (s.rfm != [0, 0, 0]).then(|| f64::from(s.rfm[*i])),
            };
            v.is_some_and(|x| x.is_finite() && cmp_f64(x, *cmp, *n))
        }
        Leaf::Sum { kind, window_us, cmp, amount, currency } => {
            let total = window_sum(facts, kind, *window_us, *currency, now_us, next_us);
            cmp.holds(total.cmp(amount))
        }
        Leaf::General(_) => false,
    }
}

/// A customer's value of a [`Value`], borrowed where possible.
enum Got<'a> {
    Absent,
    Text(&'a str),
    Num(Decimal),
    Float(f64),
    Bool(bool),
    Date(NaiveDate),
    Datetime(DateTime<Utc>),
    List(&'a [String]),
    Stage(&'a LifecycleStage),
    /// Whole days; `None` = never (infinitely many).
    Days(Option<i64>),
}

fn kind_matches(want: &str, kind: &str) -> bool {
    want == "any" || want == kind
}

/// Calls `each` for the interactions of `kind` up to `now` still inside the window (all of them
/// without one), and lowers `next_us` to the next instant that set changes: a future interaction
/// arriving, or a past one leaving the window (in it while `now - w < t`, so until `t + w`).
fn for_window<'f>(
    facts: &Facts<'f>,
    kind: &str,
    window_us: Option<i64>,
    now_us: i64,
    next_us: &mut i64,
    mut each: impl FnMut(&'f InteractionFact),
) {
    for f in facts.interactions.iter().filter(|f| kind_matches(kind, &f.kind)) {
        let t = f.at_micros;
        if t > now_us {
            *next_us = (*next_us).min(t);
            continue;
        }
        match window_us {
            Some(w) => {
                let leaves = t.saturating_add(w);
                if leaves > now_us {
                    each(f);
                    *next_us = (*next_us).min(leaves);
                }
            }
            None => each(f),
        }
    }
}

/// The sum of the amounts in `currency` of the interactions of `kind` in the window.
fn window_sum(
    facts: &Facts<'_>,
    kind: &str,
    window_us: i64,
    currency: crate::Currency,
    now_us: i64,
    next_us: &mut i64,
) -> Decimal {
    let mut total = Decimal::ZERO;
    for_window(facts, kind, Some(window_us), now_us, next_us, |f| {
        if let Some(m) = f.amount.as_ref().filter(|m| m.currency == currency) {
            total += m.amount;
        }
    });
    total
}

/// The last interaction of `kind` up to `now` (future ones lower `next_us`).
fn last_before(facts: &Facts<'_>, kind: &str, now_us: i64, next_us: &mut i64) -> Option<i64> {
    let mut last: Option<i64> = None;
    for f in facts.interactions.iter().filter(|f| kind_matches(kind, &f.kind)) {
        let t = f.at_micros;
        if t > now_us {
            *next_us = (*next_us).min(t);
        } else if last.is_none_or(|l| t > l) {
            last = Some(t);
        }
    }
    last
}

/// The day counts at which `days_since(..) CMP n` can flip: around ⌊n⌋.
fn flip_days(n: &Decimal) -> [i64; 3] {
    let floor = n.floor().to_i64().unwrap_or(i64::MAX / 4).clamp(-1, 1 << 40);
    [floor, floor + 1, floor + 2]
}

/// Lowers `next_us` to the first of `last + k days` (k in `days`) still to come.
fn schedule_flips(last: i64, days: &[i64], now_us: i64, next_us: &mut i64) {
    for k in days {
        let at = last.saturating_add(k.saturating_mul(DAY_US));
        if at > now_us {
            *next_us = (*next_us).min(at);
        }
    }
}

fn get<'a>(
    value: &Value,
    facts: &Facts<'a>,
    now_us: i64,
    literals: &[&Literal],
    next_us: &mut i64,
) -> Got<'a> {
    let c = facts.customer;
    let score = facts.score;
    let f64_of = |v: Option<f64>| v.filter(|x| x.is_finite()).map_or(Got::Absent, Got::Float);
    match value {
        Value::Stage => Got::Stage(&c.stage),
        Value::Name => Got::Text(&c.name),
        Value::Attr { field } => match c.attributes.get(field) {
            None => Got::Absent,
            Some(AttributeValue::String(s)) => Got::Text(s),
            Some(AttributeValue::Integer(n)) => Got::Num(Decimal::from(*n)),
            Some(AttributeValue::Decimal(d)) => Got::Num(*d),
            Some(AttributeValue::Bool(b)) => Got::Bool(*b),
            Some(AttributeValue::Date(d)) => Got::Date(*d),
            Some(AttributeValue::Datetime(t)) => Got::Datetime(*t),
            Some(AttributeValue::StringList(v)) => Got::List(v),
        },
        Value::Count { kind, window_days } => {
            let window_us = window_days.map(|d| i64::from(d) * DAY_US);
            let mut count = 0u32;
            for_window(facts, kind, window_us, now_us, next_us, |_| count += 1);
            Got::Num(Decimal::from(count))
        }
        Value::Sum { kind, window_days } => {
            let Some(currency) = literals.iter().find_map(|l| match l {
                Literal::Money { currency, .. } => Some(*currency),
                _ => None,
            }) else {
                return Got::Absent;
            };
            let window_us = i64::from(*window_days) * DAY_US;
            Got::Num(window_sum(facts, kind, window_us, currency, now_us, next_us))
        }
        Value::DaysSince { kind } => match last_before(facts, kind, now_us, next_us) {
            None => Got::Days(None),
            Some(last) => {
                // The result can only flip when the day count crosses a literal.
                for l in literals {
                    if let Literal::Number(n) = l {
                        schedule_flips(last, &flip_days(n), now_us, next_us);
                    }
                }
                Got::Days(Some((now_us - last).div_euclid(DAY_US)))
            }
        },
        Value::RfmR | Value::RfmF | Value::RfmM => match score {
            Some(s) if s.rfm != [0, 0, 0] => {
                let i = match value {
                    Value::RfmR => 0,
                    Value::RfmF => 1,
                    _ => 2,
                };
                Got::Num(Decimal::from(s.rfm[i]))
            }
            _ => Got::Absent,
        },
        Value::RfmSegment => {
            score.filter(|s| !s.segment.is_empty()).map_or(Got::Absent, |s| Got::Text(&s.segment))
        }
        Value::PAlive => f64_of(score.map(|s| s.p_alive)),
        Value::ExpectedPurchases => f64_of(score.map(|s| s.expected_purchases)),
        Value::ExpectedSpend => f64_of(score.and_then(|s| s.expected_spend)),
        Value::Clv => f64_of(score.and_then(|s| s.clv)),
        Value::Decile { metric } => {
            let v = score.and_then(|s| metric_of(s, *metric));
            match (v, facts.deciles) {
                (Some(v), Some(d)) if d.model_version == score.map_or(0, |s| s.model_version) => {
                    d.decile(*metric, v).map_or(Got::Absent, |d| Got::Num(Decimal::from(d)))
                }
                _ => Got::Absent,
            }
        }
    }
}

/// Orders a value against a literal; `None` when they cannot be compared (absent, wrong type).
fn order(got: &Got<'_>, lit: &Literal) -> Option<Ordering> {
    match (got, lit) {
        (Got::Text(s), Literal::Text(l)) => Some((*s).cmp(l.as_str())),
        (Got::Num(n), Literal::Number(l)) => Some(n.cmp(l)),
        (Got::Num(n), Literal::Money { amount, .. }) => Some(n.cmp(amount)),
        (Got::Float(x), Literal::Number(l)) => x.partial_cmp(&l.to_f64()?),
        (Got::Bool(b), Literal::Bool(l)) => Some(b.cmp(l)),
        (Got::Date(d), Literal::Text(l)) => {
            Some(d.cmp(&NaiveDate::parse_from_str(l, "%Y-%m-%d").ok()?))
        }
        (Got::Datetime(t), Literal::Text(l)) => {
            Some(t.cmp(&crate::time::parse_timestamp("rule", l, None).ok()?))
        }
        (Got::Stage(s), Literal::Text(l)) => {
            let want: LifecycleStage = l.parse().ok()?;
            Some(if **s == want { Ordering::Equal } else { s.to_string().cmp(&want.to_string()) })
        }
        (Got::Days(None), Literal::Number(_)) => Some(Ordering::Greater),
        (Got::Days(Some(d)), Literal::Number(l)) => Some(Decimal::from(*d).cmp(l)),
        _ => None,
    }
}

fn predicate(p: &Predicate, facts: &Facts<'_>, now_us: i64, next_us: &mut i64) -> bool {
    let c = facts.customer;
    match p {
        Predicate::Compare { value, cmp, literal } => {
            let got = get(value, facts, now_us, &[literal], next_us);
            order(&got, literal).is_some_and(|o| cmp.holds(o))
        }
        Predicate::In { value, set } => {
            let lits: Vec<&Literal> = set.iter().collect();
            let got = get(value, facts, now_us, &lits, next_us);
            set.iter().any(|l| order(&got, l) == Some(Ordering::Equal))
        }
        Predicate::Contains { value, literal } => {
            let Literal::Text(needle) = literal else { return false };
            match get(value, facts, now_us, &[literal], next_us) {
                Got::Text(s) => s.to_lowercase().contains(&needle.to_lowercase()),
                Got::List(v) => v.iter().any(|x| x == needle),
                _ => false,
            }
        }
        Predicate::IsEmpty(value) | Predicate::IsNotEmpty(value) => {
            let empty = match get(value, facts, now_us, &[], next_us) {
                Got::Absent => true,
                Got::Text(s) => s.is_empty(),
                Got::List(v) => v.is_empty(),
                _ => false,
            };
            empty == matches!(p, Predicate::IsEmpty(_))
        }
        Predicate::Tag(t) => c.tags.contains(t),
        Predicate::Segment(s) => (facts.segments)(s),
        Predicate::Has(which) => c.identities.iter().any(|k| match (which, k.kind()) {
            (IdentityPresence::Email, IdentityKind::Email) => true,
            (IdentityPresence::Phone, IdentityKind::Phone) => true,
            (IdentityPresence::External(want), IdentityKind::External(sys)) => {
                want.eq_ignore_ascii_case(&sys)
            }
            _ => false,
        }),
        Predicate::Consent { purpose, channel } => c.consents.iter().any(|k| {
            k.purpose.eq_ignore_ascii_case(purpose)
                && k.channel.as_str() == channel.as_str()
                && k.status == ConsentStatus::Granted
        }),
    }
}
