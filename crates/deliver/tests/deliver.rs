//! Webhook deliveries on the wire, to a receiver over real HTTP: each dialect's headers and
//! signatures (checked with an HMAC-SHA256 written here from SHA-256 alone, RFC 2104, not the
//! signer's code), every attempt logged, retries by the policy (5xx, 429 with Retry-After, a
//! redirect not followed, a timeout), a 4xx kirim does not retry, auto-disable and re-enabling,
//! replay, private targets refused after DNS resolution, and a hanging endpoint that holds up no
//! other. On SQLite and (when configured) PostgreSQL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rosetta_core::ingest::{InboundMessage, IngestEvent};
use rosetta_core::webhooks::*;
use rosetta_core::*;
use rosetta_deliver::receiver::{Receiver, Reply};
use rosetta_deliver::{DeliverConfig, Deliverer};
use rosetta_http::events::{Live, Outbound};
use rosetta_store::testing::TestDb;
use serde_json::json;

const PNID: &str = "106540352242922";
const WAIT: Duration = Duration::from_secs(20);

/// HMAC-SHA256 (RFC 2104), from SHA-256 alone.
fn hmac(key: &[u8], message: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::digest([pad(0x36), message.to_vec()].concat());
    hex::encode(Sha256::digest([pad(0x5c), inner.to_vec()].concat()))
}

fn formats(dialect: Dialect) -> Outbound {
    match dialect {
        Dialect::Wacrm => rosetta_wacrm::events::OUTBOUND,
        Dialect::Kirim => rosetta_kirim::events::OUTBOUND,
        Dialect::Envelope => rosetta_envelope::events::OUTBOUND,
    }
}

fn customer_says(wamid: &str, text: &str) -> IngestEvent {
    IngestEvent::Message(InboundMessage {
        phone_number_id: PNID.into(),
        wa_id: "971501234567".into(),
        profile_name: Some("Ahmed".into()),
        wamid: wamid.into(),
        timestamp: Timestamp::now(),
        content_type: ContentType::Text,
        body: MessageBody {
            text: Some(text.into()),
            ..Default::default()
        },
        media_sha256: None,
    })
}

struct Setup {
    db: TestDb,
    store: Arc<dyn Store>,
    org: Id,
}

fn setup(db: TestDb) -> Setup {
    let store: Arc<dyn Store> = Arc::new(db.instance());
    let org = store.create_organization("Acme").unwrap().id;
    store.create_account(org, PNID, "+15550783881", None).unwrap();
    Setup { db, store, org }
}

fn subscribe(s: &Setup, dialect: Dialect, url: &str, events: &[&str]) -> CreatedWebhook {
    s.store
        .create_webhook(
            s.org,
            NewWebhook {
                dialect,
                url: url.into(),
                events: events.iter().map(|e| e.to_string()).collect(),
                description: None,
                is_active: true,
            },
        )
        .unwrap()
}

/// Quick policies: every wait `wait`, `retries` of them.
fn quick(retries: usize, wait: Duration, disable_after: u32) -> HashMap<Dialect, DeliveryPolicy> {
    Dialect::ALL
        .into_iter()
        .map(|d| {
            let mut p = DeliveryPolicy::for_dialect(d);
            p.delays = vec![wait; retries];
            p.jitter = 0.0;
            p.timeout = Duration::from_millis(500);
            p.disable_after = disable_after;
            (d, p)
        })
        .collect()
}

fn deliverer(s: &Setup, config: DeliverConfig) -> Deliverer {
    Deliverer::new(s.store.clone(), formats, config, Arc::new(Live::default())).unwrap()
}

fn local(policies: HashMap<Dialect, DeliveryPolicy>) -> DeliverConfig {
    DeliverConfig {
        policies,
        allow_private: true,
        ..Default::default()
    }
}

