//! Every event kind through every dialect's renderer: changes made through the store's real paths
//! (ingest, a send and its dispatch, Meta's statuses, conversation updates, contact writes), read
//! back from the event log, rendered in wacrm's, kirim's and envelope's words (exact bodies), and
//! signed; each signature checked with an HMAC-SHA256 written here from SHA-256 alone (RFC 2104),
//! not the signer's own code. On SQLite and (when configured) PostgreSQL.

use rosetta_core::events::{Event, Subjects};
use rosetta_core::ingest::{InboundMessage, IngestEvent, StatusUpdate};
use rosetta_core::send::{Recipient, SendRequest, SendResult};
use rosetta_core::*;
use rosetta_store::testing::{Shortcuts, TestDb};
use serde_json::{json, Value};

const PNID: &str = "106540352242922";

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

fn customer_says(wamid: &str, text: &str, at: i64) -> IngestEvent {
    IngestEvent::Message(InboundMessage {
        phone_number_id: PNID.into(),
        wa_id: "971501234567".into(),
        profile_name: Some("Ahmed".into()),
        wamid: wamid.into(),
        timestamp: Timestamp::from_unix_seconds(at),
        content_type: ContentType::Text,
        body: MessageBody {
            text: Some(text.into()),
            ..Default::default()
        },
        media_sha256: None,
    })
}

fn spelled(kind: EntityKind, id: Option<Id>, spelling: Spelling) -> Value {
    id.map_or(Value::Null, |id| json!(id.render(kind, spelling)))
}
fn u(kind: EntityKind, id: Option<Id>) -> Value {
    spelled(kind, id, Spelling::Uuid)
}
fn k(kind: EntityKind, id: Option<Id>) -> Value {
    spelled(kind, id, Spelling::Kirim)
}
fn e(kind: EntityKind, id: Option<Id>) -> Value {
    spelled(kind, id, Spelling::Envelope)
}

