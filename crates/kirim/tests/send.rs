//! `POST /v1/{phone_number_id}/messages` (sends and mark-as-read), a conversation's messages, and
//! a contact by id: a request in, the exact JSON out, with a dispatch worker sending to the Graph
//! API stand-in over HTTP; on SQLite and (when configured) PostgreSQL.

use rosetta_core::key::KeyStyle;
use rosetta_core::*;
use rosetta_graph::standin::Fault;
use rosetta_store::testing::TestDb;
use rosetta_testkit as testkit;
use serde_json::{json, Value};

const PNID: &str = "106540352242922";

fn kid(kind: EntityKind, id: Id) -> String {
    id.render(kind, Spelling::Kirim)
}

/// The body without its `request_id` (checked against `X-Request-Id`).
fn json_of(reply: &testkit::Reply) -> Value {
    let id = reply.header("x-request-id").expect("X-Request-Id").to_owned();
    let mut body = reply.body.clone();
    let slot = if body.get("error").is_some() {
        body["error"].as_object_mut().unwrap()
    } else {
        body.as_object_mut().unwrap()
    };
    assert_eq!(slot.remove("request_id"), Some(Value::String(id)), "{}", reply.body);
    body
}

fn error(status_type: &str, code: &str, message: &str, param: Option<&str>) -> Value {
    let mut e = json!({"type": status_type, "code": code, "message": message});
    if let Some(p) = param {
        e["param"] = json!(p);
    }
    json!({"error": e})
}

