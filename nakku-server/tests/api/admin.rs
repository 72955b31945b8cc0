//! Roles and the admin endpoints.

use serde_json::json;

use crate::helpers::*;

crate::on_both_backends!(
    a_user_calling_an_admin_endpoint_gets_403,
    an_admin_lists_users_page_by_page_and_filters_them,
    an_admin_changes_roles_and_a_demoted_admin_loses_access_at_once,
);

async fn a_user_calling_an_admin_endpoint_gets_403(app: TestApp) {
    let (id, token) = app.signed_up(1).await;
    error_body(app.get_as("/users", &token).await, 403).await;
    let r = app
        .patch_as(&format!("/users/{id}/role"), &token, &json!({"role": "admin"}))
        .await;
    error_body(r, 403).await;
    let me = body(app.get_as("/users/me", &token).await).await;
    assert_eq!(me["data"]["role"], "user");
}

async fn an_admin_lists_users_page_by_page_and_filters_them(app: TestApp) {
    let (admin_id, admin) = app.signed_up(1).await;
    app.make_admin(&admin_id).await;
    for tag in 2..=6 {
        app.register(tag).await;
    }
    let mut seen = Vec::new();
    let mut url = app.api("/users?limit=2");
    loop {
        let b = body(app.get_as(&url, &admin).await).await;
        let items = b["data"]["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|u| u["email"].as_str().unwrap().to_owned()));
        match b["data"]["next_cursor"].as_str() {
            Some(c) => url = app.api(&format!("/users?limit=2&cursor={c}")),
            None => break,
        }
    }
    let expected: Vec<String> = (1..=6).map(|t| format!("shopper{t}@example.com")).collect();
    assert_eq!(seen, expected, "every account once, in creation order");

    let b = body(app.get_as("/users?role=admin", &admin).await).await;
    assert_eq!(b["data"]["items"].as_array().unwrap().len(), 1);
    let b = body(app.get_as("/users?q=shopper3", &admin).await).await;
    assert_eq!(b["data"]["items"][0]["email"], "shopper3@example.com");
    let b = body(app.get_as("/users?q=%25", &admin).await).await;
    assert!(
        b["data"]["items"].as_array().unwrap().is_empty(),
        "% is literal, not a wildcard"
    );
    for bad in [
        "/users?role=wizard",
        "/users?limit=0",
        "/users?cursor=zzz",
        "/users?limit=abc",
    ] {
        error_body(app.get_as(bad, &admin).await, 422).await;
    }
}

async fn an_admin_changes_roles_and_a_demoted_admin_loses_access_at_once(app: TestApp) {
    let (admin_id, admin) = app.signed_up(1).await;
    app.make_admin(&admin_id).await;
    let (rider_id, _) = app.signed_up(2).await;
    let (other_id, other) = app.signed_up(3).await;

    let url = |id: &str| app.api(&format!("/users/{id}/role"));
    let r = app
        .patch_as(url(&rider_id), &admin, &json!({"role": "delivery_partner"}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["data"]["role"], "delivery_partner");
    let ev = app
        .outbox()
        .await
        .into_iter()
        .rev()
        .find(|e| e.envelope.event_type == "user.updated")
        .unwrap();
    assert_eq!(ev.envelope.payload["role"], "delivery_partner");

    let r = app.patch_as(url(&rider_id), &admin, &json!({"role": "king"})).await;
    error_body(r, 422).await;
    let r = app.patch_as(url(&admin_id), &admin, &json!({"role": "user"})).await;
    error_body(r, 422).await;
    let r = app
        .patch_as(
            url("01a21610-ff3e-77c9-b294-e823955835b0"),
            &admin,
            &json!({"role": "user"}),
        )
        .await;
    error_body(r, 404).await;

    // Promote, then demote: the old token still says admin, but the check reads the database.
    let r = app.patch_as(url(&other_id), &admin, &json!({"role": "admin"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.get_as("/users", &other).await.status(), 200);
    let r = app.patch_as(url(&other_id), &admin, &json!({"role": "user"})).await;
    assert_eq!(r.status(), 200);
    error_body(app.get_as("/users", &other).await, 403).await;
    let got = body(app.get_as(&format!("/users/{rider_id}"), &admin).await).await;
    assert_eq!(got["data"]["role"], "delivery_partner");
}
