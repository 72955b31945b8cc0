//! The contract's rules on small documents, each change alone; and the real document
//! against itself and its frozen v1.
use super::*;
use serde_json::json;

/// Two operations, in the shapes the real document uses: a `$ref`'d request body, an
/// answer in the envelope (`allOf`), an optional field as `oneOf [null, …]`, an enum, a
/// recursive schema, query and path parameters.
fn base() -> Value {
    json!({
        "openapi": "3.1.0",
        "paths": {
            "/api/v1/orders": {
                "post": {
                    "parameters": [
                        {"name": "Idempotency-Key", "in": "header", "required": true, "schema": {"type": "string", "maxLength": 128}}
                    ],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PlaceOrder"}}}},
                    "responses": {
                        "201": {"content": {"application/json": {"schema": {"allOf": [
                            {"$ref": "#/components/schemas/Envelope"},
                            {"type": "object", "properties": {"data": {"$ref": "#/components/schemas/Order"}}, "required": ["data"]}
                        ]}}}},
                        "422": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                    }
                }
            },
            "/api/v1/orders/{id}": {
                "get": {
                    "parameters": [
                        {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                        {"name": "expand", "in": "query", "required": false, "schema": {"type": "string", "enum": ["lines", "delivery"]}}
                    ],
                    "responses": {"200": {"content": {"application/json": {"schema": {"allOf": [
                        {"$ref": "#/components/schemas/Envelope"},
                        {"type": "object", "properties": {"data": {"$ref": "#/components/schemas/Order"}}, "required": ["data"]}
                    ]}}}}}
                }
            }
        },
        "components": {"schemas": {
            "Envelope": {"type": "object", "properties": {"success": {"type": "boolean"}}, "required": ["success"]},
            "Error": {"type": "object", "properties": {"message": {"type": "string"}}},
            "PlaceOrder": {"type": "object", "properties": {
                "address_id": {"type": "string"},
                "note": {"type": "string", "maxLength": 200},
                "payment_method": {"type": "string", "enum": ["cod", "upi", "card"]},
                "tip_paise": {"type": "number"}
            }, "required": ["address_id", "payment_method"]},
            "Order": {"type": "object", "properties": {
                "id": {"type": "string"},
                "status": {"type": "string", "enum": ["placed", "confirmed", "delivered"]},
                "total_paise": {"type": "integer"},
                "coupon": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Coupon"}]},
                "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}},
                "replaces": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Order"}]}
            }, "required": ["id", "status", "total_paise", "lines"]},
            "Coupon": {"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]},
            "Line": {"type": "object", "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer"}}, "required": ["sku", "quantity"]}
        }}
    })
}

fn after(change: impl FnOnce(&mut Value)) -> Vec<String> {
    let old = base();
    let mut new = base();
    change(&mut new);
    breaking_changes(&old, &new)
}

fn schema<'d>(doc: &'d mut Value, name: &str) -> &'d mut Value {
    &mut doc["components"]["schemas"][name]
}

#[test]
fn the_same_document_breaks_nothing_and_additions_break_nothing() {
    assert_eq!(breaking_changes(&base(), &base()), Vec::<String>::new());
    let added = after(|d| {
        // A new operation, an optional parameter, an optional request field, an answer
        // field, an enum value in an answer and in a request, a wider request type, a
        // looser limit, a renamed path parameter.
        d["paths"]["/api/v1/carts"] = json!({"get": {"responses": {"200": {}}}});
        d["paths"]["/api/v1/orders/{id}"]["get"]["parameters"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "fields", "in": "query", "required": false, "schema": {"type": "string"}}));
        schema(d, "PlaceOrder")["properties"]["gift"] = json!({"type": "boolean"});
        schema(d, "Order")["properties"]["eta_minutes"] = json!({"type": "integer"});
        schema(d, "Order")["properties"]["status"]["enum"] = json!(["placed", "confirmed", "packed", "delivered"]);
        schema(d, "PlaceOrder")["properties"]["payment_method"]["enum"] = json!(["cod", "upi", "card", "wallet"]);
        schema(d, "PlaceOrder")["properties"]["tip_paise"]["type"] = json!(["number", "null"]);
        schema(d, "PlaceOrder")["properties"]["note"]["maxLength"] = json!(500);
        let item = d["paths"]["/api/v1/orders/{id}"].take();
        d["paths"]["/api/v1/orders/{order_id}"] = item;
    });
    assert_eq!(added, Vec::<String>::new());
}

