//! Customer value inside the CRM: fit the models on the store's own purchases as of a date, score
//! every customer, store both (versioned), and explain one customer's value.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use crmkit_clv::bgnbd::BgNbd;
use crmkit_clv::clv::{Discounting, RepeatPurchaseModel, customer_lifetime_value};
use crmkit_clv::gammagamma::{GammaGamma, repeat_spenders};
use crmkit_clv::mbgnbd::MbgNbd;
use crmkit_clv::paretonbd::ParetoNbd;
use crmkit_clv::rfm::{RfmScores, Scheme, segment};
use crmkit_clv::summary::{
    DAYS_PER_MONTH, DAYS_PER_YEAR, NonPositiveAmounts, Summary, SummaryOptions, TimeUnit, summary,
};
use crmkit_clv::{Cells, ClvError, FitInfo};
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

use crate::crm::Crm;
use crate::error::{Error, Result};
use crate::ids::CustomerId;
use crate::money::Currency;
use crate::store::{CustomerScore, ModelRecord, PurchaseColumns, WriteBatch, WriteOp};

/// The version of the JSON layout of [`ValueModels`] in a [`ModelRecord`].
pub const VALUE_MODELS_FORMAT: u32 = 1;

/// Which repeat-purchase model to fit.
///
/// # Examples
///
/// ```
/// use crmkit_core::PurchaseModelKind;
/// assert_eq!("pareto-nbd".parse::<PurchaseModelKind>()?, PurchaseModelKind::ParetoNbd);
/// assert_eq!(PurchaseModelKind::BgNbd.to_string(), "bgnbd");
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PurchaseModelKind {
    /// BG/NBD (Fader, Hardie & Lee 2005).
    #[default]
    BgNbd,
    /// MBG/NBD (Batislam et al. 2007).
    MbgNbd,
    /// Pareto/NBD (Schmittlein et al. 1987).
    ParetoNbd,
}

impl FromStr for PurchaseModelKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_lowercase().replace(['/', '-', '_'], "").as_str() {
            "bgnbd" => Ok(PurchaseModelKind::BgNbd),
            "mbgnbd" => Ok(PurchaseModelKind::MbgNbd),
            "paretonbd" | "pareto" => Ok(PurchaseModelKind::ParetoNbd),
            _ => Err(Error::validation(
                "model",
                format!("{s:?}: expected bgnbd, mbgnbd or paretonbd"),
            )),
        }
    }
}

impl fmt::Display for PurchaseModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PurchaseModelKind::BgNbd => "bgnbd",
            PurchaseModelKind::MbgNbd => "mbgnbd",
            PurchaseModelKind::ParetoNbd => "paretonbd",
        })
    }
}

/// Parses a time unit: `day`, `week`, `month`, `year`, or a number of days (the
/// [`FromStr`] of [`TimeUnit`], with this crate's error).
///
/// # Examples
///
/// ```
/// use crmkit_core::valuation::parse_time_unit;
/// assert_eq!(parse_time_unit("week")?.days(), 7.0);
/// assert_eq!(parse_time_unit("14")?.days(), 14.0);
/// assert!(parse_time_unit("fortnight").is_err());
/// # Ok::<(), crmkit_core::Error>(())
/// ```
pub fn parse_time_unit(s: &str) -> Result<TimeUnit> {
    Ok(s.parse::<TimeUnit>()?)
}

fn time_unit_name(unit: TimeUnit) -> String {
    match unit {
        TimeUnit::Day => "day".into(),
        TimeUnit::Week => "week".into(),
        TimeUnit::Month => "month".into(),
        TimeUnit::Year => "year".into(),
        TimeUnit::Days(d) => format!("{d} days"),
    }
}

