//! Segment definitions and stored membership.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::CustomerId;
use crate::rules::Rule;

/// How a segment's membership is kept.
///
/// # Examples
///
/// ```
/// use crmkit_core::automation::SegmentKind;
/// assert_eq!("dynamic".parse::<SegmentKind>()?, SegmentKind::Dynamic);
/// assert_eq!(SegmentKind::Snapshot.to_string(), "snapshot");
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentKind {
    /// A static list: customers are added and removed by hand.
    Manual,
    /// A rule, kept current as customers change, interactions arrive, scores are stored and
    /// time passes.
    Dynamic,
    /// A rule evaluated once, when defined (again when its rule is edited).
    Snapshot,
}

impl fmt::Display for SegmentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SegmentKind::Manual => "manual",
            SegmentKind::Dynamic => "dynamic",
            SegmentKind::Snapshot => "snapshot",
        })
    }
}

impl FromStr for SegmentKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_lowercase().as_str() {
            "manual" | "static" => Ok(SegmentKind::Manual),
            "dynamic" | "active" => Ok(SegmentKind::Dynamic),
            "snapshot" => Ok(SegmentKind::Snapshot),
            other => Err(Error::validation(
                "segment kind",
                format!("{other:?}: expected manual, dynamic or snapshot"),
            )),
        }
    }
}

/// A named segment.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, automation::{Segment, SegmentKind}};
/// let crm = Crm::in_memory();
/// let s = crm.define_segment(Segment::dynamic("at-risk", "p_alive < 0.3")?)?;
/// assert_eq!((s.version, s.kind), (1, SegmentKind::Dynamic));
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Unique name.
    pub name: String,
    /// How membership is kept.
    pub kind: SegmentKind,
    /// The rule (dynamic and snapshot segments).
    pub rule: Option<Rule>,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// 1 when defined, +1 on each edit of the rule.
    pub version: u64,
    /// When first defined.
    pub created_at: DateTime<Utc>,
    /// When last edited.
    pub updated_at: DateTime<Utc>,
}

impl Segment {
    fn new(name: &str, kind: SegmentKind, rule: Option<Rule>) -> Segment {
        Segment {
            name: name.trim().to_owned(),
            kind,
            rule,
            description: String::new(),
            version: 0,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    /// A dynamic segment from a rule's text form.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = crmkit_core::automation::Segment::dynamic("lapsed", "days_since(purchase) >= 90")?;
    /// assert!(s.rule.is_some());
    /// assert!(crmkit_core::automation::Segment::dynamic("bad", "days_since(").is_err());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn dynamic(name: &str, rule: &str) -> Result<Segment> {
        Ok(Segment::new(name, SegmentKind::Dynamic, Some(Rule::parse(rule)?)))
    }

    /// A snapshot segment from a rule's text form.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = crmkit_core::automation::Segment::snapshot("q1-vips", "tag \"vip\"")?;
    /// assert_eq!(s.kind, crmkit_core::automation::SegmentKind::Snapshot);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn snapshot(name: &str, rule: &str) -> Result<Segment> {
        Ok(Segment::new(name, SegmentKind::Snapshot, Some(Rule::parse(rule)?)))
    }

    /// A manual (static) list.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = crmkit_core::automation::Segment::manual("beta-testers");
    /// assert!(s.rule.is_none());
    /// ```
    pub fn manual(name: &str) -> Segment {
        Segment::new(name, SegmentKind::Manual, None)
    }

    /// A segment of any kind from a rule AST (`None` for manual).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{automation::{Segment, SegmentKind}, rules::Rule};
    /// let s = Segment::with_rule("all", SegmentKind::Dynamic, Some(Rule::Const(true)));
    /// assert_eq!(s.name, "all");
    /// ```
    pub fn with_rule(name: &str, kind: SegmentKind, rule: Option<Rule>) -> Segment {
        Segment::new(name, kind, rule)
    }

    /// Adds a description.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = crmkit_core::automation::Segment::manual("x").describe("hand-picked");
    /// assert_eq!(s.description, "hand-picked");
    /// ```
    pub fn describe(mut self, text: impl Into<String>) -> Segment {
        self.description = text.into();
        self
    }
}

/// A customer's stored state in one segment: a member, or a non-member with a scheduled
/// re-check. Rows that are neither are not stored.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, NewCustomer, automation::Segment};
/// let crm = Crm::in_memory();
/// crm.define_segment(Segment::dynamic("vips", "tag \"vip\"")?)?;
/// let c = crm.create_customer(NewCustomer::person("Ada").tag("vip"))?;
/// let m = crm.memberships(c.id)?;
/// assert_eq!((m[0].segment.as_str(), m[0].member, m[0].leaves), ("vips", true, 1));
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The segment.
    pub segment: String,
    /// The customer.
    pub customer: CustomerId,
    /// Whether they are in it.
    pub member: bool,
    /// When they entered (members) or were last evaluated (others).
    pub since: DateTime<Utc>,
    /// The segment version that decided.
    pub version: u64,
    /// Which predicates held at the last evaluation (bit `i` = leaf `i` of the rule).
    pub leaves: u64,
    /// When time alone can next change the result.
    pub next_check: Option<DateTime<Utc>>,
}

impl Membership {
    /// Whether the row carries information worth storing.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{automation::Membership, CustomerId};
    /// let m = Membership { segment: "s".into(), customer: CustomerId::new(), member: false,
    ///     since: chrono::Utc::now(), version: 1, leaves: 0, next_check: None };
    /// assert!(!m.is_stored());
    /// ```
    pub fn is_stored(&self) -> bool {
        self.member || self.next_check.is_some()
    }
}
