//! RFM summaries from transaction columns, as lifetimes 0.11.3's
//! `summary_data_from_transaction_data(..., freq='D')` and `calibration_and_holdout_data` compute
//! them.
//!
//! # Input
//!
//! Three columns of equal length, one row per transaction, in any order:
//!
//! - `customer`: a dense customer index (`0..n_customers`; gaps are allowed, customers without
//!   transactions simply do not appear in the output);
//! - `timestamp_micros`: the instant of the transaction in microseconds since the Unix epoch, UTC;
//! - `amount`: the transaction's value. Every amount must be finite (NaN or ±∞ is an error that
//!   names the row), even on rows the observation window drops.
//!
//! # Semantics
//!
//! Time is counted in **UTC calendar days** (`day = timestamp.div_euclid(86 400 000 000)`, see
//! [`day_of`]); a transaction happens "at" its day. For each customer:
//!
//! - transactions on days after the observation end day (`as_of`'s day) are ignored; a customer
//!   whose first purchase is after it is not in the output;
//! - transactions on the same day are one *purchase period*; their amounts are summed;
//! - `frequency` = distinct purchase days − 1 (repeat purchase days; a count, whatever the unit);
//! - `recency` = last purchase day − first purchase day, in the time unit;
//! - `t` (the models' `T`) = observation end day − first purchase day, in the time unit;
//! - `monetary` = mean of the repeat days' summed amounts (the first day excluded), 0 when
//!   `frequency` is 0;
//! - `first_day` = the first purchase day (days since 1970-01-01, UTC).
//!
//! Non-positive amounts (the full CDNOW log has 80 rows with 0.00) follow a
//! [`NonPositiveAmounts`] policy the caller chooses: [`Keep`](NonPositiveAmounts::Keep) them like
//! lifetimes does,
//! [`Exclude`](NonPositiveAmounts::Exclude) their rows from everything, or
//! [`ExcludeFromMonetary`](NonPositiveAmounts::ExcludeFromMonetary): the row still makes its day a
//! purchase day, but adds nothing to the spend.
//!
//! Results do not depend on the row order, to the last bit: each customer's rows are ordered by
//! `(day, amount)` before anything is summed. Sums are compensated (Kahan) like pandas' grouped
//! sums and means, in that order, which is the order lifetimes sorts the rows in: on the CDNOW
//! logs every summary column equals lifetimes' to the last bit. (lifetimes sums the holdout rows
//! for `monetary_value_holdout` in input order instead, so
//! [`CalibrationHoldout::monetary_holdout_per_row`] can differ from it by an ulp when a customer's
//! same-day holdout rows are not in ascending amount order.)
//!
//! # Speed
//!
//! No per-row heap allocation. Rows already grouped by customer (each customer's rows
//! contiguous) are read in place. Otherwise a two-level counting sort: the rows are scattered
//! into buckets of 1024 consecutive customer indices, then each bucket, small enough for the
//! cache, is counting-sorted by day and by customer. Each customer's few rows are then in day
//! order. Large inputs share the scatter and the per-bucket sorts between two threads when two
//! cores are available; the results are the same to the last bit either way. Very sparse customer indices (the largest index far above the row count) fall back to a
//! comparison sort of the rows. On one core, 10 million shuffled rows of a million customers take
//! about a quarter of a second; the same rows grouped by customer, a tenth.

use std::str::FromStr;

use crate::data::Cells;
use crate::error::{ClvError, Result};

/// Microseconds in a day.
///
/// # Examples
///
/// ```
/// assert_eq!(crmkit_clv::summary::MICROS_PER_DAY, 24 * 3600 * 1_000_000);
/// ```
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The UTC calendar day of an instant given in microseconds since the Unix epoch: days since
/// 1970-01-01 (negative before it).
///
/// # Examples
///
/// ```
/// use crmkit_clv::summary::{day_of, MICROS_PER_DAY};
/// assert_eq!(day_of(0), 0);
/// assert_eq!(day_of(MICROS_PER_DAY - 1), 0);
/// assert_eq!(day_of(-1), -1);
/// ```
pub fn day_of(timestamp_micros: i64) -> i64 {
    timestamp_micros.div_euclid(MICROS_PER_DAY)
}

/// Days in crmkit's year: the Julian year of 365.25 days, the length of [`TimeUnit::Year`].
///
/// # Examples
///
/// ```
/// use crmkit_clv::summary::{DAYS_PER_YEAR, TimeUnit};
/// assert_eq!(TimeUnit::Year.days(), DAYS_PER_YEAR);
/// ```
pub const DAYS_PER_YEAR: f64 = 365.25;

/// Days in crmkit's month: a twelfth of [`DAYS_PER_YEAR`], 30.4375 days. It is the length of
/// [`TimeUnit::Month`] and of the months crmkit counts and discounts CLV in (`crmkit-core`'s
/// valuation, the Python `customer_lifetime_value`): see [`TimeUnit::per_month`].
///
/// It is not lifetimes' month. lifetimes' `customer_lifetime_value` steps through months of 30
/// days when the model is in days, 4.345 weeks (30.415 days) in weeks and 720 hours in hours
/// ([`crate::clv::LIFETIMES_DAYS_PER_MONTH`] and its siblings): conventions of that one function,
/// kept separately only to reproduce lifetimes' values to the last bit.
///
/// # Examples
///
/// ```
/// use crmkit_clv::summary::{DAYS_PER_MONTH, TimeUnit};
/// assert_eq!(DAYS_PER_MONTH, 30.4375);
/// assert_eq!(TimeUnit::Month.days(), DAYS_PER_MONTH);
/// assert_ne!(DAYS_PER_MONTH, crmkit_clv::clv::LIFETIMES_DAYS_PER_MONTH);
/// ```
pub const DAYS_PER_MONTH: f64 = DAYS_PER_YEAR / 12.0;

