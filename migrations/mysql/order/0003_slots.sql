-- The delivery slot an order was placed for (NULL: express, as soon as possible).
ALTER TABLE orders
    ADD COLUMN slot_start BIGINT NULL,
    ADD COLUMN slot_end BIGINT NULL;
