//! Object types, objects, their changes and queries.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::value::{ObjectFieldType, ObjectValue};
use crate::ids::CustomerId;
use crate::store::RecordCursor;

/// A declared field of an object type.
///
/// # Examples
///
/// ```
/// use crmkit_core::objects::{ObjectField, ObjectFieldType};
/// let f = ObjectField::new("number", ObjectFieldType::String).required().indexed();
/// assert!(f.required && f.indexed);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectField {
    /// The field name (letters, digits, `_`, `-`, `.`; at most 64).
    pub name: String,
    /// Its type.
    pub field_type: ObjectFieldType,
    /// Every object must have a value.
    pub required: bool,
    /// Objects can be queried by it (customer links always are).
    pub indexed: bool,
}

impl ObjectField {
    /// An optional, unindexed field (a customer link is indexed all the same).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::objects::{ObjectField, ObjectFieldType};
    /// assert!(ObjectField::new("owner", ObjectFieldType::Customer).indexed);
    /// ```
    pub fn new(name: impl Into<String>, field_type: ObjectFieldType) -> Self {
        let indexed = field_type == ObjectFieldType::Customer;
        ObjectField { name: name.into(), field_type, required: false, indexed }
    }

    /// Makes the field required.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::objects::{ObjectField, ObjectFieldType};
    /// assert!(ObjectField::new("n", ObjectFieldType::Integer).required().required);
    /// ```
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Makes the field indexed.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::objects::{ObjectField, ObjectFieldType};
    /// assert!(ObjectField::new("n", ObjectFieldType::Integer).indexed().indexed);
    /// ```
    pub fn indexed(mut self) -> Self {
        self.indexed = true;
        self
    }
}

/// What [`Crm::define_object_type`](crate::Crm::define_object_type) is given.
///
/// # Examples
///
/// ```
/// use crmkit_core::objects::{ObjectField, ObjectFieldType, ObjectTypeDef};
/// let def = ObjectTypeDef::new("vehicle").field(ObjectField::new("plate", ObjectFieldType::String));
/// assert_eq!(def.fields.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectTypeDef {
    /// The type name (letters, digits, `_`, `-`, `.`; at most 64).
    pub name: String,
    /// Its fields, in the order given.
    pub fields: Vec<ObjectField>,
}

impl ObjectTypeDef {
    /// A type with no fields yet.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::objects::ObjectTypeDef::new("x").fields.is_empty());
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        ObjectTypeDef { name: name.into(), fields: Vec::new() }
    }

    /// Adds a field.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::objects::{ObjectField, ObjectFieldType, ObjectTypeDef};
    /// let d = ObjectTypeDef::new("x").field(ObjectField::new("a", ObjectFieldType::Bool));
    /// assert_eq!(d.fields[0].name, "a");
    /// ```
    pub fn field(mut self, field: ObjectField) -> Self {
        self.fields.push(field);
        self
    }
}

/// A stored object type.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, objects::{ObjectField, ObjectFieldType, ObjectTypeDef}};
/// let crm = Crm::in_memory();
/// let t = crm.define_object_type(ObjectTypeDef::new("vehicle").field(ObjectField::new("plate", ObjectFieldType::String)))?;
/// assert_eq!((t.name.as_str(), t.revision), ("vehicle", 1));
/// assert!(t.field("plate").is_some());
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectType {
    /// The name.
    pub name: String,
    /// The fields.
    pub fields: Vec<ObjectField>,
    /// 1 when defined, one more with every redefinition.
    #[serde(skip)]
    pub revision: u64,
    /// When first defined.
    pub created_at: DateTime<Utc>,
    /// When last redefined.
    pub updated_at: DateTime<Utc>,
}

impl ObjectType {
    /// A field by name.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, objects::ObjectTypeDef};
    /// let t = Crm::in_memory().define_object_type(ObjectTypeDef::new("x"))?;
    /// assert!(t.field("nope").is_none());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn field(&self, name: &str) -> Option<&ObjectField> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// A new object: its fields, and optionally its id (a UUIDv7 when not given).
///
/// # Examples
///
/// ```
/// use crmkit_core::objects::{NewObject, ObjectValue};
/// let n = NewObject::new().id("INV-1").set("paid", ObjectValue::Bool(false));
/// assert_eq!(n.id.as_deref(), Some("INV-1"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewObject {
    /// The id (letters, digits and `_ - . : /`, at most 100); generated when `None`.
    pub id: Option<String>,
    /// The field values.
    pub fields: BTreeMap<String, ObjectValue>,
    /// Who or what makes the change (the audit entry's actor; default `crmkit`).
    pub source: Option<String>,
}

