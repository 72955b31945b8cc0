-- Dark-store fulfilment: pickers, bins, pick lists, and each store's load.

-- Store staff who pick and pack (any account an admin registers at a store).
CREATE TABLE pickers (
    user_id          TEXT    NOT NULL PRIMARY KEY,
    store            TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    on_shift         INTEGER NOT NULL DEFAULT 0,
    shift_started_at INTEGER NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    deleted_at       INTEGER NULL
);
CREATE INDEX pickers_store ON pickers (store, on_shift);

-- Where a sku sits in a store (aisle-rack-shelf codes sort in walking order).
CREATE TABLE bins (
    store      TEXT    NOT NULL,
    sku        TEXT    NOT NULL,
    bin        TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (store, sku)
);

-- Replicas for substitutions: the catalogue (product.*) and what each store has
-- (inventory.updated).
CREATE TABLE f_products (
    sku         TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    brand       TEXT    NOT NULL,
    category_id TEXT    NOT NULL,
    price_paise INTEGER NOT NULL,
    active      INTEGER NOT NULL,
    version     INTEGER NOT NULL
);
CREATE INDEX f_products_category ON f_products (category_id, price_paise);

CREATE TABLE f_stock (
    store     TEXT    NOT NULL,
    sku       TEXT    NOT NULL,
    available  INTEGER NOT NULL,
    event_ms   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (store, sku)
);

-- One pick job per order. status: awaiting (not confirmed) | queued | picking | packed |
-- cancelled. picked_at is set once every line is decided; pick_after holds a scheduled
-- order back until shortly before its slot.
CREATE TABLE picks (
    order_id     TEXT    NOT NULL PRIMARY KEY,
    store        TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    substitution TEXT    NOT NULL,
    picker_id    TEXT    NULL,
    refund_paise INTEGER NOT NULL DEFAULT 0,
    pick_after   INTEGER NULL,
    queued_at    INTEGER NULL,
    started_at   INTEGER NULL,
    picked_at    INTEGER NULL,
    packed_at    INTEGER NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    deleted_at   INTEGER NULL
);
CREATE INDEX picks_queue ON picks (store, status, queued_at);
CREATE INDEX picks_picker ON picks (picker_id, status);

-- A pick list line. outcome: pending | picked | substituted | short (refunded).
CREATE TABLE pick_lines (
    order_id               TEXT    NOT NULL,
    sku                    TEXT    NOT NULL,
    quantity               INTEGER NOT NULL,
    unit_price_paise       INTEGER NOT NULL,
    picked                 INTEGER NULL,
    outcome                TEXT    NOT NULL,
    substitute_sku         TEXT    NULL,
    substitute_quantity    INTEGER NULL,
    substitute_price_paise INTEGER NULL,
    refund_paise           INTEGER NOT NULL DEFAULT 0,
    updated_at             INTEGER NOT NULL,
    PRIMARY KEY (order_id, sku)
);

-- Each store's load over the last five minutes against its staff's capacity.
-- status: open | busy (the promise stretches by extra_minutes) | paused (no new orders).
CREATE TABLE store_load (
    store         TEXT    NOT NULL PRIMARY KEY,
    status        TEXT    NOT NULL,
    orders_window INTEGER NOT NULL,
    capacity      INTEGER NOT NULL,
    extra_minutes INTEGER NOT NULL,
    changed_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
