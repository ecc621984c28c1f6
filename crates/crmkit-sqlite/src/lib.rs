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

mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};

use crmkit_core::automation::{Event, Membership, NewEvent, Playbook, Segment, Task, TaskQuery};
use crmkit_core::store::{
    AuditEntry, BatchOutcome, CustomerQuery, CustomerScore, ModelRecord, Page, PurchaseColumns,
    Store, StoreStats, TimeRange, WriteBatch, WriteOp, WriteWork,
};
use crmkit_core::{
    AuditRecord, Channel, Currency, Customer, CustomerId, Error, FieldDef, FieldType, IdentityKey,
    Interaction, InteractionId, InteractionKind, Money, NewInteraction, Result, TaskId,
};
use rusqlite::{Connection, OptionalExtension, params};
use rust_decimal::Decimal;

pub use schema::SCHEMA_VERSION;

/// A hash map with a fast hasher, for the per-row paths.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A [`Store`] on a SQLite database file, or in memory.
///
/// # Examples
///
/// ```
/// use crmkit_core::Store;
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

fn json_err(context: &str) -> impl FnOnce(serde_json::Error) -> Error + '_ {
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

/// The write transaction [`SqliteStore::write`] has begun: rolled back when dropped uncommitted,
/// whether the work failed, the batch was refused, or a panic unwinds through.
struct OpenWrite<'a> {
    store: &'a SqliteStore,
    committed: bool,
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
fn begin_immediate(conn: &Connection) -> Result<()> {
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

fn poisoned() -> Error {
    Error::Internal { message: "sqlite store lock poisoned by a panic".into() }
}

/// Customer `seq` (internal row key) by public id, if the customer exists.
fn customer_seq(tx: &Connection, id: CustomerId) -> Result<Option<(i64, u64)>> {
    tx.prepare_cached(r#"SELECT "seq", "revision" FROM "customers" WHERE "id" = ?1"#)
        .and_then(|mut s| {
            s.query_row([&id.to_bytes()[..]], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
                .optional()
        })
        .map_err(db_err("looking up a customer"))
}

fn not_found(id: CustomerId) -> Error {
    Error::NotFound { entity: "customer", key: id.to_string() }
}

/// Fails if a key of `c` belongs to another customer.
fn check_keys_free(tx: &Connection, c: &Customer) -> Result<()> {
    let mut stmt = tx
        .prepare_cached(
            r#"SELECT c."id" FROM "identity_keys" k JOIN "customers" c ON c."seq" = k."customer"
               WHERE k."key" = ?1"#,
        )
        .map_err(db_err("checking identity keys"))?;
    for k in &c.identities {
        let owner: Option<Vec<u8>> = stmt
            .query_row([k.to_string()], |r| r.get(0))
            .optional()
            .map_err(db_err("checking identity keys"))?;
        if let Some(owner) = owner.map(|b| id_from_blob(&b)).transpose()?
            && owner != c.id
        {
            return Err(Error::DuplicateIdentityKey { key: k.to_string(), owner });
        }
    }
    Ok(())
}

fn id_from_blob(b: &[u8]) -> Result<CustomerId> {
    let bytes: [u8; 16] = b.try_into().map_err(|_| Error::Storage {
        message: format!("customer id of {} bytes, expected 16", b.len()),
        source: None,
    })?;
    Ok(CustomerId::from_bytes(bytes))
}

/// Writes a customer's row, keys and tags (`seq` is `None` for a new customer).
fn write_customer(tx: &Connection, c: &Customer, seq: Option<i64>) -> Result<i64> {
    let data = serde_json::to_string(c).map_err(json_err("encoding a customer"))?;
    let name_lower = c.name.to_lowercase();
    let seq = match seq {
        None => {
            tx.prepare_cached(
                r#"INSERT INTO "customers" ("id", "name_lower", "stage", "revision", "data")
                   VALUES (?1, ?2, ?3, ?4, ?5)"#,
            )
            .and_then(|mut s| {
                s.execute(params![
                    &c.id.to_bytes()[..],
                    name_lower,
                    c.stage.as_str(),
                    c.revision as i64,
                    data
                ])
            })
            .map_err(db_err("inserting a customer"))?;
            tx.last_insert_rowid()
        }
        Some(seq) => {
            tx.prepare_cached(
                r#"UPDATE "customers" SET "name_lower" = ?2, "stage" = ?3, "revision" = ?4, "data" = ?5
                   WHERE "seq" = ?1"#,
            )
            .and_then(|mut s| {
                s.execute(params![seq, name_lower, c.stage.as_str(), c.revision as i64, data])
            })
            .map_err(db_err("updating a customer"))?;
            for sql in [
                r#"DELETE FROM "identity_keys" WHERE "customer" = ?1"#,
                r#"DELETE FROM "customer_tags" WHERE "customer" = ?1"#,
            ] {
                tx.prepare_cached(sql)
                    .and_then(|mut s| s.execute([seq]))
                    .map_err(db_err("updating a customer"))?;
            }
            seq
        }
    };
    let mut keys = tx
        .prepare_cached(
            r#"INSERT OR IGNORE INTO "identity_keys" ("key", "customer") VALUES (?1, ?2)"#,
        )
        .map_err(db_err("writing identity keys"))?;
    for k in &c.identities {
        keys.execute(params![k.to_string(), seq]).map_err(db_err("writing identity keys"))?;
    }
    let mut tags = tx
        .prepare_cached(
            r#"INSERT OR IGNORE INTO "customer_tags" ("tag", "customer") VALUES (?1, ?2)"#,
        )
        .map_err(db_err("writing tags"))?;
    for t in &c.tags {
        tags.execute(params![t, seq]).map_err(db_err("writing tags"))?;
    }
    Ok(seq)
}

/// The serde tag of an interaction kind, stored in the `kind` column.
fn kind_tag(kind: &InteractionKind) -> &'static str {
    match kind {
        InteractionKind::Purchase { .. } => "purchase",
        InteractionKind::Refund { .. } => "refund",
        InteractionKind::Email { .. } => "email",
        InteractionKind::Call { .. } => "call",
        InteractionKind::Meeting { .. } => "meeting",
        InteractionKind::TicketOpened { .. } => "ticket_opened",
        InteractionKind::TicketResolved { .. } => "ticket_resolved",
        InteractionKind::WebVisit { .. } => "web_visit",
        InteractionKind::Note { .. } => "note",
        InteractionKind::Custom { .. } => "custom",
        // InteractionKind is exhaustive today; a new kind would be kept whole in `detail`.
    }
}

const APPEND_SQL: &str = r#"INSERT INTO "interactions"
    ("customer", "occurred_at", "kind", "amount", "currency", "detail", "channel", "properties", "idempotency_key")
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
    ON CONFLICT ("idempotency_key") DO NOTHING"#;

/// Appends one interaction; `None` if its idempotency key is already stored.
fn append_interaction(
    tx: &Connection,
    insert: &mut rusqlite::CachedStatement<'_>,
    seq: i64,
    n: &NewInteraction,
) -> Result<Option<InteractionId>> {
    let (amount, currency, detail) = match &n.kind {
        InteractionKind::Purchase { total, items } | InteractionKind::Refund { total, items }
            if items.is_empty() =>
        {
            (Some(total.amount.to_string()), Some(total.currency.code()), None)
        }
        other => {
            let money = other.amount();
            (
                money.map(|m| m.amount.to_string()),
                money.map(|m| m.currency.code()),
                Some(serde_json::to_string(other).map_err(json_err("encoding an interaction"))?),
            )
        }
    };
    let properties = if n.properties.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&n.properties).map_err(json_err("encoding properties"))?)
    };
    let changed = insert
        .execute(params![
            seq,
            n.occurred_at.timestamp_micros(),
            kind_tag(&n.kind),
            amount,
            currency,
            detail,
            n.channel.as_ref().map(Channel::as_str),
            properties,
            n.idempotency_key,
        ])
        .map_err(db_err("appending an interaction"))?;
    Ok((changed == 1).then(|| InteractionId(tx.last_insert_rowid() as u64)))
}

