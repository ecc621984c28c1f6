//! The audit log's entries: what a writer records and what the store keeps.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::CustomerId;

/// An audit-log entry to write: one field of one customer changed.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, NewCustomer, CustomerUpdate};
/// let crm = Crm::in_memory();
/// let c = crm.create_customer(NewCustomer::person("Bo"))?;
/// crm.update_customer(c.id, CustomerUpdate::new().name("Bo Diddley").source("agent:sam"))?;
/// let log = crm.audit_log(Some(c.id), 0, 10)?;
/// let rename = log.iter().find(|e| e.field == "name").unwrap();
/// assert_eq!((rename.actor.as_str(), rename.new.as_ref().unwrap().as_str()), ("agent:sam", Some("Bo Diddley")));
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The customer.
    pub customer: CustomerId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who or what made the change (a user, an import, a system).
    pub actor: String,
    /// Which field (`name`, `stage`, `attributes.plan`, `tags`, `identities`, `consent.P.C`, or
    /// `customer` for a creation, whose `new` holds the name and identity keys).
    pub field: String,
    /// The value before (`None` if it was absent).
    pub old: Option<serde_json::Value>,
    /// The value after (`None` if it was removed).
    pub new: Option<serde_json::Value>,
}

/// A stored audit-log entry: an [`AuditRecord`] with its sequence number.
///
/// # Examples
///
/// ```
/// let crm = crmkit_core::Crm::in_memory();
/// let c = crm.create_customer(crmkit_core::NewCustomer::person("Bo"))?;
/// assert_eq!(crm.audit_log(Some(c.id), 0, 10)?[0].seq, 1);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1, 2, 3... in write order, store-wide.
    pub seq: u64,
    /// The customer.
    pub customer: CustomerId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who or what.
    pub actor: String,
    /// Which field.
    pub field: String,
    /// Before.
    pub old: Option<serde_json::Value>,
    /// After.
    pub new: Option<serde_json::Value>,
}

impl AuditEntry {
    /// A stored entry from a record and its sequence number.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{AuditEntry, AuditRecord, CustomerId};
    /// let r = AuditRecord { customer: CustomerId::new(), at: chrono::Utc::now(), actor: "a".into(),
    ///     field: "name".into(), old: None, new: Some("x".into()) };
    /// assert_eq!(AuditEntry::from_record(3, r).seq, 3);
    /// ```
    pub fn from_record(seq: u64, r: AuditRecord) -> AuditEntry {
        AuditEntry {
            seq,
            customer: r.customer,
            at: crate::time::truncate_micros(r.at),
            actor: r.actor,
            field: r.field,
            old: r.old,
            new: r.new,
        }
    }
}
