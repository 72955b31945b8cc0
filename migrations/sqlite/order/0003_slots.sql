-- The delivery slot an order was placed for (NULL: express, as soon as possible).
ALTER TABLE orders ADD COLUMN slot_start INTEGER NULL;
ALTER TABLE orders ADD COLUMN slot_end INTEGER NULL;