/// A customer's `seq` through the batch's cache, or [`Error::NotFound`].
fn cached_seq(tx: &Connection, seqs: &mut HashMap<CustomerId, i64>, id: CustomerId) -> Result<i64> {
    if let Some(seq) = seqs.get(&id) {
        return Ok(*seq);
    }
    let (seq, _) = customer_seq(tx, id)?.ok_or_else(|| not_found(id))?;
    seqs.insert(id, seq);
    Ok(seq)
}

/// Applies a batch inside the write transaction [`SqliteStore::write`] has begun.
fn apply_batch(tx: &Connection, batch: WriteBatch) -> Result<BatchOutcome> {
    let mut outcome = BatchOutcome::default();
    // Customer id -> seq for this batch: imports append thousands of rows for few customers.
    let mut seqs: HashMap<CustomerId, i64> = HashMap::new();
    let mut append = None;
    for op in batch.ops {
        match op {
            WriteOp::InsertCustomer(mut c) => {
                if customer_seq(tx, c.id)?.is_some() {
                    return Err(Error::AlreadyExists { entity: "customer", key: c.id.to_string() });
                }
                check_keys_free(tx, &c)?;
                c.truncate_to_micros();
                let seq = write_customer(tx, &c, None)?;
                seqs.insert(c.id, seq);
            }
            WriteOp::UpdateCustomer { customer: mut c, expected_revision } => {
                let (seq, revision) = customer_seq(tx, c.id)?.ok_or_else(|| not_found(c.id))?;
                if revision != expected_revision {
                    return Err(Error::StaleRevision {
                        customer: c.id,
                        expected: expected_revision,
                        found: revision,
                    });
                }
                check_keys_free(tx, &c)?;
                c.truncate_to_micros();
                write_customer(tx, &c, Some(seq))?;
            }
            WriteOp::AppendInteraction(n) => {
                let seq = cached_seq(tx, &mut seqs, n.customer)?;
                // Prepared once per batch: the statement-cache lookup was a tenth of the row cost.
                let insert = match &mut append {
                    Some(stmt) => stmt,
                    None => append.insert(
                        tx.prepare_cached(APPEND_SQL)
                            .map_err(db_err("appending an interaction"))?,
                    ),
                };
                let written = append_interaction(tx, insert, seq, &n)?;
                if let Some(id) = written {
                    write_interaction_event(tx, id, &n, &mut outcome)?;
                }
                outcome.appended.push(written);
            }
            WriteOp::DefineField(def) => {
                let existing: Option<String> = tx
                    .prepare_cached(r#"SELECT "field_type" FROM "field_defs" WHERE "name" = ?1"#)
                    .and_then(|mut s| s.query_row([&def.name], |r| r.get(0)).optional())
                    .map_err(db_err("reading field definitions"))?;
                match existing {
                    Some(t) if t != def.field_type.to_string() => {
                        return Err(Error::FieldTypeConflict {
                            name: def.name,
                            existing: t,
                            requested: def.field_type.to_string(),
                        });
                    }
                    Some(_) => {}
                    None => {
                        tx.prepare_cached(
                            r#"INSERT INTO "field_defs" ("name", "field_type") VALUES (?1, ?2)"#,
                        )
                        .and_then(|mut s| s.execute(params![def.name, def.field_type.to_string()]))
                        .map_err(db_err("defining a field"))?;
                    }
                }
            }
            WriteOp::SaveModel(model) => {
                let latest: i64 = tx
                    .prepare_cached(r#"SELECT coalesce(max("version"), 0) FROM "models""#)
                    .and_then(|mut s| s.query_row([], |r| r.get(0)))
                    .map_err(db_err("reading model versions"))?;
                crmkit_core::store::check_model_version(latest as u64, model.version)?;
                let json =
                    serde_json::to_string(&model.models).map_err(json_err("encoding a model"))?;
                tx.prepare_cached(
                    r#"INSERT INTO "models" ("version", "fitted_at", "as_of", "time_unit", "currency", "models")
                       VALUES (?1, ?2, ?3, ?4, ?5, ?6)"#,
                )
                .and_then(|mut s| {
                    s.execute(params![
                        model.version as i64,
                        model.fitted_at.timestamp_micros(),
                        model.as_of.timestamp_micros(),
                        model.time_unit,
                        model.currency.map(|c| c.code().to_owned()),
                        json
                    ])
                })
                .map_err(db_err("saving a model"))?;
            }
            WriteOp::SaveScores(scores) => {
                let latest: i64 = tx
                    .prepare_cached(r#"SELECT coalesce(max("version"), 0) FROM "models""#)
                    .and_then(|mut s| s.query_row([], |r| r.get(0)))
                    .map_err(db_err("reading model versions"))?;
                let mut insert = tx
                    .prepare_cached(
                        r#"INSERT INTO "scores" ("customer", "model_version", "data") VALUES (?1, ?2, ?3)
                           ON CONFLICT ("customer") DO UPDATE SET "model_version" = excluded."model_version",
                                                                  "data" = excluded."data""#,
                    )
                    .map_err(db_err("saving scores"))?;
                for score in scores {
                    let seq = cached_seq(tx, &mut seqs, score.customer)?;
                    if score.model_version == 0 || score.model_version > latest as u64 {
                        return Err(Error::NotFound {
                            entity: "model version",
                            key: score.model_version.to_string(),
                        });
                    }
                    let data =
                        serde_json::to_string(&score).map_err(json_err("encoding scores"))?;
                    insert
                        .execute(params![seq, score.model_version as i64, data])
                        .map_err(db_err("saving scores"))?;
                }
            }
            WriteOp::Audit(record) => {
                cached_seq(tx, &mut seqs, record.customer)?;
                write_audit(tx, &record)?;
            }
            WriteOp::SaveSegment(segment) => {
                let data =
                    serde_json::to_string(&segment).map_err(json_err("encoding a segment"))?;
                tx.prepare_cached(
                    r#"INSERT INTO "segments" ("name", "data") VALUES (?1, ?2)
                       ON CONFLICT ("name") DO UPDATE SET "data" = excluded."data""#,
                )
                .and_then(|mut s| s.execute(params![segment.name, data]))
                .map_err(db_err("saving a segment"))?;
                bump_revision(tx)?;
            }
            WriteOp::DeleteSegment(name) => {
                tx.prepare_cached(r#"DELETE FROM "memberships" WHERE "segment" = ?1"#)
                    .and_then(|mut s| s.execute([&name]))
                    .map_err(db_err("deleting a segment"))?;
                let n = tx
                    .prepare_cached(r#"DELETE FROM "segments" WHERE "name" = ?1"#)
                    .and_then(|mut s| s.execute([&name]))
                    .map_err(db_err("deleting a segment"))?;
                if n == 0 {
                    return Err(Error::NotFound { entity: "segment", key: name });
                }
                bump_revision(tx)?;
            }
            WriteOp::SetMembership(m) => {
                let known: Option<i64> = tx
                    .prepare_cached(r#"SELECT 1 FROM "segments" WHERE "name" = ?1"#)
                    .and_then(|mut s| s.query_row([&m.segment], |r| r.get(0)).optional())
                    .map_err(db_err("reading segments"))?;
                if known.is_none() {
                    return Err(Error::NotFound { entity: "segment", key: m.segment });
                }
                cached_seq(tx, &mut seqs, m.customer)?;
                let customer = m.customer.to_bytes();
                if m.is_stored() {
                    tx.prepare_cached(
                        r#"INSERT INTO "memberships" ("segment", "customer", "member", "since", "version", "leaves", "next_check")
                           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                           ON CONFLICT ("customer", "segment") DO UPDATE SET
                             "member" = excluded."member", "since" = excluded."since",
                             "version" = excluded."version", "leaves" = excluded."leaves",
                             "next_check" = excluded."next_check""#,
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            m.segment,
                            &customer[..],
                            m.member,
                            m.since.timestamp_micros(),
                            m.version as i64,
                            m.leaves as i64,
                            m.next_check.map(|t| t.timestamp_micros()),
                        ])
                    })
                    .map_err(db_err("saving a membership"))?;
                } else {
                    tx.prepare_cached(
                        r#"DELETE FROM "memberships" WHERE "segment" = ?1 AND "customer" = ?2"#,
                    )
                    .and_then(|mut s| s.execute(params![m.segment, &customer[..]]))
                    .map_err(db_err("deleting a membership"))?;
                }
            }
            WriteOp::SavePlaybook(p) => {
                let data = serde_json::to_string(&p).map_err(json_err("encoding a playbook"))?;
                tx.prepare_cached(
                    r#"INSERT INTO "playbooks" ("name", "data") VALUES (?1, ?2)
                       ON CONFLICT ("name") DO UPDATE SET "data" = excluded."data""#,
                )
                .and_then(|mut s| s.execute(params![p.name, data]))
                .map_err(db_err("saving a playbook"))?;
                bump_revision(tx)?;
            }
            WriteOp::DeletePlaybook(name) => {
                let n = tx
                    .prepare_cached(r#"DELETE FROM "playbooks" WHERE "name" = ?1"#)
                    .and_then(|mut s| s.execute([&name]))
                    .map_err(db_err("deleting a playbook"))?;
                if n == 0 {
                    return Err(Error::NotFound { entity: "playbook", key: name });
                }
                bump_revision(tx)?;
            }
            WriteOp::Emit(event) => write_event(tx, event, &mut outcome)?,
            WriteOp::Ack { consumer, seq } => {
                let last: i64 = tx
                    .prepare_cached(r#"SELECT coalesce(max("seq"), 0) FROM "events""#)
                    .and_then(|mut s| s.query_row([], |r| r.get(0)))
                    .map_err(db_err("reading events"))?;
                if seq > last as u64 {
                    return Err(Error::validation(
                        "seq",
                        format!("{seq} is beyond the last event ({last})"),
                    ));
                }
                tx.prepare_cached(
                    r#"INSERT INTO "consumers" ("name", "cursor") VALUES (?1, ?2)
                       ON CONFLICT ("name") DO UPDATE SET "cursor" = max("cursor", excluded."cursor")"#,
                )
                .and_then(|mut s| s.execute(params![consumer, seq as i64]))
                .map_err(db_err("acknowledging events"))?;
            }
            WriteOp::PutTask(task) => {
                cached_seq(tx, &mut seqs, task.customer)?;
                let mut task = task;
                task.due = crmkit_core::time::truncate_micros(task.due);
                task.created_at = crmkit_core::time::truncate_micros(task.created_at);
                task.completed_at = task.completed_at.map(crmkit_core::time::truncate_micros);
                let data = serde_json::to_string(&task).map_err(json_err("encoding a task"))?;
                tx.prepare_cached(
                    r#"INSERT INTO "tasks" ("id", "customer", "status", "due", "assignee", "playbook", "data")
                       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                       ON CONFLICT ("id") DO UPDATE SET "customer" = excluded."customer",
                         "status" = excluded."status", "due" = excluded."due",
                         "assignee" = excluded."assignee", "playbook" = excluded."playbook",
                         "data" = excluded."data""#,
                )
                .and_then(|mut s| {
                    s.execute(params![
                        &task.id.0.as_bytes()[..],
                        &task.customer.to_bytes()[..],
                        task.status.to_string(),
                        task.due.timestamp_micros(),
                        task.assignee,
                        task.playbook,
                        data
                    ])
                })
                .map_err(db_err("saving a task"))?;
            }
        }
    }
    drop(append);
    Ok(outcome)
}

fn bump_revision(tx: &Connection) -> Result<()> {
    tx.prepare_cached(r#"UPDATE "automation_revision" SET "revision" = "revision" + 1"#)
        .and_then(|mut s| s.execute([]))
        .map_err(db_err("bumping the automation revision"))
        .map(drop)
}

fn write_event(tx: &Connection, e: NewEvent, outcome: &mut BatchOutcome) -> Result<()> {
    let payload = serde_json::to_string(&e.payload).map_err(json_err("encoding an event"))?;
    tx.prepare_cached(
        r#"INSERT INTO "events" ("at", "customer", "type", "payload") VALUES (?1, ?2, ?3, ?4)"#,
    )
    .and_then(|mut s| {
        s.execute(params![
            e.at.timestamp_micros(),
            e.customer.map(|c| c.to_bytes().to_vec()),
            e.payload.type_name(),
            payload
        ])
    })
    .map_err(db_err("writing an event"))?;
    outcome.events += 1;
    outcome.last_event = tx.last_insert_rowid() as u64;
    Ok(())
}

/// The `interaction_recorded` event of a written interaction: a reference to the row, which
/// [`Store::events`] turns back into the payload `interaction_event` describes.
fn write_interaction_event(
    tx: &Connection,
    id: InteractionId,
    n: &NewInteraction,
    outcome: &mut BatchOutcome,
) -> Result<()> {
    tx.prepare_cached(
        r#"INSERT INTO "events" ("at", "customer", "type", "interaction")
           VALUES (?1, ?2, 'interaction_recorded', ?3)"#,
    )
    .and_then(|mut s| {
        s.execute(params![
            n.occurred_at.timestamp_micros(),
            &n.customer.to_bytes()[..],
            id.0 as i64
        ])
    })
    .map_err(db_err("writing an event"))?;
    outcome.events += 1;
    outcome.last_event = tx.last_insert_rowid() as u64;
    Ok(())
}

fn micros_to_time(us: i64) -> Result<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp_micros(us).ok_or_else(|| Error::Storage {
        message: format!("stored time {us} µs is out of range"),
        source: None,
    })
}

fn membership_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawMembership> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

type RawMembership = (String, Vec<u8>, bool, i64, i64, i64, Option<i64>);

fn membership_from(raw: RawMembership) -> Result<Membership> {
    let (segment, customer, member, since, version, leaves, next_check) = raw;
    Ok(Membership {
        segment,
        customer: id_from_blob(&customer)?,
        member,
        since: micros_to_time(since)?,
        version: version as u64,
        leaves: leaves as u64,
        next_check: next_check.map(micros_to_time).transpose()?,
    })
}

const MEMBERSHIP_COLUMNS: &str =
    r#""segment", "customer", "member", "since", "version", "leaves", "next_check""#;

fn query_memberships(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Membership>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err("reading memberships"))?;
    let rows = stmt.query_map(params, membership_row).map_err(db_err("reading memberships"))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(membership_from(row.map_err(db_err("reading memberships"))?)?);
    }
    Ok(out)
}

fn query_json<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    what: &str,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err(what))?;
    let rows = stmt.query_map(params, |r| r.get::<_, String>(0)).map_err(db_err(what))?;
    let mut out = Vec::new();
    for row in rows {
        let data = row.map_err(db_err(what))?;
        out.push(serde_json::from_str(&data).map_err(json_err(what))?);
    }
    Ok(out)
}

fn write_audit(tx: &Connection, r: &AuditRecord) -> Result<()> {
    let enc = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(json_err("encoding an audit entry"))
    };
    let (old, new) = (enc(&r.old)?, enc(&r.new)?);
    tx.prepare_cached(
        r#"INSERT INTO "audit_log" ("customer", "at", "actor", "field", "old", "new")
           VALUES (?1, ?2, ?3, ?4, ?5, ?6)"#,
    )
    .and_then(|mut s| {
        s.execute(params![
            &r.customer.to_bytes()[..],
            r.at.timestamp_micros(),
            r.actor,
            r.field,
            old,
            new
        ])
    })
    .map_err(db_err("writing the audit log"))?;
    Ok(())
}

