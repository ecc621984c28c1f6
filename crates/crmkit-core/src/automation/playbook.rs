//! Playbooks (what to do when a customer enters a segment) and the tasks they create.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::customer::AttributeValue;
use crate::error::{Error, Result};
use crate::ids::{CustomerId, TaskId};
use crate::rules::Rule;

/// What a playbook does for a customer who enters its segment.
///
/// # Examples
///
/// ```
/// use crmkit_core::automation::Action;
/// let a = Action::CreateTask { title: "Call to win back".into(), due_in_days: 3, assignee: Some("sam".into()) };
/// assert!(serde_json::to_string(&a).unwrap().contains("create_task"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Action {
    /// Create a task.
    CreateTask {
        /// Its title.
        title: String,
        /// Due this many days after the entry.
        due_in_days: u32,
        /// Who should do it.
        assignee: Option<String>,
    },
    /// Add a tag to the customer.
    AddTag {
        /// The tag.
        tag: String,
    },
    /// Remove a tag.
    RemoveTag {
        /// The tag.
        tag: String,
    },
    /// Set a declared attribute.
    SetAttribute {
        /// The field.
        field: String,
        /// The value.
        value: AttributeValue,
    },
    /// Emit an [`EventPayload::Action`](super::EventPayload::Action) for the host application.
    Emit {
        /// The action's name.
        action: String,
        /// Its data.
        #[serde(default)]
        payload: serde_json::Value,
    },
}

/// "When a customer enters `segment` (and `condition` holds), do `actions`." It fires once per
/// entry: again only after the customer has left and re-entered.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, NewCustomer, CustomerUpdate, automation::{Segment, Playbook, Action, TaskQuery}};
/// let crm = Crm::in_memory();
/// crm.define_segment(Segment::dynamic("vip", "tag \"vip\"")?)?;
/// crm.define_playbook(Playbook::new("welcome-vip", "vip")
///     .action(Action::CreateTask { title: "Welcome call".into(), due_in_days: 2, assignee: None }))?;
/// let c = crm.create_customer(NewCustomer::person("Ada"))?;
/// crm.update_customer(c.id, CustomerUpdate::new().add_tag("vip"))?;
/// let tasks = crm.tasks(&TaskQuery::new().customer(c.id))?;
/// assert_eq!(tasks[0].title, "Welcome call");
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Playbook {
    /// Unique name.
    pub name: String,
    /// The segment whose entries trigger it.
    pub segment: String,
    /// Only when this also holds at the entry.
    pub condition: Option<Rule>,
    /// What to do, in order.
    pub actions: Vec<Action>,
    /// Disabled playbooks do nothing.
    pub enabled: bool,
}

impl Playbook {
    /// An enabled playbook with no actions yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = crmkit_core::automation::Playbook::new("p", "s");
    /// assert!(p.enabled && p.actions.is_empty());
    /// ```
    pub fn new(name: &str, segment: &str) -> Playbook {
        Playbook {
            name: name.trim().to_owned(),
            segment: segment.trim().to_owned(),
            condition: None,
            actions: Vec::new(),
            enabled: true,
        }
    }

    /// Adds an action.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::automation::{Playbook, Action};
    /// let p = Playbook::new("p", "s").action(Action::AddTag { tag: "x".into() });
    /// assert_eq!(p.actions.len(), 1);
    /// ```
    pub fn action(mut self, action: Action) -> Playbook {
        self.actions.push(action);
        self
    }

    /// Fires only when this rule (text form) also holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = crmkit_core::automation::Playbook::new("p", "s").when("clv > 100")?;
    /// assert!(p.condition.is_some());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn when(mut self, rule: &str) -> Result<Playbook> {
        self.condition = Some(Rule::parse(rule)?);
        Ok(self)
    }
}

/// Whether a task is done.
///
/// # Examples
///
/// ```
/// assert_eq!("done".parse::<crmkit_core::automation::TaskStatus>()?, crmkit_core::automation::TaskStatus::Done);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// To do.
    Open,
    /// Done.
    Done,
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskStatus::Open => "open",
            TaskStatus::Done => "done",
        })
    }
}

