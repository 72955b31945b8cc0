//! Outbox, write side: an event is stored in the same transaction as the change it
//! describes, so it exists if and only if the change was committed.

use sqlx::AnyConnection;

use super::Envelope;
use crate::id::now_ms;

/// Appends `env` to the outbox on the caller's connection (normally inside its transaction).
/// An envelope over [`super::DEFAULT_MAX_EVENT_BYTES`] is refused here, so the change it
/// describes is rolled back rather than leaving an event the bus would never accept.
pub async fn append(conn: &mut AnyConnection, env: &Envelope) -> Result<(), sqlx::Error> {
    env.to_bytes(super::DEFAULT_MAX_EVENT_BYTES)
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let payload = serde_json::to_string(&env.payload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let occurred_at = env.occurred_ms().map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO outbox (id, event_type, source, aggregate_id, correlation_id, version, occurred_at, payload, created_at, traceparent) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&env.id)
    .bind(&env.event_type)
    .bind(&env.source)
    .bind(&env.aggregate_id)
    .bind(&env.correlation_id)
    .bind(i64::from(env.version))
    .bind(occurred_at)
    .bind(payload)
    .bind(now_ms())
    .bind(env.traceparent.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}

/// Appends several envelopes in one multi-row INSERT (fewer round trips inside hot
/// transactions). Order within the slice is kept.
pub async fn append_many(conn: &mut AnyConnection, envs: &[Envelope]) -> Result<(), sqlx::Error> {
    if envs.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let mut rows = Vec::with_capacity(envs.len());
    for env in envs {
        env.to_bytes(super::DEFAULT_MAX_EVENT_BYTES)
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let payload = serde_json::to_string(&env.payload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let occurred_at = env.occurred_ms().map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        rows.push((env, payload, occurred_at));
    }
    let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(
        "INSERT INTO outbox (id, event_type, source, aggregate_id, correlation_id, version, occurred_at, payload, created_at, traceparent) ",
    );
    qb.push_values(rows, |mut row, (env, payload, occurred_at)| {
        row.push_bind(&env.id)
            .push_bind(&env.event_type)
            .push_bind(&env.source)
            .push_bind(&env.aggregate_id)
            .push_bind(&env.correlation_id)
            .push_bind(i64::from(env.version))
            .push_bind(occurred_at)
            .push_bind(payload)
            .push_bind(now)
            .push_bind(env.traceparent.as_deref());
    });
    qb.build().execute(conn).await?;
    Ok(())
}

/// An outbox row as stored (for inspection and, later, the relay).
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub seq: i64,
    pub envelope: Envelope,
    pub published_at: Option<i64>,
}

/// The most recent `limit` outbox rows, oldest first.
pub async fn recent(conn: &mut AnyConnection, limit: i64) -> Result<Vec<OutboxRow>, sqlx::Error> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT seq, id, event_type, source, aggregate_id, correlation_id, version, occurred_at, payload, published_at, traceparent \
         FROM outbox ORDER BY seq DESC LIMIT ?",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows.iter().rev() {
        let payload = crate::db::text(r, "payload")?;
        let version: i64 = r.try_get("version")?;
        out.push(OutboxRow {
            seq: r.try_get("seq")?,
            published_at: r.try_get("published_at")?,
            envelope: Envelope {
                id: r.try_get("id")?,
                event_type: r.try_get("event_type")?,
                source: r.try_get("source")?,
                aggregate_id: r.try_get("aggregate_id")?,
                correlation_id: r.try_get("correlation_id")?,
                version: u32::try_from(version).unwrap_or(0),
                occurred_at: crate::id::ms_to_rfc3339(r.try_get("occurred_at")?),
                payload: serde_json::from_str(&payload).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                traceparent: r.try_get("traceparent")?,
            },
        });
    }
    Ok(out)
}
