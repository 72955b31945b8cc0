//! GraphQL for app clients: `POST /api/graphql` at the gateway (GraphiQL on `GET`), over
//! the same services as REST. Each field is answered by the service that owns it, through
//! the gateway's pool of instances, with the caller's verified identity — no second
//! business logic: what a field returns is what the REST endpoint returns, and its errors
//! carry the REST envelope's message and status (`extensions.code`).
//!
//! It serves the shopper app — serviceability, the category tree, search with facets, a
//! product page, best-sellers and recommendations, the signed-in shopper's account,
//! addresses, cart, checkout and orders (each order's delivery loaded for a whole page at
//! once) — the cart and checkout mutations, admins' stock and sales summary, and
//! subscriptions to an order and its delivery (over a WebSocket: [`crate::graphql_ws`]).
//! Limits: query depth and complexity, a page of at most 100; introspection can be turned
//! off (`NAKKU_GRAPHQL_INTROSPECTION=false`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, ErrorExtensions, InputObject, Object, SimpleObject};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use nakku_core::auth::Claims;
use nakku_core::service::Service;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::clients::path_segment;
use crate::error::ApiError;
use crate::gateway::GatewayState;
use crate::ratelimit::Class;

/// The deepest query accepted (the category tree is the deepest type: three levels of
/// children and their fields).
pub const MAX_DEPTH: usize = 10;
/// The most a query may cost: each field 1, a list field its `first`/`limit` times its
/// children's cost.
pub const MAX_COMPLEXITY: usize = 2_000;
/// The largest page a list field gives.
pub const MAX_PAGE: i32 = 100;

pub type AppSchema = async_graphql::Schema<Query, Mutation, Subscription>;

/// The schema, with its limits.
pub fn schema(introspection: bool) -> AppSchema {
    let b = async_graphql::Schema::build(Query, Mutation, Subscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY);
    if introspection {
        b.finish()
    } else {
        b.disable_introspection().finish()
    }
}

/// The schema in SDL, as `docs/graphql/schema.graphql` holds it (a test keeps it current).
pub fn sdl() -> String {
    let mut s = schema(true).sdl();
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// What a request's fields are answered with: the gateway's pool and the caller.
#[derive(Clone)]
pub(crate) struct Caller {
    pub(crate) st: Arc<GatewayState>,
    pub(crate) claims: Option<Claims>,
    /// The verified `Authorization` header, passed on as the proxy passes it.
    pub(crate) authorization: Option<axum::http::HeaderValue>,
    /// Whose limits the request draws on (`u:<id>` or `ip:<address>`).
    pub(crate) key: String,
    /// The request's id (the gateway's request-id layer set or kept it): passed on, so the
    /// services log it and the events a mutation causes carry it, as through the proxy.
    pub(crate) request_id: Option<String>,
}

impl Caller {
    /// The caller of a GraphQL request or WebSocket upgrade at the gateway's door: its
    /// bearer token verified when sent (a 401 otherwise), one token of its read limit taken
    /// (`Ok(Err(answer))`: the 429 when over), its request id kept to pass on.
    pub(crate) async fn at_door(
        st: Arc<GatewayState>,
        peer: SocketAddr,
        headers: &HeaderMap,
    ) -> Result<Result<Caller, Response>, ApiError> {
        let claims = match headers.get(header::AUTHORIZATION) {
            Some(v) => Some(crate::extract::verify_bearer(Some(v), &st.jwt)?),
            None => None,
        };
        let key = crate::gateway::limit_key(&st, claims.as_ref(), Class::Read, peer.ip(), headers);
        if let Some(d) = st.limiter.check(Class::Read, &key).await.filter(|d| !d.allowed) {
            return Ok(Err(crate::gateway::rate_limited(Class::Read, &d)));
        }
        let authorization = claims.as_ref().and(headers.get(header::AUTHORIZATION).cloned());
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Ok(Caller {
            st,
            claims,
            authorization,
            key,
            request_id,
        }))
    }

    /// The context data a request (or a WebSocket connection) is executed with: the caller
    /// and the loader of deliveries by order.
    pub(crate) fn data(self) -> async_graphql::Data {
        let mut d = async_graphql::Data::default();
        d.insert(DataLoader::new(DeliveryLoader(self.clone()), tokio::spawn));
        d.insert(self);
        d
    }
}

/// An error as GraphQL gives it: the REST envelope's message, with its status as
/// `extensions.code` and its per-field messages as `extensions.fields`.
fn gql_error(e: &ApiError) -> async_graphql::Error {
    async_graphql::Error::new(e.message.clone()).extend_with(|_, ext| {
        ext.set("code", e.status.as_u16());
        if let Some(fields) = &e.fields {
            if let Ok(v) = async_graphql::Value::from_json(serde_json::to_value(fields).unwrap_or_default()) {
                ext.set("fields", v);
            }
        }
    })
}

