//! RFM scores (quintiles with a defined tie rule) and named segments.
//!
//! # Scores
//!
//! Each dimension is scored 1–5 by [`quantile_scores`]: the customers are ranked by value, tied
//! customers share the lowest rank (`rank` = how many customers have a strictly smaller value,
//! 0-based), and `score = 1 + floor(5 · rank / n)`. So equal values always get equal scores, a
//! larger value never gets a smaller score, and the top score goes to values above at least 80 % of
//! the customers. Heavy ties skip scores: when 60 % of customers have frequency 0, they all score
//! 1 and the next frequency scores 4. Values closer than `1e-9` relative
//! ([`TIE_TOLERANCE`]) count as equal, so float noise (a recency of `272/7 − 213/7` versus
//! `59/7`) never splits a tie.
//!
//! - **R** scores *days since the last purchase*, `T − recency` (in the summary's unit): the
//!   more recent, the higher the score;
//! - **F** scores `frequency` (repeat purchase days): more is higher;
//! - **M** scores `monetary` (mean repeat spend, 0 for one-time buyers): more is higher.
//!
//! # Segments
//!
//! A [`Scheme`] is an ordered list of [`Rule`]s, each a name with an allowed range of R, F and
//! optionally M scores; a customer gets the **first** rule that matches. [`Scheme::new`] checks
//! the rules on the whole 5×5 (R×F) or, if any rule constrains M, 5×5×5 grid of score cells and
//! keeps a [`SchemeReport`]: rules that can never be reached (every cell they match is taken by an
//! earlier rule), cells matched by more than one rule, and cells no rule matches.
//! [`Scheme::strict`] makes unreachable rules and uncovered cells an error. [`Scheme::default`]
//! is the common 10-segment R×F grid, which covers every cell exactly once.

use std::fmt;
use std::ops::RangeInclusive;

use crate::error::{ClvError, Result};
use crate::summary::Summary;

/// The highest score (scores run from 1 to 5).
///
/// # Examples
///
/// ```
/// assert_eq!(crmkit_clv::rfm::MAX_SCORE, 5);
/// ```
pub const MAX_SCORE: u8 = 5;

/// Values whose difference is at most this times `max(1, |smallest value of the tie group|)` are
/// tied in [`quantile_scores`].
///
/// # Examples
///
/// ```
/// use crmkit_clv::rfm::quantile_scores;
/// assert_eq!(quantile_scores(&[272.0 / 7.0 - 213.0 / 7.0, 59.0 / 7.0, 0.0], 5)?, vec![2, 2, 1]);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
pub const TIE_TOLERANCE: f64 = 1e-9;

/// Scores `values` from 1 to `bins` by quantile bin: `1 + floor(bins · rank / n)`, where `rank`
/// is the number of values strictly smaller (ties share the lowest rank; see [`TIE_TOLERANCE`]).
/// Larger values get larger or equal scores.
///
/// Errors: `bins` = 0, or a NaN / infinite value (naming the row).
///
/// # Examples
///
/// ```
/// use crmkit_clv::rfm::quantile_scores;
/// assert_eq!(quantile_scores(&[10.0, 20.0, 30.0, 40.0, 50.0], 5)?, vec![1, 2, 3, 4, 5]);
/// // Ties share the lowest rank: the three zeros have rank 0, the 7 has rank 3 → 1 + 5·3/4 = 4.
/// assert_eq!(quantile_scores(&[0.0, 7.0, 0.0, 0.0], 5)?, vec![1, 4, 1, 1]);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
pub fn quantile_scores(values: &[f64], bins: u8) -> Result<Vec<u8>> {
    scores_named(values, bins, "value")
}

fn scores_named(values: &[f64], bins: u8, column: &str) -> Result<Vec<u8>> {
    if bins == 0 {
        return Err(ClvError::InvalidParameter {
            name: "bins".into(),
            message: "must be at least 1".into(),
        });
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(ClvError::InvalidInput {
            column: column.into(),
            index: i,
            message: format!("{} is not finite", values[i]),
        });
    }
    let n = values.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut scores = vec![0u8; n];
    let mut group_start = 0usize;
    let mut leader = f64::NAN;
    for (pos, &i) in order.iter().enumerate() {
        let v = values[i];
        if pos == 0 || v - leader > TIE_TOLERANCE * leader.abs().max(1.0) {
            group_start = pos;
            leader = v;
        }
        // bins · rank / n < bins because rank < n, so the score fits in u8.
        let bin = (u128::from(bins) * group_start as u128 / n as u128) as u8;
        scores[i] = 1 + bin;
    }
    Ok(scores)
}

