-- Cart service (nakku_cart), SQLite. Money in paise.

-- One cart per shopper per serving dark store.
CREATE TABLE carts (
    id          TEXT    NOT NULL PRIMARY KEY,
    user_id     TEXT    NOT NULL,
    store       TEXT    NOT NULL,
    share_token TEXT    NULL,
    share_mode  TEXT    NULL,       -- view | edit
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER NULL
);
CREATE UNIQUE INDEX carts_owner ON carts (user_id, store);
CREATE UNIQUE INDEX carts_share ON carts (share_token);

-- Shoppers who joined a cart shared in edit mode.
CREATE TABLE cart_members (
    cart_id    TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (cart_id, user_id)
);
CREATE INDEX cart_members_user ON cart_members (user_id);

-- Lines; `price_seen_paise` is the unit price the shopper last saw for the line.
CREATE TABLE cart_items (
    cart_id          TEXT    NOT NULL,
    sku              TEXT    NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    price_seen_paise INTEGER NOT NULL,
    added_by         TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (cart_id, sku)
);

-- Replica of the catalogue's prices and limits (product.* events).
CREATE TABLE cart_products (
    sku           TEXT    NOT NULL PRIMARY KEY,
    product_id    TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    unit          TEXT    NOT NULL,
    price_paise   INTEGER NOT NULL,
    mrp_paise     INTEGER NOT NULL,
    max_per_order INTEGER NULL,
    active        INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- Replica of available units per store and sku (inventory.updated).
CREATE TABLE cart_stock (
    store      TEXT    NOT NULL,
    sku        TEXT    NOT NULL,
    available  INTEGER NOT NULL,
    event_ms   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (store, sku)
);

-- Orders in progress per store (order.* events), for the surge fee.
CREATE TABLE active_orders (
    order_id   TEXT    NOT NULL PRIMARY KEY,
    store      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX active_orders_store ON active_orders (store);
