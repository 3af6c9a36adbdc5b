//! Tenant isolation, walked from the documents: every operation of every dialect's OpenAPI document is
//! called with organization A's credentials and organization B's ids (in the path, in each id-bearing
//! query parameter, in the body), on SQLite and (when configured) PostgreSQL.
//!
//! - A foreign id anywhere (path, body, list filter), a foreign `phone_number_id` and a cursor made
//!   for another organization's list all answer the dialect's 404 or 403.
//! - No answer may carry any of B's data.
//!
//! A parameter this matrix does not know fails the test, so a new route cannot skip it.

use rosetta_store::testing::Shortcuts;
use std::sync::Arc;

use actix_web::test;
use rosetta_core::key::{parse_scopes, KeyStyle};
use rosetta_core::*;
use rosetta_http::AppState;
use rosetta_store::testing::TestDb;
use serde_json::Value;

struct Org {
    id: Id,
    pnid: &'static str,
    conversation: Id,
    contact: Id,
    user: Id,
    message: Id,
    tag: Id,
    keys: [String; 3],
    /// A webhook subscription of each dialect's: wacrm's, kirim's.
    webhooks: [Id; 2],
    /// A delivery to its kirim subscription.
    delivery: Id,
}

fn org(store: &dyn Store, name: &str, pnid: &'static str, phone: &str, person: &str, email: &str, text: &str) -> Org {
    let id = store.create_organization(name).unwrap().id;
    let account = store.create_account(id, pnid, "+15550783881", None).unwrap().id;
    let user = store.create_user(id, person, email).unwrap().id;
    let contact = store
        .create_contact(
            id,
            NewContact {
                phone: phone.into(),
                name: Some(person.into()),
                ..Default::default()
            },
        )
        .unwrap()
        .contact
        .contact
        .id;
    let tag = store.attach_tag(id, contact, &format!("{name}-tag"), None).unwrap().id;
    let webhook = |dialect| {
        store
            .create_webhook(
                id,
                rosetta_core::webhooks::NewWebhook {
                    dialect,
                    url: format!("https://hooks.{name}.test/in").to_lowercase(),
                    events: vec!["contact.created".into()],
                    description: None,
                    is_active: true,
                },
            )
            .unwrap()
            .webhook
            .id
    };
    let webhooks = [webhook(Dialect::Wacrm), webhook(Dialect::Kirim)];
    let conversation = store.open_conversation(id, account, contact).unwrap().id;
    store.assign(id, conversation, Some(user)).unwrap();
    let message = store
        .append_message(
            id,
            NewMessage {
                conversation_id: conversation,
                wamid: Some(format!("wamid.{name}")),
                direction: Direction::Inbound,
                sender_type: SenderType::Customer,
                sender_user_id: None,
                content_type: ContentType::Text,
                body: MessageBody {
                    text: Some(text.into()),
                    ..Default::default()
                },
                status: MessageStatus::Received,
                created_at: Timestamp::now(),
            },
        )
        .unwrap()
        .id;
    // A second conversation, so B's lists have a next page (and so a cursor).
    let other = store
        .create_contact(
            id,
            NewContact {
                phone: format!("{phone}9"),
                ..Default::default()
            },
        )
        .unwrap()
        .contact
        .contact
        .id;
    store.open_conversation(id, account, other).unwrap();
    // The second contact's contact.created, delivered to the kirim subscription.
    store.sequence_events().unwrap();
    store
        .fan_out_events(&|_, e, s| rosetta_kirim::events::render(e, s), 1000)
        .unwrap();
    let delivery = store
        .list_webhook_deliveries(id, Dialect::Kirim, &Default::default(), &PageRequest::first(1))
        .unwrap()
        .items[0]
        .id;
    let key = |style| {
        store
            .create_api_key(
                id,
                NewApiKey {
                    name: None,
                    style,
                    scopes: parse_scopes(None).unwrap(),
                    expires_at: None,
                },
            )
            .unwrap()
            .secret
    };
    Org {
        id,
        pnid,
        conversation,
        contact,
        user,
        message,
        tag,
        keys: [key(KeyStyle::Wacrm), key(KeyStyle::Kirim), key(KeyStyle::Envelope)],
        webhooks,
        delivery,
    }
}

