//! User-defined objects (invoices, subscriptions, vehicles...): the records that cross the FFI,
//! the conversions to and from the core's `crmkit::objects` types, and the `Crm` methods.
//!
//! Conversions only: every check (names, field types, required fields, customer links, revisions,
//! indexed fields) is the core's, and fails with its message. Decimals cross as text that keeps
//! its scale (`"49.90"`), dates as `YYYY-MM-DD`, times as instants to the microsecond, customer
//! links as customer ids, as everywhere else in the bindings.

use std::collections::HashMap;
use std::ops::Bound;
use std::time::SystemTime;

use crmkit::objects as core;

use crate::convert::{customer_id, date, decimal, from_time, to_time};
use crate::crm::Crm;
use crate::error::{CrmError, CrmResult, guard};

/// The type of an object field: the custom attribute types, plus a link to a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ObjectFieldType {
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
    /// A UTC timestamp (kept to the microsecond).
    Datetime,
    /// A list of strings (cannot be indexed).
    StringList,
    /// A link to a customer (always indexed, so a customer's objects can be found).
    Customer,
}

impl From<core::ObjectFieldType> for ObjectFieldType {
    fn from(t: core::ObjectFieldType) -> Self {
        use core::ObjectFieldType as T;
        match t {
            T::String => ObjectFieldType::String,
            T::Integer => ObjectFieldType::Integer,
            T::Decimal => ObjectFieldType::Decimal,
            T::Bool => ObjectFieldType::Bool,
            T::Date => ObjectFieldType::Date,
            T::Datetime => ObjectFieldType::Datetime,
            T::StringList => ObjectFieldType::StringList,
            T::Customer => ObjectFieldType::Customer,
        }
    }
}

impl From<ObjectFieldType> for core::ObjectFieldType {
    fn from(t: ObjectFieldType) -> Self {
        use core::ObjectFieldType as T;
        match t {
            ObjectFieldType::String => T::String,
            ObjectFieldType::Integer => T::Integer,
            ObjectFieldType::Decimal => T::Decimal,
            ObjectFieldType::Bool => T::Bool,
            ObjectFieldType::Date => T::Date,
            ObjectFieldType::Datetime => T::Datetime,
            ObjectFieldType::StringList => T::StringList,
            ObjectFieldType::Customer => T::Customer,
        }
    }
}

/// The value of an object field. Decimals are exact, as text that keeps its scale (`"49.90"`);
/// dates are `YYYY-MM-DD`; times are kept to the microsecond; a customer link is a customer id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ObjectValue {
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
        /// The decimal, e.g. `"49.90"` (`.` as the decimal point, scale kept as given).
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
        /// The instant (stored to the microsecond).
        value: SystemTime,
    },
    /// A list of strings.
    StringList {
        /// The strings.
        values: Vec<String>,
    },
    /// A link to a customer.
    Customer {
        /// The customer's id (a UUID).
        customer_id: String,
    },
}

impl From<core::ObjectValue> for ObjectValue {
    fn from(v: core::ObjectValue) -> Self {
        use core::ObjectValue as V;
        match v {
            V::String(value) => ObjectValue::String { value },
            V::Integer(value) => ObjectValue::Integer { value },
            V::Decimal(d) => ObjectValue::Decimal { value: d.to_string() },
            V::Bool(value) => ObjectValue::Bool { value },
            V::Date(d) => ObjectValue::Date { value: d.format("%Y-%m-%d").to_string() },
            V::Datetime(t) => ObjectValue::Datetime { value: to_time(t) },
            V::StringList(values) => ObjectValue::StringList { values },
            V::Customer(id) => ObjectValue::Customer { customer_id: id.to_string() },
        }
    }
}

impl ObjectValue {
    /// The core's value; `field` names the field in errors.
    pub(crate) fn into_core(self, field: &str) -> CrmResult<core::ObjectValue> {
        use core::ObjectValue as V;
        Ok(match self {
            ObjectValue::String { value } => V::String(value),
            ObjectValue::Integer { value } => V::Integer(value),
            ObjectValue::Decimal { value } => V::Decimal(decimal(field, &value)?),
            ObjectValue::Bool { value } => V::Bool(value),
            ObjectValue::Date { value } => V::Date(date(field, &value)?),
            ObjectValue::Datetime { value } => V::Datetime(from_time(field, value)?),
            ObjectValue::StringList { values } => V::StringList(values),
            ObjectValue::Customer { customer_id: id } => V::Customer(customer_id(&id)?),
        })
    }
}