/// The unit `recency`, `t` and holdout durations are expressed in. Frequencies stay counts.
///
/// # Examples
///
/// ```
/// use crmkit_clv::summary::TimeUnit;
/// assert_eq!(TimeUnit::Week.days(), 7.0);
/// assert_eq!(TimeUnit::Year.days(), 365.25);
/// assert_eq!(TimeUnit::Days(14.0).days(), 14.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum TimeUnit {
    /// One day (lifetimes' `freq='D'` without rescaling).
    #[default]
    Day,
    /// 7 days.
    Week,
    /// [`DAYS_PER_MONTH`] (365.25 / 12) days.
    Month,
    /// [`DAYS_PER_YEAR`] (365.25) days.
    Year,
    /// A custom number of days (finite, > 0).
    Days(f64),
}

impl TimeUnit {
    /// The length of the unit in days.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_clv::summary::TimeUnit::Month.days(), 365.25 / 12.0);
    /// ```
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Day => 1.0,
            TimeUnit::Week => 7.0,
            TimeUnit::Month => DAYS_PER_MONTH,
            TimeUnit::Year => DAYS_PER_YEAR,
            TimeUnit::Days(d) => d,
        }
    }

    /// How many of this unit make a month of [`DAYS_PER_MONTH`] days: the `period_length` of
    /// monthly [`Discounting::Discrete`](crate::clv::Discounting::Discrete) for a model fitted in
    /// this unit.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::summary::{DAYS_PER_MONTH, TimeUnit};
    /// assert_eq!(TimeUnit::Month.per_month(), 1.0);
    /// assert_eq!(TimeUnit::Week.per_month(), DAYS_PER_MONTH / 7.0); // 4.348 weeks
    /// assert_eq!(TimeUnit::Day.per_month(), 30.4375);
    /// ```
    pub fn per_month(self) -> f64 {
        DAYS_PER_MONTH / self.days()
    }

    /// The length in days, checked to be finite and positive.
    pub(crate) fn checked_days(self) -> Result<f64> {
        let d = self.days();
        if d.is_finite() && d > 0.0 {
            Ok(d)
        } else {
            Err(ClvError::InvalidParameter {
                name: "time_unit".into(),
                message: format!("{d} days is not a finite positive length"),
            })
        }
    }
}

impl FromStr for TimeUnit {
    type Err = ClvError;

    /// Parses `day`, `week`, `month` or `year` (any case, also plural or the initial: `D`, `W`,
    /// `M`, `Y`), or a number of days (finite, > 0); anything else is
    /// [`ClvError::InvalidParameter`] naming the time unit.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::summary::TimeUnit;
    /// assert_eq!("W".parse::<TimeUnit>()?, TimeUnit::Week);
    /// assert_eq!(" Months ".parse::<TimeUnit>()?, TimeUnit::Month);
    /// assert_eq!("14".parse::<TimeUnit>()?, TimeUnit::Days(14.0));
    /// let err = "fortnight".parse::<TimeUnit>().unwrap_err();
    /// assert_eq!(err.to_string(), r#"invalid time unit: "fortnight": expected day, week, month, year or a number of days"#);
    /// assert!("-1".parse::<TimeUnit>().is_err());
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    fn from_str(s: &str) -> Result<TimeUnit> {
        match s.trim().to_lowercase().as_str() {
            "day" | "days" | "d" => Ok(TimeUnit::Day),
            "week" | "weeks" | "w" => Ok(TimeUnit::Week),
            "month" | "months" | "m" => Ok(TimeUnit::Month),
            "year" | "years" | "y" => Ok(TimeUnit::Year),
            other => match other.parse::<f64>() {
                Ok(d) if d.is_finite() && d > 0.0 => Ok(TimeUnit::Days(d)),
                _ => Err(ClvError::InvalidParameter {
                    name: "time unit".into(),
                    message: format!("{s:?}: expected day, week, month, year or a number of days"),
                }),
            },
        }
    }
}

/// What to do with transactions whose amount is ≤ 0 (free items, corrections, returns).
///
/// # Examples
///
/// ```
/// use crmkit_clv::summary::NonPositiveAmounts;
/// assert_eq!(NonPositiveAmounts::default(), NonPositiveAmounts::Keep);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NonPositiveAmounts {
    /// Keep them like any other row, as lifetimes does: they make purchase days and their
    /// amounts are summed into the day's spend (a negative amount lowers it).
    #[default]
    Keep,
    /// Drop their rows before anything else: they make no purchase day and no spend. A customer
    /// with only such rows is not in the output.
    Exclude,
    /// Count the purchase but not the spend: the row makes its day a purchase day (frequency,
    /// recency, T), but its amount is not summed. A repeat day with only such rows has no spend
    /// and is left out of the monetary mean (which is 0 if no repeat day has spend).
    ExcludeFromMonetary,
}

impl NonPositiveAmounts {
    /// Whether a row with this amount is dropped entirely.
    fn drops_row(self, amount: f64) -> bool {
        self == NonPositiveAmounts::Exclude && amount <= 0.0
    }

    /// Whether a kept row's amount counts as spend.
    fn is_spend(self, amount: f64) -> bool {
        self != NonPositiveAmounts::ExcludeFromMonetary || amount > 0.0
    }
}

impl FromStr for NonPositiveAmounts {
    type Err = ClvError;

    /// Parses `keep`, `exclude` or `exclude_from_monetary` (any case, `-` for `_`); anything else
    /// is [`ClvError::InvalidParameter`] naming `non_positive`.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::summary::NonPositiveAmounts;
    /// assert_eq!("keep".parse::<NonPositiveAmounts>()?, NonPositiveAmounts::Keep);
    /// assert_eq!("Exclude-From-Monetary".parse::<NonPositiveAmounts>()?, NonPositiveAmounts::ExcludeFromMonetary);
    /// assert!("drop".parse::<NonPositiveAmounts>().unwrap_err().to_string().contains("non_positive"));
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    fn from_str(s: &str) -> Result<NonPositiveAmounts> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "keep" => Ok(NonPositiveAmounts::Keep),
            "exclude" => Ok(NonPositiveAmounts::Exclude),
            "exclude_from_monetary" => Ok(NonPositiveAmounts::ExcludeFromMonetary),
            _ => Err(ClvError::InvalidParameter {
                name: "non_positive".into(),
                message: format!("{s:?}: expected keep, exclude or exclude_from_monetary"),
            }),
        }
    }
}

