-- Product catalogue service (nakku_product), SQLite.

-- The category tree. `parent_id` NULL is a root; `position` orders siblings.
CREATE TABLE categories (
    id          TEXT    NOT NULL PRIMARY KEY,
    parent_id   TEXT    NULL,
    name        TEXT    NOT NULL,
    slug        TEXT    NOT NULL,
    position    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX categories_slug ON categories (slug);
CREATE INDEX categories_parent ON categories (parent_id);

-- Products. Money in paise; tags, images and attributes as JSON text. Soft-deleted rows keep
-- their sku (an import of the same sku revives them).
CREATE TABLE products (
    id           TEXT    NOT NULL PRIMARY KEY,
    sku          TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    brand        TEXT    NOT NULL,
    description  TEXT    NOT NULL,
    category_id  TEXT    NOT NULL,
    unit         TEXT    NOT NULL,
    mrp_paise    INTEGER NOT NULL,
    price_paise  INTEGER NOT NULL,
    tags         TEXT    NOT NULL,
    images       TEXT    NOT NULL,
    attributes   TEXT    NOT NULL,
    max_per_order INTEGER NOT NULL DEFAULT 0,
    active       INTEGER NOT NULL DEFAULT 1,
    version      INTEGER NOT NULL DEFAULT 1,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    deleted_at   INTEGER NULL
);
CREATE UNIQUE INDEX products_sku ON products (sku);
CREATE INDEX products_category ON products (category_id);
CREATE INDEX products_updated ON products (updated_at);

-- Available units per sku per store: a replica fed by inventory.updated, for the
-- "in stock at my store" filter. `event_ms` drops stale (reordered) events.
CREATE TABLE store_stock (
    store       TEXT    NOT NULL,
    sku         TEXT    NOT NULL,
    available   INTEGER NOT NULL,
    event_ms    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (store, sku)
);
CREATE INDEX store_stock_updated ON store_stock (updated_at);

-- Units sold per sku per store (popularity), fed by confirmed reservations (paid orders).
CREATE TABLE product_sales (
    store       TEXT    NOT NULL,
    sku         TEXT    NOT NULL,
    units       INTEGER NOT NULL,
    orders      INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (store, sku)
);
CREATE INDEX product_sales_updated ON product_sales (updated_at);

-- How many orders held both skus ("frequently bought together"); both directions stored.
CREATE TABLE co_purchases (
    sku         TEXT    NOT NULL,
    other_sku   TEXT    NOT NULL,
    orders      INTEGER NOT NULL,
    PRIMARY KEY (sku, other_sku)
);
