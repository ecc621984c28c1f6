//! `Crm`'s object methods: each reads and writes inside one store write, so the type, the
//! stored revision and the customer links it checks are the ones it commits against.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::types::{
    NewObject, Object, ObjectChange, ObjectChangeKind, ObjectQuery, ObjectType, ObjectTypeDef,
    ObjectUpdate,
};
use super::value::{ObjectFieldType, ObjectValue};
use crate::automation::{EventPayload, NewEvent};
use crate::crm::{Crm, validate_name};
use crate::error::{Error, Result};
use crate::store::{
    Expected, IndexRange, IndexValue, NewRecord, Page, Record, RecordCursor, RecordQuery, StoreExt,
    WriteBatch, WriteOp,
};

/// The record kind of object types.
const TYPE_KIND: &str = "object_type";
/// The record kind of object changes (audit entries).
const CHANGE_KIND: &str = "object_change";
/// The longest object id.
const MAX_OBJECT_ID: usize = 100;
/// The actor of changes that name none.
const DEFAULT_ACTOR: &str = "crmkit";

/// The record kind of a type's objects.
fn object_kind(type_name: &str) -> String {
    format!("object:{type_name}")
}

/// What an object's record body holds (id and revision are the record's).
#[derive(Serialize, Deserialize)]
struct ObjectBody {
    fields: BTreeMap<String, ObjectValue>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn object_from(type_name: &str, record: Record) -> Result<Object> {
    let body: ObjectBody = record.decode()?;
    Ok(Object {
        object_type: type_name.to_owned(),
        id: record.id,
        revision: record.revision,
        fields: body.fields,
        created_at: body.created_at,
        updated_at: body.updated_at,
    })
}

fn type_from(record: Record) -> Result<ObjectType> {
    let mut t: ObjectType = record.decode()?;
    t.revision = record.revision;
    Ok(t)
}

/// The record of an object: its body, and an index entry per indexed field with a value.
fn object_record(t: &ObjectType, o: &Object) -> NewRecord {
    let body = serde_json::json!(ObjectBody {
        fields: o.fields.clone(),
        created_at: o.created_at,
        updated_at: o.updated_at,
    });
    let mut record = NewRecord::new(object_kind(&t.name), o.id.clone(), body);
    for field in t.fields.iter().filter(|f| f.indexed) {
        if let Some(key) = o.fields.get(&field.name).and_then(ObjectValue::index_value) {
            record = record.index(field.name.clone(), key);
        }
    }
    record
}

fn change_record(change: &ObjectChange) -> NewRecord {
    let object = format!("{}/{}", change.object_type, change.object_id);
    NewRecord::new(CHANGE_KIND, uuid::Uuid::now_v7().to_string(), serde_json::json!(change))
        .index("object", IndexValue::Text(object))
}

fn unknown_type(name: &str) -> Error {
    Error::NotFound { entity: "object type", key: name.to_owned() }
}

fn unknown_object(type_name: &str, id: &str) -> Error {
    Error::NotFound { entity: "object", key: format!("{type_name} {id}") }
}

fn check_object_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_OBJECT_ID
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:/@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            "object id",
            format!("{id:?}: use 1 to {MAX_OBJECT_ID} letters, digits, _ - . : / @"),
        ))
    }
}

fn check_expected(t: &str, id: &str, expected: Option<u64>, found: u64) -> Result<()> {
    match expected {
        Some(e) if e != found => Err(Error::RecordConflict {
            kind: object_kind(t),
            id: id.to_owned(),
            expected: Some(e),
            found: Some(found),
        }),
        _ => Ok(()),
    }
}

/// One event about an object, addressed to the first customer it links to.
fn object_event(at: DateTime<Utc>, object: &Object, payload: EventPayload) -> WriteOp {
    WriteOp::Emit(NewEvent { at, customer: object.customers().first().copied(), payload })
}

/// The changed fields between two versions, in name order.
fn field_changes(
    old: &BTreeMap<String, ObjectValue>,
    new: &BTreeMap<String, ObjectValue>,
) -> Vec<(String, Option<ObjectValue>, Option<ObjectValue>)> {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter(|n| old.get(*n) != new.get(*n))
        .map(|n| (n.clone(), old.get(n).cloned(), new.get(n).cloned()))
        .collect()
}

