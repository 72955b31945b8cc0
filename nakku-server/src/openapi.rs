//! The OpenAPI 3.1 document of the public API, generated from the gateway's route table
//! ([`nakku_core::gateway::ROUTES`]) with `utoipa`'s model: every endpoint with its owning
//! service (tag), path parameters, who may call it (bearer security and the 401/403 it
//! adds), the request body it takes, and the answers it can give in the standard envelope.
//! Served by the gateway at `/api/v1/openapi.json`, browsable at `/api/v1/docs`.

use std::sync::OnceLock;

use nakku_core::gateway::{Access, Endpoint, ROUTES};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, Required,
    ResponseBuilder, Tag,
};

fn method(m: &str) -> HttpMethod {
    match m {
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        _ => HttpMethod::Get,
    }
}

fn json_ref(name: &str) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(Ref::from_schema_name(name))).build()
}

/// A request header parameter.
fn header_param(
    name: &str,
    required: bool,
    description: &str,
    schema: ObjectBuilder,
) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(if required { Required::True } else { Required::False })
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn string_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// The headers an endpoint reads: on every one, the request id and the trace context; the
/// idempotency key where a repeat must not act twice; the version precondition where an
/// update can be conditional.
fn headers_of(e: &Endpoint) -> Vec<utoipa::openapi::path::Parameter> {
    let mut h = vec![
        header_param(
            "X-Request-Id",
            false,
            "Your id for this request (1-128 letters, digits, `-_.:`): echoed in the answer, written in \
             the logs and carried by the events it causes. One is made when absent or malformed.",
            string_schema()
                .min_length(Some(1))
                .max_length(Some(128))
                .pattern(Some("^[A-Za-z0-9._:-]+$")),
        ),
        header_param(
            "traceparent",
            false,
            "W3C trace context: the request joins that trace (a new one is started when absent).",
            string_schema().pattern(Some("^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")),
        ),
    ];
    match (e.method, e.path) {
        ("POST", "orders") => h.push(header_param(
            "Idempotency-Key",
            true,
            "One key per checkout attempt (a UUID works): the same key and body again answer 200 with \
             the first order and `Idempotent-Replayed: true`; the same key with another body is a 422.",
            string_schema()
                .min_length(Some(1))
                .max_length(Some(128))
                .pattern(Some("^[!-~]+$")),
        )),
        ("PATCH", "products/{id}") => h.push(header_param(
            "If-Match",
            false,
            "The product version the change is based on (`3` or `\"3\"`): a product changed since is a 409.",
            string_schema().pattern(Some("^(W/)?\"?[0-9]+\"?$")),
        )),
        _ => {}
    }
    h
}

fn summary(e: &Endpoint) -> String {
    let who = match e.access {
        Access::Public => "anyone",
        Access::Signed => "any signed-in account",
        Access::Admin | Access::AdminAccount => "admins",
        Access::DeliveryPartner => "delivery partners",
        Access::Staff => "admins and delivery partners",
    };
    format!("{} /api/v1/{} — for {who}", e.method, e.path)
}

fn envelope_schemas() -> Vec<(&'static str, Schema)> {
    let any = || Schema::Object(ObjectBuilder::new().build());
    let success = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("success", ObjectBuilder::new().schema_type(Type::Boolean).build())
        .required("success")
        .property("data", any())
        .required("data")
        .description(Some("The standard envelope of a successful answer"))
        .build();
    let error = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("success", ObjectBuilder::new().schema_type(Type::Boolean).build())
        .required("success")
        .property("error", ObjectBuilder::new().schema_type(Type::String).build())
        .required("error")
        .property("code", ObjectBuilder::new().schema_type(Type::Integer).build())
        .required("code")
        .property(
            "fields",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some("Messages per field: `{\"email\": [\"is required\"]}`"))
                .additional_properties(Some(AdditionalProperties::FreeForm(true))),
        )
        .description(Some("The standard envelope of an error"))
        .build();
    let body = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::FreeForm(true)))
        .description(Some(
            "A JSON object (this endpoint takes no fields, or they are in the README)",
        ))
        .build();
    vec![
        ("Success", Schema::Object(success)),
        ("Error", Schema::Object(error)),
        ("Body", Schema::Object(body)),
    ]
}

