use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::load(None, &env(pairs))
}

#[test]
fn defaults_are_embedded_sqlite_in_the_data_dir() {
    let s = load(&[]).unwrap();
    assert!(s.is_embedded());
    assert_eq!(s.port(Service::Gateway), 8080);
    assert_eq!(
        s.database_url_for(Service::User).unwrap().expose(),
        "sqlite://./nakku-data/nakku_user.db"
    );
    assert!(s.database_url_for(Service::Gateway).is_none());
}

#[test]
fn tracing_is_off_by_default_and_its_settings_are_checked() {
    let s = load(&[]).unwrap();
    assert_eq!(s.otlp_endpoint, None);
    let s = load(&[
        ("NAKKU_OTLP_ENDPOINT", "http://collector:4318/"),
        ("NAKKU_TRACE_SAMPLE_RATIO", "0.1"),
    ])
    .unwrap();
    assert_eq!(s.otlp_endpoint.as_deref(), Some("http://collector:4318"));
    assert_eq!(s.trace_sample_ratio, 0.1);
    for (key, value, says) in [
        ("NAKKU_OTLP_ENDPOINT", "collector:4318", "http:// or https:// URL"),
        ("NAKKU_TRACE_SAMPLE_RATIO", "1.5", "from 0 to 1"),
        ("NAKKU_TRACE_SAMPLE_RATIO", "all", "from 0 to 1"),
    ] {
        let err = load(&[(key, value)]).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains(says), "{key}={value}: {err}");
    }
}

#[test]
fn a_mysql_server_url_gives_each_service_its_own_database() {
    let s = load(&[("NAKKU_DATABASE_URL", "mysql://root:pw@127.0.0.1:3306?ssl-mode=disabled")]).unwrap();
    assert_eq!(
        s.database_url_for(Service::Order).unwrap().expose(),
        "mysql://root:pw@127.0.0.1:3306/nakku_order?ssl-mode=disabled"
    );
    assert!(!s.is_embedded());
}

#[test]
fn a_per_service_url_overrides_the_server_url() {
    let s = load(&[
        ("NAKKU_DATABASE_URL", "mysql://root@127.0.0.1:3306"),
        ("NAKKU_USER_DATABASE_URL", "mysql://root@db2:3306/users_x"),
    ])
    .unwrap();
    assert_eq!(
        s.database_url_for(Service::User).unwrap().expose(),
        "mysql://root@db2:3306/users_x"
    );
}

#[test]
fn a_bad_port_names_the_environment_variable() {
    let err = load(&[("NAKKU_USER_PORT", "eighty")]).unwrap_err();
    assert_eq!(err.key, "NAKKU_USER_PORT");
    assert!(err.to_string().contains("whole number from 0 to 65535"), "{err}");
}

