//! Webhook deliveries: the log fanned out to subscriptions once per event, claimed by one worker at a
//! time with a lease, every attempt logged, retried, failed, replayed, and the subscription's
//! consecutive failures counted and bounded. On SQLite and (when configured) PostgreSQL.

mod common;
use std::collections::HashSet;

use common::{each_backend, world};
use rosetta_core::events::{Event, Rendered, Subjects};
use rosetta_core::ingest::{InboundMessage, IngestEvent};
use rosetta_core::webhooks::*;
use rosetta_core::*;
use serde_json::json;

const PNID: &str = "106540352242922";

fn customer_says(wamid: &str, text: &str) -> IngestEvent {
    IngestEvent::Message(InboundMessage {
        phone_number_id: PNID.into(),
        wa_id: "971501234567".into(),
        profile_name: Some("Ahmed Hassan".into()),
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

/// A renderer in no product's words: the kind as the name, what the subjects say in the body.
fn render(dialect: Dialect, event: &Event, subjects: &Subjects) -> Option<Rendered> {
    (event.kind != rosetta_core::events::EventKind::ConversationReopened).then(|| Rendered {
        name: event.kind.as_str(),
        body: json!({"dialect": dialect.as_str(), "kind": event.kind.as_str(),
                     "number": subjects.phone_number_id, "from": subjects.contact_phone}),
        dedupe_key: event.id.to_string(),
        source: "test",
    })
}

fn hook(s: &dyn Store, org: Id, dialect: Dialect, events: &[&str]) -> Id {
    s.create_webhook(
        org,
        NewWebhook {
            dialect,
            url: "https://hooks.example.com/in".into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            description: None,
            is_active: true,
        },
    )
    .unwrap()
    .webhook
    .id
}

fn fan_out(s: &dyn Store) -> usize {
    s.sequence_events().unwrap();
    s.fan_out_events(&render, 1000).unwrap().deliveries
}

fn outcome(attempt: u32, status: Option<u16>, next: DeliveryNext, disable_after: u32) -> DeliveryOutcome {
    DeliveryOutcome {
        attempt,
        record: AttemptRecord {
            started_at: Timestamp::now(),
            duration_ms: 3,
            status_code: status,
            error: (status != Some(200)).then(|| "the receiver answered 500".to_owned()),
            excerpt: Some("ok".into()),
        },
        next,
        disable_after,
    }
}

#[test]
fn events_fan_out_once_per_subscription_and_only_what_it_names() {
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", PNID);
        // Made before any subscription: nobody's.
        s.ingest(&[customer_says("wamid.before", "Earlier")]).unwrap();
        let messages = hook(s, w.org, Dialect::Wacrm, &["message.received"]);
        let everything = hook(
            s,
            w.org,
            Dialect::Kirim,
            &["message.received", "conversation.created", "contact.created"],
        );
        let other = s.create_organization("Other").unwrap().id;
        let theirs = hook(s, other, Dialect::Wacrm, &["message.received"]);
        assert_eq!(fan_out(s), 0);
        s.ingest(&[customer_says("wamid.1", "Hello"), customer_says("wamid.2", "Again")])
            .unwrap();
        // wacrm's: two messages; kirim's: two messages (the contact and conversation were made
        // before it).
        assert_eq!(fan_out(s), 4);
        assert_eq!(fan_out(s), 0, "a second fan-out makes nothing");
        let list = |h: Id, d: Dialect| {
            s.list_webhook_deliveries(
                w.org,
                d,
                &DeliveryFilter {
                    webhook_id: Some(h),
                    ..Default::default()
                },
                &PageRequest::first(100),
            )
            .unwrap()
            .items
        };
        let mine = list(messages, Dialect::Wacrm);
        assert_eq!(mine.len(), 2);
        assert!(mine
            .iter()
            .all(|d| d.event_name == "message.received" && d.state == DeliveryState::Pending && d.attempts == 0));
        assert_eq!(list(everything, Dialect::Kirim).len(), 2);
        // The other organization's subscription got nothing of Acme's, and Acme's dialects see only
        // their own subscriptions' deliveries.
        assert!(s
            .list_webhook_deliveries(
                other,
                Dialect::Wacrm,
                &DeliveryFilter::default(),
                &PageRequest::first(10)
            )
            .unwrap()
            .items
            .is_empty());
        assert!(matches!(
            s.list_webhook_deliveries(
                w.org,
                Dialect::Wacrm,
                &DeliveryFilter {
                    webhook_id: Some(theirs),
                    ..Default::default()
                },
                &PageRequest::first(10)
            ),
            Err(Error::NotFound(EntityKind::Webhook))
        ));
        // The claim carries the rendered body, the subscription's URL and secret, attempt 1.
        let jobs = s
            .claim_webhook_deliveries(Timestamp::now(), 30_000, 100, 100, &[])
            .unwrap();
        assert_eq!(jobs.len(), 4);
        let job = jobs.iter().find(|j| j.webhook_id == messages).unwrap();
        assert_eq!(job.attempt, 1);
        assert_eq!(job.url, "https://hooks.example.com/in");
        assert_eq!(job.secrets.len(), 1);
        assert!(job.secrets[0].starts_with("whsec_"));
        let body: serde_json::Value = serde_json::from_str(&job.body).unwrap();
        assert_eq!(
            body,
            json!({"dialect": "wacrm", "kind": "message.received", "number": PNID, "from": "+971501234567"})
        );
        // Claimed: nobody else gets them until the lease runs out.
        assert!(s
            .claim_webhook_deliveries(Timestamp::now(), 30_000, 100, 100, &[])
            .unwrap()
            .is_empty());
        let later = Timestamp(Timestamp::now().millis() + 31_000);
        let again = s.claim_webhook_deliveries(later, 30_000, 100, 100, &[]).unwrap();
        assert_eq!(again.len(), 4, "an expired claim is due again");
        assert!(again.iter().all(|j| j.attempt == 2));
    });
}

#[test]
fn outcomes_retry_fail_disable_and_replay() {
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", PNID);
        let h = hook(s, w.org, Dialect::Kirim, &["message.received"]);
        for i in 0..3 {
            s.ingest(&[customer_says(&format!("wamid.{i}"), "Hi")]).unwrap();
        }
        assert_eq!(fan_out(s), 3);
        let now = Timestamp::now();
        let jobs = s.claim_webhook_deliveries(now, 30_000, 100, 100, &[]).unwrap();
        assert_eq!(jobs.len(), 3);
        let retry_at = Timestamp(now.millis() + 10_000);
        s.finish_webhook_deliveries(&[
            (jobs[0].id, outcome(1, Some(200), DeliveryNext::Delivered, 2)),
            (
                jobs[1].id,
                outcome(1, Some(500), DeliveryNext::Retry { at: retry_at }, 2),
            ),
            (jobs[2].id, outcome(1, Some(400), DeliveryNext::Failed, 2)),
        ])
        .unwrap();
        let detail = |d: Id| s.get_webhook_delivery(w.org, Dialect::Kirim, d).unwrap();
        let delivered = detail(jobs[0].id);
        assert_eq!(delivered.delivery.state, DeliveryState::Delivered);
        assert_eq!(delivered.delivery.last_status_code, Some(200));
        assert!(delivered.delivery.delivered_at.is_some());
        assert_eq!(delivered.attempts.len(), 1);
        assert_eq!(delivered.attempts[0].record.excerpt.as_deref(), Some("ok"));
        let waiting = detail(jobs[1].id);
        assert_eq!(waiting.delivery.state, DeliveryState::Pending);
        assert_eq!(waiting.delivery.next_attempt_at, Some(retry_at));
        assert_eq!(waiting.delivery.last_status_code, Some(500));
        assert_eq!(detail(jobs[2].id).delivery.state, DeliveryState::Failed);
        let sub = s.get_webhook(w.org, Dialect::Kirim, h).unwrap();
        assert_eq!(sub.failure_count, 1);
        assert!(sub.is_active);
        assert!(sub.last_delivery_at.is_some());
        // Not due before its time; then attempt 2.
        assert!(s
            .claim_webhook_deliveries(now, 30_000, 100, 100, &[])
            .unwrap()
            .is_empty());
        let second = s.claim_webhook_deliveries(retry_at, 30_000, 100, 100, &[]).unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].attempt, 2);
        // A stale record (attempt 1, whose lease ran out) does not move it.
        s.finish_webhook_deliveries(&[(jobs[1].id, outcome(1, Some(200), DeliveryNext::Delivered, 2))])
            .unwrap();
        assert_eq!(detail(jobs[1].id).delivery.state, DeliveryState::Pending);
        // Its failure is the second in a row: past the bound of 2, the subscription is disabled.
        s.finish_webhook_deliveries(&[(second[0].id, outcome(2, None, DeliveryNext::Failed, 2))])
            .unwrap();
        let sub = s.get_webhook(w.org, Dialect::Kirim, h).unwrap();
        assert_eq!(sub.failure_count, 2);
        assert!(!sub.is_active);
        assert_eq!(detail(jobs[1].id).attempts.len(), 2);
        // Disabled: nothing fans out, nothing is claimed, replayed or not.
        s.ingest(&[customer_says("wamid.while-off", "Anyone?")]).unwrap();
        assert_eq!(fan_out(s), 0);
        let replayed = s
            .replay_webhook_deliveries(w.org, Dialect::Kirim, &Replay::Ids(vec![jobs[2].id]))
            .unwrap();
        assert_eq!(replayed.len(), 1);
        assert_eq!(replayed[0].state, DeliveryState::Pending);
        let later = Timestamp(retry_at.millis() + 1);
        assert!(s
            .claim_webhook_deliveries(later, 30_000, 100, 100, &[])
            .unwrap()
            .is_empty());
        // Re-enabled: the count resets, what happened while off is skipped, the replay goes out as
        // attempt 2 with the same body.
        let sub = s
            .update_webhook(
                w.org,
                Dialect::Kirim,
                h,
                WebhookChanges {
                    is_active: Some(true),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(sub.failure_count, 0);
        assert_eq!(fan_out(s), 0);
        let third = s.claim_webhook_deliveries(later, 30_000, 100, 100, &[]).unwrap();
        assert_eq!(third.len(), 1);
        assert_eq!((third[0].id, third[0].attempt), (jobs[2].id, 2));
        assert_eq!(third[0].body, jobs[2].body);
        // Bulk replay by filter: the failed ones; another organization's ids are not found.
        let failed = s
            .replay_webhook_deliveries(
                w.org,
                Dialect::Kirim,
                &Replay::Matching(DeliveryFilter {
                    state: Some(DeliveryState::Failed),
                    ..Default::default()
                }),
            )
            .unwrap();
        assert_eq!(failed.iter().map(|d| d.id).collect::<Vec<_>>(), vec![jobs[1].id]);
        let other = s.create_organization("Other").unwrap().id;
        assert!(matches!(
            s.replay_webhook_deliveries(other, Dialect::Kirim, &Replay::Ids(vec![jobs[0].id])),
            Err(Error::NotFound(EntityKind::WebhookDelivery))
        ));
        assert!(matches!(
            s.get_webhook_delivery(w.org, Dialect::Wacrm, jobs[0].id),
            Err(Error::NotFound(EntityKind::WebhookDelivery))
        ));
        // Retention removes finished deliveries with their attempts, never pending ones.
        let future = Timestamp(Timestamp::now().millis() + 1_000);
        assert_eq!(s.prune_webhook_deliveries(future, 100).unwrap(), 1);
        assert!(s.get_webhook_delivery(w.org, Dialect::Kirim, jobs[0].id).is_err());
        assert!(s.get_webhook_delivery(w.org, Dialect::Kirim, jobs[1].id).is_ok());
        // Deleting the subscription removes its deliveries.
        s.delete_webhook(w.org, Dialect::Kirim, h).unwrap();
        assert!(s.get_webhook_delivery(w.org, Dialect::Kirim, jobs[1].id).is_err());
    });
}