impl FromStr for TaskStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "open" => Ok(TaskStatus::Open),
            "done" => Ok(TaskStatus::Done),
            other => {
                Err(Error::validation("task status", format!("{other:?}: expected open or done")))
            }
        }
    }
}

/// A piece of work about a customer.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, NewCustomer, automation::TaskStatus};
/// let crm = Crm::in_memory();
/// let c = crm.create_customer(NewCustomer::person("Ada"))?;
/// let t = crm.create_task(c.id, "Send the contract", 5, Some("sam"))?;
/// let t = crm.complete_task(t.id)?;
/// assert_eq!(t.status, TaskStatus::Done);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Its id.
    pub id: TaskId,
    /// The customer.
    pub customer: CustomerId,
    /// What to do.
    pub title: String,
    /// When it is due.
    pub due: DateTime<Utc>,
    /// Who should do it.
    pub assignee: Option<String>,
    /// Open or done.
    pub status: TaskStatus,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// The playbook that created it, if any.
    pub playbook: Option<String>,
}

/// A filter for tasks. Results are ordered by due date, then id.
///
/// # Examples
///
/// ```
/// use crmkit_core::automation::{TaskQuery, TaskStatus};
/// let q = TaskQuery::new().status(TaskStatus::Open).assignee("sam");
/// assert_eq!(q.limit, 100);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskQuery {
    /// Only this customer's.
    pub customer: Option<CustomerId>,
    /// Only in this status.
    pub status: Option<TaskStatus>,
    /// Only this assignee's.
    pub assignee: Option<String>,
    /// Only those this playbook created.
    pub playbook: Option<String>,
    /// At most this many.
    pub limit: usize,
}

impl Default for TaskQuery {
    fn default() -> Self {
        TaskQuery { customer: None, status: None, assignee: None, playbook: None, limit: 100 }
    }
}

impl TaskQuery {
    /// All tasks, at most 100.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::automation::TaskQuery::new().customer.is_none());
    /// ```
    pub fn new() -> TaskQuery {
        TaskQuery::default()
    }

    /// Only this customer's.
    ///
    /// # Examples
    ///
    /// ```
    /// let id = crmkit_core::CustomerId::new();
    /// assert_eq!(crmkit_core::automation::TaskQuery::new().customer(id).customer, Some(id));
    /// ```
    pub fn customer(mut self, id: CustomerId) -> TaskQuery {
        self.customer = Some(id);
        self
    }

    /// Only in this status.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::automation::{TaskQuery, TaskStatus};
    /// assert_eq!(TaskQuery::new().status(TaskStatus::Done).status, Some(TaskStatus::Done));
    /// ```
    pub fn status(mut self, status: TaskStatus) -> TaskQuery {
        self.status = Some(status);
        self
    }

    /// Only this assignee's.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::automation::TaskQuery::new().assignee("sam").assignee.is_some());
    /// ```
    pub fn assignee(mut self, who: impl Into<String>) -> TaskQuery {
        self.assignee = Some(who.into());
        self
    }

    /// Only those this playbook created.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::automation::TaskQuery::new().playbook("p").playbook.is_some());
    /// ```
    pub fn playbook(mut self, name: impl Into<String>) -> TaskQuery {
        self.playbook = Some(name.into());
        self
    }

    /// At most this many (at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::automation::TaskQuery::new().limit(0).limit, 1);
    /// ```
    pub fn limit(mut self, limit: usize) -> TaskQuery {
        self.limit = limit.max(1);
        self
    }

    /// Whether a task passes the filters. Backends may use it.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, automation::TaskQuery};
    /// let crm = Crm::in_memory();
    /// let c = crm.create_customer(NewCustomer::person("Ada"))?;
    /// let t = crm.create_task(c.id, "x", 1, None)?;
    /// assert!(TaskQuery::new().customer(c.id).matches(&t));
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn matches(&self, t: &Task) -> bool {
        self.customer.is_none_or(|c| t.customer == c)
            && self.status.is_none_or(|s| t.status == s)
            && self.assignee.as_ref().is_none_or(|a| t.assignee.as_ref() == Some(a))
            && self.playbook.as_ref().is_none_or(|p| t.playbook.as_ref() == Some(p))
    }
}