/// R, F and M scores (1–5), one per customer, in the input order.
///
/// # Examples
///
/// ```
/// let s = crmkit_clv::rfm::RfmScores::default();
/// assert!(s.r.is_empty() && s.f.is_empty() && s.m.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RfmScores {
    /// Recency score: 5 = bought most recently (fewest days since the last purchase).
    pub r: Vec<u8>,
    /// Frequency score: 5 = most repeat purchase days.
    pub f: Vec<u8>,
    /// Monetary score: 5 = highest mean repeat spend.
    pub m: Vec<u8>,
}

impl RfmScores {
    /// Scores a [`Summary`]; the same as [`rfm_scores`] on its columns.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::rfm::RfmScores;
    /// use crmkit_clv::summary::{summary, SummaryOptions, MICROS_PER_DAY};
    /// let d = MICROS_PER_DAY;
    /// let s = summary(&[0, 0, 1], &[0, 5 * d, 2 * d], &[1.0, 9.0, 3.0], &SummaryOptions::new(6 * d))?;
    /// let scores = RfmScores::from_summary(&s)?;
    /// // Customer 0 bought 1 day ago, once again, for 9; customer 1 bought once, 4 days ago.
    /// assert_eq!((scores.r, scores.f, scores.m), (vec![3, 1], vec![3, 1], vec![3, 1]));
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn from_summary(summary: &Summary) -> Result<RfmScores> {
        rfm_scores(&summary.frequency, &summary.recency, &summary.t, &summary.monetary)
    }
}

/// Scores summary columns (see the [module docs](self)): R from `t − recency` (smaller is
/// better), F from `frequency`, M from `monetary`.
///
/// Errors: columns of different lengths, non-finite values, `recency > t`.
///
/// # Examples
///
/// ```
/// use crmkit_clv::rfm::rfm_scores;
/// let frequency = [0.0, 1.0, 2.0, 5.0, 3.0];
/// let recency = [0.0, 10.0, 20.0, 30.0, 30.0];
/// let t = [40.0, 40.0, 40.0, 40.0, 30.0];
/// let monetary = [0.0, 10.0, 5.0, 50.0, 20.0];
/// let s = rfm_scores(&frequency, &recency, &t, &monetary)?;
/// // days since the last purchase: 40, 30, 20, 10, 0
/// assert_eq!(s.r, vec![1, 2, 3, 4, 5]);
/// assert_eq!(s.f, vec![1, 2, 3, 5, 4]);
/// assert_eq!(s.m, vec![1, 3, 2, 5, 4]);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
pub fn rfm_scores(
    frequency: &[f64],
    recency: &[f64],
    t: &[f64],
    monetary: &[f64],
) -> Result<RfmScores> {
    let n = frequency.len();
    if recency.len() != n || t.len() != n || monetary.len() != n {
        return Err(ClvError::LengthMismatch {
            message: format!(
                "frequency {n}, recency {}, T {}, monetary {}",
                recency.len(),
                t.len(),
                monetary.len()
            ),
        });
    }
    let mut since_last = Vec::with_capacity(n);
    for i in 0..n {
        let (r, tt) = (recency[i], t[i]);
        if !r.is_finite() || !tt.is_finite() || r > tt {
            return Err(ClvError::InvalidInput {
                column: "recency".into(),
                index: i,
                message: format!("recency {r} with T {tt}: need finite values, recency ≤ T"),
            });
        }
        // Negated so that the most recent customers have the largest value.
        since_last.push(-(tt - r));
    }
    Ok(RfmScores {
        r: scores_named(&since_last, MAX_SCORE, "recency")?,
        f: scores_named(frequency, MAX_SCORE, "frequency")?,
        m: scores_named(monetary, MAX_SCORE, "monetary")?,
    })
}

