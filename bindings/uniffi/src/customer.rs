//! Customers as records: what crosses the FFI, and the conversions to and from the core's types.
//!
//! The conversions out of the core destructure every struct completely, so a field added to the
//! core fails this crate's build until the binding decides what to do with it.

use std::collections::HashMap;
use std::time::SystemTime;

use crate::convert::{customer_id, date, decimal, from_time, to_time};
use crate::error::{CrmError, CrmResult};

/// A person or an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum CustomerKind {
    /// A person.
    Person,
    /// A company or another organisation.
    Organisation,
}

impl From<crmkit::CustomerKind> for CustomerKind {
    fn from(k: crmkit::CustomerKind) -> Self {
        match k {
            crmkit::CustomerKind::Person => CustomerKind::Person,
            crmkit::CustomerKind::Organisation => CustomerKind::Organisation,
        }
    }
}

impl From<CustomerKind> for crmkit::CustomerKind {
    fn from(k: CustomerKind) -> Self {
        match k {
            CustomerKind::Person => crmkit::CustomerKind::Person,
            CustomerKind::Organisation => crmkit::CustomerKind::Organisation,
        }
    }
}

/// Where a customer is in the lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum LifecycleStage {
    /// Known, not yet engaged (the default for new customers).
    Prospect,
    /// Showed interest.
    Lead,
    /// Has bought.
    Customer,
    /// Gone.
    Churned,
    /// A stage of the application's own (stored lower-cased).
    Custom {
        /// Its name.
        name: String,
    },
}

impl From<crmkit::LifecycleStage> for LifecycleStage {
    fn from(s: crmkit::LifecycleStage) -> Self {
        match s {
            crmkit::LifecycleStage::Prospect => LifecycleStage::Prospect,
            crmkit::LifecycleStage::Lead => LifecycleStage::Lead,
            crmkit::LifecycleStage::Customer => LifecycleStage::Customer,
            crmkit::LifecycleStage::Churned => LifecycleStage::Churned,
            crmkit::LifecycleStage::Custom(name) => LifecycleStage::Custom { name },
        }
    }
}

impl TryFrom<LifecycleStage> for crmkit::LifecycleStage {
    type Error = CrmError;
    fn try_from(s: LifecycleStage) -> CrmResult<Self> {
        Ok(match s {
            LifecycleStage::Prospect => crmkit::LifecycleStage::Prospect,
            LifecycleStage::Lead => crmkit::LifecycleStage::Lead,
            LifecycleStage::Customer => crmkit::LifecycleStage::Customer,
            LifecycleStage::Churned => crmkit::LifecycleStage::Churned,
            // Parsed, so that the core's rules apply (trimmed, lower-cased, not empty).
            LifecycleStage::Custom { name } => name.parse()?,
        })
    }
}

/// The kind of an identity key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum IdentityKind {
    /// An e-mail address (normalised: trimmed, lower-cased).
    Email,
    /// A phone number (normalised to digits with an optional leading +).
    Phone,
    /// An id in another system: a shop, billing, a CRM.
    External {
        /// The system's name (letters, digits, `_ - .`).
        system: String,
    },
}

impl From<crmkit::IdentityKind> for IdentityKind {
    fn from(k: crmkit::IdentityKind) -> Self {
        match k {
            crmkit::IdentityKind::Email => IdentityKind::Email,
            crmkit::IdentityKind::Phone => IdentityKind::Phone,
            crmkit::IdentityKind::External(system) => IdentityKind::External { system },
        }
    }
}

impl From<IdentityKind> for crmkit::IdentityKind {
    fn from(k: IdentityKind) -> Self {
        match k {
            IdentityKind::Email => crmkit::IdentityKind::Email,
            IdentityKind::Phone => crmkit::IdentityKind::Phone,
            IdentityKind::External { system } => crmkit::IdentityKind::External(system),
        }
    }
}

/// An identity key: unique across the store, so it finds exactly one customer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct IdentityKey {
    /// E-mail, phone or an external system.
    pub kind: IdentityKind,
    /// The value; normalised by crmkit when stored.
    pub value: String,
}

