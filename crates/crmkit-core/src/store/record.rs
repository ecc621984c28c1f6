//! The generic record layer: domain entities (deals, cases, campaigns, a user's own objects) kept
//! by every backend the same way, as a kind, an id, a revision, a JSON body and the secondary index
//! keys the domain declares. A new kind of record needs no backend code.

use std::ops::Bound;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::CustomerId;

/// Longest kind, id or index name accepted, in bytes.
pub const MAX_RECORD_NAME: usize = 200;

/// A stored record.
///
/// # Examples
///
/// ```
/// use crmkit_core::{MemoryStore, Store, RecordStore, WriteOp, NewRecord, Expected, IndexValue};
/// let store = MemoryStore::new();
/// let deal = NewRecord::new("deal", "d-1", serde_json::json!({"name": "Initech renewal"}))
///     .index("stage", IndexValue::Text("proposal".into()));
/// store.apply(vec![WriteOp::PutRecord { record: deal, expected: Expected::Absent }].into())?;
/// let stored = store.record("deal", "d-1")?.unwrap();
/// assert_eq!((stored.revision, stored.body["name"].as_str()), (1, Some("Initech renewal")));
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// What kind of entity (`deal`, `case`, `object:invoice`, ...).
    pub kind: String,
    /// Its id, unique within the kind.
    pub id: String,
    /// 1 when created, one more with every write.
    pub revision: u64,
    /// The domain's data.
    pub body: serde_json::Value,
    /// The secondary index keys, by index name (at most one value per name), sorted by name.
    pub index: Vec<(String, IndexValue)>,
}

impl Record {
    /// The body decoded as the domain's type.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::Record;
    /// let r = Record { kind: "k".into(), id: "1".into(), revision: 1, body: serde_json::json!(7), index: vec![] };
    /// assert_eq!(r.decode::<u32>()?, 7);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.body.clone()).map_err(|e| Error::Internal {
            message: format!("stored {} {} does not decode: {e}", self.kind, self.id),
        })
    }

    /// The value of an index key, if the record has one.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Record, IndexValue};
    /// let r = Record { kind: "k".into(), id: "1".into(), revision: 1, body: serde_json::Value::Null,
    ///     index: vec![("n".into(), IndexValue::Int(3))] };
    /// assert_eq!(r.index_value("n"), Some(&IndexValue::Int(3)));
    /// ```
    pub fn index_value(&self, name: &str) -> Option<&IndexValue> {
        self.index.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// A record to write with [`WriteOp::PutRecord`](crate::WriteOp::PutRecord): everything but the
/// revision, which the store assigns.
///
/// # Examples
///
/// ```
/// use crmkit_core::{NewRecord, IndexValue};
/// let r = NewRecord::new("case", "c-9", serde_json::json!({})).index("priority", IndexValue::Int(2));
/// assert_eq!(r.index.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    /// What kind of entity.
    pub kind: String,
    /// Its id.
    pub id: String,
    /// The domain's data.
    pub body: serde_json::Value,
    /// The secondary index keys (names unique).
    pub index: Vec<(String, IndexValue)>,
}

impl NewRecord {
    /// A record without index keys.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::NewRecord::new("k", "1", serde_json::json!(null)).index.is_empty());
    /// ```
    pub fn new(kind: impl Into<String>, id: impl Into<String>, body: serde_json::Value) -> Self {
        NewRecord { kind: kind.into(), id: id.into(), body, index: Vec::new() }
    }

    /// A domain type's record (see [`RecordType`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{NewRecord, RecordType, IndexValue};
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Note { id: String, topic: String }
    /// impl RecordType for Note {
    ///     const KIND: &'static str = "note";
    ///     fn id(&self) -> String { self.id.clone() }
    ///     fn index(&self) -> Vec<(String, IndexValue)> { vec![("topic".into(), IndexValue::Text(self.topic.clone()))] }
    /// }
    /// let r = NewRecord::of(&Note { id: "n1".into(), topic: "billing".into() })?;
    /// assert_eq!((r.kind.as_str(), r.id.as_str(), r.index.len()), ("note", "n1", 1));
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn of<T: RecordType>(value: &T) -> Result<NewRecord> {
        let body = serde_json::to_value(value).map_err(|e| Error::Internal {
            message: format!("{} {} does not encode: {e}", T::KIND, value.id()),
        })?;
        Ok(NewRecord { kind: T::KIND.to_owned(), id: value.id(), body, index: value.index() })
    }

