//! Interactions: the append-only log of everything that happened with a customer.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::customer::Channel;
use crate::error::{Error, Result};
use crate::ids::{CustomerId, InteractionId};
use crate::money::Money;

/// Free-form properties of an interaction (JSON values by name).
pub type Properties = BTreeMap<String, serde_json::Value>;

/// A recorded interaction, as the store returns it.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, NewCustomer, NewInteraction, Money};
/// let crm = Crm::in_memory();
/// let c = crm.create_customer(NewCustomer::person("Bo"))?;
/// let at = "2024-05-01T10:00:00Z".parse()?;
/// crm.record(NewInteraction::purchase(c.id, at, Money::parse("9.99", "EUR")?))?;
/// let log = crm.interactions(c.id, Default::default())?;
/// assert_eq!(log[0].amount(), Some(&Money::parse("9.99", "EUR")?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// Assigned by the store, in append order.
    pub id: InteractionId,
    /// Who it was with.
    pub customer: CustomerId,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// What happened.
    pub kind: InteractionKind,
    /// Where it happened.
    pub channel: Option<Channel>,
    /// Anything else the application wants to keep.
    pub properties: Properties,
    /// Makes writes idempotent: a second interaction with the same key is not written.
    pub idempotency_key: Option<String>,
}

impl Interaction {
    /// The money of a purchase or refund.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::InteractionKind;
    /// assert!(InteractionKind::Note { text: "hi".into() }.amount().is_none());
    /// ```
    pub fn amount(&self) -> Option<&Money> {
        self.kind.amount()
    }
}

/// An interaction to record; the store gives it an [`InteractionId`].
///
/// # Examples
///
/// ```
/// use crmkit_core::{CustomerId, NewInteraction, InteractionKind, Direction};
/// let i = NewInteraction::new(CustomerId::new(), chrono::Utc::now(),
///     InteractionKind::Email { direction: Direction::Inbound, subject: Some("Invoice?".into()) })
///     .idempotency_key("mail-4711");
/// assert_eq!(i.idempotency_key.as_deref(), Some("mail-4711"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewInteraction {
    /// Who it was with.
    pub customer: CustomerId,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// What happened.
    pub kind: InteractionKind,
    /// Where it happened.
    pub channel: Option<Channel>,
    /// Anything else.
    pub properties: Properties,
    /// Idempotency key (see [`Interaction::idempotency_key`]).
    pub idempotency_key: Option<String>,
}

impl NewInteraction {
    /// An interaction of any kind.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{CustomerId, NewInteraction, InteractionKind};
    /// let i = NewInteraction::new(CustomerId::new(), chrono::Utc::now(), InteractionKind::WebVisit { url: None });
    /// assert!(i.channel.is_none());
    /// ```
    pub fn new(customer: CustomerId, occurred_at: DateTime<Utc>, kind: InteractionKind) -> Self {
        NewInteraction {
            customer,
            occurred_at,
            kind,
            channel: None,
            properties: Properties::new(),
            idempotency_key: None,
        }
    }