/// One named segment rule: allowed R and F score ranges and, optionally, an M range (inclusive).
///
/// # Examples
///
/// ```
/// use crmkit_clv::rfm::Rule;
/// let rule = Rule::new("champions", 5..=5, 4..=5).with_m(4..=5);
/// assert_eq!(rule.name(), "champions");
/// assert!(rule.matches(5, 4, 5) && !rule.matches(5, 4, 3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    name: String,
    r: (u8, u8),
    f: (u8, u8),
    m: Option<(u8, u8)>,
}

impl Rule {
    /// A rule on R and F scores (any M). Ranges are checked by [`Scheme::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rule = crmkit_clv::rfm::Rule::new("hibernating", 1..=2, 1..=2);
    /// assert!(rule.matches(2, 1, 5));
    /// ```
    pub fn new(name: impl Into<String>, r: RangeInclusive<u8>, f: RangeInclusive<u8>) -> Rule {
        Rule { name: name.into(), r: (*r.start(), *r.end()), f: (*f.start(), *f.end()), m: None }
    }

    /// Also constrains the M score.
    ///
    /// # Examples
    ///
    /// ```
    /// let rule = crmkit_clv::rfm::Rule::new("big", 1..=5, 1..=5).with_m(5..=5);
    /// assert!(!rule.matches(3, 3, 4));
    /// ```
    pub fn with_m(mut self, m: RangeInclusive<u8>) -> Rule {
        self.m = Some((*m.start(), *m.end()));
        self
    }

    /// The segment name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_clv::rfm::Rule::new("x", 1..=1, 1..=1).name(), "x");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether scores `(r, f, m)` fall in the rule's ranges.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_clv::rfm::Rule::new("x", 1..=2, 3..=4).matches(2, 3, 1));
    /// ```
    pub fn matches(&self, r: u8, f: u8, m: u8) -> bool {
        let within = |v: u8, (lo, hi): (u8, u8)| lo <= v && v <= hi;
        within(r, self.r) && within(f, self.f) && self.m.is_none_or(|range| within(m, range))
    }

    fn check(&self) -> Result<()> {
        let ranges = [("R", Some(self.r)), ("F", Some(self.f)), ("M", self.m)];
        for (dim, range) in ranges {
            if let Some((lo, hi)) = range
                && !(1 <= lo && lo <= hi && hi <= MAX_SCORE)
            {
                return Err(ClvError::InvalidParameter {
                    name: format!("rule {:?}", self.name),
                    message: format!(
                        "{dim} range {lo}..={hi} is not a non-empty range within 1..={MAX_SCORE}"
                    ),
                });
            }
        }
        Ok(())
    }
}

/// A cell of the score grid; `m` is `None` for R×F schemes.
///
/// # Examples
///
/// ```
/// let c = crmkit_clv::rfm::Cell { r: 1, f: 2, m: None };
/// assert_eq!(c.to_string(), "R1 F2");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    /// Recency score.
    pub r: u8,
    /// Frequency score.
    pub f: u8,
    /// Monetary score, for schemes that use it.
    pub m: Option<u8>,
}

impl fmt::Display for Cell {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(out, "R{} F{}", self.r, self.f)?;
        if let Some(m) = self.m {
            write!(out, " M{m}")?;
        }
        Ok(())
    }
}

/// A rule that no customer can ever get.
///
/// # Examples
///
/// ```
/// use crmkit_clv::rfm::{Rule, Scheme};
/// let s = Scheme::new(vec![Rule::new("all", 1..=5, 1..=5), Rule::new("never", 1..=1, 1..=1)])?;
/// let u = &s.report().unreachable[0];
/// assert_eq!((u.segment.as_str(), u.cells, u.taken_by.clone()), ("never", 1, vec!["all".to_string()]));
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    /// The rule's name.
    pub segment: String,
    /// Its position in the scheme.
    pub index: usize,
    /// How many grid cells it matches (all of them taken by earlier rules).
    pub cells: usize,
    /// The earlier rules that take its cells, in scheme order.
    pub taken_by: Vec<String>,
}

