//! The OpenAPI 3.1 document of the public API, generated from the endpoints' declarations
//! ([`crate::api::catalog`]) with `utoipa`'s model: every endpoint with its owning service
//! (tag), path parameters, who may call it (bearer security and the 401/403 it adds), the
//! headers it reads, the request body and query parameters its handler takes, the answer
//! its handler returns in the standard envelope, the errors it can give, and the links
//! from its answer to the operations it enables. Served by the gateway at
//! `/api/v1/openapi.json`, browsable at `/api/v1/docs`.

use std::sync::OnceLock;

use nakku_core::gateway::{Access, Endpoint};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, RefOr, Required,
    ResponseBuilder, Tag,
};

use crate::api::{catalog, HeaderDoc, Op, Typed};

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

/// `X-Request-Id`, read by every endpoint.
const REQUEST_ID: HeaderDoc = HeaderDoc {
    name: "X-Request-Id",
    required: false,
    description: "Your id for this request (1-128 letters, digits, `-_.:`): echoed in the answer, written in \
                  the logs and carried by the events it causes. One is made when absent or malformed.",
    pattern: "^[A-Za-z0-9._:-]+$",
    max_length: Some(128),
};

/// `traceparent`, read by every endpoint.
const TRACEPARENT: HeaderDoc = HeaderDoc {
    name: "traceparent",
    required: false,
    description: "W3C trace context: the request joins that trace (a new one is started when absent).",
    pattern: "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
    max_length: None,
};

fn string_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A request header parameter.
fn header_param(h: &HeaderDoc) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(h.name)
        .parameter_in(ParameterIn::Header)
        .required(if h.required { Required::True } else { Required::False })
        .description(Some(h.description))
        .schema(Some(
            string_schema()
                .min_length(h.max_length.map(|_| 1))
                .max_length(h.max_length)
                .pattern(Some(h.pattern)),
        ))
        .build()
}

