//! Drives the real `nakku` binary, as an operator would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

const NAKKU: &str = env!("CARGO_BIN_EXE_nakku");

#[path = "support/metric_names.rs"]
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

#[test]
fn migrate_status_changes_nothing_and_migrate_applies_everything() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(nakku(dir.path()).args(["migrate", "status"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("pending"), "{}", stdout(&o));
    assert!(stdout(&o).contains("init"));
    assert!(
        !dir.path().join("nakku_user.db").exists(),
        "status must not create the database"
    );

    let o = run(nakku(dir.path()).arg("migrate"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.path().join("nakku_user.db").exists());

    let o = run(nakku(dir.path()).args(["migrate", "status", "--service", "user"]));
    let out = stdout(&o);
    assert!(out.contains("applied") && !out.contains("│ pending"), "{out}");
    assert!(out.contains("0 pending migration(s)"), "{out}");

    let o = run(nakku(dir.path()).args(["migrate", "--service", "nope"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));
}

#[test]
fn an_invalid_setting_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(nakku(dir.path()).arg("serve").env("NAKKU_USER_PORT", "eighty"));
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("NAKKU_USER_PORT") && err.contains("whole number"), "{err}");

    std::fs::write(dir.path().join("nakku.toml"), "gateway_prot = 1\n").unwrap();
    let o = run(nakku(dir.path()).arg("serve"));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("gateway_prot"), "{}", stderr(&o));
}