#[actix_web::test]
async fn sends_queue_pending_messages_that_reach_meta_once() {
    for db in TestDb::all() {
        let (store, state) = testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        let account = s.create_account(org, PNID, "+15550783881", Some("Support")).unwrap().id;
        let key = testkit::key(s, org, KeyStyle::Kirim, None).secret;
        let standin = testkit::standin(s, org, account, PNID);
        let dialects = testkit::Dialects {
            wacrm: None,
            envelope: None,
            graph: Some(testkit::graph(standin.url())),
            ..testkit::Dialects::all()
        };
        let app = testkit::app(state.clone(), dialects).await;
        testkit::dispatch(&state, standin.url());
        let auth = vec![("Authorization", format!("Bearer {key}"))];
        let post = |body: String, headers: Vec<(&'static str, String)>| {
            let app = &app;
            async move { testkit::send(app, "POST", &format!("/v1/{PNID}/messages"), &headers, Some(&body)).await }
        };

        // The customer wrote a minute ago: the window is open.
        let contact = testkit::contact(s, org, "+14155550123", Some("Jane Doe"));
        let conversation = s.open_conversation(org, account, contact).unwrap().id;
        let at = Timestamp(Timestamp::now().millis() - 60_000);
        s.append_message(
            org,
            rosetta_store::testing::inbound_text(conversation, "wamid.asked", "Where is it?", at),
        )
        .unwrap();

        let text = r#"{"messaging_product": "whatsapp", "recipient_type": "individual", "to": "14155550123",
                       "type": "text", "text": {"body": "It ships today"}, "context": {"message_id": "wamid.asked"}}"#;
        let r = post(text.into(), auth.clone()).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let body = json_of(&r);
        let id = body["data"]["id"].as_str().unwrap().to_owned();
        let message = Id::parse(EntityKind::Message, Spelling::Kirim, &id).unwrap();
        let (stamp, updated) = (body["data"]["created_at"].clone(), body["data"]["updated_at"].clone());
        assert_eq!(
            body,
            json!({"data": {"id": id, "object": "message", "conversation_id": kid(EntityKind::Conversation, conversation),
                            "direction": "outbound", "type": "text", "status": "pending", "wamid": null,
                            "text": "It ships today", "media": null, "template": null,
                            "context_message_id": "wamid.asked", "error": null,
                            "created_at": stamp, "updated_at": updated}})
        );
        let sent = testkit::settled(&state, org, message).await;
        let received = standin.received();
        assert_eq!((sent.status, received.len()), (MessageStatus::Sent, 1));
        assert_eq!(sent.wamid.as_deref(), Some(received[0].wamid.as_str()));
        assert_eq!(
            received[0].body,
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "14155550123",
                   "type": "text", "text": {"body": "It ships today", "preview_url": false},
                   "context": {"message_id": "wamid.asked"}, "biz_opaque_callback_data": message.to_string()})
        );

        // The conversation's messages, newest first, in kirim's list shape.
        let r = testkit::send(
            &app,
            "GET",
            &format!(
                "/v1/{PNID}/conversations/{}/messages?limit=1",
                kid(EntityKind::Conversation, conversation)
            ),
            &auth,
            None,
        )
        .await;
        let list = json_of(&r);
        assert_eq!(
            (list["has_more"].clone(), list["data"][0]["status"].clone()),
            (json!(true), json!("sent"))
        );
        assert_eq!(list["data"][0]["wamid"], received[0].wamid.as_str());
        assert_eq!(list["data"].as_array().unwrap().len(), 1);
        let r = testkit::send(
            &app,
            "GET",
            &format!("/v1/{PNID}/conversations/cnv_nope/messages"),
            &auth,
            None,
        )
        .await;
        assert_eq!(r.status, 400);

        // Idempotency-Key: the first response byte for byte, and one send.
        let keyed = |k: &str| {
            let mut h = auth.clone();
            h.push(("Idempotency-Key", k.to_owned()));
            h
        };
        let template = r#"{"messaging_product": "whatsapp", "to": "+1 415 555 0177", "type": "template",
                           "template": {"name": "order_update", "language": {"code": "en_US"}}}"#;
        let first = post(template.into(), keyed("t-1")).await;
        let again = post(template.into(), keyed("t-1")).await;
        assert_eq!((first.status, again.status), (200, 200));
        assert_eq!(first.body, again.body, "replayed byte for byte");
        assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
        let reused = post(text.into(), keyed("t-1")).await;
        assert_eq!(
            (reused.status, json_of(&reused)),
            (
                422,
                error(
                    "invalid_request_error",
                    "idempotency_key_reuse",
                    "This Idempotency-Key was used with a different request",
                    None
                )
            )
        );
        let made = Id::parse(
            EntityKind::Message,
            Spelling::Kirim,
            first.body["data"]["id"].as_str().unwrap(),
        )
        .unwrap();
        testkit::settled(&state, org, made).await;
        assert_eq!(standin.count_to("14155550177"), 1);

        // Meta refuses later: the message shows failed, with kirim's code and Meta's.
        standin.fail(
            "14155550188",
            [Fault::Code {
                code: 132001,
                status: 400,
            }],
        );
        let r = post(template.replace("+1 415 555 0177", "14155550188"), auth.clone()).await;
        let failed = Id::parse(
            EntityKind::Message,
            Spelling::Kirim,
            r.body["data"]["id"].as_str().unwrap(),
        )
        .unwrap();
        let m = testkit::settled(&state, org, failed).await;
        let conversation_of_failed = kid(EntityKind::Conversation, m.conversation_id);
        let r = testkit::send(
            &app,
            "GET",
            &format!("/v1/{PNID}/conversations/{conversation_of_failed}/messages"),
            &auth,
            None,
        )
        .await;
        assert_eq!(
            json_of(&r)["data"][0]["error"],
            json!({"code": "template_param_format_mismatch", "message": "(#132001) Injected by the stand-in (injected)", "provider_code": 132001})
        );

        // Refusals before anything is queued; none reaches Meta.
        let before = standin.requests();
        for (body, status, code, message, param) in [
            (
                r#"{"to": "14155550123", "text": {"body": "x"}}"#,
                400,
                "missing_required_field",
                "messaging_product is required",
                Some("messaging_product"),
            ),
            (
                r#"{"messaging_product": "whatsapp", "text": {"body": "x"}}"#,
                400,
                "missing_required_field",
                "to is required",
                Some("to"),
            ),
            (
                r#"{"messaging_product": "whatsapp", "to": "14155550123", "type": "text"}"#,
                400,
                "missing_required_field",
                "text is required for this type",
                Some("text"),
            ),
            (
                r#"{"messaging_product": "whatsapp", "to": "14155550123", "type": "text", "text": {"body": ""}}"#,
                400,
                "invalid_field_value",
                "the text must not be empty",
                Some("text.body"),
            ),
            (
                r#"{"messaging_product": "whatsapp", "to": "14155550123", "type": "image", "image": {"link": "file:///etc/passwd"}}"#,
                400,
                "invalid_field_value",
                "the media link must be an http(s) URL of at most 2048 characters",
                Some("image.link"),
            ),
            (
                r#"{"messaging_product": "whatsapp", "to": "14155550123", "type": "fax"}"#,
                400,
                "invalid_field_value",
                "type must be one of text, image, video, audio, document, sticker, template, interactive",
                Some("type"),
            ),
            (
                r#"{"messaging_product": "whatsapp", "to": "14155550999", "text": {"body": "Hi"}}"#,
                422,
                "outside_24h_window",
                "More than 24 hours have passed since the customer's last message: only a template can be sent",
                Some("type"),
            ),
        ] {
            let r = post(body.into(), auth.clone()).await;
            assert_eq!(
                (r.status, json_of(&r)),
                (status, error("invalid_request_error", code, message, param)),
                "{body}"
            );
        }
        assert_eq!(standin.requests(), before);

        // Mark as read: Meta is told, the conversation has nothing unread.
        assert_eq!(
            s.get_conversation(org, conversation).unwrap().conversation.unread_count,
            0,
            "the reply cleared it"
        );
        s.append_message(
            org,
            rosetta_store::testing::inbound_text(conversation, "wamid.again", "Thanks!", Timestamp::now()),
        )
        .unwrap();
        assert_eq!(
            s.get_conversation(org, conversation).unwrap().conversation.unread_count,
            1
        );
        let read = r#"{"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.again"}"#;
        let r = post(read.into(), auth.clone()).await;
        let again_id = s.message_by_wamid(org, "wamid.again").unwrap().id;
        assert_eq!(
            (r.status, json_of(&r)),
            (
                200,
                json!({"data": {"id": kid(EntityKind::Message, again_id), "object": "message", "status": "read", "message_id": "wamid.again"}})
            )
        );
        assert_eq!(standin.marked_read(), vec!["wamid.again".to_owned()]);
        assert_eq!(
            s.get_conversation(org, conversation).unwrap().conversation.unread_count,
            0
        );
        let r = post(
            r#"{"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.unknown"}"#.into(),
            auth.clone(),
        )
        .await;
        assert_eq!(
            (r.status, json_of(&r)),
            (
                404,
                error(
                    "not_found",
                    "resource_not_found",
                    "Resource not found",
                    Some("message_id")
                )
            )
        );
    }
}

