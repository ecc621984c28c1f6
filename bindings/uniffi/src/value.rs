//! Customer value: fitting, scores and their explanation, as records.

use std::time::SystemTime;

use crmkit::clv::summary::NonPositiveAmounts;

use crate::convert::{count, from_time, to_time};
use crate::error::{CrmError, CrmResult};

/// The repeat-purchase model to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum PurchaseModel {
    /// BG/NBD (Fader, Hardie & Lee 2005): the usual choice.
    BgNbd,
    /// MBG/NBD (Batislam et al. 2007).
    MbgNbd,
    /// Pareto/NBD (Schmittlein et al. 1987).
    ParetoNbd,
}

impl From<PurchaseModel> for crmkit::PurchaseModelKind {
    fn from(m: PurchaseModel) -> Self {
        match m {
            PurchaseModel::BgNbd => crmkit::PurchaseModelKind::BgNbd,
            PurchaseModel::MbgNbd => crmkit::PurchaseModelKind::MbgNbd,
            PurchaseModel::ParetoNbd => crmkit::PurchaseModelKind::ParetoNbd,
        }
    }
}

impl From<crmkit::PurchaseModelKind> for PurchaseModel {
    fn from(m: crmkit::PurchaseModelKind) -> Self {
        match m {
            crmkit::PurchaseModelKind::BgNbd => PurchaseModel::BgNbd,
            crmkit::PurchaseModelKind::MbgNbd => PurchaseModel::MbgNbd,
            crmkit::PurchaseModelKind::ParetoNbd => PurchaseModel::ParetoNbd,
        }
    }
}

/// How to fit and score (see `fitValue`). The defaults are the CLI's: weeks, BG/NBD, a
/// one-year forecast, 12-month CLV at 1 % a month.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ValueOptions {
    /// The observation end: purchases after it are ignored (there is no hidden "now").
    pub as_of: SystemTime,
    /// `"day"`, `"week"`, `"month"`, `"year"` or a number of days.
    #[uniffi(default = "week")]
    pub time_unit: String,
    /// The repeat-purchase model.
    #[uniffi(default = None)]
    pub model: Option<PurchaseModel>,
    /// Forecast horizon of `expectedPurchases`, in time units; `null`: one year.
    #[uniffi(default = None)]
    pub horizon: Option<f64>,
    /// CLV horizon in months.
    #[uniffi(default = 12)]
    pub clv_months: u32,
    /// Discount rate per month.
    #[uniffi(default = 0.01)]
    pub monthly_discount_rate: f64,
    /// Leave out purchases of 0 or less (by default they count, as in lifetimes).
    #[uniffi(default = false)]
    pub exclude_non_positive: bool,
    /// The currency to value in; `null`: the one most purchases are in.
    #[uniffi(default = None)]
    pub currency: Option<String>,
}

impl ValueOptions {
    /// The core's options, built the way the CLI builds them (so the same inputs give the same
    /// floating-point horizon, to the last bit).
    pub(crate) fn into_core(self) -> CrmResult<crmkit::ValueOptions> {
        let ValueOptions {
            as_of,
            time_unit,
            model,
            horizon,
            clv_months,
            monthly_discount_rate,
            exclude_non_positive,
            currency,
        } = self;
        let unit = crmkit::valuation::parse_time_unit(&time_unit)?;
        let mut o = crmkit::ValueOptions::new(from_time("as_of", as_of)?).time_unit(unit);
        if let Some(model) = model {
            o.model = model.into();
        }
        if let Some(h) = horizon {
            if !(h.is_finite() && h > 0.0) {
                return Err(CrmError::invalid("horizon", format!("{h} must be positive")));
            }
            o.horizon = h;
        }
        if !(monthly_discount_rate.is_finite() && monthly_discount_rate >= 0.0) {
            return Err(CrmError::invalid(
                "monthly_discount_rate",
                format!("{monthly_discount_rate} must be 0 or more"),
            ));
        }
        o.clv_months = clv_months;
        o.monthly_discount_rate = monthly_discount_rate;
        if exclude_non_positive {
            o.non_positive = NonPositiveAmounts::Exclude;
        }
        if let Some(code) = currency {
            o.currency = Some(crmkit::Currency::new(&code)?);
        }
        Ok(o)
    }
}

