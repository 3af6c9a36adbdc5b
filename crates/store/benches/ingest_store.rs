//! `Store::ingest` alone, single-threaded, one text message a delivery: the store's share of a
//! webhook delivery's cost. `cargo bench -p rosetta-store --bench ingest_store`
use std::time::Instant;

use rosetta_core::ingest::{InboundMessage, IngestEvent};
use rosetta_core::*;
use rosetta_store::testing::TestDb;

fn main() {
    let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let db = TestDb::sqlite();
    let org = db.store.create_organization("bench").unwrap().id;
    db.store
        .create_account(org, "106540352242922", "+15550783881", None)
        .unwrap();
    let event = |i: usize| {
        vec![IngestEvent::Message(InboundMessage {
            phone_number_id: "106540352242922".into(),
            wa_id: format!("4477009{:05}", i % 10_000),
            profile_name: Some("Load Tester".into()),
            wamid: format!("wamid.{i}"),
            timestamp: Timestamp::from_unix_seconds(1_749_416_383),
            content_type: ContentType::Text,
            body: MessageBody {
                text: Some("Is my order on its way?".into()),
                ..Default::default()
            },
            media_sha256: None,
        })]
    };
    // Warm: make the contacts and conversations.
    for i in 0..10_000 {
        db.store.ingest(&event(i)).unwrap();
    }
    let start = Instant::now();
    for i in 10_000..10_000 + n {
        db.store.ingest(&event(i)).unwrap();
    }
    let per = start.elapsed().as_secs_f64() / n as f64;
    println!(
        "store ingest ({}): {:.1} µs a delivery, {:.0} deliveries/s on one thread",
        db.backend(),
        per * 1e6,
        1.0 / per
    );
    // The same messages, 100 to a transaction: what a commit costs.
    let start = Instant::now();
    let base = 10_000 + n;
    for chunk in 0..n / 100 {
        let events: Vec<IngestEvent> = (0..100).flat_map(|k| event(base + chunk * 100 + k)).collect();
        db.store.ingest(&events).unwrap();
    }
    let per = start.elapsed().as_secs_f64() / n as f64;
    println!(
        "store ingest ({}), 100 deliveries a transaction: {:.1} µs a delivery",
        db.backend(),
        per * 1e6
    );
}
