-- Delivery time slots per dark store (express orders need none).

-- A store's capacity per slot, when an admin set one (else the configured default).
CREATE TABLE slot_settings (
    store       VARCHAR(32) NOT NULL PRIMARY KEY,
    capacity    INT         NOT NULL,
    created_at  BIGINT      NOT NULL,
    updated_at  BIGINT      NOT NULL,
    deleted_at  BIGINT      NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One row per slot once it is first booked: its capacity (the store's setting then; an
-- admin's change moves slots not started yet) and how many orders hold it.
CREATE TABLE slots (
    store       VARCHAR(32) NOT NULL,
    slot_start  BIGINT      NOT NULL,
    slot_end    BIGINT      NOT NULL,
    capacity    INT         NOT NULL,
    booked      INT         NOT NULL DEFAULT 0 CHECK (booked >= 0),
    created_at  BIGINT      NOT NULL,
    updated_at  BIGINT      NOT NULL,
    deleted_at  BIGINT      NULL,
    PRIMARY KEY (store, slot_start)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One booking per order (idempotent by order id); released when the order is cancelled or
-- fails, or when no order with its id ever arrives.
CREATE TABLE slot_bookings (
    order_id    VARCHAR(36) NOT NULL PRIMARY KEY,
    store       VARCHAR(32) NOT NULL,
    slot_start  BIGINT      NOT NULL,
    slot_end    BIGINT      NOT NULL,
    status      VARCHAR(16) NOT NULL,   -- booked | released
    created_at  BIGINT      NOT NULL,
    updated_at  BIGINT      NOT NULL,
    deleted_at  BIGINT      NULL,
    KEY slot_bookings_status (status, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- A scheduled delivery keeps its slot; it is offered to partners from assign_after on.
ALTER TABLE deliveries
    ADD COLUMN slot_start BIGINT NULL,
    ADD COLUMN slot_end BIGINT NULL,
    ADD COLUMN assign_after BIGINT NULL;
