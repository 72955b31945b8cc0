//! The event log: every event tailed, and one order's timeline across services.

use super::*;

/// The event log behind the dashboard: an order's timeline gathers what every service said
/// about it, in the order it happened; a tail from `last_seq` sees exactly what came after;
/// filters and bad input.
pub(super) async fn the_event_log_tails_every_event_and_gives_an_orders_timeline_across_services(app: TestApp) {
    let (admin, token, o) = confirmed_mangoes(&app, 1).await;
    let id = o["id"].as_str().unwrap().to_owned();

    // The timeline: the order, the inventory and the payment service all spoke about it.
    let timeline = app
        .eventually(30, || async {
            let page = body(app.get_as(format!("/analytics/events?order={id}"), &admin).await).await["data"].clone();
            let types: Vec<String> = page["items"]
                .as_array()?
                .iter()
                .filter_map(|e| e["type"].as_str().map(str::to_owned))
                .collect();
            [
                "order.created",
                "inventory.reserved",
                "payment.completed",
                "inventory.confirmed",
            ]
            .iter()
            .all(|t| types.iter().any(|x| x == t))
            .then_some(page)
        })
        .await;
    let items = timeline["items"].as_array().unwrap();
    assert!(items.len() >= 4, "{timeline}");
    assert!(items.iter().all(|e| e["order_id"] == id.as_str()), "{timeline}");
    let sources: std::collections::BTreeSet<&str> = items.iter().filter_map(|e| e["source"].as_str()).collect();
    assert!(
        ["order", "inventory", "payment"].iter().all(|s| sources.contains(s)),
        "{sources:?}"
    );
    let times: Vec<&str> = items.iter().filter_map(|e| e["occurred_at"].as_str()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first: {times:?}");
    assert_eq!(items[0]["type"], "order.created", "{timeline}");
    assert_eq!(items[0]["payload"]["order_id"], id.as_str());

    // The tail: the newest page, then only what follows it.
    let page = body(app.get_as("/analytics/events?limit=3", &admin).await).await["data"].clone();
    let newest = page["items"].as_array().unwrap();
    assert_eq!(newest.len(), 3);
    let seqs: Vec<i64> = newest.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "oldest first: {seqs:?}");
    let last = page["last_seq"].as_i64().unwrap();
    assert_eq!(last, seqs[2]);
    let r = app
        .post_as(
            format!("/inventory/stores/{STORE}/stock/MANGO/restock"),
            &admin,
            &json!({"quantity": 5}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let after = app
        .eventually(30, || async {
            let p = body(
                app.get_as(format!("/analytics/events?after={last}&type=inventory.*"), &admin)
                    .await,
            )
            .await["data"]
                .clone();
            (!p["items"].as_array()?.is_empty()).then_some(p)
        })
        .await;
    let new = after["items"].as_array().unwrap();
    assert!(new.iter().all(|e| e["seq"].as_i64().unwrap() > last), "{after}");
    assert!(
        new.iter()
            .all(|e| e["type"].as_str().unwrap().starts_with("inventory.")),
        "{after}"
    );
    assert!(
        new.iter()
            .any(|e| e["type"] == "inventory.updated" && e["payload"]["sku"] == "MANGO"),
        "{after}"
    );
    assert_eq!(after["last_seq"], new.last().unwrap()["seq"]);
    // Nothing newer: an empty page that keeps the position.
    let end = after["last_seq"].as_i64().unwrap() + 1_000_000;
    let p = body(app.get_as(format!("/analytics/events?after={end}"), &admin).await).await["data"].clone();
    assert_eq!(
        (p["items"].as_array().unwrap().len(), p["last_seq"].as_i64()),
        (0, Some(end))
    );

    // Admins only; bad input names the field.
    assert_eq!(app.get_as("/analytics/events", &token).await.status(), 403);
    for (query, field) in [
        ("type=Order.*", "type"),
        ("type=order.%25", "type"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("after=-1", "after"),
        ("order=nope", "order"),
    ] {
        let r = app.get_as(format!("/analytics/events?{query}"), &admin).await;
        assert_eq!(r.status(), 422, "{query}");
        let b = body(r).await;
        assert!(b["fields"][field].is_array(), "{query}: {b}");
    }

    // Two events of one millisecond, the effect delivered before its cause: the timeline
    // still shows the cause first (ids are time-ordered within a process).
    let order = nakku_core::id::new_id();
    // Recent: the log keeps NAKKU_EVENT_LOG_HOURS.
    let at = nakku_core::id::ms_to_rfc3339(nakku_core::id::now_ms());
    let mut cause = Envelope::new(
        catalog::ORDER_CREATED,
        Service::Order,
        &order,
        "tie",
        json!({"order_id": order}),
    );
    cause.occurred_at = at.clone();
    let mut effect = Envelope::new(
        catalog::INVENTORY_RESERVED,
        Service::Inventory,
        &order,
        "tie",
        json!({"order_id": order}),
    );
    effect.occurred_at = at;
    for e in [&effect, &cause] {
        app.bus
            .publish(&[e.to_message(&app.topic_prefix, 1 << 20).unwrap()])
            .await
            .unwrap();
    }
    let tie = app
        .eventually(30, || async {
            let p = body(app.get_as(format!("/analytics/events?order={order}"), &admin).await).await["data"].clone();
            (p["items"].as_array()?.len() == 2).then_some(p)
        })
        .await;
    let types: Vec<&str> = tie["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["order.created", "inventory.reserved"], "{tie}");
}