/// How to fit and score (see [`Crm::fit_value`]).
///
/// # Examples
///
/// ```
/// let o = crmkit_core::ValueOptions::new("1997-09-30T23:59:59Z".parse()?);
/// assert_eq!((o.clv_months, o.monthly_discount_rate), (12, 0.01));
/// # Ok::<(), chrono::ParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ValueOptions {
    /// The observation end: purchases after it are ignored (no hidden "now").
    pub as_of: DateTime<Utc>,
    /// The time unit of the models (default week).
    pub time_unit: TimeUnit,
    /// The repeat-purchase model (default BG/NBD).
    pub model: PurchaseModelKind,
    /// Expected purchases are forecast over this many time units (default: one year).
    pub horizon: f64,
    /// CLV horizon in months (default 12).
    pub clv_months: u32,
    /// Discount rate per month (default 0.01), applied at the end of each month (lifetimes'
    /// convention, see `crmkit_clv::clv::Discounting::Discrete`).
    pub monthly_discount_rate: f64,
    /// What to do with purchases of 0 or less (default: keep, as lifetimes does).
    pub non_positive: NonPositiveAmounts,
    /// The currency to value in; default: the one most purchases are in. Purchases in other
    /// currencies are left out.
    pub currency: Option<Currency>,
}

impl ValueOptions {
    /// Defaults: weeks, BG/NBD, a one-year forecast, 12-month CLV at 1 % a month.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = crmkit_core::ValueOptions::new(chrono::Utc::now());
    /// assert!((o.horizon - 365.25 / 7.0).abs() < 1e-9);
    /// ```
    pub fn new(as_of: DateTime<Utc>) -> ValueOptions {
        ValueOptions {
            as_of,
            time_unit: TimeUnit::Week,
            model: PurchaseModelKind::BgNbd,
            horizon: DAYS_PER_YEAR / TimeUnit::Week.days(),
            clv_months: 12,
            monthly_discount_rate: 0.01,
            non_positive: NonPositiveAmounts::Keep,
            currency: None,
        }
    }

    /// Sets the time unit, keeping the horizon at the same length in days.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::summary::TimeUnit;
    /// let o = crmkit_core::ValueOptions::new(chrono::Utc::now()).time_unit(TimeUnit::Day);
    /// assert!((o.horizon - 365.25).abs() < 1e-9);
    /// ```
    pub fn time_unit(mut self, unit: TimeUnit) -> ValueOptions {
        let days = self.horizon * self.time_unit.days();
        self.time_unit = unit;
        self.horizon = days / unit.days();
        self
    }

    /// Sets the model.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{PurchaseModelKind, ValueOptions};
    /// let o = ValueOptions::new(chrono::Utc::now()).model(PurchaseModelKind::ParetoNbd);
    /// assert_eq!(o.model, PurchaseModelKind::ParetoNbd);
    /// ```
    pub fn model(mut self, model: PurchaseModelKind) -> ValueOptions {
        self.model = model;
        self
    }
}

/// A fitted repeat-purchase model.
///
/// # Examples
///
/// ```
/// use crmkit_core::FittedPurchaseModel;
/// let m = FittedPurchaseModel::BgNbd(crmkit_clv::bgnbd::BgNbd::new(0.243, 4.414, 0.793, 2.426)?);
/// assert!(m.expected_purchases(39.0) > 0.0);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "lowercase")]
pub enum FittedPurchaseModel {
    /// BG/NBD.
    BgNbd(BgNbd),
    /// MBG/NBD.
    MbgNbd(MbgNbd),
    /// Pareto/NBD.
    ParetoNbd(ParetoNbd),
}

impl FittedPurchaseModel {
    fn fit(kind: PurchaseModelKind, cells: &Cells) -> Result<(FittedPurchaseModel, FitInfo)> {
        Ok(match kind {
            PurchaseModelKind::BgNbd => {
                let (m, i) = BgNbd::fit(cells)?;
                (FittedPurchaseModel::BgNbd(m), i)
            }
            PurchaseModelKind::MbgNbd => {
                let (m, i) = MbgNbd::fit(cells)?;
                (FittedPurchaseModel::MbgNbd(m), i)
            }
            PurchaseModelKind::ParetoNbd => {
                let (m, i) = ParetoNbd::fit(cells)?;
                (FittedPurchaseModel::ParetoNbd(m), i)
            }
        })
    }

