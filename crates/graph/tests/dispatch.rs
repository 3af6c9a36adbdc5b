//! The dispatch worker over a real store and the stand-in: sends reach Meta once, retry classes
//! behave, permanent failures keep Meta's code, an unknown outcome is not resent and is reconciled
//! by the status webhook naming it; on SQLite and (when configured) PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rosetta_core::ingest::{IngestEvent, StatusUpdate};
use rosetta_core::*;
use rosetta_graph::dispatch::{DispatchConfig, Dispatcher};
use rosetta_graph::standin::{Fault, StandIn};
use rosetta_graph::{GraphClient, GraphConfig};
use rosetta_store::testing::TestDb;

const PNID: &str = "106540352242922";
const TOKEN: &str = "EAAG-dispatch-token";

fn send(conversation: Id, to: &str, text: &str) -> NewSend {
    let now = Timestamp::now();
    rosetta_store::testing::text_send(conversation, to, text, now, Timestamp(now.millis() + 600_000))
}

/// The customer wrote a minute ago: the 24-hour window is open.
fn inbound(conversation: Id, wamid: &str) -> NewMessage {
    let at = Timestamp(Timestamp::now().millis() - 60_000);
    rosetta_store::testing::inbound_text(conversation, wamid, "Hi", at)
}

fn message(store: &dyn Store, org: Id, conversation: Id, id: Id) -> Message {
    store
        .list_messages(org, conversation, &PageRequest::first(100))
        .unwrap()
        .items
        .into_iter()
        .find(|m| m.id == id)
        .unwrap()
}

