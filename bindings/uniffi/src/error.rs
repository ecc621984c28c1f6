//! The one error type that crosses the FFI, and the guard that turns panics into it.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crmkit::ErrorKind;

/// Everything a crmkit call can fail with, one variant per [`crmkit::ErrorKind`] plus
/// [`CrmError::Internal`] for a bug caught at the boundary.
///
/// A flat error: the foreign side sees the variant and its message (Kotlin
/// `CrmException.Validation(message)`, Swift `CrmError.Validation(message:)`), and the message is
/// crmkit's own readable text, e.g. `invalid email: "ada": expected an address with an @`.
///
/// Named `CrmError`, not `Error`: Kotlin renames `…Error` to `…Exception`, and a bare
/// `Exception` would clash with Kotlin's own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum CrmError {
    /// Bad input: a value, a mapping, a row of a file. Nothing was written.
    #[error("{message}")]
    Validation {
        /// What was wrong, and where.
        message: String,
    },
    /// Something looked up (a customer, a key, scores) does not exist.
    #[error("{message}")]
    NotFound {
        /// What was looked up, and by what.
        message: String,
    },
    /// The change conflicts with stored data: an identity key that belongs to someone else, a
    /// concurrent change of the same customer, a field redefined with another type.
    #[error("{message}")]
    Conflict {
        /// What conflicted.
        message: String,
    },
    /// The database or the file system failed, or the database is from a newer crmkit.
    #[error("{message}")]
    Storage {
        /// What failed.
        message: String,
    },
    /// A bug in crmkit (a Rust panic), caught before it could cross into the app. The `Crm`
    /// stays usable, but the call may have been cut short.
    #[error("internal error in crmkit: {message}")]
    Internal {
        /// The panic's message.
        message: String,
    },
}

impl From<crmkit::Error> for CrmError {
    fn from(e: crmkit::Error) -> Self {
        let message = e.report();
        match e.kind() {
            ErrorKind::Validation => CrmError::Validation { message },
            ErrorKind::NotFound => CrmError::NotFound { message },
            ErrorKind::Conflict => CrmError::Conflict { message },
            ErrorKind::Storage => CrmError::Storage { message },
            ErrorKind::Internal => CrmError::Internal { message },
            // A kind added to the core after this binding was written.
            _ => CrmError::Internal { message: format!("unclassified error: {message}") },
        }
    }
}

impl CrmError {
    /// A validation error about `field`, worded like the core's.
    pub(crate) fn invalid(field: &str, message: impl std::fmt::Display) -> CrmError {
        CrmError::from(crmkit::Error::validation(field, message.to_string()))
    }
}

/// The result of every exported call.
pub type CrmResult<T> = Result<T, CrmError>;

/// Runs one exported call: a panic inside becomes [`CrmError::Internal`] instead of unwinding into
/// the scaffolding (which would turn it into an untyped `InternalException`).
pub(crate) fn guard<T>(f: impl FnOnce() -> CrmResult<T>) -> CrmResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => Err(CrmError::Internal { message: panic_message(payload.as_ref()) }),
    }
}

/// The text of a caught panic.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_variants() {
        let e = CrmError::from(crmkit::Error::validation("email", "missing @"));
        assert_eq!(e, CrmError::Validation { message: "invalid email: missing @".into() });
        let e = CrmError::from(crmkit::Error::NotFound { entity: "customer", key: "x".into() });
        assert!(matches!(e, CrmError::NotFound { .. }));
        assert_eq!(e.to_string(), "customer not found: x");
    }

    #[test]
    #[allow(clippy::panic)]
    fn panics_become_internal_errors() {
        let r: CrmResult<()> = guard(|| panic!("boom {}", 42));
        assert_eq!(r, Err(CrmError::Internal { message: "boom 42".into() }));
        let r: CrmResult<()> = guard(|| std::panic::panic_any(7_u8));
        assert!(matches!(r, Err(CrmError::Internal { .. })));
    }
}
