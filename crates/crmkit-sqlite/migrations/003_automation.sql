-- crmkit schema, version 3: segments and their membership, the event outbox and its consumers,
-- playbooks and tasks. Definitions are stored whole as JSON (serde of crmkit-core's types);
-- what is queried has its own columns.
CREATE TABLE "segments" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "data" TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE "playbooks" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "data" TEXT NOT NULL
) WITHOUT ROWID;

-- Bumped by every change of segments or playbooks; engines cache definitions by it.
CREATE TABLE "automation_revision" (
    "one"      INTEGER NOT NULL PRIMARY KEY CHECK ("one" = 1),
    "revision" INTEGER NOT NULL
);
INSERT INTO "automation_revision" VALUES (1, 0);

-- Members, and non-members with a scheduled re-check. "customer" is the customer's id (UUID
-- bytes), so rows sort by id like MemoryStore's. Clustered by customer: one write re-evaluates
-- one customer against many segments, and keyed by segment first those rows sat on as many
-- pages, each rewritten into the WAL (1.7 ms a purchase with 50 segments; see NOTES.md).
CREATE TABLE "memberships" (
    "customer"   BLOB    NOT NULL REFERENCES "customers" ("id"),
    "segment"    TEXT    NOT NULL REFERENCES "segments" ("name") ON DELETE CASCADE,
    "member"     INTEGER NOT NULL,
    "since"      INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
    "version"    INTEGER NOT NULL,
    "leaves"     INTEGER NOT NULL, -- u64 bit set, stored as its i64 bit pattern
    "next_check" INTEGER,
    PRIMARY KEY ("customer", "segment")
) WITHOUT ROWID;
CREATE INDEX "memberships_by_segment" ON "memberships" ("segment", "customer");
CREATE INDEX "memberships_due" ON "memberships" ("next_check", "segment", "customer")
    WHERE "next_check" IS NOT NULL;

-- The outbox. "seq" is the rowid: rows are never deleted, so it counts 1, 2, 3...
-- An interaction_recorded event refers to its interaction instead of copying it as JSON: imports
-- write one per row, and the copy cost a third of the import's time.
CREATE TABLE "events" (
    "seq"         INTEGER PRIMARY KEY,
    "at"          INTEGER NOT NULL,
    "customer"    BLOB,
    "type"        TEXT    NOT NULL,
    "payload"     TEXT,    -- JSON of the payload; NULL when "interaction" says it all
    "interaction" INTEGER REFERENCES "interactions" ("id")
);

CREATE TABLE "consumers" (
    "name"   TEXT    NOT NULL PRIMARY KEY,
    "cursor" INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE "tasks" (
    "id"       BLOB    NOT NULL PRIMARY KEY,
    "customer" BLOB    NOT NULL REFERENCES "customers" ("id"),
    "status"   TEXT    NOT NULL,
    "due"      INTEGER NOT NULL,
    "assignee" TEXT,
    "playbook" TEXT,
    "data"     TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX "tasks_by_due" ON "tasks" ("due", "id");
CREATE INDEX "tasks_by_customer" ON "tasks" ("customer");
