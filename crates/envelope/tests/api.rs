//! The envelope dialect, request in, exact JSON out, on SQLite and (when configured) PostgreSQL.

use rosetta_testkit::{self as testkit, message, send, Shortcuts};
use std::sync::Arc;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::test;
use rosetta_core::key::KeyStyle;
use rosetta_core::*;
use rosetta_http::webhook::sign;
use rosetta_http::AppState;
use rosetta_store::testing::TestDb;
use serde_json::{json, Value};

const JWT_SECRET: &str = "test-jwt-secret";
const APP_SECRET: &str = "app-secret";

fn e(kind: EntityKind, id: Id) -> String {
    id.render(kind, Spelling::Envelope)
}

struct Fixture {
    org: Id,
    account: Id,
    conversation: Id,
    contact: Id,
    agent: Id,
    agent2: Id,
    key: String,
    other_key: String,
    other_conversation: Id,
    other_agent: Id,
    messages: Vec<Id>,
}

fn key(store: &dyn Store, org: Id, style: KeyStyle) -> String {
    testkit::key(store, org, style, None).secret
}

fn fixture(store: &dyn Store) -> Fixture {
    let org = store.create_organization("Acme Support").unwrap().id;
    let account = store
        .create_account(org, "106540352242922", "+15550783881", Some("Support"))
        .unwrap()
        .id;
    let agent = store
        .create_user(org, "Support Agent", "agent@yourcompany.com")
        .unwrap()
        .id;
    let agent2 = store
        .create_user(org, "Second Agent", "second@yourcompany.com")
        .unwrap()
        .id;
    let contact = store
        .create_contact(
            org,
            NewContact {
                phone: "+971501234567".into(),
                name: Some("Ahmed Hassan".into()),
                email: Some("ahmed@example.com".into()),
                ..Default::default()
            },
        )
        .unwrap()
        .contact
        .contact
        .id;
    store.attach_tag(org, contact, "vip", None).unwrap();
    store.attach_tag(org, contact, "returning", None).unwrap();
    let conversation = store.open_conversation(org, account, contact).unwrap().id;
    store.assign(org, conversation, Some(agent)).unwrap();
    let mut messages = Vec::new();
    for m in [
        message(
            conversation,
            "wamid.1",
            Direction::Inbound,
            ContentType::Text,
            MessageBody {
                text: Some("Hi".into()),
                ..Default::default()
            },
            "2026-05-15T09:00:00Z",
        ),
        message(
            conversation,
            "wamid.2",
            Direction::Outbound,
            ContentType::Image,
            MessageBody {
                media_url: Some("https://cdn.example.com/a.jpg".into()),
                mime_type: Some("image/jpeg".into()),
                text: Some("Here".into()),
                ..Default::default()
            },
            "2026-05-16T14:00:00Z",
        ),
        message(
            conversation,
            "wamid.3",
            Direction::Inbound,
            ContentType::Location,
            MessageBody {
                latitude: Some(25.2),
                longitude: Some(55.27),
                location_name: Some("Dubai Mall".into()),
                ..Default::default()
            },
            "2026-05-16T14:10:00Z",
        ),
        message(
            conversation,
            "wamid.4",
            Direction::Inbound,
            ContentType::Text,
            MessageBody {
                text: Some("When will my order arrive?".into()),
                ..Default::default()
            },
            "2026-05-16T14:22:00Z",
        ),
    ] {
        messages.push(store.append_message(org, m).unwrap().id);
    }
    messages.reverse();

    let other = store.create_organization("Other").unwrap().id;
    let other_account = store
        .create_account(other, "106540352242923", "+15550783882", None)
        .unwrap()
        .id;
    let other_contact = store
        .create_contact(
            other,
            NewContact {
                phone: "+971501234567".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .contact
        .contact
        .id;
    let other_conversation = store.open_conversation(other, other_account, other_contact).unwrap().id;
    let other_agent = store.create_user(other, "Someone Else", "else@other.com").unwrap().id;
    Fixture {
        org,
        account,
        conversation,
        contact,
        agent,
        agent2,
        key: key(store, org, KeyStyle::Envelope),
        other_key: key(store, other, KeyStyle::Envelope),
        other_conversation,
        other_agent,
        messages,
    }
}

/// All three dialects and the webhook route over one store, as `serve --dialect all` mounts them;
/// envelope at `rate` requests a minute (0: off).
async fn app(
    state: AppState,
    rate: u32,
) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error> {
    let dialects = testkit::Dialects {
        envelope: Some(rate),
        jwt_secret: Some(JWT_SECRET),
        app_secret: Some(APP_SECRET),
        graph: None,
        media: None,
        ..testkit::Dialects::all()
    };
    testkit::app(state, dialects).await
}

fn auth(token: &str, org: Id) -> Vec<(&'static str, String)> {
    vec![
        ("Authorization", format!("Bearer {token}")),
        ("x-org-id", e(EntityKind::Organization, org)),
    ]
}

fn jwt(sub: String, exp_in: i64) -> String {
    let now = Timestamp::now().millis() / 1000;
    rosetta_http::jwt::sign_hs256(&json!({"sub": sub, "exp": now + exp_in}), JWT_SECRET.as_bytes())
}

/// Method, URI, headers, body, and the status and body expected.
type Case<'a> = (
    &'static str,
    String,
    Vec<(&'static str, String)>,
    Option<&'a str>,
    (u16, Value),
);

fn fail(status: u16, message: &str) -> (u16, Value) {
    (status, json!({"success": false, "error": message}))
}

fn setup(db: &TestDb) -> (Arc<dyn Store>, Fixture, AppState) {
    let (store, state) = testkit::state(db);
    let f = fixture(store.as_ref());
    (store, f, state)
}

fn item(store: &dyn Store, f: &Fixture) -> Value {
    let c = store.get_conversation(f.org, f.conversation).unwrap().conversation;
    json!({
        "id": e(EntityKind::Conversation, f.conversation),
        "contactId": e(EntityKind::Contact, f.contact),
        "contact": {"id": e(EntityKind::Contact, f.contact), "name": "Ahmed Hassan", "phone": "+971501234567", "avatar": null},
        "status": "open",
        "assigneeId": e(EntityKind::User, f.agent),
        "channel": "whatsapp",
        "lastMessage": {"text": "When will my order arrive?", "timestamp": "2026-05-16T14:22:00.000Z", "direction": "inbound"},
        "unreadCount": 2,
        "aiHandling": false,
        "createdAt": c.created_at.to_rfc3339(),
        "updatedAt": c.updated_at.to_rfc3339(),
    })
}

#[actix_web::test]
async fn list_get_and_messages() {
    for db in TestDb::all() {
        let (store, f, state) = setup(&db);
        let app = app(state, 0).await;
        let h = auth(&f.key, f.org);

        let r = send(&app, "GET", "/api/whatsapp/conversations", &h, None).await;
        assert_eq!(r.status, 200, "{}", db.backend());
        assert_eq!(
            r.body,
            json!({"success": true, "data": {"conversations": [item(store.as_ref(), &f)], "total": 1, "page": 1, "limit": 20, "hasNext": false}})
        );

        let id = e(EntityKind::Conversation, f.conversation);
        let r = send(&app, "GET", &format!("/api/whatsapp/conversations/{id}"), &h, None).await;
        let c = store.get_conversation(f.org, f.conversation).unwrap().conversation;
        assert_eq!(
            (r.status, r.body),
            (
                200,
                json!({"success": true, "data": {
                    "id": id,
                    "contactId": e(EntityKind::Contact, f.contact),
                    "contact": {"id": e(EntityKind::Contact, f.contact), "name": "Ahmed Hassan", "phone": "+971501234567", "email": "ahmed@example.com", "labels": ["returning", "vip"], "avatar": null},
                    "status": "open",
                    "assigneeId": e(EntityKind::User, f.agent),
                    "assignee": {"id": e(EntityKind::User, f.agent), "name": "Support Agent", "email": "agent@yourcompany.com"},
                    "channel": "whatsapp",
                    "lastMessage": {"text": "When will my order arrive?", "timestamp": "2026-05-16T14:22:00.000Z", "direction": "inbound"},
                    "unreadCount": 2,
                    "aiHandling": false,
                    "metadata": {"source": null, "firstMessageAt": "2026-05-15T09:00:00.000Z"},
                    "createdAt": c.created_at.to_rfc3339(),
                    "updatedAt": c.updated_at.to_rfc3339(),
                }})
            )
        );

        let m = |i: usize| e(EntityKind::Message, f.messages[i]);
        let r = send(
            &app,
            "GET",
            &format!("/api/whatsapp/messages?conversationId={id}&limit=2"),
            &h,
            None,
        )
        .await;
        assert_eq!(
            (r.status, r.body),
            (
                200,
                json!({"success": true, "data": {"data": [
                {"id": m(0), "waMessageId": "wamid.4", "conversationId": id, "direction": "inbound", "type": "text", "content": {"text": "When will my order arrive?"}, "status": "received", "timestamp": "2026-05-16T14:22:00.000Z", "senderId": null},
                {"id": m(1), "waMessageId": "wamid.3", "conversationId": id, "direction": "inbound", "type": "location", "content": {"latitude": 25.2, "longitude": 55.27, "name": "Dubai Mall", "address": null}, "status": "received", "timestamp": "2026-05-16T14:10:00.000Z", "senderId": null},
            ], "total": 4, "page": 1, "hasNext": true}})
            )
        );
        let r = send(
            &app,
            "GET",
            &format!("/api/whatsapp/messages?conversationId={id}&before={}", m(1)),
            &h,
            None,
        )
        .await;
        assert_eq!(
            r.body["data"],
            json!({"data": [
                {"id": m(2), "waMessageId": "wamid.2", "conversationId": id, "direction": "outbound", "type": "image", "content": {"url": "https://cdn.example.com/a.jpg", "mimeType": "image/jpeg", "caption": "Here"}, "status": "delivered", "timestamp": "2026-05-16T14:00:00.000Z", "senderId": null},
                {"id": m(3), "waMessageId": "wamid.1", "conversationId": id, "direction": "inbound", "type": "text", "content": {"text": "Hi"}, "status": "received", "timestamp": "2026-05-15T09:00:00.000Z", "senderId": null},
            ], "total": 4, "page": 1, "hasNext": false})
        );
    }
}

#[actix_web::test]
async fn pages_totals_and_filters() {
    for db in TestDb::all() {
        let (store, f, state) = setup(&db);
        let app = app(state, 0).await;
        let h = auth(&f.key, f.org);
        // 24 more conversations: 6 closed, 6 ai_handling, 6 escalated (assigned to agent2), 6 pending.
        let statuses = [
            ConversationStatus::Closed,
            ConversationStatus::AiHandling,
            ConversationStatus::Escalated,
            ConversationStatus::Pending,
        ];
        for i in 0..24 {
            let c = store
                .create_contact(
                    f.org,
                    NewContact {
                        phone: format!("+1415555{:04}", i),
                        ..Default::default()
                    },
                )
                .unwrap()
                .contact
                .contact
                .id;
            let id = store.open_conversation(f.org, f.account, c).unwrap().id;
            let st = statuses[i % 4];
            store.set_status(f.org, id, st, None).unwrap();
            if st == ConversationStatus::Escalated {
                store.assign(f.org, id, Some(f.agent2)).unwrap();
            }
        }
        let list = |q: &str| format!("/api/whatsapp/conversations?{q}");
        for (q, total, n, has_next) in [
            ("limit=10", 25, 10, true),
            ("limit=10&page=3", 25, 5, false),
            ("limit=10&page=4", 25, 0, false),
            ("page=99999", 25, 0, false),
            ("status=open", 7, 7, false),
            ("status=closed", 6, 6, false),
            ("status=ai_handling&limit=5", 6, 5, true),
            ("status=escalated", 6, 6, false),
            (&format!("assignee={}", e(EntityKind::User, f.agent2)), 6, 6, false),
            (
                &format!("assignee={}", f.agent.render(EntityKind::User, Spelling::Uuid)),
                1,
                1,
                false,
            ),
            (
                &format!("assignee={}&status=closed", e(EntityKind::User, f.agent2)),
                0,
                0,
                false,
            ),
            ("limit=500", 25, 25, false),
        ] {
            let r = send(&app, "GET", &list(q), &h, None).await;
            assert_eq!(r.status, 200, "{q}");
            let d = &r.body["data"];
            assert_eq!(
                (
                    d["total"].as_u64().unwrap(),
                    d["conversations"].as_array().unwrap().len(),
                    d["hasNext"].as_bool().unwrap()
                ),
                (total, n, has_next),
                "{q} on {}",
                db.backend()
            );
        }
        // Every page walked once, in last-activity order, no row twice.
        let mut seen = Vec::new();
        for page in 1..=5 {
            let r = send(&app, "GET", &list(&format!("limit=6&page={page}")), &h, None).await;
            seen.extend(
                r.body["data"]["conversations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["id"].as_str().unwrap().to_owned()),
            );
            assert_eq!(r.body["data"]["limit"], 6);
        }
        let all = store
            .list_conversations(
                f.org,
                &ConversationFilter::default(),
                ConversationOrder::LastActivityDesc,
                &PageRequest::first(100),
            )
            .unwrap();
        let want: Vec<String> = all
            .items
            .iter()
            .map(|d| e(EntityKind::Conversation, d.conversation.id))
            .collect();
        assert_eq!(seen, want);
    }
}

#[actix_web::test]
async fn close_assign_read_through_every_dialect_and_reopen_by_webhook() {
    for db in TestDb::all() {
        let (store, f, state) = setup(&db);
        let app = app(state, 0).await;
        let id = e(EntityKind::Conversation, f.conversation);
        let wacrm_key = key(store.as_ref(), f.org, KeyStyle::Wacrm);

        // Closed by a user's session token: closedBy is that user.
        store
            .set_status(f.org, f.conversation, ConversationStatus::AiHandling, None)
            .unwrap();
        let token = jwt(e(EntityKind::User, f.agent2), 600);
        let r = send(
            &app,
            "POST",
            &format!("/api/whatsapp/conversations/{id}/close"),
            &auth(&token, f.org),
            Some(r#"{"resolution":"resolved"}"#),
        )
        .await;
        let c = store.get_conversation(f.org, f.conversation).unwrap().conversation;
        assert_eq!(
            (r.status, r.body),
            (
                200,
                json!({"success": true, "data": {"id": id, "status": "closed", "closedAt": c.closed_at.unwrap().to_rfc3339(), "closedBy": e(EntityKind::User, f.agent2)}})
            )
        );
        assert_eq!((c.resolution.as_deref(), c.ai_handling()), (Some("resolved"), false));
        // Closing again keeps the first close (an API key, an empty body).
        let r = send(
            &app,
            "POST",
            &format!("/api/whatsapp/conversations/{id}/close"),
            &auth(&f.key, f.org),
            None,
        )
        .await;
        assert_eq!(r.body["data"]["closedBy"], json!(e(EntityKind::User, f.agent2)));

        let wacrm = send(
            &app,
            "GET",
            &format!("/api/v1/conversations/{}", f.conversation.uuid()),
            &[("Authorization", wacrm_key.clone())],
            None,
        )
        .await;
        assert_eq!(wacrm.body["data"]["status"], "closed");
        let kirim_path = format!(
            "/v1/106540352242922/conversations/{}",
            f.conversation.render(EntityKind::Conversation, Spelling::Kirim)
        );
        let kirim = send(
            &app,
            "GET",
            &kirim_path,
            &[("Authorization", format!("Bearer {}", f.key))],
            None,
        )
        .await;
        assert_eq!(kirim.body["data"]["status"], "resolved");

        // Assign, read the assignee through the other two.
        let r = send(
            &app,
            "POST",
            &format!("/api/whatsapp/conversations/{id}/assign"),
            &auth(&f.key, f.org),
            Some(&format!(r#"{{"userId":"{}"}}"#, e(EntityKind::User, f.agent2))),
        )
        .await;
        let c = store.get_conversation(f.org, f.conversation).unwrap().conversation;
        assert_eq!(
            (r.status, r.body),
            (
                200,
                json!({"success": true, "data": {
                    "id": id, "assigneeId": e(EntityKind::User, f.agent2),
                    "assignee": {"id": e(EntityKind::User, f.agent2), "name": "Second Agent", "email": "second@yourcompany.com"},
                    "status": "closed", "updatedAt": c.updated_at.to_rfc3339()
                }})
            )
        );
        let wacrm = send(
            &app,
            "GET",
            &format!("/api/v1/conversations/{}", f.conversation.uuid()),
            &[("Authorization", wacrm_key.clone())],
            None,
        )
        .await;
        assert_eq!(
            wacrm.body["data"]["assigned_agent_id"],
            json!(f.agent2.uuid().to_string())
        );
        let kirim = send(
            &app,
            "GET",
            &kirim_path,
            &[("Authorization", format!("Bearer {}", f.key))],
            None,
        )
        .await;
        assert_eq!(
            kirim.body["data"]["assignee"]["id"],
            json!(f.agent2.render(EntityKind::User, Spelling::Kirim))
        );

        // A new inbound message through Meta's webhook reopens it.
        let delivery = json!({"object": "whatsapp_business_account", "entry": [{"id": "waba", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Ahmed Hassan"}, "wa_id": "971501234567"}],
            "messages": [{"from": "971501234567", "id": "wamid.new", "timestamp": "1790000000", "type": "text", "text": {"body": "Still there?"}}]
        }}]}]})
        .to_string();
        let hook = test::call_service(
            &app,
            test::TestRequest::post()
                .uri("/webhooks/whatsapp")
                .insert_header(("X-Hub-Signature-256", sign(APP_SECRET, delivery.as_bytes())))
                .insert_header(("Content-Type", "application/json"))
                .set_payload(delivery)
                .to_request(),
        )
        .await;
        assert_eq!(hook.status(), 200);
        let r = send(
            &app,
            "GET",
            &format!("/api/whatsapp/conversations/{id}"),
            &auth(&f.key, f.org),
            None,
        )
        .await;
        assert_eq!(
            (
                r.body["data"]["status"].clone(),
                r.body["data"]["lastMessage"]["text"].clone()
            ),
            (json!("open"), json!("Still there?"))
        );
    }
}

#[actix_web::test]
async fn every_error_answers_in_envelope_shape() {
    for db in TestDb::all() {
        let (store, f, state) = setup(&db);
        let app = app(state, 0).await;
        let h = auth(&f.key, f.org);
        let id = e(EntityKind::Conversation, f.conversation);
        let conv = format!("/api/whatsapp/conversations/{id}");
        let org = e(EntityKind::Organization, f.org);
        let expired = jwt(e(EntityKind::User, f.agent), -10);
        let outsider = jwt(e(EntityKind::User, f.other_agent), 600);
        let foreign_user = format!(r#"{{"userId":"{}"}}"#, e(EntityKind::User, f.other_agent));
        let unknown_user = format!(r#"{{"userId":"{}"}}"#, e(EntityKind::User, Id::new()));
        let forged = rosetta_http::jwt::sign_hs256(
            &json!({"sub": e(EntityKind::User, f.agent), "exp": Timestamp::now().millis() / 1000 + 600}),
            b"not-the-secret",
        );
        // Valid signatures, but a token that never expires, and one that claims to live a year.
        let endless =
            rosetta_http::jwt::sign_hs256(&json!({"sub": e(EntityKind::User, f.agent)}), JWT_SECRET.as_bytes());
        let year = jwt(e(EntityKind::User, f.agent), 365 * 24 * 3600);
        let cases: Vec<Case> = vec![
            ("GET", conv.clone(), vec![], None, fail(401, "Unauthorized")),
            (
                "GET",
                conv.clone(),
                vec![("Authorization", format!("Bearer {}", f.key))],
                None,
                fail(401, "Unauthorized"),
            ),
            (
                "GET",
                conv.clone(),
                vec![
                    ("Authorization", format!("Bearer {}", f.key)),
                    ("x-org-id", "nope".into()),
                ],
                None,
                fail(401, "Unauthorized"),
            ),
            (
                "GET",
                conv.clone(),
                vec![("Authorization", f.key.clone()), ("x-org-id", org.clone())],
                None,
                fail(401, "Unauthorized"),
            ),
            (
                "GET",
                conv.clone(),
                auth("kdv_live_unknown", f.org),
                None,
                fail(401, "Unauthorized"),
            ),
            (
                "GET",
                conv.clone(),
                auth(&expired, f.org),
                None,
                fail(401, "Unauthorized"),
            ),
            (
                "GET",
                conv.clone(),
                auth(&forged, f.org),
                None,
                fail(401, "Unauthorized"),
            ),
            (
                "GET",
                conv.clone(),
                auth(&endless, f.org),
                None,
                fail(401, "Unauthorized"),
            ),
            ("GET", conv.clone(), auth(&year, f.org), None, fail(401, "Unauthorized")),
            (
                "GET",
                conv.clone(),
                auth(&f.other_key, f.org),
                None,
                fail(403, "Forbidden"),
            ),
            (
                "GET",
                conv.clone(),
                auth(&outsider, f.org),
                None,
                fail(403, "Forbidden"),
            ),
            (
                "GET",
                "/api/whatsapp/conversations/123".into(),
                h.clone(),
                None,
                fail(400, "Invalid conversation ID"),
            ),
            (
                "GET",
                format!("/api/whatsapp/conversations/{}", f.conversation.uuid()),
                h.clone(),
                None,
                fail(400, "Invalid conversation ID"),
            ),
            (
                "GET",
                format!(
                    "/api/whatsapp/conversations/{}",
                    e(EntityKind::Conversation, f.other_conversation)
                ),
                h.clone(),
                None,
                fail(404, "Conversation not found"),
            ),
            (
                "GET",
                format!("/api/whatsapp/conversations/{}", e(EntityKind::Conversation, Id::new())),
                h.clone(),
                None,
                fail(404, "Conversation not found"),
            ),
            (
                "GET",
                "/api/whatsapp/conversations?page=0".into(),
                h.clone(),
                None,
                fail(400, "Invalid page"),
            ),
            (
                "GET",
                "/api/whatsapp/conversations?limit=abc".into(),
                h.clone(),
                None,
                fail(400, "Invalid limit"),
            ),
            (
                "GET",
                "/api/whatsapp/conversations?status=pending".into(),
                h.clone(),
                None,
                fail(400, "Invalid status"),
            ),
            (
                "GET",
                "/api/whatsapp/conversations?assignee=bob".into(),
                h.clone(),
                None,
                fail(400, "Invalid assignee ID"),
            ),
            (
                "POST",
                format!("{conv}/close"),
                h.clone(),
                Some("{nope"),
                fail(400, "Invalid JSON body"),
            ),
            (
                "POST",
                format!("{conv}/close"),
                h.clone(),
                Some(r#"{"resolution":5}"#),
                fail(400, "resolution must be a string"),
            ),
            (
                "POST",
                format!("{conv}/assign"),
                h.clone(),
                Some("{}"),
                fail(400, "userId is required"),
            ),
            (
                "POST",
                format!("{conv}/assign"),
                h.clone(),
                Some(r#"{"userId":"bob"}"#),
                fail(400, "Invalid user ID"),
            ),
            (
                "POST",
                format!("{conv}/assign"),
                h.clone(),
                Some(&foreign_user),
                fail(403, "User is not a member of this organization"),
            ),
            (
                "POST",
                format!("{conv}/assign"),
                h.clone(),
                Some(&unknown_user),
                fail(403, "User is not a member of this organization"),
            ),
            (
                "GET",
                "/api/whatsapp/messages".into(),
                h.clone(),
                None,
                fail(400, "conversationId is required"),
            ),
            (
                "GET",
                "/api/whatsapp/messages?conversationId=x".into(),
                h.clone(),
                None,
                fail(400, "Invalid conversation ID"),
            ),
            (
                "GET",
                format!("/api/whatsapp/messages?conversationId={id}&before=x"),
                h.clone(),
                None,
                fail(400, "Invalid message ID"),
            ),
            (
                "GET",
                format!(
                    "/api/whatsapp/messages?conversationId={id}&before={}",
                    e(EntityKind::Message, Id::new())
                ),
                h.clone(),
                None,
                fail(404, "Message not found"),
            ),
            (
                "GET",
                format!(
                    "/api/whatsapp/messages?conversationId={}",
                    e(EntityKind::Conversation, f.other_conversation)
                ),
                h.clone(),
                None,
                fail(404, "Conversation not found"),
            ),
            ("DELETE", conv.clone(), h.clone(), None, fail(405, "Method not allowed")),
            (
                "GET",
                "/api/whatsapp/nowhere".into(),
                h.clone(),
                None,
                fail(404, "Not found"),
            ),
        ];
        for (method, uri, headers, body, expected) in cases {
            let r = send(&app, method, &uri, &headers, body).await;
            assert_eq!((r.status, r.body), expected, "{method} {uri} on {}", db.backend());
        }
        let big = format!(r#"{{"resolution":"{}"}}"#, "x".repeat(70_000));
        let r = send(&app, "POST", &format!("{conv}/close"), &h, Some(&big)).await;
        assert_eq!((r.status, r.body), fail(413, "Request body too large"));
        // Nothing above changed the conversation.
        let c = store.get_conversation(f.org, f.conversation).unwrap().conversation;
        assert_eq!((c.status, c.assignee_id), (ConversationStatus::Open, Some(f.agent)));
    }
}

#[actix_web::test]
async fn rate_limit_per_organization() {
    let db = TestDb::sqlite();
    let (_store, f, state) = setup(&db);
    let app = app(state, 3).await;
    let h = auth(&f.key, f.org);
    let token = jwt(e(EntityKind::User, f.agent), 600);
    for n in [2, 1] {
        let r = send(&app, "GET", "/api/whatsapp/conversations", &h, None).await;
        assert_eq!(
            (
                r.status,
                r.headers.get("x-ratelimit-remaining").unwrap().to_str().unwrap()
            ),
            (200, &*n.to_string())
        );
    }
    // A session token of the same organization shares the budget.
    let r = send(&app, "GET", "/api/whatsapp/conversations", &auth(&token, f.org), None).await;
    assert_eq!(r.status, 200);
    let r = send(&app, "GET", "/api/whatsapp/conversations", &h, None).await;
    assert_eq!((r.status, r.body), fail(429, "Rate limit exceeded"));
    assert!(r.headers.get("retry-after").is_some());
}
