//! Drives the real `nakku` binary, as an operator would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

const NAKKU: &str = env!("CARGO_BIN_EXE_nakku");

#[path = "../support/metric_names.rs"]
mod metric_names;

fn nakku(data_dir: &Path) -> Command {
    let mut c = Command::new(NAKKU);
    c.arg("--data-dir").arg(data_dir).current_dir(data_dir);
    // Keep the developer's own environment out of the test.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("NAKKU_")) {
        c.env_remove(k);
    }
    c.env("NAKKU_BCRYPT_COST", "4");
    c
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("nakku runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A running `nakku up`; killed on drop.
struct Running {
    child: Child,
    /// The URL of the service `launch` was asked for.
    gateway: String,
    /// Every service the process serves, by name.
    urls: std::collections::BTreeMap<String, String>,
    stderr_lines: mpsc::Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn start_up(dir: &Path) -> Running {
    launch(dir, &["up", "--no-seed"], &[], "gateway")
}

/// Starts `nakku <args>` with every port 0 and waits until it prints where `service`
/// listens; `gateway` of the result is that URL.
fn launch(dir: &Path, args: &[&str], env: &[(&str, &str)], service: &str) -> Running {
    let mut cmd = nakku(dir);
    for svc in nakku_core::service::Service::ALL {
        cmd.env(format!("NAKKU_{}_PORT", svc.env_name()), "0");
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (etx, erx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = etx.send(line);
        }
    });
    let mut urls = std::collections::BTreeMap::new();
    loop {
        // A deadline, not a window: `up` seeds first, which on a loaded machine takes a while.
        let line = rx
            .recv_timeout(Duration::from_secs(180))
            .expect("nakku prints its addresses");
        if line.starts_with("Press Ctrl-C") {
            break;
        }
        if let Some((name, url)) = line.trim().split_once(' ') {
            if url.trim().starts_with("http://") || url.trim().starts_with("https://") {
                urls.insert(name.to_owned(), url.trim().to_owned());
            }
        }
    }
    let gateway = urls.get(service).cloned().expect("the service's address is printed");
    Running {
        child,
        gateway,
        urls,
        stderr_lines: erx,
    }
}

async fn sql(dir: &Path, statement: &str) {
    let url = nakku_core::config::Secret::new(format!("sqlite://{}/nakku_user.db", dir.display()));
    let db = nakku_core::db::Db::connect(&url, 1).await.unwrap();
    sqlx::query(statement).execute(db.pool()).await.unwrap();
    db.close().await;
}

async fn activity_rows(dir: &Path) -> Vec<(String, i64, Option<i64>, Option<i64>)> {
    use sqlx::Row;
    let url = nakku_core::config::Secret::new(format!("sqlite://{}/nakku_user.db", dir.display()));
    let db = nakku_core::db::Db::connect(&url, 1).await.unwrap();
    let rows =
        sqlx::query("SELECT user_id, login_count, registered_at, last_login_at FROM user_activity ORDER BY user_id")
            .fetch_all(db.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    nakku_core::db::text(r, "user_id").unwrap(),
                    r.try_get("login_count").unwrap(),
                    r.try_get("registered_at").unwrap(),
                    r.try_get("last_login_at").unwrap(),
                )
            })
            .collect();
    db.close().await;
    rows
}

async fn wait_for<F: FnMut() -> bool>(secs: u64, what: &str, mut f: F) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn register_body(i: u32) -> Value {
    json!({"email": format!("s{i}@example.com"), "phone": format!("97{i:08}"), "password": "s3cret-pass", "name": format!("S{i}")})
}