/// `GET /api/v1/{path_and_query}` at the owning service, as the caller, its `data` read as `T`.
async fn get<T: DeserializeOwned>(ctx: &Context<'_>, svc: Service, path_and_query: &str) -> async_graphql::Result<T> {
    send(ctx, svc, Method::GET, path_and_query, None, Vec::new()).await
}

/// A request to the owning service, as the caller, its `data` read as `T` (see
/// [`Caller::send`]).
async fn send<T: DeserializeOwned>(
    ctx: &Context<'_>,
    svc: Service,
    method: Method,
    path_and_query: &str,
    body: Option<serde_json::Value>,
    headers: Vec<(&'static str, String)>,
) -> async_graphql::Result<T> {
    ctx.data::<Caller>()?
        .send(svc, method, path_and_query, body, headers)
        .await
}

impl Caller {
    /// A request to the owning service, as this caller, its `data` read as `T`. Who may
    /// make it is the REST endpoint's rule, from the gateway's route table (a field of a
    /// signed-in endpoint without a token is refused as REST refuses it); a write also takes
    /// a token of the caller's write limit, as the same REST request would.
    async fn send<T: DeserializeOwned>(
        &self,
        svc: Service,
        method: Method,
        path_and_query: &str,
        body: Option<serde_json::Value>,
        headers: Vec<(&'static str, String)>,
    ) -> async_graphql::Result<T> {
        let call = self.call(svc, method, path_and_query, body, headers).await?;
        let data = crate::gateway::fetch(&self.st, call, self.claims.as_ref(), self.authorization.as_ref())
            .await
            .map_err(|e| gql_error(&e))?;
        serde_json::from_value(data).map_err(|e| {
            tracing::error!(service = %svc, path = path_and_query, error = %e, "an answer did not read as its GraphQL type");
            gql_error(&ApiError::internal(format!("the {svc} service answered in an unexpected shape")))
        })
    }

    /// The route of `method /api/v1/{path_and_query}`, if this caller may call it (the REST
    /// endpoint's rule, from the gateway's route table).
    fn admitted(&self, method: &Method, path_and_query: &str) -> async_graphql::Result<nakku_core::gateway::Route> {
        let path = path_and_query.split('?').next().unwrap_or_default();
        let route = crate::api::table()
            .resolve(method.as_str(), &format!("/api/v1/{path}"))
            .map_err(|_| {
                gql_error(&ApiError::internal(format!(
                    "GraphQL calls /api/v1/{path}, which is no route"
                )))
            })?;
        crate::gateway::authorize(route.endpoint.access, self.claims.as_ref()).map_err(|e| gql_error(&e))?;
        Ok(route)
    }

    /// The request of `method /api/v1/{path_and_query}` as this caller, if the route's rule
    /// admits them (see [`Caller::admitted`]); a write takes a token of the caller's write
    /// limit first, as the same REST request would. The request's id goes with it.
    async fn call<'a>(
        &self,
        svc: Service,
        method: Method,
        path_and_query: &'a str,
        body: Option<serde_json::Value>,
        mut headers: Vec<(&'static str, String)>,
    ) -> async_graphql::Result<crate::gateway::Call<'a>> {
        let route = self.admitted(&method, path_and_query)?;
        if method != Method::GET {
            self.take(Class::of(method.as_str(), route.endpoint.path)).await?;
        }
        if let Some(id) = &self.request_id {
            headers.push(("x-request-id", id.clone()));
        }
        Ok(crate::gateway::Call {
            svc,
            method,
            path_and_query,
            body,
            headers,
        })
    }

    /// One token of this caller's `class` limit, or the 429 as a GraphQL error.
    async fn take(&self, class: Class) -> async_graphql::Result<()> {
        match self.st.limiter.check(class, &self.key).await.filter(|d| !d.allowed) {
            Some(d) => Err(gql_error(&crate::gateway::over_limit(class, &d))),
            None => Ok(()),
        }
    }

    /// A service's live feed (`…/stream`) as this caller, each view read as `T`: ends after
    /// the last view, or with the error the feed ended with (a read failing, the token
    /// expiring). Opening it takes a token of the caller's read limit, as a REST request.
    async fn follow<T: DeserializeOwned + Send + 'static>(
        &self,
        svc: Service,
        path: &str,
    ) -> async_graphql::Result<futures_util::stream::BoxStream<'static, async_graphql::Result<T>>> {
        use futures_util::StreamExt;
        let call = self.call(svc, Method::GET, path, None, Vec::new()).await?;
        self.take(Class::Read).await?;
        let events = crate::gateway::events(&self.st, call, self.claims.as_ref(), self.authorization.as_ref())
            .await
            .map_err(|e| gql_error(&e))?;
        // After an error the feed is over.
        let views = events
            .scan(false, move |over, (name, data)| {
                let item = if *over {
                    None
                } else if name == "error" {
                    *over = true;
                    // The token expired (sign in again), or the view could not be read.
                    let status = if data == crate::live::EXPIRED {
                        StatusCode::UNAUTHORIZED
                    } else {
                        StatusCode::BAD_GATEWAY
                    };
                    Some(Err(gql_error(&ApiError::new(status, data))))
                } else {
                    Some(serde_json::from_str::<T>(&data).map_err(|e| {
                        tracing::error!(service = %svc, error = %e, "a live view did not read as its GraphQL type");
                        gql_error(&ApiError::internal(format!(
                            "the {svc} service sent a view in an unexpected shape"
                        )))
                    }))
                };
                std::future::ready(item)
            })
            .boxed();
        Ok(views)
    }
}

