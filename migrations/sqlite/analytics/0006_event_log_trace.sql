-- The trace each logged event belongs to (from its traceparent; NULL when tracing was
-- off), so the order timeline and `GET /analytics/events?trace=` lead to the trace.
ALTER TABLE a_event_log ADD COLUMN trace_id TEXT NULL;
CREATE INDEX a_event_log_trace ON a_event_log (trace_id);