/// Options of [`summary`].
///
/// # Examples
///
/// ```
/// use crmkit_clv::summary::{NonPositiveAmounts, SummaryOptions, TimeUnit};
/// let o = SummaryOptions::new(0).time_unit(TimeUnit::Week).non_positive(NonPositiveAmounts::Exclude);
/// assert_eq!((o.as_of_micros, o.time_unit), (0, TimeUnit::Week));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SummaryOptions {
    /// The observation end, an instant (µs since the epoch, UTC). Its UTC day is the last day
    /// observed: transactions on later days are ignored, those on that day count.
    pub as_of_micros: i64,
    /// The unit of `recency` and `t`.
    pub time_unit: TimeUnit,
    /// The non-positive amount policy.
    pub non_positive: NonPositiveAmounts,
}

impl SummaryOptions {
    /// Options observing up to `as_of_micros`, in days, keeping non-positive amounts.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::summary::{NonPositiveAmounts, SummaryOptions, TimeUnit};
    /// let o = SummaryOptions::new(1_000);
    /// assert_eq!((o.time_unit, o.non_positive), (TimeUnit::Day, NonPositiveAmounts::Keep));
    /// ```
    pub fn new(as_of_micros: i64) -> SummaryOptions {
        SummaryOptions {
            as_of_micros,
            time_unit: TimeUnit::Day,
            non_positive: NonPositiveAmounts::Keep,
        }
    }

    /// Sets the time unit.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::summary::{SummaryOptions, TimeUnit};
    /// assert_eq!(SummaryOptions::new(0).time_unit(TimeUnit::Year).time_unit, TimeUnit::Year);
    /// ```
    pub fn time_unit(mut self, time_unit: TimeUnit) -> SummaryOptions {
        self.time_unit = time_unit;
        self
    }

    /// Sets the non-positive amount policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::summary::{NonPositiveAmounts, SummaryOptions};
    /// let o = SummaryOptions::new(0).non_positive(NonPositiveAmounts::ExcludeFromMonetary);
    /// assert_eq!(o.non_positive, NonPositiveAmounts::ExcludeFromMonetary);
    /// ```
    pub fn non_positive(mut self, policy: NonPositiveAmounts) -> SummaryOptions {
        self.non_positive = policy;
        self
    }
}

/// Per-customer RFM summary columns, sorted by customer index. See the [module docs](self) for
/// the definitions.
///
/// # Examples
///
/// ```
/// use crmkit_clv::summary::{summary, SummaryOptions, MICROS_PER_DAY};
/// let d = MICROS_PER_DAY;
/// let s = summary(&[0, 0, 0], &[0, 3 * d, 3 * d + 5], &[10.0, 4.0, 6.0], &SummaryOptions::new(9 * d))?;
/// assert_eq!((s.frequency[0], s.recency[0], s.t[0], s.monetary[0]), (1.0, 3.0, 9.0, 10.0));
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Customer index, ascending.
    pub customer: Vec<u32>,
    /// Repeat purchase days (a whole number, stored as `f64` to feed the models directly).
    pub frequency: Vec<f64>,
    /// Last purchase day − first purchase day, in the time unit.
    pub recency: Vec<f64>,
    /// Observation end day − first purchase day, in the time unit (the models' `T`).
    pub t: Vec<f64>,
    /// Mean summed spend of the repeat purchase days; 0 when there is none.
    pub monetary: Vec<f64>,
    /// First purchase day (days since 1970-01-01, UTC).
    pub first_day: Vec<i64>,
    /// The unit of `recency` and `t`.
    pub time_unit: TimeUnit,
    /// The observation end day (days since 1970-01-01, UTC).
    pub as_of_day: i64,
}

impl Summary {
    /// Number of customers.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_clv::summary::Summary::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.customer.len()
    }

    /// Whether there are no customers.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_clv::summary::Summary::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.customer.is_empty()
    }

    /// The `(frequency, recency, T)` cells the models fit on. Fails (naming the row) if a
    /// customer has `T = 0`, i.e. made the first purchase on the observation end day: drop such
    /// customers or observe longer.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::summary::{summary, SummaryOptions, MICROS_PER_DAY};
    /// let d = MICROS_PER_DAY;
    /// let s = summary(&[0, 1], &[0, 0], &[1.0, 1.0], &SummaryOptions::new(7 * d))?;
    /// assert_eq!(s.to_cells()?.total_weight(), 2.0);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn to_cells(&self) -> Result<Cells> {
        Cells::from_columns(&self.frequency, &self.recency, &self.t)
    }
}

