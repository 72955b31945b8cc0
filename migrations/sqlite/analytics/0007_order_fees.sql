-- The fees of each order by kind (`order.created` v2 itemises them; a v1 event gives its
-- sum as `unspecified`): fee income per kind in the summary.
CREATE TABLE a_order_fees (
    order_id TEXT    NOT NULL,
    code     TEXT    NOT NULL,
    paise    INTEGER NOT NULL,
    PRIMARY KEY (order_id, code)
);