/// Field values as the core's, each named `TYPE.FIELD` in errors.
fn fields_in(
    type_name: &str,
    fields: HashMap<String, ObjectValue>,
) -> CrmResult<std::collections::BTreeMap<String, core::ObjectValue>> {
    fields
        .into_iter()
        .map(|(name, value)| {
            let value = value.into_core(&format!("{type_name}.{name}"))?;
            Ok((name, value))
        })
        .collect()
}

/// A declared field of an object type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct ObjectFieldSpec {
    /// The field name (letters, digits, `_ - .`; at most 64).
    pub name: String,
    /// Its type; values of other types are refused.
    pub field_type: ObjectFieldType,
    /// Every object must have a value.
    #[uniffi(default = false)]
    pub required: bool,
    /// Objects can be queried by it (`objects`). Customer links always are; lists cannot be.
    #[uniffi(default = false)]
    pub indexed: bool,
}

impl From<core::ObjectField> for ObjectFieldSpec {
    fn from(f: core::ObjectField) -> Self {
        let core::ObjectField { name, field_type, required, indexed } = f;
        ObjectFieldSpec { name, field_type: field_type.into(), required, indexed }
    }
}

impl From<ObjectFieldSpec> for core::ObjectField {
    fn from(f: ObjectFieldSpec) -> Self {
        let ObjectFieldSpec { name, field_type, required, indexed } = f;
        core::ObjectField { name, field_type: field_type.into(), required, indexed }
    }
}

/// A stored object type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct ObjectTypeInfo {
    /// The type name.
    pub name: String,
    /// Its fields, in the order declared.
    pub fields: Vec<ObjectFieldSpec>,
    /// 1 when defined, one more with every redefinition that changed it.
    pub revision: u64,
    /// When first defined.
    pub created_at: SystemTime,
    /// When last redefined.
    pub updated_at: SystemTime,
}

impl From<core::ObjectType> for ObjectTypeInfo {
    fn from(t: core::ObjectType) -> Self {
        let core::ObjectType { name, fields, revision, created_at, updated_at } = t;
        ObjectTypeInfo {
            name,
            fields: fields.into_iter().map(Into::into).collect(),
            revision,
            created_at: to_time(created_at),
            updated_at: to_time(updated_at),
        }
    }
}

/// A stored object of a user-defined type.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CrmObject {
    /// Its type's name.
    pub object_type: String,
    /// Its id, unique within the type.
    pub id: String,
    /// 1 when created, one more with every update: pass it as `expectedRevision` to update or
    /// delete only what was read.
    pub revision: u64,
    /// The field values, by field name.
    pub fields: HashMap<String, ObjectValue>,
    /// When created.
    pub created_at: SystemTime,
    /// When last changed.
    pub updated_at: SystemTime,
}

impl From<core::Object> for CrmObject {
    fn from(o: core::Object) -> Self {
        let core::Object { object_type, id, revision, fields, created_at, updated_at } = o;
        CrmObject {
            object_type,
            id,
            revision,
            fields: fields.into_iter().map(|(k, v)| (k, v.into())).collect(),
            created_at: to_time(created_at),
            updated_at: to_time(updated_at),
        }
    }
}

/// What a change did to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ObjectChangeKind {
    /// It was created.
    Created,
    /// It was updated.
    Updated,
    /// It was deleted.
    Deleted,
}

impl From<core::ObjectChangeKind> for ObjectChangeKind {
    fn from(k: core::ObjectChangeKind) -> Self {
        match k {
            core::ObjectChangeKind::Created => ObjectChangeKind::Created,
            core::ObjectChangeKind::Updated => ObjectChangeKind::Updated,
            core::ObjectChangeKind::Deleted => ObjectChangeKind::Deleted,
        }
    }
}

/// One changed field of an audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct ObjectFieldChange {
    /// The field.
    pub field: String,
    /// Its value before (`null`: it had none).
    pub before: Option<ObjectValue>,
    /// Its value after (`null`: removed, or the object deleted).
    pub after: Option<ObjectValue>,
}

