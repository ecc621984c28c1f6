//! Typed ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

/// A customer's id: a UUID (version 7, so ids sort roughly by creation time).
///
/// Ids are made by the caller's side, not the store, so that devices can create customers
/// offline and a batch can refer to a customer it creates.
///
/// # Examples
///
/// ```
/// use crmkit_core::CustomerId;
/// let id = CustomerId::new();
/// let again: CustomerId = id.to_string().parse()?;
/// assert_eq!(id, again);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerId(Uuid);

impl CustomerId {
    /// A fresh, time-ordered id.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_ne!(crmkit_core::CustomerId::new(), crmkit_core::CustomerId::new());
    /// ```
    #[allow(clippy::new_without_default)]
    pub fn new() -> CustomerId {
        CustomerId(Uuid::now_v7())
    }

    /// An id from its 128-bit value (for tests, fixtures and sync from another system).
    ///
    /// # Examples
    ///
    /// ```
    /// let id = crmkit_core::CustomerId::from_u128(7);
    /// assert_eq!(id.as_u128(), 7);
    /// ```
    pub const fn from_u128(v: u128) -> CustomerId {
        CustomerId(Uuid::from_u128(v))
    }

    /// The id's 128-bit value.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::CustomerId::from_u128(1).as_u128(), 1);
    /// ```
    pub fn as_u128(&self) -> u128 {
        self.0.as_u128()
    }

    /// The id's 16 bytes, big-endian (how SQL backends store it).
    ///
    /// # Examples
    ///
    /// ```
    /// let id = crmkit_core::CustomerId::from_u128(1);
    /// assert_eq!(crmkit_core::CustomerId::from_bytes(id.to_bytes()), id);
    /// ```
    pub fn to_bytes(&self) -> [u8; 16] {
        *self.0.as_bytes()
    }

    /// The id from 16 big-endian bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let id = crmkit_core::CustomerId::from_bytes([0; 16]);
    /// assert_eq!(id.as_u128(), 0);
    /// ```
    pub fn from_bytes(bytes: [u8; 16]) -> CustomerId {
        CustomerId(Uuid::from_bytes(bytes))
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomerId({})", self.0)
    }
}

impl FromStr for CustomerId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Uuid::parse_str(s.trim())
            .map(CustomerId)
            .map_err(|e| Error::validation("customer id", format!("{s:?} is not a UUID: {e}")))
    }
}

/// An interaction's id, assigned by the store in append order (1, 2, 3, ...).
///
/// # Examples
///
/// ```
/// let id = crmkit_core::InteractionId(42);
/// assert_eq!(id.to_string(), "42");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InteractionId(pub u64);

impl fmt::Display for InteractionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A task's id: a UUID (version 7), made by the engine like a [`CustomerId`].
///
/// # Examples
///
/// ```
/// let id = crmkit_core::TaskId::new();
/// assert_eq!(id.to_string().parse::<crmkit_core::TaskId>()?, id);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(pub Uuid);

impl TaskId {
    /// A fresh, time-ordered id.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_ne!(crmkit_core::TaskId::new(), crmkit_core::TaskId::new());
    /// ```
    #[allow(clippy::new_without_default)]
    pub fn new() -> TaskId {
        TaskId(Uuid::now_v7())
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for TaskId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Uuid::parse_str(s.trim())
            .map(TaskId)
            .map_err(|e| Error::validation("task id", format!("{s:?} is not a UUID: {e}")))
    }
}
