//! The segment rule language: a text form for people ([`Rule::parse`]) and a serde AST for code
//! and bindings ([`Rule`]), checked against the declared fields ([`Rule::check`]) and evaluated
//! against one customer's facts at an explicit instant ([`eval`]).
//!
//! The grammar and every predicate are described in `docs/rules.md`. In short:
//!
//! ```text
//! rule     := or ;  or := and ("or" and)* ;  and := not ("and" not)* ;  not := "not" not | atom
//! atom     := "(" rule ")" | "true" | "false" | "tag" STRING | "segment" "(" STRING ")"
//!           | "has" ("email" | "phone" | "external" STRING)
//!           | "consent" "(" STRING "," CHANNEL ")"
//!           | value ("=" | "!=" | "<" | "<=" | ">" | ">=") literal
//!           | value "in" "(" literal ("," literal)* ")" | value "contains" literal
//!           | value "is" ["not"] "empty"
//! value    := "stage" | "name" | "attr." FIELD | "count" "(" KIND ["," DURATION] ")"
//!           | "sum" "(" KIND "," DURATION ")" | "days_since" "(" KIND ")"
//!           | "rfm.r" | "rfm.f" | "rfm.m" | "rfm.segment" | "p_alive" | "expected_purchases"
//!           | "expected_spend" | "clv" | "decile" "(" METRIC ")"
//! ```
//!
//! # Examples
//!
//! ```
//! use crmkit_core::rules::Rule;
//! let rule = Rule::parse(r#"tag "vip" and days_since(purchase) >= 90 and not segment("churned")"#)?;
//! assert_eq!(rule.leaf_count(), 3);
//! // The text form round-trips through Display.
//! assert_eq!(Rule::parse(&rule.to_string())?, rule);
//! # Ok::<(), crmkit_core::Error>(())
//! ```

pub mod eval;
mod parse;

use std::collections::BTreeSet;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::customer::{FieldDef, FieldType};
use crate::error::{Error, Result};
use crate::money::Currency;

pub use eval::{CompiledRule, Deciles, Evaluation, Facts, InteractionFact, evaluate};

/// At most this many predicates in one rule: each gets a bit in the stored evaluation, which is
/// how an enter/exit event names the predicates that flipped.
pub const MAX_LEAVES: usize = 64;

/// A rule: a boolean tree over predicates.
///
/// Serialised (serde) with a `op` tag, e.g. `{"op":"and","args":[...]}` and
/// `{"op":"compare","value":{"of":"p_alive"},"cmp":"lt","literal":{"number":"0.3"}}`.
///
/// # Examples
///
/// ```
/// use crmkit_core::rules::{Rule, Predicate};
/// let rule = Rule::And(vec![Rule::Pred(Predicate::Tag("vip".into())), Rule::parse("p_alive < 0.3")?]);
/// assert_eq!(rule.to_string(), r#"tag "vip" and p_alive < 0.3"#);
/// let json = serde_json::to_string(&rule).unwrap();
/// assert_eq!(serde_json::from_str::<Rule>(&json).unwrap(), rule);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", content = "args", rename_all = "snake_case")]
pub enum Rule {
    /// Always true (or false): `true`, `false`.
    Const(bool),
    /// All hold.
    And(Vec<Rule>),
    /// At least one holds.
    Or(Vec<Rule>),
    /// Does not hold.
    Not(Box<Rule>),
    /// A predicate (a leaf).
    Pred(Predicate),
}

