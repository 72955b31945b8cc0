//! Analytics: figures from a fixed event history against a hand-computed expectation, the
//! same again after a replay into an empty database, figures from a real order, and the
//! reports' access and bad input.

use std::time::Duration;

use nakku_core::analytics::handler::AnalyticsHandler;
use nakku_core::analytics::{AnalyticsService, ReportQuery};
use nakku_core::db::{migrate, Db};
use nakku_core::events::bus::Position;
use nakku_core::events::consumer::{Consumer, ConsumerConfig};
use nakku_core::events::{catalog, Envelope, Event};
use nakku_core::order::events::{DropPoint, OrderChange, OrderCreated, OrderFee, OrderUpdated, PlacedLine};
use nakku_core::payment::events::{PaymentRefunded, PaymentState};
use nakku_core::product::events::{CategoryUpdated, ProductCreated, ProductState};
use nakku_core::product::{Category, Product};
use nakku_core::service::Service;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::helpers::*;
use crate::orders::{add, place, settled, shop, shopper, topology, STORE};

mod timeline;
use timeline::*;

mod sqlite_embedded {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn figures_match_a_hand_computed_history_and_a_replay_rebuilds_them() {
        let app = super::topology(crate::helpers::Backend::Sqlite, &[]).await;
        super::figures_match_a_hand_computed_history_and_a_replay_rebuilds_them(app).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_event_log_tails_every_event_and_gives_an_orders_timeline_across_services() {
        let app = super::topology(crate::helpers::Backend::Sqlite, &[]).await;
        super::the_event_log_tails_every_event_and_gives_an_orders_timeline_across_services(app).await
    }
}

mod mysql_kafka {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs NAKKU_TEST_MYSQL_URL and NAKKU_TEST_KAFKA_BROKERS"]
    async fn figures_match_a_hand_computed_history_and_a_replay_rebuilds_them() {
        let app = super::topology(crate::helpers::Backend::MySql, &[]).await;
        super::figures_match_a_hand_computed_history_and_a_replay_rebuilds_them(app).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs NAKKU_TEST_MYSQL_URL and NAKKU_TEST_KAFKA_BROKERS"]
    async fn the_event_log_tails_every_event_and_gives_an_orders_timeline_across_services() {
        let app = super::topology(crate::helpers::Backend::MySql, &[]).await;
        super::the_event_log_tails_every_event_and_gives_an_orders_timeline_across_services(app).await
    }
}

const DAY: &str = "2026-01-05";

/// An event of the fixed history, at `hms` on [`DAY`] (or a full RFC 3339 time).
fn ev(t: &str, source: Service, aggregate: &str, at: &str, payload: Value) -> Envelope {
    let mut e = Envelope::new(t, source, aggregate, "history", payload);
    e.occurred_at = if at.contains('T') {
        at.to_owned()
    } else {
        format!("{DAY}T{at}.000Z")
    };
    e
}

/// An event of the fixed history with a typed payload (at its type's version).
fn typed<E: Event>(source: Service, aggregate: &str, at: &str, payload: &E) -> Envelope {
    let mut e = ev(E::TYPE, source, aggregate, at, serde_json::Value::Null);
    e.payload = Envelope::of(source, aggregate, "history", payload).payload;
    e.version = E::VERSION;
    e
}

fn created(id: &str, store: &str, kind: &str, at: &str, lines: &[(&str, i64, i64)], fees: i64) -> Envelope {
    let fees: &[(&str, i64)] = if fees == 0 { &[] } else { &[("delivery", fees)] };
    created_with(id, store, kind, at, lines, fees)
}

/// `order.created` v1, as an order service from before fees were itemised wrote it: the
/// fees as one sum (consumers upcast it).
fn created_v1(id: &str, store: &str, kind: &str, at: &str, lines: &[(&str, i64, i64)], fees: i64) -> Envelope {
    let items: i64 = lines.iter().map(|(_, q, p)| q * p).sum();
    let lines: Vec<Value> = lines
        .iter()
        .map(|(sku, q, p)| json!({"sku": sku, "quantity": q, "unit_price_paise": p}))
        .collect();
    let e = ev(
        catalog::ORDER_CREATED,
        Service::Order,
        id,
        at,
        json!({
            "order_id": id, "user_id": format!("u-{id}"), "store": store, "status": "pending", "lines": lines,
            "items_paise": items, "fees_paise": fees, "total_paise": items + fees, "currency": "INR",
            "payment_kind": kind, "address": {"city": "Bengaluru", "pincode": "560001", "lat": 12.97, "lng": 77.59},
            "substitution": "substitute", "slot": null, "request_id": "history",
        }),
    );
    assert_eq!(e.version, 1);
    e
}

fn created_with(
    id: &str,
    store: &str,
    kind: &str,
    at: &str,
    lines: &[(&str, i64, i64)],
    fees: &[(&str, i64)],
) -> Envelope {
    let items: i64 = lines.iter().map(|(_, q, p)| q * p).sum();
    let lines = lines
        .iter()
        .map(|(sku, q, p)| PlacedLine {
            sku: (*sku).to_owned(),
            quantity: *q,
            unit_price_paise: *p,
        })
        .collect();
    let order = OrderCreated {
        order_id: id.to_owned(),
        user_id: format!("u-{id}"),
        store: store.to_owned(),
        status: "pending".to_owned(),
        lines,
        items_paise: items,
        fees: fees
            .iter()
            .map(|(code, paise)| OrderFee {
                code: (*code).to_owned(),
                paise: *paise,
            })
            .collect(),
        total_paise: items + fees.iter().map(|(_, p)| p).sum::<i64>(),
        currency: "INR".to_owned(),
        payment_kind: kind.to_owned(),
        address: DropPoint {
            city: "Bengaluru".to_owned(),
            pincode: "560001".to_owned(),
            lat: 12.97,
            lng: 77.59,
        },
        substitution: "substitute".to_owned(),
        slot: None,
        request_id: "history".to_owned(),
    };
    typed(Service::Order, id, at, &order)
}

fn moved(id: &str, store: &str, status: &str, at: &str, reason: &str, failure: Option<&str>) -> Envelope {
    let order = OrderUpdated {
        change: None,
        reason: Some(reason.to_owned()),
        failure_reason: failure.map(str::to_owned),
        ..OrderUpdated::change(id, &format!("u-{id}"), store, status, OrderChange::LineRemoved)
    };
    typed(Service::Order, id, at, &order)
}

fn category(id: &str, name: &str, at: &str) -> Envelope {
    let c = Category {
        id: id.to_owned(),
        parent_id: None,
        name: name.to_owned(),
        slug: id.to_owned(),
        position: 0,
        created_at: 0,
        updated_at: 0,
    };
    typed(
        Service::Product,
        id,
        at,
        &CategoryUpdated {
            category: c,
            change: nakku_core::events::Change::Created,
        },
    )
}

fn product(id: &str, sku: &str, name: &str, category_id: &str, at: &str) -> Envelope {
    let p = Product {
        id: id.to_owned(),
        sku: sku.to_owned(),
        name: name.to_owned(),
        brand: String::new(),
        description: String::new(),
        category_id: category_id.to_owned(),
        unit: "1 kg".to_owned(),
        mrp_paise: 10_000,
        price_paise: 10_000,
        tags: Vec::new(),
        images: Vec::new(),
        attributes: Default::default(),
        max_per_order: None,
        active: true,
        version: 1,
        created_at: 0,
        updated_at: 0,
        deleted_at: None,
    };
    typed(Service::Product, id, at, &ProductCreated(ProductState::of(&p)))
}

fn stock(t: &str, store: &str, sku: &str, at: &str, available: i64) -> Envelope {
    ev(
        t,
        Service::Inventory,
        &format!("{store}:{sku}"),
        at,
        json!({"store": store, "store_id": format!("w-{store}"), "sku": sku, "available": available, "on_hand": available,
               "reserved": 0, "low_threshold": 5, "notify_users": []}),
    )
}

/// Two stores, five orders placed on [`DAY`] (two delivered, one cancelled and refunded
/// after payment, one declined, one without stock) and one the next day; products with
/// their categories; stock alerts of which one stays open.
fn history() -> Vec<Envelope> {
    let (a, b) = ("BLR-1", "BLR-2");
    let mut h = vec![
        category("c-fruit", "Fruit", "09:00:00"),
        category("c-staples", "Staples", "09:00:01"),
        product("p-mango", "MANGO", "Alphonso mango", "c-fruit", "09:00:02"),
        product("p-rice", "RICE", "Sona masoori rice", "c-staples", "09:00:03"),
    ];
    // O1: UPI, delivered 20 minutes after placing.
    h.push(created(
        "o1",
        a,
        "upi",
        "10:00:00",
        &[("MANGO", 2, 10_000), ("RICE", 1, 5_000)],
        2_000,
    ));
    h.push(moved("o1", a, "stock_reserved", "10:00:01", "stock reserved", None));
    h.push(moved("o1", a, "paid", "10:00:02", "paid", None));
    h.push(moved("o1", a, "confirmed", "10:00:03", "confirmed", None));
    h.push(moved("o1", a, "delivered", "10:20:00", "delivered", None));
    // O2: cash on delivery, delivered after 40 minutes; placed by an order service that
    // still wrote `order.created` v1.
    h.push(created_v1("o2", a, "cod", "10:00:30", &[("MANGO", 1, 10_000)], 2_000));
    h.push(moved("o2", a, "stock_reserved", "10:00:31", "stock reserved", None));
    h.push(moved(
        "o2",
        a,
        "confirmed",
        "10:00:32",
        "confirmed: cash on delivery",
        None,
    ));
    h.push(moved("o2", a, "delivered", "10:40:30", "delivered", None));
    // O3: paid, then cancelled by the shopper and refunded in full.
    h.push(created_with(
        "o3",
        b,
        "upi",
        "10:01:10",
        &[("RICE", 3, 5_000)],
        &[("delivery", 1_500), ("surge", 500)],
    ));
    h.push(moved("o3", b, "stock_reserved", "10:01:11", "stock reserved", None));
    h.push(moved("o3", b, "paid", "10:01:12", "paid", None));
    h.push(moved("o3", b, "confirmed", "10:01:13", "confirmed", None));
    h.push(moved("o3", b, "cancelled", "10:05:00", "changed my mind", None));
    let refund = PaymentRefunded {
        payment: PaymentState {
            payment_id: "pay-o3".to_owned(),
            order_id: "o3".to_owned(),
            user_id: "u-o3".to_owned(),
            kind: "upi".to_owned(),
            amount_paise: 17_000,
            captured_paise: 17_000,
            refunded_paise: 17_000,
            currency: "INR".to_owned(),
            status: "refunded".to_owned(),
            failure_reason: None,
            request_id: "history".to_owned(),
        },
        refund_paise: 17_000,
        reason: "changed my mind".to_owned(),
        key: None,
        cash_due_lowered: false,
    };
    h.push(typed(Service::Payment, "pay-o3", "10:05:01", &refund));
    // O4: the card was declined.
    h.push(created("o4", b, "card", "10:02:00", &[("MANGO", 1, 10_000)], 2_000));
    h.push(moved("o4", b, "stock_reserved", "10:02:01", "stock reserved", None));
    let declined = "payment failed: card declined";
    h.push(moved("o4", b, "failed", "10:02:05", declined, Some(declined)));
    // O5: no stock.
    h.push(created("o5", a, "upi", "10:02:30", &[("RICE", 1, 5_000)], 2_000));
    let no_stock = "stock could not be reserved: out of stock";
    h.push(moved("o5", a, "failed", "10:02:31", no_stock, Some(no_stock)));
    // O6: the next day, outside the range.
    h.push(created(
        "o6",
        a,
        "upi",
        "2026-01-06T01:00:00.000Z",
        &[("MANGO", 5, 10_000)],
        0,
    ));
    h.push(moved(
        "o6",
        a,
        "confirmed",
        "2026-01-06T01:00:05.000Z",
        "confirmed",
        None,
    ));
    // Stock: rice runs low at BLR-1 (stays open); mango runs out at BLR-2 and is restocked.
    h.push(stock(catalog::INVENTORY_LOW_STOCK, a, "RICE", "10:03:00", 3));
    h.push(stock(catalog::INVENTORY_LOW_STOCK, b, "MANGO", "10:03:30", 2));
    h.push(stock(catalog::INVENTORY_OUT_OF_STOCK, b, "MANGO", "10:04:00", 0));
    h.push(stock(catalog::INVENTORY_UPDATED, b, "MANGO", "10:30:00", 10));
    h.push(stock(catalog::INVENTORY_BACK_IN_STOCK, b, "MANGO", "10:30:00", 10));
    h
}

/// What the history comes to, worked out by hand.
fn expected() -> Value {
    json!({
        "placed": 5, "confirmed": 3, "delivered": 2, "cancelled": 1, "failed": 2,
        // o1 27,000 + o2 12,000 + o3 17,000; o3 refunded.
        "gmv_paise": 56_000, "refunded_paise": 17_000, "net_gmv_paise": 39_000, "average_order_paise": 18_666,
        "funnel": [
            {"stage": "placed", "orders": 5}, {"stage": "stock_reserved", "orders": 4},
            {"stage": "payment_secured", "orders": 3}, {"stage": "confirmed", "orders": 3},
            {"stage": "delivered", "orders": 2},
        ],
    })
}

async fn summary(app: &TestApp, admin: &str) -> Value {
    let r = app
        .get_as(format!("/analytics/summary?from={DAY}&to={DAY}"), admin)
        .await;
    assert_eq!(r.status(), 200);
    body(r).await["data"].clone()
}

async fn figures_match_a_hand_computed_history_and_a_replay_rebuilds_them(app: TestApp) {
    let admin = app.admin_token(9100).await;
    let messages: Vec<_> = history()
        .iter()
        .map(|e| e.to_message(&app.topic_prefix, 1 << 20).unwrap())
        .collect();
    app.bus.publish(&messages).await.unwrap();
    let s = app
        .eventually(60, || async {
            let s = summary(&app, &admin).await;
            let settled = s["orders"]["placed"] == 5
                && s["orders"]["refunded_paise"] == 17_000
                && s["stock_alerts_open"]["out"] == 0
                && s["stock_alerts_open"]["low"] == 1
                && s["top_categories"][0]["name"].is_string();
            settled.then_some(s)
        })
        .await;
    assert_eq!(s["orders"], expected(), "{s:#}");
    assert_eq!(
        s["delivery_minutes"],
        json!({"all": {"delivered": 2, "p50": 20.0, "p90": 40.0}, "by_store": {"BLR-1": {"delivered": 2, "p50": 20.0, "p90": 40.0}}})
    );
    assert_eq!(
        s["top_products"],
        json!([
            {"sku": "RICE", "name": "Sona masoori rice", "units": 4, "revenue_paise": 20_000, "orders": 2},
            {"sku": "MANGO", "name": "Alphonso mango", "units": 3, "revenue_paise": 30_000, "orders": 2},
        ])
    );
    assert_eq!(
        s["top_categories"],
        json!([
            {"category_id": "c-staples", "name": "Staples", "units": 4, "revenue_paise": 20_000},
            {"category_id": "c-fruit", "name": "Fruit", "units": 3, "revenue_paise": 30_000},
        ])
    );
    assert_eq!(
        s["cancellation_reasons"],
        json!([{"reason": "changed my mind", "orders": 1}])
    );
    // Fees of the confirmed orders by kind: o2's v1 event gave only their sum.
    assert_eq!(
        s["fees"],
        json!([
            {"code": "delivery", "paise": 3_500, "orders": 2},
            {"code": "unspecified", "paise": 2_000, "orders": 1},
            {"code": "surge", "paise": 500, "orders": 1},
        ]),
        "{s:#}"
    );
    assert_eq!(
        s["failure_reasons"],
        json!([{"reason": "payment failed: card declined", "orders": 1}, {"reason": "stock could not be reserved: out of stock", "orders": 1}])
    );
    assert_eq!(
        s["stock_alerts_open"],
        json!({"low": 1, "out": 0, "by_store": {"BLR-1": {"low": 1, "out": 0}}})
    );
    // Six-minute buckets over the day; every order fell in the one at 10:00.
    let series = &s["orders_per_minute"];
    assert_eq!(series["bucket_minutes"], 6);
    let points = series["points"].as_array().unwrap();
    assert_eq!(points.len(), 240);
    let busy: Vec<&Value> = points.iter().filter(|p| p["orders"] != 0).collect();
    assert_eq!(
        busy,
        [&json!({"at": "2026-01-05T10:00:00.000Z", "orders": 5, "per_minute": 0.83})]
    );

    // Per store, and one store alone.
    let stores = body(
        app.get_as(format!("/analytics/stores?from={DAY}&to={DAY}"), &admin)
            .await,
    )
    .await["data"]["items"]
        .clone();
    assert_eq!(stores[0]["store"], "BLR-1");
    assert_eq!(
        (
            &stores[0]["placed"],
            &stores[0]["confirmed"],
            &stores[0]["failed"],
            &stores[0]["gmv_paise"],
            &stores[0]["average_order_paise"]
        ),
        (&json!(3), &json!(2), &json!(1), &json!(39_000), &json!(19_500))
    );
    assert_eq!(
        (
            &stores[1]["store"],
            &stores[1]["cancelled"],
            &stores[1]["gmv_paise"],
            &stores[1]["net_gmv_paise"]
        ),
        (&json!("BLR-2"), &json!(1), &json!(17_000), &json!(0))
    );
    let one = body(
        app.get_as(format!("/analytics/summary?from={DAY}&to={DAY}&store=blr-2"), &admin)
            .await,
    )
    .await["data"]
        .clone();
    assert_eq!((&one["orders"]["placed"], &one["store"]), (&json!(2), &json!("BLR-2")));
    let alerts = body(app.get_as("/analytics/stock-alerts", &admin).await).await["data"]["items"].clone();
    assert_eq!(
        alerts,
        json!([{"store": "BLR-1", "sku": "RICE", "name": "Sona masoori rice", "kind": "low", "available": 3, "opened_at": "2026-01-05T10:03:00.000Z"}])
    );

    // Redelivered events change nothing.
    app.bus.publish(&messages).await.unwrap();
    app.wait_until_consumers_caught_up().await;
    assert_eq!(summary(&app, &admin).await, s);

    // A replay from the beginning into an empty database gives the same reports.
    let dir = tempfile::tempdir().unwrap();
    let fresh = Db::connect(
        &nakku_core::config::Secret::new(format!("sqlite://{}/replay.db", dir.path().display())),
        2,
    )
    .await
    .unwrap();
    migrate::run(Service::Analytics, &fresh).await.unwrap();
    let consumer = Consumer {
        handler: std::sync::Arc::new(AnalyticsHandler),
        db: fresh.clone(),
        bus: app.bus.clone(),
        cfg: ConsumerConfig {
            topic_prefix: app.topic_prefix.clone(),
            ..Default::default()
        },
    };
    let mut reader = app.bus.read(&consumer.topics(), Position::Beginning).await.unwrap();
    let never = CancellationToken::new();
    let mut idle = 0;
    while idle < 5 {
        let batch = reader.poll(500, Duration::from_millis(400)).await.unwrap();
        if batch.is_empty() {
            idle += 1;
        }
        for d in &batch {
            consumer.process(d, &never).await;
        }
    }
    let q = ReportQuery {
        from: Some(DAY.into()),
        to: Some(DAY.into()),
        ..Default::default()
    };
    let again = AnalyticsService::new(fresh).summary(&q).await.unwrap();
    assert_eq!(serde_json::to_value(again).unwrap(), s);
}

/// A shop selling mangoes and a shopper's UPI order of `quantity`, confirmed: the admin's
/// token, the shopper's, and the order.
async fn confirmed_mangoes(app: &TestApp, quantity: i64) -> (String, String, Value) {
    let admin = shop(app, &[("MANGO", 12_000, 10)]).await;
    let (token, address) = shopper(app, 1).await;
    assert_eq!(add(app, &token, "MANGO", quantity).await.status(), 200);
    let r = place(
        app,
        &token,
        "key-1",
        &json!({"address_id": address, "payment_method": "upi"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let id = body(r).await["data"]["id"].as_str().unwrap().to_owned();
    let o = settled(app, &token, &id).await;
    assert_eq!(o["status"], "confirmed");
    (admin, token, o)
}

/// A real order through the gateway shows up in the figures; reports are for admins and
/// refuse bad ranges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placed_order_shows_in_the_figures_and_reports_refuse_bad_input() {
    let app = topology(Backend::Sqlite, &[]).await;
    let (admin, token, o) = confirmed_mangoes(&app, 2).await;
    let total = o["total_paise"].as_i64().unwrap();
    let s = app
        .eventually(30, || async {
            let s = body(app.get_as("/analytics/summary", &admin).await).await["data"].clone();
            (s["orders"]["confirmed"] == 1 && s["top_products"][0]["units"] == 2).then_some(s)
        })
        .await;
    assert_eq!(s["orders"]["gmv_paise"], total);
    assert_eq!(s["top_products"][0]["sku"], "MANGO");
    assert_eq!(s["top_categories"][0]["name"], "Fruit");
    assert_eq!(s["store"], Value::Null);
    let stores = body(app.get_as("/analytics/stores", &admin).await).await["data"]["items"].clone();
    assert_eq!((&stores[0]["store"], &stores[0]["placed"]), (&json!(STORE), &json!(1)));

    // Shoppers may not read the business figures; bad ranges are refused, naming the field.
    assert_eq!(app.get_as("/analytics/summary", &token).await.status(), 403);
    assert_eq!(
        app.client
            .get(app.api("/analytics/summary"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    for (query, field) in [
        ("from=2026-02-01&to=2026-01-01", "from"),
        ("from=yesterday", "from"),
        ("from=2025-01-01&to=2026-01-01", "to"),
        ("store=no%20spaces", "store"),
        ("limit=0", "limit"),
    ] {
        let r = app.get_as(format!("/analytics/summary?{query}"), &admin).await;
        assert_eq!(r.status(), 422, "{query}");
        let b = body(r).await;
        assert!(b["fields"][field].is_array(), "{query}: {b}");
    }
}
