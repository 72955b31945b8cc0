//! Registration, login, tokens.

use serde_json::json;

use crate::helpers::*;

crate::on_both_backends!(
    registering_returns_the_account_and_a_working_token_pair,
    register_rejects_malformed_json_with_400_and_writes_nothing,
    register_names_every_missing_or_invalid_field_and_writes_nothing,
    register_rejects_wrong_types_with_422_naming_the_field,
    a_duplicate_email_in_any_case_or_phone_is_409_naming_the_field,
    wrong_password_and_unknown_email_get_the_same_401,
    expired_tampered_and_unsigned_tokens_are_401,
    a_refresh_token_rotates_and_its_reuse_revokes_the_session,
    logout_revokes_the_refresh_token_and_is_idempotent,
    sql_metacharacters_and_unicode_names_are_stored_verbatim,
    a_wrong_content_type_is_415_and_an_oversized_body_413,
);

async fn registering_returns_the_account_and_a_working_token_pair(app: TestApp) {
    let r = app
        .client
        .post(app.api("/auth/register"))
        .header("x-request-id", "reg-req-1")
        .json(&json!({"email": " Asha@Example.com ", "phone": "+91 98765 43210", "password": PASSWORD, "name": "Asha"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-request-id"], "reg-req-1");
    let b = body(r).await;
    assert_eq!(b["success"], true);
    let d = &b["data"];
    assert_eq!(d["user"]["email"], "asha@example.com");
    assert_eq!(d["user"]["phone"], "+919876543210");
    assert_eq!(d["user"]["role"], "user");
    assert!(d["user"].get("password_hash").is_none());
    assert_eq!(d["token_type"], "Bearer");
    let token = d["access_token"].as_str().unwrap();
    let me = app.get_as("/users/me", token).await;
    assert_eq!(me.status(), 200);
    assert_eq!(body(me).await["data"]["id"], d["user"]["id"]);

    let events = app.outbox().await;
    let reg = events
        .iter()
        .find(|e| e.envelope.event_type == "user.registered")
        .expect("user.registered in outbox");
    assert_eq!(reg.envelope.aggregate_id, d["user"]["id"].as_str().unwrap());
    assert_eq!(reg.envelope.correlation_id, "reg-req-1");
    assert_eq!(reg.envelope.source, "user");
    assert_eq!(reg.envelope.payload["email"], "asha@example.com");

    let login = app.login("ASHA@example.com", PASSWORD).await;
    assert_eq!(login.status(), 200);
    assert!(app.outbox().await.iter().any(|e| e.envelope.event_type == "user.login"));
}

async fn register_rejects_malformed_json_with_400_and_writes_nothing(app: TestApp) {
    for raw in [
        "{\"email\": \"a@b.com\",",
        "not json",
        "",
        "{\"email\": \"a@b.com\"} {}",
    ] {
        let r = app
            .client
            .post(app.api("/auth/register"))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let b = error_body(r, 400).await;
        assert!(b["error"].as_str().unwrap().contains("malformed JSON"), "{raw:?}: {b}");
    }
    assert_eq!(app.snapshot().await, [0, 0, 0, 0]);
}

async fn register_names_every_missing_or_invalid_field_and_writes_nothing(app: TestApp) {
    let b = error_body(app.post("/auth/register", &json!({})).await, 422).await;
    for f in ["email", "phone", "password", "name"] {
        assert_eq!(b["fields"][f][0], "is required", "{b}");
    }
    let bad = json!({"email": "not-an-email", "phone": "12345", "password": "short", "name": "   "});
    let b = error_body(app.post("/auth/register", &bad).await, 422).await;
    assert!(b["fields"]["email"][0].as_str().unwrap().contains("email address"));
    assert!(b["fields"]["phone"][0].as_str().unwrap().contains("mobile number"));
    assert!(b["fields"]["password"][0].as_str().unwrap().contains("at least 8"));
    assert!(b["fields"]["name"][0].as_str().unwrap().contains("empty"));
    assert_eq!(app.snapshot().await, [0, 0, 0, 0]);
}

async fn register_rejects_wrong_types_with_422_naming_the_field(app: TestApp) {
    let mut body = register_body(1);
    body["email"] = json!(12345);
    let b = error_body(app.post("/auth/register", &body).await, 422).await;
    assert!(
        b["fields"]["email"][0].as_str().unwrap().contains("invalid type"),
        "{b}"
    );
    let b = error_body(app.post("/auth/register", &json!([1, 2])).await, 422).await;
    assert!(b["fields"].get("body").is_some(), "{b}");
    assert_eq!(app.snapshot().await, [0, 0, 0, 0]);
}

async fn a_duplicate_email_in_any_case_or_phone_is_409_naming_the_field(app: TestApp) {
    app.register(1).await;
    let before = app.snapshot().await;
    let mut dup = register_body(2);
    dup["email"] = json!("SHOPPER1@example.com");
    let b = error_body(app.post("/auth/register", &dup).await, 409).await;
    assert!(b["fields"]["email"].is_array(), "{b}");
    let mut dup = register_body(3);
    dup["phone"] = register_body(1)["phone"].clone();
    let b = error_body(app.post("/auth/register", &dup).await, 409).await;
    assert!(b["fields"]["phone"].is_array(), "{b}");
    assert_eq!(app.snapshot().await, before);
}

async fn wrong_password_and_unknown_email_get_the_same_401(app: TestApp) {
    app.register(1).await;
    let before = app.snapshot().await;
    let wrong = app.login("shopper1@example.com", "wrong-pass-1").await;
    let unknown = app.login("nobody@example.com", PASSWORD).await;
    let a = error_body(wrong, 401).await;
    let b = error_body(unknown, 401).await;
    assert_eq!(a, b);
    assert_eq!(a["error"], "invalid email or password");
    assert_eq!(app.snapshot().await, before);
}

async fn expired_tampered_and_unsigned_tokens_are_401(app: TestApp) {
    use base64::Engine;
    let (id, token) = app.signed_up(1).await;
    let now = chrono::Utc::now().timestamp();
    let expired = app
        .jwt
        .encode(&nakku_core::auth::Claims {
            sub: id.clone(),
            role: nakku_core::auth::Role::User,
            iat: now - 3600,
            exp: now - 600,
            iss: "nakku".into(),
            jti: "x".into(),
        })
        .unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let claims = String::from_utf8(b64.decode(parts[1]).unwrap())
        .unwrap()
        .replace("\"user\"", "\"admin\"");
    let tampered = format!("{}.{}.{}", parts[0], b64.encode(claims.as_bytes()), parts[2]);
    let unsigned = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims.as_bytes())
    );
    for (what, t) in [
        ("expired", expired),
        ("tampered", tampered),
        ("alg none", unsigned),
        ("garbage", "abc".into()),
    ] {
        // At the gateway and at the service itself.
        for base in [app.api("/users/me"), format!("{}/api/v1/users/me", app.user)] {
            let r = app.get_as(&base, &t).await;
            assert_eq!(r.status(), 401, "{what} at {base}");
            assert!(r.headers().contains_key("www-authenticate"));
            error_body(r, 401).await;
        }
    }
    error_body(app.client.get(app.api("/users/me")).send().await.unwrap(), 401).await;
    let ok = app.get_as("/users/me", &token).await;
    assert_eq!(ok.status(), 200);
}

async fn a_refresh_token_rotates_and_its_reuse_revokes_the_session(app: TestApp) {
    let d = app.register(1).await;
    let first = d["refresh_token"].as_str().unwrap().to_owned();
    let r = app.post("/auth/refresh", &json!({"refresh_token": first})).await;
    assert_eq!(r.status(), 200);
    let second = body(r).await["data"].clone();
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first);
    let me = app.get_as("/users/me", second["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status(), 200);

    // The old token again: refused, and the stolen-token defence revokes the new one too.
    error_body(app.post("/auth/refresh", &json!({"refresh_token": first})).await, 401).await;
    error_body(
        app.post("/auth/refresh", &json!({"refresh_token": second_refresh}))
            .await,
        401,
    )
    .await;
    error_body(
        app.post("/auth/refresh", &json!({"refresh_token": "nkr_made_up"}))
            .await,
        401,
    )
    .await;
    error_body(app.post("/auth/refresh", &json!({})).await, 422).await;

    // Another login is a separate session and still works.
    let login = body(app.login("shopper1@example.com", PASSWORD).await).await;
    let r = app
        .post(
            "/auth/refresh",
            &json!({"refresh_token": login["data"]["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

async fn logout_revokes_the_refresh_token_and_is_idempotent(app: TestApp) {
    let d = app.register(1).await;
    let refresh = d["refresh_token"].clone();
    let r = app.post("/auth/logout", &json!({"refresh_token": refresh})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.post("/auth/logout", &json!({"refresh_token": refresh}))
            .await
            .status(),
        200
    );
    error_body(app.post("/auth/refresh", &json!({"refresh_token": refresh})).await, 401).await;

    // logout with all=true ends every session of the account.
    let a = body(app.login("shopper1@example.com", PASSWORD).await).await;
    let b = body(app.login("shopper1@example.com", PASSWORD).await).await;
    let r = app
        .post(
            "/auth/logout",
            &json!({"refresh_token": a["data"]["refresh_token"], "all": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    error_body(
        app.post("/auth/refresh", &json!({"refresh_token": b["data"]["refresh_token"]}))
            .await,
        401,
    )
    .await;
}

async fn sql_metacharacters_and_unicode_names_are_stored_verbatim(app: TestApp) {
    let names = [
        "Robert'); DROP TABLE users;--",
        "श्रेया \"Shreya\" ಕನ್ನಡ 🛒",
        "O'Brien \\ % _ ; --",
    ];
    for (i, name) in names.iter().enumerate() {
        let mut b = register_body(10 + i as u32);
        b["name"] = json!(name);
        let r = app.post("/auth/register", &b).await;
        assert_eq!(r.status(), 201);
        let token = body(r).await["data"]["access_token"].as_str().unwrap().to_owned();
        let me = body(app.get_as("/users/me", &token).await).await;
        assert_eq!(me["data"]["name"], *name);
    }
    assert_eq!(app.count("users").await, 3);
}

async fn a_wrong_content_type_is_415_and_an_oversized_body_413(app: TestApp) {
    let r = app
        .client
        .post(app.api("/auth/register"))
        .header("content-type", "text/plain")
        .body(register_body(1).to_string())
        .send()
        .await
        .unwrap();
    error_body(r, 415).await;
    let mut big = register_body(1);
    big["name"] = json!("x".repeat(200_000));
    // through the gateway and directly at the service
    error_body(app.post("/auth/register", &big).await, 413).await;
    let r = app
        .client
        .post(format!("{}/api/v1/auth/register", app.user))
        .json(&big)
        .send()
        .await
        .unwrap();
    error_body(r, 413).await;
    assert_eq!(app.snapshot().await, [0, 0, 0, 0]);
}