/// A leaf of a [`Rule`].
///
/// # Examples
///
/// ```
/// use crmkit_core::rules::{Predicate, Value, Cmp, Literal};
/// let p = Predicate::Compare { value: Value::PAlive, cmp: Cmp::Lt, literal: Literal::Number("0.3".parse().unwrap()) };
/// assert_eq!(p.to_string(), "p_alive < 0.3");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Predicate {
    /// `value cmp literal`.
    Compare {
        /// What is compared.
        value: Value,
        /// How.
        cmp: Cmp,
        /// With what.
        literal: Literal,
    },
    /// `value in (a, b, ...)`.
    In {
        /// What is compared.
        value: Value,
        /// The allowed values.
        set: Vec<Literal>,
    },
    /// `value contains literal`: a substring of a text, or an element of a list.
    Contains {
        /// A text or a list.
        value: Value,
        /// What it must contain.
        literal: Literal,
    },
    /// `value is empty`: absent, an empty text or an empty list.
    IsEmpty(Value),
    /// `value is not empty`.
    IsNotEmpty(Value),
    /// `tag "vip"`: the customer has the tag.
    Tag(String),
    /// `segment("name")`: the customer is a member of another segment.
    Segment(String),
    /// `has email`, `has phone`, `has external "shop"`: an identity key of that kind is present.
    Has(IdentityPresence),
    /// `consent("marketing", email)`: consent is granted for the purpose on the channel.
    Consent {
        /// The purpose, e.g. `marketing`.
        purpose: String,
        /// The channel, e.g. `email`.
        channel: String,
    },
}

/// Which identity key a [`Predicate::Has`] asks for.
///
/// # Examples
///
/// ```
/// use crmkit_core::rules::{Rule, Predicate, IdentityPresence};
/// assert_eq!(Rule::parse("has external \"shop\"")?, Rule::Pred(Predicate::Has(IdentityPresence::External("shop".into()))));
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityPresence {
    /// An e-mail address.
    Email,
    /// A phone number.
    Phone,
    /// An id in the named system.
    External(String),
}

/// A comparison operator.
///
/// # Examples
///
/// ```
/// assert_eq!(crmkit_core::rules::Cmp::Ge.to_string(), ">=");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cmp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Cmp {
    /// Applies the operator to an ordering of left against right.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cmp::Ordering;
    /// assert!(crmkit_core::rules::Cmp::Le.holds(Ordering::Equal));
    /// ```
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Cmp::Eq => ord == Equal,
            Cmp::Ne => ord != Equal,
            Cmp::Lt => ord == Less,
            Cmp::Le => ord != Greater,
            Cmp::Gt => ord == Greater,
            Cmp::Ge => ord != Less,
        }
    }
}

impl fmt::Display for Cmp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cmp::Eq => "=",
            Cmp::Ne => "!=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        })
    }
}

/// Which interactions an aggregate counts: one kind (`purchase`, `ticket_opened`, a custom
/// name) or `any`.
pub type KindName = String;

/// A model output a [`Value::Decile`] ranks customers by.
///
/// # Examples
///
/// ```
/// assert_eq!(crmkit_core::rules::Metric::Clv.to_string(), "clv");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Probability the customer is still active.
    PAlive,
    /// Expected purchases over the model's horizon.
    ExpectedPurchases,
    /// Discounted lifetime value.
    Clv,
    /// Observed average spend per repeat purchase.
    Monetary,
}

impl Metric {
    /// All metrics, in the order deciles are kept.
    pub const ALL: [Metric; 4] =
        [Metric::PAlive, Metric::ExpectedPurchases, Metric::Clv, Metric::Monetary];

