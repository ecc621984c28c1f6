//! The customer record: identity, lifecycle, typed attributes, tags and consent.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::identity::IdentityKey;
use crate::ids::CustomerId;

/// A person or an organisation the business deals with: a prospect, a lead or a customer.
///
/// Customers are created and changed through [`Crm`](crate::Crm), which validates them and keeps the
/// audit log; the store persists them as they are.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, NewCustomer, LifecycleStage};
/// let crm = Crm::in_memory();
/// let ada = crm.create_customer(NewCustomer::person("Ada Lovelace").email("ada@example.org"))?;
/// assert_eq!(ada.stage, LifecycleStage::Prospect);
/// assert_eq!(ada.identities[0].to_string(), "email:ada@example.org");
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// The id.
    pub id: CustomerId,
    /// Person or organisation.
    pub kind: CustomerKind,
    /// Display name.
    pub name: String,
    /// Identity keys, sorted and unique; each is unique in the store.
    pub identities: Vec<IdentityKey>,
    /// Current lifecycle stage.
    pub stage: LifecycleStage,
    /// Every stage change, oldest first (the first entry is the stage at creation).
    pub stage_history: Vec<StageChange>,
    /// Custom attributes, validated against the store's declared [`FieldDef`]s.
    pub attributes: BTreeMap<String, AttributeValue>,
    /// Tags.
    pub tags: BTreeSet<String>,
    /// Consent per (purpose, channel), sorted by purpose then channel.
    pub consents: Vec<Consent>,
    /// When the customer was created.
    pub created_at: DateTime<Utc>,
    /// When the customer last changed.
    pub updated_at: DateTime<Utc>,
    /// Incremented on every change; used for optimistic concurrency.
    pub revision: u64,
}

impl Customer {
    /// The consent status for a purpose and channel ([`ConsentStatus::Unknown`] if never recorded).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, Channel, ConsentStatus};
    /// let crm = Crm::in_memory();
    /// let c = crm.create_customer(NewCustomer::person("Bo"))?;
    /// assert_eq!(c.consent("marketing", &Channel::Email), ConsentStatus::Unknown);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn consent(&self, purpose: &str, channel: &Channel) -> ConsentStatus {
        self.consents
            .iter()
            .find(|c| c.purpose == purpose && &c.channel == channel)
            .map_or(ConsentStatus::Unknown, |c| c.status)
    }

    /// Drops sub-microsecond precision from every timestamp of the record, as every store keeps
    /// microseconds (see [`crate::time::truncate_micros`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer};
    /// let mut c = Crm::in_memory().create_customer(NewCustomer::person("Bo"))?;
    /// c.created_at = chrono::DateTime::from_timestamp(1, 999).unwrap();
    /// c.truncate_to_micros();
    /// assert_eq!(c.created_at.timestamp_subsec_nanos(), 0);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn truncate_to_micros(&mut self) {
        use crate::time::truncate_micros;
        self.created_at = truncate_micros(self.created_at);
        self.updated_at = truncate_micros(self.updated_at);
        for s in &mut self.stage_history {
            s.at = truncate_micros(s.at);
        }
        for s in &mut self.consents {
            s.at = truncate_micros(s.at);
        }
        for v in self.attributes.values_mut() {
            if let AttributeValue::Datetime(t) = v {
                *t = truncate_micros(*t);
            }
        }
    }

    /// The first key of a kind, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, IdentityKind};
    /// let crm = Crm::in_memory();
    /// let c = crm.create_customer(NewCustomer::person("Bo").phone("+1 555 0100 99"))?;
    /// assert_eq!(c.identity(&IdentityKind::Phone).unwrap().value(), "+1555010099");
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn identity(&self, kind: &crate::IdentityKind) -> Option<&IdentityKey> {
        self.identities.iter().find(|k| &k.kind() == kind)
    }
}