/// The RFM summary of transaction columns observed up to `options.as_of_micros`.
///
/// Errors: columns of different lengths ([`ClvError::LengthMismatch`]), a non-finite amount
/// ([`ClvError::InvalidInput`] naming the row), a time unit that is not a positive length.
///
/// # Examples
///
/// ```
/// use crmkit_clv::summary::{summary, NonPositiveAmounts, SummaryOptions, TimeUnit, MICROS_PER_DAY};
/// let d = MICROS_PER_DAY;
/// // Customer 1 buys on days 0, 7 (twice) and 14; customer 0 on day 3 only; a day-30 row is
/// // after the observation end (day 20).
/// let customer = [1, 1, 0, 1, 1, 1];
/// let ts = [0, 7 * d, 3 * d, 7 * d + 1, 14 * d, 30 * d];
/// let amount = [5.0, 2.0, 8.0, 3.0, 0.0, 9.0];
/// let options = SummaryOptions::new(20 * d).time_unit(TimeUnit::Week);
/// let s = summary(&customer, &ts, &amount, &options)?;
/// assert_eq!(s.customer, vec![0, 1]);
/// assert_eq!(s.frequency, vec![0.0, 2.0]);
/// assert_eq!(s.recency, vec![0.0, 2.0]);
/// assert_eq!(s.t, vec![17.0 / 7.0, 20.0 / 7.0]);
/// assert_eq!(s.monetary, vec![0.0, 2.5]); // (2 + 3 + 0) / 2
/// let s = summary(&customer, &ts, &amount, &options.non_positive(NonPositiveAmounts::Exclude))?;
/// assert_eq!((s.frequency[1], s.monetary[1]), (1.0, 5.0));
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
pub fn summary(
    customer: &[u32],
    timestamp_micros: &[i64],
    amount: &[f64],
    options: &SummaryOptions,
) -> Result<Summary> {
    let unit = options.time_unit.checked_days()?;
    let end = day_of(options.as_of_micros);
    let mut acc = Accumulator::new(end, unit, options.non_positive, false);
    let policy = options.non_positive;
    for_each_customer(
        customer,
        timestamp_micros,
        Some(amount),
        end,
        |a| policy.drops_row(a),
        &mut acc,
    )?;
    Ok(acc.finish(options.time_unit).0)
}

/// A calibration summary with per-customer holdout columns, as lifetimes'
/// `calibration_and_holdout_data`.
///
/// # Examples
///
/// ```
/// use crmkit_clv::summary::{calibration_and_holdout, NonPositiveAmounts, TimeUnit, MICROS_PER_DAY};
/// let d = MICROS_PER_DAY;
/// let ch = calibration_and_holdout(&[0, 0], &[0, 12 * d], &[1.0, 2.0], 9 * d, 19 * d,
///     TimeUnit::Day, NonPositiveAmounts::Keep)?;
/// assert_eq!((ch.frequency_holdout[0], ch.duration_holdout[0]), (1.0, 10.0));
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CalibrationHoldout {
    /// The summary of the calibration period (its `as_of_day` is the calibration end day).
    pub calibration: Summary,
    /// Distinct purchase days in the holdout window, per calibration customer.
    pub frequency_holdout: Vec<f64>,
    /// Mean summed spend per holdout purchase day (same-day transactions summed first, like the
    /// calibration `monetary`); 0 without holdout spend.
    pub monetary_holdout: Vec<f64>,
    /// Mean spend per holdout **transaction row**, not summed per day first: what lifetimes
    /// 0.11.3 returns as `monetary_value_holdout`; 0 without holdout spend.
    pub monetary_holdout_per_row: Vec<f64>,
    /// Observation end day − calibration end day, in the time unit (the same for every customer).
    pub duration_holdout: Vec<f64>,
}

/// Splits transactions at `calibration_end_micros`: the calibration [`Summary`] of the days up
/// to the calibration end day, plus what each of its customers did on the holdout days (after
/// the calibration end day, up to the observation end day). Customers whose first purchase is
/// after the calibration end are excluded, as in lifetimes.
///
/// Both ends are instants whose UTC days are used, like [`SummaryOptions::as_of_micros`]
/// (lifetimes compares the raw timestamps for the split, which is the same for date-only data).
/// Unlike lifetimes, an empty holdout window is not an error.
///
/// # Examples
///
/// ```
/// use crmkit_clv::summary::{calibration_and_holdout, NonPositiveAmounts, TimeUnit, MICROS_PER_DAY};
/// let d = MICROS_PER_DAY;
/// // Customer 0: days 0 and 2 (calibration), 8 twice and 9 (holdout). Customer 1 starts in the holdout.
/// let customer = [0, 0, 0, 0, 0, 1];
/// let ts = [0, 2 * d, 8 * d, 8 * d, 9 * d, 8 * d];
/// let amount = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let ch = calibration_and_holdout(&customer, &ts, &amount, 5 * d, 12 * d, TimeUnit::Day,
///     NonPositiveAmounts::Keep)?;
/// assert_eq!(ch.calibration.customer, vec![0]);
/// assert_eq!(ch.calibration.frequency, vec![1.0]);
/// assert_eq!(ch.frequency_holdout, vec![2.0]);
/// assert_eq!(ch.monetary_holdout, vec![6.0]); // (3 + 4 + 5) / 2 days
/// assert_eq!(ch.monetary_holdout_per_row, vec![4.0]); // (3 + 4 + 5) / 3 rows
/// assert_eq!(ch.duration_holdout, vec![7.0]);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
pub fn calibration_and_holdout(
    customer: &[u32],
    timestamp_micros: &[i64],
    amount: &[f64],
    calibration_end_micros: i64,
    observation_end_micros: i64,
    time_unit: TimeUnit,
    policy: NonPositiveAmounts,
) -> Result<CalibrationHoldout> {
    let unit = time_unit.checked_days()?;
    let cal = day_of(calibration_end_micros);
    let end = day_of(observation_end_micros);
    if end < cal {
        return Err(ClvError::InvalidParameter {
            name: "observation_end".into(),
            message: format!("day {end} is before the calibration end day {cal}"),
        });
    }
    let mut acc = Accumulator::new(cal, unit, policy, true);
    for_each_customer(
        customer,
        timestamp_micros,
        Some(amount),
        end,
        |a| policy.drops_row(a),
        &mut acc,
    )?;
    let (calibration, holdout) = acc.finish(time_unit);
    let duration = (end - cal) as f64 / unit;
    Ok(CalibrationHoldout {
        duration_holdout: vec![duration; calibration.len()],
        calibration,
        frequency_holdout: holdout.frequency,
        monetary_holdout: holdout.monetary,
        monetary_holdout_per_row: holdout.monetary_per_row,
    })
}