    fn name(self) -> &'static str {
        match self {
            Metric::PAlive => "p_alive",
            Metric::ExpectedPurchases => "expected_purchases",
            Metric::Clv => "clv",
            Metric::Monetary => "monetary",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Something about a customer that a predicate compares.
///
/// # Examples
///
/// ```
/// use crmkit_core::rules::Value;
/// let v = Value::Count { kind: "ticket_opened".into(), window_days: Some(30) };
/// assert_eq!(v.to_string(), "count(ticket_opened, 30d)");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "of", rename_all = "snake_case")]
pub enum Value {
    /// The lifecycle stage (compared with a stage name).
    Stage,
    /// The display name.
    Name,
    /// A declared custom attribute.
    Attr {
        /// The field's name.
        field: String,
    },
    /// How many interactions of a kind occurred in the last `window_days` days (all time if
    /// `None`), up to now.
    Count {
        /// `purchase`, `ticket_opened`, ..., or `any`.
        kind: KindName,
        /// The window in days.
        window_days: Option<u32>,
    },
    /// The sum of the amounts of `purchase` or `refund` interactions in the last `window_days`
    /// days, in the currency of the literal it is compared with.
    Sum {
        /// `purchase` or `refund`.
        kind: KindName,
        /// The window in days.
        window_days: u32,
    },
    /// Whole days since the last interaction of a kind (never: infinitely many).
    DaysSince {
        /// `purchase`, ..., or `any`.
        kind: KindName,
    },
    /// RFM recency score, 1–5 (absent when the customer has no scores).
    RfmR,
    /// RFM frequency score, 1–5.
    RfmF,
    /// RFM monetary score, 1–5.
    RfmM,
    /// The named RFM segment (`Champions`, `At Risk`, ...).
    RfmSegment,
    /// P(alive) from the latest model.
    PAlive,
    /// Expected purchases over the model's horizon.
    ExpectedPurchases,
    /// Expected average spend per purchase (absent without a spend model).
    ExpectedSpend,
    /// Discounted lifetime value (absent without a spend model).
    Clv,
    /// The customer's decile of a metric among all scored customers: 1 (lowest) to 10 (highest).
    Decile {
        /// Which metric.
        metric: Metric,
    },
}

/// The type of a [`Value`] or a [`Literal`], for checking rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Text,
    Number,
    Bool,
    Date,
    Datetime,
    Money,
    TextList,
    Stage,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Text => "text",
            Ty::Number => "number",
            Ty::Bool => "true/false",
            Ty::Date => "date",
            Ty::Datetime => "date-time",
            Ty::Money => "money (e.g. 100 USD)",
            Ty::TextList => "list of texts",
            Ty::Stage => "lifecycle stage",
        }
    }
}

/// A constant in a rule.
///
/// # Examples
///
/// ```
/// use crmkit_core::rules::Literal;
/// assert_eq!(Literal::Text("Pro".into()).to_string(), "\"Pro\"");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Literal {
    /// A quoted text (also dates: `"2024-01-31"`, date-times, and stage names).
    Text(String),
    /// An exact number.
    Number(Decimal),
    /// `true` or `false`.
    Bool(bool),
    /// An amount and its currency: `100 USD`.
    Money {
        /// The amount.
        amount: Decimal,
        /// The currency.
        currency: Currency,
    },
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Text(s) => write!(f, "{s:?}"),
            Literal::Number(n) => write!(f, "{n}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Money { amount, currency } => write!(f, "{amount} {currency}"),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Stage => f.write_str("stage"),
            Value::Name => f.write_str("name"),
            Value::Attr { field } => write!(f, "attr.{field}"),
            Value::Count { kind, window_days: Some(d) } => write!(f, "count({kind}, {d}d)"),
            Value::Count { kind, window_days: None } => write!(f, "count({kind})"),
            Value::Sum { kind, window_days } => write!(f, "sum({kind}, {window_days}d)"),
            Value::DaysSince { kind } => write!(f, "days_since({kind})"),
            Value::RfmR => f.write_str("rfm.r"),
            Value::RfmF => f.write_str("rfm.f"),
            Value::RfmM => f.write_str("rfm.m"),
            Value::RfmSegment => f.write_str("rfm.segment"),
            Value::PAlive => f.write_str("p_alive"),
            Value::ExpectedPurchases => f.write_str("expected_purchases"),
            Value::ExpectedSpend => f.write_str("expected_spend"),
            Value::Clv => f.write_str("clv"),
            Value::Decile { metric } => write!(f, "decile({metric})"),
        }
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Predicate::Compare { value, cmp, literal } => write!(f, "{value} {cmp} {literal}"),
            Predicate::In { value, set } => {
                write!(f, "{value} in (")?;
                for (i, l) in set.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{l}")?;
                }
                f.write_str(")")
            }
            Predicate::Contains { value, literal } => write!(f, "{value} contains {literal}"),
            Predicate::IsEmpty(value) => write!(f, "{value} is empty"),
            Predicate::IsNotEmpty(value) => write!(f, "{value} is not empty"),
            Predicate::Tag(t) => write!(f, "tag {t:?}"),
            Predicate::Segment(s) => write!(f, "segment({s:?})"),
            Predicate::Has(IdentityPresence::Email) => f.write_str("has email"),
            Predicate::Has(IdentityPresence::Phone) => f.write_str("has phone"),
            Predicate::Has(IdentityPresence::External(s)) => write!(f, "has external {s:?}"),
            Predicate::Consent { purpose, channel } => write!(f, "consent({purpose:?}, {channel})"),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Parenthesise a child whose operator binds less tightly than its parent's.
        fn child(f: &mut fmt::Formatter<'_>, r: &Rule, parent_rank: u8) -> fmt::Result {
            let rank = match r {
                Rule::Or(v) if v.len() > 1 => 1,
                Rule::And(v) if v.len() > 1 => 2,
                _ => 3,
            };
            if rank < parent_rank { write!(f, "({r})") } else { write!(f, "{r}") }
        }
        match self {
            Rule::Const(b) => write!(f, "{b}"),
            Rule::Pred(p) => write!(f, "{p}"),
            Rule::Not(r) => {
                f.write_str("not ")?;
                child(f, r, 3)
            }
            Rule::And(v) | Rule::Or(v) if v.is_empty() => {
                write!(f, "{}", matches!(self, Rule::And(_)))
            }
            Rule::And(v) => join(f, v, " and ", 2, child),
            Rule::Or(v) => join(f, v, " or ", 1, child),
        }
    }
}

