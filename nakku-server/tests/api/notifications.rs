//! Notifications: an order's steps reach the shopper by email (seen by a local SMTP sink),
//! SMS and push (seen by a local webhook receiver), within preferences and quiet hours,
//! each exactly once despite redelivery; a provider that keeps failing is dead-lettered.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::*;
use crate::orders::{add, place, settled, shop, shopper, topology, STORE};

/// A mail as the sink received it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
}

/// A minimal SMTP server that accepts everything and keeps what it got. (A test double of
/// forty lines; the crates that embed an SMTP server bring far more than a test needs.)
pub async fn smtp_sink() -> (SocketAddr, Arc<Mutex<Vec<Mail>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let keep = mails.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                let mut to = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                        "RCPT" => {
                            to = line.split(['<', '>']).nth(1).unwrap_or_default().to_owned();
                            b"250 OK\r\n"
                        }
                        "DATA" => {
                            let _ = write.write_all(b"354 go ahead\r\n").await;
                            let mut subject = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                if let Some(s) = l.strip_prefix("Subject: ") {
                                    subject = s.to_owned();
                                }
                            }
                            keep.lock().unwrap().push(Mail {
                                to: to.clone(),
                                subject,
                            });
                            b"250 OK queued\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => b"250 OK\r\n",
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    (addr, mails)
}

