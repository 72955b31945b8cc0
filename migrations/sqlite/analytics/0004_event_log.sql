-- Every event as it arrived (the `analytics.events` consumer), kept for
-- `event_log_hours`: the dashboard's live tail and the support view's order timelines.
CREATE TABLE a_event_log (
    seq            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    event_id       TEXT    NOT NULL UNIQUE,
    event_type     TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    aggregate_id   TEXT    NOT NULL,
    correlation_id TEXT    NOT NULL,
    -- The order the event is about, when it names one.
    order_id       TEXT    NULL,
    occurred_ms    INTEGER NOT NULL,
    payload        TEXT    NOT NULL
);
CREATE INDEX a_event_log_order ON a_event_log (order_id, occurred_ms);
CREATE INDEX a_event_log_occurred ON a_event_log (occurred_ms);