/// Runs rounds until `receiver` has `n` requests and the store has recorded them.
async fn deliver_until(d: &Deliverer, s: &Setup, receiver: &Receiver, n: usize) {
    let deadline = std::time::Instant::now() + WAIT;
    while receiver.count() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {n} arrived",
            receiver.count()
        );
        s.store.sequence_events().unwrap();
        if d.run_once().await.unwrap() == 0 {
            actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn deliveries(s: &Setup, dialect: Dialect, hook: Id) -> Vec<WebhookDelivery> {
    s.store
        .list_webhook_deliveries(
            s.org,
            dialect,
            &DeliveryFilter {
                webhook_id: Some(hook),
                ..Default::default()
            },
            &PageRequest::first(100),
        )
        .unwrap()
        .items
}

#[actix_web::test]
async fn deliveries_arrive_signed_in_each_dialect() {
    for db in TestDb::all() {
        let s = setup(db);
        let receiver = Receiver::start("127.0.0.1:0").unwrap();
        let url = |path: &str| format!("{}/{path}", receiver.url());
        let wacrm = subscribe(&s, Dialect::Wacrm, &url("wacrm"), &rosetta_wacrm::events::EVENT_NAMES);
        let kirim = subscribe(&s, Dialect::Kirim, &url("kirim"), &rosetta_kirim::events::EVENT_NAMES);
        let envelope = subscribe(
            &s,
            Dialect::Envelope,
            &url("envelope"),
            &rosetta_envelope::events::EVENT_NAMES,
        );
        // kirim signs with every live secret: rotated, the old one signs for another hour.
        let rotated = s
            .store
            .rotate_webhook_secret(
                s.org,
                Dialect::Kirim,
                kirim.webhook.id,
                Timestamp(Timestamp::now().millis() + 3_600_000),
            )
            .unwrap();
        s.store.ingest(&[customer_says("wamid.in1", "hello")]).unwrap();
        let d = deliverer(&s, local(quick(3, Duration::from_millis(1), 15)));
        // wacrm: contact.created, conversation.created, message.received; kirim: contact.created,
        // message.received; envelope: the same three as wacrm.
        deliver_until(&d, &s, &receiver, 8).await;
        let now = Timestamp::now().millis() / 1000;
        let got = receiver.received();
        assert_eq!(got.len(), 8, "{got:?}");
        for r in &got {
            assert_eq!(r.header("content-type"), Some("application/json"));
            let body = r.json();
            match r.path.as_str() {
                "/wacrm" => {
                    let event = body["event"].as_str().unwrap();
                    assert_eq!(r.header("x-wacrm-event"), Some(event));
                    assert_eq!(
                        r.header("x-wacrm-webhook-id").unwrap(),
                        wacrm.webhook.id.render(EntityKind::Webhook, Spelling::Uuid)
                    );
                    let sig = r.header("x-wacrm-signature").unwrap();
                    let (t, v1) = sig.split_once(',').unwrap();
                    let t = t.strip_prefix("t=").unwrap();
                    assert!((t.parse::<i64>().unwrap() - now).abs() < 300);
                    let signed = [t.as_bytes(), b".", &r.body].concat();
                    assert_eq!(v1, format!("v1={}", hmac(wacrm.secret.as_bytes(), &signed)));
                }
                "/kirim" => {
                    assert_eq!(r.header("x-kirim-event"), Some(body_name(&body)));
                    let source = r.header("x-kirim-source").unwrap();
                    let event_id = r.header("x-kirim-event-id").unwrap();
                    if body_name(&body) == "message.received" {
                        assert_eq!((source, event_id), ("meta", "wamid.in1"));
                    } else {
                        assert_eq!(source, "kirim");
                        assert_eq!(event_id, body["id"].as_str().unwrap());
                        assert!(event_id.starts_with("evt_"));
                    }
                    assert!(r.header("x-kirim-delivery-id").unwrap().starts_with("wbd_"));
                    assert_eq!(r.header("x-kirim-attempt"), Some("1"));
                    let sig = r.header("x-kirim-signature").unwrap();
                    let parts: Vec<&str> = sig.split(',').collect();
                    assert_eq!(parts.len(), 3, "t and one v1 per live secret: {sig}");
                    let t = parts[0].strip_prefix("t=").unwrap();
                    let signed = [t.as_bytes(), b".", &r.body].concat();
                    assert_eq!(parts[1], format!("v1={}", hmac(kirim.secret.as_bytes(), &signed)));
                    assert_eq!(parts[2], format!("v1={}", hmac(rotated.secret.as_bytes(), &signed)));
                }
                "/envelope" => {
                    let event = body["event"].as_str().unwrap();
                    assert_eq!(r.header("x-webhook-event"), Some(event));
                    assert!(r.header("x-webhook-delivery-id").unwrap().starts_with("evt_"));
                    assert_eq!(
                        r.header("x-superwaba-signature").unwrap(),
                        hmac(envelope.secret.as_bytes(), &r.body)
                    );
                    assert!(r.header("x-webhook-secret").is_none(), "never the secret itself");
                }
                other => panic!("{other}"),
            }
        }
        let names = |path: &str| {
            let mut n: Vec<String> = got
                .iter()
                .filter(|r| r.path == path)
                .map(|r| {
                    r.header("x-wacrm-event")
                        .or(r.header("x-kirim-event"))
                        .or(r.header("x-webhook-event"))
                        .unwrap()
                        .to_owned()
                })
                .collect();
            n.sort();
            n
        };
        assert_eq!(
            names("/wacrm"),
            ["contact.created", "conversation.created", "message.received"]
        );
        assert_eq!(names("/kirim"), ["contact.created", "message.received"]);
        assert_eq!(
            names("/envelope"),
            ["contact.created", "conversation.created", "message.received"]
        );
        // Each delivery is recorded delivered, its attempt logged with the answer's excerpt.
        let mine = deliveries(&s, Dialect::Wacrm, wacrm.webhook.id);
        assert_eq!(mine.len(), 3);
        let detail = s.store.get_webhook_delivery(s.org, Dialect::Wacrm, mine[0].id).unwrap();
        assert_eq!(detail.delivery.state, DeliveryState::Delivered);
        assert_eq!(detail.attempts.len(), 1);
        assert_eq!(detail.attempts[0].record.status_code, Some(200));
        assert_eq!(
            detail.attempts[0].record.excerpt.as_deref(),
            Some("{\"received\":true,\"status\":200}")
        );
        let sub = s.store.get_webhook(s.org, Dialect::Wacrm, wacrm.webhook.id).unwrap();
        assert_eq!(sub.failure_count, 0);
        assert!(sub.last_delivery_at.is_some());
        drop(s.db);
    }
}

fn body_name(body: &serde_json::Value) -> &str {
    body["type"].as_str().unwrap_or_else(|| {
        if body["object"] == "whatsapp_business_account" {
            "message.received"
        } else {
            ""
        }
    })
}

#[actix_web::test]
async fn failures_are_retried_by_the_policy_and_logged() {
    for db in TestDb::all() {
        let s = setup(db);
        let receiver = Receiver::start("127.0.0.1:0").unwrap();
        let hook = subscribe(
            &s,
            Dialect::Kirim,
            &format!("{}/in", receiver.url()),
            &["message.received"],
        );
        receiver.script([
            Reply::Status(503),
            Reply::TooMany(0),
            Reply::Redirect(format!("{}/elsewhere", receiver.url())),
            Reply::Hang(Duration::from_secs(2)),
            Reply::Status(200),
        ]);
        s.store.ingest(&[customer_says("wamid.1", "hello")]).unwrap();
        let metrics = Arc::new(rosetta_http::metrics::Metrics::default());
        let d = deliverer(&s, local(quick(5, Duration::from_millis(1), 24))).with_metrics(metrics.clone());
        deliver_until(&d, &s, &receiver, 5).await;
        let got = receiver.received();
        assert!(got.iter().all(|r| r.path == "/in"), "the redirect was not followed");
        let attempts: Vec<&str> = got.iter().map(|r| r.header("x-kirim-attempt").unwrap()).collect();
        // The hung request is recorded by the receiver when it answers late: after the fifth.
        assert_eq!(attempts.len(), 5);
        let ids: Vec<&str> = got.iter().map(|r| r.header("x-kirim-event-id").unwrap()).collect();
        assert!(
            ids.iter().all(|i| *i == "wamid.1"),
            "the same dedupe key on every attempt"
        );
        let one = &deliveries(&s, Dialect::Kirim, hook.webhook.id)[0];
        let detail = s.store.get_webhook_delivery(s.org, Dialect::Kirim, one.id).unwrap();
        assert_eq!(detail.delivery.state, DeliveryState::Delivered);
        // Counted for the operator as made: four retried, one delivered.
        let text = metrics.encode();
        for line in [
            r#"rosetta_webhook_attempts_total{outcome="retry"} 4"#,
            r#"rosetta_webhook_attempts_total{outcome="delivered"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}: {text}");
        }
        let logged: Vec<(u32, Option<u16>)> = detail
            .attempts
            .iter()
            .map(|a| (a.attempt, a.record.status_code))
            .collect();
        assert_eq!(
            logged,
            [
                (1, Some(503)),
                (2, Some(429)),
                (3, Some(302)),
                (4, None),
                (5, Some(200))
            ]
        );
        let errors: Vec<&str> = detail
            .attempts
            .iter()
            .map(|a| a.record.error.as_deref().unwrap_or(""))
            .collect();
        assert_eq!(errors[0], "the endpoint answered 503");
        assert!(
            errors[2].contains("redirects are not followed; Location: "),
            "{}",
            errors[2]
        );
        assert_eq!(errors[3], "no answer within 0.5 s");
        assert!(detail.attempts[3].record.duration_ms >= 450);
        assert_eq!(errors[4], "");

        // kirim does not retry a 400: failed at once, counted against the subscription.
        receiver.script([Reply::Status(400)]);
        s.store.ingest(&[customer_says("wamid.2", "again")]).unwrap();
        deliver_until(&d, &s, &receiver, 6).await;
        let d2 = deliveries(&s, Dialect::Kirim, hook.webhook.id)
            .into_iter()
            .find(|x| x.dedupe_key == "wamid.2")
            .unwrap();
        // The outcome is recorded once run_once returns.
        assert_eq!(d2.state, DeliveryState::Failed);
        assert_eq!(d2.attempts, 1);
        let sub = s.store.get_webhook(s.org, Dialect::Kirim, hook.webhook.id).unwrap();
        assert_eq!(sub.failure_count, 1);

        // Replayed: the same delivery, its second attempt, the same body.
        s.store
            .replay_webhook_deliveries(s.org, Dialect::Kirim, &Replay::Ids(vec![d2.id]))
            .unwrap();
        deliver_until(&d, &s, &receiver, 7).await;
        let last = receiver.received().pop().unwrap();
        assert_eq!(last.header("x-kirim-attempt"), Some("2"));
        assert_eq!(last.header("x-kirim-event-id"), Some("wamid.2"));
        assert_eq!(last.body, receiver.received()[5].body);
        let sub = s.store.get_webhook(s.org, Dialect::Kirim, hook.webhook.id).unwrap();
        assert_eq!(sub.failure_count, 0, "a success resets the count");
        drop(s.db);
    }
}

#[actix_web::test]
async fn consecutive_failures_disable_and_re_enabling_resets() {
    for db in TestDb::all() {
        let s = setup(db);
        let receiver = Receiver::start("127.0.0.1:0").unwrap();
        receiver.answer_with(Reply::Status(500));
        let hook = subscribe(
            &s,
            Dialect::Wacrm,
            &format!("{}/in", receiver.url()),
            &["message.received"],
        );
        // One retry each, disabled after 2 failed deliveries.
        let d = deliverer(&s, local(quick(1, Duration::from_millis(1), 2)));
        s.store
            .ingest(&[customer_says("wamid.1", "a"), customer_says("wamid.2", "b")])
            .unwrap();
        deliver_until(&d, &s, &receiver, 4).await;
        d.run_once().await.unwrap();
        let sub = s.store.get_webhook(s.org, Dialect::Wacrm, hook.webhook.id).unwrap();
        assert_eq!(sub.failure_count, 2);
        assert!(!sub.is_active, "disabled after 2 consecutive failed deliveries");
        assert!(deliveries(&s, Dialect::Wacrm, hook.webhook.id)
            .iter()
            .all(|x| x.state == DeliveryState::Failed && x.attempts == 2));
        // Disabled: nothing more goes out.
        s.store.ingest(&[customer_says("wamid.3", "c")]).unwrap();
        s.store.sequence_events().unwrap();
        assert_eq!(d.run_once().await.unwrap(), 0);
        assert_eq!(receiver.count(), 4);
        // Re-enabled: the count is reset, and the next event is delivered.
        receiver.answer_with(Reply::Status(204));
        let sub = s
            .store
            .update_webhook(
                s.org,
                Dialect::Wacrm,
                hook.webhook.id,
                WebhookChanges {
                    is_active: Some(true),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(sub.failure_count, 0);
        s.store.ingest(&[customer_says("wamid.4", "d")]).unwrap();
        deliver_until(&d, &s, &receiver, 5).await;
        assert_eq!(receiver.received()[4].json()["data"]["whatsapp_message_id"], "wamid.4");
        drop(s.db);
    }
}

#[actix_web::test]
async fn private_targets_are_refused_after_resolution() {
    let s = setup(TestDb::sqlite());
    let receiver = Receiver::start("127.0.0.1:0").unwrap();
    let port = receiver.url().rsplit(':').next().unwrap().to_owned();
    // Written as the store keeps them (the dialects refuse these at creation; a name's address is
    // known only when delivering).
    let targets = [
        format!("https://hooks.example.test:{port}/in"), // a name that resolves to 127.0.0.1
        format!("https://localhost:{port}/in"),          // resolved by the system's resolver
        format!("https://127.0.0.1:{port}/in"),          // an address
        format!("https://127.1:{port}/in"),              // the same address, spelled short
        format!("http://hooks.example.com:{port}/in"),   // plain http
    ];
    let hooks: Vec<Id> = targets
        .iter()
        .map(|t| subscribe(&s, Dialect::Wacrm, t, &["message.received"]).webhook.id)
        .collect();
    let d = deliverer(
        &s,
        DeliverConfig {
            policies: quick(3, Duration::from_millis(1), 15),
            allow_private: false,
            fixed_names: [("hooks.example.test".to_owned(), vec!["127.0.0.1".parse().unwrap()])]
                .into_iter()
                .collect(),
            ..Default::default()
        },
    );
    s.store.ingest(&[customer_says("wamid.1", "hello")]).unwrap();
    s.store.sequence_events().unwrap();
    assert_eq!(d.run_once().await.unwrap(), 5);
    assert_eq!(receiver.count(), 0, "nothing reached the loopback receiver");
    let errors: Vec<String> = hooks
        .iter()
        .map(|h| {
            let one = &deliveries(&s, Dialect::Wacrm, *h)[0];
            assert_eq!(one.state, DeliveryState::Failed, "a refusal is not retried");
            one.last_error.clone().unwrap()
        })
        .collect();
    assert!(
        errors[0].starts_with("hooks.example.test resolves to 127.0.0.1"),
        "{}",
        errors[0]
    );
    assert!(errors[1].starts_with("localhost resolves to "), "{}", errors[1]);
    assert!(
        errors[2].starts_with("127.0.0.1 is a private, loopback or link-local address"),
        "{}",
        errors[2]
    );
    assert_eq!(errors[3], errors[2]);
    assert!(errors[4].starts_with("http:// endpoints are refused"), "{}", errors[4]);
    for h in hooks {
        s.store.delete_webhook(s.org, Dialect::Wacrm, h).unwrap();
    }
    // Allowed (tests, local development): the same name is delivered to.
    let allowed = deliverer(
        &s,
        DeliverConfig {
            policies: quick(3, Duration::from_millis(1), 15),
            allow_private: true,
            ..Default::default()
        },
    );
    let open = subscribe(
        &s,
        Dialect::Wacrm,
        &format!("http://localhost:{port}/in"),
        &["message.received"],
    );
    s.store.ingest(&[customer_says("wamid.2", "again")]).unwrap();
    deliver_until(&allowed, &s, &receiver, 1).await;
    assert_eq!(receiver.received()[0].json()["data"]["whatsapp_message_id"], "wamid.2");
    assert_eq!(
        deliveries(&s, Dialect::Wacrm, open.webhook.id)[0].state,
        DeliveryState::Delivered
    );
}

#[actix_web::test]
async fn a_hanging_endpoint_holds_up_no_other() {
    let s = setup(TestDb::sqlite());
    let hanging = Receiver::start("127.0.0.1:0").unwrap();
    hanging.answer_with(Reply::Hang(Duration::from_secs(3)));
    let healthy = Receiver::start("127.0.0.1:0").unwrap();
    subscribe(
        &s,
        Dialect::Kirim,
        &format!("{}/in", hanging.url()),
        &["message.received"],
    );
    subscribe(
        &s,
        Dialect::Wacrm,
        &format!("{}/in", healthy.url()),
        &["message.received"],
    );
    let mut policies = quick(0, Duration::from_millis(1), 100);
    for p in policies.values_mut() {
        p.timeout = Duration::from_secs(10);
    }
    let live = Arc::new(Live::default());
    let d = Deliverer::new(
        s.store.clone(),
        formats,
        DeliverConfig {
            policies,
            allow_private: true,
            per_webhook: 2,
            in_flight: 8,
            idle_poll: Duration::from_millis(20),
            fan_out_poll: Duration::from_millis(20),
            ..Default::default()
        },
        live,
    )
    .unwrap();
    actix_web::rt::spawn(d.run());
    let started = std::time::Instant::now();
    for i in 0..20 {
        s.store.ingest(&[customer_says(&format!("wamid.{i}"), "hi")]).unwrap();
    }
    let store = s.store.clone();
    let healthy_done = actix_web::rt::task::spawn_blocking(move || {
        // SQLite places events as they are written; the fan-out polls.
        let _ = store;
        healthy.wait_for(20, Duration::from_secs(2)).then_some(healthy)
    })
    .await
    .unwrap();
    assert!(
        healthy_done.is_some(),
        "all 20 reached the healthy endpoint within 2 s while the other hangs for 3 s each"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(hanging.count(), 0, "the hanging endpoint has not answered yet");
}

#[test]
fn the_receiver_records_what_it_got() {
    let receiver = Receiver::start("127.0.0.1:0").unwrap();
    assert!(!receiver.wait_for(1, Duration::from_millis(10)));
    assert_eq!(json!(receiver.count()), json!(0));
}