async fn post_json(c: &reqwest::Client, gw: &str, path: &str, token: &str, body: Value) -> reqwest::Response {
    c.post(format!("{gw}/api/v1{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Through the gateway at `gw`: an admin (made with `nakku users set-role`), store CRASH-1
/// with a zone around MG Road, and `stock` mangoes there. Returns the admin's token.
async fn open_shop(c: &reqwest::Client, gw: &str, dir: &Path, stock: i64) -> String {
    assert_eq!(
        post_json(c, gw, "/auth/register", "", register_body(0)).await.status(),
        201
    );
    let o = run(nakku(dir).args(["users", "set-role", "s0@example.com", "admin"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let login = post_json(
        c,
        gw,
        "/auth/login",
        "",
        json!({"email": "s0@example.com", "password": "s3cret-pass"}),
    )
    .await;
    let admin = login.json::<Value>().await.unwrap()["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let store = json!({"code": "CRASH-1", "name": "MG Road", "city": "Bengaluru", "lat": 12.975, "lng": 77.60, "opens_at": "00:00", "closes_at": "00:00"});
    assert_eq!(post_json(c, gw, "/inventory/stores", &admin, store).await.status(), 201);
    let zone = json!({"store": "CRASH-1", "name": "Central", "geometry": {"type": "Polygon", "coordinates": [[[77.55, 12.93], [77.65, 12.93], [77.65, 13.03], [77.55, 13.03], [77.55, 12.93]]]}});
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while post_json(c, gw, "/locations/zones", &admin, zone.clone())
        .await
        .status()
        != 201
    {
        assert!(
            std::time::Instant::now() < deadline,
            "zone created once the store reached the location service"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        post_json(c, gw, "/categories", &admin, json!({"name": "Fruit"}))
            .await
            .status(),
        201
    );
    let product = json!({"sku": "MANGO", "name": "Mango", "brand": "Farm", "category": "fruit", "unit": "1 kg", "mrp_paise": 15000, "price_paise": 12000});
    assert_eq!(post_json(c, gw, "/products", &admin, product).await.status(), 201);
    let r = post_json(
        c,
        gw,
        "/inventory/stores/CRASH-1/stock/MANGO/restock",
        &admin,
        json!({"quantity": stock}),
    )
    .await;
    assert_eq!(r.status(), 200);
    admin
}

/// Shopper `i` with an address by MG Road and one mango in the cart: (token, address id).
async fn shopper_with_a_mango(c: &reqwest::Client, gw: &str, i: u32) -> (String, String) {
    let r = post_json(c, gw, "/auth/register", "", register_body(i)).await;
    let token = r.json::<Value>().await.unwrap()["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let address = json!({"label": "Home", "line1": "12 MG Road", "city": "Bengaluru", "pincode": "560001", "lat": 12.9716, "lng": 77.5946});
    let a = post_json(c, gw, "/users/me/addresses", &token, address).await;
    let address = a.json::<Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The cart learns of the product and its stock by events.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let item = json!({"sku": "MANGO", "quantity": 1, "store": "CRASH-1"});
    while post_json(c, gw, "/cart/items", &token, item.clone()).await.status() != 200 {
        assert!(std::time::Instant::now() < deadline, "the cart sees the product");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (token, address)
}

/// Places an order paid by UPI from the shopper's cart; its id.
async fn place_upi_order(c: &reqwest::Client, gw: &str, token: &str, address: &str, key: &str) -> String {
    let r = c
        .post(format!("{gw}/api/v1/orders"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&json!({"address_id": address, "payment_method": "upi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Polls an order until its saga is done.
async fn settled_order(c: &reqwest::Client, gw: &str, token: &str, id: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let o: Value = c
            .get(format!("{gw}/api/v1/orders/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if o["data"]["saga"]["state"] == "done" {
            return o["data"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "order {id} settled: {o}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The production shape: the order service and the gateway in one process (the second of
/// the pair), the `rest` services in another that the first reaches by URL. `env` goes to
/// both processes, `rest_only` to the rest alone.
fn launch_apart(dir: &Path, rest: &[&str], env: &[(&str, &str)], rest_only: &[(&str, &str)]) -> (Running, Running) {
    let mut args = vec!["serve"];
    for s in rest {
        args.extend(["--service", s]);
    }
    let mut rest_env = env.to_vec();
    rest_env.extend_from_slice(rest_only);
    let rest = launch(dir, &args, &rest_env, "cart");
    let mut front_env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    for (svc, url) in &rest.urls {
        front_env.push((format!("NAKKU_{}_URL", svc.to_uppercase()), url.clone()));
    }
    let refs: Vec<(&str, &str)> = front_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let front = launch(
        dir,
        &["serve", "--service", "order", "--service", "gateway"],
        &refs,
        "gateway",
    );
    (rest, front)
}

async fn wait_for_async<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A GET with a bearer token (none when empty): the status and the body.
async fn get_as(c: &reqwest::Client, url: &str, token: &str) -> (u16, String) {
    let mut rb = c.get(url);
    if !token.is_empty() {
        rb = rb.bearer_auth(token);
    }
    let r = rb.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

mod apart;
mod bench;
mod chaos;
mod config;
mod gateway;
mod operators;
mod secrets;
mod simulate;
mod startup;
mod tracing;
