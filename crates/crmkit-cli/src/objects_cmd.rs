//! `crmkit objects`: user-defined object types and their objects.

use clap::Subcommand;
use crmkit::objects::{
    NewObject, Object, ObjectField, ObjectQuery, ObjectType, ObjectTypeDef, ObjectUpdate,
    ObjectValue,
};
use crmkit::{Crm, Error, RecordCursor};
use serde_json::json;

use crate::display::print_json;
use crate::{CliResult, Format};

#[derive(Debug, Subcommand)]
pub(crate) enum ObjectsCommand {
    /// Declare an object type, or redefine one (fields can be added, indexed, made required).
    Define {
        /// The type name (letters, digits, _ - .).
        object_type: String,
        /// A field: NAME:TYPE, optionally followed by :required and/or :indexed. TYPE is string,
        /// integer, decimal, bool, date, datetime, string_list or customer.
        #[arg(long = "field", value_name = "NAME:TYPE[:required][:indexed]")]
        fields: Vec<String>,
    },
    /// List the object types.
    Types {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Create an object.
    Create {
        /// The type.
        object_type: String,
        /// The object's id (generated when not given).
        #[arg(long)]
        id: Option<String>,
        /// A field value: FIELD=VALUE (a customer by id or identity key).
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Change an object's fields.
    Update {
        /// The type.
        object_type: String,
        /// The object's id.
        id: String,
        /// A field value to set: FIELD=VALUE.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// A field to remove.
        #[arg(long = "unset", value_name = "FIELD")]
        unset: Vec<String>,
        /// Fail unless the stored object has this revision.
        #[arg(long)]
        revision: Option<u64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Delete an object (its history stays).
    Delete {
        /// The type.
        object_type: String,
        /// The object's id.
        id: String,
        /// Fail unless the stored object has this revision.
        #[arg(long)]
        revision: Option<u64>,
    },
    /// Show one object, and with --history its changes.
    Show {
        /// The type.
        object_type: String,
        /// The object's id.
        id: String,
        /// Also list its changes, oldest first.
        #[arg(long)]
        history: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// One page of a type's objects: all by id, or by an indexed field.
    List {
        /// The type.
        object_type: String,
        /// Only objects whose indexed FIELD equals VALUE.
        #[arg(long = "where", value_name = "FIELD=VALUE")]
        equal: Option<String>,
        /// Only objects whose indexed FIELD is at least VALUE.
        #[arg(long, value_name = "FIELD=VALUE")]
        min: Option<String>,
        /// Only objects whose indexed FIELD is at most VALUE.
        #[arg(long, value_name = "FIELD=VALUE")]
        max: Option<String>,
        /// Page size.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Continue after this position (the `next` of the previous page).
        #[arg(long)]
        after: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

pub(crate) fn run(crm: &Crm, cmd: ObjectsCommand) -> CliResult {
    match cmd {
        ObjectsCommand::Define { object_type, fields } => {
            let mut def = ObjectTypeDef::new(object_type);
            for spec in &fields {
                def = def.field(field_spec(spec)?);
            }
            let t = crm.define_object_type(def)?;
            out!(
                "object type {} defined (revision {}, {} fields)",
                t.name,
                t.revision,
                t.fields.len()
            );
            Ok(())
        }
        ObjectsCommand::Types { format } => {
            let types = crm.object_types()?;
            if matches!(format, Format::Json) {
                return print_json(&json!(types.iter().map(type_json).collect::<Vec<_>>()));
            }
            for t in &types {
                let fields: Vec<String> = t.fields.iter().map(field_text).collect();
                out!("{}\t{}", t.name, fields.join(", "));
            }
            out!("({} object types)", types.len());
            Ok(())
        }
        ObjectsCommand::Create { object_type, id, set, format } => {
            let mut new = NewObject::new().source("cli");
            new.id = id;
            new.fields = crm.parse_object_fields(&object_type, &assignments("--set", &set)?)?;
            let o = crm.create_object(&object_type, new)?;
            print_object(crm, &o, format, "created")
        }
        ObjectsCommand::Update { object_type, id, set, unset, revision, format } => {
            let mut update = ObjectUpdate::new().source("cli");
            update.set = crm.parse_object_fields(&object_type, &assignments("--set", &set)?)?;
            update.unset = unset.into_iter().collect();
            update.expected_revision = revision;
            let o = crm.update_object(&object_type, &id, update)?;
            print_object(crm, &o, format, "updated")
        }
        ObjectsCommand::Delete { object_type, id, revision } => {
            let o = crm.delete_object(&object_type, &id, revision)?;
            out!("deleted {} {} (revision {})", o.object_type, o.id, o.revision);
            Ok(())
        }
        ObjectsCommand::Show { object_type, id, history, format } => {
            let o = crm.object(&object_type, &id)?.ok_or_else(|| Error::NotFound {
                entity: "object",
                key: format!("{object_type} {id}"),
            })?;
            let changes = if history { crm.object_history(&object_type, &id)? } else { Vec::new() };
            if matches!(format, Format::Json) {
                return print_json(&json!({ "object": o, "history": changes }));
            }
            print_object(crm, &o, format, "")?;
            for c in &changes {
                let fields: Vec<String> = c
                    .fields
                    .iter()
                    .map(|(name, old, new)| format!("{name}: {} -> {}", shown(old), shown(new)))
                    .collect();
                out!(
                    "{}  r{}  {:?}  by {}  {}",
                    c.at.to_rfc3339(),
                    c.revision,
                    c.kind,
                    c.actor,
                    fields.join("; ")
                );
            }
            Ok(())
        }
        ObjectsCommand::List { object_type, equal, min, max, limit, after, format } => {
            let pair = |flag: &str, item: &Option<String>| {
                item.as_deref().map(|i| bound_value(crm, &object_type, flag, i)).transpose()
            };
            let mut query = ObjectQuery::from_filter(
                pair("--where", &equal)?,
                pair("--min", &min)?,
                pair("--max", &max)?,
            )?
            .limit(limit);
            if let Some(a) = &after {
                query = query.after(parse_cursor(a)?);
            }
            let t = crm.object_type(&object_type)?.ok_or_else(|| Error::NotFound {
                entity: "object type",
                key: object_type.clone(),
            })?;
            let page = crm.objects(&object_type, &query)?;
            let next = page.next.as_ref().map(cursor_text);
            if matches!(format, Format::Json) {
                return print_json(&json!({ "items": page.items, "next": next }));
            }
            print_table(&t, &page.items)?;
            match next {
                Some(n) => out!("(more: --after {n})"),
                None => out!("({} objects)", page.items.len()),
            }
            Ok(())
        }
    }
}

/// `NAME:TYPE[:required][:indexed]`.
fn field_spec(spec: &str) -> Result<ObjectField, Error> {
    let mut parts = spec.split(':');
    let (Some(name), Some(ty)) = (parts.next(), parts.next()) else {
        return Err(Error::validation(
            "--field",
            format!("{spec:?}: expected NAME:TYPE[:required][:indexed]"),
        ));
    };
    let mut field = ObjectField::new(name.trim(), ty.parse()?);
    for flag in parts {
        field = match flag.trim() {
            "required" => field.required(),
            "indexed" => field.indexed(),
            other => {
                return Err(Error::validation(
                    "--field",
                    format!("{spec:?}: unknown flag {other:?} (use required or indexed)"),
                ));
            }
        };
    }
    Ok(field)
}

/// `FIELD=VALUE` pairs.
fn assignments(flag: &str, items: &[String]) -> Result<Vec<(String, String)>, Error> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .map(|(f, v)| (f.trim().to_owned(), v.to_owned()))
                .ok_or_else(|| Error::validation(flag, format!("{item:?}: expected FIELD=VALUE")))
        })
        .collect()
}

fn bound_value(
    crm: &Crm,
    object_type: &str,
    flag: &str,
    item: &str,
) -> Result<(String, ObjectValue), Error> {
    let pairs = assignments(flag, &[item.to_owned()])?;
    let mut parsed = crm.parse_object_fields(object_type, &pairs)?;
    let field = pairs[0].0.clone();
    let value = parsed.remove(&field).ok_or_else(|| Error::validation(flag, "no value"))?;
    Ok((field, value))
}

/// A cursor as text: `HEXKEY~ID` for index queries, the id otherwise.
fn cursor_text(c: &RecordCursor) -> String {
    match &c.key {
        Some(key) => {
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            format!("{hex}~{}", c.id)
        }
        None => c.id.clone(),
    }
}

fn parse_cursor(text: &str) -> Result<RecordCursor, Error> {
    let bad = || {
        Error::validation("--after", format!("{text:?} is not a cursor printed by `objects list`"))
    };
    match text.split_once('~') {
        None => Ok(RecordCursor { key: None, id: text.to_owned() }),
        Some((hex, id)) => {
            if hex.len() % 2 != 0 {
                return Err(bad());
            }
            let key = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad()))
                .collect::<Result<Vec<u8>, Error>>()?;
            Ok(RecordCursor { key: Some(key), id: id.to_owned() })
        }
    }
}

fn shown(v: &Option<ObjectValue>) -> String {
    v.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string)
}

