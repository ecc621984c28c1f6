//! The write transaction: taking the database's write lock, and rolling back what was not
//! committed.

use crmkit_core::{Error, Result};
use rusqlite::Connection;

use crate::SqliteStore;

/// The write transaction [`SqliteStore::write`] has begun: rolled back when dropped uncommitted,
/// whether the work failed, the batch was refused, or a panic unwinds through.
pub(crate) struct OpenWrite<'a> {
    pub(crate) store: &'a SqliteStore,
    pub(crate) committed: bool,
}

impl Drop for OpenWrite<'_> {
    fn drop(&mut self) {
        if !self.committed {
            let conn = self.store.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // Fails only when SQLite has rolled back already (a failed COMMIT can do that).
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}

/// How long a writer waits for the others before it gives up.
const WRITE_LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// Takes the database's write lock, waiting for other writers (the busy timeout, again and again:
/// with several processes importing, one wait of 5 s is not always enough).
pub(crate) fn begin_immediate(conn: &Connection) -> Result<()> {
    let started = std::time::Instant::now();
    loop {
        match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::DatabaseBusy
                    && started.elapsed() < WRITE_LOCK_PATIENCE => {}
            Err(e) => return Err(Error::storage("starting a write transaction", e)),
        }
    }
}
