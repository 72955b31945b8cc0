//! A shopper's steps through either API: REST (`/api/v1`) or GraphQL (`/api/graphql`),
//! each timed under its own label so the report can set the two side by side (`--api`).

use super::*;

/// Which API shoppers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// REST only
    Rest,
    /// GraphQL for every shopper step (riders, who have no GraphQL fields, stay on REST)
    Graphql,
    /// Every other shopper through GraphQL, the rest through REST: both under the same load
    Both,
}

impl Api {
    /// Whether the shopper of visit `seed` uses GraphQL.
    pub(super) fn graphql_for(self, seed: u64) -> bool {
        match self {
            Api::Rest => false,
            Api::Graphql => true,
            Api::Both => seed % 2 == 1,
        }
    }
}

/// Each step of a visit: its name, REST's label and GraphQL's.
pub(super) const STEPS: [(&str, &str, &str); 10] = [
    ("categories", "GET /categories", "GraphQL categories"),
    ("search", "GET /products", "GraphQL products"),
    ("product page", "GET /products/{id}", "GraphQL product"),
    ("empty the cart", "DELETE /cart", "GraphQL clearCart"),
    ("add to cart", "POST /cart/items", "GraphQL addToCart"),
    ("checkout", "GET /cart/checkout", "GraphQL checkout"),
    ("place the order", "POST /orders", "GraphQL placeOrder"),
    ("cancel", "POST /orders/{id}/cancel", "GraphQL cancelOrder"),
    ("follow the order", "GET /orders/{id}", "GraphQL order"),
    ("the delivery's code", "GET /deliveries/{id}", "GraphQL order.delivery"),
];

/// The label of step `i` on the chosen API.
fn label(i: usize, gql: bool) -> &'static str {
    if gql {
        STEPS[i].2
    } else {
        STEPS[i].1
    }
}

/// A GraphQL answer read as the REST envelope reads: an error's `extensions.code` as the
/// status and its message as `error`; otherwise `data` as it came. Anything else unchanged.
pub(super) fn as_envelope(status: u16, v: Value) -> (u16, Value) {
    let Some(first) = v["errors"].as_array().and_then(|e| e.first()) else {
        return (status, v);
    };
    let code = first["extensions"]["code"]
        .as_u64()
        .and_then(|c| u16::try_from(c).ok())
        .unwrap_or(500);
    let error = first["message"].clone();
    (code, json!({"data": v["data"], "error": error}))
}

/// One shopper's calls, on REST or GraphQL.
pub(super) struct Shopper<'a> {
    pub(super) sim: &'a Sim,
    pub(super) token: &'a str,
    pub(super) gql: bool,
}

