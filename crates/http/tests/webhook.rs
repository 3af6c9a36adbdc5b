//! `/webhooks/whatsapp` end to end against a real store (SQLite, and PostgreSQL when
//! `ROSETTA_TEST_DATABASE_URL` is set).

use rosetta_store::testing::Shortcuts;
use std::sync::Arc;

use actix_web::{test, web, App};
use rosetta_core::*;
use rosetta_http::webhook::{self, sign, WebhookConfig};
use rosetta_http::AppState;
use rosetta_store::DieselStore;
use serde_json::{json, Value};

const SECRET: &str = "app-secret-1";
const PNID: &str = "106540352242922";

async fn each_backend<F, Fut>(test: F)
where
    F: Fn(Arc<DieselStore>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for db in rosetta_store::testing::TestDb::all() {
        let store = Arc::new(DieselStore::open(&db.url).unwrap());
        test(store).await;
    }
}

fn org_with_account(store: &DieselStore) -> Id {
    let org = store.create_organization("Acme").unwrap().id;
    store
        .create_account(org, PNID, "+15550783881", Some("Support"))
        .unwrap();
    org
}

fn delivery(changes: Vec<Value>) -> Vec<u8> {
    let changes: Vec<Value> = changes
        .into_iter()
        .map(|value| json!({"field": "messages", "value": value}))
        .collect();
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA_ID", "changes": changes}]})
        .to_string()
        .into_bytes()
}

fn text_change(pnid: &str, wa_id: &str, name: &str, wamid: &str, text: &str, ts: i64) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": pnid},
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
        "messages": [{"from": wa_id, "id": wamid, "timestamp": ts.to_string(), "type": "text", "text": {"body": text}}]
    })
}

fn status_change(wamid: &str, status: &str, ts: i64) -> Value {
    let mut s = json!({"id": wamid, "status": status, "timestamp": ts.to_string(), "recipient_id": "16505551234"});
    if status == "failed" {
        s["errors"] = json!([{"code": 131026, "title": "Message undeliverable"}]);
    }
    json!({"metadata": {"display_phone_number": "15550783881", "phone_number_id": PNID}, "statuses": [s]})
}

macro_rules! app {
    ($store:expr, $config:expr) => {
        test::init_service(
            App::new()
                .app_data(web::Data::new(AppState::new($store.clone() as Arc<dyn Store>)))
                .configure(webhook::routes($config)),
        )
        .await
    };
}

