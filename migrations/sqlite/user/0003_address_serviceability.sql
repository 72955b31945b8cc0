-- Whether the location service found a delivery zone for an address, and which store
-- serves it (NULL: not checked, e.g. the location service was unreachable).
ALTER TABLE addresses ADD COLUMN serviceable INTEGER NULL;
ALTER TABLE addresses ADD COLUMN store_code TEXT NULL;
