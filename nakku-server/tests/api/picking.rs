//! Dark-store fulfilment: a picker gets the order, walks the pick list in bin order, a
//! missing item is substituted or refunded by the shopper's preference, the rider waits for
//! the packing, and the saga refunds the difference and corrects the stock. Capacity caps
//! stretch the promise, then stop orders, and say so in the checkout and the catalogue.

use serde_json::{json, Value};

use crate::helpers::*;

mod sqlite_embedded {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_picker_packs_an_order_with_a_substitute_and_a_refund_and_the_saga_settles_it() {
        super::a_picker_packs_an_order_with_a_substitute_and_a_refund_and_the_saga_settles_it(
            crate::helpers::Backend::Sqlite,
        )
        .await
    }
}

mod mysql_kafka {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs NAKKU_TEST_MYSQL_URL and NAKKU_TEST_KAFKA_BROKERS"]
    async fn a_picker_packs_an_order_with_a_substitute_and_a_refund_and_the_saga_settles_it() {
        super::a_picker_packs_an_order_with_a_substitute_and_a_refund_and_the_saga_settles_it(
            crate::helpers::Backend::MySql,
        )
        .await
    }
}

/// An account registered as a picker at the test store, on shift: its token.
pub(crate) async fn picker(app: &TestApp, admin: &str, tag: u32) -> String {
    let (id, token) = app.signed_up(tag).await;
    app.eventually(30, || async {
        let r = app
            .as_user(reqwest::Method::PUT, &format!("/deliveries/pickers/{id}"), admin)
            .json(&json!({"store": crate::orders::STORE, "name": format!("Picker {tag}")}))
            .send()
            .await
            .unwrap();
        (r.status() == 200).then_some(())
    })
    .await;
    let r = app
        .post_as("/deliveries/pickers/me/shift", &token, &json!({"on": true}))
        .await;
    assert_eq!(r.status(), 200);
    token
}

pub(crate) async fn record(app: &TestApp, token: &str, id: &str, sku: &str, b: Value) -> reqwest::Response {
    app.post_as(&format!("/deliveries/picks/{id}/lines/{sku}"), token, &b)
        .await
}

