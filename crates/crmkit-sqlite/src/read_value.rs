//! [`ValueStore`] on SQLite: fitted models and scores.

use crmkit_core::store::{CustomerScore, ModelRecord, ValueStore};
use crmkit_core::{Currency, CustomerId, Result};
use rusqlite::OptionalExtension;

use crate::codec::json_err;
use crate::{SqliteStore, db_err};

impl ValueStore for SqliteStore {
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
}