/// A body type: its schema's name and every schema it needs (itself and nested ones).
struct Typed {
    name: String,
    schemas: Vec<(String, utoipa::openapi::RefOr<Schema>)>,
}

fn typed<T: utoipa::ToSchema>() -> Typed {
    let name = T::name().into_owned();
    let mut schemas = vec![(name.clone(), T::schema())];
    T::schemas(&mut schemas);
    Typed { name, schemas }
}

/// The request body of each endpoint that takes one (generated from the handlers' `AppJson`).
fn body_of(method: &str, path: &str) -> Option<Typed> {
    Some(match (method, path) {
        ("POST", "auth/register") => typed::<nakku_core::user::RegisterInput>(),
        ("POST", "auth/login") => typed::<nakku_core::user::LoginInput>(),
        ("POST", "auth/refresh") => typed::<nakku_core::user::RefreshInput>(),
        ("POST", "auth/logout") => typed::<nakku_core::user::LogoutInput>(),
        ("PATCH", "users/me") => typed::<nakku_core::user::UpdateProfileInput>(),
        ("DELETE", "users/me") => typed::<nakku_core::user::DeleteAccountInput>(),
        ("POST", "users/me/password") => typed::<nakku_core::user::ChangePasswordInput>(),
        ("POST", "users/me/addresses") => typed::<nakku_core::user::AddressInput>(),
        ("PATCH", "users/{id}/role") => typed::<nakku_core::user::SetRoleInput>(),
        ("POST", "products") => typed::<nakku_core::product::ProductInput>(),
        ("POST", "categories") => typed::<nakku_core::product::CategoryInput>(),
        ("POST", "inventory/stores") => typed::<nakku_core::inventory::WarehouseInput>(),
        ("POST", "inventory/stores/{store}/stock/{sku}/restock") => typed::<nakku_core::inventory::RestockInput>(),
        ("POST", "inventory/stores/{store}/stock/{sku}/adjust") => typed::<nakku_core::inventory::AdjustInput>(),
        ("POST", "inventory/reservations") => typed::<nakku_core::inventory::ReserveInput>(),
        ("POST", "inventory/reservations/{order_id}/picked") => typed::<crate::inventory::PickedInput>(),
        ("POST", "locations/validate-address") => typed::<nakku_core::location::service::AddressCheckInput>(),
        ("POST", "locations/zones") => typed::<nakku_core::location::service::ZoneInput>(),
        ("POST", "cart/items") => typed::<nakku_core::cart::ItemInput>(),
        ("PATCH", "cart/items/{sku}") => typed::<nakku_core::cart::QuantityInput>(),
        ("POST", "cart/lines") => typed::<crate::cart::LinesInput>(),
        ("POST", "cart/share") => typed::<nakku_core::cart::ShareInput>(),
        ("POST", "cart/shared/{token}/items") => typed::<nakku_core::cart::ItemInput>(),
        ("POST", "orders") => typed::<nakku_core::order::PlaceInput>(),
        ("POST", "orders/{id}/status") => typed::<nakku_core::order::StatusInput>(),
        ("POST", "payments/methods") => typed::<nakku_core::payment::MethodInput>(),
        ("POST", "payments/methods/resolve") => typed::<crate::payment::ResolveInput>(),
        ("POST", "payments/charges") => typed::<nakku_core::payment::ChargeInput>(),
        ("POST", "payments/orders/{order_id}/refunds") => typed::<nakku_core::payment::RefundInput>(),
        ("POST", "payments/orders/{order_id}/cancel") => typed::<crate::payment::ReasonInput>(),
        ("PUT", "deliveries/partners/me") => typed::<nakku_core::delivery::partners::ProfileInput>(),
        ("POST", "deliveries/partners/me/shift") => typed::<nakku_core::delivery::partners::ShiftInput>(),
        ("POST", "deliveries/partners/me/location") => typed::<nakku_core::delivery::partners::PingInput>(),
        ("POST", "deliveries/slots/bookings") => typed::<nakku_core::delivery::slots::BookInput>(),
        ("PUT", "deliveries/stores/{store}/slots") => typed::<nakku_core::delivery::slots::CapacityInput>(),
        ("PUT", "deliveries/stores/{store}/bins") => typed::<nakku_core::delivery::fulfilment::BinsInput>(),
        ("POST", "deliveries/pickers/me/shift") => typed::<nakku_core::delivery::partners::ShiftInput>(),
        ("PUT", "deliveries/pickers/{user_id}") => typed::<nakku_core::delivery::fulfilment::PickerInput>(),
        ("POST", "deliveries/picks/{order_id}/lines/{sku}") => typed::<nakku_core::delivery::fulfilment::LineInput>(),
        ("POST", "notifications/devices") => typed::<nakku_core::notification::DeviceInput>(),
        _ => return None,
    })
}