impl Shopper<'_> {
    async fn graphql(&self, i: usize, query: &str, variables: Value, key: Option<&str>) -> (u16, Value) {
        self.sim
            .send(
                label(i, true),
                Req::Graphql(json!({"query": query, "variables": variables})),
                self.token,
                key,
            )
            .await
    }

    async fn rest(&self, i: usize, method: Method, path: &str, body: Option<Value>, key: Option<&str>) -> (u16, Value) {
        self.sim
            .send(label(i, false), Req::Rest(method, path, body), self.token, key)
            .await
    }

    pub(super) async fn categories(&self) {
        if self.gql {
            self.graphql(0, "{ categories { id name children { id name } } }", json!({}), None)
                .await;
        } else {
            self.rest(0, Method::GET, "/categories", None, None).await;
        }
    }

    /// Skus found for `term` in stock at `store` (or, with no term, the store's popular ones).
    pub(super) async fn search(&self, term: Option<&str>, store: &str) -> Vec<String> {
        let items = if self.gql {
            let sort = if term.is_none() { Some("popularity") } else { None };
            let (_, v) = self
                .graphql(
                    1,
                    "query($s: ProductSearch!) { products(search: $s) { total items { sku name pricePaise } } }",
                    json!({"s": {"q": term, "store": store, "inStock": true, "limit": 20, "sort": sort}}),
                    None,
                )
                .await;
            v["data"]["products"]["items"].clone()
        } else {
            let path = match term {
                Some(t) => format!("/products?q={t}&store={store}&in_stock=true&limit=20"),
                None => format!("/products/popular?store={store}&limit=20"),
            };
            let label = if term.is_some() {
                STEPS[1].1
            } else {
                "GET /products/popular"
            };
            let (_, v) = self
                .sim
                .send(label, Req::Rest(Method::GET, &path, None), self.token, None)
                .await;
            v["data"]["items"].clone()
        };
        items
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h["sku"].as_str().map(str::to_owned))
            .collect()
    }

    pub(super) async fn product(&self, sku: &str, store: &str) {
        if self.gql {
            self.graphql(
                2,
                "query($id: String!, $store: String) { product(id: $id, store: $store) { sku name pricePaise } }",
                json!({"id": sku, "store": store}),
                None,
            )
            .await;
        } else {
            self.rest(2, Method::GET, &format!("/products/{sku}?store={store}"), None, None)
                .await;
        }
    }

    pub(super) async fn clear_cart(&self, store: &str) {
        if self.gql {
            self.graphql(
                3,
                "mutation($store: String!) { clearCart(store: $store) { itemCount } }",
                json!({"store": store}),
                None,
            )
            .await;
        } else {
            self.rest(3, Method::DELETE, &format!("/cart?store={store}"), None, None)
                .await;
        }
    }

    /// The answer's status.
    pub(super) async fn add(&self, sku: &str, quantity: i64, store: &str) -> u16 {
        if self.gql {
            let q = "mutation($store: String!, $sku: String!, $q: Int!) { addToCart(store: $store, sku: $sku, quantity: $q) { itemCount } }";
            self.graphql(4, q, json!({"store": store, "sku": sku, "q": quantity}), None)
                .await
                .0
        } else {
            let body = json!({"sku": sku, "quantity": quantity, "store": store});
            self.rest(4, Method::POST, "/cart/items", Some(body), None).await.0
        }
    }

    /// The quote's id, or why the checkout would not go.
    pub(super) async fn checkout(&self, store: &str, address: &str) -> Result<String, String> {
        let quote = if self.gql {
            let q = "query($store: String!, $a: String!) { checkout(store: $store, addressId: $a) { canPlaceOrder quoteId problems totalPaise } }";
            let (_, v) = self.graphql(5, q, json!({"store": store, "a": address}), None).await;
            let c = &v["data"]["checkout"];
            json!({"can_place_order": c["canPlaceOrder"], "quote_id": c["quoteId"], "problems": c["problems"], "error": v["error"]})
        } else {
            let path = format!("/cart/checkout?store={store}&address_id={address}");
            let (_, v) = self.rest(5, Method::GET, &path, None, None).await;
            let mut d = v["data"].clone();
            d["error"] = v["error"].clone();
            d
        };
        if quote["can_place_order"] == json!(true) {
            return Ok(quote["quote_id"].as_str().unwrap_or_default().to_owned());
        }
        let why = quote["problems"]
            .as_object()
            .and_then(|p| p.values().next())
            .and_then(|m| m[0].as_str())
            .or(quote["error"].as_str())
            .unwrap_or("checkout refused")
            .to_owned();
        Err(why.split(';').next().unwrap_or(&why).chars().take(80).collect())
    }

    /// The order placed (its id), or the status and error it was refused with.
    pub(super) async fn place(&self, input: Value, key: &str) -> Result<String, (u16, String)> {
        let (status, id, error) = if self.gql {
            let mut input = input;
            let obj = input.as_object_mut();
            // GraphQL's input names its fields in camelCase.
            let fields: Vec<(String, Value)> = obj.map(|o| std::mem::take(o).into_iter().collect()).unwrap_or_default();
            let input: serde_json::Map<String, Value> = fields.into_iter().map(|(k, v)| (camel(&k), v)).collect();
            let q = "mutation($key: String!, $input: PlaceOrderInput!) { placeOrder(idempotencyKey: $key, input: $input) { id status } }";
            let (status, v) = self.graphql(6, q, json!({"key": key, "input": input}), Some(key)).await;
            (status, v["data"]["placeOrder"]["id"].clone(), v["error"].clone())
        } else {
            let (status, v) = self.rest(6, Method::POST, "/orders", Some(input), Some(key)).await;
            (status, v["data"]["id"].clone(), v["error"].clone())
        };
        match id.as_str() {
            Some(id) if matches!(status, 200 | 201) => Ok(id.to_owned()),
            _ => Err((status, error.as_str().unwrap_or_default().to_owned())),
        }
    }

    /// The status of the cancellation and its error.
    pub(super) async fn cancel(&self, id: &str) -> (u16, String) {
        let (status, v) = if self.gql {
            let q = "mutation($id: String!, $r: String) { cancelOrder(id: $id, reason: $r) { status } }";
            self.graphql(7, q, json!({"id": id, "r": "changed my mind"}), None)
                .await
        } else {
            let body = json!({"reason": "changed my mind"});
            self.rest(7, Method::POST, &format!("/orders/{id}/cancel"), Some(body), None)
                .await
        };
        (status, v["error"].as_str().unwrap_or_default().to_owned())
    }

    /// The order's status and its saga's state.
    pub(super) async fn order(&self, id: &str) -> (String, String) {
        let o = if self.gql {
            let q = "query($id: String!) { order(id: $id) { status saga { state } } }";
            self.graphql(8, q, json!({"id": id}), None).await.1["data"]["order"].clone()
        } else {
            self.rest(8, Method::GET, &format!("/orders/{id}"), None, None).await.1["data"].clone()
        };
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        (text(&o["status"]), text(&o["saga"]["state"]))
    }

    /// The code the shopper shows the rider, once the delivery has one.
    pub(super) async fn delivery_code(&self, id: &str) -> Option<String> {
        let d = if self.gql {
            let q = "query($id: String!) { order(id: $id) { delivery { otp } } }";
            self.graphql(9, q, json!({"id": id}), None).await.1["data"]["order"]["delivery"].clone()
        } else {
            self.rest(9, Method::GET, &format!("/deliveries/{id}"), None, None)
                .await
                .1["data"]
                .clone()
        };
        d["otp"].as_str().map(str::to_owned)
    }
}