#[test]
fn removals_are_breaking() {
    let removed_op = after(|d| {
        d["paths"]["/api/v1/orders/{id}"].as_object_mut().unwrap().remove("get");
    });
    assert_eq!(removed_op, ["GET /api/v1/orders/{}: operation removed"]);
    let removed_field = after(|d| {
        schema(d, "Line")["properties"]
            .as_object_mut()
            .unwrap()
            .remove("quantity");
        schema(d, "Line")["required"] = json!(["sku"]);
    });
    assert!(
        removed_field.contains(&"GET /api/v1/orders/{}: answer 200.data.lines[].quantity: field removed".to_owned()),
        "{removed_field:?}"
    );
    let removed_value = after(|d| {
        schema(d, "Order")["properties"]["status"]["enum"] = json!(["placed", "delivered"]);
    });
    assert!(
        removed_value
            .contains(&"GET /api/v1/orders/{}: answer 200.data.status: enum value \"confirmed\" removed".to_owned()),
        "{removed_value:?}"
    );
    let removed_answer = after(|d| {
        let op = &mut d["paths"]["/api/v1/orders"]["post"]["responses"];
        let created = op.as_object_mut().unwrap().remove("201").unwrap();
        op["200"] = created;
    });
    assert_eq!(removed_answer, ["POST /api/v1/orders: answer 201 removed"]);
    let removed_param = after(|d| {
        d["paths"]["/api/v1/orders/{id}"]["get"]["parameters"]
            .as_array_mut()
            .unwrap()
            .pop();
    });
    assert_eq!(
        removed_param,
        ["GET /api/v1/orders/{}: query parameter `expand` removed"]
    );
}

#[test]
fn a_deprecated_operation_may_go_once_its_sunset_day_has_come_not_before() {
    let mut old = base();
    old["paths"]["/api/v1/orders/{id}"]["get"]["deprecated"] = json!(true);
    old["paths"]["/api/v1/orders/{id}"]["get"]["x-sunset"] = json!("2027-06-30");
    let mut new = old.clone();
    new["paths"]["/api/v1/orders/{id}"]
        .as_object_mut()
        .unwrap()
        .remove("get");
    let sunset_ms = 1_814_313_600_000; // 2027-06-30T00:00:00Z
    assert_eq!(
        breaking_changes_at(&old, &new, sunset_ms - 1),
        ["GET /api/v1/orders/{}: operation removed"]
    );
    assert_eq!(breaking_changes_at(&old, &new, sunset_ms), Vec::<String>::new());
    // Deprecating is itself no break.
    assert_eq!(breaking_changes(&base(), &old), Vec::<String>::new());
}

