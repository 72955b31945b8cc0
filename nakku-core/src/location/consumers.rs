//! The location service's consumer: `location.stores` keeps the store replica (the
//! `stores` table, which the delivery service keeps too) from `inventory.store.updated`.

use sqlx::AnyConnection;

use crate::events::bus::BoxFut;
use crate::events::consumer::Handler;
use crate::events::{Change, Envelope, Event};
use crate::id::now_ms;
use crate::inventory::events::StoreUpdated;

/// The `location.stores` consumer: keeps the store replica from `inventory.store.updated`.
/// The stores replica, as the location and delivery services keep it (same `stores` table);
/// the field is the consumer's name.
pub struct StoreReplica(pub &'static str);

impl Handler for StoreReplica {
    fn name(&self) -> &'static str {
        self.0
    }

    fn handles(&self) -> &'static [(&'static str, u32)] {
        &[(StoreUpdated::TYPE, StoreUpdated::VERSION)]
    }

    fn handle<'a>(&'a self, conn: &'a mut AnyConnection, env: &'a Envelope) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let StoreUpdated { store: s, change } = env.decode()?;
            let (id, code, name, opens, closes, lat, lng) =
                (s.id, s.code, s.name, s.opens_at, s.closes_at, s.lat, s.lng);
            let active = i64::from(s.active);
            let deleted = (change == Change::Deleted).then(now_ms);
            let now = now_ms();
            let updated = sqlx::query(
                "UPDATE stores SET code = ?, name = ?, lat = ?, lng = ?, opens_at = ?, closes_at = ?, active = ?, updated_at = ?, deleted_at = ? WHERE id = ?",
            )
            .bind(&code)
            .bind(&name)
            .bind(lat)
            .bind(lng)
            .bind(&opens)
            .bind(&closes)
            .bind(active)
            .bind(now)
            .bind(deleted)
            .bind(&id)
            .execute(&mut *conn)
            .await?;
            if updated.rows_affected() == 0 {
                sqlx::query(
                    "INSERT INTO stores (id, code, name, lat, lng, opens_at, closes_at, active, created_at, updated_at, deleted_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&id)
                .bind(&code)
                .bind(&name)
                .bind(lat)
                .bind(lng)
                .bind(&opens)
                .bind(&closes)
                .bind(active)
                .bind(now)
                .bind(now)
                .bind(deleted)
                .execute(conn)
                .await?;
            }
            Ok(())
        })
    }

    fn reset<'a>(&'a self, conn: &'a mut AnyConnection) -> BoxFut<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM stores").execute(conn).await?;
            Ok(())
        })
    }
}
