//! The embedded log on its own, and the published documents (envelope schema, AsyncAPI) against the code.

use super::*;

#[tokio::test]
async fn the_embedded_log_keeps_messages_and_committed_offsets_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let topics = vec!["n.user".to_owned()];
    {
        let log = EmbeddedLog::open(&path).await.unwrap();
        let msgs: Vec<Message> = (0..5)
            .map(|i| Message {
                topic: "n.user".into(),
                key: format!("k{i}"),
                payload: vec![b'0' + i],
                traceparent: None,
            })
            .collect();
        log.publish(&msgs).await.unwrap();
        let mut sub = log.subscribe("g", &topics).await.unwrap();
        let got = sub.poll(2, Duration::from_millis(100)).await.unwrap();
        assert_eq!(got.len(), 2);
        sub.commit(&got[1]).await.unwrap();
    }
    let log = EmbeddedLog::open(&path).await.unwrap();
    let mut sub = log.subscribe("g", &topics).await.unwrap();
    let got = sub.poll(10, Duration::from_millis(100)).await.unwrap();
    assert_eq!(got.iter().map(|d| d.payload[0]).collect::<Vec<_>>(), b"234".to_vec());
    assert_eq!(sub.lag().await, Some(0));
    // Readers from a time or an offset.
    let mut r = log.read(&topics, Position::Offset(got[1].offset)).await.unwrap();
    assert_eq!(r.poll(10, Duration::from_millis(100)).await.unwrap().len(), 2);
    let mut r = log.read(&topics, Position::End).await.unwrap();
    assert!(r.poll(10, Duration::from_millis(50)).await.unwrap().is_empty());
    // A rewind is refused while the group is live.
    let err = log.rewind("g", &topics, Position::Beginning).await.unwrap_err();
    assert!(err.to_string().contains("running"), "{err}");
}

/// A reader of several topics, one of them quiet: the busy topic's messages come in full
/// batches (a quiet topic's old position once capped every read to the same old window, and
/// the reader crawled one message per poll).
#[tokio::test]
async fn a_quiet_topic_does_not_hold_back_a_reader_of_several() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(&dir.path().join("events.db")).await.unwrap();
    let msg = |topic: &str, i: usize| Message {
        topic: topic.into(),
        key: format!("k{i}"),
        payload: i.to_string().into_bytes(),
        traceparent: None,
    };
    log.publish(&[msg("n.quiet", 0)]).await.unwrap();
    let busy: Vec<Message> = (0..1000).map(|i| msg("n.busy", i)).collect();
    log.publish(&busy).await.unwrap();
    let topics = vec!["n.busy".to_owned(), "n.quiet".to_owned()];
    let mut sub = log.subscribe("g", &topics).await.unwrap();
    let (mut got, mut polls) = (0, 0);
    while got < 1001 {
        let batch = sub.poll(100, Duration::from_millis(50)).await.unwrap();
        assert!(!batch.is_empty() || polls < 15, "stalled after {got} messages");
        got += batch.len();
        polls += 1;
    }
    assert!(polls <= 12, "{polls} polls for 1001 messages in batches of 100");
}

#[tokio::test]
async fn an_event_over_the_size_limit_is_refused_when_written_and_its_change_rolled_back() {
    let e = env(BusUnderTest::Embedded).await;
    let huge = Envelope::new(
        catalog::USER_UPDATED,
        Service::User,
        "u",
        "t",
        json!({"blob": "x".repeat(1_100_000)}),
    );
    let mut tx = e.db.begin().await.unwrap();
    let err = outbox::append(&mut tx, &huge).await.unwrap_err().to_string();
    assert!(err.contains("over the 1000000-byte limit"), "{err}");
    tx.rollback().await.unwrap();
    assert_eq!(e.unpublished().await, 0);
}

#[test]
fn the_published_envelope_schema_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/envelope.schema.json");
    let on_disk: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        on_disk,
        nakku_core::events::envelope_json_schema(),
        "regenerate docs/envelope.schema.json"
    );
}

#[test]
fn the_committed_asyncapi_document_is_what_the_code_generates() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/asyncapi.json");
    let on_disk: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(
        on_disk == nakku_core::asyncapi::document(),
        "docs/asyncapi.json is stale: regenerate it with `cargo run -p nakku-cli -- events spec > docs/asyncapi.json`"
    );
}

#[tokio::test]
async fn compacting_the_embedded_log_drops_only_what_every_group_has_read() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(&dir.path().join("events.db")).await.unwrap();
    let msgs: Vec<Message> = (0..6)
        .map(|i| Message {
            topic: if i % 2 == 0 { "n.user".into() } else { "n.order".into() },
            key: "k".into(),
            payload: vec![i],
            traceparent: None,
        })
        .collect();
    log.publish(&msgs).await.unwrap();
    // Group a reads all of n.user; group b reads one message of it. Nobody reads n.order.
    let user = vec!["n.user".to_owned()];
    let mut a = log.subscribe("a", &user).await.unwrap();
    let got = a.poll(10, Duration::from_millis(100)).await.unwrap();
    a.commit(got.last().unwrap()).await.unwrap();
    let mut b = log.subscribe("b", &user).await.unwrap();
    let got = b.poll(1, Duration::from_millis(100)).await.unwrap();
    b.commit(&got[0]).await.unwrap();
    let deleted = log.compact(nakku_core::id::now_ms() + 1000).await.unwrap();
    assert_eq!(deleted, 1, "only the n.user message both groups have passed");
    let mut r = log
        .read(&["n.user".to_owned(), "n.order".to_owned()], Position::Beginning)
        .await
        .unwrap();
    assert_eq!(r.poll(10, Duration::from_millis(100)).await.unwrap().len(), 5);
    assert_eq!(log.compact(0).await.unwrap(), 0, "nothing is older than the epoch");
}