/// A cell that more than one rule matches (the first one wins).
///
/// # Examples
///
/// ```
/// use crmkit_clv::rfm::{Rule, Scheme};
/// let s = Scheme::new(vec![Rule::new("a", 1..=5, 1..=5), Rule::new("b", 5..=5, 5..=5)])?;
/// assert_eq!(s.report().overlaps[0].segments, vec!["a".to_string(), "b".to_string()]);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    /// The cell.
    pub cell: Cell,
    /// The rules that match it, in scheme order (the first one is assigned).
    pub segments: Vec<String>,
}

/// What [`Scheme::new`] found about a list of rules on the score grid.
///
/// # Examples
///
/// ```
/// let report = crmkit_clv::rfm::Scheme::default().report().clone();
/// assert!(report.is_partition());
/// assert_eq!(report.cells, 25);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemeReport {
    /// Number of grid cells: 25 (R×F) or 125 (R×F×M).
    pub cells: usize,
    /// Rules no customer can get under first-match.
    pub unreachable: Vec<Unreachable>,
    /// Cells matched by more than one rule, in grid order.
    pub overlaps: Vec<Overlap>,
    /// Cells no rule matches, in grid order: customers there get no segment.
    pub uncovered: Vec<Cell>,
}

impl SchemeReport {
    /// Whether every cell is matched by exactly one rule (so every rule is reachable).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_clv::rfm::Scheme::default().report().is_partition());
    /// ```
    pub fn is_partition(&self) -> bool {
        self.unreachable.is_empty() && self.overlaps.is_empty() && self.uncovered.is_empty()
    }

    /// Whether every rule is reachable and every cell is covered (overlaps are allowed: they are
    /// how first-match schemes are written).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_clv::rfm::Scheme::default().report().is_sound());
    /// ```
    pub fn is_sound(&self) -> bool {
        self.unreachable.is_empty() && self.uncovered.is_empty()
    }
}

impl fmt::Display for SchemeReport {
    /// A human-readable summary: one line per unreachable rule, the overlap and uncovered cells.
    ///
    /// # Examples
    ///
    /// ```
    /// let text = crmkit_clv::rfm::Scheme::default().report().to_string();
    /// assert!(text.contains("0 unreachable"));
    /// ```
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            out,
            "{} cells: {} unreachable segment(s), {} overlapping cell(s), {} uncovered cell(s)",
            self.cells,
            self.unreachable.len(),
            self.overlaps.len(),
            self.uncovered.len()
        )?;
        for u in &self.unreachable {
            write!(
                out,
                "; unreachable {:?} (rule {}, {} cell(s), all taken by {})",
                u.segment,
                u.index,
                u.cells,
                u.taken_by.join(", ")
            )?;
        }
        if !self.uncovered.is_empty() {
            let cells: Vec<String> = self.uncovered.iter().map(Cell::to_string).collect();
            write!(out, "; uncovered: {}", cells.join(", "))?;
        }
        Ok(())
    }
}

/// An ordered list of segment rules, checked on the score grid; see the [module docs](self).
///
/// # Examples
///
/// ```
/// use crmkit_clv::rfm::{Rule, Scheme};
/// let s = Scheme::new(vec![Rule::new("recent", 4..=5, 1..=5), Rule::new("rest", 1..=5, 1..=5)])?;
/// assert_eq!(s.names(), vec!["recent", "rest"]);
/// assert_eq!(s.report().overlaps.len(), 10);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheme {
    rules: Vec<Rule>,
    uses_m: bool,
    /// First matching rule per cell, indexed by `cell_index(r, f, m)` (m = 1 for R×F schemes).
    lookup: Vec<Option<usize>>,
    report: SchemeReport,
}

fn cell_index(r: u8, f: u8, m: u8) -> usize {
    let s = usize::from(MAX_SCORE);
    (usize::from(r) - 1) * s * s + (usize::from(f) - 1) * s + (usize::from(m) - 1)
}