fn join(
    f: &mut fmt::Formatter<'_>,
    v: &[Rule],
    sep: &str,
    rank: u8,
    child: fn(&mut fmt::Formatter<'_>, &Rule, u8) -> fmt::Result,
) -> fmt::Result {
    for (i, r) in v.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        // `a and (b and c)` must keep its parentheses to round-trip as the same tree.
        child(f, r, if i > 0 { rank + 1 } else { rank })?;
    }
    Ok(())
}

/// What a rule reads, so that a change re-evaluates only the segments it can affect.
///
/// # Examples
///
/// ```
/// let deps = crmkit_core::rules::Rule::parse("count(purchase, 90d) = 0 and segment(\"vip\")")?.deps();
/// assert!(deps.time && !deps.customer && deps.segments.contains("vip"));
/// assert!(deps.reads_kind("purchase") && !deps.reads_kind("email"));
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleDeps {
    /// The customer record (stage, name, attributes, tags, identities, consent).
    pub customer: bool,
    /// Interaction kinds read (`any` means all kinds).
    pub kinds: BTreeSet<String>,
    /// The latest scores.
    pub scores: bool,
    /// Deciles: every customer's scores.
    pub deciles: bool,
    /// Other segments' membership.
    pub segments: BTreeSet<String>,
    /// The value can change with time alone.
    pub time: bool,
}

impl RuleDeps {
    /// Whether an interaction of this kind can change the rule's value.
    ///
    /// # Examples
    ///
    /// ```
    /// let d = crmkit_core::rules::Rule::parse("count(any) > 3")?.deps();
    /// assert!(d.reads_kind("note"));
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn reads_kind(&self, kind: &str) -> bool {
        self.kinds.contains("any") || self.kinds.contains(kind)
    }
}

impl Rule {
    /// Parses the text form, with precise errors (line, column, what was expected).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::rules::Rule;
    /// let err = Rule::parse("count(purchase, 90d) >= ").unwrap_err();
    /// assert_eq!(err.to_string(), "rule, line 1, column 25: expected a value to compare with, found end of rule");
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<Rule> {
        parse::parse(text)
    }

