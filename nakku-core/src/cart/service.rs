//! Cart use cases. Every change and its `cart.updated` event are one transaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use sqlx::{AnyConnection, Row};

use super::events::{CartCleared, CartUpdated};
use super::*;
use crate::config::Pricing;
use crate::db::{opt_text, text, Db};
use crate::error::{CoreError, Validator};
use crate::events::bus::BoxFut;
use crate::events::{outbox, Envelope};
use crate::id::{new_id, now_ms, stable_hash};
use crate::inventory::events::Line;
use crate::ports::{AddressPort, PlacePort};
use crate::rules::{parse_code, parse_sku};
use crate::service::Service;
use crate::RequestCtx;
#[path = "checkout.rs"]
mod checkout;
pub(crate) use checkout::clear_cart;
#[path = "sharing.rs"]
mod sharing;

/// A cart as its owner (or a collaborator) sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CartView {
    pub id: Option<String>,
    pub store: Option<String>,
    pub lines: Vec<CartLine>,
    pub item_count: i64,
    pub items_paise: i64,
    /// Per line problems, keyed `items.<sku>`.
    pub problems: BTreeMap<String, Vec<String>>,
    pub share: Option<serde_json::Value>,
    pub version: i64,
    /// True for a cart seen through a share link by someone else.
    pub read_only: bool,
}

#[derive(Debug, Clone)]
struct CartRow {
    id: String,
    user_id: String,
    store: String,
    share_token: Option<String>,
    share_mode: Option<String>,
    version: i64,
}

struct Product {
    product_id: String,
    name: String,
    unit: String,
    price: i64,
    mrp: i64,
    max_per_order: Option<i64>,
    active: bool,
}

/// The product columns of a row joined to `cart_products` (none when it has no product).
fn joined_product(r: &sqlx::any::AnyRow) -> Result<Option<Product>, sqlx::Error> {
    let Some(product_id) = opt_text(r, "product_id")? else {
        return Ok(None);
    };
    Ok(Some(Product {
        product_id,
        name: text(r, "name")?,
        unit: text(r, "unit")?,
        price: r.try_get("price_paise")?,
        mrp: r.try_get("mrp_paise")?,
        max_per_order: r.try_get("max_per_order")?,
        active: r.try_get::<i64, _>("active")? != 0,
    }))
}

fn cart_from_row(r: &sqlx::any::AnyRow) -> Result<CartRow, sqlx::Error> {
    Ok(CartRow {
        id: text(r, "id")?,
        user_id: text(r, "user_id")?,
        store: text(r, "store")?,
        share_token: opt_text(r, "share_token")?,
        share_mode: opt_text(r, "share_mode")?,
        version: r.try_get("version")?,
    })
}

const CART_COLS: &str = "id, user_id, store, share_token, share_mode, version";

/// A line's product (`p`, joined by sku) and the stock at a store (binds: store, sku).
/// A cart's lines with their products and stock at its store (binds: store, cart id), in
/// one read: what the cart's answer and the checkout read (`nakku bench orders` replays it).
pub const LINES_WITH_FACTS: &str = "SELECT i.sku, i.quantity, i.price_seen_paise, p.product_id, p.name, p.unit, \
     p.price_paise, p.mrp_paise, p.max_per_order, p.active, s.available FROM cart_items i \
     LEFT JOIN cart_products p ON p.sku = i.sku \
     LEFT JOIN cart_stock s ON s.store = ? AND s.sku = i.sku \
     WHERE i.cart_id = ? ORDER BY i.created_at, i.sku";

const LINE_FACTS: &str = "p.product_id, p.name, p.unit, p.price_paise, p.mrp_paise, p.max_per_order, p.active, \
     (SELECT available FROM cart_stock WHERE store = ? AND sku = ?) AS available";