fn parse_customer(data: &str) -> Result<Customer> {
    serde_json::from_str(data).map_err(json_err("decoding a stored customer"))
}

/// A row of `interactions` as read back.
struct InteractionRow {
    id: i64,
    customer: Vec<u8>,
    occurred_at: i64,
    amount: Option<String>,
    currency: Option<String>,
    kind: String,
    detail: Option<String>,
    channel: Option<String>,
    properties: Option<String>,
    idempotency_key: Option<String>,
}

impl InteractionRow {
    /// The row's ten columns, starting at column `at`, in the order the queries select them:
    /// id, customer id, occurred_at, amount, currency, kind, detail, channel, properties, key.
    fn read(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<InteractionRow> {
        Ok(InteractionRow {
            id: r.get(at)?,
            customer: r.get(at + 1)?,
            occurred_at: r.get(at + 2)?,
            amount: r.get(at + 3)?,
            currency: r.get(at + 4)?,
            kind: r.get(at + 5)?,
            detail: r.get(at + 6)?,
            channel: r.get(at + 7)?,
            properties: r.get(at + 8)?,
            idempotency_key: r.get(at + 9)?,
        })
    }

    fn into_interaction(self) -> Result<Interaction> {
        let kind = match self.detail {
            Some(detail) => {
                serde_json::from_str(&detail).map_err(json_err("decoding an interaction"))?
            }
            None => {
                let total = Money::new(
                    decimal(self.amount.as_deref())?,
                    currency(self.currency.as_deref())?,
                );
                match self.kind.as_str() {
                    "purchase" => InteractionKind::Purchase { total, items: Vec::new() },
                    "refund" => InteractionKind::Refund { total, items: Vec::new() },
                    other => {
                        return Err(Error::Storage {
                            message: format!(
                                "interaction {} of kind {other:?} has no detail",
                                self.id
                            ),
                            source: None,
                        });
                    }
                }
            }
        };
        Ok(Interaction {
            id: InteractionId(self.id as u64),
            customer: id_from_blob(&self.customer)?,
            occurred_at: crmkit_core::time::from_micros(self.occurred_at)?,
            kind,
            channel: self.channel.map(|c| Channel::from_str(&c)).transpose()?,
            properties: match self.properties {
                Some(p) => serde_json::from_str(&p).map_err(json_err("decoding properties"))?,
                None => Default::default(),
            },
            idempotency_key: self.idempotency_key,
        })
    }
}

fn decimal(text: Option<&str>) -> Result<Decimal> {
    let t = text.unwrap_or_default();
    match plain_decimal(t.as_bytes()) {
        Some(d) => Ok(d),
        None => {
            Decimal::from_str(t).map_err(|e| Error::storage(&format!("decoding amount {t:?}"), e))
        }
    }
}

/// Parses the common `-123.45` form (up to 18 digits) without the general parser: the
/// purchase scan decodes one amount per row.
fn plain_decimal(b: &[u8]) -> Option<Decimal> {
    let (negative, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut mantissa: i64 = 0;
    let mut scale: Option<u32> = None;
    let mut count = 0;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + i64::from(c - b'0');
                count += 1;
                if let Some(s) = scale.as_mut() {
                    *s += 1;
                }
            }
            b'.' if scale.is_none() => scale = Some(0),
            _ => return None,
        }
    }
    if count == 0 || count > 18 || scale == Some(0) {
        return None;
    }
    let mantissa = if negative { -mantissa } else { mantissa };
    Some(Decimal::new(mantissa, scale.unwrap_or(0)))
}

