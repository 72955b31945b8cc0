//! A partner's actions on a delivery (reject, pickup, start, deliver with the shopper's code,
//! fail) and the geofence arrivals. A child module of `deliveries`, so it shares its private
//! helpers.

use super::*;

impl DeliveryService {
    /// A partner's move on their delivery: `reject`, `pickup`, `start`, `deliver` (with the
    /// shopper's code) or `fail` (with a reason).
    pub async fn act(
        &self,
        partner_id: &str,
        order_id: &str,
        action: &str,
        input: ActionInput,
    ) -> Result<ActionResult, CoreError> {
        let now = now_ms();
        let mut tx = self.db().begin().await?;
        let r = self
            .delivery(&mut tx, order_id)
            .await?
            .ok_or_else(|| CoreError::NotFound("delivery".into()))?;
        let d = row_of(&r)?;
        if d.partner_id.as_deref() != Some(partner_id) {
            return Err(CoreError::NotFound("delivery".into()));
        }
        let (to, time_col) = action_move(&d.status, action)?;
        if action == "pickup" {
            if let Some(why) = self.ready_for_pickup(&mut tx, order_id).await? {
                return Err(CoreError::conflict("status", why));
            }
        }
        let reason = input.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
        if action == "fail" && reason.is_none() {
            return Err(CoreError::validation("reason", "is required: why the delivery failed"));
        }
        if action == "deliver" {
            match CodeCheck::of(d.otp_attempts, d.otp.as_deref(), input.otp.as_deref()) {
                CodeCheck::Right => {}
                CodeCheck::Locked => {
                    return Err(CoreError::conflict(
                        "otp",
                        "too many wrong codes; call support to complete this delivery",
                    ))
                }
                CodeCheck::Missing => {
                    return Err(CoreError::validation(
                        "otp",
                        "is required: ask the shopper for the 4-digit code",
                    ))
                }
                CodeCheck::Wrong { tries_left } => {
                    sqlx::query(
                        "UPDATE deliveries SET otp_attempts = otp_attempts + 1, updated_at = ? WHERE order_id = ?",
                    )
                    .bind(now)
                    .bind(order_id)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    return Err(CoreError::validation(
                        "otp",
                        format!("does not match ({tries_left} tries left)"),
                    ));
                }
            }
        }
        if action == "reject" {
            sqlx::query(
                "INSERT INTO delivery_rejections (order_id, partner_id, reason, created_at) VALUES (?, ?, ?, ?)",
            )
            .bind(order_id)
            .bind(partner_id)
            .bind(reason)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            super::assignment::back_to_pool(&mut tx, order_id, now).await?;
            tx.commit().await?;
            return Ok(ActionResult::Rejected {
                order_id: order_id.to_owned(),
                status: "unassigned".to_owned(),
                rejected: true,
            });
        }
        sqlx::query(&format!(
            "UPDATE deliveries SET status = ?, {time_col} = ?, failure_reason = COALESCE(?, failure_reason), version = version + 1, \
             updated_at = ? WHERE order_id = ? AND status = ?"
        ))
        .bind(to)
        .bind(now)
        .bind(reason.filter(|_| action == "fail"))
        .bind(now)
        .bind(order_id)
        .bind(&d.status)
        .execute(&mut *tx)
        .await?;
        // Confirmation to the door, for the delivery-time histogram (recorded once committed).
        let mut took_secs: Option<f64> = None;
        match action {
            "start" => emit(&mut tx, order_id, &DeliveryStarted(d.state("out_for_delivery"))).await?,
            "deliver" => {
                // Promise against what happened, leg by leg.
                sqlx::query(
                    "UPDATE deliveries SET breached = CASE WHEN promised_by IS NULL THEN NULL WHEN delivered_at > promised_by THEN 1 ELSE 0 END \
                     WHERE order_id = ?",
                )
                .bind(order_id)
                .execute(&mut *tx)
                .await?;
                let done = self
                    .delivery(&mut tx, order_id)
                    .await?
                    .ok_or_else(|| CoreError::NotFound("delivery".into()))?;
                let at = |c: &str| done.try_get::<Option<i64>, _>(c);
                if let (Some(c), Some(d)) = (at("confirmed_at")?, at("delivered_at")?) {
                    took_secs = Some((d - c).max(0) as f64 / 1000.0);
                }
                // The event carries the promise as the view shows it.
                let completed = DeliveryCompleted {
                    delivery: d.state("delivered"),
                    promise: legs(&done)?,
                };
                emit(&mut tx, order_id, &completed).await?;
            }
            "fail" => {
                let failed = DeliveryFailed {
                    delivery: d.state("failed"),
                    reason: reason.map(str::to_owned),
                };
                emit(&mut tx, order_id, &failed).await?;
            }
            _ => {}
        }
        tx.commit().await?;
        if let Some(secs) = took_secs {
            metrics::histogram!("nakku_delivery_time_seconds").record(secs);
        }
        Ok(ActionResult::Delivery(Box::new(
            self.view(partner_id, false, order_id).await?,
        )))
    }

    /// A partner's new position moves their deliveries on its own: assigned and within
    /// [`GEOFENCE_M`] of the store → `at_store`; out for delivery and that close to the door
    /// → `at_door`. In the caller's transaction (the ping's).
    pub(in crate::delivery) async fn geofence(
        &self,
        conn: &mut AnyConnection,
        partner_id: &str,
        at: (f64, f64),
        now: i64,
    ) -> Result<(), CoreError> {
        let rows = sqlx::query(
            "SELECT d.order_id AS order_id, d.status AS status, d.drop_lat AS dlat, d.drop_lng AS dlng, s.lat AS slat, s.lng AS slng \
             FROM deliveries d LEFT JOIN stores s ON s.code = d.store AND s.deleted_at IS NULL \
             WHERE d.partner_id = ? AND d.status IN ('assigned', 'out_for_delivery')",
        )
        .bind(partner_id)
        .fetch_all(&mut *conn)
        .await?;
        for r in &rows {
            let status = text(r, "status")?;
            let (target, to, col) = if status == "assigned" {
                match (
                    r.try_get::<Option<f64>, _>("slat")?,
                    r.try_get::<Option<f64>, _>("slng")?,
                ) {
                    (Some(a), Some(b)) => ((a, b), "at_store", "arrived_store_at"),
                    _ => continue,
                }
            } else {
                ((r.try_get("dlat")?, r.try_get("dlng")?), "at_door", "arrived_door_at")
            };
            if haversine_km(at, target) * 1000.0 <= GEOFENCE_M {
                sqlx::query(&format!(
                    "UPDATE deliveries SET status = ?, {col} = ?, version = version + 1, updated_at = ? WHERE order_id = ? AND status = ?"
                ))
                .bind(to)
                .bind(now)
                .bind(now)
                .bind(text(r, "order_id")?)
                .bind(&status)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }

    /// Ending a shift gives back what is assigned but not yet picked up.
    pub(in crate::delivery) async fn release_partner(&self, partner_id: &str) -> Result<(), CoreError> {
        let rows =
            sqlx::query("SELECT order_id FROM deliveries WHERE partner_id = ? AND status IN ('assigned', 'at_store')")
                .bind(partner_id)
                .fetch_all(self.db().pool())
                .await?;
        for r in &rows {
            self.unassign(&text(r, "order_id")?, "the partner ended the shift")
                .await?;
        }
        Ok(())
    }
}
