//! User service use cases. Each state change and its event are one transaction
//! (state + outbox row, or neither).

use serde::Serialize;
use sqlx::AnyConnection;

use super::events::{
    AddressAdded, AddressDeleted, AddressSaved, AddressUpdated, UserDeleted, UserLoggedIn, UserRegistered, UserUpdated,
};
use super::store::{self, NewUser, RevokeScope};
use super::*;
use crate::auth::{self, JwtKeys, Role};
use crate::db::Db;
use crate::error::{CoreError, ResultExt, Validator};
use crate::events::bus::BoxFut;
use crate::events::{outbox, Envelope};
use crate::id::{is_id, new_id, now_ms};
use crate::ports::{AddressPort, AddressSnapshot};
use crate::service::Service;
use crate::RequestCtx;
#[path = "addresses.rs"]
mod addresses;

/// Settings the user service needs.
#[derive(Debug, Clone)]
pub struct UserServiceConfig {
    pub bcrypt_cost: u32,
    pub refresh_ttl_secs: u64,
}

/// The token pair handed to a client.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    /// Lifetime of the access token in seconds.
    pub expires_in: i64,
}

/// What register and login return.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuthResult {
    pub user: User,
    #[serde(flatten)]
    pub tokens: Tokens,
}

/// Accounts, sessions and addresses over one database.
#[derive(Debug, Clone)]
pub struct UserService {
    db: Db,
    jwt: JwtKeys,
    cfg: UserServiceConfig,
    /// A real bcrypt hash checked when the email is unknown, so that a wrong email and a
    /// wrong password take the same time.
    dummy_hash: String,
    /// The location service, to validate addresses (None: addresses are saved unchecked).
    checker: Option<std::sync::Arc<dyn crate::ports::AddressChecker>>,
}

impl std::fmt::Debug for dyn crate::ports::AddressChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AddressChecker")
    }
}

const BAD_CREDENTIALS: &str = "invalid email or password";
const BAD_REFRESH: &str = "invalid or expired refresh token";

impl UserService {
    pub fn new(db: Db, jwt: JwtKeys, cfg: UserServiceConfig) -> Result<Self, CoreError> {
        let dummy_hash = auth::hash_password("nakku-timing-equaliser-0", cfg.bcrypt_cost)?;
        Ok(UserService {
            db,
            jwt,
            cfg,
            dummy_hash,
            checker: None,
        })
    }

    /// Validates addresses with the location service from now on.
    pub fn with_address_checker(mut self, checker: std::sync::Arc<dyn crate::ports::AddressChecker>) -> Self {
        self.checker = Some(checker);
        self
    }

