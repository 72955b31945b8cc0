-- Every event as it arrived (the `analytics.events` consumer), kept for
-- `event_log_hours`: the dashboard's live tail and the support view's order timelines.
CREATE TABLE a_event_log (
    seq            BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_id       VARCHAR(64)  NOT NULL,
    event_type     VARCHAR(64)  NOT NULL,
    source         VARCHAR(32)  NOT NULL,
    aggregate_id   VARCHAR(160) NOT NULL,
    correlation_id VARCHAR(128) NOT NULL,
    -- The order the event is about, when it names one.
    order_id       VARCHAR(64)  NULL,
    occurred_ms    BIGINT       NOT NULL,
    payload        MEDIUMTEXT   NOT NULL,
    UNIQUE KEY a_event_log_id (event_id),
    KEY a_event_log_order (order_id, occurred_ms),
    KEY a_event_log_occurred (occurred_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
