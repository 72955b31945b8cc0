//! `nakku bench catalogue`: catalogue search latency (p50/p99) over a realistic query mix,
//! beside a primary-key lookup of a product measured in the same run on the same database;
//! and the memory of the catalogue instance (this process: the product service with its
//! in-memory search index), resident once the index is built and at its peak (the import).

use std::time::{Duration, Instant};

use clap::Args;
use nakku_core::db::{migrate, Db};
use nakku_core::product::cache::Cache;
use nakku_core::product::search::{SearchParams, Sort};
use nakku_core::product::{sample, ProductConfig, ProductService};
use nakku_core::service::Service;
use nakku_core::stats::percentile;
use nakku_core::RequestCtx;
use serde::Serialize;
use sqlx::Row;

use crate::output::table;

#[derive(Debug, Args)]
pub struct Opts {
    /// Products in the scratch catalogue
    #[arg(long, default_value_t = 50_000)]
    products: usize,
    /// Searches (and as many primary-key lookups) to time
    #[arg(long, default_value_t = 5_000)]
    queries: usize,
    /// Database (default: a scratch SQLite file); e.g. mysql://root@127.0.0.1:3306/nakku_bench_catalogue (dropped after)
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    database: String,
    products: usize,
    import_rows_per_s: f64,
    index_build_ms: u64,
    queries: usize,
    search_p50_us: f64,
    search_p99_us: f64,
    search_max_us: f64,
    pk_lookup_p50_us: f64,
    pk_lookup_p99_us: f64,
    p99_ratio: f64,
    /// p99 per kind of query.
    by_kind: Vec<(String, f64)>,
    /// Resident memory of this process before the import (the service started, empty).
    rss_empty_mib: Option<f64>,
    /// Resident memory with the catalogue loaded and its index built, serving searches.
    rss_loaded_mib: Option<f64>,
    /// The process's peak resident memory (the import's parsing and the index build).
    rss_peak_mib: Option<f64>,
}

pub async fn run(o: Opts) -> anyhow::Result<()> {
    anyhow::ensure!(
        o.products >= 1000 && o.queries > 0,
        "--products must be at least 1000 and --queries positive"
    );
    let r = super::bench::with_scratch_db(o.database_url.as_deref(), "bench_catalogue.db", 4, async |db| {
        measure(db, &o).await
    })
    .await?;
    if o.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let mut t = table(&[
        "database",
        "products",
        "search p50 µs",
        "search p99 µs",
        "PK lookup p50 µs",
        "PK lookup p99 µs",
        "p99 ratio",
    ]);
    t.add_row(vec![
        r.database.clone(),
        r.products.to_string(),
        format!("{:.0}", r.search_p50_us),
        format!("{:.0}", r.search_p99_us),
        format!("{:.0}", r.pk_lookup_p50_us),
        format!("{:.0}", r.pk_lookup_p99_us),
        format!("{:.2}", r.p99_ratio),
    ]);
    println!("{t}");
    let mut k = table(&["query kind", "p99 µs"]);
    for (kind, p99) in &r.by_kind {
        k.add_row(vec![kind.clone(), format!("{p99:.0}")]);
    }
    println!("{k}");
    println!(
        "import: {:.0} rows/s; index built from the database in {} ms",
        r.import_rows_per_s, r.index_build_ms
    );
    if let (Some(empty), Some(loaded), Some(peak)) = (r.rss_empty_mib, r.rss_loaded_mib, r.rss_peak_mib) {
        println!(
            "resident memory of this catalogue instance: {empty:.1} MiB empty, {loaded:.1} MiB with the catalogue indexed and searched, {peak:.1} MiB at the peak (the import)"
        );
    }
    Ok(())
}