    /// Checks field names and types against the declared fields; errors name the predicate.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{rules::Rule, FieldDef, FieldType};
    /// let fields = [FieldDef::new("seats", FieldType::Integer)];
    /// assert!(Rule::parse("attr.seats >= 10")?.check(&fields).is_ok());
    /// let err = Rule::parse("attr.seats = \"many\"")?.check(&fields).unwrap_err();
    /// assert!(err.to_string().contains("attr.seats is a number"), "{err}");
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn check(&self, fields: &[FieldDef]) -> Result<()> {
        if self.leaf_count() > MAX_LEAVES {
            return Err(Error::validation(
                "rule",
                format!("has {} predicates; at most {MAX_LEAVES} are allowed", self.leaf_count()),
            ));
        }
        let mut err = None;
        self.for_each_leaf(&mut |p| {
            if err.is_none() {
                err = check_predicate(p, fields).err();
            }
        });
        err.map_or(Ok(()), Err)
    }

    /// How many predicates (leaves) the rule has.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::rules::Rule::parse("tag \"a\" or not tag \"b\"")?.leaf_count(), 2);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn leaf_count(&self) -> usize {
        let mut n = 0;
        self.for_each_leaf(&mut |_| n += 1);
        n
    }

    /// The predicates, in the order they are numbered (depth first, left to right).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = crmkit_core::rules::Rule::parse("tag \"a\" and (p_alive < 0.5 or clv > 10)")?;
    /// assert_eq!(r.leaves()[2].to_string(), "clv > 10");
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn leaves(&self) -> Vec<&Predicate> {
        let mut out = Vec::new();
        fn walk<'a>(r: &'a Rule, out: &mut Vec<&'a Predicate>) {
            match r {
                Rule::Const(_) => {}
                Rule::Pred(p) => out.push(p),
                Rule::Not(r) => walk(r, out),
                Rule::And(v) | Rule::Or(v) => v.iter().for_each(|r| walk(r, out)),
            }
        }
        walk(self, &mut out);
        out
    }

    fn for_each_leaf(&self, f: &mut dyn FnMut(&Predicate)) {
        match self {
            Rule::Const(_) => {}
            Rule::Pred(p) => f(p),
            Rule::Not(r) => r.for_each_leaf(f),
            Rule::And(v) | Rule::Or(v) => v.iter().for_each(|r| r.for_each_leaf(f)),
        }
    }

    /// What the rule reads.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::rules::Rule::parse("decile(clv) = 10")?.deps().deciles);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn deps(&self) -> RuleDeps {
        let mut d = RuleDeps::default();
        self.for_each_leaf(&mut |p| match p {
            Predicate::Tag(_) | Predicate::Has(_) | Predicate::Consent { .. } => d.customer = true,
            Predicate::Segment(s) => {
                d.segments.insert(s.clone());
            }
            Predicate::Compare { value, .. }
            | Predicate::In { value, .. }
            | Predicate::Contains { value, .. }
            | Predicate::IsEmpty(value)
            | Predicate::IsNotEmpty(value) => match value {
                Value::Stage | Value::Name | Value::Attr { .. } => d.customer = true,
                Value::Count { kind, .. } | Value::Sum { kind, .. } | Value::DaysSince { kind } => {
                    d.kinds.insert(kind.clone());
                    d.time = true;
                }
                Value::Decile { .. } => {
                    d.scores = true;
                    d.deciles = true;
                }
                _ => d.scores = true,
            },
        });
        d
    }
}