#[actix_web::test]
async fn sends_retries_failures_and_unknown_outcomes() {
    for db in TestDb::all() {
        let store: Arc<dyn Store> = Arc::new(db.store.clone());
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        let account = s.create_account(org, PNID, "+15550783881", None).unwrap().id;
        s.set_account_token(org, account, &AccessToken::new(TOKEN).unwrap())
            .unwrap();
        let bare = s
            .create_account(org, "106540352242999", "+15550783899", None)
            .unwrap()
            .id;
        let conversation = |phone: &str, on: Id| {
            let c = s
                .create_contact(
                    org,
                    NewContact {
                        phone: phone.into(),
                        ..Default::default()
                    },
                )
                .unwrap()
                .contact
                .contact
                .id;
            let conversation = s.open_conversation(org, on, c).unwrap().id;
            // The customer wrote a minute ago: the 24-hour window is open.
            s.append_message(org, inbound(conversation, &format!("wamid.in.{phone}")))
                .unwrap();
            conversation
        };
        let (c1, c2, c3, c4, c5) = (
            conversation("+14155550101", account),
            conversation("+14155550102", account),
            conversation("+14155550103", account),
            conversation("+14155550104", account),
            conversation("+14155550105", bare),
        );
        let standin = StandIn::start("127.0.0.1:0").unwrap();
        standin.allow(PNID, TOKEN);
        standin.fail(
            "14155550102",
            [
                Fault::Code {
                    code: 130429,
                    status: 400,
                },
                Fault::ServerError(503),
            ],
        );
        standin.fail(
            "14155550103",
            [Fault::Code {
                code: 131047,
                status: 400,
            }],
        );
        standin.fail("14155550104", [Fault::LateAccept(Duration::from_millis(1200))]);
        let ok = s.enqueue_send(org, send(c1, "14155550101", "one")).unwrap();
        let retried = s.enqueue_send(org, send(c2, "14155550102", "two")).unwrap();
        let refused = s.enqueue_send(org, send(c3, "14155550103", "three")).unwrap();
        let late = s.enqueue_send(org, send(c4, "14155550104", "four")).unwrap();
        let unconfigured = s.enqueue_send(org, send(c5, "14155550105", "five")).unwrap();

        let graph = GraphClient::new(GraphConfig {
            base_url: standin.url().to_owned(),
            timeout: Duration::from_millis(400),
            ..GraphConfig::default()
        })
        .unwrap();
        let dispatcher = Dispatcher::new(
            store.clone(),
            graph,
            DispatchConfig {
                base_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(40),
                ..DispatchConfig::default()
            },
        );
        // Rounds until every send has settled (sent, failed, or waiting on an unknown outcome).
        let settled = |id: Id, c: Id| message(s, org, c, id).status != MessageStatus::Sending;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(settled(ok.id, c1)
            && settled(retried.id, c2)
            && settled(refused.id, c3)
            && settled(unconfigured.id, c5))
            || dispatcher.run_once().await.unwrap() > 0
        {
            assert!(Instant::now() < deadline, "sends did not settle ({})", db.backend());
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
            dispatcher.run_once().await.unwrap();
        }

        let m = message(s, org, c1, ok.id);
        assert_eq!(m.status, MessageStatus::Sent);
        assert_eq!(
            m.wamid.as_deref(),
            Some(
                standin
                    .received()
                    .iter()
                    .find(|r| r.to == "14155550101")
                    .unwrap()
                    .wamid
                    .as_str()
            )
        );
        assert_eq!(standin.count_to("14155550101"), 1);
        assert_eq!(
            standin.received().iter().find(|r| r.to == "14155550101").unwrap().body["biz_opaque_callback_data"],
            ok.id.to_string(),
            "the message's id travels to Meta"
        );
        let m = message(s, org, c2, retried.id);
        assert_eq!(
            (m.status, standin.count_to("14155550102")),
            (MessageStatus::Sent, 1),
            "retried, sent once"
        );
        let m = message(s, org, c3, refused.id);
        assert_eq!((m.status, m.error_code), (MessageStatus::Failed, Some(131047)));
        assert!(m.error_title.as_deref().unwrap().contains("131047"));
        let m = message(s, org, c5, unconfigured.id);
        assert_eq!(m.status, MessageStatus::Failed);
        assert!(m.error_title.as_deref().unwrap().starts_with("whatsapp_not_configured"));

        // The late one: Meta took it, the worker never heard; it is not resent.
        let wait = Instant::now() + Duration::from_secs(10);
        while standin.count_to("14155550104") == 0 {
            assert!(Instant::now() < wait, "the stand-in never took the late send");
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        }
        for _ in 0..3 {
            dispatcher.run_once().await.unwrap();
        }
        assert_eq!(standin.count_to("14155550104"), 1, "an unknown outcome is not resent");
        let m = message(s, org, c4, late.id);
        assert_eq!((m.status, m.wamid.clone()), (MessageStatus::Sending, None));
        // Meta's status webhook names the message by its id: it is reconciled.
        let wamid = standin
            .received()
            .iter()
            .find(|r| r.to == "14155550104")
            .unwrap()
            .wamid
            .clone();
        let report = s
            .ingest(&[IngestEvent::Status(StatusUpdate {
                phone_number_id: PNID.into(),
                wamid: wamid.clone(),
                status: MessageStatus::Delivered,
                timestamp: Timestamp::now(),
                error_code: None,
                error_title: None,
                callback_data: Some(late.id.to_string()),
            })])
            .unwrap();
        assert_eq!(report.statuses, 1);
        let m = message(s, org, c4, late.id);
        assert_eq!(
            (m.status, m.wamid.as_deref()),
            (MessageStatus::Delivered, Some(wamid.as_str()))
        );
    }
}

