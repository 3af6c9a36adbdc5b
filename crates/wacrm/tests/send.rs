//! `POST /api/v1/messages` and the contact writes: a request in, the exact JSON out, with a real
//! dispatch worker sending to the Graph API stand-in over HTTP; on SQLite and (when configured)
//! PostgreSQL.

use rosetta_core::key::KeyStyle;
use rosetta_core::*;
use rosetta_graph::standin::Fault;
use rosetta_store::testing::TestDb;
use rosetta_testkit as testkit;
use serde_json::{json, Value};

const PNID: &str = "106540352242922";

fn uuid(id: Id) -> String {
    id.render(EntityKind::Message, Spelling::Uuid)
}

fn auth(key: &str) -> Vec<(&'static str, String)> {
    vec![("Authorization", format!("Bearer {key}"))]
}

fn with_key(key: &str, idempotency: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Authorization", format!("Bearer {key}")),
        ("Idempotency-Key", idempotency.to_owned()),
    ]
}

fn error(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

fn wacrm_only() -> testkit::Dialects {
    testkit::Dialects {
        kirim: None,
        envelope: None,
        ..testkit::Dialects::all()
    }
}

#[actix_web::test]
async fn sends_reach_meta_once_and_answer_with_the_wamid() {
    for db in TestDb::all() {
        let (store, state) = testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        let account = s.create_account(org, PNID, "+15550783881", Some("Support")).unwrap().id;
        let key = testkit::key(s, org, KeyStyle::Wacrm, None).secret;
        let read_only = testkit::key(s, org, KeyStyle::Wacrm, Some("messages:read")).secret;
        let app = testkit::app(state.clone(), wacrm_only()).await;
        let post = |body: &'static str, headers: Vec<(&'static str, String)>| {
            let app = &app;
            async move { testkit::send(app, "POST", "/api/v1/messages", &headers, Some(body)).await }
        };
        let hello = r#"{"to": "+14155550123", "type": "template", "name": "Jane Doe",
                        "template": {"name": "order_update", "params": ["A-17", "Tuesday"]}}"#;

        // No access token yet: not configured, nothing written.
        let r = post(hello, auth(&key)).await;
        assert_eq!(
            (r.status, r.body),
            (
                400,
                error(
                    "whatsapp_not_configured",
                    "WhatsApp is not configured for this account: connect a number and set its access token"
                )
            )
        );
        let standin = testkit::standin(s, org, account, PNID);
        testkit::dispatch(&state, standin.url());

        // A template to a new number: the contact and conversation are made, Meta gets its body.
        let r = post(hello, auth(&key)).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let received = standin.received();
        assert_eq!(received.len(), 1);
        // Counted for the operator as it was recorded (before the request was told).
        let metrics = state.metrics.encode();
        assert!(
            metrics
                .lines()
                .any(|l| l == r#"rosetta_sends_total{outcome="sent",code=""} 1"#),
            "{metrics}"
        );
        let conversations = s
            .list_conversations(
                org,
                &ConversationFilter::default(),
                ConversationOrder::CreatedDesc,
                &PageRequest::first(10),
            )
            .unwrap()
            .items;
        let conversation = &conversations[0];
        let message = &s
            .list_messages(org, conversation.conversation.id, &PageRequest::first(10))
            .unwrap()
            .items[0];
        assert_eq!(
            r.body,
            json!({"data": {"message_id": uuid(message.id), "whatsapp_message_id": received[0].wamid,
                            "conversation_id": uuid(conversation.conversation.id),
                            "contact_id": uuid(conversation.contact.contact.id), "contact_created": true}})
        );
        assert_eq!(
            received[0].body,
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "14155550123",
                   "type": "template", "template": {"name": "order_update", "language": {"code": "en_US"},
                   "components": [{"type": "body", "parameters": [{"type": "text", "text": "A-17"}, {"type": "text", "text": "Tuesday"}]}]},
                   "biz_opaque_callback_data": message.id.to_string()})
        );
        assert_eq!(conversation.contact.contact.name.as_deref(), Some("Jane Doe"));
        // The message list shows it sent, with its wamid.
        let listed = testkit::send(
            &app,
            "GET",
            &format!("/api/v1/conversations/{}/messages", uuid(conversation.conversation.id)),
            &auth(&key),
            None,
        )
        .await;
        assert_eq!(listed.body["data"][0]["status"], "sent");
        assert_eq!(listed.body["data"][0]["template_name"], "order_update");
        assert_eq!(
            listed.body["data"][0]["whatsapp_message_id"],
            received[0].wamid.as_str()
        );

        // A text: the customer never wrote, so the window is closed; nothing reaches Meta.
        let text = r#"{"to": "+14155550123", "text": "Your order has shipped"}"#;
        let r = post(text, auth(&key)).await;
        assert_eq!(
            (r.status, r.body),
            (
                409,
                error(
                    "customer_service_window_closed",
                    "The 24-hour customer service window is closed: only template messages can be sent"
                )
            )
        );
        // The customer writes: a text reply may follow, in reply to their message.
        let asked = s
            .append_message(
                org,
                rosetta_store::testing::inbound_text(
                    conversation.conversation.id,
                    "wamid.asked",
                    "Where is it?",
                    Timestamp(Timestamp::now().millis() - 5_000),
                ),
            )
            .unwrap();
        let reply = format!(
            r#"{{"to": "+14155550123", "text": "Shipped today", "reply_to_message_id": "{}"}}"#,
            uuid(asked.id)
        );
        let r = testkit::send(&app, "POST", "/api/v1/messages", &auth(&key), Some(&reply)).await;
        assert_eq!(
            (r.status, r.body["data"]["contact_created"].clone()),
            (201, json!(false))
        );
        let last = standin.received().pop().unwrap();
        assert_eq!(last.body["context"], json!({"message_id": "wamid.asked"}));
        assert_eq!(
            last.body["text"],
            json!({"body": "Shipped today", "preview_url": false})
        );
        assert_eq!(r.body["data"]["whatsapp_message_id"], last.wamid.as_str());
        assert_eq!(
            s.get_conversation(org, conversation.conversation.id)
                .unwrap()
                .conversation
                .unread_count,
            0,
            "the reply clears the unread count"
        );

        // Bad requests, in wacrm's words; none reaches Meta.
        let before = standin.requests();
        for (body, message) in [
            (r#"{"text": "hi"}"#, "'to' is required"),
            (r#"{"to": "  ", "text": "hi"}"#, "'to' is required"),
            (
                r#"{"to": "call me", "text": "hi"}"#,
                "'to' must be a phone number in E.164 format",
            ),
            (r#"{"to": "+14155550123"}"#, "'text' is required for text messages"),
            (
                r#"{"to": "+14155550123", "type": "image"}"#,
                "'media_url' is required for image messages",
            ),
            (
                r#"{"to": "+14155550123", "type": "sms", "text": "x"}"#,
                "'type' must be one of text, template, image, video, document, audio, interactive (got \"sms\")",
            ),
            (
                r#"{"to": "+14155550123", "type": "template"}"#,
                "'template' is required for template messages",
            ),
            (
                r#"{"to": "+14155550123", "type": "interactive", "interactive_payload": {"kind": "buttons", "body": "Pick", "buttons": []}}"#,
                "'interactive_payload.buttons' must have 1 to 3 buttons",
            ),
            (
                r#"{"to": "+14155550123", "text": "x", "reply_to_message_id": "nope"}"#,
                "'reply_to_message_id' must be a message UUID",
            ),
            ("[1]", "The request body must be a JSON object"),
        ] {
            let r = post(body, auth(&key)).await;
            assert_eq!((r.status, r.body), (400, error("bad_request", message)), "{body}");
        }
        let r = testkit::send(
            &app,
            "POST",
            "/api/v1/messages",
            &auth(&key),
            Some(&format!(
                r#"{{"to": "+14155550123", "text": "x", "reply_to_message_id": "{}"}}"#,
                uuid(Id::new())
            )),
        )
        .await;
        assert_eq!((r.status, r.body), (404, error("not_found", "Resource not found")));
        let r = post(text, auth(&read_only)).await;
        assert_eq!(
            (r.status, r.body),
            (
                403,
                error("forbidden", "This API key is missing the 'messages:send' scope")
            )
        );
        assert_eq!(standin.requests(), before, "no refused request reached Meta");

        // Meta refuses: 502 meta_error with Meta's message; the message is kept, failed, with the code.
        standin.fail(
            "14155550124",
            [Fault::Code {
                code: 131026,
                status: 400,
            }],
        );
        let r = post(
            r#"{"to": "+14155550124", "type": "template", "template": {"name": "order_update"}}"#,
            auth(&key),
        )
        .await;
        assert_eq!(
            (r.status, r.body),
            (
                502,
                error(
                    "meta_error",
                    "Meta API error: (#131026) Injected by the stand-in (injected)"
                )
            )
        );
        let metrics = state.metrics.encode();
        assert!(
            metrics
                .lines()
                .any(|l| l == r#"rosetta_sends_total{outcome="failed",code="131026"} 1"#),
            "{metrics}"
        );
    }
}

#[actix_web::test]
async fn an_idempotency_key_never_sends_twice() {
    for db in TestDb::all() {
        let (store, state) = testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        let account = s.create_account(org, PNID, "+15550783881", None).unwrap().id;
        let key = testkit::key(s, org, KeyStyle::Wacrm, None).secret;
        let app = testkit::app(state.clone(), wacrm_only()).await;
        let standin = testkit::standin(s, org, account, PNID);
        testkit::dispatch(&state, standin.url());
        let body = r#"{"to": "+14155550123", "type": "template", "template": {"name": "order_update"}}"#;

        let first = testkit::send(
            &app,
            "POST",
            "/api/v1/messages",
            &with_key(&key, "order-17"),
            Some(body),
        )
        .await;
        assert_eq!(first.status, 201);
        // The same key and body: the first response again, and nothing sent.
        let again = testkit::send(
            &app,
            "POST",
            "/api/v1/messages",
            &with_key(&key, "order-17"),
            Some(body),
        )
        .await;
        assert_eq!((again.status, &again.body), (201, &first.body));
        assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
        assert_eq!(standin.count_to("14155550123"), 1);
        // Another body with the key: refused.
        let other = r#"{"to": "+14155550199", "type": "template", "template": {"name": "order_update"}}"#;
        let r = testkit::send(
            &app,
            "POST",
            "/api/v1/messages",
            &with_key(&key, "order-17"),
            Some(other),
        )
        .await;
        assert_eq!(
            (r.status, r.body),
            (
                409,
                error(
                    "idempotency_key_reused",
                    "This Idempotency-Key was used with a different request body"
                )
            )
        );
        // A refused request leaves its key free for the corrected one.
        let bad = r#"{"to": "+14155550123", "type": "template"}"#;
        let r = testkit::send(&app, "POST", "/api/v1/messages", &with_key(&key, "k2"), Some(bad)).await;
        assert_eq!(r.status, 400);
        let r = testkit::send(&app, "POST", "/api/v1/messages", &with_key(&key, "k2"), Some(other)).await;
        assert_eq!(r.status, 201);
        assert_eq!(standin.requests(), 2);
    }
}

#[actix_web::test]
async fn contacts_are_created_and_changed() {
    for db in TestDb::all() {
        let (store, state) = testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        let key = testkit::key(s, org, KeyStyle::Wacrm, None).secret;
        let read_only = testkit::key(s, org, KeyStyle::Wacrm, Some("contacts:read")).secret;
        let app = testkit::app(state.clone(), wacrm_only()).await;

        let body = r#"{"phone": "+1 (415) 555-0123", "name": "Jane Doe", "email": "jane@example.com"}"#;
        let r = testkit::send(&app, "POST", "/api/v1/contacts", &auth(&key), Some(body)).await;
        assert_eq!(r.status, 201);
        let id = r.body["data"]["id"].as_str().unwrap().to_owned();
        let stamp = r.body["data"]["created_at"].clone();
        assert_eq!(
            r.body,
            json!({"data": {"id": id, "phone": "+14155550123", "name": "Jane Doe", "email": "jane@example.com",
                            "company": null, "avatar_url": null, "tags": [], "created_at": stamp, "updated_at": stamp}})
        );
        // The same phone again: that contact, 200.
        let r = testkit::send(
            &app,
            "POST",
            "/api/v1/contacts",
            &auth(&key),
            Some(r#"{"phone": "+14155550123"}"#),
        )
        .await;
        assert_eq!((r.status, r.body["data"]["id"].as_str()), (200, Some(id.as_str())));

        let uri = format!("/api/v1/contacts/{id}");
        let r = testkit::send(
            &app,
            "PATCH",
            &uri,
            &auth(&key),
            Some(r#"{"name": "Jane Smith", "email": null, "company": "Acme"}"#),
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            (
                &r.body["data"]["name"],
                &r.body["data"]["email"],
                &r.body["data"]["company"],
                &r.body["data"]["phone"]
            ),
            (
                &json!("Jane Smith"),
                &json!(null),
                &json!("Acme"),
                &json!("+14155550123")
            )
        );

        for (body, message) in [
            (r#"{"name": "x"}"#, "'phone' is required"),
            (
                r#"{"phone": "+14155550199", "email": "nope"}"#,
                "email must be an email address",
            ),
        ] {
            let r = testkit::send(&app, "POST", "/api/v1/contacts", &auth(&key), Some(body)).await;
            assert_eq!((r.status, r.body), (400, error("bad_request", message)), "{body}");
        }
        let r = testkit::send(&app, "PATCH", &uri, &auth(&key), Some(r#"{"phone": null}"#)).await;
        assert_eq!(
            (r.status, r.body),
            (400, error("bad_request", "'phone' cannot be cleared"))
        );
        let r = testkit::send(&app, "PATCH", "/api/v1/contacts/not-a-uuid", &auth(&key), Some("{}")).await;
        assert_eq!((r.status, r.body), (404, error("not_found", "Contact not found")));
        let r = testkit::send(&app, "POST", "/api/v1/contacts", &auth(&read_only), Some(body)).await;
        assert_eq!(
            (r.status, r.body),
            (
                403,
                error("forbidden", "This API key is missing the 'contacts:write' scope")
            )
        );
    }
}

/// A retry with the key while the first send still waits for Meta is 409 in progress; once Meta
/// answered, a retry gets the send as it now is (with its wamid), and from then on that answer.
#[actix_web::test]
async fn a_key_whose_send_is_still_running_is_in_progress() {
    for db in TestDb::all() {
        let (store, mut state) = testkit::state(&db);
        state.sending = std::sync::Arc::new(rosetta_http::sending::Sending {
            wait_for_attempt: std::time::Duration::from_millis(100),
            ..Default::default()
        });
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        let account = s.create_account(org, PNID, "+15550783881", None).unwrap().id;
        let key = testkit::key(s, org, KeyStyle::Wacrm, None).secret;
        let app = testkit::app(state.clone(), wacrm_only()).await;
        let standin = testkit::standin(s, org, account, PNID);
        standin.fail("14155550123", [Fault::Slow(std::time::Duration::from_millis(1500))]);
        testkit::dispatch(&state, standin.url());
        let body = r#"{"to": "+14155550123", "type": "template", "template": {"name": "order_update"}}"#;
        let headers = with_key(&key, "slow-1");
        let send = || testkit::send(&app, "POST", "/api/v1/messages", &headers, Some(body));

        let first = send().await;
        assert_eq!(
            (first.status, &first.body["data"]["whatsapp_message_id"]),
            (201, &Value::Null),
            "answered before Meta did"
        );
        let again = send().await;
        assert_eq!(
            (again.status, again.body),
            (
                409,
                error(
                    "idempotency_key_in_progress",
                    "A request with this Idempotency-Key is still in progress"
                )
            )
        );
        let id = Id::parse(
            EntityKind::Message,
            Spelling::Uuid,
            first.body["data"]["message_id"].as_str().unwrap(),
        )
        .unwrap();
        let sent = testkit::settled(&state, org, id).await;
        let later = send().await;
        assert_eq!(later.status, 201);
        assert_eq!(later.body["data"]["whatsapp_message_id"], sent.wamid.unwrap().as_str());
        assert_eq!(later.body["data"]["message_id"], first.body["data"]["message_id"]);
        let replayed = send().await;
        assert_eq!(
            (&replayed.body, replayed.header("Idempotent-Replayed")),
            (&later.body, Some("true"))
        );
        assert_eq!(standin.count_to("14155550123"), 1);
    }
}
