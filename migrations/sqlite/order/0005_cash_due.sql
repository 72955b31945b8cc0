-- A cash-on-delivery order confirmed while the payment service was unreachable: the
-- amount due is recorded with it by the saga once it answers again.
ALTER TABLE orders ADD COLUMN cash_due_pending INTEGER NOT NULL DEFAULT 0;