/// `snake_case` as `camelCase`.
fn camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut up = false;
    for c in s.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// One step's latencies on each API, for the report.
#[derive(Debug, Serialize)]
pub(super) struct StepCompare {
    pub(super) step: String,
    pub(super) rest: Option<LatencyBrief>,
    pub(super) graphql: Option<LatencyBrief>,
}

#[derive(Debug, Serialize)]
pub(super) struct LatencyBrief {
    pub(super) requests: usize,
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
}

/// Each step on both APIs from the endpoints' figures; empty when GraphQL was not used.
pub(super) fn compare(endpoints: &[EndpointStats]) -> Vec<StepCompare> {
    let brief = |label: &str| {
        endpoints.iter().find(|e| e.endpoint == label).map(|e| LatencyBrief {
            requests: e.requests,
            p50_ms: e.p50_ms,
            p99_ms: e.p99_ms,
        })
    };
    if !STEPS.iter().any(|(_, _, g)| brief(g).is_some()) {
        return Vec::new();
    }
    STEPS
        .iter()
        .map(|(step, rest, gql)| StepCompare {
            step: (*step).to_owned(),
            rest: brief(rest),
            graphql: brief(gql),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_errors_read_as_rest_envelopes() {
        let (status, v) = as_envelope(
            200,
            json!({"data": {"order": null}, "errors": [{"message": "order not found", "extensions": {"code": 404}}]}),
        );
        assert_eq!((status, &v["error"]), (404, &json!("order not found")));
        let ok = json!({"data": {"order": {"id": "1"}}});
        assert_eq!(as_envelope(200, ok.clone()), (200, ok));
        assert_eq!(camel("address_id"), "addressId");
        assert_eq!(camel("quote_id"), "quoteId");
        assert!(!Api::Both.graphql_for(2) && Api::Both.graphql_for(3) && Api::Graphql.graphql_for(2));
    }
}
