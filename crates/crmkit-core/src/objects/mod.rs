//! User-defined objects: the application's own kinds of records (invoices, subscriptions,
//! vehicles, ...) with typed fields, stored through the store contract's record layer.
//!
//! An [`ObjectType`] declares the fields (the customer attribute types, plus a link to a
//! customer) and which of them are indexed; [`Crm::create_object`](crate::Crm::create_object),
//! [`update_object`](crate::Crm::update_object) and [`delete_object`](crate::Crm::delete_object)
//! validate against it, write an audit entry ([`ObjectChange`]) and emit `object_created`,
//! `object_updated` and `object_deleted` events in the same batch, and
//! [`objects`](crate::Crm::objects) queries by an indexed field.
//!
//! ```
//! use crmkit_core::{Crm, NewCustomer};
//! use crmkit_core::objects::{NewObject, ObjectField, ObjectFieldType, ObjectQuery, ObjectTypeDef, ObjectValue};
//! let crm = Crm::in_memory();
//! let ada = crm.create_customer(NewCustomer::person("Ada").email("ada@example.org"))?;
//! crm.define_object_type(
//!     ObjectTypeDef::new("invoice")
//!         .field(ObjectField::new("number", ObjectFieldType::String).required().indexed())
//!         .field(ObjectField::new("total", ObjectFieldType::Decimal))
//!         .field(ObjectField::new("customer", ObjectFieldType::Customer)),
//! )?;
//! let invoice = crm.create_object("invoice", NewObject::new()
//!     .set("number", ObjectValue::String("INV-1".into()))
//!     .set("total", ObjectValue::Decimal("49.90".parse().unwrap()))
//!     .set("customer", ObjectValue::Customer(ada.id)))?;
//! let found = crm.objects("invoice", &ObjectQuery::equal("number", ObjectValue::String("INV-1".into())))?;
//! assert_eq!(found.items, vec![invoice]);
//! # Ok::<(), crmkit_core::Error>(())
//! ```

mod engine;
mod types;
mod value;

pub use types::{
    NewObject, Object, ObjectChange, ObjectChangeKind, ObjectField, ObjectQuery, ObjectType,
    ObjectTypeDef, ObjectUpdate,
};
pub use value::{ObjectFieldType, ObjectValue};