/// A list answer `{items: [T], next_cursor}` (the cursor is null on the last page).
fn list_of<T: utoipa::ToSchema>() -> Typed {
    let mut t = typed::<T>();
    let name = format!("{}List", t.name);
    let list = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("items", ArrayBuilder::new().items(Ref::from_schema_name(&t.name)))
        .required("items")
        .property("next_cursor", nullable_string())
        .build();
    t.schemas.push((name.clone(), Schema::Object(list).into()));
    Typed {
        name,
        schemas: t.schemas,
    }
}

/// An unpaged list answer `{items: [T]}`.
fn items_of<T: utoipa::ToSchema>() -> Typed {
    let mut t = typed::<T>();
    let name = format!("{}Items", t.name);
    let list = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("items", ArrayBuilder::new().items(Ref::from_schema_name(&t.name)))
        .required("items")
        .build();
    t.schemas.push((name.clone(), Schema::Object(list).into()));
    Typed {
        name,
        schemas: t.schemas,
    }
}

fn nullable_string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(utoipa::openapi::schema::SchemaType::from_iter([
        Type::String,
        Type::Null,
    ]))
}

/// An answer that only confirms: `{"deleted": true}`, `{"logged_out": true}`.
fn flag(field: &'static str) -> Typed {
    let name = format!("Flag_{field}");
    let obj = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(field, ObjectBuilder::new().schema_type(Type::Boolean))
        .required(field)
        .build();
    Typed {
        name: name.clone(),
        schemas: vec![(name, Schema::Object(obj).into())],
    }
}