/// Holdout columns under construction.
#[derive(Default)]
struct Holdout {
    frequency: Vec<f64>,
    monetary: Vec<f64>,
    monetary_per_row: Vec<f64>,
}

/// Turns each customer's sorted rows into summary (and holdout) values.
struct Accumulator {
    cal_day: i64,
    unit: f64,
    policy: NonPositiveAmounts,
    holdout: Option<Holdout>,
    out: Summary,
}

impl Accumulator {
    fn new(cal_day: i64, unit: f64, policy: NonPositiveAmounts, holdout: bool) -> Accumulator {
        Accumulator {
            cal_day,
            unit,
            policy,
            holdout: holdout.then(Holdout::default),
            out: Summary::default(),
        }
    }

    fn reserve(&mut self, customers: usize) {
        let o = &mut self.out;
        o.customer.reserve(customers);
        o.frequency.reserve(customers);
        o.recency.reserve(customers);
        o.t.reserve(customers);
        o.monetary.reserve(customers);
        o.first_day.reserve(customers);
        if let Some(h) = &mut self.holdout {
            h.frequency.reserve(customers);
            h.monetary.reserve(customers);
            h.monetary_per_row.reserve(customers);
        }
    }

    /// One customer's kept rows (days ≤ end day), sorted by `(day, amount)`, non-empty.
    #[inline]
    fn push(&mut self, customer: u32, rows: &[(i32, f64)]) {
        let Some(&(first, _)) = rows.first() else {
            return;
        };
        let first = i64::from(first);
        if first > self.cal_day {
            return;
        }
        let policy = self.policy;
        let (mut cal_days, mut last) = (0u32, first);
        let (mut repeat, mut repeat_days) = (Kahan::default(), 0u32);
        let (mut hold_days, mut hold_spend_days, mut hold_rows) = (0u32, 0u32, 0u32);
        let (mut hold_by_day, mut hold_by_row) = (Kahan::default(), Kahan::default());
        let mut i = 0;
        while i < rows.len() {
            let (day, a) = rows[i];
            let in_holdout = i64::from(day) > self.cal_day;
            i += 1;
            // The day's spend: the common single-row day directly (a compensated sum of one term
            // is the term itself), several rows by compensated summation.
            let (sum, spend_rows) = if i == rows.len() || rows[i].0 != day {
                if policy.is_spend(a) {
                    if in_holdout {
                        hold_by_row.add(a);
                    }
                    (a, 1u32)
                } else {
                    (0.0, 0)
                }
            } else {
                let (mut sum, mut spend_rows) = (Kahan::default(), 0u32);
                let mut j = i - 1;
                while j < rows.len() && rows[j].0 == day {
                    let a = rows[j].1;
                    if policy.is_spend(a) {
                        sum.add(a);
                        spend_rows += 1;
                        if in_holdout {
                            hold_by_row.add(a);
                        }
                    }
                    j += 1;
                }
                i = j;
                (sum.sum, spend_rows)
            };
            let day = i64::from(day);
            if !in_holdout {
                cal_days += 1;
                last = day;
                if day != first && spend_rows > 0 {
                    repeat.add(sum);
                    repeat_days += 1;
                }
            } else {
                hold_days += 1;
                if spend_rows > 0 {
                    hold_by_day.add(sum);
                    hold_spend_days += 1;
                    hold_rows += spend_rows;
                }
            }
        }
        let o = &mut self.out;
        o.customer.push(customer);
        o.frequency.push(f64::from(cal_days - 1));
        o.recency.push((last - first) as f64 / self.unit);
        o.t.push((self.cal_day - first) as f64 / self.unit);
        o.monetary.push(mean(repeat.sum, repeat_days));
        o.first_day.push(first);
        if let Some(h) = &mut self.holdout {
            h.frequency.push(f64::from(hold_days));
            h.monetary.push(mean(hold_by_day.sum, hold_spend_days));
            h.monetary_per_row.push(mean(hold_by_row.sum, hold_rows));
        }
    }

    fn finish(mut self, time_unit: TimeUnit) -> (Summary, Holdout) {
        self.out.time_unit = time_unit;
        self.out.as_of_day = self.cal_day;
        (self.out, self.holdout.unwrap_or_default())
    }
}

impl CustomerSink for Accumulator {
    fn reserve(&mut self, customers: usize) {
        Accumulator::reserve(self, customers);
    }

    fn customer(&mut self, customer: u32, rows: &[(i32, f64)]) {
        self.push(customer, rows);
    }

    fn fork(&self) -> Option<Accumulator> {
        Some(Accumulator::new(self.cal_day, self.unit, self.policy, self.holdout.is_some()))
    }

    fn join(&mut self, later: Accumulator) {
        let (o, l) = (&mut self.out, later.out);
        o.customer.extend_from_slice(&l.customer);
        o.frequency.extend_from_slice(&l.frequency);
        o.recency.extend_from_slice(&l.recency);
        o.t.extend_from_slice(&l.t);
        o.monetary.extend_from_slice(&l.monetary);
        o.first_day.extend_from_slice(&l.first_day);
        if let (Some(h), Some(l)) = (&mut self.holdout, later.holdout) {
            h.frequency.extend_from_slice(&l.frequency);
            h.monetary.extend_from_slice(&l.monetary);
            h.monetary_per_row.extend_from_slice(&l.monetary_per_row);
        }
    }
}

/// Receives each customer's rows from [`for_each_customer`]. Closures are sinks.
pub(crate) trait CustomerSink {
    /// At most this many customers follow (a hint to reserve memory).
    fn reserve(&mut self, _customers: usize) {}

    /// One customer's rows, sorted by `(day, amount)`.
    fn customer(&mut self, customer: u32, rows: &[(i32, f64)]);

