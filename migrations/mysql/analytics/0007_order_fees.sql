-- The fees of each order by kind (`order.created` v2 itemises them; a v1 event gives its
-- sum as `unspecified`): fee income per kind in the summary.
CREATE TABLE a_order_fees (
    order_id VARCHAR(36) NOT NULL,
    code     VARCHAR(32) NOT NULL,
    paise    BIGINT      NOT NULL,
    PRIMARY KEY (order_id, code)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
