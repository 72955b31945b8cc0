-- Product catalogue service (nakku_product), MySQL 8 / MariaDB 10.11.

-- The category tree. `parent_id` NULL is a root; `position` orders siblings.
CREATE TABLE categories (
    id          VARCHAR(36)  NOT NULL PRIMARY KEY,
    parent_id   VARCHAR(36)  NULL,
    name        VARCHAR(100) NOT NULL,
    slug        VARCHAR(100) NOT NULL,
    position    INT          NOT NULL DEFAULT 0,
    created_at  BIGINT       NOT NULL,
    updated_at  BIGINT       NOT NULL,
    UNIQUE KEY categories_slug (slug),
    KEY categories_parent (parent_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Products. Money in paise; tags, images and attributes as JSON text. Soft-deleted rows keep
-- their sku (an import of the same sku revives them).
CREATE TABLE products (
    id           VARCHAR(36)  NOT NULL PRIMARY KEY,
    sku          VARCHAR(64)  NOT NULL,
    name         VARCHAR(200) NOT NULL,
    brand        VARCHAR(100) NOT NULL,
    description  TEXT         NOT NULL,
    category_id  VARCHAR(36)  NOT NULL,
    unit         VARCHAR(40)  NOT NULL,
    mrp_paise    BIGINT       NOT NULL,
    price_paise  BIGINT       NOT NULL,
    tags         TEXT         NOT NULL,
    images       TEXT         NOT NULL,
    attributes   TEXT         NOT NULL,
    max_per_order INT         NOT NULL DEFAULT 0,
    active       INT          NOT NULL DEFAULT 1,
    version      BIGINT       NOT NULL DEFAULT 1,
    created_at   BIGINT       NOT NULL,
    updated_at   BIGINT       NOT NULL,
    deleted_at   BIGINT       NULL,
    UNIQUE KEY products_sku (sku),
    KEY products_category (category_id),
    KEY products_updated (updated_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Available units per sku per store: a replica fed by inventory.updated, for the
-- "in stock at my store" filter. `event_ms` drops stale (reordered) events.
CREATE TABLE store_stock (
    store       VARCHAR(32)  NOT NULL,
    sku         VARCHAR(64)  NOT NULL,
    available   BIGINT       NOT NULL,
    event_ms    BIGINT       NOT NULL,
    updated_at  BIGINT       NOT NULL,
    PRIMARY KEY (store, sku),
    KEY store_stock_updated (updated_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Units sold per sku per store (popularity), fed by confirmed reservations (paid orders).
CREATE TABLE product_sales (
    store       VARCHAR(32)  NOT NULL,
    sku         VARCHAR(64)  NOT NULL,
    units       BIGINT       NOT NULL,
    orders      BIGINT       NOT NULL,
    updated_at  BIGINT       NOT NULL,
    PRIMARY KEY (store, sku),
    KEY product_sales_updated (updated_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- How many orders held both skus ("frequently bought together"); both directions stored.
CREATE TABLE co_purchases (
    sku         VARCHAR(64)  NOT NULL,
    other_sku   VARCHAR(64)  NOT NULL,
    orders      BIGINT       NOT NULL,
    PRIMARY KEY (sku, other_sku)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
