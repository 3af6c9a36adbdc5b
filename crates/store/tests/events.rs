//! The event log (the transactional outbox of events out): every change a product announces writes
//! its event in the transaction that made it, whichever path made it (ingest, a send and its
//! dispatch, a conversation update, the contact writes); a change that fails writes none; each
//! organization sees only its own. On SQLite and (when configured) PostgreSQL.

mod common;
use common::{each_backend, world};

use rosetta_core::events::{Event, EventKind};
use rosetta_core::ingest::{InboundMessage, IngestEvent, StatusUpdate};
use rosetta_core::send::{Recipient, SendRequest, SendResult};
use rosetta_core::*;
use serde_json::json;

const PNID: &str = "106540352242922";

fn customer_says(wamid: &str, name: &str, text: &str) -> IngestEvent {
    IngestEvent::Message(InboundMessage {
        phone_number_id: PNID.into(),
        wa_id: "971501234567".into(),
        profile_name: Some(name.into()),
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

fn status(wamid: &str, status: MessageStatus) -> IngestEvent {
    IngestEvent::Status(StatusUpdate {
        phone_number_id: PNID.into(),
        wamid: wamid.into(),
        status,
        timestamp: Timestamp::now(),
        error_code: None,
        error_title: None,
        callback_data: None,
    })
}

/// The events after `pos` (sequenced first, as `serve`'s sequencer does), and the last position.
fn since(s: &dyn Store, org: Id, pos: &mut i64) -> Vec<Event> {
    s.sequence_events().unwrap();
    let events = s.events_after(org, *pos, 1000).unwrap();
    if let Some(last) = events.last() {
        assert!(last.pos > *pos);
        *pos = last.pos;
    }
    events
}

fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

#[test]
fn every_change_writes_its_event_with_it() {
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", PNID);
        let mut seq = 0;
        s.set_account_token(w.org, w.account, &AccessToken::new("EAAG-events").unwrap())
            .unwrap();

        // A customer's first message: its contact, its conversation, the message, in that order.
        s.ingest(&[customer_says("wamid.1", "Ahmed", "hello")]).unwrap();
        let events = since(s, w.org, &mut seq);
        assert_eq!(
            kinds(&events),
            ["contact.created", "conversation.created", "message.received"]
        );
        let message = s.message_by_wamid(w.org, "wamid.1").unwrap();
        let received = &events[2];
        assert_eq!(
            (received.message_id, received.conversation_id, received.account_id),
            (Some(message.id), Some(message.conversation_id), Some(w.account))
        );
        assert_eq!(received.contact_id, events[0].contact_id);
        assert_eq!(
            (
                &received.data["direction"],
                &received.data["text"],
                &received.data["wamid"],
                &received.data["status"]
            ),
            (
                &json!("inbound"),
                &json!("hello"),
                &json!("wamid.1"),
                &json!("received")
            )
        );
        assert_eq!(events[0].data["name"], "Ahmed");
        let conversation = message.conversation_id;

        // Redelivered: nothing changed, nothing announced. A new profile name updates the contact.
        s.ingest(&[customer_says("wamid.1", "Ahmed", "hello")]).unwrap();
        assert!(since(s, w.org, &mut seq).is_empty());
        s.ingest(&[customer_says("wamid.2", "Ahmed H.", "still there?")])
            .unwrap();
        assert_eq!(
            kinds(&since(s, w.org, &mut seq)),
            ["contact.updated", "message.received"]
        );

        // A send, its dispatch, Meta's statuses.
        let request = SendRequest {
            recipient: Recipient::Conversation(conversation),
            content: Content::Text {
                body: "Hi Ahmed".into(),
                preview_url: false,
            },
            reply_to: None,
            sender_type: SenderType::Agent,
            sender_user_id: Some(w.agent),
            idempotency: None,
            deadline_at: Timestamp(i64::MAX),
        };
        let SendResult::Queued(sent) = s.send(w.org, request).unwrap() else {
            panic!("queued")
        };
        let events = since(s, w.org, &mut seq);
        assert_eq!(kinds(&events), ["message.created"]);
        assert_eq!(
            (&events[0].data["status"], &events[0].data["sender_user_id"]),
            (&json!("sending"), &json!(w.agent.to_string()))
        );
        let jobs = s.claim_dispatch(Timestamp::now(), 60_000, 600_000, 10).unwrap();
        assert_eq!(jobs.len(), 1);
        s.finish_dispatch(
            sent.message.id,
            DispatchOutcome::Sent {
                wamid: "wamid.out".into(),
            },
        )
        .unwrap();
        s.ingest(&[status("wamid.out", MessageStatus::Delivered)]).unwrap();
        s.ingest(&[status("wamid.out", MessageStatus::Delivered)]).unwrap();
        s.ingest(&[status("wamid.out", MessageStatus::Read)]).unwrap();
        let events = since(s, w.org, &mut seq);
        assert_eq!(kinds(&events), ["message.status", "message.status", "message.status"]);
        let moves: Vec<_> = events
            .iter()
            .map(|e| {
                (
                    e.data["previous_status"].as_str().unwrap(),
                    e.data["status"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            moves,
            [("sending", "sent"), ("sent", "delivered"), ("delivered", "read")]
        );
        assert_eq!(events[0].data["wamid"], "wamid.out");

        // A send Meta refuses: failed, with Meta's code.
        let request = SendRequest {
            recipient: Recipient::Conversation(conversation),
            content: Content::Text {
                body: "again".into(),
                preview_url: false,
            },
            reply_to: None,
            sender_type: SenderType::Bot,
            sender_user_id: None,
            idempotency: None,
            deadline_at: Timestamp(i64::MAX),
        };
        let SendResult::Queued(refused) = s.send(w.org, request).unwrap() else {
            panic!("queued")
        };
        s.claim_dispatch(Timestamp::now(), 60_000, 600_000, 10).unwrap();
        s.finish_dispatch(
            refused.message.id,
            DispatchOutcome::Failed {
                code: Some(131026),
                title: "Message undeliverable".into(),
            },
        )
        .unwrap();
        let events = since(s, w.org, &mut seq);
        assert_eq!(kinds(&events), ["message.created", "message.status"]);
        assert_eq!(
            events[1].data["error"],
            json!({"code": 131026, "message": "Message undeliverable"})
        );

        // Conversation changes: assigned, closed; an inbound message reopens it.
        s.update_conversation(w.org, conversation, ConversationUpdate::assign(Some(w.agent)))
            .unwrap();
        s.update_conversation(w.org, conversation, ConversationUpdate::assign(Some(w.agent)))
            .unwrap();
        s.update_conversation(w.org, conversation, ConversationUpdate::close(None, Some(w.agent2)))
            .unwrap();
        let events = since(s, w.org, &mut seq);
        assert_eq!(kinds(&events), ["conversation.assigned", "conversation.closed"]);
        assert_eq!(
            (&events[0].data["assignee_id"], &events[0].data["previous_assignee_id"]),
            (&json!(w.agent.to_string()), &json!(null))
        );
        assert_eq!(events[1].data["closed_by"], json!(w.agent2.to_string()));
        s.ingest(&[customer_says("wamid.3", "Ahmed H.", "one more thing")])
            .unwrap();
        assert_eq!(
            kinds(&since(s, w.org, &mut seq)),
            ["message.received", "conversation.reopened"]
        );

        // Contacts through the API: created; an update that changes nothing announces nothing.
        let made = s
            .create_contact(
                w.org,
                NewContact {
                    phone: "+14155550123".into(),
                    name: Some("Jane".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        let jane = made.contact.contact.id;
        s.update_contact(w.org, jane, ContactChanges::default()).unwrap();
        s.update_contact(
            w.org,
            jane,
            ContactChanges {
                name: Some(Some("Jane Doe".into())),
                ..Default::default()
            },
        )
        .unwrap();
        let events = since(s, w.org, &mut seq);
        assert_eq!(kinds(&events), ["contact.created", "contact.updated"]);
        assert_eq!(events[1].data["name"], "Jane Doe");

        // A change that fails writes no event: a delivery with one bad message is refused whole.
        let bad = IngestEvent::Message(InboundMessage {
            wa_id: "not a phone".into(),
            ..match customer_says("wamid.5", "X", "x") {
                IngestEvent::Message(m) => m,
                _ => unreachable!(),
            }
        });
        assert!(s.ingest(&[customer_says("wamid.4", "Zed", "hi"), bad]).is_err());
        assert!(since(s, w.org, &mut seq).is_empty());

        // Every event once, in order, with distinct ids; another organization sees none of them.
        let all = s.events_after(w.org, 0, 1000).unwrap();
        assert!(all.windows(2).all(|p| p[0].pos < p[1].pos));
        assert_eq!(s.newest_event(w.org).unwrap(), all.last().unwrap().pos);
        let mut ids: Vec<Id> = all.iter().map(|e| e.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all.len());
        assert!(all
            .iter()
            .all(|e| e.org_id == w.org && EventKind::parse(e.kind.as_str()) == Some(e.kind)));
        let other = world(s, "Other", "106540352242999");
        assert!(s.events_after(other.org, 0, 1000).unwrap().is_empty());
    });
}

/// The sequencer never lets a reader pass an event whose transaction commits late: on PostgreSQL an
/// event inserted first (a lower `seq`) by a transaction that commits after a later one is given a
/// position after everything a reader has already seen. (SQLite has one writer: no such interleaving.)
#[test]
fn a_late_commit_is_never_skipped() {
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Binary};
    let Some(db) = rosetta_store::testing::TestDb::postgres() else {
        return;
    };
    let s = &db.store;
    let w = world(s, "Acme", PNID);
    let mut slow = diesel::PgConnection::establish(&db.url).unwrap();
    diesel::connection::SimpleConnection::batch_execute(&mut slow, "BEGIN").unwrap();
    diesel::sql_query(
        "INSERT INTO events (id, org_id, kind, data, created_at) VALUES ($1, $2, 'contact.updated', '{}', $3)",
    )
    .bind::<Binary, _>(Id::new().to_bytes().to_vec())
    .bind::<Binary, _>(w.org.to_bytes().to_vec())
    .bind::<BigInt, _>(Timestamp::now().millis())
    .execute(&mut slow)
    .unwrap();
    // A change that commits while the first transaction is still open.
    s.create_contact(
        w.org,
        NewContact {
            phone: "+14155550123".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let mut pos = 0;
    let seen = since(s, w.org, &mut pos);
    assert_eq!(kinds(&seen), ["contact.created"]);
    diesel::connection::SimpleConnection::batch_execute(&mut slow, "COMMIT").unwrap();
    let late = since(s, w.org, &mut pos);
    assert_eq!(
        kinds(&late),
        ["contact.updated"],
        "the late commit comes after, not lost behind"
    );
}

/// Retention removes old placed events only, every organization's, in batches.
#[test]
fn retention_removes_old_events() {
    each_backend(|db| {
        let s = &db.store;
        let w = world(s, "Acme", PNID);
        s.ingest(&[customer_says("wamid.1", "Ahmed", "hello")]).unwrap();
        let mut pos = 0;
        assert_eq!(since(s, w.org, &mut pos).len(), 3);
        // Not yet placed (PostgreSQL, until the sequencer runs): kept, whatever its age. SQLite
        // places each event as it is written.
        s.ingest(&[customer_says("wamid.2", "Ahmed", "again")]).unwrap();
        let waiting = s.log_mark().unwrap().unsequenced;
        assert_eq!(waiting, db.backend() == "postgres");
        let later = Timestamp(Timestamp::now().millis() + 60_000);
        assert_eq!(s.prune_events(later, 2).unwrap(), 2);
        assert_eq!(s.prune_events(later, 1000).unwrap(), if waiting { 1 } else { 2 });
        assert_eq!(s.prune_events(later, 1000).unwrap(), 0);
        let left = since(s, w.org, &mut pos);
        if waiting {
            assert_eq!(kinds(&left), ["message.received"], "the unplaced one stayed");
        }
        assert_eq!(
            s.prune_events(Timestamp(0), 1000).unwrap(),
            0,
            "nothing is older than the epoch"
        );
    });
}
