//! The inventory service through the gateway: stores, live stock, movements, reservations,
//! alerts.

use serde_json::{json, Value};

use crate::helpers::*;

crate::on_both_backends!(
    an_admin_creates_stores_and_restocks_and_anyone_reads_live_stock,
    bad_input_is_refused_naming_the_problem_and_changes_nothing,
    sixty_four_concurrent_reservations_for_the_last_ten_units_reserve_exactly_ten,
    reservations_are_idempotent_confirm_sells_and_release_gives_stock_back,
    an_expired_reservation_returns_its_stock,
    low_stock_fires_once_per_crossing_and_rearms_after_restock,
);

async fn create_store(app: &TestApp, admin: &str, code: &str) -> Value {
    let r = app
        .post_as(
            "/inventory/stores",
            admin,
            &json!({"code": code, "name": "Koramangala 5th Block", "city": "Bengaluru", "lat": 12.9352, "lng": 77.6245, "opens_at": "06:00", "closes_at": "23:30"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    body(r).await["data"].clone()
}

async fn restock(app: &TestApp, admin: &str, store: &str, sku: &str, qty: i64) -> Value {
    let r = app
        .post_as(
            format!("/inventory/stores/{store}/stock/{sku}/restock"),
            admin,
            &json!({"quantity": qty}),
        )
        .await;
    assert_eq!(r.status(), 200, "restock");
    body(r).await["data"].clone()
}

async fn reserve(app: &TestApp, admin: &str, order: &str, store: &str, lines: Value) -> Value {
    let r = app
        .post_as(
            "/inventory/reservations",
            admin,
            &json!({"order_id": order, "store": store, "lines": lines}),
        )
        .await;
    assert!(
        r.status() == 201 || r.status() == 200,
        "reserve {order}: {}",
        r.status()
    );
    body(r).await["data"].clone()
}

async fn level(app: &TestApp, store: &str, sku: &str) -> Value {
    let r = app
        .client
        .get(app.api(&format!("/inventory/stores/{store}/stock?skus={sku}")))
        .send()
        .await
        .unwrap();
    body(r).await["data"]["items"][0].clone()
}

async fn reconciled(app: &TestApp, admin: &str, store: &str) {
    let b = body(app.get_as(format!("/inventory/stores/{store}/reconcile"), admin).await).await;
    assert_eq!(b["data"]["reconciled"], true, "ledger reconciles: {b}");
}

async fn an_admin_creates_stores_and_restocks_and_anyone_reads_live_stock(app: TestApp) {
    let admin = app.admin_token(1).await;
    let store = create_store(&app, &admin, "blr-kor-01").await;
    assert_eq!(store["code"], "BLR-KOR-01");
    assert_eq!(store["opens_at"], "06:00");
    restock(&app, &admin, "BLR-KOR-01", "MILK-1L", 20).await;
    restock(&app, &admin, store["id"].as_str().unwrap(), "MILK-1L", 5).await;
    // The longest sku allowed (64 characters) restocks too: its events' aggregate id
    // (store id + sku) is longer than 64 characters (it failed on MySQL once).
    let long = "L".repeat(64);
    let level = restock(&app, &admin, "BLR-KOR-01", &long, 3).await;
    assert_eq!(level["available"], 3, "{level}");

    // Public, one call for several skus; an unstocked sku is reported, not an error.
    let r = app
        .client
        .get(app.api("/inventory/stores/BLR-KOR-01/stock?skus=MILK-1L,BREAD-400G"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let items = body(r).await["data"]["items"].clone();
    assert_eq!(items[0]["available"], 25);
    assert_eq!(items[0]["in_stock"], true);
    assert_eq!(items[1]["tracked"], false);
    assert_eq!(items[1]["available"], 0);

    let r = app
        .post_as(
            "/inventory/stores/BLR-KOR-01/stock/MILK-1L/adjust",
            &admin,
            &json!({"delta": -2, "reason": "damaged", "note": "crushed crate"}),
        )
        .await;
    assert_eq!(body(r).await["data"]["on_hand"], 23);
    let ledger = body(
        app.get_as("/inventory/stores/BLR-KOR-01/stock/MILK-1L/ledger", &admin)
            .await,
    )
    .await;
    let reasons: Vec<&str> = ledger["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["restock", "restock", "damaged"]);
    reconciled(&app, &admin, "BLR-KOR-01").await;

    // Roles and unknowns.
    let (_, shopper) = app.signed_up(2).await;
    error_body(
        app.post_as(
            "/inventory/stores/BLR-KOR-01/stock/MILK-1L/restock",
            &shopper,
            &json!({"quantity": 1}),
        )
        .await,
        403,
    )
    .await;
    error_body(
        app.client
            .post(app.api("/inventory/stores/BLR-KOR-01/stock/MILK-1L/restock"))
            .json(&json!({"quantity": 1}))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    error_body(
        app.client
            .get(app.api("/inventory/stores/NOWHERE/stock?skus=MILK-1L"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    error_body(
        app.client
            .get(app.api("/inventory/stores/BLR-KOR-01/stock/NOPE"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    let health = body(
        app.client
            .get(format!("{}/health", app.inventory))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(health["data"]["service"], "inventory");
    assert_eq!(health["data"]["checks"]["database"]["status"], "up");
    let list = body(app.get_as("/inventory/stores", &admin).await).await;
    assert_eq!(list["data"]["items"].as_array().unwrap().len(), 1);
    // Back-in-stock requests only for what is out.
    error_body(
        app.post_as("/inventory/stores/BLR-KOR-01/stock/MILK-1L/watch", &shopper, &json!({}))
            .await,
        409,
    )
    .await;
}

async fn bad_input_is_refused_naming_the_problem_and_changes_nothing(app: TestApp) {
    let admin = app.admin_token(1).await;
    let bad =
        json!({"code": "BLR-1", "name": "X", "city": "Bengaluru", "lat": 200.0, "lng": 77.6, "opens_at": "25:00"});
    let b = error_body(app.post_as("/inventory/stores", &admin, &bad).await, 422).await;
    assert!(
        b["fields"]["lat"].is_array() && b["fields"]["opens_at"].is_array(),
        "{b}"
    );
    create_store(&app, &admin, "BLR-1").await;
    error_body(
        app.post_as(
            "/inventory/stores",
            &admin,
            &json!({"code": "blr-1", "name": "Y", "city": "B", "lat": 1.0, "lng": 1.0}),
        )
        .await,
        409,
    )
    .await;
    for q in [json!(0), json!(-5), json!(1_000_000)] {
        let b = error_body(
            app.post_as(
                "/inventory/stores/BLR-1/stock/EGG-6/restock",
                &admin,
                &json!({"quantity": q}),
            )
            .await,
            422,
        )
        .await;
        assert!(b["fields"]["quantity"].is_array(), "{b}");
    }
    let b = error_body(
        app.post_as(
            "/inventory/stores/BLR-1/stock/bad%20sku/restock",
            &admin,
            &json!({"quantity": 1}),
        )
        .await,
        422,
    )
    .await;
    assert!(b["fields"]["sku"].is_array(), "{b}");
    restock(&app, &admin, "BLR-1", "EGG-6", 3).await;
    reserve(&app, &admin, "o-1", "BLR-1", json!([{"sku": "EGG-6", "quantity": 2}])).await;
    // Cannot adjust away reserved units.
    error_body(
        app.post_as(
            "/inventory/stores/BLR-1/stock/EGG-6/adjust",
            &admin,
            &json!({"delta": -2, "reason": "damaged"}),
        )
        .await,
        409,
    )
    .await;
    let b = error_body(
        app.post_as(
            "/inventory/stores/BLR-1/stock/EGG-6/adjust",
            &admin,
            &json!({"delta": -1, "reason": "lost"}),
        )
        .await,
        422,
    )
    .await;
    assert!(b["fields"]["reason"].is_array());
    let b = error_body(
        app.post_as(
            "/inventory/reservations",
            &admin,
            &json!({"order_id": "o-2", "store": "BLR-1", "lines": [{"sku": "EGG-6", "quantity": -1}]}),
        )
        .await,
        422,
    )
    .await;
    assert!(b["fields"]["lines[0].quantity"].is_array(), "{b}");
    let b = error_body(
        app.post_as(
            "/inventory/reservations",
            &admin,
            &json!({"order_id": "o-3", "store": "BLR-1", "lines": []}),
        )
        .await,
        422,
    )
    .await;
    assert!(b["fields"]["lines"].is_array());
    error_body(
        app.post_as(
            "/inventory/reservations",
            &admin,
            &json!({"order_id": "o-4", "store": "NOPE", "lines": [{"sku": "EGG-6", "quantity": 1}]}),
        )
        .await,
        404,
    )
    .await;
    let l = level(&app, "BLR-1", "EGG-6").await;
    assert_eq!(
        (l["on_hand"].as_i64(), l["reserved"].as_i64()),
        (Some(3), Some(2)),
        "nothing changed: {l}"
    );
    reconciled(&app, &admin, "BLR-1").await;
}

async fn sixty_four_concurrent_reservations_for_the_last_ten_units_reserve_exactly_ten(app: TestApp) {
    let admin = app.admin_token(1).await;
    create_store(&app, &admin, "HOT-1").await;
    restock(&app, &admin, "HOT-1", "MANGO-1KG", 10).await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (client, url, admin) = (app.client.clone(), app.api("/inventory/reservations"), admin.clone());
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(admin)
                .json(&json!({"order_id": format!("race-{i}"), "store": "HOT-1", "lines": [{"sku": "MANGO-1KG", "quantity": 1}]}))
                .send()
                .await
                .unwrap();
            let b: Value = r.json().await.unwrap();
            b["data"]["status"].as_str().unwrap_or("error").to_owned()
        }));
    }
    let mut held = 0;
    let mut failed = 0;
    for t in tasks {
        match t.await.unwrap().as_str() {
            "held" => held += 1,
            "failed" => failed += 1,
            other => panic!("unexpected outcome {other}"),
        }
    }
    assert_eq!((held, failed), (10, 54));
    let l = level(&app, "HOT-1", "MANGO-1KG").await;
    assert_eq!(
        (l["on_hand"].as_i64(), l["reserved"].as_i64(), l["available"].as_i64()),
        (Some(10), Some(10), Some(0))
    );
    reconciled(&app, &admin, "HOT-1").await;
    assert_eq!(app.inventory_events("inventory.reserved").await.len(), 10);
    assert_eq!(app.inventory_events("inventory.reservation_failed").await.len(), 54);
    let m = app
        .client
        .get(format!("{}/metrics", app.inventory))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("nakku_inventory_reservations_total{status=\"held\"}"), "{m}");
    assert!(m.contains("nakku_inventory_reservation_batch_size"), "{m}");
}

async fn reservations_are_idempotent_confirm_sells_and_release_gives_stock_back(app: TestApp) {
    let admin = app.admin_token(1).await;
    create_store(&app, &admin, "IDEM-1").await;
    restock(&app, &admin, "IDEM-1", "A", 5).await;
    restock(&app, &admin, "IDEM-1", "B", 5).await;
    let lines = json!([{"sku": "B", "quantity": 1}, {"sku": "A", "quantity": 2}]);
    let first = reserve(&app, &admin, "ord-1", "IDEM-1", lines.clone()).await;
    assert_eq!(first["status"], "held");
    let again = reserve(&app, &admin, "ord-1", "IDEM-1", lines).await;
    assert_eq!(again["id"], first["id"], "same order, same reservation");
    assert_eq!(level(&app, "IDEM-1", "A").await["available"], 3);

    let r = app
        .post_as("/inventory/reservations/ord-1/confirm", &admin, &json!({}))
        .await;
    assert_eq!(body(r).await["data"]["status"], "confirmed");
    let r = app
        .post_as("/inventory/reservations/ord-1/confirm", &admin, &json!({}))
        .await;
    assert_eq!(r.status(), 200, "confirm is idempotent");
    let a = level(&app, "IDEM-1", "A").await;
    assert_eq!((a["on_hand"].as_i64(), a["reserved"].as_i64()), (Some(3), Some(0)));

    // A cancelled order after payment: the units go back on the shelf.
    let r = app
        .post_as(
            "/inventory/reservations/ord-1/release",
            &admin,
            &json!({"reason": "order cancelled"}),
        )
        .await;
    assert_eq!(body(r).await["data"]["status"], "released");
    assert_eq!(level(&app, "IDEM-1", "A").await["on_hand"], 5);
    let r = app
        .post_as("/inventory/reservations/ord-1/release", &admin, &json!({}))
        .await;
    assert_eq!(body(r).await["data"]["status"], "released", "release is idempotent");
    assert_eq!(level(&app, "IDEM-1", "A").await["on_hand"], 5);

    // Too much: a failed reservation that names the short sku, also idempotent.
    let failed = reserve(
        &app,
        &admin,
        "ord-2",
        "IDEM-1",
        json!([{"sku": "A", "quantity": 4}, {"sku": "B", "quantity": 9}]),
    )
    .await;
    assert_eq!(failed["status"], "failed");
    assert!(failed["reason"].as_str().unwrap().contains("B"), "{failed}");
    assert_eq!(level(&app, "IDEM-1", "A").await["available"], 5, "all or nothing");
    restock(&app, &admin, "IDEM-1", "B", 10).await;
    let again = reserve(
        &app,
        &admin,
        "ord-2",
        "IDEM-1",
        json!([{"sku": "A", "quantity": 4}, {"sku": "B", "quantity": 9}]),
    )
    .await;
    assert_eq!(again["status"], "failed", "the first answer stands for this order id");
    error_body(
        app.post_as("/inventory/reservations/ord-2/confirm", &admin, &json!({}))
            .await,
        409,
    )
    .await;
    error_body(app.get_as("/inventory/reservations/nope", &admin).await, 404).await;
    reconciled(&app, &admin, "IDEM-1").await;
}

async fn an_expired_reservation_returns_its_stock(app: TestApp) {
    let admin = app.admin_token(1).await;
    create_store(&app, &admin, "EXP-1").await;
    restock(&app, &admin, "EXP-1", "CURD-400G", 4).await;
    let r = app
        .post_as("/inventory/reservations", &admin, &json!({"order_id": "slow-1", "store": "EXP-1", "lines": [{"sku": "CURD-400G", "quantity": 3}], "ttl_secs": 1}))
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(body(r).await["data"]["status"], "held");
    // While it is held the three units are out of the available stock. The hold lasts a
    // second, so the level is read first and counts only if the hold was still there after.
    let available = level(&app, "EXP-1", "CURD-400G").await["available"].clone();
    let b = body(app.get_as("/inventory/reservations/slow-1", &admin).await).await;
    if b["data"]["status"] == "held" {
        assert_eq!(available, 1);
    }
    let status = app
        .eventually(15, || async {
            let b = body(app.get_as("/inventory/reservations/slow-1", &admin).await).await;
            let status = b["data"]["status"].as_str()?;
            (status != "held").then(|| b["data"]["status"].clone())
        })
        .await;
    assert_eq!(status, "expired");
    assert_eq!(level(&app, "EXP-1", "CURD-400G").await["available"], 4);
    error_body(
        app.post_as("/inventory/reservations/slow-1/confirm", &admin, &json!({}))
            .await,
        409,
    )
    .await;
    reconciled(&app, &admin, "EXP-1").await;
}

async fn low_stock_fires_once_per_crossing_and_rearms_after_restock(app: TestApp) {
    let admin = app.admin_token(1).await;
    let (shopper_id, shopper) = app.signed_up(2).await;
    create_store(&app, &admin, "LOW-1").await;
    let r = app
        .client
        .put(app.api("/inventory/stores/LOW-1/stock/TEA-250G"))
        .bearer_auth(&admin)
        .json(&json!({"low_threshold": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Out of stock: a shopper asks to be told.
    let r = app
        .post_as("/inventory/stores/LOW-1/stock/TEA-250G/watch", &shopper, &json!({}))
        .await;
    assert_eq!(r.status(), 201);
    restock(&app, &admin, "LOW-1", "TEA-250G", 10).await;
    let back = app.inventory_events("inventory.back_in_stock").await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].envelope.payload["notify_users"], json!([shopper_id]));

    let low = || async { app.inventory_events("inventory.low_stock").await.len() };
    reserve(
        &app,
        &admin,
        "l-1",
        "LOW-1",
        json!([{"sku": "TEA-250G", "quantity": 3}]),
    )
    .await; // 7 left
    assert_eq!(low().await, 0);
    reserve(
        &app,
        &admin,
        "l-2",
        "LOW-1",
        json!([{"sku": "TEA-250G", "quantity": 3}]),
    )
    .await; // 4: crosses
    assert_eq!(low().await, 1);
    reserve(
        &app,
        &admin,
        "l-3",
        "LOW-1",
        json!([{"sku": "TEA-250G", "quantity": 1}]),
    )
    .await; // 3: still low
    assert_eq!(low().await, 1, "once per crossing, not per update");
    let items = body(app.get_as("/inventory/stores/LOW-1/low-stock", &admin).await).await;
    assert_eq!(items["data"]["items"][0]["sku"], "TEA-250G");
    restock(&app, &admin, "LOW-1", "TEA-250G", 10).await; // 13: re-armed
    assert_eq!(low().await, 1);
    reserve(
        &app,
        &admin,
        "l-4",
        "LOW-1",
        json!([{"sku": "TEA-250G", "quantity": 9}]),
    )
    .await; // 4: crosses again
    assert_eq!(low().await, 2);
    reserve(
        &app,
        &admin,
        "l-5",
        "LOW-1",
        json!([{"sku": "TEA-250G", "quantity": 4}]),
    )
    .await; // 0
    assert_eq!(app.inventory_events("inventory.out_of_stock").await.len(), 1);
    assert!(
        body(app.get_as("/inventory/stores/LOW-1/low-stock", &admin).await).await["data"]["items"][0]["available"] == 0
    );
    reconciled(&app, &admin, "LOW-1").await;
}
