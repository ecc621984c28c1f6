//! User-defined objects (the `Crm.*object*` methods): Python values to crmkit's object values
//! and back, and the dicts the methods return. Validation, type checks and text parsing are
//! crmkit's: values are converted by their Python type and text goes to
//! [`crmkit::Crm::parse_object_fields`].

use std::collections::{BTreeMap, HashMap};

use crmkit::objects::{
    Object, ObjectChange, ObjectField, ObjectFieldType, ObjectQuery, ObjectType, ObjectTypeDef,
    ObjectValue,
};
use crmkit::{AttributeValue, FieldType};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::convert::{attribute_to_py, customer_id, value_from_py};
use crate::error::{crm_error, invalid, without_gil};

/// The page size the queries read with (crmkit's default).
const PAGE: usize = 100;

/// A field value from Python: typed already, or text for crmkit to parse as the declared type
/// (a customer link by id or identity key).
pub(crate) enum Input {
    /// A value converted from its Python type.
    Value(ObjectValue),
    /// Text for [`crmkit::Crm::parse_object_fields`].
    Text(String),
}

/// Field values from Python, before the text among them is parsed.
#[derive(Default)]
pub(crate) struct Fields {
    values: BTreeMap<String, ObjectValue>,
    texts: Vec<(String, String)>,
}

impl Fields {
    fn push(&mut self, name: String, input: Input) {
        match input {
            Input::Value(v) => {
                self.values.insert(name, v);
            }
            Input::Text(t) => self.texts.push((name, t)),
        }
    }

    /// The typed values: the text parsed by crmkit (which also checks that the type exists).
    pub(crate) fn resolve(
        self,
        crm: &crmkit::Crm,
        type_name: &str,
    ) -> crmkit::Result<BTreeMap<String, ObjectValue>> {
        let mut out = crm.parse_object_fields(type_name, &self.texts)?;
        out.extend(self.values);
        Ok(out)
    }
}

/// The declared field types of an object type (empty when there is no such type: crmkit then
/// reports it).
pub(crate) fn declared_types(
    py: Python<'_>,
    crm: &crmkit::Crm,
    type_name: &str,
) -> PyResult<HashMap<String, ObjectFieldType>> {
    let crm = crm.clone();
    let name = type_name.to_owned();
    let t = without_gil(py, move || Ok(crm.object_type(&name)?))?;
    Ok(t.map(|t| t.fields.into_iter().map(|f| (f.name, f.field_type)).collect())
        .unwrap_or_default())
}

/// One field value from Python: a `Customer` or `uuid.UUID` is a customer link; text of a
/// string field is that string, other text goes to crmkit to parse; anything else converts as
/// an attribute value does (an `int` for a decimal field is that decimal; floats are refused).
pub(crate) fn input_from_py(
    obj: &Bound<'_, PyAny>,
    type_name: &str,
    name: &str,
    declared: Option<ObjectFieldType>,
) -> PyResult<Input> {
    let at = format!("{type_name}.{name}");
    let uuid_type = obj.py().import("uuid")?.getattr("UUID")?;
    if obj.cast::<crate::records::Customer>().is_ok() || obj.is_instance(&uuid_type)? {
        return Ok(Input::Value(ObjectValue::Customer(customer_id(obj, &at)?)));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        let text = s.to_cow()?.into_owned();
        return Ok(match declared {
            Some(ObjectFieldType::String) => Input::Value(ObjectValue::String(text)),
            _ => Input::Text(text),
        });
    }
    let attribute_type: Option<FieldType> = declared.and_then(ObjectFieldType::attribute_type);
    Ok(Input::Value(value_from_py(obj, &at, attribute_type)?.into()))
}

/// Field values from a dict `{field: value}`; a `None` value is handed to `on_none` (skipped
/// on create, unset on update).
pub(crate) fn fields_from_py(
    dict: Option<&Bound<'_, PyDict>>,
    type_name: &str,
    declared: &HashMap<String, ObjectFieldType>,
    mut on_none: impl FnMut(String),
) -> PyResult<Fields> {
    let mut fields = Fields::default();
    for (k, v) in dict.map(|d| d.iter().collect::<Vec<_>>()).unwrap_or_default() {
        let name: String = k
            .extract()
            .map_err(|_| invalid(format!("{type_name}: field names must be strings")))?;
        if v.is_none() {
            on_none(name);
            continue;
        }
        let input = input_from_py(&v, type_name, &name, declared.get(&name).copied())?;
        fields.push(name, input);
    }
    Ok(fields)
}