/// The `data` of each endpoint's success answer, from the types the handlers serialise.
/// Endpoints not listed answer a JSON object described in the README.
fn response_of(method: &str, path: &str) -> Option<Typed> {
    use nakku_core::{cart, delivery, inventory, location, order, payment, product, user};
    Some(match (method, path) {
        ("POST", "auth/register" | "auth/login") => typed::<user::service::AuthResult>(),
        ("POST", "auth/refresh") => typed::<user::service::Tokens>(),
        ("POST", "auth/logout") => flag("logged_out"),
        ("GET" | "PATCH", "users/me") | ("GET", "users/{id}") | ("PATCH", "users/{id}/role") => typed::<user::User>(),
        ("DELETE", "users/me" | "users/me/addresses/{id}" | "products/{id}" | "categories/{id}")
        | ("DELETE", "inventory/stores/{store}" | "payments/methods/{id}" | "locations/zones/{id}") => flag("deleted"),
        ("POST", "users/me/password") => flag("password_changed"),
        ("GET", "users/me/addresses") => list_of::<user::Address>(),
        ("POST", "users/me/addresses") | ("GET" | "PATCH", "users/me/addresses/{id}") => typed::<user::Address>(),
        ("GET", "users") => typed::<user::Page<user::User>>(),
        ("GET", "users/{id}/activity") => typed::<user::activity::Activity>(),
        ("GET", "products") => typed::<product::search::SearchPage>(),
        ("POST", "products" | "products/{id}/restore") | ("PATCH", "products/{id}") => typed::<product::Product>(),
        ("GET", "products/{id}") => typed::<crate::product::ProductPage>(),
        ("POST", "products/import") => typed::<product::service::ImportReport>(),
        ("GET", "products/popular") => list_of::<product::search::Hit>(),
        ("GET", "products/{id}/recommendations") => list_of::<product::service::Recommendation>(),
        ("GET", "categories") => list_of::<product::CategoryNode>(),
        ("POST", "categories") | ("PATCH", "categories/{id}") => typed::<product::Category>(),
        ("GET", "inventory/stores") => list_of::<inventory::Warehouse>(),
        ("POST", "inventory/stores") | ("GET" | "PATCH", "inventory/stores/{store}") => typed::<inventory::Warehouse>(),
        ("GET", "inventory/stores/{store}/stock" | "inventory/stores/{store}/low-stock") => {
            list_of::<inventory::StockLevel>()
        }
        ("GET" | "PUT", "inventory/stores/{store}/stock/{sku}")
        | ("POST", "inventory/stores/{store}/stock/{sku}/restock" | "inventory/stores/{store}/stock/{sku}/adjust") => {
            typed::<inventory::StockLevel>()
        }
        ("GET", "inventory/stores/{store}/stock/{sku}/ledger") => list_of::<inventory::LedgerEntry>(),
        ("POST", "inventory/reservations")
        | ("GET", "inventory/reservations/{order_id}")
        | ("POST", "inventory/reservations/{order_id}/confirm" | "inventory/reservations/{order_id}/release") => {
            typed::<inventory::Reservation>()
        }
        ("POST", "inventory/reservations/{order_id}/picked") => flag("applied"),
        ("GET", "inventory/stores/{store}/reconcile") => typed::<inventory::Reconciliation>(),
        ("POST", "inventory/stores/{store}/stock/{sku}/watch") => typed::<inventory::Watch>(),
        ("GET", "categories/{id}") => typed::<product::service::CategoryPage>(),
        ("POST", "inventory/reservations/{order_id}/lines/{sku}/return") => typed::<crate::inventory::Returned>(),
        ("GET", "payments/orders/{order_id}/refunds") => typed::<crate::payment::RefundList>(),
        ("GET", "orders") => typed::<order::OrderPage>(),
        ("POST", "orders" | "orders/{id}/cancel" | "orders/{id}/status")
        | ("GET", "orders/{id}")
        | ("DELETE", "orders/{id}/lines/{sku}") => typed::<order::OrderView>(),
        ("GET", "cart/checkout") => typed::<cart::Quote>(),
        (_, p) if p.starts_with("cart") || (method, p) == ("POST", "orders/{id}/reorder") => {
            typed::<cart::service::CartView>()
        }
        ("GET", "payments") => list_of::<payment::Payment>(),
        ("GET", "payments/methods") => list_of::<payment::PaymentMethod>(),
        ("POST", "payments/methods") | ("GET", "payments/methods/{id}") => typed::<payment::PaymentMethod>(),
        ("POST", "payments/methods/resolve") => typed::<payment::MethodRef>(),
        ("POST", "payments/charges" | "payments/orders/{order_id}/refunds")
        | ("GET", "payments/orders/{order_id}")
        | ("POST", "payments/orders/{order_id}/cancel" | "payments/orders/{order_id}/settle-cod") => {
            typed::<payment::Payment>()
        }
        ("GET", "analytics/summary") => typed::<nakku_core::analytics::Summary>(),
        ("GET", "analytics/stores") => typed::<nakku_core::analytics::StoresReport>(),
        ("GET", "analytics/stock-alerts") => typed::<nakku_core::analytics::StockAlerts>(),
        ("GET", "analytics/events") => typed::<nakku_core::analytics::event_log::EventPage>(),
        ("GET", "deliveries/performance") => typed::<delivery::performance::Performance>(),
        ("GET", "notifications") => typed::<nakku_core::notification::MessagePage>(),
        ("GET" | "PUT", "notifications/preferences") => typed::<nakku_core::notification::Preferences>(),
        ("POST", "notifications/devices") => typed::<nakku_core::notification::Device>(),
        ("DELETE", "notifications/devices/{id}") => flag("deleted"),
        ("GET", "notifications/failed") => typed::<nakku_core::notification::MessageList>(),
        ("POST", "notifications/{id}/retry") => typed::<nakku_core::notification::Message>(),
        ("GET", "locations/serviceability") => typed::<location::service::Serviceability>(),
        ("GET", "locations/distance") => typed::<location::service::Distance>(),
        ("POST", "locations/validate-address") => typed::<location::service::AddressCheck>(),
        ("GET", "locations/geocode") => list_of::<location::Candidate>(),
        ("GET", "locations/reverse") => typed::<crate::location::Reverse>(),
        ("GET", "locations/stores") => list_of::<location::service::Store>(),
        ("GET", "locations/zones") => list_of::<location::service::Zone>(),
        ("POST", "locations/zones") | ("GET" | "PATCH", "locations/zones/{id}") => typed::<location::service::Zone>(),
        ("POST", "deliveries/slots/bookings") => typed::<nakku_core::ports::SlotBooking>(),
        ("POST", "deliveries/slots/bookings/{order_id}/release") => typed::<delivery::slots::Released>(),
        ("GET", "deliveries/slots") => typed::<delivery::slots::SlotList>(),
        ("PUT", "deliveries/stores/{store}/slots") => typed::<delivery::slots::SlotCapacity>(),
        ("GET", "deliveries/partners") => items_of::<delivery::partners::Partner>(),
        ("GET" | "PUT", "deliveries/partners/me") | ("POST", "deliveries/partners/me/shift") => {
            typed::<delivery::partners::Partner>()
        }
        ("POST", "deliveries/partners/me/location") => typed::<delivery::partners::Ping>(),
        ("GET", "deliveries/partners/me/track") => items_of::<delivery::partners::Position>(),
        ("GET", "deliveries/partners/me/deliveries") => typed::<delivery::deliveries::InHand>(),
        ("GET", "deliveries/{order_id}") => typed::<delivery::deliveries::DeliveryView>(),
        ("POST", "deliveries/{order_id}/{action}") => typed::<delivery::deliveries::ActionResult>(),
        ("PUT", "deliveries/stores/{store}/bins") => typed::<delivery::fulfilment::BinsSet>(),
        ("GET", "deliveries/stores/{store}/load") => typed::<delivery::capacity::StoreLoad>(),
        ("GET", "deliveries/pickers/me")
        | ("POST", "deliveries/pickers/me/shift")
        | ("PUT", "deliveries/pickers/{user_id}") => typed::<delivery::fulfilment::Picker>(),
        ("GET", "deliveries/pickers/me/picks") => items_of::<delivery::fulfilment::PickList>(),
        ("GET", "deliveries/picks/{order_id}")
        | ("POST", "deliveries/picks/{order_id}/lines/{sku}" | "deliveries/picks/{order_id}/pack") => {
            typed::<delivery::fulfilment::PickList>()
        }
        _ => return None,
    })
}