    /// The model's parameters by name.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::FittedPurchaseModel;
    /// let m = FittedPurchaseModel::BgNbd(crmkit_clv::bgnbd::BgNbd::new(1.0, 2.0, 3.0, 4.0)?);
    /// assert_eq!(m.parameters()[1], ("alpha", 2.0));
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn parameters(&self) -> Vec<(&'static str, f64)> {
        match self {
            FittedPurchaseModel::BgNbd(m) => {
                BgNbd::PARAMETERS.into_iter().zip([m.r, m.alpha, m.a, m.b]).collect()
            }
            FittedPurchaseModel::MbgNbd(m) => {
                MbgNbd::PARAMETERS.into_iter().zip([m.r, m.alpha, m.a, m.b]).collect()
            }
            FittedPurchaseModel::ParetoNbd(m) => {
                ParetoNbd::PARAMETERS.into_iter().zip([m.r, m.alpha, m.s, m.beta]).collect()
            }
        }
    }

    /// The model's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = crmkit_core::FittedPurchaseModel::BgNbd(crmkit_clv::bgnbd::BgNbd::new(1.0, 1.0, 1.0, 1.0)?);
    /// assert_eq!(m.kind(), crmkit_core::PurchaseModelKind::BgNbd);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn kind(&self) -> PurchaseModelKind {
        match self {
            FittedPurchaseModel::BgNbd(_) => PurchaseModelKind::BgNbd,
            FittedPurchaseModel::MbgNbd(_) => PurchaseModelKind::MbgNbd,
            FittedPurchaseModel::ParetoNbd(_) => PurchaseModelKind::ParetoNbd,
        }
    }

    /// E[X(t)] for a new customer.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = crmkit_core::FittedPurchaseModel::BgNbd(crmkit_clv::bgnbd::BgNbd::new(0.243, 4.414, 0.793, 2.426)?);
    /// assert!(m.expected_purchases(0.0).abs() < 1e-12);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn expected_purchases(&self, t: f64) -> f64 {
        match self {
            FittedPurchaseModel::BgNbd(m) => m.expected_purchases(t),
            FittedPurchaseModel::MbgNbd(m) => m.expected_purchases(t),
            FittedPurchaseModel::ParetoNbd(m) => m.expected_purchases(t),
        }
    }

    /// P(alive) for each customer.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = crmkit_core::FittedPurchaseModel::BgNbd(crmkit_clv::bgnbd::BgNbd::new(0.243, 4.414, 0.793, 2.426)?);
    /// assert_eq!(m.probability_alive(&[0.0], &[0.0], &[10.0])?, vec![1.0]);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn probability_alive(
        &self,
        x: &[f64],
        t_x: &[f64],
        big_t: &[f64],
    ) -> crmkit_clv::Result<Vec<f64>> {
        match self {
            FittedPurchaseModel::BgNbd(m) => m.probability_alive(x, t_x, big_t),
            FittedPurchaseModel::MbgNbd(m) => m.probability_alive(x, t_x, big_t),
            FittedPurchaseModel::ParetoNbd(m) => m.probability_alive(x, t_x, big_t),
        }
    }
}

impl RepeatPurchaseModel for FittedPurchaseModel {
    fn conditional_expected_purchases(
        &self,
        t: f64,
        x: &[f64],
        t_x: &[f64],
        big_t: &[f64],
    ) -> crmkit_clv::Result<Vec<f64>> {
        match self {
            FittedPurchaseModel::BgNbd(m) => m.conditional_expected_purchases(t, x, t_x, big_t),
            FittedPurchaseModel::MbgNbd(m) => m.conditional_expected_purchases(t, x, t_x, big_t),
            FittedPurchaseModel::ParetoNbd(m) => m.conditional_expected_purchases(t, x, t_x, big_t),
        }
    }
}

