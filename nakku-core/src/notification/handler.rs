//! The `notification` consumer: keeps the contacts replica (user.*) and turns each event's
//! template into one row per user and channel, already decided: `pending` (to be sent,
//! perhaps after quiet hours) or `suppressed` (turned off, or no device to push to). The
//! dispatcher ([`super::NotificationService::dispatch_due`]) sends the pending ones.

use sqlx::{AnyConnection, Row};

use super::templates::{plan, Recipients, ALWAYS_ON};
use crate::auth::Role;
use crate::db::text;
use crate::events::bus::BoxFut;
use crate::events::consumer::Handler;
use crate::events::{catalog, Envelope, Event};
use crate::id::{new_id, now_ms};
use crate::user::events::{UserDeleted, UserRegistered, UserUpdated};

pub const CONSUMER: &str = "notification";

pub struct NotificationHandler {
    /// Minutes east of UTC of the shoppers' local time (quiet hours are local).
    pub utc_offset_minutes: i64,
}

/// When quiet hours `[start, end)` (minutes after local midnight) hold a message sent at
/// `now`: the end of the quiet period, or `None` outside it.
pub fn quiet_until(now: i64, start: i64, end: i64, offset_minutes: i64) -> Option<i64> {
    if start == end {
        return None;
    }
    let local_min = (now / 60_000 + offset_minutes).rem_euclid(1440);
    let inside = if start < end {
        local_min >= start && local_min < end
    } else {
        local_min >= start || local_min < end
    };
    if !inside {
        return None;
    }
    let wait = (end - local_min).rem_euclid(1440);
    // To the start of that minute.
    Some((now / 60_000 + wait) * 60_000)
}

