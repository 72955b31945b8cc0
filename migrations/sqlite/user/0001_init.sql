-- User service (nakku_user), SQLite.
-- Timestamps are BIGINT milliseconds since the epoch (UTC); ids are UUIDv7 strings.

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    email         TEXT    NOT NULL,
    phone         TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL DEFAULT 'user',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    deleted_at    INTEGER NULL
);
-- A deleted account frees its email and phone for a new registration.
CREATE UNIQUE INDEX users_email_live ON users (email) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX users_phone_live ON users (phone) WHERE deleted_at IS NULL;
CREATE INDEX users_role ON users (role, id);

CREATE TABLE refresh_tokens (
    id          TEXT    NOT NULL PRIMARY KEY,
    user_id     TEXT    NOT NULL REFERENCES users (id),
    family_id   TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER NULL,
    user_agent  TEXT    NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER NULL
);
CREATE UNIQUE INDEX refresh_tokens_hash ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE addresses (
    id          TEXT    NOT NULL PRIMARY KEY,
    user_id     TEXT    NOT NULL REFERENCES users (id),
    label       TEXT    NOT NULL,
    line1       TEXT    NOT NULL,
    line2       TEXT    NULL,
    city        TEXT    NOT NULL,
    pincode     TEXT    NOT NULL,
    lat         REAL    NOT NULL,
    lng         REAL    NOT NULL,
    is_default  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER NULL
);
CREATE INDEX addresses_user ON addresses (user_id, deleted_at);
