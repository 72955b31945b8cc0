-- Payment service (nakku_payment), SQLite. Money in paise.

-- Saved payment methods. Cards are kept as the vault's token (plus last four digits and
-- brand for display), never as a number.
CREATE TABLE payment_methods (
    id          TEXT    NOT NULL PRIMARY KEY,
    user_id     TEXT    NOT NULL,
    kind        TEXT    NOT NULL,   -- card | upi | wallet | cod
    label       TEXT    NOT NULL,
    token       TEXT    NULL,
    last4       TEXT    NULL,
    card_brand  TEXT    NULL,
    upi_id      TEXT    NULL,
    wallet      TEXT    NULL,
    is_default  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER NULL
);
CREATE INDEX payment_methods_user ON payment_methods (user_id, created_at);

-- One payment per order: charges are idempotent per order.
CREATE TABLE payments (
    id             TEXT    NOT NULL PRIMARY KEY,
    order_id       TEXT    NOT NULL,
    user_id        TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    method_id      TEXT    NULL,
    amount_paise   INTEGER NOT NULL CHECK (amount_paise >= 0),
    currency       TEXT    NOT NULL,
    status         TEXT    NOT NULL,   -- initiated | captured | failed | voided | cod_pending | refunded | partially_refunded
    captured_paise INTEGER NOT NULL DEFAULT 0,
    refunded_paise INTEGER NOT NULL DEFAULT 0 CHECK (refunded_paise >= 0 AND refunded_paise <= captured_paise),
    provider       TEXT    NOT NULL,
    provider_ref   TEXT    NULL,
    failure_reason TEXT    NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    deleted_at     INTEGER NULL
);
CREATE UNIQUE INDEX payments_order ON payments (order_id);
CREATE INDEX payments_user ON payments (user_id, created_at);

-- Refunds, idempotent per (payment, key).
CREATE TABLE refunds (
    id           TEXT    NOT NULL PRIMARY KEY,
    payment_id   TEXT    NOT NULL,
    order_id     TEXT    NOT NULL,
    amount_paise INTEGER NOT NULL CHECK (amount_paise > 0),
    reason       TEXT    NOT NULL,
    idem_key     TEXT    NOT NULL,
    provider_ref TEXT    NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    deleted_at   INTEGER NULL
);
CREATE UNIQUE INDEX refunds_key ON refunds (payment_id, idem_key);
