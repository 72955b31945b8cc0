//! The platform around the services: request ids, health, metrics, error envelopes for
//! unknown routes, the gateway's behaviour when a service is down, graceful shutdown.

use std::collections::HashMap;

use nakku_core::config::Settings;
use nakku_core::service::Service;
use nakku_server::{Application, CancellationToken};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

crate::on_both_backends!(
    request_ids_are_accepted_or_generated_and_returned,
    health_checks_the_database_and_metrics_count_requests_per_route,
    unknown_routes_and_methods_get_the_error_envelope,
    shutdown_lets_an_in_flight_request_finish,
);

async fn request_ids_are_accepted_or_generated_and_returned(app: TestApp) {
    let health_with_id = |id: Option<&'static str>| {
        let mut rb = app.client.get(format!("{}/health", app.gateway));
        if let Some(id) = id {
            rb = rb.header("x-request-id", id);
        }
        async move {
            rb.send().await.unwrap().headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    assert_eq!(health_with_id(Some("support-ticket-42")).await, "support-ticket-42");
    let generated = health_with_id(None).await;
    assert_eq!(generated.len(), 36, "a UUID was generated: {generated}");
    assert_ne!(health_with_id(Some("bad id with spaces")).await, "bad id with spaces");
    // The id crosses the gateway into the service and into the event.
    let r = app
        .client
        .post(app.api("/auth/register"))
        .header("x-request-id", "trace-me")
        .json(&register_body(1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-me");
    assert_eq!(app.outbox().await[0].envelope.correlation_id, "trace-me");
}

async fn health_checks_the_database_and_metrics_count_requests_per_route(app: TestApp) {
    let b = body(app.client.get(format!("{}/health", app.user)).send().await.unwrap()).await;
    assert_eq!(b["data"]["checks"]["database"]["status"], "up");
    let b = body(app.client.get(format!("{}/health", app.gateway)).send().await.unwrap()).await;
    assert_eq!(b["data"]["checks"]["user"]["status"], "up");
    app.register(1).await;
    let m = app.metrics().await;
    assert!(
        m.lines().any(|l| l.starts_with("nakku_http_requests_total{")
            && l.contains("service=\"user\"")
            && l.contains("route=\"/api/v1/auth/register\"")
            && l.contains("status=\"201\"")),
        "{m}"
    );
    assert!(m.contains("nakku_http_request_duration_seconds_bucket{"), "{m}");
    assert!(
        m.lines().any(|l| l.starts_with("nakku_http_requests_total{")
            && l.contains("service=\"gateway\"")
            && l.contains("route=\"/api/v1/auth/register\"")),
        "gateway series by endpoint: {m}"
    );
    // Counted for every request (the handles are kept per thread; the series is one).
    let count = |m: &str| {
        m.lines()
            .find(|l| {
                l.starts_with("nakku_http_requests_total{")
                    && l.contains("service=\"gateway\"")
                    && l.contains("route=\"/api/v1/auth/register\"")
                    && l.contains("status=\"201\"")
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    // Tests in one process share the recorder (other tests sign up too): at least ours.
    let before = count(&m).unwrap_or(0);
    assert!(before >= 1, "{m}");
    for n in 2..=4 {
        app.register(n).await;
    }
    let after = count(&app.metrics().await).unwrap_or(0);
    assert!(after >= before + 3, "{before} then {after}");
}

async fn unknown_routes_and_methods_get_the_error_envelope(app: TestApp) {
    error_body(app.client.get(format!("{}/nope", app.user)).send().await.unwrap(), 404).await;
    error_body(app.client.get(app.api("/nothing-here")).send().await.unwrap(), 404).await;
    error_body(
        app.client
            .get(format!("{}/api/v1/auth/register", app.user))
            .send()
            .await
            .unwrap(),
        405,
    )
    .await;
    let b = error_body(
        app.client
            .get(app.api("/orders"))
            .header("authorization", "Bearer x")
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    assert_eq!(b["error"], "invalid access token");
    let (_, token) = app.signed_up(1).await;
    // An unknown resource of a service: its own 404 in the envelope, through the gateway.
    let b = error_body(app.get_as("/deliveries/x", &token).await, 404).await;
    assert!(b["error"].as_str().unwrap().contains("delivery"), "{b}");
}

async fn shutdown_lets_an_in_flight_request_finish(mut app: TestApp) {
    // A request by hand, stopped half-way through its body. `Expect: 100-continue` makes
    // the server say when its handler has begun reading the body: from then on the request
    // is in flight (no fixed pause standing in for that).
    let body_ = register_body(1).to_string();
    let addr = app.user.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/auth/register HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n",
        body_.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut interim = Vec::new();
    while !interim.ends_with(b"\r\n\r\n") {
        interim.push(s.read_u8().await.unwrap());
    }
    assert!(
        interim.starts_with(b"HTTP/1.1 100"),
        "{}",
        String::from_utf8_lossy(&interim)
    );
    s.write_all(&body_.as_bytes()[..10]).await.unwrap();

    let stopping = {
        let app_ref = &mut app;
        app_ref.stop()
    };
    let finish = async {
        // The rest of the body goes once the shutdown has begun: the listener is closed.
        wait_until_refused(&addr).await;
        s.write_all(&body_.as_bytes()[10..]).await.unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).await.unwrap();
        resp
    };
    let (stopped, resp) = tokio::join!(stopping, finish);
    stopped.expect("server stopped cleanly");
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    // Nothing listens any more.
    assert!(tokio::net::TcpStream::connect(&addr).await.is_err());
}

#[tokio::test]
async fn sqlite_health_turns_503_when_the_database_is_unreachable() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.db.close().await;
    let b = error_body(
        app.client.get(format!("{}/health", app.user)).send().await.unwrap(),
        503,
    )
    .await;
    assert_eq!(b["error"], "unhealthy: database down");
    assert_eq!(b["data"]["checks"]["database"]["status"], "down");
    // The gateway stays up and reports the user service down (degraded).
    let b = body(app.client.get(format!("{}/health", app.gateway)).send().await.unwrap()).await;
    assert_eq!(b["data"]["status"], "degraded", "{b}");
    assert_eq!(b["data"]["checks"]["user"]["status"], "down");
    // Requests needing the database fail cleanly.
    error_body(app.post("/auth/register", &register_body(1)).await, 503).await;
}

mod outage {
    mod mysql {
        #[tokio::test]
        #[ignore = "needs NAKKU_TEST_MYSQL_URL"]
        async fn health_turns_503_when_the_database_is_unreachable() {
            super::super::mysql_health_turns_503_when_the_database_is_unreachable().await
        }

        #[tokio::test]
        #[ignore = "needs NAKKU_TEST_MYSQL_URL"]
        async fn a_server_at_its_connection_limit_answers_503_with_retry_after() {
            super::super::mysql_a_server_at_its_connection_limit_answers_503_with_retry_after().await
        }
    }
}

/// A MySQL server refusing a new connection for its limit (here the user's
/// `max_user_connections`; "Too many connections" is the same path) is a moment's
/// unavailability: 503 with Retry-After, never a 500.
async fn mysql_a_server_at_its_connection_limit_answers_503_with_retry_after() {
    use axum::response::IntoResponse;
    use nakku_core::config::Secret;
    use nakku_core::db::Db;
    sqlx::any::install_default_drivers();
    let server = mysql_server_url();
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let (user, db_name) = (format!("nakku_lim_{id}"), format!("nakku_test_{id}_limit"));
    let root = Db::connect(&Secret::new(format!("{server}/{db_name}")), 1)
        .await
        .unwrap();
    for sql in [
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'pw' WITH MAX_USER_CONNECTIONS 1"),
        format!("GRANT ALL ON `{db_name}`.* TO '{user}'@'%'"),
    ] {
        sqlx::query(&sql).execute(root.pool()).await.unwrap();
    }
    let host = server.rsplit('@').next().unwrap().trim_start_matches("mysql://");
    let limited = format!("mysql://{user}:pw@{host}/{db_name}");
    // Through the Any driver, as the services' pools connect.
    use sqlx::Connection;
    let held = sqlx::AnyConnection::connect(&limited).await.unwrap();
    let e = match sqlx::AnyConnection::connect(&limited).await {
        Err(e) => e,
        Ok(_) => panic!("a second connection went past max_user_connections 1"),
    };
    assert!(nakku_core::error::is_unavailable(&e), "{e}");
    let resp = nakku_server::error::ApiError::from(nakku_core::CoreError::Database(e)).into_response();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let b: serde_json::Value =
        serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), 4096).await.unwrap()).unwrap();
    assert_eq!(b["error"], "database unavailable; try again shortly", "{b}");
    held.close().await.unwrap();
    sqlx::query(&format!("DROP USER '{user}'@'%'"))
        .execute(root.pool())
        .await
        .unwrap();
    sqlx::query(&format!("DROP DATABASE `{db_name}`"))
        .execute(root.pool())
        .await
        .unwrap();
    root.close().await;
}

async fn mysql_health_turns_503_when_the_database_is_unreachable() {
    let app = TestApp::spawn_with(Backend::MySql, true).await;
    let r = app.client.get(format!("{}/health", app.user)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.db_proxy.as_ref().unwrap().cut();
    let b = error_body(
        app.client.get(format!("{}/health", app.user)).send().await.unwrap(),
        503,
    )
    .await;
    assert_eq!(b["data"]["checks"]["database"]["status"], "down", "{b}");
    error_body(app.post("/auth/register", &register_body(1)).await, 503).await;
}

#[tokio::test]
async fn the_gateway_answers_502_and_reports_degraded_when_a_service_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let env: HashMap<String, String> = [
        ("NAKKU_DATA_DIR", dir.path().display().to_string()),
        ("NAKKU_JWT_SECRET", JWT_SECRET.to_owned()),
        ("NAKKU_GATEWAY_PORT", "0".to_owned()),
        ("NAKKU_USER_URL", "http://127.0.0.1:9".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let settings = Settings::load(None, &env).unwrap();
    let app = Application::build(&settings, &[Service::Gateway]).await.unwrap();
    let gw = format!("http://{}", app.addr(Service::Gateway).unwrap());
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(stop.clone()));
    let client = reqwest::Client::new();
    let b = error_body(
        client
            .post(format!("{gw}/api/v1/auth/login"))
            .json(&json!({"email": "a@b.co", "password": "x"}))
            .send()
            .await
            .unwrap(),
        502,
    )
    .await;
    assert!(b["error"].as_str().unwrap().contains("user service"), "{b}");
    // The gateway itself is up; it says which service it cannot reach.
    let r = client.get(format!("{gw}/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let b = body(r).await;
    assert_eq!(b["data"]["status"], "degraded");
    assert_eq!(b["data"]["degraded"], json!(["user"]));
    assert_eq!(b["data"]["checks"]["user"]["status"], "down");
    assert_eq!(b["data"]["checks"]["user"]["instances"][0]["healthy"], false);
    // Alive, but not ready: it has no healthy instance to send users' requests to.
    assert_eq!(client.get(format!("{gw}/livez")).send().await.unwrap().status(), 200);
    let b = error_body(client.get(format!("{gw}/readyz")).send().await.unwrap(), 503).await;
    assert!(
        b["error"].as_str().unwrap().contains("no healthy instance of: user"),
        "{b}"
    );
    stop.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_request_that_outlasts_the_timeout_gets_408() {
    let app = TestApp::spawn_full(Backend::Sqlite, false, &[("NAKKU_REQUEST_TIMEOUT_SECS", "1")]).await;
    let addr = app.user.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // A client that announces 100 bytes and sends 10, then stalls.
    let head = format!(
        "POST /api/v1/auth/register HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{{\"email\":"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut resp)).await;
    assert!(read.is_ok(), "the server answered within the timeout");
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    assert!(resp.contains("\"success\":false"), "{resp}");
    assert_eq!(app.count("users").await, 0);
}

/// `/livez` answers without looking at dependencies; `/readyz` waits for the database (with
/// its migrations), the bus, every consumer's subscription and the catalogue index, and the
/// gateway's for a healthy instance of every service. On shutdown `/readyz` fails at once
/// while requests are still served for `shutdown_delay_secs` (the window in which a load
/// balancer stops sending; 60 s here, so the test never races it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_say_alive_and_ready_and_readiness_fails_first_on_shutdown() {
    let app = TestApp::spawn_full(Backend::Sqlite, false, &[("NAKKU_SHUTDOWN_DELAY_SECS", "60")]).await;
    let product = app.product.clone();
    let get = |url: String| {
        let c = app.client.clone();
        async move { c.get(url).send().await.unwrap() }
    };
    for base in [&app.gateway, &app.user, &app.inventory, &product] {
        let r = get(format!("{base}/livez")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(body(r).await["data"]["status"], "alive");
    }
    // Consumers subscribe once the services run: ready once they have.
    let ready = answered(&app, &format!("{product}/readyz"), 200).await;
    let checks = &ready["data"]["checks"];
    assert_eq!(checks["database"]["migrations"], "applied", "{ready}");
    assert!(checks["consumers"]["subscribed"].as_u64().unwrap() >= 1, "{ready}");
    assert!(checks["catalogue"]["indexed_products"].is_u64(), "{ready}");
    assert_eq!(checks["event_bus"]["kind"], "embedded");
    let r = answered(&app, &format!("{}/readyz", app.gateway), 200).await;
    let routes = r["data"]["checks"]["routes"]["routes"].as_array().unwrap().len();
    assert_eq!(
        routes,
        Service::IMPLEMENTED.len() - 1,
        "every service but the gateway: {r}"
    );

    // SIGTERM: readiness fails at once, everywhere; the process is alive and serving.
    app.begin_shutdown();
    for base in [&app.gateway, &app.user] {
        let b = answered(&app, &format!("{base}/readyz"), 503).await;
        assert!(b["error"].as_str().unwrap().contains("shutting down"), "{b}");
        assert_eq!(get(format!("{base}/livez")).await.status(), 200);
    }
    let r = app.post("/auth/register", &register_body(7)).await;
    assert_eq!(r.status(), 201, "still served while load balancers catch up");
}

/// The gateway's `/metrics` answers the operator's network only (loopback and private
/// addresses; behind trusted proxies, the client's address), and 404 to the internet,
/// unless `NAKKU_METRICS_PUBLIC`; the services' own ports, which are not exposed, answer all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_metrics_are_for_the_operators_network_only() {
    let app = TestApp::spawn_full(Backend::Sqlite, false, &[("NAKKU_TRUSTED_PROXY_HOPS", "1")]).await;
    let scrape = |base: &str, from: Option<&str>| {
        let mut rb = app.client.get(format!("{base}/metrics"));
        if let Some(ip) = from {
            rb = rb.header("x-forwarded-for", ip);
        }
        async move { rb.send().await.unwrap() }
    };
    // One request first, so the request counter exists whatever the health checks have
    // done by now (they start with the app; the scrape would race them).
    app.client.get(app.api("/categories")).send().await.unwrap();
    let r = scrape(&app.gateway, None).await;
    assert_eq!(r.status(), 200, "a scrape from the pod network (no proxy in between)");
    assert!(r.text().await.unwrap().contains("nakku_http_requests_total"));
    assert_eq!(scrape(&app.gateway, Some("10.1.2.3")).await.status(), 200);
    assert_eq!(scrape(&app.gateway, Some("fd00::7")).await.status(), 200);
    let b = error_body(scrape(&app.gateway, Some("203.0.113.9")).await, 404).await;
    assert!(b["error"].as_str().unwrap().contains("no route"), "{b}");
    // A client cannot pretend: only the address the trusted proxy appended counts.
    error_body(scrape(&app.gateway, Some("10.0.0.1, 203.0.113.9")).await, 404).await;
    assert_eq!(scrape(&app.user, Some("203.0.113.9")).await.status(), 200);

    let open = TestApp::spawn_full(
        Backend::Sqlite,
        false,
        &[("NAKKU_TRUSTED_PROXY_HOPS", "1"), ("NAKKU_METRICS_PUBLIC", "true")],
    )
    .await;
    let r = open
        .client
        .get(format!("{}/metrics", open.gateway))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Polls `url` (up to 30 s) until it answers `status`; that answer's body.
async fn answered(app: &TestApp, url: &str, status: u16) -> serde_json::Value {
    app.eventually(30, || async {
        let r = app.client.get(url).send().await.unwrap();
        if r.status() == status {
            Some(body(r).await)
        } else {
            None
        }
    })
    .await
}