    /// Adds an index key.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{NewRecord, IndexValue};
    /// let r = NewRecord::new("k", "1", serde_json::json!(null)).index("open", IndexValue::Bool(true));
    /// assert_eq!(r.index[0].0, "open");
    /// ```
    pub fn index(mut self, name: impl Into<String>, value: IndexValue) -> Self {
        self.index.push((name.into(), value));
        self
    }

    /// Checks names and sorts the index by name (the batch rules call it).
    pub(crate) fn normalised(mut self) -> Result<NewRecord> {
        check_name("record kind", &self.kind)?;
        check_name("record id", &self.id)?;
        self.index.sort_by(|a, b| a.0.cmp(&b.0));
        for pair in self.index.windows(2) {
            if pair[0].0 == pair[1].0 {
                return Err(Error::validation(
                    "record index",
                    format!("{} {}: index {} is given twice", self.kind, self.id, pair[0].0),
                ));
            }
        }
        for (name, _) in &self.index {
            check_name("record index name", name)?;
        }
        Ok(self)
    }

    /// The stored record at `revision`.
    pub(crate) fn into_record(self, revision: u64) -> Record {
        Record { kind: self.kind, id: self.id, revision, body: self.body, index: self.index }
    }
}

fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::validation(what, "is empty"));
    }
    if name.len() > MAX_RECORD_NAME {
        return Err(Error::validation(
            what,
            format!("is {} bytes long, at most {MAX_RECORD_NAME} are allowed", name.len()),
        ));
    }
    Ok(())
}

/// A domain type kept as records of one kind: its kind, its id and the index keys it declares.
///
/// # Examples
///
/// ```
/// use crmkit_core::{RecordType, IndexValue};
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Pipeline { name: String }
/// impl RecordType for Pipeline {
///     const KIND: &'static str = "pipeline";
///     fn id(&self) -> String { self.name.clone() }
///     fn index(&self) -> Vec<(String, IndexValue)> { Vec::new() }
/// }
/// assert_eq!(Pipeline::KIND, "pipeline");
/// ```
pub trait RecordType: Serialize + DeserializeOwned {
    /// The record kind.
    const KIND: &'static str;
    /// The id of this value.
    fn id(&self) -> String;
    /// The secondary index keys of this value.
    fn index(&self) -> Vec<(String, IndexValue)>;
}

/// What a [`WriteOp::PutRecord`](crate::WriteOp::PutRecord) or
/// [`WriteOp::DeleteRecord`](crate::WriteOp::DeleteRecord) expects to find.
///
/// # Examples
///
/// ```
/// assert_ne!(crmkit_core::Expected::Absent, crmkit_core::Expected::Revision(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// No record with this kind and id (a creation).
    Absent,
    /// The record at exactly this revision (the one the writer read).
    Revision(u64),
    /// Whatever is there (a blind write).
    Any,
}

/// An index key's value. Values of one index are ordered by type first (in the order of the
/// variants), then by value: numbers numerically, text by its UTF-8 bytes, times chronologically.
///
/// # Examples
///
/// ```
/// use crmkit_core::IndexValue;
/// assert!(IndexValue::Int(-5).sort_key() < IndexValue::Int(3).sort_key());
/// assert!(IndexValue::Decimal("-1.5".parse()?).sort_key() < IndexValue::Decimal("0.25".parse()?).sort_key());
/// # Ok::<(), rust_decimal::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum IndexValue {
    /// true / false.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// An exact decimal.
    Decimal(Decimal),
    /// A calendar date.
    Date(NaiveDate),
    /// A UTC time (microsecond precision).
    Time(DateTime<Utc>),
    /// Text.
    Text(String),
    /// A customer (a link).
    Customer(CustomerId),
}

impl IndexValue {
    /// Bytes whose lexicographic order is the order of the values; what backends index.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::IndexValue;
    /// assert!(IndexValue::Text("a".into()).sort_key() < IndexValue::Text("b".into()).sort_key());
    /// ```
    pub fn sort_key(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(17);
        match self {
            IndexValue::Bool(b) => {
                out.push(1);
                out.push(u8::from(*b));
            }
            IndexValue::Int(i) => {
                out.push(2);
                out.extend_from_slice(&flip_sign(*i));
            }
            IndexValue::Decimal(d) => {
                out.push(3);
                decimal_key(*d, &mut out);
            }
            IndexValue::Date(d) => {
                out.push(4);
                out.extend_from_slice(&flip_sign(i64::from(chrono::Datelike::num_days_from_ce(d))));
            }
            IndexValue::Time(t) => {
                out.push(5);
                out.extend_from_slice(&flip_sign(t.timestamp_micros()));
            }
            IndexValue::Text(s) => {
                out.push(6);
                out.extend_from_slice(s.as_bytes());
            }
            IndexValue::Customer(c) => {
                out.push(7);
                out.extend_from_slice(&c.to_bytes());
            }
        }
        out
    }