    /// An empty sink for a later range of customers, to be filled on another thread and then
    /// [`join`](CustomerSink::join)ed; `None` (the default) keeps every call on one thread.
    fn fork(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }

    /// Appends what a [`fork`](CustomerSink::fork) received (customers after this sink's).
    fn join(&mut self, _later: Self)
    where
        Self: Sized,
    {
    }
}

impl<F: FnMut(u32, &[(i32, f64)])> CustomerSink for F {
    fn customer(&mut self, customer: u32, rows: &[(i32, f64)]) {
        self(customer, rows);
    }
}

/// Compensated (Kahan) summation, term for term as pandas' grouped `sum` and `mean`, so that the
/// spends match lifetimes to the last bit when the rows are added in the same order.
#[derive(Debug, Clone, Copy, Default)]
struct Kahan {
    sum: f64,
    compensation: f64,
}

impl Kahan {
    fn add(&mut self, v: f64) {
        let y = v - self.compensation;
        let t = self.sum + y;
        self.compensation = t - self.sum - y;
        self.sum = t;
    }
}

fn mean(sum: f64, count: u32) -> f64 {
    if count == 0 { 0.0 } else { sum / f64::from(count) }
}

/// Customers per first-level bucket of the two-level counting sort: a bucket's rows are then
/// bucketed by customer in cache.
const LOW_BITS: u32 = 10;
const LOW_MASK: usize = (1 << LOW_BITS) - 1;

/// Sorts one customer's rows by `(day, amount)`: insertion sort for the usual handful of rows.
fn sort_rows(rows: &mut [(i32, f64)]) {
    let less =
        |a: &(i32, f64), b: &(i32, f64)| a.0 < b.0 || (a.0 == b.0 && a.1.total_cmp(&b.1).is_lt());
    if rows.len() > 32 {
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        return;
    }
    for i in 1..rows.len() {
        let v = rows[i];
        let mut j = i;
        while j > 0 && less(&v, &rows[j - 1]) {
            rows[j] = rows[j - 1];
            j -= 1;
        }
        rows[j] = v;
    }
}

