//! [`RecordStore`] on SQLite: records by kind and id, and by index range in key order.

use crmkit_core::store::{Page, Record, RecordCursor, RecordQuery, RecordStore};
use crmkit_core::{Error, Result};
use rusqlite::{OptionalExtension, params};

use crate::codec::json_err;
use crate::{SqliteStore, db_err};

const RECORD_COLUMNS: &str = r#"r."kind", r."id", r."revision", r."body", r."index""#;

type RawRecord = (String, String, i64, String, String);

fn raw_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRecord> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn record_from(raw: RawRecord) -> Result<Record> {
    let (kind, id, revision, body, index) = raw;
    let what = "decoding a stored record";
    Ok(Record {
        revision: u64::try_from(revision).map_err(|_| Error::Storage {
            message: format!("record {kind} {id} has revision {revision}"),
            source: None,
        })?,
        body: serde_json::from_str(&body).map_err(json_err(what))?,
        index: serde_json::from_str(&index).map_err(json_err(what))?,
        kind,
        id,
    })
}

impl RecordStore for SqliteStore {
    fn record(&self, kind: &str, id: &str) -> Result<Option<Record>> {
        let sql = format!(
            r#"SELECT {RECORD_COLUMNS} FROM "records" r WHERE r."kind" = ?1 AND r."id" = ?2"#
        );
        let raw = self.read(|conn| {
            conn.prepare_cached(&sql)
                .and_then(|mut s| s.query_row([kind, id], raw_record).optional())
                .map_err(db_err("reading a record"))
        })?;
        raw.map(record_from).transpose()
    }

    fn records(&self, query: &RecordQuery) -> Result<Page<Record, RecordCursor>> {
        let limit = query.limit.max(1);
        // One more than a page, to know whether there is a next one.
        let fetch = (limit.min(i64::MAX as usize - 1) + 1) as i64;
        let what = "reading records";
        let raws: Vec<RawRecord> = self.read(|conn| {
            let collect = |rows: rusqlite::MappedRows<'_, _>| -> Result<Vec<RawRecord>> {
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err(what))
            };
            match &query.index {
                None => {
                    // Ids are never empty, so `> ''` is every record of the kind.
                    let after = query.after.as_ref().map_or("", |c| c.id.as_str());
                    let sql = format!(
                        r#"SELECT {RECORD_COLUMNS} FROM "records" r
                           WHERE r."kind" = ?1 AND r."id" > ?2 ORDER BY r."id" LIMIT ?3"#
                    );
                    let mut stmt = conn.prepare_cached(&sql).map_err(db_err(what))?;
                    let rows = stmt
                        .query_map(params![query.kind, after, fetch], raw_record)
                        .map_err(db_err(what))?;
                    collect(rows)
                }
                Some(range) => {
                    let (from, to) = range.key_range();
                    // Start at the range, or after the cursor when that is further on.
                    let (start_key, start_id) = match &query.after {
                        Some(c) if c.key.as_deref().is_some_and(|k| *k >= *from) => {
                            (c.key.clone().unwrap_or_default(), c.id.as_str())
                        }
                        _ => (from, ""),
                    };
                    let sql = format!(
                        r#"SELECT {RECORD_COLUMNS} FROM "record_index" x
                           JOIN "records" r ON r."kind" = x."kind" AND r."id" = x."id"
                           WHERE x."kind" = ?1 AND x."name" = ?2 AND (x."key", x."id") > (?3, ?4)
                             AND (?5 IS NULL OR x."key" < ?5)
                           ORDER BY x."key", x."id" LIMIT ?6"#
                    );
                    let mut stmt = conn.prepare_cached(&sql).map_err(db_err(what))?;
                    let rows = stmt
                        .query_map(
                            params![query.kind, range.name, start_key, start_id, to, fetch],
                            raw_record,
                        )
                        .map_err(db_err(what))?;
                    collect(rows)
                }
            }
        })?;
        let mut items = raws.into_iter().map(record_from).collect::<Result<Vec<_>>>()?;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|r| query.cursor_of(r))
        } else {
            None
        };
        Ok(Page { items, next })
    }
}