#[test]
fn what_clients_send_may_not_be_newly_required_or_narrowed() {
    let required_param = after(|d| {
        d["paths"]["/api/v1/orders/{id}"]["get"]["parameters"][1]["required"] = json!(true);
    });
    assert_eq!(
        required_param,
        ["GET /api/v1/orders/{}: query parameter `expand` is now required"]
    );
    let new_param = after(|d| {
        d["paths"]["/api/v1/orders/{id}"]["get"]["parameters"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "store", "in": "query", "required": true, "schema": {"type": "string"}}));
    });
    assert_eq!(
        new_param,
        ["GET /api/v1/orders/{}: new required query parameter `store`"]
    );
    let required_field = after(|d| {
        schema(d, "PlaceOrder")["required"] = json!(["address_id", "payment_method", "note"]);
    });
    assert_eq!(
        required_field,
        ["POST /api/v1/orders: request body.note: newly required"]
    );
    let narrowed_type = after(|d| {
        schema(d, "PlaceOrder")["properties"]["tip_paise"]["type"] = json!("integer");
    });
    assert_eq!(
        narrowed_type,
        ["POST /api/v1/orders: request body.tip_paise: type changed from number to integer"]
    );
    let narrowed_limit = after(|d| {
        schema(d, "PlaceOrder")["properties"]["note"]["maxLength"] = json!(100);
        d["paths"]["/api/v1/orders"]["post"]["parameters"][0]["schema"]["maxLength"] = json!(64);
    });
    assert_eq!(
        narrowed_limit,
        [
            "POST /api/v1/orders: header parameter `Idempotency-Key`: maxLength narrowed",
            "POST /api/v1/orders: request body.note: maxLength narrowed"
        ]
    );
    let fewer_values = after(|d| {
        schema(d, "PlaceOrder")["properties"]["payment_method"]["enum"] = json!(["cod", "upi"]);
    });
    assert_eq!(
        fewer_values,
        ["POST /api/v1/orders: request body.payment_method: enum value \"card\" removed"]
    );
}

#[test]
fn what_clients_read_may_not_change_type_or_go_missing() {
    let maybe_absent = after(|d| {
        schema(d, "Order")["required"] = json!(["id", "status", "lines"]);
    });
    assert!(
        maybe_absent.contains(&"GET /api/v1/orders/{}: answer 200.data.total_paise: may now be absent".to_owned()),
        "{maybe_absent:?}"
    );
    let nullable = after(|d| {
        schema(d, "Order")["properties"]["total_paise"]["type"] = json!(["integer", "null"]);
    });
    assert!(
        nullable
            .iter()
            .all(|c| c.contains("type changed from integer to integer | null")),
        "{nullable:?}"
    );
    assert_eq!(nullable.len(), 2, "both operations answer an order: {nullable:?}");
    let widened = after(|d| {
        schema(d, "Line")["properties"]["quantity"]["type"] = json!("number");
    });
    assert!(
        !widened.is_empty() && widened.iter().all(|c| c.contains("quantity: type changed")),
        "{widened:?}"
    );
    // Through the optional, recursive `replaces`: the same change is found once per place.
    let deep = after(|d| {
        schema(d, "Coupon")["properties"]
            .as_object_mut()
            .unwrap()
            .remove("code");
    });
    assert!(
        deep.contains(&"GET /api/v1/orders/{}: answer 200.data.coupon.code: field removed".to_owned()),
        "{deep:?}"
    );
}

#[test]
fn the_committed_documents_are_current_and_v1_is_kept() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let current = document_text();
    let committed = std::fs::read_to_string(root.join("docs/openapi.json")).unwrap_or_default();
    assert!(
        committed == current,
        "docs/openapi.json is not what the code produces: run `nakku api spec > docs/openapi.json` \
         (and read `nakku api diff docs/contract/v1.openapi.json` first)"
    );
    let v1: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("docs/contract/v1.openapi.json")).unwrap_or_default())
            .unwrap_or(Value::Null);
    assert!(
        v1.get("paths").is_some(),
        "docs/contract/v1.openapi.json is missing or not a document"
    );
    let broken = breaking_changes(&v1, crate::openapi::document_json());
    assert!(
        broken.is_empty(),
        "the code breaks /api/v1's contract (docs/contract/v1.openapi.json); additions only, or a new \
         version (see the README's Versioning):\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_graphql_schema_keeps_its_frozen_contract() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let v1 = std::fs::read_to_string(root.join("docs/contract/v1.schema.graphql")).unwrap_or_default();
    assert!(
        v1.contains("type Query"),
        "docs/contract/v1.schema.graphql is missing or not a schema"
    );
    let broken = super::graphql::breaking_changes(&v1, &crate::graphql::sdl());
    assert!(
        broken.is_empty(),
        "the code breaks the GraphQL schema's contract (docs/contract/v1.schema.graphql); additions \
         only, or a deliberate new contract (see the README's Versioning):\n{}",
        broken.join("\n")
    );
}
