//! The two shapes of a list answer, shared by every service: [`Page`] (`{items,
//! next_cursor}`) and [`Items`] (`{items}`). Their OpenAPI schemas are named after what they
//! hold (`OrderSummaryList`, `PartnerItems`), so two lists of different things never share
//! a name, which a derived schema of a generic type would.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

fn array_of<T: ToSchema>() -> ArrayBuilder {
    ArrayBuilder::new().items(Ref::from_schema_name(T::name()))
}

/// `T`'s own schema and the ones it needs, for a wrapper that refers to `T` by name.
fn push_with_parts<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
}

/// One page of a list: `{"items": [...], "next_cursor": "..."}`; the cursor is `null` on
/// the last page (and always, for lists that are short by nature). Named `<T>List` in the
/// OpenAPI document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The whole list, as one last page.
    pub fn all(items: Vec<T>) -> Self {
        Page {
            items,
            next_cursor: None,
        }
    }
}

impl<T: ToSchema> PartialSchema for Page<T> {
    fn schema() -> RefOr<Schema> {
        let cursor = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .description(Some("Pass as `cursor` for the next page; null on the last page"));
        Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("items", array_of::<T>())
                .required("items")
                .property("next_cursor", cursor)
                .required("next_cursor")
                .build(),
        )
        .into()
    }
}

impl<T: ToSchema> ToSchema for Page<T> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("{}List", T::name()))
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        push_with_parts::<T>(schemas);
    }
}

/// A list that is never paged: `{"items": [...]}`. Named `<T>Items` in the OpenAPI
/// document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Items<T> {
    pub items: Vec<T>,
}

impl<T> Items<T> {
    pub fn new(items: Vec<T>) -> Self {
        Items { items }
    }
}

impl<T: ToSchema> PartialSchema for Items<T> {
    fn schema() -> RefOr<Schema> {
        Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("items", array_of::<T>())
                .required("items")
                .build(),
        )
        .into()
    }
}

impl<T: ToSchema> ToSchema for Items<T> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("{}Items", T::name()))
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        push_with_parts::<T>(schemas);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, ToSchema)]
    struct Thing {
        n: i64,
    }

    #[test]
    fn lists_are_named_after_what_they_hold_and_bring_its_schema() {
        assert_eq!(Page::<Thing>::name(), "ThingList");
        assert_eq!(Items::<Thing>::name(), "ThingItems");
        let mut parts = Vec::new();
        Page::<Thing>::schemas(&mut parts);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].0, "Thing");
        let page = serde_json::to_value(Page::all(vec![Thing { n: 1 }])).unwrap();
        assert_eq!(page, serde_json::json!({"items": [{"n": 1}], "next_cursor": null}));
    }
}