/// A path parameter's schema, by its name: the same name means the same thing on every
/// path (`{sku}` a sku, `{store}` a store, `{order_id}` an order's id).
fn path_schema(name: &str) -> Schema {
    use nakku_core::rules;
    match name {
        "sku" => Schema::Object(rules::sku()),
        "store" => Schema::Object(
            ObjectBuilder::from(rules::store_code())
                .description(Some("The store's code (inventory's paths also take its id)"))
                .build(),
        ),
        "order_id" => Schema::Object(rules::id()),
        "action" => Schema::Object(rules::one_of(&nakku_core::delivery::deliveries::ACTIONS)),
        _ => Schema::Object(string_schema().min_length(Some(1)).build()),
    }
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

/// One endpoint's operation; the schemas it names go through `keep`.
fn operation(op: &Op, keep: &mut impl FnMut(Typed) -> String) -> utoipa::openapi::path::Operation {
    let e = &op.endpoint;
    let mut o = OperationBuilder::new()
        .tag(e.service.name())
        .operation_id(Some(e.name))
        .summary(Some(summary(e)));
    if let Some(s) = &e.sunset {
        o = o
            .deprecated(Some(utoipa::openapi::Deprecated::True))
            .description(Some(format!(
                "**Deprecated** since {}; works until {} (its answers carry `Deprecation`, `Sunset` and a \
                 `Link` to the successor). Use `{}` instead.",
                s.deprecated, s.sunset, s.successor
            )))
            .extensions(Some(
                utoipa::openapi::extensions::ExtensionsBuilder::new()
                    .add("x-sunset", s.sunset)
                    .add("x-successor", s.successor)
                    .build(),
            ));
    }
    for seg in e.path.split('/').filter(|s| s.starts_with('{')) {
        let name = seg.trim_start_matches('{').trim_end_matches('}');
        o = o.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(path_schema(name))),
        );
    }
    for p in op.shape.query.map(|f| f()).unwrap_or_default() {
        o = o.parameter(p);
    }
    for h in [REQUEST_ID, TRACEPARENT].iter().chain(&op.headers) {
        o = o.parameter(header_param(h));
    }
    let body = op.shape.body.map(|f| keep(f()));
    if body.is_some() || matches!(e.method, "POST" | "PUT" | "PATCH") {
        o = o.request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", json_ref(body.as_deref().unwrap_or("Body")))
                .required(Some(if op.shape.body_required {
                    Required::True
                } else {
                    Required::False
                }))
                .build(),
        ));
    }
    let live = op
        .shape
        .live
        .map(|how| (how, op.shape.answer.map(|f| keep(f())).unwrap_or_default()));
    let ok = if let Some((how, view)) = &live {
        // A live feed (see crate::live): the view each time it changes, until it ends.
        let (what, kind) = match how {
            crate::api::Live::Events => (
                format!(
                    "Server-sent events: each time it changes, an event named after the view with a {view} as JSON; `error` with a message when it can no longer be read or the token expires, then the stream ends"
                ),
                "text/event-stream",
            ),
            crate::api::Live::Socket => (
                format!(
                    "Switching Protocols to a WebSocket: a text message `{{\"event\": <view name>, \"data\": <{view}>}}` each time it changes; closed with 1000 once it has ended, 4401 when the token expires, 1011 when it can no longer be read"
                ),
                "text/plain",
            ),
        };
        ResponseBuilder::new()
            .description(what)
            .content(kind, ContentBuilder::new().schema(Some(string_schema())).build())
            .build()
    } else {
        let success = match op.shape.answer.map(|f| keep(f())) {
            Some(name) => {
                let envelope = ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property("success", ObjectBuilder::new().schema_type(Type::Boolean))
                    .required("success")
                    .property("data", Ref::from_schema_name(name))
                    .required("data")
                    .build();
                ContentBuilder::new().schema(Some(envelope)).build()
            }
            None => json_ref("Success"),
        };
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
        if op.replays {
            done = done.header(
                "Idempotent-Replayed",
                HeaderBuilder::new()
                    .schema(string_schema().enum_values(Some(["true"])))
                    .description(Some(
                        "`true` when the answer repeats what an earlier request with this key did",
                    ))
                    .build(),
            );
        }
        for link in &op.links {
            let mut l = LinkBuilder::new().operation_id(link.operation);
            for (name, expr) in link.parameters {
                l = l.parameter(*name, *expr);
            }
            done = done.link(link.operation, RefOr::T(l.build()));
        }
        done.build()
    };
    let switching = matches!(live, Some((crate::api::Live::Socket, _)));
    o = o.response(if switching { "101" } else { "200" }, ok.clone());
    if e.method == "POST" {
        o = o.response("201", ok);
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
    if switching {
        errors.push(("426", "Not a WebSocket upgrade request"));
    }
    if e.access != Access::Public {
        o = o.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
        errors.push(("401", "Missing or invalid bearer token"));
        errors.push(("403", "The caller's role may not do this"));
    } else {
        // Public endpoints that read an optional token (admins see more) refuse a bad one.
        errors.push(("401", "A bearer token was sent and is invalid"));
        errors.push(("403", "Only admins may use this option"));
    }
    for (code, what) in errors {
        o = o.response(
            code,
            ResponseBuilder::new()
                .description(what)
                .content("application/json", json_ref("Error"))
                .build(),
        );
    }
    o.build()
}

/// The document as served (built once, as JSON): utoipa 5.5 writes a link's fields in snake case
/// (`operation_id`), which OpenAPI names `operationId`, `operationRef` and `requestBody`;
/// they are renamed here so that clients and schemathesis follow the links.
pub fn document_json() -> &'static serde_json::Value {
    static JSON: OnceLock<serde_json::Value> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut v = serde_json::to_value(build()).unwrap_or_default();
        let responses = v["paths"]
            .as_object_mut()
            .into_iter()
            .flat_map(|paths| paths.values_mut())
            .filter_map(|item| item.as_object_mut())
            .flat_map(|item| item.values_mut())
            .filter_map(|op| op.get_mut("responses").and_then(|r| r.as_object_mut()))
            .flat_map(|r| r.values_mut());
        for response in responses {
            let links = response.get_mut("links").and_then(|l| l.as_object_mut());
            for link in links
                .into_iter()
                .flat_map(|l| l.values_mut())
                .filter_map(|l| l.as_object_mut())
            {
                for (from, to) in [
                    ("operation_id", "operationId"),
                    ("operation_ref", "operationRef"),
                    ("request_body", "requestBody"),
                ] {
                    if let Some(x) = link.remove(from) {
                        link.insert(to.to_owned(), x);
                    }
                }
            }
        }
        v
    })
}

