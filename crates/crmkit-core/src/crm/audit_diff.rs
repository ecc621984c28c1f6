//! The audit entries of a customer change: one per changed field.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::customer::{Channel, Consent, Customer};
use crate::store::AuditRecord;

/// One audit record per changed field.
pub(crate) fn diff(
    old: &Customer,
    new: &Customer,
    at: DateTime<Utc>,
    actor: &str,
) -> Vec<AuditRecord> {
    let mut out = Vec::new();
    let mut push = |field: String, o: Option<Value>, n: Option<Value>| {
        if o != n {
            out.push(AuditRecord {
                customer: old.id,
                at,
                actor: actor.to_owned(),
                field,
                old: o,
                new: n,
            });
        }
    };
    push("name".into(), Some(json!(old.name)), Some(json!(new.name)));
    push("kind".into(), Some(json!(old.kind)), Some(json!(new.kind)));
    push("stage".into(), Some(json!(old.stage)), Some(json!(new.stage)));
    push("identities".into(), Some(json!(old.identities)), Some(json!(new.identities)));
    push("tags".into(), Some(json!(old.tags)), Some(json!(new.tags)));
    let names: std::collections::BTreeSet<&String> =
        old.attributes.keys().chain(new.attributes.keys()).collect();
    for name in names {
        push(
            format!("attributes.{name}"),
            old.attributes.get(name).map(|v| json!(v)),
            new.attributes.get(name).map(|v| json!(v)),
        );
    }
    // Compare by (purpose, channel) itself: the field name alone can be ambiguous
    // ("a" over "b.email" and "a.b" over "email" both read consent.a.b.email).
    let keys: std::collections::BTreeSet<(&str, &Channel)> = old
        .consents
        .iter()
        .chain(new.consents.iter())
        .map(|c| (c.purpose.as_str(), &c.channel))
        .collect();
    for (purpose, channel) in keys {
        let find = |cs: &[Consent]| {
            cs.iter()
                .find(|c| c.purpose == purpose && &c.channel == channel)
                .map(|c| json!(c.status))
        };
        push(format!("consent.{purpose}.{channel}"), find(&old.consents), find(&new.consents));
    }
    out
}
