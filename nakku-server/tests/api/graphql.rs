//! GraphQL at the gateway: the catalogue side of a home screen in one query, answered as
//! REST answers; errors with REST's messages and statuses; the limits; introspection off.

use serde_json::{json, Value};

use crate::helpers::*;

async fn graphql(app: &TestApp, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
    let mut r = app
        .client
        .post(format!("{}/api/graphql", app.gateway))
        .json(&json!({"query": query, "variables": variables}));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

fn first_error(answer: &Value) -> &Value {
    &answer["errors"][0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_screen_is_one_query_answered_as_rest_answers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.admin_token(1).await;
    let (_, shopper) = app.signed_up(2).await;
    for body in [
        json!({"name": "Dairy & Eggs"}),
        json!({"name": "Milk", "parent": "dairy-eggs"}),
    ] {
        assert_eq!(app.post_as("/categories", &admin, &body).await.status(), 201);
    }
    let mut ids = Vec::new();
    for (sku, name, brand, price) in [
        ("MILK-500", "Amul Taaza Toned Milk", "Amul", 2900),
        ("MILK-1L", "Nandini Full Cream Milk", "Nandini", 5600),
        ("CURD-400", "Amul Masti Curd", "Amul", 3500),
    ] {
        let r = app
            .post_as(
                "/products",
                &admin,
                &json!({"sku": sku, "name": name, "brand": brand, "category": "milk", "unit": "1 pack",
                        "price_paise": price, "mrp_paise": price + 100}),
            )
            .await;
        assert_eq!(r.status(), 201);
        ids.push(body(r).await["data"]["id"].as_str().unwrap().to_owned());
    }
    let rest = app
        .eventually(30, || async {
            let page = body(
                app.client
                    .get(app.api("/products?q=milk&limit=5"))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            // Two by name, the curd by its shelf ("Milk").
            (page["data"]["total"] == 3).then_some(page["data"].clone())
        })
        .await;

    let home = r#"
        query Home($lat: Float!, $lng: Float!, $id: String!) {
          serviceability(lat: $lat, lng: $lng) { serviceable reason message }
          categories { slug productCount children { slug productCount } }
          products(search: {q: "milk", limit: 5}) {
            total nextCursor
            items { id sku name brand pricePaise mrpPaise discountPercent }
            facets { brands { value count } categories { slug count } }
          }
          product(id: $id) { sku name categoryPath { slug } }
        }"#;
    let (status, answer) = graphql(
        &app,
        Some(&shopper),
        home,
        json!({"lat": 13.10, "lng": 77.60, "id": ids[0]}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("errors").is_none(), "{answer}");
    let data = &answer["data"];
    assert_eq!(
        data["serviceability"]["serviceable"], false,
        "no zone covers the point: {data}"
    );
    assert_eq!(data["serviceability"]["reason"], "outside_zones");
    assert_eq!(data["categories"][0]["slug"], "dairy-eggs");
    assert_eq!(data["categories"][0]["productCount"], 3);
    assert_eq!(data["categories"][0]["children"][0]["slug"], "milk");
    // The search as REST answered it: same total, same items in the same order, same facets.
    let page = &data["products"];
    assert_eq!(page["total"], rest["total"]);
    let skus = |items: &Value| -> Vec<String> {
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["sku"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(skus(&page["items"]), skus(&rest["items"]));
    assert_eq!(page["items"][0]["pricePaise"], rest["items"][0]["price_paise"]);
    assert_eq!(
        page["facets"]["brands"].as_array().unwrap().len(),
        rest["facets"]["brands"].as_array().unwrap().len()
    );
    assert_eq!(data["product"]["sku"], "MILK-500");
    assert_eq!(data["product"]["categoryPath"][1]["slug"], "milk");

    // The home screen's shelves: best-sellers and what goes with a product, as REST lists them.
    let (_, answer) = graphql(
        &app,
        None,
        "query($id: String!) { popular(limit: 5) { sku name } recommendations(productId: $id) { items { sku reason } degraded } }",
        json!({"id": ids[0]}),
    )
    .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let rest_popular = body(
        app.client
            .get(app.api("/products/popular?limit=5"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        skus(&answer["data"]["popular"]),
        skus(&rest_popular["data"]["items"]),
        "{answer}"
    );
    let rest_recs = body(
        app.client
            .get(app.api(&format!("/products/{}/recommendations", ids[0])))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let recs = &answer["data"]["recommendations"];
    assert_eq!(skus(&recs["items"]), skus(&rest_recs["data"]["items"]), "{answer}");
    assert_eq!(recs["degraded"], rest_recs["data"]["degraded"]);

    // Errors: REST's message, REST's status as `extensions.code`; the rest of the answer stands.
    let missing = "00000000-0000-7000-8000-000000000000";
    let rest_404 = body(
        app.client
            .get(app.api(&format!("/products/{missing}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (status, answer) = graphql(
        &app,
        None,
        "query($id: String!) { product(id: $id) { sku } categories { slug } }",
        json!({"id": missing}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"]["product"], Value::Null);
    assert_eq!(answer["data"]["categories"][0]["slug"], "dairy-eggs");
    assert_eq!(first_error(&answer)["message"], rest_404["error"], "{answer}");
    assert_eq!(first_error(&answer)["extensions"]["code"], 404);
    assert_eq!(first_error(&answer)["path"], json!(["product"]));
    // A page past the maximum, refused as REST refuses a bad limit.
    let (_, answer) = graphql(&app, None, "{ products(search: {limit: 500}) { total } }", json!({})).await;
    assert_eq!(first_error(&answer)["extensions"]["code"], 422, "{answer}");
    // Too deep: refused before anything is fetched.
    let deep = format!(
        "{{ categories {{ {}slug{} }} }}",
        "children { ".repeat(12),
        " }".repeat(12)
    );
    let (_, answer) = graphql(&app, None, &deep, json!({})).await;
    assert!(
        first_error(&answer)["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{answer}"
    );
    assert_eq!(answer["data"], Value::Null);
    // A bad token is refused as REST refuses it; not JSON is a 400 in the envelope.
    let (status, answer) = graphql(&app, Some("not-a-token"), "{ categories { slug } }", json!({})).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["success"], false);
    let r = app
        .client
        .post(format!("{}/api/graphql", app.gateway))
        .body("query { oops")
        .send()
        .await
        .unwrap();
    error_body(r, 400).await;
    // GraphiQL for people.
    let page = app
        .client
        .get(format!("{}/api/graphql", app.gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().to_lowercase().contains("graphiql"));
    // Signed-in fields: the account and its addresses with a token; without one, REST's
    // 401 for that endpoint, with its message, and the public fields beside still answer.
    let added = app
        .post_as("/users/me/addresses", &shopper, &address_body("Home"))
        .await;
    assert_eq!(added.status(), 201);
    let mine = "{ me { email role } myAddresses { label city isDefault } }";
    let (_, answer) = graphql(&app, Some(&shopper), mine, json!({})).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    assert!(answer["data"]["me"]["email"].as_str().unwrap().contains('@'));
    assert_eq!(answer["data"]["me"]["role"], "user");
    assert_eq!(answer["data"]["myAddresses"][0]["label"], "Home");
    assert_eq!(answer["data"]["myAddresses"][0]["isDefault"], true);
    let rest_401 = body(app.client.get(app.api("/users/me")).send().await.unwrap()).await;
    let (_, answer) = graphql(&app, None, "{ me { email } categories { slug } }", json!({})).await;
    assert!(answer["data"]["me"].is_null(), "{answer}");
    assert_eq!(answer["data"]["categories"][0]["slug"], "dairy-eggs", "{answer}");
    assert_eq!(first_error(&answer)["message"], rest_401["error"], "{answer}");
    assert_eq!(first_error(&answer)["extensions"]["code"], 401);
    // Introspection is on by default.
    let (_, answer) = graphql(&app, None, "{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(answer["data"]["__schema"]["queryType"]["name"], "Query", "{answer}");
}

/// Introspection off; and a GraphQL request counts once against the read limit, however
/// many fields it asks for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_can_be_turned_off_and_queries_count_against_the_read_limit() {
    let app = TestApp::spawn_full(
        Backend::Sqlite,
        false,
        &[
            ("NAKKU_GRAPHQL_INTROSPECTION", "false"),
            ("NAKKU_RATE_LIMIT_READ_PER_MINUTE", "3"),
        ],
    )
    .await;
    let (_, answer) = graphql(&app, None, "{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(answer["data"]["__schema"], Value::Null, "{answer}");
    let three_fields = "{ categories { slug } a: products { total } b: products(search: {q: \"x\"}) { total } }";
    let (status, answer) = graphql(&app, None, three_fields, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"]["categories"], json!([]), "{answer}");
    assert_eq!(answer["data"]["a"]["total"], 0, "{answer}");
    let (status, _) = graphql(&app, None, three_fields, json!({})).await;
    assert_eq!(status, 200, "the third request of three allowed");
    let (status, answer) = graphql(&app, None, three_fields, json!({})).await;
    assert_eq!(status, 429, "the fourth request of a limit of three: {answer}");
    assert_eq!(answer["success"], false);
}

/// The shopper's cart and orders: what REST answers, field for field where they overlap;
/// another shopper's order is refused as REST refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shoppers_cart_and_orders_read_as_rest_reads_them() {
    use crate::orders::{add, place, settled, shop, shopper, STORE};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = shop(&app, &[("MANGO", 12000, 10), ("APPLE", 9000, 10)]).await;
    let (token, address) = shopper(&app, 1).await;
    assert_eq!(add(&app, &token, "MANGO", 2).await.status(), 200);
    let (_, answer) = graphql(
        &app,
        Some(&token),
        "query($store: String!) { cart(store: $store) { itemCount itemsPaise lines { sku quantity unitPricePaise available } } }",
        json!({"store": STORE}),
    )
    .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let cart = &answer["data"]["cart"];
    assert_eq!(cart["itemCount"], 2);
    assert_eq!(cart["itemsPaise"], 24000);
    assert_eq!(cart["lines"][0]["sku"], "MANGO");
    assert_eq!(cart["lines"][0]["available"], 10);

    let r = place(
        &app,
        &token,
        "gql-1",
        &json!({"address_id": address, "payment_method": "cod"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let id = body(r).await["data"]["id"].as_str().unwrap().to_owned();
    let rest = settled(&app, &token, &id).await;
    let orders = r#"query($id: String!) {
        myOrders(first: 5) { nextCursor items { id status totalPaise lines { sku quantity } timeline { status } payment { kind } } }
        order(id: $id) { id status totalPaise itemsPaise feesPaise address { label } fees { code amountPaise } }
    }"#;
    let (_, answer) = graphql(&app, Some(&token), orders, json!({"id": id})).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let mine = &answer["data"]["myOrders"]["items"];
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["id"], json!(id));
    assert_eq!(mine[0]["status"], rest["status"]);
    assert_eq!(mine[0]["lines"][0]["quantity"], 2);
    assert_eq!(mine[0]["payment"]["kind"], "cod");
    assert_eq!(
        mine[0]["timeline"].as_array().unwrap().len(),
        rest["timeline"].as_array().unwrap().len()
    );
    let one = &answer["data"]["order"];
    assert_eq!(one["totalPaise"], rest["total_paise"]);
    assert_eq!(one["feesPaise"], rest["fees_paise"]);
    assert_eq!(one["address"]["label"], "Home");
    assert_eq!(
        one["fees"].as_array().unwrap().len(),
        rest["fees"].as_array().unwrap().len()
    );

    // Its delivery (the delivery service follows the confirmation by events), as REST's
    // trackDelivery shows it to the shopper.
    let rest_delivery = app
        .eventually(30, || async {
            let r = app.get_as(format!("/deliveries/{id}"), &token).await;
            (r.status() == 200).then_some(r)
        })
        .await;
    let rest_delivery = body(rest_delivery).await["data"].clone();
    let (_, answer) = graphql(
        &app,
        Some(&token),
        "query($id: String!) { order(id: $id) { delivery { orderId status otp store } } }",
        json!({"id": id}),
    )
    .await;
    let delivery = &answer["data"]["order"]["delivery"];
    assert_eq!(delivery["orderId"], json!(id), "{answer}");
    assert_eq!(delivery["status"], rest_delivery["status"]);
    assert_eq!(delivery["otp"], rest_delivery["otp"]);

    // Someone else's order: REST's answer, as an error on that field.
    let (_, other) = app.signed_up(2).await;
    let rest_other = app.get_as(format!("/orders/{id}"), &other).await;
    let rest_status = rest_other.status().as_u16();
    let rest_other = body(rest_other).await;
    let (_, answer) = graphql(
        &app,
        Some(&other),
        "query($id: String!) { order(id: $id) { id } }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(answer["data"]["order"], Value::Null, "{answer}");
    assert_eq!(first_error(&answer)["extensions"]["code"], rest_status);
    assert_eq!(first_error(&answer)["message"], rest_other["error"]);
    // The batch endpoint behind `delivery`: another shopper's order is left out; a list of
    // no ids is refused naming the parameter.
    let theirs = body(app.get_as(format!("/deliveries?order_ids={id}"), &other).await).await;
    assert_eq!(theirs["data"]["items"], json!([]), "{theirs}");
    let mine = body(app.get_as(format!("/deliveries?order_ids={id},{id}x"), &token).await).await;
    assert_eq!(mine["data"]["items"].as_array().unwrap().len(), 1, "{mine}");
    let none = app.get_as("/deliveries?order_ids=,", &token).await;
    let none = error_body(none, 422).await;
    assert!(none["fields"]["order_ids"].is_array(), "{none}");
    // A page past the maximum.
    let (_, answer) = graphql(&app, Some(&token), "{ myOrders(first: 101) { nextCursor } }", json!({})).await;
    assert_eq!(first_error(&answer)["extensions"]["code"], 422, "{answer}");

    // Admins' fields: stock and the sales summary, as REST gives them; refused to shoppers.
    let admin_query = r#"query($store: String!) { admin {
        stock(store: $store, skus: ["MANGO", "APPLE"]) { sku onHand reserved available low }
        lowStock(store: $store) { sku }
        analyticsSummary { orders { placed confirmed gmvPaise funnel { stage orders } } topProducts { sku units } stockAlertsOpen { low out } }
    } }"#;
    let rest_summary = app
        .eventually(30, || async {
            let s = body(app.get_as("/analytics/summary", &admin).await).await["data"].clone();
            (s["orders"]["confirmed"] == 1).then_some(s)
        })
        .await;
    let (_, answer) = graphql(&app, Some(&admin), admin_query, json!({"store": STORE})).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let a = &answer["data"]["admin"];
    let rest_stock = body(
        app.get_as(format!("/inventory/stores/{STORE}/stock?skus=MANGO,APPLE"), &admin)
            .await,
    )
    .await;
    for (i, line) in a["stock"].as_array().unwrap().iter().enumerate() {
        let rest = &rest_stock["data"]["items"][i];
        assert_eq!(
            (&line["sku"], &line["onHand"], &line["reserved"], &line["available"]),
            (&rest["sku"], &rest["on_hand"], &rest["reserved"], &rest["available"]),
            "{answer}"
        );
    }
    assert_eq!(a["stock"][0]["reserved"], 0, "{answer}");
    let rest_low = body(app.get_as(format!("/inventory/stores/{STORE}/low-stock"), &admin).await).await;
    assert_eq!(
        a["lowStock"].as_array().unwrap().len(),
        rest_low["data"]["items"].as_array().unwrap().len()
    );
    let orders = &a["analyticsSummary"]["orders"];
    assert_eq!(
        (&orders["placed"], &orders["confirmed"], &orders["gmvPaise"]),
        (
            &rest_summary["orders"]["placed"],
            &rest_summary["orders"]["confirmed"],
            &rest_summary["orders"]["gmv_paise"]
        ),
        "{answer}"
    );
    assert_eq!(a["analyticsSummary"]["topProducts"][0]["sku"], "MANGO", "{answer}");
    let (_, answer) = graphql(&app, Some(&token), admin_query, json!({"store": STORE})).await;
    assert_eq!(answer["data"]["admin"], Value::Null, "{answer}");
    assert_eq!(first_error(&answer)["extensions"]["code"], 403, "{answer}");
}

/// The cart and checkout as mutations: each is the REST write behind it — its checks, its
/// errors, its idempotency key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_fills_a_cart_and_places_an_order_once_through_mutations() {
    use crate::orders::{settled, shop, shopper, STORE};
    let app = TestApp::spawn(Backend::Sqlite).await;
    shop(&app, &[("MANGO", 12000, 10), ("APPLE", 9000, 10)]).await;
    let (token, address) = shopper(&app, 1).await;
    let cart = r#"mutation($store: String!) {
        a: addToCart(store: $store, sku: "MANGO", quantity: 2) { itemCount }
        b: addToCart(store: $store, sku: "APPLE", quantity: 1) { itemCount }
        c: setCartLine(store: $store, sku: "MANGO", quantity: 3) { itemCount }
        d: removeCartLine(store: $store, sku: "APPLE") { itemCount lines { sku quantity } }
    }"#;
    let r = app
        .client
        .post(format!("{}/api/graphql", app.gateway))
        .bearer_auth(&token)
        .header("x-request-id", "gql-cart-1")
        .json(&json!({"query": cart, "variables": {"store": STORE}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "gql-cart-1");
    let answer: Value = r.json().await.unwrap();
    assert!(answer.get("errors").is_none(), "{answer}");
    // The cart service saw the GraphQL request's id: the cart's events carry it.
    let correlated = app
        .outbox_events()
        .await
        .into_iter()
        .filter(|e| e.correlation_id == "gql-cart-1")
        .count();
    assert_eq!(correlated, 4, "one cart event per mutation");
    // Mutations run one after another, in order.
    assert_eq!(answer["data"]["a"]["itemCount"], 2);
    assert_eq!(answer["data"]["b"]["itemCount"], 3);
    assert_eq!(answer["data"]["c"]["itemCount"], 4);
    assert_eq!(answer["data"]["d"]["lines"], json!([{"sku": "MANGO", "quantity": 3}]));
    // REST's checks and words: past the product's limit of 5 per order, and no token.
    let rest = app
        .post_as(
            "/cart/items",
            &token,
            &json!({"store": STORE, "sku": "MANGO", "quantity": 9}),
        )
        .await;
    let rest_status = rest.status().as_u16();
    let rest = body(rest).await;
    let (_, answer) = graphql(
        &app,
        Some(&token),
        "mutation($store: String!) { addToCart(store: $store, sku: \"MANGO\", quantity: 9) { itemCount } }",
        json!({"store": STORE}),
    )
    .await;
    assert_eq!(first_error(&answer)["extensions"]["code"], rest_status, "{answer}");
    assert_eq!(first_error(&answer)["message"], rest["error"]);
    let (_, answer) = graphql(
        &app,
        None,
        "mutation { addToCart(store: \"X1\", sku: \"MANGO\", quantity: 1) { itemCount } }",
        json!({}),
    )
    .await;
    assert_eq!(first_error(&answer)["extensions"]["code"], 401, "{answer}");

    // Placed once, whatever the number of tries with one key.
    let place = r#"mutation($key: String!, $address: String!) {
        placeOrder(idempotencyKey: $key, input: {addressId: $address, paymentMethod: "cod"}) { id status totalPaise lines { sku quantity } }
    }"#;
    let vars = json!({"key": "gql-place-1", "address": address});
    let (_, first) = graphql(&app, Some(&token), place, vars.clone()).await;
    assert!(first.get("errors").is_none(), "{first}");
    let id = first["data"]["placeOrder"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        first["data"]["placeOrder"]["lines"],
        json!([{"sku": "MANGO", "quantity": 3}])
    );
    let (_, again) = graphql(&app, Some(&token), place, vars).await;
    assert_eq!(again["data"]["placeOrder"]["id"], json!(id), "{again}");
    let orders = body(app.get_as("/orders", &token).await).await;
    assert_eq!(orders["data"]["items"].as_array().unwrap().len(), 1);

    settled(&app, &token, &id).await;
    let (_, answer) = graphql(
        &app,
        Some(&token),
        "mutation($id: String!) { cancelOrder(id: $id, reason: \"changed my mind\") { id status } }",
        json!({"id": id}),
    )
    .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let rest = app
        .eventually(30, || async {
            let o = body(app.get_as(format!("/orders/{id}"), &token).await).await;
            (o["data"]["status"] == "cancelled").then_some(o)
        })
        .await;
    assert_eq!(rest["data"]["status"], "cancelled");
}
