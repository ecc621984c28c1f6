-- crmkit schema, version 4: the generic record layer (crmkit-core's `Record`). Domains (deals,
-- cases, campaigns, user-defined objects) store their records here, so a new domain needs no
-- table of its own. The body is the domain's JSON; "index" is the record's index values as JSON,
-- to read them back typed.
CREATE TABLE "records" (
    "kind"     TEXT    NOT NULL,
    "id"       TEXT    NOT NULL,
    "revision" INTEGER NOT NULL,
    "body"     TEXT    NOT NULL,
    "index"    TEXT    NOT NULL,
    PRIMARY KEY ("kind", "id")
) WITHOUT ROWID;

-- One row per index value of a record. "key" is `IndexValue::sort_key`, whose byte order is the
-- values' order, so a range of values is a range of keys (BLOBs compare with memcmp).
CREATE TABLE "record_index" (
    "kind" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "key"  BLOB NOT NULL,
    "id"   TEXT NOT NULL,
    PRIMARY KEY ("kind", "name", "key", "id"),
    FOREIGN KEY ("kind", "id") REFERENCES "records" ("kind", "id") ON DELETE CASCADE
) WITHOUT ROWID;

CREATE INDEX "record_index_by_record" ON "record_index" ("kind", "id");
