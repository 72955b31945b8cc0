//! TLS: the gateway's HTTPS edge (HTTP/2 by ALPN, a rotated certificate served to new
//! connections while old ones keep working), HTTPS upstreams and webhooks trusted through
//! `NAKKU_TLS_CA_FILE`, SMTP over implicit TLS and STARTTLS, and the TLS-only MariaDB and
//! Redis started by `scripts/tls-servers.sh` (`mysql_tls::`, `redis_tls::`).
//!
//! Certificates come from a CA made per test with rcgen; a certificate from another CA
//! stands for "self-signed, not in the bundle".

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use nakku_core::config::Settings;
use nakku_core::notification::provider::{Outgoing, Provider, SmtpProvider, WebhookProvider};
use nakku_core::service::Service;
use nakku_core::tls::ExtraRoots;
use nakku_server::tls::{ReloadingCert, TlsListener};
use nakku_server::{Application, CancellationToken};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use crate::helpers::*;

/// A certificate authority for one test, and the files it writes.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: tempfile::TempDir,
    pub ca_file: PathBuf,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, issuer.pem()).unwrap();
        TestCa { issuer, dir, ca_file }
    }

    /// A certificate for `names` signed by this CA, written to `<stem>.pem` and `<stem>.key`
    /// (replacing them atomically, as a secret mount does); returns the paths and the DER.
    pub fn issue(&self, names: &[&str], stem: &str) -> (PathBuf, PathBuf, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_path, key_path) = (self.path(&format!("{stem}.pem")), self.path(&format!("{stem}.key")));
        for (path, text) in [(&cert_path, cert.pem()), (&key_path, key.serialize_pem())] {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
        (cert_path, key_path, cert.der().to_vec())
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// An HTTPS client trusting this CA (and the platform's roots), reporting the peer's
    /// certificate on each answer.
    pub fn client(&self) -> reqwest::Client {
        ExtraRoots::load(&self.ca_file, "test CA")
            .unwrap()
            .http()
            .unwrap()
            .tls_info(true)
            .build()
            .unwrap()
    }
}

/// The certificate the server presented on the connection that carried `r`.
fn peer_cert(r: &reqwest::Response) -> Vec<u8> {
    r.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|t| t.peer_certificate())
        .expect("a TLS answer")
        .to_vec()
}

