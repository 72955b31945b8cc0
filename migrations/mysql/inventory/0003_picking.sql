-- What the store's picking found, applied once per order (missing units and substitutes).
CREATE TABLE pick_adjustments (
    order_id    VARCHAR(36) NOT NULL PRIMARY KEY,
    created_at  BIGINT      NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