/// Everything fitted in one run: what a [`ModelRecord`] holds as JSON.
///
/// # Examples
///
/// ```
/// assert_eq!(crmkit_core::valuation::VALUE_MODELS_FORMAT, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueModels {
    /// [`VALUE_MODELS_FORMAT`].
    pub format_version: u32,
    /// The repeat-purchase model.
    pub purchase: FittedPurchaseModel,
    /// How its fit went.
    pub purchase_fit: FitInfo,
    /// The spend model, when there were repeat customers with positive spend.
    pub spend: Option<GammaGamma>,
    /// How its fit went.
    pub spend_fit: Option<FitInfo>,
    /// The length of the model's time unit in days.
    pub time_unit_days: f64,
    /// Forecast horizon in time units.
    pub horizon: f64,
    /// CLV horizon in months.
    pub clv_months: u32,
    /// Monthly discount rate.
    pub monthly_discount_rate: f64,
}

/// The result of [`Crm::fit_value`].
///
/// # Examples
///
/// ```
/// # fn _f(r: crmkit_core::ValueReport) { let _ = r.record.version; }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ValueReport {
    /// The stored model version.
    pub record: ModelRecord,
    /// The fitted models.
    pub models: ValueModels,
    /// Every scored customer's scores, in the order the store first saw their purchases.
    pub scores: Vec<CustomerScore>,
    /// Per scored customer: purchase revenue up to `as_of`, in the valuation currency.
    pub revenue: Vec<f64>,
    /// The customers with purchases in other currencies that were left out.
    pub other_currency_rows: usize,
}

/// A customer's value, explained: the parts multiply to the CLV.
///
/// # Examples
///
/// ```
/// # fn _f(e: crmkit_core::ValueExplanation) { let _ = e.score.p_alive; }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ValueExplanation {
    /// The stored scores.
    pub score: CustomerScore,
    /// The model version's record.
    pub model: ModelRecord,
    /// Expected purchases over the CLV horizon (undiscounted).
    pub clv_horizon_purchases: f64,
    /// CLV / (expected purchases × expected spend): the average discount factor.
    pub discount_factor: Option<f64>,
    /// A readable account of how the value comes about.
    pub text: String,
}

