//! Conversions between Python values and crmkit's domain types, at the field level.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use crmkit::{AttributeValue, CustomerId, FieldType, Money};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::error::{crm_error, invalid};

/// A customer id as a `uuid.UUID`.
pub(crate) fn uuid_of(id: CustomerId) -> Uuid {
    Uuid::from_bytes(id.to_bytes())
}

/// A customer id from a `uuid.UUID`, its text, or a `Customer`.
pub(crate) fn customer_id(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<CustomerId> {
    if let Ok(c) = obj.cast::<crate::records::Customer>() {
        return Ok(c.get().inner.id);
    }
    if let Ok(u) = obj.extract::<Uuid>() {
        return Ok(CustomerId::from_bytes(*u.as_bytes()));
    }
    if let Ok(s) = obj.extract::<String>() {
        return s.parse::<CustomerId>().map_err(|e| crm_error(&e));
    }
    Err(invalid(format!(
        "{field}: expected a customer id (uuid.UUID or its text) or a Customer, got {}",
        type_name(obj)
    )))
}

/// The Python type name of a value, for messages.
pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// An instant from an aware `datetime.datetime`, a `datetime.date` (midnight UTC) or text
/// (RFC 3339, `YYYY-MM-DD[ HH:MM:SS]`, `YYYYMMDD`; text without an offset is UTC).
/// A naive `datetime` is refused: its time zone would be a guess.
pub(crate) fn instant(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<DateTime<Utc>> {
    let py = obj.py();
    let datetime = py.import("datetime")?;
    if obj.is_instance(&datetime.getattr("datetime")?)? {
        if obj.getattr("tzinfo")?.is_none() || obj.call_method0("utcoffset")?.is_none() {
            return Err(invalid(format!(
                "{field}: naive datetime {}: give it a time zone (e.g. tzinfo=datetime.timezone.utc)",
                obj.str()?
            )));
        }
        let t: DateTime<FixedOffset> = obj.extract()?;
        return Ok(t.with_timezone(&Utc));
    }
    if obj.is_instance(&datetime.getattr("date")?)? {
        let d: NaiveDate = obj.extract()?;
        return d
            .and_hms_opt(0, 0, 0)
            .map(|n| n.and_utc())
            .ok_or_else(|| invalid(format!("{field}: {d} is out of range")));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return crmkit::time::parse_timestamp(field, &s.to_cow()?, None).map_err(|e| crm_error(&e));
    }
    Err(invalid(format!(
        "{field}: expected a timezone-aware datetime, a date or an ISO 8601 string, got {}",
        type_name(obj)
    )))
}

/// An optional instant (`None` stays `None`).
pub(crate) fn opt_instant(
    obj: Option<&Bound<'_, PyAny>>,
    field: &str,
) -> PyResult<Option<DateTime<Utc>>> {
    match obj {
        Some(o) if !o.is_none() => Ok(Some(instant(o, field)?)),
        _ => Ok(None),
    }
}

/// An exact decimal from a `decimal.Decimal`, an `int` or text. Floats are refused: money and
/// decimal attributes stay exact.
pub(crate) fn decimal(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Decimal> {
    if obj.is_instance_of::<PyBool>() {
        return Err(invalid(format!("{field}: expected a decimal amount, got a bool")));
    }
    if obj.is_instance_of::<PyFloat>() {
        return Err(invalid(format!(
            "{field}: float {} is not exact; pass a decimal.Decimal or a string such as \"49.90\"",
            obj.repr()?
        )));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return crmkit::money::parse_decimal(field, &s.to_cow()?).map_err(|e| crm_error(&e));
    }
    if obj.is_instance_of::<PyInt>() {
        let i: i64 = obj
            .extract()
            .map_err(|_| invalid(format!("{field}: integer {obj} is out of range")))?;
        return Ok(Decimal::from(i));
    }
    let is_decimal = obj.is_instance(&obj.py().import("decimal")?.getattr("Decimal")?)?;
    if is_decimal {
        let finite: bool = obj.call_method0("is_finite")?.extract()?;
        if !finite {
            return Err(invalid(format!("{field}: {} is not a finite amount", obj.str()?)));
        }
        return obj.extract::<Decimal>().map_err(|e| invalid(format!("{field}: {e}")));
    }
    Err(invalid(format!(
        "{field}: expected a decimal.Decimal, an int or a string, got {}",
        type_name(obj)
    )))
}

/// Money from an amount (see [`decimal`]) and a currency code.
pub(crate) fn money(amount: &Bound<'_, PyAny>, currency: &str, field: &str) -> PyResult<Money> {
    if let Ok(m) = amount.cast::<crate::records::PyMoney>() {
        return Ok(m.get().inner);
    }
    let value = decimal(amount, field)?;
    let currency = crmkit::Currency::new(currency).map_err(|e| crm_error(&e))?;
    Ok(Money::new(value, currency))
}

/// A Python value for an attribute value.
pub(crate) fn attribute_to_py<'py>(
    py: Python<'py>,
    value: &AttributeValue,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        AttributeValue::String(s) => s.into_pyobject(py)?.into_any(),
        AttributeValue::Integer(i) => i.into_pyobject(py)?.into_any(),
        AttributeValue::Decimal(d) => d.into_pyobject(py)?.into_any(),
        AttributeValue::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        AttributeValue::Date(d) => d.into_pyobject(py)?.into_any(),
        AttributeValue::Datetime(t) => t.into_pyobject(py)?.into_any(),
        AttributeValue::StringList(v) => PyList::new(py, v)?.into_any(),
    })
}