impl From<crmkit::IdentityKey> for IdentityKey {
    fn from(k: crmkit::IdentityKey) -> Self {
        IdentityKey { kind: k.kind().into(), value: k.value().to_owned() }
    }
}

impl TryFrom<IdentityKey> for crmkit::IdentityKey {
    type Error = CrmError;
    fn try_from(k: IdentityKey) -> CrmResult<Self> {
        Ok(crmkit::IdentityKind::from(k.kind).key(&k.value)?)
    }
}

/// A channel of communication.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Channel {
    /// E-mail.
    Email,
    /// Text message.
    Sms,
    /// Phone call.
    Phone,
    /// Letter.
    Post,
    /// Push notification.
    Push,
    /// Web site or app.
    Web,
    /// Face to face.
    InPerson,
    /// Chat.
    Chat,
    /// A channel of the application's own (stored lower-cased).
    Other {
        /// Its name.
        name: String,
    },
}

impl From<crmkit::Channel> for Channel {
    fn from(c: crmkit::Channel) -> Self {
        match c {
            crmkit::Channel::Email => Channel::Email,
            crmkit::Channel::Sms => Channel::Sms,
            crmkit::Channel::Phone => Channel::Phone,
            crmkit::Channel::Post => Channel::Post,
            crmkit::Channel::Push => Channel::Push,
            crmkit::Channel::Web => Channel::Web,
            crmkit::Channel::InPerson => Channel::InPerson,
            crmkit::Channel::Chat => Channel::Chat,
            crmkit::Channel::Other(name) => Channel::Other { name },
        }
    }
}

impl TryFrom<Channel> for crmkit::Channel {
    type Error = CrmError;
    fn try_from(c: Channel) -> CrmResult<Self> {
        Ok(match c {
            Channel::Email => crmkit::Channel::Email,
            Channel::Sms => crmkit::Channel::Sms,
            Channel::Phone => crmkit::Channel::Phone,
            Channel::Post => crmkit::Channel::Post,
            Channel::Push => crmkit::Channel::Push,
            Channel::Web => crmkit::Channel::Web,
            Channel::InPerson => crmkit::Channel::InPerson,
            Channel::Chat => crmkit::Channel::Chat,
            Channel::Other { name } => name.parse()?,
        })
    }
}

/// Whether a customer agreed to be contacted for a purpose on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ConsentStatus {
    /// Agreed.
    Granted,
    /// Refused or withdrew.
    Denied,
    /// Never asked.
    Unknown,
}

impl From<crmkit::ConsentStatus> for ConsentStatus {
    fn from(s: crmkit::ConsentStatus) -> Self {
        match s {
            crmkit::ConsentStatus::Granted => ConsentStatus::Granted,
            crmkit::ConsentStatus::Denied => ConsentStatus::Denied,
            crmkit::ConsentStatus::Unknown => ConsentStatus::Unknown,
        }
    }
}

impl From<ConsentStatus> for crmkit::ConsentStatus {
    fn from(s: ConsentStatus) -> Self {
        match s {
            ConsentStatus::Granted => crmkit::ConsentStatus::Granted,
            ConsentStatus::Denied => crmkit::ConsentStatus::Denied,
            ConsentStatus::Unknown => crmkit::ConsentStatus::Unknown,
        }
    }
}

/// A recorded consent.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Consent {
    /// What for (`"newsletter"`, `"marketing"`...).
    pub purpose: String,
    /// On which channel.
    pub channel: Channel,
    /// Granted, denied or unknown.
    pub status: ConsentStatus,
    /// When it was recorded.
    pub at: SystemTime,
    /// Who or what recorded it.
    pub source: String,
}

impl From<crmkit::Consent> for Consent {
    fn from(c: crmkit::Consent) -> Self {
        let crmkit::Consent { purpose, channel, status, at, source } = c;
        Consent { purpose, channel: channel.into(), status: status.into(), at: to_time(at), source }
    }
}

/// A consent to record (the time and source are the call's).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConsentChoice {
    /// What for.
    pub purpose: String,
    /// On which channel.
    pub channel: Channel,
    /// Granted, denied or unknown.
    pub status: ConsentStatus,
}