/// A fitted parameter.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ModelParameter {
    /// Its name (`r`, `alpha`, `a`, `b`; `p`, `q`, `v` for Gamma-Gamma).
    pub name: String,
    /// The estimate.
    pub value: f64,
    /// Its standard error; `null` where the fit is at a boundary.
    pub standard_error: Option<f64>,
}

/// How a fit went.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FitSummary {
    /// The fitted parameters, in the model's order.
    pub parameters: Vec<ModelParameter>,
    /// Total log-likelihood at the optimum.
    pub log_likelihood: f64,
    /// Customers the model was fitted on.
    pub customers: f64,
    /// Optimiser iterations.
    pub iterations: u64,
    /// Whether the optimiser met its tolerance.
    pub converged: bool,
    /// Parameters whose optimum is at 0 or infinity, with what that means.
    pub boundary: Vec<String>,
}

fn fit_summary(values: &[(&str, f64)], fit: &crmkit::clv::FitInfo) -> FitSummary {
    FitSummary {
        parameters: values
            .iter()
            .enumerate()
            .map(|(i, (name, value))| ModelParameter {
                name: (*name).to_owned(),
                value: *value,
                standard_error: fit.standard_errors.get(i).copied().flatten(),
            })
            .collect(),
        log_likelihood: fit.log_likelihood,
        customers: fit.customers,
        iterations: count(fit.iterations),
        converged: fit.converged,
        boundary: fit.boundary.clone(),
    }
}

/// A stored model version: the repeat-purchase model, the spend model, and their settings.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ValueModel {
    /// 1, 2, 3... per database; every fit stores a new version.
    pub version: u64,
    /// When it was fitted.
    pub fitted_at: SystemTime,
    /// The observation end it was fitted as of.
    pub as_of: SystemTime,
    /// The models' time unit (`"week"`...).
    pub time_unit: String,
    /// The currency values are in.
    pub currency: Option<String>,
    /// The repeat-purchase model.
    pub purchase_model: PurchaseModel,
    /// Its fit.
    pub purchase_fit: FitSummary,
    /// The Gamma-Gamma spend model's fit; `null` when too few customers bought twice.
    pub spend_fit: Option<FitSummary>,
    /// Forecast horizon of `expectedPurchases`, in time units.
    pub horizon: f64,
    /// CLV horizon in months.
    pub clv_months: u32,
    /// Monthly discount rate.
    pub monthly_discount_rate: f64,
}

impl ValueModel {
    pub(crate) fn new(record: crmkit::ModelRecord, models: &crmkit::ValueModels) -> Self {
        let spend_fit = match (&models.spend, &models.spend_fit) {
            (Some(gg), Some(fit)) => {
                Some(fit_summary(&[("p", gg.p), ("q", gg.q), ("v", gg.v)], fit))
            }
            _ => None,
        };
        ValueModel {
            version: record.version,
            fitted_at: to_time(record.fitted_at),
            as_of: to_time(record.as_of),
            time_unit: record.time_unit,
            currency: record.currency.map(|c| c.code().to_owned()),
            purchase_model: models.purchase.kind().into(),
            purchase_fit: fit_summary(&models.purchase.parameters(), &models.purchase_fit),
            spend_fit,
            horizon: models.horizon,
            clv_months: models.clv_months,
            monthly_discount_rate: models.monthly_discount_rate,
        }
    }
}

/// What a fit stored.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ValueFit {
    /// The models, stored as a new version.
    pub model: ValueModel,
    /// Customers scored (everyone who had bought by `asOf`); read them with `scores`.
    pub customers_scored: u64,
    /// Purchases left out because they were in another currency.
    pub other_currency_rows: u64,
}

