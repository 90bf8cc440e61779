"""The state schema, one forward migration per version, for SQLite and for PostgreSQL.

Both backends number their versions alike. SQLite's ``PRAGMA user_version`` (PostgreSQL's
``qplan_schema`` table) holds the version a database is at. Opening a database applies the
missing steps in order, each in its own transaction; a database at a higher version than
this qplan knows is refused rather than misread. PostgreSQL databases start at
``POSTGRES_BASELINE`` (the schema as it was when PostgreSQL came), then take the steps after
it. Never edit a released step: add one, to both.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "POSTGRES_BASELINE", "POSTGRES_MIGRATIONS", "SCHEMA_VERSION"]

_V1 = """
CREATE TABLE stacks (
    name        TEXT PRIMARY KEY,
    serial      INTEGER NOT NULL DEFAULT 0,   -- bumped by every change to the stack's rows
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);

-- One row per resource: a job instance or a session. Never one document per stack.
CREATE TABLE resources (
    stack            TEXT NOT NULL,
    address          TEXT NOT NULL,           -- rabi[theta=0.5], bell, session.scan
    kind             TEXT NOT NULL,           -- job | session
    job              TEXT NOT NULL,           -- the job (or session) name
    status           TEXT NOT NULL,           -- qplan.jobstatus.JobStatus
    fingerprint      TEXT NOT NULL,           -- what determines the result
    attempt          INTEGER NOT NULL,        -- attempts made for this fingerprint
    idempotency_key  TEXT,                    -- key of the current attempt's submission
    provider         TEXT NOT NULL,
    target           TEXT NOT NULL,
    provider_job_id  TEXT,
    result_hash      TEXT,                    -- results.hash of the current result
    error            TEXT,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL,
    PRIMARY KEY (stack, address)
) WITHOUT ROWID;

-- Append-only log of every transition; it also keeps results of replaced and forgotten rows.
CREATE TABLE events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    stack            TEXT NOT NULL,
    address          TEXT NOT NULL,
    at               REAL NOT NULL,
    serial           INTEGER NOT NULL,
    old_status       TEXT,
    new_status       TEXT,                    -- NULL when the row is forgotten
    fingerprint      TEXT,
    attempt          INTEGER,
    provider_job_id  TEXT,
    result_hash      TEXT,
    detail           TEXT
);
CREATE INDEX events_by_address ON events (stack, address, id);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

