-- A stock event's aggregate is `<store id>:<sku>` (up to 101 characters); SQLite's TEXT has
-- no length limit, so there is nothing to widen (the MySQL tree has the change).
SELECT 1;
