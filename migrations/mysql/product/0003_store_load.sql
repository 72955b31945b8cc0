-- Dark stores' load as the delivery service reports it (delivery.store.load): busy
-- stretches the promise by extra_minutes, paused takes no new orders.
CREATE TABLE store_load (
    store         VARCHAR(32) NOT NULL PRIMARY KEY,
    status        VARCHAR(16) NOT NULL,
    extra_minutes BIGINT      NOT NULL,
    seen_ms       BIGINT      NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
