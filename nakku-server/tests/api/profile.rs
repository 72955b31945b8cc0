//! Profile, password change, account deletion.

use serde_json::json;

use crate::helpers::*;

crate::on_both_backends!(
    the_profile_can_be_read_and_partially_updated,
    a_password_change_needs_the_current_password_and_ends_every_session,
    a_deleted_account_is_soft_deleted_and_its_tokens_stop_working,
);

async fn the_profile_can_be_read_and_partially_updated(app: TestApp) {
    let (id, token) = app.signed_up(1).await;
    app.register(2).await;
    let r = app
        .as_user(reqwest::Method::PATCH, "/users/me", &token)
        .header("x-request-id", "patch-1")
        .json(&json!({"name": "Asha Rao"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let u = body(r).await["data"].clone();
    assert_eq!(u["name"], "Asha Rao");
    assert_eq!(u["email"], "shopper1@example.com");
    let ev = app
        .outbox()
        .await
        .into_iter()
        .find(|e| e.envelope.event_type == "user.updated")
        .expect("user.updated");
    assert_eq!(ev.envelope.aggregate_id, id);
    assert_eq!(ev.envelope.correlation_id, "patch-1");
    assert_eq!(ev.envelope.payload["changed"], json!(["name"]));

    // Taking another account's email is a conflict and changes nothing.
    let before = app.snapshot().await;
    let r = app
        .patch_as("/users/me", &token, &json!({"email": "shopper2@example.com"}))
        .await;
    error_body(r, 409).await;
    let r = app.patch_as("/users/me", &token, &json!({"phone": "nope"})).await;
    let b = error_body(r, 422).await;
    assert!(b["fields"]["phone"].is_array());
    assert_eq!(app.snapshot().await, before);
    let me = body(app.get_as("/users/me", &token).await).await;
    assert_eq!(me["data"]["email"], "shopper1@example.com");
}

async fn a_password_change_needs_the_current_password_and_ends_every_session(app: TestApp) {
    let d = app.register(1).await;
    let token = d["access_token"].as_str().unwrap();
    let r = app
        .post_as(
            "/users/me/password",
            token,
            &json!({"current_password": "wrong-one-1", "new_password": "n3w-password"}),
        )
        .await;
    let b = error_body(r, 422).await;
    assert!(b["fields"]["current_password"].is_array());
    let r = app
        .post_as(
            "/users/me/password",
            token,
            &json!({"current_password": PASSWORD, "new_password": "n3w-password"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    error_body(
        app.post("/auth/refresh", &json!({"refresh_token": d["refresh_token"]}))
            .await,
        401,
    )
    .await;
    error_body(app.login("shopper1@example.com", PASSWORD).await, 401).await;
    let r = app.login("shopper1@example.com", "n3w-password").await;
    assert_eq!(r.status(), 200);
}

async fn a_deleted_account_is_soft_deleted_and_its_tokens_stop_working(app: TestApp) {
    let d = app.register(1).await;
    let token = d["access_token"].as_str().unwrap();
    let r = app.post_as("/users/me/addresses", token, &address_body("Home")).await;
    assert_eq!(r.status(), 201);
    let r = app
        .delete_as("/users/me", token, Some(&json!({"password": "wrong-pass-9"})))
        .await;
    error_body(r, 422).await;
    let r = app
        .delete_as("/users/me", token, Some(&json!({"password": PASSWORD})))
        .await;
    assert_eq!(r.status(), 200);

    error_body(app.get_as("/users/me", token).await, 401).await;
    error_body(app.login("shopper1@example.com", PASSWORD).await, 401).await;
    error_body(
        app.post("/auth/refresh", &json!({"refresh_token": d["refresh_token"]}))
            .await,
        401,
    )
    .await;
    // Soft: the rows are still there, marked deleted.
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("addresses").await, 1);
    assert!(app
        .outbox()
        .await
        .iter()
        .any(|e| e.envelope.event_type == "user.deleted"));
    // The email and phone are free again.
    let again = app.post("/auth/register", &register_body(1)).await;
    assert_eq!(again.status(), 201);
    assert_ne!(body(again).await["data"]["user"]["id"], d["user"]["id"]);
}
