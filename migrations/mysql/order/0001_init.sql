-- Order service (nakku_order), MySQL 8 / MariaDB 10.11. Money in paise.

-- Orders with their saga state. Prices, fees, address and store are snapshots of what the
-- shopper was shown when placing the order.
CREATE TABLE orders (
    id                   VARCHAR(36)  NOT NULL PRIMARY KEY,
    user_id              VARCHAR(64)  NOT NULL,
    store                VARCHAR(32)  NOT NULL,
    status               VARCHAR(24)  NOT NULL,
    payment_kind         VARCHAR(16)  NOT NULL,   -- cod | upi | card | wallet
    payment_method_id    VARCHAR(36)  NULL,
    substitution         VARCHAR(16)  NOT NULL,   -- substitute | refund | call
    address_id           VARCHAR(64)  NOT NULL,
    address              TEXT         NOT NULL,   -- JSON snapshot
    quote                TEXT         NOT NULL,   -- JSON: the priced checkout as shown
    items_paise          BIGINT       NOT NULL,
    fees_paise           BIGINT       NOT NULL,
    total_paise          BIGINT       NOT NULL,
    refunded_paise       BIGINT       NOT NULL DEFAULT 0,
    currency             VARCHAR(3)   NOT NULL,
    note                 VARCHAR(500) NULL,
    idem_key             VARCHAR(128) NOT NULL,
    request_hash         VARCHAR(32)  NOT NULL,
    saga_state           VARCHAR(16)  NOT NULL,   -- running | compensating | done
    cancel_requested     INT          NOT NULL DEFAULT 0,
    failure_reason       VARCHAR(500) NULL,
    last_error           VARCHAR(500) NULL,
    attempts             INT          NOT NULL DEFAULT 0,
    step_started_at      BIGINT       NOT NULL,
    next_attempt_at      BIGINT       NOT NULL,
    lease_until          BIGINT       NOT NULL DEFAULT 0,
    version              BIGINT       NOT NULL DEFAULT 1,
    created_at           BIGINT       NOT NULL,
    updated_at           BIGINT       NOT NULL,
    deleted_at           BIGINT       NULL,
    UNIQUE KEY orders_idempotency (user_id, idem_key),
    KEY orders_history (user_id, created_at, id),
    KEY orders_saga (saga_state, next_attempt_at),
    KEY orders_store (store, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE order_lines (
    order_id         VARCHAR(36)  NOT NULL,
    sku              VARCHAR(64)  NOT NULL,
    product_id       VARCHAR(36)  NOT NULL,
    name             VARCHAR(200) NOT NULL,
    unit             VARCHAR(50)  NOT NULL,
    unit_price_paise BIGINT       NOT NULL,
    mrp_paise        BIGINT       NOT NULL,
    quantity         BIGINT       NOT NULL,
    line_total_paise BIGINT       NOT NULL,
    status           VARCHAR(16)  NOT NULL,   -- active | removing | removed
    created_at       BIGINT       NOT NULL,
    updated_at       BIGINT       NOT NULL,
    PRIMARY KEY (order_id, sku),
    CONSTRAINT order_lines_qty CHECK (quantity > 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Every state change with its time and reason.
CREATE TABLE order_timeline (
    id         VARCHAR(36)  NOT NULL PRIMARY KEY,
    order_id   VARCHAR(36)  NOT NULL,
    status     VARCHAR(24)  NOT NULL,
    note       VARCHAR(500) NULL,
    actor      VARCHAR(64)  NULL,
    created_at BIGINT       NOT NULL,
    KEY order_timeline_order (order_id, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