impl NewObject {
    /// An object with no fields yet.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::objects::NewObject::new().fields.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the id.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::objects::NewObject::new().id("a").id.is_some());
    /// ```
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets a field.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::objects::{NewObject, ObjectValue};
    /// assert_eq!(NewObject::new().set("n", ObjectValue::Integer(1)).fields.len(), 1);
    /// ```
    pub fn set(mut self, field: impl Into<String>, value: ObjectValue) -> Self {
        self.fields.insert(field.into(), value);
        self
    }

    /// Names who makes the change.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::objects::NewObject::new().source("import").source.is_some());
    /// ```
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }
}

/// Changes to an object: fields to set and fields to remove.
///
/// # Examples
///
/// ```
/// use crmkit_core::objects::{ObjectUpdate, ObjectValue};
/// let u = ObjectUpdate::new().set("paid", ObjectValue::Bool(true)).unset("note");
/// assert_eq!((u.set.len(), u.unset.len()), (1, 1));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectUpdate {
    /// Fields to set.
    pub set: BTreeMap<String, ObjectValue>,
    /// Fields to remove.
    pub unset: BTreeSet<String>,
    /// The revision the change is based on: the update fails with a conflict when the stored
    /// object has another (`None`: whatever is stored).
    pub expected_revision: Option<u64>,
    /// Who or what makes the change (default `crmkit`).
    pub source: Option<String>,
}

impl ObjectUpdate {
    /// No changes yet.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::objects::ObjectUpdate::new().set.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a field.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::objects::{ObjectUpdate, ObjectValue};
    /// assert!(ObjectUpdate::new().set("n", ObjectValue::Integer(2)).set.contains_key("n"));
    /// ```
    pub fn set(mut self, field: impl Into<String>, value: ObjectValue) -> Self {
        self.set.insert(field.into(), value);
        self
    }

    /// Removes a field.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::objects::ObjectUpdate::new().unset("n").unset.contains("n"));
    /// ```
    pub fn unset(mut self, field: impl Into<String>) -> Self {
        self.unset.insert(field.into());
        self
    }

    /// Expects this revision.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::objects::ObjectUpdate::new().expect_revision(3).expected_revision, Some(3));
    /// ```
    pub fn expect_revision(mut self, revision: u64) -> Self {
        self.expected_revision = Some(revision);
        self
    }

    /// Names who makes the change.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::objects::ObjectUpdate::new().source("api").source.is_some());
    /// ```
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }
}

/// A stored object.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, objects::{NewObject, ObjectTypeDef}};
/// let crm = Crm::in_memory();
/// crm.define_object_type(ObjectTypeDef::new("note"))?;
/// let o = crm.create_object("note", NewObject::new().id("n1"))?;
/// assert_eq!((o.object_type.as_str(), o.id.as_str(), o.revision), ("note", "n1", 1));
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Object {
    /// Its type's name.
    pub object_type: String,
    /// Its id, unique within the type.
    pub id: String,
    /// 1 when created, one more with every update.
    pub revision: u64,
    /// The field values.
    pub fields: BTreeMap<String, ObjectValue>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
}

impl Object {
    /// The customers the object links to, in field-name order.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, objects::*};
    /// let crm = Crm::in_memory();
    /// let ada = crm.create_customer(NewCustomer::person("Ada"))?;
    /// crm.define_object_type(ObjectTypeDef::new("car").field(ObjectField::new("owner", ObjectFieldType::Customer)))?;
    /// let car = crm.create_object("car", NewObject::new().set("owner", ObjectValue::Customer(ada.id)))?;
    /// assert_eq!(car.customers(), vec![ada.id]);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn customers(&self) -> Vec<CustomerId> {
        self.fields
            .values()
            .filter_map(|v| match v {
                ObjectValue::Customer(c) => Some(*c),
                _ => None,
            })
            .collect()
    }
}

/// What a change did to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectChangeKind {
    /// It was created.
    Created,
    /// It was updated.
    Updated,
    /// It was deleted.
    Deleted,
}

/// One audit entry of an object: who changed which fields, when, from what to what.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, objects::{NewObject, ObjectTypeDef, ObjectChangeKind}};
/// let crm = Crm::in_memory();
/// crm.define_object_type(ObjectTypeDef::new("note"))?;
/// crm.create_object("note", NewObject::new().id("n1"))?;
/// assert_eq!(crm.object_history("note", "n1")?[0].kind, ObjectChangeKind::Created);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectChange {
    /// The type.
    pub object_type: String,
    /// The object.
    pub object_id: String,
    /// The object's revision after the change (before it, for a deletion).
    pub revision: u64,
    /// What happened.
    pub kind: ObjectChangeKind,
    /// When.
    pub at: DateTime<Utc>,
    /// Who or what.
    pub actor: String,
    /// The changed fields: (name, old value, new value).
    pub fields: Vec<(String, Option<ObjectValue>, Option<ObjectValue>)>,
}

