-- Inventory service (nakku_inventory), MySQL 8 / MariaDB 10.11. Quantities are whole units.

-- Dark stores.
CREATE TABLE warehouses (
    id          VARCHAR(36)  NOT NULL PRIMARY KEY,
    code        VARCHAR(32)  NOT NULL,
    name        VARCHAR(200) NOT NULL,
    city        VARCHAR(100) NOT NULL,
    lat         DOUBLE       NOT NULL,
    lng         DOUBLE       NOT NULL,
    opens_at    INT          NOT NULL,   -- minutes after local midnight (IST)
    closes_at   INT          NOT NULL,
    active      INT          NOT NULL DEFAULT 1,
    created_at  BIGINT       NOT NULL,
    updated_at  BIGINT       NOT NULL,
    deleted_at  BIGINT       NULL,
    code_live   VARCHAR(32)  AS (CASE WHEN deleted_at IS NULL THEN code END) STORED,
    UNIQUE KEY warehouses_code_live (code_live)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Stock of one sku at one store. available = on_hand - reserved, never negative.
CREATE TABLE stock (
    id            VARCHAR(36)  NOT NULL PRIMARY KEY,
    warehouse_id  VARCHAR(36)  NOT NULL,
    sku           VARCHAR(64)  NOT NULL,
    on_hand       BIGINT       NOT NULL DEFAULT 0,
    reserved      BIGINT       NOT NULL DEFAULT 0,
    low_threshold BIGINT       NOT NULL DEFAULT 5,
    low_alerted   INT          NOT NULL DEFAULT 0,
    out_alerted   INT          NOT NULL DEFAULT 0,
    created_at    BIGINT       NOT NULL,
    updated_at    BIGINT       NOT NULL,
    deleted_at    BIGINT       NULL,
    UNIQUE KEY stock_store_sku (warehouse_id, sku),
    CONSTRAINT stock_on_hand_nonneg CHECK (on_hand >= 0),
    CONSTRAINT stock_reserved_bounds CHECK (reserved >= 0 AND reserved <= on_hand),
    CONSTRAINT stock_warehouse_fk FOREIGN KEY (warehouse_id) REFERENCES warehouses (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Every movement, append-only; sums of the deltas equal the stock row.
CREATE TABLE stock_ledger (
    id             VARCHAR(36)  NOT NULL PRIMARY KEY,
    warehouse_id   VARCHAR(36)  NOT NULL,
    sku            VARCHAR(64)  NOT NULL,
    on_hand_delta  BIGINT       NOT NULL,
    reserved_delta BIGINT       NOT NULL,
    reason         VARCHAR(32)  NOT NULL,
    note           VARCHAR(500) NULL,
    ref_id         VARCHAR(128) NULL,
    actor          VARCHAR(64)  NULL,
    created_at     BIGINT       NOT NULL,
    updated_at     BIGINT       NOT NULL,
    deleted_at     BIGINT       NULL,
    KEY stock_ledger_item (warehouse_id, sku, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- A reservation per order: all lines or none.
CREATE TABLE reservations (
    id           VARCHAR(36)  NOT NULL PRIMARY KEY,
    order_id     VARCHAR(128) NOT NULL,
    warehouse_id VARCHAR(36)  NOT NULL,
    status       VARCHAR(16)  NOT NULL,   -- held | confirmed | released | expired | failed
    reason       VARCHAR(500) NULL,
    expires_at   BIGINT       NOT NULL,
    created_at   BIGINT       NOT NULL,
    updated_at   BIGINT       NOT NULL,
    deleted_at   BIGINT       NULL,
    UNIQUE KEY reservations_order (order_id),
    KEY reservations_expiry (status, expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE reservation_lines (
    reservation_id VARCHAR(36) NOT NULL,
    sku            VARCHAR(64) NOT NULL,
    quantity       BIGINT      NOT NULL,
    PRIMARY KEY (reservation_id, sku),
    CONSTRAINT reservation_lines_qty CHECK (quantity > 0),
    CONSTRAINT reservation_lines_fk FOREIGN KEY (reservation_id) REFERENCES reservations (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Shoppers waiting for an item to come back at their store.
CREATE TABLE stock_watchers (
    id           VARCHAR(36) NOT NULL PRIMARY KEY,
    warehouse_id VARCHAR(36) NOT NULL,
    sku          VARCHAR(64) NOT NULL,
    user_id      VARCHAR(36) NOT NULL,
    notified_at  BIGINT      NULL,
    created_at   BIGINT      NOT NULL,
    updated_at   BIGINT      NOT NULL,
    deleted_at   BIGINT      NULL,
    waiting_key  VARCHAR(140) AS (CASE WHEN notified_at IS NULL THEN CONCAT(warehouse_id, '/', sku, '/', user_id) END) STORED,
    UNIQUE KEY stock_watchers_waiting (waiting_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
