//! The demo data, `nakku simulate` and the dashboard, and operator commands refusing bad input.

use super::*;

/// The `count` column of `nakku seed`'s summary, by row.
fn seeded(out: &str) -> std::collections::BTreeMap<String, i64> {
    out.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l
                .trim_matches(|c| c == '│' || c == ' ')
                .split('┆')
                .map(str::trim)
                .collect();
            match cells.as_slice() {
                [what, n] => n.parse().ok().map(|n| ((*what).to_owned(), n)),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn seed_loads_the_demo_data_through_the_services_and_a_second_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(nakku(dir.path()).args(["seed", "--stores", "1"]));
    assert!(first.status.success(), "{}", stderr(&first));
    let made = seeded(&stdout(&first));
    assert_eq!(made["stores"], 1, "{made:?}");
    assert_eq!(made["delivery zones"], 1);
    assert_eq!(made["categories"], 49);
    assert!(made["products"] >= 3000, "thousands of products: {made:?}");
    assert!(made["stock lines"] > 2500, "most of the catalogue stocked: {made:?}");
    assert!(
        made["shoppers"] >= 5 && made["shoppers"] == made["addresses"],
        "{made:?}"
    );
    assert_eq!(made["delivery partners"], 8);
    assert!(stdout(&first).contains("password nakku-demo-123"));

    let again = run(nakku(dir.path()).args(["seed", "--stores", "1"]));
    assert!(again.status.success(), "{}", stderr(&again));
    let made = seeded(&stdout(&again));
    assert_eq!(made.len(), 8, "{}", stdout(&again));
    assert!(made.values().all(|n| *n == 0), "a second run created {made:?}");
    assert!(
        !stdout(&again).contains("created the admin account"),
        "the admin is created once"
    );
    let bad = run(nakku(dir.path()).args(["seed", "--scale", "0"]));
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("--scale must be from 1 to 50"),
        "{}",
        stderr(&bad)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_seeds_an_empty_deployment_then_shoppers_can_buy_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let up = launch(dir.path(), &["up", "--stores", "1"], &[], "gateway");
    let c = reqwest::Client::new();
    let api = |p: &str| format!("{}/api/v1{p}", up.gateway);
    // A seeded shopper of the first store signs in with the demo password.
    let people = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/people.csv")).unwrap();
    let shopper = people
        .lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f.get(3) == Some(&"BLR-KOR") && f.get(4) == Some(&"user"))
        .unwrap()[1]
        .to_owned();
    let login: Value = c
        .post(api("/auth/login"))
        .json(&json!({"email": shopper, "password": "nakku-demo-123"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["data"]["access_token"].as_str().unwrap().to_owned();
    let addresses: Value = c
        .get(api("/users/me/addresses"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let address = addresses["data"]["items"][0].clone();
    assert_eq!(address["store"], "BLR-KOR", "{address}");
    // The store's catalogue is searchable with stock, and the cart takes an item.
    let hits: Value = c
        .get(api("/products?q=milk&store=BLR-KOR&in_stock=true"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sku = hits["data"]["items"][0]["sku"].as_str().unwrap().to_owned();
    assert!(hits["data"]["total"].as_u64().unwrap() > 5, "{hits}");
    wait_for_async(60, "the cart to know the seeded stock", || async {
        let r = c
            .post(api("/cart/items"))
            .bearer_auth(&token)
            .json(&json!({"sku": sku, "quantity": 1, "store": "BLR-KOR"}))
            .send()
            .await
            .unwrap();
        r.status() == 200
    })
    .await;
    let quote: Value = c
        .get(api(&format!(
            "/cart/checkout?address_id={}",
            address["id"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(quote["data"]["can_place_order"], true, "{quote}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_drives_shoppers_and_riders_and_checks_the_invariants() {
    let dir = tempfile::tempdir().unwrap();
    // The first store of the fixtures is open round the clock, so this holds at any hour.
    let up = launch(
        dir.path(),
        &["up", "--stores", "1"],
        &[
            ("NAKKU_RATE_LIMIT_AUTH_PER_MINUTE", "0"),
            ("NAKKU_RATE_LIMIT_READ_PER_MINUTE", "0"),
        ],
        "gateway",
    );
    let out = run(nakku(dir.path()).args([
        "simulate",
        "--url",
        &up.gateway,
        "--orders",
        "12",
        "--concurrency",
        "4",
        "--cancel-rate",
        "0.5",
        "--seed",
        "7",
        "--settle",
        "60s",
        "--json",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let o = &r["outcomes"];
    assert!(o["placed"].as_u64().unwrap() >= 8, "most visits end in an order: {r:#}");
    let placed = o["placed"].as_u64().unwrap();
    assert_eq!(
        o["confirmed"].as_u64().unwrap() + o["cancelled"].as_u64().unwrap() + o["compensated"].as_u64().unwrap(),
        placed,
        "every saga finished: {r:#}"
    );
    assert_eq!(o["stuck"], 0);
    assert!(o["cancelled"].as_u64().unwrap() >= 1, "{r:#}");
    assert_eq!(
        o["delivered"], o["confirmed"],
        "riders delivered every confirmed order: {r:#}"
    );
    assert_eq!(r["errors"], json!({}), "no 5xx, 429 or transport failure: {r:#}");
    let i = &r["invariants"];
    assert_eq!(i["skipped"], Value::Null, "{r:#}");
    assert!(i["stores_checked"].as_u64().unwrap() > 0, "{r:#}");
    assert_eq!(i["stores_reconciled"], i["stores_checked"]);
    assert_eq!(i["negative_stock_lines"], 0);
    assert!(i["payments_checked"].as_u64().unwrap() > 0, "{r:#}");
    assert_eq!(i["payments_matching"], i["payments_checked"]);
    assert_eq!(i["cancellations_honoured"], i["cancellations_accepted"], "{r:#}");
    let endpoints: Vec<&str> = r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["endpoint"].as_str().unwrap())
        .collect();
    for e in [
        "POST /orders",
        "GET /products",
        "POST /cart/items",
        "POST /deliveries/{id}/{action}",
    ] {
        assert!(endpoints.contains(&e), "{e} in {endpoints:?}");
    }
    // Bad options are refused before anything is sent.
    let bad = run(nakku(dir.path()).args(["simulate", "--url", &up.gateway, "--cancel-rate", "2"]));
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("--cancel-rate must be from 0 to 1"),
        "{}",
        stderr(&bad)
    );

    // Every order paid by UPI from the declining test payer: all of them end failed and
    // compensated, and nothing is kept or oversold.
    let out = run(nakku(dir.path()).args([
        "simulate",
        "--url",
        &up.gateway,
        "--orders",
        "6",
        "--cancel-rate",
        "0",
        "--cod-share",
        "0",
        "--payment-failure-rate",
        "1",
        "--json",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let o = &r["outcomes"];
    assert!(o["placed"].as_u64().unwrap() >= 4, "{r:#}");
    assert_eq!(o["compensated"], o["placed"], "{r:#}");
    let i = &r["invariants"];
    assert_eq!(i["payments_matching"], i["payments_checked"], "{r:#}");
    assert_eq!(i["stores_reconciled"], i["stores_checked"], "{r:#}");

    // Half the shoppers through GraphQL: the same outcomes, each step's latency on both APIs.
    let out = run(nakku(dir.path()).args([
        "simulate",
        "--url",
        &up.gateway,
        "--orders",
        "8",
        "--concurrency",
        "4",
        "--cancel-rate",
        "0.25",
        "--seed",
        "11",
        "--api",
        "both",
        "--settle",
        "60s",
        "--json",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let o = &r["outcomes"];
    assert!(o["placed"].as_u64().unwrap() >= 6, "{r:#}");
    assert_eq!(o["stuck"], 0, "{r:#}");
    assert_eq!(o["delivered"], o["confirmed"], "{r:#}");
    // The riders of the run before pinged moments ago: their first pings here may be
    // refused by the position rate limit, which is that limit working.
    let mut errors = r["errors"].as_object().unwrap().clone();
    errors.remove("POST /deliveries/partners/me/location → 429");
    assert!(errors.is_empty(), "no 5xx, 429 or transport failure: {r:#}");
    let i = &r["invariants"];
    assert_eq!(i["payments_matching"], i["payments_checked"], "{r:#}");
    assert_eq!(i["cancellations_honoured"], i["cancellations_accepted"], "{r:#}");
    let steps = r["api"].as_array().unwrap();
    for step in [
        "search",
        "add to cart",
        "checkout",
        "place the order",
        "follow the order",
    ] {
        let row = steps.iter().find(|s| s["step"] == step).unwrap();
        assert!(row["rest"]["requests"].as_u64().unwrap() >= 1, "{step}: {row}");
        assert!(row["graphql"]["requests"].as_u64().unwrap() >= 1, "{step}: {row}");
    }

    // Idle subscriptions held through the gateway (`nakku bench live`): each one answered,
    // the process behind them measured.
    let pid = up.child.id().to_string();
    let out = run(nakku(dir.path()).args([
        "bench",
        "live",
        "--url",
        &up.gateway,
        "--subscriptions",
        "12",
        "--per-connection",
        "4",
        "--hold",
        "2s",
        "--pid",
        &pid,
        "--json",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!((&r["subscriptions"], &r["connections"]), (&json!(12), &json!(3)), "{r}");
    assert!(r["rss_open_mib"].as_f64().unwrap() > 1.0, "{r}");
    assert!(
        r["kib_per_subscription"].is_number() && r["idle_cpu_share"].is_number(),
        "{r}"
    );
    // The twelve feeds' asks are answered by gathered reads of the order, not one each.
    let (reads, asks) = (
        r["view_reads_per_s"].as_f64().unwrap(),
        r["view_asks_per_s"].as_f64().unwrap(),
    );
    assert!(asks > 0.0 && reads <= asks, "{r}");

    dashboard_shows_the_simulated_day_and_finds_its_orders(dir.path(), &up.gateway).await;

    // The same promises read from the databases themselves: all hold after the runs.
    let v = run(nakku(dir.path()).args(["verify", "--wait", "60s", "--json"]));
    assert!(v.status.success(), "{}\n{}", stdout(&v), stderr(&v));
    let report: Value = serde_json::from_str(&stdout(&v)).unwrap();
    assert_eq!(report["ok"], true, "{report:#}");
    let promises: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["promise"].as_str().unwrap())
        .collect();
    assert_eq!(promises.len(), 6, "{promises:?}");
    // A unit on a shelf with no ledger entry behind it is found and named, and the command fails.
    let url = nakku_core::config::Secret::new(format!("sqlite://{}/nakku_inventory.db", dir.path().display()));
    let db = nakku_core::db::Db::connect(&url, 1).await.unwrap();
    let changed = sqlx::query("UPDATE stock SET on_hand = on_hand + 1 WHERE sku = (SELECT MIN(sku) FROM stock)")
        .execute(db.pool())
        .await
        .unwrap()
        .rows_affected();
    db.close().await;
    assert!(changed >= 1);
    let v = run(nakku(dir.path()).arg("verify"));
    assert_eq!(v.status.code(), Some(2), "{}", stdout(&v));
    assert!(stdout(&v).contains("BROKEN"), "{}", stdout(&v));
    assert!(stderr(&v).contains("stock equals its ledger"), "{}", stderr(&v));
}

/// The first text column of the first row of `sql` on a service's SQLite database.
async fn first_text(dir: &Path, service: &str, sql: &str) -> String {
    use sqlx::Row;
    let url = nakku_core::config::Secret::new(format!("sqlite://{}/nakku_{service}.db", dir.display()));
    let db = nakku_core::db::Db::connect(&url, 1).await.unwrap();
    let v = sqlx::query(sql)
        .fetch_one(db.pool())
        .await
        .unwrap()
        .try_get::<String, _>(0)
        .unwrap();
    db.close().await;
    v
}

/// `nakku dashboard --once` against the simulated deployment (signed in as the seeded admin
/// with this data directory's settings): the overview's figures, an order found by id with
/// its timeline across services, a shopper's orders found by phone; an unreachable gateway,
/// a refused token, no terminal and bad flags.
async fn dashboard_shows_the_simulated_day_and_finds_its_orders(dir: &Path, gateway: &str) {
    let once = |extra: &[&str]| {
        let mut args = vec!["dashboard", "--url", gateway, "--once", "--size", "160x45"];
        args.extend_from_slice(extra);
        run(nakku(dir).args(&args))
    };
    let out = once(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let screen = stdout(&out);
    for want in [
        "Services · ok",
        "Saga funnel · today",
        "delivered",
        "GMV",
        "₹",
        "Live events · 200 shown",
        "partners 8",
    ] {
        assert!(screen.contains(want), "missing {want:?}:\n{screen}");
    }
    assert!(
        !screen.contains("unavailable") && !screen.contains("unreachable"),
        "{screen}"
    );

    let id = first_text(dir, "order", "SELECT id FROM orders WHERE status = 'delivered' LIMIT 1").await;
    let user = first_text(dir, "order", &format!("SELECT user_id FROM orders WHERE id = '{id}'")).await;
    let phone = first_text(dir, "user", &format!("SELECT phone FROM users WHERE id = '{user}'")).await;
    let out = once(&["--order", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let screen = stdout(&out);
    for want in [
        id.as_str(),
        "status    delivered",
        "Timeline across services",
        "order.created",
        "inventory.reserved",
        "delivery.completed",
        "out_for_delivery → delivered",
    ] {
        assert!(screen.contains(want), "missing {want:?}:\n{screen}");
    }
    // By the phone number as a shopper would say it (without +91).
    let out = once(&["--order", phone.trim_start_matches("+91")]);
    let screen = stdout(&out);
    assert!(screen.contains(&phone) && screen.contains("Enter to open"), "{screen}");
    assert!(screen.contains(&id), "{screen}");
    let out = once(&["--order", "not-an-order"]);
    assert!(
        stdout(&out).contains("neither an order id nor a phone number"),
        "{}",
        stdout(&out)
    );

    // Nothing answers: every panel says so, and the exit code too.
    let out = run(nakku(dir).args(["dashboard", "--url", "http://127.0.0.1:1", "--token", "t", "--once"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("✖ gateway http://127.0.0.1:1 unreachable"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("did not answer"), "{}", stderr(&out));
    // A token the gateway refuses: the reports say 401, health still shows.
    let out = once(&["--token", "not-a-token"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("unavailable: 401"), "{}", stdout(&out));
    assert!(stdout(&out).contains("Services · ok"), "{}", stdout(&out));
    // Interactive needs a terminal; bad flags are refused.
    let out = run(nakku(dir).args(["dashboard", "--url", gateway]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("needs a terminal; use --once"),
        "{}",
        stderr(&out)
    );
    let out = run(nakku(dir).args(["dashboard", "--url", gateway, "--once", "--size", "5x5"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("from 10 to 1000"), "{}", stderr(&out));
}

/// The operator commands refuse bad flags and say when no server answers, with status 2
/// and one `error:` line, before doing anything.
#[test]
fn operator_commands_refuse_bad_flags_and_unreachable_servers() {
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (
            vec!["simulate", "--url", "http://127.0.0.1:1", "--orders", "1"],
            "no Nakku gateway answers at http://127.0.0.1:1",
        ),
        (vec!["simulate", "--curve", "wavy"], "invalid value 'wavy' for '--curve"),
        (
            vec!["simulate", "--payment-failure-rate", "1.5"],
            "--payment-failure-rate must be from 0 to 1",
        ),
        (vec!["simulate", "--duration", "soon"], "--duration"),
        (vec!["seed", "--scale", "0"], "--scale must be from 1 to 50"),
        (vec!["dashboard", "--refresh", "0", "--once"], "--refresh"),
        (
            vec!["dashboard", "--tab", "nope", "--once"],
            "invalid value 'nope' for '--tab",
        ),
        (
            vec![
                "dashboard",
                "--email",
                "admin@nakku.in",
                "--url",
                "http://127.0.0.1:1",
                "--once",
            ],
            "--email needs the password in NAKKU_PASSWORD",
        ),
    ] {
        let out = run(nakku(dir.path()).args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("error"), "{args:?}: {}", stderr(&out));
    }
}

/// The interactive dashboard in a real pseudo-terminal (util-linux `script`): it takes the
/// alternate screen, draws, shows the help on `?`, says the gateway is unreachable, and on
/// `q` exits 0 having given the screen and the cursor back. Each key is typed once the
/// screen shows the dashboard took the previous one (no fixed pauses): the first only after
/// the first frame, when the terminal is in raw mode and keys are no longer line-buffered.
#[test]
#[cfg_attr(not(target_os = "linux"), ignore = "needs util-linux `script` (Linux)")]
fn the_interactive_dashboard_draws_in_a_terminal_and_restores_it_on_q() {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let cmd = format!(
        "stty cols 120 rows 36; {NAKKU} --data-dir {} dashboard --url http://127.0.0.1:1 --token t",
        dir.path().display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("TERM", "xterm-256color")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` gives the dashboard a terminal");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let screen = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let screen = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                screen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    // Waits until the output after `from` shows `want`; returns where it ends.
    let shown = |from: usize, want: &str| -> usize {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let s = screen.lock().unwrap();
            if let Some(at) = String::from_utf8_lossy(&s[from.min(s.len())..]).find(want) {
                return from + at + want.len();
            }
            drop(s);
            assert!(
                std::time::Instant::now() < deadline,
                "the dashboard never showed {want:?}: {}",
                String::from_utf8_lossy(&screen.lock().unwrap())
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut at = shown(0, "Orders per minute");
    at = shown(at, "unreachable");
    for (keys, then) in [(&b"?"[..], "Keys"), (b"x2", "filter:")] {
        stdin.write_all(keys).unwrap();
        stdin.flush().unwrap();
        at = shown(at, then);
    }
    let _ = at;
    stdin.write_all(b"q").unwrap();
    stdin.flush().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the dashboard exits on q")
        .unwrap();
    reader.join().unwrap();
    let screen = String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    assert!(out.status.success(), "{screen}\n{}", stderr(&out));
    assert!(screen.contains("\x1b[?1049h"), "took the alternate screen: {screen}");
    let left = screen.rfind("\x1b[?1049l").expect("gave the screen back");
    assert!(
        screen[left..].contains("\x1b[?25h"),
        "showed the cursor again: {screen}"
    );
}

/// Tokens that expire mid-run (2 s, plus the 5 s leeway): seeding outlasts them (its own
/// token lives longer); shoppers coming back and riders on shift sign in again and carry
/// on; nothing is left undelivered and no 401 remains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_outlives_the_access_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let up = launch(
        dir.path(),
        &["up", "--stores", "1"],
        &[
            ("NAKKU_RATE_LIMIT_AUTH_PER_MINUTE", "0"),
            ("NAKKU_ACCESS_TOKEN_TTL_SECS", "2"),
        ],
        "gateway",
    );
    let out = run(nakku(dir.path()).args([
        "simulate",
        "--url",
        &up.gateway,
        "--orders",
        "10",
        "--rate",
        "0.8",
        "--cancel-rate",
        "0",
        "--settle",
        "60s",
        "--json",
    ]));
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let r: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let o = &r["outcomes"];
    assert!(o["placed"].as_u64().unwrap() >= 8, "{r:#}");
    assert_eq!(o["stuck"], 0, "{r:#}");
    assert_eq!(o["delivered"], o["confirmed"], "riders kept delivering: {r:#}");
    assert_eq!(r["errors"], json!({}), "no 401 left: {r:#}");
}