/// Which objects [`Crm::objects`](crate::Crm::objects) returns: all of a type (by id), or
/// those whose indexed field lies in a range (by value, then id); one page.
///
/// # Examples
///
/// ```
/// use crmkit_core::objects::{ObjectQuery, ObjectValue};
/// let q = ObjectQuery::equal("status", ObjectValue::String("open".into())).limit(20);
/// assert_eq!(q.limit, 20);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectQuery {
    /// The indexed field to filter on (`None`: every object).
    pub field: Option<String>,
    /// The lower bound on the field's value.
    pub lower: Bound<ObjectValue>,
    /// The upper bound.
    pub upper: Bound<ObjectValue>,
    /// Continue after this position (the previous page's `next`).
    pub after: Option<RecordCursor>,
    /// At most this many (at least 1; default 100).
    pub limit: usize,
}

impl Default for ObjectQuery {
    fn default() -> Self {
        ObjectQuery {
            field: None,
            lower: Bound::Unbounded,
            upper: Bound::Unbounded,
            after: None,
            limit: 100,
        }
    }
}

impl ObjectQuery {
    /// Every object of the type.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::objects::ObjectQuery::all().field.is_none());
    /// ```
    pub fn all() -> Self {
        Self::default()
    }

    /// Objects whose field has exactly this value.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::objects::{ObjectQuery, ObjectValue};
    /// assert!(ObjectQuery::equal("n", ObjectValue::Integer(1)).field.is_some());
    /// ```
    pub fn equal(field: impl Into<String>, value: ObjectValue) -> Self {
        ObjectQuery {
            field: Some(field.into()),
            lower: Bound::Included(value.clone()),
            upper: Bound::Included(value),
            ..Self::default()
        }
    }

    /// Objects whose field lies between two bounds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::ops::Bound;
    /// use crmkit_core::objects::{ObjectQuery, ObjectValue};
    /// let q = ObjectQuery::range("total", Bound::Included(ObjectValue::Integer(10)), Bound::Unbounded);
    /// assert_eq!(q.field.as_deref(), Some("total"));
    /// ```
    pub fn range(
        field: impl Into<String>,
        lower: Bound<ObjectValue>,
        upper: Bound<ObjectValue>,
    ) -> Self {
        ObjectQuery { field: Some(field.into()), lower, upper, ..Self::default() }
    }

    /// The query of a filter given as `field = value` pairs, the way the CLI and the bindings
    /// take it: an equality, or inclusive `min` / `max` bounds on one field, or none of them
    /// (every object).
    ///
    /// # Errors
    ///
    /// [`Error::Validation`](crate::Error::Validation) when an equality comes with bounds, or
    /// the bounds name two fields.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::ops::Bound;
    /// use crmkit_core::objects::{ObjectQuery, ObjectValue};
    /// let ten = || Some(("total".to_owned(), ObjectValue::Integer(10)));
    /// let q = ObjectQuery::from_filter(None, ten(), None)?;
    /// assert_eq!((q.lower, q.upper), (Bound::Included(ObjectValue::Integer(10)), Bound::Unbounded));
    /// let other = Some(("seats".to_owned(), ObjectValue::Integer(3)));
    /// assert!(ObjectQuery::from_filter(None, ten(), other).is_err());
    /// assert!(ObjectQuery::from_filter(ten(), ten(), None).is_err());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn from_filter(
        equal: Option<(String, ObjectValue)>,
        min: Option<(String, ObjectValue)>,
        max: Option<(String, ObjectValue)>,
    ) -> crate::Result<Self> {
        if let Some((field, value)) = equal {
            if min.is_some() || max.is_some() {
                return Err(crate::Error::validation(
                    field,
                    "use either an equality or min / max, not both",
                ));
            }
            return Ok(ObjectQuery::equal(field, value));
        }
        let field = match (&min, &max) {
            (Some((a, _)), Some((b, _))) if a != b => {
                return Err(crate::Error::validation(
                    format!("{a}/{b}"),
                    format!("min and max must name the same field, not {a} and {b}"),
                ));
            }
            (Some((f, _)), _) | (_, Some((f, _))) => f.clone(),
            (None, None) => return Ok(ObjectQuery::all()),
        };
        let bound = |b: Option<(String, ObjectValue)>| {
            b.map_or(Bound::Unbounded, |(_, v)| Bound::Included(v))
        };
        Ok(ObjectQuery::range(field, bound(min), bound(max)))
    }

    /// Continue after a page.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{RecordCursor, objects::ObjectQuery};
    /// assert!(ObjectQuery::all().after(RecordCursor { key: None, id: "a".into() }).after.is_some());
    /// ```
    pub fn after(mut self, cursor: RecordCursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// Page size (at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::objects::ObjectQuery::all().limit(0).limit, 1);
    /// ```
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit.max(1);
        self
    }
}
