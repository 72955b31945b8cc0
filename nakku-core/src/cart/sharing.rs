//! Shared carts: a link anyone can open to see the cart, add to it, or copy it into their own.
//! A child module of `service`, so it shares the service's private helpers.

use super::*;

impl CartService {
    /// Creates (or changes the mode of) the cart's share link.
    pub async fn share(&self, user_id: &str, input: ShareInput) -> Result<CartView, CoreError> {
        let mode = input.mode.unwrap_or_else(|| "view".to_owned());
        if !super::SHARE_MODES.contains(&mode.as_str()) {
            return Err(CoreError::validation("mode", "must be view or edit"));
        }
        let store = input.store.as_deref().map(parse_store).transpose()?;
        let mut tx = self.db.begin().await?;
        let cart = self
            .find_cart(&mut tx, user_id, store.as_deref())
            .await?
            .ok_or_else(|| CoreError::NotFound("cart".to_owned()))?;
        let token = cart
            .share_token
            .clone()
            .unwrap_or_else(|| format!("{:016x}{:016x}", rand_u64(), rand_u64()));
        sqlx::query("UPDATE carts SET share_token = ?, share_mode = ?, updated_at = ? WHERE id = ?")
            .bind(&token)
            .bind(&mode)
            .bind(now_ms())
            .bind(&cart.id)
            .execute(&mut *tx)
            .await?;
        let cart = CartRow {
            share_token: Some(token),
            share_mode: Some(mode),
            ..cart
        };
        let view = self.view(&mut tx, Some(cart), true).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Revokes the share link: the old token stops working, collaborators lose access.
    pub async fn unshare(&self, user_id: &str, store: Option<&str>) -> Result<CartView, CoreError> {
        let store = store.map(parse_store).transpose()?;
        let mut tx = self.db.begin().await?;
        let cart = self
            .find_cart(&mut tx, user_id, store.as_deref())
            .await?
            .ok_or_else(|| CoreError::NotFound("cart".to_owned()))?;
        sqlx::query("UPDATE carts SET share_token = NULL, share_mode = NULL, updated_at = ? WHERE id = ?")
            .bind(now_ms())
            .bind(&cart.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM cart_members WHERE cart_id = ?")
            .bind(&cart.id)
            .execute(&mut *tx)
            .await?;
        let cart = CartRow {
            share_token: None,
            share_mode: None,
            ..cart
        };
        let view = self.view(&mut tx, Some(cart), true).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// A cart through its share link (no owner details).
    pub async fn shared(&self, token: &str) -> Result<CartView, CoreError> {
        let mut conn = self.db.pool().acquire().await?;
        let cart = self.by_token(&mut conn, token).await?;
        self.view(&mut conn, Some(cart), false).await
    }

    /// Copies a shared cart's lines into the caller's own cart at the same store (adding
    /// to lines already there, within each product's limit and the stock).
    pub async fn copy_shared(&self, ctx: &RequestCtx, user_id: &str, token: &str) -> Result<CartView, CoreError> {
        let shared = {
            let mut conn = self.db.pool().acquire().await?;
            let cart = self.by_token(&mut conn, token).await?;
            let lines = self.lines(&mut conn, &cart).await?;
            (cart.store, lines)
        };
        let lines: Vec<(String, i64)> = shared
            .1
            .iter()
            .filter(|l| !l.blocking())
            .map(|l| (l.sku.clone(), l.quantity))
            .collect();
        if lines.is_empty() {
            return Err(CoreError::validation(
                "cart",
                "the shared cart has nothing that can be bought now",
            ));
        }
        self.add_many(ctx, user_id, &shared.0, &lines).await
    }
}
