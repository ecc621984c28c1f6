//! Turning rows into crmkit-core's types and back: ids, times, decimals, JSON columns.

use std::collections::HashMap;
use std::str::FromStr;

use crmkit_core::automation::Membership;
use crmkit_core::{
    Channel, Currency, Customer, CustomerId, Error, Interaction, InteractionId, InteractionKind,
    Money, Result,
};
use rusqlite::Connection;
use rust_decimal::Decimal;

use crate::db_err;

/// A hash map with a fast hasher, for the per-row paths.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

pub(crate) fn json_err(context: &str) -> impl FnOnce(serde_json::Error) -> Error + '_ {
    move |e| Error::storage(context, e)
}

pub(crate) fn poisoned() -> Error {
    Error::Internal { message: "sqlite store lock poisoned by a panic".into() }
}

pub(crate) fn id_from_blob(b: &[u8]) -> Result<CustomerId> {
    let bytes: [u8; 16] = b.try_into().map_err(|_| Error::Storage {
        message: format!("customer id of {} bytes, expected 16", b.len()),
        source: None,
    })?;
    Ok(CustomerId::from_bytes(bytes))
}

pub(crate) fn micros_to_time(us: i64) -> Result<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp_micros(us).ok_or_else(|| Error::Storage {
        message: format!("stored time {us} µs is out of range"),
        source: None,
    })
}

pub(crate) fn membership_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawMembership> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

pub(crate) type RawMembership = (String, Vec<u8>, bool, i64, i64, i64, Option<i64>);

pub(crate) fn membership_from(raw: RawMembership) -> Result<Membership> {
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

pub(crate) const MEMBERSHIP_COLUMNS: &str =
    r#""segment", "customer", "member", "since", "version", "leaves", "next_check""#;

pub(crate) fn query_memberships(
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

pub(crate) fn query_json<T: serde::de::DeserializeOwned>(
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

pub(crate) fn parse_customer(data: &str) -> Result<Customer> {
    serde_json::from_str(data).map_err(json_err("decoding a stored customer"))
}

/// A row of `interactions` as read back.
pub(crate) struct InteractionRow {
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
    pub(crate) fn read(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<InteractionRow> {
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

    pub(crate) fn into_interaction(self) -> Result<Interaction> {
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

pub(crate) fn decimal(text: Option<&str>) -> Result<Decimal> {
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
pub(crate) fn plain_decimal(b: &[u8]) -> Option<Decimal> {
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

pub(crate) fn currency(text: Option<&str>) -> Result<Currency> {
    Currency::new(text.unwrap_or_default())
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
