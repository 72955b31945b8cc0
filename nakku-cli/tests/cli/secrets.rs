//! Secrets stay secret, and the tools reach an HTTPS gateway through a CA file.

use super::*;

/// Secrets given as files and variables with distinctive values never come back out: not
/// in any log line (at debug for Nakku's own crates), not in an answer (errors included,
/// and the notification failures that carry the providers' errors), not in `/health` or
/// `/metrics`, not in `--help`, not in a configuration error. Proof first: the flow ran,
/// both providers were tried and failed (so their error paths are in the logs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_from_files_never_appear_in_logs_answers_or_help() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let jwt = "jwt-SECRET-5c1d7e0b9a2f4c6e8d0b1a3c5e7f9a1b";
    let previous = "prev-SECRET-0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d";
    let smtp_pw = "smtp-SECRET-pw-77f3";
    let hook_key = "hook-SECRET-key-19ad";
    let hook_token = "tok-SECRET-bearer-2be4";
    let sasl = "sasl-SECRET-pw-88c1";
    // Closed ports: every send fails, and the failure is logged and recorded.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = |name: &str, value: String| {
        let p = secrets.join(name);
        std::fs::write(&p, format!("{value}\n")).unwrap();
        p.display().to_string()
    };
    let jwt_file = file("jwt", jwt.to_owned());
    let smtp_file = file("smtp", format!("smtp://mailer:{smtp_pw}@127.0.0.1:{closed}"));
    let token_file = file("sms-token", hook_token.to_owned());
    let hook_url = format!("http://127.0.0.1:{closed}/sms?key={hook_key}");
    let env = [
        ("NAKKU_JWT_SECRET_FILE", jwt_file.as_str()),
        ("NAKKU_JWT_PREVIOUS_SECRET", previous),
        ("NAKKU_SMTP_URL_FILE", smtp_file.as_str()),
        ("NAKKU_SMS_WEBHOOK_URL", hook_url.as_str()),
        ("NAKKU_SMS_WEBHOOK_TOKEN_FILE", token_file.as_str()),
        ("NAKKU_KAFKA_SASL_PASSWORD", sasl),
        ("NAKKU_NOTIFY_MAX_ATTEMPTS", "2"),
        ("NAKKU_LOG", "info,nakku_core=debug,nakku_server=debug"),
    ];
    let all = [jwt, previous, smtp_pw, hook_key, hook_token, sasl];
    let leaks = |what: &str, text: &str| {
        for s in all {
            assert!(!text.contains(s), "{what} shows the secret {s}: {text}");
        }
    };

    let up = launch(dir.path(), &["up", "--no-seed"], &env, "gateway");
    let c = reqwest::Client::new();
    let gw = up.gateway.clone();
    let mut answers = Vec::new();
    let admin = open_shop(&c, &gw, dir.path(), 5).await;
    let (token, address) = shopper_with_a_mango(&c, &gw, 1).await;
    let id = place_upi_order(&c, &gw, &token, &address, "secret-flow-1").await;
    assert_eq!(settled_order(&c, &gw, &token, &id).await["status"], "confirmed");
    // The token was signed with the secret from the file (a fresh token verifies).
    let (status, me) = get_as(&c, &format!("{gw}/api/v1/users/me"), &token).await;
    assert_eq!(status, 200);
    answers.push(me);
    // Error answers.
    for (path, body) in [
        (
            "/auth/login",
            json!({"email": "s1@example.com", "password": "wrong-password"}),
        ),
        ("/auth/register", json!({"email": "not-an-email"})),
    ] {
        let r = post_json(&c, &gw, path, "", body).await;
        assert!(r.status().is_client_error());
        answers.push(r.text().await.unwrap());
    }
    let (status, forged) = get_as(&c, &format!("{gw}/api/v1/users/me"), "forged.token.value").await;
    assert_eq!(status, 401);
    answers.push(forged);
    let pages = ["/health", "/metrics"].map(|p| format!("{gw}{p}"));
    for url in pages.into_iter().chain(up.urls.values().map(|u| format!("{u}/health"))) {
        answers.push(get_as(&c, &url, "").await.1);
    }
    // Proof that the providers were tried: the shopper's email and SMS failed for good.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let tried = loop {
        let v: Value =
            serde_json::from_str(&get_as(&c, &format!("{gw}/api/v1/notifications"), &token).await.1).unwrap();
        let failed = |channel: &str| {
            v["data"]["items"].as_array().into_iter().flatten().any(|n| {
                n["channel"] == channel
                    && n["status"] == "failed"
                    && n["reason"].as_str().is_some_and(|r| !r.is_empty())
            })
        };
        if failed("email") && failed("sms") {
            break v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "email and SMS not both failed: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    answers.push(tried.to_string());
    let (status, failed) = get_as(&c, &format!("{gw}/api/v1/notifications/failed"), &admin).await;
    assert_eq!(status, 200);
    answers.push(failed);
    for a in &answers {
        leaks("an answer", a);
    }

    // Every log line the process wrote, after it stopped (the reader ends with the pipe).
    let mut up = up;
    let pid = up.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(up.child.wait().unwrap().success());
    let log: Vec<String> = up.stderr_lines.iter().collect();
    assert!(
        log.iter().any(|l| l.contains("SMTP")) && log.iter().any(|l| l.contains("webhook")),
        "the providers' failures are in the log"
    );
    for line in &log {
        leaks("a log line", line);
    }

    // --help, and a configuration error about a secret.
    for args in [vec!["--help"], vec!["serve", "--help"], vec!["dashboard", "--help"]] {
        let o = run(nakku(dir.path()).args(&args).env("NAKKU_TOKEN", hook_token));
        leaks("--help", &format!("{}{}", stdout(&o), stderr(&o)));
    }
    let short = file("short", "short-SECRET-x".to_owned());
    let o = run(nakku(dir.path())
        .args(["migrate", "status"])
        .env("NAKKU_JWT_SECRET_FILE", &short));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("NAKKU_JWT_SECRET_FILE"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("short-SECRET-x"), "{}", stderr(&o));
}

