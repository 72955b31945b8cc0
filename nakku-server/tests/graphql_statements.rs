//! GraphQL loads in batches: the SQL statements each service runs for one query of 20
//! orders with their lines and deliveries, counted by the statement layer `nakku bench
//! orders` uses. A test binary of its own: the count is process-wide, and no other test
//! may run statements while it counts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "api/shop.rs"]
mod shop;

use helpers::*;
use serde_json::{json, Value};
use shop::*;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_orders_with_lines_and_deliveries_cost_a_few_statements_not_one_per_order() {
    tracing_subscriber::registry()
        .with(nakku_server::statements::layer())
        .init();
    let app = TestApp::spawn(Backend::Sqlite).await;
    shop(&app, &[("MANGO", 12000, 100)]).await;
    let (token, address) = shopper(&app, 1).await;
    let mut ids = Vec::new();
    for n in 0..20 {
        // The cart empties once its order is placed (the cart follows by events).
        app.eventually(30, || async {
            let c = body(app.get_as(format!("/cart?store={STORE}"), &token).await).await;
            (c["data"]["item_count"] == 0).then_some(())
        })
        .await;
        assert_eq!(add(&app, &token, "MANGO", 1).await.status(), 200);
        let r = place(
            &app,
            &token,
            &format!("n1-{n}"),
            &json!({"address_id": address, "payment_method": "cod"}),
        )
        .await;
        assert_eq!(r.status(), 201);
        ids.push(body(r).await["data"]["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        settled(&app, &token, id).await;
    }
    // Every order has its delivery (the delivery service follows confirmations by events).
    app.eventually(60, || async {
        let q = format!("/deliveries?order_ids={}", ids.join(","));
        let d = body(app.get_as(q, &token).await).await;
        (d["data"]["items"].as_array().map_or(0, Vec::len) == 20).then_some(())
    })
    .await;
    app.wait_until_consumers_caught_up().await;

    let query = "{ myOrders(first: 20) { items { id status lines { sku quantity } delivery { status otp } } } }";
    nakku_server::statements::start();
    let r = app
        .client
        .post(format!("{}/api/graphql", app.gateway))
        .bearer_auth(&token)
        .json(&json!({"query": query}))
        .send()
        .await
        .unwrap();
    let counted = nakku_server::statements::stop();
    let answer: Value = r.json().await.unwrap();
    assert!(answer.get("errors").is_none(), "{answer}");
    let items = answer["data"]["myOrders"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 20);
    assert!(
        items
            .iter()
            .all(|o| o["lines"][0]["quantity"] == 1 && o["delivery"]["status"].is_string()),
        "{answer}"
    );
    // Background work runs meanwhile (outbox relays polling, consumers reading the log):
    // not the query's.
    let background = |t: &str| t.contains("FROM outbox") || t.contains("FROM log");
    let of = |svc: &str| -> u64 {
        counted
            .texts
            .iter()
            .filter(|((s, t), _)| *s == svc && !background(t))
            .map(|(_, n)| n)
            .sum()
    };
    let texts: Vec<String> = counted
        .texts
        .iter()
        .map(|((s, t), n)| format!("{s} ×{n}: {t}"))
        .collect();
    // The order service: the page's ids, the orders, their lines, their timelines; the
    // delivery service: the deliveries (and their partners when assigned). Before the
    // batching the order service ran 61 (three per order and the page's ids).
    assert_eq!(of("order"), 4, "order\n{}", texts.join("\n"));
    assert!(
        of("delivery") >= 1 && of("delivery") <= 2,
        "delivery\n{}",
        texts.join("\n")
    );
}