/// Live updates, over a WebSocket at `/api/graphql` (the `graphql-transport-ws` protocol;
/// see [`crate::graphql_ws`]). Each is the service's live feed of the same view REST gives:
/// sent each time it changes, completed once the order has ended.
pub struct Subscription;

#[async_graphql::Subscription]
impl Subscription {
    /// One of your orders (any, for staff), now and each time it changes (status, timeline,
    /// ETA, refunds); completes once it is delivered, cancelled or failed.
    async fn order_updates(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<impl futures_util::Stream<Item = async_graphql::Result<Order>>> {
        let path = path_segment(&id);
        ctx.data::<Caller>()?
            .follow(Service::Order, &format!("orders/{path}/stream"))
            .await
    }

    /// Your order's delivery, now and each time it changes (status, rider and position,
    /// ETA); completes once it is delivered, failed or cancelled.
    async fn delivery_updates(
        &self,
        ctx: &Context<'_>,
        order_id: String,
    ) -> async_graphql::Result<impl futures_util::Stream<Item = async_graphql::Result<Delivery>>> {
        let path = path_segment(&order_id);
        ctx.data::<Caller>()?
            .follow(Service::Delivery, &format!("deliveries/{path}/stream"))
            .await
    }
}

/// A page size as asked (`name`), refused past [`MAX_PAGE`] as REST refuses a bad limit.
fn page_size(name: &str, n: i32) -> async_graphql::Result<i32> {
    if (1..=MAX_PAGE).contains(&n) {
        return Ok(n);
    }
    Err(gql_error(&ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("{name} must be between 1 and {MAX_PAGE}"),
    )))
}

