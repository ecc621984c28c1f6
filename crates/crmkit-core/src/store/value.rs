//! What the store keeps of customer value: fitted models (every version) and each customer's
//! latest scores.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::CustomerId;

/// A fitted set of customer-value models, as stored. Versions count up from 1 per store.
///
/// The models themselves are kept as their versioned JSON (see `crmkit_clv`), so the store does
/// not depend on the statistics.
///
/// # Examples
///
/// ```
/// let m = crmkit_core::ModelRecord {
///     version: 1,
///     fitted_at: chrono::Utc::now(),
///     as_of: chrono::Utc::now(),
///     time_unit: "week".into(),
///     currency: Some(crmkit_core::Currency::USD),
///     models: serde_json::json!({"bgnbd": {"r": 0.24}}),
/// };
/// assert_eq!(m.version, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// 1, 2, 3... per store.
    pub version: u64,
    /// When it was fitted.
    pub fitted_at: DateTime<Utc>,
    /// The observation end of the data it was fitted on.
    pub as_of: DateTime<Utc>,
    /// The time unit of its parameters ("day", "week", ...).
    pub time_unit: String,
    /// The currency of the spend model, if any.
    pub currency: Option<crate::money::Currency>,
    /// The fitted models and their fit reports, as JSON.
    pub models: serde_json::Value,
}

/// One customer's value scores from one model version.
///
/// Probabilities, expectations and values are statistical estimates, hence `f64`; `clv` is in the
/// model's currency.
///
/// # Examples
///
/// ```
/// let s = crmkit_core::CustomerScore::empty(crmkit_core::CustomerId::from_u128(1), 3);
/// assert_eq!((s.model_version, s.rfm), (3, [0, 0, 0]));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerScore {
    /// The customer.
    pub customer: CustomerId,
    /// The [`ModelRecord::version`] that produced it.
    pub model_version: u64,
    /// Repeat purchase periods as of the fit.
    pub frequency: f64,
    /// Time from first to last purchase, in the model's unit.
    pub recency: f64,
    /// Time from first purchase to `as_of`, in the model's unit.
    pub age: f64,
    /// Mean spend per repeat period.
    pub monetary: f64,
    /// Probability the customer is still active at `as_of`.
    pub p_alive: f64,
    /// Expected purchases over the model's horizon.
    pub expected_purchases: f64,
    /// Expected spend per purchase (spend model), if fitted.
    pub expected_spend: Option<f64>,
    /// Discounted lifetime value over the horizon, if a spend model was fitted.
    pub clv: Option<f64>,
    /// RFM scores 1-5 (recency, frequency, monetary); 0 when not scored.
    pub rfm: [u8; 3],
    /// The named RFM segment.
    pub segment: String,
}

impl CustomerScore {
    /// A score with every estimate zero, to fill in.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = crmkit_core::CustomerScore::empty(crmkit_core::CustomerId::from_u128(9), 1);
    /// assert!(s.clv.is_none());
    /// ```
    pub fn empty(customer: CustomerId, model_version: u64) -> CustomerScore {
        CustomerScore {
            customer,
            model_version,
            frequency: 0.0,
            recency: 0.0,
            age: 0.0,
            monetary: 0.0,
            p_alive: 0.0,
            expected_purchases: 0.0,
            expected_spend: None,
            clv: None,
            rfm: [0, 0, 0],
            segment: String::new(),
        }
    }
}