impl Scheme {
    /// Checks the rules (non-empty list, unique names, ranges within 1..=5) and analyses them on
    /// the grid; the findings are in [`Scheme::report`]. Unreachable rules, overlaps and
    /// uncovered cells are reported, not errors (see [`Scheme::strict`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::rfm::{Rule, Scheme};
    /// let err = Scheme::new(vec![Rule::new("bad", 0..=2, 1..=5)]).unwrap_err();
    /// assert!(err.to_string().contains("R range 0..=2"));
    /// let s = Scheme::new(vec![Rule::new("low", 1..=2, 1..=5)])?;
    /// assert_eq!(s.report().uncovered.len(), 15);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn new(rules: Vec<Rule>) -> Result<Scheme> {
        if rules.is_empty() {
            return Err(ClvError::InvalidParameter {
                name: "scheme".into(),
                message: "has no rules".into(),
            });
        }
        for (i, rule) in rules.iter().enumerate() {
            rule.check()?;
            if rules[..i].iter().any(|other| other.name == rule.name) {
                return Err(ClvError::InvalidParameter {
                    name: "scheme".into(),
                    message: format!("segment name {:?} is used twice", rule.name),
                });
            }
        }
        Ok(Scheme::analyse(rules))
    }

    /// Like [`Scheme::new`], but a scheme with an unreachable rule or an uncovered cell is an
    /// error ([`ClvError::InvalidParameter`] with the report). Overlaps are allowed.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::rfm::{Rule, Scheme};
    /// let err = Scheme::strict(vec![Rule::new("all", 1..=5, 1..=5), Rule::new("dead", 1..=1, 1..=1)])
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("unreachable \"dead\""));
    /// ```
    pub fn strict(rules: Vec<Rule>) -> Result<Scheme> {
        let scheme = Scheme::new(rules)?;
        if scheme.report.is_sound() {
            Ok(scheme)
        } else {
            Err(ClvError::InvalidParameter {
                name: "scheme".into(),
                message: scheme.report.to_string(),
            })
        }
    }

    fn analyse(rules: Vec<Rule>) -> Scheme {
        let uses_m = rules.iter().any(|r| r.m.is_some());
        let m_values: Vec<Option<u8>> =
            if uses_m { (1..=MAX_SCORE).map(Some).collect() } else { vec![None] };
        let mut lookup = vec![None; usize::from(MAX_SCORE).pow(3)];
        let mut report = SchemeReport::default();
        let mut matched = vec![0usize; rules.len()];
        let mut won = vec![0usize; rules.len()];
        // For each rule, which earlier rules took its cells.
        let mut takers: Vec<Vec<bool>> = vec![vec![false; rules.len()]; rules.len()];
        for r in 1..=MAX_SCORE {
            for f in 1..=MAX_SCORE {
                for &m in &m_values {
                    report.cells += 1;
                    let cell = Cell { r, f, m };
                    let hits: Vec<usize> = (0..rules.len())
                        .filter(|&k| rules[k].matches(r, f, m.unwrap_or(1)))
                        .collect();
                    for &k in &hits {
                        matched[k] += 1;
                    }
                    match hits.first() {
                        None => report.uncovered.push(cell),
                        Some(&first) => {
                            won[first] += 1;
                            lookup[cell_index(r, f, m.unwrap_or(1))] = Some(first);
                            for &k in &hits[1..] {
                                takers[k][first] = true;
                            }
                        }
                    }
                    if hits.len() > 1 {
                        report.overlaps.push(Overlap {
                            cell,
                            segments: hits.iter().map(|&k| rules[k].name.clone()).collect(),
                        });
                    }
                }
            }
        }
        for (k, rule) in rules.iter().enumerate() {
            if won[k] == 0 {
                report.unreachable.push(Unreachable {
                    segment: rule.name.clone(),
                    index: k,
                    cells: matched[k],
                    taken_by: (0..rules.len())
                        .filter(|&j| takers[k][j])
                        .map(|j| rules[j].name.clone())
                        .collect(),
                });
            }
        }
        if !uses_m {
            // R×F schemes ignore M: every M value maps like M = 1.
            for r in 1..=MAX_SCORE {
                for f in 1..=MAX_SCORE {
                    let v = lookup[cell_index(r, f, 1)];
                    for m in 2..=MAX_SCORE {
                        lookup[cell_index(r, f, m)] = v;
                    }
                }
            }
        }
        Scheme { rules, uses_m, lookup, report }
    }

    /// What the analysis found.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_clv::rfm::Scheme::default().report().uncovered.is_empty());
    /// ```
    pub fn report(&self) -> &SchemeReport {
        &self.report
    }

    /// The rules, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_clv::rfm::Scheme::default().rules().len(), 10);
    /// ```
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The segment names, in rule order (segment index = position).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_clv::rfm::Scheme::default().names()[0], "hibernating");
    /// ```
    pub fn names(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.name.as_str()).collect()
    }

    /// Whether any rule constrains the M score (then [`segment`] needs M scores).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!crmkit_clv::rfm::Scheme::default().uses_m());
    /// ```
    pub fn uses_m(&self) -> bool {
        self.uses_m
    }

    /// The segment index of one customer's scores (first matching rule), `None` if no rule
    /// matches; scores outside 1..=5 match nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = crmkit_clv::rfm::Scheme::default();
    /// assert_eq!(s.classify(5, 5, 1).map(|k| s.names()[k]), Some("champions"));
    /// ```
    pub fn classify(&self, r: u8, f: u8, m: u8) -> Option<usize> {
        let ok = |v: u8| (1..=MAX_SCORE).contains(&v);
        if ok(r) && ok(f) && ok(m) { self.lookup[cell_index(r, f, m)] } else { None }
    }
}

