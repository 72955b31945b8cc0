//! Pickers and bins: who picks at a store and when they are on shift, and where each
//! product lies. A child module of `fulfilment`.

use super::*;

impl DeliveryService {
    /// `PUT /deliveries/pickers/{user_id}` (admins): registers or moves a picker.
    pub async fn register_picker(&self, user_id: &str, input: PickerInput) -> Result<Picker, CoreError> {
        let mut v = Validator::new();
        let store = v
            .required("store", input.store)
            .and_then(|s| v.check("store", crate::rules::parse_code(&s)));
        let name = v
            .required("name", input.name)
            .and_then(|n| v.check("name", crate::rules::parse_text(&n, 100)));
        if user_id.is_empty() || user_id.len() > 64 {
            v.add("user_id", "must be an account id");
        }
        v.finish()?;
        let (Some(store), Some(name)) = (store, name) else {
            return Err(CoreError::validation("store", "is required"));
        };
        self.known_store(&store).await?;
        let now = now_ms();
        let mut tx = self.db().begin().await?;
        let r =
            sqlx::query("UPDATE pickers SET store = ?, name = ?, deleted_at = NULL, updated_at = ? WHERE user_id = ?")
                .bind(&store)
                .bind(&name)
                .bind(now)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        if r.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO pickers (user_id, store, name, on_shift, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?)",
            )
            .bind(user_id)
            .bind(&store)
            .bind(&name)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.picker(user_id).await
    }

    /// A store named in a body must exist (422 naming the field otherwise).
    pub(in crate::delivery) async fn known_store(&self, store: &str) -> Result<(), CoreError> {
        match self.store_resource(store).await {
            Err(CoreError::NotFound(_)) => Err(CoreError::validation("store", format!("no dark store {store}"))),
            other => other,
        }
    }

    /// A store named in the path must exist (404 otherwise: the resource is missing).
    pub(in crate::delivery) async fn store_resource(&self, store: &str) -> Result<(), CoreError> {
        let known = sqlx::query("SELECT 1 AS x FROM stores WHERE code = ? AND deleted_at IS NULL")
            .bind(store)
            .fetch_optional(self.db().pool())
            .await?
            .is_some();
        if known {
            Ok(())
        } else {
            Err(CoreError::NotFound(format!("dark store {store}")))
        }
    }

    /// The caller's picker record (404 for anyone not registered).
    pub async fn picker(&self, user_id: &str) -> Result<Picker, CoreError> {
        let r = sqlx::query(
            "SELECT user_id, store, name, on_shift, shift_started_at FROM pickers WHERE user_id = ? AND deleted_at IS NULL",
        )
        .bind(user_id)
        .fetch_optional(self.db().pool())
        .await?
        .ok_or_else(not_a_picker)?;
        Ok(Picker {
            user_id: text(&r, "user_id")?,
            store: text(&r, "store")?,
            name: text(&r, "name")?,
            on_shift: r.try_get::<i64, _>("on_shift")? != 0,
            shift_started_at: ms(&r, "shift_started_at")?,
        })
    }

    /// A picker starts or ends a shift; ending it puts an unfinished pick back in the queue
    /// (what was recorded so far stays).
    pub async fn picker_shift(&self, user_id: &str, on: Option<bool>) -> Result<Picker, CoreError> {
        let on = on.ok_or_else(|| CoreError::validation("on", "is required (true or false)"))?;
        let now = now_ms();
        let mut tx = self.db().begin().await?;
        let r = sqlx::query(
            "UPDATE pickers SET on_shift = ?, shift_started_at = CASE WHEN ? = 1 THEN COALESCE(shift_started_at, ?) ELSE NULL END, \
             updated_at = ? WHERE user_id = ? AND deleted_at IS NULL",
        )
        .bind(i64::from(on))
        .bind(i64::from(on))
        .bind(now)
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(not_a_picker());
        }
        if !on {
            sqlx::query("UPDATE picks SET status = 'queued', picker_id = NULL, updated_at = ? WHERE picker_id = ? AND status = 'picking'")
                .bind(now)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.picker(user_id).await
    }

    /// `PUT /deliveries/stores/{store}/bins` (admins): where skus sit.
    pub async fn set_bins(&self, store: &str, input: BinsInput) -> Result<BinsSet, CoreError> {
        let bins = input
            .bins
            .ok_or_else(|| CoreError::validation("bins", "is required: {\"SKU\": \"A-01-1\", ...}"))?;
        let mut v = Validator::new();
        if bins.is_empty() || bins.len() > 5_000 {
            v.add("bins", "must map 1 to 5000 skus to bins");
        }
        for (sku, bin) in &bins {
            if let Err(m) = crate::rules::parse_sku(sku) {
                v.add(&format!("bins.{sku}"), m);
            }
            let b = bin.trim();
            if b.is_empty() || b.len() > 32 || !b.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
                v.add(&format!("bins.{sku}"), "a bin is 1-32 letters, digits, '-' or '.'");
            }
        }
        v.finish()?;
        self.store_resource(store).await?;
        let now = now_ms();
        let mut tx = self.db().begin().await?;
        for (sku, bin) in &bins {
            sqlx::query("DELETE FROM bins WHERE store = ? AND sku = ?")
                .bind(store)
                .bind(sku)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO bins (store, sku, bin, updated_at) VALUES (?, ?, ?, ?)")
                .bind(store)
                .bind(sku)
                .bind(bin.trim().to_ascii_uppercase())
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(BinsSet {
            store: store.to_owned(),
            bins: bins.len(),
        })
    }
}

/// [`BinsInput::bins`]: 1 to 5000 skus, each to a bin of 1-32 letters, digits, `-` or `.`.
pub(super) fn bins_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    let bin = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[A-Za-z0-9.-]{1,32}$"));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(crate::rules::sku()))
        .additional_properties(Some(AdditionalProperties::RefOr(bin.build().into())))
        .min_properties(Some(1))
        .max_properties(Some(5000))
        .build()
}
