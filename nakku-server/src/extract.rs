//! Extractors whose rejections use the standard envelope: `AppJson<T>` (400 for malformed
//! JSON, 415 for a wrong content type, 413 for an oversized body, 422 naming the field for
//! a wrong type), `AppQuery<T>`, `AuthUser` (a verified bearer token) and `Ctx`.

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use nakku_core::auth::{Claims, JwtKeys, Role};
use nakku_core::RequestCtx;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body parsed with field-level errors.
#[derive(Debug)]
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a JSON body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body is too large")
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, format!("could not read the request body: {e}"))
            }
        })?;
        parse_json(&bytes).map(AppJson)
    }
}

/// Parses a JSON body, telling syntax errors (400) from type errors at a path (422).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed JSON: the request body is empty",
        ));
    }
    // Syntax first (400), then shape: every Nakku body is an object (422 naming `body`).
    let mut parsed: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("malformed JSON: {}", strip_position(&e.to_string())),
        )
    })?;
    if !parsed.is_object() {
        return Err(ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "body",
            "must be a JSON object",
        ));
    }
    // JSON has one kind of number: `10.0` is the whole number 10, as JSON Schema's
    // `integer` says, so a client that writes every number with a point is understood.
    whole_numbers(&mut parsed);
    let value = serde_path_to_error::deserialize(parsed).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = strip_position(&inner.to_string());
        use serde_json::error::Category;
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {msg}"))
            }
            Category::Data if path == "." => {
                // serde reports a missing required field at the root; name the field.
                match msg.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
                    Some(field) => ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, field, "is required"),
                    None => ApiError::field(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "body",
                        format!("must be a JSON object ({msg})"),
                    ),
                }
            }
            Category::Data => ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, &path, msg),
        }
    })?;
    Ok(value)
}

/// Floats without a fraction that fit an i64 become integers, everywhere in `v`.
fn whole_numbers(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                // The bounds are exact powers of two; `as` is then exact.
                if f.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
                    *n = serde_json::Number::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(map) => map.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

/// serde_json appends " at line 1 column 12"; the client has no use for it in the message.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Query string parameters with envelope errors.
#[derive(Debug)]
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded_deserializer(q);
        match de {
            Ok(v) => Ok(AppQuery(v)),
            Err(e) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("query string: {e}"),
            )),
        }
    }
}

fn serde_urlencoded_deserializer<T: DeserializeOwned>(q: &str) -> Result<T, String> {
    use axum::extract::Query;
    let uri: axum::http::Uri = format!("/?{q}").parse().map_err(|e| format!("{e}"))?;
    Query::<T>::try_from_uri(&uri)
        .map(|Query(v)| v)
        .map_err(|e| e.body_text().replace("Failed to deserialize query string: ", ""))
}

/// The caller's verified access-token claims. Records `user_id` on the request span.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Claims);

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    JwtKeys: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let keys = JwtKeys::from_ref(state);
        let claims = verify_bearer(parts.headers.get(header::AUTHORIZATION), &keys)?;
        tracing::Span::current().record("user_id", claims.sub.as_str());
        Ok(AuthUser(claims))
    }
}

impl AuthUser {
    /// 403 unless the token carries `role`. For services that cannot see the user database
    /// (the user service itself checks roles against its table instead).
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.0.role == role {
            Ok(())
        } else {
            Err(ApiError::new(StatusCode::FORBIDDEN, format!("{role} role required")))
        }
    }
}

/// Checks an `Authorization: Bearer <jwt>` header.
pub fn verify_bearer(value: Option<&axum::http::HeaderValue>, keys: &JwtKeys) -> Result<Claims, ApiError> {
    let Some(value) = value else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "missing bearer token"));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "expected Authorization: Bearer <token>"))?;
    keys.verify(token).map_err(ApiError::from)
}

/// Router state of a service: its use cases and the token keys `AuthUser` checks with.
pub struct SvcState<T> {
    pub svc: std::sync::Arc<T>,
    pub jwt: JwtKeys,
}

impl<T> Clone for SvcState<T> {
    fn clone(&self) -> Self {
        SvcState {
            svc: self.svc.clone(),
            jwt: self.jwt.clone(),
        }
    }
}

impl<T> FromRef<SvcState<T>> for JwtKeys {
    fn from_ref(s: &SvcState<T>) -> JwtKeys {
        s.jwt.clone()
    }
}

impl AuthUser {
    /// Whether the caller is staff (admin: support and operations).
    pub fn is_staff(&self) -> bool {
        self.0.role == Role::Admin
    }
}

/// The request's id and user agent, for use cases and their events.
#[derive(Debug, Clone)]
pub struct Ctx(pub RequestCtx);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header_str = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Ctx(RequestCtx {
            request_id: header_str(crate::middleware::REQUEST_ID).unwrap_or_else(nakku_core::id::new_id),
            user_agent: header_str("user-agent"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        email: Option<String>,
        n: Option<i64>,
        must: String,
    }

    #[test]
    fn a_whole_number_may_be_written_with_a_point() {
        let b = parse_json::<Body>(br#"{"n": 10.0, "must": "x"}"#).unwrap();
        assert_eq!(b.n, Some(10));
        let b = parse_json::<Body>(br#"{"n": -3e2, "must": "x"}"#).unwrap();
        assert_eq!(b.n, Some(-300));
        // A fraction, or a number past i64, is still refused naming the field.
        for bad in [&br#"{"n": 10.5, "must": "x"}"#[..], br#"{"n": 1e19, "must": "x"}"#] {
            let e = parse_json::<Body>(bad).unwrap_err();
            assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
            assert!(e.fields.unwrap().contains_key("n"));
        }
    }

    #[test]
    fn syntax_errors_are_400_and_type_errors_422_naming_the_field() {
        let e = parse_json::<Body>(b"{\"email\": ").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = parse_json::<Body>(br#"{"email": 5, "must": "x"}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(e.fields.unwrap().contains_key("email"));
        let e = parse_json::<Body>(br#"{"email": "a"}"#).unwrap_err();
        assert_eq!(e.fields.unwrap()["must"], vec!["is required".to_owned()]);
        let e = parse_json::<Body>(b"[1,2]").unwrap_err();
        assert!(e.fields.unwrap().contains_key("body"));
        let e = parse_json::<Body>(br#"{"must": "x"} trailing"#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(parse_json::<Body>(b"").unwrap_err().status, StatusCode::BAD_REQUEST);
    }
}