    /// A purchase without line items.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{CustomerId, NewInteraction, Money};
    /// let p = NewInteraction::purchase(CustomerId::new(), chrono::Utc::now(), Money::parse("5", "USD")?);
    /// assert!(p.kind.amount().is_some());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn purchase(customer: CustomerId, occurred_at: DateTime<Utc>, total: Money) -> Self {
        Self::new(customer, occurred_at, InteractionKind::Purchase { total, items: Vec::new() })
    }

    /// Sets the idempotency key.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{CustomerId, NewInteraction, InteractionKind};
    /// let i = NewInteraction::new(CustomerId::new(), chrono::Utc::now(), InteractionKind::Note { text: "x".into() })
    ///     .idempotency_key("k1");
    /// assert_eq!(i.idempotency_key.unwrap(), "k1");
    /// ```
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Sets the channel.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Channel, CustomerId, NewInteraction, InteractionKind};
    /// let i = NewInteraction::new(CustomerId::new(), chrono::Utc::now(), InteractionKind::Note { text: "x".into() })
    ///     .channel(Channel::Phone);
    /// assert_eq!(i.channel, Some(Channel::Phone));
    /// ```
    pub fn channel(mut self, channel: Channel) -> Self {
        self.channel = Some(channel);
        self
    }

    /// Adds a property.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{CustomerId, NewInteraction, InteractionKind};
    /// let i = NewInteraction::new(CustomerId::new(), chrono::Utc::now(), InteractionKind::Note { text: "x".into() })
    ///     .property("agent", "sam");
    /// assert_eq!(i.properties["agent"], "sam");
    /// ```
    pub fn property(
        mut self,
        name: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.properties.insert(name.into(), value.into());
        self
    }

    /// Checks the interaction's own invariants (amounts, quantities, currencies, names).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{CustomerId, NewInteraction, Money};
    /// let bad = NewInteraction::purchase(CustomerId::new(), chrono::Utc::now(), Money::parse("-5", "USD")?);
    /// assert!(bad.validate().is_err());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn validate(&self) -> Result<()> {
        self.kind.validate()?;
        if let Some(k) = &self.idempotency_key
            && (k.is_empty() || k.len() > 200)
        {
            return Err(Error::validation("idempotency_key", "must be 1 to 200 bytes"));
        }
        Ok(())
    }

    /// Gives this interaction its store id.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{CustomerId, InteractionId, NewInteraction, InteractionKind};
    /// let i = NewInteraction::new(CustomerId::new(), chrono::Utc::now(), InteractionKind::Note { text: "x".into() });
    /// assert_eq!(i.into_interaction(InteractionId(1)).id, InteractionId(1));
    /// ```
    pub fn into_interaction(self, id: InteractionId) -> Interaction {
        Interaction {
            id,
            customer: self.customer,
            occurred_at: crate::time::truncate_micros(self.occurred_at),
            kind: self.kind,
            channel: self.channel,
            properties: self.properties,
            idempotency_key: self.idempotency_key,
        }
    }
}

/// Inbound (from the customer) or outbound (to the customer).
///
/// # Examples
///
/// ```
/// assert_eq!(serde_json::to_string(&crmkit_core::Direction::Outbound).unwrap(), "\"outbound\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the customer.
    Inbound,
    /// To the customer.
    Outbound,
}

/// One line of a purchase or refund.
///
/// # Examples
///
/// ```
/// use crmkit_core::{LineItem, Money};
/// let item = LineItem { sku: "CD-42".into(), quantity: 2.into(), unit_price: Money::parse("9.50", "USD")? };
/// assert_eq!(item.total()?.to_string(), "19.00 USD");
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    /// Stock-keeping unit.
    pub sku: String,
    /// Quantity (positive; decimals allowed for weights and hours).
    pub quantity: Decimal,
    /// Price of one unit.
    pub unit_price: Money,
}

impl LineItem {
    /// quantity × unit price.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{LineItem, Money};
    /// let item = LineItem { sku: "A".into(), quantity: "0.5".parse().unwrap(), unit_price: Money::parse("3", "EUR")? };
    /// assert_eq!(item.total()?.amount, "1.5".parse().unwrap());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn total(&self) -> Result<Money> {
        let amount = self
            .quantity
            .checked_mul(self.unit_price.amount)
            .ok_or_else(|| Error::validation("line item", "quantity × unit price overflows"))?;
        Ok(Money::new(amount, self.unit_price.currency))
    }
}

/// What happened.
///
/// # Examples
///
/// ```
/// use crmkit_core::InteractionKind;
/// let call = InteractionKind::Call { direction: crmkit_core::Direction::Outbound, duration_secs: 300, outcome: Some("voicemail".into()) };
/// assert_eq!(call.name(), "call");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InteractionKind {
    /// A purchase: its total and, optionally, its lines.
    Purchase {
        /// What was paid (zero or more).
        total: Money,
        /// Line items, if known.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        items: Vec<LineItem>,
    },
    /// Money given back.
    Refund {
        /// How much was refunded (zero or more).
        total: Money,
        /// What was returned, if known.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        items: Vec<LineItem>,
    },
    /// An e-mail.
    Email {
        /// In or out.
        direction: Direction,
        /// Subject line.
        subject: Option<String>,
    },
    /// A phone call.
    Call {
        /// In or out.
        direction: Direction,
        /// How long, in seconds.
        duration_secs: u32,
        /// How it ended ("reached", "voicemail", ...).
        outcome: Option<String>,
    },
    /// A meeting.
    Meeting {
        /// What it was about.
        subject: Option<String>,
        /// How long, in seconds.
        duration_secs: Option<u32>,
    },
    /// A support ticket was opened.
    TicketOpened {
        /// The ticket's id.
        ticket: String,
        /// Its subject.
        subject: Option<String>,
    },
    /// A support ticket was resolved.
    TicketResolved {
        /// The ticket's id.
        ticket: String,
    },
    /// A visit to the web site or app.
    WebVisit {
        /// The page.
        url: Option<String>,
    },
    /// A note.
    Note {
        /// The text.
        text: String,
    },
    /// A kind of the application's own.
    Custom {
        /// Its name (letters, digits, `_`, `-`, `.`).
        name: String,
    },
}