#[actix_web::test]
async fn an_account_without_a_token_is_not_connected() {
    for db in TestDb::all() {
        let (store, state) = testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        s.create_account(org, PNID, "+15550783881", None).unwrap();
        let key = testkit::key(s, org, KeyStyle::Kirim, None).secret;
        let app = testkit::app(state.clone(), testkit::Dialects::all()).await;
        let body = r#"{"messaging_product": "whatsapp", "to": "14155550123", "type": "template",
                       "template": {"name": "hello_world", "language": {"code": "en_US"}}}"#;
        let r = testkit::send(
            &app,
            "POST",
            &format!("/v1/{PNID}/messages"),
            &[("Authorization", format!("Bearer {key}"))],
            Some(body),
        )
        .await;
        assert_eq!(
            (r.status, json_of(&r)),
            (
                422,
                error(
                    "invalid_request_error",
                    "account_not_connected",
                    "This WhatsApp account is not connected for sending: it has no access token",
                    Some("phone_number_id")
                )
            )
        );
        assert!(s
            .list_contacts(org, &ContactFilter::default(), &PageRequest::first(5))
            .unwrap()
            .items
            .is_empty());
    }
}

#[actix_web::test]
async fn a_contact_by_id_is_read_and_changed() {
    for db in TestDb::all() {
        let (store, state) = testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        s.create_account(org, PNID, "+15550783881", None).unwrap();
        let key = testkit::key(s, org, KeyStyle::Kirim, None).secret;
        let app = testkit::app(state.clone(), testkit::Dialects::all()).await;
        let auth = [("Authorization", format!("Bearer {key}"))];
        let contact = testkit::contact(s, org, "+14155550123", Some("Jane Doe"));
        let uri = format!("/v1/{PNID}/contacts/{}", kid(EntityKind::Contact, contact));

        let r = testkit::send(&app, "GET", &uri, &auth, None).await;
        let body = json_of(&r);
        let stamp = body["data"]["created_at"].clone();
        assert_eq!(
            body,
            json!({"data": {"id": kid(EntityKind::Contact, contact), "object": "contact", "phone_number": "+14155550123",
                            "name": "Jane Doe", "email": null, "metadata": {}, "whatsapp_account": {"phone_number": "+15550783881"},
                            "created_at": stamp, "updated_at": stamp}})
        );
        let r = testkit::send(
            &app,
            "PATCH",
            &uri,
            &auth,
            Some(r#"{"name": null, "email": "jane@example.com", "metadata": {"tier": "gold"}}"#),
        )
        .await;
        let body = json_of(&r);
        assert_eq!(
            (&body["data"]["name"], &body["data"]["email"], &body["data"]["metadata"]),
            (&json!(null), &json!("jane@example.com"), &json!({"tier": "gold"}))
        );
        let r = testkit::send(&app, "PATCH", &uri, &auth, Some(r#"{"phone_number": null}"#)).await;
        assert_eq!(
            (r.status, json_of(&r)),
            (
                400,
                error(
                    "invalid_request_error",
                    "invalid_field_value",
                    "phone_number cannot be cleared",
                    Some("phone_number")
                )
            )
        );
        let other = testkit::send(
            &app,
            "GET",
            &format!("/v1/{PNID}/contacts/{}", kid(EntityKind::Contact, Id::new())),
            &auth,
            None,
        )
        .await;
        assert_eq!(
            (other.status, json_of(&other)),
            (404, error("not_found", "resource_not_found", "Contact not found", None))
        );
    }
}