#[test]
fn every_event_in_every_dialect() {
    for db in TestDb::all() {
        let s = db.instance();
        let org = s.create_organization("Acme").unwrap().id;
        let account = s.create_account(org, PNID, "+15550783881", None).unwrap().id;
        let agent = s.create_user(org, "Alice", "alice@acme.test").unwrap().id;
        s.set_account_token(org, account, &AccessToken::new("EAAG-events").unwrap())
            .unwrap();
        s.ingest(&[customer_says("wamid.in1", "hello", 1_779_000_000)]).unwrap();
        let conversation = s.message_by_wamid(org, "wamid.in1").unwrap().conversation_id;
        let SendResult::Queued(sent) = s
            .send(
                org,
                SendRequest {
                    recipient: Recipient::Conversation(conversation),
                    // A template: the customer's messages are older than 24 hours.
                    content: Content::Template {
                        name: "order_update".into(),
                        language: "en_US".into(),
                        components: None,
                    },
                    reply_to: None,
                    sender_type: SenderType::Agent,
                    sender_user_id: Some(agent),
                    idempotency: None,
                    deadline_at: Timestamp(i64::MAX),
                },
            )
            .unwrap()
        else {
            panic!("queued")
        };
        s.claim_dispatch(Timestamp::now(), 60_000, 600_000, 10).unwrap();
        s.finish_dispatch(
            sent.message.id,
            DispatchOutcome::Sent {
                wamid: "wamid.out1".into(),
            },
        )
        .unwrap();
        s.ingest(&[IngestEvent::Status(StatusUpdate {
            phone_number_id: PNID.into(),
            wamid: "wamid.out1".into(),
            status: MessageStatus::Failed,
            timestamp: Timestamp::now(),
            error_code: Some(131026),
            error_title: Some("Message undeliverable".into()),
            callback_data: None,
        })])
        .unwrap();
        s.assign(org, conversation, Some(agent)).unwrap();
        s.update_conversation(org, conversation, ConversationUpdate::close(None, Some(agent)))
            .unwrap();
        let contact = s.get_conversation(org, conversation).unwrap().contact.contact.id;
        s.update_contact(
            org,
            contact,
            ContactChanges {
                email: Some(Some("ahmed@example.com".into())),
                ..Default::default()
            },
        )
        .unwrap();
        s.ingest(&[customer_says("wamid.in2", "back again", 1_779_000_100)])
            .unwrap();

        s.sequence_events().unwrap();
        let events = s.events_after(org, 0, 100).unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "contact.created",
                "conversation.created",
                "message.received",
                "message.created",
                "message.status",
                "message.status",
                "conversation.assigned",
                "conversation.closed",
                "contact.updated",
                "message.received",
                "conversation.reopened",
            ]
        );
        let subjects = Subjects {
            phone_number_id: Some(PNID.into()),
            display_phone_number: Some("+15550783881".into()),
            contact_phone: Some("+971501234567".into()),
            contact_name: Some("Ahmed".into()),
        };
        let at = |ev: &Event| ev.created_at.to_rfc3339();
        let secs = |ev: &Event| (ev.created_at.millis() / 1000).to_string();
        let user_k = agent.render(EntityKind::User, Spelling::Kirim);
        let user_e = agent.render(EntityKind::User, Spelling::Envelope);
        let meta = |value: Value| {
            let mut value = value;
            value["messaging_product"] = json!("whatsapp");
            value["metadata"] = json!({"display_phone_number": "15550783881", "phone_number_id": PNID});
            json!({"object": "whatsapp_business_account",
                   "entry": [{"id": PNID, "changes": [{"field": "messages", "value": value}]}]})
        };
        // What each dialect makes of each event (None: that product has no such event).
        for (i, ev) in events.iter().enumerate() {
            let conv_u = u(EntityKind::Conversation, ev.conversation_id);
            let contact_u = u(EntityKind::Contact, ev.contact_id);
            let wacrm_event = |name: &str, data: Value| {
                json!({"id": ev.id.render(EntityKind::Event, Spelling::Uuid), "event": name,
                       "occurred_at": at(ev), "account_id": org.render(EntityKind::Organization, Spelling::Uuid),
                       "data": data})
            };
            let kirim_event = |name: &str, data: Value| {
                json!({"id": ev.id.render(EntityKind::Event, Spelling::Kirim), "type": name,
                       "created_at": at(ev), "livemode": true, "data": data})
            };
            let envelope_event = |name: &str, data: Value| {
                json!({"event": name, "timestamp": at(ev),
                       "org_id": org.render(EntityKind::Organization, Spelling::Envelope), "data": data})
            };
            let contact_k = json!({"id": k(EntityKind::Contact, ev.contact_id), "object": "contact",
                                   "phone_number": "+971501234567", "name": "Ahmed",
                                   "email": ev.data["email"]});
            let (wacrm, kirim, envelope): (Option<Value>, Option<Value>, Option<Value>) = match i {
                0 => (
                    Some(wacrm_event(
                        "contact.created",
                        json!({"contact_id": contact_u, "phone": "+971501234567", "name": "Ahmed"}),
                    )),
                    Some(kirim_event("contact.created", json!({"contact": contact_k}))),
                    Some(envelope_event(
                        "contact.created",
                        json!({"contact_id": e(EntityKind::Contact, ev.contact_id), "phone": "+971501234567",
                               "name": "Ahmed", "email": null}),
                    )),
                ),
                1 => (
                    Some(wacrm_event(
                        "conversation.created",
                        json!({"conversation_id": conv_u, "contact_id": contact_u}),
                    )),
                    None,
                    Some(envelope_event(
                        "conversation.created",
                        json!({"conversation_id": e(EntityKind::Conversation, ev.conversation_id),
                               "contact_id": e(EntityKind::Contact, ev.contact_id)}),
                    )),
                ),
                2 => (
                    Some(wacrm_event(
                        "message.received",
                        json!({"conversation_id": conv_u, "contact_id": contact_u,
                               "whatsapp_message_id": "wamid.in1", "content_type": "text", "text": "hello"}),
                    )),
                    Some(meta(json!({
                        "contacts": [{"profile": {"name": "Ahmed"}, "wa_id": "971501234567"}],
                        "messages": [{"from": "971501234567", "id": "wamid.in1", "timestamp": "1779000000",
                                      "type": "text", "text": {"body": "hello"}}],
                    }))),
                    Some(envelope_event(
                        "message.received",
                        json!({"message_id": e(EntityKind::Message, ev.message_id),
                               "conversation_id": e(EntityKind::Conversation, ev.conversation_id),
                               "from": "+971501234567", "contact_name": "Ahmed", "type": "text",
                               "content": {"text": "hello"}, "timestamp": "2026-05-17T06:40:00.000Z"}),
                    )),
                ),
                3 => (
                    None,
                    Some(kirim_event(
                        "message.created",
                        json!({"message": {"id": k(EntityKind::Message, ev.message_id), "object": "message",
                               "conversation_id": k(EntityKind::Conversation, ev.conversation_id),
                               "direction": "outbound", "type": "template", "status": "pending",
                               "wamid": null, "text": null}}),
                    )),
                    None,
                ),
                4 => (
                    Some(wacrm_event(
                        "message.status_updated",
                        json!({"whatsapp_message_id": "wamid.out1", "conversation_id": conv_u, "status": "sent"}),
                    )),
                    Some(meta(
                        json!({"statuses": [{"id": "wamid.out1", "status": "sent", "timestamp": secs(ev),
                                                   "recipient_id": "971501234567"}]}),
                    )),
                    Some(envelope_event(
                        "message.sent",
                        json!({"message_id": e(EntityKind::Message, ev.message_id),
                               "conversation_id": e(EntityKind::Conversation, ev.conversation_id),
                               "wa_message_id": "wamid.out1"}),
                    )),
                ),
                5 => (
                    Some(wacrm_event(
                        "message.status_updated",
                        json!({"whatsapp_message_id": "wamid.out1", "conversation_id": conv_u, "status": "failed"}),
                    )),
                    Some(meta(
                        json!({"statuses": [{"id": "wamid.out1", "status": "failed", "timestamp": secs(ev),
                                                   "recipient_id": "971501234567",
                                                   "errors": [{"code": 131026, "title": "Message undeliverable"}]}]}),
                    )),
                    None,
                ),
                6 => (
                    None,
                    Some(kirim_event(
                        "conversation.assigned",
                        json!({"conversation": {"id": k(EntityKind::Conversation, ev.conversation_id),
                                                "object": "conversation", "status": "open"},
                               "assignee": {"user_id": user_k, "team_id": null, "previous_user_id": null}}),
                    )),
                    Some(envelope_event(
                        "conversation.assigned",
                        json!({"conversation_id": e(EntityKind::Conversation, ev.conversation_id),
                               "contact_id": e(EntityKind::Contact, ev.contact_id),
                               "assigned_to": user_e, "previous_assignee": null}),
                    )),
                ),
                7 => (
                    Some(wacrm_event(
                        "conversation.closed",
                        json!({"conversation_id": conv_u, "contact_id": contact_u}),
                    )),
                    Some(kirim_event(
                        "conversation.closed",
                        json!({"conversation": {"id": k(EntityKind::Conversation, ev.conversation_id),
                                                "object": "conversation", "status": "resolved",
                                                "closed_by_user_id": user_k}}),
                    )),
                    Some(envelope_event(
                        "conversation.closed",
                        json!({"conversation_id": e(EntityKind::Conversation, ev.conversation_id),
                               "contact_id": e(EntityKind::Contact, ev.contact_id), "closed_by": user_e}),
                    )),
                ),
                8 => (
                    None,
                    Some(kirim_event("contact.updated", json!({"contact": contact_k}))),
                    Some(envelope_event(
                        "contact.updated",
                        json!({"contact_id": e(EntityKind::Contact, ev.contact_id), "phone": "+971501234567",
                               "name": "Ahmed", "email": "ahmed@example.com"}),
                    )),
                ),
                9 => (
                    Some(wacrm_event(
                        "message.received",
                        json!({"conversation_id": conv_u, "contact_id": contact_u,
                               "whatsapp_message_id": "wamid.in2", "content_type": "text", "text": "back again"}),
                    )),
                    Some(meta(json!({
                        "contacts": [{"profile": {"name": "Ahmed"}, "wa_id": "971501234567"}],
                        "messages": [{"from": "971501234567", "id": "wamid.in2", "timestamp": "1779000100",
                                      "type": "text", "text": {"body": "back again"}}],
                    }))),
                    Some(envelope_event(
                        "message.received",
                        json!({"message_id": e(EntityKind::Message, ev.message_id),
                               "conversation_id": e(EntityKind::Conversation, ev.conversation_id),
                               "from": "+971501234567", "contact_name": "Ahmed", "type": "text",
                               "content": {"text": "back again"}, "timestamp": "2026-05-17T06:41:40.000Z"}),
                    )),
                ),
                // Reopening is announced by none of the three products.
                10 => (None, None, None),
                _ => unreachable!(),
            };
            let got = |r: Option<rosetta_core::events::Rendered>| r.map(|r| r.body);
            assert_eq!(
                got(rosetta_wacrm::events::render(ev, &subjects)),
                wacrm,
                "wacrm, event {i}"
            );
            assert_eq!(
                got(rosetta_kirim::events::render(ev, &subjects)),
                kirim,
                "kirim, event {i}"
            );
            assert_eq!(
                got(rosetta_envelope::events::render(ev, &subjects)),
                envelope,
                "envelope, event {i}"
            );
        }

        // Dedupe keys: wacrm's body id, kirim's evt_ id or the wamid (and status), envelope's event id.
        let received = rosetta_kirim::events::render(&events[2], &subjects).unwrap();
        assert_eq!((received.dedupe_key.as_str(), received.source), ("wamid.in1", "meta"));
        let status = rosetta_kirim::events::render(&events[4], &subjects).unwrap();
        assert_eq!(status.dedupe_key, "wamid.out1.sent");
        let assigned = rosetta_kirim::events::render(&events[6], &subjects).unwrap();
        assert_eq!(
            (assigned.dedupe_key.clone(), assigned.source),
            (events[6].id.render(EntityKind::Event, Spelling::Kirim), "kirim")
        );
        assert!(assigned.dedupe_key.starts_with("evt_"));

        // Signatures, checked independently.
        let body = serde_json::to_vec(&rosetta_wacrm::events::render(&events[2], &subjects).unwrap().body).unwrap();
        let t = 1_780_000_000;
        let header = rosetta_wacrm::events::signature("whsec_wacrm", t, &body);
        let signed = [format!("{t}.").into_bytes(), body.clone()].concat();
        assert_eq!(header, format!("t={t},v1={}", hmac(b"whsec_wacrm", &signed)));
        let header = rosetta_kirim::events::signature(&["whsec_old", "whsec_new"], t, &body);
        assert_eq!(
            header,
            format!(
                "t={t},v1={},v1={}",
                hmac(b"whsec_old", &signed),
                hmac(b"whsec_new", &signed)
            )
        );
        assert_eq!(
            rosetta_envelope::events::signature("env-secret", &body),
            hmac(b"env-secret", &body)
        );
    }
}

