//! Recommendations from co-purchases, and a change reaching another instance's cache and index.

use super::*;

pub(super) async fn recommendations_follow_co_purchases_and_skip_what_is_out_of_stock(app: TestApp) {
    let admin = app.admin_token(1).await;
    category(&app, &admin, json!({"name": "Breakfast"})).await;
    for (sku, name) in [
        ("BREAD", "Brown Bread"),
        ("BUTTER", "Salted Butter"),
        ("JAM", "Mixed Fruit Jam"),
        ("EGGS", "Farm Eggs"),
        ("OATS", "Rolled Oats"),
    ] {
        product(
            &app,
            &admin,
            json!({"sku": sku, "name": name, "category": "breakfast", "unit": "1 pc", "price_paise": 5000}),
        )
        .await;
    }
    store(&app, &admin, "BLR-HSR").await;
    for sku in ["BREAD", "BUTTER", "JAM", "EGGS", "OATS"] {
        restock(&app, &admin, "BLR-HSR", sku, 10).await;
    }
    // four paid orders: bread with butter twice, with jam once, with eggs once
    for other in ["BUTTER", "BUTTER", "JAM", "EGGS"] {
        let order = uuid::Uuid::now_v7().to_string();
        let r = app
            .post_as(
                "/inventory/reservations",
                &admin,
                &json!({"order_id": order, "store": "BLR-HSR", "lines": [{"sku": "BREAD", "quantity": 1}, {"sku": other, "quantity": 1}]}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let r = app
            .post_as(format!("/inventory/reservations/{order}/confirm"), &admin, &json!({}))
            .await;
        assert_eq!(r.status(), 200);
    }
    // eggs sell out at this store
    let r = app
        .post_as(
            "/inventory/stores/BLR-HSR/stock/EGGS/adjust",
            &admin,
            &json!({"delta": -9, "reason": "damaged"}),
        )
        .await;
    assert_eq!(r.status(), 200);

    // The catalogue hears sales and stock through two consumers that progress apart: wait
    // until both have caught up, so "no eggs" means sold out, not not yet heard of.
    app.wait_until_consumers_caught_up().await;
    let recs = app
        .eventually(20, || async {
            let r = body_of(get(&app, "/products/BREAD/recommendations?store=BLR-HSR&limit=3").await).await;
            let together: Vec<String> = r["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["reason"] == "bought_together")
                .map(|i| i["sku"].as_str().unwrap().to_owned())
                .collect();
            // ...and the catalogue has heard that eggs sold out (stock arrives by event).
            let no_eggs = r["items"].as_array().unwrap().iter().all(|i| i["sku"] != "EGGS");
            let filled = r["items"].as_array().unwrap().len() == 3;
            (together == ["BUTTER", "JAM"] && no_eggs && filled).then_some(r)
        })
        .await;
    let items = recs["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[2]["sku"], "OATS", "filled from the category");
    assert_eq!(items[2]["reason"], "popular_in_category");
    assert!(items.iter().all(|i| i["sku"] != "EGGS" && i["sku"] != "BREAD"));
    // without a store there is no stock to respect
    // The purchase history has a 300 ms budget; past it (a loaded machine) the answer is
    // the category's best-sellers, marked degraded: ask until the history answered.
    let anywhere = app
        .eventually(20, || async {
            let r = body_of(get(&app, "/products/BREAD/recommendations?limit=3").await).await;
            (r["degraded"].as_array()?.is_empty()).then_some(r)
        })
        .await;
    let skus: Vec<&str> = anywhere["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, vec!["BUTTER", "EGGS", "JAM"]);

    // best sellers at the store, in stock only
    let popular = body_of(get(&app, "/products/popular?store=BLR-HSR&limit=2").await).await;
    let skus: Vec<&str> = popular["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, vec!["BREAD", "BUTTER"]);
    // search's popularity sort follows units sold
    let pop = search(&app, "category=breakfast&sort=popularity&limit=1").await;
    assert_eq!(ids(&pop), vec!["BREAD"]);
    error_body(get(&app, "/products/NOPE/recommendations").await, 404).await;
    assert_eq!(recs["degraded"], json!([]));

    // Degraded: the purchase history is unreachable; the answer is the category's
    // best-sellers from the index, and says so.
    app.product_db.close().await;
    let r = body_of(get(&app, "/products/BREAD/recommendations?limit=3").await).await;
    assert_eq!(r["degraded"], json!(["recommendations"]), "{r}");
    let items = r["items"].as_array().unwrap();
    assert!(!items.is_empty(), "{r}");
    assert!(
        items
            .iter()
            .all(|i| i["reason"] == "popular_in_category" && i["sku"] != "BREAD"),
        "{r}"
    );
}

pub(super) async fn a_change_made_by_another_instance_reaches_this_ones_cache_and_index(app: TestApp) {
    let admin = app.admin_token(1).await;
    category(&app, &admin, json!({"name": "Tea"})).await;
    let p = product(
        &app,
        &admin,
        json!({"sku": "TEA-1", "name": "Assam Tea", "category": "tea", "unit": "250 g", "price_paise": 14000}),
    )
    .await;
    let id = p["id"].as_str().unwrap().to_owned();
    assert_eq!(body_of(get(&app, "/products/TEA-1").await).await["name"], "Assam Tea"); // now cached
                                                                                        // another instance (or `nakku products import`) writes the database directly
    sqlx::query(
        "UPDATE products SET name = 'Darjeeling Tea', version = version + 1, updated_at = updated_at + 1 WHERE id = ?",
    )
    .bind(&id)
    .execute(app.product_db.pool())
    .await
    .unwrap();
    app.eventually(10, || async {
        let page = body_of(get(&app, "/products/TEA-1").await).await;
        (page["name"] == "Darjeeling Tea").then_some(())
    })
    .await;
    assert_eq!(ids(&search(&app, "q=darjeeling").await), vec!["TEA-1"]);
    // renaming the category changes the breadcrumbs of the cached page too
    let r = app
        .patch_as("/categories/tea", &admin, &json!({"name": "Tea & Coffee"}))
        .await;
    assert_eq!(r.status(), 200);
    let page = body_of(get(&app, "/products/TEA-1").await).await;
    assert_eq!(page["category_path"][0]["name"], "Tea & Coffee", "{page}");
    assert!(ids(&search(&app, "q=assam").await).is_empty());
    let health = body(app.client.get(format!("{}/health", app.product)).send().await.unwrap()).await;
    assert_eq!(health["data"]["checks"]["catalogue"]["indexed_products"], 1, "{health}");
}
