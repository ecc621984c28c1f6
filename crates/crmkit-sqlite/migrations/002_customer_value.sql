-- crmkit schema, version 2: customer value (fitted models and scores).
CREATE TABLE "models" (
    "version"    INTEGER PRIMARY KEY,
    "fitted_at"  INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
    "as_of"      INTEGER NOT NULL,
    "time_unit"  TEXT    NOT NULL,
    "currency"   TEXT,
    "models"     TEXT    NOT NULL  -- JSON, versioned by crmkit-clv
);

-- Each customer's latest scores; "data" is the whole CustomerScore as JSON.
CREATE TABLE "scores" (
    "customer"      INTEGER NOT NULL PRIMARY KEY REFERENCES "customers" ("seq"),
    "model_version" INTEGER NOT NULL REFERENCES "models" ("version"),
    "data"          TEXT    NOT NULL
);
