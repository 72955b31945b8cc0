-- Delivery time slots per dark store (express orders need none).

-- A store's capacity per slot, when an admin set one (else the configured default).
CREATE TABLE slot_settings (
    store       TEXT    NOT NULL PRIMARY KEY,
    capacity    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER NULL
);

-- One row per slot once it is first booked: its capacity (the store's setting then; an
-- admin's change moves slots not started yet) and how many orders hold it.
CREATE TABLE slots (
    store       TEXT    NOT NULL,
    slot_start  INTEGER NOT NULL,
    slot_end    INTEGER NOT NULL,
    capacity    INTEGER NOT NULL,
    booked      INTEGER NOT NULL DEFAULT 0 CHECK (booked >= 0),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER NULL,
    PRIMARY KEY (store, slot_start)
);

-- One booking per order (idempotent by order id); released when the order is cancelled or
-- fails, or when no order with its id ever arrives.
CREATE TABLE slot_bookings (
    order_id    TEXT    NOT NULL PRIMARY KEY,
    store       TEXT    NOT NULL,
    slot_start  INTEGER NOT NULL,
    slot_end    INTEGER NOT NULL,
    status      TEXT    NOT NULL,   -- booked | released
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER NULL
);
CREATE INDEX slot_bookings_status ON slot_bookings (status, created_at);

-- A scheduled delivery keeps its slot; it is offered to partners from assign_after on.
ALTER TABLE deliveries ADD COLUMN slot_start INTEGER NULL;
ALTER TABLE deliveries ADD COLUMN slot_end INTEGER NULL;
ALTER TABLE deliveries ADD COLUMN assign_after INTEGER NULL;
