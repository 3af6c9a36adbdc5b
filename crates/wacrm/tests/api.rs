//! The wacrm dialect, request in, exact JSON out, on SQLite and (when configured) PostgreSQL.

use rosetta_testkit::{self as testkit, message, Shortcuts};
use std::collections::HashSet;
use std::sync::Arc;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::test;
use rosetta_core::key::KeyStyle;
use rosetta_core::*;
use rosetta_http::AppState;
use rosetta_store::testing::TestDb;
use serde_json::{json, Value};

fn uuid(id: Id) -> String {
    id.render(EntityKind::Conversation, Spelling::Uuid)
}

struct Fixture {
    org: Id,
    conversation: Id,
    contact: Id,
    tag: Id,
    agent: Id,
    key: String,
    key_id: Id,
    contacts_only: String,
    other_conversation: Id,
    other_contact: Id,
    other_key: String,
}

fn key(store: &dyn Store, org: Id, scopes: Option<&str>) -> CreatedApiKey {
    testkit::key(store, org, KeyStyle::Wacrm, scopes)
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
    let contact = store
        .create_contact(
            org,
            NewContact {
                phone: "+14155550123".into(),
                name: Some("Jane Doe".into()),
                company: Some("Acme".into()),
                ..Default::default()
            },
        )
        .unwrap()
        .contact
        .contact
        .id;
    let tag = store.attach_tag(org, contact, "vip", None).unwrap().id;
    let conversation = store.open_conversation(org, account, contact).unwrap().id;
    store.assign(org, conversation, Some(agent)).unwrap();
    store
        .append_message(
            org,
            message(
                conversation,
                "wamid.1",
                Direction::Inbound,
                ContentType::Text,
                MessageBody {
                    text: Some("Hey, I have a question about my order.".into()),
                    ..Default::default()
                },
                "2026-07-01T12:00:00Z",
            ),
        )
        .unwrap();
    store
        .append_message(
            org,
            message(
                conversation,
                "wamid.2",
                Direction::Outbound,
                ContentType::Image,
                MessageBody {
                    media_url: Some("https://cdn.example.com/a.jpg".into()),
                    text: Some("Here it is".into()),
                    context_wamid: Some("wamid.1".into()),
                    ..Default::default()
                },
                "2026-07-01T15:40:00Z",
            ),
        )
        .unwrap();
    store
        .append_message(
            org,
            message(
                conversation,
                "wamid.3",
                Direction::Inbound,
                ContentType::Interactive,
                MessageBody {
                    interactive_reply_id: Some("yes".into()),
                    interactive_reply_title: Some("Hey, I have a question.".into()),
                    text: Some("Hey, I have a question.".into()),
                    ..Default::default()
                },
                "2026-07-01T15:44:00Z",
            ),
        )
        .unwrap();
    let full = key(store, org, None);
    let contacts_only = key(store, org, Some("contacts:read")).secret;

    let other = store.create_organization("Other").unwrap().id;
    let other_account = store
        .create_account(other, "106540352242923", "+15550783882", None)
        .unwrap()
        .id;
    let other_contact = store
        .create_contact(
            other,
            NewContact {
                phone: "+14155550123".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .contact
        .contact
        .id;
    let other_conversation = store.open_conversation(other, other_account, other_contact).unwrap().id;
    let other_key = key(store, other, None).secret;
    Fixture {
        org,
        conversation,
        contact,
        tag,
        agent,
        key: full.secret,
        key_id: full.key.id,
        contacts_only,
        other_conversation,
        other_contact,
        other_key,
    }
}

/// wacrm alone, `limit` requests a minute per key (0: off), on the fixed clock.
async fn app(
    state: AppState,
    limit: u32,
) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error> {
    let dialects = testkit::Dialects {
        wacrm: Some(limit),
        kirim: None,
        envelope: None,
        jwt_secret: None,
        app_secret: None,
        graph: None,
        media: None,
    };
    testkit::app(state, dialects).await
}

async fn call(
    app: &impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
    method: &str,
    uri: &str,
    auth: Option<&str>,
) -> (u16, Value, actix_web::http::header::HeaderMap) {
    let headers: Vec<(&str, String)> = auth.map(|a| ("Authorization", a.to_owned())).into_iter().collect();
    let reply = testkit::send(app, method, uri, &headers, None).await;
    (reply.status, reply.body, reply.headers)
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

fn err(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

fn expected_conversation(store: &dyn Store, f: &Fixture) -> Value {
    let c = store.get_conversation(f.org, f.conversation).unwrap().conversation;
    json!({
        "id": uuid(f.conversation),
        "contact_id": uuid(f.contact),
        "status": "open",
        "assigned_agent_id": uuid(f.agent),
        "last_message_text": "Hey, I have a question.",
        "last_message_at": "2026-07-01T15:44:00.000Z",
        "unread_count": 1,
        "created_at": c.created_at.to_rfc3339(),
        "updated_at": c.updated_at.to_rfc3339(),
        "contact": {
            "id": uuid(f.contact),
            "phone": "+14155550123",
            "name": "Jane Doe",
            "email": null,
            "company": "Acme",
            "tags": [{"id": uuid(f.tag), "name": "vip", "color": "#3b82f6"}]
        }
    })
}

#[actix_web::test]
async fn conversations_messages_contacts_and_me() {
    for db in TestDb::all() {
        let store: Arc<dyn Store> = Arc::new(rosetta_store::DieselStore::open(&db.url).unwrap());
        let f = fixture(store.as_ref());
        let mut state = AppState::new(store.clone());
        // As `serve` does: bounded reads inline on SQLite.
        state.inline_reads = db.backend() == "sqlite";
        let app = app(state.clone(), 1000).await;
        let auth = bearer(&f.key);

        let (status, body, headers) = call(&app, "GET", "/api/v1/conversations", Some(&auth)).await;
        assert_eq!(status, 200, "{}", db.backend());
        assert_eq!(
            body,
            json!({"data": [expected_conversation(store.as_ref(), &f)], "meta": {"next_cursor": null}})
        );
        assert_eq!(headers.get("x-ratelimit-limit").unwrap(), "1000");
        // The key works without `Bearer ` too.
        assert_eq!(call(&app, "GET", "/api/v1/conversations", Some(&f.key)).await.1, body);

        let (status, body, _) = call(
            &app,
            "GET",
            &format!("/api/v1/conversations/{}", uuid(f.conversation)),
            Some(&auth),
        )
        .await;
        assert_eq!(
            (status, body),
            (200, json!({"data": expected_conversation(store.as_ref(), &f)}))
        );

        let messages: Vec<Message> = store
            .list_messages(f.org, f.conversation, &PageRequest::first(10))
            .unwrap()
            .items;
        let (status, body, _) = call(
            &app,
            "GET",
            &format!("/api/v1/conversations/{}/messages", uuid(f.conversation)),
            Some(&auth),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"data": [
                {"id": uuid(messages[0].id), "conversation_id": uuid(f.conversation), "direction": "inbound", "sender_type": "customer", "content_type": "interactive",
                 "content_text": "Hey, I have a question.", "media_url": null, "template_name": null, "whatsapp_message_id": "wamid.3", "status": "received",
                 "reply_to_message_id": null, "interactive_reply_id": "yes", "created_at": "2026-07-01T15:44:00.000Z"},
                {"id": uuid(messages[1].id), "conversation_id": uuid(f.conversation), "direction": "outbound", "sender_type": "agent", "content_type": "image",
                 "content_text": "Here it is", "media_url": "https://cdn.example.com/a.jpg", "template_name": null, "whatsapp_message_id": "wamid.2", "status": "delivered",
                 "reply_to_message_id": uuid(messages[2].id), "interactive_reply_id": null, "created_at": "2026-07-01T15:40:00.000Z"},
                {"id": uuid(messages[2].id), "conversation_id": uuid(f.conversation), "direction": "inbound", "sender_type": "customer", "content_type": "text",
                 "content_text": "Hey, I have a question about my order.", "media_url": null, "template_name": null, "whatsapp_message_id": "wamid.1", "status": "received",
                 "reply_to_message_id": null, "interactive_reply_id": null, "created_at": "2026-07-01T12:00:00.000Z"}
            ], "meta": {"next_cursor": null}})
        );
        // Paging the messages one at a time.
        let (_, page1, _) = call(
            &app,
            "GET",
            &format!("/api/v1/conversations/{}/messages?limit=1", uuid(f.conversation)),
            Some(&auth),
        )
        .await;
        let next = page1["meta"]["next_cursor"].as_str().unwrap().to_owned();
        let (_, page2, _) = call(
            &app,
            "GET",
            &format!(
                "/api/v1/conversations/{}/messages?limit=1&cursor={next}",
                uuid(f.conversation)
            ),
            Some(&auth),
        )
        .await;
        assert_eq!(page2["data"][0]["whatsapp_message_id"], "wamid.2");

        let contact = store.get_contact(f.org, f.contact).unwrap().contact;
        let contact_json = json!({
            "id": uuid(f.contact), "phone": "+14155550123", "name": "Jane Doe", "email": null, "company": "Acme", "avatar_url": null,
            "tags": [{"id": uuid(f.tag), "name": "vip", "color": "#3b82f6"}],
            "created_at": contact.created_at.to_rfc3339(), "updated_at": contact.updated_at.to_rfc3339()
        });
        let (status, body, _) = call(
            &app,
            "GET",
            &format!("/api/v1/contacts/{}", uuid(f.contact)),
            Some(&auth),
        )
        .await;
        assert_eq!((status, body), (200, json!({"data": contact_json.clone()})));
        for query in ["", "?search=jane", "?search=555-0123", &format!("?tag={}", uuid(f.tag))] {
            let (status, body, _) = call(&app, "GET", &format!("/api/v1/contacts{query}"), Some(&auth)).await;
            assert_eq!(
                (status, body),
                (
                    200,
                    json!({"data": [contact_json.clone()], "meta": {"next_cursor": null}})
                ),
                "{query}"
            );
        }
        let (_, body, _) = call(&app, "GET", "/api/v1/contacts?search=nobody", Some(&auth)).await;
        assert_eq!(body, json!({"data": [], "meta": {"next_cursor": null}}));

        let (status, body, _) = call(&app, "GET", "/api/v1/me", Some(&f.contacts_only)).await;
        let contacts_key = store.authenticate(&f.contacts_only).unwrap().unwrap();
        assert_eq!(
            (status, body),
            (
                200,
                json!({"data": {"account": {"id": uuid(f.org), "name": "Acme Support"}, "key": {"id": uuid(contacts_key.id), "scopes": ["contacts:read"]}}})
            )
        );

        // last_used_at is recorded off the request path, at the next flush.
        assert!(store.authenticate(&f.key).unwrap().unwrap().last_used_at.is_none());
        rosetta_http::auth::flush_now(&state).await;
        assert!(store.authenticate(&f.key).unwrap().unwrap().last_used_at.is_some());
    }
}

#[actix_web::test]
async fn errors_in_wacrm_shape() {
    for db in TestDb::all() {
        let store: Arc<dyn Store> = Arc::new(rosetta_store::DieselStore::open(&db.url).unwrap());
        let f = fixture(store.as_ref());
        let app = app(AppState::new(store.clone()), 1000).await;
        let auth = bearer(&f.key);
        let unauthorized = (401, err("unauthorized", "Missing or invalid API key"));
        let get = |uri: String, a: Option<String>| {
            let app = &app;
            async move {
                let (s, b, _) = call(app, "GET", &uri, a.as_deref()).await;
                (s, b)
            }
        };
        assert_eq!(get("/api/v1/conversations".into(), None).await, unauthorized);
        // The key is checked before the parameters.
        assert_eq!(
            get("/api/v1/conversations?contact_id=nope&cursor=x".into(), None).await,
            unauthorized
        );
        assert_eq!(
            get(
                "/api/v1/conversations?contact_id=nope".into(),
                Some(f.contacts_only.clone())
            )
            .await,
            (
                403,
                err("forbidden", "This API key is missing the 'conversations:read' scope")
            )
        );
        assert_eq!(
            get("/api/v1/conversations".into(), Some("Bearer wacrm_live_unknown".into())).await,
            unauthorized
        );
        assert_eq!(
            get("/api/v1/conversations".into(), Some("Basic abc".into())).await,
            unauthorized
        );
        assert_eq!(get("/api/v1/me".into(), Some("Bearer ".into())).await, unauthorized);
        // Scopes.
        assert_eq!(
            get("/api/v1/conversations".into(), Some(f.contacts_only.clone())).await,
            (
                403,
                err("forbidden", "This API key is missing the 'conversations:read' scope")
            )
        );
        assert_eq!(
            get(
                format!("/api/v1/conversations/{}/messages", uuid(f.conversation)),
                Some(f.contacts_only.clone())
            )
            .await,
            (
                403,
                err("forbidden", "This API key is missing the 'messages:read' scope")
            )
        );
        // Malformed and foreign ids: 404, never the other organization's data.
        let not_found = (404, err("not_found", "Conversation not found"));
        assert_eq!(
            get("/api/v1/conversations/not-a-uuid".into(), Some(auth.clone())).await,
            not_found
        );
        assert_eq!(
            get(
                format!("/api/v1/conversations/{}", uuid(f.other_conversation)),
                Some(auth.clone())
            )
            .await,
            not_found
        );
        assert_eq!(
            get(
                format!("/api/v1/conversations/{}/messages", uuid(f.other_conversation)),
                Some(auth.clone())
            )
            .await,
            not_found
        );
        assert_eq!(
            get(
                format!("/api/v1/conversations/{}", uuid(f.conversation)),
                Some(bearer(&f.other_key))
            )
            .await,
            not_found
        );
        assert_eq!(
            get(
                format!("/api/v1/contacts/{}", uuid(f.other_contact)),
                Some(auth.clone())
            )
            .await,
            (404, err("not_found", "Contact not found"))
        );
        assert_eq!(
            get("/api/v1/contacts/123".into(), Some(auth.clone())).await,
            (404, err("not_found", "Contact not found"))
        );
        let empty = (200, json!({"data": [], "meta": {"next_cursor": null}}));
        // Another account's contact as a filter is that contact's 404, like its id anywhere.
        assert_eq!(
            get(
                format!("/api/v1/conversations?contact_id={}", uuid(f.other_contact)),
                Some(auth.clone())
            )
            .await,
            (404, err("not_found", "Contact not found"))
        );
        let (_, others, _) = call(&app, "GET", "/api/v1/conversations", Some(&bearer(&f.other_key))).await;
        assert_eq!(others["data"].as_array().unwrap().len(), 1);
        assert_eq!(others["data"][0]["id"], uuid(f.other_conversation));
        // Filters and paging.
        assert_eq!(
            get("/api/v1/conversations?status=archived".into(), Some(auth.clone())).await,
            empty
        );
        assert_eq!(
            get("/api/v1/conversations?status=closed".into(), Some(auth.clone())).await,
            empty
        );
        assert_eq!(
            get("/api/v1/conversations?status=open&limit=abc".into(), Some(auth.clone()))
                .await
                .1["data"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            get("/api/v1/conversations?contact_id=nope".into(), Some(auth.clone())).await,
            (400, err("bad_request", "contact_id must be a UUID"))
        );
        assert_eq!(
            get("/api/v1/conversations?cursor=abc".into(), Some(auth.clone())).await,
            (400, err("bad_request", "Invalid cursor"))
        );
        assert_eq!(
            get("/api/v1/contacts?tag=vip".into(), Some(auth.clone())).await,
            (400, err("bad_request", "tag must be a UUID"))
        );
        // Routes and methods.
        assert_eq!(
            get("/api/v1/nope".into(), Some(auth.clone())).await,
            (404, err("not_found", "Resource not found"))
        );
        let (status, body, _) = call(&app, "POST", "/api/v1/conversations", Some(&auth)).await;
        assert_eq!((status, body), (405, err("method_not_allowed", "Method not allowed")));
        let (status, body, _) = call(
            &app,
            "DELETE",
            &format!("/api/v1/conversations/{}", uuid(f.conversation)),
            Some(&auth),
        )
        .await;
        assert_eq!((status, body), (405, err("method_not_allowed", "Method not allowed")));
        let (status, body) = get("/api/v1/conversations?cursor=%FF%FE".into(), Some(auth.clone())).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"]["code"], "bad_request");

        // A key revoked mid-session is refused at once.
        assert_eq!(get("/api/v1/me".into(), Some(auth.clone())).await.0, 200);
        store.revoke_api_key(f.key_id).unwrap();
        assert_eq!(get("/api/v1/me".into(), Some(auth.clone())).await, unauthorized);
        // An expired key too.
        let expired = store
            .create_api_key(
                f.org,
                NewApiKey {
                    name: None,
                    style: KeyStyle::Wacrm,
                    scopes: rosetta_core::key::parse_scopes(None).unwrap(),
                    expires_at: Some(Timestamp::now().plus_days(-1)),
                },
            )
            .unwrap();
        assert_eq!(
            get("/api/v1/me".into(), Some(bearer(&expired.secret))).await,
            unauthorized
        );
    }
}

#[actix_web::test]
async fn rate_limits_come_after_the_key_and_before_the_scope() {
    let db = TestDb::sqlite();
    let store: Arc<dyn Store> = Arc::new(rosetta_store::DieselStore::open(&db.url).unwrap());
    let f = fixture(store.as_ref());
    let app = app(AppState::new(store.clone()), 2).await;
    for _ in 0..2 {
        assert_eq!(call(&app, "GET", "/api/v1/me", Some(&f.contacts_only)).await.0, 200);
    }
    // Over the limit: 429 even where the scope is missing (rate limit before scope) ...
    let (status, body, headers) = call(&app, "GET", "/api/v1/conversations", Some(&f.contacts_only)).await;
    assert_eq!(
        (status, body),
        (429, err("rate_limited", "Rate limit exceeded for this API key"))
    );
    assert_eq!(headers.get("x-ratelimit-limit").unwrap(), "2");
    assert_eq!(headers.get("x-ratelimit-remaining").unwrap(), "0");
    let retry: i64 = headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    let reset: i64 = headers
        .get("x-ratelimit-reset")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        reset,
        testkit::FIXED_NOW - testkit::FIXED_NOW % 60 + 60,
        "the window the fixed clock is in"
    );
    assert_eq!(retry, reset - testkit::FIXED_NOW);
    // ... but an unknown key is 401 first, and other keys have their own budget.
    assert_eq!(
        call(&app, "GET", "/api/v1/conversations", Some("wacrm_live_nope"))
            .await
            .0,
        401
    );
    assert_eq!(call(&app, "GET", "/api/v1/conversations", Some(&f.key)).await.0, 200);
    // 0 turns limits off.
    let unlimited = app_with_limit_zero(store.clone()).await;
    for _ in 0..5 {
        let (status, _, headers) = call(&unlimited, "GET", "/api/v1/me", Some(&f.contacts_only)).await;
        assert_eq!(status, 200);
        assert!(headers.get("x-ratelimit-limit").is_none());
    }
}

async fn app_with_limit_zero(
    store: Arc<dyn Store>,
) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error> {
    app(AppState::new(store), 0).await
}

#[actix_web::test]
async fn walking_every_page_yields_every_conversation_once() {
    for db in TestDb::all() {
        let store: Arc<dyn Store> = Arc::new(rosetta_store::DieselStore::open(&db.url).unwrap());
        let f = fixture(store.as_ref());
        let account = store.find_account(f.org, "106540352242922").unwrap().id;
        let mut all = HashSet::from([uuid(f.conversation)]);
        for i in 0..12 {
            let c = store
                .create_contact(
                    f.org,
                    NewContact {
                        phone: format!("+4477009{i:05}"),
                        ..Default::default()
                    },
                )
                .unwrap()
                .contact
                .contact
                .id;
            all.insert(uuid(store.open_conversation(f.org, account, c).unwrap().id));
        }
        let mut state = AppState::new(store.clone());
        state.inline_reads = db.backend() == "sqlite";
        let app = app(state, 0).await;
        let mut inserted = 0;
        for limit in ["1", "2", "5", "7.9", "200"] {
            let mut seen = Vec::new();
            let mut arrived = HashSet::new();
            let mut uri = format!("/api/v1/conversations?limit={limit}");
            loop {
                let (status, body, _) = call(&app, "GET", &uri, Some(&f.key)).await;
                assert_eq!(status, 200);
                let created: Vec<String> = body["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["created_at"].as_str().unwrap().to_owned())
                    .collect();
                assert!(created.windows(2).all(|w| w[0] >= w[1]), "created_at desc");
                seen.extend(
                    body["data"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c["id"].as_str().unwrap().to_owned()),
                );
                match body["meta"]["next_cursor"].as_str() {
                    Some(next) => {
                        // A new conversation arriving mid-walk is not seen twice and shifts nothing.
                        inserted += 1;
                        let c = store
                            .create_contact(
                                f.org,
                                NewContact {
                                    phone: format!("+4477008{inserted:05}"),
                                    ..Default::default()
                                },
                            )
                            .unwrap();
                        assert!(c.created, "a new contact each time");
                        let new = store.open_conversation(f.org, account, c.contact.contact.id).unwrap();
                        arrived.insert(uuid(new.id));
                        uri = format!("/api/v1/conversations?limit={limit}&cursor={next}");
                    }
                    None => break,
                }
            }
            let unique: HashSet<String> = seen.iter().cloned().collect();
            assert_eq!(unique.len(), seen.len(), "no conversation twice (limit {limit})");
            assert!(
                all.is_subset(&unique),
                "every conversation that existed when the walk began (limit {limit})"
            );
            assert!(
                arrived.is_disjoint(&unique),
                "conversations newer than the walk's start are not in it (limit {limit})"
            );
            assert!(
                !arrived.is_empty() || limit == "200",
                "the walk saw arrivals (limit {limit})"
            );
            all = unique.union(&arrived).cloned().collect();
        }
        // A cursor made with other filters is refused.
        let (_, first, _) = call(&app, "GET", "/api/v1/conversations?limit=1", Some(&f.key)).await;
        let cursor = first["meta"]["next_cursor"].as_str().unwrap();
        let (status, body, _) = call(
            &app,
            "GET",
            &format!("/api/v1/conversations?limit=1&status=open&cursor={cursor}"),
            Some(&f.key),
        )
        .await;
        assert_eq!((status, body), (400, err("bad_request", "Invalid cursor")));
    }
}

#[actix_web::test]
async fn document_and_docs_page_are_public_and_offline() {
    let db = TestDb::sqlite();
    let store: Arc<dyn Store> = Arc::new(rosetta_store::DieselStore::open(&db.url).unwrap());
    let app = app(AppState::new(store), 10).await;
    let resp = test::call_service(&app, test::TestRequest::get().uri("/api/v1/openapi.json").to_request()).await;
    assert_eq!(resp.status(), 200);
    let doc: Value = serde_json::from_slice(&test::read_body(resp).await).unwrap();
    assert_eq!(
        doc,
        serde_json::from_str::<Value>(&rosetta_wacrm::openapi_json()).unwrap()
    );
    let resp = test::call_service(&app, test::TestRequest::get().uri("/api/v1/docs/").to_request()).await;
    assert_eq!(resp.status(), 200);
    let page = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    assert!(
        page.contains("swagger-ui-bundle.js") && !page.contains("http://") && !page.contains("https://"),
        "assets are local"
    );
    for asset in ["swagger-ui-bundle.js", "swagger-ui.css", "swagger-initializer.js"] {
        let resp = test::call_service(
            &app,
            test::TestRequest::get()
                .uri(&format!("/api/v1/docs/{asset}"))
                .to_request(),
        )
        .await;
        assert_eq!(resp.status(), 200, "{asset}");
    }
    let resp = test::call_service(&app, test::TestRequest::get().uri("/api/v1/docs").to_request()).await;
    assert_eq!(resp.status(), 301);
}
