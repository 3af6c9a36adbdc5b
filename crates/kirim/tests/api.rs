//! The kirim dialect, request in, exact JSON out, on SQLite and (when configured) PostgreSQL.

use rosetta_testkit::{self as testkit, contact, inbound, Reply, Shortcuts};
use std::sync::Arc;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::test;
use rosetta_core::key::KeyStyle;
use rosetta_core::*;
use rosetta_http::AppState;
use rosetta_store::testing::TestDb;
use serde_json::{json, Value};

const PNID: &str = "106540352242922";

fn k(kind: EntityKind, id: Id) -> String {
    id.render(kind, Spelling::Kirim)
}

struct Fixture {
    org: Id,
    account: Id,
    conversation: Id,
    contact: Id,
    agent: Id,
    key: String,
    wacrm_key: String,
    /// Another account of the same organization, with one conversation.
    second_conversation: Id,
    other_conversation: Id,
    other_contact: Id,
    other_agent: Id,
}

fn key(store: &dyn Store, org: Id, style: KeyStyle) -> CreatedApiKey {
    testkit::key(store, org, style, None)
}

fn fixture(store: &dyn Store) -> Fixture {
    let org = store.create_organization("Acme Support").unwrap().id;
    let account = store
        .create_account(org, PNID, "+15550783881", Some("Support"))
        .unwrap()
        .id;
    let second = store
        .create_account(org, "106540352242999", "+15550783899", Some("Sales"))
        .unwrap()
        .id;
    let agent = store
        .create_user(org, "Support Agent", "agent@yourcompany.com")
        .unwrap()
        .id;
    let jane = contact(store, org, "+14155550123", Some("Jane Doe"));
    let conversation = store.open_conversation(org, account, jane).unwrap().id;
    store.assign(org, conversation, Some(agent)).unwrap();
    store
        .append_message(org, inbound(conversation, "wamid.1", "Hi", "2026-07-01T12:00:00Z"))
        .unwrap();
    let second_conversation = store.open_conversation(org, second, jane).unwrap().id;

    let other = store.create_organization("Other").unwrap().id;
    let other_account = store
        .create_account(other, "106540352242923", "+15550783882", None)
        .unwrap()
        .id;
    let other_contact = contact(store, other, "+14155550123", None);
    let other_conversation = store.open_conversation(other, other_account, other_contact).unwrap().id;
    let other_agent = store.create_user(other, "Someone Else", "else@other.com").unwrap().id;
    Fixture {
        org,
        account,
        conversation,
        contact: jane,
        agent,
        key: key(store, org, KeyStyle::Kirim).secret,
        wacrm_key: key(store, org, KeyStyle::Wacrm).secret,
        second_conversation,
        other_conversation,
        other_contact,
        other_agent,
    }
}

/// kirim (and wacrm beside it, as `serve --dialect all` mounts them) over one store; `rate`:
/// reads a minute (writes a tenth), `None` for the product's defaults (600 and 60).
async fn app(
    state: AppState,
    rate: Option<u32>,
) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error> {
    let dialects = testkit::Dialects {
        wacrm: Some(0),
        kirim: Some(rate.unwrap_or(rosetta_kirim::DEFAULT_READS_PER_MINUTE)),
        envelope: None,
        jwt_secret: None,
        app_secret: None,
        graph: None,
        media: None,
    };
    testkit::app(state, dialects).await
}

trait KirimReply {
    /// The body with its request id checked against `X-Request-Id` and taken out.
    fn json(&self) -> Value;
}

impl KirimReply for Reply {
    fn json(&self) -> Value {
        without_request_id(self)
    }
}

fn without_request_id(reply: &Reply) -> Value {
    let id = reply.header("x-request-id").expect("every response has X-Request-Id");
    assert!(id.starts_with("req_") && id.len() == 30, "{id}");
    let mut body = reply.body.clone();
    let slot = if body.get("error").is_some() {
        body["error"].as_object_mut().unwrap()
    } else {
        body.as_object_mut().unwrap()
    };
    assert_eq!(
        slot.remove("request_id"),
        Some(Value::String(id.to_owned())),
        "{}",
        reply.body
    );
    body
}

