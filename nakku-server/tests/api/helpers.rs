//! Test harness: each test gets a fresh database (a SQLite file in a temp dir, or a new
//! MariaDB database when NAKKU_TEST_MYSQL_URL is set) and the real services on port 0.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use nakku_core::auth::JwtKeys;
use nakku_core::config::{Secret, Settings};
use nakku_core::db::{migrate, Db};
use nakku_core::events::outbox::{self, OutboxRow};
use nakku_core::service::Service;
use nakku_server::{Application, CancellationToken};
use reqwest::{RequestBuilder, Response};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
    /// The TLS-only MariaDB of `scripts/tls-servers.sh` (`NAKKU_TEST_MYSQL_TLS_URL`), reached
    /// with `ssl-mode=VERIFY_IDENTITY` and the test CA as `NAKKU_TLS_CA_FILE`.
    MySqlTls,
}

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const PASSWORD: &str = "s3cret-pass";

/// Generates one `#[tokio::test]` per backend for each listed test function. The MariaDB
/// ones are `#[ignore]`d: without a server they are reported as ignored, never as passed;
/// `scripts/test.sh` runs them when `NAKKU_TEST_MYSQL_URL` is set.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await).await
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs NAKKU_TEST_MYSQL_URL"]
                async fn $name() {
                    super::$name($crate::helpers::TestApp::spawn($crate::helpers::Backend::MySql).await).await
                }
            )*
        }
    };
}

/// A test backend's address from the environment. The tests that need one are
/// `#[ignore = "needs …"]` and live in a module named after it (`mysql::`, `kafka::`,
/// `mysql_kafka::`, `redis::`), which is how `scripts/test.sh` leaves them out when the
/// variable is unset; one run anyway (`--include-ignored`) fails here, it never passes.
pub fn required_env(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "this test needs {var} (see the README, Tests): it is ignored without it; \
             scripts/test.sh runs it when the variable is set"
        ),
    }
}

/// Waits (up to 30 s) until nothing accepts connections on `addr` any more.
pub async fn wait_until_refused(addr: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} still accepts connections"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// The MariaDB server URL of the MySQL suite.
pub fn mysql_server_url() -> String {
    required_env("NAKKU_TEST_MYSQL_URL")
}

/// The Kafka-protocol brokers of the Kafka suite.
pub fn kafka_brokers() -> String {
    required_env("NAKKU_TEST_KAFKA_BROKERS")
}

/// The Redis server of the Redis suite.
pub fn redis_url() -> String {
    required_env("NAKKU_TEST_REDIS_URL")
}

