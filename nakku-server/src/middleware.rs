//! The layer stack every service and the gateway share, built in one place so the order
//! is visible: request id → trace span → propagate id → catch panics → metrics → error
//! envelope → timeout → body limit → handler.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::error::ApiError;

pub const REQUEST_ID: &str = "x-request-id";

/// Limits of the stack, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub body_limit: usize,
}

/// Generates a UUIDv7 request id when the client sent none.
#[derive(Clone, Copy, Default)]
struct MakeRequestUuidV7;

impl MakeRequestId for MakeRequestUuidV7 {
    fn make_request_id<B>(&mut self, _req: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&nakku_core::id::new_id())
            .ok()
            .map(RequestId::new)
    }
}

/// A client-supplied id is kept if it is short and plain; otherwise it is replaced, so ids
/// cannot be used to smuggle junk into logs and events.
fn acceptable_request_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
}

async fn sanitise_request_id(mut req: Request, next: Next) -> Response {
    if req.headers().get(REQUEST_ID).is_some_and(|v| !acceptable_request_id(v)) {
        req.headers_mut().remove(REQUEST_ID);
    }
    next.run(req).await
}

/// Applies the shared stack to a service's router.
pub fn stack(router: Router, service: &'static str, limits: Limits) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(move |req: &axum::http::Request<Body>| {
            let request_id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            let span = tracing::info_span!(
                "http",
                request_id = %request_id,
                service = service,
                method = %req.method(),
                path = %req.uri().path(),
                user_id = tracing::field::Empty,
                trace_id = tracing::field::Empty,
                otel.name = tracing::field::Empty,
                otel.kind = "server",
                http.response.status_code = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
            );
            if nakku_core::trace::enabled() {
                // Named by route, not by path: ids would make every span name unique. What
                // the gateway proxies (from its fallback, so without a matched path) is
                // named by the endpoint its route table found.
                let route = match req.extensions().get::<MatchedPath>() {
                    Some(m) => m.as_str().to_owned(),
                    None if service == "gateway" => match crate::gateway::Resolved::of(req) {
                        Ok(r) => format!("/{}", r.endpoint.path),
                        Err(_) => "(no route)".to_owned(),
                    },
                    None => req.uri().path().to_owned(),
                };
                span.record("otel.name", format!("{} {service} {route}", req.method()));
                let parent = req
                    .headers()
                    .get(nakku_core::trace::TRACEPARENT)
                    .and_then(|v| v.to_str().ok());
                nakku_core::trace::adopt(&span, parent);
            }
            span
        })
        .on_request(())
        .on_response(|resp: &Response, latency: Duration, span: &Span| {
            if nakku_core::trace::enabled() {
                span.record("http.response.status_code", resp.status().as_u16());
                if resp.status().is_server_error() {
                    span.record("otel.status_code", "ERROR");
                }
            }
            tracing::info!(
                status = resp.status().as_u16(),
                latency_ms = latency.as_secs_f64() * 1000.0,
                "request finished"
            );
        })
        .on_failure(());

    // Router::layer wraps from the inside out: the first call is closest to the handler.
    router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.timeout,
        ))
        .layer(middleware::from_fn(envelope_errors))
        .layer(middleware::from_fn_with_state(service, crate::metrics::track))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("handler panicked").into_response()
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(trace)
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuidV7))
        .layer(middleware::from_fn(sanitise_request_id))
        // Enforced where bodies are read (AppJson, the gateway's proxy), with a 413.
        .layer(axum::extract::DefaultBodyLimit::max(limits.body_limit))
}