async fn send(
    app: &impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut all: Vec<(&str, String)> = key
        .map(|k| ("Authorization", format!("Bearer {k}")))
        .into_iter()
        .collect();
    all.extend(headers.iter().map(|(n, v)| (*n, (*v).to_owned())));
    testkit::send(app, method, uri, &all, body).await
}

/// Method, URI, key, body, and the status and body (request id taken out) expected.
type Case<'a> = (&'static str, String, Option<&'a str>, Option<String>, (u16, Value));

fn err(status: u16, kind: &str, code: &str, message: &str, param: Option<&str>) -> (u16, Value) {
    let mut e = json!({"type": kind, "code": code, "message": message});
    if let Some(p) = param {
        e["param"] = json!(p);
    }
    (status, json!({ "error": e }))
}

fn expected_conversation(store: &dyn Store, f: &Fixture) -> Value {
    let c = store.get_conversation(f.org, f.conversation).unwrap().conversation;
    json!({
        "id": k(EntityKind::Conversation, f.conversation),
        "object": "conversation",
        "status": "open",
        "contact": {"id": k(EntityKind::Contact, f.contact), "phone_number": "+14155550123", "name": "Jane Doe"},
        "whatsapp_account": {"phone_number": "+15550783881"},
        "assignee": {"id": k(EntityKind::User, f.agent), "name": "Support Agent", "email": "agent@yourcompany.com"},
        "unread_count": 1,
        "last_message_at": "2026-07-01T12:00:00.000Z",
        "last_inbound_at": "2026-07-01T12:00:00.000Z",
        "created_at": c.created_at.to_rfc3339(),
        "updated_at": c.updated_at.to_rfc3339(),
    })
}

fn setup(db: &TestDb) -> (Arc<dyn Store>, Fixture, AppState) {
    let (store, state) = testkit::state(db);
    let f = fixture(store.as_ref());
    (store, f, state)
}