fn value_type(value: &Value, fields: &[FieldDef]) -> Result<Ty> {
    Ok(match value {
        Value::Stage => Ty::Stage,
        Value::Name | Value::RfmSegment => Ty::Text,
        Value::Attr { field } => {
            let def = fields.iter().find(|f| &f.name == field).ok_or_else(|| {
                let known: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                Error::validation(
                    "rule",
                    format!(
                        "attr.{field}: no such field (declared: {})",
                        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                    ),
                )
            })?;
            match def.field_type {
                FieldType::String => Ty::Text,
                FieldType::Integer | FieldType::Decimal => Ty::Number,
                FieldType::Bool => Ty::Bool,
                FieldType::Date => Ty::Date,
                FieldType::Datetime => Ty::Datetime,
                FieldType::StringList => Ty::TextList,
            }
        }
        Value::Sum { kind, .. } => {
            if kind != "purchase" && kind != "refund" {
                return Err(Error::validation(
                    "rule",
                    format!("{value}: only purchase and refund have amounts to sum"),
                ));
            }
            Ty::Money
        }
        _ => Ty::Number,
    })
}

fn literal_fits(ty: Ty, lit: &Literal) -> bool {
    match (ty, lit) {
        (Ty::Number, Literal::Number(_)) | (Ty::Bool, Literal::Bool(_)) => true,
        (Ty::Money, Literal::Money { .. }) => true,
        (Ty::Text | Ty::TextList, Literal::Text(_)) => true,
        (Ty::Stage, Literal::Text(s)) => s.parse::<crate::LifecycleStage>().is_ok(),
        (Ty::Date, Literal::Text(s)) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        (Ty::Datetime, Literal::Text(s)) => crate::time::parse_timestamp("rule", s, None).is_ok(),
        _ => false,
    }
}

fn check_predicate(p: &Predicate, fields: &[FieldDef]) -> Result<()> {
    let mismatch = |value: &Value, ty: Ty, lit: &Literal| {
        Error::validation(
            "rule",
            format!("in `{p}`: {value} is a {}, and {lit} is not one", ty.name()),
        )
    };
    match p {
        Predicate::Compare { value, cmp, literal } => {
            let ty = value_type(value, fields)?;
            if !literal_fits(ty, literal) {
                return Err(mismatch(value, ty, literal));
            }
            let ordered = matches!(ty, Ty::Number | Ty::Money | Ty::Date | Ty::Datetime | Ty::Text);
            if !ordered && !matches!(cmp, Cmp::Eq | Cmp::Ne) {
                return Err(Error::validation(
                    "rule",
                    format!("in `{p}`: a {} can only be compared with = or !=", ty.name()),
                ));
            }
            if let (Value::Decile { .. }, Literal::Number(n)) = (value, literal)
                && (*n < Decimal::ONE || *n > Decimal::TEN)
            {
                return Err(Error::validation("rule", format!("in `{p}`: deciles run 1 to 10")));
            }
            Ok(())
        }
        Predicate::In { value, set } => {
            let ty = value_type(value, fields)?;
            if set.is_empty() {
                return Err(Error::validation("rule", format!("in `{p}`: the set is empty")));
            }
            match set.iter().find(|l| !literal_fits(ty, l)) {
                Some(l) => Err(mismatch(value, ty, l)),
                None => Ok(()),
            }
        }
        Predicate::Contains { value, literal } => {
            let ty = value_type(value, fields)?;
            if !matches!(ty, Ty::Text | Ty::TextList) {
                return Err(Error::validation(
                    "rule",
                    format!(
                        "in `{p}`: contains needs a text or a list, and {value} is a {}",
                        ty.name()
                    ),
                ));
            }
            if !matches!(literal, Literal::Text(_)) {
                return Err(mismatch(value, ty, literal));
            }
            Ok(())
        }
        Predicate::IsEmpty(value) | Predicate::IsNotEmpty(value) => {
            value_type(value, fields).map(drop)
        }
        Predicate::Tag(t) if t.trim().is_empty() => {
            Err(Error::validation("rule", "tag \"\": the tag is empty"))
        }
        Predicate::Segment(s) if s.trim().is_empty() => {
            Err(Error::validation("rule", "segment(\"\"): the name is empty"))
        }
        Predicate::Consent { channel, .. } => {
            channel.parse::<crate::Channel>().map(drop).map_err(|_| {
                Error::validation("rule", format!("in `{p}`: unknown channel {channel:?}"))
            })
        }
        _ => Ok(()),
    }
}
