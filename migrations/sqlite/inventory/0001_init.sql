-- Inventory service (nakku_inventory), SQLite. Quantities are whole units.

-- Dark stores.
CREATE TABLE warehouses (
    id          TEXT    NOT NULL PRIMARY KEY,
    code        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    city        TEXT    NOT NULL,
    lat         REAL    NOT NULL,
    lng         REAL    NOT NULL,
    opens_at    INTEGER NOT NULL,   -- minutes after local midnight (IST)
    closes_at   INTEGER NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER NULL
);
CREATE UNIQUE INDEX warehouses_code_live ON warehouses (code) WHERE deleted_at IS NULL;

-- Stock of one sku at one store. available = on_hand - reserved, never negative.
CREATE TABLE stock (
    id            TEXT    NOT NULL PRIMARY KEY,
    warehouse_id  TEXT    NOT NULL REFERENCES warehouses (id),
    sku           TEXT    NOT NULL,
    on_hand       INTEGER NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved      INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand),
    low_threshold INTEGER NOT NULL DEFAULT 5,
    low_alerted   INTEGER NOT NULL DEFAULT 0,
    out_alerted   INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    deleted_at    INTEGER NULL
);
CREATE UNIQUE INDEX stock_store_sku ON stock (warehouse_id, sku);

-- Every movement, append-only; sums of the deltas equal the stock row.
CREATE TABLE stock_ledger (
    id             TEXT    NOT NULL PRIMARY KEY,
    warehouse_id   TEXT    NOT NULL,
    sku            TEXT    NOT NULL,
    on_hand_delta  INTEGER NOT NULL,
    reserved_delta INTEGER NOT NULL,
    reason         TEXT    NOT NULL,
    note           TEXT    NULL,
    ref_id         TEXT    NULL,
    actor          TEXT    NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    deleted_at     INTEGER NULL
);
CREATE INDEX stock_ledger_item ON stock_ledger (warehouse_id, sku, id);

-- A reservation per order: all lines or none.
CREATE TABLE reservations (
    id           TEXT    NOT NULL PRIMARY KEY,
    order_id     TEXT    NOT NULL,
    warehouse_id TEXT    NOT NULL,
    status       TEXT    NOT NULL,   -- held | confirmed | released | expired | failed
    reason       TEXT    NULL,
    expires_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    deleted_at   INTEGER NULL
);
CREATE UNIQUE INDEX reservations_order ON reservations (order_id);
CREATE INDEX reservations_expiry ON reservations (status, expires_at);

CREATE TABLE reservation_lines (
    reservation_id TEXT    NOT NULL REFERENCES reservations (id),
    sku            TEXT    NOT NULL,
    quantity       INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, sku)
);

-- Shoppers waiting for an item to come back at their store.
CREATE TABLE stock_watchers (
    id           TEXT    NOT NULL PRIMARY KEY,
    warehouse_id TEXT    NOT NULL,
    sku          TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    notified_at  INTEGER NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    deleted_at   INTEGER NULL
);
CREATE UNIQUE INDEX stock_watchers_waiting ON stock_watchers (warehouse_id, sku, user_id) WHERE notified_at IS NULL;
