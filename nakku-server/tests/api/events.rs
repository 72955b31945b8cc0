//! Events through the running services: outbox → relay → bus → the user.activity consumer.

use std::sync::Arc;

use nakku_core::events::embedded::EmbeddedLog;
use nakku_core::events::faulty::FaultyBus;

use crate::helpers::*;

crate::on_both_backends!(sign_ins_reach_the_activity_read_model_through_the_bus);

async fn sign_ins_reach_the_activity_read_model_through_the_bus(app: TestApp) {
    check_activity_flow(&app).await;
}

/// Registers, signs in twice with a user agent, and reads the activity read model.
async fn check_activity_flow(app: &TestApp) {
    let (id, token) = app.signed_up(1).await;
    app.make_admin(&id).await;
    for _ in 0..2 {
        let r = app
            .client
            .post(app.api("/auth/login"))
            .header("user-agent", "nakku-test/1.0")
            .json(&serde_json::json!({"email": "shopper1@example.com", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let activity = app
        .eventually(30, || async {
            let b = body(app.get_as(format!("/users/{id}/activity"), &token).await).await;
            (b["data"]["login_count"] == 2 && b["data"]["registered_at"].is_string()).then_some(b)
        })
        .await;
    assert_eq!(activity["data"]["last_user_agent"], "nakku-test/1.0");
    // Everything in the outbox was published (and there was something: the sign-ins).
    app.eventually(10, || async {
        let rows = app.outbox().await;
        (!rows.is_empty() && rows.iter().all(|r| r.published_at.is_some())).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_broker_down_writes_succeed_health_reports_it_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Arc::new(FaultyBus::new(Arc::new(
        EmbeddedLog::open(&dir.path().join("events.db")).await.unwrap(),
    )));
    bus.set_down(true);
    let app = TestApp::spawn_on_bus(Backend::Sqlite, false, &[], Some(bus.clone())).await;
    let (id, token) = app.signed_up(1).await;
    app.make_admin(&id).await;
    assert_eq!(app.login("shopper1@example.com", PASSWORD).await.status(), 200);

    let b = error_body(
        app.client.get(format!("{}/health", app.user)).send().await.unwrap(),
        503,
    )
    .await;
    assert_eq!(b["data"]["checks"]["event_bus"]["status"], "down", "{b}");
    assert_eq!(b["data"]["checks"]["database"]["status"], "up");
    assert_eq!(b["data"]["checks"]["outbox"]["unpublished"], 2, "{b}");
    let rows = app.outbox().await;
    assert!(!rows.is_empty() && rows.iter().all(|r| r.published_at.is_none()));

    // The relay keeps trying (this test's bus saw it refused, twice) while the broker is down.
    app.eventually(30, || async { (bus.refused_publishes() >= 2).then_some(()) })
        .await;
    let m = app.metrics().await;
    assert!(
        m.contains("nakku_outbox_publish_failures_total{service=\"user\"}"),
        "the failures are counted: {m}"
    );
    assert!(
        app.outbox().await.iter().all(|r| r.published_at.is_none()),
        "nothing published while down"
    );

    bus.set_down(false);
    app.eventually(30, || async {
        let b = body(app.get_as(format!("/users/{id}/activity"), &token).await).await;
        (b["data"]["login_count"] == 1).then_some(())
    })
    .await;
    // Health checks give the bus 2 s; on a loaded machine wait for an answer in time.
    let b = app
        .eventually(60, || async {
            let b = body(app.client.get(format!("{}/health", app.user)).send().await.unwrap()).await;
            (b["data"]["checks"]["event_bus"]["status"] == "up").then_some(b)
        })
        .await;
    assert_eq!(b["data"]["checks"]["outbox"]["unpublished"], 0, "{b}");
    let m = app.metrics().await;
    // Counters are process-wide (other tests' services count too): check they are exported.
    assert!(m.contains("nakku_outbox_published_total{service=\"user\"}"), "{m}");
    assert!(
        m.contains("nakku_consumer_messages_total{consumer=\"user.activity\""),
        "{m}"
    );
}

/// A broker outage after start leaves every service ready: writes go on into the outbox.
/// `/readyz` failing everywhere would take the whole API out of its load balancers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_after_start_leaves_the_services_ready_and_health_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Arc::new(FaultyBus::new(Arc::new(
        EmbeddedLog::open(&dir.path().join("events.db")).await.unwrap(),
    )));
    let app = TestApp::spawn_on_bus(Backend::Sqlite, false, &[], Some(bus.clone())).await;
    let ready = |url: String| {
        let c = app.client.clone();
        async move { c.get(url).send().await.unwrap() }
    };
    app.eventually(30, || async {
        (ready(format!("{}/readyz", app.user)).await.status() == 200).then_some(())
    })
    .await;
    bus.set_down(true);
    // Proof that the service sees the outage: its /health says the bus is down.
    app.eventually(30, || async {
        let r = app.client.get(format!("{}/health", app.user)).send().await.unwrap();
        let b = body(r).await;
        (b["data"]["checks"]["event_bus"]["status"] == "down").then_some(())
    })
    .await;
    let r = ready(format!("{}/readyz", app.user)).await;
    assert_eq!(r.status(), 200, "still ready with the broker down");
    let b = body(r).await;
    assert_eq!(b["data"]["checks"]["event_bus"]["status"], "down", "{b}");
    let waiting = async || app.outbox().await.iter().filter(|r| r.published_at.is_none()).count();
    let before = waiting().await;
    app.signed_up(2).await;
    assert!(
        waiting().await > before,
        "a sign-up still succeeds, its event waiting in the outbox"
    );
    bus.set_down(false);
}

mod kafka {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs NAKKU_TEST_KAFKA_BROKERS"]
    async fn sign_ins_reach_the_activity_read_model() {
        super::on_kafka_sign_ins_reach_the_activity_read_model().await
    }
}

async fn on_kafka_sign_ins_reach_the_activity_read_model() {
    let brokers = kafka_brokers();
    let prefix = format!("api{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let env = [
        ("NAKKU_EVENT_BUS", "kafka"),
        ("NAKKU_KAFKA_BROKERS", brokers.as_str()),
        ("NAKKU_EVENT_TOPIC_PREFIX", prefix.as_str()),
    ];
    let app = TestApp::spawn_full(Backend::Sqlite, false, &env).await;
    // The brokers are reached lazily, and the health check gives them 2 s: on a loaded
    // machine the first answer can be late, so wait for one.
    let b = app
        .eventually(60, || async {
            let b = body(app.client.get(format!("{}/health", app.user)).send().await.unwrap()).await;
            (b["data"]["checks"]["event_bus"]["status"] == "up").then_some(b)
        })
        .await;
    assert_eq!(b["data"]["checks"]["event_bus"]["kind"], "kafka", "{b}");
    check_activity_flow(&app).await;
}