/// One audit entry of an object: who changed which fields, when, from what to what.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct ObjectChange {
    /// The type.
    pub object_type: String,
    /// The object's id.
    pub object_id: String,
    /// The object's revision after the change (before it, for a deletion).
    pub revision: u64,
    /// Created, updated or deleted.
    pub kind: ObjectChangeKind,
    /// When.
    pub at: SystemTime,
    /// Who or what made it (the call's `source`; `"crmkit"` when none was given).
    pub actor: String,
    /// The changed fields, by name.
    pub fields: Vec<ObjectFieldChange>,
}

impl From<core::ObjectChange> for ObjectChange {
    fn from(c: core::ObjectChange) -> Self {
        let core::ObjectChange { object_type, object_id, revision, kind, at, actor, fields } = c;
        ObjectChange {
            object_type,
            object_id,
            revision,
            kind: kind.into(),
            at: to_time(at),
            actor,
            fields: fields
                .into_iter()
                .map(|(field, before, after)| ObjectFieldChange {
                    field,
                    before: before.map(Into::into),
                    after: after.map(Into::into),
                })
                .collect(),
        }
    }
}

/// Where a page of objects ended: pass a page's `next` as the query's `after` to read on.
/// Opaque: only meaningful for the same type and the same query.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct ObjectCursor {
    /// The last object's index key (queries by a field only).
    pub key: Option<Vec<u8>>,
    /// The last object's id.
    pub id: String,
}

impl From<crmkit::RecordCursor> for ObjectCursor {
    fn from(c: crmkit::RecordCursor) -> Self {
        let crmkit::RecordCursor { key, id } = c;
        ObjectCursor { key, id }
    }
}

impl From<ObjectCursor> for crmkit::RecordCursor {
    fn from(c: ObjectCursor) -> Self {
        let ObjectCursor { key, id } = c;
        crmkit::RecordCursor { key, id }
    }
}

/// Which objects of a type to list, one page at a time: all of them by id (no `field`), or
/// those whose indexed `field` equals `equal`, or lies between `min` and `max` (both
/// inclusive, either may be left out), by value then id. With a `field` and no value at all:
/// every object that has a value of the field, by value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct ObjectQuery {
    /// The indexed field to filter on (`null`: every object of the type).
    #[uniffi(default = None)]
    pub field: Option<String>,
    /// Only objects whose field has exactly this value (not with `min` / `max`).
    #[uniffi(default = None)]
    pub equal: Option<ObjectValue>,
    /// Only objects whose field is at least this.
    #[uniffi(default = None)]
    pub min: Option<ObjectValue>,
    /// Only objects whose field is at most this.
    #[uniffi(default = None)]
    pub max: Option<ObjectValue>,
    /// Continue after this position: the `next` of the previous page.
    #[uniffi(default = None)]
    pub after: Option<ObjectCursor>,
    /// Page size (at least 1).
    #[uniffi(default = 100)]
    pub limit: u32,
}

impl ObjectQuery {
    pub(crate) fn into_core(self, type_name: &str) -> CrmResult<core::ObjectQuery> {
        let ObjectQuery { field, equal, min, max, after, limit } = self;
        let at = |what: &str| match &field {
            Some(f) => format!("{type_name}.{f}"),
            None => format!("{type_name} query {what}"),
        };
        let value =
            |v: Option<ObjectValue>, what: &str| v.map(|v| v.into_core(&at(what))).transpose();
        let (equal, min, max) = (value(equal, "equal")?, value(min, "min")?, value(max, "max")?);
        let any = equal.is_some() || min.is_some() || max.is_some();
        let mut q = match field {
            None if any => {
                return Err(CrmError::invalid(
                    &format!("{type_name} query"),
                    "name the indexed field that equal / min / max apply to",
                ));
            }
            None => core::ObjectQuery::all(),
            // A field without values: every object that has one, ordered by it.
            Some(field) if !any => {
                core::ObjectQuery::range(field, Bound::Unbounded, Bound::Unbounded)
            }
            Some(field) => {
                let on_field = |v: Option<core::ObjectValue>| v.map(|v| (field.clone(), v));
                core::ObjectQuery::from_filter(on_field(equal), on_field(min), on_field(max))?
            }
        }
        .limit(limit as usize);
        if let Some(after) = after {
            q = q.after(after.into());
        }
        Ok(q)
    }
}