impl Default for Scheme {
    /// The 10-segment R×F grid, which covers each of the 25 cells exactly once:
    ///
    /// | segment | R | F |
    /// |---|---|---|
    /// | hibernating | 1–2 | 1–2 |
    /// | at risk | 1–2 | 3–4 |
    /// | can't lose them | 1–2 | 5 |
    /// | about to sleep | 3 | 1–2 |
    /// | need attention | 3 | 3 |
    /// | loyal customers | 3–4 | 4–5 |
    /// | promising | 4 | 1 |
    /// | new customers | 5 | 1 |
    /// | potential loyalists | 4–5 | 2–3 |
    /// | champions | 5 | 4–5 |
    ///
    /// # Examples
    ///
    /// ```
    /// let s = crmkit_clv::rfm::Scheme::default();
    /// assert_eq!(s.classify(4, 4, 1).map(|k| s.names()[k]), Some("loyal customers"));
    /// ```
    fn default() -> Scheme {
        Scheme::analyse(vec![
            Rule::new("hibernating", 1..=2, 1..=2),
            Rule::new("at risk", 1..=2, 3..=4),
            Rule::new("can't lose them", 1..=2, 5..=5),
            Rule::new("about to sleep", 3..=3, 1..=2),
            Rule::new("need attention", 3..=3, 3..=3),
            Rule::new("loyal customers", 3..=4, 4..=5),
            Rule::new("promising", 4..=4, 1..=1),
            Rule::new("new customers", 5..=5, 1..=1),
            Rule::new("potential loyalists", 4..=5, 2..=3),
            Rule::new("champions", 5..=5, 4..=5),
        ])
    }
}

/// The segment index (position in the scheme) of each customer, `None` where no rule matches.
/// `m` may be `None` when the scheme does not use M scores.
///
/// Errors: columns of different lengths, a score outside 1..=5 (naming the row), missing M
/// scores for a scheme that uses them.
///
/// # Examples
///
/// ```
/// use crmkit_clv::rfm::{segment, Scheme};
/// let scheme = Scheme::default();
/// let seg = segment(&scheme, &[5, 1, 3], &[5, 1, 3], None)?;
/// let names: Vec<&str> = seg.iter().map(|s| s.map_or("-", |k| scheme.names()[k])).collect();
/// assert_eq!(names, vec!["champions", "hibernating", "need attention"]);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
pub fn segment(
    scheme: &Scheme,
    r: &[u8],
    f: &[u8],
    m: Option<&[u8]>,
) -> Result<Vec<Option<usize>>> {
    let n = r.len();
    if f.len() != n || m.is_some_and(|m| m.len() != n) {
        return Err(ClvError::LengthMismatch {
            message: format!(
                "r {n}, f {}, m {}",
                f.len(),
                m.map_or("none".to_string(), |m| m.len().to_string())
            ),
        });
    }
    if scheme.uses_m && m.is_none() {
        return Err(ClvError::InvalidParameter {
            name: "m".into(),
            message: "the scheme uses M scores but none were given".into(),
        });
    }
    let check = |column: &str, v: u8, i: usize| {
        if (1..=MAX_SCORE).contains(&v) {
            Ok(v)
        } else {
            Err(ClvError::InvalidInput {
                column: column.into(),
                index: i,
                message: format!("score {v} is not within 1..={MAX_SCORE}"),
            })
        }
    };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let rv = check("r", r[i], i)?;
        let fv = check("f", f[i], i)?;
        let mv = match m {
            Some(m) => check("m", m[i], i)?,
            None => 1,
        };
        let mv = if scheme.uses_m { mv } else { 1 };
        out.push(scheme.lookup[cell_index(rv, fv, mv)]);
    }
    Ok(out)
}