/// An object type definition from `define_object_type`'s arguments, in the dict's order.
pub(crate) fn type_def_from_py(
    name: &str,
    fields: &Bound<'_, PyDict>,
    required: &[String],
    indexed: &[String],
) -> PyResult<ObjectTypeDef> {
    let mut def = ObjectTypeDef::new(name);
    for (k, v) in fields.iter() {
        let field: String =
            k.extract().map_err(|_| invalid(format!("{name}: field names must be strings")))?;
        let text: String = v.extract().map_err(|_| {
            invalid(format!(
                "{name}.{field}: the type must be text such as \"string\" or \"customer\""
            ))
        })?;
        let field_type = text.parse::<ObjectFieldType>().map_err(|e| crm_error(&e))?;
        let mut f = ObjectField::new(field.clone(), field_type);
        f.required = required.contains(&field);
        f.indexed = f.indexed || indexed.contains(&field);
        def = def.field(f);
    }
    for (what, names) in [("required", required), ("indexed", indexed)] {
        if let Some(missing) = names.iter().find(|n| def.fields.iter().all(|f| &f.name != *n)) {
            return Err(invalid(format!("{name}.{missing}: named in {what}= but not in fields")));
        }
    }
    Ok(def)
}

/// A query bound: the field and its value from a one-entry dict `{field: value}`.
pub(crate) fn bound_from_py(
    dict: Option<&Bound<'_, PyDict>>,
    arg: &str,
    type_name: &str,
    declared: &HashMap<String, ObjectFieldType>,
) -> PyResult<Option<(String, Input)>> {
    let Some(d) = dict else { return Ok(None) };
    if d.len() != 1 {
        return Err(invalid(format!(
            "objects: {arg}= takes one {{field: value}} entry, got {}",
            d.len()
        )));
    }
    let Some((k, v)) = d.iter().next() else { return Ok(None) };
    let name: String =
        k.extract().map_err(|_| invalid(format!("objects: {arg}= keys must be field names")))?;
    let input = input_from_py(&v, type_name, &name, declared.get(&name).copied())?;
    Ok(Some((name, input)))
}

/// What `Crm.objects` asks for, before the text bounds are parsed.
pub(crate) struct Query {
    /// `where=`: one field equal to a value.
    pub(crate) equal: Option<(String, Input)>,
    /// `min=` (inclusive).
    pub(crate) min: Option<(String, Input)>,
    /// `max=` (inclusive).
    pub(crate) max: Option<(String, Input)>,
    /// At most this many (`None`: every page).
    pub(crate) limit: Option<usize>,
}

impl Query {
    /// Runs the query: the bounds parsed by crmkit, then page after page (following `next`)
    /// until the limit or the last page.
    pub(crate) fn run(self, crm: &crmkit::Crm, type_name: &str) -> crmkit::Result<Vec<Object>> {
        let value = |(name, input): (String, Input)| -> crmkit::Result<(String, ObjectValue)> {
            match input {
                Input::Value(v) => Ok((name, v)),
                Input::Text(t) => {
                    let mut parsed = crm.parse_object_fields(type_name, &[(name.clone(), t)])?;
                    let v = parsed.remove(&name).ok_or_else(|| {
                        crmkit::Error::validation(format!("{type_name}.{name}"), "has no value")
                    })?;
                    Ok((name, v))
                }
            }
        };
        let mut q = ObjectQuery::from_filter(
            self.equal.map(value).transpose()?,
            self.min.map(value).transpose()?,
            self.max.map(value).transpose()?,
        )?;
        let mut out: Vec<Object> = Vec::new();
        loop {
            let remaining = self.limit.map_or(PAGE, |n| n.saturating_sub(out.len()).min(PAGE));
            q = q.limit(remaining);
            let page = crm.objects(type_name, &q)?;
            out.extend(page.items);
            let more = self.limit.is_none_or(|n| out.len() < n);
            match page.next {
                Some(cursor) if more => q = q.after(cursor),
                _ => break,
            }
        }
        if let Some(n) = self.limit {
            out.truncate(n);
        }
        Ok(out)
    }
}

