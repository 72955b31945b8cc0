//! The gateway (port 8080), the only door clients use. For each `/api/v1/...` request:
//!
//! 1. the route table ([`crate::api::table`], gathered from the services' declarations)
//!    names the owning service and who may call (404 / 405 with `Allow` otherwise);
//! 2. the bearer token is verified once here and the route's role rule applied (401 / 403);
//!    the verified identity goes on as `X-Nakku-User-Id` / `X-Nakku-User-Role`, and those
//!    headers are always stripped from what clients send, so they cannot be forged;
//! 3. the caller's rate limit is taken ([`crate::ratelimit`]; 429 with `Retry-After` and
//!    `X-RateLimit-*` headers);
//! 4. the request goes to an instance of the service ([`crate::upstream`]: least in flight,
//!    health-checked, a circuit breaker each, retries of idempotent requests within a
//!    budget, a timeout per route);
//! 5. the answer comes back with hop-by-hop headers dropped, and an upstream error that is
//!    not in the standard envelope (an HTML page, a reset connection) replaced by one.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use nakku_core::auth::JwtKeys;
use nakku_core::gateway::{Access, Miss, Route};

use crate::error::ApiError;
use crate::extract::verify_bearer;
use crate::ratelimit::{Class, Limiter};
use crate::upstream::{NoInstance, Pool};

#[derive(Clone)]
pub struct GatewayState {
    pub pool: Arc<Pool>,
    pub jwt: JwtKeys,
    /// Requests to the services (see [`upstream_client`]).
    pub upstream: UpstreamClient,
    pub body_limit: usize,
    /// Larger limit for `POST /api/v1/products/import`.
    pub import_body_limit: usize,
    /// How long an upstream has to answer (event streams: as long as they last).
    pub timeout: Duration,
    pub limiter: Arc<Limiter>,
    /// Proxies in front appending to `X-Forwarded-For` (see [`client_ip`]).
    pub trusted_hops: usize,
    /// `POST /api/graphql` (see [`crate::graphql`]).
    pub graphql: crate::graphql::AppSchema,
}

/// The caller's address: the TCP peer, or with `hops` trusted proxies in front, the address
/// the outermost of them saw (counted from the end of `X-Forwarded-For`, which each proxy
/// appends to; what a client wrote at the start cannot move it).
pub fn client_ip(peer: std::net::IpAddr, forwarded: Option<&HeaderValue>, hops: usize) -> String {
    if hops == 0 {
        return peer.to_string();
    }
    let list: Vec<&str> = forwarded
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    list.len()
        .checked_sub(hops)
        .and_then(|i| list.get(i))
        .and_then(|s| s.parse::<std::net::IpAddr>().ok())
        .unwrap_or(peer)
        .to_string()
}

pub fn router(state: GatewayState) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", axum::routing::get(openapi_json))
        .route("/api/v1/asyncapi.json", axum::routing::get(asyncapi_json))
        .route("/api/v1/docs", axum::routing::get(docs))
        .route(
            "/api/graphql",
            axum::routing::get(crate::graphql_ws::get).post(crate::graphql::post),
        )
        .fallback(proxy)
        // One Arc: axum clones the state for every request (the keys, the clients, the
        // limiter inside would each be cloned otherwise).
        .with_state(Arc::new(state))
}

/// The OpenAPI document of the whole public API.
async fn openapi_json() -> axum::Json<&'static serde_json::Value> {
    axum::Json(crate::openapi::document_json())
}

/// The AsyncAPI document of every event the services publish and consume.
async fn asyncapi_json() -> axum::Json<&'static serde_json::Value> {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    axum::Json(DOC.get_or_init(nakku_core::asyncapi::document))
}

/// The document, browsable.
async fn docs() -> axum::response::Html<&'static str> {
    axum::response::Html(crate::openapi::DOCS_PAGE)
}

/// The gateway's client for the services: hyper's pooled HTTP/1 client (plain TCP, or
/// rustls with the deployment's roots for `https://` instances), without reqwest on top —
/// per proxied request reqwest cloned its inner client, parsed the URL with IDNA mapping of
/// the host and kept a timer of its own, which the bench measured at 5-6 % of the gateway's
/// CPU. Timeouts are the proxy's (`tokio::time::timeout`), up to the answer's head and, for
/// answers read whole, its body.
pub type UpstreamClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Body,
>;

