//! SQL for the user service's own tables. One text for both backends; every read
//! excludes soft-deleted rows.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Address, User};
use crate::auth::Role;
use crate::db::{opt_text, text};
use crate::id::now_ms;

const USER_COLS: &str = "id, email, phone, name, role, created_at, updated_at";
const ADDRESS_COLS: &str =
    "id, user_id, label, line1, line2, city, pincode, lat, lng, is_default, serviceable, store_code, created_at, updated_at";

fn user_from_row(r: &AnyRow) -> Result<User, sqlx::Error> {
    let role = text(r, "role")?;
    Ok(User {
        id: text(r, "id")?,
        email: text(r, "email")?,
        phone: text(r, "phone")?,
        name: text(r, "name")?,
        role: role
            .parse::<Role>()
            .map_err(|e| sqlx::Error::Decode(format!("role {role:?}: {e}").into()))?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn address_from_row(r: &AnyRow) -> Result<Address, sqlx::Error> {
    let is_default: i64 = r.try_get("is_default")?;
    Ok(Address {
        id: text(r, "id")?,
        user_id: text(r, "user_id")?,
        label: text(r, "label")?,
        line1: text(r, "line1")?,
        line2: opt_text(r, "line2")?,
        city: text(r, "city")?,
        pincode: text(r, "pincode")?,
        lat: r.try_get("lat")?,
        lng: r.try_get("lng")?,
        is_default: is_default != 0,
        serviceable: r.try_get::<Option<i64>, _>("serviceable")?.map(|v| v != 0),
        store: opt_text(r, "store_code")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// A new account row; the caller has validated and hashed.
pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub phone: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
}

pub async fn insert_user(conn: &mut AnyConnection, u: &NewUser<'_>) -> Result<User, sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO users (id, email, phone, name, password_hash, role, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(u.id)
    .bind(u.email)
    .bind(u.phone)
    .bind(u.name)
    .bind(u.password_hash)
    .bind(u.role.as_str())
    .bind(now)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(User {
        id: u.id.to_owned(),
        email: u.email.to_owned(),
        phone: u.phone.to_owned(),
        name: u.name.to_owned(),
        role: u.role,
        created_at: now,
        updated_at: now,
    })
}

pub async fn find_user(conn: &mut AnyConnection, id: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {USER_COLS} FROM users WHERE id = ? AND deleted_at IS NULL"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .map(|r| user_from_row(&r))
    .transpose()
}

/// The account and its password hash, by (normalised) email.
pub async fn find_credentials(conn: &mut AnyConnection, email: &str) -> Result<Option<(User, String)>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLS}, password_hash FROM users WHERE email = ? AND deleted_at IS NULL"
    ))
    .bind(email)
    .fetch_optional(conn)
    .await?;
    row.map(|r| Ok((user_from_row(&r)?, text(&r, "password_hash")?)))
        .transpose()
}

pub async fn password_hash(conn: &mut AnyConnection, id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query("SELECT password_hash FROM users WHERE id = ? AND deleted_at IS NULL")
        .bind(id)
        .fetch_optional(conn)
        .await?
        .map(|r| text(&r, "password_hash"))
        .transpose()
}

/// Writes name, email and phone of `u` (already merged by the caller).
pub async fn update_profile(conn: &mut AnyConnection, u: &User) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE users SET name = ?, email = ?, phone = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL",
    )
    .bind(&u.name)
    .bind(&u.email)
    .bind(&u.phone)
    .bind(u.updated_at)
    .bind(&u.id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

pub async fn set_password_hash(conn: &mut AnyConnection, id: &str, hash: &str) -> Result<u64, sqlx::Error> {
    let r = sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL")
        .bind(hash)
        .bind(now_ms())
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected())
}

pub async fn set_role(conn: &mut AnyConnection, id: &str, role: Role, at: i64) -> Result<u64, sqlx::Error> {
    let r = sqlx::query("UPDATE users SET role = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL")
        .bind(role.as_str())
        .bind(at)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected())
}