    /// The value as stored: times to the microsecond, like every other time in a store.
    pub(crate) fn normalised(self) -> IndexValue {
        match self {
            IndexValue::Time(t) => IndexValue::Time(crate::time::truncate_micros(t)),
            IndexValue::Decimal(d) => IndexValue::Decimal(d.normalize()),
            other => other,
        }
    }
}

/// Big-endian bytes of `i` with the sign bit flipped: negative numbers sort first.
fn flip_sign(i: i64) -> [u8; 8] {
    ((i as u64) ^ (1 << 63)).to_be_bytes()
}

/// An order-preserving encoding of a decimal: sign, then (for non-zero values) the decimal
/// exponent and the significant digits, complemented for negative numbers.
fn decimal_key(d: Decimal, out: &mut Vec<u8>) {
    let d = d.normalize();
    if d.is_zero() {
        out.push(1);
        return;
    }
    let negative = d.is_sign_negative();
    let digits = d.abs().mantissa().to_string();
    // value = 0.digits × 10^exponent
    let exponent = digits.len() as i32 - d.scale() as i32;
    let mut body = Vec::with_capacity(digits.len() + 2);
    body.push((exponent + 128) as u8);
    body.extend(digits.bytes());
    // A terminator below every digit, so that "12" sorts before "123".
    body.push(b'0' - 1);
    if negative {
        out.push(0);
        out.extend(body.iter().map(|b| !b));
    } else {
        out.push(2);
        out.extend(body);
    }
}

/// Which records of one kind [`RecordStore::records`](crate::RecordStore::records) returns: all
/// (ordered by id) or those whose index key lies in a range (ordered by value, then id); one page.
///
/// # Examples
///
/// ```
/// use crmkit_core::{RecordQuery, IndexValue};
/// let q = RecordQuery::kind("deal").equal("stage", IndexValue::Text("won".into())).limit(20);
/// assert_eq!(q.limit, 20);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RecordQuery {
    /// The kind.
    pub kind: String,
    /// Only records with a value of this index in the range (`None`: every record of the kind).
    pub index: Option<IndexRange>,
    /// Start after this position (the previous page's [`Page::next`](crate::Page::next)).
    pub after: Option<RecordCursor>,
    /// At most this many (at least 1; default 100).
    pub limit: usize,
}

/// A range of one index's values (bounds as in `std::ops::Bound`).
///
/// # Examples
///
/// ```
/// use std::ops::Bound;
/// use crmkit_core::{IndexRange, IndexValue};
/// let r = IndexRange { name: "amount".into(), lower: Bound::Included(IndexValue::Int(10)), upper: Bound::Unbounded };
/// assert!(r.contains(&IndexValue::Int(10)) && !r.contains(&IndexValue::Int(9)));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct IndexRange {
    /// The index name.
    pub name: String,
    /// The lower bound.
    pub lower: Bound<IndexValue>,
    /// The upper bound.
    pub upper: Bound<IndexValue>,
}

impl IndexRange {
    /// Whether a value lies in the range.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::ops::Bound;
    /// use crmkit_core::{IndexRange, IndexValue};
    /// let r = IndexRange { name: "n".into(), lower: Bound::Unbounded, upper: Bound::Excluded(IndexValue::Int(0)) };
    /// assert!(r.contains(&IndexValue::Int(-1)) && !r.contains(&IndexValue::Int(0)));
    /// ```
    pub fn contains(&self, value: &IndexValue) -> bool {
        let key = value.sort_key();
        let (from, to) = self.key_range();
        key >= from && to.is_none_or(|t| key < t)
    }

