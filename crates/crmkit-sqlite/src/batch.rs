//! [`SqliteBatch`]: the storage primitives and reads that crmkit-core's `apply_batch` runs a
//! batch through, inside the write transaction `SqliteStore::write` has begun. No rule is
//! checked here: the rules live once in crmkit-core.

use std::collections::HashMap;

use crmkit_core::automation::{Membership, NewEvent, Playbook, Segment, Task};
use crmkit_core::store::{BatchView, BatchWriter, CustomerScore, ModelRecord, Record};
use crmkit_core::{
    AuditRecord, Channel, Customer, CustomerId, Error, FieldDef, FieldType, IdentityKey,
    InteractionId, InteractionKind, NewInteraction, Result,
};
use rusqlite::{CachedStatement, Connection, OptionalExtension, params};

use crate::codec::{id_from_blob, json_err};
use crate::db_err;

/// One batch's writes on the open write transaction.
pub(crate) struct SqliteBatch<'c> {
    tx: &'c Connection,
    /// Customer id -> seq for this batch: imports append thousands of rows for few customers.
    seqs: HashMap<CustomerId, i64>,
    /// Prepared once per batch: the statement-cache lookup was a tenth of the row cost.
    append: Option<CachedStatement<'c>>,
}

impl<'c> SqliteBatch<'c> {
    pub(crate) fn new(tx: &'c Connection) -> Self {
        SqliteBatch { tx, seqs: HashMap::new(), append: None }
    }

    /// A customer's `seq` through the batch's cache, or [`Error::NotFound`].
    fn seq(&mut self, id: CustomerId) -> Result<i64> {
        if let Some(seq) = self.seqs.get(&id) {
            return Ok(*seq);
        }
        let (seq, _) = customer_seq(self.tx, id)?.ok_or_else(|| not_found(id))?;
        self.seqs.insert(id, seq);
        Ok(seq)
    }

    fn execute(&self, sql: &str, params: impl rusqlite::Params, what: &str) -> Result<usize> {
        self.tx.prepare_cached(sql).and_then(|mut s| s.execute(params)).map_err(db_err(what))
    }

    fn query_i64(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        what: &str,
    ) -> Result<Option<i64>> {
        self.tx
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row(params, |r| r.get(0)).optional())
            .map_err(db_err(what))
    }
}

