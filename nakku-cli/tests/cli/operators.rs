//! Operators at work: the event tail, dead letters and consumer replays.

use super::*;

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
