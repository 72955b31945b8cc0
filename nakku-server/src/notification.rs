//! Notification service routes (port 8088): a user's message history, preferences (per
//! channel and category, with quiet hours) and push devices; for admins, dead-lettered
//! messages and their retry.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::Router;
use nakku_core::auth::{JwtKeys, Role};
use nakku_core::notification::{DeviceInput, HistoryQuery, NotificationService, PreferencesInput};
use serde_json::json;

use crate::error::{ok, ApiResult};
use crate::extract::{AppJson, AppQuery, AuthUser, SvcState};

type St = State<SvcState<NotificationService>>;

pub fn router(svc: Arc<NotificationService>, jwt: JwtKeys) -> Router {
    Router::new()
        .route("/api/v1/notifications", get(history))
        .route(
            "/api/v1/notifications/preferences",
            get(preferences).put(set_preferences),
        )
        .route("/api/v1/notifications/devices", post(add_device))
        .route("/api/v1/notifications/devices/{id}", delete(remove_device))
        .route("/api/v1/notifications/failed", get(failed))
        .route("/api/v1/notifications/{id}/retry", post(retry))
        .with_state(SvcState { svc, jwt })
}

/// Your messages; an admin may read anyone's with `?user_id=`.
async fn history(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<HistoryQuery>) -> ApiResult {
    let user = match &q.user_id {
        Some(u) if u != &auth.0.sub => {
            auth.require(Role::Admin)?;
            u.clone()
        }
        _ => auth.0.sub.clone(),
    };
    Ok(ok(StatusCode::OK, s.svc.history(&user, &q).await?))
}

async fn preferences(State(s): St, auth: AuthUser) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.preferences(&auth.0.sub).await?))
}

async fn set_preferences(State(s): St, auth: AuthUser, AppJson(b): AppJson<PreferencesInput>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.set_preferences(&auth.0.sub, b).await?))
}

async fn add_device(State(s): St, auth: AuthUser, AppJson(b): AppJson<DeviceInput>) -> ApiResult {
    Ok(ok(StatusCode::CREATED, s.svc.add_device(&auth.0.sub, b).await?))
}

async fn remove_device(State(s): St, auth: AuthUser, Path(id): Path<String>) -> ApiResult {
    s.svc.remove_device(&auth.0.sub, &id).await?;
    Ok(ok(StatusCode::OK, json!({"deleted": true})))
}

async fn failed(State(s): St, auth: AuthUser) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.failed(100).await?))
}

async fn retry(State(s): St, auth: AuthUser, Path(id): Path<String>) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.retry(&id).await?))
}