/// Whether a customer is a person or an organisation.
///
/// # Examples
///
/// ```
/// let k: crmkit_core::CustomerKind = "organisation".parse()?;
/// assert_eq!(k, crmkit_core::CustomerKind::Organisation);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerKind {
    /// A person.
    Person,
    /// A company or another organisation.
    Organisation,
}

impl FromStr for CustomerKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_lowercase().as_str() {
            "person" | "individual" => Ok(CustomerKind::Person),
            "organisation" | "organization" | "company" => Ok(CustomerKind::Organisation),
            _ => Err(Error::validation("kind", format!("{s:?}: expected person or organisation"))),
        }
    }
}

impl fmt::Display for CustomerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CustomerKind::Person => "person",
            CustomerKind::Organisation => "organisation",
        })
    }
}

/// Where a customer is in the relationship.
///
/// Text form: `prospect`, `lead`, `customer`, `churned`, or any other name for a custom stage.
///
/// # Examples
///
/// ```
/// use crmkit_core::LifecycleStage;
/// assert_eq!("Lead".parse::<LifecycleStage>()?, LifecycleStage::Lead);
/// assert_eq!("trial".parse::<LifecycleStage>()?, LifecycleStage::Custom("trial".into()));
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum LifecycleStage {
    /// Known, not yet engaged.
    Prospect,
    /// Engaged, showing interest.
    Lead,
    /// Has bought.
    Customer,
    /// Was a customer, is no longer.
    Churned,
    /// A stage of the application's own (lower-case name).
    Custom(String),
}

impl LifecycleStage {
    /// The stage's name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::LifecycleStage::Churned.as_str(), "churned");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            LifecycleStage::Prospect => "prospect",
            LifecycleStage::Lead => "lead",
            LifecycleStage::Customer => "customer",
            LifecycleStage::Churned => "churned",
            LifecycleStage::Custom(s) => s,
        }
    }
}

impl FromStr for LifecycleStage {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_lowercase();
        Ok(match t.as_str() {
            "prospect" => LifecycleStage::Prospect,
            "lead" => LifecycleStage::Lead,
            "customer" => LifecycleStage::Customer,
            "churned" => LifecycleStage::Churned,
            "" => return Err(Error::validation("stage", "is empty")),
            _ if t.chars().any(char::is_control) => {
                return Err(Error::validation("stage", format!("{s:?} has control characters")));
            }
            _ => LifecycleStage::Custom(t),
        })
    }
}

impl TryFrom<String> for LifecycleStage {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<LifecycleStage> for String {
    fn from(s: LifecycleStage) -> String {
        s.as_str().to_owned()
    }
}

impl fmt::Display for LifecycleStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a customer's stage history.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, NewCustomer, CustomerUpdate, LifecycleStage};
/// let crm = Crm::in_memory();
/// let c = crm.create_customer(NewCustomer::person("Bo"))?;
/// let c = crm.update_customer(c.id, CustomerUpdate::new().stage(LifecycleStage::Lead))?;
/// assert_eq!(c.stage_history.len(), 2);
/// assert_eq!(c.stage_history[1].from, Some(LifecycleStage::Prospect));
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageChange {
    /// The stage before (`None` at creation).
    pub from: Option<LifecycleStage>,
    /// The stage after.
    pub to: LifecycleStage,
    /// When.
    pub at: DateTime<Utc>,
    /// Who or what made the change.
    pub source: String,
}

/// The type of a custom field.
///
/// # Examples
///
/// ```
/// let t: crmkit_core::FieldType = "decimal".parse()?;
/// assert_eq!(t.to_string(), "decimal");
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
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
    /// A UTC timestamp.
    Datetime,
    /// A list of strings.
    StringList,
}

