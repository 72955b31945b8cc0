-- Trace context (W3C traceparent) of the span that wrote each event, so the relay can
-- continue the trace onto the bus. Linked into each service's migrations under its next
-- number; NULL when tracing is off.
ALTER TABLE outbox ADD COLUMN traceparent TEXT NULL;
