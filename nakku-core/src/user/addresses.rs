//! A shopper's addresses: checked against the serviceable area when a checker is set, one
//! default per account. A child module of `service`, so it shares the service's private helpers.

use super::*;

impl UserService {
    pub async fn list_addresses(&self, user_id: &str) -> Result<Vec<Address>, CoreError> {
        Ok(store::list_addresses(&mut *self.conn().await?, user_id).await?)
    }

    pub async fn get_address(&self, user_id: &str, id: &str) -> Result<Address, CoreError> {
        if !is_id(id) {
            return Err(CoreError::NotFound("address".to_owned()));
        }
        store::find_address(&mut *self.conn().await?, user_id, id)
            .await?
            .ok_or_else(|| CoreError::NotFound("address".to_owned()))
    }

    /// Adds an address. The first address, or one marked `is_default`, becomes the default.
    #[tracing::instrument(skip_all)]
    pub async fn add_address(
        &self,
        ctx: &RequestCtx,
        user_id: &str,
        input: AddressInput,
    ) -> Result<Address, CoreError> {
        let mut v = Validator::new();
        let label = v
            .required("label", input.label)
            .and_then(|s| v.check("label", parse_text(&s, 50)));
        let line1 = v
            .required("line1", input.line1)
            .and_then(|s| v.check("line1", parse_text(&s, 200)));
        let line2 = optional_line2(&mut v, input.line2);
        let city = v
            .required("city", input.city)
            .and_then(|s| v.check("city", parse_text(&s, 100)));
        let pincode = v
            .required("pincode", input.pincode)
            .and_then(|s| v.check("pincode", parse_pincode(&s)));
        let lat = v.required("lat", input.lat).and_then(|x| v.check("lat", check_lat(x)));
        let lng = v.required("lng", input.lng).and_then(|x| v.check("lng", check_lng(x)));
        v.finish()?;
        let (Some(label), Some(line1), Some(city), Some(pincode), Some(lat), Some(lng)) =
            (label, line1, city, pincode, lat, lng)
        else {
            return Err(CoreError::Internal(anyhow::anyhow!("validated fields missing")));
        };
        let now = now_ms();
        let mut addr = Address {
            id: new_id(),
            user_id: user_id.to_owned(),
            label,
            line1,
            line2: line2.flatten(),
            city,
            pincode,
            lat,
            lng,
            is_default: input.is_default == Some(true),
            serviceable: None,
            store: None,
            created_at: now,
            updated_at: now,
        };
        (addr.serviceable, addr.store) = self.check_address(ctx, user_id, &addr).await?;
        let mut tx = self.db.begin().await?;
        // Lock the account row so concurrent adds cannot exceed the limit or race on the default.
        lock_user(&mut tx, &self.db, user_id).await?;
        let existing = store::count_addresses(&mut tx, user_id).await?;
        if existing >= MAX_ADDRESSES {
            return Err(CoreError::validation(
                "addresses",
                format!("at most {MAX_ADDRESSES} addresses per account"),
            ));
        }
        addr.is_default = addr.is_default || existing == 0;
        store::insert_address(&mut tx, &addr).await?;
        if addr.is_default {
            store::clear_default(&mut tx, user_id, &addr.id, now).await?;
        }
        let env = Envelope::of(
            Service::User,
            user_id,
            &ctx.request_id,
            &AddressAdded(AddressSaved {
                user_id: user_id.to_owned(),
                address: addr.clone(),
            }),
        );
        outbox::append(&mut tx, &env).await?;
        tx.commit().await?;
        Ok(addr)
    }

    /// Changes the fields present. Marking an address default unmarks the others; the
    /// default cannot be unmarked directly (mark another one instead).
    #[tracing::instrument(skip_all)]
    pub async fn update_address(
        &self,
        ctx: &RequestCtx,
        user_id: &str,
        id: &str,
        input: AddressInput,
    ) -> Result<Address, CoreError> {
        let mut v = Validator::new();
        let label = input.label.and_then(|s| v.check("label", parse_text(&s, 50)));
        let line1 = input.line1.and_then(|s| v.check("line1", parse_text(&s, 200)));
        let line2 = optional_line2(&mut v, input.line2);
        let city = input.city.and_then(|s| v.check("city", parse_text(&s, 100)));
        let pincode = input.pincode.and_then(|s| v.check("pincode", parse_pincode(&s)));
        let lat = input.lat.and_then(|x| v.check("lat", check_lat(x)));
        let lng = input.lng.and_then(|x| v.check("lng", check_lng(x)));
        v.finish()?;
        if !is_id(id) {
            return Err(CoreError::NotFound("address".to_owned()));
        }
        let mut tx = self.db.begin().await?;
        lock_user(&mut tx, &self.db, user_id).await?;
        let mut a = store::find_address(&mut tx, user_id, id)
            .await?
            .ok_or_else(|| CoreError::NotFound("address".to_owned()))?;
        if input.is_default == Some(false) && a.is_default {
            return Err(CoreError::validation(
                "is_default",
                "the default address cannot be unmarked; mark another address as default instead",
            ));
        }
        a.label = label.unwrap_or(a.label);
        a.line1 = line1.unwrap_or(a.line1);
        if let Some(l2) = line2 {
            a.line2 = l2;
        }
        let relocated = city.is_some() || pincode.is_some() || lat.is_some() || lng.is_some();
        a.city = city.unwrap_or(a.city);
        a.pincode = pincode.unwrap_or(a.pincode);
        a.lat = lat.unwrap_or(a.lat);
        a.lng = lng.unwrap_or(a.lng);
        a.is_default = a.is_default || input.is_default == Some(true);
        a.updated_at = now_ms();
        if relocated {
            (a.serviceable, a.store) = self.check_address(ctx, user_id, &a).await?;
        }
        store::update_address(&mut tx, &a).await?;
        if a.is_default {
            store::clear_default(&mut tx, user_id, &a.id, a.updated_at).await?;
        }
        let env = Envelope::of(
            Service::User,
            user_id,
            &ctx.request_id,
            &AddressUpdated(AddressSaved {
                user_id: user_id.to_owned(),
                address: a.clone(),
            }),
        );
        outbox::append(&mut tx, &env).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// Soft-deletes an address; when it was the default, the newest remaining one takes over.
    #[tracing::instrument(skip_all)]
    pub async fn delete_address(&self, ctx: &RequestCtx, user_id: &str, id: &str) -> Result<(), CoreError> {
        if !is_id(id) {
            return Err(CoreError::NotFound("address".to_owned()));
        }
        let mut tx = self.db.begin().await?;
        lock_user(&mut tx, &self.db, user_id).await?;
        let a = store::find_address(&mut tx, user_id, id)
            .await?
            .ok_or_else(|| CoreError::NotFound("address".to_owned()))?;
        let now = now_ms();
        store::soft_delete_address(&mut tx, user_id, id, now).await?;
        if a.is_default {
            store::promote_newest_address(&mut tx, user_id, now).await?;
        }
        let env = Envelope::of(
            Service::User,
            user_id,
            &ctx.request_id,
            &AddressDeleted {
                user_id: user_id.to_owned(),
                address_id: id.to_owned(),
            },
        );
        outbox::append(&mut tx, &env).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- administration ----
}