/// Rows of the bench store for products `items` (by number), 500 a statement: `head` names
/// the table and its five columns — store, sku, the two numbers `values` gives for the
/// product, and `now`.
async fn bench_store_rows(
    tx: &mut nakku_core::db::Tx,
    head: &str,
    items: &[usize],
    now: i64,
    values: impl Fn(usize) -> (i64, i64),
) -> anyhow::Result<()> {
    for chunk in items.chunks(500) {
        let mut q = sqlx::QueryBuilder::<sqlx::Any>::new(head);
        q.push_values(chunk, |mut row, i| {
            let (a, b) = values(*i);
            row.push_bind("BENCH-1")
                .push_bind(format!("SKU-{i:06}"))
                .push_bind(a)
                .push_bind(b)
                .push_bind(now);
        });
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Nearest-rank percentile in microseconds, to a tenth.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    percentile(sorted, p).map_or(0.0, |d| (d.as_secs_f64() * 1e6 * 10.0).round() / 10.0)
}

/// The query mix: what shoppers type and tap.
fn queries(n: usize) -> Vec<(&'static str, SearchParams)> {
    let p = |q: String| SearchParams {
        q,
        limit: 20,
        ..Default::default()
    };
    (0..n)
        .map(|i| {
            let brand = sample::BRANDS[i % 40].to_lowercase();
            let kind = sample::KINDS[(i / 3) % 20];
            match i % 8 {
                0 => ("one word", p(kind.to_owned())),
                1 => ("brand + word", p(format!("{brand} {kind}"))),
                2 => ("typo", p(kind.replacen(|c: char| "aeiou".contains(c), "", 1))),
                3 => ("prefix while typing", p(kind[..3].to_owned())),
                4 => (
                    "word + store stock + price sort",
                    SearchParams {
                        store: Some("BENCH-1".into()),
                        in_stock: true,
                        sort: Sort::PriceAsc,
                        ..p(kind.to_owned())
                    },
                ),
                5 => (
                    "browse category + store stock",
                    SearchParams {
                        category: Some(nakku_core::product::slugify(sample::AISLES[i % 5].1[i % 4])),
                        store: Some("BENCH-1".into()),
                        in_stock: true,
                        ..p(String::new())
                    },
                ),
                6 => (
                    "word + brand + tags + price range",
                    SearchParams {
                        brands: vec![brand],
                        tags: vec!["veg".into()],
                        min_price: Some(2_000),
                        max_price: Some(30_000),
                        ..p(kind.to_owned())
                    },
                ),
                _ => (
                    "browse aisle by popularity",
                    SearchParams {
                        category: Some(nakku_core::product::slugify(sample::AISLES[i % 5].0)),
                        sort: Sort::Popularity,
                        ..p(String::new())
                    },
                ),
            }
        })
        .collect()
}

async fn measure(db: &Db, o: &Opts) -> anyhow::Result<Report> {
    migrate::run(Service::Product, db).await?;
    let svc = ProductService::new(
        db.clone(),
        Cache::local(10_000, Duration::from_secs(300)),
        ProductConfig::default(),
    )
    .await?;
    let ctx = RequestCtx::internal("bench");
    for c in sample::categories() {
        svc.create_category(&ctx, c).await?;
    }
    let rss_empty = super::bench::resident_mib().map(|(_, now)| now);
    let csv = sample::csv(o.products);
    let start = Instant::now();
    let report = svc.import(&ctx, csv.as_bytes(), false, false).await?;
    drop(csv);
    anyhow::ensure!(
        report.imported && report.created == o.products,
        "sample import failed: {:?}",
        report.failed.first()
    );
    let import_rate = o.products as f64 / start.elapsed().as_secs_f64();
    // half the catalogue in stock at the bench store, as the stock consumer would write it
    let now = nakku_core::id::now_ms();
    let mut tx = db.begin().await?;
    let every_other: Vec<usize> = (0..o.products).step_by(2).collect();
    bench_store_rows(
        &mut tx,
        "INSERT INTO store_stock (store, sku, available, event_ms, updated_at) ",
        &every_other,
        now,
        |_| (10, now),
    )
    .await?;
    // and every product sold something, as the sales consumer would have counted it: a few
    // best sellers and a long tail (units ≈ 50,000 / popularity rank). With sales known,
    // relevance boosts the best sellers, which a search pays for on every match.
    let every: Vec<usize> = (0..o.products).collect();
    bench_store_rows(
        &mut tx,
        "INSERT INTO product_sales (store, sku, units, orders, updated_at) ",
        &every,
        now,
        |i| {
            let units = 1 + 50_000 / (((i * 7919) % o.products) as i64 + 1);
            (units, units)
        },
    )
    .await?;
    tx.commit().await?;
    let start = Instant::now();
    svc.reload().await?;
    let index_build_ms = start.elapsed().as_millis() as u64;

    let mix = queries(o.queries);
    for (_, q) in mix.iter().take(200) {
        svc.search(q.clone())?; // warm-up
    }
    let mut all = Vec::with_capacity(mix.len());
    let mut by_kind: std::collections::BTreeMap<&str, Vec<Duration>> = Default::default();
    for (kind, q) in &mix {
        let t = Instant::now();
        let page = svc.search(q.clone())?;
        let d = t.elapsed();
        std::hint::black_box(page);
        all.push(d);
        by_kind.entry(kind).or_default().push(d);
    }
    all.sort();
    let rss = super::bench::resident_mib();

    let ids: Vec<String> = sqlx::query("SELECT id FROM products ORDER BY id")
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| nakku_core::db::text(r, "id"))
        .collect::<Result<_, _>>()?;
    let sql = format!(
        "SELECT {} FROM products WHERE id = ?",
        nakku_core::product::store::PRODUCT_COLS
    );
    let mut pk = Vec::with_capacity(o.queries);
    for i in 0..o.queries + 200 {
        let id = &ids[(i * 7919) % ids.len()];
        let t = Instant::now();
        let row = sqlx::query(&sql).bind(id).fetch_one(db.pool()).await?;
        let p = nakku_core::product::store::product_from_row(&row)?;
        let d = t.elapsed();
        std::hint::black_box((p, row.len()));
        if i >= 200 {
            pk.push(d);
        }
    }
    pk.sort();
    let (s99, k99) = (pct(&all, 0.99), pct(&pk, 0.99));
    Ok(Report {
        database: db.display_url().to_owned(),
        products: o.products,
        import_rows_per_s: import_rate.round(),
        index_build_ms,
        queries: o.queries,
        search_p50_us: pct(&all, 0.50),
        search_p99_us: s99,
        search_max_us: pct(&all, 1.0),
        pk_lookup_p50_us: pct(&pk, 0.50),
        pk_lookup_p99_us: k99,
        p99_ratio: if k99 > 0.0 {
            (s99 / k99 * 100.0).round() / 100.0
        } else {
            0.0
        },
        rss_empty_mib: rss_empty,
        rss_loaded_mib: rss.map(|(_, now)| now),
        rss_peak_mib: rss.map(|(peak, _)| peak),
        by_kind: by_kind
            .into_iter()
            .map(|(k, mut v)| {
                v.sort();
                (k.to_owned(), pct(&v, 0.99))
            })
            .collect(),
    })
}