pub struct TestApp {
    pub gateway: String,
    pub user: String,
    pub inventory: String,
    pub product: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub inventory_db: Db,
    pub location_db: Db,
    pub product_db: Db,
    pub cart_db: Db,
    pub order_db: Db,
    pub payment_db: Db,
    /// Every service's database.
    pub dbs: Vec<(Service, Db)>,
    /// The services' event bus and topic prefix (to redeliver events in tests).
    pub bus: Arc<dyn nakku_core::events::bus::EventBus>,
    pub topic_prefix: String,
    /// The settings the services run with.
    pub settings: Settings,
    pub jwt: JwtKeys,
    pub db_proxy: Option<TcpProxy>,
    shutdown: CancellationToken,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    mysql_db_urls: Vec<Secret>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, false).await
    }

    /// With `proxied`, the MySQL connection goes through a TCP proxy the test can cut.
    pub async fn spawn_with(backend: Backend, proxied: bool) -> TestApp {
        Self::spawn_full(backend, proxied, &[]).await
    }

    /// `extra` settings (as `NAKKU_*` variables) override the test defaults.
    pub async fn spawn_full(backend: Backend, proxied: bool, extra: &[(&str, &str)]) -> TestApp {
        Self::spawn_on_bus(backend, proxied, extra, None).await
    }

    /// With `bus`, the services use that event bus instead of the configured one.
    pub async fn spawn_on_bus(
        backend: Backend,
        proxied: bool,
        extra: &[(&str, &str)],
        bus: Option<Arc<dyn nakku_core::events::bus::EventBus>>,
    ) -> TestApp {
        if std::env::var("TEST_LOG").is_ok() {
            let settings = nakku_core::config::Settings::load(None, &HashMap::new()).expect("default settings");
            // No OTLP endpoint: logging only, nothing to shut down.
            let _ = nakku_server::telemetry::init(&settings, "nakku-test");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let mut env = HashMap::new();
        env.insert("NAKKU_DATA_DIR".to_owned(), dir.path().display().to_string());
        env.insert("NAKKU_JWT_SECRET".to_owned(), JWT_SECRET.to_owned());
        env.insert("NAKKU_BCRYPT_COST".to_owned(), "4".to_owned());
        for svc in Service::ALL {
            env.insert(format!("NAKKU_{}_PORT", svc.env_name()), "0".to_owned());
        }
        env.insert("NAKKU_BODY_LIMIT_BYTES".to_owned(), "65536".to_owned());
        env.insert("NAKKU_SHUTDOWN_GRACE_SECS".to_owned(), "5".to_owned());
        // Tests run many callers from one address; the rate limit tests switch limits on.
        for class in ["auth", "write", "read"] {
            env.insert(
                format!("NAKKU_RATE_LIMIT_{}_PER_MINUTE", class.to_uppercase()),
                "0".to_owned(),
            );
        }
        for (k, v) in extra {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        let mut mysql_db_urls = Vec::new();
        let mut db_proxy = None;
        let server = match backend {
            Backend::Sqlite => None,
            Backend::MySql => Some((mysql_server_url(), "")),
            Backend::MySqlTls => {
                let ca = required_env("NAKKU_TEST_TLS_CA_FILE");
                env.entry("NAKKU_TLS_CA_FILE".to_owned()).or_insert(ca);
                Some((required_env("NAKKU_TEST_MYSQL_TLS_URL"), "?ssl-mode=VERIFY_IDENTITY"))
            }
        };
        if let Some((server, query)) = server {
            // One connection per service database: code that holds a connection (a
            // transaction, a read) and asks the same pool for another waits for itself here
            // until the pool's 5 s acquire timeout, so every MySQL test is also a check that
            // nothing does (in production the same wait comes once as many callers do it at
            // once as the pool has connections: the inventory stalled for seconds under
            // `nakku bench orders`). It also keeps two tests at once, eleven pools each, far
            // below a stock MariaDB's max_connections (151).
            env.entry("NAKKU_DB_MAX_CONNECTIONS".to_owned())
                .or_insert_with(|| "1".to_owned());
            // One database per service per test; only the user database can go through the proxy.
            let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
            for svc in migrate::migrated_services() {
                let direct = format!("{}/nakku_test_{id}_{}{query}", server.trim_end_matches('/'), svc.name());
                mysql_db_urls.push(Secret::new(match env.get("NAKKU_TLS_CA_FILE") {
                    Some(ca) => nakku_core::config::with_ssl_ca(&direct, std::path::Path::new(ca)),
                    None => direct.clone(),
                }));
                let url = if proxied && svc == Service::User {
                    let target = mysql_host_port(&server);
                    let proxy = TcpProxy::start(&target).await;
                    let u = direct.replacen(&target, &proxy.addr.to_string(), 1);
                    db_proxy = Some(proxy);
                    u
                } else {
                    direct
                };
                env.insert(format!("NAKKU_{}_DATABASE_URL", svc.env_name()), url);
            }
        }
        let settings = Settings::load(None, &env).expect("test settings are valid");
        for svc in migrate::migrated_services() {
            let url = settings.database_url_for(svc).expect("db url");
            let migrator = Db::connect(&url, 1).await.expect("test database");
            migrate::run(svc, &migrator).await.expect("migrations apply");
            migrator.close().await;
        }
        let app = Application::build_with_bus(&settings, &[], bus)
            .await
            .expect("application builds");
        let db = app.db(Service::User).expect("user db").clone();
        let inventory_db = app.db(Service::Inventory).expect("inventory db").clone();
        let location_db = app.db(Service::Location).expect("location db").clone();
        let product_db = app.db(Service::Product).expect("product db").clone();
        let cart_db = app.db(Service::Cart).expect("cart db").clone();
        let order_db = app.db(Service::Order).expect("order db").clone();
        let payment_db = app.db(Service::Payment).expect("payment db").clone();
        let dbs = migrate::migrated_services()
            .into_iter()
            .filter_map(|s| Some((s, app.db(s)?.clone())))
            .collect();
        let bus_handle = app.bus().expect("event bus");
        let product = format!("http://{}", app.addr(Service::Product).expect("product bound"));
        let addr = |s| app.addr(s).expect("service bound");
        let (gateway, user, inventory): (SocketAddr, SocketAddr, SocketAddr) =
            (addr(Service::Gateway), addr(Service::User), addr(Service::Inventory));
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        // A gateway serving HTTPS: reached by the name on its certificate, trusting the CA
        // of NAKKU_TLS_CA_FILE.
        let (gateway, client) = match (env.get("NAKKU_TLS_CERT_FILE"), env.get("NAKKU_TLS_CA_FILE")) {
            (Some(_), Some(ca)) => (
                format!("https://localhost:{}", gateway.port()),
                nakku_core::tls::ExtraRoots::load(std::path::Path::new(ca), "NAKKU_TLS_CA_FILE")
                    .and_then(|r| Ok(r.http()?.build()?))
                    .expect("a client trusting the test CA"),
            ),
            _ => (format!("http://{gateway}"), reqwest::Client::new()),
        };
        TestApp {
            gateway,
            user: format!("http://{user}"),
            inventory: format!("http://{inventory}"),
            product,
            client,
            db,
            inventory_db,
            location_db,
            product_db,
            cart_db,
            order_db,
            payment_db,
            dbs,
            bus: bus_handle,
            topic_prefix: settings.event_topic_prefix.clone(),
            settings: settings.clone(),
            jwt: JwtKeys::new(&Secret::new(JWT_SECRET), 900),
            db_proxy,
            shutdown,
            server: Some(server),
            mysql_db_urls,
            _dir: dir,
        }
    }

    /// The data directory (SQLite files, the embedded log) the services share.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// `{gateway}/api/v1{path}`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.gateway)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.api(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post("/auth/login", &json!({"email": email, "password": password}))
            .await
    }

    /// A path under `/api/v1` on the gateway, or a full URL.
    fn url(&self, target: &str) -> String {
        if target.starts_with("http") {
            target.to_owned()
        } else {
            self.api(target)
        }
    }

    pub fn as_user(&self, method: reqwest::Method, target: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(target))
            .header("authorization", format!("Bearer {token}"))
    }

    pub async fn get_as(&self, target: impl AsRef<str>, token: &str) -> Response {
        self.as_user(reqwest::Method::GET, target.as_ref(), token)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_as(&self, target: impl AsRef<str>, token: &str, body: &Value) -> Response {
        self.as_user(reqwest::Method::POST, target.as_ref(), token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn patch_as(&self, target: impl AsRef<str>, token: &str, body: &Value) -> Response {
        self.as_user(reqwest::Method::PATCH, target.as_ref(), token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn delete_as(&self, target: impl AsRef<str>, token: &str, body: Option<&Value>) -> Response {
        let rb = self.as_user(reqwest::Method::DELETE, target.as_ref(), token);
        let rb = match body {
            Some(b) => rb.json(b),
            None => rb,
        };
        rb.send().await.expect("request sent")
    }

    /// Registers an account with a unique email/phone derived from `tag`; returns the
    /// `data` of the response (user + tokens).
    pub async fn register(&self, tag: u32) -> Value {
        let r = self.post("/auth/register", &register_body(tag)).await;
        assert_eq!(r.status(), 201, "register {tag}");
        body(r).await["data"].clone()
    }

    /// Registers and returns (user id, access token).
    pub async fn signed_up(&self, tag: u32) -> (String, String) {
        let d = self.register(tag).await;
        (
            d["user"]["id"].as_str().unwrap().to_owned(),
            d["access_token"].as_str().unwrap().to_owned(),
        )
    }

    /// Polls `f` until it returns Some, for up to `secs` seconds (events arrive asynchronously).
    pub async fn eventually<T, F, Fut>(&self, secs: u64, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if let Some(v) = f().await {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "condition not reached within {secs}s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to 60 s) until every consumer of every service has committed everything
    /// stored on its topics: the proof that what was just published (say, every event
    /// delivered again) has been processed, before asserting that it changed nothing.
    pub async fn wait_until_consumers_caught_up(&self) {
        for svc in Service::IMPLEMENTED {
            for h in nakku_core::consumers_of(svc, &self.settings) {
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
                loop {
                    let lag = nakku_core::events::consumer::lag_of(self.bus.as_ref(), &self.topic_prefix, h.as_ref())
                        .await
                        .expect("group lag");
                    if lag == 0 {
                        break;
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "consumer {} still has {lag} message(s) to process",
                        h.name()
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// The user service's Prometheus text.
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.user))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Signs up an account, makes it admin, and returns a token that carries the role.
    pub async fn admin_token(&self, tag: u32) -> String {
        let (id, _) = self.signed_up(tag).await;
        self.make_admin(&id).await;
        let r = self.login(&format!("shopper{tag}@example.com"), PASSWORD).await;
        body(r).await["data"]["access_token"].as_str().unwrap().to_owned()
    }

    /// Makes an account admin directly in the database (what `nakku users set-role` does).
    pub async fn make_admin(&self, user_id: &str) {
        sqlx::query("UPDATE users SET role = 'admin' WHERE id = ?")
            .bind(user_id)
            .execute(self.db.pool())
            .await
            .unwrap();
    }

    pub async fn count(&self, table: &str) -> i64 {
        use sqlx::Row;
        sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(self.db.pool())
            .await
            .unwrap()
            .try_get("n")
            .unwrap()
    }

    /// Every row in the outbox, oldest first.
    pub async fn outbox(&self) -> Vec<OutboxRow> {
        let mut conn = self.db.pool().acquire().await.unwrap();
        outbox::recent(&mut conn, 1000).await.unwrap()
    }

    /// Every event in every service's outbox (published or not), service by service.
    pub async fn outbox_events(&self) -> Vec<nakku_core::events::Envelope> {
        let mut all = Vec::new();
        for (_, db) in &self.dbs {
            let mut conn = db.pool().acquire().await.unwrap();
            all.extend(
                outbox::recent(&mut conn, 100_000)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| r.envelope),
            );
        }
        all
    }

    /// Inventory outbox rows of one type, oldest first.
    pub async fn inventory_events(&self, event_type: &str) -> Vec<OutboxRow> {
        Self::events_in(&self.inventory_db, event_type).await
    }

    /// Location outbox rows of one type, oldest first.
    pub async fn location_events(&self, event_type: &str) -> Vec<OutboxRow> {
        Self::events_in(&self.location_db, event_type).await
    }

    /// Product outbox rows of one type, oldest first.
    pub async fn product_events(&self, event_type: &str) -> Vec<OutboxRow> {
        Self::events_in(&self.product_db, event_type).await
    }

    /// Rows in a product-service table.
    pub async fn product_count(&self, table: &str) -> i64 {
        use sqlx::Row;
        sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(self.product_db.pool())
            .await
            .unwrap()
            .try_get("n")
            .unwrap()
    }

    async fn events_in(db: &Db, event_type: &str) -> Vec<OutboxRow> {
        let mut conn = db.pool().acquire().await.unwrap();
        outbox::recent(&mut conn, 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.envelope.event_type == event_type)
            .collect()
    }

    /// Row counts of every user-service table, to prove a request wrote nothing.
    pub async fn snapshot(&self) -> [i64; 4] {
        [
            self.count("users").await,
            self.count("addresses").await,
            self.count("refresh_tokens").await,
            self.count("outbox").await,
        ]
    }

    /// Starts a graceful shutdown (as SIGTERM does) without waiting for it.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        match self.server.take() {
            Some(h) => h.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let urls = std::mem::take(&mut self.mysql_db_urls);
        if !urls.is_empty() {
            // Drop the per-test databases on a thread of its own: Drop cannot await.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    for url in &urls {
                        let _ = rt.block_on(nakku_core::db::drop_mysql_database(url));
                    }
                }
            })
            .join();
        }
    }
}

pub fn register_body(tag: u32) -> Value {
    json!({
        "email": format!("shopper{tag}@example.com"),
        "phone": format!("98{:08}", tag),
        "password": PASSWORD,
        "name": format!("Shopper {tag}"),
    })
}

pub fn address_body(label: &str) -> Value {
    json!({"label": label, "line1": "12 MG Road", "city": "Bengaluru", "pincode": "560001", "lat": 12.9716, "lng": 77.5946})
}

pub async fn body(r: Response) -> Value {
    let text = r.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Asserts the standard error envelope and returns the body.
pub async fn error_body(r: Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status, "status");
    let b = body(r).await;
    assert_eq!(b["success"], false, "{b}");
    assert_eq!(b["code"], status, "{b}");
    assert!(b["error"].as_str().is_some_and(|e| !e.is_empty()), "{b}");
    b
}

fn mysql_host_port(server: &str) -> String {
    let rest = server.split("://").nth(1).unwrap_or(server);
    let rest = rest.rsplit('@').next().unwrap_or(rest);
    rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
}

/// A TCP forwarder between the app and MariaDB; `cut()` closes the listener and every
/// open connection, which is what a database outage looks like to the app.
pub struct TcpProxy {
    pub addr: SocketAddr,
    tasks: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    async fn start(target: &str) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tasks: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let t = tasks.clone();
        let target = target.to_owned();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let h = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                t.lock().unwrap().push(h);
            }
        });
        TcpProxy { addr, tasks, accept }
    }

    pub fn cut(&self) {
        self.accept.abort();
        for h in self.tasks.lock().unwrap().drain(..) {
            h.abort();
        }
    }
}