/// One change of lifecycle stage.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StageChange {
    /// The stage before (`null` at creation).
    pub from: Option<LifecycleStage>,
    /// The stage after.
    pub to: LifecycleStage,
    /// When.
    pub at: SystemTime,
    /// Who or what changed it.
    pub source: String,
}

impl From<crmkit::StageChange> for StageChange {
    fn from(c: crmkit::StageChange) -> Self {
        let crmkit::StageChange { from, to, at, source } = c;
        StageChange { from: from.map(Into::into), to: to.into(), at: to_time(at), source }
    }
}

/// The type of a custom field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
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

impl From<crmkit::FieldType> for FieldType {
    fn from(t: crmkit::FieldType) -> Self {
        match t {
            crmkit::FieldType::String => FieldType::String,
            crmkit::FieldType::Integer => FieldType::Integer,
            crmkit::FieldType::Decimal => FieldType::Decimal,
            crmkit::FieldType::Bool => FieldType::Bool,
            crmkit::FieldType::Date => FieldType::Date,
            crmkit::FieldType::Datetime => FieldType::Datetime,
            crmkit::FieldType::StringList => FieldType::StringList,
        }
    }
}

impl From<FieldType> for crmkit::FieldType {
    fn from(t: FieldType) -> Self {
        match t {
            FieldType::String => crmkit::FieldType::String,
            FieldType::Integer => crmkit::FieldType::Integer,
            FieldType::Decimal => crmkit::FieldType::Decimal,
            FieldType::Bool => crmkit::FieldType::Bool,
            FieldType::Date => crmkit::FieldType::Date,
            FieldType::Datetime => crmkit::FieldType::Datetime,
            FieldType::StringList => crmkit::FieldType::StringList,
        }
    }
}

/// A declared custom field.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldDef {
    /// Its name (letters, digits, `_ - .`).
    pub name: String,
    /// Its type; values of other types are refused.
    pub field_type: FieldType,
}

impl From<crmkit::FieldDef> for FieldDef {
    fn from(d: crmkit::FieldDef) -> Self {
        let crmkit::FieldDef { name, field_type } = d;
        FieldDef { name, field_type: field_type.into() }
    }
}

/// The value of a custom attribute. Decimals are exact, as text (`"12.50"`); dates are
/// `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum AttributeValue {
    /// Text.
    String {
        /// The text.
        value: String,
    },
    /// An integer.
    Integer {
        /// The integer.
        value: i64,
    },
    /// An exact decimal, as text.
    Decimal {
        /// The decimal, e.g. `"12.50"`.
        value: String,
    },
    /// true / false.
    Bool {
        /// The boolean.
        value: bool,
    },
    /// A calendar date.
    Date {
        /// `YYYY-MM-DD`.
        value: String,
    },
    /// A UTC timestamp.
    Datetime {
        /// The instant.
        value: SystemTime,
    },
    /// A list of strings.
    StringList {
        /// The strings.
        values: Vec<String>,
    },
}

impl From<crmkit::AttributeValue> for AttributeValue {
    fn from(v: crmkit::AttributeValue) -> Self {
        use crmkit::AttributeValue as A;
        match v {
            A::String(value) => AttributeValue::String { value },
            A::Integer(value) => AttributeValue::Integer { value },
            A::Decimal(d) => AttributeValue::Decimal { value: d.to_string() },
            A::Bool(value) => AttributeValue::Bool { value },
            A::Date(d) => AttributeValue::Date { value: d.format("%Y-%m-%d").to_string() },
            A::Datetime(t) => AttributeValue::Datetime { value: to_time(t) },
            A::StringList(values) => AttributeValue::StringList { values },
        }
    }
}

impl AttributeValue {
    /// The core's value; `field` names the attribute in errors.
    pub(crate) fn into_core(self, field: &str) -> CrmResult<crmkit::AttributeValue> {
        use crmkit::AttributeValue as A;
        Ok(match self {
            AttributeValue::String { value } => A::String(value),
            AttributeValue::Integer { value } => A::Integer(value),
            AttributeValue::Decimal { value } => A::Decimal(decimal(field, &value)?),
            AttributeValue::Bool { value } => A::Bool(value),
            AttributeValue::Date { value } => A::Date(date(field, &value)?),
            AttributeValue::Datetime { value } => A::Datetime(from_time(field, value)?),
            AttributeValue::StringList { values } => A::StringList(values),
        })
    }
}

