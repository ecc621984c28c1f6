//! The error type of crmkit-clv.

/// A specialised `Result` for crmkit-clv.
pub type Result<T, E = ClvError> = std::result::Result<T, E>;

/// What can go wrong in the statistics: always bad input, said precisely.
///
/// # Examples
///
/// ```
/// let e = crmkit_clv::ClvError::InvalidInput { column: "recency".into(), index: 3, message: "is NaN".into() };
/// assert_eq!(e.to_string(), "invalid recency at row 3: is NaN");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClvError {
    /// A value in an input column is out of its domain.
    #[error("invalid {column} at row {index}: {message}")]
    InvalidInput {
        /// The column ("frequency", "recency", "T", "monetary", "timestamp", ...).
        column: String,
        /// 0-based row.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// Columns that must have the same length do not.
    #[error("columns differ in length: {message}")]
    LengthMismatch {
        /// Which columns and their lengths.
        message: String,
    },
    /// There is nothing to fit or score.
    #[error("no data: {0}")]
    NoData(String),
    /// A parameter or option is out of its domain.
    #[error("invalid {name}: {message}")]
    InvalidParameter {
        /// The parameter.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A serialised model could not be read.
    #[error("cannot read the model: {0}")]
    Format(String),
}
