-- Dark stores' load as the delivery service reports it (delivery.store.load): busy
-- stretches the promise by extra_minutes, paused takes no new orders.
CREATE TABLE store_load (
    store         TEXT    NOT NULL PRIMARY KEY,
    status        TEXT    NOT NULL,
    extra_minutes INTEGER NOT NULL,
    seen_ms       INTEGER NOT NULL
);
