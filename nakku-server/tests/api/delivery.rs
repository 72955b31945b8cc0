//! Delivery partners: profile, shift, rate-limited location pings, and the admins' view.

use serde_json::{json, Value};

use crate::helpers::*;

macro_rules! both {
    ($name:ident) => {
        mod sqlite {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(app) = crate::helpers::TestApp::spawn(crate::helpers::Backend::Sqlite).await {
                    super::$name(app).await
                }
            }
        }
        mod mysql {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(app) = crate::helpers::TestApp::spawn(crate::helpers::Backend::MySql).await {
                    super::$name(app).await
                }
            }
        }
    };
}

both!(a_partner_sets_up_works_a_shift_and_reports_positions_at_a_limited_rate);

async fn a_partner_sets_up_works_a_shift_and_reports_positions_at_a_limited_rate(app: TestApp) {
    let admin = app.admin_token(9200).await;
    let store = json!({"code": "DLV-1", "name": "Indiranagar", "city": "Bengaluru", "lat": 12.97, "lng": 77.64, "opens_at": "00:00", "closes_at": "00:00"});
    assert_eq!(app.post_as("/inventory/stores", &admin, &store).await.status(), 201);
    let (id, shopper) = app.signed_up(1).await;
    let r = app
        .as_user(reqwest::Method::PATCH, &format!("/users/{id}/role"), &admin)
        .json(&json!({"role": "delivery_partner"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let login = body(app.login("shopper1@example.com", PASSWORD).await).await;
    let rider = login["data"]["access_token"].as_str().unwrap().to_owned();
    let put = |token: String, b: Value| {
        let rb = app
            .as_user(reqwest::Method::PUT, "/deliveries/partners/me", &token)
            .json(&b);
        async move { rb.send().await.unwrap() }
    };

    // Partners' endpoints are theirs alone; a profile comes first.
    assert_eq!(app.get_as("/deliveries/partners/me", &shopper).await.status(), 403);
    assert_eq!(app.get_as("/deliveries/partners/me", &rider).await.status(), 404);
    let r = put(
        rider.clone(),
        json!({"name": "Ravi", "vehicle": "rocket", "home_store": "DLV-9"}),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(body(r).await["fields"]["vehicle"].is_array());
    // The store reaches the delivery service by event; an unknown one is refused.
    let r = put(
        rider.clone(),
        json!({"name": "Ravi", "vehicle": "scooter", "home_store": "NOPE-1"}),
    )
    .await;
    assert_eq!(r.status(), 422);
    let me = app
        .eventually(30, || async {
            let r = put(
                rider.clone(),
                json!({"name": "Ravi", "vehicle": "scooter", "home_store": "dlv-1"}),
            )
            .await;
            if r.status() == 200 {
                Some(body(r).await["data"].clone())
            } else {
                None
            }
        })
        .await;
    assert_eq!(
        (&me["home_store"], &me["state"], &me["vehicle"]),
        (&json!("DLV-1"), &json!("off_shift"), &json!("scooter"))
    );

    // Positions only on shift; on shift without a position yet is offline.
    let ping = |lat: f64| {
        let b = json!({"lat": lat, "lng": 77.64});
        let rb = app
            .as_user(reqwest::Method::POST, "/deliveries/partners/me/location", &rider)
            .json(&b);
        async move { rb.send().await.unwrap() }
    };
    assert_eq!(ping(12.97).await.status(), 409);
    let r = app
        .post_as("/deliveries/partners/me/shift", &rider, &json!({"on": true}))
        .await;
    assert_eq!(body(r).await["data"]["state"], "offline");
    let r = app
        .post_as(
            "/deliveries/partners/me/location",
            &rider,
            &json!({"lat": 123.0, "lng": 77.64}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(ping(12.971).await.status(), 200);
    let me = body(app.get_as("/deliveries/partners/me", &rider).await).await["data"].clone();
    assert_eq!(me["state"], "available");
    assert_eq!(me["position"]["lat"], 12.971);
    // Too soon: 429 with Retry-After, and the position is unchanged.
    let r = ping(12.972).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let me = body(app.get_as("/deliveries/partners/me", &rider).await).await["data"].clone();
    assert_eq!(me["position"]["lat"], 12.971);
    let track = body(app.get_as("/deliveries/partners/me/track", &rider).await).await["data"]["items"].clone();
    assert_eq!(track.as_array().unwrap().len(), 1);

    // Admins see partners by store and state.
    let list = body(
        app.get_as("/deliveries/partners?store=DLV-1&state=available", &admin)
            .await,
    )
    .await["data"]["items"]
        .clone();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(
        app.get_as("/deliveries/partners?state=asleep", &admin).await.status(),
        422
    );
    assert_eq!(app.get_as("/deliveries/partners", &rider).await.status(), 403);
    let r = app
        .post_as("/deliveries/partners/me/shift", &rider, &json!({"on": false}))
        .await;
    assert_eq!(body(r).await["data"]["state"], "off_shift");
    let list = body(app.get_as("/deliveries/partners?state=available", &admin).await).await["data"]["items"].clone();
    assert_eq!(list, json!([]));
}
