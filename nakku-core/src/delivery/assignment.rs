//! Assignment: offering unassigned deliveries to the nearest available partner (batching
//! orders going the same way), and giving a delivery back to the pool. A child module of
//! `deliveries`, so it shares its private helpers.

use super::*;

impl DeliveryService {
    /// Takes back deliveries assigned to partners who went offline, then assigns every
    /// unassigned one it can. Returns how many it assigned.
    pub async fn assign_due(&self) -> Result<usize, CoreError> {
        let now = now_ms();
        // Assigned but not picked up, with a partner off shift or silent: back in the pool.
        let held = sqlx::query(
            "SELECT d.order_id AS order_id, p.on_shift AS on_shift, p.position_at AS position_at \
             FROM deliveries d JOIN partners p ON p.user_id = d.partner_id WHERE d.status IN ('assigned', 'at_store')",
        )
        .fetch_all(self.db().pool())
        .await?;
        for r in &held {
            let on_shift = r.try_get::<i64, _>("on_shift")? != 0;
            if partner_gone(on_shift, r.try_get("position_at")?, now, self.cfg().offline_after_ms) {
                self.unassign(&text(r, "order_id")?, "the partner went offline").await?;
            }
        }
        // Only stores with a partner on duty: a store without one keeps its queue untouched
        // (one cheap query per pass instead of one look per waiting order).
        let staffed: Vec<String> = sqlx::query(
            "SELECT DISTINCT home_store FROM partners WHERE on_shift = 1 AND deleted_at IS NULL AND position_at >= ?",
        )
        .bind(now - self.cfg().offline_after_ms)
        .fetch_all(self.db().pool())
        .await?
        .iter()
        .map(|r| text(r, "home_store"))
        .collect::<Result<_, _>>()?;
        let mut assigned = 0;
        for store in staffed {
            let open = sqlx::query(
                "SELECT order_id FROM deliveries WHERE status = 'unassigned' AND store = ? AND deleted_at IS NULL \
                 AND (assign_after IS NULL OR assign_after <= ?) ORDER BY confirmed_at LIMIT 100",
            )
            .bind(&store)
            .bind(now)
            .fetch_all(self.db().pool())
            .await?;
            for r in &open {
                if self.assign(&text(r, "order_id")?, &store, now).await? {
                    assigned += 1;
                }
            }
        }
        Ok(assigned)
    }

