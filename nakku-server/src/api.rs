//! Endpoints declared once. Each service module lists its endpoints in one `api()`:
//!
//! ```text
//! Api::new(Service::Order)
//!     .get("orders", "listOrders", Signed, list)
//!     .post("orders", "placeOrder", Signed, place).header(IDEMPOTENCY_KEY).replays()
//! ```
//!
//! — path under `/api/v1`, OpenAPI `operationId`, who may call, handler. From that one
//! declaration come:
//!
//! - the service's axum routes ([`Api::router`]);
//! - the gateway's route table ([`table`]): owning service, method, path, access;
//! - the OpenAPI operation ([`crate::openapi`]), whose request body, query parameters and
//!   success answer are read off the handler's signature: its `AppJson<T>`, its
//!   `AppQuery<Q>` and its `ApiResult<T>` ([`Signature`]). A handler that changes what it
//!   takes or answers changes the document with it.
//!
//! What a signature cannot say is declared beside the endpoint: request headers
//! ([`Api::header`]), the replay header of an idempotent answer ([`Api::replays`]), a body
//! the handler parses itself because it is optional ([`Api::body`]), and the OpenAPI links
//! from an answer to the operations it enables ([`Api::link`]).

use std::future::Future;
use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::handler::Handler;
use axum::http::HeaderMap;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use nakku_core::gateway::{Access, Endpoint, Sunset, Table};
use nakku_core::service::Service;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, ToSchema};

use crate::answer::Answer;
use crate::error::ApiError;
use crate::extract::{AppJson, AppQuery, AuthUser, Ctx};

/// A schema by name, with every schema it needs (itself and the ones it refers to).
pub struct Typed {
    pub name: String,
    pub schemas: Vec<(String, RefOr<Schema>)>,
}

/// `T`'s schema, for the OpenAPI document.
pub fn typed<T: ToSchema>() -> Typed {
    let name = T::name().into_owned();
    let mut schemas = vec![(name.clone(), T::schema())];
    T::schemas(&mut schemas);
    Typed { name, schemas }
}

fn query_params<T: IntoParams>() -> Vec<Parameter> {
    T::into_params(|| Some(ParameterIn::Query))
}

/// How a live operation delivers its views (see [`crate::live`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    /// Server-sent events.
    Events,
    /// A WebSocket.
    Socket,
}

/// What a handler's signature tells about its operation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shape {
    /// The JSON body it parses (`AppJson<T>`).
    pub body: Option<fn() -> Typed>,
    /// The body must be there (`AppJson<T>` refuses a request without one; a body read by
    /// hand, [`Api::body`], may be left out).
    pub body_required: bool,
    /// The query parameters it reads (`AppQuery<Q>`).
    pub query: Option<fn() -> Vec<Parameter>>,
    /// The data of its success answer (`ApiResult<T>`).
    pub answer: Option<fn() -> Typed>,
    /// It answers with a live feed of its `answer` type instead of a JSON envelope.
    pub live: Option<Live>,
}

/// An argument of a handler, as the document sees it: a body, query parameters, or
/// nothing the document shows (the state, the caller, path parameters — those come from
/// the path itself).
pub trait Part {
    fn shape(_shape: &mut Shape) {}
}

impl<S> Part for State<S> {}
impl<T> Part for Path<T> {}
impl Part for Ctx {}
impl Part for AuthUser {}
impl Part for HeaderMap {}
impl Part for Bytes {}
impl Part for crate::live::MaybeUpgrade {}

impl<T: ToSchema> Part for AppJson<T> {
    fn shape(shape: &mut Shape) {
        shape.body = Some(typed::<T> as fn() -> Typed);
        shape.body_required = true;
    }
}

impl<T: IntoParams> Part for AppQuery<T> {
    fn shape(shape: &mut Shape) {
        shape.query = Some(query_params::<T> as fn() -> Vec<Parameter>);
    }
}

/// What a handler returns, as the document sees it.
pub trait Reply {
    fn shape(shape: &mut Shape);
}

impl<T: ToSchema> Reply for Result<Answer<T>, ApiError> {
    fn shape(shape: &mut Shape) {
        shape.answer = Some(typed::<T> as fn() -> Typed);
    }
}