/// The client the gateway sends requests with (see [`UpstreamClient`]).
pub fn upstream_client(roots: &nakku_core::tls::ExtraRoots) -> UpstreamClient {
    let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
    tcp.enforce_http(false);
    // Small requests and answers go out at once (Nagle would hold them for an ACK).
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(Duration::from_secs(5)));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*roots.client_config()).clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

/// The answer when no instance of `svc` can take a request: none in this deployment, or
/// every one's circuit open (then counted, with when to try again).
fn unavailable(st: &GatewayState, svc: nakku_core::service::Service, e: NoInstance) -> ApiError {
    match e {
        NoInstance::Unknown => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the {svc} service is not available in this deployment"),
        ),
        NoInstance::Open => {
            metrics::counter!("nakku_gateway_fast_failures_total", "service" => svc.name()).increment(1);
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the {svc} service is failing; requests to it are paused for a few seconds"),
            );
            e.extra = Some(serde_json::json!({"retry_after_secs": st.pool.config().open_for.as_secs().max(1)}));
            e
        }
    }
}

/// One request of GraphQL's to an instance of `svc`: `method /api/v1/{path_and_query}`
/// with an optional JSON body and extra headers (an `Idempotency-Key`).
pub struct Call<'a> {
    pub svc: nakku_core::service::Service,
    pub method: Method,
    pub path_and_query: &'a str,
    pub body: Option<serde_json::Value>,
    pub headers: Vec<(&'static str, String)>,
}

/// `call` at an instance of its service, as `claims`' owner (the identity and the token the
/// proxy forwards), within the route timeout: the answer's `data`, or its error as the REST
/// envelope gave it. What GraphQL fields are answered with; not retried (a query is read
/// again by its client, a mutation repeated with its key).
pub async fn fetch(
    st: &GatewayState,
    call: Call<'_>,
    claims: Option<&nakku_core::auth::Claims>,
    authorization: Option<&HeaderValue>,
) -> Result<serde_json::Value, ApiError> {
    let svc = call.svc;
    let (status, body) = send_call(st, call, claims, authorization).await?;
    let bytes = axum::body::to_bytes(body, ANSWER_HOLD as usize * 16)
        .await
        .map_err(|_| ApiError::new(StatusCode::BAD_GATEWAY, format!("the {svc} service's answer broke off")))?;
    let mut envelope: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the {svc} service failed without details"),
        )
    })?;
    if status.is_success() {
        return Ok(envelope
            .get_mut("data")
            .map(serde_json::Value::take)
            .unwrap_or_default());
    }
    Err(refusal(status, &mut envelope))
}

/// A service's refusal as its envelope states it: the message and per-field messages.
fn refusal(status: StatusCode, envelope: &mut serde_json::Value) -> ApiError {
    let message = envelope["error"].as_str().unwrap_or("the request failed").to_owned();
    let mut e = ApiError::new(status, message);
    e.fields = envelope
        .get_mut("fields")
        .map(serde_json::Value::take)
        .and_then(|f| serde_json::from_value(f).ok());
    e
}

/// A server-sent event: its name and data.
pub type Sent = (String, String);

/// A `GET` of a service's event stream (`…/stream`) as `claims`' owner: its events as they
/// come, each `(name, data)` (keep-alive comments left out), ending with the stream. A
/// refusal (such as a 404 for someone else's order) is the error, as [`fetch`] gives it.
/// What GraphQL subscriptions are fed by.
pub async fn events(
    st: &GatewayState,
    call: Call<'_>,
    claims: Option<&nakku_core::auth::Claims>,
    authorization: Option<&HeaderValue>,
) -> Result<futures_util::stream::BoxStream<'static, Sent>, ApiError> {
    use futures_util::StreamExt;
    let (status, body) = send_call(st, call, claims, authorization).await?;
    if !status.is_success() {
        let bytes = axum::body::to_bytes(body, ANSWER_HOLD as usize)
            .await
            .unwrap_or_default();
        let mut envelope: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        return Err(refusal(status, &mut envelope));
    }
    let chunks = body.into_data_stream();
    let parsed = futures_util::stream::unfold((chunks, String::new()), |(mut chunks, mut buf)| async move {
        loop {
            if let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                if let Some(ev) = sse_event(&block) {
                    return Some((ev, (chunks, buf)));
                }
                continue;
            }
            match chunks.next().await {
                Some(Ok(bytes)) => buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    });
    Ok(parsed.boxed())
}

