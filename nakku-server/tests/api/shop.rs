//! A shop to order from: a store with a delivery zone, products in stock there, shoppers
//! with a serviceable address, and the cart and order calls the order tests make. Shared
//! by the api tests and the GraphQL statement count (its own test binary).

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::Row;

use crate::helpers::*;

pub const STORE: &str = "ORD-1";
/// MG Road, inside the test zone.
pub const LAT: f64 = 12.9716;
pub const LNG: f64 = 77.5946;

/// A store serving a zone around MG Road, a category, and products stocked there, with
/// the cart's replicas caught up. Returns the admin token.
pub async fn shop(app: &TestApp, products: &[(&str, i64, i64)]) -> String {
    let admin = app.admin_token(9000).await;
    let r = app
        .post_as("/inventory/stores", &admin, &json!({"code": STORE, "name": "MG Road", "city": "Bengaluru", "lat": 12.975, "lng": 77.60, "opens_at": "00:00", "closes_at": "00:00"}))
        .await;
    assert_eq!(r.status(), 201);
    let zone = json!({"store": STORE, "name": "Central", "geometry": {"type": "Polygon", "coordinates": [[[77.55, 12.93], [77.65, 12.93], [77.65, 13.03], [77.55, 13.03], [77.55, 12.93]]]}});
    app.eventually(30, || async {
        let r = app.post_as("/locations/zones", &admin, &zone).await;
        (r.status() == 201).then_some(())
    })
    .await;
    let r = app.post_as("/categories", &admin, &json!({"name": "Fruit"})).await;
    assert_eq!(r.status(), 201);
    for (sku, price, stock) in products {
        let p = json!({"sku": sku, "name": format!("Fresh {sku}"), "brand": "Farm", "category": "fruit", "unit": "1 kg",
                       "mrp_paise": price + 1000, "price_paise": price, "max_per_order": 5});
        let r = app.post_as("/products", &admin, &p).await;
        assert_eq!(r.status(), 201, "{p}");
        if *stock > 0 {
            let r = app
                .post_as(
                    format!("/inventory/stores/{STORE}/stock/{sku}/restock"),
                    &admin,
                    &json!({"quantity": stock}),
                )
                .await;
            assert_eq!(r.status(), 200);
        }
    }
    for (sku, price, stock) in products {
        replica_has(app, sku, *price, *stock).await;
    }
    admin
}

/// Waits until the cart's replicas show this price and stock.
pub async fn replica_has(app: &TestApp, sku: &str, price: i64, stock: i64) {
    app.eventually(30, || async {
        let p = sqlx::query("SELECT price_paise FROM cart_products WHERE sku = ?")
            .bind(sku)
            .fetch_optional(app.cart_db.pool())
            .await
            .unwrap()
            .map(|r| r.try_get::<i64, _>("price_paise").unwrap());
        let s = sqlx::query("SELECT available FROM cart_stock WHERE store = ? AND sku = ?")
            .bind(STORE)
            .bind(sku)
            .fetch_optional(app.cart_db.pool())
            .await
            .unwrap()
            .map(|r| r.try_get::<i64, _>("available").unwrap())
            .unwrap_or(0);
        (p == Some(price) && s == stock).then_some(())
    })
    .await;
}

/// A signed-up shopper with a serviceable address: (token, address id).
pub async fn shopper(app: &TestApp, tag: u32) -> (String, String) {
    shopper_at(app, tag, LAT, LNG).await
}

/// A shopper with a serviceable address at `(lat, lng)`: (token, address id).
pub async fn shopper_at(app: &TestApp, tag: u32, lat: f64, lng: f64) -> (String, String) {
    let (_, token) = app.signed_up(tag).await;
    let r = app
        .post_as("/users/me/addresses", &token, &json!({"label": "Home", "line1": "12 MG Road", "city": "Bengaluru", "pincode": "560001", "lat": lat, "lng": lng}))
        .await;
    assert_eq!(r.status(), 201);
    let a = body(r).await["data"].clone();
    assert_eq!(a["serviceable"], true, "{a}");
    (token, a["id"].as_str().unwrap().to_owned())
}

pub async fn add(app: &TestApp, token: &str, sku: &str, qty: i64) -> reqwest::Response {
    app.post_as(
        "/cart/items",
        token,
        &json!({"sku": sku, "quantity": qty, "store": STORE}),
    )
    .await
}

pub async fn place(app: &TestApp, token: &str, key: &str, body: &Value) -> reqwest::Response {
    app.as_user(reqwest::Method::POST, "/orders", token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Waits until the order's saga has finished; returns the order.
pub async fn settled(app: &TestApp, token: &str, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = app.get_as(format!("/orders/{id}"), token).await;
        let status = r.status();
        let b = body(r).await;
        if b["data"]["saga"]["state"] == "done" {
            return b["data"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "saga of {id} not finished within 60 s; last answer {status}: {b}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
