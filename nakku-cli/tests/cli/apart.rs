//! Services run as separate processes: the saga over HTTP, kills between steps, a payment outage, analytics replayed.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_run_as_separate_processes_behind_a_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(nakku(dir.path()).arg("migrate"));
    assert!(o.status.success(), "{}", stderr(&o));
    // The user service alone; then a gateway process that reaches it over HTTP.
    let user = launch(dir.path(), &["serve", "--service", "user"], &[], "user");
    let upstream = format!("user={}", user.gateway);
    let gateway = launch(
        dir.path(),
        &["serve", "--gateway", "--upstream", &upstream],
        &[],
        "gateway",
    );
    // A bad upstream flag stops start-up with a clear error.
    let o = run(nakku(dir.path()).args(["serve", "--gateway", "--upstream", "user=ftp://x.example"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not an http:// or https:// base URL"),
        "{}",
        stderr(&o)
    );
    let o = run(nakku(dir.path()).args(["serve", "--gateway", "--upstream", "nosuch=http://127.0.0.1:1"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown service"), "{}", stderr(&o));
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{}/api/v1/auth/register", gateway.gateway))
        .json(&json!({"email": "ravi@example.com", "phone": "9876500000", "password": "s3cret-pass", "name": "Ravi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "registered through the separate gateway");
    let token = r.json::<Value>().await.unwrap()["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // No location service anywhere: the address is saved, unchecked.
    let r = c
        .post(format!("{}/api/v1/users/me/addresses", gateway.gateway))
        .bearer_auth(&token)
        .json(&json!({"label": "Home", "line1": "1 Hill Road", "city": "Mumbai", "pincode": "400050", "lat": 19.06, "lng": 72.83}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.json::<Value>().await.unwrap()["data"]["serviceable"].is_null());
    // The gateway's health sees the user service; services it does not know are 503.
    let h: Value = c
        .get(format!("{}/health", gateway.gateway))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["data"]["checks"]["user"]["status"], "up", "{h}");
    let r = c
        .get(format!("{}/api/v1/inventory/stores/X/stock?skus=A", gateway.gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
}

async fn order_db_count(dir: &Path, sql: &str) -> i64 {
    use sqlx::Row;
    let url = nakku_core::config::Secret::new(format!("sqlite://{}/nakku_order.db", dir.display()));
    let db = nakku_core::db::Db::connect(&url, 1).await.unwrap();
    let n = sqlx::query(sql)
        .fetch_one(db.pool())
        .await
        .unwrap()
        .try_get::<i64, _>("n")
        .unwrap();
    db.close().await;
    n
}

/// `kill -9` while orders are between saga steps (payments take 800 ms each), then start
/// again: every order ends confirmed or compensated, and stock and payments agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_kill_between_saga_steps_a_restart_settles_every_order() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("NAKKU_PAYMENT_LATENCY_MS", "800"),
        ("NAKKU_SAGA_STEP_TIMEOUT_SECS", "5"),
    ];
    let mut up = launch(dir.path(), &["up", "--no-seed"], &env, "gateway");
    let c = reqwest::Client::new();
    let gw = up.gateway.clone();
    let api = move |p: &str| format!("{gw}/api/v1{p}");
    open_shop(&c, &up.gateway, dir.path(), 20).await;
    let mut shoppers = Vec::new();
    for i in 1..=12 {
        shoppers.push(shopper_with_a_mango(&c, &up.gateway, i).await);
    }
    let mut ids = Vec::new();
    for (i, (token, address)) in shoppers.iter().enumerate() {
        let r = c
            .post(api("/orders"))
            .bearer_auth(token)
            .header("idempotency-key", format!("crash-{i}"))
            .json(&json!({"address_id": address, "payment_method": if i % 4 == 0 { "cod" } else { "upi" }}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        ids.push(
            r.json::<Value>().await.unwrap()["data"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Cancel the newest while its charge is in flight (it only asks the saga to stop, so it
    // answers at once): the compensation must survive the crash too.
    let r = c
        .post(api(&format!("/orders/{}/cancel", ids[11])))
        .bearer_auth(&shoppers[11].0)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    up.child.kill().unwrap(); // SIGKILL: no drain, no flush
    up.child.wait().unwrap();
    let unfinished = order_db_count(
        dir.path(),
        "SELECT COUNT(*) AS n FROM orders WHERE saga_state <> 'done'",
    )
    .await;
    assert!(unfinished > 0, "the kill landed while sagas were running");

    let again = launch(dir.path(), &["up", "--no-seed"], &env, "gateway");
    let gw = again.gateway.clone();
    let mut confirmed = 0;
    for (i, id) in ids.iter().enumerate() {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let o = loop {
            let o: Value = c
                .get(format!("{gw}/api/v1/orders/{id}"))
                .bearer_auth(&shoppers[i].0)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if o["data"]["saga"]["state"] == "done" {
                break o["data"].clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "order {id} settled after the restart: {o}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        match o["status"].as_str().unwrap() {
            "confirmed" => confirmed += 1,
            "cancelled" | "failed" => {}
            other => panic!("order ended {other}: {o}"),
        }
        if i == 11 {
            assert_eq!(o["status"], "cancelled", "{o}");
        }
    }
    assert!(confirmed >= 10, "{confirmed} of 12 confirmed");
    let stock: Value = c
        .get(format!("{gw}/api/v1/inventory/stores/CRASH-1/stock?skus=MANGO"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let item = &stock["data"]["items"][0];
    assert_eq!(item["on_hand"], 20 - confirmed, "{stock}");
    assert_eq!(item["reserved"], 0, "no stock held by a dead saga: {stock}");
    let login = c
        .post(format!("{gw}/api/v1/auth/login"))
        .json(&json!({"email": "s0@example.com", "password": "s3cret-pass"}))
        .send()
        .await
        .unwrap();
    let admin = login.json::<Value>().await.unwrap()["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let rec: Value = c
        .get(format!("{gw}/api/v1/inventory/stores/CRASH-1/reconcile"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rec["data"]["reconciled"], true, "{rec}");
    // Money: captured only for confirmed prepaid orders; anything else was refunded.
    let url = nakku_core::config::Secret::new(format!("sqlite://{}/nakku_payment.db", dir.path().display()));
    let db = nakku_core::db::Db::connect(&url, 1).await.unwrap();
    use sqlx::Row;
    let held: i64 = sqlx::query("SELECT COUNT(*) AS n FROM payments WHERE captured_paise > refunded_paise")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    db.close().await;
    let prepaid_confirmed = order_db_count(
        dir.path(),
        "SELECT COUNT(*) AS n FROM orders WHERE status = 'confirmed' AND payment_kind <> 'cod'",
    )
    .await;
    assert_eq!(
        held, prepaid_confirmed,
        "money is kept only for confirmed prepaid orders"
    );
}

/// The production shape: the order service (with the gateway) in one process, the services
/// it calls in another; the saga reserves, charges, confirms and compensates over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_saga_runs_over_http_when_services_run_apart() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(nakku(dir.path()).arg("migrate"));
    assert!(o.status.success(), "{}", stderr(&o));
    let (_rest, front) = launch_apart(
        dir.path(),
        &["user", "product", "inventory", "location", "payment", "cart"],
        &[],
        &[],
    );
    let c = reqwest::Client::new();
    let gw = front.gateway.clone();
    let admin = open_shop(&c, &gw, dir.path(), 5).await;
    let (token, address) = shopper_with_a_mango(&c, &gw, 1).await;
    let id = place_upi_order(&c, &gw, &token, &address, "apart-1").await;
    let o = settled_order(&c, &gw, &token, &id).await;
    assert_eq!(o["status"], "confirmed", "{o}");
    let r = post_json(&c, &gw, &format!("/orders/{id}/cancel"), &token, json!({})).await;
    assert_eq!(r.status(), 200);
    let o = settled_order(&c, &gw, &token, &id).await;
    assert_eq!(o["status"], "cancelled", "{o}");
    assert_eq!(o["refunded_paise"], o["total_paise"], "{o}");
    let stock: Value = c
        .get(format!("{gw}/api/v1/inventory/stores/CRASH-1/stock?skus=MANGO"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stock["data"]["items"][0]["on_hand"], 5, "{stock}");
    let rec: Value = c
        .get(format!("{gw}/api/v1/inventory/stores/CRASH-1/reconcile"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rec["data"]["reconciled"], true, "{rec}");
}

/// The analytics figures of a real order, then `nakku events replay --consumer analytics
/// --from 0` into an empty analytics database: the same reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_replayed_into_an_empty_database_reports_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut up = start_up(dir.path());
    let c = reqwest::Client::new();
    let gw = up.gateway.clone();
    open_shop(&c, &gw, dir.path(), 5).await;
    let (token, address) = shopper_with_a_mango(&c, &gw, 1).await;
    let id = place_upi_order(&c, &gw, &token, &address, "analytics-1").await;
    assert_eq!(settled_order(&c, &gw, &token, &id).await["status"], "confirmed");
    let now = nakku_core::id::now_ms();
    let range = format!(
        "from={}&to={}",
        nakku_core::id::ms_to_rfc3339(now - 3_600_000),
        nakku_core::id::ms_to_rfc3339(now + 3_600_000)
    );
    let admin_login = json!({"email": "s0@example.com", "password": "s3cret-pass"});
    let figures = |gw: String, range: String, login: Value| {
        let c = c.clone();
        async move {
            let t: Value = post_json(&c, &gw, "/auth/login", "", login).await.json().await.unwrap();
            let admin = t["data"]["access_token"].as_str().unwrap().to_owned();
            let s: Value = c
                .get(format!("{gw}/api/v1/analytics/summary?{range}"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            s["data"].clone()
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let before = loop {
        let f = figures(gw.clone(), range.clone(), admin_login.clone()).await;
        if f["orders"]["confirmed"] == 1 && f["top_products"][0]["units"] == 1 {
            break f;
        }
        assert!(std::time::Instant::now() < deadline, "analytics counts the order: {f}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Stop, empty the analytics database, replay from the beginning, serve again.
    let pid = up.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(up.child.wait().unwrap().success());
    tokio::time::sleep(Duration::from_millis(5_200)).await; // the group's liveness lapses
    for f in ["nakku_analytics.db", "nakku_analytics.db-wal", "nakku_analytics.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    let o = run(nakku(dir.path()).args(["migrate", "--service", "analytics"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(nakku(dir.path()).args(["events", "replay", "--consumer", "analytics", "--from", "0"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("analytics"), "{}", stdout(&o));
    let again = start_up(dir.path());
    let after = figures(again.gateway.clone(), range, admin_login).await;
    assert_eq!(after, before);
}

/// Declared degradation: with the payment service down, online payment is refused with a
/// clear message, cash on delivery is still taken and confirmed, every answer says payment
/// is off, and the cash due is recorded once the payment service is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_payments_down_cash_on_delivery_still_works_and_the_cash_due_is_recorded_later() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(nakku(dir.path()).arg("migrate"));
    assert!(o.status.success(), "{}", stderr(&o));
    let mut args = vec!["serve"];
    for s in ["user", "product", "inventory", "location", "cart", "delivery"] {
        args.extend(["--service", s]);
    }
    let rest = launch(dir.path(), &args, &[], "cart");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let payment = launch(
        dir.path(),
        &["serve", "--service", "payment"],
        &[("NAKKU_PAYMENT_PORT", &port)],
        "payment",
    );
    let mut env: Vec<(String, String)> = rest
        .urls
        .iter()
        .map(|(svc, url)| (format!("NAKKU_{}_URL", svc.to_uppercase()), url.clone()))
        .collect();
    env.push(("NAKKU_PAYMENT_URL".into(), payment.gateway.clone()));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let front = launch(
        dir.path(),
        &["serve", "--service", "order", "--service", "gateway"],
        &env_refs,
        "gateway",
    );
    let c = reqwest::Client::new();
    let gw = front.gateway.clone();
    open_shop(&c, &gw, dir.path(), 5).await;
    let (token, address) = shopper_with_a_mango(&c, &gw, 1).await;

    drop(payment); // the payment service goes away
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let h: Value = c
            .get(format!("{gw}/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if h["data"]["degraded"] == json!(["payment"]) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway sees payments down: {h}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let place = |method: &'static str, key: &'static str| {
        c.post(format!("{gw}/api/v1/orders"))
            .bearer_auth(&token)
            .header("idempotency-key", key)
            .json(&json!({"address_id": address, "payment_method": method}))
            .send()
    };
    let r = place("upi", "down-1").await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["x-degraded"], "payment");
    let b: Value = r.json().await.unwrap();
    assert!(
        b["error"].as_str().unwrap().contains("pay cash on delivery instead"),
        "{b}"
    );
    let r = place("cod", "down-2").await.unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let order = |c: reqwest::Client, gw: String, token: String, id: String| async move {
        c.get(format!("{gw}/api/v1/orders/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["data"]
            .clone()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let o = order(c.clone(), gw.clone(), token.clone(), id.clone()).await;
        if o["status"] == "confirmed" {
            assert_eq!(o["saga"]["state"], "running", "{o}");
            assert_eq!(o["saga"]["next_step"], "record_cash_due", "{o}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "confirmed without payments: {o}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Payments come back on their port: the saga records the cash due and finishes.
    let _payment = launch(
        dir.path(),
        &["serve", "--service", "payment"],
        &[("NAKKU_PAYMENT_PORT", &port)],
        "payment",
    );
    let o = settled_order(&c, &gw, &token, &id).await;
    assert_eq!(o["status"], "confirmed", "{o}");
    let p: Value = c
        .get(format!("{gw}/api/v1/payments/orders/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&p["data"]["status"], &p["data"]["amount_paise"]),
        (&json!("cod_pending"), &o["total_paise"]),
        "{p}"
    );
}
