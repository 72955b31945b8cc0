-- A stock event's aggregate is `<store id>:<sku>`: a 36-character id, a colon and a sku of
-- up to 64 characters, longer than the outbox's VARCHAR(64) (a restock of a long sku
-- failed on MySQL). Widen it for this service's outbox.
ALTER TABLE outbox MODIFY aggregate_id VARCHAR(160) NOT NULL;
