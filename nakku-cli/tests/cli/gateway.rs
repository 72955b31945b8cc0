//! The gateway streams bodies: a 64 MiB import and a 64 MiB answer pass through the real
//! `nakku serve --service gateway` process without its peak memory growing by their size,
//! every byte arriving in order; a streamed body over the route's limit is cut off with a
//! 413. The product service behind it is a stand-in that counts what it receives and sends
//! as much as it is asked for (the property tested is the gateway's, and a real import of
//! 64 MiB would measure the product service instead).

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use nakku_core::auth::{JwtKeys, Role};
use nakku_core::config::Secret;

use super::*;

const MIB: u64 = 1 << 20;
const BIG: u64 = 64 * MIB;
const CHUNK: usize = 64 * 1024;
const SECRET: &str = "gateway-stream-test-secret-0123456789abcdef";
/// How much the gateway's peak RSS may grow while 64 MiB go through it each way: its
/// buffers and the allocator's slack, far below one copy of the body.
const GROWTH_ALLOWED: u64 = 16 * MIB;

/// FNV-1a over a stream of bytes: a dropped, repeated or reordered chunk changes it.
fn fnv(mut h: u64, data: &[u8]) -> u64 {
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}
const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// The test data's `i`th chunk (`len` bytes), different from its neighbours.
fn chunk(i: u64, len: usize) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|j| ((i as usize * 7 + j) % 251) as u8)
            .collect::<Vec<u8>>(),
    )
}

/// `total` bytes of test data, as chunks.
fn data(total: u64) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> {
    let n = total.div_ceil(CHUNK as u64);
    futures_util::stream::iter((0..n).map(move |i| {
        let len = (total - i * CHUNK as u64).min(CHUNK as u64) as usize;
        Ok(chunk(i, len))
    }))
}

/// The hash of `data(total)`.
fn expected(total: u64) -> u64 {
    let n = total.div_ceil(CHUNK as u64);
    (0..n).fold(FNV_START, |h, i| {
        let len = (total - i * CHUNK as u64).min(CHUNK as u64) as usize;
        fnv(h, &chunk(i, len))
    })
}

/// Bodies the stand-in saw end before their end.
#[derive(Default)]
struct Upstream {
    broken: AtomicU64,
}

/// Reads a request body to its end: its length and hash, or a 400 when it broke off.
async fn receive(State(up): State<Arc<Upstream>>, req: Request) -> Response {
    let mut body = req.into_body().into_data_stream();
    let (mut n, mut h) = (0u64, FNV_START);
    while let Some(c) = body.next().await {
        match c {
            Ok(c) => {
                n += c.len() as u64;
                h = fnv(h, &c);
            }
            Err(_) => {
                up.broken.fetch_add(1, Ordering::SeqCst);
                return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "body broke off"}))).into_response();
            }
        }
    }
    axum::Json(json!({"data": {"bytes": n, "fnv": h}})).into_response()
}

#[derive(serde::Deserialize)]
struct Size {
    bytes: u64,
}

/// `?bytes=` of test data, streamed (no `Content-Length`).
async fn send(Query(s): Query<Size>) -> Response {
    (
        [("content-type", "application/octet-stream")],
        Body::from_stream(data(s.bytes)),
    )
        .into_response()
}

/// Peak and current resident memory of a process, in bytes (`/proc/<pid>/status`).
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_mebibytes_pass_the_gateway_each_way_with_constant_memory() {
    let up = Arc::new(Upstream::default());
    let app = axum::Router::new()
        .route("/readyz", get(|| async { axum::Json(json!({"status": "ready"})) }))
        .route("/api/v1/products/import", post(receive))
        .route("/api/v1/products", get(send).post(receive))
        .with_state(up.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let product = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let limit = (80 * MIB).to_string();
    let gw = launch(
        dir.path(),
        &["serve", "--service", "gateway"],
        &[
            ("NAKKU_PRODUCT_URL", product.as_str()),
            ("NAKKU_JWT_SECRET", SECRET),
            ("NAKKU_IMPORT_MAX_BYTES", limit.as_str()),
            ("NAKKU_LOG", "warn"),
        ],
        "gateway",
    );
    let pid = gw.child.id();
    let (admin, _) = JwtKeys::new(&Secret::new(SECRET.to_owned()), 3600)
        .issue("admin-1", Role::Admin)
        .unwrap();
    let c = reqwest::Client::new();
    let import = format!("{}/api/v1/products/import", gw.gateway);
    let upload = |total: u64| {
        c.post(&import)
            .bearer_auth(&admin)
            .header("content-type", "text/csv")
            .body(reqwest::Body::wrap_stream(data(total)))
            .send()
    };
    let download = |total: u64| c.get(format!("{}/api/v1/products?bytes={total}", gw.gateway)).send();

    // Warm the paths (connections, buffers, the allocator's arenas), then take the peak.
    for _ in 0..3 {
        assert_eq!(upload(4 * MIB).await.unwrap().status(), 200);
        let r = download(4 * MIB).await.unwrap();
        assert_eq!(r.bytes().await.unwrap().len() as u64, 4 * MIB);
    }
    let (before, _) = memory(pid);

    let r = upload(BIG).await.unwrap();
    assert_eq!(r.status(), 200);
    let got: Value = r.json().await.unwrap();
    assert_eq!(
        got["data"]["bytes"],
        json!(BIG),
        "every byte of the import arrived: {got}"
    );
    assert_eq!(got["data"]["fnv"], json!(expected(BIG)), "in order: {got}");

    let r = download(BIG).await.unwrap();
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let (mut n, mut h) = (0u64, FNV_START);
    while let Some(c) = body.next().await {
        let c = c.unwrap();
        n += c.len() as u64;
        h = fnv(h, &c);
    }
    assert_eq!(
        (n, h),
        (BIG, expected(BIG)),
        "every byte of the answer arrived, in order"
    );

    let (after, now) = memory(pid);
    eprintln!(
        "gateway peak RSS {:.1} MiB before, {:.1} MiB after 64 MiB each way (now {:.1} MiB)",
        before as f64 / MIB as f64,
        after as f64 / MIB as f64,
        now as f64 / MIB as f64
    );
    assert!(
        after.saturating_sub(before) < GROWTH_ALLOWED,
        "the gateway's peak RSS grew by {} MiB passing 64 MiB each way",
        after.saturating_sub(before) / MIB
    );

    // Over the import's limit, sent without a length: cut off at the limit, 413, and the
    // product service saw a body that broke off (it never took it for a whole file).
    match upload(81 * MIB).await {
        Ok(r) => {
            assert_eq!(r.status(), 413);
            let e: Value = r.json().await.unwrap();
            assert_eq!(e["error"], json!("request body is too large"), "{e}");
        }
        // The gateway answered and closed before the client finished sending (a client
        // that reads the answer only once it has sent everything sees a reset instead).
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    wait_for(30, "the product service to see the body break off", || {
        up.broken.load(Ordering::SeqCst) == 1
    })
    .await;
    // A declared length over the limit is refused before anything is sent.
    let r = c
        .post(&import)
        .bearer_auth(&admin)
        .header("content-length", (81 * MIB).to_string())
        .body(reqwest::Body::wrap_stream(data(81 * MIB)))
        .send()
        .await;
    match r {
        Ok(r) => assert_eq!(r.status(), 413),
        // The gateway answered and closed before the client finished sending: also refused.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    assert_eq!(
        up.broken.load(Ordering::SeqCst),
        1,
        "nothing reached the product service"
    );
}