/// An attribute value from Python: `str`, `int`, `bool`, `decimal.Decimal`, `datetime.date`,
/// aware `datetime.datetime`, or a list of `str`. Text for a declared non-text field is parsed
/// as that field's type.
pub(crate) fn attribute_from_py(
    obj: &Bound<'_, PyAny>,
    name: &str,
    declared: Option<FieldType>,
) -> PyResult<AttributeValue> {
    value_from_py(obj, &format!("attributes.{name}"), declared)
}

/// A field value from Python, as [`attribute_from_py`] converts it; `field` names it in errors
/// (`attributes.seats`, `invoice.total`).
pub(crate) fn value_from_py(
    obj: &Bound<'_, PyAny>,
    field: &str,
    declared: Option<FieldType>,
) -> PyResult<AttributeValue> {
    let field = field.to_owned();
    let py = obj.py();
    if let Ok(s) = obj.cast::<PyString>() {
        let text = s.to_cow()?;
        return match declared {
            Some(t) if t != FieldType::String => {
                t.parse_value(&field, &text).map_err(|e| crm_error(&e))
            }
            _ => Ok(AttributeValue::String(text.into_owned())),
        };
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(AttributeValue::Bool(obj.extract()?));
    }
    if obj.is_instance_of::<PyInt>() {
        if declared == Some(FieldType::Decimal) {
            return Ok(AttributeValue::Decimal(decimal(obj, &field)?));
        }
        let i: i64 = obj
            .extract()
            .map_err(|_| invalid(format!("{field}: integer {obj} is out of range")))?;
        return Ok(AttributeValue::Integer(i));
    }
    if obj.is_instance_of::<PyFloat>() {
        return Err(invalid(format!(
            "{field}: float {} is not exact; pass a decimal.Decimal or a string",
            obj.repr()?
        )));
    }
    let datetime = py.import("datetime")?;
    if obj.is_instance(&datetime.getattr("datetime")?)? {
        return Ok(AttributeValue::Datetime(instant(obj, &field)?));
    }
    if obj.is_instance(&datetime.getattr("date")?)? {
        return Ok(AttributeValue::Date(obj.extract()?));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let items: Vec<String> = obj
            .extract()
            .map_err(|_| invalid(format!("{field}: a list attribute must hold strings only")))?;
        return Ok(AttributeValue::StringList(items));
    }
    if obj.is_instance(&py.import("decimal")?.getattr("Decimal")?)? {
        return Ok(AttributeValue::Decimal(decimal(obj, &field)?));
    }
    Err(invalid(format!(
        "{field}: {} values cannot be stored; use str, int, bool, Decimal, date, datetime or a list of str",
        type_name(obj)
    )))
}

/// JSON (interaction properties, audit values, model parameters) as Python values.
pub(crate) fn json_to_py<'py>(
    py: Python<'py>,
    value: &serde_json::Value,
) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json_to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// A Python value (None, bool, int, float, str, Decimal, list, tuple, dict with str keys) as
/// JSON. Decimals become their exact text.
pub(crate) fn py_to_json(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<serde_json::Value> {
    use serde_json::Value;
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(obj.extract()?));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        return Ok(Value::String(obj.str()?.to_string()));
    }
    if obj.is_instance_of::<PyFloat>() {
        let f: f64 = obj.extract()?;
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| invalid(format!("{field}: {f} cannot be stored (not finite)")));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = serde_json::Map::new();
        for (k, v) in d.iter() {
            let key: String = k
                .extract()
                .map_err(|_| invalid(format!("{field}: dictionary keys must be strings")))?;
            let value = py_to_json(&v, &format!("{field}.{key}"))?;
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (i, item) in obj.try_iter()?.enumerate() {
            items.push(py_to_json(&item?, &format!("{field}[{i}]"))?);
        }
        return Ok(Value::Array(items));
    }
    if obj.is_instance(&obj.py().import("decimal")?.getattr("Decimal")?)? {
        return Ok(Value::String(obj.str()?.to_string()));
    }
    Err(invalid(format!(
        "{field}: {} values cannot be stored as a property (use str, int, float, bool, Decimal, list or dict)",
        type_name(obj)
    )))
}