async fn a_picker_packs_an_order_with_a_substitute_and_a_refund_and_the_saga_settles_it(backend: Backend) {
    use crate::delivery::{order_status, rider};
    use crate::orders::{add, level, place, reconciled, settled, shop, shopper, topology, STORE};
    let app = topology(backend, &[]).await;
    let admin = shop(
        &app,
        &[
            ("MILK", 3_000, 10),
            ("TONED", 2_800, 5),
            ("BREAD", 4_000, 10),
            ("EGGS", 6_000, 10),
        ],
    )
    .await;
    let (token, address) = shopper(&app, 1).await;
    let rider_token = rider(&app, &admin, 51, 12.975, 77.60).await;
    let r = app
        .as_user(
            reqwest::Method::PUT,
            &format!("/deliveries/stores/{STORE}/bins"),
            &admin,
        )
        .json(&json!({"bins": {"EGGS": "a-01", "MILK": "B-02", "BREAD": "C-01"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    for (sku, n) in [("MILK", 2), ("BREAD", 1), ("EGGS", 1)] {
        assert_eq!(add(&app, &token, sku, n).await.status(), 200);
    }
    let r = place(
        &app,
        &token,
        "pick-1",
        &json!({"address_id": address, "payment_method": "upi"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let id = body(r).await["data"]["id"].as_str().unwrap().to_owned();
    let placed = settled(&app, &token, &id).await;
    assert_eq!(placed["status"], "confirmed");
    let total = placed["total_paise"].as_i64().unwrap();

    // A picker comes on shift and is given the order; the list runs in bin order, and the
    // missing milk would be replaced by the cheaper toned milk.
    let picker_token = picker(&app, &admin, 61).await;
    let list = app
        .eventually(30, || async {
            let mine =
                body(app.get_as("/deliveries/pickers/me/picks", &picker_token).await).await["data"]["items"].clone();
            let l = mine.get(0).cloned()?;
            (l["lines"][1]["suggested_substitute"]["sku"] == "TONED").then_some(l)
        })
        .await;
    assert_eq!(list["order_id"], id.as_str());
    assert_eq!(list["status"], "picking");
    let order: Vec<&str> = list["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["sku"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["EGGS", "MILK", "BREAD"], "bin order");
    assert_eq!(list["lines"][0]["bin"], "A-01");
    // The shopper cannot see the pick list; nobody else's picker can work on it.
    assert_eq!(
        app.get_as(format!("/deliveries/picks/{id}"), &token).await.status(),
        404
    );

    // The rider is assigned but cannot take an order not packed yet.
    app.eventually(30, || async {
        let d = body(app.get_as(format!("/deliveries/{id}"), &token).await).await["data"].clone();
        (d["status"] == "assigned").then_some(())
    })
    .await;
    let r = app
        .post_as(&format!("/deliveries/{id}/pickup"), &rider_token, &json!({}))
        .await;
    assert_eq!(r.status(), 409);

    // Bad input changes nothing.
    assert_eq!(
        record(&app, &picker_token, &id, "EGGS", json!({"picked": 2}))
            .await
            .status(),
        422
    );
    assert_eq!(record(&app, &picker_token, &id, "EGGS", json!({})).await.status(), 422);
    assert_eq!(
        record(
            &app,
            &picker_token,
            &id,
            "MILK",
            json!({"picked": 1, "substitute_sku": "EGGS"})
        )
        .await
        .status(),
        422,
        "a dearer item is no substitute"
    );
    assert_eq!(
        record(&app, &token, &id, "EGGS", json!({"picked": 1})).await.status(),
        404
    );

    assert_eq!(
        record(&app, &picker_token, &id, "EGGS", json!({"picked": 1}))
            .await
            .status(),
        200
    );
    let r = record(&app, &picker_token, &id, "MILK", json!({"picked": 1})).await;
    assert_eq!(r.status(), 200);
    let l = body(r).await["data"]["lines"][1].clone();
    assert_eq!(
        (&l["outcome"], &l["substitute"]["sku"], &l["refund_paise"]),
        (&json!("substituted"), &json!("TONED"), &json!(200)),
        "{l}"
    );
    // Packing with a line left is refused, naming it.
    let r = app
        .post_as(&format!("/deliveries/picks/{id}/pack"), &picker_token, &json!({}))
        .await;
    assert_eq!(r.status(), 409);
    assert!(body(r).await["fields"]["lines"][0].as_str().unwrap().contains("BREAD"));
    // No bread on the shelf and nothing like it at the price: refunded.
    let r = record(&app, &picker_token, &id, "BREAD", json!({"picked": 0})).await;
    let l = body(r).await["data"]["lines"][2].clone();
    assert_eq!(
        (&l["outcome"], &l["refund_paise"]),
        (&json!("short"), &json!(4_000)),
        "{l}"
    );
    let r = app
        .post_as(&format!("/deliveries/picks/{id}/pack"), &picker_token, &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let packed = body(r).await["data"].clone();
    assert_eq!(
        (&packed["status"], &packed["refund_paise"]),
        (&json!("packed"), &json!(4_200))
    );
    assert!(packed["timers"]["pick_minutes"].is_number(), "{packed}");

    // The order: packed, lines changed, 42 rupees refunded through the saga.
    order_status(&app, &token, &id, "packed").await;
    let o = app
        .eventually(30, || async {
            let o = body(app.get_as(format!("/orders/{id}"), &token).await).await["data"].clone();
            o["picking"]["applied_at"].is_string().then_some(o)
        })
        .await;
    assert_eq!(o["refunded_paise"], 4_200, "{o}");
    assert_eq!(o["total_paise"].as_i64().unwrap(), total - 4_200);
    let line = |sku: &str| {
        o["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["sku"] == sku)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        (&line("MILK")["quantity"], &line("MILK")["status"]),
        (&json!(1), &json!("active"))
    );
    assert_eq!(
        (&line("TONED")["quantity"], &line("TONED")["status"]),
        (&json!(1), &json!("substitute"))
    );
    assert_eq!(line("BREAD")["status"], "short");
    let p = body(app.get_as(format!("/payments/orders/{id}"), &token).await).await["data"].clone();
    assert_eq!(p["refunded_paise"], 4_200, "{p}");
    // Stock: the toned milk went out, the bread shelf was found empty.
    app.eventually(30, || async {
        (level(&app, "TONED").await["available"] == 4 && level(&app, "BREAD").await["available"] == 0).then_some(())
    })
    .await;
    reconciled(&app, &admin).await;

    // Now the rider takes it; delivery completes the order.
    assert_eq!(
        app.post_as(&format!("/deliveries/{id}/pickup"), &rider_token, &json!({}))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post_as(&format!("/deliveries/{id}/start"), &rider_token, &json!({}))
            .await
            .status(),
        200
    );
    let otp = body(app.get_as(format!("/deliveries/{id}"), &token).await).await["data"]["otp"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post_as(&format!("/deliveries/{id}/deliver"), &rider_token, &json!({"otp": otp}))
        .await;
    assert_eq!(r.status(), 200);
    order_status(&app, &token, &id, "delivered").await;
    // Every leg in the store is reported.
    let perf = body(
        app.get_as(format!("/deliveries/performance?store={STORE}"), &admin)
            .await,
    )
    .await["data"]
        .clone();
    assert!(perf["items"][0]["store_legs"]["pick"]["p50"].is_number(), "{perf}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_capacity_a_store_promises_later_then_stops_taking_orders_until_staff_join() {
    use crate::delivery::rider;
    use crate::orders::{add, place, settled, shop, shopper, topology, LAT, LNG, STORE};
    let app = topology(Backend::Sqlite, &[]).await;
    let admin = shop(&app, &[("MANGO", 10_000, 100)]).await;
    // One picker and one rider on shift: five orders per five minutes.
    let _picker = picker(&app, &admin, 61).await;
    let _rider = rider(&app, &admin, 51, 12.975, 77.60).await;
    let service = || async {
        body(
            app.client
                .get(app.api(&format!("/locations/serviceability?lat={LAT}&lng={LNG}")))
                .send()
                .await
                .unwrap(),
        )
        .await["data"]
            .clone()
    };
    let usual = service().await["eta_minutes"].as_i64().unwrap();
    let mut n = 0;
    let mut order = |tag: u32| {
        n += 1;
        let key = format!("cap-{n}");
        let app = &app;
        async move {
            let (token, address) = shopper(app, tag).await;
            assert_eq!(add(app, &token, "MANGO", 1).await.status(), 200);
            let r = place(
                app,
                &token,
                &key,
                &json!({"address_id": address, "payment_method": "cod"}),
            )
            .await;
            assert_eq!(r.status(), 201);
            let id = body(r).await["data"]["id"].as_str().unwrap().to_owned();
            assert_eq!(settled(app, &token, &id).await["status"], "confirmed");
        }
    };
    for tag in 1..=5 {
        order(tag).await;
    }
    // At the cap: busy, the promise stretches and the shopper is told.
    let busy = app
        .eventually(30, || async {
            let s = service().await;
            (s["store"]["load"] == "busy").then_some(s)
        })
        .await;
    assert!(busy["eta_minutes"].as_i64().unwrap() > usual, "{busy}");
    assert!(busy["message"].as_str().unwrap().contains("busy"), "{busy}");
    for tag in 6..=8 {
        order(tag).await;
    }
    // Half as much again: paused. Checkout refuses, the catalogue says so.
    let paused = app
        .eventually(30, || async {
            let s = service().await;
            (s["reason"] == "paused").then_some(s)
        })
        .await;
    assert_eq!(paused["serviceable"], false);
    let (late, address) = shopper(&app, 20).await;
    assert_eq!(add(&app, &late, "MANGO", 1).await.status(), 200);
    let r = place(
        &app,
        &late,
        "cap-late",
        &json!({"address_id": address, "payment_method": "cod"}),
    )
    .await;
    assert_eq!(r.status(), 422);
    let why = body(r).await["fields"]["address_id"][0].as_str().unwrap().to_owned();
    assert!(why.contains("not taking new orders"), "{why}");
    app.eventually(30, || async {
        let s = body(
            app.client
                .get(app.api(&format!("/products?store={STORE}")))
                .send()
                .await
                .unwrap(),
        )
        .await["data"]["store_status"]
            .clone();
        (s["taking_orders"] == false && s["load"] == "paused").then_some(())
    })
    .await;
    let load = body(app.get_as(format!("/deliveries/stores/{STORE}/load"), &admin).await).await["data"].clone();
    assert_eq!(
        (&load["orders_window"], &load["capacity"]),
        (&json!(8), &json!(5)),
        "{load}"
    );

    // A second picker and rider join: capacity doubles, the store takes orders again.
    let _p2 = picker(&app, &admin, 62).await;
    let _r2 = rider(&app, &admin, 52, 12.975, 77.60).await;
    app.eventually(30, || async { (service().await["serviceable"] == true).then_some(()) })
        .await;
    let r = place(
        &app,
        &late,
        "cap-late-2",
        &json!({"address_id": address, "payment_method": "cod"}),
    )
    .await;
    assert_eq!(r.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cash_order_refunded_at_picking_collects_less_at_the_door() {
    use crate::delivery::{order_status, rider};
    use crate::orders::{add, place, settled, shop, shopper, topology};
    let app = topology(Backend::Sqlite, &[]).await;
    let admin = shop(&app, &[("MILK", 3_000, 10), ("TONED", 2_800, 5), ("EGGS", 6_000, 10)]).await;
    let (token, address) = shopper(&app, 1).await;
    let rider_token = rider(&app, &admin, 51, 12.975, 77.60).await;
    assert_eq!(add(&app, &token, "MILK", 2).await.status(), 200);
    assert_eq!(add(&app, &token, "EGGS", 1).await.status(), 200);
    let b = json!({"address_id": address, "payment_method": "cod", "substitution": "refund"});
    let r = place(&app, &token, "cod-pick", &b).await;
    assert_eq!(r.status(), 201);
    let id = body(r).await["data"]["id"].as_str().unwrap().to_owned();
    let total = settled(&app, &token, &id).await["total_paise"].as_i64().unwrap();

    let picker_token = picker(&app, &admin, 61).await;
    app.eventually(30, || async {
        let mine = body(app.get_as("/deliveries/pickers/me/picks", &picker_token).await).await["data"]["items"].clone();
        (mine[0]["order_id"] == id.as_str()).then_some(())
    })
    .await;
    // The shopper wants refunds, not substitutes.
    let r = record(
        &app,
        &picker_token,
        &id,
        "MILK",
        json!({"picked": 1, "substitute_sku": "TONED"}),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        record(&app, &picker_token, &id, "MILK", json!({"picked": 1}))
            .await
            .status(),
        200
    );
    assert_eq!(
        record(&app, &picker_token, &id, "EGGS", json!({"picked": 1}))
            .await
            .status(),
        200
    );
    let r = app
        .post_as(&format!("/deliveries/picks/{id}/pack"), &picker_token, &json!({}))
        .await;
    assert_eq!(body(r).await["data"]["refund_paise"], 3_000);

    // 30 rupees less to collect; nothing refunded (nothing was paid).
    app.eventually(30, || async {
        let o = body(app.get_as(format!("/orders/{id}"), &token).await).await["data"].clone();
        (o["picking"]["applied_at"].is_string() && o["saga"]["state"] == "done").then_some(())
    })
    .await;
    let o = body(app.get_as(format!("/orders/{id}"), &token).await).await["data"].clone();
    assert_eq!(
        (o["total_paise"].as_i64().unwrap(), &o["refunded_paise"]),
        (total - 3_000, &json!(0)),
        "{o}"
    );
    let p = body(app.get_as(format!("/payments/orders/{id}"), &token).await).await["data"].clone();
    assert_eq!(
        (p["amount_paise"].as_i64().unwrap(), &p["status"]),
        (total - 3_000, &json!("cod_pending")),
        "{p}"
    );

    app.eventually(30, || async {
        let d = body(app.get_as(format!("/deliveries/{id}"), &token).await).await["data"].clone();
        (d["status"] == "assigned").then_some(())
    })
    .await;
    for step in ["pickup", "start"] {
        assert_eq!(
            app.post_as(&format!("/deliveries/{id}/{step}"), &rider_token, &json!({}))
                .await
                .status(),
            200
        );
    }
    let otp = body(app.get_as(format!("/deliveries/{id}"), &token).await).await["data"]["otp"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.post_as(&format!("/deliveries/{id}/deliver"), &rider_token, &json!({"otp": otp}))
            .await
            .status(),
        200
    );
    order_status(&app, &token, &id, "delivered").await;
    let p = app
        .eventually(30, || async {
            let p = body(app.get_as(format!("/payments/orders/{id}"), &token).await).await["data"].clone();
            (p["status"] == "captured").then_some(p)
        })
        .await;
    assert_eq!(p["captured_paise"].as_i64().unwrap(), total - 3_000, "{p}");
}
