//! # crmkit-clv
//!
//! Customer-base statistics on plain columns, independent of crmkit's domain types: a data
//! scientist can use it on arrays.
//!
//! - [`summary`]: RFM summaries from transaction columns (and calibration/holdout splits);
//! - [`rfm`]: RFM scores (quintiles) and named segments;
//! - models fitted by maximum likelihood on [`Cells`]: [`bgnbd`], [`mbgnbd`], [`paretonbd`],
//!   [`bgbb`] (discrete opportunities), [`gammagamma`] (spend), [`sbg`] (contractual churn);
//! - [`clv`]: lifetime value with an explicit discounting convention; [`eval`]: holdout evaluation.
//!
//! Fits are deterministic (no random starts), in log-parameter space, with standard errors from
//! the Hessian; an optimum at a boundary is a fitted model with the condition flagged in
//! [`FitInfo::boundary`], never an error.
#![doc(test(attr(deny(warnings))))]

pub mod bgbb;
pub mod bgnbd;
mod bgnbd_family;
pub mod clv;
pub mod data;
pub mod error;
pub mod eval;
pub mod fit;
pub mod gammagamma;
pub mod mbgnbd;
pub mod optim;
pub mod paretonbd;
pub mod rfm;
pub mod sbg;
pub mod special;
pub mod summary;

pub use data::Cells;
pub use error::{ClvError, Result};
pub use fit::FitInfo;