impl BatchView for SqliteBatch<'_> {
    fn customer_revision(&mut self, id: CustomerId) -> Result<Option<u64>> {
        Ok(customer_seq(self.tx, id)?.map(|(seq, revision)| {
            self.seqs.insert(id, seq);
            revision
        }))
    }

    fn customer_exists(&mut self, id: CustomerId) -> Result<bool> {
        match self.seq(id) {
            Ok(_) => Ok(true),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn identity_key_owner(&mut self, key: &IdentityKey) -> Result<Option<CustomerId>> {
        let owner: Option<Vec<u8>> = self
            .tx
            .prepare_cached(
                r#"SELECT c."id" FROM "identity_keys" k JOIN "customers" c ON c."seq" = k."customer"
                   WHERE k."key" = ?1"#,
            )
            .and_then(|mut s| s.query_row([key.to_string()], |r| r.get(0)).optional())
            .map_err(db_err("checking identity keys"))?;
        owner.map(|b| id_from_blob(&b)).transpose()
    }

    fn field_type(&mut self, name: &str) -> Result<Option<FieldType>> {
        let stored: Option<String> = self
            .tx
            .prepare_cached(r#"SELECT "field_type" FROM "field_defs" WHERE "name" = ?1"#)
            .and_then(|mut s| s.query_row([name], |r| r.get(0)).optional())
            .map_err(db_err("reading field definitions"))?;
        stored.map(|t| t.parse()).transpose()
    }

    fn latest_model_version(&mut self) -> Result<u64> {
        let sql = r#"SELECT coalesce(max("version"), 0) FROM "models""#;
        Ok(self.query_i64(sql, [], "reading model versions")?.unwrap_or(0) as u64)
    }

    fn segment_exists(&mut self, name: &str) -> Result<bool> {
        let sql = r#"SELECT 1 FROM "segments" WHERE "name" = ?1"#;
        Ok(self.query_i64(sql, [name], "reading segments")?.is_some())
    }

    fn playbook_exists(&mut self, name: &str) -> Result<bool> {
        let sql = r#"SELECT 1 FROM "playbooks" WHERE "name" = ?1"#;
        Ok(self.query_i64(sql, [name], "reading playbooks")?.is_some())
    }

    fn last_event_seq(&mut self) -> Result<u64> {
        let sql = r#"SELECT coalesce(max("seq"), 0) FROM "events""#;
        Ok(self.query_i64(sql, [], "reading events")?.unwrap_or(0) as u64)
    }

    fn consumer_cursor(&mut self, consumer: &str) -> Result<Option<u64>> {
        let sql = r#"SELECT "cursor" FROM "consumers" WHERE "name" = ?1"#;
        Ok(self.query_i64(sql, [consumer], "reading a consumer cursor")?.map(|c| c as u64))
    }

    fn record_revision(&mut self, kind: &str, id: &str) -> Result<Option<u64>> {
        let sql = r#"SELECT "revision" FROM "records" WHERE "kind" = ?1 AND "id" = ?2"#;
        Ok(self.query_i64(sql, [kind, id], "reading a record")?.map(|r| r as u64))
    }
}

impl BatchWriter for SqliteBatch<'_> {
    fn insert_customer(&mut self, customer: Customer) -> Result<()> {
        let seq = write_customer(self.tx, &customer, None)?;
        self.seqs.insert(customer.id, seq);
        Ok(())
    }

    fn replace_customer(&mut self, customer: Customer) -> Result<()> {
        let seq = self.seq(customer.id)?;
        write_customer(self.tx, &customer, Some(seq)).map(drop)
    }

    fn append_interaction(&mut self, n: &NewInteraction) -> Result<Option<InteractionId>> {
        let seq = self.seq(n.customer)?;
        let tx = self.tx;
        let insert = match &mut self.append {
            Some(stmt) => stmt,
            None => self
                .append
                .insert(tx.prepare_cached(APPEND_SQL).map_err(db_err("appending an interaction"))?),
        };
        append_interaction(tx, insert, seq, n)
    }

    fn append_interaction_event(
        &mut self,
        id: InteractionId,
        interaction: &NewInteraction,
    ) -> Result<u64> {
        write_interaction_event(self.tx, id, interaction)
    }

    fn append_event(&mut self, event: NewEvent) -> Result<u64> {
        write_event(self.tx, event)
    }

    fn define_field(&mut self, def: FieldDef) -> Result<()> {
        let sql = r#"INSERT INTO "field_defs" ("name", "field_type") VALUES (?1, ?2)"#;
        self.execute(sql, params![def.name, def.field_type.to_string()], "defining a field")
            .map(drop)
    }

    fn append_audit(&mut self, record: AuditRecord) -> Result<()> {
        write_audit(self.tx, &record)
    }

    fn insert_model(&mut self, model: ModelRecord) -> Result<()> {
        let json = serde_json::to_string(&model.models).map_err(json_err("encoding a model"))?;
        let sql = r#"INSERT INTO "models" ("version", "fitted_at", "as_of", "time_unit", "currency", "models")
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)"#;
        let values = params![
            model.version as i64,
            model.fitted_at.timestamp_micros(),
            model.as_of.timestamp_micros(),
            model.time_unit,
            model.currency.map(|c| c.code().to_owned()),
            json
        ];
        self.execute(sql, values, "saving a model").map(drop)
    }

    fn put_score(&mut self, score: CustomerScore) -> Result<()> {
        let seq = self.seq(score.customer)?;
        let data = serde_json::to_string(&score).map_err(json_err("encoding scores"))?;
        let sql = r#"INSERT INTO "scores" ("customer", "model_version", "data") VALUES (?1, ?2, ?3)
                     ON CONFLICT ("customer") DO UPDATE SET "model_version" = excluded."model_version",
                                                            "data" = excluded."data""#;
        self.execute(sql, params![seq, score.model_version as i64, data], "saving scores").map(drop)
    }

    fn put_segment(&mut self, segment: Segment) -> Result<()> {
        let data = serde_json::to_string(&segment).map_err(json_err("encoding a segment"))?;
        let sql = r#"INSERT INTO "segments" ("name", "data") VALUES (?1, ?2)
                     ON CONFLICT ("name") DO UPDATE SET "data" = excluded."data""#;
        self.execute(sql, params![segment.name, data], "saving a segment").map(drop)
    }

    fn delete_segment(&mut self, name: &str) -> Result<()> {
        let what = "deleting a segment";
        self.execute(r#"DELETE FROM "memberships" WHERE "segment" = ?1"#, [name], what)?;
        self.execute(r#"DELETE FROM "segments" WHERE "name" = ?1"#, [name], what).map(drop)
    }

    fn put_membership(&mut self, m: Membership) -> Result<()> {
        let sql = r#"INSERT INTO "memberships" ("segment", "customer", "member", "since", "version", "leaves", "next_check")
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT ("customer", "segment") DO UPDATE SET
                       "member" = excluded."member", "since" = excluded."since",
                       "version" = excluded."version", "leaves" = excluded."leaves",
                       "next_check" = excluded."next_check""#;
        let values = params![
            m.segment,
            &m.customer.to_bytes()[..],
            m.member,
            m.since.timestamp_micros(),
            m.version as i64,
            m.leaves as i64,
            m.next_check.map(|t| t.timestamp_micros()),
        ];
        self.execute(sql, values, "saving a membership").map(drop)
    }

    fn delete_membership(&mut self, segment: &str, customer: CustomerId) -> Result<()> {
        let sql = r#"DELETE FROM "memberships" WHERE "segment" = ?1 AND "customer" = ?2"#;
        self.execute(sql, params![segment, &customer.to_bytes()[..]], "deleting a membership")
            .map(drop)
    }

    fn put_playbook(&mut self, playbook: Playbook) -> Result<()> {
        let data = serde_json::to_string(&playbook).map_err(json_err("encoding a playbook"))?;
        let sql = r#"INSERT INTO "playbooks" ("name", "data") VALUES (?1, ?2)
                     ON CONFLICT ("name") DO UPDATE SET "data" = excluded."data""#;
        self.execute(sql, params![playbook.name, data], "saving a playbook").map(drop)
    }

    fn delete_playbook(&mut self, name: &str) -> Result<()> {
        let sql = r#"DELETE FROM "playbooks" WHERE "name" = ?1"#;
        self.execute(sql, [name], "deleting a playbook").map(drop)
    }

    fn bump_automation_revision(&mut self) -> Result<()> {
        let sql = r#"UPDATE "automation_revision" SET "revision" = "revision" + 1"#;
        self.execute(sql, [], "bumping the automation revision").map(drop)
    }

    fn set_consumer_cursor(&mut self, consumer: &str, seq: u64) -> Result<()> {
        let sql = r#"INSERT INTO "consumers" ("name", "cursor") VALUES (?1, ?2)
                     ON CONFLICT ("name") DO UPDATE SET "cursor" = excluded."cursor""#;
        self.execute(sql, params![consumer, seq as i64], "acknowledging events").map(drop)
    }

    fn put_task(&mut self, task: Task) -> Result<()> {
        let data = serde_json::to_string(&task).map_err(json_err("encoding a task"))?;
        let sql = r#"INSERT INTO "tasks" ("id", "customer", "status", "due", "assignee", "playbook", "data")
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT ("id") DO UPDATE SET "customer" = excluded."customer",
                       "status" = excluded."status", "due" = excluded."due",
                       "assignee" = excluded."assignee", "playbook" = excluded."playbook",
                       "data" = excluded."data""#;
        let values = params![
            &task.id.0.as_bytes()[..],
            &task.customer.to_bytes()[..],
            task.status.to_string(),
            task.due.timestamp_micros(),
            task.assignee,
            task.playbook,
            data
        ];
        self.execute(sql, values, "saving a task").map(drop)
    }

    fn put_record(&mut self, record: Record) -> Result<()> {
        let what = "saving a record";
        let body = serde_json::to_string(&record.body).map_err(json_err(what))?;
        let index = serde_json::to_string(&record.index).map_err(json_err(what))?;
        let sql = r#"INSERT INTO "records" ("kind", "id", "revision", "body", "index")
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT ("kind", "id") DO UPDATE SET "revision" = excluded."revision",
                       "body" = excluded."body", "index" = excluded."index""#;
        let values = params![record.kind, record.id, record.revision as i64, body, index];
        self.execute(sql, values, what)?;
        let sql = r#"DELETE FROM "record_index" WHERE "kind" = ?1 AND "id" = ?2"#;
        self.execute(sql, [&record.kind, &record.id], what)?;
        let mut insert = self
            .tx
            .prepare_cached(
                r#"INSERT INTO "record_index" ("kind", "name", "key", "id") VALUES (?1, ?2, ?3, ?4)"#,
            )
            .map_err(db_err(what))?;
        for (name, value) in &record.index {
            insert
                .execute(params![record.kind, name, value.sort_key(), record.id])
                .map_err(db_err(what))?;
        }
        Ok(())
    }

    fn delete_record(&mut self, kind: &str, id: &str) -> Result<()> {
        // The index rows go with it (ON DELETE CASCADE).
        let sql = r#"DELETE FROM "records" WHERE "kind" = ?1 AND "id" = ?2"#;
        self.execute(sql, [kind, id], "deleting a record").map(drop)
    }
}

/// Customer `seq` (internal row key) by public id, if the customer exists.
fn customer_seq(tx: &Connection, id: CustomerId) -> Result<Option<(i64, u64)>> {
    tx.prepare_cached(r#"SELECT "seq", "revision" FROM "customers" WHERE "id" = ?1"#)
        .and_then(|mut s| {
            s.query_row([&id.to_bytes()[..]], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
                .optional()
        })
        .map_err(db_err("looking up a customer"))
}

fn not_found(id: CustomerId) -> Error {
    Error::NotFound { entity: "customer", key: id.to_string() }
}

/// Writes a customer's row, keys and tags (`seq` is `None` for a new customer).
fn write_customer(tx: &Connection, c: &Customer, seq: Option<i64>) -> Result<i64> {
    let data = serde_json::to_string(c).map_err(json_err("encoding a customer"))?;
    let name_lower = c.name.to_lowercase();
    let seq = match seq {
        None => {
            tx.prepare_cached(
                r#"INSERT INTO "customers" ("id", "name_lower", "stage", "revision", "data")
                   VALUES (?1, ?2, ?3, ?4, ?5)"#,
            )
            .and_then(|mut s| {
                s.execute(params![
                    &c.id.to_bytes()[..],
                    name_lower,
                    c.stage.as_str(),
                    c.revision as i64,
                    data
                ])
            })
            .map_err(db_err("inserting a customer"))?;
            tx.last_insert_rowid()
        }
        Some(seq) => {
            tx.prepare_cached(
                r#"UPDATE "customers" SET "name_lower" = ?2, "stage" = ?3, "revision" = ?4, "data" = ?5
                   WHERE "seq" = ?1"#,
            )
            .and_then(|mut s| {
                s.execute(params![seq, name_lower, c.stage.as_str(), c.revision as i64, data])
            })
            .map_err(db_err("updating a customer"))?;
            for sql in [
                r#"DELETE FROM "identity_keys" WHERE "customer" = ?1"#,
                r#"DELETE FROM "customer_tags" WHERE "customer" = ?1"#,
            ] {
                tx.prepare_cached(sql)
                    .and_then(|mut s| s.execute([seq]))
                    .map_err(db_err("updating a customer"))?;
            }
            seq
        }
    };
    let mut keys = tx
        .prepare_cached(
            r#"INSERT OR IGNORE INTO "identity_keys" ("key", "customer") VALUES (?1, ?2)"#,
        )
        .map_err(db_err("writing identity keys"))?;
    for k in &c.identities {
        keys.execute(params![k.to_string(), seq]).map_err(db_err("writing identity keys"))?;
    }
    let mut tags = tx
        .prepare_cached(
            r#"INSERT OR IGNORE INTO "customer_tags" ("tag", "customer") VALUES (?1, ?2)"#,
        )
        .map_err(db_err("writing tags"))?;
    for t in &c.tags {
        tags.execute(params![t, seq]).map_err(db_err("writing tags"))?;
    }
    Ok(seq)
}

/// The serde tag of an interaction kind, stored in the `kind` column.
fn kind_tag(kind: &InteractionKind) -> &'static str {
    match kind {
        InteractionKind::Purchase { .. } => "purchase",
        InteractionKind::Refund { .. } => "refund",
        InteractionKind::Email { .. } => "email",
        InteractionKind::Call { .. } => "call",
        InteractionKind::Meeting { .. } => "meeting",
        InteractionKind::TicketOpened { .. } => "ticket_opened",
        InteractionKind::TicketResolved { .. } => "ticket_resolved",
        InteractionKind::WebVisit { .. } => "web_visit",
        InteractionKind::Note { .. } => "note",
        InteractionKind::Custom { .. } => "custom",
        // InteractionKind is exhaustive today; a new kind would be kept whole in `detail`.
    }
}

const APPEND_SQL: &str = r#"INSERT INTO "interactions"
    ("customer", "occurred_at", "kind", "amount", "currency", "detail", "channel", "properties", "idempotency_key")
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
    ON CONFLICT ("idempotency_key") DO NOTHING"#;

/// Appends one interaction; `None` if its idempotency key is already stored.
fn append_interaction(
    tx: &Connection,
    insert: &mut rusqlite::CachedStatement<'_>,
    seq: i64,
    n: &NewInteraction,
) -> Result<Option<InteractionId>> {
    let (amount, currency, detail) = match &n.kind {
        InteractionKind::Purchase { total, items } | InteractionKind::Refund { total, items }
            if items.is_empty() =>
        {
            (Some(total.amount.to_string()), Some(total.currency.code()), None)
        }
        other => {
            let money = other.amount();
            (
                money.map(|m| m.amount.to_string()),
                money.map(|m| m.currency.code()),
                Some(serde_json::to_string(other).map_err(json_err("encoding an interaction"))?),
            )
        }
    };
    let properties = if n.properties.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&n.properties).map_err(json_err("encoding properties"))?)
    };
    let changed = insert
        .execute(params![
            seq,
            n.occurred_at.timestamp_micros(),
            kind_tag(&n.kind),
            amount,
            currency,
            detail,
            n.channel.as_ref().map(Channel::as_str),
            properties,
            n.idempotency_key,
        ])
        .map_err(db_err("appending an interaction"))?;
    Ok((changed == 1).then(|| InteractionId(tx.last_insert_rowid() as u64)))
}