/// An HTTP receiver for the SMS and push webhooks: keeps `(path, body)`; answers 503 while
/// `failing` is set.
pub async fn webhook_receiver() -> (
    SocketAddr,
    Arc<Mutex<Vec<(String, Value)>>>,
    Arc<std::sync::atomic::AtomicBool>,
) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (keep, fail) = (got.clone(), failing.clone());
    let app = axum::Router::new().route(
        "/{kind}",
        axum::routing::post(
            move |axum::extract::Path(kind): axum::extract::Path<String>, axum::Json(v): axum::Json<Value>| {
                let (keep, fail) = (keep.clone(), fail.clone());
                async move {
                    if fail.load(std::sync::atomic::Ordering::SeqCst) {
                        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down".to_owned());
                    }
                    let id = v["id"].as_str().unwrap_or_default().to_owned();
                    keep.lock().unwrap().push((kind, v));
                    (axum::http::StatusCode::OK, format!("accepted-{id}"))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, got, failing)
}

mod sqlite_embedded {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn order_steps_reach_the_shopper_once_per_channel_within_preferences_and_quiet_hours() {
        super::order_steps_reach_the_shopper_once_per_channel_within_preferences_and_quiet_hours(
            crate::helpers::Backend::Sqlite,
        )
        .await
    }
}

mod mysql_kafka {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs NAKKU_TEST_MYSQL_URL and NAKKU_TEST_KAFKA_BROKERS"]
    async fn order_steps_reach_the_shopper_once_per_channel_within_preferences_and_quiet_hours() {
        super::order_steps_reach_the_shopper_once_per_channel_within_preferences_and_quiet_hours(
            crate::helpers::Backend::MySql,
        )
        .await
    }
}

/// Quiet hours around now, in the shoppers' local time (UTC+05:30 by default).
fn quiet_now() -> Value {
    let local = (nakku_core::id::now_ms() / 60_000 + 330).rem_euclid(1440);
    let at = |m: i64| {
        let m = m.rem_euclid(1440);
        format!("{:02}:{:02}", m / 60, m % 60)
    };
    json!({"start": at(local - 60), "end": at(local + 60)})
}

async fn order_steps_reach_the_shopper_once_per_channel_within_preferences_and_quiet_hours(backend: Backend) {
    let (smtp, mails) = smtp_sink().await;
    let (hooks, received, _) = webhook_receiver().await;
    let env = [
        ("NAKKU_SMTP_URL", format!("smtp://{smtp}")),
        ("NAKKU_SMS_WEBHOOK_URL", format!("http://{hooks}/sms")),
        ("NAKKU_PUSH_WEBHOOK_URL", format!("http://{hooks}/push")),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = topology(backend, &env).await;
    let admin = shop(&app, &[("MANGO", 12_000, 10), ("GUAVA", 6_000, 1)]).await;
    let (token, address) = shopper(&app, 1).await;
    let me = app.jwt.verify(&token).unwrap().sub;

    // A phone for push; no push marketing; quiet hours now. Transactional cannot be muted.
    let r = app
        .post_as(
            "/notifications/devices",
            &token,
            &json!({"token": "device-token-1", "platform": "android"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = app
        .as_user(reqwest::Method::PUT, "/notifications/preferences", &token)
        .json(&json!({"push": {"marketing": false}, "quiet_hours": quiet_now()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let prefs = body(r).await["data"].clone();
    assert_eq!(prefs["push"]["marketing"], false);
    assert_eq!(prefs["email"]["marketing"], true);
    assert!(prefs["quiet_hours"]["start"].is_string());
    let r = app
        .as_user(reqwest::Method::PUT, "/notifications/preferences", &token)
        .json(&json!({"email": {"transactional": false}, "quiet_hours": {"start": "25:00", "end": "07:00"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let b = body(r).await;
    assert!(
        b["fields"]["email.transactional"].is_array() && b["fields"]["quiet_hours.start"].is_array(),
        "{b}"
    );

    // The shopper watches guava, which then runs out and comes back (marketing).
    let r = app
        .post_as(
            format!("/inventory/stores/{STORE}/stock/GUAVA/adjust"),
            &admin,
            &json!({"delta": -1, "reason": "damaged"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .post_as(
            format!("/inventory/stores/{STORE}/stock/GUAVA/watch"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = app
        .post_as(
            format!("/inventory/stores/{STORE}/stock/GUAVA/restock"),
            &admin,
            &json!({"quantity": 5}),
        )
        .await;
    assert_eq!(r.status(), 200);

    // An order, confirmed, then on its way and delivered.
    assert_eq!(add(&app, &token, "MANGO", 1).await.status(), 200);
    let r = place(
        &app,
        &token,
        "note-1",
        &json!({"address_id": address, "payment_method": "upi"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let id = body(r).await["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(settled(&app, &token, &id).await["status"], "confirmed");
    for s in ["packed", "out_for_delivery", "delivered"] {
        let r = app
            .post_as(format!("/orders/{id}/status"), &admin, &json!({"status": s}))
            .await;
        assert_eq!(r.status(), 200, "{s}");
    }
    let short = &id[id.len() - 6..];
    let email = "shopper1@example.com";
    let expected_mail = [
        "Welcome to Nakku".to_owned(),
        format!("Order {short} confirmed"),
        format!("Order {short} is on its way"),
        format!("Order {short} delivered"),
        "GUAVA is back in stock".to_owned(),
    ];
    let mail_to_me = || {
        let mut m: Vec<String> = mails
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.to == email)
            .map(|m| m.subject.clone())
            .collect();
        m.sort();
        m
    };
    let hook = |kind: &str| {
        let mut v: Vec<String> = received
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, b)| b["title"].as_str().unwrap_or_default().to_owned())
            .collect();
        v.sort();
        v
    };
    let mut want_mail = expected_mail.to_vec();
    want_mail.sort();
    let mut want_push = vec![
        format!("Order {short} confirmed"),
        format!("Order {short} is on its way"),
        format!("Order {short} delivered"),
    ];
    want_push.sort();
    // A long chain per message (relay, consumer, dispatcher, provider): a generous
    // deadline, and on failure what did and did not arrive.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    while !(mail_to_me() == want_mail && hook("push") == want_push && hook("sms") == want_push) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every message arrived within 120 s: mail {:?} (want {want_mail:?}), push {:?}, sms {:?} (want {want_push:?})",
            mail_to_me(),
            hook("push"),
            hook("sms")
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The push went to the device; the SMS to the phone.
    let push = received
        .lock()
        .unwrap()
        .iter()
        .find(|(k, _)| k == "push")
        .unwrap()
        .1
        .clone();
    assert_eq!(push["to"], json!(["device-token-1"]));

    // History: the marketing push was suppressed (turned off); the marketing SMS waits for
    // the end of quiet hours; order messages were not held. (A provider answers before the
    // outcome is recorded: wait for the record.)
    let history = app
        .eventually(30, || async {
            let h = body(app.get_as("/notifications?limit=100", &token).await).await["data"]["items"].clone();
            let sent = h.as_array().unwrap().iter().filter(|n| n["status"] == "sent").count();
            // Five emails, three SMS, three pushes.
            (sent == 11).then_some(h)
        })
        .await;
    let find = |channel: &str, title: &str| {
        history
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["channel"] == channel && n["title"] == title)
            .cloned()
            .unwrap_or_else(|| panic!("{channel} {title} in {history:#}"))
    };
    let p = find("push", "GUAVA is back in stock");
    assert_eq!(
        (&p["status"], &p["category"]),
        (&json!("suppressed"), &json!("marketing"))
    );
    let s = find("sms", "GUAVA is back in stock");
    assert_eq!(s["status"], "pending");
    assert!(s["send_after"].as_str().unwrap() > nakku_core::id::ms_to_rfc3339(nakku_core::id::now_ms()).as_str());
    let c = find("email", &format!("Order {short} confirmed"));
    assert_eq!(
        (&c["status"], &c["recipient"], &c["provider"]),
        (&json!("sent"), &json!(email), &json!("smtp"))
    );
    assert_eq!(
        app.get_as(format!("/notifications?user_id={me}"), &token)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get_as("/notifications?user_id=someone-else", &token).await.status(),
        403
    );

    // Every event delivered again: nothing is sent twice.
    let mut messages = Vec::new();
    for db in [&app.order_db, &app.inventory_db, &app.db, &app.payment_db] {
        let mut conn = db.pool().acquire().await.unwrap();
        for row in nakku_core::events::outbox::recent(&mut conn, 10_000).await.unwrap() {
            messages.push(row.envelope.to_message(&app.topic_prefix, 1 << 20).unwrap());
        }
    }
    app.bus.publish(&messages).await.unwrap();
    app.wait_until_consumers_caught_up().await;
    assert_eq!(mail_to_me(), want_mail);
    assert_eq!(hook("push"), want_push);
    assert_eq!(hook("sms"), want_push);
}

/// A provider that keeps failing: retried, then dead-lettered; an admin retries it once the
/// provider is back, and it is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_provider_is_retried_then_dead_lettered_and_an_admin_retry_sends() {
    let (hooks, received, failing) = webhook_receiver().await;
    failing.store(true, std::sync::atomic::Ordering::SeqCst);
    let url = format!("http://{hooks}/sms");
    let app = topology(
        Backend::Sqlite,
        &[
            ("NAKKU_SMS_WEBHOOK_URL", url.as_str()),
            ("NAKKU_NOTIFY_MAX_ATTEMPTS", "2"),
        ],
    )
    .await;
    let admin = shop(&app, &[("MANGO", 12_000, 10)]).await;
    let (token, address) = shopper(&app, 1).await;
    assert_eq!(add(&app, &token, "MANGO", 1).await.status(), 200);
    let r = place(
        &app,
        &token,
        "dlq-1",
        &json!({"address_id": address, "payment_method": "upi"}),
    )
    .await;
    let id = body(r).await["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(settled(&app, &token, &id).await["status"], "confirmed");
    // A long chain (relay, consumer, two sends a second apart): a generous deadline.
    let dead = app
        .eventually(60, || async {
            let items = body(app.get_as("/notifications/failed", &admin).await).await["data"]["items"].clone();
            items.as_array().and_then(|a| a.first().cloned())
        })
        .await;
    assert_eq!((&dead["channel"], &dead["attempts"]), (&json!("sms"), &json!(2)));
    assert!(dead["last_error"].as_str().unwrap().contains("503"), "{dead}");
    assert!(received.lock().unwrap().is_empty());
    assert_eq!(app.get_as("/notifications/failed", &token).await.status(), 403);

    failing.store(false, std::sync::atomic::Ordering::SeqCst);
    let nid = dead["id"].as_str().unwrap();
    let r = app
        .post_as(format!("/notifications/{nid}/retry"), &admin, &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    app.eventually(30, || async { (received.lock().unwrap().len() == 1).then_some(()) })
        .await;
    // Only a dead-lettered message can be retried.
    let r = app
        .post_as(format!("/notifications/{nid}/retry"), &admin, &json!({}))
        .await;
    assert_eq!(r.status(), 409);
}

/// A confirmation dispatched before the notification service has heard of the shopper
/// (its `user.*` events behind the order's, as under load or during a replay) is retried
/// until the contact arrives, not suppressed for want of an address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_waits_for_a_contact_that_has_not_arrived_yet_instead_of_being_dropped() {
    let (smtp, mails) = smtp_sink().await;
    let url = format!("smtp://{smtp}");
    let app = topology(Backend::Sqlite, &[("NAKKU_SMTP_URL", url.as_str())]).await;
    shop(&app, &[("MANGO", 12_000, 10)]).await;
    let (token, address) = shopper(&app, 1).await;
    let me = app.jwt.verify(&token).unwrap().sub;
    let db = nakku_core::db::Db::connect(
        &nakku_core::config::Secret::new(format!(
            "sqlite://{}",
            app.data_dir().join("nakku_notification.db").display()
        )),
        1,
    )
    .await
    .unwrap();
    let contacts = |sql: &'static str| {
        let (db, me) = (db.clone(), me.clone());
        async move {
            sqlx::query(sql)
                .bind(me)
                .execute(db.pool())
                .await
                .unwrap()
                .rows_affected()
        }
    };
    // The contact is known (the shopper's welcome mail went out; the admin's may come
    // first, and under load before the shopper's contact is stored); now hide it, as if not
    // arrived yet.
    let shopper_email = register_body(1)["email"].as_str().unwrap().to_owned();
    app.eventually(30, || async {
        (mails
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.subject == "Welcome to Nakku" && m.to == shopper_email))
        .then_some(())
    })
    .await;
    assert_eq!(
        contacts("UPDATE contacts SET user_id = 'parked' WHERE user_id = ?").await,
        1
    );

    assert_eq!(add(&app, &token, "MANGO", 1).await.status(), 200);
    let r = place(
        &app,
        &token,
        "late-contact-1",
        &json!({"address_id": address, "payment_method": "upi"}),
    )
    .await;
    let id = body(r).await["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(settled(&app, &token, &id).await["status"], "confirmed");
    let short = id[id.len() - 6..].to_owned();
    let subject = format!("Order {short} confirmed");
    // Tried, and kept for another try (before: suppressed, "no email address").
    let waiting = app
        .eventually(30, || async {
            let h = body(app.get_as("/notifications?limit=100", &token).await).await["data"]["items"].clone();
            h.as_array()
                .unwrap()
                .iter()
                .find(|n| {
                    n["channel"] == "email" && n["title"] == subject.as_str() && n["attempts"].as_i64() >= Some(1)
                })
                .cloned()
        })
        .await;
    assert_eq!(waiting["status"], "pending", "{waiting}");
    assert!(
        waiting["last_error"].as_str().unwrap().contains("contact details"),
        "{waiting}"
    );

    // The contact arrives: the confirmation goes out.
    assert_eq!(
        sqlx::query("UPDATE contacts SET user_id = ? WHERE user_id = 'parked'")
            .bind(&me)
            .execute(db.pool())
            .await
            .unwrap()
            .rows_affected(),
        1
    );
    app.eventually(30, || async {
        (mails.lock().unwrap().iter().any(|m| m.subject == subject)).then_some(())
    })
    .await;
}
