//! Notifications (port 8088, nakku_notification): what events tell shoppers and staff, by
//! email, SMS and push, within their preferences and quiet hours, once per event per
//! channel, with a history per user.
//!
//! The consumer ([`handler`]) decides each message in the transaction that records the
//! event; the dispatcher ([`NotificationService::dispatch_due`]) sends due messages through
//! the channel's provider ([`provider`]), retries failures with backoff and, after the last
//! attempt, dead-letters the message (`failed`, listed for admins, retryable). A message
//! sent emits `notification.sent`; a dead-lettered one `notification.failed`. Sending is at
//! least once: a crash between the provider's answer and the record sends again, and the
//! providers get the message id as an idempotency key.

pub mod events;
pub mod handler;
pub mod provider;
pub mod templates;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::{opt_text, text, Db, WriteOn};
use crate::error::{CoreError, Validator};
use crate::events::{outbox, Envelope, Event};
use crate::id::{is_id, ms_to_rfc3339, new_id, now_ms};
use crate::service::Service;
use events::{MessageOutcome, NotificationFailed, NotificationSent};
use provider::{Outgoing, Provider};
use templates::{ALWAYS_ON, CATEGORIES};

mod dispatch;

/// The provider of each channel.
#[derive(Clone)]
pub struct Providers {
    pub email: Arc<dyn Provider>,
    pub sms: Arc<dyn Provider>,
    pub push: Arc<dyn Provider>,
}

