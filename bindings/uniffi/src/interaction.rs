//! Interactions and money as records.

use std::collections::HashMap;
use std::time::SystemTime;

use crate::convert::{customer_id, from_time, json_map_in, json_map_out, to_time};
use crate::customer::Channel;
use crate::error::{CrmError, CrmResult};

/// Exact money: a decimal amount as text and an ISO 4217 currency code. Never a float.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct Money {
    /// The amount, e.g. `"49.90"` (`.` as the decimal point, scale kept as given).
    pub amount: String,
    /// The currency code, e.g. `"EUR"`.
    pub currency: String,
}

impl From<crmkit::Money> for Money {
    fn from(m: crmkit::Money) -> Self {
        let crmkit::Money { amount, currency } = m;
        Money { amount: amount.to_string(), currency: currency.code().to_owned() }
    }
}

impl TryFrom<Money> for crmkit::Money {
    type Error = CrmError;
    fn try_from(m: Money) -> CrmResult<Self> {
        Ok(crmkit::Money::parse(&m.amount, &m.currency)?)
    }
}

/// In or out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Direction {
    /// From the customer.
    Inbound,
    /// To the customer.
    Outbound,
}

impl From<crmkit::Direction> for Direction {
    fn from(d: crmkit::Direction) -> Self {
        match d {
            crmkit::Direction::Inbound => Direction::Inbound,
            crmkit::Direction::Outbound => Direction::Outbound,
        }
    }
}

impl From<Direction> for crmkit::Direction {
    fn from(d: Direction) -> Self {
        match d {
            Direction::Inbound => crmkit::Direction::Inbound,
            Direction::Outbound => crmkit::Direction::Outbound,
        }
    }
}

/// A line of a purchase or refund.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LineItem {
    /// The product.
    pub sku: String,
    /// How many, an exact decimal as text (`"2"`, `"0.5"`).
    pub quantity: String,
    /// Price of one, in the purchase's currency.
    pub unit_price: Money,
}

impl From<crmkit::LineItem> for LineItem {
    fn from(l: crmkit::LineItem) -> Self {
        let crmkit::LineItem { sku, quantity, unit_price } = l;
        LineItem { sku, quantity: quantity.to_string(), unit_price: unit_price.into() }
    }
}