/// How a dialect spells ids and sends credentials.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum D {
    Wacrm,
    Kirim,
    Envelope,
}

impl D {
    fn spelling(self) -> Spelling {
        match self {
            D::Wacrm => Spelling::Uuid,
            D::Kirim => Spelling::Kirim,
            D::Envelope => Spelling::Envelope,
        }
    }
    fn auth(self, o: &Org) -> Vec<(&'static str, String)> {
        match self {
            D::Wacrm => vec![("Authorization", format!("Bearer {}", o.keys[0]))],
            D::Kirim => vec![("Authorization", format!("Bearer {}", o.keys[1]))],
            D::Envelope => vec![
                ("Authorization", format!("Bearer {}", o.keys[2])),
                ("x-org-id", o.id.render(EntityKind::Organization, Spelling::Envelope)),
            ],
        }
    }
}

type Call = (String, Vec<(&'static str, String)>, Option<String>);

async fn send(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    method: &str,
    (uri, headers, body): &Call,
) -> (u16, String) {
    let mut req = test::TestRequest::default()
        .method(method.to_uppercase().parse().unwrap())
        .uri(uri);
    for (k, v) in headers {
        req = req.insert_header((*k, v.clone()));
    }
    if let Some(body) = body {
        req = req
            .insert_header(("Content-Type", "application/json"))
            .set_payload(body.clone());
    }
    let resp = test::call_service(app, req.to_request()).await;
    let status = resp.status().as_u16();
    (
        status,
        String::from_utf8_lossy(&test::read_body(resp).await).into_owned(),
    )
}

/// Every string of B's that must never appear in an answer to A.
fn secrets(b: &Org) -> Vec<String> {
    let mut out = vec![
        "Bertha Secret".to_owned(),
        "bertha@other.test".to_owned(),
        "b-secret-message".to_owned(),
        "+14155550999".to_owned(),
        "Other-tag".to_owned(),
        "wamid.Other".to_owned(),
    ];
    for (kind, id) in [
        (EntityKind::Conversation, b.conversation),
        (EntityKind::Contact, b.contact),
        (EntityKind::User, b.user),
        (EntityKind::Message, b.message),
        (EntityKind::Organization, b.id),
        (EntityKind::Tag, b.tag),
    ] {
        for spelling in [Spelling::Uuid, Spelling::Kirim, Spelling::Envelope, Spelling::Ulid] {
            out.push(id.render(kind, spelling));
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

#[actix_web::test]
async fn no_operation_of_any_dialect_reaches_another_organization() {
    for db in TestDb::all() {
        let store: Arc<dyn Store> = Arc::new(db.instance());
        let a = org(
            store.as_ref(),
            "Acme",
            "106540352242922",
            "+14155550123",
            "Alice Agent",
            "alice@acme.test",
            "a-message",
        );
        let b = org(
            store.as_ref(),
            "Other",
            "106540352242923",
            "+14155550999",
            "Bertha Secret",
            "bertha@other.test",
            "b-secret-message",
        );
        // A can send, so a send naming B's rows gets as far as looking them up.
        let a_account = store.find_account(a.id, a.pnid).unwrap().id;
        store
            .set_account_token(a.id, a_account, &AccessToken::new("EAAG-isolation").unwrap())
            .unwrap();
        let state = AppState::new(store.clone());
        // A media store, so the upload routes are reached (a JSON body there is A's bad request;
        // kirim's names B's number in its path).
        let media_dir =
            std::env::temp_dir().join(format!("rosetta-isolation-{}", Id::new().to_string().to_lowercase()));
        let blobs = rosetta_media::blobs::LocalBlobs::open(&media_dir).unwrap();
        let app = rosetta_testkit::app(
            state,
            rosetta_testkit::Dialects {
                media: Some(blobs.into()),
                ..rosetta_testkit::Dialects::all()
            },
        )
        .await;
        // B's cursors, made by B's own calls.
        let b_cursor = |d: D, path: &str| {
            let app = &app;
            let call: Call = (path.to_owned(), d.auth(&b), None);
            async move {
                let (_, body) = send(app, "get", &call).await;
                let v: Value = serde_json::from_str(&body).unwrap();
                v["meta"]["next_cursor"]
                    .as_str()
                    .or(v["next_cursor"].as_str())
                    .unwrap()
                    .to_owned()
            }
        };
        let cursors = [
            (
                D::Wacrm,
                "/api/v1/conversations",
                b_cursor(D::Wacrm, "/api/v1/conversations?limit=1").await,
            ),
            (
                D::Wacrm,
                "/api/v1/contacts",
                b_cursor(D::Wacrm, "/api/v1/contacts?limit=1").await,
            ),
            (
                D::Kirim,
                "/conversations",
                b_cursor(D::Kirim, &format!("/v1/{}/conversations?limit=1", b.pnid)).await,
            ),
            (
                D::Kirim,
                "/contacts",
                b_cursor(D::Kirim, &format!("/v1/{}/contacts?limit=1", b.pnid)).await,
            ),
        ];
        let leaks = secrets(&b);
        let mut calls = 0;
        for (d, doc) in [
            (D::Wacrm, rosetta_wacrm::openapi()),
            (D::Kirim, rosetta_kirim::openapi()),
            (D::Envelope, rosetta_envelope::openapi()),
        ] {
            let doc: Value = serde_json::to_value(&doc).unwrap();
            let sp = d.spelling();
            for (path, ops) in doc["paths"].as_object().unwrap() {
                for (method, op) in ops.as_object().unwrap() {
                    let params: Vec<&Value> = op["parameters"]
                        .as_array()
                        .map(|p| p.iter().collect())
                        .unwrap_or_default();
                    if op["security"].is_null() {
                        continue; // public: health, nothing of an organization's
                    }
                    if path.ends_with("/events/stream") {
                        // Never ends; names no id: the caller's own organization's events only
                        // (tests/events.rs checks another organization's never appear).
                        continue;
                    }
                    // The path with every parameter B's: (variant name, uri path, must be 404/403).
                    let mut bases: Vec<(String, bool)> = Vec::new();
                    let fill = |pnid: &str| {
                        path.replace("{phone_number_id}", pnid)
                            .replace("{conversationId}", &b.conversation.render(EntityKind::Conversation, sp))
                            .replace(
                                "{id}",
                                &if path.contains("/webhook_deliveries") {
                                    b.delivery.render(EntityKind::WebhookDelivery, sp)
                                } else if path.contains("/webhook") {
                                    let hook = if d == D::Kirim { b.webhooks[1] } else { b.webhooks[0] };
                                    hook.render(EntityKind::Webhook, sp)
                                } else if path.contains("/contacts/") {
                                    b.contact.render(EntityKind::Contact, sp)
                                } else {
                                    b.conversation.render(EntityKind::Conversation, sp)
                                },
                            )
                    };
                    let has_path_id = path.contains('{');
                    if path.contains("{phone_number_id}") {
                        bases.push((fill(b.pnid), true)); // B's number
                        if path.contains("{id}") {
                            bases.push((fill(a.pnid), true)); // A's number, B's conversation
                        }
                    } else {
                        bases.push((fill(""), has_path_id));
                    }
                    let body = match (d, method.as_str(), path.as_str()) {
                        // Sends name B's message (a reply, a mark-as-read) or B's conversation.
                        (D::Wacrm, "post", "/api/v1/messages") => Some(format!(
                            r#"{{"to":"+14155550777","text":"hi","reply_to_message_id":"{}"}}"#,
                            b.message.render(EntityKind::Message, sp)
                        )),
                        (D::Kirim, "post", p) if p.ends_with("/messages") => Some(
                            r#"{"messaging_product":"whatsapp","status":"read","message_id":"wamid.Other"}"#.to_owned(),
                        ),
                        (D::Envelope, "post", "/api/whatsapp/messages") => Some(format!(
                            r#"{{"conversationId":"{}","content":{{"text":"hi"}}}}"#,
                            b.conversation.render(EntityKind::Conversation, sp)
                        )),
                        (D::Wacrm, "patch", _) => Some(r#"{"name":"Changed by A"}"#.to_owned()),
                        (D::Kirim, "patch", _) => Some(format!(
                            r#"{{"assigned_to":"{}"}}"#,
                            b.user.render(EntityKind::User, sp)
                        )),
                        (D::Kirim, "post", _) => Some(r#"{"phone_number":"+14155550777"}"#.to_owned()),
                        (D::Envelope, "post", p) if p.ends_with("/assign") => {
                            Some(format!(r#"{{"userId":"{}"}}"#, b.user.render(EntityKind::User, sp)))
                        }
                        (_, "post", _) => Some("{}".to_owned()),
                        _ => None,
                    };
                    // Query variants: none, then each id-bearing parameter with B's value.
                    let mut queries: Vec<String> = vec![String::new()];
                    for p in params.iter().filter(|p| p["in"] == "query") {
                        let name = p["name"].as_str().unwrap();
                        let value = match name {
                            "status" | "limit" | "page" | "search" | "phone" | "event_type" | "created_after"
                            | "created_before" => continue,
                            "subscription_id" => b.webhooks[1].render(EntityKind::Webhook, sp),
                            "contact_id" => b.contact.render(EntityKind::Contact, sp),
                            "assignee" => b.user.render(EntityKind::User, sp),
                            "tag" => b.tag.render(EntityKind::Tag, sp),
                            "conversationId" => b.conversation.render(EntityKind::Conversation, sp),
                            "before" => b.message.render(EntityKind::Message, sp),
                            "cursor" => {
                                let key = if path.contains("contacts") {
                                    "contacts"
                                } else {
                                    "conversations"
                                };
                                match cursors.iter().find(|(cd, p, _)| *cd == d && p.contains(key)) {
                                    Some((_, _, c)) => c.clone(),
                                    None if path.contains("messages") => continue,
                                    None => panic!("no cursor of B for {path}"),
                                }
                            }
                            other => panic!(
                                "{d:?} {method} {path}: query parameter `{other}` is not in the isolation matrix"
                            ),
                        };
                        queries.push(format!("{name}={value}"));
                    }
                    // envelope's messages need a conversation: A's own, so that `before` alone is B's.
                    let own_conversation =
                        format!("conversationId={}", a.conversation.render(EntityKind::Conversation, sp));
                    for (base, path_is_b) in &bases {
                        for query in &queries {
                            let mut q = query.clone();
                            if path.ends_with("/messages") && d == D::Envelope && !q.starts_with("conversationId") {
                                q = if q.is_empty() {
                                    own_conversation.clone()
                                } else {
                                    format!("{own_conversation}&{q}")
                                };
                            }
                            let uri = if q.is_empty() {
                                base.clone()
                            } else {
                                format!("{base}?{q}")
                            };
                            let foreign_path = *path_is_b || !query.is_empty();
                            let foreign_body = body.as_deref().is_some_and(|b| {
                                [
                                    "assigned_to",
                                    "userId",
                                    "reply_to_message_id",
                                    "message_id",
                                    "conversationId",
                                ]
                                .iter()
                                .any(|field| b.contains(field))
                            });
                            let (status, text) = send(&app, method, &(uri.clone(), d.auth(&a), body.clone())).await;
                            calls += 1;
                            for leak in &leaks {
                                assert!(
                                    !text.contains(leak.as_str()),
                                    "{d:?} {method} {uri}: the answer carries B's {leak}: {text}"
                                );
                            }
                            if foreign_path || foreign_body {
                                assert!(
                                    matches!(status, 403 | 404),
                                    "{d:?} {method} {uri} on {}: {status} {text}",
                                    db.backend()
                                );
                            } else {
                                assert!(
                                    matches!(status, 200 | 201 | 400 | 403 | 404),
                                    "{d:?} {method} {uri} on {}: {status} {text}",
                                    db.backend()
                                );
                            }
                        }
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&media_dir);
        eprintln!("isolation matrix: {calls} calls on {}", db.backend());
        assert!(calls >= 30, "the matrix made only {calls} calls");
        // Nothing of B changed.
        let c = store.get_conversation(b.id, b.conversation).unwrap();
        assert_eq!(c.assignee.map(|u| u.id), Some(b.user));
        assert_eq!(c.conversation.status, ConversationStatus::Open);
        let contact = store.get_contact(b.id, b.contact).unwrap().contact;
        assert_ne!(contact.name.as_deref(), Some("Changed by A"));
        let messages = store
            .list_messages(b.id, b.conversation, &PageRequest::first(10))
            .unwrap();
        assert!(
            messages.items.iter().all(|m| m.direction == Direction::Inbound),
            "nothing was sent on B's conversation"
        );
    }
}