impl<T: ToSchema> Reply for Result<crate::live::Events<T>, ApiError> {
    fn shape(shape: &mut Shape) {
        shape.answer = Some(typed::<T> as fn() -> Typed);
        shape.live = Some(Live::Events);
    }
}

impl<T: ToSchema> Reply for Result<crate::live::Socket<T>, ApiError> {
    fn shape(shape: &mut Shape) {
        shape.answer = Some(typed::<T> as fn() -> Typed);
        shape.live = Some(Live::Socket);
    }
}

/// A handler's signature read as a [`Shape`]: implemented for every async fn whose
/// arguments are [`Part`]s and whose answer is a [`Reply`] (`Args` is its argument list).
pub trait Signature<Args> {
    fn shape() -> Shape;
}

macro_rules! signature {
    ($($arg:ident),*) => {
        impl<F, Fut, $($arg,)*> Signature<($($arg,)*)> for F
        where
            F: FnOnce($($arg),*) -> Fut,
            Fut: Future,
            Fut::Output: Reply,
            $($arg: Part,)*
        {
            fn shape() -> Shape {
                let mut shape = Shape::default();
                $(<$arg as Part>::shape(&mut shape);)*
                <Fut::Output as Reply>::shape(&mut shape);
                shape
            }
        }
    };
}

signature!();
signature!(A1);
signature!(A1, A2);
signature!(A1, A2, A3);
signature!(A1, A2, A3, A4);
signature!(A1, A2, A3, A4, A5);
signature!(A1, A2, A3, A4, A5, A6);
signature!(A1, A2, A3, A4, A5, A6, A7);

/// A request header an operation reads, for the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderDoc {
    pub name: &'static str,
    pub required: bool,
    pub description: &'static str,
    pub pattern: &'static str,
    pub max_length: Option<usize>,
}

/// `placeOrder`'s key: a repeat with the same key does not place twice.
pub const IDEMPOTENCY_KEY: HeaderDoc = HeaderDoc {
    name: "Idempotency-Key",
    required: true,
    description: "One key per checkout attempt (a UUID works): the same key and body again answer 200 with \
                  the first order and `Idempotent-Replayed: true`; the same key with another body is a 422.",
    pattern: "^[!-~]+$",
    max_length: Some(128),
};

/// A conditional update: refused (409) when the resource changed since that version.
pub const IF_MATCH: HeaderDoc = HeaderDoc {
    name: "If-Match",
    required: false,
    description: "The product version the change is based on (`3` or `\"3\"`): a product changed since is a 409.",
    // At most 18 digits: every such number is a version the parser can hold (i64).
    pattern: "^(W/)?\"?[0-9]{1,18}\"?$",
    max_length: None,
};

/// An OpenAPI link: from an operation's answer to another operation, with the values of
/// that operation's path parameters taken from the answer (`$response.body#/data/id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkDoc {
    /// The operation the answer leads to (its `operationId`).
    pub operation: &'static str,
    /// Its parameters: name and runtime expression (`$response.body#/data/id`, or
    /// `$request.path.id` for a value the answer does not repeat).
    pub parameters: &'static [(&'static str, &'static str)],
}

/// One declared endpoint: the gateway's entry and what the document says of it.
#[derive(Debug, Clone)]
pub struct Op {
    pub endpoint: Endpoint,
    pub shape: Shape,
    pub headers: Vec<HeaderDoc>,
    /// The answer says, with `Idempotent-Replayed: true`, that it repeats an earlier one.
    pub replays: bool,
    pub links: Vec<LinkDoc>,
}

/// `Api::get`, `Api::post`, ...: an endpoint served for that method.
macro_rules! verbs {
    ($($verb:ident => $method:ident),* $(,)?) => {
        $(
            #[doc = concat!("An endpoint for `", stringify!($method), "`: its path under `/api/v1`, `operationId`, who may call, handler.")]
            pub fn $verb<H, T, A>(self, path: &'static str, name: &'static str, access: Access, handler: H) -> Self
            where
                H: Handler<T, S> + Signature<A>,
                T: 'static,
            {
                self.add(MethodFilter::$method, stringify!($method), path, name, access, handler)
            }
        )*
    };
}