impl Crm {
    /// Fits the repeat-purchase model (and Gamma-Gamma for spend) on the store's purchases up to
    /// `options.as_of`, scores every customer who bought by then (P(alive), expected purchases
    /// over the horizon, expected spend, CLV, RFM scores and segment), and stores the models as
    /// a new version together with the scores, in one atomic batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, NewInteraction, Money, ValueOptions};
    /// let crm = Crm::in_memory();
    /// for (n, days) in [(0, vec![0, 10, 40]), (1, vec![5]), (2, vec![3, 60]), (3, vec![20, 21, 22, 70])] {
    ///     let c = crm.create_customer(NewCustomer::person(format!("c{n}")))?;
    ///     for d in days {
    ///         let at = chrono::DateTime::from_timestamp(1_700_000_000 + d * 86_400, 0).unwrap();
    ///         crm.record(NewInteraction::purchase(c.id, at, Money::parse("20", "EUR")?))?;
    ///     }
    /// }
    /// let report = crm.fit_value(&ValueOptions::new("2023-12-31T00:00:00Z".parse()?))?;
    /// assert_eq!((report.record.version, report.scores.len()), (1, 4));
    /// assert!(report.scores.iter().all(|s| (0.0..=1.0).contains(&s.p_alive)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fit_value(&self, options: &ValueOptions) -> Result<ValueReport> {
        let cols = self.store().scan_purchases()?;
        let currency = match options.currency {
            Some(c) => c,
            None => main_currency(&cols)
                .ok_or_else(|| Error::validation("purchases", "there are no purchases to fit"))?,
        };
        let (customer, ts, amount, other_currency_rows) = purchase_rows(&cols, currency);
        let as_of = options.as_of.timestamp_micros();
        let sum = summary(
            &customer,
            &ts,
            &amount,
            &SummaryOptions::new(as_of)
                .time_unit(options.time_unit)
                .non_positive(options.non_positive),
        )?;
        if sum.is_empty() {
            return Err(Error::validation("as_of", "no customer had bought by then"));
        }
        let cells = fit_cells(&sum)?;
        let (purchase, purchase_fit) = FittedPurchaseModel::fit(options.model, &cells)?;
        let (spend, spend_fit) = fit_spend(&sum)?;
        let models = ValueModels {
            format_version: VALUE_MODELS_FORMAT,
            purchase,
            purchase_fit,
            spend,
            spend_fit,
            time_unit_days: options.time_unit.days(),
            horizon: options.horizon,
            clv_months: options.clv_months,
            monthly_discount_rate: options.monthly_discount_rate,
        };
        let version = self.store().model(None)?.map_or(0, |m| m.version) + 1;
        let scores = score_all(&models, &sum, &cols, version)?;
        let revenue = revenue_until(&sum, &customer, &ts, &amount, as_of);
        let record = ModelRecord {
            version,
            fitted_at: self.now(),
            as_of: options.as_of,
            time_unit: time_unit_name(options.time_unit),
            currency: Some(currency),
            models: serde_json::to_value(&models)
                .map_err(|e| Error::storage("encoding the fitted models", e))?,
        };
        // The version is taken as the only writer: a fit by another writer since our read
        // moves ours up instead of failing it.
        let (_, (record, scores)) = self.commit_with(|| {
            let version = self.store().model(None)?.map_or(0, |m| m.version) + 1;
            let record = ModelRecord { version, ..record };
            let scores: Vec<CustomerScore> =
                scores.into_iter().map(|s| CustomerScore { model_version: version, ..s }).collect();
            let mut batch = WriteBatch::new();
            batch.push(WriteOp::SaveModel(record.clone()));
            batch.push(WriteOp::SaveScores(scores.clone()));
            Ok((batch, (record, scores)))
        })?;
        Ok(ValueReport { record, models, scores, revenue, other_currency_rows })
    }

    /// The fitted models of a stored version (`None`: the latest).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::Crm::in_memory().value_models(None)?.is_none());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn value_models(&self, version: Option<u64>) -> Result<Option<(ModelRecord, ValueModels)>> {
        match self.store().model(version)? {
            Some(record) => {
                let models = decode_models(&record)?;
                Ok(Some((record, models)))
            }
            None => Ok(None),
        }
    }

    /// Explains a customer's value from the latest scores: P(alive) × expected purchases ×
    /// expected spend × discounting, with the RFM scores and segment.
    ///
    /// # Examples
    ///
    /// ```
    /// let crm = crmkit_core::Crm::in_memory();
    /// let c = crm.create_customer(crmkit_core::NewCustomer::person("Bo"))?;
    /// assert_eq!(crm.explain_value(c.id).unwrap_err().kind(), crmkit_core::ErrorKind::NotFound);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn explain_value(&self, customer: CustomerId) -> Result<ValueExplanation> {
        let score = self.store().score(customer)?.ok_or_else(|| Error::NotFound {
            entity: "scores of customer",
            key: format!("{customer} (fit the models first, or the customer has no purchase)"),
        })?;
        let model = self.store().model(Some(score.model_version))?.ok_or_else(|| {
            Error::NotFound { entity: "model version", key: score.model_version.to_string() }
        })?;
        let models = decode_models(&model)?;
        let months = f64::from(models.clv_months);
        let horizon = months * DAYS_PER_MONTH / models.time_unit_days;
        let clv_horizon_purchases = models
            .purchase
            .conditional_expected_purchases(
                horizon,
                &[score.frequency],
                &[score.recency],
                &[score.age],
            )?
            .first()
            .copied()
            .unwrap_or(0.0);
        let discount_factor = match (score.clv, score.expected_spend) {
            (Some(clv), Some(spend)) if clv_horizon_purchases * spend > 0.0 => {
                Some(clv / (clv_horizon_purchases * spend))
            }
            _ => None,
        };
        let currency = model.currency.map_or(String::new(), |c| format!(" {c}"));
        let unit = &model.time_unit;
        let mut text = format!(
            "{} repeat purchases (recency {:.1}, age {:.1} {unit}s as of {}): P(alive) = {:.3}.\n",
            score.frequency,
            score.recency,
            score.age,
            model.as_of.format("%Y-%m-%d"),
            score.p_alive
        );
        text.push_str(&format!(
            "Expected purchases in the next {:.1} {unit}s: {:.3} (already weighted by P(alive)).\n",
            models.horizon, score.expected_purchases
        ));
        match (score.expected_spend, score.clv) {
            (Some(spend), Some(clv)) => text.push_str(&format!(
                "Over {} months: {:.3} expected purchases × {:.2}{currency} expected spend × {:.3} average discount ({} % a month) = CLV {:.2}{currency}.\n",
                models.clv_months,
                clv_horizon_purchases,
                spend,
                discount_factor.unwrap_or(1.0),
                models.monthly_discount_rate * 100.0,
                clv
            )),
            _ => text.push_str("No spend model was fitted, so there is no CLV.\n"),
        }
        text.push_str(&format!(
            "RFM scores R{} F{} M{}: segment \"{}\".",
            score.rfm[0], score.rfm[1], score.rfm[2], score.segment
        ));
        Ok(ValueExplanation { score, model, clv_horizon_purchases, discount_factor, text })
    }
}