/// The account a `user.*` event is about and the contact fields it sets (`None`: unchanged);
/// no fields at all for a deletion.
type ContactChange = (String, Option<[(&'static str, Option<String>); 4]>);

fn contact_change(env: &Envelope) -> anyhow::Result<ContactChange> {
    let role = |r: Role| r.as_str().to_owned();
    Ok(match env.event_type.as_str() {
        UserDeleted::TYPE => (env.decode::<UserDeleted>()?.user_id, None),
        UserRegistered::TYPE => {
            let u: UserRegistered = env.decode()?;
            let fields = [
                ("email", Some(u.email)),
                ("phone", Some(u.phone)),
                ("name", Some(u.name)),
                ("role", Some(role(u.role))),
            ];
            (u.user_id, Some(fields))
        }
        UserUpdated::TYPE => {
            let u: UserUpdated = env.decode()?;
            let fields = [
                ("email", u.email),
                ("phone", u.phone),
                ("name", u.name),
                ("role", u.role.map(role)),
            ];
            (u.user_id, Some(fields))
        }
        other => anyhow::bail!("the contacts replica does not handle {other}"),
    })
}

async fn contact(conn: &mut AnyConnection, env: &Envelope) -> anyhow::Result<()> {
    let (uid, fields) = contact_change(env)?;
    anyhow::ensure!(!uid.is_empty(), "{} payload has an empty user_id", env.event_type);
    let uid = uid.as_str();
    let now = now_ms();
    let Some(fields) = fields else {
        sqlx::query("UPDATE contacts SET email = NULL, phone = NULL, deleted_at = ?, updated_at = ? WHERE user_id = ?")
            .bind(now)
            .bind(now)
            .bind(uid)
            .execute(conn)
            .await?;
        return Ok(());
    };
    let exists = sqlx::query("SELECT 1 AS x FROM contacts WHERE user_id = ?")
        .bind(uid)
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    if !exists {
        sqlx::query("INSERT INTO contacts (user_id, role, created_at, updated_at) VALUES (?, 'user', ?, ?)")
            .bind(uid)
            .bind(now)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    // Only the fields the event carries (a password change carries none).
    for (col, value) in fields {
        if let Some(v) = value {
            sqlx::query(&format!(
                "UPDATE contacts SET {col} = ?, updated_at = ? WHERE user_id = ?"
            ))
            .bind(v)
            .bind(now)
            .bind(uid)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

impl NotificationHandler {
    async fn notify(&self, conn: &mut AnyConnection, env: &Envelope) -> anyhow::Result<()> {
        let Some(p) = plan(env)? else {
            return Ok(());
        };
        let users: Vec<String> = match &p.to {
            Recipients::Users(u) => u.iter().filter(|u| !u.is_empty()).cloned().collect(),
            Recipients::Admins => {
                sqlx::query("SELECT user_id FROM contacts WHERE role = 'admin' AND deleted_at IS NULL ORDER BY user_id")
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(|r| text(r, "user_id"))
                    .collect::<Result<_, _>>()?
            }
        };
        let now = now_ms();
        let always = ALWAYS_ON.contains(&p.category);
        let title: String = p.title.chars().take(200).collect();
        let body: String = p.body.chars().take(2000).collect();
        for user in users {
            // Everything about this user in four reads, then one insert of every channel.
            let quiet = sqlx::query("SELECT start_minute, end_minute FROM quiet_hours WHERE user_id = ?")
                .bind(&user)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| {
                    Ok::<_, sqlx::Error>((r.try_get::<i64, _>("start_minute")?, r.try_get::<i64, _>("end_minute")?))
                })
                .transpose()?;
            let off: Vec<String> = if always {
                Vec::new()
            } else {
                sqlx::query("SELECT channel FROM preferences WHERE user_id = ? AND category = ? AND enabled = 0")
                    .bind(&user)
                    .bind(p.category)
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(|r| text(r, "channel"))
                    .collect::<Result<_, _>>()?
            };
            let no_device = p.channels.contains(&"push")
                && sqlx::query("SELECT 1 AS x FROM devices WHERE user_id = ? AND deleted_at IS NULL")
                    .bind(&user)
                    .fetch_optional(&mut *conn)
                    .await?
                    .is_none();
            let seen: Vec<String> = sqlx::query("SELECT channel FROM notifications WHERE event_id = ? AND user_id = ?")
                .bind(&env.id)
                .bind(&user)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| text(r, "channel"))
                .collect::<Result<_, _>>()?;
            let mut rows = Vec::new();
            for channel in p.channels.iter().filter(|c| !seen.iter().any(|s| s == *c)) {
                let (status, reason) = if off.iter().any(|c| c == channel) {
                    (
                        "suppressed",
                        Some(format!("{} {channel} messages are turned off", p.category)),
                    )
                } else if *channel == "push" && no_device {
                    ("suppressed", Some("no device registered for push".to_owned()))
                } else {
                    ("pending", None)
                };
                // Quiet hours hold what can wait on the channels that interrupt; messages
                // about an order in progress are never held (the shopper is waiting on them).
                let send_after = match quiet {
                    Some((start, end)) if !always && *channel != "email" => {
                        quiet_until(now, start, end, self.utc_offset_minutes).unwrap_or(now)
                    }
                    _ => now,
                };
                rows.push((*channel, status, reason, send_after));
            }
            if rows.is_empty() {
                continue;
            }
            let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(
                "INSERT INTO notifications (id, user_id, event_id, event_type, channel, category, title, body, status, reason, \
                 send_after, created_at, updated_at) ",
            );
            qb.push_values(rows, |mut row, (channel, status, reason, send_after)| {
                row.push_bind(new_id())
                    .push_bind(user.clone())
                    .push_bind(env.id.clone())
                    .push_bind(env.event_type.clone())
                    .push_bind(channel)
                    .push_bind(p.category)
                    .push_bind(title.clone())
                    .push_bind(body.clone())
                    .push_bind(status)
                    .push_bind(reason)
                    .push_bind(send_after)
                    .push_bind(now)
                    .push_bind(now);
            });
            qb.build().execute(&mut *conn).await?;
        }
        Ok(())
    }
}

impl Handler for NotificationHandler {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn handles(&self) -> &'static [(&'static str, u32)] {
        &[
            (UserRegistered::TYPE, UserRegistered::VERSION),
            (UserUpdated::TYPE, UserUpdated::VERSION),
            (UserDeleted::TYPE, UserDeleted::VERSION),
            (catalog::ORDER_UPDATED, crate::order::events::OrderUpdated::VERSION),
            (catalog::PAYMENT_FAILED, crate::payment::events::PaymentFailed::VERSION),
            (
                catalog::PAYMENT_REFUNDED,
                crate::payment::events::PaymentRefunded::VERSION,
            ),
            (
                catalog::INVENTORY_BACK_IN_STOCK,
                crate::inventory::events::BackInStock::VERSION,
            ),
            (
                catalog::INVENTORY_LOW_STOCK,
                crate::inventory::events::LowStock::VERSION,
            ),
        ]
    }

    fn handle<'a>(&'a self, conn: &'a mut AnyConnection, env: &'a Envelope) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            if env.event_type.starts_with("user.") {
                contact(conn, env).await?;
            }
            self.notify(conn, env).await
        })
    }

    fn reset<'a>(&'a self, conn: &'a mut AnyConnection) -> BoxFut<'a, Result<(), sqlx::Error>> {
        // A replay rebuilds the contacts; messages already recorded are history and stay
        // (their unique key keeps a replayed event from sending again).
        Box::pin(async move {
            sqlx::query("DELETE FROM contacts").execute(conn).await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_wrap_midnight_and_end_on_the_minute() {
        // 22:00-07:00 in UTC (offset 0).
        let at = |h: i64, m: i64| (h * 60 + m) * 60_000;
        assert_eq!(quiet_until(at(23, 30), 22 * 60, 7 * 60, 0), Some(at(31, 0)));
        assert_eq!(quiet_until(at(6, 59), 22 * 60, 7 * 60, 0), Some(at(7, 0)));
        assert_eq!(quiet_until(at(7, 0), 22 * 60, 7 * 60, 0), None);
        assert_eq!(quiet_until(at(12, 0), 22 * 60, 7 * 60, 0), None);
        // 13:00-14:00 local at UTC+05:30 is 07:30-08:30 UTC.
        assert_eq!(quiet_until(at(7, 45), 13 * 60, 14 * 60, 330), Some(at(8, 30)));
        assert_eq!(
            quiet_until(at(7, 45), 600, 600, 0),
            None,
            "an empty window holds nothing"
        );
    }
}