/// A worker that died mid-attempt: its claim runs out, the job becomes "outcome unknown", and with
/// no status webhook it fails saying so; it is never sent again.
#[actix_web::test]
async fn an_abandoned_claim_is_never_resent_and_fails_as_unknown() {
    for db in TestDb::all() {
        let s = &db.store;
        let org = s.create_organization("Acme").unwrap().id;
        let account = s.create_account(org, PNID, "+15550783881", None).unwrap().id;
        let c = s
            .create_contact(
                org,
                NewContact {
                    phone: "+14155550101".into(),
                    ..Default::default()
                },
            )
            .unwrap()
            .contact
            .contact
            .id;
        let conv = s.open_conversation(org, account, c).unwrap().id;
        s.append_message(org, inbound(conv, "wamid.in")).unwrap();
        let queued = s.enqueue_send(org, send(conv, "14155550101", "one")).unwrap();
        let now = Timestamp::now();
        // Claimed for 1 s, then the worker "dies".
        assert_eq!(s.claim_dispatch(now, 1_000, 5_000, 10).unwrap().len(), 1);
        let after_lease = Timestamp(now.millis() + 2_000);
        assert!(
            s.claim_dispatch(after_lease, 1_000, 5_000, 10).unwrap().is_empty(),
            "not resent"
        );
        let m = message(s, org, conv, queued.id);
        assert_eq!(
            m.status,
            MessageStatus::Sending,
            "waiting for a status to say what happened"
        );
        let after_window = Timestamp(now.millis() + 8_000);
        assert!(s.claim_dispatch(after_window, 1_000, 5_000, 10).unwrap().is_empty());
        let m = message(s, org, conv, queued.id);
        assert_eq!(m.status, MessageStatus::Failed);
        assert_eq!(m.error_title.as_deref(), Some(rosetta_core::outbox::OUTCOME_UNKNOWN));
    }
}

