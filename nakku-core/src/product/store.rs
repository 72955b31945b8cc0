//! SQL for the catalogue. One text for both backends (see `db::dialect` for the seam).

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Category, Product, ProductDraft};
use crate::db::{opt_text, text, Dialect};
use crate::error::CoreError;

pub const PRODUCT_COLS: &str = "id, sku, name, brand, description, category_id, unit, mrp_paise, price_paise, tags, \
     images, attributes, max_per_order, active, version, created_at, updated_at, deleted_at";
const CATEGORY_COLS: &str = "id, parent_id, name, slug, position, created_at, updated_at";

fn json_col<T: serde::de::DeserializeOwned + Default>(r: &AnyRow, col: &str) -> Result<T, sqlx::Error> {
    let raw = text(r, col)?;
    if raw.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_str(&raw).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

pub fn product_from_row(r: &AnyRow) -> Result<Product, sqlx::Error> {
    let active: i64 = r.try_get("active")?;
    let max: i64 = r.try_get("max_per_order")?;
    Ok(Product {
        id: text(r, "id")?,
        sku: text(r, "sku")?,
        name: text(r, "name")?,
        brand: text(r, "brand")?,
        description: text(r, "description")?,
        category_id: text(r, "category_id")?,
        unit: text(r, "unit")?,
        mrp_paise: r.try_get("mrp_paise")?,
        price_paise: r.try_get("price_paise")?,
        tags: json_col(r, "tags")?,
        images: json_col(r, "images")?,
        attributes: json_col::<BTreeMap<String, serde_json::Value>>(r, "attributes")?,
        max_per_order: (max > 0).then_some(max),
        active: active != 0,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        deleted_at: r.try_get("deleted_at")?,
    })
}

fn category_from_row(r: &AnyRow) -> Result<Category, sqlx::Error> {
    Ok(Category {
        id: text(r, "id")?,
        parent_id: opt_text(r, "parent_id")?,
        name: text(r, "name")?,
        slug: text(r, "slug")?,
        position: r.try_get("position")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub async fn categories(conn: &mut AnyConnection) -> Result<Vec<Category>, sqlx::Error> {
    let rows = sqlx::query(&format!("SELECT {CATEGORY_COLS} FROM categories"))
        .fetch_all(conn)
        .await?;
    rows.iter().map(category_from_row).collect()
}

pub async fn insert_category(conn: &mut AnyConnection, c: &Category) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO categories ({CATEGORY_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(&c.id)
    .bind(&c.parent_id)
    .bind(&c.name)
    .bind(&c.slug)
    .bind(c.position)
    .bind(c.created_at)
    .bind(c.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_category(conn: &mut AnyConnection, c: &Category) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE categories SET parent_id = ?, name = ?, slug = ?, position = ?, updated_at = ? WHERE id = ?")
        .bind(&c.parent_id)
        .bind(&c.name)
        .bind(&c.slug)
        .bind(c.position)
        .bind(c.updated_at)
        .bind(&c.id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete_category(conn: &mut AnyConnection, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM categories WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Products (deleted ones included) that use `category_id`.
pub async fn count_in_category(conn: &mut AnyConnection, category_id: &str) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM products WHERE category_id = ? AND deleted_at IS NULL")
        .bind(category_id)
        .fetch_one(conn)
        .await?;
    row.try_get("n")
}

pub async fn product(conn: &mut AnyConnection, id_or_sku: &str) -> Result<Option<Product>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {PRODUCT_COLS} FROM products WHERE id = ? UNION ALL SELECT {PRODUCT_COLS} FROM products WHERE sku = ? LIMIT 1"
    ))
    .bind(id_or_sku)
    .bind(id_or_sku)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(product_from_row).transpose()
}

/// The products with these skus (deleted ones included).
pub async fn products_by_sku(conn: &mut AnyConnection, skus: &[String]) -> Result<Vec<Product>, sqlx::Error> {
    let mut out = Vec::new();
    for chunk in skus.chunks(500) {
        let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(format!("SELECT {PRODUCT_COLS} FROM products WHERE sku IN "));
        crate::db::push_list(&mut qb, chunk);
        for r in qb.build().fetch_all(&mut *conn).await? {
            out.push(product_from_row(&r)?);
        }
    }
    Ok(out)
}

/// Every product changed at or after `since_ms` (all of them for 0), in pages.
pub async fn products_since(
    conn: &mut AnyConnection,
    since_ms: i64,
    after_id: &str,
    limit: i64,
) -> Result<Vec<Product>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {PRODUCT_COLS} FROM products WHERE updated_at > ? OR (updated_at = ? AND id > ?) \
         ORDER BY updated_at, id LIMIT ?"
    ))
    .bind(since_ms)
    .bind(since_ms)
    .bind(after_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(product_from_row).collect()
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, CoreError> {
    serde_json::to_string(v).map_err(|e| CoreError::Internal(e.into()))
}

/// Inserts new products or replaces existing ones (matched by id), several rows per
/// statement.
pub async fn upsert_products(conn: &mut AnyConnection, dialect: Dialect, rows: &[Product]) -> Result<(), CoreError> {
    for chunk in rows.chunks(200) {
        let update = dialect.upsert(
            "id",
            &[
                "name",
                "brand",
                "description",
                "category_id",
                "unit",
                "mrp_paise",
                "price_paise",
                "tags",
                "images",
                "attributes",
                "max_per_order",
                "active",
                "version",
                "updated_at",
                "deleted_at",
            ],
        );
        let mut rows = Vec::with_capacity(chunk.len());
        for p in chunk {
            rows.push((p, to_json(&p.tags)?, to_json(&p.images)?, to_json(&p.attributes)?));
        }
        let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(format!("INSERT INTO products ({PRODUCT_COLS}) "));
        qb.push_values(rows, |mut row, (p, tags, images, attributes)| {
            row.push_bind(&p.id)
                .push_bind(&p.sku)
                .push_bind(&p.name)
                .push_bind(&p.brand)
                .push_bind(&p.description)
                .push_bind(&p.category_id)
                .push_bind(&p.unit)
                .push_bind(p.mrp_paise)
                .push_bind(p.price_paise)
                .push_bind(tags)
                .push_bind(images)
                .push_bind(attributes)
                .push_bind(p.max_per_order.unwrap_or(0))
                .push_bind(i64::from(p.active))
                .push_bind(p.version)
                .push_bind(p.created_at)
                .push_bind(p.updated_at)
                .push_bind(p.deleted_at);
        });
        qb.push(update);
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// A product built from a validated draft.
pub fn build(id: String, d: ProductDraft, version: i64, created_at: i64, now: i64) -> Product {
    Product {
        id,
        sku: d.sku,
        name: d.name,
        brand: d.brand,
        description: d.description,
        category_id: d.category_id,
        unit: d.unit,
        mrp_paise: d.mrp_paise,
        price_paise: d.price_paise,
        tags: d.tags,
        images: d.images,
        attributes: d.attributes,
        max_per_order: d.max_per_order,
        active: d.active,
        version,
        created_at,
        updated_at: now,
        deleted_at: None,
    }
}

/// Soft-deletes (or with `deleted = None` restores) a product; returns whether it changed.
pub async fn set_deleted(
    conn: &mut AnyConnection,
    id: &str,
    deleted: Option<i64>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let sql = if deleted.is_some() {
        "UPDATE products SET deleted_at = ?, updated_at = ?, version = version + 1 WHERE id = ? AND deleted_at IS NULL"
    } else {
        "UPDATE products SET deleted_at = ?, updated_at = ?, version = version + 1 WHERE id = ? AND deleted_at IS NOT NULL"
    };
    let r = sqlx::query(sql).bind(deleted).bind(now).bind(id).execute(conn).await?;
    Ok(r.rows_affected() == 1)
}

/// (id, version, deleted, updated_at) of every product changed at or after `since_ms`: the cheap first
/// look of the index refresher, which then loads only the rows it does not have.
pub async fn versions_since(
    conn: &mut AnyConnection,
    since_ms: i64,
) -> Result<Vec<(String, i64, bool, i64)>, sqlx::Error> {
    let rows = sqlx::query("SELECT id, version, deleted_at, updated_at FROM products WHERE updated_at >= ?")
        .bind(since_ms)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            let deleted: Option<i64> = r.try_get("deleted_at")?;
            Ok((
                text(r, "id")?,
                r.try_get("version")?,
                deleted.is_some(),
                r.try_get("updated_at")?,
            ))
        })
        .collect()
}

/// Full rows of these products.
pub async fn products_by_id(conn: &mut AnyConnection, ids: &[String]) -> Result<Vec<Product>, sqlx::Error> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(format!("SELECT {PRODUCT_COLS} FROM products WHERE id IN "));
        crate::db::push_list(&mut qb, chunk);
        for r in qb.build().fetch_all(&mut *conn).await? {
            out.push(product_from_row(&r)?);
        }
    }
    Ok(out)
}

/// Stock rows changed at or after `since_ms`.
pub async fn stock_since(
    conn: &mut AnyConnection,
    since_ms: i64,
) -> Result<Vec<(String, String, i64, i64)>, sqlx::Error> {
    let rows = sqlx::query("SELECT store, sku, available, updated_at FROM store_stock WHERE updated_at >= ?")
        .bind(since_ms)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                text(r, "store")?,
                text(r, "sku")?,
                r.try_get("available")?,
                r.try_get("updated_at")?,
            ))
        })
        .collect()
}

