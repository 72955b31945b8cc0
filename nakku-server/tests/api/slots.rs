//! Delivery time slots: offered with their room, booked while placing an order, a full
//! slot neither offered nor bookable, given back on cancellation, and their use reported by
//! analytics.

use serde_json::{json, Value};

use crate::helpers::*;

mod sqlite_embedded {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scheduled_order_books_its_slot_and_a_full_slot_is_not_offered() {
        super::a_scheduled_order_books_its_slot_and_a_full_slot_is_not_offered(crate::helpers::Backend::Sqlite).await
    }
}

mod mysql_kafka {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs NAKKU_TEST_MYSQL_URL and NAKKU_TEST_KAFKA_BROKERS"]
    async fn a_scheduled_order_books_its_slot_and_a_full_slot_is_not_offered() {
        super::a_scheduled_order_books_its_slot_and_a_full_slot_is_not_offered(crate::helpers::Backend::MySql).await
    }
}

async fn slots(app: &TestApp, token: &str, all: bool) -> Vec<Value> {
    let path = format!(
        "/deliveries/slots?store={}{}",
        crate::orders::STORE,
        if all { "&all=true" } else { "" }
    );
    let r = app.get_as(path, token).await;
    assert_eq!(r.status(), 200);
    body(r).await["data"]["items"].as_array().cloned().unwrap_or_default()
}

