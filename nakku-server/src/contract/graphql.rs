//! The GraphQL schema's contract: what a new SDL may change without breaking a client's
//! queries written against an older one. Additions are allowed (types, fields, optional
//! arguments and input fields, enum values, union members); anything a query relied on is
//! not: a type, field, argument, enum value or union member removed, a type changed, an
//! output that was never null becoming nullable, an argument or input field that was
//! optional becoming required, or a new required one. `docs/graphql/schema.graphql` is
//! the SDL the code produces (a test keeps it current) and `docs/contract/v1.schema.graphql`
//! the frozen contract; the same test fails on any break against it.

use std::collections::BTreeMap;

use async_graphql::parser::types::{BaseType, InputValueDefinition, Type, TypeKind, TypeSystemDefinition};

/// A type as the contract sees it.
enum Shape {
    Scalar,
    /// An object's or interface's fields: type and arguments each.
    Fields(BTreeMap<String, (Type, Args)>),
    Union(Vec<String>),
    Enum(Vec<String>),
    Input(Args),
}

/// Arguments or input fields: type and whether a default is given.
type Args = BTreeMap<String, (Type, bool)>;

fn args(list: &[async_graphql::Positioned<InputValueDefinition>]) -> Args {
    list.iter()
        .map(|a| {
            let a = &a.node;
            (a.name.node.to_string(), (a.ty.node.clone(), a.default_value.is_some()))
        })
        .collect()
}

/// The types of an SDL by name, or why it does not parse.
fn shapes(sdl: &str) -> Result<BTreeMap<String, Shape>, String> {
    let doc = async_graphql::parser::parse_schema(sdl).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for d in doc.definitions {
        let TypeSystemDefinition::Type(t) = d else { continue };
        let t = t.node;
        let fields = |list: &[async_graphql::Positioned<async_graphql::parser::types::FieldDefinition>]| {
            list.iter()
                .map(|f| {
                    let f = &f.node;
                    (f.name.node.to_string(), (f.ty.node.clone(), args(&f.arguments)))
                })
                .collect()
        };
        let shape = match &t.kind {
            TypeKind::Scalar => Shape::Scalar,
            TypeKind::Object(o) => Shape::Fields(fields(&o.fields)),
            TypeKind::Interface(i) => Shape::Fields(fields(&i.fields)),
            TypeKind::Union(u) => Shape::Union(u.members.iter().map(|m| m.node.to_string()).collect()),
            TypeKind::Enum(e) => Shape::Enum(e.values.iter().map(|v| v.node.value.node.to_string()).collect()),
            TypeKind::InputObject(i) => Shape::Input(args(&i.fields)),
        };
        out.insert(t.name.node.to_string(), shape);
    }
    Ok(out)
}

/// Whether a client reading `old` can read `new` in its place: the same named type at
/// each level; a level that was never null stays so (a nullable one may become non-null).
fn readable(old: &Type, new: &Type) -> bool {
    if !old.nullable && new.nullable {
        return false;
    }
    match (&old.base, &new.base) {
        (BaseType::Named(a), BaseType::Named(b)) => a == b,
        (BaseType::List(a), BaseType::List(b)) => readable(a, b),
        _ => false,
    }
}

/// Whether what a client sent as `old` is still accepted as `new`: the same named type at
/// each level; a level that took null still does (a non-null one may start taking null).
fn sendable(old: &Type, new: &Type) -> bool {
    if old.nullable && !new.nullable {
        return false;
    }
    match (&old.base, &new.base) {
        (BaseType::Named(a), BaseType::Named(b)) => a == b,
        (BaseType::List(a), BaseType::List(b)) => sendable(a, b),
        _ => false,
    }
}

/// Arguments (or input fields) of `at`: removed, changed so an old value is refused, or
/// newly required.
fn compare_args(at: &str, old: &Args, new: &Args, out: &mut Vec<String>) {
    for (name, (ty, _)) in old {
        match new.get(name) {
            None => out.push(format!("{at}({name}): removed")),
            Some((nt, _)) if !sendable(ty, nt) => out.push(format!("{at}({name}): {ty} became {nt}")),
            Some(_) => {}
        }
    }
    for (name, (ty, default)) in new {
        if !old.contains_key(name) && !ty.nullable && !default {
            out.push(format!("{at}({name}): new and required ({ty})"));
        }
    }
}