#[actix_web::test]
async fn conversations_read_and_patch() {
    for db in TestDb::all() {
        let (store, f, state) = setup(&db);
        let app = app(state, None).await;
        let key = Some(f.key.as_str());
        let cnv = k(EntityKind::Conversation, f.conversation);

        let r = send(&app, "GET", &format!("/v1/{PNID}/conversations"), key, None, &[]).await;
        assert_eq!(r.status, 200, "{}", db.backend());
        assert_eq!(
            r.json(),
            json!({"data": [expected_conversation(store.as_ref(), &f)], "has_more": false, "next_cursor": null})
        );
        assert_eq!(r.header("x-ratelimit-limit"), Some("600"));
        assert_eq!(r.header("x-ratelimit-remaining"), Some("599"));
        assert_eq!(
            r.header("x-ratelimit-reset").unwrap().parse::<i64>().unwrap(),
            testkit::FIXED_NOW - testkit::FIXED_NOW % 60 + 60
        );

        // Filters: status and contact.
        for (query, n) in [
            ("status=open", 1),
            ("status=resolved", 0),
            ("status=pending", 0),
            (&*format!("contact_id={}", k(EntityKind::Contact, f.contact)), 1),
        ] {
            let r = send(
                &app,
                "GET",
                &format!("/v1/{PNID}/conversations?{query}"),
                key,
                None,
                &[],
            )
            .await;
            assert_eq!(
                (r.status, r.body["data"].as_array().unwrap().len()),
                (200, n),
                "{query}"
            );
        }

        let r = send(&app, "GET", &format!("/v1/{PNID}/conversations/{cnv}"), key, None, &[]).await;
        assert_eq!(
            (r.status, r.json()),
            (200, json!({"data": expected_conversation(store.as_ref(), &f)}))
        );

        // PATCH both at once, then unassign; wacrm reads the same conversation.
        let path = format!("/v1/{PNID}/conversations/{cnv}");
        let r = send(
            &app,
            "PATCH",
            &path,
            key,
            Some(r#"{"status":"resolved","assigned_to":null}"#),
            &[],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let mut expected = expected_conversation(store.as_ref(), &f);
        expected["status"] = json!("resolved");
        expected["assignee"] = Value::Null;
        assert_eq!(r.json(), json!({ "data": expected }));
        assert_eq!(
            store
                .get_conversation(f.org, f.conversation)
                .unwrap()
                .conversation
                .status,
            ConversationStatus::Closed
        );
        let wacrm = test::call_service(
            &app,
            test::TestRequest::get()
                .uri(&format!(
                    "/api/v1/conversations/{}",
                    f.conversation.render(EntityKind::Conversation, Spelling::Uuid)
                ))
                .insert_header(("Authorization", f.wacrm_key.clone()))
                .to_request(),
        )
        .await;
        let wacrm: Value = test::read_body_json(wacrm).await;
        assert_eq!(wacrm["data"]["status"], "closed");
        assert_eq!(wacrm["data"]["assigned_agent_id"], Value::Null);

        let agent = k(EntityKind::User, f.agent);
        let r = send(
            &app,
            "PATCH",
            &path,
            key,
            Some(&format!(r#"{{"assigned_to":"{agent}"}}"#)),
            &[],
        )
        .await;
        assert_eq!(
            (r.status, &r.body["data"]["assignee"]["id"], &r.body["data"]["status"]),
            (200, &json!(agent), &json!("resolved"))
        );
        let r = send(&app, "PATCH", &path, key, Some(r#"{"status":"open"}"#), &[]).await;
        assert_eq!((r.status, &r.body["data"]["status"]), (200, &json!("open")));

        // kirim's "open" on a conversation it already shows as open keeps the canonical status.
        store
            .set_status(f.org, f.conversation, ConversationStatus::AiHandling, None)
            .unwrap();
        let r = send(&app, "PATCH", &path, key, Some(r#"{"status":"open"}"#), &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            store
                .get_conversation(f.org, f.conversation)
                .unwrap()
                .conversation
                .status,
            ConversationStatus::AiHandling
        );

        // A key of another dialect, same organization, works unchanged.
        let r = send(&app, "GET", &path, Some(&f.wacrm_key), None, &[]).await;
        assert_eq!(r.status, 200);
    }
}

#[actix_web::test]
async fn every_error_answers_in_kirim_shape() {
    for db in TestDb::all() {
        let (store, f, state) = setup(&db);
        let app = app(state, None).await;
        let key = Some(f.key.as_str());
        let cnv = k(EntityKind::Conversation, f.conversation);
        let list = format!("/v1/{PNID}/conversations");
        let one = format!("/v1/{PNID}/conversations/{cnv}");
        let ctc_pattern = "contact_id must be ctc_ followed by 26 Crockford base32 characters";

        let cases: Vec<Case> = vec![
            (
                "GET",
                list.clone(),
                None,
                None,
                err(
                    401,
                    "authentication_error",
                    "invalid_api_key",
                    "Missing or invalid API key: send Authorization: Bearer <key>",
                    None,
                ),
            ),
            (
                "GET",
                list.clone(),
                Some("kdv_live_nope"),
                None,
                err(
                    401,
                    "authentication_error",
                    "invalid_api_key",
                    "Missing or invalid API key: send Authorization: Bearer <key>",
                    None,
                ),
            ),
            (
                "GET",
                "/v1/12345/conversations".into(),
                key,
                None,
                err(
                    400,
                    "invalid_request_error",
                    "invalid_phone_number",
                    "phone_number_id must be 6 to 20 digits",
                    Some("phone_number_id"),
                ),
            ),
            (
                "GET",
                "/v1/1065403522429x/conversations".into(),
                key,
                None,
                err(
                    400,
                    "invalid_request_error",
                    "invalid_phone_number",
                    "phone_number_id must be 6 to 20 digits",
                    Some("phone_number_id"),
                ),
            ),
            (
                "GET",
                format!("{list}?limit=0"),
                key,
                None,
                err(
                    400,
                    "invalid_request_error",
                    "invalid_limit",
                    "limit must be an integer from 1 to 100",
                    Some("limit"),
                ),
            ),
            (
                "GET",
                format!("{list}?limit=101"),
                key,
                None,
                err(
                    400,
                    "invalid_request_error",
                    "invalid_limit",
                    "limit must be an integer from 1 to 100",
                    Some("limit"),
                ),
            ),
            (
                "GET",
                format!("{list}?limit=2.5"),
                key,
                None,
                err(
                    400,
                    "invalid_request_error",
                    "invalid_limit",
                    "limit must be an integer from 1 to 100",
                    Some("limit"),
                ),
            ),
            (
                "GET",
                format!("{list}?cursor=garbage"),
                key,
                None,
                err(
                    400,
                    "invalid_request_error",
                    "invalid_cursor",
                    "cursor is not valid for this list and these filters",
                    Some("cursor"),
                ),
            ),
            (
                "GET",
                format!("{list}?status=closed"),
                key,
                None,
                err(
                    400,
                    "invalid_request_error",
                    "invalid_field_value",
                    "status must be one of open, resolved, pending",
                    Some("status"),
                ),
            ),
            (
                "GET",
                format!("{list}?contact_id=ctc_123"),
                key,
                None,
                err(
                    400,
                    "invalid_request_error",
                    "invalid_field_value",
                    ctc_pattern,
                    Some("contact_id"),
                ),
            ),
            (
                "GET",
                format!("{list}?contact_id=ctc_01hxyzabcdefghjkmnpqrstvwx"),
                key,
                None,
                err(
                    400,
                    "invalid_request_error",
                    "invalid_field_value",
                    ctc_pattern,
                    Some("contact_id"),
                ),
            ),
            (
                "GET",
                format!("{list}?contact_id={}", k(EntityKind::Contact, f.other_contact)),
                key,
                None,
                err(
                    404,
                    "not_found",
                    "resource_not_found",
                    "Contact not found",
                    Some("contact_id"),
                ),
            ),
            (
                "GET",
                "/v1/106540352242923/conversations".into(),
                key,
                None,
                err(
                    404,
                    "not_found",
                    "resource_not_found",
                    "WhatsApp account not found",
                    None,
                ),
            ),
            (
                "GET",
                "/v1/999999999/conversations".into(),
                key,
                None,
                err(
                    404,
                    "not_found",
                    "resource_not_found",
                    "WhatsApp account not found",
                    None,
                ),
            ),
            (
                "GET",
                format!(
                    "/v1/{PNID}/conversations/{}",
                    k(EntityKind::Conversation, f.other_conversation)
                ),
                key,
                None,
                err(404, "not_found", "resource_not_found", "Conversation not found", None),
            ),
            (
                "GET",
                format!(
                    "/v1/{PNID}/conversations/{}",
                    k(EntityKind::Conversation, f.second_conversation)
                ),
                key,
                None,
                err(404, "not_found", "resource_not_found", "Conversation not found", None),
            ),
            (
                "GET",
                format!(
                    "/v1/{PNID}/conversations/{}",
                    f.conversation.render(EntityKind::Conversation, Spelling::Uuid)
                ),
                key,
                None,
                err(
                    400,
                    "invalid_request_error",
                    "invalid_field_value",
                    "id must be cnv_ followed by 26 Crockford base32 characters",
                    Some("id"),
                ),
            ),
            (
                "PATCH",
                one.clone(),
                key,
                Some("{}".into()),
                err(
                    400,
                    "invalid_request_error",
                    "missing_required_field",
                    "Send at least one of status, assigned_to",
                    Some("status"),
                ),
            ),
            (
                "PATCH",
                one.clone(),
                key,
                Some(r#"{"status":"closed"}"#.into()),
                err(
                    400,
                    "invalid_request_error",
                    "invalid_field_value",
                    "status must be one of open, resolved, pending",
                    Some("status"),
                ),
            ),
            (
                "PATCH",
                one.clone(),
                key,
                Some(r#"{"assigned_to":42}"#.into()),
                err(
                    400,
                    "invalid_request_error",
                    "invalid_field_value",
                    "assigned_to must be a user id (usr_…) or null",
                    Some("assigned_to"),
                ),
            ),
            (
                "PATCH",
                one.clone(),
                key,
                Some(format!(r#"{{"assigned_to":"{}"}}"#, k(EntityKind::User, f.other_agent))),
                err(
                    404,
                    "not_found",
                    "resource_not_found",
                    "User not found",
                    Some("assigned_to"),
                ),
            ),
            (
                "PATCH",
                one.clone(),
                key,
                Some("{not json".into()),
                err(
                    400,
                    "invalid_request_error",
                    "invalid_request",
                    "The request body is not valid JSON: key must be a string at line 1 column 2",
                    None,
                ),
            ),
            (
                "PATCH",
                one.clone(),
                key,
                Some("[1]".into()),
                err(
                    400,
                    "invalid_request_error",
                    "invalid_request",
                    "The request body must be a JSON object",
                    None,
                ),
            ),
            (
                "PATCH",
                one.clone(),
                key,
                Some(format!(r#"{{"status":"open","pad":"{}"}}"#, "x".repeat(70_000))),
                err(
                    413,
                    "invalid_request_error",
                    "invalid_request",
                    "Payload Too Large",
                    None,
                ),
            ),
            (
                "POST",
                format!("/v1/{PNID}/contacts"),
                key,
                Some("{}".into()),
                err(
                    400,
                    "invalid_request_error",
                    "missing_required_field",
                    "phone_number is required",
                    Some("phone_number"),
                ),
            ),
            (
                "POST",
                format!("/v1/{PNID}/contacts"),
                key,
                Some(r#"{"phone_number":"hello"}"#.into()),
                err(
                    400,
                    "invalid_request_error",
                    "invalid_field_value",
                    "phone_number must be a phone number in E.164 form, like +14155550123",
                    Some("phone_number"),
                ),
            ),
            (
                "POST",
                format!("/v1/{PNID}/contacts"),
                key,
                Some(r#"{"phone_number":"+14155550100","metadata":[1]}"#.into()),
                err(
                    400,
                    "invalid_request_error",
                    "invalid_field_value",
                    "metadata must be a JSON object",
                    Some("metadata"),
                ),
            ),
            (
                "POST",
                format!("/v1/{PNID}/contacts"),
                key,
                Some(r#"{"phone_number":"+14155550100","email":"nope"}"#.into()),
                err(
                    400,
                    "invalid_request_error",
                    "invalid_field_value",
                    "email must be an email address",
                    Some("email"),
                ),
            ),
            (
                "DELETE",
                one.clone(),
                key,
                None,
                err(
                    405,
                    "invalid_request_error",
                    "invalid_request",
                    "Method not allowed on this resource",
                    None,
                ),
            ),
            (
                "GET",
                "/v1/nowhere/at/all".into(),
                key,
                None,
                err(404, "not_found", "resource_not_found", "Resource not found", None),
            ),
            (
                "GET",
                "/v1/accounts?status=gone".into(),
                key,
                None,
                err(
                    400,
                    "invalid_request_error",
                    "invalid_field_value",
                    "status must be connected or all",
                    Some("status"),
                ),
            ),
        ];
        for (method, uri, key, body, expected) in cases {
            let r = send(&app, method, &uri, key, body.as_deref(), &[]).await;
            assert_eq!((r.status, r.json()), expected, "{method} {uri} on {}", db.backend());
        }
        // Nothing above changed the conversation.
        let c = store.get_conversation(f.org, f.conversation).unwrap().conversation;
        assert_eq!((c.status, c.assignee_id), (ConversationStatus::Open, Some(f.agent)));

        // A cursor made for one filter is refused with another.
        store
            .open_conversation(f.org, f.account, contact(store.as_ref(), f.org, "+14155550124", None))
            .unwrap();
        let r = send(&app, "GET", &format!("{list}?limit=1"), key, None, &[]).await;
        let cursor = r.body["next_cursor"].as_str().unwrap().to_owned();
        let r = send(
            &app,
            "GET",
            &format!("{list}?limit=1&status=open&cursor={cursor}"),
            key,
            None,
            &[],
        )
        .await;
        assert_eq!(
            (r.status, r.body["error"]["code"].clone()),
            (400, json!("invalid_cursor"))
        );

        // The client's own X-Request-Id is not echoed: Rosetta's is.
        let r = send(&app, "GET", &list, key, None, &[("X-Request-Id", "mine-123")]).await;
        assert_ne!(r.header("x-request-id"), Some("mine-123"));
        r.json();
        let r = send(&app, "GET", &list, None, None, &[("X-Request-Id", "mine-123")]).await;
        assert_eq!(r.status, 401);
        r.json();
    }
}

#[actix_web::test]
async fn rate_limits_count_reads_and_writes_apart_per_organization() {
    let db = TestDb::sqlite();
    let (_store, f, state) = setup(&db);
    // 20 reads and 2 writes a minute.
    let app = app(state, Some(20)).await;
    let key = Some(f.key.as_str());
    let list = format!("/v1/{PNID}/conversations");
    let patch = format!(
        "/v1/{PNID}/conversations/{}",
        k(EntityKind::Conversation, f.conversation)
    );
    for n in (0..20).rev() {
        let r = send(&app, "GET", &list, key, None, &[]).await;
        assert_eq!(
            (r.status, r.header("x-ratelimit-remaining")),
            (200, Some(&*n.to_string()))
        );
    }
    // Another key of the same organization shares its budget.
    let r = send(&app, "GET", &list, Some(&f.wacrm_key), None, &[]).await;
    assert_eq!(
        (r.status, r.json()),
        err(
            429,
            "rate_limit_error",
            "rate_limit_exceeded",
            "Rate limit exceeded for this organization",
            None
        )
    );
    let retry: i64 = r.header("retry-after").unwrap().parse().unwrap();
    assert_eq!(
        retry,
        60 - testkit::FIXED_NOW % 60,
        "the rest of the fixed clock's minute"
    );
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    // Writes have their own budget.
    for _ in 0..2 {
        let r = send(&app, "PATCH", &patch, key, Some(r#"{"status":"pending"}"#), &[]).await;
        assert_eq!((r.status, r.header("x-ratelimit-limit")), (200, Some("2")));
    }
    let r = send(&app, "PATCH", &patch, key, Some(r#"{"status":"open"}"#), &[]).await;
    assert_eq!(r.status, 429);
    // Health is public and unlimited.
    let r = send(&app, "GET", "/v1/health", None, None, &[]).await;
    assert_eq!((r.status, r.json()), (200, json!({"status": "ok"})));
}

#[actix_web::test]
async fn contacts_accounts_and_me() {
    for db in TestDb::all() {
        let (store, f, state) = setup(&db);
        let app = app(state, None).await;
        let key = Some(f.key.as_str());
        let contacts = format!("/v1/{PNID}/contacts");

        let body = r#"{"phone_number":"+44 20 7946 0958","name":"Ana","email":"ana@example.com","metadata":{"plan":"pro","seats":3}}"#;
        let r = send(&app, "POST", &contacts, key, Some(body), &[]).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let data = r.json()["data"].clone();
        let id = data["id"].as_str().unwrap().to_owned();
        let created = store
            .get_contact(f.org, Id::parse(EntityKind::Contact, Spelling::Kirim, &id).unwrap())
            .unwrap()
            .contact;
        let expected = json!({
            "id": id, "object": "contact", "phone_number": "+442079460958", "name": "Ana", "email": "ana@example.com",
            "metadata": {"plan": "pro", "seats": 3}, "whatsapp_account": {"phone_number": "+15550783881"},
            "created_at": created.created_at.to_rfc3339(), "updated_at": created.updated_at.to_rfc3339()
        });
        assert_eq!(data, expected);
        // The same phone again: 200 with the existing contact, unchanged.
        let r = send(
            &app,
            "POST",
            &contacts,
            key,
            Some(r#"{"phone_number":"+442079460958","name":"Other"}"#),
            &[],
        )
        .await;
        assert_eq!((r.status, r.json()), (200, json!({ "data": expected })));

        // Lists: by phone, by search, paged.
        let r = send(
            &app,
            "GET",
            &format!("{contacts}?phone=%2B442079460958"),
            key,
            None,
            &[],
        )
        .await;
        assert_eq!(
            (r.status, r.json()),
            (200, json!({"data": [expected], "has_more": false, "next_cursor": null}))
        );
        let r = send(&app, "GET", &format!("{contacts}?search=jane"), key, None, &[]).await;
        assert_eq!(r.body["data"][0]["id"], json!(k(EntityKind::Contact, f.contact)));
        assert_eq!(r.body["data"][0]["metadata"], json!({}));
        let r = send(&app, "GET", &format!("{contacts}?limit=1"), key, None, &[]).await;
        assert_eq!(
            (r.body["data"][0]["id"].clone(), r.body["has_more"].clone()),
            (json!(id), json!(true))
        );
        let next = r.body["next_cursor"].as_str().unwrap().to_owned();
        let r = send(
            &app,
            "GET",
            &format!("{contacts}?limit=1&cursor={next}"),
            key,
            None,
            &[],
        )
        .await;
        assert_eq!(r.body["data"][0]["id"], json!(k(EntityKind::Contact, f.contact)));
        let r = send(&app, "GET", &format!("{contacts}?phone=nope"), key, None, &[]).await;
        assert_eq!((r.status, r.body["error"]["param"].clone()), (400, json!("phone")));

        let r = send(&app, "GET", "/v1/accounts", key, None, &[]).await;
        let accounts = json!({"data": [
            {"object": "account", "phone_number_id": PNID, "phone_number": "+15550783881", "name": "Support", "status": "connected"},
            {"object": "account", "phone_number_id": "106540352242999", "phone_number": "+15550783899", "name": "Sales", "status": "connected"}
        ], "has_more": false, "next_cursor": null});
        assert_eq!((r.status, r.json()), (200, accounts.clone()));
        let r = send(&app, "GET", "/v1/accounts?status=all", key, None, &[]).await;
        assert_eq!((r.status, r.json()), (200, accounts));

        let r = send(&app, "GET", "/v1/me", key, None, &[]).await;
        let me = r.json();
        assert_eq!(r.status, 200);
        assert_eq!(
            me["data"]["organization"],
            json!({"id": k(EntityKind::Organization, f.org), "name": "Acme Support"})
        );
        assert_eq!(me["data"]["api_key"]["label"], "ci");
        assert_eq!(me["data"]["api_key"]["last4"], json!(&f.key[f.key.len() - 4..]));
        assert!(me["data"]["api_key"]["id"].as_str().unwrap().starts_with("key_"));
        assert_eq!(
            me["data"]["rate_limits"],
            json!({"read_per_minute": 600, "write_per_minute": 60})
        );

        let r = send(&app, "GET", "/v1/health", None, None, &[]).await;
        assert_eq!((r.status, r.json()), (200, json!({"status": "ok"})));
        let r = send(&app, "GET", "/v1/openapi.json", None, None, &[]).await;
        assert_eq!(
            (r.status, r.body["info"]["title"].clone()),
            (200, json!("Rosetta: kirim dialect"))
        );
        assert!(r.header("x-request-id").is_some());
    }
}

#[actix_web::test]
async fn idempotency_keys_replay_refuse_reuse_and_wait_for_the_first() {
    for db in TestDb::all() {
        let (store, f, state) = setup(&db);
        let app = app(state, None).await;
        let key = Some(f.key.as_str());
        let contacts = format!("/v1/{PNID}/contacts");
        let body = r#"{"phone_number":"+14155550177","name":"Idem"}"#;
        let idem = [("Idempotency-Key", "order-7")];

        let first = send(&app, "POST", &contacts, key, Some(body), &idem).await;
        assert_eq!((first.status, first.header("idempotent-replayed")), (201, None));
        // The same request again: the first response, flagged, byte for byte.
        let again = send(
            &app,
            "POST",
            &contacts,
            key,
            Some(r#"{ "name": "Idem", "phone_number": "+14155550177" }"#),
            &idem,
        )
        .await;
        assert_eq!((again.status, again.header("idempotent-replayed")), (201, Some("true")));
        assert_eq!(again.body, first.body);
        assert_ne!(again.header("x-request-id"), first.header("x-request-id"));
        // Same key, other body.
        let r = send(
            &app,
            "POST",
            &contacts,
            key,
            Some(r#"{"phone_number":"+14155550178"}"#),
            &idem,
        )
        .await;
        assert_eq!(
            (r.status, r.json()),
            err(
                422,
                "invalid_request_error",
                "idempotency_key_reuse",
                "This Idempotency-Key was used with a different request",
                None
            )
        );
        assert!(store
            .list_contacts(
                f.org,
                &ContactFilter {
                    phone: Some("+14155550178".into()),
                    ..Default::default()
                },
                &PageRequest::first(5)
            )
            .unwrap()
            .items
            .is_empty());
        // Keys are per organization: another organization's same key is its own.
        // (Claimed directly, as a request still running on another instance would have.)
        let fingerprint =
            rosetta_core::idempotency::request_fingerprint("POST", &contacts, br#"{"phone_number":"+14155550179"}"#);
        assert_eq!(
            store.claim_idempotency_key(f.org, "in-flight", &fingerprint).unwrap(),
            IdempotencyClaim::Claimed
        );
        let r = send(
            &app,
            "POST",
            &contacts,
            key,
            Some(r#"{"phone_number":"+14155550179"}"#),
            &[("Idempotency-Key", "in-flight")],
        )
        .await;
        assert_eq!(
            (r.status, r.json()),
            err(
                409,
                "conflict",
                "idempotency_in_progress",
                "A request with this Idempotency-Key is still running; retry shortly",
                None
            )
        );
        // A failed request leaves its key free.
        let r = send(
            &app,
            "POST",
            &contacts,
            key,
            Some(r#"{"phone_number":"bad"}"#),
            &[("Idempotency-Key", "k2")],
        )
        .await;
        assert_eq!(r.status, 400);
        let r = send(
            &app,
            "POST",
            &contacts,
            key,
            Some(r#"{"phone_number":"+14155550180"}"#),
            &[("Idempotency-Key", "k2")],
        )
        .await;
        assert_eq!(r.status, 201);
        // Too long a key.
        let long = "x".repeat(256);
        let r = send(&app, "POST", &contacts, key, Some(body), &[("Idempotency-Key", &long)]).await;
        assert_eq!(
            (r.status, r.body["error"]["param"].clone()),
            (400, json!("Idempotency-Key"))
        );
        // Ignored on PATCH.
        let patch = format!(
            "/v1/{PNID}/conversations/{}",
            k(EntityKind::Conversation, f.conversation)
        );
        let r = send(&app, "PATCH", &patch, key, Some(r#"{"status":"pending"}"#), &idem).await;
        assert_eq!((r.status, r.header("idempotent-replayed")), (200, None));
    }
}

#[actix_web::test]
async fn walking_every_page_in_last_message_order() {
    for db in TestDb::all() {
        let (store, f, state) = setup(&db);
        let app = app(state, None).await;
        let key = Some(f.key.as_str());
        // 9 more conversations: some with messages at various times, some without.
        let mut expected: Vec<(i64, Id)> = Vec::new();
        let first = store.get_conversation(f.org, f.conversation).unwrap().conversation;
        expected.push((first.last_message_at.unwrap().millis(), f.conversation));
        for i in 0..9 {
            let c = contact(store.as_ref(), f.org, &format!("+1415555020{i}"), None);
            let conversation = store.open_conversation(f.org, f.account, c).unwrap().id;
            if i % 3 != 0 {
                let at = format!("2026-07-0{}T10:00:00Z", 1 + (i % 4));
                let m = store
                    .append_message(f.org, inbound(conversation, &format!("wamid.w{i}"), "x", &at))
                    .unwrap();
                expected.push((m.created_at.millis(), conversation));
            } else {
                expected.push((-1, conversation));
            }
        }
        expected.sort_by(|a, b| b.cmp(a));
        let want: Vec<String> = expected
            .iter()
            .map(|(_, id)| k(EntityKind::Conversation, *id))
            .collect();
        let mut seen = Vec::new();
        let mut uri = format!("/v1/{PNID}/conversations?limit=3");
        loop {
            let r = send(&app, "GET", &uri, key, None, &[]).await;
            assert_eq!(r.status, 200);
            let body = r.json();
            seen.extend(
                body["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["id"].as_str().unwrap().to_owned()),
            );
            assert_eq!(body["has_more"].as_bool().unwrap(), body["next_cursor"].is_string());
            match body["next_cursor"].as_str() {
                Some(c) => uri = format!("/v1/{PNID}/conversations?limit=3&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen, want, "{}", db.backend());
    }
}
