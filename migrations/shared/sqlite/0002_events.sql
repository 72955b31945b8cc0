-- Event plumbing every service database carries (ARCHITECTURE "Events"). One file,
-- linked into each service's migrations, so the services cannot drift apart.

-- One relay instance publishes a database's outbox at a time (keeps seq order); standbys
-- take over when the lease lapses.
CREATE TABLE outbox_lease (
    name       TEXT    NOT NULL PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Consumers record each event id they applied, in the same transaction as the effect.
CREATE TABLE processed_events (
    consumer     TEXT    NOT NULL,
    event_id     TEXT    NOT NULL,
    topic        TEXT    NOT NULL,
    partition_no INTEGER NOT NULL,
    offset_no    INTEGER NOT NULL,
    processed_at INTEGER NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- Messages a consumer gave up on, with the reason.
CREATE TABLE dead_letters (
    id           TEXT    NOT NULL PRIMARY KEY,
    consumer     TEXT    NOT NULL,
    event_id     TEXT    NULL,
    event_type   TEXT    NULL,
    topic        TEXT    NOT NULL,
    partition_no INTEGER NOT NULL,
    offset_no    INTEGER NOT NULL,
    msg_key      TEXT    NULL,
    payload      TEXT    NOT NULL,
    error        TEXT    NOT NULL,
    attempts     INTEGER NOT NULL,
    retried_at   INTEGER NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    deleted_at   INTEGER NULL
);
CREATE INDEX dead_letters_consumer ON dead_letters (consumer, deleted_at, retried_at);

-- Transactional outbox (ARCHITECTURE "Events"): rows are written in the same transaction
-- as the state change; the relay publishes them in seq order and marks them sent.
CREATE TABLE outbox (
    seq            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    id             TEXT    NOT NULL,
    event_type     TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    aggregate_id   TEXT    NOT NULL,
    correlation_id TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    occurred_at    INTEGER NOT NULL,
    payload        TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    published_at   INTEGER NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT    NULL
);
CREATE UNIQUE INDEX outbox_id ON outbox (id);
CREATE INDEX outbox_unpublished ON outbox (published_at, seq);