/// The query parameters of each endpoint that reads some (from the handlers' `AppQuery`).
fn query_of(method: &str, path: &str) -> Vec<utoipa::openapi::path::Parameter> {
    let q = |v: Vec<utoipa::openapi::path::Parameter>| v;
    match (method, path) {
        ("GET", "users") => q(<nakku_core::user::ListUsersQuery as utoipa::IntoParams>::into_params(
            || Some(ParameterIn::Query),
        )),
        ("GET", "products") => q(<crate::product::SearchQuery as utoipa::IntoParams>::into_params(|| {
            Some(ParameterIn::Query)
        })),
        ("GET", "products/popular") => q(<crate::product::StoreQuery as utoipa::IntoParams>::into_params(|| {
            Some(ParameterIn::Query)
        })),
        ("GET", "products/{id}/recommendations") => {
            q(<crate::product::StoreQuery as utoipa::IntoParams>::into_params(|| {
                Some(ParameterIn::Query)
            }))
        }
        ("GET", "inventory/stores/{store}/stock") => {
            q(<crate::inventory::SkusQuery as utoipa::IntoParams>::into_params(|| {
                Some(ParameterIn::Query)
            }))
        }
        ("GET", "inventory/stores/{store}/stock/{sku}/ledger") => {
            q(<crate::inventory::PageQuery as utoipa::IntoParams>::into_params(|| {
                Some(ParameterIn::Query)
            }))
        }
        ("GET", "locations/serviceability") => {
            q(<crate::location::PointQuery as utoipa::IntoParams>::into_params(|| {
                Some(ParameterIn::Query)
            }))
        }
        ("GET", "locations/geocode") => q(<crate::location::GeocodeQuery as utoipa::IntoParams>::into_params(
            || Some(ParameterIn::Query),
        )),
        ("GET", "locations/reverse") => q(<crate::location::PointQuery as utoipa::IntoParams>::into_params(|| {
            Some(ParameterIn::Query)
        })),
        ("GET", "locations/distance") => q(<crate::location::DistanceQuery as utoipa::IntoParams>::into_params(
            || Some(ParameterIn::Query),
        )),
        ("GET", "locations/zones") => q(<crate::location::ZonesQuery as utoipa::IntoParams>::into_params(|| {
            Some(ParameterIn::Query)
        })),
        ("GET", "cart") => q(<crate::cart::StoreQuery as utoipa::IntoParams>::into_params(|| {
            Some(ParameterIn::Query)
        })),
        ("DELETE", "cart") => q(<crate::cart::StoreQuery as utoipa::IntoParams>::into_params(|| {
            Some(ParameterIn::Query)
        })),
        ("DELETE", "cart/items/{sku}") => q(<crate::cart::StoreQuery as utoipa::IntoParams>::into_params(|| {
            Some(ParameterIn::Query)
        })),
        ("GET", "cart/checkout") => q(<crate::cart::StoreQuery as utoipa::IntoParams>::into_params(|| {
            Some(ParameterIn::Query)
        })),
        ("DELETE", "cart/share") => q(<crate::cart::StoreQuery as utoipa::IntoParams>::into_params(|| {
            Some(ParameterIn::Query)
        })),
        ("GET", "orders") => q(<nakku_core::order::ListQuery as utoipa::IntoParams>::into_params(
            || Some(ParameterIn::Query),
        )),
        ("GET", "deliveries/partners") => q(
            <nakku_core::delivery::partners::PartnerQuery as utoipa::IntoParams>::into_params(|| {
                Some(ParameterIn::Query)
            }),
        ),
        ("GET", "deliveries/partners/me/track") => {
            q(<crate::delivery::TrackQuery as utoipa::IntoParams>::into_params(|| {
                Some(ParameterIn::Query)
            }))
        }
        ("GET", "deliveries/performance") => q(
            <nakku_core::analytics::ReportQuery as utoipa::IntoParams>::into_params(|| Some(ParameterIn::Query)),
        ),
        ("GET", "deliveries/slots") => q(
            <nakku_core::delivery::slots::SlotQuery as utoipa::IntoParams>::into_params(|| Some(ParameterIn::Query)),
        ),
        ("GET", "notifications") => q(
            <nakku_core::notification::HistoryQuery as utoipa::IntoParams>::into_params(|| Some(ParameterIn::Query)),
        ),
        ("GET", "analytics/summary") => q(<nakku_core::analytics::ReportQuery as utoipa::IntoParams>::into_params(
            || Some(ParameterIn::Query),
        )),
        ("GET", "analytics/stores") => q(<nakku_core::analytics::ReportQuery as utoipa::IntoParams>::into_params(
            || Some(ParameterIn::Query),
        )),
        ("GET", "analytics/stock-alerts") => q(
            <nakku_core::analytics::ReportQuery as utoipa::IntoParams>::into_params(|| Some(ParameterIn::Query)),
        ),
        ("GET", "analytics/events") => q(
            <nakku_core::analytics::event_log::EventQuery as utoipa::IntoParams>::into_params(|| {
                Some(ParameterIn::Query)
            }),
        ),
        _ => Vec::new(),
    }
}