/// A customer's latest scores.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CustomerScore {
    /// The customer.
    pub customer_id: String,
    /// The model version that scored them.
    pub model_version: u64,
    /// Repeat purchase days.
    pub frequency: f64,
    /// Time from first to last purchase, in time units.
    pub recency: f64,
    /// Time from first purchase to `asOf`, in time units.
    pub age: f64,
    /// Mean spend of the repeat purchase days.
    pub monetary: f64,
    /// Probability the customer is still active.
    pub p_alive: f64,
    /// Expected purchases over the forecast horizon.
    pub expected_purchases: f64,
    /// Expected spend per purchase (Gamma-Gamma); `null` without a spend model.
    pub expected_spend: Option<f64>,
    /// Discounted customer lifetime value; `null` without a spend model.
    pub clv: Option<f64>,
    /// RFM scores, 1 to 5.
    pub rfm: RfmScores,
    /// The RFM segment's name (`"champions"`, `"at risk"`...).
    pub segment: String,
}

/// Recency, frequency and monetary scores, 1 (worst) to 5 (best).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Record)]
pub struct RfmScores {
    /// Recency.
    pub recency: u8,
    /// Frequency.
    pub frequency: u8,
    /// Monetary value.
    pub monetary: u8,
}

impl From<crmkit::CustomerScore> for CustomerScore {
    fn from(s: crmkit::CustomerScore) -> Self {
        let crmkit::CustomerScore {
            customer,
            model_version,
            frequency,
            recency,
            age,
            monetary,
            p_alive,
            expected_purchases,
            expected_spend,
            clv,
            rfm,
            segment,
        } = s;
        CustomerScore {
            customer_id: customer.to_string(),
            model_version,
            frequency,
            recency,
            age,
            monetary,
            p_alive,
            expected_purchases,
            expected_spend,
            clv,
            rfm: RfmScores { recency: rfm[0], frequency: rfm[1], monetary: rfm[2] },
            segment,
        }
    }
}

/// A customer's value, explained.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ValueExplanation {
    /// The stored scores.
    pub score: CustomerScore,
    /// The model version that scored them.
    pub model: ValueModel,
    /// Expected purchases over the CLV horizon (undiscounted).
    pub clv_horizon_purchases: f64,
    /// CLV / (expected purchases × expected spend): the average discount factor.
    pub discount_factor: Option<f64>,
    /// How the value comes about, in words (the CLI's `crmkit score CUSTOMER`).
    pub text: String,
}

/// Predicted against actual repeat purchases in a holdout period.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HoldoutMetrics {
    /// Customers compared.
    pub customers: u64,
    /// Predicted repeat purchases, summed.
    pub sum_predicted: f64,
    /// Actual repeat purchases, summed.
    pub sum_actual: f64,
    /// Mean absolute error per customer.
    pub mae: f64,
    /// Root mean squared error per customer.
    pub rmse: f64,
    /// Mean of predicted − actual.
    pub mean_bias: f64,
    /// Correlation of predicted and actual, if defined.
    pub correlation: Option<f64>,
}

/// The forecast check of a model: fitted on a calibration period, compared with the holdout.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HoldoutCheck {
    /// The model fitted on the calibration period.
    pub model: PurchaseModel,
    /// Its fit.
    pub fit: FitSummary,
    /// Customers in the calibration period.
    pub customers: u64,
    /// Per customer, aggregated.
    pub metrics: HoldoutMetrics,
    /// Cumulative repeat purchases of the cohort per week: expected.
    pub tracking_expected: Vec<f64>,
    /// The same, actual.
    pub tracking_actual: Vec<f64>,
    /// The week (index into the tracking lists) at which the holdout period starts.
    pub holdout_starts_at_week: u64,
}

impl From<crmkit::valuation::HoldoutCheck> for HoldoutCheck {
    fn from(h: crmkit::valuation::HoldoutCheck) -> Self {
        let m = &h.metrics;
        HoldoutCheck {
            model: h.model.kind().into(),
            fit: fit_summary(&h.model.parameters(), &h.fit),
            customers: count(h.customers),
            metrics: HoldoutMetrics {
                customers: count(m.n),
                sum_predicted: m.sum_predicted,
                sum_actual: m.sum_actual,
                mae: m.mae,
                rmse: m.rmse,
                mean_bias: m.mean_bias,
                correlation: m.correlation,
            },
            tracking_expected: h.tracking.expected,
            tracking_actual: h.tracking.actual,
            holdout_starts_at_week: count(h.holdout_starts_at_period),
        }
    }
}