/// Everything in SDL `new` that breaks a client of SDL `old`, one sentence each, in a
/// stable order; an SDL that does not parse is one such sentence.
pub fn breaking_changes(old: &str, new: &str) -> Vec<String> {
    let (old, new) = match (shapes(old), shapes(new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) => return vec![format!("the old SDL does not parse: {e}")],
        (_, Err(e)) => return vec![format!("the new SDL does not parse: {e}")],
    };
    let mut out = Vec::new();
    for (name, shape) in &old {
        let Some(now) = new.get(name) else {
            out.push(format!("{name}: type removed"));
            continue;
        };
        match (shape, now) {
            (Shape::Scalar, Shape::Scalar) => {}
            (Shape::Fields(a), Shape::Fields(b)) => {
                for (field, (ty, fargs)) in a {
                    let at = format!("{name}.{field}");
                    match b.get(field) {
                        None => out.push(format!("{at}: field removed")),
                        Some((nt, nargs)) => {
                            if !readable(ty, nt) {
                                out.push(format!("{at}: {ty} became {nt}"));
                            }
                            compare_args(&at, fargs, nargs, &mut out);
                        }
                    }
                }
            }
            (Shape::Union(a), Shape::Union(b)) | (Shape::Enum(a), Shape::Enum(b)) => {
                for m in a.iter().filter(|m| !b.contains(m)) {
                    out.push(format!("{name}: {m} removed"));
                }
            }
            (Shape::Input(a), Shape::Input(b)) => compare_args(name, a, b, &mut out),
            _ => out.push(format!("{name}: changed kind")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        type Query { order(id: String!): Order  orders(first: Int = 20, status: String): [Order!]! }
        type Order { id: String!  status: Status!  note: String  lines: [Line!]! }
        type Line { sku: String!  quantity: Int! }
        enum Status { PLACED DELIVERED }
        union Thing = Order | Line
        input PlaceInput { addressId: String!  note: String }
        type Mutation { placeOrder(input: PlaceInput!): Order! }
        schema { query: Query mutation: Mutation }
    "#;

    fn after(from: &str, to: &str) -> Vec<String> {
        assert!(BASE.contains(from), "{from}");
        breaking_changes(BASE, &BASE.replacen(from, to, 1))
    }

    #[test]
    fn additions_break_nothing() {
        assert_eq!(breaking_changes(BASE, BASE), Vec::<String>::new());
        for (from, to) in [
            ("lines: [Line!]! }", "lines: [Line!]!  eta: Int }"),
            ("enum Status { PLACED", "enum Status { PACKED PLACED"),
            (
                "union Thing = Order | Line",
                "union Thing = Order | Line | Extra type Extra { a: Int }",
            ),
            ("status: String)", "status: String, store: String)"),
            ("note: String }", "note: String  slot: String  tip: Int = 0 }"),
            // An output may become non-null; an input may start taking null.
            ("note: String  lines", "note: String!  lines"),
            (
                "input PlaceInput { addressId: String!",
                "input PlaceInput { addressId: String",
            ),
        ] {
            assert_eq!(after(from, to), Vec::<String>::new(), "{from} -> {to}");
        }
    }

    #[test]
    fn removals_and_narrowings_break_once_each() {
        for (from, to, want) in [
            (
                "type Line { sku: String!  quantity: Int! }",
                "type Line { sku: String! }",
                "Line.quantity: field removed",
            ),
            (
                "enum Status { PLACED DELIVERED }",
                "enum Status { PLACED }",
                "Status: DELIVERED removed",
            ),
            (
                "union Thing = Order | Line",
                "union Thing = Order",
                "Thing: Line removed",
            ),
            (
                "status: Status!",
                "status: Status",
                "Order.status: Status! became Status",
            ),
            (
                "lines: [Line!]!",
                "lines: [Line]!",
                "Order.lines: [Line!]! became [Line]!",
            ),
            (
                "quantity: Int!",
                "quantity: Float!",
                "Line.quantity: Int! became Float!",
            ),
            ("status: String)", ")", "Query.orders(status): removed"),
            (
                "status: String)",
                "status: String!)",
                "Query.orders(status): String became String!",
            ),
            (
                "order(id: String!)",
                "order(id: String!, store: String!)",
                "Query.order(store): new and required (String!)",
            ),
            (
                "note: String }",
                "note: String  slot: String! }",
                "PlaceInput(slot): new and required (String!)",
            ),
            ("note: String }", "note: Int }", "PlaceInput(note): String became Int"),
            (
                "enum Status { PLACED DELIVERED }",
                "scalar Status",
                "Status: changed kind",
            ),
        ] {
            assert_eq!(after(from, to), [want], "{from} -> {to}");
        }
        let gone = after("type Line { sku: String!  quantity: Int! }", "");
        assert!(gone.contains(&"Line: type removed".to_owned()), "{gone:?}");
        let broken = breaking_changes(BASE, "type {");
        assert!(
            broken.len() == 1 && broken[0].starts_with("the new SDL does not parse"),
            "{broken:?}"
        );
    }
}