async fn post(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    body: &[u8],
    signature: Option<String>,
) -> (u16, Value) {
    let mut req = test::TestRequest::post()
        .uri("/webhooks/whatsapp")
        .insert_header(("content-type", "application/json"))
        .set_payload(body.to_vec());
    if let Some(sig) = signature {
        req = req.insert_header(("x-hub-signature-256", sig));
    }
    let resp = test::call_service(app, req.to_request()).await;
    let status = resp.status().as_u16();
    let bytes = test::read_body(resp).await;
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn config() -> WebhookConfig {
    WebhookConfig::new(Some(&format!("old-secret, {SECRET}")), Some("verify-me"))
}

fn conversations(store: &DieselStore, org: Id) -> Vec<ConversationDetail> {
    store
        .list_conversations(
            org,
            &ConversationFilter::default(),
            ConversationOrder::CreatedDesc,
            &PageRequest::first(100),
        )
        .unwrap()
        .items
}

fn messages(store: &DieselStore, org: Id, conversation: Id) -> Vec<Message> {
    store
        .list_messages(org, conversation, &PageRequest::first(100))
        .unwrap()
        .items
}

#[actix_web::test]
async fn handshake() {
    let db = rosetta_store::testing::TestDb::sqlite();
    let store = Arc::new(DieselStore::open(&db.url).unwrap());
    let app = app!(store, config());
    let get = |q: &str| {
        test::TestRequest::get()
            .uri(&format!("/webhooks/whatsapp{q}"))
            .to_request()
    };
    let ok = test::call_service(
        &app,
        get("?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444"),
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert!(ok
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(test::read_body(ok).await, "1158201444");
    let wrong = test::call_service(&app, get("?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1")).await;
    assert_eq!(wrong.status(), 403);
    assert_eq!(
        test::read_body(wrong).await,
        r#"{"error":{"code":"forbidden","message":"Verification token does not match"}}"#
    );
    assert_eq!(
        test::call_service(&app, get("?hub.mode=subscribe&hub.challenge=1"))
            .await
            .status(),
        400
    );
    assert_eq!(test::call_service(&app, get("")).await.status(), 400);
    // No verify token configured: every handshake is refused.
    let closed = app!(store, WebhookConfig::new(Some(SECRET), None));
    assert_eq!(
        test::call_service(&closed, get("?hub.mode=subscribe&hub.verify_token=&hub.challenge=1"))
            .await
            .status(),
        403
    );
}

#[actix_web::test]
async fn signatures_fail_closed() {
    each_backend(|store| async move {
        let org = org_with_account(&store);
        let app = app!(store, config());
        let body = delivery(vec![text_change(
            PNID,
            "16505551234",
            "Sheena Nelson",
            "wamid.A",
            "hi",
            1749416383,
        )]);
        let (status, answer) = post(&app, &body, None).await;
        assert_eq!(
            (status, answer),
            (
                401,
                json!({"error": {"code": "unauthorized", "message": "Missing or invalid X-Hub-Signature-256"}})
            )
        );
        assert_eq!(post(&app, &body, Some(sign("wrong", &body))).await.0, 401);
        assert_eq!(post(&app, &body, Some("sha256=zz".into())).await.0, 401);
        // Signed over other bytes.
        assert_eq!(post(&app, &body, Some(sign(SECRET, b"{}"))).await.0, 401);
        assert!(conversations(&store, org).is_empty(), "nothing stored");
        // The old secret of a rotation still works, and so does the new one.
        assert_eq!(post(&app, &body, Some(sign("old-secret", &body))).await.0, 200);
        // No secret configured at all: refused even with a signature.
        let closed = app!(store, WebhookConfig::new(None, Some("verify-me")));
        let other = delivery(vec![text_change(PNID, "16505559999", "X", "wamid.B", "hi", 1749416383)]);
        assert_eq!(post(&closed, &other, Some(sign(SECRET, &other))).await.0, 401);
        assert_eq!(conversations(&store, org).len(), 1);
    })
    .await;
}

#[actix_web::test]
async fn inbound_message_makes_contact_and_conversation() {
    each_backend(|store| async move {
        let org = org_with_account(&store);
        let app = app!(store, config());
        let body = delivery(vec![text_change(PNID, "16505551234", "Sheena Nelson", "wamid.A", "When will my order arrive?", 1749416383)]);
        let (status, answer) = post(&app, &body, Some(sign(SECRET, &body))).await;
        assert_eq!(status, 200);
        assert_eq!(answer, json!({"received": 1, "messages": 1, "duplicates": 0, "statuses": 0, "statuses_ignored": 0, "unknown_phone_number_ids": []}));
        let list = conversations(&store, org);
        assert_eq!(list.len(), 1);
        let d = &list[0];
        assert_eq!((d.contact.contact.phone.as_str(), d.contact.contact.name.as_deref()), ("+16505551234", Some("Sheena Nelson")));
        let c = &d.conversation;
        assert_eq!((c.status, c.unread_count, c.last_message_text.as_deref()), (ConversationStatus::Open, 1, Some("When will my order arrive?")));
        assert_eq!(c.last_message_at, Some(Timestamp::from_unix_seconds(1749416383)));
        assert_eq!(c.last_inbound_at, c.last_message_at);
        let m = &messages(&store, org, c.id)[0];
        assert_eq!((m.direction, m.sender_type, m.status, m.wamid.as_deref()), (Direction::Inbound, SenderType::Customer, MessageStatus::Received, Some("wamid.A")));

        // Redelivery: 200, nothing new, no second unread.
        let (status, answer) = post(&app, &body, Some(sign(SECRET, &body))).await;
        assert_eq!((status, answer["duplicates"].as_u64()), (200, Some(1)));
        assert_eq!(conversations(&store, org)[0].conversation.unread_count, 1);
        assert_eq!(messages(&store, org, c.id).len(), 1);

        // The profile name changed; the conversation was closed: it reopens.
        store.close(org, c.id, None, None).unwrap();
        let body = delivery(vec![text_change(PNID, "16505551234", "Sheena N.", "wamid.B", "Hello?", 1749416483)]);
        assert_eq!(post(&app, &body, Some(sign(SECRET, &body))).await.0, 200);
        let d = &conversations(&store, org)[0];
        assert_eq!((d.conversation.status, d.conversation.unread_count, d.contact.contact.name.as_deref()), (ConversationStatus::Open, 2, Some("Sheena N.")));
        assert_eq!(d.conversation.closed_at, None);
    })
    .await;
}

#[actix_web::test]
async fn every_message_type_is_kept() {
    each_backend(|store| async move {
        let org = org_with_account(&store);
        let app = app!(store, config());
        let kinds = vec![
            json!({"type": "image", "image": {"id": "M1", "mime_type": "image/jpeg", "caption": "photo"}}),
            json!({"type": "document", "document": {"id": "M2", "mime_type": "application/pdf", "filename": "invoice.pdf"}}),
            json!({"type": "audio", "audio": {"id": "M3", "mime_type": "audio/ogg"}}),
            json!({"type": "video", "video": {"id": "M4", "mime_type": "video/mp4"}}),
            json!({"type": "sticker", "sticker": {"id": "M5", "mime_type": "image/webp"}}),
            json!({"type": "location", "location": {"latitude": 25.1972, "longitude": 55.2744, "name": "Dubai Mall", "address": "Downtown Dubai"}}),
            json!({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}}}),
            json!({"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": "ret", "title": "Returns"}}}),
            json!({"type": "button", "button": {"text": "Confirm", "payload": "CONFIRM"}}),
            json!({"type": "reaction", "reaction": {"message_id": "wamid.T0", "emoji": "👍"}}),
            json!({"type": "text", "text": {"body": "replying"}, "context": {"from": "15550783881", "id": "wamid.T0"}}),
            json!({"type": "order", "order": {"catalog_id": "1"}}),
        ];
        let mut msgs = vec![json!({"from": "16505551234", "id": "wamid.T0", "timestamp": "1749416000", "type": "text", "text": {"body": "first"}})];
        for (i, mut k) in kinds.into_iter().enumerate() {
            k["from"] = json!("16505551234");
            k["id"] = json!(format!("wamid.T{}", i + 1));
            k["timestamp"] = json!((1749416001 + i as i64).to_string());
            msgs.push(k);
        }
        let body = delivery(vec![json!({"metadata": {"phone_number_id": PNID}, "contacts": [{"profile": {"name": "Sheena"}, "wa_id": "16505551234"}], "messages": msgs})]);
        let (status, answer) = post(&app, &body, Some(sign(SECRET, &body))).await;
        assert_eq!((status, answer["messages"].as_u64()), (200, Some(13)));
        let conv = conversations(&store, org)[0].conversation.clone();
        assert_eq!(conv.unread_count, 13);
        let stored = messages(&store, org, conv.id);
        let by = |w: &str| stored.iter().find(|m| m.wamid.as_deref() == Some(w)).unwrap().clone();
        let first = by("wamid.T0");
        assert_eq!(by("wamid.T1").body.media_id.as_deref(), Some("M1"));
        assert_eq!(by("wamid.T1").body.text.as_deref(), Some("photo"));
        assert_eq!(by("wamid.T2").body.filename.as_deref(), Some("invoice.pdf"));
        assert_eq!(by("wamid.T5").content_type, ContentType::Sticker);
        assert_eq!(by("wamid.T6").body.location_address.as_deref(), Some("Downtown Dubai"));
        assert_eq!(by("wamid.T7").body.interactive_reply_id.as_deref(), Some("yes"));
        assert_eq!(by("wamid.T8").body.interactive_reply_title.as_deref(), Some("Returns"));
        assert_eq!(by("wamid.T9").body.button_payload.as_deref(), Some("CONFIRM"));
        assert_eq!((by("wamid.T10").content_type, by("wamid.T10").body.reaction_emoji.as_deref()), (ContentType::Reaction, Some("👍")));
        assert_eq!(by("wamid.T11").body.reply_to_message_id, Some(first.id));
        assert_eq!((by("wamid.T12").content_type, by("wamid.T12").body.raw_type.as_deref()), (ContentType::Unsupported, Some("order")));
    })
    .await;
}

