//! The one error type of crmkit-core, and the coarse [`ErrorKind`] that bindings map to.

use std::fmt;

use crate::ids::CustomerId;
use crate::money::Currency;

/// A specialised `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A boxed error from a backend or a parser, kept as the [`std::error::Error::source`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in crmkit.
///
/// Every variant says what was wrong and, where it applies, where (field, file, line).
/// Match on [`Error::kind`] when only the category matters.
///
/// # Examples
///
/// ```
/// use crmkit_core::{ErrorKind, Money};
///
/// let err = Money::parse("12,50", "EUR").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Validation);
/// assert!(err.to_string().contains("amount"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value failed validation; `field` names the offending field.
    #[error("invalid {field}: {message}")]
    Validation {
        /// The field (or column) that was wrong.
        field: String,
        /// What was wrong with it.
        message: String,
    },
    /// Two different currencies met where one was required.
    #[error("currency mismatch: cannot combine {left} with {right} without a conversion")]
    CurrencyMismatch {
        /// The currency already present.
        left: Currency,
        /// The currency that did not match.
        right: Currency,
    },
    /// Something that was looked up does not exist.
    #[error("{entity} not found: {key}")]
    NotFound {
        /// What kind of thing was looked up ("customer", ...).
        entity: &'static str,
        /// The id or key it was looked up by.
        key: String,
    },
    /// An identity key is already held by another customer.
    #[error("identity key {key} already belongs to customer {owner}")]
    DuplicateIdentityKey {
        /// The normalised key, e.g. `email:ada@example.org`.
        key: String,
        /// The customer that holds it.
        owner: CustomerId,
    },
    /// A record with this id already exists.
    #[error("{entity} {key} already exists")]
    AlreadyExists {
        /// What kind of record.
        entity: &'static str,
        /// Its id.
        key: String,
    },
    /// The record changed since it was read (optimistic concurrency).
    #[error(
        "customer {customer} was changed concurrently: expected revision {expected}, found {found}"
    )]
    StaleRevision {
        /// The customer.
        customer: CustomerId,
        /// The revision the writer read.
        expected: u64,
        /// The revision in the store.
        found: u64,
    },
    /// A record of the record layer was not as the writer expected: it exists where a creation
    /// expected none, is gone, or has another revision (it changed concurrently).
    #[error("{kind} {id} was changed concurrently: expected {}, found {}", describe_revision(*.expected), describe_revision(*.found))]
    RecordConflict {
        /// The record's kind.
        kind: String,
        /// Its id.
        id: String,
        /// The revision the writer expected (`None`: no record).
        expected: Option<u64>,
        /// The revision in the store (`None`: no record).
        found: Option<u64>,
    },
    /// A custom field was redefined with another type.
    #[error("field {name} is already defined as {existing}, cannot redefine it as {requested}")]
    FieldTypeConflict {
        /// Field name.
        name: String,
        /// Its declared type.
        existing: String,
        /// The type asked for.
        requested: String,
    },
    /// A segment rule that does not parse.
    #[error("rule, line {line}, column {column}: {message}")]
    InvalidRule {
        /// 1-based line.
        line: u32,
        /// 1-based column (in characters).
        column: u32,
        /// What was expected and what was found.
        message: String,
    },
    /// Input data could not be parsed at all (not a value problem: the file itself).
    #[error("malformed input: {message}")]
    Malformed {
        /// What the parser said.
        message: String,
    },
    /// A row of an import was bad; says where, and what was already committed.
    #[error("{0}")]
    Import(Box<ImportError>),
    /// The database was written by a newer crmkit.
    #[error(
        "database schema version {found} is newer than this crmkit supports ({supported}); upgrade crmkit"
    )]
    SchemaTooNew {
        /// The version found in the file.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// The storage backend failed (I/O, corruption, locking...). The backend's own error is the
    /// [`source`](std::error::Error::source), not repeated in the message: print the chain
    /// with [`Error::report`].
    #[error("storage error: {message}")]
    Storage {
        /// What the backend was doing (or, without a source, what went wrong).
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },
    /// A customer-value model refused its data or parameters (crmkit-clv's error is the
    /// source). A validation error, except for a model file that cannot be read (malformed).
    #[error("the customer-value model refused {what}")]
    Model {
        /// What was refused: a column, a parameter, the data, a model file.
        what: String,
        /// crmkit-clv's error.
        #[source]
        source: crmkit_clv::ClvError,
    },
    /// A bug or a broken invariant inside crmkit (a lock poisoned by a panic, a backend that
    /// broke its contract), not a problem with the input or the storage.
    #[error("internal error: {message}")]
    Internal {
        /// What went wrong.
        message: String,
    },
    /// Reading or writing a file failed (the operating system's error is the source).
    #[error("cannot read or write {path}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl From<crmkit_clv::ClvError> for Error {
    fn from(e: crmkit_clv::ClvError) -> Error {
        use crmkit_clv::ClvError as C;
        let what = match &e {
            C::InvalidInput { column, index, .. } => format!("{column} at row {index}"),
            C::InvalidParameter { name, .. } => name.clone(),
            C::LengthMismatch { .. } => "its columns".to_owned(),
            C::NoData(_) => "the data".to_owned(),
            C::Format(_) => "the model file".to_owned(),
            _ => "its input".to_owned(),
        };
        Error::Model { what, source: e }
    }
}

