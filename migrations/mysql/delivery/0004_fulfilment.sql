-- Dark-store fulfilment: pickers, bins, pick lists, and each store's load.

-- Store staff who pick and pack (any account an admin registers at a store).
CREATE TABLE pickers (
    user_id          VARCHAR(64) NOT NULL PRIMARY KEY,
    store            VARCHAR(32) NOT NULL,
    name             VARCHAR(200) NOT NULL,
    on_shift         BIGINT NOT NULL DEFAULT 0,
    shift_started_at BIGINT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    deleted_at       BIGINT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
CREATE INDEX pickers_store ON pickers (store, on_shift);

-- Where a sku sits in a store (aisle-rack-shelf codes sort in walking order).
CREATE TABLE bins (
    store      VARCHAR(32) NOT NULL,
    sku        VARCHAR(64) NOT NULL,
    bin        VARCHAR(32) NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (store, sku)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Replicas for substitutions: the catalogue (product.*) and what each store has
-- (inventory.updated).
CREATE TABLE f_products (
    sku         VARCHAR(64) NOT NULL PRIMARY KEY,
    name        VARCHAR(200) NOT NULL,
    brand       VARCHAR(100) NOT NULL,
    category_id VARCHAR(64) NOT NULL,
    price_paise BIGINT NOT NULL,
    active      BIGINT NOT NULL,
    version     BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
CREATE INDEX f_products_category ON f_products (category_id, price_paise);

CREATE TABLE f_stock (
    store     VARCHAR(32) NOT NULL,
    sku       VARCHAR(64) NOT NULL,
    available  BIGINT NOT NULL,
    event_ms   BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (store, sku)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One pick job per order. status: awaiting (not confirmed) | queued | picking | packed |
-- cancelled. picked_at is set once every line is decided; pick_after holds a scheduled
-- order back until shortly before its slot.
CREATE TABLE picks (
    order_id     VARCHAR(64) NOT NULL PRIMARY KEY,
    store        VARCHAR(32) NOT NULL,
    status       VARCHAR(16) NOT NULL,
    substitution VARCHAR(16) NOT NULL,
    picker_id    VARCHAR(64) NULL,
    refund_paise BIGINT NOT NULL DEFAULT 0,
    pick_after   BIGINT NULL,
    queued_at    BIGINT NULL,
    started_at   BIGINT NULL,
    picked_at    BIGINT NULL,
    packed_at    BIGINT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    deleted_at   BIGINT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
CREATE INDEX picks_queue ON picks (store, status, queued_at);
CREATE INDEX picks_picker ON picks (picker_id, status);

-- A pick list line. outcome: pending | picked | substituted | short (refunded).
CREATE TABLE pick_lines (
    order_id               VARCHAR(64) NOT NULL,
    sku                    VARCHAR(64) NOT NULL,
    quantity               BIGINT NOT NULL,
    unit_price_paise       BIGINT NOT NULL,
    picked                 BIGINT NULL,
    outcome                VARCHAR(16) NOT NULL,
    substitute_sku         VARCHAR(64) NULL,
    substitute_quantity    BIGINT NULL,
    substitute_price_paise BIGINT NULL,
    refund_paise           BIGINT NOT NULL DEFAULT 0,
    updated_at             BIGINT NOT NULL,
    PRIMARY KEY (order_id, sku)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Each store's load over the last five minutes against its staff's capacity.
-- status: open | busy (the promise stretches by extra_minutes) | paused (no new orders).
CREATE TABLE store_load (
    store         VARCHAR(32) NOT NULL PRIMARY KEY,
    status        VARCHAR(16) NOT NULL,
    orders_window BIGINT NOT NULL,
    capacity      BIGINT NOT NULL,
    extra_minutes BIGINT NOT NULL,
    changed_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
