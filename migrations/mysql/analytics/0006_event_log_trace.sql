-- The trace each logged event belongs to (from its traceparent; NULL when tracing was
-- off), so the order timeline and `GET /analytics/events?trace=` lead to the trace.
ALTER TABLE a_event_log ADD COLUMN trace_id VARCHAR(32) NULL, ADD KEY a_event_log_trace (trace_id);