/// One frame of an event stream.
#[derive(Debug, Clone, PartialEq)]
struct Frame {
    id: i64,
    event: String,
    data: Value,
}

/// Reads frames from a streaming body until `n` arrived (keepalives skipped), for up to 20 s.
async fn frames(body: &mut actix_web::body::BoxBody, pending: &mut String, n: usize) -> Vec<Frame> {
    use actix_web::body::MessageBody;
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while out.len() < n {
        while let Some(end) = pending.find("\n\n") {
            let raw: String = pending.drain(..end + 2).collect();
            if raw.starts_with(':') {
                continue;
            }
            let field = |name: &str| {
                raw.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .unwrap_or_default()
                    .to_owned()
            };
            out.push(Frame {
                id: field("id").parse().unwrap_or(-1),
                event: field("event"),
                data: serde_json::from_str(&field("data")).unwrap_or(Value::Null),
            });
        }
        if out.len() >= n {
            break;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let chunk = actix_web::rt::time::timeout(
            left,
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_next(cx)),
        )
        .await
        .unwrap_or_else(|_| panic!("only {} of {n} frames came: {out:?}", out.len()));
        match chunk {
            Some(Ok(bytes)) => pending.push_str(std::str::from_utf8(&bytes).unwrap()),
            other => panic!("the stream ended: {other:?}"),
        }
    }
    out
}