    pub(super) async fn assign(&self, order_id: &str, store: &str, now: i64) -> Result<bool, CoreError> {
        let Some(s) = sqlx::query("SELECT lat, lng FROM stores WHERE code = ? AND deleted_at IS NULL")
            .bind(store)
            .fetch_optional(self.db().pool())
            .await?
        else {
            return Ok(false);
        };
        let at: (f64, f64) = (s.try_get("lat")?, s.try_get("lng")?);
        let drop: (f64, f64) = {
            let d = sqlx::query("SELECT drop_lat, drop_lng FROM deliveries WHERE order_id = ?")
                .bind(order_id)
                .fetch_one(self.db().pool())
                .await?;
            (d.try_get("drop_lat")?, d.try_get("drop_lng")?)
        };
        let candidates = sqlx::query(
            "SELECT p.user_id AS user_id, p.lat AS lat, p.lng AS lng FROM partners p \
             WHERE p.home_store = ? AND p.on_shift = 1 AND p.deleted_at IS NULL AND p.position_at >= ? \
             AND NOT EXISTS (SELECT 1 FROM delivery_rejections x WHERE x.order_id = ? AND x.partner_id = p.user_id)",
        )
        .bind(store)
        .bind(now - self.cfg().offline_after_ms)
        .bind(order_id)
        .fetch_all(self.db().pool())
        .await?;
        // What each candidate has in hand: nothing (free), or a batch still at the store.
        let mut free: Option<(f64, String)> = None;
        let mut batch: Option<(f64, String)> = None;
        for c in &candidates {
            let (Some(lat), Some(lng)) = (c.try_get::<Option<f64>, _>("lat")?, c.try_get::<Option<f64>, _>("lng")?)
            else {
                continue;
            };
            let id = text(c, "user_id")?;
            let hand = sqlx::query(&format!(
                "SELECT status, drop_lat, drop_lng, assigned_at FROM deliveries WHERE partner_id = ? AND status IN {IN_HAND}"
            ))
            .bind(&id)
            .fetch_all(self.db().pool())
            .await?;
            if hand.is_empty() {
                let km = haversine_km((lat, lng), at);
                if free.as_ref().is_none_or(|(k, b)| km < *k || (km == *k && id < *b)) {
                    free = Some((km, id));
                }
                continue;
            }
            // Joins a batch: still at the store, room left, assigned within the window, and
            // going the same way (the new door near one already in the batch).
            let mut nearest = f64::MAX;
            let mut open = hand.len() < self.cfg().max_batch;
            for h in &hand {
                let status = text(h, "status")?;
                let assigned: Option<i64> = h.try_get("assigned_at")?;
                if !["assigned", "at_store"].contains(&status.as_str())
                    || assigned.is_none_or(|t| now - t > self.cfg().batch_window_ms)
                {
                    open = false;
                }
                nearest = nearest.min(haversine_km((h.try_get("drop_lat")?, h.try_get("drop_lng")?), drop));
            }
            if open
                && nearest <= self.cfg().batch_radius_km
                && batch
                    .as_ref()
                    .is_none_or(|(k, b)| nearest < *k || (nearest == *k && id < *b))
            {
                batch = Some((nearest, id));
            }
        }
        // A batch going the same way first (one trip), else the nearest free partner.
        let Some(partner) = batch.map(|(_, id)| id).or(free.as_ref().map(|(_, id)| id.clone())) else {
            return Ok(false);
        };
        let km = free.as_ref().filter(|(_, id)| *id == partner).map_or(0.0, |(k, _)| *k);
        let otp = format!("{:04}", rand::thread_rng().gen_range(0..10_000));
        let mut tx = self.db().begin().await?;
        let r = sqlx::query(
            "UPDATE deliveries SET status = 'assigned', partner_id = ?, otp = ?, otp_attempts = 0, assigned_at = ?, version = version + 1, \
             updated_at = ? WHERE order_id = ? AND status = 'unassigned'",
        )
        .bind(&partner)
        .bind(&otp)
        .bind(now)
        .bind(now)
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            return Ok(false);
        }
        let row = self
            .delivery(&mut tx, order_id)
            .await?
            .ok_or_else(|| CoreError::NotFound("delivery".into()))?;
        let pickup_minutes = (km * self.cfg().road_factor / self.cfg().speed_kmh * 60.0).ceil() as i64;
        emit(
            &mut tx,
            order_id,
            &DeliveryScheduled {
                delivery: row_of(&row)?.state("assigned"),
                partner_to_store_minutes: pickup_minutes,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Puts an assigned delivery back in the pool (the partner rejected it or went offline).
    pub(super) async fn unassign(&self, order_id: &str, why: &str) -> Result<(), CoreError> {
        let now = now_ms();
        let mut tx = self.db().begin().await?;
        let moved = back_to_pool(&mut tx, order_id, now).await?;
        tx.commit().await?;
        if moved {
            tracing::info!(order_id, reason = why, "delivery back in the pool");
        }
        Ok(())
    }
}

/// A delivery back in the pool, before pickup only: no partner, no code, no arrival.
/// Whether it moved.
pub(super) async fn back_to_pool(conn: &mut AnyConnection, order_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE deliveries SET status = 'unassigned', partner_id = NULL, otp = NULL, assigned_at = NULL, arrived_store_at = NULL, \
         version = version + 1, updated_at = ? WHERE order_id = ? AND status IN ('assigned', 'at_store')",
    )
    .bind(now)
    .bind(order_id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}
