//! Addresses: add, list, update, delete, the default address.

use serde_json::json;

use crate::helpers::*;

crate::on_both_backends!(
    the_first_address_is_the_default_and_a_new_default_replaces_it,
    addresses_can_be_updated_and_deleted_and_deleted_ones_never_come_back,
    invalid_addresses_name_each_field_and_write_nothing,
    one_account_cannot_see_or_change_another_accounts_address,
);

async fn add(app: &TestApp, token: &str, body_: &serde_json::Value) -> serde_json::Value {
    let r = app.post_as("/users/me/addresses", token, body_).await;
    assert_eq!(r.status(), 201);
    body(r).await["data"].clone()
}

async fn list(app: &TestApp, token: &str) -> Vec<serde_json::Value> {
    let b = body(app.get_as("/users/me/addresses", token).await).await;
    b["data"]["items"].as_array().unwrap().clone()
}

async fn the_first_address_is_the_default_and_a_new_default_replaces_it(app: TestApp) {
    let (id, token) = app.signed_up(1).await;
    let home = add(&app, &token, &address_body("Home")).await;
    assert_eq!(home["is_default"], true);
    let mut w = address_body("Work");
    w["line2"] = json!("4th floor");
    let work = add(&app, &token, &w).await;
    assert_eq!(work["is_default"], false);
    assert_eq!(work["line2"], "4th floor");
    let mut g = address_body("Gym");
    g["is_default"] = json!(true);
    let gym = add(&app, &token, &g).await;
    let items = list(&app, &token).await;
    assert_eq!(items.len(), 3);
    let defaults: Vec<_> = items.iter().filter(|a| a["is_default"] == true).collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0]["id"], gym["id"]);
    assert_eq!(items[0]["id"], gym["id"], "default listed first");

    let added: Vec<_> = app
        .outbox()
        .await
        .into_iter()
        .filter(|e| e.envelope.event_type == "user.address.added")
        .collect();
    assert_eq!(added.len(), 3);
    assert_eq!(added[0].envelope.aggregate_id, id);
    assert_eq!(added[0].envelope.payload["address"]["pincode"], "560001");
}

async fn addresses_can_be_updated_and_deleted_and_deleted_ones_never_come_back(app: TestApp) {
    let (_, token) = app.signed_up(1).await;
    let home = add(&app, &token, &address_body("Home")).await;
    let work = add(&app, &token, &address_body("Work")).await;
    let url = |a: &serde_json::Value| app.api(&format!("/users/me/addresses/{}", a["id"].as_str().unwrap()));

    let r = app
        .patch_as(url(&work), &token, &json!({"label": "Office", "is_default": true}))
        .await;
    assert_eq!(r.status(), 200);
    let updated = body(r).await["data"].clone();
    assert_eq!(updated["label"], "Office");
    assert_eq!(updated["city"], "Bengaluru");
    assert_eq!(updated["is_default"], true);
    let got = body(app.get_as(url(&home), &token).await).await;
    assert_eq!(got["data"]["is_default"], false);
    // The default cannot simply be unmarked.
    let r = app.patch_as(url(&work), &token, &json!({"is_default": false})).await;
    error_body(r, 422).await;

    // Deleting the default promotes the remaining address.
    let r = app.delete_as(url(&work), &token, None).await;
    assert_eq!(r.status(), 200);
    let items = list(&app, &token).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], home["id"]);
    assert_eq!(items[0]["is_default"], true);
    error_body(app.get_as(url(&work), &token).await, 404).await;
    error_body(app.patch_as(url(&work), &token, &json!({"label": "x"})).await, 404).await;
    error_body(app.delete_as(url(&work), &token, None).await, 404).await;
    assert_eq!(app.count("addresses").await, 2, "soft delete keeps the row");
}

async fn invalid_addresses_name_each_field_and_write_nothing(app: TestApp) {
    let (_, token) = app.signed_up(1).await;
    let before = app.snapshot().await;
    let bad = json!({"label": "", "line1": "x", "city": "Bengaluru", "pincode": "56001", "lat": 123.0, "lng": "east"});
    let r = app.post_as("/users/me/addresses", &token, &bad).await;
    let b = error_body(r, 422).await;
    assert!(b["fields"]["lng"].is_array(), "wrong type named: {b}");
    let bad = json!({"label": "", "line1": "x", "city": "Bengaluru", "pincode": "56001", "lat": 123.0, "lng": 77.0});
    let r = app.post_as("/users/me/addresses", &token, &bad).await;
    let b = error_body(r, 422).await;
    for f in ["label", "pincode", "lat"] {
        assert!(b["fields"][f].is_array(), "{f}: {b}");
    }
    let r = app
        .post_as("/users/me/addresses", &token, &json!({"label": "Home"}))
        .await;
    let b = error_body(r, 422).await;
    for f in ["line1", "city", "pincode", "lat", "lng"] {
        assert_eq!(b["fields"][f][0], "is required", "{f}: {b}");
    }
    assert_eq!(app.snapshot().await, before);
}

async fn one_account_cannot_see_or_change_another_accounts_address(app: TestApp) {
    let (_, asha) = app.signed_up(1).await;
    let (_, ravi) = app.signed_up(2).await;
    let home = add(&app, &asha, &address_body("Home")).await;
    let url = app.api(&format!("/users/me/addresses/{}", home["id"].as_str().unwrap()));
    error_body(app.get_as(&url, &ravi).await, 404).await;
    error_body(app.delete_as(&url, &ravi, None).await, 404).await;
    assert!(list(&app, &ravi).await.is_empty());
    assert_eq!(list(&app, &asha).await.len(), 1);
}
