//! Checks of customer input: names, tags, attributes against the declared fields, consent.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::customer::{AttributeValue, Channel, Consent, ConsentStatus, FieldDef};
use crate::error::{Error, Result};

pub(crate) fn validate_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        return Err(Error::validation(
            what,
            format!("{name:?}: use 1 to 64 letters, digits, _ - ."),
        ));
    }
    Ok(())
}

pub(crate) fn validate_tag(tag: &str) -> Result<String> {
    let t = tag.trim();
    if t.is_empty() || t.len() > 100 || t.chars().any(char::is_control) {
        return Err(Error::validation(
            "tag",
            format!("{tag:?}: use 1 to 100 printable characters"),
        ));
    }
    Ok(t.to_owned())
}

pub(crate) fn check_attribute(
    fields: &HashMap<String, FieldDef>,
    name: &str,
    value: &AttributeValue,
) -> Result<()> {
    let def = fields.get(name).ok_or_else(|| {
        Error::validation(
            format!("attributes.{name}"),
            "is not a declared field (declare it with define_field first)",
        )
    })?;
    if def.field_type != value.field_type() {
        return Err(Error::validation(
            format!("attributes.{name}"),
            format!("expected a {}, got a {} ({value})", def.field_type, value.field_type()),
        ));
    }
    Ok(())
}

pub(crate) fn set_consent(
    consents: &mut Vec<Consent>,
    purpose: String,
    channel: Channel,
    status: ConsentStatus,
    at: DateTime<Utc>,
    source: &str,
) -> Result<()> {
    let purpose = purpose.trim().to_owned();
    if purpose.is_empty() {
        return Err(Error::validation("consent purpose", "is empty"));
    }
    consents.retain(|c| !(c.purpose == purpose && c.channel == channel));
    consents.push(Consent { purpose, channel, status, at, source: source.to_owned() });
    consents.sort_by(|a, b| (&a.purpose, &a.channel).cmp(&(&b.purpose, &b.channel)));
    Ok(())
}
