//! The `user.activity` consumer: a read model of sign-in activity per account
//! (registered, last login, login count), fed by `user.*` events and rebuildable by replay.
//! Admins read it at `GET /api/v1/users/{id}/activity`.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::events::{UserDeleted, UserLoggedIn, UserRegistered};
use crate::events::bus::BoxFut;
use crate::events::consumer::Handler;
use crate::events::{Envelope, Event};
use crate::id::{ms_to_rfc3339, now_ms};

pub const CONSUMER: &str = "user.activity";

/// Sign-in activity of one account.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Activity {
    pub user_id: String,
    pub registered_at: Option<String>,
    pub last_login_at: Option<String>,
    pub login_count: i64,
    pub last_user_agent: Option<String>,
}

pub struct ActivityHandler;

/// The account an event is about, and the login's user agent.
fn decode(env: &Envelope) -> anyhow::Result<(String, Option<String>)> {
    let (user_id, agent) = match env.event_type.as_str() {
        UserRegistered::TYPE => (env.decode::<UserRegistered>()?.user_id, None),
        UserLoggedIn::TYPE => {
            let l: UserLoggedIn = env.decode()?;
            (l.user_id, l.user_agent)
        }
        UserDeleted::TYPE => (env.decode::<UserDeleted>()?.user_id, None),
        other => anyhow::bail!("user.activity does not handle {other}"),
    };
    anyhow::ensure!(!user_id.is_empty(), "{} payload has an empty user_id", env.event_type);
    Ok((user_id, agent))
}

/// Ensures the account's row exists (a login may be seen before its registration only when
/// events were lost, but the model should not break on it).
async fn ensure_row(conn: &mut AnyConnection, user_id: &str) -> Result<(), sqlx::Error> {
    let exists = sqlx::query("SELECT 1 AS x FROM user_activity WHERE user_id = ?")
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    if !exists {
        let now = now_ms();
        sqlx::query("INSERT INTO user_activity (user_id, login_count, created_at, updated_at) VALUES (?, 0, ?, ?)")
            .bind(user_id)
            .bind(now)
            .bind(now)
            .execute(conn)
            .await?;
    }
    Ok(())
}

impl Handler for ActivityHandler {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn handles(&self) -> &'static [(&'static str, u32)] {
        &[
            (UserRegistered::TYPE, UserRegistered::VERSION),
            (UserLoggedIn::TYPE, UserLoggedIn::VERSION),
            (UserDeleted::TYPE, UserDeleted::VERSION),
        ]
    }

    fn handle<'a>(&'a self, conn: &'a mut AnyConnection, env: &'a Envelope) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let (uid, agent) = decode(env)?;
            let uid = uid.as_str();
            let at = env.occurred_ms()?;
            ensure_row(conn, uid).await?;
            let q = match env.event_type.as_str() {
                UserRegistered::TYPE => sqlx::query(
                    "UPDATE user_activity SET registered_at = ?, updated_at = ? WHERE user_id = ?",
                )
                .bind(at)
                .bind(now_ms())
                .bind(uid),
                UserLoggedIn::TYPE => sqlx::query(
                    "UPDATE user_activity SET login_count = login_count + 1, \
                     last_user_agent = CASE WHEN last_login_at IS NULL OR last_login_at <= ? THEN ? ELSE last_user_agent END, \
                     last_login_at = CASE WHEN last_login_at IS NULL OR last_login_at < ? THEN ? ELSE last_login_at END, \
                     updated_at = ? WHERE user_id = ?",
                )
                .bind(at)
                .bind(agent.map(|s| s.chars().take(255).collect::<String>()))
                .bind(at)
                .bind(at)
                .bind(now_ms())
                .bind(uid),
                UserDeleted::TYPE => {
                    sqlx::query("UPDATE user_activity SET deleted_at = ?, updated_at = ? WHERE user_id = ?")
                        .bind(at)
                        .bind(now_ms())
                        .bind(uid)
                }
                other => anyhow::bail!("user.activity does not handle {other}"),
            };
            q.execute(conn).await?;
            Ok(())
        })
    }

    fn reset<'a>(&'a self, conn: &'a mut AnyConnection) -> BoxFut<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM user_activity").execute(conn).await?;
            Ok(())
        })
    }
}

/// The activity of a live account, if any events about it have been consumed.
pub async fn get(conn: &mut AnyConnection, user_id: &str) -> Result<Option<Activity>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT user_id, registered_at, last_login_at, login_count, last_user_agent FROM user_activity \
         WHERE user_id = ? AND deleted_at IS NULL",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        let registered: Option<i64> = r.try_get("registered_at")?;
        let last: Option<i64> = r.try_get("last_login_at")?;
        Ok(Activity {
            user_id: crate::db::text(&r, "user_id")?,
            registered_at: registered.map(ms_to_rfc3339),
            last_login_at: last.map(ms_to_rfc3339),
            login_count: r.try_get("login_count")?,
            last_user_agent: crate::db::opt_text(&r, "last_user_agent")?,
        })
    })
    .transpose()
}
