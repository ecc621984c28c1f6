//! Reading customers and interactions: the customer filter, pages, time ranges.

use chrono::{DateTime, Utc};

use crate::customer::{Customer, LifecycleStage};
use crate::ids::CustomerId;

/// A filter and a page position for [`CustomerStore::list_customers`](super::CustomerStore::list_customers). Results are ordered by id.
///
/// # Examples
///
/// ```
/// use crmkit_core::{CustomerQuery, LifecycleStage};
/// let q = CustomerQuery::new().stage(LifecycleStage::Lead).tag("vip").limit(50);
/// assert_eq!(q.limit, 50);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerQuery {
    /// Only customers in this stage.
    pub stage: Option<LifecycleStage>,
    /// Only customers with this tag.
    pub tag: Option<String>,
    /// Only customers whose name contains this text (case-insensitive).
    pub name_contains: Option<String>,
    /// Start after this id (the previous page's [`Page::next`]).
    pub after: Option<CustomerId>,
    /// At most this many (at least 1; default 100).
    pub limit: usize,
}

impl Default for CustomerQuery {
    fn default() -> Self {
        CustomerQuery { stage: None, tag: None, name_contains: None, after: None, limit: 100 }
    }
}

impl CustomerQuery {
    /// Everyone, first page of 100.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::CustomerQuery::new().limit, 100);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Only this stage.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = crmkit_core::CustomerQuery::new().stage(crmkit_core::LifecycleStage::Customer);
    /// assert!(q.stage.is_some());
    /// ```
    pub fn stage(mut self, stage: LifecycleStage) -> Self {
        self.stage = Some(stage);
        self
    }

    /// Only this tag.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::CustomerQuery::new().tag("vip").tag.as_deref(), Some("vip"));
    /// ```
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Only names containing this text.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::CustomerQuery::new().name_contains("ada").name_contains.is_some());
    /// ```
    pub fn name_contains(mut self, text: impl Into<String>) -> Self {
        self.name_contains = Some(text.into());
        self
    }

    /// Continue after this id.
    ///
    /// # Examples
    ///
    /// ```
    /// let id = crmkit_core::CustomerId::new();
    /// assert_eq!(crmkit_core::CustomerQuery::new().after(id).after, Some(id));
    /// ```
    pub fn after(mut self, id: CustomerId) -> Self {
        self.after = Some(id);
        self
    }

    /// Page size (clamped to at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::CustomerQuery::new().limit(0).limit, 1);
    /// ```
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit.max(1);
        self
    }

    /// Whether a customer passes the filters (not the page position). Backends may use it.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, CustomerQuery};
    /// let crm = Crm::in_memory();
    /// let c = crm.create_customer(NewCustomer::person("Ada Lovelace"))?;
    /// assert!(CustomerQuery::new().name_contains("LOVE").matches(&c));
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn matches(&self, c: &Customer) -> bool {
        self.stage.as_ref().is_none_or(|s| &c.stage == s)
            && self.tag.as_ref().is_none_or(|t| c.tags.contains(t))
            && self
                .name_contains
                .as_ref()
                .is_none_or(|n| c.name.to_lowercase().contains(&n.to_lowercase()))
    }
}

/// A page of results and where the next one starts.
///
/// # Examples
///
/// ```
/// let crm = crmkit_core::Crm::in_memory();
/// let page = crm.list_customers(&crmkit_core::CustomerQuery::new())?;
/// assert!(page.items.is_empty() && page.next.is_none());
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, C = CustomerId> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts (pass it to [`CustomerQuery::after`] or
    /// [`RecordQuery::after`](super::RecordQuery::after)); `None` on the last page.
    pub next: Option<C>,
}

/// A half-open time range `[from, to)`; either end may be open.
///
/// # Examples
///
/// ```
/// use crmkit_core::TimeRange;
/// let r = TimeRange::new().from("2024-01-01T00:00:00Z".parse()?);
/// assert!(r.contains("2024-06-01T00:00:00Z".parse()?));
/// assert!(!r.contains("2023-06-01T00:00:00Z".parse()?));
/// # Ok::<(), chrono::ParseError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive end.
    pub to: Option<DateTime<Utc>>,
}

impl TimeRange {
    /// All time.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::TimeRange::new().contains(chrono::Utc::now()));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the inclusive start.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = crmkit_core::TimeRange::new().from(chrono::DateTime::UNIX_EPOCH);
    /// assert!(r.from.is_some());
    /// ```
    pub fn from(mut self, at: DateTime<Utc>) -> Self {
        self.from = Some(at);
        self
    }

    /// Sets the exclusive end.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = crmkit_core::TimeRange::new().to(chrono::DateTime::UNIX_EPOCH);
    /// assert!(!r.contains(chrono::DateTime::UNIX_EPOCH));
    /// ```
    pub fn to(mut self, at: DateTime<Utc>) -> Self {
        self.to = Some(at);
        self
    }

    /// Whether `at` is inside.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::TimeRange::default().contains(chrono::DateTime::UNIX_EPOCH));
    /// ```
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from.is_none_or(|f| at >= f) && self.to.is_none_or(|t| at < t)
    }
}
