//! Trace context across processes: the W3C `traceparent` of the current span, written into
//! outgoing HTTP headers and event envelopes, and adopted by the span that handles an
//! incoming request or event, so one trace shows a placed order from the gateway through
//! every service and consumer that took part.
//!
//! The spans themselves are `tracing` spans; the OpenTelemetry layer that turns them into
//! exported spans is installed by `nakku_server::telemetry` only when an OTLP endpoint is
//! configured. Until then [`enabled`] is false and every function here returns at once:
//! no context is made, stored or sent (an incoming `traceparent` is still forwarded as is
//! by the gateway, for a tracer further down).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C header (and envelope field, and Kafka header) carrying the context.
pub const TRACEPARENT: &str = "traceparent";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Called once the OpenTelemetry layer is installed.
pub fn enable() {
    ENABLED.store(true, Ordering::Release);
}

/// Whether spans are being traced (an OTLP endpoint is configured).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

/// `span`'s context as a `traceparent` value (`00-<trace id>-<span id>-<flags>`), or none
/// when tracing is off or the span is not traced.
pub fn traceparent_of(span: &Span) -> Option<String> {
    if !enabled() {
        return None;
    }
    let mut carrier: HashMap<String, String> = HashMap::with_capacity(1);
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// The current span's `traceparent` (see [`traceparent_of`]).
pub fn current() -> Option<String> {
    traceparent_of(&Span::current())
}

/// Makes `span` a child of the context in `traceparent` (from a request header or an
/// envelope; none or malformed: `span` starts a new trace), then records the trace id in
/// the span's `trace_id` field so every log line inside carries it. Call before the span
/// is first entered. Returns the trace id.
pub fn adopt(span: &Span, traceparent: Option<&str>) -> Option<String> {
    if !enabled() {
        return None;
    }
    if let Some(tp) = traceparent {
        let carrier: HashMap<String, String> = HashMap::from([(TRACEPARENT.to_owned(), tp.to_owned())]);
        let parent = TraceContextPropagator::new().extract(&carrier);
        if parent.span().span_context().is_valid() {
            // Fails only when the span was already started or has no OpenTelemetry data
            // (filtered out): then it simply stays a root.
            let _ = span.set_parent(parent);
        }
    }
    let id = span.context().span().span_context().trace_id();
    if id == opentelemetry::trace::TraceId::INVALID {
        return None;
    }
    let id = id.to_string();
    span.record("trace_id", id.as_str());
    Some(id)
}

/// The trace id inside a `traceparent` value, when it is well formed (for displays: the
/// events tail, the order timeline).
pub fn trace_id_of(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.split('-');
    let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(version, 2) && hex(trace, 32) && hex(span, 16) && hex(flags, 2) && trace.bytes().any(|b| b != b'0'))
        .then_some(trace)
}

/// Whether a value is a well-formed `traceparent` worth keeping (events and headers from
/// outside are checked before they are stored or forwarded).
pub fn is_traceparent(v: &str) -> bool {
    v.len() == 55 && trace_id_of(v).is_some()
}

/// The target of [`service_span`]s: a subscriber layer may label what happens inside one by
/// its service (`nakku bench orders` counts each service's SQL statements this way).
pub const SERVICE_TARGET: &str = "nakku::service";

/// The name [`service_span`]s give the embedded event log's own work (its SQLite file is
/// no service's database).
pub const EVENT_LOG: &str = "event log";

/// A span naming the service whose code runs inside it: each service's request handlers,
/// its background workers, and the in-process calls other services make to it through its
/// ports (the order service reserving stock runs the inventory's code on the inventory's
/// database). Trace level, so neither the log nor the exported traces show it.
pub fn service_span(service: &'static str) -> Span {
    tracing::trace_span!(target: "nakku::service", "service", service)
}

/// `fut` run as `service`'s code (see [`service_span`]), boxed as the ports return it.
pub fn as_service<'a, T>(
    service: &'static str,
    fut: impl std::future::Future<Output = T> + Send + 'a,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>> {
    use tracing::Instrument;
    Box::pin(fut.instrument(service_span(service)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_are_read_only_from_well_formed_traceparents() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id_of(tp), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(is_traceparent(tp));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra junk",
        ] {
            assert!(!is_traceparent(bad), "{bad:?}");
        }
    }

    #[test]
    fn with_tracing_off_nothing_is_made_or_adopted() {
        let span = tracing::info_span!("t", trace_id = tracing::field::Empty);
        assert_eq!(traceparent_of(&span), None);
        assert_eq!(
            adopt(&span, Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")),
            None
        );
    }
}
