-- Order service (nakku_order), SQLite. Money in paise.

-- Orders with their saga state. Prices, fees, address and store are snapshots of what the
-- shopper was shown when placing the order.
CREATE TABLE orders (
    id                   TEXT    NOT NULL PRIMARY KEY,
    user_id              TEXT    NOT NULL,
    store                TEXT    NOT NULL,
    status               TEXT    NOT NULL,
    payment_kind         TEXT    NOT NULL,   -- cod | upi | card | wallet
    payment_method_id    TEXT    NULL,
    substitution         TEXT    NOT NULL,   -- substitute | refund | call
    address_id           TEXT    NOT NULL,
    address              TEXT    NOT NULL,   -- JSON snapshot
    quote                TEXT    NOT NULL,   -- JSON: the priced checkout as shown
    items_paise          INTEGER NOT NULL,
    fees_paise           INTEGER NOT NULL,
    total_paise          INTEGER NOT NULL,
    refunded_paise       INTEGER NOT NULL DEFAULT 0,
    currency             TEXT    NOT NULL,
    note                 TEXT    NULL,
    idem_key             TEXT    NOT NULL,
    request_hash         TEXT    NOT NULL,
    saga_state           TEXT    NOT NULL,   -- running | compensating | done
    cancel_requested     INTEGER NOT NULL DEFAULT 0,
    failure_reason       TEXT    NULL,
    last_error           TEXT    NULL,
    attempts             INTEGER NOT NULL DEFAULT 0,
    step_started_at      INTEGER NOT NULL,
    next_attempt_at      INTEGER NOT NULL,
    lease_until          INTEGER NOT NULL DEFAULT 0,
    version              INTEGER NOT NULL DEFAULT 1,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    deleted_at           INTEGER NULL
);
CREATE UNIQUE INDEX orders_idempotency ON orders (user_id, idem_key);
CREATE INDEX orders_history ON orders (user_id, created_at, id);
CREATE INDEX orders_saga ON orders (saga_state, next_attempt_at);
CREATE INDEX orders_store ON orders (store, created_at);

CREATE TABLE order_lines (
    order_id         TEXT    NOT NULL,
    sku              TEXT    NOT NULL,
    product_id       TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    unit             TEXT    NOT NULL,
    unit_price_paise INTEGER NOT NULL,
    mrp_paise        INTEGER NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    line_total_paise INTEGER NOT NULL,
    status           TEXT    NOT NULL,   -- active | removing | removed
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (order_id, sku)
);

-- Every state change with its time and reason.
CREATE TABLE order_timeline (
    id         TEXT    NOT NULL PRIMARY KEY,
    order_id   TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    note       TEXT    NULL,
    actor      TEXT    NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX order_timeline_order ON order_timeline (order_id, id);
