//! Python bindings for crmkit: the native module `crmkit._crmkit`.
//!
//! The Python package `crmkit` (in `python/crmkit`) wraps this module: the CRM (`crm::PyCrm`),
//! its records, the models and the column kernels of the analytics. Every call into Rust goes
//! through `error::without_gil`: the GIL is released and a panic becomes a `CrmError`.
//! Errors map once from [`crmkit::ErrorKind`] to `NotFoundError`, `ConflictError`,
//! `ValidationError` and `StorageError` (all `CrmError`).
//!
//! Segments, playbooks, tasks and events (issue 4) are `Crm` methods whose records live in
//! `automation`; a rule that does not parse raises `ValidationError` with `line` and `column`.
//! User-defined objects are `Crm` methods too, their values converted in `objects`.

use pyo3::prelude::*;

mod analytics;
mod automation;
mod convert;
mod crm;
mod error;
mod frame;
mod models;
mod objects;
mod records;
mod value;

/// The native part of the `crmkit` Python package.
#[pymodule]
fn _crmkit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DAYS_PER_MONTH", crmkit::clv::summary::DAYS_PER_MONTH)?;
    m.add("MICROS_PER_DAY", crmkit::clv::summary::MICROS_PER_DAY)?;
    error::register(m)?;
    m.add_class::<crm::PyCrm>()?;
    m.add_class::<crm::NewInteraction>()?;
    m.add_class::<records::PyMoney>()?;
    m.add_class::<records::Customer>()?;
    m.add_class::<records::Interaction>()?;
    m.add_class::<records::ImportReport>()?;
    m.add_class::<records::BaseSummary>()?;
    m.add_class::<records::CustomerRevenue>()?;
    m.add_class::<records::AuditEntry>()?;
    m.add_class::<records::CustomerPage>()?;
    m.add_class::<automation::Segment>()?;
    m.add_class::<automation::Membership>()?;
    m.add_class::<automation::SegmentExplanation>()?;
    m.add_class::<automation::MembershipDiff>()?;
    m.add_class::<automation::Action>()?;
    m.add_class::<automation::Playbook>()?;
    m.add_class::<automation::Task>()?;
    m.add_class::<automation::Event>()?;
    m.add_class::<automation::Subscription>()?;
    m.add_class::<value::FitInfo>()?;
    m.add_class::<value::CustomerScore>()?;
    m.add_class::<value::ModelRecord>()?;
    m.add_class::<value::ValueReport>()?;
    m.add_class::<value::ValueExplanation>()?;
    m.add_class::<value::HoldoutMetrics>()?;
    m.add_class::<value::HoldoutCheck>()?;
    m.add_class::<models::BgNbd>()?;
    m.add_class::<models::MbgNbd>()?;
    m.add_class::<models::ParetoNbd>()?;
    m.add_class::<models::BgBb>()?;
    m.add_class::<models::GammaGamma>()?;
    m.add_function(wrap_pyfunction!(models::customer_lifetime_value, m)?)?;
    m.add_function(wrap_pyfunction!(models::fit_cells, m)?)?;
    m.add_function(wrap_pyfunction!(models::time_unit_days, m)?)?;
    m.add_function(wrap_pyfunction!(models::time_units_per_month, m)?)?;
    m.add_function(wrap_pyfunction!(models::lifetimes_units_per_month, m)?)?;
    m.add_function(wrap_pyfunction!(analytics::summary_columns, m)?)?;
    m.add_function(wrap_pyfunction!(analytics::calibration_holdout_columns, m)?)?;
    m.add_function(wrap_pyfunction!(analytics::quantile_scores, m)?)?;
    m.add_function(wrap_pyfunction!(analytics::rfm_scores, m)?)?;
    m.add_function(wrap_pyfunction!(analytics::rfm_segments, m)?)?;
    m.add_function(wrap_pyfunction!(analytics::holdout_metrics, m)?)?;
    m.add_function(wrap_pyfunction!(analytics::by_calibration_frequency, m)?)?;
    m.add_function(wrap_pyfunction!(analytics::tracking_curve, m)?)?;
    Ok(())
}