    /// The range as sort keys: an inclusive start and an exclusive end (`None`: open). What
    /// backends compare their stored keys with. A range open on one side holds only values of
    /// its other bound's type.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::ops::Bound;
    /// use crmkit_core::{IndexRange, IndexValue};
    /// let eq = IndexRange::equal("n", IndexValue::Int(1));
    /// let (from, to) = eq.key_range();
    /// assert!(from < to.unwrap());
    /// let at_least_ten = IndexRange { name: "n".into(), lower: Bound::Included(IndexValue::Int(10)), upper: Bound::Unbounded };
    /// assert!(at_least_ten.contains(&IndexValue::Int(i64::MAX)));
    /// assert!(!at_least_ten.contains(&IndexValue::Text("zz".into())));
    /// ```
    pub fn key_range(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        // A key followed by a zero byte is the smallest key greater than it.
        let successor = |v: &IndexValue| {
            let mut k = v.sort_key();
            k.push(0);
            k
        };
        // The first byte of a key is its value's type: a range open on one side stays within
        // the type of its other bound (`amount >= 10` does not match text).
        let type_of = |b: &Bound<IndexValue>| match b {
            Bound::Included(v) | Bound::Excluded(v) => v.sort_key().first().copied(),
            Bound::Unbounded => None,
        };
        let from = match &self.lower {
            Bound::Included(v) => v.sort_key(),
            Bound::Excluded(v) => successor(v),
            Bound::Unbounded => type_of(&self.upper).map(|t| vec![t]).unwrap_or_default(),
        };
        let to = match &self.upper {
            Bound::Included(v) => Some(successor(v)),
            Bound::Excluded(v) => Some(v.sort_key()),
            Bound::Unbounded => type_of(&self.lower).map(|t| vec![t + 1]),
        };
        (from, to)
    }

    /// Exactly one value.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{IndexRange, IndexValue};
    /// assert!(IndexRange::equal("n", IndexValue::Bool(true)).contains(&IndexValue::Bool(true)));
    /// ```
    pub fn equal(name: impl Into<String>, value: IndexValue) -> Self {
        IndexRange {
            name: name.into(),
            lower: Bound::Included(value.clone()),
            upper: Bound::Included(value),
        }
    }
}

/// Where a page of [`RecordQuery`] results ended: the last record's id, and its index key when the
/// query was by index.
///
/// # Examples
///
/// ```
/// let c = crmkit_core::RecordCursor { key: None, id: "d-7".into() };
/// assert_eq!(c.id, "d-7");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCursor {
    /// The sort key of the last record's index value (index queries only).
    pub key: Option<Vec<u8>>,
    /// The last record's id.
    pub id: String,
}

impl RecordQuery {
    /// Every record of a kind, by id, 100 a page.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::RecordQuery::kind("deal").index.is_none());
    /// ```
    pub fn kind(kind: impl Into<String>) -> Self {
        RecordQuery { kind: kind.into(), index: None, after: None, limit: 100 }
    }

    /// Only records whose index `name` has exactly `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{RecordQuery, IndexValue};
    /// let q = RecordQuery::kind("k").equal("n", IndexValue::Int(1));
    /// assert!(q.index.unwrap().contains(&IndexValue::Int(1)));
    /// ```
    pub fn equal(mut self, name: impl Into<String>, value: IndexValue) -> Self {
        self.index = Some(IndexRange::equal(name, value));
        self
    }

    /// Only records whose index value lies in a range.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::ops::Bound;
    /// use crmkit_core::{RecordQuery, IndexRange, IndexValue};
    /// let q = RecordQuery::kind("deal").range(IndexRange { name: "amount".into(),
    ///     lower: Bound::Included(IndexValue::Int(100)), upper: Bound::Unbounded });
    /// assert!(q.index.is_some());
    /// ```
    pub fn range(mut self, range: IndexRange) -> Self {
        self.index = Some(range);
        self
    }

    /// Continue after this position.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = crmkit_core::RecordCursor { key: None, id: "a".into() };
    /// assert!(crmkit_core::RecordQuery::kind("k").after(c).after.is_some());
    /// ```
    pub fn after(mut self, cursor: RecordCursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// Page size (clamped to at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::RecordQuery::kind("k").limit(0).limit, 1);
    /// ```
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit.max(1);
        self
    }

    /// The cursor of a record as this query orders it.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{RecordQuery, Record};
    /// let r = Record { kind: "k".into(), id: "7".into(), revision: 1, body: serde_json::Value::Null, index: vec![] };
    /// assert_eq!(RecordQuery::kind("k").cursor_of(&r).id, "7");
    /// ```
    pub fn cursor_of(&self, record: &Record) -> RecordCursor {
        let key = self
            .index
            .as_ref()
            .map(|r| record.index_value(&r.name).map(IndexValue::sort_key).unwrap_or_default());
        RecordCursor { key, id: record.id.clone() }
    }

    /// Whether a record comes after the query's cursor (always true without one). Backends may use it.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{RecordQuery, RecordCursor};
    /// let q = RecordQuery::kind("k").after(RecordCursor { key: None, id: "b".into() });
    /// assert!(q.is_after_cursor(None, "c") && !q.is_after_cursor(None, "b"));
    /// ```
    pub fn is_after_cursor(&self, key: Option<&[u8]>, id: &str) -> bool {
        match &self.after {
            None => true,
            Some(c) => (key, id) > (c.key.as_deref(), c.id.as_str()),
        }
    }
}
