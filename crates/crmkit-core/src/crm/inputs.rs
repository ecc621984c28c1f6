//! What callers give `Crm` to create and change customers: [`NewCustomer`] and
//! [`CustomerUpdate`].

use std::collections::BTreeMap;

use crate::customer::{AttributeValue, Channel, ConsentStatus, CustomerKind, LifecycleStage};
use crate::identity::{IdentityKey, IdentityKind};
use crate::ids::CustomerId;

/// A customer to create (see [`Crm::create_customer`](super::Crm::create_customer)). Values are validated on create.
///
/// # Examples
///
/// ```
/// use crmkit_core::{NewCustomer, LifecycleStage, AttributeValue, Channel, ConsentStatus};
/// let new = NewCustomer::person("Ada Lovelace")
///     .email("ada@example.org")
///     .phone("+44 20 7946 0018")
///     .external_id("billing", "C-1")
///     .stage(LifecycleStage::Lead)
///     .tag("newsletter")
///     .attribute("plan", AttributeValue::String("pro".into()))
///     .consent("marketing", Channel::Email, ConsentStatus::Granted)
///     .source("signup-form");
/// # let _ = new;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NewCustomer {
    pub(crate) id: Option<CustomerId>,
    pub(crate) kind: CustomerKind,
    pub(crate) name: String,
    pub(crate) identities: Vec<(IdentityKind, String)>,
    pub(crate) stage: LifecycleStage,
    pub(crate) tags: Vec<String>,
    pub(crate) attributes: BTreeMap<String, AttributeValue>,
    pub(crate) consents: Vec<(String, Channel, ConsentStatus)>,
    pub(crate) source: String,
}

impl NewCustomer {
    /// A person, in stage `prospect`.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::person("Ada");
    /// ```
    pub fn person(name: impl Into<String>) -> Self {
        Self::of_kind(CustomerKind::Person, name)
    }

    /// An organisation, in stage `prospect`.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::organisation("Initech");
    /// ```
    pub fn organisation(name: impl Into<String>) -> Self {
        Self::of_kind(CustomerKind::Organisation, name)
    }

    /// A customer of a given kind.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::of_kind(crmkit_core::CustomerKind::Person, "Bo");
    /// ```
    pub fn of_kind(kind: CustomerKind, name: impl Into<String>) -> Self {
        NewCustomer {
            id: None,
            kind,
            name: name.into(),
            identities: Vec::new(),
            stage: LifecycleStage::Prospect,
            tags: Vec::new(),
            attributes: BTreeMap::new(),
            consents: Vec::new(),
            source: "api".into(),
        }
    }

    /// Uses this id instead of a fresh one (for sync from another system, and tests).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, CustomerId, NewCustomer};
    /// let id = CustomerId::from_u128(1);
    /// assert_eq!(Crm::in_memory().create_customer(NewCustomer::person("Bo").id(id))?.id, id);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn id(mut self, id: CustomerId) -> Self {
        self.id = Some(id);
        self
    }

    /// Adds an e-mail address.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::person("Bo").email("bo@example.org");
    /// ```
    pub fn email(self, email: impl Into<String>) -> Self {
        self.identity(IdentityKind::Email, email)
    }

    /// Adds a phone number.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::person("Bo").phone("+1 555 0100 42");
    /// ```
    pub fn phone(self, phone: impl Into<String>) -> Self {
        self.identity(IdentityKind::Phone, phone)
    }

    /// Adds an id from another system.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::person("Bo").external_id("shopify", "123");
    /// ```
    pub fn external_id(self, system: impl Into<String>, id: impl Into<String>) -> Self {
        self.identity(IdentityKind::External(system.into()), id)
    }

    /// Adds an identity key of any kind.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::person("Bo").identity(crmkit_core::IdentityKind::Email, "bo@x.org");
    /// ```
    pub fn identity(mut self, kind: IdentityKind, raw: impl Into<String>) -> Self {
        self.identities.push((kind, raw.into()));
        self
    }

    /// Sets the lifecycle stage.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::person("Bo").stage(crmkit_core::LifecycleStage::Customer);
    /// ```
    pub fn stage(mut self, stage: LifecycleStage) -> Self {
        self.stage = stage;
        self
    }

    /// Adds a tag.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::person("Bo").tag("vip");
    /// ```
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Sets a custom attribute (its field must be declared).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::person("Bo").attribute("vip", crmkit_core::AttributeValue::Bool(true));
    /// ```
    pub fn attribute(mut self, name: impl Into<String>, value: AttributeValue) -> Self {
        self.attributes.insert(name.into(), value);
        self
    }

    /// Records a consent.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{NewCustomer, Channel, ConsentStatus};
    /// let _ = NewCustomer::person("Bo").consent("newsletter", Channel::Email, ConsentStatus::Denied);
    /// ```
    pub fn consent(
        mut self,
        purpose: impl Into<String>,
        channel: Channel,
        status: ConsentStatus,
    ) -> Self {
        self.consents.push((purpose.into(), channel, status));
        self
    }

    /// Who or what creates the customer (for the audit log and stage history; default `api`).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::person("Bo").source("import:shop.csv");
    /// ```
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    Name(String),
    Kind(CustomerKind),
    Stage(LifecycleStage),
    SetAttribute(String, AttributeValue),
    RemoveAttribute(String),
    AddTag(String),
    RemoveTag(String),
    AddIdentity(IdentityKind, String),
    RemoveIdentity(IdentityKey),
    Consent(String, Channel, ConsentStatus),
}

