//! # crmkit-sqlite
//!
//! [`SqliteStore`]: crmkit's embedded default [`Store`], on bundled SQLite. The only crate of
//! crmkit that speaks SQL.
//!
//! - WAL journal, `synchronous = NORMAL` (a committed batch survives the process being killed;
//!   after an operating-system crash or power loss the last batches may be lost, never half of one),
//!   foreign keys on, a busy timeout of 5 s.
//! - Numbered migrations (`migrations/NNN_*.sql`) tracked in `PRAGMA user_version`; a database from
//!   a newer crmkit is refused with [`Error::SchemaTooNew`].
//! - Prepared (cached) statements only; no SQL is ever built from user input.
//! - One writer connection; readers of a file database use their own connections, so they read a
//!   consistent snapshot while a batch is being written.
//!
//! Do not open the same database file from another copy of SQLite in the same process (Python's
//! `sqlite3` module, for instance) while crmkit has it open: two copies of SQLite do not share
//! their POSIX locks.
//!
//! ```
//! use crmkit_core::{Crm, NewCustomer};
//! use crmkit_sqlite::SqliteStore;
//!
//! let dir = tempfile::tempdir()?;
//! let crm = Crm::new(SqliteStore::open(dir.path().join("crm.db"))?);
//! crm.create_customer(NewCustomer::person("Ada").email("ada@example.org"))?;
//! assert_eq!(crm.store().stats()?.customers, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![doc(test(attr(deny(warnings))))]

mod batch;
mod codec;
mod read_automation;
mod read_customers;
mod read_outbox;
mod read_records;
mod read_value;
mod schema;
mod transaction;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crmkit_core::store::{BatchOutcome, Store, WriteWork};
use crmkit_core::{Error, Result};
use rusqlite::Connection;

use crate::batch::SqliteBatch;
use crate::codec::poisoned;
use crate::transaction::{OpenWrite, begin_immediate};

pub use schema::SCHEMA_VERSION;

/// A [`Store`] on a SQLite database file, or in memory.
///
/// # Examples
///
/// ```
/// use crmkit_core::prelude::*;
/// let store = crmkit_sqlite::SqliteStore::open_in_memory()?;
/// assert_eq!(store.stats()?.interactions, 0);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
pub struct SqliteStore {
    /// Serialises [`Store::write`] calls of this handle; `BEGIN IMMEDIATE` serialises them with
    /// every other connection to the file (other handles, other processes).
    txn: Mutex<()>,
    writer: Mutex<Connection>,
    /// Idle reader connections (file databases only; an in-memory database reads on the writer).
    readers: Mutex<Vec<Connection>>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

pub(crate) fn db_err(context: &str) -> impl FnOnce(rusqlite::Error) -> Error + '_ {
    move |e| Error::storage(context, e)
}

impl SqliteStore {
    /// Opens (creating if needed) a database file and brings its schema up to date.
    ///
    /// # Errors
    ///
    /// [`Error::SchemaTooNew`] if the file was written by a newer crmkit; [`Error::Storage`] if it
    /// cannot be opened or is not a SQLite database.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let store = crmkit_sqlite::SqliteStore::open(dir.path().join("crm.db"))?;
    /// assert!(store.path().is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path)
            .map_err(|e| Error::storage(&format!("opening {}", path.display()), e))?;
        let conn = schema::prepare_writer(conn, &path.display().to_string())?;
        Ok(SqliteStore {
            txn: Mutex::new(()),
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            path: Some(path),
        })
    }

    /// A fresh database in memory (gone when the store is dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// let store = crmkit_sqlite::SqliteStore::open_in_memory()?;
    /// assert!(store.path().is_none());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn open_in_memory() -> Result<SqliteStore> {
        let conn = Connection::open_in_memory().map_err(db_err("opening an in-memory database"))?;
        let conn = schema::prepare_writer(conn, ":memory:")?;
        Ok(SqliteStore {
            txn: Mutex::new(()),
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            path: None,
        })
    }

    /// The database file, if not in memory.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_sqlite::SqliteStore::open_in_memory()?.path().is_none());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Runs SQLite's `PRAGMA integrity_check` and foreign-key check; an error says what is wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// crmkit_sqlite::SqliteStore::open_in_memory()?.check_integrity()?;
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn check_integrity(&self) -> Result<()> {
        let conn = self.writer()?;
        let mut problems: Vec<String> = Vec::new();
        let mut stmt =
            conn.prepare("PRAGMA integrity_check").map_err(db_err("checking integrity"))?;
        let rows =
            stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db_err("checking integrity"))?;
        for row in rows {
            let line = row.map_err(db_err("checking integrity"))?;
            if line != "ok" {
                problems.push(line);
            }
        }
        let fk_violations: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))
            .map_err(db_err("checking foreign keys"))?;
        if fk_violations > 0 {
            problems.push(format!("{fk_violations} foreign key violations"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Storage {
                message: format!("integrity check failed: {}", problems.join("; ")),
                source: None,
            })
        }
    }

    fn writer(&self) -> Result<MutexGuard<'_, Connection>> {
        self.writer.lock().map_err(|_| poisoned())
    }

    /// Runs `f` on a reader connection: a pooled one for a file database, the writer in memory.
    fn read<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let Some(path) = &self.path else {
            return f(&mut *self.writer()?);
        };
        let pooled = self.readers.lock().map_err(|_| poisoned())?.pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => schema::open_reader(path)?,
        };
        let result = f(&mut conn);
        let mut pool = self.readers.lock().map_err(|_| poisoned())?;
        if pool.len() < 8 {
            pool.push(conn);
        }
        result
    }
}

impl Store for SqliteStore {
    fn write(&self, work: WriteWork<'_>) -> Result<BatchOutcome> {
        // A panic in `work` poisons this mutex after `OpenWrite` has rolled back, so the database
        // is consistent and the next writer may go on.
        let _txn = self.txn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        begin_immediate(&*self.writer()?)?;
        let mut open = OpenWrite { store: self, committed: false };
        // The writer connection is released while `work` reads: an in-memory database reads on
        // it (inside the open transaction), a file database on pooled readers, whose snapshots
        // are the latest commit because no other connection can commit until we do.
        let batch = work();
        // Held from the first write to COMMIT, so that no reader of an in-memory database sees
        // a batch that is not committed yet.
        let conn = self.writer()?;
        let outcome = batch
            .and_then(|batch| crmkit_core::store::apply_batch(&mut SqliteBatch::new(&conn), batch))
            .and_then(|outcome| {
                conn.execute_batch("COMMIT").map_err(db_err("committing a batch"))?;
                Ok(outcome)
            });
        drop(conn);
        open.committed = outcome.is_ok();
        outcome
    }
}