/// Groups rows by customer and calls `sink.customer(customer, rows)` once per customer with at
/// least one kept row, in ascending customer order. A row is kept when its day is ≤ `end_day`
/// and `skip(amount)` is false. `rows` holds `(day, amount)` sorted by day, then amount
/// (`total_cmp`), so anything computed from it is independent of the input order. Without
/// `amount`, amounts are 0.
///
/// Validates the lengths and that every amount is finite.
///
/// Rows grouped by customer are read in place. Otherwise a two-level counting sort: rows are
/// scattered into buckets of 1024 consecutive customer indices (few enough write streams to stay
/// cache friendly), then each bucket, small enough for the cache, is counting-sorted by day and
/// by customer; large inputs on two threads (the sorts too when the sink can
/// [`fork`](CustomerSink::fork)). Customer indices far above the row count fall back to a comparison sort.
pub(crate) fn for_each_customer(
    customer: &[u32],
    timestamp_micros: &[i64],
    amount: Option<&[f64]>,
    end_day: i64,
    skip: impl Fn(f64) -> bool + Sync,
    sink: &mut (impl CustomerSink + Send),
) -> Result<()> {
    let n = customer.len();
    let amount_len = amount.map_or(n, <[f64]>::len);
    if timestamp_micros.len() != n || amount_len != n {
        return Err(ClvError::LengthMismatch {
            message: match amount {
                Some(a) => format!(
                    "customer {n}, timestamp {}, amount {}",
                    timestamp_micros.len(),
                    a.len()
                ),
                None => format!("customer {n}, timestamp {}", timestamp_micros.len()),
            },
        });
    }
    let amount_at = |i: usize| amount.map_or(0.0, |a| a[i]);
    // Every kept day fits an i32: |day_of(i64)| ≤ 106 751 992.
    let kept = |i: usize| -> Option<(i32, f64)> {
        let day = day_of(timestamp_micros[i]);
        let a = amount_at(i);
        (day <= end_day && !skip(a)).then_some((day as i32, a))
    };

    // Pass 1: are the rows grouped by customer (each customer's rows contiguous)? Stops at the
    // first customer met twice, which is at once for shuffled rows.
    let dense_limit = n.saturating_mul(4).max(1 << 20);
    let mut seen: Vec<u64> = Vec::new();
    let mut runs: Vec<(u32, usize, usize)> = Vec::new();
    let mut grouped = true;
    for (i, &c) in customer.iter().enumerate() {
        if runs.last().is_some_and(|r| r.0 == c) {
            continue;
        }
        let ci = c as usize;
        if ci >= dense_limit {
            grouped = false;
            break;
        }
        let (w, b) = (ci / 64, 1u64 << (ci % 64));
        if w >= seen.len() {
            seen.resize((w + 1).max(seen.len() * 2), 0);
        }
        if seen[w] & b != 0 {
            grouped = false;
            break;
        }
        seen[w] |= b;
        if let Some(r) = runs.last_mut() {
            r.2 = i;
        }
        runs.push((c, i, n));
    }
    drop(seen);
    let mut scratch: Vec<(i32, f64)> = Vec::new();

    if grouped {
        if let Some(a) = amount {
            check_finite(a)?;
        }
        if !runs.is_sorted_by_key(|r| r.0) {
            runs.sort_unstable_by_key(|r| r.0);
        }
        sink.reserve(runs.len());
        for &(c, start, end) in &runs {
            scratch.clear();
            scratch.extend((start..end).filter_map(kept));
            if !scratch.is_empty() {
                sort_rows(&mut scratch);
                sink.customer(c, &scratch);
            }
        }
        return Ok(());
    }
    drop(runs);

    // Two threads share the scatter and the per-bucket sorts of large inputs (the result does
    // not depend on it: each customer's rows are fully sorted before anything is summed).
    let threads = if n >= PARALLEL_ROWS {
        std::thread::available_parallelism().map_or(1, |p| p.get()).min(2)
    } else {
        1
    };
    let mid = if threads == 2 { n / 2 } else { n };

    // Pass 2: per half of the rows, a count of all rows per bucket of 1024 consecutive customers
    // (so no bucket ever overflows its slots), and the largest customer index.
    let limit_bucket = dense_limit >> LOW_BITS;
    let ((mut counts, max0), (counts1, max1)) = both(
        threads,
        || bucket_counts(&customer[..mid], limit_bucket),
        || bucket_counts(&customer[mid..], limit_bucket),
    );
    let max_customer = max0.max(max1);
    if max_customer as usize >= dense_limit {
        drop((counts, counts1));
        if let Some(a) = amount {
            check_finite(a)?;
        }
        // Sparse indices: a comparison sort of the kept rows.
        let mut rows: Vec<(u32, i32, f64)> =
            (0..n).filter_map(|i| kept(i).map(|(d, a)| (customer[i], d, a))).collect();
        rows.sort_unstable_by_key(|r| r.0);
        let mut i = 0;
        while i < rows.len() {
            let c = rows[i].0;
            scratch.clear();
            while i < rows.len() && rows[i].0 == c {
                scratch.push((rows[i].1, rows[i].2));
                i += 1;
            }
            sort_rows(&mut scratch);
            sink.customer(c, &scratch);
        }
        return Ok(());
    }
    let n_buckets = (max_customer as usize >> LOW_BITS) + 1;
    counts.truncate(n_buckets);

    // Pass 3: every row into its bucket's slots (the first half's rows, then the second's),
    // packed as `[low customer bits << 32 | day, amount bits]`; a dropped row is overwritten by
    // the next row of its bucket. Amounts are checked on the way.
    let mut packed: Vec<Vec<[u64; 2]>> =
        counts.iter().zip(&counts1).map(|(&c0, &c1)| vec![[0u64; 2]; c0 + c1]).collect();
    let (mut slots0, mut slots1): (Vec<&mut [Packed]>, Vec<&mut [Packed]>) =
        packed.iter_mut().zip(&counts).map(|(v, &c0)| v.split_at_mut(c0)).unzip();
    let scan_half = |range: std::ops::Range<usize>, slots: &mut [&mut [[u64; 2]]]| {
        let (c, t) = (&customer[range.clone()], &timestamp_micros[range.clone()]);
        match amount {
            Some(a) => scatter(c, t, a[range].iter().copied(), end_day, &skip, slots),
            None => scatter(c, t, std::iter::repeat(0.0), end_day, &skip, slots),
        }
    };
    let ((ends0, scan0), (ends1, scan1)) =
        both(threads, || scan_half(0..mid, &mut slots0), || scan_half(mid..n, &mut slots1));
    drop((slots0, slots1));
    if let Some(a) = amount
        && !(scan0.finite && scan1.finite)
    {
        check_finite(a)?;
    }
    // Each bucket's kept rows made contiguous, in input order.
    let kept_rows = ends0.iter().chain(&ends1).sum::<usize>();
    let scan = Scan {
        finite: true,
        time_ordered: scan0.time_ordered && scan1.time_ordered && scan0.max_day <= scan1.min_day,
        min_day: scan0.min_day.min(scan1.min_day),
        max_day: scan0.max_day.max(scan1.max_day),
    };
    let layout: Vec<(usize, usize, usize)> =
        counts.iter().zip(ends0.iter().zip(&ends1)).map(|(&c0, (&e0, &e1))| (c0, e0, e1)).collect();
    drop((counts, counts1, ends0, ends1));
    if kept_rows == 0 {
        sink.reserve(0);
        return Ok(());
    }

    // Pass 4, per bucket: the rows sorted and handed to the sink; on two threads (each half of
    // the rows) when the sink can fork.
    let later = if threads == 2 { sink.fork() } else { None };
    match later {
        Some(mut later) => {
            let mut split = 0;
            let mut seen = 0;
            while split < layout.len() && 2 * seen < kept_rows {
                seen += layout[split].1 + layout[split].2;
                split += 1;
            }
            let first_customers = split << LOW_BITS;
            sink.reserve(first_customers.min(seen));
            later.reserve(
                (max_customer as usize + 1 - first_customers.min(max_customer as usize + 1))
                    .min(kept_rows - seen),
            );
            let (p0, p1) = packed.split_at_mut(split);
            let (l0, l1) = layout.split_at(split);
            both(
                2,
                || sort_buckets(p0, l0, 0, &scan, sink),
                || sort_buckets(p1, l1, split, &scan, &mut later),
            );
            sink.join(later);
        }
        None => {
            sink.reserve(kept_rows.min(max_customer as usize + 1));
            sort_buckets(&mut packed, &layout, 0, &scan, sink);
        }
    }
    Ok(())
}

/// Inputs with at least this many rows are sorted on two threads when two cores are available.
const PARALLEL_ROWS: usize = 1 << 17;

/// Runs `a` and `b`, on two threads if `threads` is 2.
fn both<A: Send, B: Send>(
    threads: usize,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if threads < 2 {
        return (a(), b());
    }
    std::thread::scope(|s| {
        let handle = s.spawn(b);
        let a = a();
        let b = handle.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        (a, b)
    })
}

/// Rows per bucket of `1 << LOW_BITS` customers (indices from `limit_bucket` on share the last
/// bucket), and the largest customer index (0 without rows).
fn bucket_counts(customer: &[u32], limit_bucket: usize) -> (Vec<usize>, u32) {
    let mut counts = vec![0usize; limit_bucket + 1];
    let mut max_customer = 0u32;
    for &c in customer {
        max_customer = max_customer.max(c);
        counts[(c as usize >> LOW_BITS).min(limit_bucket)] += 1;
    }
    (counts, max_customer)
}