/// A customer or prospect, as stored.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Customer {
    /// The id (a UUID, made on the device: customers can be created offline).
    pub id: String,
    /// Person or organisation.
    pub kind: CustomerKind,
    /// Display name.
    pub name: String,
    /// Identity keys, normalised, sorted.
    pub identities: Vec<IdentityKey>,
    /// The current lifecycle stage.
    pub stage: LifecycleStage,
    /// Every stage change, oldest first.
    pub stage_history: Vec<StageChange>,
    /// Custom attributes by field name.
    pub attributes: HashMap<String, AttributeValue>,
    /// Tags, sorted.
    pub tags: Vec<String>,
    /// Consents, by purpose then channel.
    pub consents: Vec<Consent>,
    /// Created at.
    pub created_at: SystemTime,
    /// Last changed at.
    pub updated_at: SystemTime,
    /// Counts changes; a concurrent change of the same revision is a `Conflict`.
    pub revision: u64,
}

impl From<crmkit::Customer> for Customer {
    fn from(c: crmkit::Customer) -> Self {
        let crmkit::Customer {
            id,
            kind,
            name,
            identities,
            stage,
            stage_history,
            attributes,
            tags,
            consents,
            created_at,
            updated_at,
            revision,
        } = c;
        Customer {
            id: id.to_string(),
            kind: kind.into(),
            name,
            identities: identities.into_iter().map(Into::into).collect(),
            stage: stage.into(),
            stage_history: stage_history.into_iter().map(Into::into).collect(),
            attributes: attributes.into_iter().map(|(k, v)| (k, v.into())).collect(),
            tags: tags.into_iter().collect(),
            consents: consents.into_iter().map(Into::into).collect(),
            created_at: to_time(created_at),
            updated_at: to_time(updated_at),
            revision,
        }
    }
}

/// A customer to create. Everything is validated on create; nothing is written on an error.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewCustomer {
    /// Display name (not empty).
    pub name: String,
    /// Person or organisation.
    pub kind: CustomerKind,
    /// The lifecycle stage to start in.
    pub stage: LifecycleStage,
    /// Identity keys; each must not belong to another customer.
    #[uniffi(default)]
    pub identities: Vec<IdentityKey>,
    /// Tags.
    #[uniffi(default)]
    pub tags: Vec<String>,
    /// Custom attributes (their fields must be declared with `defineField`).
    #[uniffi(default)]
    pub attributes: HashMap<String, AttributeValue>,
    /// Consents to record.
    #[uniffi(default)]
    pub consents: Vec<ConsentChoice>,
    /// Who or what creates the customer, for the audit log.
    #[uniffi(default = "app")]
    pub source: String,
    /// Use this id (a UUID) instead of a fresh one: for customers synced from elsewhere.
    #[uniffi(default = None)]
    pub id: Option<String>,
}

impl NewCustomer {
    pub(crate) fn into_core(self) -> CrmResult<crmkit::NewCustomer> {
        let NewCustomer { name, kind, stage, identities, tags, attributes, consents, source, id } =
            self;
        let mut new =
            crmkit::NewCustomer::of_kind(kind.into(), name).stage(stage.try_into()?).source(source);
        if let Some(id) = id {
            new = new.id(customer_id(&id)?);
        }
        for key in identities {
            new = new.identity(key.kind.into(), key.value);
        }
        for tag in tags {
            new = new.tag(tag);
        }
        for (name, value) in attributes {
            let value = value.into_core(&format!("attributes.{name}"))?;
            new = new.attribute(name, value);
        }
        for c in consents {
            new = new.consent(c.purpose, c.channel.try_into()?, c.status.into());
        }
        Ok(new)
    }
}

