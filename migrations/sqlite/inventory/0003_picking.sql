-- What the store's picking found, applied once per order (missing units and substitutes).
CREATE TABLE pick_adjustments (
    order_id    TEXT    NOT NULL PRIMARY KEY,
    created_at  INTEGER NOT NULL
);