impl Crm {
    /// Declares an object type, or redefines one: a redefinition may add fields (a required one
    /// only while the type has no objects), make a field required when every object has it, and
    /// index or unindex fields (objects are re-indexed in the same batch, which counts as a
    /// write of each); a field's type cannot change and a field cannot be removed. Defining the
    /// same fields again writes nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] for a bad name, a repeated field, an indexed list or a change the
    /// rules above refuse; [`Error::FieldTypeConflict`] for a changed field type.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, ErrorKind, objects::{ObjectField, ObjectFieldType, ObjectTypeDef}};
    /// let crm = Crm::in_memory();
    /// let def = ObjectTypeDef::new("vehicle").field(ObjectField::new("plate", ObjectFieldType::String));
    /// crm.define_object_type(def.clone())?;
    /// let wider = def.field(ObjectField::new("seats", ObjectFieldType::Integer).indexed());
    /// assert_eq!(crm.define_object_type(wider)?.revision, 2);
    /// let changed = ObjectTypeDef::new("vehicle").field(ObjectField::new("plate", ObjectFieldType::Integer))
    ///     .field(ObjectField::new("seats", ObjectFieldType::Integer));
    /// assert_eq!(crm.define_object_type(changed).unwrap_err().kind(), ErrorKind::Conflict);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn define_object_type(&self, def: ObjectTypeDef) -> Result<ObjectType> {
        validate_name("object type", &def.name)?;
        let mut seen = BTreeSet::new();
        let mut fields = def.fields;
        for f in &mut fields {
            validate_name(&format!("{}.field", def.name), &f.name)?;
            if !seen.insert(f.name.clone()) {
                return Err(Error::validation(
                    format!("{}.{}", def.name, f.name),
                    "is declared twice",
                ));
            }
            if f.field_type == ObjectFieldType::Customer {
                f.indexed = true;
            }
            if f.indexed && !f.field_type.indexable() {
                return Err(Error::validation(
                    format!("{}.{}", def.name, f.name),
                    format!("a {} field cannot be indexed", f.field_type),
                ));
            }
        }
        let now = self.now();
        let (_, t) = self.write_with(|| {
            let stored = self.store.record(TYPE_KIND, &def.name)?.map(type_from).transpose()?;
            let mut next = ObjectType {
                name: def.name.clone(),
                fields: fields.clone(),
                revision: 1,
                created_at: now,
                updated_at: now,
            };
            let mut batch = WriteBatch::new();
            let expected = match &stored {
                None => Expected::Absent,
                Some(old) if old.fields == next.fields => return Ok((batch, old.clone())),
                Some(old) => {
                    next.created_at = old.created_at;
                    next.revision = old.revision + 1;
                    self.redefinition(old, &next, &mut batch)?;
                    Expected::Revision(old.revision)
                }
            };
            let record = NewRecord::new(TYPE_KIND, next.name.clone(), serde_json::json!(next));
            batch.push(WriteOp::PutRecord { record, expected });
            Ok((batch, next))
        })?;
        Ok(t)
    }

    /// Checks a redefinition against the stored objects, and re-indexes them if needed.
    fn redefinition(
        &self,
        old: &ObjectType,
        next: &ObjectType,
        batch: &mut WriteBatch,
    ) -> Result<()> {
        let at = |f: &str| format!("{}.{f}", next.name);
        for f in &old.fields {
            let Some(n) = next.field(&f.name) else {
                return Err(Error::validation(
                    at(&f.name),
                    "cannot be removed: objects keep their values (declare it again)",
                ));
            };
            if n.field_type != f.field_type {
                return Err(Error::FieldTypeConflict {
                    name: at(&f.name),
                    existing: f.field_type.to_string(),
                    requested: n.field_type.to_string(),
                });
            }
        }
        let newly_required: Vec<&str> = next
            .fields
            .iter()
            .filter(|n| n.required && old.field(&n.name).is_none_or(|o| !o.required))
            .map(|n| n.name.as_str())
            .collect();
        let indexes = |t: &ObjectType| -> Vec<String> {
            t.fields.iter().filter(|f| f.indexed).map(|f| f.name.clone()).collect()
        };
        let reindex = indexes(old) != indexes(next);
        if newly_required.is_empty() && !reindex {
            return Ok(());
        }
        let objects =
            self.store.all_records(RecordQuery::kind(object_kind(&next.name)).limit(1000))?;
        for record in objects {
            let revision = record.revision;
            let object = object_from(&next.name, record)?;
            if let Some(missing) = newly_required.iter().find(|f| !object.fields.contains_key(**f))
            {
                return Err(Error::validation(
                    at(missing),
                    format!("cannot be required: object {} has no value", object.id),
                ));
            }
            if reindex {
                let record = object_record(next, &object);
                batch.push(WriteOp::PutRecord { record, expected: Expected::Revision(revision) });
            }
        }
        Ok(())
    }

    /// An object type by name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::Crm::in_memory().object_type("nope")?.is_none());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn object_type(&self, name: &str) -> Result<Option<ObjectType>> {
        self.store.record(TYPE_KIND, name)?.map(type_from).transpose()
    }

    /// Every object type, by name.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, objects::ObjectTypeDef};
    /// let crm = Crm::in_memory();
    /// crm.define_object_type(ObjectTypeDef::new("b"))?;
    /// crm.define_object_type(ObjectTypeDef::new("a"))?;
    /// let names: Vec<String> = crm.object_types()?.into_iter().map(|t| t.name).collect();
    /// assert_eq!(names, ["a", "b"]);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn object_types(&self) -> Result<Vec<ObjectType>> {
        self.store.all_records(RecordQuery::kind(TYPE_KIND))?.into_iter().map(type_from).collect()
    }

    fn require_type(&self, name: &str) -> Result<ObjectType> {
        self.object_type(name)?.ok_or_else(|| unknown_type(name))
    }

    /// Checks field values against the type: declared, of the declared type, linking to
    /// customers that exist, and every required field present.
    fn check_fields(
        &self,
        t: &ObjectType,
        fields: &mut BTreeMap<String, ObjectValue>,
    ) -> Result<()> {
        for (name, value) in fields.iter_mut() {
            let at = format!("{}.{name}", t.name);
            let field = t.field(name).ok_or_else(|| {
                Error::validation(
                    &at,
                    "is not a declared field of the type (redefine the type to add it)",
                )
            })?;
            if value.field_type() != field.field_type {
                return Err(Error::validation(
                    at,
                    format!(
                        "expected a {}, got a {} ({value})",
                        field.field_type,
                        value.field_type()
                    ),
                ));
            }
            if let ObjectValue::Customer(c) = value
                && self.store.customer(*c)?.is_none()
            {
                return Err(Error::NotFound { entity: "customer", key: c.to_string() });
            }
            *value = std::mem::replace(value, ObjectValue::Bool(false)).normalised();
        }
        if let Some(missing) = t.fields.iter().find(|f| f.required && !fields.contains_key(&f.name))
        {
            return Err(Error::validation(format!("{}.{}", t.name, missing.name), "is required"));
        }
        Ok(())
    }

    /// Creates an object, with its audit entry and an `object_created` event.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown type or linked customer; [`Error::Validation`] for an
    /// undeclared field, a value of the wrong type, a missing required field or a bad id;
    /// [`Error::AlreadyExists`] when the id is taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, ErrorKind, objects::*};
    /// let crm = Crm::in_memory();
    /// crm.define_object_type(ObjectTypeDef::new("plan").field(ObjectField::new("seats", ObjectFieldType::Integer).required()))?;
    /// let p = crm.create_object("plan", NewObject::new().id("pro").set("seats", ObjectValue::Integer(5)))?;
    /// assert_eq!(p.revision, 1);
    /// let bad = crm.create_object("plan", NewObject::new().set("seats", ObjectValue::String("five".into())));
    /// assert_eq!(bad.unwrap_err().kind(), ErrorKind::Validation);
    /// assert_eq!(crm.create_object("plan", NewObject::new()).unwrap_err().to_string(), "invalid plan.seats: is required");
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn create_object(&self, type_name: &str, new: NewObject) -> Result<Object> {
        let id = match new.id {
            Some(id) => {
                check_object_id(&id)?;
                id
            }
            None => uuid::Uuid::now_v7().to_string(),
        };
        let now = self.now();
        let actor = new.source.unwrap_or_else(|| DEFAULT_ACTOR.to_owned());
        let (_, object) = self.write_with(|| {
            let t = self.require_type(type_name)?;
            let mut fields = new.fields.clone();
            self.check_fields(&t, &mut fields)?;
            if self.store.record(&object_kind(type_name), &id)?.is_some() {
                return Err(Error::AlreadyExists {
                    entity: "object",
                    key: format!("{type_name} {id}"),
                });
            }
            let object = Object {
                object_type: t.name.clone(),
                id: id.clone(),
                revision: 1,
                fields,
                created_at: now,
                updated_at: now,
            };
            let change = ObjectChange {
                object_type: t.name.clone(),
                object_id: id.clone(),
                revision: 1,
                kind: ObjectChangeKind::Created,
                at: now,
                actor: actor.clone(),
                fields: field_changes(&BTreeMap::new(), &object.fields),
            };
            let mut batch = WriteBatch::new();
            batch.push(WriteOp::PutRecord {
                record: object_record(&t, &object),
                expected: Expected::Absent,
            });
            batch.push(WriteOp::PutRecord {
                record: change_record(&change),
                expected: Expected::Absent,
            });
            batch.push(object_event(
                now,
                &object,
                EventPayload::ObjectCreated { object: Box::new(object.clone()) },
            ));
            Ok((batch, object))
        })?;
        Ok(object)
    }

    /// Changes an object's fields, with an audit entry and an `object_updated` event (nothing is
    /// written when nothing changes).
    ///
    /// # Errors
    ///
    /// As [`Crm::create_object`], [`Error::Validation`] for unsetting a required field, and
    /// [`Error::RecordConflict`] when the update expects another revision than the stored one.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, ErrorKind, objects::*};
    /// let crm = Crm::in_memory();
    /// crm.define_object_type(ObjectTypeDef::new("plan").field(ObjectField::new("seats", ObjectFieldType::Integer)))?;
    /// crm.create_object("plan", NewObject::new().id("pro").set("seats", ObjectValue::Integer(5)))?;
    /// let p = crm.update_object("plan", "pro", ObjectUpdate::new().set("seats", ObjectValue::Integer(8)).expect_revision(1))?;
    /// assert_eq!((p.revision, p.fields["seats"].clone()), (2, ObjectValue::Integer(8)));
    /// let stale = crm.update_object("plan", "pro", ObjectUpdate::new().unset("seats").expect_revision(1));
    /// assert_eq!(stale.unwrap_err().kind(), ErrorKind::Conflict);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn update_object(&self, type_name: &str, id: &str, update: ObjectUpdate) -> Result<Object> {
        let now = self.now();
        let actor = update.source.clone().unwrap_or_else(|| DEFAULT_ACTOR.to_owned());
        let (_, object) = self.write_with(|| {
            let t = self.require_type(type_name)?;
            let before =
                self.object(type_name, id)?.ok_or_else(|| unknown_object(type_name, id))?;
            check_expected(type_name, id, update.expected_revision, before.revision)?;
            let mut fields = before.fields.clone();
            for name in &update.unset {
                if t.field(name).is_some_and(|f| f.required) {
                    return Err(Error::validation(
                        format!("{type_name}.{name}"),
                        "is required and cannot be unset",
                    ));
                }
                fields.remove(name);
            }
            fields.extend(update.set.clone());
            self.check_fields(&t, &mut fields)?;
            let changes = field_changes(&before.fields, &fields);
            let mut batch = WriteBatch::new();
            if changes.is_empty() {
                return Ok((batch, before));
            }
            let after =
                Object { revision: before.revision + 1, fields, updated_at: now, ..before.clone() };
            let change = ObjectChange {
                object_type: t.name.clone(),
                object_id: id.to_owned(),
                revision: after.revision,
                kind: ObjectChangeKind::Updated,
                at: now,
                actor: actor.clone(),
                fields: changes,
            };
            batch.push(WriteOp::PutRecord {
                record: object_record(&t, &after),
                expected: Expected::Revision(before.revision),
            });
            batch.push(WriteOp::PutRecord {
                record: change_record(&change),
                expected: Expected::Absent,
            });
            batch.push(object_event(
                now,
                &after,
                EventPayload::ObjectUpdated {
                    before: Box::new(before),
                    after: Box::new(after.clone()),
                },
            ));
            Ok((batch, after))
        })?;
        Ok(object)
    }

    /// Deletes an object (its audit history stays), with an `object_deleted` event; returns the
    /// deleted object.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown type or object; [`Error::RecordConflict`] when
    /// `expected_revision` is not the stored one.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, objects::*};
    /// let crm = Crm::in_memory();
    /// crm.define_object_type(ObjectTypeDef::new("note"))?;
    /// crm.create_object("note", NewObject::new().id("n1"))?;
    /// crm.delete_object("note", "n1", Some(1))?;
    /// assert!(crm.object("note", "n1")?.is_none());
    /// assert_eq!(crm.object_history("note", "n1")?.len(), 2);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn delete_object(
        &self,
        type_name: &str,
        id: &str,
        expected_revision: Option<u64>,
    ) -> Result<Object> {
        let now = self.now();
        let (_, object) = self.write_with(|| {
            self.require_type(type_name)?;
            let object =
                self.object(type_name, id)?.ok_or_else(|| unknown_object(type_name, id))?;
            check_expected(type_name, id, expected_revision, object.revision)?;
            let change = ObjectChange {
                object_type: type_name.to_owned(),
                object_id: id.to_owned(),
                revision: object.revision,
                kind: ObjectChangeKind::Deleted,
                at: now,
                actor: DEFAULT_ACTOR.to_owned(),
                fields: field_changes(&object.fields, &BTreeMap::new()),
            };
            let mut batch = WriteBatch::new();
            batch.push(WriteOp::DeleteRecord {
                kind: object_kind(type_name),
                id: id.to_owned(),
                expected: Expected::Revision(object.revision),
            });
            batch.push(WriteOp::PutRecord {
                record: change_record(&change),
                expected: Expected::Absent,
            });
            batch.push(object_event(
                now,
                &object,
                EventPayload::ObjectDeleted { object: Box::new(object.clone()) },
            ));
            Ok((batch, object))
        })?;
        Ok(object)
    }

    /// An object by type and id.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, objects::ObjectTypeDef};
    /// let crm = Crm::in_memory();
    /// crm.define_object_type(ObjectTypeDef::new("note"))?;
    /// assert!(crm.object("note", "n1")?.is_none());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn object(&self, type_name: &str, id: &str) -> Result<Option<Object>> {
        self.store
            .record(&object_kind(type_name), id)?
            .map(|r| object_from(type_name, r))
            .transpose()
    }

    /// One page of a type's objects: all by id, or those whose indexed field lies in the
    /// query's range, by value then id.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown type; [`Error::Validation`] for a field that is not
    /// declared or not indexed, or a bound of another type than the field's.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::ops::Bound;
    /// use crmkit_core::{Crm, objects::*};
    /// let crm = Crm::in_memory();
    /// crm.define_object_type(ObjectTypeDef::new("plan").field(ObjectField::new("seats", ObjectFieldType::Integer).indexed()))?;
    /// for (id, seats) in [("a", 5), ("b", 50), ("c", 10)] {
    ///     crm.create_object("plan", NewObject::new().id(id).set("seats", ObjectValue::Integer(seats)))?;
    /// }
    /// let big = crm.objects("plan", &ObjectQuery::range("seats", Bound::Included(ObjectValue::Integer(10)), Bound::Unbounded))?;
    /// let ids: Vec<&str> = big.items.iter().map(|o| o.id.as_str()).collect();
    /// assert_eq!(ids, ["c", "b"]);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn objects(
        &self,
        type_name: &str,
        query: &ObjectQuery,
    ) -> Result<Page<Object, RecordCursor>> {
        let t = self.require_type(type_name)?;
        let mut q = RecordQuery::kind(object_kind(type_name)).limit(query.limit);
        if let Some(name) = &query.field {
            let at = format!("{type_name}.{name}");
            let field =
                t.field(name).ok_or_else(|| Error::validation(&at, "is not a declared field"))?;
            if !field.indexed {
                return Err(Error::validation(
                    at,
                    "is not indexed (redefine the type with the field indexed)",
                ));
            }
            let key = |b: &Bound<ObjectValue>| -> Result<Bound<IndexValue>> {
                let check = |v: &ObjectValue| -> Result<IndexValue> {
                    if v.field_type() != field.field_type {
                        return Err(Error::validation(
                            &at,
                            format!(
                                "a bound of {} is compared with a {} field",
                                v.field_type(),
                                field.field_type
                            ),
                        ));
                    }
                    v.clone()
                        .normalised()
                        .index_value()
                        .ok_or_else(|| Error::validation(&at, "cannot be compared"))
                };
                Ok(match b {
                    Bound::Included(v) => Bound::Included(check(v)?),
                    Bound::Excluded(v) => Bound::Excluded(check(v)?),
                    Bound::Unbounded => Bound::Unbounded,
                })
            };
            let (lower, upper) = (key(&query.lower)?, key(&query.upper)?);
            if matches!((&lower, &upper), (Bound::Unbounded, Bound::Unbounded)) {
                // Every object with a value of the field: the range of its type's keys.
                let any = match field.field_type {
                    ObjectFieldType::Bool => IndexValue::Bool(false),
                    ObjectFieldType::Integer => IndexValue::Int(i64::MIN),
                    ObjectFieldType::Decimal => IndexValue::Decimal(rust_decimal::Decimal::MIN),
                    ObjectFieldType::Date => IndexValue::Date(chrono::NaiveDate::MIN),
                    ObjectFieldType::Datetime => IndexValue::Time(DateTime::<Utc>::MIN_UTC),
                    ObjectFieldType::String => IndexValue::Text(String::new()),
                    ObjectFieldType::Customer => {
                        IndexValue::Customer(crate::ids::CustomerId::from_u128(0))
                    }
                    ObjectFieldType::StringList => {
                        return Err(Error::validation(at, "a list field cannot be indexed"));
                    }
                };
                q = q.range(IndexRange {
                    name: name.clone(),
                    lower: Bound::Included(any),
                    upper: Bound::Unbounded,
                });
            } else {
                q = q.range(IndexRange { name: name.clone(), lower, upper });
            }
        }
        if let Some(after) = &query.after {
            q = q.after(after.clone());
        }
        let page = self.store.records(&q)?;
        let items = page
            .items
            .into_iter()
            .map(|r| object_from(type_name, r))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page { items, next: page.next })
    }

    /// An object's audit history, oldest first (it outlives the object).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, objects::*};
    /// let crm = Crm::in_memory();
    /// crm.define_object_type(ObjectTypeDef::new("plan").field(ObjectField::new("seats", ObjectFieldType::Integer)))?;
    /// crm.create_object("plan", NewObject::new().id("pro").set("seats", ObjectValue::Integer(5)))?;
    /// crm.update_object("plan", "pro", ObjectUpdate::new().set("seats", ObjectValue::Integer(6)).source("sam"))?;
    /// let h = crm.object_history("plan", "pro")?;
    /// assert_eq!(h[1].fields, vec![("seats".into(), Some(ObjectValue::Integer(5)), Some(ObjectValue::Integer(6)))]);
    /// assert_eq!(h[1].actor, "sam");
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn object_history(&self, type_name: &str, id: &str) -> Result<Vec<ObjectChange>> {
        let q = RecordQuery::kind(CHANGE_KIND)
            .equal("object", IndexValue::Text(format!("{type_name}/{id}")));
        let mut changes = self
            .store
            .all_records(q)?
            .into_iter()
            .map(|r| r.decode::<ObjectChange>())
            .collect::<Result<Vec<_>>>()?;
        // Record ids are UUIDv7 (time-ordered); the stable sort keeps that order within one instant.
        changes.sort_by_key(|c| c.at);
        Ok(changes)
    }

    /// Field values from text, as the CLI and the bindings receive them: each parsed as its
    /// declared type ([`ObjectValue::parse`]), and a customer link from a customer id or any of
    /// the customer's identity keys (`email:ada@example.org`, or a bare e-mail address).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, objects::*};
    /// let crm = Crm::in_memory();
    /// let ada = crm.create_customer(NewCustomer::person("Ada").email("ada@example.org"))?;
    /// crm.define_object_type(ObjectTypeDef::new("car")
    ///     .field(ObjectField::new("owner", ObjectFieldType::Customer))
    ///     .field(ObjectField::new("seats", ObjectFieldType::Integer)))?;
    /// let fields = crm.parse_object_fields("car", &[("owner".into(), "ada@example.org".into()), ("seats".into(), "4".into())])?;
    /// assert_eq!(fields["owner"], ObjectValue::Customer(ada.id));
    /// assert_eq!(fields["seats"], ObjectValue::Integer(4));
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn parse_object_fields(
        &self,
        type_name: &str,
        pairs: &[(String, String)],
    ) -> Result<BTreeMap<String, ObjectValue>> {
        let t = self.require_type(type_name)?;
        let mut out = BTreeMap::new();
        for (name, text) in pairs {
            let at = format!("{type_name}.{name}");
            let field =
                t.field(name).ok_or_else(|| Error::validation(&at, "is not a declared field"))?;
            let value = match field.field_type {
                ObjectFieldType::Customer => ObjectValue::Customer(self.lookup(text.trim())?.id),
                other => ObjectValue::parse(other, &at, text)?,
            };
            out.insert(name.clone(), value);
        }
        Ok(out)
    }
}