fn query_string(pairs: &[(&str, Option<String>)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    q.finish()
}

pub struct Query;

#[Object]
impl Query {
    /// Which store delivers to a point, how soon, or why none does.
    async fn serviceability(&self, ctx: &Context<'_>, lat: f64, lng: f64) -> async_graphql::Result<Serviceability> {
        let q = query_string(&[("lat", Some(lat.to_string())), ("lng", Some(lng.to_string()))]);
        get(ctx, Service::Location, &format!("locations/serviceability?{q}")).await
    }

    /// The category tree: aisles and their shelves, with active products under each.
    async fn categories(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CategoryNode>> {
        let items: Items<CategoryNode> = get(ctx, Service::Product, "categories").await?;
        Ok(items.items)
    }

    /// Product search: words (prefixes and typos too), filters, facets, a sort and a cursor.
    #[graphql(complexity = "search.limit.unwrap_or(20).clamp(1, MAX_PAGE) as usize * child_complexity + 1")]
    async fn products(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] search: ProductSearch,
    ) -> async_graphql::Result<SearchPage> {
        let limit = page_size("limit", search.limit.unwrap_or(20))?;
        let q = query_string(&[
            ("q", search.q),
            ("category", search.category),
            ("brand", (!search.brands.is_empty()).then(|| search.brands.join(","))),
            ("tags", (!search.tags.is_empty()).then(|| search.tags.join(","))),
            ("min_price", search.min_price_paise.map(|v| v.to_string())),
            ("max_price", search.max_price_paise.map(|v| v.to_string())),
            ("store", search.store),
            ("in_stock", search.in_stock.map(|v| v.to_string())),
            ("sort", search.sort),
            ("limit", Some(limit.to_string())),
            ("cursor", search.cursor),
        ]);
        get(ctx, Service::Product, &format!("products?{q}")).await
    }

    /// Best-sellers (at `store`, in `category`): the home screen's shelf.
    async fn popular(
        &self,
        ctx: &Context<'_>,
        store: Option<String>,
        category: Option<String>,
        #[graphql(default = 20, desc = "1-50.")] limit: i32,
    ) -> async_graphql::Result<Vec<Hit>> {
        let q = query_string(&[
            ("store", store),
            ("category", category),
            ("limit", Some(limit.to_string())),
        ]);
        let page: Items<Hit> = get(ctx, Service::Product, &format!("products/popular?{q}")).await?;
        Ok(page.items)
    }

    /// Products bought with this one, best first (the category's best-sellers when the
    /// purchase history does not answer: then `degraded` says so).
    async fn recommendations(
        &self,
        ctx: &Context<'_>,
        product_id: String,
        store: Option<String>,
        #[graphql(default = 10, desc = "1-50.")] limit: i32,
    ) -> async_graphql::Result<Recommendations> {
        let path = path_segment(&product_id);
        let q = query_string(&[("store", store), ("limit", Some(limit.to_string()))]);
        get(ctx, Service::Product, &format!("products/{path}/recommendations?{q}")).await
    }

    /// The signed-in account.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        get(ctx, Service::User, "users/me").await
    }

    /// The signed-in account's delivery addresses, the default first.
    async fn my_addresses(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Address>> {
        let page: Items<Address> = get(ctx, Service::User, "users/me/addresses").await?;
        Ok(page.items)
    }

    /// The signed-in shopper's cart at a store (lines with today's prices and stock, and
    /// what would stop a checkout).
    async fn cart(&self, ctx: &Context<'_>, store: String) -> async_graphql::Result<Cart> {
        let q = query_string(&[("store", Some(store))]);
        get(ctx, Service::Cart, &format!("cart?{q}")).await
    }

    /// The checkout of the cart at `store` to one of your addresses: lines at today's
    /// prices, fees, total, ETA, and what would stop the order. Send `quoteId` with
    /// `placeOrder` to accept changed prices.
    async fn checkout(&self, ctx: &Context<'_>, store: String, address_id: String) -> async_graphql::Result<Checkout> {
        let q = query_string(&[("store", Some(store)), ("address_id", Some(address_id))]);
        get(ctx, Service::Cart, &format!("cart/checkout?{q}")).await
    }

    /// The signed-in shopper's orders, newest first, with their lines and timelines.
    #[graphql(complexity = "first.clamp(1, MAX_PAGE) as usize * child_complexity + 1")]
    async fn my_orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "`placed`, `confirmed`, `packed`, `out_for_delivery`, `delivered`, `cancelled`, …")]
        status: Option<String>,
        #[graphql(default = 20)] first: i32,
        #[graphql(desc = "`nextCursor` of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<OrderPage> {
        let first = page_size("first", first)?;
        let q = query_string(&[
            ("status", status),
            ("limit", Some(first.to_string())),
            ("cursor", after),
        ]);
        get(ctx, Service::Order, &format!("orders?{q}")).await
    }

    /// One order (the shopper's own, or any for staff).
    async fn order(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<Option<Order>> {
        let path = path_segment(&id);
        get(ctx, Service::Order, &format!("orders/{path}")).await.map(Some)
    }

    /// What admins see of stores and sales (refused, 403, for anyone else).
    async fn admin(&self, ctx: &Context<'_>) -> async_graphql::Result<AdminQuery> {
        let caller = ctx.data::<Caller>()?;
        crate::gateway::authorize(nakku_core::gateway::Access::Admin, caller.claims.as_ref())
            .map_err(|e| gql_error(&e))?;
        Ok(AdminQuery)
    }

    /// A product page: the product, its breadcrumbs, and with `store` its availability there.
    async fn product(
        &self,
        ctx: &Context<'_>,
        id: String,
        store: Option<String>,
    ) -> async_graphql::Result<Option<ProductPage>> {
        let path = path_segment(&id);
        let q = query_string(&[("store", store)]);
        get(ctx, Service::Product, &format!("products/{path}?{q}"))
            .await
            .map(Some)
    }
}

/// Admins' fields: stock and the sales summary, each its REST endpoint's answer.
pub struct AdminQuery;

#[Object]
impl AdminQuery {
    /// Stock of up to 200 skus at a store: on hand, reserved, available, thresholds.
    async fn stock(
        &self,
        ctx: &Context<'_>,
        store: String,
        skus: Vec<String>,
    ) -> async_graphql::Result<Vec<StockLevel>> {
        let path = path_segment(&store);
        let q = query_string(&[("skus", Some(skus.join(",")))]);
        let page: Items<StockLevel> =
            get(ctx, Service::Inventory, &format!("inventory/stores/{path}/stock?{q}")).await?;
        Ok(page.items)
    }

    /// The store's skus at or below their low-stock threshold.
    async fn low_stock(&self, ctx: &Context<'_>, store: String) -> async_graphql::Result<Vec<StockLevel>> {
        let path = path_segment(&store);
        let page: Items<StockLevel> =
            get(ctx, Service::Inventory, &format!("inventory/stores/{path}/low-stock")).await?;
        Ok(page.items)
    }

    /// Sales, deliveries, cancellations, top products and stock alerts for a range of days
    /// (`from`/`to` as `YYYY-MM-DD`; the last 7 days by default), optionally at one store.
    async fn analytics_summary(
        &self,
        ctx: &Context<'_>,
        from: Option<String>,
        to: Option<String>,
        store: Option<String>,
    ) -> async_graphql::Result<AnalyticsSummary> {
        let q = query_string(&[("from", from), ("to", to), ("store", store)]);
        get(ctx, Service::Analytics, &format!("analytics/summary?{q}")).await
    }
}