/// The document (built once).
pub fn document() -> &'static OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(build)
}

fn build() -> OpenApi {
    // Group the endpoints by path: one path item per path, an operation per method.
    let mut by_path: std::collections::BTreeMap<String, Vec<&Endpoint>> = Default::default();
    for e in ROUTES {
        by_path.entry(format!("/api/v1/{}", e.path)).or_default().push(e);
    }
    let mut paths = PathsBuilder::new();
    let mut schemas: std::collections::BTreeMap<String, utoipa::openapi::RefOr<Schema>> = Default::default();
    for (path, endpoints) in &by_path {
        let mut item: Option<PathItem> = None;
        for e in endpoints {
            let service = nakku_core::gateway::owner(e.path.split('/').next().unwrap_or_default())
                .map(|s| s.name())
                .unwrap_or("gateway");
            let mut op = OperationBuilder::new()
                .tag(service)
                .operation_id(Some(e.name))
                .summary(Some(summary(e)));
            for seg in e.path.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_start_matches('{').trim_end_matches('}');
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)))),
                );
            }
            for p in query_of(e.method, e.path) {
                op = op.parameter(p);
            }
            for p in headers_of(e) {
                op = op.parameter(p);
            }
            let typed = body_of(e.method, e.path);
            if typed.is_some() || matches!(e.method, "POST" | "PUT" | "PATCH") {
                let name = match typed {
                    Some(t) => {
                        for (n, schema) in t.schemas {
                            schemas.entry(n).or_insert(schema);
                        }
                        t.name
                    }
                    None => "Body".to_owned(),
                };
                op = op.request_body(Some(
                    RequestBodyBuilder::new()
                        .content("application/json", json_ref(&name))
                        .required(Some(Required::False))
                        .build(),
                ));
            }
            let success = match response_of(e.method, e.path) {
                Some(t) => {
                    let data = Ref::from_schema_name(&t.name);
                    for (n, schema) in t.schemas {
                        schemas.entry(n).or_insert(schema);
                    }
                    let envelope = ObjectBuilder::new()
                        .schema_type(Type::Object)
                        .property("success", ObjectBuilder::new().schema_type(Type::Boolean))
                        .required("success")
                        .property("data", data)
                        .required("data")
                        .build();
                    ContentBuilder::new().schema(Some(envelope)).build()
                }
                None => json_ref("Success"),
            };
            let ok = if e.path.ends_with("/stream") {
                // Server-sent events: `event: delivery` with the delivery view as data,
                // each time it changes, until it is delivered, failed or cancelled.
                ResponseBuilder::new()
                    .description("A stream of `delivery` events, each a DeliveryView as JSON")
                    .content(
                        "text/event-stream",
                        ContentBuilder::new()
                            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                            .build(),
                    )
                    .build()
            } else {
                let mut done = ResponseBuilder::new()
                    .description("Done")
                    .content("application/json", success)
                    .header(
                        "X-Request-Id",
                        HeaderBuilder::new()
                            .schema(string_schema())
                            .description(Some("The request's id (yours, or the one made for it)"))
                            .build(),
                    );
                if (e.method, e.path) == ("POST", "orders") {
                    done = done.header(
                        "Idempotent-Replayed",
                        HeaderBuilder::new()
                            .schema(string_schema().enum_values(Some(["true"])))
                            .description(Some("`true` when the answer is the order a repeated key placed before"))
                            .build(),
                    );
                }
                done.build()
            };
            let created = e.method == "POST";
            op = op.response("200", ok.clone());
            if created {
                op = op.response("201", ok);
            }
            let mut errors: Vec<(&str, &str)> = vec![
                ("400", "Malformed request (JSON syntax, an empty body)"),
                ("404", "Not found"),
                ("405", "Method not allowed on this path"),
                ("408", "The request took too long and was cancelled"),
                ("409", "Conflict with the current state"),
                ("413", "Body too large"),
                ("415", "Not JSON"),
                ("422", "Invalid input, by field"),
                ("429", "Rate limited; see Retry-After"),
                ("500", "Internal error (details logged, not returned)"),
                ("502", "The owning service is unreachable"),
                ("503", "The owning service is unavailable or its circuit is open"),
                ("504", "The owning service did not answer in time"),
            ];
            if e.access != Access::Public {
                op = op.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
                errors.push(("401", "Missing or invalid bearer token"));
                errors.push(("403", "The caller's role may not do this"));
            } else {
                // Public endpoints that read an optional token (admins see more) refuse a bad one.
                errors.push(("401", "A bearer token was sent and is invalid"));
                errors.push(("403", "Only admins may use this option"));
            }
            for (code, what) in errors {
                op = op.response(
                    code,
                    ResponseBuilder::new()
                        .description(what)
                        .content("application/json", json_ref("Error"))
                        .build(),
                );
            }
            let built = op.build();
            item = Some(match item {
                None => PathItem::new(method(e.method), built),
                Some(mut i) => {
                    let more = PathItem::new(method(e.method), built);
                    i.merge_operations(more);
                    i
                }
            });
        }
        if let Some(i) = item {
            paths = paths.path(path.clone(), i);
        }
    }
    let mut components = ComponentsBuilder::new().security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    for (name, schema) in envelope_schemas() {
        components = components.schema(name, schema);
    }
    for (name, schema) in schemas {
        components = components.schema(name, schema);
    }
    let tags = nakku_core::service::Service::ALL
        .iter()
        .filter(|s| **s != nakku_core::service::Service::Gateway)
        .map(|s| Tag::new(s.name()))
        .collect::<Vec<_>>();
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Nakku")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Quick-commerce API. Every answer is an envelope: `{success: true, data}` or \
                     `{success: false, error, code, fields?}`. Tokens come from POST /api/v1/auth/login.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .build();
    doc.tags = Some(tags);
    doc
}

