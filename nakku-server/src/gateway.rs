//! The gateway (port 8080): routes `/api/v1/...` to the owning service, checks bearer
//! tokens before forwarding, and carries the request id across. Rate limiting, circuit
//! breaking and load balancing arrive with the gateway issue.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::Response;
use axum::Router;
use nakku_core::auth::JwtKeys;
use nakku_core::service::Service;

use crate::error::ApiError;
use crate::extract::verify_bearer;

#[derive(Clone)]
pub struct GatewayState {
    /// Base URL of every service the gateway can reach.
    pub upstreams: Arc<BTreeMap<Service, String>>,
    pub jwt: JwtKeys,
    pub client: reqwest::Client,
    /// For event streams (`.../stream`): no overall timeout, the stream lasts.
    pub stream_client: reqwest::Client,
    pub body_limit: usize,
    /// Larger limit for `POST /api/v1/products/import`.
    pub import_body_limit: usize,
}

pub fn router(state: GatewayState) -> Router {
    Router::new().fallback(proxy).with_state(state)
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

fn forwardable(name: &HeaderName) -> bool {
    !HOP_BY_HOP.contains(&name.as_str()) && name != header::HOST && name != header::CONTENT_LENGTH
}

async fn proxy(State(st): State<GatewayState>, req: Request) -> Result<Response, ApiError> {
    let path = req.uri().path().to_owned();
    let route = nakku_core::gateway::route(req.method().as_str(), &path).ok_or_else(|| ApiError::not_found("route"))?;
    if !route.public {
        let claims = verify_bearer(req.headers().get(header::AUTHORIZATION), &st.jwt)?;
        tracing::Span::current().record("user_id", claims.sub.as_str());
    }
    let base = st.upstreams.get(&route.service).ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the {} service is not available in this deployment", route.service),
        )
    })?;
    let url = match req.uri().query() {
        Some(q) => format!("{base}{path}?{q}"),
        None => format!("{base}{path}"),
    };
    let (parts, body) = req.into_parts();
    let limit = if path.ends_with("/products/import") {
        st.import_body_limit
    } else {
        st.body_limit
    };
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body is too large"))?;
    let mut headers = HeaderMap::new();
    for (k, v) in parts.headers.iter().filter(|(k, _)| forwardable(k)) {
        headers.append(k.clone(), v.clone());
    }
    let streaming = path.ends_with("/stream");
    let client = if streaming { &st.stream_client } else { &st.client };
    let upstream = client
        .request(parts.method, &url)
        .headers(headers)
        .body(bytes)
        .send()
        .await
        .map_err(|e| {
            let (status, what) = if e.is_timeout() {
                (StatusCode::GATEWAY_TIMEOUT, "did not answer in time")
            } else {
                (StatusCode::BAD_GATEWAY, "is unreachable")
            };
            tracing::warn!(service = %route.service, error = %e, "upstream request failed");
            ApiError::new(status, format!("the {} service {what}", route.service))
        })?;
    let status = upstream.status();
    let mut builder = Response::builder().status(status);
    for (k, v) in upstream.headers().iter().filter(|(k, _)| forwardable(k)) {
        builder = builder.header(k, v);
    }
    if streaming && status.is_success() {
        return builder
            .body(Body::from_stream(upstream.bytes_stream()))
            .map_err(ApiError::internal);
    }
    let body = upstream.bytes().await.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the {} service broke off its answer: {e}", route.service),
        )
    })?;
    builder.body(Body::from(body)).map_err(ApiError::internal)
}