impl Providers {
    fn of(&self, channel: &str) -> &Arc<dyn Provider> {
        match channel {
            "email" => &self.email,
            "sms" => &self.sms,
            _ => &self.push,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NotificationConfig {
    /// Sends tried before a message is dead-lettered.
    pub max_attempts: i64,
}

#[derive(Clone)]
pub struct NotificationService {
    db: Db,
    providers: Providers,
    cfg: NotificationConfig,
}

/// `PUT /notifications/preferences`: per channel, categories on or off; quiet hours as
/// `{"start": "22:00", "end": "07:00"}` (local time), or `null` to clear them.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PreferencesInput {
    #[schema(schema_with = channel_schema)]
    pub email: Option<std::collections::BTreeMap<String, bool>>,
    #[schema(schema_with = channel_schema)]
    pub sms: Option<std::collections::BTreeMap<String, bool>>,
    #[schema(schema_with = channel_schema)]
    pub push: Option<std::collections::BTreeMap<String, bool>>,
    #[serde(default, deserialize_with = "double_option")]
    pub quiet_hours: Option<Option<QuietHours>>,
}

/// The platforms a device may be on.
pub const PLATFORMS: [&str; 3] = ["android", "ios", "web"];

fn platform_schema() -> utoipa::openapi::schema::Object {
    crate::rules::one_of(&PLATFORMS)
}

/// A device token: 8 to 255 characters without white space (printable ASCII here).
fn device_token_schema() -> utoipa::openapi::schema::Object {
    crate::rules::matching("^[!-~]{8,255}$")
}

/// One channel's switches: a category of [`CATEGORIES`] to on or off; those of
/// [`ALWAYS_ON`] can only be on.
fn channel_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    let mut o = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    for cat in CATEGORIES {
        let mut switch = ObjectBuilder::new().schema_type(Type::Boolean);
        if ALWAYS_ON.contains(&cat) {
            switch = switch.enum_values(Some([true]));
        }
        o = o.property(cat, switch);
    }
    o.build()
}

/// `HH:MM` from 00:00 to 23:59.
fn quiet_time_schema() -> utoipa::openapi::schema::Object {
    crate::rules::matching("^([01][0-9]|2[0-3]):[0-5][0-9]$")
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct QuietHours {
    #[schema(schema_with = quiet_time_schema, required = true)]
    pub start: Option<String>,
    #[schema(schema_with = quiet_time_schema, required = true)]
    pub end: Option<String>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct DeviceInput {
    #[schema(schema_with = device_token_schema, required = true)]
    pub token: Option<String>,
    #[schema(schema_with = platform_schema)]
    pub platform: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct HistoryQuery {
    #[param(schema_with = crate::rules::id)]
    pub user_id: Option<String>,
    #[param(schema_with = crate::rules::cursor)]
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

fn hhmm(raw: &str) -> Result<i64, String> {
    let (h, m) = raw.trim().split_once(':').ok_or("must be HH:MM")?;
    match (h.parse::<i64>(), m.parse::<i64>()) {
        (Ok(h), Ok(m)) if (0..24).contains(&h) && (0..60).contains(&m) && m.to_string().len() <= 2 => Ok(h * 60 + m),
        _ => Err("must be HH:MM (00:00-23:59)".into()),
    }
}

fn minute_text(m: i64) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

const COLS: &str =
    "id, user_id, event_id, event_type, channel, category, title, body, status, reason, recipient, provider, \
                    provider_ref, attempts, last_error, send_after, sent_at, created_at";

fn row_json(r: &AnyRow) -> Result<Message, sqlx::Error> {
    let sent_at: Option<i64> = r.try_get("sent_at")?;
    Ok(Message {
        id: text(r, "id")?,
        user_id: text(r, "user_id")?,
        event_id: text(r, "event_id")?,
        event_type: text(r, "event_type")?,
        channel: text(r, "channel")?,
        category: text(r, "category")?,
        title: text(r, "title")?,
        body: text(r, "body")?,
        status: text(r, "status")?,
        reason: opt_text(r, "reason")?,
        recipient: opt_text(r, "recipient")?,
        provider: opt_text(r, "provider")?,
        provider_ref: opt_text(r, "provider_ref")?,
        attempts: r.try_get("attempts")?,
        last_error: opt_text(r, "last_error")?,
        send_after: ms_to_rfc3339(r.try_get("send_after")?),
        sent_at: sent_at.map(ms_to_rfc3339),
        created_at: ms_to_rfc3339(r.try_get("created_at")?),
    })
}

/// A message to a user on one channel.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Message {
    pub id: String,
    pub user_id: String,
    /// The event it is about.
    pub event_id: String,
    pub event_type: String,
    /// `email`, `sms` or `push`.
    pub channel: String,
    /// `transactional`, `account`, `marketing` or `alerts`.
    pub category: String,
    pub title: String,
    pub body: String,
    /// `pending`, `sent`, `skipped` or `failed`.
    pub status: String,
    /// Why skipped (preferences, no address) or failed.
    pub reason: Option<String>,
    pub recipient: Option<String>,
    pub provider: Option<String>,
    pub provider_ref: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub send_after: String,
    #[schema(format = DateTime)]
    pub sent_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A page of messages, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessagePage {
    pub items: Vec<Message>,
    pub next_cursor: Option<String>,
}

/// Dead-lettered messages.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageList {
    pub items: Vec<Message>,
}

/// A user's preferences: per channel, each category on or off; quiet hours.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Preferences {
    pub email: CategorySwitches,
    pub sms: CategorySwitches,
    pub push: CategorySwitches,
    pub quiet_hours: Option<QuietWindow>,
    /// Categories that cannot be turned off.
    pub always_on: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategorySwitches {
    pub transactional: bool,
    pub account: bool,
    pub marketing: bool,
    pub alerts: bool,
}

/// `HH:MM` to `HH:MM`, India time; may wrap past midnight.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuietWindow {
    pub start: String,
    pub end: String,
}

/// A push device as registered.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Device {
    pub id: String,
    pub platform: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A message's outcome as an event (`notification.sent` or `.failed`), counted.
fn announce<E: Event>(d: &Due, provider: &str, outcome: &'static str, kind: fn(MessageOutcome) -> E) -> Envelope {
    metrics::counter!("nakku_notifications_total", "channel" => d.channel.clone(), "outcome" => outcome).increment(1);
    let message = MessageOutcome {
        notification_id: d.id.clone(),
        user_id: d.user_id.clone(),
        event_id: d.event_id.clone(),
        channel: d.channel.clone(),
        status: outcome.to_owned(),
        provider: provider.to_owned(),
    };
    Envelope::of(Service::Notification, &d.id, &d.event_id, &kind(message))
}

/// What a provider made of a message.
enum Sent {
    Ok(String),
    Err(String),
    NoAddress,
}

/// One due message as the dispatcher claims it.
struct Due {
    id: String,
    user_id: String,
    event_id: String,
    channel: String,
    title: String,
    body: String,
    attempts: i64,
}

impl NotificationService {
    pub fn new(db: Db, providers: Providers, cfg: NotificationConfig) -> Self {
        NotificationService { db, providers, cfg }
    }

    /// A user's preferences: every channel and category with its state, and quiet hours.
    pub async fn preferences(&self, user_id: &str) -> Result<Preferences, CoreError> {
        let mut conn = self.db.pool().acquire().await?;
        let off: Vec<(String, String)> =
            sqlx::query("SELECT channel, category FROM preferences WHERE user_id = ? AND enabled = 0")
                .bind(user_id)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| Ok((text(r, "channel")?, text(r, "category")?)))
                .collect::<Result<_, sqlx::Error>>()?;
        let on = |ch: &str, cat: &str| ALWAYS_ON.contains(&cat) || !off.contains(&(ch.to_owned(), cat.to_owned()));
        let switches = |ch: &str| CategorySwitches {
            transactional: on(ch, "transactional"),
            account: on(ch, "account"),
            marketing: on(ch, "marketing"),
            alerts: on(ch, "alerts"),
        };
        let quiet = sqlx::query("SELECT start_minute, end_minute FROM quiet_hours WHERE user_id = ?")
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
        let quiet_hours = match quiet {
            Some(r) => Some(QuietWindow {
                start: minute_text(r.try_get("start_minute")?),
                end: minute_text(r.try_get("end_minute")?),
            }),
            None => None,
        };
        Ok(Preferences {
            email: switches("email"),
            sms: switches("sms"),
            push: switches("push"),
            quiet_hours,
            always_on: ALWAYS_ON.iter().map(|c| (*c).to_owned()).collect(),
        })
    }

    /// Changes what was sent; refuses turning off what cannot be, naming the field.
    pub async fn set_preferences(&self, user_id: &str, input: PreferencesInput) -> Result<Preferences, CoreError> {
        let mut v = Validator::new();
        let mut changes: Vec<(&str, String, bool)> = Vec::new();
        for (ch, m) in [("email", &input.email), ("sms", &input.sms), ("push", &input.push)] {
            for (cat, on) in m.iter().flatten() {
                let field = format!("{ch}.{cat}");
                if !CATEGORIES.contains(&cat.as_str()) {
                    v.add(&field, format!("unknown category; one of {}", CATEGORIES.join(", ")));
                } else if ALWAYS_ON.contains(&cat.as_str()) && !on {
                    v.add(&field, format!("{cat} messages cannot be turned off"));
                } else {
                    changes.push((ch, cat.clone(), *on));
                }
            }
        }
        let quiet = match &input.quiet_hours {
            Some(Some(q)) => {
                let start = v.required("quiet_hours.start", q.start.clone());
                let end = v.required("quiet_hours.end", q.end.clone());
                let start = start.and_then(|s| v.check("quiet_hours.start", hhmm(&s)));
                let end = end.and_then(|e| v.check("quiet_hours.end", hhmm(&e)));
                if let (Some(s), Some(e)) = (start, end) {
                    if s == e {
                        v.add("quiet_hours.end", "must differ from start");
                    }
                }
                Some(start.zip(end))
            }
            Some(None) => Some(None),
            None => None,
        };
        v.finish()?;
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        for (ch, cat, on) in changes {
            sqlx::query("DELETE FROM preferences WHERE user_id = ? AND channel = ? AND category = ?")
                .bind(user_id)
                .bind(ch)
                .bind(&cat)
                .execute(&mut *tx)
                .await?;
            if !on {
                sqlx::query(
                    "INSERT INTO preferences (user_id, channel, category, enabled, updated_at) VALUES (?, ?, ?, 0, ?)",
                )
                .bind(user_id)
                .bind(ch)
                .bind(&cat)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        if let Some(q) = quiet {
            sqlx::query("DELETE FROM quiet_hours WHERE user_id = ?")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            if let Some((s, e)) = q {
                sqlx::query("INSERT INTO quiet_hours (user_id, start_minute, end_minute, created_at, updated_at) VALUES (?, ?, ?, ?, ?)")
                    .bind(user_id)
                    .bind(s)
                    .bind(e)
                    .bind(now)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        self.preferences(user_id).await
    }

    /// Registers a device for push (the same token again refreshes it, moving it to this
    /// user if another had it: a phone changes hands).
    pub async fn add_device(&self, user_id: &str, input: DeviceInput) -> Result<Device, CoreError> {
        let mut v = Validator::new();
        let token = v.required("token", input.token.map(|t| t.trim().to_owned()));
        if token
            .as_ref()
            .is_some_and(|t| !(8..=255).contains(&t.len()) || t.chars().any(char::is_whitespace))
        {
            v.add("token", "must be 8-255 characters without spaces");
        }
        let platform = input.platform.unwrap_or_else(|| "android".into());
        if !PLATFORMS.contains(&platform.as_str()) {
            v.add("platform", "must be android, ios or web");
        }
        v.finish()?;
        let Some(token) = token else {
            return Err(CoreError::validation("token", "is required"));
        };
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        sqlx::query("DELETE FROM devices WHERE token = ?")
            .bind(&token)
            .execute(&mut *tx)
            .await?;
        let id = new_id();
        sqlx::query(
            "INSERT INTO devices (id, user_id, token, platform, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(&token)
        .bind(&platform)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Device {
            id,
            platform,
            created_at: ms_to_rfc3339(now),
        })
    }

    pub async fn remove_device(&self, user_id: &str, id: &str) -> Result<(), CoreError> {
        let now = now_ms();
        let r = sqlx::query(
            "UPDATE devices SET deleted_at = ?, updated_at = ? WHERE id = ? AND user_id = ? AND deleted_at IS NULL",
        )
        .bind(now)
        .bind(now)
        .bind(id)
        .bind(user_id)
        .write_on(&self.db)
        .await?;
        if r.rows_affected() == 0 {
            return Err(CoreError::NotFound("device".into()));
        }
        Ok(())
    }

    /// A user's messages, newest first, with a cursor (`<created ms>_<id>`).
    pub async fn history(&self, user_id: &str, q: &HistoryQuery) -> Result<MessagePage, CoreError> {
        let limit = q.limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(CoreError::validation("limit", "must be from 1 to 100"));
        }
        let cursor = match &q.cursor {
            Some(c) => Some(
                c.split_once('_')
                    .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id.to_owned())))
                    .filter(|(_, id)| is_id(id))
                    .ok_or_else(|| CoreError::validation("cursor", "is not a cursor from this list"))?,
            ),
            None => None,
        };
        let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(format!("SELECT {COLS} FROM notifications WHERE user_id = "));
        qb.push_bind(user_id).push(" AND deleted_at IS NULL");
        if let Some((t, id)) = &cursor {
            qb.push(" AND (created_at < ").push_bind(*t);
            qb.push(" OR (created_at = ").push_bind(*t);
            qb.push(" AND id < ").push_bind(id.clone()).push("))");
        }
        qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(limit + 1);
        let rows = qb.build().fetch_all(self.db.pool()).await?;
        let more = rows.len() as i64 > limit;
        let mut items = Vec::new();
        let mut next = None;
        for r in rows.iter().take(limit as usize) {
            items.push(row_json(r)?);
            next = Some(format!("{}_{}", r.try_get::<i64, _>("created_at")?, text(r, "id")?));
        }
        Ok(MessagePage {
            items,
            next_cursor: if more { next } else { None },
        })
    }

    /// Dead-lettered messages, newest first (admins).
    pub async fn failed(&self, limit: i64) -> Result<MessageList, CoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM notifications WHERE status = 'failed' AND deleted_at IS NULL ORDER BY created_at DESC LIMIT ?"
        ))
        .bind(limit.clamp(1, 500))
        .fetch_all(self.db.pool())
        .await?;
        let items = rows.iter().map(row_json).collect::<Result<_, _>>()?;
        Ok(MessageList { items })
    }

    /// Puts a dead-lettered message back in the queue (admins, after fixing the provider).
    pub async fn retry(&self, id: &str) -> Result<Message, CoreError> {
        let now = now_ms();
        let r = sqlx::query(
            "UPDATE notifications SET status = 'pending', attempts = 0, send_after = ?, claimed_until = 0, updated_at = ? \
             WHERE id = ? AND status = 'failed'",
        )
        .bind(now)
        .bind(now)
        .bind(id)
        .write_on(&self.db)
        .await?;
        if r.rows_affected() == 0 {
            return Err(CoreError::conflict(
                "status",
                "only a failed (dead-lettered) message can be retried",
            ));
        }
        let row = sqlx::query(&format!("SELECT {COLS} FROM notifications WHERE id = ?"))
            .bind(id)
            .fetch_one(self.db.pool())
            .await?;
        Ok(row_json(&row)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hour_times_are_hh_mm() {
        assert_eq!(hhmm("22:00"), Ok(1320));
        assert_eq!(hhmm("07:05"), Ok(425));
        assert!(hhmm("24:00").is_err());
        assert!(hhmm("7pm").is_err());
        assert_eq!(minute_text(425), "07:05");
    }
}

#[cfg(test)]
mod preference_shape {
    use super::*;

    /// The typed preferences name every channel and category of the templates (a new
    /// channel or category must be added to `Preferences` / `CategorySwitches` too).
    #[test]
    fn preferences_cover_every_channel_and_category() {
        let all = CategorySwitches {
            transactional: true,
            account: true,
            marketing: true,
            alerts: true,
        };
        let p = Preferences {
            email: all.clone(),
            sms: all.clone(),
            push: all,
            quiet_hours: None,
            always_on: Vec::new(),
        };
        let v = serde_json::to_value(p).unwrap();
        for ch in templates::CHANNELS {
            let cats: Vec<&String> = v[ch].as_object().unwrap().keys().collect();
            assert_eq!(cats.len(), CATEGORIES.len(), "{ch}");
            assert!(CATEGORIES.iter().all(|c| v[ch][c].is_boolean()), "{ch}");
        }
    }
}
