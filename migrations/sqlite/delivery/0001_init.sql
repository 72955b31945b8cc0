-- Delivery service (nakku_delivery), SQLite.

-- Replica of the dark stores (inventory.store.updated), as the location service keeps it.
CREATE TABLE stores (
    id          TEXT    NOT NULL PRIMARY KEY,
    code        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    lat         REAL    NOT NULL,
    lng         REAL    NOT NULL,
    opens_at    TEXT    NOT NULL,
    closes_at   TEXT    NOT NULL,
    active      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER NULL
);
CREATE INDEX stores_code ON stores (code);

-- Delivery partners: accounts with the delivery_partner role, their vehicle, home store,
-- shift and last known position.
CREATE TABLE partners (
    user_id          TEXT    NOT NULL PRIMARY KEY,
    name             TEXT    NOT NULL,
    vehicle          TEXT    NOT NULL,
    home_store       TEXT    NOT NULL,
    on_shift         INTEGER NOT NULL DEFAULT 0,
    shift_started_at INTEGER NULL,
    lat              REAL    NULL,
    lng              REAL    NULL,
    position_at      INTEGER NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    deleted_at       INTEGER NULL
);
CREATE INDEX partners_store ON partners (home_store, on_shift);

-- Recent positions per partner (trimmed to the newest few hundred and a day).
CREATE TABLE partner_positions (
    partner_id TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    lat        REAL    NOT NULL,
    lng        REAL    NOT NULL,
    accuracy_m REAL    NULL,
    PRIMARY KEY (partner_id, at)
);
