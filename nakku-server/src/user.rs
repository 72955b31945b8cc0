//! User service routes (port 8081): accounts, tokens, profile, addresses, administration.
//! Handlers are thin: extract, call the use case, wrap the result.

use std::sync::Arc;

use axum::extract::{FromRef, Path, State};
use axum::Router;
use nakku_core::auth::JwtKeys;
use nakku_core::gateway::Access::{AdminAccount, Public, Signed};
use nakku_core::service::Service;
use nakku_core::user::activity::Activity;
use nakku_core::user::service::{AuthResult, Tokens};
use nakku_core::user::*;

use crate::answer::{created, ok, ApiResult, Deleted, LoggedOut, Page, PasswordChanged, DELETED};
use crate::api::Api;
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

/// The user service's endpoints.
pub fn api() -> Api<UserState> {
    const ADDRESS: &[(&str, &str)] = &[("id", "$response.body#/data/id")];
    const USER: &[(&str, &str)] = &[("id", "$response.body#/data/user/id")];
    Api::new(Service::User)
        .post("auth/register", "registerAccount", Public, register)
        .link("getUser", USER)
        .link("getUserActivity", USER)
        .post("auth/login", "logIn", Public, login)
        .post("auth/refresh", "refreshTokens", Public, refresh)
        .post("auth/logout", "logOut", Public, logout)
        .get("users/me", "getMyProfile", Signed, me)
        .patch("users/me", "updateMyProfile", Signed, update_me)
        .delete("users/me", "deleteMyAccount", Signed, delete_me)
        .post("users/me/password", "changeMyPassword", Signed, change_password)
        .get("users/me/addresses", "listMyAddresses", Signed, list_addresses)
        .post("users/me/addresses", "addAddress", Signed, add_address)
        .link("getAddress", ADDRESS)
        .link("updateAddress", ADDRESS)
        .link("deleteAddress", ADDRESS)
        .get("users/me/addresses/{id}", "getAddress", Signed, get_address)
        .patch("users/me/addresses/{id}", "updateAddress", Signed, update_address)
        .delete("users/me/addresses/{id}", "deleteAddress", Signed, delete_address)
        .get("users", "listUsers", AdminAccount, list_users)
        .get("users/{id}", "getUser", AdminAccount, get_user)
        .patch("users/{id}/role", "setUserRole", AdminAccount, set_role)
        .get("users/{id}/activity", "getUserActivity", AdminAccount, activity)
}

pub fn router(svc: Arc<UserService>) -> Router {
    api().router().with_state(UserState { svc })
}

async fn register(
    State(s): State<UserState>,
    Ctx(ctx): Ctx,
    AppJson(body): AppJson<RegisterInput>,
) -> ApiResult<AuthResult> {
    created(s.svc.register(&ctx, body).await?)
}

async fn login(State(s): State<UserState>, Ctx(ctx): Ctx, AppJson(body): AppJson<LoginInput>) -> ApiResult<AuthResult> {
    ok(s.svc.login(&ctx, body).await?)
}

async fn refresh(State(s): State<UserState>, Ctx(ctx): Ctx, AppJson(body): AppJson<RefreshInput>) -> ApiResult<Tokens> {
    ok(s.svc.refresh(&ctx, body).await?)
}

async fn logout(State(s): State<UserState>, AppJson(body): AppJson<LogoutInput>) -> ApiResult<LoggedOut> {
    s.svc.logout(body).await?;
    ok(LoggedOut { logged_out: true })
}

async fn me(State(s): State<UserState>, AuthUser(c): AuthUser) -> ApiResult<User> {
    ok(s.svc.me(&c.sub).await?)
}

async fn update_me(
    State(s): State<UserState>,
    Ctx(ctx): Ctx,
    AuthUser(c): AuthUser,
    AppJson(body): AppJson<UpdateProfileInput>,
) -> ApiResult<User> {
    ok(s.svc.update_me(&ctx, &c.sub, body).await?)
}

async fn delete_me(
    State(s): State<UserState>,
    Ctx(ctx): Ctx,
    AuthUser(c): AuthUser,
    AppJson(body): AppJson<DeleteAccountInput>,
) -> ApiResult<Deleted> {
    s.svc.delete_me(&ctx, &c.sub, body).await?;
    ok(DELETED)
}

async fn change_password(
    State(s): State<UserState>,
    Ctx(ctx): Ctx,
    AuthUser(c): AuthUser,
    AppJson(body): AppJson<ChangePasswordInput>,
) -> ApiResult<PasswordChanged> {
    s.svc.change_password(&ctx, &c.sub, body).await?;
    ok(PasswordChanged { password_changed: true })
}

async fn list_addresses(State(s): State<UserState>, AuthUser(c): AuthUser) -> ApiResult<Page<Address>> {
    let items = s.svc.list_addresses(&c.sub).await?;
    ok(Page::all(items))
}

async fn add_address(
    State(s): State<UserState>,
    Ctx(ctx): Ctx,
    AuthUser(c): AuthUser,
    AppJson(body): AppJson<AddressInput>,
) -> ApiResult<Address> {
    created(s.svc.add_address(&ctx, &c.sub, body).await?)
}

async fn get_address(State(s): State<UserState>, AuthUser(c): AuthUser, Path(id): Path<String>) -> ApiResult<Address> {
    ok(s.svc.get_address(&c.sub, &id).await?)
}

async fn update_address(
    State(s): State<UserState>,
    Ctx(ctx): Ctx,
    AuthUser(c): AuthUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<AddressInput>,
) -> ApiResult<Address> {
    ok(s.svc.update_address(&ctx, &c.sub, &id, body).await?)
}

async fn delete_address(
    State(s): State<UserState>,
    Ctx(ctx): Ctx,
    AuthUser(c): AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Deleted> {
    s.svc.delete_address(&ctx, &c.sub, &id).await?;
    ok(DELETED)
}

async fn list_users(
    State(s): State<UserState>,
    AuthUser(c): AuthUser,
    AppQuery(q): AppQuery<ListUsersQuery>,
) -> ApiResult<Page<User>> {
    ok(s.svc.list_users(&c.sub, q).await?)
}

async fn get_user(State(s): State<UserState>, AuthUser(c): AuthUser, Path(id): Path<String>) -> ApiResult<User> {
    ok(s.svc.get_user(&c.sub, &id).await?)
}

async fn set_role(
    State(s): State<UserState>,
    Ctx(ctx): Ctx,
    AuthUser(c): AuthUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<SetRoleInput>,
) -> ApiResult<User> {
    ok(s.svc.set_role(&ctx, &c.sub, &id, body).await?)
}

async fn activity(State(s): State<UserState>, AuthUser(c): AuthUser, Path(id): Path<String>) -> ApiResult<Activity> {
    ok(s.svc.activity(&c.sub, &id).await?)
}