/// One server-sent event's block (`event:` and `data:` lines; `:` comments are keep-alives).
fn sse_event(block: &str) -> Option<Sent> {
    let mut name = String::from("message");
    let mut data: Option<String> = None;
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => name = value.to_owned(),
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    data.map(|d| (name, d))
}

/// Sends `call` to an instance of its service, as `claims`' owner, and waits (within the
/// route timeout) for the answer's head: its status and body.
async fn send_call(
    st: &GatewayState,
    call: Call<'_>,
    claims: Option<&nakku_core::auth::Claims>,
    authorization: Option<&HeaderValue>,
) -> Result<(StatusCode, Body), ApiError> {
    let Call {
        svc,
        method,
        path_and_query,
        body,
        headers,
    } = call;
    let lease = st.pool.pick(svc, &[]).map_err(|e| unavailable(st, svc, e))?;
    let uri = format!("{}/api/v1/{path_and_query}", lease.instance.base_url)
        .parse::<axum::http::Uri>()
        .map_err(|e| ApiError::internal(format!("the {svc} instance's URL: {e}")))?;
    let mut req = match &body {
        Some(b) => {
            let mut r = axum::http::Request::new(Body::from(serde_json::to_vec(b).unwrap_or_default()));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        None => axum::http::Request::new(Body::empty()),
    };
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            req.headers_mut().insert(name, v);
        }
    }
    forward_identity(req.headers_mut(), claims);
    // The token too, as the proxy passes it: services check it again.
    if let Some(v) = authorization {
        req.headers_mut().insert(header::AUTHORIZATION, v.clone());
    }
    let answer = match tokio::time::timeout(st.timeout, st.upstream.request(req)).await {
        Ok(Ok(r)) => r,
        failed => {
            let why = match failed {
                Ok(Err(e)) => Unanswered::Failed(e),
                _ => Unanswered::Timeout,
            };
            let base = lease.instance.base_url.clone();
            lease.failed();
            return Err(unanswered(svc, &base, why));
        }
    };
    let status = answer.status();
    settle(lease, status.as_u16());
    Ok((status, Body::new(answer.into_body())))
}

/// Refuses a caller `access` does not admit: no verified token (401, as a missing bearer
/// token is refused), or a role it does not allow (403). What the proxy and GraphQL's
/// fields both apply.
pub fn authorize(access: Access, claims: Option<&nakku_core::auth::Claims>) -> Result<(), ApiError> {
    if access == Access::Public {
        return Ok(());
    }
    let Some(c) = claims else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "missing bearer token"));
    };
    if !access.allows(Some(c.role)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{} role required", access.name()),
        ));
    }
    Ok(())
}

/// Whose limit a request draws on: a signed-in caller's own for reads and writes, the
/// client address's otherwise (sign-ins, anonymous requests).
pub fn limit_key(
    st: &GatewayState,
    claims: Option<&nakku_core::auth::Claims>,
    class: Class,
    peer: std::net::IpAddr,
    headers: &HeaderMap,
) -> String {
    match (claims, class) {
        (Some(c), Class::Read | Class::Write) => format!("u:{}", c.sub),
        _ => format!(
            "ip:{}",
            client_ip(peer, headers.get("x-forwarded-for"), st.trusted_hops)
        ),
    }
}

/// The verified identity as services receive it, and the trace the request joins (the
/// service's span a child of the gateway's; with tracing off, a client's `traceparent`
/// passes through untouched).
fn forward_identity(h: &mut HeaderMap, claims: Option<&nakku_core::auth::Claims>) {
    if let Some(c) = claims {
        if let Ok(v) = HeaderValue::from_str(&c.sub) {
            h.insert(USER_ID, v);
        }
        h.insert(USER_ROLE, HeaderValue::from_static(c.role.as_str()));
    }
    if let Some(v) = nakku_core::trace::current().and_then(|tp| HeaderValue::from_str(&tp).ok()) {
        h.insert(nakku_core::trace::TRACEPARENT, v);
    }
}

/// An instance's answer counted for its circuit: a 503 is the service's own answer (a
/// dependency down, load shed), not a sick instance; other 5xx count against it.
fn settle(lease: crate::upstream::Lease, status: u16) {
    match status {
        503 => lease.neutral(),
        500..=599 => lease.failed(),
        _ => lease.succeeded(),
    }
}