-- Results stored once, by content hash; never deleted.
CREATE TABLE results (
    hash        TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    data        BLOB NOT NULL,
    created_at  REAL NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER results_no_delete BEFORE DELETE ON results
    BEGIN SELECT RAISE(ABORT, 'results are never deleted'); END;

CREATE TABLE locks (
    stack         TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    operation     TEXT NOT NULL,
    acquired_at   REAL NOT NULL,
    heartbeat_at  REAL NOT NULL
);
"""

# Version 2: a native batch's members share their dispatch's key, and say their position in
# ``member`` (version 1 wrote it into the key as ``KEY#i``); ``dispatch_ref`` is the
# provider's reference of the dispatch a row's job belongs to (the batch a member runs in).
# ``generation`` counts the forgets of a stack's rows: it enters the idempotency keys of
# later submissions, so that a key never repeats once its row was forgotten (destroy).
_V2 = """
ALTER TABLE resources ADD COLUMN member INTEGER;
ALTER TABLE resources ADD COLUMN dispatch_ref TEXT;
ALTER TABLE stacks ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
UPDATE resources
   SET member = CAST(substr(idempotency_key, instr(idempotency_key, '#') + 1) AS INTEGER),
       idempotency_key = substr(idempotency_key, 1, instr(idempotency_key, '#') - 1),
       dispatch_ref = CASE WHEN instr(provider_job_id, '#') > 0
                           THEN substr(provider_job_id, 1, instr(provider_job_id, '#') - 1)
                           ELSE provider_job_id END
 WHERE instr(idempotency_key, '#') > 0;
UPDATE resources SET dispatch_ref = provider_job_id
 WHERE dispatch_ref IS NULL AND provider_job_id IS NOT NULL;
"""

# Version 3: ``provider_status`` is a provider's own status of a row's resource, where
# qplan's status says less: an Azure session's Waiting, Executing, Failure(s), TimedOut...
_V3 = """
ALTER TABLE resources ADD COLUMN provider_status TEXT;
"""

# Version 4: the device specifications a provider's service publishes (Pulser's JSON of
# each device), kept so that plans check sequences against them without a call each time,
# and offline. A cache, not the stack's state: writing it bumps no serial.
_V4 = """
CREATE TABLE device_specs (
    provider    TEXT NOT NULL,                -- the provider's name in the manifest
    device      TEXT NOT NULL,                -- the device type: FRESNEL, EMU_FREE, ...
    specs       TEXT NOT NULL,                -- as published (Pulser's abstract representation)
    fetched_at  REAL NOT NULL,
    PRIMARY KEY (provider, device)
) WITHOUT ROWID;
"""

# Version 5: a stack's ``lineage``, made with its first write and kept by every copy of its
# state (state pull, push, migrate): a push onto another stack's state of the same name is
# refused unless forced.
_V5 = """
ALTER TABLE stacks ADD COLUMN lineage TEXT;
UPDATE stacks SET lineage = lower(hex(randomblob(16)));
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5)
SCHEMA_VERSION = len(MIGRATIONS)

# PostgreSQL: the schema at version 5 in one step, in the database's ``qplan`` schema (or the
# one the URL names). Types are PostgreSQL's own; the columns, their order, and the rules
# (append-only events, results never deleted) are SQLite's.
_POSTGRES_V5 = """
CREATE TABLE stacks (
    name        TEXT PRIMARY KEY,
    serial      BIGINT NOT NULL DEFAULT 0,
    created_at  DOUBLE PRECISION NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL,
    generation  BIGINT NOT NULL DEFAULT 0,
    lineage     TEXT
);

CREATE TABLE resources (
    stack            TEXT NOT NULL,
    address          TEXT NOT NULL,
    kind             TEXT NOT NULL,
    job              TEXT NOT NULL,
    status           TEXT NOT NULL,
    fingerprint      TEXT NOT NULL,
    attempt          INTEGER NOT NULL,
    idempotency_key  TEXT,
    provider         TEXT NOT NULL,
    target           TEXT NOT NULL,
    provider_job_id  TEXT,
    result_hash      TEXT,
    error            TEXT,
    created_at       DOUBLE PRECISION NOT NULL,
    updated_at       DOUBLE PRECISION NOT NULL,
    member           INTEGER,
    dispatch_ref     TEXT,
    provider_status  TEXT,
    PRIMARY KEY (stack, address)
);

CREATE TABLE events (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stack            TEXT NOT NULL,
    address          TEXT NOT NULL,
    at               DOUBLE PRECISION NOT NULL,
    serial           BIGINT NOT NULL,
    old_status       TEXT,
    new_status       TEXT,
    fingerprint      TEXT,
    attempt          INTEGER,
    provider_job_id  TEXT,
    result_hash      TEXT,
    detail           TEXT
);
CREATE INDEX events_by_address ON events (stack, address, id);

CREATE TABLE results (
    hash        TEXT PRIMARY KEY,
    size        BIGINT NOT NULL,
    data        BYTEA NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL
);

CREATE FUNCTION qplan_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0];
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION qplan_refuse('events are append-only');
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION qplan_refuse('events are append-only');
CREATE TRIGGER results_no_delete BEFORE DELETE ON results
    FOR EACH ROW EXECUTE FUNCTION qplan_refuse('results are never deleted');
CREATE TRIGGER results_no_truncate BEFORE TRUNCATE ON results
    FOR EACH STATEMENT EXECUTE FUNCTION qplan_refuse('results are never deleted');

CREATE TABLE locks (
    stack         TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    operation     TEXT NOT NULL,
    acquired_at   DOUBLE PRECISION NOT NULL,
    heartbeat_at  DOUBLE PRECISION NOT NULL
);

CREATE TABLE device_specs (
    provider    TEXT NOT NULL,
    device      TEXT NOT NULL,
    specs       TEXT NOT NULL,
    fetched_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (provider, device)
);
"""

POSTGRES_BASELINE = 5
# (from, to, script): an empty database (version 0) goes to the baseline in one step, then
# one step per version, as SQLite's
POSTGRES_MIGRATIONS: tuple[tuple[int, int, str], ...] = ((0, POSTGRES_BASELINE, _POSTGRES_V5),)