async fn open(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    uri: &str,
    headers: &[(&str, String)],
) -> (u16, actix_web::body::BoxBody) {
    let mut req = actix_web::test::TestRequest::get().uri(uri);
    for (name, value) in headers {
        req = req.insert_header((*name, value.as_str()));
    }
    let resp = actix_web::test::call_service(app, req.to_request()).await;
    let status = resp.status().as_u16();
    (status, resp.into_body())
}

/// Each dialect's live stream: the organization's events in the dialect's words, resumed after
/// `Last-Event-ID` with nothing missed and nothing repeated; without it, from what happens next;
/// another organization's events never appear; a bad `Last-Event-ID` is the dialect's 400.
#[actix_web::test]
async fn streams_resume_without_gap_or_repeat_in_every_dialect() {
    for db in TestDb::all() {
        let (store, state) = rosetta_testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        s.create_account(org, PNID, "+15550783881", None).unwrap();
        let other = s.create_organization("Other").unwrap().id;
        s.create_account(other, "106540352249999", "+15550783882", None)
            .unwrap();
        let watcher = rosetta_testkit::sequence_events(&state);
        let app = rosetta_testkit::app(state.clone(), rosetta_testkit::Dialects::all()).await;
        let key = |style| rosetta_testkit::key(s, org, style, None).secret;
        let kirim = vec![(
            "Authorization",
            format!("Bearer {}", key(rosetta_core::key::KeyStyle::Kirim)),
        )];
        let wacrm = vec![(
            "Authorization",
            format!("Bearer {}", key(rosetta_core::key::KeyStyle::Wacrm)),
        )];
        let envelope = vec![
            (
                "Authorization",
                format!("Bearer {}", key(rosetta_core::key::KeyStyle::Envelope)),
            ),
            ("x-org-id", org.render(EntityKind::Organization, Spelling::Envelope)),
        ];
        let now = Timestamp::now().millis() / 1000;
        // Another organization's customer writes too: never in these streams.
        let mut elsewhere = customer_says("wamid.other", "not yours", now);
        if let IngestEvent::Message(m) = &mut elsewhere {
            m.phone_number_id = "106540352249999".into();
        }
        s.ingest(&[customer_says("wamid.1", "one", now), elsewhere]).unwrap();
        s.ingest(&[customer_says("wamid.2", "two", now)]).unwrap();

        // kirim, from the start: the contact, then each message (kirim has no conversation.created).
        let mut pending = String::new();
        let (status, mut body) = open(
            &app,
            "/v1/events/stream",
            &[kirim.clone(), vec![("Last-Event-ID", "0".into())]].concat(),
        )
        .await;
        assert_eq!(status, 200);
        let first = frames(&mut body, &mut pending, 3).await;
        let names: Vec<&str> = first.iter().map(|f| f.event.as_str()).collect();
        assert_eq!(names, ["contact.created", "message.received", "message.received"]);
        assert_eq!(
            first[1].data["entry"][0]["changes"][0]["value"]["messages"][0]["id"],
            "wamid.1"
        );
        drop(body);

        // Disconnected; more happens; resumed after the last id: exactly what came after.
        s.ingest(&[customer_says("wamid.3", "three", now)]).unwrap();
        s.ingest(&[customer_says("wamid.4", "four", now)]).unwrap();
        let last = first.last().unwrap().id;
        let mut pending = String::new();
        let (_, mut body) = open(
            &app,
            "/v1/events/stream",
            &[kirim.clone(), vec![("Last-Event-ID", last.to_string())]].concat(),
        )
        .await;
        let next = frames(&mut body, &mut pending, 2).await;
        let wamids: Vec<&Value> = next
            .iter()
            .map(|f| &f.data["entry"][0]["changes"][0]["value"]["messages"][0]["id"])
            .collect();
        assert_eq!(wamids, [&json!("wamid.3"), &json!("wamid.4")]);
        assert!(next.iter().all(|f| f.id > last), "nothing repeated");
        drop(body);

        // wacrm, from the start by query: every event of its kinds, in order, the same ids.
        let mut pending = String::new();
        let (_, mut body) = open(&app, "/api/v1/events/stream?last_event_id=0", &wacrm).await;
        let all = frames(&mut body, &mut pending, 6).await;
        let names: Vec<&str> = all.iter().map(|f| f.event.as_str()).collect();
        assert_eq!(
            names,
            [
                "contact.created",
                "conversation.created",
                "message.received",
                "message.received",
                "message.received",
                "message.received"
            ]
        );
        assert!(all.windows(2).all(|p| p[0].id < p[1].id));
        assert!(all
            .iter()
            .all(|f| f.data["account_id"] == org.render(EntityKind::Organization, Spelling::Uuid)));
        drop(body);

        // envelope, without Last-Event-ID: only what happens next.
        let mut pending = String::new();
        let (_, mut body) = open(&app, "/api/whatsapp/events/stream", &envelope).await;
        // Its start was fixed when it was answered: a change made after comes through.
        s.ingest(&[customer_says("wamid.5", "five", now)]).unwrap();
        let live = frames(&mut body, &mut pending, 1).await;
        assert_eq!(live[0].event, "message.received");
        assert_eq!(live[0].data["data"]["content"], json!({"text": "five"}));
        drop(body);

        // A Last-Event-ID that is not one: each dialect's 400.
        let bad = vec![("Last-Event-ID", "yesterday".to_owned())];
        let (status, _) = open(&app, "/v1/events/stream", &[kirim.clone(), bad.clone()].concat()).await;
        assert_eq!(status, 400);
        let (status, _) = open(&app, "/api/v1/events/stream", &[wacrm.clone(), bad.clone()].concat()).await;
        assert_eq!(status, 400);
        let (status, _) = open(&app, "/api/whatsapp/events/stream", &[envelope.clone(), bad].concat()).await;
        assert_eq!(status, 400);
        let (status, _) = open(&app, "/api/v1/events/stream", &[]).await;
        assert_eq!(status, 401);
        watcher.abort();
    }
}