impl InteractionKind {
    /// The kind's name, as used in files and rules: `purchase`, `refund`, `email`, `call`, `meeting`,
    /// `ticket_opened`, `ticket_resolved`, `web_visit`, `note`, or the custom name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::InteractionKind::WebVisit { url: None }.name(), "web_visit");
    /// ```
    pub fn name(&self) -> &str {
        match self {
            InteractionKind::Purchase { .. } => "purchase",
            InteractionKind::Refund { .. } => "refund",
            InteractionKind::Email { .. } => "email",
            InteractionKind::Call { .. } => "call",
            InteractionKind::Meeting { .. } => "meeting",
            InteractionKind::TicketOpened { .. } => "ticket_opened",
            InteractionKind::TicketResolved { .. } => "ticket_resolved",
            InteractionKind::WebVisit { .. } => "web_visit",
            InteractionKind::Note { .. } => "note",
            InteractionKind::Custom { name } => name,
        }
    }

    /// The money of a purchase or refund.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{InteractionKind, Money};
    /// let k = InteractionKind::Refund { total: Money::parse("1", "EUR")?, items: vec![] };
    /// assert_eq!(k.amount().unwrap().to_string(), "1 EUR");
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn amount(&self) -> Option<&Money> {
        match self {
            InteractionKind::Purchase { total, .. } | InteractionKind::Refund { total, .. } => {
                Some(total)
            }
            _ => None,
        }
    }

    /// Checks amounts (not negative), line items (positive quantity, non-negative price, same
    /// currency as the total, non-empty sku) and names.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::InteractionKind;
    /// assert!(InteractionKind::Custom { name: "".into() }.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        match self {
            InteractionKind::Purchase { total, items }
            | InteractionKind::Refund { total, items } => {
                for item in items {
                    if item.sku.trim().is_empty() {
                        return Err(Error::validation("sku", "is empty"));
                    }
                    if item.quantity <= Decimal::ZERO {
                        return Err(Error::validation(
                            "quantity",
                            format!("{} for sku {} must be positive", item.quantity, item.sku),
                        ));
                    }
                    if item.unit_price.amount.is_sign_negative()
                        && !item.unit_price.amount.is_zero()
                    {
                        return Err(Error::validation(
                            "unit_price",
                            format!("{} for sku {} is negative", item.unit_price, item.sku),
                        ));
                    }
                    if item.unit_price.currency != total.currency {
                        return Err(Error::CurrencyMismatch {
                            left: total.currency,
                            right: item.unit_price.currency,
                        });
                    }
                }
                // After the items: a negative quantity is the cause of a negative total.
                if total.amount.is_sign_negative() && !total.amount.is_zero() {
                    return Err(Error::validation(
                        "amount",
                        format!("{total} is negative; record money given back as a refund"),
                    ));
                }
                Ok(())
            }
            InteractionKind::Custom { name } => {
                let known = [
                    "purchase",
                    "refund",
                    "email",
                    "call",
                    "meeting",
                    "ticket_opened",
                    "ticket_resolved",
                    "web_visit",
                    "note",
                ];
                if name.is_empty()
                    || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
                {
                    Err(Error::validation(
                        "kind",
                        format!("custom kind {name:?}: use letters, digits, _ - ."),
                    ))
                } else if known.contains(&name.as_str()) {
                    Err(Error::validation(
                        "kind",
                        format!("custom kind {name:?} shadows a built-in kind"),
                    ))
                } else {
                    Ok(())
                }
            }
            InteractionKind::TicketOpened { ticket, .. }
            | InteractionKind::TicketResolved { ticket } => {
                if ticket.trim().is_empty() {
                    Err(Error::validation("ticket", "is empty"))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }
}
