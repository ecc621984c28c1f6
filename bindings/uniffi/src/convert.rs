//! Conversions of the scalar types the core uses and the FFI does not have: timestamps, ids,
//! decimals, dates, JSON.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDate, Utc};
use crmkit::CustomerId;
use rust_decimal::Decimal;

use crate::error::{CrmError, CrmResult};

/// A core timestamp as the FFI's (Kotlin `java.time.Instant`, Swift `Date`).
pub(crate) fn to_time(t: DateTime<Utc>) -> SystemTime {
    let micros = t.timestamp_micros();
    let magnitude = Duration::from_micros(micros.unsigned_abs());
    if micros >= 0 { UNIX_EPOCH + magnitude } else { UNIX_EPOCH - magnitude }
}

/// A foreign timestamp as the core's, to the microsecond (the precision crmkit stores).
pub(crate) fn from_time(field: &str, t: SystemTime) -> CrmResult<DateTime<Utc>> {
    let micros = match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).ok(),
        Err(before) => i64::try_from(before.duration().as_micros()).ok().map(|m| -m),
    };
    micros
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(|| CrmError::invalid(field, "is out of the supported range of dates"))
}

/// An optional foreign timestamp.
pub(crate) fn from_time_opt(
    field: &str,
    t: Option<SystemTime>,
) -> CrmResult<Option<DateTime<Utc>>> {
    t.map(|t| from_time(field, t)).transpose()
}

/// A customer id from its text (a UUID).
pub(crate) fn customer_id(text: &str) -> CrmResult<CustomerId> {
    text.trim().parse::<CustomerId>().map_err(CrmError::from)
}

/// A decimal from text (`"12.50"`), as the core parses money.
pub(crate) fn decimal(field: &str, text: &str) -> CrmResult<Decimal> {
    crmkit::money::parse_decimal(field, text).map_err(CrmError::from)
}

/// A calendar date from `YYYY-MM-DD`.
pub(crate) fn date(field: &str, text: &str) -> CrmResult<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|e| CrmError::invalid(field, format!("{text:?}: expected YYYY-MM-DD ({e})")))
}

/// JSON values as their text.
pub(crate) fn json_map_out(map: BTreeMap<String, serde_json::Value>) -> HashMap<String, String> {
    map.into_iter().map(|(k, v)| (k, v.to_string())).collect()
}

/// JSON texts as values.
pub(crate) fn json_map_in(
    field: &str,
    map: HashMap<String, String>,
) -> CrmResult<BTreeMap<String, serde_json::Value>> {
    map.into_iter()
        .map(|(k, text)| match serde_json::from_str(&text) {
            Ok(v) => Ok((k, v)),
            Err(e) => Err(CrmError::invalid(
                &format!("{field}.{k}"),
                format!(
                    "{text:?} is not JSON ({e}); a string is written with quotes: \"\\\"text\\\"\""
                ),
            )),
        })
        .collect()
}

/// A count as the FFI's `u64`.
pub(crate) fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_to_the_microsecond() -> CrmResult<()> {
        for text in
            ["2024-05-01T09:30:00.123456Z", "1969-12-31T23:59:59.999999Z", "1970-01-01T00:00:00Z"]
        {
            let t: DateTime<Utc> = text.parse().map_err(|e| CrmError::invalid("t", e))?;
            assert_eq!(from_time("t", to_time(t))?, t);
        }
        Ok(())
    }

    #[test]
    fn json_texts_are_checked() {
        let mut m = HashMap::new();
        m.insert("n".to_owned(), "not json".to_owned());
        assert!(matches!(json_map_in("properties", m), Err(CrmError::Validation { .. })));
    }
}