/// The CLI against an HTTPS gateway (`NAKKU_TLS_CERT_FILE`): `simulate` and `dashboard`
/// trust its certificate through `NAKKU_TLS_CA_FILE`, and without it stop with an error
/// naming that setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_and_the_dashboard_reach_an_https_gateway_trusted_through_the_ca_file() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
    let dir = tempfile::tempdir().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let path = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (ca_file, cert_file, key_file) = (
        path("ca.pem", ca.pem()),
        path("tls.pem", cert.pem()),
        path("tls.key", key.serialize_pem()),
    );
    let up = launch(
        dir.path(),
        &["up", "--stores", "1"],
        &[
            ("NAKKU_RATE_LIMIT_AUTH_PER_MINUTE", "0"),
            ("NAKKU_TLS_CERT_FILE", &cert_file),
            ("NAKKU_TLS_KEY_FILE", &key_file),
        ],
        "gateway",
    );
    assert!(up.gateway.starts_with("https://"), "{}", up.gateway);
    let gateway = format!("https://localhost:{}", up.gateway.rsplit(':').next().unwrap());
    let simulate = |ca: Option<&str>| {
        let mut cmd = nakku(dir.path());
        cmd.args([
            "simulate",
            "--url",
            &gateway,
            "--orders",
            "3",
            "--concurrency",
            "2",
            "--seed",
            "3",
            "--settle",
            "60s",
            "--json",
        ]);
        if let Some(ca) = ca {
            cmd.env("NAKKU_TLS_CA_FILE", ca);
        }
        run(&mut cmd)
    };
    let out = simulate(None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not trusted") && stderr(&out).contains("NAKKU_TLS_CA_FILE"),
        "{}",
        stderr(&out)
    );
    let out = simulate(Some(&ca_file));
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(r["outcomes"]["placed"].as_u64().unwrap() >= 1, "{r:#}");
    assert_eq!(r["errors"], json!({}), "{r:#}");

    let out = run(nakku(dir.path())
        .args(["dashboard", "--url", &gateway, "--once", "--size", "160x45"])
        .env("NAKKU_TLS_CA_FILE", &ca_file));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Services · ok"), "{}", stdout(&out));
    let out = run(nakku(dir.path()).args(["dashboard", "--url", &gateway, "--once", "--size", "160x45"]));
    assert!(
        stdout(&out).contains("NAKKU_TLS_CA_FILE"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}