#[test]
fn claims_spare_busy_subscriptions_and_share_the_batch() {
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", PNID);
        let slow = hook(s, w.org, Dialect::Wacrm, &["message.received"]);
        let fast = hook(s, w.org, Dialect::Envelope, &["message.received"]);
        for i in 0..10 {
            s.ingest(&[customer_says(&format!("wamid.{i}"), "Hi")]).unwrap();
        }
        assert_eq!(fan_out(s), 20);
        let now = Timestamp::now();
        let first = s.claim_webhook_deliveries(now, 30_000, 100, 3, &[]).unwrap();
        assert_eq!(first.len(), 6, "three of each");
        let second = s.claim_webhook_deliveries(now, 30_000, 100, 100, &[slow]).unwrap();
        assert_eq!(second.len(), 7);
        assert!(second.iter().all(|j| j.webhook_id == fast));
    });
}

/// Two instances over one database claiming at once: every delivery once.
#[test]
fn concurrent_claimers_take_each_delivery_once() {
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", PNID);
        hook(s, w.org, Dialect::Wacrm, &["message.received"]);
        hook(s, w.org, Dialect::Kirim, &["message.received"]);
        for i in 0..40 {
            s.ingest(&[customer_says(&format!("wamid.{i}"), "Hi")]).unwrap();
        }
        // Two fan-outs at once still make each delivery once.
        s.sequence_events().unwrap();
        let fans: Vec<_> = (0..2)
            .map(|_| {
                let instance = db.instance();
                std::thread::spawn(move || instance.fan_out_events(&render, 7).unwrap().deliveries)
            })
            .collect();
        let mut made: usize = fans.into_iter().map(|f| f.join().unwrap()).sum();
        made += s.fan_out_events(&render, 1000).unwrap().deliveries;
        assert_eq!(made, 80);
        let claimers: Vec<_> = (0..2)
            .map(|_| {
                let instance = db.instance();
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let jobs = instance
                            .claim_webhook_deliveries(Timestamp::now(), 60_000, 9, 100, &[])
                            .unwrap();
                        if jobs.is_empty() {
                            return mine;
                        }
                        mine.extend(jobs.into_iter().map(|j| j.id));
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for claimer in claimers {
            all.extend(claimer.join().unwrap());
        }
        let unique: HashSet<Id> = all.iter().copied().collect();
        assert_eq!(all.len(), unique.len(), "no delivery claimed twice");
        assert_eq!(unique.len(), 80, "every delivery claimed");
    });
}

#[test]
fn the_log_mark_follows_the_log() {
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", PNID);
        let before = s.log_mark().unwrap();
        s.ingest(&[customer_says("wamid.1", "Hello")]).unwrap();
        s.sequence_events().unwrap();
        let after = s.log_mark().unwrap();
        assert!(after.newest > before.newest);
        assert!(!after.unsequenced);
        assert_eq!(after.newest, s.newest_event(w.org).unwrap());
    });
}

/// The claim finds due deliveries through the partial index of pending ones, in due order, whatever
/// the history of delivered ones (SQLite's plan; PostgreSQL's depends on its statistics).
#[test]
fn the_claim_reads_the_index_of_pending_deliveries() {
    let db = common::TestDb::sqlite();
    let plan = db.store.explain_delivery_claim().unwrap();
    assert!(plan.contains("webhook_deliveries_due"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
}