fn decode_models(record: &ModelRecord) -> Result<ValueModels> {
    let models: ValueModels = serde_json::from_value(record.models.clone())
        .map_err(|e| Error::storage(&format!("decoding model version {}", record.version), e))?;
    if models.format_version > VALUE_MODELS_FORMAT {
        return Err(Error::Storage {
            message: format!(
                "model version {} has format {} but this crmkit reads up to {VALUE_MODELS_FORMAT}",
                record.version, models.format_version
            ),
            source: None,
        });
    }
    Ok(models)
}

/// The currency most purchases are in.
fn main_currency(cols: &PurchaseColumns) -> Option<Currency> {
    let mut counts = vec![0usize; cols.currencies.len()];
    for &c in &cols.currency_index {
        counts[c as usize] += 1;
    }
    (0..counts.len())
        .max_by_key(|&i| (counts[i], std::cmp::Reverse(cols.currencies[i])))
        .map(|i| cols.currencies[i])
}

/// The purchase rows in one currency, as the statistics' columns.
fn purchase_rows(
    cols: &PurchaseColumns,
    currency: Currency,
) -> (Vec<u32>, Vec<i64>, Vec<f64>, usize) {
    let Some(cur) = cols.currencies.iter().position(|c| *c == currency) else {
        return (Vec::new(), Vec::new(), Vec::new(), cols.len());
    };
    let mut customer = Vec::with_capacity(cols.len());
    let mut ts = Vec::with_capacity(cols.len());
    let mut amount = Vec::with_capacity(cols.len());
    let mut other = 0;
    for i in 0..cols.len() {
        if cols.currency_index[i] as usize != cur {
            other += 1;
            continue;
        }
        customer.push(cols.customer_index[i]);
        ts.push(cols.occurred_at_micros[i]);
        amount.push(cols.amount[i].to_f64().unwrap_or(f64::NAN));
    }
    (customer, ts, amount, other)
}

/// The cells to fit on ([`Cells::for_fit`]): customers who first bought on the observation day
/// itself (T = 0) carry no information about their rate or dropout and are left out of the fit
/// (they are still scored).
fn fit_cells(sum: &Summary) -> Result<Cells> {
    Cells::for_fit(&sum.frequency, &sum.recency, &sum.t, None).map_err(|e| match e {
        ClvError::NoData(_) => {
            Error::validation("as_of", "every customer first bought on the observation day")
        }
        other => other.into(),
    })
}

/// Gamma-Gamma on the customers with repeat purchases and positive mean spend
/// ([`repeat_spenders`]); `None` if fewer than 3.
fn fit_spend(sum: &Summary) -> Result<(Option<GammaGamma>, Option<FitInfo>)> {
    let (x, m) = repeat_spenders(&sum.frequency, &sum.monetary)?;
    if x.len() < 3 {
        return Ok((None, None));
    }
    let (gg, info) = GammaGamma::fit(&x, &m)?;
    Ok((Some(gg), Some(info)))
}