fn write_event(tx: &Connection, e: NewEvent) -> Result<u64> {
    let payload = serde_json::to_string(&e.payload).map_err(json_err("encoding an event"))?;
    tx.prepare_cached(
        r#"INSERT INTO "events" ("at", "customer", "type", "payload") VALUES (?1, ?2, ?3, ?4)"#,
    )
    .and_then(|mut s| {
        s.execute(params![
            e.at.timestamp_micros(),
            e.customer.map(|c| c.to_bytes().to_vec()),
            e.payload.type_name(),
            payload
        ])
    })
    .map_err(db_err("writing an event"))?;
    Ok(tx.last_insert_rowid() as u64)
}

/// The `interaction_recorded` event of a written interaction: a reference to the row, which
/// [`OutboxStore::events`](crmkit_core::OutboxStore::events) turns back into the payload `interaction_event` describes.
fn write_interaction_event(tx: &Connection, id: InteractionId, n: &NewInteraction) -> Result<u64> {
    tx.prepare_cached(
        r#"INSERT INTO "events" ("at", "customer", "type", "interaction")
           VALUES (?1, ?2, 'interaction_recorded', ?3)"#,
    )
    .and_then(|mut s| {
        s.execute(params![
            n.occurred_at.timestamp_micros(),
            &n.customer.to_bytes()[..],
            id.0 as i64
        ])
    })
    .map_err(db_err("writing an event"))?;
    Ok(tx.last_insert_rowid() as u64)
}

fn write_audit(tx: &Connection, r: &AuditRecord) -> Result<()> {
    let enc = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(json_err("encoding an audit entry"))
    };
    let (old, new) = (enc(&r.old)?, enc(&r.new)?);
    tx.prepare_cached(
        r#"INSERT INTO "audit_log" ("customer", "at", "actor", "field", "old", "new")
           VALUES (?1, ?2, ?3, ?4, ?5, ?6)"#,
    )
    .and_then(|mut s| {
        s.execute(params![
            &r.customer.to_bytes()[..],
            r.at.timestamp_micros(),
            r.actor,
            r.field,
            old,
            new
        ])
    })
    .map_err(db_err("writing the audit log"))?;
    Ok(())
}
