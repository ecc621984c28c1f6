//! [`AutomationStore`] on SQLite: segments, memberships, playbooks, tasks.

use crmkit_core::automation::{Membership, Playbook, Segment, Task, TaskQuery};
use crmkit_core::store::AutomationStore;
use crmkit_core::{CustomerId, Result, TaskId};
use rusqlite::params;

use crate::codec::{MEMBERSHIP_COLUMNS, query_json, query_memberships};
use crate::{SqliteStore, db_err};

impl AutomationStore for SqliteStore {
    fn segments(&self) -> Result<Vec<Segment>> {
        self.read(|conn| {
            query_json(
                conn,
                r#"SELECT "data" FROM "segments" ORDER BY "name""#,
                [],
                "reading segments",
            )
        })
    }

    fn playbooks(&self) -> Result<Vec<Playbook>> {
        self.read(|conn| {
            query_json(
                conn,
                r#"SELECT "data" FROM "playbooks" ORDER BY "name""#,
                [],
                "reading playbooks",
            )
        })
    }

    fn automation_revision(&self) -> Result<u64> {
        self.read(|conn| {
            conn.prepare_cached(r#"SELECT "revision" FROM "automation_revision""#)
                .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
                .map(|r| r as u64)
                .map_err(db_err("reading the automation revision"))
        })
    }

    fn memberships(&self, customer: CustomerId) -> Result<Vec<Membership>> {
        let sql = format!(
            r#"SELECT {MEMBERSHIP_COLUMNS} FROM "memberships" WHERE "customer" = ?1 ORDER BY "segment""#
        );
        self.read(|conn| query_memberships(conn, &sql, [&customer.to_bytes()[..]]))
    }

    fn segment_rows(
        &self,
        segment: &str,
        after: Option<CustomerId>,
        limit: usize,
    ) -> Result<Vec<Membership>> {
        let sql = format!(
            r#"SELECT {MEMBERSHIP_COLUMNS} FROM "memberships"
               WHERE "segment" = ?1 AND (?2 IS NULL OR "customer" > ?2)
               ORDER BY "customer" LIMIT ?3"#
        );
        let after = after.map(|id| id.to_bytes().to_vec());
        self.read(|conn| query_memberships(conn, &sql, params![segment, after, limit as i64]))
    }

    fn segment_sizes(&self) -> Result<Vec<(String, u64)>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    r#"SELECT "segment", count(*) FROM "memberships" WHERE "member"
                       GROUP BY "segment" ORDER BY "segment""#,
                )
                .map_err(db_err("counting members"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))
                .map_err(db_err("counting members"))?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err("counting members"))
        })
    }

    fn due_checks(
        &self,
        until: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<Membership>> {
        let sql = format!(
            r#"SELECT {MEMBERSHIP_COLUMNS} FROM "memberships"
               WHERE "next_check" IS NOT NULL AND "next_check" <= ?1
               ORDER BY "next_check", "segment", "customer" LIMIT ?2"#
        );
        // Stored times are whole microseconds: `t <= until` ⇔ `t <= floor(until)`.
        self.read(|conn| {
            query_memberships(conn, &sql, params![until.timestamp_micros(), limit as i64])
        })
    }

    fn tasks(&self, query: &TaskQuery) -> Result<Vec<Task>> {
        self.read(|conn| {
            query_json(
                conn,
                r#"SELECT "data" FROM "tasks"
                   WHERE (?1 IS NULL OR "customer" = ?1) AND (?2 IS NULL OR "status" = ?2)
                     AND (?3 IS NULL OR "assignee" = ?3) AND (?4 IS NULL OR "playbook" = ?4)
                   ORDER BY "due", "id" LIMIT ?5"#,
                params![
                    query.customer.map(|c| c.to_bytes().to_vec()),
                    query.status.map(|s| s.to_string()),
                    query.assignee,
                    query.playbook,
                    query.limit.max(1) as i64
                ],
                "reading tasks",
            )
        })
    }

    fn task(&self, id: TaskId) -> Result<Option<Task>> {
        self.read(|conn| {
            let mut v: Vec<Task> = query_json(
                conn,
                r#"SELECT "data" FROM "tasks" WHERE "id" = ?1"#,
                [&id.0.as_bytes()[..]],
                "reading a task",
            )?;
            Ok(v.pop())
        })
    }
}