#[test]
fn a_server_url_with_a_database_name_is_refused_and_the_password_hidden() {
    let err = load(&[("NAKKU_DATABASE_URL", "mysql://root:hunter2@h:3306/shop")]).unwrap_err();
    assert_eq!(err.key, "NAKKU_DATABASE_URL");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn a_short_jwt_secret_is_refused_without_echoing_it() {
    let err = load(&[("NAKKU_JWT_SECRET", "short-secret")]).unwrap_err();
    assert_eq!(err.key, "NAKKU_JWT_SECRET");
    assert!(!err.to_string().contains("short-secret"));
}

#[test]
fn the_file_is_read_and_the_environment_wins() {
    let dir = std::env::temp_dir().join(format!("nakku-cfg-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("nakku.toml");
    std::fs::write(
        &file,
        "user_port = 9001\ngateway_port = 9000\nlog_format = \"pretty\"\n",
    )
    .unwrap();
    let s = Settings::load(Some(&file), &env(&[("NAKKU_USER_PORT", "9101")])).unwrap();
    assert_eq!(s.port(Service::User), 9101);
    assert_eq!(s.port(Service::Gateway), 9000);
    assert_eq!(s.log_format, LogFormat::Pretty);
    std::fs::write(&file, "usr_port = 1\n").unwrap();
    let err = Settings::load(Some(&file), &HashMap::new()).unwrap_err();
    assert_eq!(err.key, "usr_port");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn event_settings_are_read_and_checked() {
    let s = load(&[("NAKKU_EVENT_BUS", "kafka"), ("NAKKU_KAFKA_BROKERS", "k1:9092,k2:9092")]).unwrap();
    assert_eq!(s.event_bus, BusKind::Kafka);
    assert_eq!(s.kafka_brokers, "k1:9092,k2:9092");
    assert_eq!(
        load(&[("NAKKU_EVENT_BUS", "rabbit")]).unwrap_err().key,
        "NAKKU_EVENT_BUS"
    );
    assert_eq!(
        load(&[("NAKKU_KAFKA_BROKERS", "nohost")]).unwrap_err().key,
        "NAKKU_KAFKA_BROKERS"
    );
    assert_eq!(
        load(&[("NAKKU_EVENT_TOPIC_PREFIX", "bad prefix")]).unwrap_err().key,
        "NAKKU_EVENT_TOPIC_PREFIX"
    );
}

#[test]
fn an_explicit_config_file_must_exist() {
    let err = Settings::load(Some(Path::new("/definitely/not/here.toml")), &HashMap::new()).unwrap_err();
    assert_eq!(err.key, "config");
}

#[test]
fn a_mysql_url_gets_the_ca_bundle_unless_it_names_its_own() {
    let ca = Path::new("/etc/nakku/ca bundle.pem");
    assert_eq!(
        with_ssl_ca("mysql://u:p@h:3306/db", ca),
        "mysql://u:p@h:3306/db?ssl-ca=/etc/nakku/ca%20bundle.pem"
    );
    assert_eq!(
        with_ssl_ca("mysql://u@h/db?ssl-mode=VERIFY_CA", ca),
        "mysql://u@h/db?ssl-mode=VERIFY_CA&ssl-ca=/etc/nakku/ca%20bundle.pem"
    );
    assert_eq!(
        with_ssl_ca("mysql://u@h/db?ssl-ca=/own.pem", ca),
        "mysql://u@h/db?ssl-ca=/own.pem"
    );
    assert_eq!(with_ssl_ca("sqlite://x.db", ca), "sqlite://x.db");
}

#[test]
fn any_setting_can_come_from_a_file_without_its_trailing_newline() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("jwt");
    std::fs::write(&secret, "s3cret-s3cret-s3cret-s3cret-s3cret-42\n").unwrap();
    let path = secret.display().to_string();
    let s = load(&[("NAKKU_JWT_SECRET_FILE", &path)]).unwrap();
    assert_eq!(s.jwt_secret.unwrap().expose(), "s3cret-s3cret-s3cret-s3cret-s3cret-42");
    let err = load(&[("NAKKU_JWT_SECRET_FILE", &path), ("NAKKU_JWT_SECRET", "x")]).unwrap_err();
    assert_eq!(err.key, "NAKKU_JWT_SECRET_FILE");
    let err = load(&[("NAKKU_JWT_SECRET_FILE", "/no/such/secret")]).unwrap_err();
    assert!(err.to_string().contains("readable file"), "{err}");
    // A short secret read from a file is refused without echoing it.
    std::fs::write(&secret, "tiny-secret").unwrap();
    let err = load(&[("NAKKU_JWT_SECRET_FILE", &path)]).unwrap_err();
    assert_eq!(err.key, "NAKKU_JWT_SECRET_FILE");
    assert!(!err.to_string().contains("tiny-secret"), "{err}");
    // The same in nakku.toml: `<key>_file`.
    let toml = dir.path().join("nakku.toml");
    std::fs::write(&secret, "from-a-file-from-a-file-from-a-file-32\n").unwrap();
    std::fs::write(&toml, format!("jwt_secret_file = {path:?}\n")).unwrap();
    let s = Settings::load(Some(&toml), &HashMap::new()).unwrap();
    assert_eq!(s.jwt_secret.unwrap().expose(), "from-a-file-from-a-file-from-a-file-32");
}

#[test]
fn a_mistyped_variable_is_named_with_the_closest_setting() {
    let err = load(&[("NAKKU_LOG_FILTER", "warn")]).unwrap_err();
    assert_eq!(err.key, "NAKKU_LOG_FILTER");
    assert!(err.to_string().contains("did you mean NAKKU_LOG"), "{err}");
    assert!(!err.to_string().contains("warn\""), "the value is not echoed: {err}");
    let err = load(&[("NAKKU_JWT_SECRT", "x")]).unwrap_err();
    assert!(err.to_string().contains("did you mean NAKKU_JWT_SECRET"), "{err}");
    // The CLI's own variables and the test suite's are not settings but are known.
    load(&[("NAKKU_TOKEN", "t"), ("NAKKU_TEST_MYSQL_URL", "mysql://x")]).unwrap();
    // And in the file: the closest key.
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("nakku.toml");
    std::fs::write(&toml, "gateway_prot = 1\n").unwrap();
    let err = Settings::load(Some(&toml), &HashMap::new()).unwrap_err();
    assert!(err.to_string().contains("did you mean gateway_port"), "{err}");
}

#[test]
fn kafka_security_settings_are_checked_together() {
    let s = load(&[
        ("NAKKU_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
        ("NAKKU_KAFKA_SASL_MECHANISM", "scram-sha-512"),
        ("NAKKU_KAFKA_SASL_USERNAME", "nakku"),
        ("NAKKU_KAFKA_SASL_PASSWORD", "pw"),
        (
            "NAKKU_KAFKA_PROPERTIES",
            "socket.keepalive.enable=true; client.rack = r1",
        ),
    ])
    .unwrap();
    assert_eq!(s.kafka.security_protocol, KafkaProtocol::SaslSsl);
    assert_eq!(s.kafka.sasl_mechanism.as_deref(), Some("SCRAM-SHA-512"));
    assert_eq!(
        s.kafka.properties,
        vec![
            ("socket.keepalive.enable".to_owned(), "true".to_owned()),
            ("client.rack".to_owned(), "r1".to_owned())
        ]
    );
    let err = load(&[("NAKKU_KAFKA_SECURITY_PROTOCOL", "sasl_plaintext")]).unwrap_err();
    assert_eq!(err.key, "NAKKU_KAFKA_SASL_MECHANISM");
    assert_eq!(
        load(&[("NAKKU_KAFKA_SASL_MECHANISM", "GSSAPI")]).unwrap_err().key,
        "NAKKU_KAFKA_SASL_MECHANISM"
    );
    assert_eq!(
        load(&[("NAKKU_KAFKA_PROPERTIES", "novalue")]).unwrap_err().key,
        "NAKKU_KAFKA_PROPERTIES"
    );
}

#[test]
fn tls_files_must_hold_what_they_are_for() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
    let cert = cert.display().to_string();
    let err = load(&[("NAKKU_TLS_CERT_FILE", &cert)]).unwrap_err();
    assert!(err.key.contains("NAKKU_TLS_KEY_FILE"), "{err}");
    let err = load(&[("NAKKU_TLS_CERT_FILE", &cert), ("NAKKU_TLS_KEY_FILE", &cert)]).unwrap_err();
    assert_eq!(err.key, "NAKKU_TLS_KEY_FILE");
    let err = load(&[("NAKKU_TLS_CA_FILE", "/no/such/ca.pem")]).unwrap_err();
    assert_eq!(err.key, "NAKKU_TLS_CA_FILE");
    let s = load(&[("NAKKU_TLS_CA_FILE", &cert), ("NAKKU_DATABASE_URL", "mysql://u@h:3306")]).unwrap();
    assert!(s
        .database_url_for(Service::Order)
        .unwrap()
        .expose()
        .ends_with(&format!("ssl-ca={cert}")));
}

#[test]
fn passwords_are_redacted_from_urls() {
    assert_eq!(redact_url("mysql://root:pw@h:3306/db"), "mysql://root:***@h:3306/db");
    assert_eq!(redact_url("mysql://root@h:3306"), "mysql://root@h:3306");
    assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
}

fn raw(key: &str, value: &str) -> Raw {
    Raw {
        value: value.to_owned(),
        origin: "test".to_owned(),
        key_as_given: key.to_owned(),
    }
}

#[test]
fn every_numeric_default_is_in_its_declared_range_and_reads_back_as_itself() {
    let d = Settings::default();
    let mut numeric = 0;
    for s in SETTINGS {
        let shown = (s.show)(&d);
        match s.kind {
            Kind::Whole { min, max } => {
                let v: i128 = shown.parse().unwrap_or_else(|_| panic!("{}: {shown}", s.key));
                assert!(min <= v && v <= max, "{}: {v} outside {min}..={max}", s.key);
                numeric += 1;
            }
            Kind::Decimal { min, max } => {
                let v: f64 = shown.parse().unwrap_or_else(|_| panic!("{}: {shown}", s.key));
                assert!(min <= v && v <= max, "{}: {v} outside {min}..={max}", s.key);
                numeric += 1;
            }
            _ => {}
        }
        if shown.starts_with("(unset") || (s.kind == Kind::Path && s.key != "data_dir") {
            continue;
        }
        // The documented default, given as a value, is accepted and changes nothing.
        let mut t = Settings::default();
        (s.apply)(&mut t, &raw(s.key, &shown)).unwrap_or_else(|e| panic!("{}: {e}", s.key));
        assert_eq!((s.show)(&t), shown, "{}", s.key);
    }
    assert!(numeric > 40, "only {numeric} numeric settings");
}

#[test]
fn a_value_just_outside_its_range_is_refused_with_the_declared_range() {
    let mut tried = 0;
    for s in SETTINGS {
        let (below, above) = match s.kind {
            Kind::Whole { min, max } => ((min - 1).to_string(), (max + 1).to_string()),
            Kind::Decimal { min, max } => ((min - 0.5).to_string(), (max + 0.5).to_string()),
            _ => continue,
        };
        for v in [below, above] {
            let err = load(&[(&s.variable(), &v)]).expect_err(&format!("{} = {v} was accepted", s.key));
            assert_eq!(err.key, s.variable());
            assert_eq!(err.expected, s.kind.expected(), "{}", s.key);
        }
        tried += 1;
    }
    assert!(tried > 40);
}

#[test]
fn a_secret_never_appears_in_an_error() {
    let mut refused = 0;
    for s in SETTINGS.iter().filter(|s| s.secret) {
        // Too short for a signing secret, no scheme for a URL, a space for a token, no `=`.
        let bad = "s3cr3t value";
        if let Err(e) = load(&[(&s.variable(), bad)]) {
            assert!(!e.to_string().contains("s3cr3t"), "{}: {e}", s.key);
            refused += 1;
        }
    }
    let e = load(&[("NAKKU_USER_DATABASE_URL", "postgres://u:s3cr3t@h/db")]).unwrap_err();
    assert!(!e.to_string().contains("s3cr3t"), "{e}");
    assert!(refused >= 6, "only {refused} secrets refused the bad value");
}

#[test]
fn explain_says_where_each_value_came_from_and_hides_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nakku.toml");
    std::fs::write(&file, "bcrypt_cost = 10\nslot_minutes = 30\n").unwrap();
    let (s, effective) = Settings::explain(
        Some(&file),
        &env(&[
            ("NAKKU_SLOT_MINUTES", "45"),
            ("NAKKU_DATABASE_URL", "mysql://root:pw@127.0.0.1:3306"),
            ("NAKKU_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ]),
    )
    .unwrap();
    assert_eq!(s.slot_minutes, 45);
    let of = |key: &str| {
        effective
            .iter()
            .find(|e| e.key == key)
            .unwrap_or_else(|| panic!("{key} not explained"))
    };
    assert_eq!(
        (of("bcrypt_cost").value.as_str(), of("bcrypt_cost").origin.as_str()),
        ("10", file.to_str().unwrap())
    );
    assert_eq!(
        (of("slot_minutes").value.as_str(), of("slot_minutes").origin.as_str()),
        ("45", "environment")
    );
    assert_eq!(
        (of("host").value.as_str(), of("host").origin.as_str()),
        ("127.0.0.1", "default")
    );
    assert_eq!(of("jwt_secret").value, "***");
    assert_eq!(of("database_url").value, "mysql://root:***@127.0.0.1:3306");
    assert!(
        of("user_database_url").value.contains("nakku_user"),
        "{:?}",
        of("user_database_url")
    );
    assert!(
        !of("user_database_url").value.contains("pw@"),
        "{:?}",
        of("user_database_url")
    );
    assert_eq!(of("gateway_port").value, "8080");
    assert_eq!(effective.len(), documented_keys().len());
}