/// The error for a request an instance (`base`) did not answer, logged.
fn unanswered(svc: nakku_core::service::Service, base: &str, why: Unanswered) -> ApiError {
    match why {
        Unanswered::Timeout => {
            tracing::warn!(service = %svc, upstream = %base, "upstream did not answer in time");
            ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!("the {svc} service did not answer in time"),
            )
        }
        Unanswered::Failed(e) => {
            tracing::warn!(service = %svc, upstream = %base, error = %e, "upstream request failed");
            ApiError::new(StatusCode::BAD_GATEWAY, format!("the {svc} service is unreachable"))
        }
    }
}

/// Why a request to an instance got no answer.
enum Unanswered {
    Timeout,
    Failed(hyper_util::client::legacy::Error),
}

/// Where a request to the gateway goes in the route table, looked up once per request by
/// [`resolve_route`], the gateway's outermost layer: the request's span is named by it,
/// its metrics labelled by it, and the proxy sends the request by it.
#[derive(Debug, Clone)]
pub struct Resolved(pub Result<Route, Miss>);

impl Resolved {
    /// The request's route: as [`resolve_route`] found it, or looked up now (a router used
    /// without that layer).
    pub fn of<B>(req: &axum::http::Request<B>) -> Result<Route, Miss> {
        match req.extensions().get::<Resolved>() {
            Some(Resolved(r)) => r.clone(),
            None => crate::api::table().resolve(req.method().as_str(), req.uri().path()),
        }
    }
}

/// The gateway's outermost layer: finds the request's route (see [`Resolved`]).
pub async fn resolve_route(mut req: Request, next: axum::middleware::Next) -> Response {
    let found = crate::api::table().resolve(req.method().as_str(), req.uri().path());
    req.extensions_mut().insert(Resolved(found));
    next.run(req).await
}

/// A request to switch to a WebSocket.
fn is_websocket(h: &HeaderMap) -> bool {
    h.get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The two hop-by-hop headers an upgrade needs on each hop (dropped with the rest by
/// [`keep_forwardable`]).
fn upgrade_headers(h: &mut HeaderMap) {
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
}

/// Joins a client's upgraded connection to the service's, byte for byte, until either
/// closes (the WebSocket's own frames, pings and close handshake pass through untouched).
fn splice(client: hyper::upgrade::OnUpgrade, service: hyper::upgrade::OnUpgrade) {
    tokio::spawn(async move {
        let (Ok(client), Ok(service)) = tokio::join!(client, service) else {
            tracing::debug!("a WebSocket upgrade did not complete");
            return;
        };
        let open = metrics::gauge!("nakku_gateway_websockets");
        open.increment(1.0);
        let (mut client, mut service) = (
            hyper_util::rt::TokioIo::new(client),
            hyper_util::rt::TokioIo::new(service),
        );
        let _ = tokio::io::copy_bidirectional(&mut client, &mut service).await;
        open.decrement(1.0);
    });
}

/// Headers that belong to one hop and must not be forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The identity the gateway verified, as services receive it.
pub const USER_ID: &str = "x-nakku-user-id";
pub const USER_ROLE: &str = "x-nakku-user-role";
/// Services the gateway cannot reach right now, on every answer while there are any.
pub const DEGRADED: &str = "x-degraded";

/// Drops from `h`, in place, what is not passed on to the next hop: hop-by-hop headers,
/// `Host` and `Content-Length` (the next hop's own), and the internal `X-Nakku-*` headers,
/// which are the gateway's to set, never a client's.
fn keep_forwardable(h: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        h.remove(name);
    }
    h.remove(header::HOST);
    h.remove(header::CONTENT_LENGTH);
    let internal = |k: &HeaderName| k.as_str().starts_with("x-nakku-");
    if h.keys().any(internal) {
        let names: Vec<HeaderName> = h.keys().filter(|k| internal(k)).cloned().collect();
        for k in names {
            h.remove(k);
        }
    }
}

/// The largest request body held whole (for a retry on another instance; larger ones,
/// and those of unknown length, stream).
const RETRY_HOLD: u64 = 64 * 1024;
/// The largest answer (by its `Content-Length`) read whole before it is passed on.
const ANSWER_HOLD: u64 = 256 * 1024;

fn too_large() -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body is too large")
}

/// A request body as the gateway sends it on.
enum Outgoing {
    /// Small, of known length: held, sent with its length, and again if a request safe
    /// to repeat goes to another instance.
    Held(axum::body::Bytes),
    /// Anything else: passed on as it arrives, once.
    Streamed(Option<Body>),
}