/// A page that renders the document (Redoc, loaded from its CDN by the browser).
pub const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Nakku API</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="/api/v1/openapi.json"></redoc>
<script src="https://cdn.redoc.ly/redoc/latest/bundles/redoc.standalone.js"></script>
</body></html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_of_the_route_table_is_in_the_document_once() {
        let v = serde_json::to_value(document()).unwrap();
        assert_eq!(v["openapi"], "3.1.0");
        let mut ops = std::collections::HashSet::new();
        for e in ROUTES {
            let op = &v["paths"][format!("/api/v1/{}", e.path)][e.method.to_ascii_lowercase()];
            assert!(op.is_object(), "{} {} missing", e.method, e.path);
            assert!(
                ops.insert(op["operationId"].as_str().unwrap().to_owned()),
                "duplicate id"
            );
            assert_eq!(
                op["security"].is_array(),
                e.access != Access::Public,
                "{} {}",
                e.method,
                e.path
            );
        }
        assert_eq!(
            v["paths"]["/api/v1/orders/{id}/cancel"]["post"]["parameters"][0]["name"],
            "id"
        );
        // Bodies and query parameters come from the handlers' input types.
        let register =
            &v["paths"]["/api/v1/auth/register"]["post"]["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(register["$ref"], "#/components/schemas/RegisterInput");
        assert!(v["components"]["schemas"]["RegisterInput"]["properties"]["email"].is_object());
        let required = &v["components"]["schemas"]["RegisterInput"]["required"];
        assert_eq!(required, &serde_json::json!(["email", "phone", "password", "name"]));
        assert_eq!(
            v["components"]["schemas"]["RegisterInput"]["properties"]["email"]["type"],
            "string"
        );
        assert!(v["components"]["schemas"]["ReserveInput"]["properties"]["lines"].is_object());
        let search: Vec<&str> = v["paths"]["/api/v1/products"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(search.contains(&"q") && search.contains(&"store"), "{search:?}");
        // Success answers name the type of their data, field by field.
        let data = |method: &str, path: &str| {
            v["paths"][format!("/api/v1/{path}")][method]["responses"]["200"]["content"]["application/json"]["schema"]
                ["properties"]["data"]["$ref"]
                .as_str()
                .map(|r| r.trim_start_matches("#/components/schemas/").to_owned())
        };
        assert_eq!(data("get", "orders/{id}").as_deref(), Some("OrderView"));
        let order = &v["components"]["schemas"]["OrderView"];
        assert!(order["properties"]["saga"].is_object() && order["properties"]["timeline"].is_object());
        assert!(order["required"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("total_paise")));
        assert_eq!(data("get", "users/me/addresses").as_deref(), Some("AddressList"));
        assert_eq!(
            v["components"]["schemas"]["User"]["properties"]["created_at"]["format"],
            "date-time"
        );
        let typed = ROUTES
            .iter()
            .filter(|e| data(&e.method.to_ascii_lowercase(), e.path).is_some())
            .count();
        // A ratchet: the answers still built as free-form JSON are listed in the README.
        assert!(typed >= 128, "only {typed} of {} answers typed", ROUTES.len());
    }
}