/// A service's endpoints, declared once: its routes and their documentation together.
pub struct Api<S> {
    service: Service,
    ops: Vec<Op>,
    routes: Vec<MethodRouter<S>>,
}

impl<S: Clone + Send + Sync + 'static> Api<S> {
    pub fn new(service: Service) -> Self {
        Api {
            service,
            ops: Vec::new(),
            routes: Vec::new(),
        }
    }

    verbs! {
        get => GET,
        post => POST,
        put => PUT,
        patch => PATCH,
        delete => DELETE,
    }

    fn add<H, T, A>(
        mut self,
        filter: MethodFilter,
        method: &'static str,
        path: &'static str,
        name: &'static str,
        access: Access,
        handler: H,
    ) -> Self
    where
        H: Handler<T, S> + Signature<A>,
        T: 'static,
    {
        self.ops.push(Op {
            endpoint: Endpoint {
                service: self.service,
                method,
                path,
                access,
                name,
                sunset: None,
            },
            shape: <H as Signature<A>>::shape(),
            headers: Vec::new(),
            replays: false,
            links: Vec::new(),
        });
        self.routes.push(on(filter, handler));
        self
    }

    /// Changes the endpoint declared last.
    fn last(mut self, change: impl FnOnce(&mut Op)) -> Self {
        if let Some(op) = self.ops.last_mut() {
            change(op);
        }
        self
    }

    /// The endpoint declared last reads this request header.
    pub fn header(self, header: HeaderDoc) -> Self {
        self.last(|op| op.headers.push(header))
    }

    /// The endpoint declared last may answer a repeat with `Idempotent-Replayed: true`.
    pub fn replays(self) -> Self {
        self.last(|op| op.replays = true)
    }

    /// The endpoint declared last takes an optional body of type `T`, which its handler
    /// parses itself (an empty body means the defaults).
    pub fn body<T: ToSchema>(self) -> Self {
        self.last(|op| op.shape.body = Some(typed::<T> as fn() -> Typed))
    }

    /// The answer of the endpoint declared last leads to `operation`, whose parameters
    /// are taken from the answer as `parameters` say.
    pub fn link(self, operation: &'static str, parameters: &'static [(&'static str, &'static str)]) -> Self {
        self.last(|op| op.links.push(LinkDoc { operation, parameters }))
    }

    /// The endpoint declared last is deprecated (see [`Sunset`]): it keeps working until
    /// `sunset` (`YYYY-MM-DD`), and `successor` (an `operationId`) replaces it.
    pub fn deprecated(self, deprecated: &'static str, sunset: &'static str, successor: &'static str) -> Self {
        self.last(|op| {
            op.endpoint.sunset = Some(Sunset {
                deprecated,
                sunset,
                successor,
            })
        })
    }

    /// A larger body limit for the endpoint named `name` (bulk imports).
    pub fn body_limit(mut self, name: &str, bytes: usize) -> Self {
        if let Some(i) = self.ops.iter().position(|op| op.endpoint.name == name) {
            let route = std::mem::replace(&mut self.routes[i], MethodRouter::new());
            self.routes[i] = route.layer(DefaultBodyLimit::max(bytes));
        }
        self
    }

    /// The service's routes.
    pub fn router(self) -> Router<S> {
        let mut router = Router::new();
        for (op, route) in self.ops.iter().zip(self.routes) {
            router = router.route(&format!("/api/v1/{}", op.endpoint.path), route);
        }
        router
    }

    /// The declarations, without the routes.
    pub fn into_ops(self) -> Vec<Op> {
        self.ops
    }
}

/// Every endpoint of the public API, in the services' order, and the gateway's table of
/// them.
pub struct Catalog {
    ops: Vec<Op>,
    table: Table,
}

impl Catalog {
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The endpoint named `name` (an `operationId`).
    pub fn op(&self, name: &str) -> Option<&Op> {
        self.ops.iter().find(|op| op.endpoint.name == name)
    }
}