fn describe_revision(revision: Option<u64>) -> String {
    match revision {
        Some(r) => format!("revision {r}"),
        None => "no record".to_owned(),
    }
}

/// Where in an input a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file name (or another label for the input).
    pub source: String,
    /// 1-based line number of the row.
    pub line: u64,
    /// The column or JSON key, when the problem is in one field.
    pub field: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, line {}", self.source, self.line)?;
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        Ok(())
    }
}

/// A failed import row: where, why, and how much had been committed before it.
#[derive(Debug)]
pub struct ImportError {
    /// Where the bad row is.
    pub location: Location,
    /// What was wrong with it.
    pub cause: Error,
    /// Rows committed (in earlier, whole batches) before the failing batch.
    pub committed_rows: u64,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (import stopped; {} rows committed before the failing batch, which wrote nothing)",
            self.location, self.cause, self.committed_rows
        )
    }
}

impl std::error::Error for ImportError {
    /// The cause's own source: the cause is part of the message already.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.cause)
    }
}

/// The category of an [`Error`], stable across versions; what bindings map to exceptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad input: a value, a row, a file.
    Validation,
    /// Not found.
    NotFound,
    /// Conflicts with existing data (duplicate key, concurrent change, field type).
    Conflict,
    /// The backend or the file system failed, or the database is from a newer version.
    Storage,
    /// A bug in crmkit: please report it.
    Internal,
}

impl Error {
    /// The category of this error.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Error, ErrorKind};
    /// let e = Error::NotFound { entity: "customer", key: "x".into() };
    /// assert_eq!(e.kind(), ErrorKind::NotFound);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Validation { .. }
            | Error::CurrencyMismatch { .. }
            | Error::Malformed { .. }
            | Error::InvalidRule { .. } => ErrorKind::Validation,
            Error::Import(inner) => inner.cause.kind(),
            Error::Model { .. } => ErrorKind::Validation,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::DuplicateIdentityKey { .. }
            | Error::AlreadyExists { .. }
            | Error::StaleRevision { .. }
            | Error::RecordConflict { .. }
            | Error::FieldTypeConflict { .. } => ErrorKind::Conflict,
            Error::SchemaTooNew { .. } | Error::Storage { .. } | Error::Io { .. } => {
                ErrorKind::Storage
            }
            Error::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// Shorthand for a [`Error::Validation`].
    ///
    /// # Examples
    ///
    /// ```
    /// let e = crmkit_core::Error::validation("email", "missing @");
    /// assert_eq!(e.to_string(), "invalid email: missing @");
    /// ```
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation { field: field.into(), message: message.into() }
    }

    /// Shorthand for a [`Error::Storage`] that wraps a backend error.
    ///
    /// # Examples
    ///
    /// ```
    /// let io = std::io::Error::other("disk full");
    /// let e = crmkit_core::Error::storage("committing batch", io);
    /// assert_eq!(e.to_string(), "storage error: committing batch");
    /// assert_eq!(e.report(), "storage error: committing batch: disk full");
    /// ```
    pub fn storage(context: &str, source: impl Into<BoxError>) -> Self {
        Error::Storage { message: context.to_owned(), source: Some(source.into()) }
    }

    /// The message and every cause below it, each once: `storage error: committing a batch:
    /// disk full`. What to show a person (the CLI and the bindings do).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = crmkit_core::Error::storage("committing a batch", std::io::Error::other("disk full"));
    /// assert_eq!(e.to_string(), "storage error: committing a batch");
    /// assert_eq!(e.report(), "storage error: committing a batch: disk full");
    /// ```
    pub fn report(&self) -> String {
        let mut out = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            let text = s.to_string();
            // A foreign error may repeat its own source in its message: show it once.
            if !out.contains(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            source = s.source();
        }
        out
    }

    /// The row location, if this error came from an import.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = crmkit_core::Error::validation("x", "y");
    /// assert!(e.location().is_none());
    /// ```
    pub fn location(&self) -> Option<&Location> {
        match self {
            Error::Import(inner) => Some(&inner.location),
            _ => None,
        }
    }
}