#[test]
fn serve_refuses_an_unmigrated_database() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(nakku(dir.path())
        .arg("serve")
        .env("NAKKU_GATEWAY_PORT", "0")
        .env("NAKKU_USER_PORT", "0"));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nakku migrate"), "{}", stderr(&o));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_the_user_flow_through_the_gateway_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut up = start_up(dir.path());
    let c = reqwest::Client::new();
    let api = |p: &str| format!("{}/api/v1{p}", up.gateway);

    let r = c
        .post(api("/auth/register"))
        .header("x-request-id", "cli-flow-1")
        .json(&json!({"email": "asha@example.com", "phone": "9876543210", "password": "s3cret-pass", "name": "Asha"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let login: Value = c
        .post(api("/auth/login"))
        .json(&json!({"email": "asha@example.com", "password": "s3cret-pass"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["data"]["access_token"].as_str().unwrap().to_owned();
    let me: Value = c
        .get(api("/users/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["data"]["email"], "asha@example.com");
    let r = c
        .post(api("/users/me/addresses"))
        .bearer_auth(&token)
        .json(&json!({"label": "Home", "line1": "12 MG Road", "city": "Bengaluru", "pincode": "560001", "lat": 12.97, "lng": 77.59}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // The operator makes Asha an admin; the admin endpoint then answers.
    let o = run(nakku(dir.path()).args(["users", "set-role", "asha@example.com", "admin"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("admin"));
    let r = c.get(api("/users")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // As admin (a fresh token carries the role) Asha makes a category; the operator imports
    // products from a file, and the running catalogue serves them.
    let login: Value = c
        .post(api("/auth/login"))
        .json(&json!({"email": "asha@example.com", "password": "s3cret-pass"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = login["data"]["access_token"].as_str().unwrap().to_owned();
    let r = c
        .post(api("/categories"))
        .bearer_auth(&admin)
        .json(&json!({"name": "Dairy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let file = dir.path().join("products.csv");
    std::fs::write(
        &file,
        "sku,name,category,unit,price\nGHEE-1,Cow Ghee,dairy,500 ml,310\nCURD-1,Curd,nowhere,400 g,45\n",
    )
    .unwrap();
    let o = run(nakku(dir.path()).args(["products", "import", file.to_str().unwrap()]));
    assert!(!o.status.success(), "a bad row stops the import");
    assert!(stdout(&o).contains("line 3: category"), "{}", stdout(&o));
    assert!(stderr(&o).contains("nothing was imported"), "{}", stderr(&o));
    let o = run(nakku(dir.path()).args(["products", "import", "--partial", file.to_str().unwrap()]));
    assert!(o.status.success(), "{}", stderr(&o));
    let mut found = false;
    for _ in 0..100 {
        let page: Value = c
            .get(api("/products?q=ghee"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if page["data"]["total"] == 1 {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(found, "the running catalogue picked up the imported product");

    // The generated secret is kept for the next start.
    assert!(dir.path().join("jwt_secret").exists());

    // Logs are JSON lines and carry the request id.
    let mut saw_request = false;
    while let Ok(line) = up.stderr_lines.recv_timeout(Duration::from_millis(500)) {
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("log line is not JSON: {line}"));
        if v.to_string().contains("cli-flow-1") {
            saw_request = true;
        }
    }
    assert!(saw_request, "a log line carries request_id cli-flow-1");

    let pid = up.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = up.child.wait().unwrap();
    assert!(status.success(), "graceful exit on SIGTERM: {status:?}");
}

mod mysql {
    #[test]
    #[ignore = "needs NAKKU_TEST_MYSQL_URL"]
    fn migrate_creates_a_missing_database() {
        super::migrate_creates_a_missing_mysql_database()
    }
}

fn migrate_creates_a_missing_mysql_database() {
    let server = match std::env::var("NAKKU_TEST_MYSQL_URL") {
        Ok(s) if !s.trim().is_empty() => s,
        _ => panic!("this test needs NAKKU_TEST_MYSQL_URL (see the README, Tests)"),
    };
    let dir = tempfile::tempdir().unwrap();
    let name = format!("nakku_clitest_{}", std::process::id());
    let url = format!("{}/{name}", server.trim_end_matches('/'));
    let o = run(nakku(dir.path())
        .args(["migrate", "status"])
        .env("NAKKU_USER_DATABASE_URL", &url));
    assert!(stdout(&o).contains("pending"), "{} {}", stdout(&o), stderr(&o));
    let o = run(nakku(dir.path()).arg("migrate").env("NAKKU_USER_DATABASE_URL", &url));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(nakku(dir.path())
        .args(["migrate", "status"])
        .env("NAKKU_USER_DATABASE_URL", &url));
    assert!(stdout(&o).contains("0 pending"), "{}", stdout(&o));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(nakku_core::db::drop_mysql_database(&nakku_core::config::Secret::new(
        url,
    )))
    .unwrap();
}

#[test]
fn the_readme_documents_every_configuration_key_and_command() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let services: Vec<&str> = nakku_core::service::Service::ALL.iter().map(|s| s.name()).collect();
    for k in nakku_core::config::documented_keys() {
        let per_service = services
            .iter()
            .find_map(|s| k.key.strip_prefix(&format!("{s}_")))
            .filter(|rest| ["port", "database_url", "url"].contains(rest));
        let var = match per_service {
            Some(rest) => format!("NAKKU_<SVC>_{}", rest.to_uppercase()),
            None => format!("NAKKU_{}", k.key.to_uppercase()),
        };
        assert!(readme.contains(&var), "README does not document {var}");
    }
    let help = stdout(&run(Command::new(NAKKU).arg("--help")));
    for line in help.lines().skip_while(|l| !l.starts_with("Commands:")).skip(1) {
        let Some(cmd) = line.split_whitespace().next() else {
            break;
        };
        if cmd == "help" {
            continue;
        }
        assert!(
            readme.contains(&format!("nakku {cmd}")),
            "README does not document `nakku {cmd}`"
        );
    }
}

/// `nakku config keys` lists every declared key; `nakku config show` gives each effective
/// value with its source, hides secrets, and refuses a bad value naming the key.
#[test]
fn config_lists_the_keys_and_shows_where_each_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(nakku(dir.path()).args(["config", "keys", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let keys: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(keys.len(), nakku_core::config::documented_keys().len());
    let bcrypt = keys.iter().find(|k| k["key"] == "bcrypt_cost").unwrap();
    assert_eq!(bcrypt["type"], "integer 4..=31");
    assert_eq!(bcrypt["default"], "12");
    let jwt = keys.iter().find(|k| k["key"] == "jwt_secret").unwrap();
    assert_eq!(jwt["secret"], true);

    std::fs::write(dir.path().join("nakku.toml"), "slot_minutes = 30\n").unwrap();
    let o = run(nakku(dir.path())
        .args(["config", "show", "--json", "--changed"])
        .env("NAKKU_JWT_SECRET", "0123456789abcdef0123456789abcdef-hidden"));
    assert!(o.status.success(), "{}", stderr(&o));
    let shown: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let of = |key: &str| {
        shown
            .iter()
            .find(|e| e["key"] == key)
            .unwrap_or_else(|| panic!("{key}: {shown:?}"))
    };
    assert_eq!(of("slot_minutes")["value"], "30");
    assert!(of("slot_minutes")["origin"].as_str().unwrap().ends_with("nakku.toml"));
    assert_eq!(of("jwt_secret")["value"], "***");
    assert_eq!(of("jwt_secret")["origin"], "environment");
    assert_eq!(of("bcrypt_cost")["value"], "4");
    assert_eq!(of("data_dir")["origin"], "--data-dir");
    assert!(shown.iter().all(|e| e["origin"] != "default"), "{shown:?}");
    assert!(!stdout(&o).contains("hidden"), "{}", stdout(&o));

    let o = run(nakku(dir.path())
        .args(["config", "show"])
        .env("NAKKU_SLOT_MINUTES", "5"));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("NAKKU_SLOT_MINUTES") && stderr(&o).contains("15 to 240"),
        "{}",
        stderr(&o)
    );
}

/// The README's configuration table and `nakku.example.toml` give every number's default
/// as declared: a changed default cannot leave the documentation behind.
#[test]
fn the_readme_and_the_example_show_the_declared_numeric_defaults() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("nakku.example.toml")).unwrap();
    let mut checked = 0;
    for s in nakku_core::config::SETTINGS {
        if !matches!(
            s.kind,
            nakku_core::config::Kind::Whole { .. } | nakku_core::config::Kind::Decimal { .. }
        ) {
            continue;
        }
        let default = s.default_value();
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", s.variable())))
            .unwrap_or_else(|| panic!("README has no row for {}", s.variable()));
        let cell = row.split('|').nth(2).unwrap_or_default();
        assert!(
            cell.contains(&format!("`{default}`")),
            "README gives {} the default {cell:?}, the code {default}",
            s.variable()
        );
        let line = example
            .lines()
            .map(|l| l.trim_start_matches('#').trim())
            .find(|l| l.starts_with(&format!("{} = ", s.key)))
            .unwrap_or_else(|| panic!("nakku.example.toml has no {}", s.key));
        let value = line[s.key.len() + 3..].split_whitespace().next().unwrap_or_default();
        assert_eq!(
            value.parse::<f64>().ok(),
            default.parse::<f64>().ok(),
            "nakku.example.toml gives {} = {value}, the code {default}",
            s.key
        );
        checked += 1;
    }
    assert!(checked > 40, "{checked}");
}

/// `nakku.example.toml` shows every setting (a per-service one through the user service's
/// and the gateway's; a secret may be shown as its `<key>_file`), and nothing Nakku does not
/// read: the file cannot drift from `documented_keys`, the one declaration of the settings.
#[test]
fn the_example_file_shows_every_configuration_key_and_no_other() {
    let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../nakku.example.toml")).unwrap();
    let shown: Vec<String> = example
        .lines()
        .filter_map(|l| {
            let l = l.trim_start_matches('#').trim();
            let (key, _) = l.split_once(" = ")?;
            key.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                .then(|| key.to_owned())
        })
        .collect();
    let keys: Vec<String> = nakku_core::config::documented_keys()
        .into_iter()
        .map(|k| k.key)
        .collect();
    let services: Vec<&str> = nakku_core::service::Service::ALL.iter().map(|s| s.name()).collect();
    // `<svc>_port`, `<svc>_url`, `<svc>_database_url`: one service's line stands for all.
    let family = |key: &str| {
        services
            .iter()
            .find_map(|s| key.strip_prefix(s)?.strip_prefix('_'))
            .filter(|rest| ["port", "url", "database_url"].contains(rest))
            .map(str::to_owned)
    };
    for key in &keys {
        if let Some(rest) = family(key) {
            assert!(
                shown.iter().any(|k| family(k).as_deref() == Some(rest.as_str())),
                "nakku.example.toml shows no <service>_{rest}"
            );
            continue;
        }
        assert!(
            shown.contains(key) || shown.contains(&format!("{key}_file")),
            "nakku.example.toml does not show {key}"
        );
    }
    for key in &shown {
        let base = key.strip_suffix("_file").unwrap_or(key);
        assert!(
            keys.contains(key) || keys.contains(&base.to_owned()),
            "nakku.example.toml shows {key}, which Nakku does not read"
        );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_tail_events_retry_dead_letters_and_replay_a_consumer() {
    let dir = tempfile::tempdir().unwrap();
    let mut up = start_up(dir.path());
    let c = reqwest::Client::new();
    let api = |p: &str| format!("{}/api/v1{p}", up.gateway);
    let creds = json!({"email": "asha@example.com", "password": "s3cret-pass"});
    let r = c
        .post(api("/auth/register"))
        .header("x-request-id", "evt-1")
        .json(&json!({"email": "asha@example.com", "phone": "9876543210", "password": "s3cret-pass", "name": "Asha"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    for _ in 0..2 {
        assert_eq!(
            c.post(api("/auth/login")).json(&creds).send().await.unwrap().status(),
            200
        );
    }

    // tail: from the beginning, as JSON, and filtered by correlation id.
    let o = run(nakku(dir.path()).args(["events", "tail", "--from", "beginning", "--limit", "3", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let types: Vec<String> = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(types, ["user.registered", "user.login", "user.login"]);
    let o = run(nakku(dir.path()).args([
        "events",
        "tail",
        "--from",
        "beginning",
        "--correlation",
        "evt-1",
        "--limit",
        "1",
    ]));
    assert!(
        stdout(&o).contains("user.registered") && stdout(&o).contains("corr=evt-1"),
        "{}",
        stdout(&o)
    );

    // lag: every consumer with its group; the sign-ins' consumer catches up to 0.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let o = run(nakku(dir.path()).args(["events", "lag", "--consumer", "user.activity"]));
        assert!(o.status.success(), "{}", stderr(&o));
        let row = stdout(&o)
            .lines()
            .find(|l| l.contains("user.activity"))
            .map(|l| {
                l.split_whitespace()
                    .filter(|c| c.chars().any(char::is_alphanumeric))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        assert!(row.contains("user.activity user nakku.user.activity"), "{}", stdout(&o));
        if row.ends_with(" 0") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "user.activity never caught up: {row}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = run(nakku(dir.path()).args(["events", "lag"]));
    for consumer in ["user.activity", "cart.orders", "analytics"] {
        assert!(stdout(&o).contains(consumer), "{consumer}: {}", stdout(&o));
    }
    let o = run(nakku(dir.path()).args(["events", "lag", "--consumer", "nobody"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no consumer named \"nobody\""), "{}", stderr(&o));

    // Break the consumer's table: the next login's event is retried, then dead-lettered.
    sql(dir.path(), "ALTER TABLE user_activity RENAME TO user_activity_away").await;
    assert_eq!(
        c.post(api("/auth/login")).json(&creds).send().await.unwrap().status(),
        200
    );
    let mut letters = Vec::new();
    wait_for(30, "a dead letter", || {
        let o = run(nakku(dir.path()).args(["events", "dlq", "list", "--json"]));
        letters = serde_json::from_str::<Vec<Value>>(&stdout(&o)).unwrap_or_default();
        !letters.is_empty()
    })
    .await;
    assert_eq!(letters.len(), 1);
    let id = letters[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(letters[0]["consumer"], "user.activity");
    assert_eq!(letters[0]["attempts"], 5);
    let shown = stdout(&run(nakku(dir.path()).args(["events", "dlq", "show", &id])));
    assert!(
        shown.contains("user_activity") && shown.contains("user.login"),
        "{shown}"
    );

    // Fix the cause, retry: the login is counted.
    sql(dir.path(), "ALTER TABLE user_activity_away RENAME TO user_activity").await;
    let o = run(nakku(dir.path()).args(["events", "dlq", "retry", &id]));
    assert!(o.status.success(), "{}", stderr(&o));
    let d = dir.path().to_owned();
    let mut rows = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while rows.first().map(|r: &(String, i64, Option<i64>, Option<i64>)| r.1) != Some(3) {
        assert!(
            std::time::Instant::now() < deadline,
            "the retried login was applied: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        rows = activity_rows(&d).await;
    }
    assert!(stdout(&run(nakku(dir.path()).args(["events", "dlq", "list"]))).contains("0 dead letter(s)"));
    assert!(stdout(&run(nakku(dir.path()).args(["events", "dlq", "list", "--all"]))).contains("1 dead letter(s)"));
    assert!(
        stdout(&run(nakku(dir.path()).args(["events", "dlq", "purge", "--all"]))).contains("1 dead letter(s) purged")
    );
    let o = run(nakku(dir.path()).args(["events", "dlq", "retry", "01a21610-ff3e-77c9-b294-e823955835b0"]));
    assert_eq!(o.status.code(), Some(2));

    // A replay while the service runs is refused.
    let o = run(nakku(dir.path()).args(["events", "replay", "--consumer", "user.activity"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("running"), "{}", stderr(&o));

    // Stop the service, replay from the beginning: the same state is rebuilt.
    let before = activity_rows(dir.path()).await;
    let pid = up.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(up.child.wait().unwrap().success());
    tokio::time::sleep(Duration::from_millis(5_200)).await; // the group's liveness lapses
    sql(dir.path(), "UPDATE user_activity SET login_count = 42").await;
    let o = run(nakku(dir.path()).args(["events", "replay", "--consumer", "user.activity"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("user.activity"), "{}", stdout(&o));
    assert_eq!(activity_rows(dir.path()).await, before);
    let o = run(nakku(dir.path()).args(["events", "replay", "--consumer", "nope"]));
    assert!(
        stderr(&o).contains("user.activity"),
        "lists the known consumers: {}",
        stderr(&o)
    );
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_drives_shoppers_and_riders_and_checks_the_invariants() {
    let dir = tempfile::tempdir().unwrap();
    // The first store of the fixtures is open round the clock, so this holds at any hour.
    let up = launch(
        dir.path(),
        &["up", "--stores", "1"],
        &[("NAKKU_RATE_LIMIT_AUTH_PER_MINUTE", "0")],
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

    dashboard_shows_the_simulated_day_and_finds_its_orders(dir.path(), &up.gateway).await;
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

/// Secrets given as files and variables with distinctive values never come back out: not
/// in any log line (at debug for Nakku's own crates), not in an answer (errors included,
/// and the notification failures that carry the providers' errors), not in `/health` or
/// `/metrics`, not in `--help`, not in a configuration error. Proof first: the flow ran,
/// both providers were tried and failed (so their error paths are in the logs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_from_files_never_appear_in_logs_answers_or_help() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let jwt = "jwt-SECRET-5c1d7e0b9a2f4c6e8d0b1a3c5e7f9a1b";
    let previous = "prev-SECRET-0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d";
    let smtp_pw = "smtp-SECRET-pw-77f3";
    let hook_key = "hook-SECRET-key-19ad";
    let hook_token = "tok-SECRET-bearer-2be4";
    let sasl = "sasl-SECRET-pw-88c1";
    // Closed ports: every send fails, and the failure is logged and recorded.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = |name: &str, value: String| {
        let p = secrets.join(name);
        std::fs::write(&p, format!("{value}\n")).unwrap();
        p.display().to_string()
    };
    let jwt_file = file("jwt", jwt.to_owned());
    let smtp_file = file("smtp", format!("smtp://mailer:{smtp_pw}@127.0.0.1:{closed}"));
    let token_file = file("sms-token", hook_token.to_owned());
    let hook_url = format!("http://127.0.0.1:{closed}/sms?key={hook_key}");
    let env = [
        ("NAKKU_JWT_SECRET_FILE", jwt_file.as_str()),
        ("NAKKU_JWT_PREVIOUS_SECRET", previous),
        ("NAKKU_SMTP_URL_FILE", smtp_file.as_str()),
        ("NAKKU_SMS_WEBHOOK_URL", hook_url.as_str()),
        ("NAKKU_SMS_WEBHOOK_TOKEN_FILE", token_file.as_str()),
        ("NAKKU_KAFKA_SASL_PASSWORD", sasl),
        ("NAKKU_NOTIFY_MAX_ATTEMPTS", "2"),
        ("NAKKU_LOG", "info,nakku_core=debug,nakku_server=debug"),
    ];
    let all = [jwt, previous, smtp_pw, hook_key, hook_token, sasl];
    let leaks = |what: &str, text: &str| {
        for s in all {
            assert!(!text.contains(s), "{what} shows the secret {s}: {text}");
        }
    };

    let up = launch(dir.path(), &["up", "--no-seed"], &env, "gateway");
    let c = reqwest::Client::new();
    let gw = up.gateway.clone();
    let mut answers = Vec::new();
    let admin = open_shop(&c, &gw, dir.path(), 5).await;
    let (token, address) = shopper_with_a_mango(&c, &gw, 1).await;
    let id = place_upi_order(&c, &gw, &token, &address, "secret-flow-1").await;
    assert_eq!(settled_order(&c, &gw, &token, &id).await["status"], "confirmed");
    // The token was signed with the secret from the file (a fresh token verifies).
    let (status, me) = get_as(&c, &format!("{gw}/api/v1/users/me"), &token).await;
    assert_eq!(status, 200);
    answers.push(me);
    // Error answers.
    for (path, body) in [
        (
            "/auth/login",
            json!({"email": "s1@example.com", "password": "wrong-password"}),
        ),
        ("/auth/register", json!({"email": "not-an-email"})),
    ] {
        let r = post_json(&c, &gw, path, "", body).await;
        assert!(r.status().is_client_error());
        answers.push(r.text().await.unwrap());
    }
    let (status, forged) = get_as(&c, &format!("{gw}/api/v1/users/me"), "forged.token.value").await;
    assert_eq!(status, 401);
    answers.push(forged);
    let pages = ["/health", "/metrics"].map(|p| format!("{gw}{p}"));
    for url in pages.into_iter().chain(up.urls.values().map(|u| format!("{u}/health"))) {
        answers.push(get_as(&c, &url, "").await.1);
    }
    // Proof that the providers were tried: the shopper's email and SMS failed for good.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let tried = loop {
        let v: Value =
            serde_json::from_str(&get_as(&c, &format!("{gw}/api/v1/notifications"), &token).await.1).unwrap();
        let failed = |channel: &str| {
            v["data"]["items"].as_array().into_iter().flatten().any(|n| {
                n["channel"] == channel
                    && n["status"] == "failed"
                    && n["reason"].as_str().is_some_and(|r| !r.is_empty())
            })
        };
        if failed("email") && failed("sms") {
            break v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "email and SMS not both failed: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    answers.push(tried.to_string());
    let (status, failed) = get_as(&c, &format!("{gw}/api/v1/notifications/failed"), &admin).await;
    assert_eq!(status, 200);
    answers.push(failed);
    for a in &answers {
        leaks("an answer", a);
    }

    // Every log line the process wrote, after it stopped (the reader ends with the pipe).
    let mut up = up;
    let pid = up.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(up.child.wait().unwrap().success());
    let log: Vec<String> = up.stderr_lines.iter().collect();
    assert!(
        log.iter().any(|l| l.contains("SMTP")) && log.iter().any(|l| l.contains("webhook")),
        "the providers' failures are in the log"
    );
    for line in &log {
        leaks("a log line", line);
    }

    // --help, and a configuration error about a secret.
    for args in [vec!["--help"], vec!["serve", "--help"], vec!["dashboard", "--help"]] {
        let o = run(nakku(dir.path()).args(&args).env("NAKKU_TOKEN", hook_token));
        leaks("--help", &format!("{}{}", stdout(&o), stderr(&o)));
    }
    let short = file("short", "short-SECRET-x".to_owned());
    let o = run(nakku(dir.path())
        .args(["migrate", "status"])
        .env("NAKKU_JWT_SECRET_FILE", &short));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("NAKKU_JWT_SECRET_FILE"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("short-SECRET-x"), "{}", stderr(&o));
}

/// The CLI against an HTTPS gateway (`NAKKU_TLS_CERT_FILE`): `simulate` and `dashboard`
/// trust its certificate through `NAKKU_TLS_CA_FILE`, and without it stop with an error
/// naming that setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_and_the_dashboard_reach_an_https_gateway_trusted_through_the_ca_file() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
    let dir = tempfile::tempdir().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let path = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (ca_file, cert_file, key_file) = (
        path("ca.pem", ca.pem()),
        path("tls.pem", cert.pem()),
        path("tls.key", key.serialize_pem()),
    );
    let up = launch(
        dir.path(),
        &["up", "--stores", "1"],
        &[
            ("NAKKU_RATE_LIMIT_AUTH_PER_MINUTE", "0"),
            ("NAKKU_TLS_CERT_FILE", &cert_file),
            ("NAKKU_TLS_KEY_FILE", &key_file),
        ],
        "gateway",
    );
    assert!(up.gateway.starts_with("https://"), "{}", up.gateway);
    let gateway = format!("https://localhost:{}", up.gateway.rsplit(':').next().unwrap());
    let simulate = |ca: Option<&str>| {
        let mut cmd = nakku(dir.path());
        cmd.args([
            "simulate",
            "--url",
            &gateway,
            "--orders",
            "3",
            "--concurrency",
            "2",
            "--seed",
            "3",
            "--settle",
            "60s",
            "--json",
        ]);
        if let Some(ca) = ca {
            cmd.env("NAKKU_TLS_CA_FILE", ca);
        }
        run(&mut cmd)
    };
    let out = simulate(None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not trusted") && stderr(&out).contains("NAKKU_TLS_CA_FILE"),
        "{}",
        stderr(&out)
    );
    let out = simulate(Some(&ca_file));
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(r["outcomes"]["placed"].as_u64().unwrap() >= 1, "{r:#}");
    assert_eq!(r["errors"], json!({}), "{r:#}");

    let out = run(nakku(dir.path())
        .args(["dashboard", "--url", &gateway, "--once", "--size", "160x45"])
        .env("NAKKU_TLS_CA_FILE", &ca_file));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Services · ok"), "{}", stdout(&out));
    let out = run(nakku(dir.path()).args(["dashboard", "--url", &gateway, "--once", "--size", "160x45"]));
    assert!(
        stdout(&out).contains("NAKKU_TLS_CA_FILE"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
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

/// An OTLP/HTTP receiver, as an OpenTelemetry collector would be: it keeps every span the
/// processes export, decoded from protobuf.
mod otlp {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use opentelemetry_proto::tonic::common::v1::KeyValue;
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    use prost::Message;

    #[derive(Debug, Clone)]
    pub struct Span {
        pub trace_id: String,
        pub span_id: String,
        pub parent: String,
        pub name: String,
        pub server: bool,
        /// `service.name` of the exporting process.
        pub process: String,
        pub attrs: BTreeMap<String, String>,
    }

    pub struct Receiver {
        pub url: String,
        spans: Arc<Mutex<Vec<Span>>>,
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
        kvs.iter()
            .filter_map(|kv| {
                let v = match kv.value.as_ref()?.value.as_ref()? {
                    Any::StringValue(s) => s.clone(),
                    Any::IntValue(i) => i.to_string(),
                    Any::BoolValue(b) => b.to_string(),
                    Any::DoubleValue(d) => d.to_string(),
                    _ => return None,
                };
                Some((kv.key.clone(), v))
            })
            .collect()
    }

    impl Receiver {
        pub async fn start() -> Receiver {
            let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
            let kept = spans.clone();
            let app = axum::Router::new().route(
                "/v1/traces",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let kept = kept.clone();
                    async move {
                        let Ok(req) = ExportTraceServiceRequest::decode(body) else {
                            return axum::http::StatusCode::BAD_REQUEST;
                        };
                        let mut kept = kept.lock().unwrap();
                        for rs in req.resource_spans {
                            let resource = attrs(rs.resource.as_ref().map_or(&[][..], |r| &r.attributes));
                            let process = resource.get("service.name").cloned().unwrap_or_default();
                            for s in rs.scope_spans.into_iter().flat_map(|ss| ss.spans) {
                                kept.push(Span {
                                    trace_id: hex(&s.trace_id),
                                    span_id: hex(&s.span_id),
                                    parent: hex(&s.parent_span_id),
                                    name: s.name.clone(),
                                    server: s.kind == SpanKind::Server as i32,
                                    process: process.clone(),
                                    attrs: attrs(&s.attributes),
                                });
                            }
                        }
                        axum::http::StatusCode::OK
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await });
            Receiver { url, spans }
        }

        /// The spans of one trace received so far.
        pub fn trace(&self, trace_id: &str) -> Vec<Span> {
            let spans = self.spans.lock().unwrap();
            spans.iter().filter(|s| s.trace_id == trace_id).cloned().collect()
        }

        /// How many spans arrived, of any trace.
        pub fn count(&self) -> usize {
            self.spans.lock().unwrap().len()
        }
    }
}

/// One `POST /orders` traced across two processes (order + gateway; the services it calls
/// and the consumers) and the bus: the spans reach the collector as one tree, log lines and
/// the event log carry the trace id, and `nakku events tail --trace` finds its events.
async fn an_order_is_one_trace_across_processes_and_the_bus(bus_env: &[(&str, &str)]) {
    let receiver = otlp::Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let o = run(nakku(dir.path()).arg("migrate"));
    assert!(o.status.success(), "{}", stderr(&o));
    let mut tracing_env: Vec<(&str, &str)> = vec![
        ("NAKKU_OTLP_ENDPOINT", receiver.url.as_str()),
        // Export often, so the test waits for spans, not for the exporter's 5 s timer.
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
    ];
    tracing_env.extend_from_slice(bus_env);
    // A quiet log does not quiet the traces: the log filter is the log's alone.
    let (_rest, front) = launch_apart(
        dir.path(),
        &[
            "user",
            "product",
            "inventory",
            "location",
            "payment",
            "cart",
            "analytics",
            "notification",
        ],
        &tracing_env,
        &[("NAKKU_LOG", "warn")],
    );
    let c = reqwest::Client::new();
    let gw = front.gateway.clone();
    let admin = open_shop(&c, &gw, dir.path(), 5).await;
    let (token, address) = shopper_with_a_mango(&c, &gw, 1).await;

    // The shopper's app starts the trace; the gateway continues it.
    let trace_id = format!("{:032x}", uuid::Uuid::new_v4().as_u128());
    let app_span = "00f067aa0ba902b7";
    let r = c
        .post(format!("{gw}/api/v1/orders"))
        .bearer_auth(&token)
        .header("idempotency-key", "traced-1")
        .header("traceparent", format!("00-{trace_id}-{app_span}-01"))
        .json(&json!({"address_id": address, "payment_method": "upi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let o = settled_order(&c, &gw, &token, &id).await;
    assert_eq!(o["status"], "confirmed", "{o}");

    // Wait for the whole tree: every span's parent arrived, and the services and
    // consumers that took part are in it.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let spans = loop {
        let spans = receiver.trace(&trace_id);
        let by_id: std::collections::HashMap<&str, &otlp::Span> =
            spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
        let ancestors = |s: &otlp::Span| -> Vec<String> {
            let mut names = Vec::new();
            let mut at = by_id.get(s.parent.as_str());
            while let Some(p) = at {
                names.push(p.name.clone());
                at = by_id.get(p.parent.as_str());
            }
            names
        };
        let complete = spans
            .iter()
            .all(|s| s.parent == app_span || by_id.contains_key(s.parent.as_str()));
        let has = |pred: &dyn Fn(&otlp::Span) -> bool, above: &str| {
            spans.iter().any(|s| pred(s) && ancestors(s).iter().any(|a| a == above))
        };
        let served_by = |svc: &'static str| {
            move |s: &otlp::Span| s.server && s.attrs.get("service").map(String::as_str) == Some(svc)
        };
        let done = complete
            && has(&served_by("inventory"), "saga reserve_stock")
            && has(&served_by("payment"), "saga charge_payment")
            && has(
                &|s| s.name.starts_with("analytics order.created"),
                "publish order.created",
            )
            && has(
                &|s| s.name.starts_with("notification order."),
                "POST order /api/v1/orders",
            )
            && has(&|s| s.name == "saga reserve_stock", "POST gateway /orders");
        if done {
            break spans;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the order's trace is complete ({} spans of {} received): {:#?}",
            spans.len(),
            receiver.count(),
            spans
                .iter()
                .map(|s| (&s.name, &s.process, &s.span_id, &s.parent))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The gateway's span is the app's child; the order service's, the gateway's; and the
    // services the saga called ran in the other process.
    let gateway = spans.iter().find(|s| s.name == "POST gateway /orders").unwrap();
    assert_eq!(gateway.parent, app_span);
    assert_eq!(gateway.process, "nakku-order-gateway");
    let order = spans.iter().find(|s| s.name == "POST order /api/v1/orders").unwrap();
    assert_eq!(order.parent, gateway.span_id);
    let inventory = spans
        .iter()
        .find(|s| s.server && s.attrs.get("service").map(String::as_str) == Some("inventory"))
        .unwrap();
    assert_eq!(
        inventory.process,
        "nakku-user-product-inventory-location-payment-cart-analytics-notification"
    );
    assert_eq!(
        inventory.attrs.get("http.response.status_code").map(String::as_str),
        Some("201"),
        "{inventory:?}"
    );

    // Log lines inside the request carry the trace id.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let needle = format!("\"trace_id\":\"{trace_id}\"");
    loop {
        match front.stderr_lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.contains(&needle) => break,
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(e) => panic!("the front process's log ended: {e}"),
        }
        assert!(std::time::Instant::now() < deadline, "a log line carries {needle}");
    }

    // The event log (the dashboard's order timeline) knows each event's trace.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, page) = get_as(&c, &format!("{gw}/api/v1/analytics/events?trace={trace_id}"), &admin).await;
        let page: Value = serde_json::from_str(&page).unwrap();
        let items = page["data"]["items"].as_array().cloned().unwrap_or_default();
        // The saga's last move (confirmed) is an order.updated with that status.
        if items
            .iter()
            .any(|e| e["type"] == "order.updated" && e["payload"]["status"] == "confirmed")
        {
            assert!(items.iter().all(|e| e["trace_id"] == trace_id.as_str()), "{page}");
            assert!(items.iter().any(|e| e["type"] == "order.created"), "{page}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the event log has the trace's events: {page}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = get_as(&c, &format!("{gw}/api/v1/analytics/events?trace=not-a-trace"), &admin).await;
    assert_eq!(status, 422);

    // The operator's tail finds the order's events by trace id.
    let mut tail = nakku(dir.path());
    for (k, v) in bus_env {
        tail.env(k, v);
    }
    let o = run(tail.args([
        "events",
        "tail",
        "--type",
        "order.*",
        "--from",
        "beginning",
        "--limit",
        "1",
        "--trace",
        &trace_id,
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stdout(&o);
    assert!(
        line.contains("order.created") && line.contains(&format!("trace={trace_id}")),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_one_trace_across_processes_and_the_embedded_log() {
    an_order_is_one_trace_across_processes_and_the_bus(&[]).await;
}

mod kafka {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs NAKKU_TEST_KAFKA_BROKERS"]
    async fn an_order_is_one_trace_across_processes_and_kafka() {
        let brokers = match std::env::var("NAKKU_TEST_KAFKA_BROKERS") {
            Ok(s) if !s.trim().is_empty() => s,
            _ => panic!("this test needs NAKKU_TEST_KAFKA_BROKERS (see the README, Tests)"),
        };
        let prefix = format!("tr{}", uuid::Uuid::new_v4().simple());
        super::an_order_is_one_trace_across_processes_and_the_bus(&[
            ("NAKKU_EVENT_BUS", "kafka"),
            ("NAKKU_KAFKA_BROKERS", brokers.as_str()),
            ("NAKKU_EVENT_TOPIC_PREFIX", prefix.as_str()),
        ])
        .await;
    }
}

/// What the alert rules and the Grafana dashboards query is what a running Nakku exports:
/// after an order (and a search), a real `/metrics` scrape has every metric they name.
/// The counters alerts take `increase()` of exist at 0 from start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_after_an_order_has_every_metric_the_alerts_and_dashboards_use() {
    let dir = tempfile::tempdir().unwrap();
    let up = start_up(dir.path());
    let c = reqwest::Client::new();
    let gw = up.gateway.clone();
    let scrape = || async {
        c.get(format!("{gw}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    // Before anything failed, the failure counters are there at 0.
    let before = scrape().await;
    for series in [
        "nakku_consumer_dead_letters_total{consumer=\"analytics\"} 0",
        "nakku_saga_step_failures_total{step=\"charge_payment\"} 0",
        "nakku_payments_total{outcome=\"failed\"} 0",
    ] {
        assert!(before.lines().any(|l| l == series), "{series} in\n{before}");
    }

    let _admin = open_shop(&c, &gw, dir.path(), 5).await;
    let (token, address) = shopper_with_a_mango(&c, &gw, 1).await;
    let id = place_upi_order(&c, &gw, &token, &address, "scraped-1").await;
    let order = settled_order(&c, &gw, &token, &id).await;
    assert_eq!(order["status"], "confirmed");
    // GMV counts the order's value, in paise.
    let gmv = format!(
        "nakku_order_value_paise_total{{currency=\"{}\"}} {}",
        order["currency"].as_str().unwrap(),
        order["total_paise"]
    );
    let text = scrape().await;
    assert!(text.lines().any(|l| l == gmv), "{gmv} in\n{text}");
    for page in ["products?q=mango", "products/MANGO"] {
        let r = c.get(format!("{gw}/api/v1/{page}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{page}");
    }

    let wanted = metric_names::in_deploy(&[
        "prometheus/rules.yml",
        "grafana/dashboards/nakku-platform.json",
        "grafana/dashboards/nakku-business.json",
    ]);
    assert!(wanted.len() >= 25, "{wanted:?}");
    // Gauges set by loops (lag, backlog, store load) appear within a few seconds.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = scrape().await;
        let exported: std::collections::BTreeSet<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(['{', ' ']).next())
            .collect();
        let missing: Vec<&String> = wanted.iter().filter(|n| !exported.contains(n.as_str())).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the rules and dashboards use {missing:?}, which a running nakku does not export:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