/// The shopper's live cart row at `store` (or the one used last), with `extra` columns
/// (expressions over `carts`) after [`CART_COLS`].
async fn find_cart_row(
    conn: &mut AnyConnection,
    user_id: &str,
    store: Option<&str>,
    extra: &str,
) -> Result<Option<sqlx::any::AnyRow>, sqlx::Error> {
    match store {
        Some(s) => {
            sqlx::query(&format!(
                "SELECT {CART_COLS}{extra} FROM carts WHERE user_id = ? AND store = ? AND deleted_at IS NULL"
            ))
            .bind(user_id)
            .bind(s)
            .fetch_optional(&mut *conn)
            .await
        }
        None => {
            sqlx::query(&format!(
                "SELECT {CART_COLS}{extra} FROM carts WHERE user_id = ? AND deleted_at IS NULL ORDER BY updated_at DESC, id DESC LIMIT 1"
            ))
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await
        }
    }
}

/// Carts over one database, with the user and location services for checkout.
#[derive(Clone)]
pub struct CartService {
    db: Db,
    rules: Pricing,
    addresses: Option<Arc<dyn AddressPort>>,
    places: Option<Arc<dyn PlacePort>>,
}

impl CartService {
    pub fn new(db: Db, rules: Pricing) -> Self {
        CartService {
            db,
            rules,
            addresses: None,
            places: None,
        }
    }

