//! # crmkit
//!
//! An embeddable CRM: customers and prospects, every interaction with them, and (in later
//! releases) what each is worth and the segments they fall in — in your process, on SQLite.
//!
//! This is the crate applications depend on. It re-exports the domain of `crmkit-core` and, with
//! the default feature `sqlite`, opens a [`Crm`] on a SQLite file:
//!
//! ```
//! use crmkit::{Crm, NewCustomer, NewInteraction, Money};
//!
//! # let dir = tempfile::tempdir()?; let path = dir.path().join("crm.db");
//! let crm = Crm::open(&path)?;
//! let ada = crm.create_customer(NewCustomer::person("Ada Lovelace").email("ada@example.org"))?;
//! crm.record(NewInteraction::purchase(ada.id, "2024-05-01T09:30:00Z".parse()?, Money::parse("49.90", "EUR")?))?;
//! drop(crm);
//!
//! let crm = Crm::open(&path)?; // everything is still there
//! assert_eq!(crm.lookup("ada@example.org")?.name, "Ada Lovelace");
//! assert_eq!(crm.summary(1)?.revenue[0].to_string(), "49.90 EUR");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The engine's methods (create, update, find, record, import, list, summary...) are those of
//! [`crmkit_core::Crm`], reached through `Deref`.
#![doc(test(attr(deny(warnings))))]

use std::ops::Deref;
use std::sync::Arc;

pub use crmkit_core::*;

#[cfg(feature = "sqlite")]
pub use crmkit_sqlite::{SCHEMA_VERSION, SqliteStore};

/// The CRM engine with ways to open it on a file.
///
/// # Examples
///
/// ```
/// let crm = crmkit::Crm::in_memory();
/// assert_eq!(crm.store().stats()?.customers, 0);
/// # Ok::<(), crmkit::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Crm(crmkit_core::Crm);

impl Crm {
    /// Opens (creating if needed) a CRM on a SQLite database file.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let crm = crmkit::Crm::open(dir.path().join("crm.db"))?;
    /// # let _ = crm;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "sqlite")]
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Crm> {
        Ok(Crm::new(SqliteStore::open(path)?))
    }

    /// A CRM on a fresh in-memory SQLite database.
    ///
    /// # Examples
    ///
    /// ```
    /// let crm = crmkit::Crm::open_in_memory()?;
    /// # let _ = crm;
    /// # Ok::<(), crmkit::Error>(())
    /// ```
    #[cfg(feature = "sqlite")]
    pub fn open_in_memory() -> Result<Crm> {
        Ok(Crm::new(SqliteStore::open_in_memory()?))
    }

    /// A CRM on a fresh [`MemoryStore`].
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit::Crm::in_memory();
    /// ```
    pub fn in_memory() -> Crm {
        Crm(crmkit_core::Crm::in_memory())
    }

    /// A CRM on any store.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit::Crm::new(crmkit::MemoryStore::new());
    /// ```
    pub fn new(store: impl Store + 'static) -> Crm {
        Crm(crmkit_core::Crm::new(store))
    }

    /// A CRM on a shared store.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let store: Arc<dyn crmkit::Store> = Arc::new(crmkit::MemoryStore::new());
    /// let _ = crmkit::Crm::from_arc(store);
    /// ```
    pub fn from_arc(store: Arc<dyn Store>) -> Crm {
        Crm(crmkit_core::Crm::from_arc(store))
    }

    /// Uses another clock (see [`crmkit_core::Crm::with_clock`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let t = "2024-01-01T00:00:00Z".parse()?;
    /// let crm = crmkit::Crm::in_memory().with_clock(Arc::new(crmkit::FixedClock::new(t)));
    /// assert_eq!(crm.now(), t);
    /// # Ok::<(), chrono::ParseError>(())
    /// ```
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Crm {
        Crm(self.0.with_clock(clock))
    }

    /// The engine itself.
    ///
    /// # Examples
    ///
    /// ```
    /// let crm = crmkit::Crm::in_memory();
    /// let engine: &crmkit_core::Crm = crm.engine();
    /// # let _ = engine;
    /// ```
    pub fn engine(&self) -> &crmkit_core::Crm {
        &self.0
    }
}

impl Deref for Crm {
    type Target = crmkit_core::Crm;
    fn deref(&self) -> &crmkit_core::Crm {
        &self.0
    }
}

impl From<crmkit_core::Crm> for Crm {
    fn from(engine: crmkit_core::Crm) -> Crm {
        Crm(engine)
    }
}

/// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// The rule-language guide's examples (`docs/rules.md`), run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/rules.md")]
pub struct RulesGuideDoctests;