fn score_all(
    models: &ValueModels,
    sum: &Summary,
    cols: &PurchaseColumns,
    version: u64,
) -> Result<Vec<CustomerScore>> {
    let (x, t_x, t) = (&sum.frequency, &sum.recency, &sum.t);
    let p_alive = models.purchase.probability_alive(x, t_x, t)?;
    let expected = models.purchase.conditional_expected_purchases(models.horizon, x, t_x, t)?;
    let spend = match &models.spend {
        // A repeat customer whose repeat purchases were all free tells nothing about spend:
        // valued like a customer without repeat spend (the population mean).
        Some(gg) => Some(gg.expected_spend_per_customer(x, &sum.monetary)?),
        None => None,
    };
    let clv = match &spend {
        Some(spend) => Some(customer_lifetime_value(
            &models.purchase,
            spend,
            x,
            t_x,
            t,
            &Discounting::Discrete {
                rate_per_period: models.monthly_discount_rate,
                periods: models.clv_months,
                period_length: DAYS_PER_MONTH / models.time_unit_days,
            },
        )?),
        None => None,
    };
    let rfm = RfmScores::from_summary(sum)?;
    let scheme = Scheme::default();
    let segments = segment(&scheme, &rfm.r, &rfm.f, Some(&rfm.m))?;
    let names = scheme.names();
    let mut out = Vec::with_capacity(sum.len());
    for i in 0..sum.len() {
        let customer = cols.customers[sum.customer[i] as usize];
        out.push(CustomerScore {
            customer,
            model_version: version,
            frequency: x[i],
            recency: t_x[i],
            age: t[i],
            monetary: sum.monetary[i],
            p_alive: p_alive[i],
            expected_purchases: expected[i],
            expected_spend: spend.as_ref().map(|s| s[i]),
            clv: clv.as_ref().map(|c| c[i]),
            rfm: [rfm.r[i], rfm.f[i], rfm.m[i]],
            segment: segments[i]
                .and_then(|k| names.get(k))
                .map_or_else(String::new, |n| (*n).to_owned()),
        });
    }
    Ok(out)
}

/// Each summarised customer's revenue up to `as_of`.
fn revenue_until(
    sum: &Summary,
    customer: &[u32],
    ts: &[i64],
    amount: &[f64],
    as_of: i64,
) -> Vec<f64> {
    let end_day = crmkit_clv::summary::day_of(as_of);
    let mut by_customer: HashMap<u32, f64> = HashMap::new();
    for i in 0..customer.len() {
        if crmkit_clv::summary::day_of(ts[i]) <= end_day {
            *by_customer.entry(customer[i]).or_default() += amount[i];
        }
    }
    sum.customer.iter().map(|c| by_customer.get(c).copied().unwrap_or(0.0)).collect()
}

/// A calibration/holdout check of a repeat-purchase model on the store's purchases
/// (see [`Crm::holdout_check`]).
///
/// # Examples
///
/// ```
/// # fn _f(h: crmkit_core::valuation::HoldoutCheck) { let _ = h.metrics.sum_predicted; }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HoldoutCheck {
    /// The model fitted on the calibration period.
    pub model: FittedPurchaseModel,
    /// How that fit went.
    pub fit: FitInfo,
    /// Customers in the calibration period.
    pub customers: usize,
    /// Predicted vs actual repeat purchases per customer in the holdout period, aggregated.
    pub metrics: crmkit_clv::eval::HoldoutMetrics,
    /// The same by calibration frequency (0, 1, ..., 7+).
    pub by_frequency: crmkit_clv::eval::FrequencyBins,
    /// Weekly cumulative repeat purchases of the cohort: expected vs actual, over both periods.
    pub tracking: crmkit_clv::eval::TrackingCurve,
    /// The week (index into `tracking`) at which the holdout period starts.
    pub holdout_starts_at_period: usize,
}