/// Like [`segment`], with names; `None` where no rule matches.
///
/// # Examples
///
/// ```
/// use crmkit_clv::rfm::{segment_names, Scheme};
/// let scheme = Scheme::default();
/// assert_eq!(segment_names(&scheme, &[1], &[5], None)?, vec![Some("can't lose them")]);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
pub fn segment_names<'s>(
    scheme: &'s Scheme,
    r: &[u8],
    f: &[u8],
    m: Option<&[u8]>,
) -> Result<Vec<Option<&'s str>>> {
    Ok(segment(scheme, r, f, m)?
        .into_iter()
        .map(|s| s.map(|k| scheme.rules[k].name.as_str()))
        .collect())
}

/// Customers per segment, in scheme order (empty segments included).
///
/// # Examples
///
/// ```
/// let s = crmkit_clv::rfm::SegmentSizes::default();
/// assert_eq!(s.total(), 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SegmentSizes {
    /// Segment names, in scheme order.
    pub name: Vec<String>,
    /// Customers in each segment.
    pub count: Vec<usize>,
    /// Share of all customers (including unmatched ones) in each segment; 0 when there are none.
    pub share: Vec<f64>,
    /// Customers no rule matched.
    pub unmatched: usize,
}

impl SegmentSizes {
    /// All customers counted, matched or not.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::rfm::{segment_sizes, Scheme};
    /// let scheme = Scheme::default();
    /// assert_eq!(segment_sizes(&scheme, &[Some(0), Some(0), None])?.total(), 3);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn total(&self) -> usize {
        self.count.iter().sum::<usize>() + self.unmatched
    }
}

/// Counts the customers of each segment from [`segment`]'s output.
///
/// Errors: a segment index that is not in the scheme (naming the row).
///
/// # Examples
///
/// ```
/// use crmkit_clv::rfm::{segment, segment_sizes, Scheme};
/// let scheme = Scheme::default();
/// let seg = segment(&scheme, &[5, 5, 1, 1], &[5, 4, 1, 2], None)?;
/// let sizes = segment_sizes(&scheme, &seg)?;
/// assert_eq!(sizes.count[9], 2); // champions
/// assert_eq!(sizes.share[0], 0.5); // hibernating
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
pub fn segment_sizes(scheme: &Scheme, segments: &[Option<usize>]) -> Result<SegmentSizes> {
    let k = scheme.rules.len();
    let mut count = vec![0usize; k];
    let mut unmatched = 0;
    for (i, s) in segments.iter().enumerate() {
        match *s {
            Some(j) if j < k => count[j] += 1,
            Some(j) => {
                return Err(ClvError::InvalidInput {
                    column: "segment".into(),
                    index: i,
                    message: format!("segment {j} is not in a scheme of {k} segments"),
                });
            }
            None => unmatched += 1,
        }
    }
    let n = segments.len();
    Ok(SegmentSizes {
        name: scheme.rules.iter().map(|r| r.name.clone()).collect(),
        share: count.iter().map(|&c| if n == 0 { 0.0 } else { c as f64 / n as f64 }).collect(),
        count,
        unmatched,
    })
}