/// CORS for the gateway: `*` (any origin; bearer tokens, no cookies), a list of origins,
/// or none (empty). Preflights are answered here, never forwarded.
pub fn cors(origins: &str) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    let base = CorsLayer::new()
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers([
            axum::http::HeaderName::from_static("x-request-id"),
            axum::http::HeaderName::from_static("x-ratelimit-limit"),
            axum::http::HeaderName::from_static("x-ratelimit-remaining"),
            axum::http::HeaderName::from_static("x-degraded"),
            axum::http::header::RETRY_AFTER,
            // A deprecated operation's (see the README's Versioning).
            axum::http::HeaderName::from_static("deprecation"),
            axum::http::HeaderName::from_static("sunset"),
            axum::http::header::LINK,
        ])
        .max_age(Duration::from_secs(600));
    match origins.trim() {
        "" => CorsLayer::new(),
        // Any origin: the answer is the same whatever the request's `Origin` and
        // preflight headers (`*` each), so it varies by none of them, and the layer skips
        // the `Vary` list it would otherwise clone and join into a header per request.
        "*" => base.allow_origin(Any).vary(Vec::<axum::http::HeaderName>::new()),
        list => {
            let allowed: Vec<axum::http::HeaderValue> = list
                .split(',')
                .filter_map(|o| axum::http::HeaderValue::from_str(o.trim()).ok())
                .collect();
            base.allow_origin(AllowOrigin::list(allowed))
        }
    }
}

/// Errors produced below the handlers (unknown route, wrong method, timeout, body limit)
/// come back with empty or plain-text bodies; give them the standard envelope.
async fn envelope_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let message = match status {
        StatusCode::NOT_FOUND => "no such route".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this route".to_owned(),
        StatusCode::REQUEST_TIMEOUT => "the request took too long and was cancelled".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => "request body is too large".to_owned(),
        s => s.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let allow = resp.headers().get(header::ALLOW).cloned();
    let mut out = ApiError::new(status, message).into_response();
    if let Some(a) = allow {
        out.headers_mut().insert(header::ALLOW, a);
    }
    out
}

/// The route template of a request (`/api/v1/users/me/addresses/{id}`), for metrics labels;
/// unmatched paths collapse into one label so they cannot blow up cardinality.
/// The gateway has no axum routes of its own; its requests are labelled by the endpoint
/// of its route table (`/api/v1/orders/{id}`, see [`crate::gateway::Resolved`]).
/// Kept as found (no string made) until a label is needed: see `metrics::track`.
#[derive(Debug, Clone)]
pub enum RouteLabel {
    Matched(MatchedPath),
    /// An endpoint's path in the gateway's table, under `/api/v1/`.
    Endpoint(&'static str),
    Unmatched,
}

impl RouteLabel {
    pub fn of(req: &Request) -> RouteLabel {
        if let Some(p) = req.extensions().get::<MatchedPath>() {
            return RouteLabel::Matched(p.clone());
        }
        match req.extensions().get::<crate::gateway::Resolved>() {
            Some(crate::gateway::Resolved(Ok(r))) => RouteLabel::Endpoint(r.endpoint.path),
            _ => RouteLabel::Unmatched,
        }
    }

    pub fn text(&self) -> String {
        match self {
            RouteLabel::Matched(p) => p.as_str().to_owned(),
            RouteLabel::Endpoint(path) => format!("/api/v1/{path}"),
            RouteLabel::Unmatched => "unmatched".to_owned(),
        }
    }
}

impl PartialEq for RouteLabel {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (RouteLabel::Matched(a), RouteLabel::Matched(b)) => a.as_str() == b.as_str(),
            (RouteLabel::Endpoint(a), RouteLabel::Endpoint(b)) => a == b,
            (RouteLabel::Unmatched, RouteLabel::Unmatched) => true,
            _ => false,
        }
    }
}

impl Eq for RouteLabel {}

impl std::hash::Hash for RouteLabel {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            RouteLabel::Matched(p) => (0u8, p.as_str()).hash(state),
            RouteLabel::Endpoint(path) => (1u8, *path).hash(state),
            RouteLabel::Unmatched => 2u8.hash(state),
        }
    }
}

/// Seconds elapsed, for histograms.
pub fn elapsed_secs(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_short_request_ids_are_kept() {
        assert!(acceptable_request_id(&HeaderValue::from_static("abc-123_x.y:z")));
        assert!(!acceptable_request_id(&HeaderValue::from_static("has space")));
        assert!(!acceptable_request_id(
            &HeaderValue::from_str(&"a".repeat(129)).unwrap()
        ));
    }
}
