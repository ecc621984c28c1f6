//! Opening connections and migrating the schema.

use std::path::Path;
use std::time::Duration;

use crmkit_core::{Error, Result};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::db_err;

/// The migrations, in order; migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/001_initial.sql"),
    include_str!("../migrations/002_customer_value.sql"),
    include_str!("../migrations/003_automation.sql"),
    include_str!("../migrations/004_records.sql"),
];

/// The schema version this build writes (`PRAGMA user_version`).
///
/// # Examples
///
/// ```
/// assert!(crmkit_sqlite::SCHEMA_VERSION >= 1);
/// ```
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings every connection gets.
fn configure(conn: &Connection, ctx: &str) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err(ctx))?;
    // The bundled SQLite is built with STAT4, which re-plans (re-parses!) a statement every time a
    // parameter compared to an indexed column is re-bound: that tripled the cost of every lookup.
    // The query-planner stability guarantee keeps the prepared plan.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(db_err(ctx))?;
    // Readers lose their page cache whenever another connection commits (WAL), so every read
    // after a write re-fetched its pages with read(2); memory-mapped pages are not copied.
    conn.execute_batch("PRAGMA mmap_size = 268435456").map_err(db_err(ctx))?;
    Ok(())
}

/// Sets the writer's pragmas and migrates the schema.
pub(crate) fn prepare_writer(mut conn: Connection, label: &str) -> Result<Connection> {
    let ctx = format!("opening {label}");
    configure(&conn, &ctx)?;
    // Reading the version first also fails early, and cleanly, on a file that is not a database.
    let version: u32 =
        conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(db_err(&ctx))?;
    if version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew { found: version, supported: SCHEMA_VERSION });
    }
    let mode: String =
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(db_err(&ctx))?;
    if mode != "wal" && mode != "memory" {
        return Err(Error::Storage {
            message: format!("{ctx}: could not switch to WAL (journal mode is {mode})"),
            source: None,
        });
    }
    // 64 MiB of page cache: index inserts land all over the customer/time index. Checkpoints
    // every 64 MiB of WAL instead of 4 MiB: a page rewritten by several batches is copied back to
    // the database once (a 1M-row import writes a sixth less and runs about 15 % faster).
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 16384;",
    )
    .map_err(db_err(&ctx))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let target = i as u32 + 1;
        let tx = conn.transaction().map_err(db_err(&ctx))?;
        tx.execute_batch(sql)
            .and_then(|()| tx.pragma_update(None, "user_version", target))
            .and_then(|()| tx.commit())
            .map_err(|e| {
                Error::storage(&format!("{ctx}: migrating to schema version {target}"), e)
            })?;
    }
    Ok(conn)
}

/// A read-only connection to a database file (WAL lets it read while the writer writes).
pub(crate) fn open_reader(path: &Path) -> Result<Connection> {
    let ctx = format!("opening {} for reading", path.display());
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(db_err(&ctx))?;
    configure(&conn, &ctx)?;
    Ok(conn)
}
