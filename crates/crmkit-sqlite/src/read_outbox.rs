//! [`OutboxStore`] on SQLite: the event outbox and its consumers' cursors.

use crmkit_core::automation::Event;
use crmkit_core::store::OutboxStore;
use crmkit_core::{Error, Result};
use rusqlite::{OptionalExtension, params};

use crate::codec::{InteractionRow, id_from_blob, json_err, micros_to_time};
use crate::{SqliteStore, db_err};

impl OutboxStore for SqliteStore {
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
}