impl FieldType {
    fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Decimal => "decimal",
            FieldType::Bool => "bool",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::StringList => "string_list",
        }
    }

    /// Parses text into a value of this type (`field` names it in errors). Lists are `;`-separated.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{AttributeValue, FieldType};
    /// assert_eq!(FieldType::Integer.parse_value("seats", " 12 ")?, AttributeValue::Integer(12));
    /// assert!(FieldType::Bool.parse_value("active", "maybe").is_err());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn parse_value(self, field: &str, text: &str) -> Result<AttributeValue> {
        let t = text.trim();
        let bad = |what: &str| Error::validation(field, format!("{t:?} is not {what}"));
        Ok(match self {
            FieldType::String => AttributeValue::String(t.to_owned()),
            FieldType::Integer => {
                AttributeValue::Integer(t.parse().map_err(|_| bad("an integer"))?)
            }
            FieldType::Decimal => AttributeValue::Decimal(crate::money::parse_decimal(field, t)?),
            FieldType::Bool => AttributeValue::Bool(match t.to_lowercase().as_str() {
                "true" | "yes" | "1" => true,
                "false" | "no" | "0" => false,
                _ => return Err(bad("a boolean (true/false)")),
            }),
            FieldType::Date => AttributeValue::Date(
                NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| bad("a date (YYYY-MM-DD)"))?,
            ),
            FieldType::Datetime => AttributeValue::Datetime(
                crate::time::parse_timestamp(field, t, None)
                    .map_err(|_| bad("a date-time (RFC 3339)"))?,
            ),
            FieldType::StringList => AttributeValue::StringList(
                t.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            ),
        })
    }
}

impl FromStr for FieldType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_lowercase().as_str() {
            "string" | "text" => FieldType::String,
            "integer" | "int" => FieldType::Integer,
            "decimal" => FieldType::Decimal,
            "bool" | "boolean" => FieldType::Bool,
            "date" => FieldType::Date,
            "datetime" | "timestamp" => FieldType::Datetime,
            "string_list" | "list" => FieldType::StringList,
            _ => {
                return Err(Error::validation(
                    "field type",
                    format!(
                        "{s:?}: expected string, integer, decimal, bool, date, datetime or string_list"
                    ),
                ));
            }
        })
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A declared custom field: attributes are only accepted for declared fields, of the declared type.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, FieldDef, FieldType};
/// let crm = Crm::in_memory();
/// crm.define_field(FieldDef::new("plan", FieldType::String))?;
/// assert_eq!(crm.fields()?.len(), 1);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDef {
    /// The attribute name (letters, digits, `_`, `-`, `.`).
    pub name: String,
    /// Its type.
    pub field_type: FieldType,
}

impl FieldDef {
    /// A field definition.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = crmkit_core::FieldDef::new("seats", crmkit_core::FieldType::Integer);
    /// assert_eq!(f.name, "seats");
    /// ```
    pub fn new(name: impl Into<String>, field_type: FieldType) -> FieldDef {
        FieldDef { name: name.into(), field_type }
    }
}

/// The value of a custom attribute.
///
/// # Examples
///
/// ```
/// use crmkit_core::{AttributeValue, FieldType};
/// let v = AttributeValue::Decimal("12.5".parse().unwrap());
/// assert_eq!(v.field_type(), FieldType::Decimal);
/// assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"type":"decimal","value":"12.5"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum AttributeValue {
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
    /// A UTC timestamp.
    Datetime(DateTime<Utc>),
    /// A list of strings.
    StringList(Vec<String>),
}

impl AttributeValue {
    /// The type of this value.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::AttributeValue::Bool(true).field_type(), crmkit_core::FieldType::Bool);
    /// ```
    pub fn field_type(&self) -> FieldType {
        match self {
            AttributeValue::String(_) => FieldType::String,
            AttributeValue::Integer(_) => FieldType::Integer,
            AttributeValue::Decimal(_) => FieldType::Decimal,
            AttributeValue::Bool(_) => FieldType::Bool,
            AttributeValue::Date(_) => FieldType::Date,
            AttributeValue::Datetime(_) => FieldType::Datetime,
            AttributeValue::StringList(_) => FieldType::StringList,
        }
    }
}

