-- The catalogue's refresh and start-up read products in (updated_at, id) order, a page
-- at a time (see the SQLite migration: there the index on updated_at alone made every
-- page scan and sort all rows of its timestamp). InnoDB's secondary index already ended
-- with the primary key; the index is named and shaped as on SQLite, so both schemas say
-- the same.
CREATE INDEX products_updated_id ON products (updated_at, id);
DROP INDEX products_updated ON products;
