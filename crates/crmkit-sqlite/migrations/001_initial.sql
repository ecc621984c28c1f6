-- crmkit schema, version 1.
-- Customers are kept whole as JSON ("data"), with the columns that queries filter on beside it.
-- "seq" is the internal row key other tables reference; "id" is the public UUID (16 bytes).
CREATE TABLE "customers" (
    "seq"        INTEGER PRIMARY KEY,
    "id"         BLOB    NOT NULL UNIQUE,
    "name_lower" TEXT    NOT NULL,
    "stage"      TEXT    NOT NULL,
    "revision"   INTEGER NOT NULL,
    "data"       TEXT    NOT NULL
);

CREATE TABLE "identity_keys" (
    "key"      TEXT    NOT NULL PRIMARY KEY,
    "customer" INTEGER NOT NULL REFERENCES "customers" ("seq")
) WITHOUT ROWID;
CREATE INDEX "identity_keys_customer" ON "identity_keys" ("customer");

CREATE TABLE "customer_tags" (
    "tag"      TEXT    NOT NULL,
    "customer" INTEGER NOT NULL REFERENCES "customers" ("seq"),
    PRIMARY KEY ("tag", "customer")
) WITHOUT ROWID;
CREATE INDEX "customer_tags_customer" ON "customer_tags" ("customer");

-- Interactions: "id" is the public InteractionId (append order). A plain purchase or refund
-- needs only amount and currency; every other kind keeps its details as JSON in "detail".
CREATE TABLE "interactions" (
    "id"              INTEGER PRIMARY KEY,
    "customer"        INTEGER NOT NULL REFERENCES "customers" ("seq"),
    "occurred_at"     INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
    "kind"            TEXT    NOT NULL, -- the serde tag of InteractionKind
    "amount"          TEXT,             -- exact decimal, purchases and refunds
    "currency"        TEXT,
    "detail"          TEXT,             -- JSON InteractionKind, when amount/currency do not say it all
    "channel"         TEXT,
    "properties"      TEXT,             -- JSON object, NULL when empty
    "idempotency_key" TEXT UNIQUE
);
CREATE INDEX "interactions_customer_time" ON "interactions" ("customer", "occurred_at");

CREATE TABLE "field_defs" (
    "name"       TEXT NOT NULL PRIMARY KEY,
    "field_type" TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE "audit_log" (
    "seq"      INTEGER PRIMARY KEY,
    "customer" BLOB    NOT NULL,
    "at"       INTEGER NOT NULL,
    "actor"    TEXT    NOT NULL,
    "field"    TEXT    NOT NULL,
    "old"      TEXT,
    "new"      TEXT
);
CREATE INDEX "audit_log_customer" ON "audit_log" ("customer", "seq");
