//! The location service through the gateway: zones and serviceability (with the store
//! replica fed by inventory events), geocoding, address validation.

use serde_json::{json, Value};

use crate::helpers::*;

crate::on_both_backends!(
    zones_decide_serviceability_on_edges_holes_and_overlaps,
    geocoding_finds_misspelt_localities_and_pincodes,
    invalid_zones_and_coordinates_are_refused_naming_the_problem,
    address_validation_reports_each_problem_and_emits_an_event,
    the_user_address_flow_checks_addresses_with_the_location_service,
);

fn square(lng0: f64, lat0: f64, size: f64) -> Value {
    json!([
        [lng0, lat0],
        [lng0 + size, lat0],
        [lng0 + size, lat0 + size],
        [lng0, lat0 + size],
        [lng0, lat0]
    ])
}

/// Creates a store in the inventory service and waits until the location service's
/// replica has it (it arrives by event).
async fn store(app: &TestApp, admin: &str, code: &str, lat: f64, lng: f64) {
    let r = app
        .post_as("/inventory/stores", admin, &json!({"code": code, "name": format!("Store {code}"), "city": "Bengaluru", "lat": lat, "lng": lng, "opens_at": "00:00", "closes_at": "00:00"}))
        .await;
    assert_eq!(r.status(), 201);
    replicated(app, admin, code, |_| true).await;
}

