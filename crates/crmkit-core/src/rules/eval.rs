//! Evaluating a rule against one customer's facts at an explicit instant: the result, which
//! predicates held (a bit per leaf) and the next instant at which the result can change by the
//! passage of time alone.
//!
//! Absent values (no such attribute, no scores yet, no CLV without a spend model) make every
//! comparison false and `is empty` true. `days_since` of a kind that never occurred is infinite.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
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
/// let f = InteractionFact { kind: "email".into(), occurred_at: "2024-01-01T00:00:00Z".parse().unwrap(), amount: None };
/// assert_eq!(f.kind, "email");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct InteractionFact {
    /// The kind's name (`purchase`, a custom name...).
    pub kind: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
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
        InteractionFact {
            kind: kind.name().to_owned(),
            occurred_at,
            amount: kind.amount().cloned(),
        }
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
    /// Ranks from a full set of scores (one model version).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::rules::Deciles::from_scores(&[]).decile(crmkit_core::rules::Metric::Clv, 1.0), None);
    /// ```
    pub fn from_scores(scores: &[CustomerScore]) -> Deciles {
        let mut sorted: [Vec<f64>; 4] = Default::default();
        for s in scores {
            for (i, m) in Metric::ALL.into_iter().enumerate() {
                if let Some(v) = metric_of(s, m).filter(|v| v.is_finite()) {
                    sorted[i].push(v);
                }
            }
        }
        for v in &mut sorted {
            v.sort_by(f64::total_cmp);
        }
        Deciles { model_version: scores.first().map_or(0, |s| s.model_version), sorted }
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
///     .map(|d| InteractionFact { kind: "ticket_opened".into(), occurred_at: t(&format!("{d}T00:00:00Z")), amount: None })
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
    let mut leaves = 0u64;
    let mut next: Option<DateTime<Utc>> = None;
    let mut i = 0usize;
    let matched = walk(rule, facts, now, &mut i, &mut leaves, &mut next);
    Evaluation { matched, leaves, next_check: next }
}

fn walk(
    rule: &Rule,
    facts: &Facts<'_>,
    now: DateTime<Utc>,
    i: &mut usize,
    leaves: &mut u64,
    next: &mut Option<DateTime<Utc>>,
) -> bool {
    match rule {
        Rule::Const(b) => *b,
        Rule::Not(r) => !walk(r, facts, now, i, leaves, next),
        Rule::And(v) => v.iter().fold(true, |acc, r| walk(r, facts, now, i, leaves, next) && acc),
        Rule::Or(v) => v.iter().fold(false, |acc, r| walk(r, facts, now, i, leaves, next) || acc),
        Rule::Pred(p) => {
            let held = predicate(p, facts, now, next);
            if held && *i < 64 {
                *leaves |= 1 << *i;
            }
            *i += 1;
            held
        }
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

fn in_window(t: DateTime<Utc>, now: DateTime<Utc>, window_days: Option<u32>) -> bool {
    t <= now && window_days.is_none_or(|d| t > now - TimeDelta::days(i64::from(d)))
}

/// Instants after `now` at which the window aggregate changes: a future interaction arriving,
/// or a past one leaving the window.
fn window_changes(
    facts: &Facts<'_>,
    kind: &str,
    window_days: Option<u32>,
    now: DateTime<Utc>,
    next: &mut Option<DateTime<Utc>>,
) {
    for f in facts.interactions.iter().filter(|f| kind_matches(kind, &f.kind)) {
        if f.occurred_at > now {
            bump(next, f.occurred_at);
        } else if let Some(d) = window_days {
            let leaves = f.occurred_at + TimeDelta::days(i64::from(d));
            if leaves > now {
                bump(next, leaves);
            }
        }
    }
}

fn bump(next: &mut Option<DateTime<Utc>>, at: DateTime<Utc>) {
    if next.is_none_or(|n| at < n) {
        *next = Some(at);
    }
}

fn get<'a>(
    value: &Value,
    facts: &Facts<'a>,
    now: DateTime<Utc>,
    literals: &[&Literal],
    next: &mut Option<DateTime<Utc>>,
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
            window_changes(facts, kind, *window_days, now, next);
            let n = facts
                .interactions
                .iter()
                .filter(|f| {
                    kind_matches(kind, &f.kind) && in_window(f.occurred_at, now, *window_days)
                })
                .count();
            Got::Num(Decimal::from(n))
        }
        Value::Sum { kind, window_days } => {
            window_changes(facts, kind, Some(*window_days), now, next);
            let Some(currency) = literals.iter().find_map(|l| match l {
                Literal::Money { currency, .. } => Some(*currency),
                _ => None,
            }) else {
                return Got::Absent;
            };
            let total: Decimal = facts
                .interactions
                .iter()
                .filter(|f| {
                    kind_matches(kind, &f.kind) && in_window(f.occurred_at, now, Some(*window_days))
                })
                .filter_map(|f| f.amount.as_ref())
                .filter(|m| m.currency == currency)
                .map(|m| m.amount)
                .sum();
            Got::Num(total)
        }
        Value::DaysSince { kind } => {
            let mut last: Option<DateTime<Utc>> = None;
            for f in facts.interactions.iter().filter(|f| kind_matches(kind, &f.kind)) {
                if f.occurred_at > now {
                    bump(next, f.occurred_at);
                } else if last.is_none_or(|l| f.occurred_at > l) {
                    last = Some(f.occurred_at);
                }
            }
            let Some(last) = last else { return Got::Days(None) };
            // The result can only flip when the day count crosses a literal.
            for l in literals {
                if let Literal::Number(n) = l {
                    let floor = n.floor().to_i64().unwrap_or(i64::MAX / 2);
                    for k in [floor, floor + 1, floor + 2] {
                        if let Some(at) =
                            TimeDelta::try_days(k).and_then(|d| last.checked_add_signed(d))
                            && at > now
                        {
                            bump(next, at);
                        }
                    }
                }
            }
            Got::Days(Some((now - last).num_days()))
        }
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

fn predicate(
    p: &Predicate,
    facts: &Facts<'_>,
    now: DateTime<Utc>,
    next: &mut Option<DateTime<Utc>>,
) -> bool {
    let c = facts.customer;
    match p {
        Predicate::Compare { value, cmp, literal } => {
            let got = get(value, facts, now, &[literal], next);
            order(&got, literal).is_some_and(|o| cmp.holds(o))
        }
        Predicate::In { value, set } => {
            let lits: Vec<&Literal> = set.iter().collect();
            let got = get(value, facts, now, &lits, next);
            set.iter().any(|l| order(&got, l) == Some(Ordering::Equal))
        }
        Predicate::Contains { value, literal } => {
            let Literal::Text(needle) = literal else { return false };
            match get(value, facts, now, &[literal], next) {
                Got::Text(s) => s.to_lowercase().contains(&needle.to_lowercase()),
                Got::List(v) => v.iter().any(|x| x == needle),
                _ => false,
            }
        }
        Predicate::IsEmpty(value) | Predicate::IsNotEmpty(value) => {
            let empty = match get(value, facts, now, &[], next) {
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