/// One page of objects.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ObjectPage {
    /// The objects.
    pub items: Vec<CrmObject>,
    /// Pass as the query's `after` for the next page; `null` on the last page.
    pub next: Option<ObjectCursor>,
}

impl From<crmkit::Page<core::Object, crmkit::RecordCursor>> for ObjectPage {
    fn from(p: crmkit::Page<core::Object, crmkit::RecordCursor>) -> Self {
        let crmkit::Page { items, next } = p;
        ObjectPage {
            items: items.into_iter().map(Into::into).collect(),
            next: next.map(Into::into),
        }
    }
}

#[uniffi::export]
impl Crm {
    /// Declares an object type, or redefines one. A redefinition may add fields (a required one
    /// only while the type has no objects), make a field required when every object has it, and
    /// index or unindex fields; a field's type cannot change (`Conflict`) and a field cannot be
    /// removed (`Validation`). Defining the same fields again changes nothing.
    pub fn define_object_type(
        &self,
        name: String,
        fields: Vec<ObjectFieldSpec>,
    ) -> CrmResult<ObjectTypeInfo> {
        guard(|| {
            let def =
                core::ObjectTypeDef { name, fields: fields.into_iter().map(Into::into).collect() };
            Ok(self.inner.define_object_type(def)?.into())
        })
    }

    /// Every object type, by name.
    pub fn object_types(&self) -> CrmResult<Vec<ObjectTypeInfo>> {
        guard(|| Ok(self.inner.object_types()?.into_iter().map(Into::into).collect()))
    }

    /// An object type by name, or `null`.
    pub fn object_type(&self, name: String) -> CrmResult<Option<ObjectTypeInfo>> {
        guard(|| Ok(self.inner.object_type(&name)?.map(Into::into)))
    }

    /// Creates an object of a type, with an audit entry and an `object_created` event. `id`:
    /// letters, digits and `_ - . : / @` (at most 100); a fresh UUID when `null`. Fails, writing
    /// nothing, on an unknown type or linked customer (`NotFound`), an undeclared field, a value
    /// of the wrong type or a missing required field (`Validation`), or a taken id (`Conflict`).
    #[uniffi::method(default(id = None, source = None))]
    pub fn create_object(
        &self,
        object_type: String,
        fields: HashMap<String, ObjectValue>,
        id: Option<String>,
        source: Option<String>,
    ) -> CrmResult<CrmObject> {
        guard(|| {
            let new = core::NewObject { id, fields: fields_in(&object_type, fields)?, source };
            Ok(self.inner.create_object(&object_type, new)?.into())
        })
    }

    /// Sets and removes fields of an object, with an audit entry and an `object_updated` event
    /// (an update that changes nothing writes nothing). With `expectedRevision`, fails with
    /// `Conflict` if the stored object has another revision (it changed since it was read).
    #[uniffi::method(default(unset = [], expected_revision = None, source = None, set))]
    pub fn update_object(
        &self,
        object_type: String,
        id: String,
        set: HashMap<String, ObjectValue>,
        unset: Vec<String>,
        expected_revision: Option<u64>,
        source: Option<String>,
    ) -> CrmResult<CrmObject> {
        guard(|| {
            let update = core::ObjectUpdate {
                set: fields_in(&object_type, set)?,
                unset: unset.into_iter().collect(),
                expected_revision,
                source,
            };
            Ok(self.inner.update_object(&object_type, &id, update)?.into())
        })
    }

    /// Deletes an object, with an `object_deleted` event; its history stays. Returns what was
    /// deleted. `NotFound` if there is no such object; with `expectedRevision`, `Conflict` if the
    /// stored object has another revision.
    #[uniffi::method(default(expected_revision = None))]
    pub fn delete_object(
        &self,
        object_type: String,
        id: String,
        expected_revision: Option<u64>,
    ) -> CrmResult<CrmObject> {
        guard(|| Ok(self.inner.delete_object(&object_type, &id, expected_revision)?.into()))
    }

    /// An object by type and id, or `null` (Kotlin: `getObject`).
    pub fn object(&self, object_type: String, id: String) -> CrmResult<Option<CrmObject>> {
        guard(|| Ok(self.inner.object(&object_type, &id)?.map(Into::into)))
    }

