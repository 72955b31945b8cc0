//! The OpenAPI document describes what the API really answers: a shopper's and an admin's
//! main journeys through the gateway, each answer validated against the schema the
//! document gives for its operation and status, strictly (a field the document does not
//! name fails, as does a wrong type, a missing required field or a malformed date-time).
//! Likewise the AsyncAPI document describes the events those journeys published.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::orders::{add, settled, shop, shopper, STORE};

/// The schema of `method path`'s answer with `status`, made strict: an object schema that
/// lists properties refuses any other (`unevaluatedProperties`; for composed schemas —
/// flattened structs are `allOf` — on the composition, not on its parts).
fn validator(doc: &Value, method: &str, template: &str, status: u16) -> jsonschema::Validator {
    let op = &doc["paths"][format!("/api/v1/{template}")][method];
    assert!(op.is_object(), "{method} {template} is not documented");
    let root = op["responses"][status.to_string()]["content"]["application/json"]["schema"].clone();
    assert!(root.is_object(), "{method} {template} documents no {status} answer");
    strict_validator(root, &strict_components(doc))
}

/// A document's components with every schema made strict (see [`strict`]).
fn strict_components(doc: &Value) -> Value {
    let mut parts = Vec::new();
    composed_parts(&doc["components"], false, &mut parts);
    let mut components = doc["components"].clone();
    if let Some(schemas) = components["schemas"].as_object_mut() {
        for (name, schema) in schemas.iter_mut() {
            strict(schema, parts.contains(&format!("#/components/schemas/{name}")));
        }
    }
    components
}

/// A validator of `root`, made strict, whose references resolve in `components`.
fn strict_validator(mut root: Value, components: &Value) -> jsonschema::Validator {
    strict(&mut root, false);
    root["components"] = components.clone();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .unwrap()
}