#[actix_web::test]
async fn statuses_only_move_forward() {
    each_backend(|store| async move {
        let org = org_with_account(&store);
        let app = app!(store, config());
        let inbound = delivery(vec![text_change(
            PNID,
            "16505551234",
            "Sheena",
            "wamid.IN",
            "hi",
            1749416000,
        )]);
        post(&app, &inbound, Some(sign(SECRET, &inbound))).await;
        let conv = conversations(&store, org)[0].conversation.id;
        for wamid in ["wamid.OUT1", "wamid.OUT2"] {
            store
                .append_message(
                    org,
                    NewMessage {
                        conversation_id: conv,
                        wamid: Some(wamid.into()),
                        direction: Direction::Outbound,
                        sender_type: SenderType::Agent,
                        sender_user_id: None,
                        content_type: ContentType::Text,
                        body: MessageBody {
                            text: Some("On its way".into()),
                            ..Default::default()
                        },
                        status: MessageStatus::Sending,
                        created_at: Timestamp::from_unix_seconds(1749416100),
                    },
                )
                .unwrap();
        }
        let status_of = |w: &str| {
            messages(&store, org, conv)
                .into_iter()
                .find(|m| m.wamid.as_deref() == Some(w))
                .unwrap()
        };
        let send = |changes: Vec<Value>| {
            let body = delivery(changes);
            let sig = sign(SECRET, &body);
            (body, sig)
        };
        // read arrives before delivered (delivered may also be skipped): read wins, delivered is ignored.
        for (status, expected) in [
            ("sent", "sent"),
            ("read", "read"),
            ("delivered", "read"),
            ("sent", "read"),
            ("failed", "read"),
        ] {
            let (body, sig) = send(vec![status_change("wamid.OUT1", status, 1749416200)]);
            assert_eq!(post(&app, &body, Some(sig)).await.0, 200);
            assert_eq!(status_of("wamid.OUT1").status.as_str(), expected, "after {status}");
        }
        // failed from sent keeps Meta's error; nothing moves it afterwards.
        let (body, sig) = send(vec![
            status_change("wamid.OUT2", "sent", 1),
            status_change("wamid.OUT2", "failed", 2),
            status_change("wamid.OUT2", "delivered", 3),
        ]);
        let (code, answer) = post(&app, &body, Some(sig)).await;
        assert_eq!(
            (code, answer["statuses"].as_u64(), answer["statuses_ignored"].as_u64()),
            (200, Some(2), Some(1))
        );
        let failed = status_of("wamid.OUT2");
        assert_eq!(
            (failed.status, failed.error_code, failed.error_title.as_deref()),
            (MessageStatus::Failed, Some(131026), Some("Message undeliverable"))
        );
        // Unknown wamid, and a status for an inbound message: acknowledged, nothing changes.
        let (body, sig) = send(vec![
            status_change("wamid.NOPE", "read", 1),
            status_change("wamid.IN", "read", 1),
        ]);
        let (code, answer) = post(&app, &body, Some(sig)).await;
        assert_eq!((code, answer["statuses_ignored"].as_u64()), (200, Some(2)));
        assert_eq!(status_of("wamid.IN").status, MessageStatus::Received);
    })
    .await;
}

