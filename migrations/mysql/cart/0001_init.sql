-- Cart service (nakku_cart), MySQL 8 / MariaDB 10.11. Money in paise.

-- One cart per shopper per serving dark store.
CREATE TABLE carts (
    id          VARCHAR(36)  NOT NULL PRIMARY KEY,
    user_id     VARCHAR(64)  NOT NULL,
    store       VARCHAR(32)  NOT NULL,
    share_token VARCHAR(64)  NULL,
    share_mode  VARCHAR(8)   NULL,       -- view | edit
    version     BIGINT       NOT NULL DEFAULT 1,
    created_at  BIGINT       NOT NULL,
    updated_at  BIGINT       NOT NULL,
    deleted_at  BIGINT       NULL,
    UNIQUE KEY carts_owner (user_id, store),
    UNIQUE KEY carts_share (share_token)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Shoppers who joined a cart shared in edit mode.
CREATE TABLE cart_members (
    cart_id    VARCHAR(36) NOT NULL,
    user_id    VARCHAR(64) NOT NULL,
    created_at BIGINT      NOT NULL,
    PRIMARY KEY (cart_id, user_id),
    KEY cart_members_user (user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Lines; `price_seen_paise` is the unit price the shopper last saw for the line.
CREATE TABLE cart_items (
    cart_id          VARCHAR(36) NOT NULL,
    sku              VARCHAR(64) NOT NULL,
    quantity         BIGINT      NOT NULL,
    price_seen_paise BIGINT      NOT NULL,
    added_by         VARCHAR(64) NOT NULL,
    created_at       BIGINT      NOT NULL,
    updated_at       BIGINT      NOT NULL,
    PRIMARY KEY (cart_id, sku),
    CONSTRAINT cart_items_qty CHECK (quantity > 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Replica of the catalogue's prices and limits (product.* events).
CREATE TABLE cart_products (
    sku           VARCHAR(64)  NOT NULL PRIMARY KEY,
    product_id    VARCHAR(36)  NOT NULL,
    name          VARCHAR(200) NOT NULL,
    unit          VARCHAR(50)  NOT NULL,
    price_paise   BIGINT       NOT NULL,
    mrp_paise     BIGINT       NOT NULL,
    max_per_order BIGINT       NULL,
    active        INT          NOT NULL,
    version       BIGINT       NOT NULL,
    updated_at    BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Replica of available units per store and sku (inventory.updated).
CREATE TABLE cart_stock (
    store      VARCHAR(32) NOT NULL,
    sku        VARCHAR(64) NOT NULL,
    available  BIGINT      NOT NULL,
    event_ms   BIGINT      NOT NULL,
    updated_at BIGINT      NOT NULL,
    PRIMARY KEY (store, sku)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Orders in progress per store (order.* events), for the surge fee.
CREATE TABLE active_orders (
    order_id   VARCHAR(64) NOT NULL PRIMARY KEY,
    store      VARCHAR(32) NOT NULL,
    created_at BIGINT      NOT NULL,
    KEY active_orders_store (store)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
