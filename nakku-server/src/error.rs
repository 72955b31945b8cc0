//! The HTTP error envelope: `{"success": false, "error": "...", "code": 422, "fields": {...}}`.
//! 5xx responses hide their cause from the client and log it instead.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nakku_core::error::FieldErrors;
use nakku_core::CoreError;
use serde_json::json;

/// An error on its way to becoming a response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub fields: Option<FieldErrors>,
    /// Extra JSON merged into the body (e.g. `checks` on a failed health check).
    pub extra: Option<serde_json::Value>,
    cause: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            fields: None,
            extra: None,
            cause: None,
        }
    }

    pub fn field(status: StatusCode, field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut fields = FieldErrors::new();
        fields.insert(field.to_owned(), vec![message.clone()]);
        ApiError {
            status,
            message: format!("{field}: {message}"),
            fields: Some(fields),
            extra: None,
            cause: None,
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "internal error".to_owned(),
            fields: None,
            extra: None,
            cause: Some(format!("{cause:#}")),
        }
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Validation(fields) => {
                let message = CoreError::Validation(fields.clone()).to_string();
                ApiError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    message,
                    fields: Some(fields),
                    extra: None,
                    cause: None,
                }
            }
            CoreError::Conflict { field, message } => ApiError::field(StatusCode::CONFLICT, &field, message),
            CoreError::Unauthorized(m) => ApiError::new(StatusCode::UNAUTHORIZED, m),
            CoreError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, m),
            CoreError::NotFound(what) => ApiError::not_found(&what),
            CoreError::Unavailable(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m),
            CoreError::TooManyRequests {
                message,
                retry_after_secs,
            } => ApiError {
                // Also sent as the Retry-After header.
                extra: Some(json!({ "retry_after_secs": retry_after_secs })),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, message)
            },
            CoreError::Database(e) => {
                let mut err = ApiError::internal(&e);
                if nakku_core::error::is_unavailable(&e) {
                    // The cause is still logged; the caller learns it may retry shortly.
                    err.status = StatusCode::SERVICE_UNAVAILABLE;
                    err.message = "database unavailable; try again shortly".to_owned();
                    err.extra = Some(json!({ "retry_after_secs": 1 }));
                }
                err
            }
            CoreError::Internal(e) => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            tracing::error!(status = self.status.as_u16(), cause = %cause, "request failed");
        }
        let retry_after = self.extra.as_ref().and_then(|e| e["retry_after_secs"].as_u64());
        let mut body = json!({ "success": false, "error": self.message, "code": self.status.as_u16() });
        if let Some(fields) = self.fields {
            body["fields"] = json!(fields);
        }
        if let (Some(extra), Some(obj)) = (self.extra, body.as_object_mut()) {
            if let Some(e) = extra.as_object() {
                for (k, v) in e {
                    obj.insert(k.clone(), v.clone());
                }
            }
        }
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"nakku\""),
            );
        }
        resp
    }
}