fn field_text(f: &ObjectField) -> String {
    let mut s = format!("{}:{}", f.name, f.field_type);
    if f.required {
        s.push_str(":required");
    }
    if f.indexed {
        s.push_str(":indexed");
    }
    s
}

fn type_json(t: &ObjectType) -> serde_json::Value {
    json!({ "name": t.name, "revision": t.revision, "fields": t.fields,
            "created_at": t.created_at, "updated_at": t.updated_at })
}

fn print_object(crm: &Crm, o: &Object, format: Format, verb: &str) -> CliResult {
    if matches!(format, Format::Json) {
        return print_json(&json!(o));
    }
    if !verb.is_empty() {
        out!("{verb} {} {} (revision {})", o.object_type, o.id, o.revision);
    } else {
        out!(
            "{} {} (revision {}, updated {})",
            o.object_type,
            o.id,
            o.revision,
            o.updated_at.to_rfc3339()
        );
    }
    let t = crm.object_type(&o.object_type)?;
    let order: Vec<String> = match &t {
        Some(t) => t.fields.iter().map(|f| f.name.clone()).collect(),
        None => o.fields.keys().cloned().collect(),
    };
    for name in order {
        if let Some(v) = o.fields.get(&name) {
            out!("  {name:<20} {v}");
        }
    }
    Ok(())
}

fn print_table(t: &ObjectType, items: &[Object]) -> CliResult {
    let mut header = format!("{:<38}  {:>3}", "id", "rev");
    for f in &t.fields {
        header.push_str(&format!("  {:<16}", f.name));
    }
    out!("{}", header.trim_end());
    for o in items {
        let mut line = format!("{:<38}  {:>3}", o.id, o.revision);
        for f in &t.fields {
            let v = o.fields.get(&f.name).map_or_else(String::new, ToString::to_string);
            line.push_str(&format!("  {:<16}", v));
        }
        out!("{}", line.trim_end());
    }
    Ok(())
}