#[actix_web::test]
async fn multi_entry_unknown_numbers_and_all_or_nothing() {
    each_backend(|store| async move {
        let org = org_with_account(&store);
        let app = app!(store, config());
        // Two entries, three changes, one for a number nobody has.
        let body = json!({"object": "whatsapp_business_account", "entry": [
            {"id": "W1", "changes": [
                {"field": "messages", "value": text_change(PNID, "16505551234", "A", "wamid.1", "one", 1749416001)},
                {"field": "messages", "value": text_change("999999999", "16505550000", "Z", "wamid.Z", "lost", 1749416001)}
            ]},
            {"id": "W2", "changes": [{"field": "messages", "value": text_change(PNID, "447700900123", "B", "wamid.2", "two", 1749416002)}]}
        ]})
        .to_string()
        .into_bytes();
        let (status, answer) = post(&app, &body, Some(sign(SECRET, &body))).await;
        assert_eq!((status, answer["messages"].as_u64(), answer["unknown_phone_number_ids"].clone()), (200, Some(2), json!(["999999999"])));
        assert_eq!(conversations(&store, org).len(), 2);

        // A delivery whose second message is broken stores nothing, not even the first.
        let mut broken = text_change(PNID, "16505557777", "C", "wamid.3", "three", 1749416003);
        broken["messages"].as_array_mut().unwrap().push(json!({"from": "16505557777", "id": "wamid.4", "timestamp": "soon", "type": "text", "text": {"body": "x"}}));
        let body = delivery(vec![broken]);
        let (status, answer) = post(&app, &body, Some(sign(SECRET, &body))).await;
        assert_eq!(status, 400);
        assert!(answer["error"]["message"].as_str().unwrap().contains("messages[1]"), "{answer}");
        // A delivery whose second change has a sender that is not a phone number: refused by the
        // store mid-transaction, and the first change is rolled back too.
        let body = delivery(vec![
            text_change(PNID, "16505558888", "D", "wamid.5", "five", 1749416005),
            text_change(PNID, "1", "E", "wamid.6", "six", 1749416006),
        ]);
        assert_eq!(post(&app, &body, Some(sign(SECRET, &body))).await.0, 400);
        assert_eq!(conversations(&store, org).len(), 2, "nothing of the refused deliveries was stored");

        // Malformed JSON, and oversized bodies.
        assert_eq!(post(&app, b"{nope", Some(sign(SECRET, b"{nope"))).await, (400, json!({"error": {"code": "malformed_json", "message": "The body is not valid JSON: key must be a string at line 1 column 2"}})));
        let huge = vec![b' '; webhook::MAX_BODY + 1];
        assert_eq!(post(&app, &huge, Some(sign(SECRET, &huge))).await.0, 413);
    })
    .await;
}