    /// Asks the location service about an address. A PIN code of another city is the
    /// shopper's mistake (422); being outside every zone is not (the address is saved,
    /// marked not serviceable). When the location service cannot be reached the address is
    /// saved unchecked, because losing a shopper's address is worse than checking it later.
    async fn check_address(
        &self,
        ctx: &RequestCtx,
        user_id: &str,
        a: &Address,
    ) -> Result<(Option<bool>, Option<String>), CoreError> {
        let Some(checker) = &self.checker else {
            return Ok((None, None));
        };
        let input = crate::ports::AddressCheckInput {
            line1: Some(a.line1.clone()),
            city: Some(a.city.clone()),
            pincode: Some(a.pincode.clone()),
            lat: Some(a.lat),
            lng: Some(a.lng),
        };
        match checker.check(ctx, user_id, input).await {
            Ok(v) => {
                if let Some(msgs) = v.problems.get("pincode") {
                    let mut fields = crate::error::FieldErrors::new();
                    fields.insert("pincode".to_owned(), msgs.clone());
                    return Err(CoreError::Validation(fields));
                }
                Ok((v.serviceable, v.store))
            }
            Err(e) => {
                tracing::warn!(error = %e, "address not checked: location service unavailable");
                Ok((None, None))
            }
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn jwt(&self) -> &JwtKeys {
        &self.jwt
    }

    async fn hash(&self, password: String) -> Result<String, CoreError> {
        let cost = self.cfg.bcrypt_cost;
        tokio::task::spawn_blocking(move || auth::hash_password(&password, cost))
            .await
            .map_err(|e| CoreError::Internal(e.into()))?
    }

    async fn verify(&self, password: String, hash: String) -> Result<bool, CoreError> {
        tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
            .await
            .map_err(|e| CoreError::Internal(e.into()))
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, CoreError> {
        Ok(self.db.pool().acquire().await?)
    }

    /// Creates an account with role `user` and signs it in.
    #[tracing::instrument(skip_all)]
    pub async fn register(&self, ctx: &RequestCtx, input: RegisterInput) -> Result<AuthResult, CoreError> {
        let mut v = Validator::new();
        let email = v
            .required("email", input.email)
            .and_then(|e| v.check("email", parse_email(&e)));
        let phone = v
            .required("phone", input.phone)
            .and_then(|p| v.check("phone", parse_phone(&p)));
        let name = v
            .required("name", input.name)
            .and_then(|n| v.check("name", parse_text(&n, 200)));
        let password = v.required("password", input.password);
        if let Some(pw) = &password {
            v.check("password", check_password(pw, email.as_deref()));
        }
        v.finish()?;
        let (Some(email), Some(phone), Some(name), Some(password)) = (email, phone, name, password) else {
            return Err(CoreError::Internal(anyhow::anyhow!("validated fields missing")));
        };
        let password_hash = self.hash(password).await?;
        let id = new_id();

        let mut tx = self.db.begin().await?;
        let user = store::insert_user(
            &mut tx,
            &NewUser {
                id: &id,
                email: &email,
                phone: &phone,
                name: &name,
                password_hash: &password_hash,
                role: Role::User,
            },
        )
        .await
        .on_unique_violation(duplicate_field)?;
        let tokens = self.new_session(&mut tx, &user, None, ctx).await?;
        let env = Envelope::of(Service::User, &user.id, &ctx.request_id, &UserRegistered::of(&user));
        outbox::append(&mut tx, &env).await?;
        tx.commit().await?;
        tracing::info!(user_id = %user.id, "user registered");
        Ok(AuthResult { user, tokens })
    }

    /// Checks credentials; a wrong password and an unknown email are the same 401.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, ctx: &RequestCtx, input: LoginInput) -> Result<AuthResult, CoreError> {
        let mut v = Validator::new();
        let email = v.required("email", input.email);
        let password = v.required("password", input.password);
        v.finish()?;
        let (Some(email), Some(password)) = (email, password) else {
            return Err(CoreError::Internal(anyhow::anyhow!("validated fields missing")));
        };
        let email = parse_email(&email).unwrap_or(email);
        let found = store::find_credentials(&mut *self.conn().await?, &email).await?;
        let Some((user, hash)) = found else {
            let _ = self.verify(password, self.dummy_hash.clone()).await?;
            return Err(CoreError::Unauthorized(BAD_CREDENTIALS.to_owned()));
        };
        if !self.verify(password, hash).await? {
            return Err(CoreError::Unauthorized(BAD_CREDENTIALS.to_owned()));
        }
        let mut tx = self.db.begin().await?;
        let tokens = self.new_session(&mut tx, &user, None, ctx).await?;
        let env = Envelope::of(
            Service::User,
            &user.id,
            &ctx.request_id,
            &UserLoggedIn {
                user_id: user.id.clone(),
                user_agent: ctx.user_agent.clone(),
            },
        );
        outbox::append(&mut tx, &env).await?;
        tx.commit().await?;
        Ok(AuthResult { user, tokens })
    }

    /// Starts (or, with `family`, continues) a refresh-token family and issues a pair.
    async fn new_session(
        &self,
        conn: &mut AnyConnection,
        user: &User,
        family: Option<&str>,
        ctx: &RequestCtx,
    ) -> Result<Tokens, CoreError> {
        let refresh = auth::new_refresh_token();
        let id = new_id();
        let family = family.map(str::to_owned).unwrap_or_else(|| id.clone());
        let ttl_ms = i64::try_from(self.cfg.refresh_ttl_secs).unwrap_or(i64::MAX / 2_000) * 1000;
        store::insert_refresh(
            conn,
            &id,
            &user.id,
            &family,
            &auth::hash_token(&refresh),
            now_ms() + ttl_ms,
            ctx.user_agent.as_deref(),
        )
        .await?;
        let (access_token, expires_in) = self.jwt.issue(&user.id, user.role)?;
        Ok(Tokens {
            access_token,
            refresh_token: refresh,
            token_type: "Bearer",
            expires_in,
        })
    }

    /// Rotates a refresh token: the presented one is revoked and a new pair issued. A
    /// token presented after it was rotated means it leaked, so its whole family (every
    /// token descended from the same login) is revoked.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, ctx: &RequestCtx, input: RefreshInput) -> Result<Tokens, CoreError> {
        let Some(token) = input.refresh_token else {
            return Err(CoreError::validation("refresh_token", "is required"));
        };
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let lock = self.db.dialect().for_update();
        let Some(row) = store::find_refresh(&mut tx, &auth::hash_token(&token), lock).await? else {
            return Err(CoreError::Unauthorized(BAD_REFRESH.to_owned()));
        };
        if row.revoked_at.is_some() {
            let n = store::revoke_tokens(&mut tx, RevokeScope::Family, &row.family_id, now).await?;
            tx.commit().await?;
            tracing::warn!(user_id = %row.user_id, family = %row.family_id, revoked = n, "refresh token reused; session family revoked");
            return Err(CoreError::Unauthorized(BAD_REFRESH.to_owned()));
        }
        if row.expires_at <= now || !store::revoke_refresh(&mut tx, &row.id, now).await? {
            return Err(CoreError::Unauthorized(BAD_REFRESH.to_owned()));
        }
        let Some(user) = store::find_user(&mut tx, &row.user_id).await? else {
            return Err(CoreError::Unauthorized(BAD_REFRESH.to_owned()));
        };
        let tokens = self.new_session(&mut tx, &user, Some(&row.family_id), ctx).await?;
        tx.commit().await?;
        Ok(tokens)
    }

    /// Ends the session of a refresh token (or, with `all`, every session of its account).
    /// Idempotent: an unknown or already revoked token is not an error.
    #[tracing::instrument(skip_all)]
    pub async fn logout(&self, input: LogoutInput) -> Result<(), CoreError> {
        let Some(token) = input.refresh_token else {
            return Err(CoreError::validation("refresh_token", "is required"));
        };
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        if let Some(row) = store::find_refresh(&mut tx, &auth::hash_token(&token), "").await? {
            if input.all {
                store::revoke_tokens(&mut tx, RevokeScope::User, &row.user_id, now).await?;
            } else {
                store::revoke_tokens(&mut tx, RevokeScope::Family, &row.family_id, now).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The live account behind a token; a deleted account's tokens stop working here.
    pub async fn me(&self, user_id: &str) -> Result<User, CoreError> {
        store::find_user(&mut *self.conn().await?, user_id)
            .await?
            .ok_or_else(|| CoreError::Unauthorized("account no longer exists".to_owned()))
    }

    #[tracing::instrument(skip_all)]
    pub async fn update_me(
        &self,
        ctx: &RequestCtx,
        user_id: &str,
        input: UpdateProfileInput,
    ) -> Result<User, CoreError> {
        let mut v = Validator::new();
        let name = input.name.and_then(|n| v.check("name", parse_text(&n, 200)));
        let email = input.email.and_then(|e| v.check("email", parse_email(&e)));
        let phone = input.phone.and_then(|p| v.check("phone", parse_phone(&p)));
        v.finish()?;
        let mut tx = self.db.begin().await?;
        let mut user = store::find_user(&mut tx, user_id)
            .await?
            .ok_or_else(|| CoreError::Unauthorized("account no longer exists".to_owned()))?;
        let mut changed = Vec::new();
        if let Some(n) = name.filter(|n| *n != user.name) {
            user.name = n;
            changed.push("name");
        }
        if let Some(e) = email.filter(|e| *e != user.email) {
            user.email = e;
            changed.push("email");
        }
        if let Some(p) = phone.filter(|p| *p != user.phone) {
            user.phone = p;
            changed.push("phone");
        }
        if changed.is_empty() {
            return Ok(user);
        }
        user.updated_at = now_ms();
        store::update_profile(&mut tx, &user)
            .await
            .on_unique_violation(duplicate_field)?;
        let env = Envelope::of(
            Service::User,
            &user.id,
            &ctx.request_id,
            &UserUpdated::profile(&user, &changed),
        );
        outbox::append(&mut tx, &env).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Changes the password after checking the current one; every session ends.
    #[tracing::instrument(skip_all)]
    pub async fn change_password(
        &self,
        ctx: &RequestCtx,
        user_id: &str,
        input: ChangePasswordInput,
    ) -> Result<(), CoreError> {
        let mut v = Validator::new();
        let current = v.required("current_password", input.current_password);
        let new = v.required("new_password", input.new_password);
        let user = self.me(user_id).await?;
        if let Some(n) = &new {
            v.check("new_password", check_password(n, Some(&user.email)));
        }
        v.finish()?;
        let (Some(current), Some(new)) = (current, new) else {
            return Err(CoreError::Internal(anyhow::anyhow!("validated fields missing")));
        };
        let hash = store::password_hash(&mut *self.conn().await?, user_id)
            .await?
            .ok_or_else(|| CoreError::Unauthorized("account no longer exists".to_owned()))?;
        if !self.verify(current, hash).await? {
            return Err(CoreError::validation("current_password", "is not correct"));
        }
        let new_hash = self.hash(new).await?;
        let mut tx = self.db.begin().await?;
        store::set_password_hash(&mut tx, user_id, &new_hash).await?;
        store::revoke_tokens(&mut tx, RevokeScope::User, user_id, now_ms()).await?;
        let env = Envelope::of(
            Service::User,
            user_id,
            &ctx.request_id,
            &UserUpdated::only(user_id, "password", None),
        );
        outbox::append(&mut tx, &env).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Soft-deletes the account (and its addresses) after checking the password, and ends
    /// every session. The email and phone become free to register again.
    #[tracing::instrument(skip_all)]
    pub async fn delete_me(&self, ctx: &RequestCtx, user_id: &str, input: DeleteAccountInput) -> Result<(), CoreError> {
        let Some(password) = input.password else {
            return Err(CoreError::validation("password", "is required to delete the account"));
        };
        let hash = store::password_hash(&mut *self.conn().await?, user_id)
            .await?
            .ok_or_else(|| CoreError::Unauthorized("account no longer exists".to_owned()))?;
        if !self.verify(password, hash).await? {
            return Err(CoreError::validation("password", "is not correct"));
        }
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        store::soft_delete_user(&mut tx, user_id, now).await?;
        store::revoke_tokens(&mut tx, RevokeScope::User, user_id, now).await?;
        let env = Envelope::of(
            Service::User,
            user_id,
            &ctx.request_id,
            &UserDeleted {
                user_id: user_id.to_owned(),
            },
        );
        outbox::append(&mut tx, &env).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- addresses ----

    /// Checks against the database (not only the token) that the caller is an admin, so a
    /// demoted admin loses access at once.
    pub async fn require_admin(&self, actor_id: &str) -> Result<User, CoreError> {
        let actor = self.me(actor_id).await?;
        if actor.role != Role::Admin {
            return Err(CoreError::Forbidden("admin role required".to_owned()));
        }
        Ok(actor)
    }

    pub async fn list_users(&self, actor_id: &str, q: ListUsersQuery) -> Result<Page<User>, CoreError> {
        self.require_admin(actor_id).await?;
        let mut v = Validator::new();
        let role = q.role.and_then(|r| v.check("role", r.parse::<Role>()));
        let limit = q.limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            v.add("limit", "must be between 1 and 200");
        }
        if q.cursor.as_deref().is_some_and(|c| !is_id(c)) {
            v.add("cursor", "is not a cursor returned by this endpoint");
        }
        let search = q.q.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        if search.as_ref().is_some_and(|s| s.chars().count() > 100) {
            v.add("q", "must be at most 100 characters");
        }
        v.finish()?;
        let mut items = store::list_users(
            &mut *self.conn().await?,
            role,
            search.as_deref(),
            q.cursor.as_deref(),
            limit + 1,
        )
        .await?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|u| u.id.clone())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    pub async fn get_user(&self, actor_id: &str, id: &str) -> Result<User, CoreError> {
        self.require_admin(actor_id).await?;
        if !is_id(id) {
            return Err(CoreError::NotFound("user".to_owned()));
        }
        store::find_user(&mut *self.conn().await?, id)
            .await?
            .ok_or_else(|| CoreError::NotFound("user".to_owned()))
    }

    /// Sign-in activity of an account, from the `user.activity` read model.
    pub async fn activity(&self, actor_id: &str, id: &str) -> Result<super::activity::Activity, CoreError> {
        let user = self.get_user(actor_id, id).await?;
        let found = super::activity::get(&mut *self.conn().await?, &user.id).await?;
        Ok(found.unwrap_or(super::activity::Activity {
            user_id: user.id,
            registered_at: None,
            last_login_at: None,
            login_count: 0,
            last_user_agent: None,
        }))
    }

    /// Changes an account's role. An admin cannot demote themself (so the last admin
    /// cannot lock everyone out by accident).
    #[tracing::instrument(skip_all)]
    pub async fn set_role(
        &self,
        ctx: &RequestCtx,
        actor_id: &str,
        id: &str,
        input: SetRoleInput,
    ) -> Result<User, CoreError> {
        self.require_admin(actor_id).await?;
        let role = match input.role {
            None => return Err(CoreError::validation("role", "is required")),
            Some(r) => r.parse::<Role>().map_err(|e| CoreError::validation("role", e))?,
        };
        if id == actor_id && role != Role::Admin {
            return Err(CoreError::validation("role", "you cannot remove your own admin role"));
        }
        self.assign_role(ctx, id, role).await
    }

    /// Sets a role without an acting admin (used by `nakku users set-role` on the operator's
    /// machine). Returns the updated account.
    pub async fn assign_role(&self, ctx: &RequestCtx, id: &str, role: Role) -> Result<User, CoreError> {
        if !is_id(id) {
            return Err(CoreError::NotFound("user".to_owned()));
        }
        let mut tx = self.db.begin().await?;
        let mut user = store::find_user(&mut tx, id)
            .await?
            .ok_or_else(|| CoreError::NotFound("user".to_owned()))?;
        if user.role == role {
            return Ok(user);
        }
        user.role = role;
        user.updated_at = now_ms();
        store::set_role(&mut tx, id, role, user.updated_at).await?;
        let env = Envelope::of(
            Service::User,
            id,
            &ctx.request_id,
            &UserUpdated::only(id, "role", Some(role)),
        );
        outbox::append(&mut tx, &env).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Finds a live account by email (for operator commands).
    pub async fn find_by_email(&self, email: &str) -> Result<User, CoreError> {
        let email = parse_email(email).map_err(|e| CoreError::validation("email", e))?;
        store::find_credentials(&mut *self.conn().await?, &email)
            .await?
            .map(|(u, _)| u)
            .ok_or_else(|| CoreError::NotFound("user".to_owned()))
    }
}

/// `line2`: absent = unchanged, empty = cleared, otherwise validated.
fn optional_line2(v: &mut Validator, raw: Option<String>) -> Option<Option<String>> {
    match raw {
        None => None,
        Some(s) if s.trim().is_empty() => Some(None),
        Some(s) => v.check("line2", parse_text(&s, 200)).map(Some),
    }
}

/// Serialises concurrent address changes of one account (MySQL row lock; SQLite
/// serialises writers already).
async fn lock_user(conn: &mut AnyConnection, db: &Db, user_id: &str) -> Result<(), CoreError> {
    let found = sqlx::query(&format!(
        "SELECT id FROM users WHERE id = ? AND deleted_at IS NULL{}",
        db.dialect().for_update()
    ))
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    found
        .map(|_| ())
        .ok_or_else(|| CoreError::Unauthorized("account no longer exists".to_owned()))
}

/// Both backends name the index or column in their duplicate-key message
/// (`users_phone_live` on MySQL, `users.phone` on SQLite).
fn duplicate_field(db_message: &str) -> CoreError {
    if db_message.contains("phone") {
        CoreError::conflict("phone", "an account with this phone number already exists")
    } else {
        CoreError::conflict("email", "an account with this email already exists")
    }
}

/// Saved addresses for the cart and order services, in this process.
impl AddressPort for UserService {
    fn address<'a>(
        &'a self,
        _ctx: &'a RequestCtx,
        user_id: &'a str,
        address_id: &'a str,
    ) -> BoxFut<'a, Result<AddressSnapshot, CoreError>> {
        crate::trace::as_service("user", async move {
            let a = self.get_address(user_id, address_id).await?;
            Ok(AddressSnapshot {
                id: a.id,
                label: a.label,
                line1: a.line1,
                line2: a.line2,
                city: a.city,
                pincode: a.pincode,
                lat: a.lat,
                lng: a.lng,
            })
        })
    }
}