/// Why a streamed request body stopped before its end.
#[derive(Debug, Clone, Copy)]
enum BodyFault {
    TooLarge,
    BrokeOff,
}

/// A client's body on its way upstream, cut off (and the reason kept) past `left` bytes.
struct Passing {
    inner: axum::body::BodyDataStream,
    left: usize,
    fault: Arc<OnceLock<BodyFault>>,
}

impl futures_util::Stream for Passing {
    type Item = Result<axum::body::Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let next = std::pin::Pin::new(&mut self.inner).poll_next(cx);
        let fail = |this: &mut Passing, f: BodyFault| {
            let _ = this.fault.set(f);
            Poll::Ready(Some(Err(std::io::Error::other(format!("{f:?}")))))
        };
        match next {
            Poll::Ready(Some(Ok(chunk))) if chunk.len() > self.left => fail(&mut self, BodyFault::TooLarge),
            Poll::Ready(Some(Ok(chunk))) => {
                self.left -= chunk.len();
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(_))) => fail(&mut self, BodyFault::BrokeOff),
            other => other.map(|o| o.map(|r| r.map_err(std::io::Error::other))),
        }
    }
}

/// Requests that may be sent twice without doing twice.
fn retryable(method: &Method, headers: &HeaderMap) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    ) || headers.contains_key("idempotency-key")
}

/// What the answer of a deprecated operation says (see [`nakku_core::gateway::Sunset`]):
/// `Deprecation`, `Sunset`, and a `Link` to the operation replacing it.
pub fn sunset_headers(h: &mut HeaderMap, s: &nakku_core::gateway::Sunset) {
    let value = |v: Option<String>| v.and_then(|v| HeaderValue::from_str(&v).ok());
    if let Some(v) = value(s.deprecation_header()) {
        h.insert("deprecation", v);
    }
    if let Some(v) = value(s.sunset_header()) {
        h.insert("sunset", v);
    }
    let successor = crate::api::catalog().op(s.successor).map(|op| {
        format!(
            "</api/v1/{}>; rel=\"successor-version\"; title=\"{} {}\"",
            op.endpoint.path, op.endpoint.method, op.endpoint.name
        )
    });
    if let Some(v) = value(successor) {
        h.append(header::LINK, v);
    }
}

/// The error of a request over its caller's limit (counted per class).
pub fn over_limit(class: Class, d: &crate::ratelimit::Decision) -> ApiError {
    metrics::counter!("nakku_rate_limited_total", "class" => format!("{class:?}").to_lowercase()).increment(1);
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many requests; try again in {} s", d.retry_after_secs),
    );
    e.extra = Some(serde_json::json!({"retry_after_secs": d.retry_after_secs}));
    e
}

/// The answer to a request over its caller's limit, with the limit's headers.
pub fn rate_limited(class: Class, d: &crate::ratelimit::Decision) -> Response {
    let mut resp = over_limit(class, d).into_response();
    limit_headers(resp.headers_mut(), d);
    resp
}