/// Changes to apply to a customer (see [`Crm::update_customer`](super::Crm::update_customer)), in order.
///
/// # Examples
///
/// ```
/// use crmkit_core::{CustomerUpdate, LifecycleStage};
/// let u = CustomerUpdate::new().name("Ada King").stage(LifecycleStage::Customer).remove_tag("trial");
/// assert!(!u.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerUpdate {
    pub(crate) changes: Vec<Change>,
    pub(crate) source: String,
}

impl Default for CustomerUpdate {
    fn default() -> Self {
        CustomerUpdate { changes: Vec::new(), source: "api".into() }
    }
}

impl CustomerUpdate {
    /// No changes yet.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::CustomerUpdate::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether there are no changes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!crmkit_core::CustomerUpdate::new().add_tag("x").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    fn push(mut self, c: Change) -> Self {
        self.changes.push(c);
        self
    }

    /// Renames.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().name("New name");
    /// ```
    pub fn name(self, name: impl Into<String>) -> Self {
        self.push(Change::Name(name.into()))
    }

    /// Changes person/organisation.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().kind(crmkit_core::CustomerKind::Organisation);
    /// ```
    pub fn kind(self, kind: CustomerKind) -> Self {
        self.push(Change::Kind(kind))
    }

    /// Moves to a lifecycle stage (recorded in the stage history).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().stage(crmkit_core::LifecycleStage::Churned);
    /// ```
    pub fn stage(self, stage: LifecycleStage) -> Self {
        self.push(Change::Stage(stage))
    }

    /// Sets an attribute (declared field, right type).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().attribute("seats", crmkit_core::AttributeValue::Integer(3));
    /// ```
    pub fn attribute(self, name: impl Into<String>, value: AttributeValue) -> Self {
        self.push(Change::SetAttribute(name.into(), value))
    }

    /// Removes an attribute.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().remove_attribute("seats");
    /// ```
    pub fn remove_attribute(self, name: impl Into<String>) -> Self {
        self.push(Change::RemoveAttribute(name.into()))
    }

    /// Adds a tag.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().add_tag("vip");
    /// ```
    pub fn add_tag(self, tag: impl Into<String>) -> Self {
        self.push(Change::AddTag(tag.into()))
    }

    /// Removes a tag.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().remove_tag("vip");
    /// ```
    pub fn remove_tag(self, tag: impl Into<String>) -> Self {
        self.push(Change::RemoveTag(tag.into()))
    }

    /// Adds an identity key (must not belong to another customer).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().add_identity(crmkit_core::IdentityKind::Email, "x@y.z");
    /// ```
    pub fn add_identity(self, kind: IdentityKind, raw: impl Into<String>) -> Self {
        self.push(Change::AddIdentity(kind, raw.into()))
    }

    /// Removes an identity key.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().remove_identity(crmkit_core::IdentityKey::email("x@y.z")?);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn remove_identity(self, key: IdentityKey) -> Self {
        self.push(Change::RemoveIdentity(key))
    }

    /// Records a consent status for a purpose and channel.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{CustomerUpdate, Channel, ConsentStatus};
    /// let _ = CustomerUpdate::new().consent("newsletter", Channel::Sms, ConsentStatus::Denied);
    /// ```
    pub fn consent(
        self,
        purpose: impl Into<String>,
        channel: Channel,
        status: ConsentStatus,
    ) -> Self {
        self.push(Change::Consent(purpose.into(), channel, status))
    }

    /// Who or what makes the change (for the audit log; default `api`).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().source("agent:sam");
    /// ```
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }
}