/// Units sold per sku over all stores, for skus whose sales changed at or after `since_ms`.
pub async fn sales_since(conn: &mut AnyConnection, since_ms: i64) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT sku, CAST(SUM(units) AS SIGNED) AS units, MAX(updated_at) AS updated_at FROM product_sales \
         WHERE sku IN (SELECT sku FROM product_sales WHERE updated_at >= ?) GROUP BY sku",
    )
    .bind(since_ms)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((text(r, "sku")?, r.try_get("units")?, r.try_get("updated_at")?)))
        .collect()
}

/// Skus most often bought with `sku`, best first.
pub async fn bought_with(conn: &mut AnyConnection, sku: &str, limit: i64) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT other_sku, orders FROM co_purchases WHERE sku = ? ORDER BY orders DESC, other_sku LIMIT ?")
            .bind(sku)
            .bind(limit)
            .fetch_all(conn)
            .await?;
    rows.iter()
        .map(|r| Ok((text(r, "other_sku")?, r.try_get("orders")?)))
        .collect()
}

/// Best sellers at one store.
pub async fn popular_at(conn: &mut AnyConnection, store: &str, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query("SELECT sku FROM product_sales WHERE store = ? ORDER BY units DESC, sku LIMIT ?")
        .bind(store)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter().map(|r| text(r, "sku")).collect()
}