/// A Python value for an object field value (a customer link is the customer id's text).
pub(crate) fn value_to_py<'py>(py: Python<'py>, v: &ObjectValue) -> PyResult<Bound<'py, PyAny>> {
    let attribute = match v {
        ObjectValue::Customer(c) => return Ok(PyString::new(py, &c.to_string()).into_any()),
        ObjectValue::String(s) => AttributeValue::String(s.clone()),
        ObjectValue::Integer(i) => AttributeValue::Integer(*i),
        ObjectValue::Decimal(d) => AttributeValue::Decimal(*d),
        ObjectValue::Bool(b) => AttributeValue::Bool(*b),
        ObjectValue::Date(d) => AttributeValue::Date(*d),
        ObjectValue::Datetime(t) => AttributeValue::Datetime(*t),
        ObjectValue::StringList(l) => AttributeValue::StringList(l.clone()),
    };
    attribute_to_py(py, &attribute)
}

fn opt_value_to_py<'py>(py: Python<'py>, v: Option<&ObjectValue>) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Some(v) => value_to_py(py, v),
        None => Ok(py.None().into_bound(py)),
    }
}

/// An object type as a dict: `name`, `revision`, `fields` (dicts with `name`, `type`,
/// `required`, `indexed`), `created_at`, `updated_at`.
pub(crate) fn type_to_py<'py>(py: Python<'py>, t: &ObjectType) -> PyResult<Bound<'py, PyDict>> {
    let fields = PyList::empty(py);
    for f in &t.fields {
        let d = PyDict::new(py);
        d.set_item("name", &f.name)?;
        d.set_item("type", f.field_type.to_string())?;
        d.set_item("required", f.required)?;
        d.set_item("indexed", f.indexed)?;
        fields.append(d)?;
    }
    let d = PyDict::new(py);
    d.set_item("name", &t.name)?;
    d.set_item("revision", t.revision)?;
    d.set_item("fields", fields)?;
    d.set_item("created_at", t.created_at)?;
    d.set_item("updated_at", t.updated_at)?;
    Ok(d)
}

/// An object as a dict: `object_type`, `id`, `revision`, `fields` (`{name: value}`),
/// `created_at`, `updated_at`.
pub(crate) fn object_to_py<'py>(py: Python<'py>, o: &Object) -> PyResult<Bound<'py, PyDict>> {
    let fields = PyDict::new(py);
    for (name, v) in &o.fields {
        fields.set_item(name, value_to_py(py, v)?)?;
    }
    let d = PyDict::new(py);
    d.set_item("object_type", &o.object_type)?;
    d.set_item("id", &o.id)?;
    d.set_item("revision", o.revision)?;
    d.set_item("fields", fields)?;
    d.set_item("created_at", o.created_at)?;
    d.set_item("updated_at", o.updated_at)?;
    Ok(d)
}

/// An audit entry as a dict: `kind` (`created`, `updated`, `deleted`), `revision`, `at`,
/// `actor`, `fields` (a list of `(name, old, new)`, `None` for no value).
pub(crate) fn change_to_py<'py>(py: Python<'py>, c: &ObjectChange) -> PyResult<Bound<'py, PyDict>> {
    let kind = serde_json::to_value(c.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let fields = PyList::empty(py);
    for (name, old, new) in &c.fields {
        let entry = PyTuple::new(
            py,
            [
                PyString::new(py, name).into_any(),
                opt_value_to_py(py, old.as_ref())?,
                opt_value_to_py(py, new.as_ref())?,
            ],
        )?;
        fields.append(entry)?;
    }
    let d = PyDict::new(py);
    d.set_item("kind", kind)?;
    d.set_item("revision", c.revision)?;
    d.set_item("at", c.at)?;
    d.set_item("actor", &c.actor)?;
    d.set_item("fields", fields)?;
    Ok(d)
}