fn build() -> OpenApi {
    // Group the endpoints by path: one path item per path, an operation per method.
    let mut by_path: std::collections::BTreeMap<String, Vec<&Op>> = Default::default();
    for op in catalog().ops() {
        by_path
            .entry(format!("/api/v1/{}", op.endpoint.path))
            .or_default()
            .push(op);
    }
    let mut paths = PathsBuilder::new();
    let mut schemas: std::collections::BTreeMap<String, RefOr<Schema>> = Default::default();
    let mut keep = |t: Typed| {
        for (n, schema) in t.schemas {
            schemas.entry(n).or_insert(schema);
        }
        t.name
    };
    for (path, ops) in &by_path {
        let mut item: Option<PathItem> = None;
        for op in ops {
            let built = operation(op, &mut keep);
            let e = &op.endpoint;
            item = Some(match item {
                None => PathItem::new(method(e.method), built),
                Some(mut i) => {
                    i.merge_operations(PathItem::new(method(e.method), built));
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

    /// A deprecated operation is marked so, with its sunset day and successor; every
    /// deprecation declared is well-formed, and names an operation that is not itself on
    /// its way out.
    #[test]
    fn deprecated_operations_say_so_and_name_a_live_successor() {
        let mut op = catalog().op("placeOrder").map(|o| Op {
            endpoint: o.endpoint,
            shape: o.shape,
            headers: o.headers.clone(),
            replays: o.replays,
            links: Vec::new(),
        });
        let Some(op) = op.as_mut() else {
            panic!("placeOrder is declared")
        };
        assert!(serde_json::to_value(operation(op, &mut |_| String::new()))
            .unwrap()
            .get("deprecated")
            .is_none());
        op.endpoint.sunset = Some(nakku_core::gateway::Sunset {
            deprecated: "2026-12-07",
            sunset: "2027-06-30",
            successor: "addCartLines",
        });
        let doc = serde_json::to_value(operation(op, &mut |_| String::new())).unwrap();
        assert_eq!(doc["deprecated"], true);
        assert_eq!(doc["x-sunset"], "2027-06-30");
        assert_eq!(doc["x-successor"], "addCartLines");
        assert!(doc["description"].as_str().unwrap().contains("works until 2027-06-30"));
        for o in catalog().ops() {
            let Some(s) = o.endpoint.sunset else { continue };
            assert!(
                s.is_valid(),
                "{}: deprecated {} / sunset {}",
                o.endpoint.name,
                s.deprecated,
                s.sunset
            );
            let next = catalog().op(s.successor);
            assert!(
                next.is_some_and(|n| n.endpoint.sunset.is_none()),
                "{}: successor {} is not a live operation",
                o.endpoint.name,
                s.successor
            );
        }
    }

    /// Two types with one schema name would leave one of them described as the other.
    #[test]
    fn no_two_schemas_share_a_name() {
        let mut seen: std::collections::BTreeMap<String, RefOr<Schema>> = Default::default();
        let mut checked = 0;
        for op in catalog().ops() {
            for t in [op.shape.body, op.shape.answer].into_iter().flatten() {
                for (name, schema) in t().schemas {
                    if let Some(prev) = seen.get(&name) {
                        assert!(prev == &schema, "two different schemas are named {name}");
                    }
                    seen.insert(name, schema);
                    checked += 1;
                }
            }
        }
        assert!(
            checked > 100 && seen.len() > 60,
            "{checked} schemas, {} names",
            seen.len()
        );
    }

    #[test]
    fn every_endpoint_of_the_route_table_is_in_the_document_once() {
        let v = document_json().clone();
        assert_eq!(v["openapi"], "3.1.0");
        let mut ops = std::collections::HashSet::new();
        for e in crate::api::endpoints() {
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
        // A field that takes one of a list shows the list its parser checks.
        let field = |schema: &str, field: &str| v["components"]["schemas"][schema]["properties"][field]["enum"].clone();
        assert_eq!(
            field("PlaceInput", "substitution"),
            serde_json::json!(nakku_core::order::SUBSTITUTIONS)
        );
        // A payment method is one shape per kind, each needing what its kind needs.
        let variants = v["components"]["schemas"]["MethodInput"]["oneOf"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let kinds: Vec<&serde_json::Value> = variants.iter().map(|m| &m["properties"]["kind"]["enum"][0]).collect();
        assert_eq!(serde_json::json!(kinds), serde_json::json!(nakku_core::payment::KINDS));
        let needs = |kind: &str| {
            variants
                .iter()
                .find(|m| m["properties"]["kind"]["enum"][0] == kind)
                .map(|m| m["required"].clone())
        };
        assert_eq!(needs("card"), Some(serde_json::json!(["kind", "token"])));
        assert_eq!(needs("upi"), Some(serde_json::json!(["kind", "upi_id"])));
        assert_eq!(needs("cod"), Some(serde_json::json!(["kind"])));
        assert!(variants
            .iter()
            .all(|m| m["additionalProperties"] == false && m["properties"]["card_number"].is_null()));
        // Bounds written out where utoipa needs literals (a required query parameter)
        // agree with the rules the parsers use.
        let query = |path: &str, name: &str| {
            v["paths"][format!("/api/v1/{path}")]["get"]["parameters"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == name).cloned())
                .unwrap_or_default()
        };
        let rule = |o: utoipa::openapi::schema::Object| serde_json::to_value(o).unwrap_or_default();
        for (path, name, expected) in [
            ("locations/serviceability", "lat", rule(nakku_core::rules::latitude())),
            ("locations/serviceability", "lng", rule(nakku_core::rules::longitude())),
            ("locations/distance", "to_lat", rule(nakku_core::rules::latitude())),
            ("locations/distance", "from_lng", rule(nakku_core::rules::longitude())),
            ("deliveries/slots", "store", rule(nakku_core::rules::store_code())),
        ] {
            let p = query(path, name);
            assert_eq!(p["required"], true, "{path} {name}");
            for k in ["minimum", "maximum", "minLength", "maxLength", "pattern"] {
                assert_eq!(p["schema"][k], expected[k], "{path} {name} {k}");
            }
        }
        let skus = query("inventory/stores/{store}/stock", "skus");
        assert!(skus["schema"]["pattern"]
            .as_str()
            .is_some_and(|p| p.contains(&format!("{{1,{}}}", nakku_core::rules::SKU_MAX))));
        // The same path parameter means the same thing everywhere.
        let sku = &v["paths"]["/api/v1/inventory/stores/{store}/stock/{sku}"]["get"]["parameters"][1];
        assert_eq!(sku["name"], "sku");
        assert_eq!(sku["schema"], rule(nakku_core::rules::sku()));
        // A body the handler cannot do without is required.
        assert_eq!(v["paths"]["/api/v1/orders"]["post"]["requestBody"]["required"], true);
        assert_eq!(
            v["paths"]["/api/v1/inventory/reservations/{order_id}/release"]["post"]["requestBody"]["required"],
            false
        );
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
        let all: Vec<_> = crate::api::endpoints().collect();
        let typed = all
            .iter()
            .filter(|e| data(&e.method.to_ascii_lowercase(), e.path).is_some())
            .count();
        // Every answer but the live feeds' (event streams and WebSockets) is typed.
        let live = all
            .iter()
            .filter(|e| e.path.ends_with("/stream") || e.path.ends_with("/live"))
            .count();
        assert_eq!(live, 4);
        assert_eq!(typed, all.len() - live, "only {typed} of {} answers typed", all.len());
        // Links lead from what creates a thing to what reads it.
        let link = &v["paths"]["/api/v1/orders"]["post"]["responses"]["201"]["links"]["getOrder"];
        assert_eq!(link["operationId"], "getOrder");
        assert!(link.get("operation_id").is_none(), "{link}");
        assert_eq!(link["parameters"]["id"], "$response.body#/data/id");
    }
}