pub async fn soft_delete_user(conn: &mut AnyConnection, id: &str, at: i64) -> Result<u64, sqlx::Error> {
    let r = sqlx::query("UPDATE users SET deleted_at = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL")
        .bind(at)
        .bind(at)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE addresses SET deleted_at = ?, updated_at = ? WHERE user_id = ? AND deleted_at IS NULL")
        .bind(at)
        .bind(at)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected())
}

/// Escapes `%`, `_` and the escape character itself for `LIKE ... ESCAPE '!'`.
fn like_pattern(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '!') {
            p.push('!');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Live accounts in id (= creation) order after `cursor`, filtered by role and a
/// substring of email, name or phone. Returns up to `limit` rows.
pub async fn list_users(
    conn: &mut AnyConnection,
    role: Option<Role>,
    q: Option<&str>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Vec<User>, sqlx::Error> {
    let mut qb =
        sqlx::QueryBuilder::<sqlx::Any>::new(format!("SELECT {USER_COLS} FROM users WHERE deleted_at IS NULL"));
    if let Some(r) = role {
        qb.push(" AND role = ").push_bind(r.as_str());
    }
    if let Some(q) = q {
        let p = like_pattern(q);
        qb.push(" AND (email LIKE ").push_bind(p.clone());
        qb.push(" ESCAPE '!' OR name LIKE ").push_bind(p.clone());
        qb.push(" ESCAPE '!' OR phone LIKE ").push_bind(p);
        qb.push(" ESCAPE '!')");
    }
    if let Some(c) = cursor {
        qb.push(" AND id > ").push_bind(c);
    }
    qb.push(" ORDER BY id LIMIT ").push_bind(limit);
    qb.build().fetch_all(conn).await?.iter().map(user_from_row).collect()
}

// ---- refresh tokens ----

/// A stored refresh token (by hash).
#[derive(Debug, Clone)]
pub struct RefreshRow {
    pub id: String,
    pub user_id: String,
    pub family_id: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

pub async fn insert_refresh(
    conn: &mut AnyConnection,
    id: &str,
    user_id: &str,
    family_id: &str,
    token_hash: &str,
    expires_at: i64,
    user_agent: Option<&str>,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, user_agent, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(user_id)
    .bind(family_id)
    .bind(token_hash)
    .bind(expires_at)
    .bind(user_agent.map(|ua| ua.chars().take(255).collect::<String>()))
    .bind(now)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find_refresh(
    conn: &mut AnyConnection,
    token_hash: &str,
    lock: &str,
) -> Result<Option<RefreshRow>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT id, user_id, family_id, expires_at, revoked_at FROM refresh_tokens \
         WHERE token_hash = ? AND deleted_at IS NULL{lock}"
    ))
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(RefreshRow {
            id: text(&r, "id")?,
            user_id: text(&r, "user_id")?,
            family_id: text(&r, "family_id")?,
            expires_at: r.try_get("expires_at")?,
            revoked_at: r.try_get("revoked_at")?,
        })
    })
    .transpose()
}

/// Revokes one token if it is still live; returns whether this call revoked it (so two
/// concurrent refreshes with one token cannot both succeed).
pub async fn revoke_refresh(conn: &mut AnyConnection, id: &str, at: i64) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("UPDATE refresh_tokens SET revoked_at = ?, updated_at = ? WHERE id = ? AND revoked_at IS NULL")
        .bind(at)
        .bind(at)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Which refresh tokens a revocation covers.
#[derive(Debug, Clone, Copy)]
pub enum RevokeScope {
    /// Every token descended from one login.
    Family,
    /// Every token of one account.
    User,
}

