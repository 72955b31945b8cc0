//! Typed answers. A handler returns `ApiResult<T>`: its data `T` becomes the envelope
//! `{"success": true, "data": ...}`, and the same `T` is the schema the OpenAPI document
//! gives for that answer (see [`crate::api`]): the document cannot drift from the code.
//! Lists come in two shapes, [`Page`] (`{items, next_cursor}`) and [`Items`] (`{items}`),
//! defined in `nakku_core::list` for the use cases to return; answers that only confirm are
//! small structs ([`Deleted`], ...).

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
pub use nakku_core::list::{Items, Page};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// A success answer: its status, extra headers, and the data of the envelope.
#[derive(Debug)]
pub struct Answer<T> {
    status: StatusCode,
    headers: HeaderMap,
    data: T,
}

impl<T> Answer<T> {
    pub fn new(status: StatusCode, data: T) -> Self {
        Answer {
            status,
            headers: HeaderMap::new(),
            data,
        }
    }

    /// The answer with one more header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }
}

#[derive(Serialize)]
struct Success<'a, T> {
    success: bool,
    data: &'a T,
}

impl<T: Serialize> IntoResponse for Answer<T> {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            Json(Success {
                success: true,
                data: &self.data,
            }),
        )
            .into_response();
        resp.headers_mut().extend(self.headers);
        resp
    }
}

/// What a handler returns: a typed answer or an error in the standard envelope.
pub type ApiResult<T> = Result<Answer<T>, ApiError>;

/// `200 OK` with `data`.
pub fn ok<T>(data: T) -> ApiResult<T> {
    Ok(Answer::new(StatusCode::OK, data))
}

/// `201 Created` with what was created.
pub fn created<T>(data: T) -> ApiResult<T> {
    Ok(Answer::new(StatusCode::CREATED, data))
}

/// `{"success": true, "data": ...}` with a status, for answers outside the API's
/// endpoints (health probes).
pub fn envelope<T: Serialize>(status: StatusCode, data: T) -> Response {
    Answer::new(status, data).into_response()
}

/// Something was deleted: `{"deleted": true}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: bool,
}

pub const DELETED: Deleted = Deleted { deleted: true };

/// The refresh token is revoked: `{"logged_out": true}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoggedOut {
    pub logged_out: bool,
}

/// The password is changed (and every other session signed out): `{"password_changed": true}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordChanged {
    pub password_changed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, ToSchema)]
    struct Thing {
        n: i64,
    }

    #[tokio::test]
    async fn an_answer_is_the_success_envelope_with_its_status_and_headers() {
        let resp = Answer::new(StatusCode::CREATED, Thing { n: 2 })
            .header(HeaderName::from_static("x-one"), HeaderValue::from_static("1"))
            .into_response();
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert_eq!(resp.headers()["x-one"], "1");
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        assert_eq!(v, serde_json::json!({"success": true, "data": {"n": 2}}));
    }
}
