//! The types and values of object fields: the customer attribute types, plus a customer link.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::customer::{AttributeValue, FieldType};
use crate::error::{Error, Result};
use crate::ids::CustomerId;
use crate::store::IndexValue;

/// The type of an object field. Text form: the [`FieldType`] names, or `customer`.
///
/// # Examples
///
/// ```
/// use crmkit_core::objects::ObjectFieldType;
/// assert_eq!("customer".parse::<ObjectFieldType>()?, ObjectFieldType::Customer);
/// assert_eq!("decimal".parse::<ObjectFieldType>()?.to_string(), "decimal");
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ObjectFieldType {
    /// Text.
    String,
    /// A 64-bit integer.
    Integer,
    /// An exact decimal.
    Decimal,
    /// true / false.
    Bool,
    /// A calendar date.
    Date,
    /// A UTC time.
    Datetime,
    /// A list of strings (cannot be indexed).
    StringList,
    /// A link to a customer (always indexed, so a customer's objects can be found).
    Customer,
}

impl ObjectFieldType {
    /// The attribute type this is, `None` for a customer link.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{FieldType, objects::ObjectFieldType};
    /// assert_eq!(ObjectFieldType::Date.attribute_type(), Some(FieldType::Date));
    /// assert_eq!(ObjectFieldType::Customer.attribute_type(), None);
    /// ```
    pub fn attribute_type(self) -> Option<FieldType> {
        Some(match self {
            ObjectFieldType::String => FieldType::String,
            ObjectFieldType::Integer => FieldType::Integer,
            ObjectFieldType::Decimal => FieldType::Decimal,
            ObjectFieldType::Bool => FieldType::Bool,
            ObjectFieldType::Date => FieldType::Date,
            ObjectFieldType::Datetime => FieldType::Datetime,
            ObjectFieldType::StringList => FieldType::StringList,
            ObjectFieldType::Customer => return None,
        })
    }

    /// Whether values of this type can be indexed (all but lists).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!crmkit_core::objects::ObjectFieldType::StringList.indexable());
    /// ```
    pub fn indexable(self) -> bool {
        self != ObjectFieldType::StringList
    }
}

impl From<FieldType> for ObjectFieldType {
    fn from(t: FieldType) -> Self {
        match t {
            FieldType::String => ObjectFieldType::String,
            FieldType::Integer => ObjectFieldType::Integer,
            FieldType::Decimal => ObjectFieldType::Decimal,
            FieldType::Bool => ObjectFieldType::Bool,
            FieldType::Date => ObjectFieldType::Date,
            FieldType::Datetime => ObjectFieldType::Datetime,
            FieldType::StringList => ObjectFieldType::StringList,
        }
    }
}

impl FromStr for ObjectFieldType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if s.trim().eq_ignore_ascii_case("customer") {
            return Ok(ObjectFieldType::Customer);
        }
        s.parse::<FieldType>().map(Into::into).map_err(|_| {
            Error::validation(
                "field type",
                format!(
                    "{s:?}: expected string, integer, decimal, bool, date, datetime, string_list or customer"
                ),
            )
        })
    }
}

impl fmt::Display for ObjectFieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.attribute_type() {
            Some(t) => t.fmt(f),
            None => f.write_str("customer"),
        }
    }
}

impl TryFrom<String> for ObjectFieldType {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<ObjectFieldType> for String {
    fn from(t: ObjectFieldType) -> String {
        t.to_string()
    }
}

/// The value of an object field. Serialised like [`AttributeValue`] (`{"type": ..., "value": ...}`).
///
/// # Examples
///
/// ```
/// use crmkit_core::objects::{ObjectValue, ObjectFieldType};
/// let v = ObjectValue::Integer(3);
/// assert_eq!(v.field_type(), ObjectFieldType::Integer);
/// assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"type":"integer","value":3}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum ObjectValue {
    /// Text.
    String(String),
    /// An integer.
    Integer(i64),
    /// An exact decimal.
    Decimal(Decimal),
    /// A boolean.
    Bool(bool),
    /// A date.
    Date(NaiveDate),
    /// A UTC timestamp (kept to the microsecond).
    Datetime(DateTime<Utc>),
    /// A list of strings.
    StringList(Vec<String>),
    /// A customer.
    Customer(CustomerId),
}