/// Revokes the live tokens of a family or of an account; returns how many.
pub async fn revoke_tokens(
    conn: &mut AnyConnection,
    scope: RevokeScope,
    key: &str,
    at: i64,
) -> Result<u64, sqlx::Error> {
    let column = match scope {
        RevokeScope::Family => "family_id",
        RevokeScope::User => "user_id",
    };
    let r = sqlx::query(&format!(
        "UPDATE refresh_tokens SET revoked_at = ?, updated_at = ? WHERE {column} = ? AND revoked_at IS NULL"
    ))
    .bind(at)
    .bind(at)
    .bind(key)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

// ---- addresses ----

pub async fn list_addresses(conn: &mut AnyConnection, user_id: &str) -> Result<Vec<Address>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {ADDRESS_COLS} FROM addresses WHERE user_id = ? AND deleted_at IS NULL \
         ORDER BY is_default DESC, id"
    ))
    .bind(user_id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(address_from_row)
    .collect()
}

pub async fn find_address(conn: &mut AnyConnection, user_id: &str, id: &str) -> Result<Option<Address>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {ADDRESS_COLS} FROM addresses WHERE id = ? AND user_id = ? AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?
    .map(|r| address_from_row(&r))
    .transpose()
}

pub async fn count_addresses(conn: &mut AnyConnection, user_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COUNT(*) AS n FROM addresses WHERE user_id = ? AND deleted_at IS NULL")
        .bind(user_id)
        .fetch_one(conn)
        .await?
        .try_get("n")
}

pub async fn insert_address(conn: &mut AnyConnection, a: &Address) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO addresses (id, user_id, label, line1, line2, city, pincode, lat, lng, is_default, serviceable, store_code, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&a.id)
    .bind(&a.user_id)
    .bind(&a.label)
    .bind(&a.line1)
    .bind(&a.line2)
    .bind(&a.city)
    .bind(&a.pincode)
    .bind(a.lat)
    .bind(a.lng)
    .bind(i64::from(a.is_default))
    .bind(a.serviceable.map(i64::from))
    .bind(a.store.clone())
    .bind(a.created_at)
    .bind(a.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_address(conn: &mut AnyConnection, a: &Address) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE addresses SET label = ?, line1 = ?, line2 = ?, city = ?, pincode = ?, lat = ?, lng = ?, \
         is_default = ?, serviceable = ?, store_code = ?, updated_at = ? WHERE id = ? AND user_id = ? AND deleted_at IS NULL",
    )
    .bind(&a.label)
    .bind(&a.line1)
    .bind(&a.line2)
    .bind(&a.city)
    .bind(&a.pincode)
    .bind(a.lat)
    .bind(a.lng)
    .bind(i64::from(a.is_default))
    .bind(a.serviceable.map(i64::from))
    .bind(a.store.clone())
    .bind(a.updated_at)
    .bind(&a.id)
    .bind(&a.user_id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

/// Clears the default flag on every address of the user except `keep`.
pub async fn clear_default(conn: &mut AnyConnection, user_id: &str, keep: &str, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE addresses SET is_default = 0, updated_at = ? \
         WHERE user_id = ? AND id <> ? AND is_default = 1 AND deleted_at IS NULL",
    )
    .bind(at)
    .bind(user_id)
    .bind(keep)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn soft_delete_address(
    conn: &mut AnyConnection,
    user_id: &str,
    id: &str,
    at: i64,
) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE addresses SET deleted_at = ?, updated_at = ?, is_default = 0 \
         WHERE id = ? AND user_id = ? AND deleted_at IS NULL",
    )
    .bind(at)
    .bind(at)
    .bind(id)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

/// Makes the newest remaining address the default (after the default was deleted).
pub async fn promote_newest_address(conn: &mut AnyConnection, user_id: &str, at: i64) -> Result<(), sqlx::Error> {
    let newest =
        sqlx::query("SELECT id FROM addresses WHERE user_id = ? AND deleted_at IS NULL ORDER BY id DESC LIMIT 1")
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(r) = newest {
        let id = text(&r, "id")?;
        sqlx::query("UPDATE addresses SET is_default = 1, updated_at = ? WHERE id = ?")
            .bind(at)
            .bind(id)
            .execute(conn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_off!"), "%50!%!_off!!%");
    }
}