/// One change to a customer (see `updateCustomer`); changes apply in order.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum CustomerChange {
    /// Rename.
    Rename {
        /// The new name.
        name: String,
    },
    /// Person or organisation.
    SetKind {
        /// The kind.
        kind: CustomerKind,
    },
    /// Move to a lifecycle stage (recorded in the stage history).
    SetStage {
        /// The stage.
        stage: LifecycleStage,
    },
    /// Set a custom attribute (declared field, right type).
    SetAttribute {
        /// The field.
        name: String,
        /// The value.
        value: AttributeValue,
    },
    /// Remove a custom attribute.
    RemoveAttribute {
        /// The field.
        name: String,
    },
    /// Add a tag.
    AddTag {
        /// The tag.
        tag: String,
    },
    /// Remove a tag.
    RemoveTag {
        /// The tag.
        tag: String,
    },
    /// Add an identity key (must not belong to another customer).
    AddIdentity {
        /// The key.
        key: IdentityKey,
    },
    /// Remove an identity key.
    RemoveIdentity {
        /// The key.
        key: IdentityKey,
    },
    /// Record a consent.
    SetConsent {
        /// The consent.
        consent: ConsentChoice,
    },
}

/// The core's update from a list of changes.
pub(crate) fn update(
    changes: Vec<CustomerChange>,
    source: String,
) -> CrmResult<crmkit::CustomerUpdate> {
    let mut u = crmkit::CustomerUpdate::new().source(source);
    for change in changes {
        u = match change {
            CustomerChange::Rename { name } => u.name(name),
            CustomerChange::SetKind { kind } => u.kind(kind.into()),
            CustomerChange::SetStage { stage } => u.stage(stage.try_into()?),
            CustomerChange::SetAttribute { name, value } => {
                let value = value.into_core(&format!("attributes.{name}"))?;
                u.attribute(name, value)
            }
            CustomerChange::RemoveAttribute { name } => u.remove_attribute(name),
            CustomerChange::AddTag { tag } => u.add_tag(tag),
            CustomerChange::RemoveTag { tag } => u.remove_tag(tag),
            CustomerChange::AddIdentity { key } => u.add_identity(key.kind.into(), key.value),
            CustomerChange::RemoveIdentity { key } => u.remove_identity(key.try_into()?),
            CustomerChange::SetConsent { consent } => {
                u.consent(consent.purpose, consent.channel.try_into()?, consent.status.into())
            }
        };
    }
    Ok(u)
}

/// Which customers to list, one page at a time.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CustomerQuery {
    /// Only this stage.
    #[uniffi(default = None)]
    pub stage: Option<LifecycleStage>,
    /// Only customers with this tag.
    #[uniffi(default = None)]
    pub tag: Option<String>,
    /// Only names containing this text (case-insensitive).
    #[uniffi(default = None)]
    pub name_contains: Option<String>,
    /// Continue after this customer id: the `next` of the previous page.
    #[uniffi(default = None)]
    pub after: Option<String>,
    /// Page size (at least 1).
    #[uniffi(default = 100)]
    pub limit: u32,
}

impl CustomerQuery {
    pub(crate) fn into_core(self) -> CrmResult<crmkit::CustomerQuery> {
        let CustomerQuery { stage, tag, name_contains, after, limit } = self;
        let mut q = crmkit::CustomerQuery::new().limit(limit as usize);
        if let Some(stage) = stage {
            q = q.stage(stage.try_into()?);
        }
        if let Some(tag) = tag {
            q = q.tag(tag);
        }
        if let Some(text) = name_contains {
            q = q.name_contains(text);
        }
        if let Some(after) = after {
            q = q.after(customer_id(&after)?);
        }
        Ok(q)
    }
}

/// One page of customers, ordered by id.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CustomerPage {
    /// The customers.
    pub items: Vec<Customer>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next: Option<String>,
}

impl From<crmkit::Page<crmkit::Customer>> for CustomerPage {
    fn from(p: crmkit::Page<crmkit::Customer>) -> Self {
        let crmkit::Page { items, next } = p;
        CustomerPage {
            items: items.into_iter().map(Into::into).collect(),
            next: next.map(|id| id.to_string()),
        }
    }
}
