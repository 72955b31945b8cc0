//! Dispatch: claiming due messages, sending them through the channel's provider, and
//! recording the outcome (retries with backoff, then dead-lettered). A child module of the
//! notification service, so it shares its private helpers.

use super::*;

impl NotificationService {
    /// Sends up to `limit` due messages (in parallel); returns how many it took. Every
    /// instance runs this in a loop: a batch is claimed for a minute in one statement (so two
    /// instances never send a message at once); each message's outcome is recorded with its
    /// event as soon as its provider answers.
    pub async fn dispatch_due(&self, limit: i64) -> Result<usize, CoreError> {
        let now = now_ms();
        let ids: Vec<String> = sqlx::query(
            "SELECT id FROM notifications WHERE status = 'pending' AND send_after <= ? AND claimed_until < ? ORDER BY send_after LIMIT ?",
        )
        .bind(now)
        .bind(now)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(|r| text(r, "id"))
        .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            return Ok(0);
        }
        // This claim's mark: a minute ahead, plus a per-claim offset so that a concurrent
        // claim by another instance reads back only its own rows.
        let mark = now + 60_000 + i64::from(rand::random::<u16>() % 1000);
        let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new("UPDATE notifications SET claimed_until = ");
        qb.push_bind(mark)
            .push(" WHERE status = 'pending' AND claimed_until < ")
            .push_bind(now)
            .push(" AND id IN ");
        crate::db::push_list(&mut qb, &ids);
        qb.build().write_on(&self.db).await?;
        let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(
            "SELECT id, user_id, event_id, channel, title, body, attempts FROM notifications WHERE claimed_until = ",
        );
        qb.push_bind(mark).push(" AND status = 'pending' AND id IN ");
        crate::db::push_list(&mut qb, &ids);
        let mut due = Vec::new();
        for r in qb.build().fetch_all(self.db.pool()).await? {
            due.push(Due {
                id: text(&r, "id")?,
                user_id: text(&r, "user_id")?,
                event_id: text(&r, "event_id")?,
                channel: text(&r, "channel")?,
                title: text(&r, "title")?,
                body: text(&r, "body")?,
                attempts: r.try_get("attempts")?,
            });
        }
        let n = due.len();
        // Addresses once per user and channel, then every message at once.
        let mut book: std::collections::HashMap<(String, String), Option<Vec<String>>> = Default::default();
        for d in &due {
            if let std::collections::hash_map::Entry::Vacant(slot) = book.entry((d.user_id.clone(), d.channel.clone()))
            {
                slot.insert(self.addresses(&d.user_id, &d.channel).await?);
            }
        }
        let mut set = tokio::task::JoinSet::new();
        for d in due {
            let known = book.get(&(d.user_id.clone(), d.channel.clone())).cloned().flatten();
            let provider = self.providers.of(&d.channel).clone();
            let me = self.clone();
            set.spawn(async move {
                let to = known.clone().unwrap_or_default();
                let outcome = if known.is_none() {
                    Sent::Err("the account's contact details have not reached the notification service yet".into())
                } else if to.is_empty() {
                    Sent::NoAddress
                } else {
                    let out = Outgoing {
                        id: d.id.clone(),
                        channel: d.channel.clone(),
                        to: to.clone(),
                        title: d.title.clone(),
                        body: d.body.clone(),
                    };
                    match tokio::time::timeout(Duration::from_secs(20), provider.send(&out)).await {
                        Ok(Ok(reference)) => Sent::Ok(reference),
                        Ok(Err(e)) => Sent::Err(e),
                        Err(_) => Sent::Err("the provider did not answer within 20 s".into()),
                    }
                };
                // Recorded as soon as the provider answered: the shorter the gap, the fewer
                // messages a crash could send twice.
                if let Err(e) = me.record(d, to.join(", "), provider.name(), outcome).await {
                    tracing::warn!(error = %e, "recording a notification's outcome failed; it is retried after its claim lapses");
                }
            });
        }
        while let Some(r) = set.join_next().await {
            if let Err(e) = r {
                tracing::warn!(error = %e, "a notification send task failed; retried after its claim lapses");
            }
        }
        Ok(n)
    }

    /// Records a message's outcome, with its event, in one transaction.
    pub(super) async fn record(
        &self,
        d: Due,
        recipient: String,
        provider: &'static str,
        sent: Sent,
    ) -> Result<(), CoreError> {
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let mut event = None;
        match sent {
            Sent::NoAddress => {
                let why = match d.channel.as_str() {
                    "email" => "no email address on the account",
                    "sms" => "no phone number on the account",
                    _ => "no device registered for push",
                };
                sqlx::query(
                    "UPDATE notifications SET status = 'suppressed', reason = ?, claimed_until = 0, updated_at = ? WHERE id = ?",
                )
                .bind(why)
                .bind(now)
                .bind(&d.id)
                .execute(&mut *tx)
                .await?;
            }
            Sent::Ok(reference) => {
                sqlx::query(
                    "UPDATE notifications SET status = 'sent', sent_at = ?, recipient = ?, provider = ?, provider_ref = ?, \
                     attempts = attempts + 1, last_error = NULL, claimed_until = 0, updated_at = ? WHERE id = ?",
                )
                .bind(now)
                .bind(&recipient)
                .bind(provider)
                .bind(reference.chars().take(200).collect::<String>())
                .bind(now)
                .bind(&d.id)
                .execute(&mut *tx)
                .await?;
                event = Some(announce(&d, provider, "sent", NotificationSent));
            }
            Sent::Err(e) => {
                let attempts = d.attempts + 1;
                let error: String = e.chars().take(500).collect();
                if attempts >= self.cfg.max_attempts {
                    tracing::error!(notification_id = %d.id, channel = %d.channel, attempts, error, "notification dead-lettered");
                    sqlx::query(
                        "UPDATE notifications SET status = 'failed', reason = 'dead-lettered after the last attempt', attempts = ?, \
                         last_error = ?, recipient = ?, provider = ?, claimed_until = 0, updated_at = ? WHERE id = ?",
                    )
                    .bind(attempts)
                    .bind(&error)
                    .bind(&recipient)
                    .bind(provider)
                    .bind(now)
                    .bind(&d.id)
                    .execute(&mut *tx)
                    .await?;
                    event = Some(announce(&d, provider, "dead_lettered", NotificationFailed));
                } else {
                    // Up to 1 s after the first failure, doubling to a minute, jittered.
                    let backoff = crate::retry::backoff_ms(attempts, Duration::from_secs(1), Duration::from_secs(60));
                    tracing::warn!(notification_id = %d.id, channel = %d.channel, attempts, error, "notification send failed; retrying");
                    sqlx::query(
                        "UPDATE notifications SET attempts = ?, last_error = ?, send_after = ?, claimed_until = 0, updated_at = ? WHERE id = ?",
                    )
                    .bind(attempts)
                    .bind(&error)
                    .bind(now + backoff)
                    .bind(now)
                    .bind(&d.id)
                    .execute(&mut *tx)
                    .await?;
                    metrics::counter!("nakku_notifications_total", "channel" => d.channel.clone(), "outcome" => "retried")
                        .increment(1);
                }
            }
        }
        if let Some(e) = event {
            outbox::append(&mut tx, &e).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Where a channel reaches a user now (addresses are read at sending time, so a changed
    /// email is used by messages still waiting). `None`: the user's contact details have not
    /// reached this service yet (its `user.*` events lag behind the order's): the message
    /// is retried like a failed send, not suppressed, so a confirmation is never lost to a
    /// replica that is merely behind. A deleted account has a row with no addresses.
    pub(super) async fn addresses(&self, user_id: &str, channel: &str) -> Result<Option<Vec<String>>, CoreError> {
        let mut conn = self.db.pool().acquire().await?;
        if channel != "push" {
            let col = if channel == "email" { "email" } else { "phone" };
            let row = sqlx::query(&format!(
                "SELECT {col} AS a, deleted_at FROM contacts WHERE user_id = ?"
            ))
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let deleted: Option<i64> = row.try_get("deleted_at")?;
            let address = opt_text(&row, "a")?.filter(|a| !a.is_empty() && deleted.is_none());
            return Ok(Some(address.into_iter().collect()));
        }
        Ok(Some(match channel {
            "push" => {
                sqlx::query("SELECT token FROM devices WHERE user_id = ? AND deleted_at IS NULL ORDER BY created_at")
                    .bind(user_id)
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(|r| text(r, "token"))
                    .collect::<Result<_, _>>()?
            }
            _ => Vec::new(),
        }))
    }
}
