-- Delivery slots as the delivery service last reported them (delivery.slot.updated): the
-- capacity and bookings of each slot, for utilisation.
CREATE TABLE a_slots (
    store       TEXT    NOT NULL,
    slot_start  INTEGER NOT NULL,
    slot_end    INTEGER NOT NULL,
    capacity    INTEGER NOT NULL,
    booked      INTEGER NOT NULL,
    seen_ms     INTEGER NOT NULL,
    PRIMARY KEY (store, slot_start)
);
