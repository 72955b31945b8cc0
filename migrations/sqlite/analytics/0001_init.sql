-- Analytics service (nakku_analytics), SQLite. Read models fed by events, rebuildable by
-- replay: every time here is the event's `occurred_at`, never the time it was applied.

-- One row per order with the time it reached each stage (order.* events).
CREATE TABLE a_orders (
    order_id       TEXT    NOT NULL PRIMARY KEY,
    store          TEXT    NOT NULL,
    user_id        TEXT    NOT NULL,
    payment_kind   TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    items_paise    INTEGER NOT NULL,
    total_paise    INTEGER NOT NULL,
    created_ms     INTEGER NOT NULL,
    reserved_ms    INTEGER NULL,
    paid_ms        INTEGER NULL,
    confirmed_ms   INTEGER NULL,
    delivered_ms   INTEGER NULL,
    cancelled_ms   INTEGER NULL,
    failed_ms      INTEGER NULL,
    end_reason     TEXT    NULL
);
CREATE INDEX a_orders_created ON a_orders (created_ms);
CREATE INDEX a_orders_store ON a_orders (store, created_ms);

-- What was refunded per order (payment.refunded: the running total). Its own table, as a
-- refund may arrive before its order's creation when the topics are read in parallel.
CREATE TABLE a_refunds (
    order_id       TEXT    NOT NULL PRIMARY KEY,
    refunded_paise INTEGER NOT NULL
);

-- What each order contained (order.created).
CREATE TABLE a_order_lines (
    order_id   TEXT    NOT NULL,
    sku        TEXT    NOT NULL,
    quantity   INTEGER NOT NULL,
    line_paise INTEGER NOT NULL,
    PRIMARY KEY (order_id, sku)
);
CREATE INDEX a_order_lines_sku ON a_order_lines (sku);

-- Names and categories of products (product.* events).
CREATE TABLE a_products (
    sku         TEXT NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL,
    category_id TEXT NOT NULL
);

CREATE TABLE a_categories (
    id   TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL
);

-- Stock alerts still open: `low` until available rises above the threshold, `out` until
-- the item is back in stock (inventory.* events).
CREATE TABLE a_stock_alerts (
    store     TEXT    NOT NULL,
    sku       TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    available INTEGER NOT NULL,
    opened_ms INTEGER NOT NULL,
    PRIMARY KEY (store, sku, kind)
);