/// Sorts the rows of consecutive buckets (the first is bucket `first`) and hands each customer's
/// rows to the sink. `layout` gives, per bucket, where the second half's rows start and how
/// many rows of each half were kept.
fn sort_buckets(
    packed: &mut [Vec<[u64; 2]>],
    layout: &[(usize, usize, usize)],
    first: usize,
    scan: &Scan,
    sink: &mut impl CustomerSink,
) {
    // A stable counting sort by day (unless the rows are in time order already; skipped too
    // when the days span a very wide range), then a stable counting sort by customer, so each
    // customer's rows come out sorted by day; same-day rows are then put in amount order.
    let span = (i64::from(scan.max_day) - i64::from(scan.min_day)).max(0) as usize + 1;
    let mut scratch: Vec<(i32, f64)> = Vec::new();
    let mut by_day: Vec<[u64; 2]> = Vec::new();
    let mut day_slots: Vec<usize> = Vec::new();
    let mut low = vec![0usize; LOW_MASK + 2];
    let mut cursor = vec![0usize; LOW_MASK + 2];
    for (h, (slots, &(split, end0, end1))) in packed.iter_mut().zip(layout).enumerate() {
        let mut slots = std::mem::take(slots);
        slots.copy_within(split..split + end1, end0);
        let bucket = &slots[..end0 + end1];
        if bucket.is_empty() {
            continue;
        }
        let day_sorted = scan.time_ordered || span <= 4 * bucket.len() + 4096;
        low.fill(0);
        let source = if day_sorted && !scan.time_ordered {
            day_slots.clear();
            day_slots.resize(span + 1, 0);
            for r in bucket {
                low[(r[0] >> 32) as usize + 1] += 1;
                day_slots[(packed_day(r) - scan.min_day) as usize + 1] += 1;
            }
            for k in 1..day_slots.len() {
                day_slots[k] += day_slots[k - 1];
            }
            by_day.clear();
            by_day.resize(bucket.len(), [0, 0]);
            for r in bucket {
                let slot = &mut day_slots[(packed_day(r) - scan.min_day) as usize];
                by_day[*slot] = *r;
                *slot += 1;
            }
            &by_day[..]
        } else {
            for r in bucket {
                low[(r[0] >> 32) as usize + 1] += 1;
            }
            bucket
        };
        for k in 1..low.len() {
            low[k] += low[k - 1];
        }
        scratch.clear();
        scratch.resize(bucket.len(), (0, 0.0));
        cursor.copy_from_slice(&low);
        for r in source {
            let slot = &mut cursor[(r[0] >> 32) as usize];
            scratch[*slot] = (packed_day(r), f64::from_bits(r[1]));
            *slot += 1;
        }
        for k in 0..=LOW_MASK {
            let rows = &mut scratch[low[k]..low[k + 1]];
            if rows.is_empty() {
                continue;
            }
            if day_sorted {
                sort_same_day(rows);
            } else {
                sort_rows(rows);
            }
            sink.customer((((first + h) << LOW_BITS) | k) as u32, rows);
        }
    }
}

/// A row in a bucket: `[low customer bits << 32 | day as u32, amount bits]`.
type Packed = [u64; 2];

/// The day of a packed row.
#[inline]
fn packed_day(r: &[u64; 2]) -> i32 {
    r[0] as u32 as i32
}

/// Fails, naming the first row, if an amount is not finite.
fn check_finite(amount: &[f64]) -> Result<()> {
    match amount.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(ClvError::InvalidInput {
            column: "amount".into(),
            index: i,
            message: format!("{} is not a finite amount", amount[i]),
        }),
        None => Ok(()),
    }
}

/// What [`scatter`] saw of the rows.
struct Scan {
    /// Every amount is finite.
    finite: bool,
    /// The kept rows are in day order.
    time_ordered: bool,
    /// The first and last kept days (`i32::MAX`, `i32::MIN` without kept rows).
    min_day: i32,
    max_day: i32,
}

/// Packs every row into the next slot of its customer bucket, without branches on the data:
/// a bucket's cursor only advances past kept rows. Returns the kept rows per bucket.
fn scatter(
    customer: &[u32],
    timestamp_micros: &[i64],
    amount: impl Iterator<Item = f64>,
    end_day: i64,
    skip: &impl Fn(f64) -> bool,
    slots: &mut [&mut [[u64; 2]]],
) -> (Vec<usize>, Scan) {
    let mut ends = vec![0usize; slots.len()];
    let mut scan = Scan { finite: true, time_ordered: true, min_day: i32::MAX, max_day: i32::MIN };
    let mut previous = i32::MIN;
    for ((&c, &ts), a) in customer.iter().zip(timestamp_micros).zip(amount) {
        let day = day_of(ts);
        let keep = (day <= end_day) & !skip(a);
        // Every day fits an i32: |day_of(i64)| ≤ 106 751 992.
        let d = day as i32;
        let b = c as usize >> LOW_BITS;
        let end = &mut ends[b];
        slots[b][*end] =
            [(((c as usize & LOW_MASK) as u64) << 32) | u64::from(d as u32), a.to_bits()];
        *end += usize::from(keep);
        scan.finite &= a.is_finite();
        let kept_day = if keep { d } else { previous };
        scan.time_ordered &= kept_day >= previous;
        previous = kept_day;
        scan.min_day = scan.min_day.min(if keep { d } else { i32::MAX });
        scan.max_day = scan.max_day.max(if keep { d } else { i32::MIN });
    }
    (ends, scan)
}

/// Puts the rows of each day in amount order, given rows sorted by day.
fn sort_same_day(rows: &mut [(i32, f64)]) {
    let mut i = 0;
    while i + 1 < rows.len() {
        if rows[i + 1].0 != rows[i].0 {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < rows.len() && rows[j].0 == rows[i].0 {
            j += 1;
        }
        sort_rows(&mut rows[i..j]);
        i = j;
    }
}