impl ObjectValue {
    /// The value's type.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{CustomerId, objects::{ObjectValue, ObjectFieldType}};
    /// assert_eq!(ObjectValue::Customer(CustomerId::new()).field_type(), ObjectFieldType::Customer);
    /// ```
    pub fn field_type(&self) -> ObjectFieldType {
        match self {
            ObjectValue::String(_) => ObjectFieldType::String,
            ObjectValue::Integer(_) => ObjectFieldType::Integer,
            ObjectValue::Decimal(_) => ObjectFieldType::Decimal,
            ObjectValue::Bool(_) => ObjectFieldType::Bool,
            ObjectValue::Date(_) => ObjectFieldType::Date,
            ObjectValue::Datetime(_) => ObjectFieldType::Datetime,
            ObjectValue::StringList(_) => ObjectFieldType::StringList,
            ObjectValue::Customer(_) => ObjectFieldType::Customer,
        }
    }

    /// Parses text as a value of `field_type` (`field` names it in errors): as
    /// [`FieldType::parse_value`] does, and a customer link from a customer id. (To link by an
    /// identity key, resolve it first with [`Crm::lookup`](crate::Crm::lookup), or use
    /// [`Crm::parse_object_fields`](crate::Crm::parse_object_fields).)
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::objects::{ObjectValue, ObjectFieldType};
    /// assert_eq!(ObjectValue::parse(ObjectFieldType::Integer, "seats", "12")?, ObjectValue::Integer(12));
    /// assert!(ObjectValue::parse(ObjectFieldType::Customer, "owner", "nobody").is_err());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn parse(field_type: ObjectFieldType, field: &str, text: &str) -> Result<ObjectValue> {
        match field_type.attribute_type() {
            Some(t) => Ok(t.parse_value(field, text)?.into()),
            None => text
                .trim()
                .parse::<CustomerId>()
                .map(ObjectValue::Customer)
                .map_err(|_| Error::validation(field, format!("{text:?} is not a customer id"))),
        }
    }

    /// The index key of this value (`None` for lists, which are not indexed).
    pub(crate) fn index_value(&self) -> Option<IndexValue> {
        Some(match self {
            ObjectValue::String(s) => IndexValue::Text(s.clone()),
            ObjectValue::Integer(i) => IndexValue::Int(*i),
            ObjectValue::Decimal(d) => IndexValue::Decimal(*d),
            ObjectValue::Bool(b) => IndexValue::Bool(*b),
            ObjectValue::Date(d) => IndexValue::Date(*d),
            ObjectValue::Datetime(t) => IndexValue::Time(*t),
            ObjectValue::Customer(c) => IndexValue::Customer(*c),
            ObjectValue::StringList(_) => return None,
        })
    }

    /// The value as stored: times to the microsecond.
    pub(crate) fn normalised(self) -> ObjectValue {
        match self {
            ObjectValue::Datetime(t) => ObjectValue::Datetime(crate::time::truncate_micros(t)),
            other => other,
        }
    }
}

impl From<AttributeValue> for ObjectValue {
    fn from(v: AttributeValue) -> Self {
        match v {
            AttributeValue::String(s) => ObjectValue::String(s),
            AttributeValue::Integer(i) => ObjectValue::Integer(i),
            AttributeValue::Decimal(d) => ObjectValue::Decimal(d),
            AttributeValue::Bool(b) => ObjectValue::Bool(b),
            AttributeValue::Date(d) => ObjectValue::Date(d),
            AttributeValue::Datetime(t) => ObjectValue::Datetime(t),
            AttributeValue::StringList(v) => ObjectValue::StringList(v),
        }
    }
}

impl fmt::Display for ObjectValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectValue::String(s) => f.write_str(s),
            ObjectValue::Integer(i) => write!(f, "{i}"),
            ObjectValue::Decimal(d) => write!(f, "{d}"),
            ObjectValue::Bool(b) => write!(f, "{b}"),
            ObjectValue::Date(d) => write!(f, "{d}"),
            ObjectValue::Datetime(t) => f.write_str(&t.to_rfc3339()),
            ObjectValue::StringList(v) => f.write_str(&v.join(";")),
            ObjectValue::Customer(c) => write!(f, "{c}"),
        }
    }
}
