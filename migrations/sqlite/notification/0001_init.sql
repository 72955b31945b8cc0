-- Notification service (nakku_notification), SQLite.

-- Who can be reached how: a replica of the accounts (user.* events).
CREATE TABLE contacts (
    user_id    TEXT    NOT NULL PRIMARY KEY,
    email      TEXT    NULL,
    phone      TEXT    NULL,
    name       TEXT    NULL,
    role       TEXT    NOT NULL DEFAULT 'user',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER NULL
);
CREATE INDEX contacts_role ON contacts (role);

-- Push tokens of a shopper's devices.
CREATE TABLE devices (
    id         TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    token      TEXT    NOT NULL,
    platform   TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER NULL
);
CREATE UNIQUE INDEX devices_token ON devices (token);
CREATE INDEX devices_user ON devices (user_id);

-- What a user turned off (no row: on) and their quiet hours (minutes after local midnight).
CREATE TABLE preferences (
    user_id     TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    category    TEXT    NOT NULL,
    enabled     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, channel, category)
);
CREATE TABLE quiet_hours (
    user_id      TEXT    NOT NULL PRIMARY KEY,
    start_minute INTEGER NOT NULL,
    end_minute   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

-- One message per event, user and channel (the unique key is the de-duplication).
-- status: pending | sent | failed (dead-lettered after the last attempt) | suppressed.
CREATE TABLE notifications (
    id            TEXT    NOT NULL PRIMARY KEY,
    user_id       TEXT    NOT NULL,
    event_id      TEXT    NOT NULL,
    event_type    TEXT    NOT NULL,
    channel       TEXT    NOT NULL,
    category      TEXT    NOT NULL,
    title         TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    reason        TEXT    NULL,
    recipient     TEXT    NULL,
    provider      TEXT    NULL,
    provider_ref  TEXT    NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT    NULL,
    send_after    INTEGER NOT NULL,
    claimed_until INTEGER NOT NULL DEFAULT 0,
    sent_at       INTEGER NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    deleted_at    INTEGER NULL
);
CREATE UNIQUE INDEX notifications_once ON notifications (event_id, user_id, channel);
CREATE INDEX notifications_due ON notifications (status, send_after);
CREATE INDEX notifications_user ON notifications (user_id, created_at);
