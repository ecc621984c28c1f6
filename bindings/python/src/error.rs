//! The exception hierarchy, the one mapping from Rust errors to it, and the helper every call
//! into Rust goes through (GIL released, panics caught).

use std::panic::{AssertUnwindSafe, catch_unwind};

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    crmkit._crmkit,
    CrmError,
    PyException,
    "Base class of every error crmkit raises."
);
create_exception!(
    crmkit._crmkit,
    NotFoundError,
    CrmError,
    "Something looked up (a customer, a model version, a column) does not exist."
);
create_exception!(
    crmkit._crmkit,
    ConflictError,
    CrmError,
    "The change conflicts with stored data: a duplicate identity key, a concurrent update, a field redefined with another type."
);
create_exception!(
    crmkit._crmkit,
    ValidationError,
    CrmError,
    "Bad input: a value, a row, a column, a file. The message names the field or column and the problem."
);
create_exception!(
    crmkit._crmkit,
    StorageError,
    CrmError,
    "The storage backend or the file system failed, or the database is from a newer crmkit."
);

/// Why a call into Rust failed, before it becomes a Python exception.
#[derive(Debug)]
pub(crate) enum Failure {
    /// An error of the CRM engine (mapped by its [`crmkit::ErrorKind`]).
    Crm(crmkit::Error),
    /// An error of the statistics crate: always bad input.
    Clv(crmkit::clv::ClvError),
    /// Bad input found by the bindings themselves.
    Validation(String),
    /// A Python exception raised while Rust was running (e.g. by a progress callback).
    Python(PyErr),
    /// A bug: a panic caught at the boundary.
    Internal(String),
}

impl From<crmkit::Error> for Failure {
    fn from(e: crmkit::Error) -> Failure {
        Failure::Crm(e)
    }
}

impl From<crmkit::clv::ClvError> for Failure {
    fn from(e: crmkit::clv::ClvError) -> Failure {
        Failure::Clv(e)
    }
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Failure {
        Failure::Python(e)
    }
}

impl From<Failure> for PyErr {
    fn from(f: Failure) -> PyErr {
        match f {
            Failure::Crm(e) => crm_error(&e),
            Failure::Clv(e) => ValidationError::new_err(e.to_string()),
            Failure::Validation(m) => ValidationError::new_err(m),
            Failure::Python(e) => e,
            Failure::Internal(m) => {
                CrmError::new_err(format!("internal error in crmkit (please report it): {m}"))
            }
        }
    }
}

/// The one mapping of [`crmkit::Error`] to the exception hierarchy, by [`crmkit::ErrorKind`].
///
/// A rule that does not parse ([`crmkit::Error::InvalidRule`]) is a `ValidationError` whose
/// `line` and `column` attributes say where (they are `None` on other validation errors).
pub(crate) fn crm_error(e: &crmkit::Error) -> PyErr {
    let message = e.report();
    let err = match e.kind() {
        crmkit::ErrorKind::Validation => ValidationError::new_err(message),
        crmkit::ErrorKind::NotFound => NotFoundError::new_err(message),
        crmkit::ErrorKind::Conflict => ConflictError::new_err(message),
        crmkit::ErrorKind::Storage => StorageError::new_err(message),
        _ => CrmError::new_err(message),
    };
    if let crmkit::Error::InvalidRule { line, column, .. } = e {
        Python::attach(|py| {
            let value = err.value(py);
            // Setting attributes on a fresh exception instance cannot fail in practice; if it
            // did, the message still says where.
            let _ = value.setattr("line", *line);
            let _ = value.setattr("column", *column);
        });
    }
    err
}

/// A [`ValidationError`] with a message.
pub(crate) fn invalid(message: impl Into<String>) -> PyErr {
    ValidationError::new_err(message.into())
}

/// Runs `f` with the GIL released; a panic inside becomes a [`CrmError`], never a
/// `PanicException`. Every call into crmkit's Rust code goes through here.
pub(crate) fn without_gil<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T, Failure> + Send,
{
    py.detach(move || match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            Err(Failure::Internal(message))
        }
    })
    .map_err(PyErr::from)
}

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("CrmError", py.get_type::<CrmError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("ConflictError", py.get_type::<ConflictError>())?;
    m.add("ValidationError", py.get_type::<ValidationError>())?;
    m.add("StorageError", py.get_type::<StorageError>())?;
    // Where a rule failed to parse (set on the instance; `None` otherwise).
    let validation = py.get_type::<ValidationError>();
    validation.setattr("line", py.None())?;
    validation.setattr("column", py.None())?;
    Ok(())
}