/// Pacing puts a recipient's message past its burst back in the queue, unattempted, and sends it
/// in its turn; a 190 (Meta refused the token) fails the send and flags the account, so later sends
/// are refused as not configured until a new token is set.
#[actix_web::test]
async fn pacing_defers_without_spending_attempts_and_190_flags_the_account() {
    use rosetta_graph::pacing::PacingConfig;
    for db in TestDb::all() {
        let store: Arc<dyn Store> = Arc::new(db.instance());
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        let account = s.create_account(org, PNID, "+15550783881", None).unwrap().id;
        s.set_account_token(org, account, &AccessToken::new(TOKEN).unwrap())
            .unwrap();
        let c = s
            .create_contact(
                org,
                NewContact {
                    phone: "+14155550101".into(),
                    ..Default::default()
                },
            )
            .unwrap()
            .contact
            .contact
            .id;
        let conv = s.open_conversation(org, account, c).unwrap().id;
        s.append_message(org, inbound(conv, "wamid.in")).unwrap();
        let standin = StandIn::start("127.0.0.1:0").unwrap();
        standin.allow(PNID, TOKEN);
        let graph = GraphClient::new(GraphConfig {
            base_url: standin.url().to_owned(),
            ..GraphConfig::default()
        })
        .unwrap();
        let dispatcher = Dispatcher::new(
            store.clone(),
            graph,
            DispatchConfig {
                pacing: PacingConfig {
                    per_number: Some(1000.0),
                    recipient_burst: Some(2),
                    recipient_spacing: Duration::from_millis(300),
                },
                ..DispatchConfig::default()
            },
        );
        let sends: Vec<Id> = (0..3)
            .map(|i| {
                s.enqueue_send(org, send(conv, "14155550101", &format!("m{i}")))
                    .unwrap()
                    .id
            })
            .collect();
        assert_eq!(dispatcher.run_once().await.unwrap(), 3);
        assert_eq!(standin.count_to("14155550101"), 2, "a burst of two");
        let third = message(s, org, conv, sends[2]);
        assert_eq!(third.status, MessageStatus::Sending);
        // Not due yet: nothing to claim until its turn.
        assert_eq!(dispatcher.run_once().await.unwrap(), 0);
        let turn = Instant::now() + Duration::from_secs(10);
        while message(s, org, conv, sends[2]).status == MessageStatus::Sending {
            assert!(Instant::now() < turn, "the deferred send never went");
            dispatcher.run_once().await.unwrap();
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(standin.count_to("14155550101"), 3);
        let jobs_attempts = s.claim_dispatch(Timestamp::now(), 1_000, 5_000, 10).unwrap();
        assert!(jobs_attempts.is_empty());

        // 190: the send fails and the account is flagged.
        standin.fail("14155550101", [Fault::Code { code: 190, status: 401 }]);
        let refused = s.enqueue_send(org, send(conv, "14155550101", "m3")).unwrap();
        let give_up = Instant::now() + Duration::from_secs(10);
        while message(s, org, conv, refused.id).status == MessageStatus::Sending {
            assert!(Instant::now() < give_up, "the 190 send never settled");
            dispatcher.run_once().await.unwrap();
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        let m = message(s, org, conv, refused.id);
        assert_eq!((m.status, m.error_code), (MessageStatus::Failed, Some(190)));
        let template = SendRequest {
            recipient: Recipient::Conversation(conv),
            content: Content::Template {
                name: "hello".into(),
                language: "en_US".into(),
                components: None,
            },
            reply_to: None,
            sender_type: SenderType::Agent,
            sender_user_id: None,
            idempotency: None,
            deadline_at: Timestamp(Timestamp::now().millis() + 60_000),
        };
        assert_eq!(s.send(org, template.clone()).unwrap_err(), Error::NotConfigured);
        s.set_account_token(org, account, &AccessToken::new(TOKEN).unwrap())
            .unwrap();
        assert!(matches!(s.send(org, template).unwrap(), SendResult::Queued(_)));
    }
}

/// Two instances over one database (each its own store handle and connection pool, as two
/// processes have) dispatch one burst together: the stand-in sees each message once. On SQLite the
/// one writer serialises the claims; on PostgreSQL `FOR UPDATE SKIP LOCKED` splits them.
#[actix_web::test]
async fn two_instances_dispatch_a_burst_once() {
    use rosetta_graph::pacing::PacingConfig;
    for db in TestDb::all() {
        let first: Arc<dyn Store> = Arc::new(db.instance());
        let second: Arc<dyn Store> = Arc::new(db.instance());
        let s = first.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        let account = s.create_account(org, PNID, "+15550783881", None).unwrap().id;
        s.set_account_token(org, account, &AccessToken::new(TOKEN).unwrap())
            .unwrap();
        let standin = StandIn::start("127.0.0.1:0").unwrap();
        standin.allow(PNID, TOKEN);
        let recipients = 60;
        let conversations: Vec<Id> = (0..recipients)
            .map(|r| {
                let c = s
                    .create_contact(
                        org,
                        NewContact {
                            phone: format!("+1415556{r:04}"),
                            ..Default::default()
                        },
                    )
                    .unwrap()
                    .contact
                    .contact
                    .id;
                let conv = s.open_conversation(org, account, c).unwrap().id;
                s.append_message(org, inbound(conv, &format!("wamid.in.{r}"))).unwrap();
                conv
            })
            .collect();
        let burst = 300;
        let ids: Vec<Id> = (0..burst)
            .map(|i| {
                let r = i % recipients;
                s.enqueue_send(org, send(conversations[r], &format!("1415556{r:04}"), &format!("m{i}")))
                    .unwrap()
                    .id
            })
            .collect();
        let dispatcher = |store: &Arc<dyn Store>| {
            let graph = GraphClient::new(GraphConfig {
                base_url: standin.url().to_owned(),
                ..GraphConfig::default()
            })
            .unwrap();
            Dispatcher::new(
                store.clone(),
                graph,
                DispatchConfig {
                    batch: 20,
                    pacing: PacingConfig::off(),
                    ..DispatchConfig::default()
                },
            )
        };
        let (a, b) = (dispatcher(&first), dispatcher(&second));
        // Both run rounds at once until neither finds work.
        let run = |d: Dispatcher| async move {
            let mut attempted = 0;
            loop {
                match d.run_once().await.unwrap() {
                    0 => return attempted,
                    n => attempted += n,
                }
            }
        };
        let (by_a, by_b) = futures_util::future::join(run(a), run(b)).await;
        assert_eq!(by_a + by_b, burst, "every job attempted once ({by_a} + {by_b})");
        let received = standin.received();
        assert_eq!(received.len(), burst);
        let mut seen = std::collections::HashSet::new();
        for r in &received {
            assert!(
                seen.insert(r.body["biz_opaque_callback_data"].as_str().unwrap().to_owned()),
                "sent twice"
            );
        }
        for (i, id) in ids.iter().enumerate() {
            let m = message(s, org, conversations[i % recipients], *id);
            assert_eq!(m.status, MessageStatus::Sent);
        }
        eprintln!("two instances on {}: {by_a} + {by_b} sends", db.backend());
    }
}