fn currency(text: Option<&str>) -> Result<Currency> {
    Currency::new(text.unwrap_or_default())
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
        let outcome = batch.and_then(|batch| apply_batch(&conn, batch)).and_then(|outcome| {
            conn.execute_batch("COMMIT").map_err(db_err("committing a batch"))?;
            Ok(outcome)
        });
        drop(conn);
        open.committed = outcome.is_ok();
        outcome
    }

    fn customer(&self, id: CustomerId) -> Result<Option<Customer>> {
        self.read(|conn| {
            let data: Option<String> = conn
                .prepare_cached(r#"SELECT "data" FROM "customers" WHERE "id" = ?1"#)
                .and_then(|mut s| s.query_row([&id.to_bytes()[..]], |r| r.get(0)).optional())
                .map_err(db_err("reading a customer"))?;
            data.as_deref().map(parse_customer).transpose()
        })
    }

    fn customer_by_key(&self, key: &IdentityKey) -> Result<Option<Customer>> {
        self.read(|conn| {
            let data: Option<String> = conn
                .prepare_cached(
                    r#"SELECT c."data" FROM "identity_keys" k JOIN "customers" c ON c."seq" = k."customer"
                       WHERE k."key" = ?1"#,
                )
                .and_then(|mut s| s.query_row([key.to_string()], |r| r.get(0)).optional())
                .map_err(db_err("reading a customer by key"))?;
            data.as_deref().map(parse_customer).transpose()
        })
    }

    fn customer_id_by_key(&self, key: &IdentityKey) -> Result<Option<CustomerId>> {
        self.read(|conn| {
            let id: Option<Vec<u8>> = conn
                .prepare_cached(
                    r#"SELECT c."id" FROM "identity_keys" k JOIN "customers" c ON c."seq" = k."customer"
                       WHERE k."key" = ?1"#,
                )
                .and_then(|mut s| s.query_row([key.to_string()], |r| r.get(0)).optional())
                .map_err(db_err("looking up a customer by key"))?;
            id.as_deref().map(id_from_blob).transpose()
        })
    }

    fn list_customers(&self, query: &CustomerQuery) -> Result<Page<Customer>> {
        let limit = query.limit.max(1);
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    r#"SELECT c."data" FROM "customers" c
                       WHERE (?1 IS NULL OR c."id" > ?1)
                         AND (?2 IS NULL OR c."stage" = ?2)
                         AND (?3 IS NULL OR EXISTS (SELECT 1 FROM "customer_tags" t
                                                    WHERE t."tag" = ?3 AND t."customer" = c."seq"))
                         AND (?4 IS NULL OR instr(c."name_lower", ?4) > 0)
                       ORDER BY c."id"
                       LIMIT ?5"#,
                )
                .map_err(db_err("listing customers"))?;
            let after = query.after.map(|id| id.to_bytes().to_vec());
            let rows = stmt
                .query_map(
                    params![
                        after,
                        query.stage.as_ref().map(|s| s.as_str()),
                        query.tag,
                        query.name_contains.as_ref().map(|n| n.to_lowercase()),
                        (limit + 1) as i64
                    ],
                    |r| r.get::<_, String>(0),
                )
                .map_err(db_err("listing customers"))?;
            let mut items = Vec::new();
            for data in rows {
                items.push(parse_customer(&data.map_err(db_err("listing customers"))?)?);
            }
            let next = if items.len() > limit {
                items.truncate(limit);
                items.last().map(|c| c.id)
            } else {
                None
            };
            Ok(Page { items, next })
        })
    }

    fn interactions(&self, customer: CustomerId, range: TimeRange) -> Result<Vec<Interaction>> {
        // Stored times are whole microseconds, bounds may not be: for a whole `s`,
        // `s >= from` ⇔ `s >= ceil(from)` and `s < to` ⇔ `s <= ceil(to) - 1`.
        let ceil_micros = |t: chrono::DateTime<chrono::Utc>| {
            let us = t.timestamp_micros();
            if t.timestamp_subsec_nanos().is_multiple_of(1000) { us } else { us.saturating_add(1) }
        };
        let from = range.from.map_or(i64::MIN, ceil_micros);
        let to_inclusive = range.to.map_or(i64::MAX, |t| ceil_micros(t).saturating_sub(1));
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    r#"SELECT i."id", c."id", i."occurred_at", i."amount", i."currency", i."kind",
                              i."detail", i."channel", i."properties", i."idempotency_key"
                       FROM "customers" c JOIN "interactions" i ON i."customer" = c."seq"
                       WHERE c."id" = ?1 AND i."occurred_at" BETWEEN ?2 AND ?3
                       ORDER BY i."occurred_at", i."id""#,
                )
                .map_err(db_err("reading interactions"))?;
            let rows = stmt
                .query_map(params![&customer.to_bytes()[..], from, to_inclusive], |r| {
                    InteractionRow::read(r, 0)
                })
                .map_err(db_err("reading interactions"))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row.map_err(db_err("reading interactions"))?.into_interaction()?);
            }
            Ok(out)
        })
    }

    fn scan_purchases(&self) -> Result<PurchaseColumns> {
        self.read(|conn| {
            // One snapshot for both scans; inside a write (in memory) the open one is it.
            let own = conn.is_autocommit();
            if own {
                conn.execute_batch("BEGIN").map_err(db_err("starting a read transaction"))?;
            }
            let tx = &*conn;
            let mut ids: FastMap<i64, CustomerId> = FastMap::default();
            {
                let mut stmt = tx
                    .prepare_cached(r#"SELECT "seq", "id" FROM "customers""#)
                    .map_err(db_err("scanning customers"))?;
                let mut rows = stmt.query([]).map_err(db_err("scanning customers"))?;
                while let Some(r) = rows.next().map_err(db_err("scanning customers"))? {
                    let seq: i64 = r.get(0).map_err(db_err("scanning customers"))?;
                    let blob = r.get_ref(1).and_then(|v| v.as_blob().map_err(Into::into));
                    ids.insert(seq, id_from_blob(blob.map_err(db_err("scanning customers"))?)?);
                }
            }
            let mut cols = PurchaseColumns::default();
            let mut seen: FastMap<i64, u32> = FastMap::default();
            // Nearly every row has the currency of the row before.
            let mut last_currency: Option<(String, Currency)> = None;
            {
                let mut stmt = tx
                    .prepare_cached(
                        r#"SELECT "customer", "occurred_at", "amount", "currency" FROM "interactions"
                           WHERE "kind" = 'purchase' ORDER BY "id""#,
                    )
                    .map_err(db_err("scanning purchases"))?;
                let mut rows = stmt.query([]).map_err(db_err("scanning purchases"))?;
                while let Some(r) = rows.next().map_err(db_err("scanning purchases"))? {
                    let seq: i64 = r.get(0).map_err(db_err("scanning purchases"))?;
                    let at: i64 = r.get(1).map_err(db_err("scanning purchases"))?;
                    let amount_ref = r.get_ref(2).map_err(db_err("scanning purchases"))?;
                    let amount = decimal(amount_ref.as_str_or_null().ok().flatten())?;
                    let code_ref = r.get_ref(3).map_err(db_err("scanning purchases"))?;
                    let code = code_ref.as_str_or_null().ok().flatten().unwrap_or_default();
                    let cur = match &last_currency {
                        Some((text, c)) if text == code => *c,
                        _ => {
                            let c = Currency::new(code)?;
                            last_currency = Some((code.to_owned(), c));
                            c
                        }
                    };
                    let id = *ids.get(&seq).ok_or_else(|| Error::Storage {
                        message: format!("purchase of unknown customer row {seq}"),
                        source: None,
                    })?;
                    cols.push_row(&mut seen, seq, id, at, amount, cur);
                }
            }
            if own {
                tx.execute_batch("COMMIT").map_err(db_err("ending a read transaction"))?;
            }
            Ok(cols)
        })
    }

    fn audit_log(
        &self,
        customer: Option<CustomerId>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    r#"SELECT "seq", "customer", "at", "actor", "field", "old", "new" FROM "audit_log"
                       WHERE "seq" > ?1 AND (?2 IS NULL OR "customer" = ?2)
                       ORDER BY "seq" LIMIT ?3"#,
                )
                .map_err(db_err("reading the audit log"))?;
            let filter = customer.map(|c| c.to_bytes().to_vec());
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = stmt
                .query_map(params![after as i64, filter, limit], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                    ))
                })
                .map_err(db_err("reading the audit log"))?;
            let dec = |v: Option<String>| {
                v.map(|s| serde_json::from_str(&s))
                    .transpose()
                    .map_err(json_err("decoding an audit entry"))
            };
            let mut out = Vec::new();
            for row in rows {
                let (seq, customer, at, actor, field, old, new) =
                    row.map_err(db_err("reading the audit log"))?;
                out.push(AuditEntry {
                    seq: seq as u64,
                    customer: id_from_blob(&customer)?,
                    at: crmkit_core::time::from_micros(at)?,
                    actor,
                    field,
                    old: dec(old)?,
                    new: dec(new)?,
                });
            }
            Ok(out)
        })
    }

    fn field_schema(&self) -> Result<Vec<FieldDef>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(r#"SELECT "name", "field_type" FROM "field_defs" ORDER BY "name""#)
                .map_err(db_err("reading field definitions"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(db_err("reading field definitions"))?;
            let mut out = Vec::new();
            for row in rows {
                let (name, t) = row.map_err(db_err("reading field definitions"))?;
                out.push(FieldDef { name, field_type: FieldType::from_str(&t)? });
            }
            Ok(out)
        })
    }

    fn model(&self, version: Option<u64>) -> Result<Option<ModelRecord>> {
        self.read(|conn| {
            let row = conn
                .prepare_cached(
                    r#"SELECT "version", "fitted_at", "as_of", "time_unit", "currency", "models" FROM "models"
                       WHERE "version" = coalesce(?1, (SELECT max("version") FROM "models"))"#,
                )
                .and_then(|mut s| {
                    s.query_row([version.map(|v| v as i64)], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, String>(5)?,
                        ))
                    })
                    .optional()
                })
                .map_err(db_err("reading a model"))?;
            let Some((v, fitted_at, as_of, time_unit, currency, models)) = row else {
                return Ok(None);
            };
            Ok(Some(ModelRecord {
                version: v as u64,
                fitted_at: crmkit_core::time::from_micros(fitted_at)?,
                as_of: crmkit_core::time::from_micros(as_of)?,
                time_unit,
                currency: currency.map(|c| Currency::new(&c)).transpose()?,
                models: serde_json::from_str(&models).map_err(json_err("decoding a model"))?,
            }))
        })
    }

    fn score(&self, customer: CustomerId) -> Result<Option<CustomerScore>> {
        self.read(|conn| {
            let data: Option<String> = conn
                .prepare_cached(
                    r#"SELECT s."data" FROM "customers" c JOIN "scores" s ON s."customer" = c."seq"
                       WHERE c."id" = ?1"#,
                )
                .and_then(|mut s| s.query_row([&customer.to_bytes()[..]], |r| r.get(0)).optional())
                .map_err(db_err("reading scores"))?;
            data.map(|d| serde_json::from_str(&d).map_err(json_err("decoding scores"))).transpose()
        })
    }

    fn all_scores(&self) -> Result<Vec<CustomerScore>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    r#"SELECT s."data" FROM "customers" c JOIN "scores" s ON s."customer" = c."seq"
                       ORDER BY c."id""#,
                )
                .map_err(db_err("reading scores"))?;
            let rows =
                stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db_err("reading scores"))?;
            let mut out = Vec::new();
            for row in rows {
                let data = row.map_err(db_err("reading scores"))?;
                out.push(serde_json::from_str(&data).map_err(json_err("decoding scores"))?);
            }
            Ok(out)
        })
    }

    fn segments(&self) -> Result<Vec<Segment>> {
        self.read(|conn| {
            query_json(
                conn,
                r#"SELECT "data" FROM "segments" ORDER BY "name""#,
                [],
                "reading segments",
            )
        })
    }

    fn playbooks(&self) -> Result<Vec<Playbook>> {
        self.read(|conn| {
            query_json(
                conn,
                r#"SELECT "data" FROM "playbooks" ORDER BY "name""#,
                [],
                "reading playbooks",
            )
        })
    }

    fn automation_revision(&self) -> Result<u64> {
        self.read(|conn| {
            conn.prepare_cached(r#"SELECT "revision" FROM "automation_revision""#)
                .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
                .map(|r| r as u64)
                .map_err(db_err("reading the automation revision"))
        })
    }

    fn memberships(&self, customer: CustomerId) -> Result<Vec<Membership>> {
        let sql = format!(
            r#"SELECT {MEMBERSHIP_COLUMNS} FROM "memberships" WHERE "customer" = ?1 ORDER BY "segment""#
        );
        self.read(|conn| query_memberships(conn, &sql, [&customer.to_bytes()[..]]))
    }

    fn segment_rows(
        &self,
        segment: &str,
        after: Option<CustomerId>,
        limit: usize,
    ) -> Result<Vec<Membership>> {
        let sql = format!(
            r#"SELECT {MEMBERSHIP_COLUMNS} FROM "memberships"
               WHERE "segment" = ?1 AND (?2 IS NULL OR "customer" > ?2)
               ORDER BY "customer" LIMIT ?3"#
        );
        let after = after.map(|id| id.to_bytes().to_vec());
        self.read(|conn| query_memberships(conn, &sql, params![segment, after, limit as i64]))
    }

    fn segment_sizes(&self) -> Result<Vec<(String, u64)>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    r#"SELECT "segment", count(*) FROM "memberships" WHERE "member"
                       GROUP BY "segment" ORDER BY "segment""#,
                )
                .map_err(db_err("counting members"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))
                .map_err(db_err("counting members"))?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err("counting members"))
        })
    }

    fn due_checks(
        &self,
        until: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<Membership>> {
        let sql = format!(
            r#"SELECT {MEMBERSHIP_COLUMNS} FROM "memberships"
               WHERE "next_check" IS NOT NULL AND "next_check" <= ?1
               ORDER BY "next_check", "segment", "customer" LIMIT ?2"#
        );
        // Stored times are whole microseconds: `t <= until` ⇔ `t <= floor(until)`.
        self.read(|conn| {
            query_memberships(conn, &sql, params![until.timestamp_micros(), limit as i64])
        })
    }

    fn events(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    r#"SELECT e."seq", e."at", e."customer", e."payload",
                              i."id", c."id", i."occurred_at", i."amount", i."currency", i."kind",
                              i."detail", i."channel", i."properties", i."idempotency_key"
                       FROM "events" e
                       LEFT JOIN "interactions" i ON i."id" = e."interaction"
                       LEFT JOIN "customers" c ON c."seq" = i."customer"
                       WHERE e."seq" > ?1 ORDER BY e."seq" LIMIT ?2"#,
                )
                .map_err(db_err("reading events"))?;
            let rows = stmt
                .query_map(params![after as i64, limit.min(i64::MAX as usize) as i64], |r| {
                    let interaction = match r.get::<_, Option<i64>>(4)? {
                        Some(_) => Some(InteractionRow::read(r, 4)?),
                        None => None,
                    };
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Option<Vec<u8>>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        interaction,
                    ))
                })
                .map_err(db_err("reading events"))?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, at, customer, payload, interaction) =
                    row.map_err(db_err("reading events"))?;
                let payload = match (payload, interaction) {
                    (Some(json), _) => {
                        serde_json::from_str(&json).map_err(json_err("decoding an event"))?
                    }
                    (None, Some(row)) => {
                        let i = row.into_interaction()?;
                        crmkit_core::automation::EventPayload::InteractionRecorded {
                            interaction: i.id,
                            kind: i.kind.name().to_owned(),
                            occurred_at: i.occurred_at,
                            amount: i.kind.amount().cloned(),
                        }
                    }
                    (None, None) => {
                        return Err(Error::Storage {
                            message: format!(
                                "event {seq} has neither a payload nor an interaction"
                            ),
                            source: None,
                        });
                    }
                };
                out.push(Event {
                    seq: seq as u64,
                    at: micros_to_time(at)?,
                    customer: customer.as_deref().map(id_from_blob).transpose()?,
                    payload,
                });
            }
            Ok(out)
        })
    }

    fn consumer_cursor(&self, consumer: &str) -> Result<u64> {
        self.read(|conn| {
            conn.prepare_cached(r#"SELECT "cursor" FROM "consumers" WHERE "name" = ?1"#)
                .and_then(|mut s| s.query_row([consumer], |r| r.get::<_, i64>(0)).optional())
                .map(|c| c.unwrap_or(0) as u64)
                .map_err(db_err("reading a consumer cursor"))
        })
    }

    fn tasks(&self, query: &TaskQuery) -> Result<Vec<Task>> {
        self.read(|conn| {
            query_json(
                conn,
                r#"SELECT "data" FROM "tasks"
                   WHERE (?1 IS NULL OR "customer" = ?1) AND (?2 IS NULL OR "status" = ?2)
                     AND (?3 IS NULL OR "assignee" = ?3) AND (?4 IS NULL OR "playbook" = ?4)
                   ORDER BY "due", "id" LIMIT ?5"#,
                params![
                    query.customer.map(|c| c.to_bytes().to_vec()),
                    query.status.map(|s| s.to_string()),
                    query.assignee,
                    query.playbook,
                    query.limit.max(1) as i64
                ],
                "reading tasks",
            )
        })
    }

    fn task(&self, id: TaskId) -> Result<Option<Task>> {
        self.read(|conn| {
            let mut v: Vec<Task> = query_json(
                conn,
                r#"SELECT "data" FROM "tasks" WHERE "id" = ?1"#,
                [&id.0.as_bytes()[..]],
                "reading a task",
            )?;
            Ok(v.pop())
        })
    }

    fn interactions_after(&self, after: InteractionId, limit: usize) -> Result<Vec<Interaction>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    r#"SELECT i."id", c."id", i."occurred_at", i."amount", i."currency", i."kind",
                              i."detail", i."channel", i."properties", i."idempotency_key"
                       FROM "interactions" i JOIN "customers" c ON c."seq" = i."customer"
                       WHERE i."id" > ?1 ORDER BY i."id" LIMIT ?2"#,
                )
                .map_err(db_err("reading interactions"))?;
            let rows = stmt
                .query_map(params![after.0 as i64, limit as i64], |r| InteractionRow::read(r, 0))
                .map_err(db_err("reading interactions"))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row.map_err(db_err("reading interactions"))?.into_interaction()?);
            }
            Ok(out)
        })
    }

    fn idempotency_key_exists(&self, key: &str) -> Result<bool> {
        self.read(|conn| {
            conn.prepare_cached(r#"SELECT 1 FROM "interactions" WHERE "idempotency_key" = ?1"#)
                .and_then(|mut s| s.query_row([key], |r| r.get::<_, i64>(0)).optional())
                .map(|r| r.is_some())
                .map_err(db_err("looking up an idempotency key"))
        })
    }

    fn stats(&self) -> Result<StoreStats> {
        self.read(|conn| {
            conn.prepare_cached(
                r#"SELECT (SELECT count(*) FROM "customers"), (SELECT count(*) FROM "interactions")"#,
            )
            .and_then(|mut s| {
                s.query_row([], |r| {
                    Ok(StoreStats {
                        customers: r.get::<_, i64>(0)? as u64,
                        interactions: r.get::<_, i64>(1)? as u64,
                    })
                })
            })
            .map_err(db_err("counting"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decimal_agrees_with_the_general_parser() {
        for t in [
            "0",
            "0.00",
            "12.5",
            "-3.10",
            "29.33",
            "123456789012345678",
            "1.000000000000000001",
            "-0.5",
        ] {
            let general = Decimal::from_str(t).unwrap();
            let fast = decimal(Some(t)).unwrap();
            assert_eq!(fast, general, "{t}");
            assert_eq!(fast.to_string(), general.to_string(), "scale of {t}");
        }
        for t in ["", "-", ".", "1.", "1e3", "1.2.3", "abc"] {
            assert!(plain_decimal(t.as_bytes()).is_none(), "{t}");
        }
    }
}