async fn replicated(app: &TestApp, admin: &str, code: &str, check: impl Fn(&Value) -> bool) {
    app.eventually(30, || async {
        let b = body(app.get_as("/locations/stores", admin).await).await;
        b["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["code"] == code)
            .filter(|s| check(s))
            .map(|_| ())
    })
    .await;
}

async fn served_by(app: &TestApp, lat: f64, lng: f64) -> Value {
    let r = app
        .client
        .get(app.api(&format!("/locations/serviceability?lat={lat}&lng={lng}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    body(r).await["data"].clone()
}

async fn zones_decide_serviceability_on_edges_holes_and_overlaps(app: TestApp) {
    let admin = app.admin_token(1).await;
    store(&app, &admin, "KOR", 12.9352, 77.6245).await;
    store(&app, &admin, "IND", 12.9784, 77.6408).await;
    let a = json!({"store": "KOR", "name": "Koramangala", "geometry": {"type": "Polygon", "coordinates": [square(77.60, 12.90, 0.06), square(77.63, 12.91, 0.01)]}});
    let r = app.post_as("/locations/zones", &admin, &a).await;
    assert_eq!(r.status(), 201);
    let b = json!({"store": "ind", "name": "Indiranagar", "geometry": {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [square(77.62, 12.94, 0.06)]}}});
    assert_eq!(app.post_as("/locations/zones", &admin, &b).await.status(), 201);

    let s = served_by(&app, 12.92, 77.61).await;
    assert_eq!(s["serviceable"], true, "{s}");
    assert_eq!(s["store"]["code"], "KOR");
    assert!(s["eta_minutes"].as_i64().unwrap() >= 4, "{s}");
    assert!(s["distance_km"].as_f64().unwrap() > 0.0);
    assert_eq!(
        served_by(&app, 12.90, 77.62).await["store"]["code"],
        "KOR",
        "the edge is served"
    );
    let hole = served_by(&app, 12.915, 77.635).await;
    assert_eq!(
        (hole["serviceable"].clone(), hole["reason"].clone()),
        (json!(false), json!("outside_zones")),
        "the hole is not"
    );
    assert_eq!(served_by(&app, 13.10, 77.60).await["serviceable"], false);
    // Overlap: the nearer store serves.
    assert_eq!(served_by(&app, 12.95, 77.63).await["store"]["code"], "KOR");

    // KOR closes for now (hours that exclude the current India time): IND takes the overlap.
    let ist = (chrono::Utc::now().timestamp() / 60 + 330).rem_euclid(1440);
    let hhmm = |m: i64| format!("{:02}:{:02}", m.rem_euclid(1440) / 60, m.rem_euclid(1440) % 60);
    let (opens, closes) = (hhmm(ist + 60), hhmm(ist + 120));
    let r = app
        .client
        .patch(app.api("/inventory/stores/KOR"))
        .bearer_auth(&admin)
        .json(&json!({"opens_at": opens, "closes_at": closes}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    replicated(&app, &admin, "KOR", |s| s["opens_at"] == opens.as_str()).await;
    assert_eq!(
        served_by(&app, 12.95, 77.63).await["store"]["code"],
        "IND",
        "the nearest *open* store"
    );
    let closed = served_by(&app, 12.92, 77.61).await;
    assert_eq!(closed["reason"], "closed", "{closed}");
    assert!(closed["message"].as_str().unwrap().contains(&opens));

    let zones = body(app.get_as("/locations/zones?store=KOR", &admin).await).await;
    let id = zones["data"]["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.delete_as(format!("/locations/zones/{id}"), &admin, None)
            .await
            .status(),
        200
    );
    error_body(app.get_as(format!("/locations/zones/{id}"), &admin).await, 404).await;
}

async fn geocoding_finds_misspelt_localities_and_pincodes(app: TestApp) {
    let get = |q: &str| app.client.get(app.api(&format!("/locations/geocode?q={q}"))).send();
    let b = body(get("Koramangla").await.unwrap()).await;
    assert_eq!(b["data"]["items"][0]["locality"], "Koramangala");
    assert_eq!(b["data"]["items"][0]["pincode"], "560034");
    let b = body(get("400050").await.unwrap()).await;
    assert_eq!(b["data"]["items"][0]["locality"], "Bandra West");
    let b = body(get("Atlantis").await.unwrap()).await;
    assert!(b["data"]["items"].as_array().unwrap().is_empty());
    error_body(get("").await.unwrap(), 422).await;
    let r = app
        .client
        .get(app.api("/locations/reverse?lat=19.0596&lng=72.8295"))
        .send()
        .await
        .unwrap();
    assert_eq!(body(r).await["data"]["place"]["locality"], "Bandra West");
    let r = app
        .client
        .get(app.api("/locations/distance?from_lat=12.9352&from_lng=77.6245&to_lat=12.9784&to_lng=77.6408"))
        .send()
        .await
        .unwrap();
    let d = body(r).await["data"].clone();
    assert!((d["distance_km"].as_f64().unwrap() - 5.1).abs() < 0.3, "{d}");
    assert!(d["road_distance_km"].as_f64().unwrap() > d["distance_km"].as_f64().unwrap());
}

async fn invalid_zones_and_coordinates_are_refused_naming_the_problem(app: TestApp) {
    let admin = app.admin_token(1).await;
    store(&app, &admin, "BLR-9", 12.97, 77.59).await;
    let bowtie = json!({"type": "Polygon", "coordinates": [[[77.0, 12.0], [77.1, 12.1], [77.1, 12.0], [77.0, 12.1], [77.0, 12.0]]]});
    let unclosed = json!({"type": "Polygon", "coordinates": [[[77.0, 12.0], [77.1, 12.0], [77.1, 12.1]]]});
    for g in [
        bowtie,
        unclosed,
        json!({"type": "Point", "coordinates": [77.0, 12.0]}),
        json!(42),
    ] {
        let b = error_body(
            app.post_as(
                "/locations/zones",
                &admin,
                &json!({"store": "BLR-9", "name": "Z", "geometry": g}),
            )
            .await,
            422,
        )
        .await;
        assert!(b["fields"]["geometry"].is_array(), "{b}");
    }
    let b = error_body(app.post_as("/locations/zones", &admin, &json!({"store": "NOPE", "name": "Z", "geometry": {"type": "Polygon", "coordinates": [square(77.0, 12.0, 0.1)]}})).await, 422).await;
    assert!(b["fields"]["store"].is_array());
    let (_, shopper) = app.signed_up(2).await;
    error_body(app.post_as("/locations/zones", &shopper, &json!({})).await, 403).await;
    let b = error_body(
        app.client
            .get(app.api("/locations/serviceability?lat=200&lng=77"))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert!(b["fields"]["lat"].is_array());
    let b = error_body(
        app.client
            .get(app.api("/locations/serviceability?lng=77"))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(b["fields"]["lat"][0], "is required");
    error_body(
        app.client
            .get(app.api("/locations/serviceability?lat=abc&lng=77"))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert!(
        body(app.get_as("/locations/zones", &admin).await).await["data"]["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

async fn address_validation_reports_each_problem_and_emits_an_event(app: TestApp) {
    let admin = app.admin_token(1).await;
    store(&app, &admin, "KOR", 12.9352, 77.6245).await;
    let zone = json!({"store": "KOR", "name": "K", "geometry": {"type": "Polygon", "coordinates": [square(77.60, 12.90, 0.06)]}});
    assert_eq!(app.post_as("/locations/zones", &admin, &zone).await.status(), 201);
    let (_, shopper) = app.signed_up(2).await;
    let good =
        json!({"line1": "12, 80 Feet Road", "city": "Bangalore", "pincode": "560034", "lat": 12.93, "lng": 77.62});
    let r = app.post_as("/locations/validate-address", &shopper, &good).await;
    let b = body(r).await["data"].clone();
    assert_eq!(b["valid"], true, "{b}");
    assert_eq!(b["serviceability"]["store"]["code"], "KOR");
    let bad = json!({"line1": "Somewhere", "city": "Mumbai", "pincode": "560034", "lat": 19.06, "lng": 72.83});
    let b = body(app.post_as("/locations/validate-address", &shopper, &bad).await).await["data"].clone();
    assert_eq!(b["valid"], false);
    assert!(
        b["problems"]["pincode"][0].as_str().unwrap().contains("Bengaluru"),
        "{b}"
    );
    assert!(b["problems"]["lat"][0].as_str().unwrap().contains("outside"), "{b}");
    let b = body(
        app.post_as("/locations/validate-address", &shopper, &json!({"lat": 200}))
            .await,
    )
    .await["data"]
        .clone();
    for f in ["line1", "city", "pincode", "lat", "lng"] {
        assert!(b["problems"][f].is_array(), "{f}: {b}");
    }
    let events = app.location_events("location.validated").await;
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].envelope.payload["valid"], true);
}

async fn the_user_address_flow_checks_addresses_with_the_location_service(app: TestApp) {
    let admin = app.admin_token(1).await;
    store(&app, &admin, "KOR", 12.9352, 77.6245).await;
    let zone = json!({"store": "KOR", "name": "K", "geometry": {"type": "Polygon", "coordinates": [square(77.60, 12.90, 0.06)]}});
    assert_eq!(app.post_as("/locations/zones", &admin, &zone).await.status(), 201);
    let (_, shopper) = app.signed_up(2).await;
    let home = json!({"label": "Home", "line1": "80 Feet Road", "city": "Bengaluru", "pincode": "560034", "lat": 12.93, "lng": 77.62});
    let r = app.post_as("/users/me/addresses", &shopper, &home).await;
    assert_eq!(r.status(), 201);
    let a = body(r).await["data"].clone();
    assert_eq!(
        (a["serviceable"].clone(), a["store"].clone()),
        (json!(true), json!("KOR")),
        "{a}"
    );
    // Far away: saved, but marked not serviceable.
    let mut far = home.clone();
    far["lat"] = json!(13.10);
    let r = app.post_as("/users/me/addresses", &shopper, &far).await;
    assert_eq!(r.status(), 201);
    assert_eq!(body(r).await["data"]["serviceable"], false);
    // A PIN code of another city is refused, naming the field, and nothing is saved.
    let before = app.snapshot().await;
    let mut wrong = home.clone();
    wrong["pincode"] = json!("400050");
    let b = error_body(app.post_as("/users/me/addresses", &shopper, &wrong).await, 422).await;
    assert!(b["fields"]["pincode"][0].as_str().unwrap().contains("Mumbai"), "{b}");
    assert_eq!(app.snapshot().await, before);
    // Moving an address re-checks it.
    let id = a["id"].as_str().unwrap();
    let r = app
        .patch_as(format!("/users/me/addresses/{id}"), &shopper, &json!({"lat": 13.10}))
        .await;
    assert_eq!(body(r).await["data"]["serviceable"], false);
}
