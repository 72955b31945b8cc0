//! Orders refused and moved by hand: bad input changes nothing; staff moves and illegal ones.

use super::*;

pub(super) async fn bad_input_is_refused_clearly_and_changes_nothing(app: TestApp) {
    let admin = shop(&app, &[("KIWI", 5_000, 3), ("PEAR", 9_000, 5)]).await;
    let (token, address) = shopper(&app, 1).await;
    let order = json!({"address_id": address, "payment_method": "upi"});
    let orders = || count(&app.order_db, "SELECT COUNT(*) AS n FROM orders");

    // Empty cart.
    let b = error_body(place(&app, &token, "k1", &order).await, 422).await;
    assert!(b["fields"]["cart"].is_array(), "{b}");
    // No key.
    let r = app.post_as("/orders", &token, &order).await;
    let b = error_body(r, 422).await;
    assert!(b["fields"]["Idempotency-Key"].is_array(), "{b}");
    // Cart limits and stock, per line.
    let b = error_body(add(&app, &token, "KIWI", 6).await, 422).await;
    assert!(b["error"].as_str().unwrap().contains("at most 5"), "{b}");
    let b = error_body(add(&app, &token, "KIWI", 4).await, 422).await;
    assert!(b["error"].as_str().unwrap().contains("only 3"), "{b}");
    let b = error_body(add(&app, &token, "NOPE", 1).await, 422).await;
    assert!(b["fields"]["sku"].is_array(), "{b}");
    let r = add(&app, &token, "KIWI", 2).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // A second add of the line adds up to what is in the cart: past the stock it is
    // refused, and the line keeps its quantity; within it, the quantities add.
    let b = error_body(add(&app, &token, "KIWI", 2).await, 422).await;
    assert!(b["error"].as_str().unwrap().contains("only 3"), "{b}");
    let cart = body(add(&app, &token, "KIWI", 1).await).await["data"].clone();
    assert_eq!(cart["lines"][0]["quantity"], 3, "{cart}");
    let r = app
        .patch_as("/cart/items/KIWI", &token, &json!({"quantity": 2, "store": STORE}))
        .await;
    assert_eq!(body(r).await["data"]["lines"][0]["quantity"], 2);
    assert_eq!(add(&app, &token, "PEAR", 1).await.status(), 200);

    // Another user's saved method.
    let (other, _) = shopper(&app, 2).await;
    let m = body(
        app.post_as(
            "/payments/methods",
            &other,
            &json!({"kind": "upi", "upi_id": "other@okaxis"}),
        )
        .await,
    )
    .await["data"]
        .clone();
    let b = error_body(
        place(
            &app,
            &token,
            "k2",
            &json!({"address_id": address, "payment_method": m["id"]}),
        )
        .await,
        422,
    )
    .await;
    assert!(b["fields"]["payment_method"].is_array(), "{b}");
    // A card number is never accepted.
    let b = error_body(
        app.post_as(
            "/payments/methods",
            &token,
            &json!({"kind": "card", "token": "4111 1111 1111 1111"}),
        )
        .await,
        422,
    )
    .await;
    assert!(b["fields"]["token"].is_array(), "{b}");
    // An address outside every zone.
    let r = app
        .post_as("/users/me/addresses", &token, &json!({"label": "Far", "line1": "1 Beach Rd", "city": "Mumbai", "pincode": "400001", "lat": 18.93, "lng": 72.83}))
        .await;
    let far = body(r).await["data"]["id"].as_str().unwrap().to_owned();
    let b = error_body(
        place(&app, &token, "k3", &json!({"address_id": far, "payment_method": "upi"})).await,
        422,
    )
    .await;
    assert!(b["fields"]["address_id"].is_array(), "{b}");

    // The price moves after the shopper added the line: shown per line, and the order
    // needs the quote that showed the new price.
    let r = app.get_as("/products?q=KIWI", &admin).await;
    let kiwi = body(r).await["data"]["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.patch_as(format!("/products/{kiwi}"), &admin, &json!({"price_paise": 5_500}))
            .await
            .status(),
        200
    );
    replica_has(&app, "KIWI", 5_500, 3).await;
    let cart = body(app.get_as("/cart", &token).await).await["data"].clone();
    let msg = cart["problems"]["items.KIWI"][0].as_str().unwrap();
    assert!(msg.contains("₹50.00") && msg.contains("₹55.00"), "{cart}");
    let b = error_body(place(&app, &token, "k4", &order).await, 422).await;
    assert!(
        b["fields"]["items.KIWI"][0].as_str().unwrap().contains("price changed"),
        "{b}"
    );

    // Out of stock between cart and checkout.
    let r = app
        .post_as(
            format!("/inventory/stores/{STORE}/stock/PEAR/adjust"),
            &admin,
            &json!({"delta": -5, "reason": "damaged"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    replica_has(&app, "PEAR", 9_000, 0).await;
    let b = error_body(place(&app, &token, "k5", &order).await, 422).await;
    assert!(
        b["fields"]["items.PEAR"][0].as_str().unwrap().contains("out of stock"),
        "{b}"
    );
    assert_eq!(orders().await, 0, "nothing was placed");
    assert_eq!(count(&app.payment_db, "SELECT COUNT(*) AS n FROM payments").await, 0);

    // With the line gone and the new price seen (quote_id), the order goes through.
    assert_eq!(
        app.delete_as(format!("/cart/items/PEAR?store={STORE}"), &token, None)
            .await
            .status(),
        200
    );
    let quote = body(app.get_as(format!("/cart/checkout?address_id={address}"), &token).await).await["data"].clone();
    assert!(quote["quote_id"].is_string(), "{quote}");
    let stale = json!({"address_id": address, "payment_method": "upi", "quote_id": "0000000000000000"});
    let b = error_body(place(&app, &token, "k6", &stale).await, 422).await;
    assert!(b["fields"]["quote_id"].is_array(), "{b}");
    let ok = json!({"address_id": address, "payment_method": "upi", "quote_id": quote["quote_id"]});
    let r = place(&app, &token, "k7", &ok).await;
    assert_eq!(r.status(), 201);
    let id = body(r).await["data"]["id"].as_str().unwrap().to_owned();
    let o = settled(&app, &token, &id).await;
    assert_eq!(o["lines"][0]["unit_price_paise"], 5_500);
    assert_eq!(o["total_paise"], quote["total_paise"]);

    // Refund above what was captured; illegal transitions; another user's order.
    let b = error_body(
        app.post_as(
            format!("/payments/orders/{id}/refunds"),
            &admin,
            &json!({"amount_paise": 10_000_000, "key": "r1"}),
        )
        .await,
        422,
    )
    .await;
    assert!(b["fields"]["amount_paise"].is_array(), "{b}");
    assert_eq!(count(&app.payment_db, "SELECT COUNT(*) AS n FROM refunds").await, 0);
    error_body(
        app.post_as(format!("/payments/orders/{id}/refunds"), &token, &json!({"key": "r1"}))
            .await,
        403,
    )
    .await;
    error_body(
        app.post_as(format!("/orders/{id}/cancel"), &other, &json!({})).await,
        404,
    )
    .await;
    let b = error_body(
        app.post_as(format!("/orders/{id}/status"), &admin, &json!({"status": "delivered"}))
            .await,
        409,
    )
    .await;
    assert!(b["error"].as_str().unwrap().contains("cannot become delivered"), "{b}");
    let b = error_body(
        app.post_as(format!("/orders/{id}/status"), &token, &json!({"status": "packed"}))
            .await,
        403,
    )
    .await;
    assert!(b["error"].is_string());
    assert_eq!(orders().await, 1);
}

pub(super) async fn staff_move_orders_to_delivery_and_illegal_moves_are_refused(app: TestApp) {
    let admin = shop(&app, &[("MANGO", 30_000, 10)]).await;
    let (token, address) = shopper(&app, 1).await;
    assert_eq!(add(&app, &token, "MANGO", 2).await.status(), 200);
    let r = place(
        &app,
        &token,
        "cod-1",
        &json!({"address_id": address, "payment_method": "cod"}),
    )
    .await;
    let id = body(r).await["data"]["id"].as_str().unwrap().to_owned();
    let o = settled(&app, &token, &id).await;
    assert_eq!(
        statuses(&o),
        ["pending", "stock_reserved", "confirmed"],
        "cash on delivery skips the charge: {o}"
    );
    assert_eq!(
        body(app.get_as(format!("/payments/orders/{id}"), &token).await).await["data"]["status"],
        "cod_pending"
    );
    // Moves the state machine does not allow are refused, naming both ends, and change nothing.
    for (to, code, says) in [
        ("delivered", 409, "an order that is confirmed cannot become delivered"),
        (
            "out_for_delivery",
            409,
            "an order that is confirmed cannot become out_for_delivery",
        ),
        // Staff set only the delivery statuses; the saga owns the rest.
        ("paid", 422, "must be packed, out_for_delivery or delivered"),
        ("pending", 422, "must be packed, out_for_delivery or delivered"),
        ("cancelled", 422, "cancel with POST /orders/{id}/cancel"),
    ] {
        let b = error_body(
            app.post_as(format!("/orders/{id}/status"), &admin, &json!({"status": to}))
                .await,
            code,
        )
        .await;
        assert!(b["error"].as_str().unwrap().contains(says), "{to}: {b}");
    }
    let o = body(app.get_as(format!("/orders/{id}"), &token).await).await["data"].clone();
    assert_eq!(statuses(&o), ["pending", "stock_reserved", "confirmed"], "{o}");
    for s in ["packed", "out_for_delivery"] {
        let r = app
            .post_as(format!("/orders/{id}/status"), &admin, &json!({"status": s}))
            .await;
        assert_eq!(r.status(), 200, "{s}");
    }
    let b = error_body(
        app.post_as(format!("/orders/{id}/status"), &admin, &json!({"status": "packed"}))
            .await,
        409,
    )
    .await;
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .contains("out for delivery cannot become packed"),
        "{b}"
    );
    let b = error_body(
        app.post_as(format!("/orders/{id}/cancel"), &token, &json!({})).await,
        409,
    )
    .await;
    assert!(b["error"].as_str().unwrap().contains("out for delivery"), "{b}");
    let b = error_body(
        app.delete_as(format!("/orders/{id}/lines/MANGO"), &token, None).await,
        409,
    )
    .await;
    assert!(b["fields"]["status"].is_array(), "{b}");
    let r = app
        .post_as(format!("/orders/{id}/status"), &admin, &json!({"status": "delivered"}))
        .await;
    let o = body(r).await["data"].clone();
    assert_eq!(o["status"], "delivered");
    assert_eq!(
        body(app.get_as(format!("/payments/orders/{id}"), &token).await).await["data"]["status"],
        "captured",
        "cash settled at the door"
    );
    let b = error_body(
        app.post_as(format!("/orders/{id}/cancel"), &token, &json!({})).await,
        409,
    )
    .await;
    assert!(b["error"].as_str().unwrap().contains("delivered"), "{b}");
    let kinds: Vec<String> = sqlx::query("SELECT event_type FROM outbox ORDER BY id")
        .fetch_all(app.order_db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>("event_type").unwrap())
        .collect();
    assert!(kinds.iter().any(|k| k == "order.completed"), "{kinds:?}");
    // Staff see every order; shoppers cannot filter by other users.
    let all = body(app.get_as(format!("/orders?store={STORE}"), &admin).await).await["data"]["items"].clone();
    assert_eq!(all.as_array().unwrap().len(), 1);
    error_body(app.get_as(format!("/orders?store={STORE}"), &token).await, 422).await;
}
