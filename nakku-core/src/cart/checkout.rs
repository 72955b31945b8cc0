//! Checkout: the cart priced for an address (fees, surge, limits, stock), the quote the order
//! service places, and putting lines back for a reorder. A child module of `service`.

use super::*;

impl CartService {
    /// Adds several lines (reorder, copy); lines that cannot be added are skipped and
    /// reported by the view's problems when they are already in the cart.
    pub async fn add_many(
        &self,
        ctx: &RequestCtx,
        user_id: &str,
        store: &str,
        lines: &[(String, i64)],
    ) -> Result<CartView, CoreError> {
        let store = parse_store(store)?;
        let mut last = None;
        let mut skipped = BTreeMap::new();
        for (sku, qty) in lines {
            match self
                .change(ctx, user_id, None, Some(&store), sku, Change::Add(*qty))
                .await
            {
                Ok(v) => last = Some(v),
                Err(CoreError::Validation(f)) => {
                    skipped.insert(format!("items.{sku}"), f.into_values().flatten().collect::<Vec<_>>());
                }
                Err(e) => return Err(e),
            }
        }
        let mut view = match last {
            Some(v) => v,
            None => self.get(user_id, Some(&store)).await?,
        };
        for (k, msgs) in skipped {
            view.problems
                .entry(k)
                .or_default()
                .extend(msgs.into_iter().map(|m| format!("not added: {m}")));
        }
        Ok(view)
    }

    /// Prices the checkout of the shopper's cart for an address: lines at current prices,
    /// fees by the rules, problems per line and for the address.
    pub async fn checkout(
        &self,
        ctx: &RequestCtx,
        user_id: &str,
        store: Option<&str>,
        address_id: &str,
    ) -> Result<Quote, CoreError> {
        let (Some(addresses), Some(places)) = (&self.addresses, &self.places) else {
            return Err(CoreError::Unavailable(
                "checkout needs the user and location services, and neither is configured for the cart service".into(),
            ));
        };
        let store = store.map(parse_store).transpose()?;
        let address = match addresses.address(ctx, user_id, address_id).await {
            Ok(a) => a,
            Err(CoreError::NotFound(_)) => {
                return Err(CoreError::validation(
                    "address_id",
                    "is not one of your saved addresses",
                ))
            }
            Err(e) => return Err(e),
        };
        let (cart, lines, load) = {
            let mut conn = self.db.pool().acquire().await?;
            // The cart with its store's load (orders in progress there) in one read.
            let row = super::find_cart_row(
                &mut conn,
                user_id,
                store.as_deref(),
                ", (SELECT COUNT(*) FROM active_orders a WHERE a.store = carts.store) AS store_load",
            )
            .await?
            .ok_or_else(|| CoreError::validation("cart", "is empty"))?;
            let load: i64 = row.try_get("store_load")?;
            let cart = super::cart_from_row(&row)?;
            let lines = self.lines(&mut conn, &cart).await?;
            (cart, lines, load)
        };
        if lines.is_empty() {
            return Err(CoreError::validation("cart", "is empty"));
        }
        let serving = places.serving(ctx, address.lat, address.lng).await?;
        let mut problems = line_problems(&lines);
        if !serving.serviceable {
            problems.entry("address_id".into()).or_default().push(
                serving
                    .message
                    .clone()
                    .unwrap_or_else(|| "no dark store delivers to this address".into()),
            );
        } else if serving.store.as_deref() != Some(cart.store.as_str()) {
            problems.entry("address_id".into()).or_default().push(format!(
                "this address is served by {}, but the cart is for {}",
                serving.store.as_deref().unwrap_or("another store"),
                cart.store
            ));
        }
        let items_paise: i64 = lines.iter().map(|l| l.line_total_paise).sum();
        let fees = fees(&self.rules, items_paise, serving.road_distance_km, load);
        let fees_paise: i64 = fees.iter().map(|f| f.amount_paise).sum();
        let blocking = lines.iter().any(CartLine::blocking) || problems.contains_key("address_id");
        let mut quote = Quote {
            cart_id: cart.id,
            store: cart.store,
            address,
            lines,
            items_paise,
            fees,
            fees_paise,
            total_paise: items_paise + fees_paise,
            currency: "INR".into(),
            road_distance_km: serving.road_distance_km,
            eta_minutes: serving.eta_minutes,
            problems,
            can_place_order: !blocking,
            quote_id: String::new(),
        };
        quote.quote_id = quote_fingerprint(&quote);
        Ok(quote)
    }
}

/// Removes a cart's lines and emits `cart.cleared`.
pub(crate) async fn clear_cart(
    conn: &mut AnyConnection,
    cart_id: &str,
    user_id: &str,
    store: &str,
    reason: &str,
    correlation: &str,
) -> Result<(), CoreError> {
    sqlx::query("DELETE FROM cart_items WHERE cart_id = ?")
        .bind(cart_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE carts SET version = version + 1, updated_at = ? WHERE id = ?")
        .bind(now_ms())
        .bind(cart_id)
        .execute(&mut *conn)
        .await?;
    let cleared = CartCleared {
        cart_id: cart_id.to_owned(),
        user_id: user_id.to_owned(),
        store: store.to_owned(),
        reason: reason.to_owned(),
    };
    let env = Envelope::of(Service::Cart, cart_id, correlation, &cleared);
    outbox::append(conn, &env).await?;
    Ok(())
}
