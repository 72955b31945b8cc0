-- Payment service (nakku_payment), MySQL 8 / MariaDB 10.11. Money in paise.

-- Saved payment methods. Cards are kept as the vault's token (plus last four digits and
-- brand for display), never as a number.
CREATE TABLE payment_methods (
    id          VARCHAR(36)  NOT NULL PRIMARY KEY,
    user_id     VARCHAR(64)  NOT NULL,
    kind        VARCHAR(16)  NOT NULL,   -- card | upi | wallet | cod
    label       VARCHAR(100) NOT NULL,
    token       VARCHAR(200) NULL,
    last4       VARCHAR(4)   NULL,
    card_brand  VARCHAR(32)  NULL,
    upi_id      VARCHAR(100) NULL,
    wallet      VARCHAR(32)  NULL,
    is_default  INT          NOT NULL DEFAULT 0,
    created_at  BIGINT       NOT NULL,
    updated_at  BIGINT       NOT NULL,
    deleted_at  BIGINT       NULL,
    KEY payment_methods_user (user_id, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One payment per order: charges are idempotent per order.
CREATE TABLE payments (
    id             VARCHAR(36)  NOT NULL PRIMARY KEY,
    order_id       VARCHAR(64)  NOT NULL,
    user_id        VARCHAR(64)  NOT NULL,
    kind           VARCHAR(16)  NOT NULL,
    method_id      VARCHAR(36)  NULL,
    amount_paise   BIGINT       NOT NULL,
    currency       VARCHAR(3)   NOT NULL,
    status         VARCHAR(24)  NOT NULL,   -- initiated | captured | failed | voided | cod_pending | refunded | partially_refunded
    captured_paise BIGINT       NOT NULL DEFAULT 0,
    refunded_paise BIGINT       NOT NULL DEFAULT 0,
    provider       VARCHAR(32)  NOT NULL,
    provider_ref   VARCHAR(100) NULL,
    failure_reason VARCHAR(500) NULL,
    attempts       INT          NOT NULL DEFAULT 0,
    created_at     BIGINT       NOT NULL,
    updated_at     BIGINT       NOT NULL,
    deleted_at     BIGINT       NULL,
    UNIQUE KEY payments_order (order_id),
    KEY payments_user (user_id, created_at),
    CONSTRAINT payments_amount CHECK (amount_paise >= 0),
    CONSTRAINT payments_refund_bounds CHECK (refunded_paise >= 0 AND refunded_paise <= captured_paise)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Refunds, idempotent per (payment, key).
CREATE TABLE refunds (
    id           VARCHAR(36)  NOT NULL PRIMARY KEY,
    payment_id   VARCHAR(36)  NOT NULL,
    order_id     VARCHAR(64)  NOT NULL,
    amount_paise BIGINT       NOT NULL,
    reason       VARCHAR(500) NOT NULL,
    idem_key     VARCHAR(100) NOT NULL,
    provider_ref VARCHAR(100) NULL,
    created_at   BIGINT       NOT NULL,
    updated_at   BIGINT       NOT NULL,
    deleted_at   BIGINT       NULL,
    UNIQUE KEY refunds_key (payment_id, idem_key),
    CONSTRAINT refunds_amount CHECK (amount_paise > 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
