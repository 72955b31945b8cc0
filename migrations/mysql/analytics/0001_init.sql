-- Analytics service (nakku_analytics), MySQL 8 / MariaDB 10.11. Read models fed by events,
-- rebuildable by replay: every time here is the event's `occurred_at`, never the time it
-- was applied.

-- One row per order with the time it reached each stage (order.* events).
CREATE TABLE a_orders (
    order_id       VARCHAR(36)  NOT NULL PRIMARY KEY,
    store          VARCHAR(32)  NOT NULL,
    user_id        VARCHAR(64)  NOT NULL,
    payment_kind   VARCHAR(16)  NOT NULL,
    status         VARCHAR(32)  NOT NULL,
    items_paise    BIGINT       NOT NULL,
    total_paise    BIGINT       NOT NULL,
    created_ms     BIGINT       NOT NULL,
    reserved_ms    BIGINT       NULL,
    paid_ms        BIGINT       NULL,
    confirmed_ms   BIGINT       NULL,
    delivered_ms   BIGINT       NULL,
    cancelled_ms   BIGINT       NULL,
    failed_ms      BIGINT       NULL,
    end_reason     VARCHAR(500) NULL,
    KEY a_orders_created (created_ms),
    KEY a_orders_store (store, created_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- What was refunded per order (payment.refunded: the running total). Its own table, as a
-- refund may arrive before its order's creation when the topics are read in parallel.
CREATE TABLE a_refunds (
    order_id       VARCHAR(36) NOT NULL PRIMARY KEY,
    refunded_paise BIGINT      NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- What each order contained (order.created).
CREATE TABLE a_order_lines (
    order_id   VARCHAR(36) NOT NULL,
    sku        VARCHAR(64) NOT NULL,
    quantity   BIGINT      NOT NULL,
    line_paise BIGINT      NOT NULL,
    PRIMARY KEY (order_id, sku),
    KEY a_order_lines_sku (sku)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Names and categories of products (product.* events).
CREATE TABLE a_products (
    sku         VARCHAR(64)  NOT NULL PRIMARY KEY,
    name        VARCHAR(200) NOT NULL,
    category_id VARCHAR(36)  NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE a_categories (
    id   VARCHAR(36)  NOT NULL PRIMARY KEY,
    name VARCHAR(200) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Stock alerts still open: `low` until available rises above the threshold, `out` until
-- the item is back in stock (inventory.* events).
CREATE TABLE a_stock_alerts (
    store     VARCHAR(32) NOT NULL,
    sku       VARCHAR(64) NOT NULL,
    kind      VARCHAR(8)  NOT NULL,
    available BIGINT      NOT NULL,
    opened_ms BIGINT      NOT NULL,
    PRIMARY KEY (store, sku, kind)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