    /// Checkout needs the shopper's addresses and serviceability.
    pub fn with_ports(mut self, addresses: Arc<dyn AddressPort>, places: Arc<dyn PlacePort>) -> Self {
        self.addresses = Some(addresses);
        self.places = Some(places);
        self
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn rules(&self) -> &Pricing {
        &self.rules
    }

    async fn find_cart(
        &self,
        conn: &mut AnyConnection,
        user_id: &str,
        store: Option<&str>,
    ) -> Result<Option<CartRow>, CoreError> {
        let row = find_cart_row(conn, user_id, store, "").await?;
        Ok(row.map(|r| cart_from_row(&r)).transpose()?)
    }

    async fn by_token(&self, conn: &mut AnyConnection, token: &str) -> Result<CartRow, CoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CART_COLS} FROM carts WHERE share_token = ? AND deleted_at IS NULL"
        ))
        .bind(token)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CoreError::NotFound("shared cart".to_owned()))?;
        Ok(cart_from_row(&row)?)
    }

    /// Lines of a cart, each checked against prices, stock at the cart's store and limits:
    /// one read of the lines with their products and stock.
    async fn lines(&self, conn: &mut AnyConnection, cart: &CartRow) -> Result<Vec<CartLine>, CoreError> {
        let items = sqlx::query(LINES_WITH_FACTS)
            .bind(&cart.store)
            .bind(&cart.id)
            .fetch_all(&mut *conn)
            .await?;
        let mut out = Vec::with_capacity(items.len());
        for r in &items {
            let sku = text(r, "sku")?;
            let quantity: i64 = r.try_get("quantity")?;
            let seen: i64 = r.try_get("price_seen_paise")?;
            let available = r.try_get::<Option<i64>, _>("available")?.unwrap_or(0);
            let mut problems = Vec::new();
            let line = match joined_product(r)? {
                Some(p) => {
                    let limit = p.max_per_order.unwrap_or(self.rules.max_per_item);
                    if !p.active {
                        problems.push(LineProblem {
                            code: "unavailable".into(),
                            message: format!("{} is no longer sold", p.name),
                        });
                    } else if available == 0 {
                        problems.push(LineProblem {
                            code: "out_of_stock".into(),
                            message: format!("out of stock at {}", cart.store),
                        });
                    } else if available < quantity {
                        problems.push(LineProblem {
                            code: "insufficient_stock".into(),
                            message: format!("only {available} left at {}", cart.store),
                        });
                    }
                    if quantity > limit {
                        problems.push(LineProblem {
                            code: "over_limit".into(),
                            message: format!("at most {limit} per order"),
                        });
                    }
                    if p.price != seen {
                        problems.push(LineProblem {
                            code: "price_changed".into(),
                            message: format!("price changed from {} to {}", rupees(seen), rupees(p.price)),
                        });
                    }
                    CartLine {
                        sku: sku.clone(),
                        product_id: Some(p.product_id.clone()),
                        name: p.name.clone(),
                        unit: p.unit.clone(),
                        quantity,
                        unit_price_paise: p.price,
                        mrp_paise: p.mrp,
                        line_total_paise: p.price * quantity,
                        price_seen_paise: seen,
                        available,
                        max_per_order: limit,
                        problems,
                    }
                }
                None => {
                    problems.push(LineProblem {
                        code: "unavailable".into(),
                        message: "no longer in the catalogue".into(),
                    });
                    CartLine {
                        sku: sku.clone(),
                        product_id: None,
                        name: sku.clone(),
                        unit: String::new(),
                        quantity,
                        unit_price_paise: seen,
                        mrp_paise: seen,
                        line_total_paise: seen * quantity,
                        price_seen_paise: seen,
                        available,
                        max_per_order: self.rules.max_per_item,
                        problems,
                    }
                }
            };
            out.push(line);
        }
        Ok(out)
    }

    async fn view(&self, conn: &mut AnyConnection, cart: Option<CartRow>, owner: bool) -> Result<CartView, CoreError> {
        let Some(cart) = cart else {
            return Ok(CartView {
                id: None,
                store: None,
                lines: Vec::new(),
                item_count: 0,
                items_paise: 0,
                problems: BTreeMap::new(),
                share: None,
                version: 0,
                read_only: false,
            });
        };
        let lines = self.lines(conn, &cart).await?;
        let problems = line_problems(&lines);
        Ok(CartView {
            id: Some(cart.id.clone()),
            store: Some(cart.store.clone()),
            item_count: lines.iter().map(|l| l.quantity).sum(),
            items_paise: lines.iter().map(|l| l.line_total_paise).sum(),
            lines,
            problems,
            share: if owner {
                cart.share_token
                    .as_ref()
                    .map(|t| json!({"token": t, "mode": cart.share_mode, "path": format!("/api/v1/cart/shared/{t}")}))
            } else {
                None
            },
            version: cart.version,
            read_only: !owner && cart.share_mode.as_deref() != Some("edit"),
        })
    }

    /// The shopper's cart at a store (default: the one changed last).
    pub async fn get(&self, user_id: &str, store: Option<&str>) -> Result<CartView, CoreError> {
        let store = store.map(parse_store).transpose()?;
        let mut conn = self.db.pool().acquire().await?;
        let cart = self.find_cart(&mut conn, user_id, store.as_deref()).await?;
        self.view(&mut conn, cart, true).await
    }

    /// Adds units of a product (to the line if it exists).
    pub async fn add_item(&self, ctx: &RequestCtx, user_id: &str, input: ItemInput) -> Result<CartView, CoreError> {
        let (sku, qty) = check_item(input.sku, input.quantity)?;
        let store = input.store.as_deref().map(parse_store).transpose()?;
        self.change(ctx, user_id, None, store.as_deref(), &sku, Change::Add(qty))
            .await
    }

    /// Sets a line's quantity; 0 removes it.
    pub async fn set_quantity(
        &self,
        ctx: &RequestCtx,
        user_id: &str,
        sku: &str,
        input: QuantityInput,
    ) -> Result<CartView, CoreError> {
        let sku = parse_sku(sku).map_err(|m| CoreError::validation("sku", m))?;
        let mut v = Validator::new();
        let qty = v.required("quantity", input.quantity);
        v.finish()?;
        let change = set_quantity(qty)?;
        let store = input.store.as_deref().map(parse_store).transpose()?;
        self.change(ctx, user_id, None, store.as_deref(), &sku, change).await
    }

    pub async fn remove_item(
        &self,
        ctx: &RequestCtx,
        user_id: &str,
        sku: &str,
        store: Option<&str>,
    ) -> Result<CartView, CoreError> {
        let sku = parse_sku(sku).map_err(|m| CoreError::validation("sku", m))?;
        let store = store.map(parse_store).transpose()?;
        self.change(ctx, user_id, None, store.as_deref(), &sku, Change::Remove)
            .await
    }

    /// A collaborator's change through an edit-mode share link.
    pub async fn shared_change(
        &self,
        ctx: &RequestCtx,
        user_id: &str,
        token: &str,
        sku: &str,
        quantity: Option<i64>,
        add: bool,
    ) -> Result<CartView, CoreError> {
        let sku = parse_sku(sku).map_err(|m| CoreError::validation("sku", m))?;
        let change = match (quantity, add) {
            (Some(q), true) => {
                Change::Add(crate::rules::check_quantity(q).map_err(|m| CoreError::validation("quantity", m))?)
            }
            (None, true) => return Err(CoreError::validation("quantity", "is required")),
            (q, false) => set_quantity(q)?,
        };
        self.change(ctx, user_id, Some(token), None, &sku, change).await
    }

    async fn change(
        &self,
        ctx: &RequestCtx,
        user_id: &str,
        token: Option<&str>,
        store: Option<&str>,
        sku: &str,
        change: Change,
    ) -> Result<CartView, CoreError> {
        let mut tx = self.db.begin().await?;
        // The shopper's own cart at a named store: found in the same read as the line's
        // facts (its quantity, product and stock). Otherwise the cart is found first.
        let mut facts = None;
        let cart = match token {
            None if store.is_some() => {
                let row = sqlx::query(&format!(
                    "SELECT c.id, c.user_id, c.store, c.share_token, c.share_mode, c.version, \
                     (SELECT quantity FROM cart_items i WHERE i.cart_id = c.id AND i.sku = ?) AS current_quantity, {LINE_FACTS} \
                     FROM (SELECT 1 AS one) x LEFT JOIN carts c ON c.user_id = ? AND c.store = ? AND c.deleted_at IS NULL \
                     LEFT JOIN cart_products p ON p.sku = ?"
                ))
                .bind(sku)
                .bind(store)
                .bind(sku)
                .bind(user_id)
                .bind(store)
                .bind(sku)
                .fetch_one(&mut *tx)
                .await?;
                let cart = match opt_text(&row, "id")? {
                    Some(_) => Some(cart_from_row(&row)?),
                    None => None,
                };
                facts = Some(row);
                cart
            }
            Some(t) => {
                let c = self.by_token(&mut tx, t).await?;
                if c.user_id != user_id && c.share_mode.as_deref() != Some("edit") {
                    return Err(CoreError::Forbidden(
                        "this cart is shared read-only; copy it into your own cart instead".into(),
                    ));
                }
                if c.user_id != user_id {
                    let now = now_ms();
                    let joined = sqlx::query("SELECT 1 AS x FROM cart_members WHERE cart_id = ? AND user_id = ?")
                        .bind(&c.id)
                        .bind(user_id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .is_some();
                    if !joined {
                        sqlx::query("INSERT INTO cart_members (cart_id, user_id, created_at) VALUES (?, ?, ?)")
                            .bind(&c.id)
                            .bind(user_id)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                Some(c)
            }
            None => self.find_cart(&mut tx, user_id, store).await?,
        };
        let cart = match (cart, change) {
            (Some(c), _) => c,
            (None, Change::Add(_)) => {
                let Some(store) = store else {
                    return Err(CoreError::validation("store", "is required for your first item: the dark store serving you (GET /api/v1/locations/serviceability)"));
                };
                let now = now_ms();
                let c = CartRow {
                    id: new_id(),
                    user_id: user_id.to_owned(),
                    store: store.to_owned(),
                    share_token: None,
                    share_mode: None,
                    version: 1,
                };
                sqlx::query(
                    "INSERT INTO carts (id, user_id, store, version, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?)",
                )
                .bind(&c.id)
                .bind(user_id)
                .bind(store)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                c
            }
            (None, _) => return Err(CoreError::NotFound("cart".to_owned())),
        };
        // The line's quantity, its product and the store's stock, in one read (unless read
        // with the cart: a cart created just now has no lines yet).
        let facts = match facts {
            Some(f) => f,
            None => {
                sqlx::query(&format!(
                    "SELECT (SELECT quantity FROM cart_items WHERE cart_id = ? AND sku = ?) AS current_quantity, {LINE_FACTS} \
                     FROM (SELECT 1 AS one) x LEFT JOIN cart_products p ON p.sku = ?"
                ))
                .bind(&cart.id)
                .bind(sku)
                .bind(&cart.store)
                .bind(sku)
                .bind(sku)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        let current: Option<i64> = facts.try_get("current_quantity")?;
        let wanted = match change {
            Change::Add(q) => current.unwrap_or(0) + q,
            Change::Set(q) => q,
            Change::Remove => 0,
        };
        let now = now_ms();
        if wanted == 0 {
            if current.is_none() {
                return Err(CoreError::NotFound("cart item".to_owned()));
            }
            sqlx::query("DELETE FROM cart_items WHERE cart_id = ? AND sku = ?")
                .bind(&cart.id)
                .bind(sku)
                .execute(&mut *tx)
                .await?;
        } else {
            let product = joined_product(&facts)?;
            let p = product.as_ref().filter(|p| p.active).ok_or_else(|| {
                CoreError::validation("sku", format!("{sku} is not sold (unknown or discontinued product)"))
            })?;
            let limit = p.max_per_order.unwrap_or(self.rules.max_per_item);
            if wanted > limit {
                return Err(CoreError::validation(
                    "quantity",
                    format!("at most {limit} of {} per order", p.name),
                ));
            }
            let available = facts.try_get::<Option<i64>, _>("available")?.unwrap_or(0);
            if available < wanted {
                let msg = if available == 0 {
                    format!("{} is out of stock at {}", p.name, cart.store)
                } else {
                    format!("only {available} of {} left at {}", p.name, cart.store)
                };
                return Err(CoreError::validation("quantity", msg));
            }
            // Changing a line shows the shopper its current price: it becomes the price seen.
            let sql = format!(
                "INSERT INTO cart_items (cart_id, sku, quantity, price_seen_paise, added_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?){}",
                self.db.dialect().upsert("cart_id, sku", &["quantity", "price_seen_paise", "updated_at"])
            );
            sqlx::query(&sql)
                .bind(&cart.id)
                .bind(sku)
                .bind(wanted)
                .bind(p.price)
                .bind(user_id)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        let touched = CartRow {
            version: cart.version + 1,
            ..cart.clone()
        };
        let owner = cart.user_id == user_id;
        let view = self.view(&mut tx, Some(touched), owner).await?;
        // The event's lines are the view's (read after the write, in this transaction).
        let items = Line::by_sku(view.lines.iter().map(|l| (l.sku.as_str(), l.quantity)));
        self.touch_with(&mut tx, &cart, ctx, user_id, items).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Bumps the cart's version and emits `cart.updated` with its lines (by sku).
    async fn touch_with(
        &self,
        conn: &mut AnyConnection,
        cart: &CartRow,
        ctx: &RequestCtx,
        by: &str,
        items: Vec<Line>,
    ) -> Result<(), CoreError> {
        sqlx::query("UPDATE carts SET version = version + 1, updated_at = ? WHERE id = ?")
            .bind(now_ms())
            .bind(&cart.id)
            .execute(&mut *conn)
            .await?;
        let updated = CartUpdated {
            cart_id: cart.id.clone(),
            user_id: cart.user_id.clone(),
            store: cart.store.clone(),
            items,
            by: by.to_owned(),
        };
        let env = Envelope::of(Service::Cart, &cart.id, &ctx.request_id, &updated);
        outbox::append(conn, &env).await?;
        Ok(())
    }

    /// Empties the shopper's cart at a store.
    pub async fn clear(&self, ctx: &RequestCtx, user_id: &str, store: Option<&str>) -> Result<CartView, CoreError> {
        let store = store.map(parse_store).transpose()?;
        let mut tx = self.db.begin().await?;
        let cart = self
            .find_cart(&mut tx, user_id, store.as_deref())
            .await?
            .ok_or_else(|| CoreError::NotFound("cart".to_owned()))?;
        clear_cart(
            &mut tx,
            &cart.id,
            &cart.user_id,
            &cart.store,
            "cleared by the shopper",
            &ctx.request_id,
        )
        .await?;
        let view = self.view(&mut tx, Some(cart), true).await?;
        tx.commit().await?;
        Ok(view)
    }
}

#[derive(Debug, Clone, Copy)]
enum Change {
    Add(i64),
    Set(i64),
    Remove,
}

/// A line's new quantity, the owner's or a collaborator's: 0 (or none) removes it,
/// 1 to [`MAX_QUANTITY`](crate::rules::MAX_QUANTITY) sets it.
fn set_quantity(q: Option<i64>) -> Result<Change, CoreError> {
    match q {
        None | Some(0) => Ok(Change::Remove),
        Some(q) if (1..=crate::rules::MAX_QUANTITY).contains(&q) => Ok(Change::Set(q)),
        Some(_) => Err(CoreError::validation(
            "quantity",
            format!(
                "must be a whole number from 0 (remove) to {}",
                crate::rules::MAX_QUANTITY
            ),
        )),
    }
}

fn parse_store(s: &str) -> Result<String, CoreError> {
    parse_code(s).map_err(|m| CoreError::validation("store", m))
}

fn check_item(sku: Option<String>, quantity: Option<i64>) -> Result<(String, i64), CoreError> {
    let mut v = Validator::new();
    let sku = v.required("sku", sku).and_then(|s| v.check("sku", parse_sku(&s)));
    let qty = v
        .required("quantity", quantity)
        .and_then(|q| v.check("quantity", crate::rules::check_quantity(q)));
    v.finish()?;
    match (sku, qty) {
        (Some(s), Some(q)) => Ok((s, q)),
        _ => Err(CoreError::validation("sku", "is required")),
    }
}

fn line_problems(lines: &[CartLine]) -> BTreeMap<String, Vec<String>> {
    lines
        .iter()
        .filter(|l| !l.problems.is_empty())
        .map(|l| {
            (
                format!("items.{}", l.sku),
                l.problems.iter().map(|p| p.message.clone()).collect(),
            )
        })
        .collect()
}

/// The quote's fingerprint: store, address, every line's quantity and price, every fee.
pub fn quote_fingerprint(q: &Quote) -> String {
    let mut s = format!("{}|{}|", q.store, q.address.id);
    for l in &q.lines {
        s.push_str(&format!("{}:{}:{};", l.sku, l.quantity, l.unit_price_paise));
    }
    for f in &q.fees {
        s.push_str(&format!("{}:{};", f.code, f.amount_paise));
    }
    format!("{:016x}", stable_hash(s.as_bytes()))
}

fn rand_u64() -> u64 {
    let id = uuid::Uuid::new_v4();
    let (hi, lo) = id.as_u64_pair();
    hi ^ lo.rotate_left(17)
}

impl crate::ports::CartPort for CartService {
    fn checkout<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        user_id: &'a str,
        store: Option<&'a str>,
        address_id: &'a str,
    ) -> BoxFut<'a, Result<Quote, CoreError>> {
        crate::trace::as_service("cart", CartService::checkout(self, ctx, user_id, store, address_id))
    }

    fn add_lines<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        user_id: &'a str,
        store: &'a str,
        lines: Vec<(String, i64)>,
    ) -> BoxFut<'a, Result<serde_json::Value, CoreError>> {
        crate::trace::as_service("cart", async move {
            let view = self.add_many(ctx, user_id, store, &lines).await?;
            serde_json::to_value(view).map_err(|e| CoreError::Internal(e.into()))
        })
    }
}
