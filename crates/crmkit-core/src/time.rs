//! Time: the [`Clock`] the engine reads (never a hidden `now()`), timestamp parsing, and the
//! microsecond precision every store keeps.

use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::error::{Error, Result};

/// Where the engine gets "now" from. Inject a [`FixedClock`] for reproducible results.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Clock, SystemClock};
/// let now = SystemClock.now();
/// assert!(now.timestamp() > 0);
/// ```
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The operating system's clock.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Clock, SystemClock};
/// assert!(SystemClock.now() <= chrono::Utc::now());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        truncate_micros(Utc::now())
    }
}

/// A clock that says what it is told: for tests, replays and back-fills.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Clock, FixedClock};
/// use chrono::TimeZone;
/// let t = chrono::Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
/// let clock = FixedClock::new(t);
/// assert_eq!(clock.now(), t);
/// clock.set(t + chrono::Duration::days(1));
/// assert_eq!(clock.now().date_naive().to_string(), "2024-01-02");
/// ```
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    /// A clock stopped at `at`.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::FixedClock::new(chrono::Utc::now());
    /// ```
    pub fn new(at: DateTime<Utc>) -> FixedClock {
        FixedClock(Mutex::new(truncate_micros(at)))
    }

    /// Moves the clock to `at`.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = crmkit_core::FixedClock::new(chrono::Utc::now());
    /// c.set(chrono::DateTime::UNIX_EPOCH);
    /// ```
    pub fn set(&self, at: DateTime<Utc>) {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *guard = truncate_micros(at);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Drops sub-microsecond precision: every store keeps microseconds, so values compare equal
/// after a round trip through any of them.
///
/// # Examples
///
/// ```
/// use chrono::TimeZone;
/// let t = chrono::Utc.timestamp_opt(1, 123_456_789).unwrap();
/// assert_eq!(crmkit_core::time::truncate_micros(t).timestamp_subsec_nanos(), 123_456_000);
/// ```
pub fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// Microseconds since the Unix epoch, as stores keep them.
///
/// # Examples
///
/// ```
/// assert_eq!(crmkit_core::time::to_micros(chrono::DateTime::UNIX_EPOCH), 0);
/// ```
pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The instant for microseconds since the epoch (out-of-range values are a storage error).
///
/// # Examples
///
/// ```
/// let t = crmkit_core::time::from_micros(1_000_000)?;
/// assert_eq!(t.timestamp(), 1);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
pub fn from_micros(us: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| Error::Storage {
        message: format!("timestamp {us} µs is out of range"),
        source: None,
    })
}

/// Parses a timestamp. With `format` (a chrono `strftime` pattern) only that format is tried;
/// a pattern without a time of day gives midnight UTC. Without it, these are tried in order:
/// RFC 3339 (`2024-05-01T10:00:00Z`, `…+02:00`), `YYYY-MM-DD HH:MM:SS[.f]` and `YYYY-MM-DDTHH:MM:SS[.f]`
/// (taken as UTC), `YYYY-MM-DD`, and `YYYYMMDD`.
///
/// # Examples
///
/// ```
/// use crmkit_core::time::parse_timestamp;
/// let a = parse_timestamp("date", "19970101", None)?;
/// let b = parse_timestamp("date", "1997-01-01T00:00:00Z", None)?;
/// assert_eq!(a, b);
/// assert_eq!(parse_timestamp("date", "01/02/1997", Some("%d/%m/%Y"))?.to_rfc3339(),
///            "1997-02-01T00:00:00+00:00");
/// assert!(parse_timestamp("date", "1 Jan 97", None).is_err());
/// # Ok::<(), crmkit_core::Error>(())
/// ```
pub fn parse_timestamp(field: &str, text: &str, format: Option<&str>) -> Result<DateTime<Utc>> {
    let t = text.trim();
    let parsed = match format {
        // The formats parse_auto recognises by shape: take its fast path.
        Some("%Y%m%d") if t.len() == 8 => parse_auto(t),
        Some("%Y-%m-%d") if t.len() == 10 => parse_auto(t),
        Some(fmt) => parse_with(t, fmt),
        None => parse_auto(t),
    };
    parsed.map(truncate_micros).ok_or_else(|| {
        let expected = match format {
            Some(fmt) => format!("the format {fmt:?}"),
            None => "RFC 3339, YYYY-MM-DD[ HH:MM:SS] or YYYYMMDD".to_owned(),
        };
        Error::validation(field, format!("{t:?} is not a date/time in {expected}"))
    })
}

fn parse_with(t: &str, fmt: &str) -> Option<DateTime<Utc>> {
    if let Ok(dt) = DateTime::parse_from_str(t, fmt) {
        return Some(dt.with_timezone(&Utc));
    }
    if let Ok(ndt) = NaiveDateTime::parse_from_str(t, fmt) {
        return Some(Utc.from_utc_datetime(&ndt));
    }
    NaiveDate::parse_from_str(t, fmt).ok().and_then(midnight)
}

fn parse_auto(t: &str) -> Option<DateTime<Utc>> {
    // Fast path for the common compact and ISO dates, which dominate transaction logs.
    let b = t.as_bytes();
    if b.len() == 8 && b.iter().all(u8::is_ascii_digit) {
        let n = |r: std::ops::Range<usize>| t[r].parse::<u32>().ok();
        return NaiveDate::from_ymd_opt(n(0..4)? as i32, n(4..6)?, n(6..8)?).and_then(midnight);
    }
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        let n = |r: std::ops::Range<usize>| {
            b[r.clone()].iter().all(u8::is_ascii_digit).then(|| t[r].parse::<u32>().ok()).flatten()
        };
        return NaiveDate::from_ymd_opt(n(0..4)? as i32, n(5..7)?, n(8..10)?).and_then(midnight);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(ndt) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some(Utc.from_utc_datetime(&ndt));
        }
    }
    None
}

fn midnight(d: NaiveDate) -> Option<DateTime<Utc>> {
    d.and_hms_opt(0, 0, 0).map(|ndt| Utc.from_utc_datetime(&ndt))
}