fn limit_headers(h: &mut HeaderMap, d: &crate::ratelimit::Decision) {
    h.insert("x-ratelimit-limit", HeaderValue::from(d.limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(d.remaining));
}

async fn proxy(
    State(st): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
) -> Result<Response, ApiError> {
    let path = req.uri().path().to_owned();
    // A WebSocket (`…/live`): the upgrade goes on to the service, and once it switches
    // protocols the two connections are joined byte for byte.
    let socket = is_websocket(req.headers()).then(|| hyper::upgrade::on(&mut req));
    let route = match Resolved::of(&req) {
        Ok(r) => r,
        Err(Miss::NotFound) => return Err(ApiError::not_found("route")),
        Err(Miss::Method(allowed)) => {
            let e = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{} is not allowed here; use {}", req.method(), allowed.join(", ")),
            );
            let mut resp = e.into_response();
            if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
                resp.headers_mut().insert(header::ALLOW, v);
            }
            return Ok(resp);
        }
    };
    let access = route.endpoint.access;
    let claims = if access == Access::Public {
        None
    } else {
        let c = verify_bearer(req.headers().get(header::AUTHORIZATION), &st.jwt)?;
        tracing::Span::current().record("user_id", c.sub.as_str());
        authorize(access, Some(&c))?;
        Some(c)
    };
    let class = Class::of(req.method().as_str(), route.endpoint.path);
    let caller = limit_key(&st, claims.as_ref(), class, peer.ip(), req.headers());
    let decision = st.limiter.check(class, &caller).await;
    if let Some(d) = decision.filter(|d| !d.allowed) {
        return Ok(rate_limited(class, &d));
    }

    let (mut parts, body) = req.into_parts();
    let import = route.endpoint.path == "products/import";
    let limit = if import { st.import_body_limit } else { st.body_limit };
    let size = body.size_hint().exact();
    if size.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    // A small body of a known length is held whole: a retry on another instance can send
    // it again, and the service gets its length. Any other body streams through as it
    // arrives (a 64 MiB import costs the gateway its buffers, not 64 MiB).
    let hold = size.is_some_and(|n| n <= RETRY_HOLD);
    let safe = retryable(&parts.method, &parts.headers);
    let fault = Arc::new(OnceLock::new());
    let mut outgoing = if hold {
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| too_large())?;
        Outgoing::Held(bytes)
    } else {
        Outgoing::Streamed(Some(Body::from_stream(Passing {
            inner: body.into_data_stream(),
            left: limit,
            fault: fault.clone(),
        })))
    };
    let mut headers = std::mem::take(&mut parts.headers);
    keep_forwardable(&mut headers);
    forward_identity(&mut headers, claims.as_ref());
    if socket.is_some() {
        upgrade_headers(&mut headers);
    }
    let streaming = socket.is_some() || path.ends_with("/stream");
    let timeout = st.timeout;
    // Safe to repeat, and held: a streamed body is gone once sent.
    let may_retry = hold && safe;
    let target = |base: &str| match parts.uri.query() {
        Some(q) => format!("{base}{path}?{q}"),
        None => format!("{base}{path}"),
    };
    let svc = route.service;
    st.pool.earn();
    let mut tried: Vec<String> = Vec::new();
    let mut last: Option<ApiError> = None;
    let mut upstream = loop {
        let lease = match st.pool.pick(svc, &tried) {
            Ok(l) => l,
            // Every instance tried (or the rest refuse): the last failure is the answer.
            Err(_) if last.is_some() => return Err(last.unwrap_or_else(|| ApiError::internal("no error kept"))),
            Err(e) => return Err(unavailable(&st, svc, e)),
        };
        let uri = match target(&lease.instance.base_url).parse::<axum::http::Uri>() {
            Ok(u) => u,
            Err(e) => return Err(ApiError::internal(format!("the {svc} instance's URL: {e}"))),
        };
        let body = match &mut outgoing {
            Outgoing::Held(bytes) => Body::from(bytes.clone()),
            Outgoing::Streamed(once) => match once.take() {
                Some(b) => b,
                None => return Err(last.unwrap_or_else(|| ApiError::internal("a streamed body sent twice"))),
            },
        };
        let mut out = axum::http::Request::new(body);
        *out.method_mut() = parts.method.clone();
        *out.uri_mut() = uri;
        *out.headers_mut() = headers.clone();
        let sent = st.upstream.request(out);
        // An event stream lasts as long as it needs; anything else has the route's time.
        let answered = if streaming {
            sent.await.map_err(Unanswered::Failed)
        } else {
            match tokio::time::timeout(timeout, sent).await {
                Ok(r) => r.map_err(Unanswered::Failed),
                Err(_) => Err(Unanswered::Timeout),
            }
        };
        let base = lease.instance.base_url.clone();
        // One rule for both kinds of failure: safe to repeat, another instance to try, at
        // most two retries, and a token from the budget (taken only when retrying).
        let retry_left = may_retry && st.pool.instances(svc).len() > tried.len() + 1 && tried.len() < 2;
        match answered {
            Ok(r) => {
                let code = r.status().as_u16();
                settle(lease, code);
                if matches!(code, 502..=504) && retry_left && st.pool.spend_retry() {
                    tracing::warn!(service = %svc, upstream = %base, status = code, "retrying on another instance");
                    metrics::counter!("nakku_gateway_retries_total", "service" => svc.name()).increment(1);
                    tried.push(base);
                    continue;
                }
                break r;
            }
            Err(e) => {
                // The client's own body stopped it: its fault, not the instance's.
                if let Some(f) = fault.get() {
                    lease.neutral();
                    return Err(match f {
                        BodyFault::TooLarge => too_large(),
                        BodyFault::BrokeOff => {
                            ApiError::new(StatusCode::BAD_REQUEST, "the request body broke off before its end")
                        }
                    });
                }
                lease.failed();
                let err = unanswered(svc, &base, e);
                tried.push(base);
                if retry_left && st.pool.spend_retry() {
                    metrics::counter!("nakku_gateway_retries_total", "service" => svc.name()).increment(1);
                    last = Some(err);
                    continue;
                }
                return Err(err);
            }
        }
    };
    let status = upstream.status();
    let is_json = upstream
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let length = upstream.body().size_hint().exact();
    // The upstream's headers, moved and trimmed in place.
    let mut answer_headers = std::mem::take(upstream.headers_mut());
    keep_forwardable(&mut answer_headers);
    if let Some(client) = socket.filter(|_| status == StatusCode::SWITCHING_PROTOCOLS) {
        upgrade_headers(&mut answer_headers);
        splice(client, hyper::upgrade::on(&mut upstream));
        let mut r = Response::new(Body::empty());
        *r.status_mut() = status;
        *r.headers_mut() = answer_headers;
        return Ok(r);
    }
    if let Some(d) = &decision {
        limit_headers(&mut answer_headers, d);
    }
    if let Some(sunset) = &route.endpoint.sunset {
        sunset_headers(&mut answer_headers, sunset);
    }
    // Declared degradation: clients can tell what is off (e.g. payment: cash only).
    let down = st.pool.degraded();
    if !down.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&down.join(", ")) {
            answer_headers.insert(DEGRADED, v);
        }
    }
    let answer = |body: Body| {
        let mut r = Response::new(body);
        *r.status_mut() = status;
        *r.headers_mut() = answer_headers;
        r
    };
    if status.as_u16() >= 400 && !is_json {
        // Never pass on an upstream's raw error page: the standard envelope instead.
        let code = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        return Err(ApiError::new(
            code,
            format!(
                "the {svc} service failed ({}) without details",
                code.canonical_reason().unwrap_or("error")
            ),
        ));
    }
    // Event streams and large or unsized answers pass through as they come; a small one is
    // read whole first, so that a service breaking it off gets a clear 502 (a streamed one
    // broken off ends the client's answer early, as any proxy's would).
    let upstream = Body::new(upstream.into_body());
    if streaming || length.is_none_or(|n| n > ANSWER_HOLD) {
        return Ok(answer(upstream));
    }
    let broke = |e: &dyn std::fmt::Display| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the {svc} service broke off its answer: {e}"),
        )
    };
    let body = match tokio::time::timeout(timeout, axum::body::to_bytes(upstream, ANSWER_HOLD as usize)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return Err(broke(&e)),
        Err(_) => return Err(broke(&"it took longer than the request's time")),
    };
    Ok(answer(Body::from(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deprecated_operations_answer_says_when_it_ends_and_what_replaces_it() {
        let mut h = HeaderMap::new();
        sunset_headers(
            &mut h,
            &nakku_core::gateway::Sunset {
                deprecated: "2026-12-07",
                sunset: "2027-06-30",
                successor: "addCartLines",
            },
        );
        assert_eq!(h["deprecation"], "@1796601600");
        assert_eq!(h["sunset"], "Wed, 30 Jun 2027 00:00:00 GMT");
        assert_eq!(
            h[header::LINK],
            "</api/v1/cart/lines>; rel=\"successor-version\"; title=\"POST addCartLines\""
        );
    }

    #[test]
    fn the_client_address_comes_from_trusted_proxies_only() {
        let peer: std::net::IpAddr = "10.0.0.9".parse().unwrap();
        let xff = HeaderValue::from_static("6.6.6.6, 203.0.113.7");
        assert_eq!(client_ip(peer, Some(&xff), 0), "10.0.0.9", "not trusted: the peer");
        assert_eq!(
            client_ip(peer, Some(&xff), 1),
            "203.0.113.7",
            "what the load balancer saw"
        );
        assert_eq!(client_ip(peer, Some(&xff), 2), "6.6.6.6");
        assert_eq!(
            client_ip(peer, Some(&xff), 3),
            "10.0.0.9",
            "fewer entries than hops: the peer"
        );
        assert_eq!(client_ip(peer, None, 1), "10.0.0.9");
        let junk = HeaderValue::from_static("not-an-ip");
        assert_eq!(client_ip(peer, Some(&junk), 1), "10.0.0.9");
    }
}
