-- What the store's picking changed (delivery.packed: missing items, substitutes, the
-- refund), and when the saga applied it (stock corrected, money refunded).
ALTER TABLE orders ADD COLUMN adjustment TEXT NULL;
ALTER TABLE orders ADD COLUMN adjusted_at INTEGER NULL;
