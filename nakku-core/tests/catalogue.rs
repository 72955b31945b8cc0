//! The catalogue service without HTTP: the index refresher's watermark.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use nakku_core::config::Secret;
use nakku_core::db::{migrate, Db};
use nakku_core::product::cache::Cache;
use nakku_core::product::{sample, ProductConfig, ProductService};
use nakku_core::service::Service;
use nakku_core::RequestCtx;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresher_stops_rereading_an_import_once_it_is_past_the_overlap_window() {
    let dir = tempfile::tempdir().unwrap();
    let url = Secret::new(format!("sqlite://{}/product.db", dir.path().display()));
    let db = Db::connect(&url, 4).await.unwrap();
    migrate::run(Service::Product, &db).await.unwrap();
    let svc = ProductService::new(db, Cache::local(100, Duration::from_secs(60)), ProductConfig::default())
        .await
        .unwrap();
    let ctx = RequestCtx::internal("test");
    for c in sample::categories() {
        svc.create_category(&ctx, c).await.unwrap();
    }
    let report = svc
        .import(&ctx, sample::csv(500).as_bytes(), false, false)
        .await
        .unwrap();
    assert_eq!(report.created, 500);
    let imported_at = nakku_core::id::now_ms();
    assert_eq!(svc.refresh().await.unwrap(), 0, "its own writes are already indexed");
    assert!(svc.product_watermark() < imported_at, "recent rows stay in the window");
    // once the rows are older than the overlap window, the watermark moves past them
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    svc.refresh().await.unwrap();
    use sqlx::Row;
    let newest: i64 = sqlx::query("SELECT MAX(updated_at) AS m FROM products")
        .fetch_one(svc.db().pool())
        .await
        .unwrap()
        .try_get("m")
        .unwrap();
    assert!(
        svc.product_watermark() > newest,
        "watermark {} not past the imported rows at {newest}: they would be read every poll",
        svc.product_watermark()
    );
    assert_eq!(svc.indexed(), 500);
}
