//! User service routes (port 8081): accounts, tokens, profile, addresses, administration.
//! Handlers are thin: extract, call the use case, wrap the result.

use std::sync::Arc;

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::Router;
use nakku_core::auth::JwtKeys;
use nakku_core::user::*;
use serde_json::json;

use crate::error::{ok, ApiResult};
use crate::extract::{AppJson, AppQuery, AuthUser, Ctx};

#[derive(Clone)]
pub struct UserState {
    pub svc: Arc<UserService>,
}

impl FromRef<UserState> for JwtKeys {
    fn from_ref(s: &UserState) -> JwtKeys {
        s.svc.jwt().clone()
    }
}

pub fn router(svc: Arc<UserService>) -> Router {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/users/me", get(me).patch(update_me).delete(delete_me))
        .route("/api/v1/users/me/password", post(change_password))
        .route("/api/v1/users/me/addresses", get(list_addresses).post(add_address))
        .route(
            "/api/v1/users/me/addresses/{id}",
            get(get_address).patch(update_address).delete(delete_address),
        )
        .route("/api/v1/users", get(list_users))
        .route("/api/v1/users/{id}", get(get_user))
        .route("/api/v1/users/{id}/role", patch(set_role))
        .route("/api/v1/users/{id}/activity", get(activity))
        .with_state(UserState { svc })
}

async fn register(State(s): State<UserState>, Ctx(ctx): Ctx, AppJson(body): AppJson<RegisterInput>) -> ApiResult {
    Ok(ok(StatusCode::CREATED, s.svc.register(&ctx, body).await?))
}

async fn login(State(s): State<UserState>, Ctx(ctx): Ctx, AppJson(body): AppJson<LoginInput>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.login(&ctx, body).await?))
}

async fn refresh(State(s): State<UserState>, Ctx(ctx): Ctx, AppJson(body): AppJson<RefreshInput>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.refresh(&ctx, body).await?))
}

async fn logout(State(s): State<UserState>, AppJson(body): AppJson<LogoutInput>) -> ApiResult {
    s.svc.logout(body).await?;
    Ok(ok(StatusCode::OK, json!({"logged_out": true})))
}

async fn me(State(s): State<UserState>, AuthUser(c): AuthUser) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.me(&c.sub).await?))
}

async fn update_me(
    State(s): State<UserState>,
    Ctx(ctx): Ctx,
    AuthUser(c): AuthUser,
    AppJson(body): AppJson<UpdateProfileInput>,
) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.update_me(&ctx, &c.sub, body).await?))
}

async fn delete_me(
    State(s): State<UserState>,
    Ctx(ctx): Ctx,
    AuthUser(c): AuthUser,
    AppJson(body): AppJson<DeleteAccountInput>,
) -> ApiResult {
    s.svc.delete_me(&ctx, &c.sub, body).await?;
    Ok(ok(StatusCode::OK, json!({"deleted": true})))
}

async fn change_password(
    State(s): State<UserState>,
    Ctx(ctx): Ctx,
    AuthUser(c): AuthUser,
    AppJson(body): AppJson<ChangePasswordInput>,
) -> ApiResult {
    s.svc.change_password(&ctx, &c.sub, body).await?;
    Ok(ok(StatusCode::OK, json!({"password_changed": true})))
}

async fn list_addresses(State(s): State<UserState>, AuthUser(c): AuthUser) -> ApiResult {
    let items = s.svc.list_addresses(&c.sub).await?;
    Ok(ok(StatusCode::OK, json!({"items": items, "next_cursor": null})))
}

async fn add_address(
    State(s): State<UserState>,
    Ctx(ctx): Ctx,
    AuthUser(c): AuthUser,
    AppJson(body): AppJson<AddressInput>,
) -> ApiResult {
    Ok(ok(StatusCode::CREATED, s.svc.add_address(&ctx, &c.sub, body).await?))
}

async fn get_address(State(s): State<UserState>, AuthUser(c): AuthUser, Path(id): Path<String>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.get_address(&c.sub, &id).await?))
}

async fn update_address(
    State(s): State<UserState>,
    Ctx(ctx): Ctx,
    AuthUser(c): AuthUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<AddressInput>,
) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.update_address(&ctx, &c.sub, &id, body).await?))
}

async fn delete_address(
    State(s): State<UserState>,
    Ctx(ctx): Ctx,
    AuthUser(c): AuthUser,
    Path(id): Path<String>,
) -> ApiResult {
    s.svc.delete_address(&ctx, &c.sub, &id).await?;
    Ok(ok(StatusCode::OK, json!({"deleted": true})))
}

async fn list_users(
    State(s): State<UserState>,
    AuthUser(c): AuthUser,
    AppQuery(q): AppQuery<ListUsersQuery>,
) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.list_users(&c.sub, q).await?))
}

async fn get_user(State(s): State<UserState>, AuthUser(c): AuthUser, Path(id): Path<String>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.get_user(&c.sub, &id).await?))
}

async fn set_role(
    State(s): State<UserState>,
    Ctx(ctx): Ctx,
    AuthUser(c): AuthUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<SetRoleInput>,
) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.set_role(&ctx, &c.sub, &id, body).await?))
}

async fn activity(State(s): State<UserState>, AuthUser(c): AuthUser, Path(id): Path<String>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.activity(&c.sub, &id).await?))
}