/// Serves `router` over TLS on a free port of 127.0.0.1 with the given certificate.
pub async fn serve_tls(router: axum::Router, cert: &Path, key: &Path) -> SocketAddr {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = TlsListener::new(tcp, ReloadingCert::load(cert, key).unwrap().server_config()).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_serves_http2_over_tls_and_a_rotated_certificate_reaches_new_connections_only() {
    let ca = TestCa::new("Nakku edge CA");
    let (cert, key, first) = ca.issue(&["localhost"], "edge");
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    let app = TestApp::spawn_full(
        Backend::Sqlite,
        false,
        &[
            ("NAKKU_TLS_CERT_FILE", &c),
            ("NAKKU_TLS_KEY_FILE", &k),
            ("NAKKU_TLS_RELOAD_SECS", "1"),
        ],
    )
    .await;
    let port = app.gateway.rsplit(':').next().unwrap().to_owned();
    let base = format!("https://localhost:{port}");
    assert!(
        app.gateway.starts_with("http://"),
        "no CA given: the harness speaks plain HTTP"
    );

    // HTTP/2, negotiated by ALPN, with the certificate from the files.
    let old = ca.client();
    let r = old.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(peer_cert(&r), first);
    let r = old.get(format!("{base}/api/v1/categories")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the API through the TLS edge");

    // Plain HTTP on the TLS port is not served, and a client without the CA refuses it.
    assert!(reqwest::get(format!("http://127.0.0.1:{port}/health")).await.is_err());
    let stranger = ExtraRoots::default().http_client(Duration::from_secs(5)).unwrap();
    let e = stranger.get(format!("{base}/health")).send().await.unwrap_err();
    let why = nakku_core::tls::explain(&e, "localhost", "NAKKU_TLS_CA_FILE").unwrap_or_default();
    assert!(
        why.contains("not trusted") && why.contains("NAKKU_TLS_CA_FILE"),
        "{why}: {e:?}"
    );

    // Rotate: the files change under the running gateway.
    let (_, _, second) = ca.issue(&["localhost"], "edge");
    assert_ne!(first, second);
    app.eventually(30, || async {
        let fresh = ca.client();
        let r = fresh.get(format!("{base}/health")).send().await.ok()?;
        (peer_cert(&r) == second).then_some(())
    })
    .await;
    // The connection opened before the rotation still works, with the old certificate.
    let r = old.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(peer_cert(&r), first, "the old connection was kept, not redone");
}

#[test]
fn a_broken_rotation_keeps_the_last_good_certificate() {
    nakku_core::tls::init();
    let ca = TestCa::new("Nakku edge CA");
    let (cert, key, first) = ca.issue(&["localhost"], "edge");
    let served = ReloadingCert::load(&cert, &key).unwrap();
    assert!(!served.reload().unwrap(), "unchanged files: nothing to do");
    // A key that does not fit the certificate (a half-done rotation).
    std::fs::write(&key, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let err = served.reload().unwrap_err();
    assert!(format!("{err:#}").contains("does not fit"), "{err:#}");
    assert_eq!(served.current_der(), first, "still the last good certificate");
    let (_, _, second) = ca.issue(&["localhost"], "edge");
    assert!(served.reload().unwrap());
    assert_eq!(served.current_der(), second);
}

/// A gateway alone, routing the catalogue to `product_url`, with the given extra settings.
async fn lone_gateway(product_url: &str, extra: &[(&str, &str)]) -> (String, CancellationToken, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut env: HashMap<String, String> = [
        ("NAKKU_DATA_DIR", dir.path().display().to_string()),
        ("NAKKU_JWT_SECRET", JWT_SECRET.to_owned()),
        ("NAKKU_GATEWAY_PORT", "0".to_owned()),
        ("NAKKU_PRODUCT_URL", product_url.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let settings = Settings::load(None, &env).unwrap();
    let app = Application::build(&settings, &[Service::Gateway]).await.unwrap();
    let base = format!("http://{}", app.addr(Service::Gateway).unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    (base, stop, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_reaches_an_https_upstream_through_the_ca_file_and_refuses_it_without() {
    let ca = TestCa::new("Nakku internal CA");
    let (cert, key, _) = ca.issue(&["localhost"], "edge");
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    // The catalogue behind an HTTPS edge (another Nakku's gateway, as a remote service).
    let ca_file = ca.ca_file.display().to_string();
    let remote = TestApp::spawn_full(
        Backend::Sqlite,
        false,
        &[
            ("NAKKU_TLS_CERT_FILE", &c),
            ("NAKKU_TLS_KEY_FILE", &k),
            ("NAKKU_TLS_CA_FILE", &ca_file),
        ],
    )
    .await;
    let https = remote.gateway.clone();
    assert!(https.starts_with("https://localhost:"), "{https}");
    let admin = remote.admin_token(1).await;
    let r = remote.post_as("/categories", &admin, &json!({"name": "Dairy"})).await;
    assert_eq!(r.status(), 201);

    let (trusting, _stop1, _d1) = lone_gateway(&https, &[("NAKKU_TLS_CA_FILE", &ca_file)]).await;
    let client = reqwest::Client::new();
    let categories = remote
        .eventually(30, || async {
            let r = client.get(format!("{trusting}/api/v1/categories")).send().await.ok()?;
            (r.status() == 200).then_some(body(r).await)
        })
        .await;
    assert!(categories.to_string().contains("Dairy"), "{categories}");

    // Without the CA file the upstream's certificate is not trusted: nothing is served
    // from it, and its health says why.
    let (wary, _stop2, _d2) = lone_gateway(&https, &[]).await;
    let r = client.get(format!("{wary}/api/v1/categories")).send().await.unwrap();
    assert!(matches!(r.status().as_u16(), 502 | 503), "{}", r.status());
    let b = body(r).await;
    assert!(!b.to_string().contains("Dairy"), "{b}");
}

/// A message for `channel` to `to`, with id `id`.
fn message(id: &str, channel: &str, to: &str) -> Outgoing {
    Outgoing {
        id: id.to_owned(),
        channel: channel.to_owned(),
        to: vec![to.to_owned()],
        title: "Order confirmed".to_owned(),
        body: "Your order is on its way".to_owned(),
    }
}

fn sms(id: &str) -> Outgoing {
    message(id, "sms", "+919876500001")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_over_https_gets_its_bearer_token_and_an_untrusted_certificate_is_refused_clearly() {
    let ca = TestCa::new("Nakku SMS CA");
    let (cert, key, _) = ca.issue(&["localhost"], "sms");
    // (Authorization header, body) of each call.
    type Calls = Arc<Mutex<Vec<(Option<String>, serde_json::Value)>>>;
    let seen: Calls = Arc::default();
    let keep = seen.clone();
    let router = axum::Router::new().route(
        "/sms",
        axum::routing::post(
            move |h: axum::http::HeaderMap, axum::Json(v): axum::Json<serde_json::Value>| {
                let keep = keep.clone();
                async move {
                    let auth = h.get("authorization").and_then(|a| a.to_str().ok()).map(str::to_owned);
                    keep.lock().unwrap().push((auth, v));
                    "sms-ref-1"
                }
            },
        ),
    );
    let addr = serve_tls(router, &cert, &key).await;
    let url = format!("https://localhost:{}/sms", addr.port());
    let token = nakku_core::config::Secret::new("tok-3f9a");
    let roots = ExtraRoots::load(&ca.ca_file, "NAKKU_TLS_CA_FILE").unwrap();
    let hook = WebhookProvider::new(&url, Some(token), &roots).unwrap();
    assert_eq!(hook.send(&sms("n-1")).await.unwrap(), "sms-ref-1");
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.as_deref(), Some("Bearer tok-3f9a"));
    assert_eq!(got[0].1["id"], "n-1");

    // The same endpoint without the CA in the bundle: refused, saying what to do.
    let wary = WebhookProvider::new(&url, None, &ExtraRoots::default()).unwrap();
    let err = wary.send(&sms("n-2")).await.unwrap_err();
    assert!(
        err.contains("not trusted") && err.contains("NAKKU_TLS_CA_FILE") && err.contains("localhost"),
        "{err}"
    );
    assert_eq!(seen.lock().unwrap().len(), 1, "nothing reached the webhook");
}

/// What the TLS SMTP sink saw: the AUTH PLAIN credentials and the recipients.
#[derive(Default, Debug, Clone)]
struct SmtpSeen {
    auth: Vec<(String, String)>,
    to: Vec<String>,
}

/// A minimal SMTP server: `implicit` TLS from the first byte (smtps), or plain with
/// STARTTLS offered (`offer_starttls`) or not.
async fn tls_smtp_sink(cert: &Path, key: &Path, implicit: bool, offer_starttls: bool) -> (u16, Arc<Mutex<SmtpSeen>>) {
    let config = ReloadingCert::load(cert, key).unwrap().server_config();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(SmtpSeen::default()));
    let keep = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = tcp.accept().await {
            let (acceptor, keep) = (acceptor.clone(), keep.clone());
            tokio::spawn(async move {
                if implicit {
                    let Ok(tls) = acceptor.accept(socket).await else { return };
                    smtp_session(tls, true, keep).await;
                    return;
                }
                // Plain until STARTTLS.
                let _ = socket.write_all(b"220 sink ESMTP\r\n").await;
                let mut reader = BufReader::new(socket);
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" if offer_starttls => b"250-sink\r\n250 STARTTLS\r\n",
                        "EHLO" => b"250-sink\r\n250 AUTH PLAIN\r\n",
                        "STAR" if offer_starttls => {
                            let _ = reader.get_mut().write_all(b"220 go ahead\r\n").await;
                            let Ok(tls) = acceptor.accept(reader.into_inner()).await else {
                                return;
                            };
                            smtp_session(tls, false, keep).await;
                            return;
                        }
                        "QUIT" => return,
                        // Anything else before TLS is refused: this server wants TLS.
                        _ => b"530 must issue STARTTLS first\r\n",
                    };
                    let _ = reader.get_mut().write_all(reply).await;
                }
            });
        }
    });
    (port, seen)
}

async fn smtp_session<S: AsyncRead + AsyncWrite + Unpin>(stream: S, greet: bool, seen: Arc<Mutex<SmtpSeen>>) {
    let mut reader = BufReader::new(stream);
    if greet {
        let _ = reader.get_mut().write_all(b"220 sink ESMTP\r\n").await;
    }
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let l = line.trim_end().to_owned();
        let verb = l.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250 AUTH PLAIN\r\n",
            "AUTH" => {
                let b64 = l.rsplit(' ').next().unwrap_or_default();
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap_or_default();
                let parts: Vec<String> = raw
                    .split(|b| *b == 0)
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect();
                if let [_, user, pass] = parts.as_slice() {
                    seen.lock().unwrap().auth.push((user.clone(), pass.clone()));
                }
                b"235 ok\r\n"
            }
            "RCPT" => {
                let to = l.split(['<', '>']).nth(1).unwrap_or_default().to_owned();
                seen.lock().unwrap().to.push(to);
                b"250 OK\r\n"
            }
            "DATA" => {
                let _ = reader.get_mut().write_all(b"354 go ahead\r\n").await;
                loop {
                    line.clear();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 || line.trim_end() == "." {
                        break;
                    }
                }
                b"250 OK queued as tls-1\r\n"
            }
            "QUIT" => {
                let _ = reader.get_mut().write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"250 OK\r\n",
        };
        let _ = reader.get_mut().write_all(reply).await;
    }
}

fn email(id: &str) -> Outgoing {
    message(id, "email", "asha@example.com")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_goes_over_smtps_and_required_starttls_with_percent_decoded_credentials() {
    let ca = TestCa::new("Nakku mail CA");
    let (cert, key, _) = ca.issue(&["localhost"], "mail");
    let roots = ExtraRoots::load(&ca.ca_file, "NAKKU_TLS_CA_FILE").unwrap();
    let from = "Nakku <orders@nakku.test>";

    // smtps:// — TLS from the first byte; user and password percent-decoded.
    let (port, seen) = tls_smtp_sink(&cert, &key, true, false).await;
    let p = SmtpProvider::new(
        &format!("smtps://mail%40nakku.test:p%40ss%3Aw0rd@localhost:{port}"),
        from,
        &roots,
    )
    .unwrap();
    let reference = p.send(&email("m-1")).await.unwrap();
    assert!(reference.contains("queued"), "{reference}");
    let s = seen.lock().unwrap().clone();
    assert_eq!(s.auth, vec![("mail@nakku.test".to_owned(), "p@ss:w0rd".to_owned())]);
    assert_eq!(s.to, vec!["asha@example.com".to_owned()]);

    // smtp://…?tls=required — STARTTLS, then the mail over TLS.
    let (port, seen) = tls_smtp_sink(&cert, &key, false, true).await;
    let p = SmtpProvider::new(
        &format!("smtp://relay:secret@localhost:{port}?tls=required"),
        from,
        &roots,
    )
    .unwrap();
    p.send(&email("m-2")).await.unwrap();
    let s = seen.lock().unwrap().clone();
    assert_eq!(s.auth, vec![("relay".to_owned(), "secret".to_owned())]);
    assert_eq!(s.to.len(), 1);

    // A server that does not offer STARTTLS: required means nothing is sent in the clear.
    let (port, seen) = tls_smtp_sink(&cert, &key, false, false).await;
    let p = SmtpProvider::new(
        &format!("smtp://relay:secret@localhost:{port}?tls=required"),
        from,
        &roots,
    )
    .unwrap();
    assert!(p.send(&email("m-3")).await.is_err());
    assert!(seen.lock().unwrap().auth.is_empty(), "no credentials in the clear");

    // A certificate from a CA not in the bundle: refused, saying what to do.
    let (port, seen) = tls_smtp_sink(&cert, &key, true, false).await;
    let p = SmtpProvider::new(&format!("smtps://u:p@localhost:{port}"), from, &ExtraRoots::default()).unwrap();
    let err = p.send(&email("m-4")).await.unwrap_err();
    assert!(
        err.contains("not trusted") && err.contains("NAKKU_TLS_CA_FILE"),
        "{err}"
    );
    assert!(seen.lock().unwrap().to.is_empty());
}

mod mysql_tls {
    use super::*;

    /// Migrations, the user flow and one order on the TLS-only MariaDB with
    /// `ssl-mode=VERIFY_IDENTITY`; then a plain connection, a wrong host name and a missing
    /// CA each fail with an error that says which.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs NAKKU_TEST_MYSQL_TLS_URL and NAKKU_TEST_TLS_CA_FILE (scripts/tls-servers.sh)"]
    async fn migrations_users_and_an_order_go_over_verified_tls_and_insecure_settings_fail_clearly() {
        use crate::orders::{add, place, settled, shop, shopper};
        let app = TestApp::spawn(Backend::MySqlTls).await;
        let cipher = sqlx::query("SHOW SESSION STATUS LIKE 'Ssl_version'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        let version = nakku_core::db::text(&cipher, "Value").unwrap();
        assert!(
            version.starts_with("TLSv1."),
            "the pool's connection is encrypted: {version:?}"
        );

        let admin = shop(&app, &[("MANGO", 12_000, 10)]).await;
        assert!(!admin.is_empty());
        let r = app.login("shopper1@example.com", PASSWORD).await;
        assert_eq!(r.status(), 401, "no such user yet");
        let (token, address) = shopper(&app, 1).await;
        assert_eq!(app.login("shopper1@example.com", PASSWORD).await.status(), 200);
        assert_eq!(add(&app, &token, "MANGO", 2).await.status(), 200);
        let r = place(
            &app,
            &token,
            "tls-order-1",
            &json!({"address_id": address, "payment_method": "upi"}),
        )
        .await;
        assert_eq!(r.status(), 201);
        let id = body(r).await["data"]["id"].as_str().unwrap().to_owned();
        let order = settled(&app, &token, &id).await;
        assert_eq!(order["status"], "confirmed", "{order}");

        let server = required_env("NAKKU_TEST_MYSQL_TLS_URL");
        let ca = required_env("NAKKU_TEST_TLS_CA_FILE");
        let connect = |url: String| async move {
            nakku_core::db::Db::connect(&nakku_core::config::Secret::new(url), 1)
                .await
                .map(|_| ())
                .map_err(|e| format!("{e:#}"))
                .unwrap_err()
        };
        let plain = connect(format!("{server}/nakku_tls_probe?ssl-mode=DISABLED")).await;
        assert!(
            plain.contains("requires TLS") && plain.contains("remove ssl-mode=DISABLED"),
            "{plain}"
        );
        let by_ip = server.replace("localhost", "127.0.0.1");
        let wrong_host = connect(format!("{by_ip}/nakku_tls_probe?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}")).await;
        assert!(
            wrong_host.contains("another host name") && wrong_host.contains("127.0.0.1"),
            "{wrong_host}"
        );
        let no_ca = connect(format!("{server}/nakku_tls_probe?ssl-mode=VERIFY_CA")).await;
        assert!(no_ca.contains("not trusted") && no_ca.contains("ssl-ca"), "{no_ca}");
    }
}

mod redis_tls {
    use super::*;

    /// The catalogue cache and the gateway's shared rate limits on a TLS-only Redis
    /// (`rediss://`), trusted through `NAKKU_TLS_CA_FILE`; without it, start-up stops with
    /// an error naming the setting.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs NAKKU_TEST_REDIS_TLS_URL and NAKKU_TEST_TLS_CA_FILE (scripts/tls-servers.sh)"]
    async fn the_cache_and_rate_limits_use_redis_over_tls() {
        let url = required_env("NAKKU_TEST_REDIS_TLS_URL");
        let ca = required_env("NAKKU_TEST_TLS_CA_FILE");
        let prefix = format!("tls{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let app = TestApp::spawn_full(
            Backend::Sqlite,
            false,
            &[
                ("NAKKU_REDIS_URL", &url),
                ("NAKKU_TLS_CA_FILE", &ca),
                ("NAKKU_EVENT_TOPIC_PREFIX", &prefix),
                ("NAKKU_RATE_LIMIT_READ_PER_MINUTE", "3"),
            ],
        )
        .await;
        let admin = app.admin_token(1).await;
        assert_eq!(
            app.post_as("/categories", &admin, &json!({"name": "Fruit"}))
                .await
                .status(),
            201
        );
        let p = json!({"sku": "KIWI", "name": "Kiwi", "brand": "Farm", "category": "fruit", "unit": "1 kg",
                       "mrp_paise": 9_000, "price_paise": 8_000});
        assert_eq!(app.post_as("/products", &admin, &p).await.status(), 201);
        for _ in 0..3 {
            let r = app.client.get(app.api("/products/KIWI")).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
        let r = app.client.get(app.api("/products/KIWI")).send().await.unwrap();
        assert_eq!(r.status(), 429, "the fourth anonymous read in a minute is limited");
        // The limiter's and the cache's keys are in that Redis, reached over TLS.
        let roots = ExtraRoots::load(Path::new(&ca), "NAKKU_TLS_CA_FILE").unwrap();
        let mut conn = nakku_core::product::cache::connect_redis(&url, &roots, Duration::from_secs(2), 1)
            .await
            .unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(keys.iter().any(|k| k.contains(":rl:")), "{keys:?}");
        assert!(keys.iter().any(|k| k.contains(":product:")), "{keys:?}");

        // Without the CA: refused, naming the setting and the server.
        let err = nakku_core::product::cache::connect_redis(&url, &ExtraRoots::default(), Duration::from_secs(2), 0)
            .await
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not trusted") && err.contains("NAKKU_TLS_CA_FILE"),
            "{err}"
        );
    }
}