impl TryFrom<LineItem> for crmkit::LineItem {
    type Error = CrmError;
    fn try_from(l: LineItem) -> CrmResult<Self> {
        Ok(crmkit::LineItem {
            quantity: crate::convert::decimal("quantity", &l.quantity)?,
            unit_price: l.unit_price.try_into()?,
            sku: l.sku,
        })
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum InteractionKind {
    /// A purchase: its total and, optionally, its lines.
    Purchase {
        /// What was paid (zero or more).
        total: Money,
        /// Line items, if known.
        #[uniffi(default)]
        items: Vec<LineItem>,
    },
    /// Money given back.
    Refund {
        /// How much (zero or more).
        total: Money,
        /// What was returned, if known.
        #[uniffi(default)]
        items: Vec<LineItem>,
    },
    /// An e-mail.
    Email {
        /// In or out.
        direction: Direction,
        /// Subject line.
        #[uniffi(default = None)]
        subject: Option<String>,
    },
    /// A phone call.
    Call {
        /// In or out.
        direction: Direction,
        /// How long, in seconds.
        duration_secs: u32,
        /// How it ended (`"reached"`, `"voicemail"`...).
        #[uniffi(default = None)]
        outcome: Option<String>,
    },
    /// A meeting.
    Meeting {
        /// What it was about.
        #[uniffi(default = None)]
        subject: Option<String>,
        /// How long, in seconds.
        #[uniffi(default = None)]
        duration_secs: Option<u32>,
    },
    /// A support ticket was opened.
    TicketOpened {
        /// The ticket's id.
        ticket: String,
        /// Its subject.
        #[uniffi(default = None)]
        subject: Option<String>,
    },
    /// A support ticket was resolved.
    TicketResolved {
        /// The ticket's id.
        ticket: String,
    },
    /// A visit to the web site or app.
    WebVisit {
        /// The page or screen.
        #[uniffi(default = None)]
        url: Option<String>,
    },
    /// A note.
    Note {
        /// The text.
        text: String,
    },
    /// A kind of the application's own.
    Custom {
        /// Its name (letters, digits, `_ - .`).
        name: String,
    },
}

impl From<crmkit::InteractionKind> for InteractionKind {
    fn from(k: crmkit::InteractionKind) -> Self {
        use crmkit::InteractionKind as K;
        let lines = |items: Vec<crmkit::LineItem>| items.into_iter().map(Into::into).collect();
        match k {
            K::Purchase { total, items } => {
                InteractionKind::Purchase { total: total.into(), items: lines(items) }
            }
            K::Refund { total, items } => {
                InteractionKind::Refund { total: total.into(), items: lines(items) }
            }
            K::Email { direction, subject } => {
                InteractionKind::Email { direction: direction.into(), subject }
            }
            K::Call { direction, duration_secs, outcome } => {
                InteractionKind::Call { direction: direction.into(), duration_secs, outcome }
            }
            K::Meeting { subject, duration_secs } => {
                InteractionKind::Meeting { subject, duration_secs }
            }
            K::TicketOpened { ticket, subject } => {
                InteractionKind::TicketOpened { ticket, subject }
            }
            K::TicketResolved { ticket } => InteractionKind::TicketResolved { ticket },
            K::WebVisit { url } => InteractionKind::WebVisit { url },
            K::Note { text } => InteractionKind::Note { text },
            K::Custom { name } => InteractionKind::Custom { name },
        }
    }
}

impl TryFrom<InteractionKind> for crmkit::InteractionKind {
    type Error = CrmError;
    fn try_from(k: InteractionKind) -> CrmResult<Self> {
        use crmkit::InteractionKind as K;
        let lines = |items: Vec<LineItem>| -> CrmResult<Vec<crmkit::LineItem>> {
            items.into_iter().map(TryInto::try_into).collect()
        };
        Ok(match k {
            InteractionKind::Purchase { total, items } => {
                K::Purchase { total: total.try_into()?, items: lines(items)? }
            }
            InteractionKind::Refund { total, items } => {
                K::Refund { total: total.try_into()?, items: lines(items)? }
            }
            InteractionKind::Email { direction, subject } => {
                K::Email { direction: direction.into(), subject }
            }
            InteractionKind::Call { direction, duration_secs, outcome } => {
                K::Call { direction: direction.into(), duration_secs, outcome }
            }
            InteractionKind::Meeting { subject, duration_secs } => {
                K::Meeting { subject, duration_secs }
            }
            InteractionKind::TicketOpened { ticket, subject } => {
                K::TicketOpened { ticket, subject }
            }
            InteractionKind::TicketResolved { ticket } => K::TicketResolved { ticket },
            InteractionKind::WebVisit { url } => K::WebVisit { url },
            InteractionKind::Note { text } => K::Note { text },
            InteractionKind::Custom { name } => K::Custom { name },
        })
    }
}

/// A recorded interaction.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Interaction {
    /// Assigned by the store, in append order.
    pub id: u64,
    /// Who it was with.
    pub customer_id: String,
    /// When it happened (to the microsecond).
    pub occurred_at: SystemTime,
    /// What happened.
    pub kind: InteractionKind,
    /// Where it happened.
    pub channel: Option<Channel>,
    /// Anything else the application keeps: each value is JSON text (`"\"web\""`, `"3"`).
    pub properties_json: HashMap<String, String>,
    /// The idempotency key it was recorded with.
    pub idempotency_key: Option<String>,
}

impl From<crmkit::Interaction> for Interaction {
    fn from(i: crmkit::Interaction) -> Self {
        let crmkit::Interaction {
            id,
            customer,
            occurred_at,
            kind,
            channel,
            properties,
            idempotency_key,
        } = i;
        Interaction {
            id: id.0,
            customer_id: customer.to_string(),
            occurred_at: to_time(occurred_at),
            kind: kind.into(),
            channel: channel.map(Into::into),
            properties_json: json_map_out(properties),
            idempotency_key,
        }
    }
}

/// An interaction to record.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewInteraction {
    /// Who it was with (a customer id).
    pub customer_id: String,
    /// When it happened.
    pub occurred_at: SystemTime,
    /// What happened.
    pub kind: InteractionKind,
    /// Where it happened.
    #[uniffi(default = None)]
    pub channel: Option<Channel>,
    /// Anything else: each value is JSON text (`"\"web\""`, `"3"`, `"{\"a\":1}"`).
    #[uniffi(default)]
    pub properties_json: HashMap<String, String>,
    /// Makes the write idempotent: a second interaction with the same key is skipped, not an
    /// error. Use one when a write may be retried (offline queues, sync).
    #[uniffi(default = None)]
    pub idempotency_key: Option<String>,
}

impl NewInteraction {
    pub(crate) fn into_core(self) -> CrmResult<crmkit::NewInteraction> {
        let NewInteraction {
            customer_id: id,
            occurred_at,
            kind,
            channel,
            properties_json,
            idempotency_key,
        } = self;
        let mut new = crmkit::NewInteraction::new(
            customer_id(&id)?,
            from_time("occurred_at", occurred_at)?,
            kind.try_into()?,
        );
        if let Some(channel) = channel {
            new = new.channel(channel.try_into()?);
        }
        new.properties = json_map_in("properties", properties_json)?;
        new.idempotency_key = idempotency_key;
        Ok(new)
    }
}