/// What `v` breaks of the validator's schema, a line each.
fn violations(validator: &jsonschema::Validator, v: &Value) -> Vec<String> {
    validator
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Every schema named as a part of an `allOf`.
fn composed_parts(v: &Value, in_all_of: bool, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let (true, Some(r)) = (in_all_of, m.get("$ref").and_then(Value::as_str)) {
                out.push(r.to_owned());
            }
            for (k, child) in m {
                composed_parts(child, k == "allOf", out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| composed_parts(c, in_all_of, out)),
        _ => {}
    }
}

fn strict(v: &mut Value, part: bool) {
    match v {
        Value::Object(m) => {
            let whole = m.contains_key("allOf") || m.contains_key("properties");
            if whole && !part && !m.contains_key("additionalProperties") {
                m.insert("unevaluatedProperties".into(), json!(false));
            }
            for (k, child) in m.iter_mut() {
                strict(child, k == "allOf");
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| strict(c, part)),
        _ => {}
    }
}

/// Every event in the services' outboxes, checked against the AsyncAPI document the gateway
/// serves: its type is declared there, and the whole envelope validates against that
/// message's schema, strictly (so the declared version, source and payload fields). Returns
/// the types checked.
async fn events_match_the_asyncapi_document(app: &TestApp) -> std::collections::BTreeSet<String> {
    let r = app.client.get(app.api("/asyncapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["asyncapi"], "3.0.0");
    let components = strict_components(&doc);
    let mut seen = std::collections::BTreeSet::new();
    for env in app.outbox_events().await {
        let message = &doc["components"]["messages"][&env.event_type];
        assert!(
            message.is_object(),
            "{} is published but not in the AsyncAPI document",
            env.event_type
        );
        let validator = strict_validator(message["payload"].clone(), &components);
        let instance = serde_json::to_value(&env).unwrap();
        let errors = violations(&validator, &instance);
        assert!(
            errors.is_empty(),
            "{} is outside its AsyncAPI schema:\n{}\n{instance:#}",
            env.event_type,
            errors.join("\n")
        );
        seen.insert(env.event_type);
    }
    seen
}

struct Checker {
    doc: Value,
    checked: usize,
}

impl Checker {
    /// A checker with the document the gateway serves.
    async fn new(app: &TestApp) -> Checker {
        let doc = app
            .client
            .get(app.api("/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Checker { doc, checked: 0 }
    }

    /// Sends the request, then checks the answer against the document.
    async fn check(
        &mut self,
        app: &TestApp,
        method: &str,
        template: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Value {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = app.as_user(m, path, token);
        if let Some(b) = &body {
            req = req.json(b);
        }
        if method == "POST" && template == "orders" {
            req = req.header("idempotency-key", format!("openapi-{}", self.checked));
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert!(status < 300, "{method} {path}: {status} {v}");
        let validator = validator(&self.doc, &method.to_ascii_lowercase(), template, status);
        let errors = violations(&validator, &v);
        assert!(
            errors.is_empty(),
            "{method} {path} answered outside its schema:\n{}\n{v:#}",
            errors.join("\n")
        );
        assert!(
            self.doc["paths"][format!("/api/v1/{template}")][method.to_ascii_lowercase()]["responses"]
                [status.to_string()]["content"]["application/json"]["schema"]["properties"]["data"]["$ref"]
                .is_string(),
            "{method} {template}: the answer's data is not typed"
        );
        self.checked += 1;
        v["data"].clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_journeys_answer_exactly_what_the_document_says() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut c = Checker::new(&app).await;
    let admin = shop(&app, &[("MANGO", 12_000, 10), ("APPLE", 8_000, 10), ("KIWI", 5_000, 0)]).await;
    let (token, address) = shopper(&app, 1).await;
    assert_eq!(add(&app, &token, "MANGO", 2).await.status(), 200);

    // The shopper: profile, addresses, catalogue, cart, checkout, order, payment.
    c.check(&app, "GET", "users/me", "/users/me", &token, None).await;
    c.check(&app, "GET", "users/me/addresses", "/users/me/addresses", &token, None)
        .await;
    c.check(&app, "GET", "products", "/products?q=fresh&store=ORD-1", &token, None)
        .await;
    c.check(
        &app,
        "GET",
        "products/{id}",
        "/products/MANGO?store=ORD-1",
        &token,
        None,
    )
    .await;
    c.check(&app, "GET", "categories", "/categories", &token, None).await;
    c.check(&app, "GET", "categories/{id}", "/categories/fruit", &token, None)
        .await;
    c.check(
        &app,
        "POST",
        "inventory/stores/{store}/stock/{sku}/watch",
        &format!("/inventory/stores/{STORE}/stock/KIWI/watch"),
        &token,
        None,
    )
    .await;
    c.check(&app, "GET", "products/popular", "/products/popular", &token, None)
        .await;
    c.check(
        &app,
        "POST",
        "cart/items",
        "/cart/items",
        &token,
        Some(json!({"sku": "APPLE", "quantity": 1, "store": STORE})),
    )
    .await;
    c.check(&app, "GET", "cart", "/cart", &token, None).await;
    let quote = c
        .check(
            &app,
            "GET",
            "cart/checkout",
            &format!("/cart/checkout?address_id={address}"),
            &token,
            None,
        )
        .await;
    assert_eq!(quote["can_place_order"], true, "{quote}");
    let placed = c
        .check(
            &app,
            "POST",
            "orders",
            "/orders",
            &token,
            Some(json!({"address_id": address, "payment_method": "upi"})),
        )
        .await;
    let id = placed["id"].as_str().unwrap().to_owned();
    settled(&app, &token, &id).await;
    let order = c
        .check(&app, "GET", "orders/{id}", &format!("/orders/{id}"), &token, None)
        .await;
    assert_eq!(order["status"], "confirmed", "{order}");
    c.check(&app, "GET", "orders", "/orders", &token, None).await;
    c.check(
        &app,
        "GET",
        "payments/orders/{order_id}",
        &format!("/payments/orders/{id}"),
        &token,
        None,
    )
    .await;
    c.check(&app, "GET", "payments", "/payments", &token, None).await;
    c.check(
        &app,
        "POST",
        "orders/{id}/cancel",
        &format!("/orders/{id}/cancel"),
        &token,
        Some(json!({"reason": "changed my mind"})),
    )
    .await;

    c.check(
        &app,
        "GET",
        "payments/orders/{order_id}/refunds",
        &format!("/payments/orders/{id}/refunds"),
        &token,
        None,
    )
    .await;

    // The admin: stores, stock, its ledger, the order's reservation, zones, users.
    c.check(
        &app,
        "GET",
        "inventory/stores/{store}/reconcile",
        &format!("/inventory/stores/{STORE}/reconcile"),
        &admin,
        None,
    )
    .await;
    c.check(&app, "GET", "inventory/stores", "/inventory/stores", &admin, None)
        .await;
    c.check(
        &app,
        "GET",
        "inventory/stores/{store}/stock/{sku}",
        &format!("/inventory/stores/{STORE}/stock/MANGO"),
        &admin,
        None,
    )
    .await;
    c.check(
        &app,
        "POST",
        "inventory/stores/{store}/stock/{sku}/restock",
        &format!("/inventory/stores/{STORE}/stock/APPLE/restock"),
        &admin,
        Some(json!({"quantity": 5})),
    )
    .await;
    c.check(
        &app,
        "GET",
        "inventory/stores/{store}/stock/{sku}/ledger",
        &format!("/inventory/stores/{STORE}/stock/MANGO/ledger"),
        &admin,
        None,
    )
    .await;
    c.check(
        &app,
        "GET",
        "inventory/reservations/{order_id}",
        &format!("/inventory/reservations/{id}"),
        &admin,
        None,
    )
    .await;
    c.check(&app, "GET", "locations/zones", "/locations/zones", &admin, None)
        .await;
    c.check(&app, "GET", "locations/stores", "/locations/stores", &admin, None)
        .await;
    c.check(&app, "GET", "users", "/users", &admin, None).await;

    // Places, notifications.
    let (lat, lng) = (crate::orders::LAT, crate::orders::LNG);
    c.check(
        &app,
        "GET",
        "locations/serviceability",
        &format!("/locations/serviceability?lat={lat}&lng={lng}"),
        &token,
        None,
    )
    .await;
    c.check(
        &app,
        "GET",
        "locations/serviceability",
        "/locations/serviceability?lat=28.61&lng=77.21",
        &token,
        None,
    )
    .await;
    c.check(
        &app,
        "GET",
        "locations/distance",
        &format!("/locations/distance?from_lat={lat}&from_lng={lng}&to_lat=12.93&to_lng=77.62"),
        &token,
        None,
    )
    .await;
    c.check(
        &app,
        "GET",
        "locations/geocode",
        "/locations/geocode?q=koramangla",
        &token,
        None,
    )
    .await;
    c.check(
        &app,
        "GET",
        "locations/reverse",
        &format!("/locations/reverse?lat={lat}&lng={lng}"),
        &token,
        None,
    )
    .await;
    c.check(
        &app,
        "POST",
        "locations/validate-address",
        "/locations/validate-address",
        &token,
        Some(json!({"line1": "12 MG Road", "city": "Bengaluru", "pincode": "560001", "lat": lat, "lng": lng})),
    )
    .await;
    c.check(&app, "GET", "notifications", "/notifications", &token, None)
        .await;
    c.check(
        &app,
        "PUT",
        "notifications/preferences",
        "/notifications/preferences",
        &token,
        Some(json!({"email": {"marketing": false}, "quiet_hours": {"start": "22:00", "end": "07:00"}})),
    )
    .await;
    let device = c
        .check(
            &app,
            "POST",
            "notifications/devices",
            "/notifications/devices",
            &token,
            Some(json!({"platform": "android", "token": "fcm-token-123456"})),
        )
        .await;
    let device = device["id"].as_str().unwrap().to_owned();
    c.check(
        &app,
        "DELETE",
        "notifications/devices/{id}",
        &format!("/notifications/devices/{device}"),
        &token,
        None,
    )
    .await;
    c.check(
        &app,
        "GET",
        "notifications/failed",
        "/notifications/failed",
        &admin,
        None,
    )
    .await;
    assert_eq!(c.checked, 38);

    let seen = events_match_the_asyncapi_document(&app).await;
    for t in [
        "user.registered",
        "user.address.added",
        "product.created",
        "inventory.updated",
        "cart.updated",
        "order.created",
        "inventory.reserved",
        "payment.completed",
        "order.cancelled",
        "location.validated",
    ] {
        assert!(seen.contains(t), "the journey published no {t}: {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delivery_journey_answers_exactly_what_the_document_says() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut c = Checker::new(&app).await;
    let admin = shop(&app, &[("MANGO", 12_000, 10)]).await;
    let rider = crate::delivery::rider(&app, &admin, 61, 12.975, 77.60).await;
    let (token, address) = shopper(&app, 1).await;
    assert_eq!(add(&app, &token, "MANGO", 1).await.status(), 200);
    let placed = c
        .check(
            &app,
            "POST",
            "orders",
            "/orders",
            &token,
            Some(json!({"address_id": address, "payment_method": "cod"})),
        )
        .await;
    let id = placed["id"].as_str().unwrap().to_owned();
    settled(&app, &token, &id).await;
    let d = app
        .eventually(30, || async {
            let d = body(app.get_as(format!("/deliveries/{id}"), &token).await).await["data"].clone();
            (d["status"] == "assigned" || d["status"] == "at_store").then_some(d)
        })
        .await;
    let otp = d["otp"].as_str().unwrap().to_owned();

    c.check(
        &app,
        "GET",
        "deliveries/{order_id}",
        &format!("/deliveries/{id}"),
        &token,
        None,
    )
    .await;
    c.check(
        &app,
        "GET",
        "deliveries/partners/me",
        "/deliveries/partners/me",
        &rider,
        None,
    )
    .await;
    c.check(
        &app,
        "GET",
        "deliveries/partners/me/track",
        "/deliveries/partners/me/track",
        &rider,
        None,
    )
    .await;
    c.check(
        &app,
        "GET",
        "deliveries/partners/me/deliveries",
        "/deliveries/partners/me/deliveries",
        &rider,
        None,
    )
    .await;
    c.check(&app, "GET", "deliveries/partners", "/deliveries/partners", &admin, None)
        .await;
    c.check(
        &app,
        "GET",
        "deliveries/slots",
        &format!("/deliveries/slots?store={STORE}"),
        &token,
        None,
    )
    .await;
    c.check(
        &app,
        "GET",
        "deliveries/stores/{store}/load",
        &format!("/deliveries/stores/{STORE}/load"),
        &admin,
        None,
    )
    .await;
    c.check(
        &app,
        "PUT",
        "deliveries/stores/{store}/slots",
        &format!("/deliveries/stores/{STORE}/slots"),
        &admin,
        Some(json!({"capacity": 30})),
    )
    .await;
    // The rider at the store picks up, rides and hands over with the shopper's code.
    app.eventually(30, || async {
        let _ = app
            .post_as(
                "/deliveries/partners/me/location",
                &rider,
                &json!({"lat": 12.9752, "lng": 77.6003}),
            )
            .await;
        let r = app
            .post_as(format!("/deliveries/{id}/pickup"), &rider, &json!({}))
            .await;
        (r.status() == 200).then_some(())
    })
    .await;
    c.check(
        &app,
        "POST",
        "deliveries/{order_id}/{action}",
        &format!("/deliveries/{id}/start"),
        &rider,
        Some(json!({})),
    )
    .await;
    let done = c
        .check(
            &app,
            "POST",
            "deliveries/{order_id}/{action}",
            &format!("/deliveries/{id}/deliver"),
            &rider,
            Some(json!({"otp": otp})),
        )
        .await;
    assert_eq!(done["status"], "delivered", "{done}");
    assert!(done["promise"]["actual_minutes"].is_number(), "{done}");
    c.check(
        &app,
        "POST",
        "deliveries/partners/me/shift",
        "/deliveries/partners/me/shift",
        &rider,
        Some(json!({"on": false})),
    )
    .await;
    // A picker of the store.
    let (picker_id, picker) = app.signed_up(62).await;
    c.check(
        &app,
        "PUT",
        "deliveries/pickers/{user_id}",
        &format!("/deliveries/pickers/{picker_id}"),
        &admin,
        Some(json!({"store": STORE, "name": "Picker 62"})),
    )
    .await;
    c.check(
        &app,
        "POST",
        "deliveries/pickers/me/shift",
        "/deliveries/pickers/me/shift",
        &picker,
        Some(json!({"on": true})),
    )
    .await;
    c.check(
        &app,
        "GET",
        "deliveries/pickers/me/picks",
        "/deliveries/pickers/me/picks",
        &picker,
        None,
    )
    .await;
    c.check(
        &app,
        "PUT",
        "deliveries/stores/{store}/bins",
        &format!("/deliveries/stores/{STORE}/bins"),
        &admin,
        Some(json!({"bins": {"MANGO": "A-01-1"}})),
    )
    .await;
    // Reports over the day so far.
    for (template, path) in [
        ("analytics/summary", "/analytics/summary"),
        ("analytics/stores", "/analytics/stores"),
        ("analytics/stock-alerts", "/analytics/stock-alerts"),
        ("deliveries/performance", "/deliveries/performance"),
    ] {
        c.check(&app, "GET", template, path, &admin, None).await;
    }
    let summary = body(app.get_as("/analytics/summary", &admin).await).await;
    assert!(summary["data"]["orders"]["funnel"].is_array(), "{summary}");
    assert_eq!(c.checked, 20);

    let seen = events_match_the_asyncapi_document(&app).await;
    for t in ["delivery.scheduled", "delivery.started", "delivery.completed"] {
        assert!(seen.contains(t), "the journey published no {t}: {seen:?}");
    }
}
