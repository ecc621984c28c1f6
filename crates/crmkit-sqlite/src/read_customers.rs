//! [`CustomerStore`] on SQLite: customers, interactions, the purchase scan, audit, fields.

use crmkit_core::store::{
    AuditEntry, CustomerQuery, CustomerStore, Page, PurchaseColumns, StoreStats, TimeRange,
};
use crmkit_core::{
    Currency, Customer, CustomerId, Error, FieldDef, FieldType, IdentityKey, Interaction,
    InteractionId, Result,
};
use rusqlite::{OptionalExtension, params};

use crate::codec::{FastMap, InteractionRow, decimal, id_from_blob, json_err, parse_customer};
use crate::{SqliteStore, db_err};

impl CustomerStore for SqliteStore {
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
                out.push(FieldDef { name, field_type: t.parse::<FieldType>()? });
            }
            Ok(out)
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