/// Two instances over one database, each with its own log watcher: a change made through one
/// reaches a stream held by the other within a second (measured; the watcher reads the log's end
/// every 10 ms).
#[actix_web::test]
async fn a_change_through_one_instance_reaches_a_stream_on_another() {
    for db in TestDb::all() {
        let (store, here) = rosetta_testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        s.create_account(org, PNID, "+15550783881", None).unwrap();
        let (there_store, there) = rosetta_testkit::state(&db);
        // Stopped at the end of this database's turn (a watcher left running would read a
        // database that is gone).
        let watchers = [
            actix_web::rt::spawn(rosetta_http::events::sequencer(here.clone())),
            actix_web::rt::spawn(rosetta_http::events::sequencer(there.clone())),
        ];
        let app = rosetta_testkit::app(here.clone(), rosetta_testkit::Dialects::all()).await;
        let auth = vec![(
            "Authorization",
            format!(
                "Bearer {}",
                rosetta_testkit::key(s, org, rosetta_core::key::KeyStyle::Kirim, None).secret
            ),
        )];
        let (status, mut body) = open(&app, "/v1/events/stream", &auth).await;
        assert_eq!(status, 200);
        let now = Timestamp::now().millis() / 1000;
        let started = std::time::Instant::now();
        // Written through the other instance's store (another pool; on PostgreSQL its watcher
        // places the events).
        let other = there_store.clone();
        actix_web::rt::task::spawn_blocking(move || other.ingest(&[customer_says("wamid.x", "hi", now)]).unwrap())
            .await
            .unwrap();
        let mut pending = String::new();
        let got = frames(&mut body, &mut pending, 2).await;
        let took = started.elapsed();
        assert_eq!(got[1].event, "message.received");
        assert!(took < std::time::Duration::from_secs(1), "{}: {took:?}", db.backend());
        eprintln!(
            "{}: a change through another instance reached the stream in {took:?}",
            db.backend()
        );
        drop(body);
        for w in watchers {
            w.abort();
        }
    }
}
