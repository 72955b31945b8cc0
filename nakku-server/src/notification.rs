//! Notification service routes (port 8088): a user's message history, preferences (per
//! channel and category, with quiet hours) and push devices; for admins, dead-lettered
//! messages and their retry.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Router;
use nakku_core::auth::{JwtKeys, Role};
use nakku_core::gateway::Access::{Admin, Signed};
use nakku_core::notification::{
    Device, DeviceInput, HistoryQuery, Message, MessageList, MessagePage, NotificationService, Preferences,
    PreferencesInput,
};
use nakku_core::service::Service;

use crate::answer::{created, ok, ApiResult, Deleted, DELETED};
use crate::api::Api;
use crate::extract::{AppJson, AppQuery, AuthUser, SvcState};

type St = State<SvcState<NotificationService>>;

/// The notification service's endpoints.
pub fn api() -> Api<SvcState<NotificationService>> {
    const DEVICE: &[(&str, &str)] = &[("id", "$response.body#/data/id")];
    Api::new(Service::Notification)
        .get("notifications", "listNotifications", Signed, history)
        .get(
            "notifications/preferences",
            "getNotificationPreferences",
            Signed,
            preferences,
        )
        .put(
            "notifications/preferences",
            "setNotificationPreferences",
            Signed,
            set_preferences,
        )
        .post("notifications/devices", "registerDevice", Signed, add_device)
        .link("removeDevice", DEVICE)
        .delete("notifications/devices/{id}", "removeDevice", Signed, remove_device)
        .get("notifications/failed", "listFailedNotifications", Admin, failed)
        .post("notifications/{id}/retry", "retryNotification", Admin, retry)
}

pub fn router(svc: Arc<NotificationService>, jwt: JwtKeys) -> Router {
    api().router().with_state(SvcState { svc, jwt })
}

/// Your messages; an admin may read anyone's with `?user_id=`.
async fn history(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<HistoryQuery>) -> ApiResult<MessagePage> {
    let user = match &q.user_id {
        Some(u) if u != &auth.0.sub => {
            auth.require(Role::Admin)?;
            u.clone()
        }
        _ => auth.0.sub.clone(),
    };
    ok(s.svc.history(&user, &q).await?)
}

async fn preferences(State(s): St, auth: AuthUser) -> ApiResult<Preferences> {
    ok(s.svc.preferences(&auth.0.sub).await?)
}

async fn set_preferences(
    State(s): St,
    auth: AuthUser,
    AppJson(b): AppJson<PreferencesInput>,
) -> ApiResult<Preferences> {
    ok(s.svc.set_preferences(&auth.0.sub, b).await?)
}

async fn add_device(State(s): St, auth: AuthUser, AppJson(b): AppJson<DeviceInput>) -> ApiResult<Device> {
    created(s.svc.add_device(&auth.0.sub, b).await?)
}

async fn remove_device(State(s): St, auth: AuthUser, Path(id): Path<String>) -> ApiResult<Deleted> {
    s.svc.remove_device(&auth.0.sub, &id).await?;
    ok(DELETED)
}

async fn failed(State(s): St, auth: AuthUser) -> ApiResult<MessageList> {
    auth.require(Role::Admin)?;
    ok(s.svc.failed(100).await?)
}

async fn retry(State(s): St, auth: AuthUser, Path(id): Path<String>) -> ApiResult<Message> {
    auth.require(Role::Admin)?;
    ok(s.svc.retry(&id).await?)
}