    /// One page of a type's objects (see `ObjectQuery`). `NotFound` for an unknown type;
    /// `Validation` for a field that is not declared or not indexed, or a value of another type
    /// than the field's.
    #[uniffi::method(default(query))]
    pub fn objects(&self, object_type: String, query: ObjectQuery) -> CrmResult<ObjectPage> {
        guard(|| {
            let query = query.into_core(&object_type)?;
            Ok(self.inner.objects(&object_type, &query)?.into())
        })
    }

    /// An object's audit history, oldest first; it outlives the object.
    pub fn object_history(&self, object_type: String, id: String) -> CrmResult<Vec<ObjectChange>> {
        guard(|| {
            Ok(self.inner.object_history(&object_type, &id)?.into_iter().map(Into::into).collect())
        })
    }

    /// Field values from text, as a form or a file gives them: each parsed as its declared type
    /// (decimals, `YYYY-MM-DD`, RFC 3339 times, `true` / `false`, lists separated by `;`), and
    /// a customer link from a customer id or an identity key (`email:ada@example.org`, or a bare
    /// e-mail address). Pass the result to `createObject` or `updateObject`.
    pub fn parse_object_fields(
        &self,
        object_type: String,
        texts: HashMap<String, String>,
    ) -> CrmResult<HashMap<String, ObjectValue>> {
        guard(|| {
            let pairs: Vec<(String, String)> = texts.into_iter().collect();
            Ok(self
                .inner
                .parse_object_fields(&object_type, &pairs)?
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::{
        CrmListener, CustomerKind, Event, EventPayload, LifecycleStage, ListenerError, NewCustomer,
    };

    fn spec(name: &str, field_type: ObjectFieldType, indexed: bool) -> ObjectFieldSpec {
        ObjectFieldSpec { name: name.into(), field_type, required: false, indexed }
    }

    fn text(value: &str) -> ObjectValue {
        ObjectValue::String { value: value.into() }
    }

    fn int(value: i64) -> ObjectValue {
        ObjectValue::Integer { value }
    }

    fn dec(value: &str) -> ObjectValue {
        ObjectValue::Decimal { value: value.into() }
    }

    fn ada(crm: &Crm) -> CrmResult<String> {
        let c = crm.create_customer(NewCustomer {
            name: "Ada".into(),
            kind: CustomerKind::Person,
            stage: LifecycleStage::Lead,
            identities: vec![crate::IdentityKey {
                kind: crate::IdentityKind::Email,
                value: "ada@example.org".into(),
            }],
            tags: vec![],
            attributes: HashMap::new(),
            consents: vec![],
            source: "test".into(),
            id: None,
        })?;
        Ok(c.id)
    }

    /// 2024-05-01T09:30:00.123456Z, and the same plus 789 ns (not kept).
    fn instants() -> (SystemTime, SystemTime) {
        let t = UNIX_EPOCH + Duration::from_micros(1_714_555_800_123_456);
        (t, t + Duration::from_nanos(789))
    }

    fn every_type(crm: &Crm) -> CrmResult<ObjectTypeInfo> {
        crm.define_object_type(
            "invoice".into(),
            vec![
                ObjectFieldSpec { required: true, ..spec("number", ObjectFieldType::String, true) },
                spec("seats", ObjectFieldType::Integer, true),
                spec("total", ObjectFieldType::Decimal, true),
                spec("paid", ObjectFieldType::Bool, false),
                spec("due", ObjectFieldType::Date, true),
                spec("sent_at", ObjectFieldType::Datetime, false),
                spec("tags", ObjectFieldType::StringList, false),
                spec("customer", ObjectFieldType::Customer, false),
            ],
        )
    }

    #[test]
    fn every_field_type_round_trips_exactly() -> CrmResult<()> {
        let crm = Crm::open_in_memory()?;
        let t = every_type(&crm)?;
        assert_eq!((t.name.as_str(), t.revision, t.fields.len()), ("invoice", 1, 8));
        assert!(t.fields[7].indexed, "a customer link is always indexed");
        assert_eq!(crm.object_type("invoice".into())?, Some(t.clone()));
        assert_eq!(crm.object_types()?, vec![t]);
        assert_eq!(crm.object_type("nope".into())?, None);

        let customer = ada(&crm)?;
        let (sent, with_nanos) = instants();
        let fields = HashMap::from([
            ("number".to_owned(), text("INV-1")),
            ("seats".to_owned(), int(-3)),
            ("total".to_owned(), dec("49.90")),
            ("paid".to_owned(), ObjectValue::Bool { value: false }),
            ("due".to_owned(), ObjectValue::Date { value: "2024-06-30".into() }),
            ("sent_at".to_owned(), ObjectValue::Datetime { value: with_nanos }),
            ("tags".to_owned(), ObjectValue::StringList { values: vec!["b".into(), "a".into()] }),
            ("customer".to_owned(), ObjectValue::Customer { customer_id: customer.clone() }),
        ]);
        let created =
            crm.create_object("invoice".into(), fields.clone(), Some("INV-1".into()), None)?;
        assert_eq!(
            (created.object_type.as_str(), created.id.as_str(), created.revision),
            ("invoice", "INV-1", 1)
        );
        let mut expected = fields;
        expected.insert("sent_at".into(), ObjectValue::Datetime { value: sent });
        assert_eq!(created.fields, expected, "exact, times to the microsecond");
        assert_eq!(created.fields["total"], dec("49.90"), "the decimal keeps its scale");
        assert_eq!(crm.object("invoice".into(), "INV-1".into())?, Some(created.clone()));
        assert_eq!(crm.object("invoice".into(), "INV-2".into())?, None);

        let generated = crm.create_object(
            "invoice".into(),
            HashMap::from([("number".to_owned(), text("INV-2"))]),
            None,
            None,
        )?;
        assert_eq!(generated.id.len(), 36, "a UUID: {}", generated.id);
        Ok(())
    }

    #[test]
    fn bad_values_are_the_cores_errors() -> CrmResult<()> {
        let crm = Crm::open_in_memory()?;
        every_type(&crm)?;
        let create = |fields: Vec<(&str, ObjectValue)>| {
            let fields = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            crm.create_object("invoice".into(), fields, None, None)
        };
        let err = create(vec![("number", int(1))]);
        assert!(
            matches!(&err, Err(CrmError::Validation { message }) if message.contains("invoice.number")),
            "{err:?}"
        );
        let err = create(vec![("seats", int(1))]);
        assert_eq!(
            err,
            Err(CrmError::Validation { message: "invalid invoice.number: is required".into() })
        );
        let err = create(vec![("number", text("X")), ("total", dec("12,50"))]);
        assert!(
            matches!(&err, Err(CrmError::Validation { message }) if message.contains("invoice.total")),
            "{err:?}"
        );
        let err = create(vec![
            ("number", text("X")),
            ("due", ObjectValue::Date { value: "30/06/2024".into() }),
        ]);
        assert!(matches!(err, Err(CrmError::Validation { .. })), "{err:?}");
        let nobody =
            ObjectValue::Customer { customer_id: "0190a8e2-7f3c-7000-8000-000000000000".into() };
        let err = create(vec![("number", text("X")), ("customer", nobody)]);
        assert!(matches!(err, Err(CrmError::NotFound { .. })), "{err:?}");
        let err = crm.create_object("nope".into(), HashMap::new(), None, None);
        assert!(matches!(err, Err(CrmError::NotFound { .. })), "{err:?}");
        create(vec![("number", text("X"))]).map(|_| ())?;
        let taken = crm.create_object(
            "invoice".into(),
            HashMap::from([("number".to_owned(), text("Y"))]),
            Some("a b".into()),
            None,
        );
        assert!(matches!(taken, Err(CrmError::Validation { .. })), "a bad id: {taken:?}");
        let list =
            crm.define_object_type("x".into(), vec![spec("l", ObjectFieldType::StringList, true)]);
        assert!(matches!(list, Err(CrmError::Validation { .. })), "an indexed list: {list:?}");
        let changed = crm.define_object_type(
            "invoice".into(),
            vec![spec("number", ObjectFieldType::Integer, true)],
        );
        assert!(matches!(changed, Err(CrmError::Conflict { .. })), "{changed:?}");
        Ok(())
    }

    #[test]
    fn queries_by_equality_and_range_page_with_the_cursor() -> CrmResult<()> {
        let crm = Crm::open_in_memory()?;
        every_type(&crm)?;
        for (id, seats, total) in [
            ("a", 5, "10.00"),
            ("b", 50, "99.5"),
            ("c", 10, "20"),
            ("d", 10, "7.25"),
            ("e", 30, "1"),
        ] {
            let fields = HashMap::from([
                ("number".to_owned(), text(&id.to_uppercase())),
                ("seats".to_owned(), int(seats)),
                ("total".to_owned(), dec(total)),
            ]);
            crm.create_object("invoice".into(), fields, Some(id.into()), None)?;
        }
        let ids = |p: &ObjectPage| p.items.iter().map(|o| o.id.clone()).collect::<Vec<_>>();
        let all = crm.objects("invoice".into(), ObjectQuery { limit: 100, ..query() })?;
        assert_eq!(
            (ids(&all), all.next),
            (vec!["a", "b", "c", "d", "e"].into_iter().map(String::from).collect(), None)
        );

        let equal = ObjectQuery { field: Some("seats".into()), equal: Some(int(10)), ..query() };
        assert_eq!(ids(&crm.objects("invoice".into(), equal)?), ["c", "d"]);

        let range = ObjectQuery {
            field: Some("seats".into()),
            min: Some(int(10)),
            max: Some(int(30)),
            limit: 2,
            ..query()
        };
        let first = crm.objects("invoice".into(), range.clone())?;
        assert_eq!(ids(&first), ["c", "d"]);
        let next = first.next.clone();
        assert!(next.as_ref().is_some_and(|c| c.key.is_some()), "{next:?}");
        let second = crm.objects("invoice".into(), ObjectQuery { after: next, ..range.clone() })?;
        assert_eq!((ids(&second), second.next), (vec!["e".to_owned()], None));

        let cheap = ObjectQuery { field: Some("total".into()), max: Some(dec("10")), ..query() };
        assert_eq!(
            ids(&crm.objects("invoice".into(), cheap)?),
            ["e", "d", "a"],
            "decimals compare by value"
        );
        let by_total = ObjectQuery { field: Some("total".into()), ..query() };
        assert_eq!(ids(&crm.objects("invoice".into(), by_total)?), ["e", "d", "a", "c", "b"]);

        for bad in [
            ObjectQuery { equal: Some(int(1)), ..query() },
            ObjectQuery {
                field: Some("seats".into()),
                equal: Some(int(1)),
                min: Some(int(0)),
                ..query()
            },
            ObjectQuery {
                field: Some("paid".into()),
                equal: Some(ObjectValue::Bool { value: true }),
                ..query()
            },
            ObjectQuery { field: Some("seats".into()), equal: Some(text("ten")), ..query() },
        ] {
            let err = crm.objects("invoice".into(), bad.clone());
            assert!(matches!(err, Err(CrmError::Validation { .. })), "{bad:?}: {err:?}");
        }
        assert!(matches!(crm.objects("nope".into(), query()), Err(CrmError::NotFound { .. })));
        Ok(())
    }

    fn query() -> ObjectQuery {
        ObjectQuery { field: None, equal: None, min: None, max: None, after: None, limit: 100 }
    }

    #[derive(Default)]
    struct Recording(Mutex<Vec<Event>>);
    impl CrmListener for Recording {
        fn on_event(&self, event: Event) -> Result<(), ListenerError> {
            if let Ok(mut events) = self.0.lock() {
                events.push(event);
            }
            Ok(())
        }
    }

    #[test]
    fn updates_conflicts_deletion_history_and_events() -> CrmResult<()> {
        let crm = Crm::open_in_memory()?;
        every_type(&crm)?;
        let customer = ada(&crm)?;
        let recording = Arc::new(Recording::default());
        let handle = crm.add_listener(recording.clone());
        let fields = HashMap::from([
            ("number".to_owned(), text("INV-1")),
            ("paid".to_owned(), ObjectValue::Bool { value: false }),
            ("customer".to_owned(), ObjectValue::Customer { customer_id: customer.clone() }),
        ]);
        let created =
            crm.create_object("invoice".into(), fields, Some("INV-1".into()), Some("shop".into()))?;
        let set = HashMap::from([
            ("paid".to_owned(), ObjectValue::Bool { value: true }),
            ("total".to_owned(), dec("0.50")),
        ]);
        let updated = crm.update_object(
            "invoice".into(),
            "INV-1".into(),
            set.clone(),
            vec![],
            Some(1),
            Some("billing".into()),
        )?;
        assert_eq!(updated.revision, 2);
        assert_eq!(updated.fields["total"], dec("0.50"));

        let stale = crm.update_object(
            "invoice".into(),
            "INV-1".into(),
            HashMap::new(),
            vec!["paid".into()],
            Some(1),
            None,
        );
        let Err(CrmError::Conflict { message }) = stale else {
            return Err(CrmError::invalid("stale", format!("{stale:?}")));
        };
        assert!(message.contains("INV-1") && message.contains("changed concurrently"), "{message}");
        assert!(matches!(
            crm.delete_object("invoice".into(), "INV-1".into(), Some(1)),
            Err(CrmError::Conflict { .. })
        ));
        let required = crm.update_object(
            "invoice".into(),
            "INV-1".into(),
            HashMap::new(),
            vec!["number".into()],
            None,
            None,
        );
        assert!(matches!(required, Err(CrmError::Validation { .. })), "{required:?}");
        let same = crm.update_object("invoice".into(), "INV-1".into(), set, vec![], None, None)?;
        assert_eq!(same, updated, "a change that changes nothing writes nothing");

        let unset = crm.update_object(
            "invoice".into(),
            "INV-1".into(),
            HashMap::new(),
            vec!["total".into()],
            Some(2),
            None,
        )?;
        assert!(!unset.fields.contains_key("total"));
        let deleted = crm.delete_object("invoice".into(), "INV-1".into(), Some(3))?;
        assert_eq!(deleted, unset);
        assert_eq!(crm.object("invoice".into(), "INV-1".into())?, None);
        assert!(matches!(
            crm.delete_object("invoice".into(), "INV-1".into(), None),
            Err(CrmError::NotFound { .. })
        ));

        let history = crm.object_history("invoice".into(), "INV-1".into())?;
        let kinds: Vec<_> =
            history.iter().map(|c| (c.kind, c.revision, c.actor.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (ObjectChangeKind::Created, 1, "shop"),
                (ObjectChangeKind::Updated, 2, "billing"),
                (ObjectChangeKind::Updated, 3, "crmkit"),
                (ObjectChangeKind::Deleted, 3, "crmkit"),
            ]
        );
        assert_eq!(
            history[1].fields,
            [
                ObjectFieldChange {
                    field: "paid".into(),
                    before: Some(ObjectValue::Bool { value: false }),
                    after: Some(ObjectValue::Bool { value: true })
                },
                ObjectFieldChange { field: "total".into(), before: None, after: Some(dec("0.50")) },
            ]
        );
        assert_eq!(history[0].object_type, "invoice");
        assert_eq!(history[0].object_id, "INV-1");

        let events = recording.0.lock().map(|e| e.clone()).unwrap_or_default();
        let objects: Vec<_> =
            events.iter().filter(|e| e.type_name.starts_with("object_")).collect();
        assert_eq!(objects.len(), 4, "{events:?}");
        assert_eq!(objects[0].payload, EventPayload::ObjectCreated { crm_object: created.clone() });
        assert_eq!(
            objects[1].payload,
            EventPayload::ObjectUpdated { before: created, after: updated }
        );
        assert_eq!(objects[3].payload, EventPayload::ObjectDeleted { crm_object: deleted });
        assert_eq!(objects[3].type_name, "object_deleted");
        assert!(objects.iter().all(|e| e.customer_id.as_deref() == Some(customer.as_str())));
        assert_eq!(handle.failures(), 0);
        Ok(())
    }

    #[test]
    fn fields_parse_from_text_with_customer_links_by_key() -> CrmResult<()> {
        let crm = Crm::open_in_memory()?;
        every_type(&crm)?;
        let customer = ada(&crm)?;
        let texts = HashMap::from([
            ("customer".to_owned(), "ada@example.org".to_owned()),
            ("total".to_owned(), "12.50".to_owned()),
            ("tags".to_owned(), "a; b".to_owned()),
        ]);
        let parsed = crm.parse_object_fields("invoice".into(), texts)?;
        assert_eq!(parsed["customer"], ObjectValue::Customer { customer_id: customer });
        assert_eq!(parsed["total"], dec("12.50"));
        assert_eq!(
            parsed["tags"],
            ObjectValue::StringList { values: vec!["a".into(), "b".into()] }
        );
        let bad = crm.parse_object_fields(
            "invoice".into(),
            HashMap::from([("seats".to_owned(), "x".to_owned())]),
        );
        assert!(matches!(bad, Err(CrmError::Validation { .. })), "{bad:?}");
        Ok(())
    }
}