impl Crm {
    /// Fits the repeat-purchase model on the purchases up to `calibration_end` and compares its
    /// forecast for the holdout period (up to `options.as_of`) with what happened: per customer,
    /// in aggregate, by calibration frequency, and as the weekly cumulative tracking curve.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, NewInteraction, Money, ValueOptions};
    /// let crm = Crm::in_memory();
    /// for n in 0..6i64 {
    ///     let c = crm.create_customer(NewCustomer::person(format!("c{n}")))?;
    ///     for d in [n, n + 9 * (n % 3), n + 30 + n % 4, 80 + n] {
    ///         let at = chrono::DateTime::from_timestamp(1_700_000_000 + d * 86_400, 0).unwrap();
    ///         crm.record(NewInteraction::purchase(c.id, at, Money::parse("5", "EUR")?))?;
    ///     }
    /// }
    /// let check = crm.holdout_check("2023-12-20T00:00:00Z".parse()?,
    ///     &ValueOptions::new("2024-02-20T00:00:00Z".parse()?))?;
    /// assert_eq!(check.customers, 6);
    /// assert!(check.metrics.sum_predicted >= 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn holdout_check(
        &self,
        calibration_end: DateTime<Utc>,
        options: &ValueOptions,
    ) -> Result<HoldoutCheck> {
        use crmkit_clv::eval::{HoldoutComparison, TrackingOptions, tracking_curve};
        use crmkit_clv::summary::{calibration_and_holdout, day_of};
        if calibration_end >= options.as_of {
            return Err(Error::validation("calibration end", "must be before the observation end"));
        }
        let cols = self.store().scan_purchases()?;
        let currency = match options.currency {
            Some(c) => c,
            None => main_currency(&cols)
                .ok_or_else(|| Error::validation("purchases", "there are no purchases to fit"))?,
        };
        let (customer, ts, amount, _) = purchase_rows(&cols, currency);
        let ch = calibration_and_holdout(
            &customer,
            &ts,
            &amount,
            calibration_end.timestamp_micros(),
            options.as_of.timestamp_micros(),
            options.time_unit,
            options.non_positive,
        )?;
        let cal = &ch.calibration;
        let (model, fit) = FittedPurchaseModel::fit(options.model, &fit_cells(cal)?)?;
        let mut predicted = Vec::with_capacity(cal.len());
        for i in 0..cal.len() {
            let p = model.conditional_expected_purchases(
                ch.duration_holdout[i],
                &[cal.frequency[i]],
                &[cal.recency[i]],
                &[cal.t[i]],
            )?;
            predicted.push(p.first().copied().unwrap_or(0.0));
        }
        let comparison = HoldoutComparison::new(&predicted, &ch.frequency_holdout)?;
        let metrics = comparison.metrics();
        let by_frequency = comparison.by_calibration_frequency(&cal.frequency, 7)?;
        // Only the calibration cohort is tracked: purchases of customers who started later are out.
        let in_cohort: std::collections::HashSet<u32> = cal.customer.iter().copied().collect();
        let (mut cc, mut ct) = (Vec::new(), Vec::new());
        for i in 0..customer.len() {
            if in_cohort.contains(&customer[i]) {
                cc.push(customer[i]);
                ct.push(ts[i]);
            }
        }
        let start = cal.first_day.iter().copied().min().unwrap_or(0);
        let end = day_of(options.as_of.timestamp_micros()) + 1;
        let periods = usize::try_from((end - start + 6) / 7).unwrap_or(0).max(1);
        let tracking = tracking_curve(
            &cc,
            &ct,
            &TrackingOptions::weekly(periods).start_day(start).time_unit(options.time_unit),
            |t| model.expected_purchases(t),
        )?;
        let cal_day = day_of(calibration_end.timestamp_micros()) + 1;
        let holdout_starts_at_period = tracking
            .boundary_day
            .iter()
            .position(|&d| d > cal_day)
            .unwrap_or(tracking.boundary_day.len());
        Ok(HoldoutCheck {
            model,
            fit,
            customers: cal.len(),
            metrics,
            by_frequency,
            tracking,
            holdout_starts_at_period,
        })
    }
}