async fn a_scheduled_order_books_its_slot_and_a_full_slot_is_not_offered(backend: Backend) {
    use crate::orders::{add, place, settled, shop, shopper, topology, STORE};
    let app = topology(backend, &[]).await;
    let admin = shop(&app, &[("MANGO", 12_000, 10)]).await;
    let (alice, alice_home) = shopper(&app, 1).await;
    let (bob, bob_home) = shopper(&app, 2).await;

    // One order per slot at this store (the store reaches the delivery service by event).
    app.eventually(30, || async {
        let r = app
            .as_user(
                reqwest::Method::PUT,
                &format!("/deliveries/stores/{STORE}/slots"),
                &admin,
            )
            .json(&json!({"capacity": 1}))
            .send()
            .await
            .unwrap();
        (r.status() == 200).then_some(())
    })
    .await;
    let bad = app
        .as_user(
            reqwest::Method::PUT,
            &format!("/deliveries/stores/{STORE}/slots"),
            &admin,
        )
        .json(&json!({"capacity": -1}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let r = app
        .as_user(
            reqwest::Method::PUT,
            &format!("/deliveries/stores/{STORE}/slots"),
            &alice,
        )
        .json(&json!({"capacity": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "only admins set capacity");

    // Hour-long slots, the first at least an hour ahead (the store is open round the clock):
    // today's rest and all of tomorrow, so at least 23 (after 23:00 India time, tomorrow's
    // 00:00 slot is within the hour's lead).
    let offered = slots(&app, &alice, false).await;
    assert!(offered.len() >= 23, "{offered:?}");
    let first = offered[0].clone();
    assert_eq!((&first["capacity"], &first["remaining"]), (&json!(1), &json!(1)));
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
    let first_start = first["start"].as_str().unwrap();
    assert!(
        at(first_start) >= chrono::Utc::now().timestamp_millis() + 59 * 60_000,
        "{first_start}"
    );
    assert_eq!(at(first["end"].as_str().unwrap()) - at(first_start), 3_600_000);
    // The slot booked below is the third on offer: if the clock passes an hour mark while
    // the test runs, the first slot falls inside the hour's lead and leaves every listing;
    // two hours ahead, this one stays whatever the machine's speed.
    let slot = offered[2].clone();
    assert_eq!(slot["remaining"], 1, "{slot}");
    let start = slot["start"].as_str().unwrap().to_owned();

    // Not a slot, or not one on offer: refused before anything is booked.
    assert_eq!(add(&app, &alice, "MANGO", 1).await.status(), 200);
    let r = place(
        &app,
        &alice,
        "slot-0",
        &json!({"address_id": alice_home, "payment_method": "cod", "slot": "soon"}),
    )
    .await;
    assert_eq!(r.status(), 422);
    let odd = chrono::DateTime::from_timestamp_millis(at(&start) + 60_000)
        .unwrap()
        .to_rfc3339();
    let r = place(
        &app,
        &alice,
        "slot-0b",
        &json!({"address_id": alice_home, "payment_method": "cod", "slot": odd}),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(body(r).await["fields"]["slot"][0]
        .as_str()
        .unwrap()
        .contains("not a delivery slot"));

    // Alice books the slot.
    let r = place(
        &app,
        &alice,
        "slot-1",
        &json!({"address_id": alice_home, "payment_method": "cod", "slot": start}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let order = body(r).await["data"].clone();
    let id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(
        at(order["delivery_slot"]["start"].as_str().unwrap()),
        at(&start),
        "{order}"
    );
    assert_eq!(settled(&app, &alice, &id).await["status"], "confirmed");

    // Full now: no longer offered to shoppers (who still see the others); admins see it full.
    let offered = slots(&app, &bob, false).await;
    assert!(!offered.is_empty());
    assert!(offered.iter().all(|s| s["start"] != json!(start)));
    let full = slots(&app, &admin, true).await;
    let s = full
        .iter()
        .find(|s| at(s["start"].as_str().unwrap()) == at(&start))
        .unwrap();
    assert_eq!((&s["booked"], &s["remaining"]), (&json!(1), &json!(0)));

    // Bob cannot have it: 409 naming the slot, no order made, his cart intact.
    assert_eq!(add(&app, &bob, "MANGO", 1).await.status(), 200);
    let r = place(
        &app,
        &bob,
        "slot-2",
        &json!({"address_id": bob_home, "payment_method": "cod", "slot": start}),
    )
    .await;
    assert_eq!(r.status(), 409);
    assert!(body(r).await["fields"]["slot"][0].as_str().unwrap().contains("full"));
    let mine = body(app.get_as("/orders", &bob).await).await["data"]["items"].clone();
    assert_eq!(mine, json!([]));

    // The delivery keeps the slot and its promise is the slot's end; it waits to be offered
    // to partners until shortly before the slot.
    let d = app
        .eventually(30, || async {
            let d = body(app.get_as(format!("/deliveries/{id}"), &alice).await).await["data"].clone();
            (d["status"] == "unassigned").then_some(d)
        })
        .await;
    assert_eq!(at(d["slot"]["start"].as_str().unwrap()), at(&start), "{d}");
    assert_eq!(
        at(d["promise"]["promised_by"].as_str().unwrap()),
        at(slot["end"].as_str().unwrap())
    );

    // Analytics: the slot used in full.
    let day = &start[..10];
    let next = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap() + chrono::Duration::days(1);
    let report = |path: String| {
        let app = &app;
        let admin = admin.clone();
        async move { body(app.get_as(path, &admin).await).await["data"].clone() }
    };
    let summary_path = format!("/analytics/summary?from={day}&to={next}&store={STORE}");
    app.eventually(30, || async {
        let u = report(summary_path.clone()).await["slot_utilisation"].clone();
        (u["booked"] == 1 && u["capacity"].as_i64().unwrap_or(0) >= 1).then_some(())
    })
    .await;

    // Alice cancels: the slot is offered again and Bob books it.
    let r = app.post_as(&format!("/orders/{id}/cancel"), &alice, &json!({})).await;
    assert_eq!(r.status(), 200);
    app.eventually(30, || async {
        slots(&app, &bob, false)
            .await
            .iter()
            .any(|s| at(s["start"].as_str().unwrap()) == at(&start))
            .then_some(())
    })
    .await;
    let r = place(
        &app,
        &bob,
        "slot-3",
        &json!({"address_id": bob_home, "payment_method": "cod", "slot": start}),
    )
    .await;
    assert_eq!(r.status(), 201);
    // The same request again is the same order, not a second booking.
    let again = place(
        &app,
        &bob,
        "slot-3",
        &json!({"address_id": bob_home, "payment_method": "cod", "slot": start}),
    )
    .await;
    assert_eq!(again.status(), 200);
    let s = slots(&app, &admin, true).await;
    let s = s
        .iter()
        .find(|s| at(s["start"].as_str().unwrap()) == at(&start))
        .unwrap();
    assert_eq!(s["booked"], 1, "{s}");
}
