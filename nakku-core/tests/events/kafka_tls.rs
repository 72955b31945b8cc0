use super::*;

/// Kafka over TLS (`scripts/tls-servers.sh`: TLS terminated in front of a broker that
/// advertises the TLS address): events published and consumed with
/// `NAKKU_KAFKA_SECURITY_PROTOCOL=ssl` and the test CA; trusting only the platform's
/// roots, nothing is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs NAKKU_TEST_KAFKA_TLS_BROKERS, NAKKU_TEST_TLS_CA_FILE and the kafka-tls feature"]
async fn events_flow_over_tls_and_an_untrusted_broker_certificate_stops_them() {
    #[cfg(not(feature = "kafka"))]
    panic!("the Kafka TLS test needs the `kafka` feature");
    #[cfg(feature = "kafka")]
    {
        use nakku_core::events::kafka::{security_properties, KafkaBus};
        let brokers = required_env("NAKKU_TEST_KAFKA_TLS_BROKERS");
        let ca = required_env("NAKKU_TEST_TLS_CA_FILE");
        let prefix = format!("tls{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let settings = |ca: &str| {
            let env: HashMap<String, String> = [
                ("NAKKU_KAFKA_SECURITY_PROTOCOL", "ssl"),
                ("NAKKU_TLS_CA_FILE", ca),
                ("NAKKU_KAFKA_PROPERTIES", "message.timeout.ms=5000"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            nakku_core::config::Settings::load(None, &env).unwrap()
        };
        let bus = KafkaBus::connect_with(&brokers, &prefix, 1, security_properties(&settings(&ca)))
            .await
            .unwrap();
        let topic = format!("{prefix}.user");
        let msg = Message {
            topic: topic.clone(),
            key: "k1".into(),
            payload: b"over tls".to_vec(),
            traceparent: None,
        };
        bus.publish(std::slice::from_ref(&msg)).await.unwrap();
        let mut sub = bus
            .read(std::slice::from_ref(&topic), Position::Beginning)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let got = loop {
            let batch = sub.poll(10, Duration::from_millis(500)).await.unwrap();
            if let Some(d) = batch.into_iter().next() {
                break d;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "nothing consumed over TLS in 60 s"
            );
        };
        assert_eq!(got.payload, b"over tls");

        // A CA that did not sign the broker's certificate: the handshake fails, so the
        // broker is unreachable (nothing goes in the clear).
        let dir = tempfile::tempdir().unwrap();
        let other_ca = dir.path().join("other.pem");
        let system = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
        let first = system
            .split_inclusive("-----END CERTIFICATE-----\n")
            .next()
            .unwrap_or_default();
        assert!(
            first.contains("BEGIN CERTIFICATE"),
            "a platform root to stand for a foreign CA"
        );
        std::fs::write(&other_ca, first).unwrap();
        let wary = KafkaBus::connect_with(
            &brokers,
            &prefix,
            1,
            security_properties(&settings(&other_ca.display().to_string())),
        )
        .await
        .unwrap();
        assert!(wary.ping().await.is_err());
        assert!(bus.ping().await.is_ok(), "the trusting bus still reaches it");
    }
}
