-- Delivery slots as the delivery service last reported them (delivery.slot.updated): the
-- capacity and bookings of each slot, for utilisation.
CREATE TABLE a_slots (
    store       VARCHAR(32) NOT NULL,
    slot_start  BIGINT      NOT NULL,
    slot_end    BIGINT      NOT NULL,
    capacity    INT         NOT NULL,
    booked      INT         NOT NULL,
    seen_ms     BIGINT      NOT NULL,
    PRIMARY KEY (store, slot_start)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
