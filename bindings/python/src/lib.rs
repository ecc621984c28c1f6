//! Python bindings for crmkit: the native module `crmkit._crmkit` (issue 5).

use pyo3::prelude::*;

/// The native part of the `crmkit` Python package.
#[pymodule]
fn _crmkit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