/// A sku's stock at a store.
#[derive(Debug, Deserialize, SimpleObject)]
pub struct StockLevel {
    store: String,
    sku: String,
    /// False when the store does not stock this sku at all.
    tracked: bool,
    on_hand: i64,
    reserved: i64,
    available: i64,
    in_stock: bool,
    low_threshold: i64,
    low: bool,
}

/// The admins' summary of a range (as `GET /api/v1/analytics/summary`).
#[derive(Debug, Deserialize, SimpleObject)]
pub struct AnalyticsSummary {
    from: String,
    to: String,
    store: Option<String>,
    orders: OrderTotals,
    orders_per_minute: OrderSeries,
    cancellation_reasons: Vec<ReasonCount>,
    failure_reasons: Vec<ReasonCount>,
    delivery_minutes: DeliveryMinutes,
    top_products: Vec<TopProduct>,
    top_categories: Vec<TopCategory>,
    /// Fee income by kind, largest first.
    fees: Vec<FeeIncome>,
    stock_alerts_open: AlertCounts,
    slot_utilisation: SlotFigure,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct OrderTotals {
    placed: i64,
    confirmed: i64,
    delivered: i64,
    cancelled: i64,
    failed: i64,
    gmv_paise: i64,
    refunded_paise: i64,
    net_gmv_paise: i64,
    average_order_paise: i64,
    funnel: Vec<FunnelStage>,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct FunnelStage {
    /// `placed`, `stock_reserved`, `payment_secured`, `confirmed`, `delivered`.
    stage: String,
    orders: i64,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct OrderSeries {
    bucket_minutes: i64,
    points: Vec<SeriesPoint>,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct SeriesPoint {
    at: String,
    orders: i64,
    per_minute: f64,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct ReasonCount {
    reason: String,
    orders: i64,
}

/// Placement to delivery, in minutes (over all stores; per store in REST's answer).
#[derive(Debug, Deserialize, SimpleObject)]
pub struct DeliveryMinutes {
    all: DeliveryFigures,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct DeliveryFigures {
    p50: Option<f64>,
    p90: Option<f64>,
    delivered: i64,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct TopProduct {
    sku: String,
    name: Option<String>,
    units: i64,
    revenue_paise: i64,
    orders: i64,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct TopCategory {
    category_id: Option<String>,
    name: Option<String>,
    units: i64,
    revenue_paise: i64,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct FeeIncome {
    /// `delivery`, `small_cart`, `surge`, or `unspecified`.
    code: String,
    paise: i64,
    /// Orders that paid it.
    orders: i64,
}

/// Open stock alerts (over all stores; per store in REST's answer).
#[derive(Debug, Deserialize, SimpleObject)]
pub struct AlertCounts {
    low: i64,
    out: i64,
}

/// Delivery slots booked against capacity.
#[derive(Debug, Deserialize, SimpleObject)]
pub struct SlotFigure {
    slots: i64,
    capacity: i64,
    booked: i64,
    full_slots: i64,
    /// Booked ÷ capacity, to a thousandth; none without capacity.
    utilisation: Option<f64>,
}

/// Writes, each one REST request (and one token of the caller's write limit).
pub struct Mutation;

#[Object]
impl Mutation {
    /// Adds units of a product to the cart at `store` (adding to a line already there).
    async fn add_to_cart(
        &self,
        ctx: &Context<'_>,
        store: String,
        sku: String,
        quantity: i64,
    ) -> async_graphql::Result<Cart> {
        let body = serde_json::json!({"store": store, "sku": sku, "quantity": quantity});
        send(ctx, Service::Cart, Method::POST, "cart/items", Some(body), Vec::new()).await
    }

    /// Sets a line's quantity (0 removes it).
    async fn set_cart_line(
        &self,
        ctx: &Context<'_>,
        store: String,
        sku: String,
        quantity: i64,
    ) -> async_graphql::Result<Cart> {
        let path = path_segment(&sku);
        let body = serde_json::json!({"store": store, "quantity": quantity});
        send(
            ctx,
            Service::Cart,
            Method::PATCH,
            &format!("cart/items/{path}"),
            Some(body),
            Vec::new(),
        )
        .await
    }

    /// Empties the cart at `store`.
    async fn clear_cart(&self, ctx: &Context<'_>, store: String) -> async_graphql::Result<Cart> {
        let q = query_string(&[("store", Some(store))]);
        send(
            ctx,
            Service::Cart,
            Method::DELETE,
            &format!("cart?{q}"),
            None,
            Vec::new(),
        )
        .await
    }

    /// Removes a line.
    async fn remove_cart_line(&self, ctx: &Context<'_>, store: String, sku: String) -> async_graphql::Result<Cart> {
        let path = path_segment(&sku);
        let q = query_string(&[("store", Some(store))]);
        send(
            ctx,
            Service::Cart,
            Method::DELETE,
            &format!("cart/items/{path}?{q}"),
            None,
            Vec::new(),
        )
        .await
    }

    /// Places an order from the cart. `idempotencyKey` makes a repeat (a retry after a lost
    /// answer) return the order placed the first time instead of a second one.
    async fn place_order(
        &self,
        ctx: &Context<'_>,
        idempotency_key: String,
        input: PlaceOrderInput,
    ) -> async_graphql::Result<Order> {
        let mut body = serde_json::json!({"address_id": input.address_id, "payment_method": input.payment_method});
        for (k, v) in [
            ("store", input.store),
            ("note", input.note),
            ("quote_id", input.quote_id),
            ("slot", input.slot),
            ("substitution", input.substitution),
        ] {
            if let Some(v) = v {
                body[k] = serde_json::Value::String(v);
            }
        }
        let key = vec![("idempotency-key", idempotency_key)];
        send(ctx, Service::Order, Method::POST, "orders", Some(body), key).await
    }

    /// Asks for an order to be cancelled (refused once it is out for delivery).
    async fn cancel_order(
        &self,
        ctx: &Context<'_>,
        id: String,
        reason: Option<String>,
    ) -> async_graphql::Result<Order> {
        let path = path_segment(&id);
        let body = match reason {
            Some(r) => serde_json::json!({"reason": r}),
            None => serde_json::json!({}),
        };
        send(
            ctx,
            Service::Order,
            Method::POST,
            &format!("orders/{path}/cancel"),
            Some(body),
            Vec::new(),
        )
        .await
    }
}

/// What `placeOrder` takes (as `POST /api/v1/orders`).
#[derive(Debug, InputObject)]
pub struct PlaceOrderInput {
    /// One of your saved addresses.
    address_id: String,
    /// `cod`, `upi`, `card`, `wallet`, or a saved payment method's id.
    payment_method: String,
    /// The store (default: the one serving the address).
    store: Option<String>,
    note: Option<String>,
    /// The checkout's `quoteId`: required to accept changed prices.
    quote_id: Option<String>,
    /// A delivery slot's start (RFC 3339) for a scheduled delivery.
    slot: Option<String>,
    /// `substitute`, `refund` or `call`, for an item missing at picking.
    substitution: Option<String>,
}

/// Product search parameters (as `GET /api/v1/products` takes them).
#[derive(Debug, Default, InputObject)]
pub struct ProductSearch {
    /// Words to search for.
    q: Option<String>,
    /// A category id or slug: its products and those of the categories below it.
    category: Option<String>,
    #[graphql(default)]
    brands: Vec<String>,
    /// Every tag must be on the product.
    #[graphql(default)]
    tags: Vec<String>,
    min_price_paise: Option<i64>,
    max_price_paise: Option<i64>,
    /// A store code: availability there, and with `inStock` only what it has.
    store: Option<String>,
    in_stock: Option<bool>,
    /// `relevance`, `price_asc`, `price_desc`, `popularity`, `newest` or `discount`.
    sort: Option<String>,
    /// Results per page (1-100, 20 by default).
    limit: Option<i32>,
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Items<T> {
    items: Vec<T>,
}

/// A cart as its shopper sees it.
#[derive(Debug, Deserialize, SimpleObject)]
pub struct Cart {
    id: Option<String>,
    store: Option<String>,
    version: i64,
    item_count: i64,
    items_paise: i64,
    /// A cart shared with you in view-only mode.
    read_only: bool,
    lines: Vec<CartLine>,
    /// What would stop a checkout, per sku (out of stock, price changed, over the limit).
    problems: serde_json::Value,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct CartLine {
    sku: String,
    product_id: Option<String>,
    name: String,
    unit: String,
    quantity: i64,
    unit_price_paise: i64,
    /// The price when the line was added.
    price_seen_paise: i64,
    mrp_paise: i64,
    line_total_paise: i64,
    /// Units the store has now.
    available: i64,
    max_per_order: i64,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct OrderPage {
    items: Vec<Order>,
    next_cursor: Option<String>,
}

/// An order as its shopper sees it.
#[derive(Debug, Deserialize, SimpleObject)]
#[graphql(complex)]
pub struct Order {
    id: String,
    /// `placed`, `confirmed`, `packed`, `out_for_delivery`, `delivered`, `cancelled`, `failed`.
    status: String,
    store: String,
    currency: String,
    items_paise: i64,
    fees_paise: i64,
    total_paise: i64,
    refunded_paise: i64,
    eta_minutes: Option<i64>,
    failure_reason: Option<String>,
    note: Option<String>,
    lines: Vec<OrderLine>,
    fees: Vec<Fee>,
    payment: PaymentChoice,
    address: Option<AddressSnapshot>,
    delivery_slot: Option<SlotWindow>,
    timeline: Vec<TimelineEntry>,
    /// Where the order's saga (stock, payment, confirmation) stands.
    saga: Saga,
    created_at: String,
    updated_at: String,
}

#[async_graphql::ComplexObject]
impl Order {
    /// The order's delivery (none before it is confirmed). Loaded for every order of a
    /// page at once: one call to the delivery service however many orders ask.
    async fn delivery(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Delivery>> {
        ctx.data::<DataLoader<DeliveryLoader>>()?
            .load_one(self.id.clone())
            .await
            .map_err(|e| (*e).clone())
    }
}

/// Loads deliveries by order id, a batch per call (`GET /api/v1/deliveries?order_ids=`).
struct DeliveryLoader(Caller);

impl Loader<String> for DeliveryLoader {
    type Value = Delivery;
    type Error = Arc<async_graphql::Error>;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Delivery>, Self::Error> {
        let q = query_string(&[("order_ids", Some(keys.join(",")))]);
        let found: Items<Delivery> = self
            .0
            .send(
                Service::Delivery,
                Method::GET,
                &format!("deliveries?{q}"),
                None,
                Vec::new(),
            )
            .await
            .map_err(Arc::new)?;
        Ok(found.items.into_iter().map(|d| (d.order_id.clone(), d)).collect())
    }
}

/// A delivery as its shopper sees it.
#[derive(Debug, Clone, Deserialize, SimpleObject)]
pub struct Delivery {
    order_id: String,
    store: String,
    /// `unassigned`, `assigned`, `at_store`, `picked_up`, `out_for_delivery`, `at_door`,
    /// `delivered`, `failed` or `cancelled`.
    status: String,
    /// Minutes to the door from where the partner is (while in hand).
    eta_minutes: Option<i64>,
    /// The code to give the partner at the door (until delivered).
    otp: Option<String>,
    failure_reason: Option<String>,
    partner: Option<PartnerRef>,
    slot: Option<SlotWindow>,
}

#[derive(Debug, Clone, Deserialize, SimpleObject)]
pub struct PartnerRef {
    name: String,
    vehicle: String,
    position: Option<Position>,
}

/// Where a partner was, and when.
#[derive(Debug, Clone, Deserialize, SimpleObject)]
pub struct Position {
    lat: f64,
    lng: f64,
    at: String,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct OrderLine {
    sku: String,
    product_id: String,
    name: String,
    unit: String,
    quantity: i64,
    unit_price_paise: i64,
    mrp_paise: i64,
    line_total_paise: i64,
    /// `ok`, or what picking did to it.
    status: String,
}

/// Where an order's saga stands.
#[derive(Debug, Deserialize, SimpleObject)]
pub struct Saga {
    /// `running`, `compensating`, `done` or `failed`.
    state: String,
    /// The step it runs next (none when done).
    next_step: Option<String>,
    cancel_requested: bool,
}

/// A priced checkout (as `GET /api/v1/cart/checkout`).
#[derive(Debug, Deserialize, SimpleObject)]
pub struct Checkout {
    store: String,
    lines: Vec<CartLine>,
    items_paise: i64,
    fees: Vec<Fee>,
    fees_paise: i64,
    total_paise: i64,
    currency: String,
    eta_minutes: i64,
    /// Problems by field (`items.<sku>`, `address_id`, `cart`): empty when the order can go.
    problems: serde_json::Value,
    /// True when nothing but price notices stands in the way.
    can_place_order: bool,
    /// Send it with `placeOrder` to accept changed prices.
    quote_id: String,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct Fee {
    code: String,
    label: String,
    amount_paise: i64,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct PaymentChoice {
    /// `cod`, `upi`, `card` or `wallet`.
    kind: String,
    method_id: Option<String>,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct AddressSnapshot {
    id: String,
    label: String,
    line1: String,
    line2: Option<String>,
    city: String,
    pincode: String,
    lat: f64,
    lng: f64,
}

#[derive(Debug, Clone, Deserialize, SimpleObject)]
pub struct SlotWindow {
    start: String,
    end: String,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct TimelineEntry {
    status: String,
    at: String,
    note: Option<String>,
    actor: Option<String>,
}

/// An account as its owner sees it.
#[derive(Debug, Deserialize, SimpleObject)]
pub struct User {
    id: String,
    email: String,
    phone: String,
    name: String,
    /// `user`, `admin` or `delivery_partner`.
    role: String,
    created_at: String,
    updated_at: String,
}

/// A delivery address.
#[derive(Debug, Deserialize, SimpleObject)]
pub struct Address {
    /// Where it is (what an order keeps of it).
    #[serde(flatten)]
    #[graphql(flatten)]
    place: AddressSnapshot,
    is_default: bool,
    /// Whether a dark store delivers here (none: not checked yet).
    serviceable: Option<bool>,
    /// The store that serves it.
    store: Option<String>,
}

/// Which store serves a point, or why none does.
#[derive(Debug, Deserialize, SimpleObject)]
pub struct Serviceability {
    serviceable: bool,
    store: Option<StoreRef>,
    zone_id: Option<String>,
    distance_km: Option<f64>,
    road_distance_km: Option<f64>,
    eta_minutes: Option<i64>,
    delay_minutes: Option<i64>,
    /// Why not: `paused`, `closed` or `outside_zones`.
    reason: Option<String>,
    /// What to tell the shopper.
    message: Option<String>,
    near: Option<Near>,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct StoreRef {
    code: String,
    name: String,
    id: Option<String>,
    /// `open`, `busy` or `paused`.
    load: Option<String>,
    /// For a closed store: when it opens (India time).
    opens_at: Option<String>,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct Near {
    locality: String,
    city: String,
    pincode: String,
}

/// A category with its children.
#[derive(Debug, Deserialize, SimpleObject)]
pub struct CategoryNode {
    id: String,
    name: String,
    slug: String,
    parent_id: Option<String>,
    position: i64,
    /// Active products in this category and all below it.
    product_count: i64,
    children: Vec<CategoryNode>,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct SearchPage {
    /// Matches with every filter.
    total: i64,
    items: Vec<Hit>,
    facets: Facets,
    /// Give it back as `cursor` for the next page; none after the last.
    next_cursor: Option<String>,
    /// The query with misspelt words replaced by what was searched instead.
    did_you_mean: Option<String>,
    /// With `store`: whether that store takes orders now.
    store_status: Option<StoreStatus>,
}

/// Products to suggest beside one.
#[derive(Debug, Deserialize, SimpleObject)]
pub struct Recommendations {
    items: Vec<Recommendation>,
    /// `["recommendations"]` when these are the category's best-sellers instead.
    degraded: Vec<String>,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct Recommendation {
    #[serde(flatten)]
    #[graphql(flatten)]
    product: Hit,
    /// `bought_together`, `popular_in_category` or `popular_at_store`.
    reason: String,
}

/// A product card.
#[derive(Debug, Deserialize, SimpleObject)]
pub struct Hit {
    id: String,
    sku: String,
    name: String,
    brand: String,
    unit: String,
    category_id: String,
    price_paise: i64,
    mrp_paise: i64,
    discount_percent: i64,
    image: Option<String>,
    tags: Vec<String>,
    active: bool,
    /// Units at the store asked about.
    available: Option<i64>,
    in_stock: Option<bool>,
    score: Option<f64>,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct Facets {
    /// Per brand, over the results with every filter but the brand one.
    brands: Vec<BrandFacet>,
    /// Per category, over the results with every filter.
    categories: Vec<CategoryFacet>,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct BrandFacet {
    value: String,
    count: i64,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct CategoryFacet {
    id: String,
    name: String,
    slug: String,
    count: i64,
}

/// Whether a store takes orders now.
#[derive(Debug, Deserialize, SimpleObject)]
pub struct StoreStatus {
    code: String,
    /// `normal`, `busy` or `paused`.
    load: String,
    delay_minutes: i64,
    taking_orders: bool,
    message: Option<String>,
}

/// A product page.
#[derive(Debug, Deserialize, SimpleObject)]
pub struct ProductPage {
    id: String,
    sku: String,
    name: String,
    brand: String,
    description: String,
    category_id: String,
    unit: String,
    price_paise: i64,
    mrp_paise: i64,
    discount_percent: i64,
    tags: Vec<String>,
    images: Vec<String>,
    /// Free-form attributes (`{"veg": true, "shelf_life_days": 3}`).
    attributes: serde_json::Value,
    /// Most units in one order; none: the platform's default.
    max_per_order: Option<i64>,
    active: bool,
    /// Breadcrumbs, from the aisle down.
    category_path: Vec<CategoryRef>,
    /// With `store`: units there.
    availability: Option<Availability>,
    store_status: Option<StoreStatus>,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct CategoryRef {
    id: String,
    name: String,
    slug: String,
}

#[derive(Debug, Deserialize, SimpleObject)]
pub struct Availability {
    store: String,
    available: i64,
    in_stock: bool,
}

/// `POST /api/graphql`: a GraphQL request (`{"query", "variables", "operationName"}`),
/// answered in GraphQL's format. The bearer token, when sent, is verified as for REST (a bad
/// one is a 401 in the REST envelope); the request counts against the caller's read limit.
pub async fn post(
    State(st): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = match Caller::at_door(st, peer, &headers).await? {
        Ok(c) => c,
        Err(limited) => return Ok(limited),
    };
    let mut request: async_graphql::Request = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("a GraphQL request is a JSON object with `query` (and `variables`, `operationName`): {e}"),
        )
    })?;
    let schema = caller.st.graphql.clone();
    request.data = caller.data();
    let answer = schema.execute(request).await;
    Ok(axum::Json(answer).into_response())
}

/// `GET /api/graphql`: GraphiQL, for people.
pub async fn graphiql() -> Html<String> {
    Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint("/api/graphql")
            .finish(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_sdl_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/graphql/schema.graphql");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == sdl(),
            "docs/graphql/schema.graphql is not what the code produces: run `nakku api sdl > docs/graphql/schema.graphql`"
        );
    }
}
