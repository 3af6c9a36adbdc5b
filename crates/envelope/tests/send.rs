//! `POST /api/whatsapp/messages`: a request in, the exact JSON out, with a dispatch worker sending to
//! the Graph API stand-in over HTTP; on SQLite and (when configured) PostgreSQL.

use rosetta_core::key::KeyStyle;
use rosetta_core::*;
use rosetta_graph::standin::Fault;
use rosetta_store::testing::TestDb;
use rosetta_testkit as testkit;
use serde_json::{json, Value};

const PNID: &str = "106540352242922";
const JWT_SECRET: &str = "envelope-send-test-secret";

fn e(kind: EntityKind, id: Id) -> String {
    id.render(kind, Spelling::Envelope)
}

fn refused(message: &str) -> Value {
    json!({"success": false, "error": message})
}

#[actix_web::test]
async fn sends_answer_the_queued_message_and_follow_meta() {
    for db in TestDb::all() {
        let (store, state) = testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        let account = s.create_account(org, PNID, "+15550783881", None).unwrap().id;
        let agent = s.create_user(org, "Sam Agent", "sam@example.com").unwrap().id;
        let key = testkit::key(s, org, KeyStyle::Envelope, None).secret;
        let dialects = testkit::Dialects {
            wacrm: None,
            kirim: None,
            jwt_secret: Some(JWT_SECRET),
            ..testkit::Dialects::all()
        };
        let app = testkit::app(state.clone(), dialects).await;
        let org_header = ("x-org-id", e(EntityKind::Organization, org));
        let as_key = vec![("Authorization", format!("Bearer {key}")), org_header.clone()];
        let now = Timestamp::now().millis() / 1000;
        let session = rosetta_http::jwt::sign_hs256(
            &json!({"sub": e(EntityKind::User, agent), "iat": now, "exp": now + 600}),
            JWT_SECRET.as_bytes(),
        );
        let as_agent = vec![("Authorization", format!("Bearer {session}")), org_header.clone()];

        let contact = testkit::contact(s, org, "+14155550123", Some("Jane Doe"));
        let conversation = s.open_conversation(org, account, contact).unwrap().id;
        let text = format!(
            r#"{{"conversationId": "{}", "type": "text", "content": {{"text": "Hello Jane"}}}}"#,
            e(EntityKind::Conversation, conversation)
        );

        // Not configured, then (the token set) outside the window: refused, nothing written.
        let r = testkit::send(&app, "POST", "/api/whatsapp/messages", &as_key, Some(&text)).await;
        assert_eq!(
            (r.status, r.body),
            (
                400,
                refused("WhatsApp is not configured for this conversation's number: it has no access token")
            )
        );
        let standin = testkit::standin(s, org, account, PNID);
        testkit::dispatch(&state, standin.url());
        let r = testkit::send(&app, "POST", "/api/whatsapp/messages", &as_key, Some(&text)).await;
        assert_eq!(
            (r.status, r.body),
            (
                409,
                refused("Customer service window closed: only template messages can be sent")
            )
        );

        // The customer writes; an agent (a session) answers.
        let at = Timestamp(Timestamp::now().millis() - 60_000);
        s.append_message(
            org,
            rosetta_store::testing::inbound_text(conversation, "wamid.hi", "Hi", at),
        )
        .unwrap();
        let r = testkit::send(&app, "POST", "/api/whatsapp/messages", &as_agent, Some(&text)).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.body["data"]["id"].as_str().unwrap().to_owned();
        let message = Id::parse(EntityKind::Message, Spelling::Envelope, &id).unwrap();
        assert_eq!(
            r.body,
            json!({"success": true, "data": {"id": id, "waMessageId": null,
                   "conversationId": e(EntityKind::Conversation, conversation), "direction": "outbound",
                   "type": "text", "content": {"text": "Hello Jane"}, "status": "sending",
                   "timestamp": r.body["data"]["timestamp"], "senderId": e(EntityKind::User, agent)}})
        );
        let sent = testkit::settled(&state, org, message).await;
        assert_eq!(sent.status, MessageStatus::Sent);
        assert_eq!(
            standin.received()[0].body["text"],
            json!({"body": "Hello Jane", "preview_url": false})
        );
        let listed = testkit::send(
            &app,
            "GET",
            &format!(
                "/api/whatsapp/messages?conversationId={}",
                e(EntityKind::Conversation, conversation)
            ),
            &as_key,
            None,
        )
        .await;
        assert_eq!(listed.body["data"]["data"][0]["status"], "sent");
        assert_eq!(
            listed.body["data"]["data"][0]["waMessageId"],
            sent.wamid.unwrap().as_str()
        );

        // A document by link, Meta refuses it: the message shows failed with Meta's code.
        standin.fail(
            "14155550123",
            [Fault::Code {
                code: 131053,
                status: 400,
            }],
        );
        let doc = format!(
            r#"{{"conversationId": "{}", "type": "document", "content": {{"url": "https://files.example.com/invoice.pdf", "filename": "invoice.pdf", "caption": "Your invoice"}}}}"#,
            e(EntityKind::Conversation, conversation)
        );
        let r = testkit::send(&app, "POST", "/api/whatsapp/messages", &as_key, Some(&doc)).await;
        assert_eq!(r.status, 201);
        assert_eq!(
            r.body["data"]["content"],
            json!({"url": "https://files.example.com/invoice.pdf", "mimeType": null, "filename": "invoice.pdf"})
        );
        assert_eq!(r.body["data"]["senderId"], Value::Null, "an API key is no user");
        let failed = Id::parse(
            EntityKind::Message,
            Spelling::Envelope,
            r.body["data"]["id"].as_str().unwrap(),
        )
        .unwrap();
        testkit::settled(&state, org, failed).await;
        let listed = testkit::send(
            &app,
            "GET",
            &format!(
                "/api/whatsapp/messages?conversationId={}&limit=1",
                e(EntityKind::Conversation, conversation)
            ),
            &as_key,
            None,
        )
        .await;
        assert_eq!(
            (
                listed.body["data"]["data"][0]["status"].clone(),
                listed.body["data"]["data"][0]["error"].clone()
            ),
            (
                json!("failed"),
                json!({"code": 131053, "message": "(#131053) Injected by the stand-in (injected)"})
            )
        );

        // Idempotency-Key: the first answer again, one send.
        let keyed = {
            let mut h = as_key.clone();
            h.push(("Idempotency-Key", "note-1".into()));
            h
        };
        let first = testkit::send(&app, "POST", "/api/whatsapp/messages", &keyed, Some(&text)).await;
        let again = testkit::send(&app, "POST", "/api/whatsapp/messages", &keyed, Some(&text)).await;
        assert_eq!((first.status, again.status, &first.body), (201, 201, &again.body));
        let other = testkit::send(&app, "POST", "/api/whatsapp/messages", &keyed, Some(&doc)).await;
        assert_eq!(
            (other.status, other.body),
            (409, refused("Idempotency-Key was already used for another request"))
        );

        // Bad requests, in the envelope's words.
        let c = e(EntityKind::Conversation, conversation);
        for (body, message) in [
            (r#"{"content": {"text": "x"}}"#.to_owned(), "conversationId is required"),
            (
                r#"{"conversationId": "nope", "content": {"text": "x"}}"#.to_owned(),
                "Invalid conversation ID",
            ),
            (format!(r#"{{"conversationId": "{c}"}}"#), "content is required"),
            (
                format!(r#"{{"conversationId": "{c}", "content": {{}}}}"#),
                "content.text is required",
            ),
            (
                format!(r#"{{"conversationId": "{c}", "type": "fax", "content": {{}}}}"#),
                "Invalid message type",
            ),
            (
                format!(r#"{{"conversationId": "{c}", "type": "image", "content": {{}}}}"#),
                "content.url is required",
            ),
            (
                format!(r#"{{"conversationId": "{c}", "type": "template", "content": {{"name": "Bad Name"}}}}"#),
                "the template name must be lower-case letters, digits and underscores",
            ),
        ] {
            let r = testkit::send(&app, "POST", "/api/whatsapp/messages", &as_key, Some(&body)).await;
            assert_eq!((r.status, r.body), (400, refused(message)), "{body}");
        }
        let unknown = format!(
            r#"{{"conversationId": "{}", "content": {{"text": "x"}}}}"#,
            e(EntityKind::Conversation, Id::new())
        );
        let r = testkit::send(&app, "POST", "/api/whatsapp/messages", &as_key, Some(&unknown)).await;
        assert_eq!((r.status, r.body), (404, refused("Conversation not found")));
    }
}