#[actix_web::test]
async fn concurrent_first_messages_make_one_contact_and_conversation() {
    each_backend(|store| async move {
        let org = org_with_account(&store);
        let mut threads = Vec::new();
        for i in 0..8 {
            let store = store.clone();
            threads.push(std::thread::spawn(move || {
                let body = delivery(vec![text_change(
                    PNID,
                    "971501234567",
                    "Ahmed",
                    &format!("wamid.C{i}"),
                    "hi",
                    1749416000 + i,
                )]);
                let events = rosetta_core::ingest::meta::parse(&body).unwrap();
                store.ingest(&events).unwrap()
            }));
        }
        for t in threads {
            assert_eq!(t.join().unwrap().messages, 1);
        }
        let list = conversations(&store, org);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].conversation.unread_count, 8);
        assert_eq!(
            store
                .list_contacts(org, &ContactFilter::default(), &PageRequest::first(10))
                .unwrap()
                .items
                .len(),
            1
        );
    })
    .await;
}

/// Meta's `smb_message_echoes`: what the business sent from the WhatsApp Business app on the same
/// number is stored as an outbound message (sent), once by wamid; statuses apply to it; it does not
/// open the 24-hour window.
#[actix_web::test]
async fn business_app_echoes_are_outbound_messages() {
    each_backend(|store| async move {
        let org = org_with_account(&store);
        let app = app!(store, config());
        let inbound = delivery(vec![text_change(PNID, "16505551234", "Sheena Nelson", "wamid.in", "Is it in stock?", 1749416383)]);
        assert_eq!(post(&app, &inbound, Some(sign(SECRET, &inbound))).await.0, 200);
        let echo = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA_ID", "changes": [{"field": "smb_message_echoes", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PNID},
            "message_echoes": [{"from": "15550783881", "to": "16505551234", "id": "wamid.echo", "timestamp": "1749416400",
                                "type": "text", "text": {"body": "Yes, two left"}}]
        }}]}]})
        .to_string()
        .into_bytes();
        let (status, answer) = post(&app, &echo, Some(sign(SECRET, &echo))).await;
        assert_eq!(
            (status, answer),
            (200, json!({"received": 1, "messages": 1, "duplicates": 0, "statuses": 0, "statuses_ignored": 0, "unknown_phone_number_ids": []}))
        );
        let d = &conversations(&store, org)[0];
        let c = &d.conversation;
        assert_eq!(
            (c.unread_count, c.last_message_text.as_deref(), c.last_message_direction),
            (0, Some("Yes, two left"), Some(Direction::Outbound)),
            "the business answered: nothing unread"
        );
        assert_eq!(c.last_inbound_at, Some(Timestamp::from_unix_seconds(1749416383)), "an echo is not the customer's");
        let m = &messages(&store, org, c.id)[0];
        assert_eq!(
            (m.direction, m.sender_type, m.status, m.wamid.as_deref(), m.body.text.as_deref()),
            (Direction::Outbound, SenderType::Agent, MessageStatus::Sent, Some("wamid.echo"), Some("Yes, two left"))
        );
        // Redelivered: nothing new. Its statuses apply.
        let (_, answer) = post(&app, &echo, Some(sign(SECRET, &echo))).await;
        assert_eq!(answer["duplicates"], 1);
        let read = delivery(vec![status_change("wamid.echo", "read", 1749416500)]);
        let (_, answer) = post(&app, &read, Some(sign(SECRET, &read))).await;
        assert_eq!(answer["statuses"], 1);
        assert_eq!(messages(&store, org, c.id)[0].status, MessageStatus::Read);
        assert_eq!(messages(&store, org, c.id).len(), 2);
    })
    .await;
}