impl fmt::Display for AttributeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributeValue::String(s) => f.write_str(s),
            AttributeValue::Integer(i) => write!(f, "{i}"),
            AttributeValue::Decimal(d) => write!(f, "{d}"),
            AttributeValue::Bool(b) => write!(f, "{b}"),
            AttributeValue::Date(d) => write!(f, "{d}"),
            AttributeValue::Datetime(t) => write!(f, "{}", t.to_rfc3339()),
            AttributeValue::StringList(v) => f.write_str(&v.join(";")),
        }
    }
}

/// A communication channel (for consent and for where an interaction happened).
///
/// Text form: `email`, `sms`, `phone`, `post`, `push`, `web`, `in_person`, `chat`, or any other name.
///
/// # Examples
///
/// ```
/// use crmkit_core::Channel;
/// assert_eq!("SMS".parse::<Channel>()?, Channel::Sms);
/// assert_eq!("whatsapp".parse::<Channel>()?.to_string(), "whatsapp");
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Channel {
    /// E-mail.
    Email,
    /// Text message.
    Sms,
    /// Phone call.
    Phone,
    /// Letter.
    Post,
    /// Mobile push notification.
    Push,
    /// Web site.
    Web,
    /// In a shop, at an event...
    InPerson,
    /// Live chat or messaging.
    Chat,
    /// Another channel (lower-case name).
    Other(String),
}

impl Channel {
    /// The channel's name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::Channel::InPerson.as_str(), "in_person");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Phone => "phone",
            Channel::Post => "post",
            Channel::Push => "push",
            Channel::Web => "web",
            Channel::InPerson => "in_person",
            Channel::Chat => "chat",
            Channel::Other(s) => s,
        }
    }
}

impl FromStr for Channel {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_lowercase();
        Ok(match t.as_str() {
            "email" | "e-mail" => Channel::Email,
            "sms" => Channel::Sms,
            "phone" => Channel::Phone,
            "post" | "mail" => Channel::Post,
            "push" => Channel::Push,
            "web" => Channel::Web,
            "in_person" | "in-person" => Channel::InPerson,
            "chat" => Channel::Chat,
            "" => return Err(Error::validation("channel", "is empty")),
            _ => Channel::Other(t),
        })
    }
}

impl TryFrom<String> for Channel {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Channel> for String {
    fn from(c: Channel) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Granted, denied, or not known.
///
/// # Examples
///
/// ```
/// assert_eq!("granted".parse::<crmkit_core::ConsentStatus>()?, crmkit_core::ConsentStatus::Granted);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    /// The customer agreed.
    Granted,
    /// The customer refused or withdrew.
    Denied,
    /// Never asked, or not recorded.
    Unknown,
}

impl FromStr for ConsentStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_lowercase().as_str() {
            "granted" | "yes" | "opt-in" => Ok(ConsentStatus::Granted),
            "denied" | "no" | "opt-out" => Ok(ConsentStatus::Denied),
            "unknown" => Ok(ConsentStatus::Unknown),
            _ => Err(Error::validation(
                "consent",
                format!("{s:?}: expected granted, denied or unknown"),
            )),
        }
    }
}

impl fmt::Display for ConsentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConsentStatus::Granted => "granted",
            ConsentStatus::Denied => "denied",
            ConsentStatus::Unknown => "unknown",
        })
    }
}

/// The consent for one purpose over one channel, with when and from where it was recorded.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, NewCustomer, CustomerUpdate, Channel, ConsentStatus};
/// let crm = Crm::in_memory();
/// let c = crm.create_customer(NewCustomer::person("Bo"))?;
/// let c = crm.update_customer(c.id,
///     CustomerUpdate::new().consent("newsletter", Channel::Email, ConsentStatus::Granted).source("signup-form"))?;
/// assert_eq!(c.consents[0].source, "signup-form");
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// What the consent is for ("newsletter", "profiling", ...).
    pub purpose: String,
    /// Over which channel.
    pub channel: Channel,
    /// The status.
    pub status: ConsentStatus,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// Where it came from (a form, an import, an agent...).
    pub source: String,
}