/// The catalog, gathered once from every service's `api()`.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let ops: Vec<Op> = [
            crate::user::api().into_ops(),
            crate::product::api().into_ops(),
            crate::inventory::api().into_ops(),
            crate::order::api().into_ops(),
            crate::cart::api().into_ops(),
            crate::payment::api().into_ops(),
            crate::delivery::api().into_ops(),
            crate::notification::api().into_ops(),
            crate::location::api().into_ops(),
            crate::analytics::api().into_ops(),
        ]
        .into_iter()
        .flatten()
        .collect();
        let table = Table::new(ops.iter().map(|op| op.endpoint));
        Catalog { ops, table }
    })
}

/// The gateway's route table.
pub fn table() -> &'static Table {
    catalog().table()
}

/// Every endpoint of the public API.
pub fn endpoints() -> impl Iterator<Item = &'static Endpoint> {
    catalog().ops.iter().map(|op| &op.endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nakku_core::auth::Role;

    #[test]
    fn every_endpoint_has_its_own_camel_case_operation_name() {
        let mut seen = std::collections::HashSet::new();
        for e in endpoints() {
            assert!(seen.insert(e.name), "{} is the name of two endpoints", e.name);
            let mut chars = e.name.chars();
            assert!(
                chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric()),
                "{} {}: {:?} is not camelCase",
                e.method,
                e.path,
                e.name
            );
        }
        let name = |m: &str, p: &str| endpoints().find(|e| e.method == m && e.path == p).map(|e| e.name);
        assert_eq!(name("POST", "orders"), Some("placeOrder"));
        assert_eq!(name("POST", "cart/items"), Some("addCartItem"));
        assert_eq!(name("GET", "deliveries/{order_id}"), Some("trackDelivery"));
        assert!(seen.len() >= 130, "{} endpoints", seen.len());
    }

    #[test]
    fn every_path_resolves_to_its_service_and_only_auth_and_browsing_are_public() {
        let t = table();
        let r = |m: &str, p: &str| t.route(m, p).map(|r| (r.service, r.endpoint.access));
        assert_eq!(r("POST", "/api/v1/auth/login"), Some((Service::User, Access::Public)));
        assert_eq!(r("GET", "/api/v1/users/me"), Some((Service::User, Access::Signed)));
        assert_eq!(r("GET", "/api/v1/products/1"), Some((Service::Product, Access::Public)));
        assert_eq!(r("POST", "/api/v1/products"), Some((Service::Product, Access::Admin)));
        assert_eq!(
            r("GET", "/api/v1/analytics/summary"),
            Some((Service::Analytics, Access::Admin))
        );
        let public = |m: &str, p: &str| t.route(m, p).map(|r| r.public());
        assert_eq!(public("GET", "/api/v1/inventory/stores/BLR-1/stock"), Some(true));
        assert_eq!(
            public("POST", "/api/v1/inventory/stores/BLR-1/stock/MILK/restock"),
            Some(false)
        );
        assert_eq!(public("GET", "/api/v1/cart/shared/abc"), Some(true));
        assert_eq!(public("POST", "/api/v1/cart/shared/abc/copy"), Some(false));
        assert_eq!(t.route("GET", "/api/v1/usersx"), None);
        assert_eq!(t.route("GET", "/api/v2/users"), None);
        assert_eq!(t.route("GET", "/api/v1/users/me/nothing/here"), None);
        // Each service's paths start with its own segments (what the gateway's docs say).
        for e in endpoints() {
            let first = e.path.split('/').next().unwrap_or_default();
            let expected = match first {
                "auth" | "users" => Service::User,
                "products" | "categories" => Service::Product,
                "inventory" => Service::Inventory,
                "orders" => Service::Order,
                "cart" => Service::Cart,
                "payments" => Service::Payment,
                "deliveries" => Service::Delivery,
                "notifications" => Service::Notification,
                "locations" => Service::Location,
                "analytics" => Service::Analytics,
                _ => Service::Gateway,
            };
            assert_eq!(e.service, expected, "{} {}", e.method, e.path);
        }
    }

    #[test]
    fn a_static_segment_wins_over_a_parameter_and_wrong_methods_are_named() {
        let t = table();
        let a = |m: &str, p: &str| t.route(m, p).map(|r| r.endpoint.access);
        assert_eq!(a("GET", "/api/v1/deliveries/slots"), Some(Access::Signed));
        assert_eq!(
            a("GET", "/api/v1/deliveries/partners/me"),
            Some(Access::DeliveryPartner)
        );
        assert_eq!(a("POST", "/api/v1/deliveries/partners/me"), None);
        assert_eq!(
            a("POST", "/api/v1/deliveries/ord-1/pickup"),
            Some(Access::DeliveryPartner)
        );
        assert_eq!(a("GET", "/api/v1/products/popular"), Some(Access::Public));
        assert_eq!(
            t.resolve("PUT", "/api/v1/users/me"),
            Err(nakku_core::gateway::Miss::Method(vec!["GET", "PATCH", "DELETE"]))
        );
        assert_eq!(a("HEAD", "/api/v1/products"), Some(Access::Public));
        assert!(Access::Staff.allows(Some(Role::DeliveryPartner)));
    }

    #[test]
    fn signatures_give_the_body_query_and_answer_of_each_operation() {
        let c = catalog();
        let shape = |name: &str| c.op(name).map(|op| op.shape).unwrap_or_default();
        let body = |name: &str| shape(name).body.map(|f| f().name);
        let answer = |name: &str| shape(name).answer.map(|f| f().name);
        assert_eq!(body("placeOrder").as_deref(), Some("PlaceInput"));
        assert_eq!(answer("placeOrder").as_deref(), Some("OrderView"));
        assert_eq!(body("listOrders"), None);
        assert!(shape("listOrders").query.is_some());
        assert_eq!(answer("listMyAddresses").as_deref(), Some("AddressList"));
        assert_eq!(answer("deleteProduct").as_deref(), Some("Deleted"));
        // A body the handler parses itself, declared beside the endpoint.
        assert_eq!(body("cancelOrder").as_deref(), Some("CancelInput"));
        // Live feeds: their view's type, and how they are delivered.
        assert_eq!(shape("streamDelivery").live, Some(Live::Events));
        assert_eq!(answer("streamDelivery").as_deref(), Some("DeliveryView"));
        assert_eq!(shape("liveDelivery").live, Some(Live::Socket));
        assert_eq!(answer("streamOrder").as_deref(), Some("OrderView"));
        assert_eq!(shape("liveOrder").live, Some(Live::Socket));
        let place = c.op("placeOrder").map(|op| (op.headers.clone(), op.replays));
        assert_eq!(place, Some((vec![IDEMPOTENCY_KEY], true)));
        // Every endpoint answers a typed value.
        let untyped: Vec<&str> = c
            .ops()
            .iter()
            .filter(|op| op.shape.answer.is_none())
            .map(|op| op.endpoint.name)
            .collect();
        assert!(untyped.is_empty(), "{untyped:?}");
    }

    #[test]
    fn links_lead_to_declared_operations_with_their_path_parameters() {
        let c = catalog();
        let mut links = 0;
        for op in c.ops() {
            for link in &op.links {
                links += 1;
                let target = c.op(link.operation);
                assert!(
                    target.is_some(),
                    "{} links to unknown {}",
                    op.endpoint.name,
                    link.operation
                );
                let path = target.map(|t| t.endpoint.path).unwrap_or_default();
                for (param, expr) in link.parameters {
                    assert!(
                        path.contains(&format!("{{{param}}}")),
                        "{} → {}: {path} has no {{{param}}}",
                        op.endpoint.name,
                        link.operation
                    );
                    assert!(
                        expr.starts_with("$response.body#/data/") || expr.starts_with("$request.path."),
                        "{expr}"
                    );
                }
                let params: Vec<&str> = link.parameters.iter().map(|(p, _)| *p).collect();
                for seg in path.split('/').filter(|s| s.starts_with('{')) {
                    let name = seg.trim_start_matches('{').trim_end_matches('}');
                    assert!(
                        params.contains(&name),
                        "{} → {}: {name} is not given",
                        op.endpoint.name,
                        link.operation
                    );
                }
            }
        }
        assert!(links >= 20, "{links} links");
    }
}
