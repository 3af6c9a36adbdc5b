//! Conditional GETs in every dialect: a tag on every list and resource, 304 while it is current, and
//! never a stale 304: random writes through every path (ingest of messages and statuses, each
//! dialect's writes, a send and its dispatch, the CLI's store calls, webhook subscriptions and
//! deliveries) between polls of every dialect's pages, each 304 checked against a fresh read. On
//! SQLite and (when configured) PostgreSQL.

use rand::{Rng, SeedableRng};
use rosetta_core::ingest::{InboundMessage, IngestEvent, StatusUpdate};
use rosetta_core::key::KeyStyle;
use rosetta_core::*;
use rosetta_store::testing::{Shortcuts, TestDb};
use rosetta_testkit as testkit;
use serde_json::Value;

const PNID: &str = "106540352242922";

fn customer_says(from: &str, wamid: &str, text: &str) -> IngestEvent {
    IngestEvent::Message(InboundMessage {
        phone_number_id: PNID.into(),
        wa_id: from.into(),
        profile_name: Some("Ahmed".into()),
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

/// A body without what differs between two answers of the same content (request ids).
fn normalized(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.remove("request_id");
                map.values_mut().for_each(strip);
            }
            Value::Array(list) => list.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

#[actix_web::test]
async fn gets_are_tagged_and_answer_304_while_current() {
    for db in TestDb::all() {
        let (store, state) = testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        s.create_account(org, PNID, "+15550783881", None).unwrap();
        s.ingest(&[customer_says("971501234567", "wamid.1", "hello")]).unwrap();
        let app = testkit::app(state, testkit::Dialects::all()).await;
        let kirim = vec![(
            "Authorization",
            format!("Bearer {}", testkit::key(s, org, KeyStyle::Kirim, None).secret),
        )];
        let list = format!("/v1/{PNID}/conversations");
        let first = testkit::send(&app, "GET", &list, &kirim, None).await;
        assert_eq!(first.status, 200);
        let tag = first.headers.get("etag").unwrap().to_str().unwrap().to_owned();
        assert!(tag.starts_with("W/\""), "{tag}");
        // Current: 304, no body, the same tag, the request id and rate headers still there.
        let with = |t: &str| [kirim.clone(), vec![("If-None-Match", t.to_owned())]].concat();
        let again = testkit::send(&app, "GET", &list, &with(&tag), None).await;
        assert_eq!(again.status, 304);
        assert!(again.raw.is_empty());
        assert_eq!(again.headers.get("etag").unwrap().to_str().unwrap(), tag);
        assert!(again.headers.get("x-request-id").is_some());
        // Among others, or strong: still current. `*` is not a tag this route answered: the page.
        let listed = format!("\"nope\", {}", tag.trim_start_matches("W/"));
        assert_eq!(
            testkit::send(&app, "GET", &list, &with(&listed), None).await.status,
            304
        );
        assert_eq!(testkit::send(&app, "GET", &list, &with("*"), None).await.status, 200);
        // Nor does `*` answer for what is not there (schemathesis found that): the dialect's 404.
        let absent = format!("/v1/{PNID}/conversations/cnv_01HXYZABCDEFGHJKMNPQRSTVWX");
        assert_eq!(testkit::send(&app, "GET", &absent, &with("*"), None).await.status, 404);
        // A change: 200 and a new tag.
        s.ingest(&[customer_says("971501234568", "wamid.2", "hi")]).unwrap();
        let changed = testkit::send(&app, "GET", &list, &with(&tag), None).await;
        assert_eq!(changed.status, 200);
        let new_tag = changed.headers.get("etag").unwrap().to_str().unwrap().to_owned();
        assert_ne!(new_tag, tag);
        // Another query is another tag; another caller of the same organization too.
        let other_query = testkit::send(&app, "GET", &format!("{list}?limit=1"), &with(&new_tag), None).await;
        assert_eq!(other_query.status, 200);
        let second_key = vec![(
            "Authorization",
            format!("Bearer {}", testkit::key(s, org, KeyStyle::Kirim, None).secret),
        )];
        let other_caller = testkit::send(
            &app,
            "GET",
            &list,
            &[second_key, vec![("If-None-Match", new_tag.clone())]].concat(),
            None,
        )
        .await;
        assert_eq!(other_caller.status, 200);
        // Webhook routes follow the hooks version: an inbox change leaves their tag alone, and
        // theirs leaves the inbox's alone.
        let hooks = "/v1/webhook_subscriptions";
        let current = testkit::send(&app, "GET", list.as_str(), &kirim, None).await;
        let inbox_tag = current.headers.get("etag").unwrap().to_str().unwrap().to_owned();
        let h = testkit::send(&app, "GET", hooks, &kirim, None).await;
        let hooks_tag = h.headers.get("etag").unwrap().to_str().unwrap().to_owned();
        s.ingest(&[customer_says("971501234569", "wamid.3", "yo")]).unwrap();
        assert_eq!(
            testkit::send(&app, "GET", hooks, &with(&hooks_tag), None).await.status,
            304
        );
        let inbox_now = testkit::send(&app, "GET", list.as_str(), &kirim, None).await;
        let inbox_tag = {
            assert_ne!(inbox_now.headers.get("etag").unwrap().to_str().unwrap(), inbox_tag);
            inbox_now.headers.get("etag").unwrap().to_str().unwrap().to_owned()
        };
        let made = testkit::send(
            &app,
            "POST",
            hooks,
            &kirim,
            Some(r#"{"url": "https://hooks.example.com/k", "events": ["message.received"]}"#),
        )
        .await;
        assert_eq!(made.status, 200);
        assert_eq!(
            testkit::send(&app, "GET", hooks, &with(&hooks_tag), None).await.status,
            200
        );
        assert_eq!(
            testkit::send(&app, "GET", list.as_str(), &with(&inbox_tag), None)
                .await
                .status,
            304
        );
        // Writes, streams and failures carry no tag.
        assert!(made.headers.get("etag").is_none());
        let missing = testkit::send(
            &app,
            "GET",
            &format!("/v1/{PNID}/conversations/cnv_01HXYZABCDEFGHJKMNPQRSTVWX"),
            &kirim,
            None,
        )
        .await;
        assert_eq!(missing.status, 404);
        assert!(missing.headers.get("etag").is_none());
    }
}

/// Random writes through every path between polls of every dialect's pages: a 304 is only ever
/// answered when a fresh read shows exactly what the client holds.
#[actix_web::test]
async fn no_write_on_any_path_leaves_a_stale_304() {
    for db in TestDb::all() {
        let (store, state) = testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        let account = s.create_account(org, PNID, "+15550783881", None).unwrap().id;
        s.set_account_token(org, account, &AccessToken::new("EAAG-conditional").unwrap())
            .unwrap();
        let agent = s.create_user(org, "Alice", "alice@acme.test").unwrap().id;
        s.ingest(&[customer_says("971501234567", "wamid.seed", "hello")])
            .unwrap();
        let conversation = s.message_by_wamid(org, "wamid.seed").unwrap().conversation_id;
        let contact = s.get_conversation(org, conversation).unwrap().contact.contact.id;
        // The same store without shared renderings: what a fresh read shows.
        let mut plain_state = state.clone();
        plain_state.renders = std::sync::Arc::new(rosetta_http::renders::Renders::new(0));
        let renders = state.renders.clone();
        let app = testkit::app(state, testkit::Dialects::all()).await;
        let plain = testkit::app(plain_state, testkit::Dialects::all()).await;
        let auth = |style| {
            vec![(
                "Authorization",
                format!("Bearer {}", testkit::key(s, org, style, None).secret),
            )]
        };
        let (wacrm, kirim) = (auth(KeyStyle::Wacrm), auth(KeyStyle::Kirim));
        let envelope = [
            auth(KeyStyle::Envelope),
            vec![("x-org-id", org.render(EntityKind::Organization, Spelling::Envelope))],
        ]
        .concat();
        let conv_u = conversation.render(EntityKind::Conversation, Spelling::Uuid);
        let conv_k = conversation.render(EntityKind::Conversation, Spelling::Kirim);
        let conv_e = conversation.render(EntityKind::Conversation, Spelling::Envelope);
        let contact_u = contact.render(EntityKind::Contact, Spelling::Uuid);
        let agent_k = agent.render(EntityKind::User, Spelling::Kirim);
        let agent_e = agent.render(EntityKind::User, Spelling::Envelope);
        let pages: Vec<(&Vec<(&str, String)>, String)> = vec![
            (&wacrm, "/api/v1/conversations?limit=5".into()),
            (&wacrm, format!("/api/v1/conversations/{conv_u}")),
            (&wacrm, format!("/api/v1/conversations/{conv_u}/messages")),
            (&wacrm, "/api/v1/contacts".into()),
            (&wacrm, format!("/api/v1/contacts/{contact_u}")),
            (&wacrm, "/api/v1/me".into()),
            (&wacrm, "/api/v1/webhooks".into()),
            (&kirim, format!("/v1/{PNID}/conversations")),
            (&kirim, format!("/v1/{PNID}/conversations/{conv_k}")),
            (&kirim, format!("/v1/{PNID}/conversations/{conv_k}/messages")),
            (&kirim, format!("/v1/{PNID}/contacts?limit=3")),
            (&kirim, "/v1/accounts".into()),
            (&kirim, "/v1/webhook_subscriptions".into()),
            (&kirim, "/v1/webhook_deliveries".into()),
            (&envelope, "/api/whatsapp/conversations?limit=5".into()),
            (&envelope, format!("/api/whatsapp/conversations/{conv_e}")),
            (&envelope, format!("/api/whatsapp/messages?conversationId={conv_e}")),
        ];
        // What the client holds of each page: its tag and body.
        let mut held: Vec<Option<(String, Value)>> = vec![None; pages.len()];
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        let (mut not_modified, mut refreshed) = (0, 0);
        for step in 0..60 {
            for (i, (headers, uri)) in pages.iter().enumerate() {
                let mut h = (*headers).clone();
                if let Some((tag, _)) = &held[i] {
                    h.push(("If-None-Match", tag.clone()));
                }
                let r = testkit::send(&app, "GET", uri, &h, None).await;
                // Another poller of the same page (no tag held): answered from the shared
                // rendering when one was made in this version, and never staler than a fresh read.
                let other = testkit::send(&app, "GET", uri, headers, None).await;
                let fresh = testkit::send(&plain, "GET", uri, headers, None).await;
                assert_eq!(
                    (other.status, normalized(other.body.clone())),
                    (fresh.status, normalized(fresh.body.clone())),
                    "step {step}: a stale shared rendering of {uri} on {}",
                    db.backend()
                );
                match r.status {
                    304 => {
                        not_modified += 1;
                        assert_eq!(
                            normalized(fresh.body.clone()),
                            normalized(held[i].as_ref().unwrap().1.clone()),
                            "step {step}: a stale 304 for {uri} on {}",
                            db.backend()
                        );
                    }
                    200 => {
                        refreshed += 1;
                        let tag = r
                            .headers
                            .get("etag")
                            .unwrap_or_else(|| panic!("{uri}: no tag"))
                            .to_str()
                            .unwrap();
                        held[i] = Some((tag.to_owned(), r.body.clone()));
                    }
                    other => panic!("{uri}: {other} {}", r.body),
                }
            }
            // One write, through one of the paths, or none (so some polls are 304).
            let n = step;
            match rng.random_range(0..12) {
                0 => {
                    s.ingest(&[customer_says("971501234567", &format!("wamid.{n}"), "again")])
                        .unwrap();
                }
                1 => {
                    s.ingest(&[customer_says(
                        &format!("97150999{n:04}"),
                        &format!("wamid.new{n}"),
                        "new",
                    )])
                    .unwrap();
                }
                2 => {
                    let r = testkit::send(
                        &app,
                        "PATCH",
                        &format!("/api/v1/contacts/{contact_u}"),
                        &wacrm,
                        Some(&format!(r#"{{"name": "Ahmed {n}"}}"#)),
                    )
                    .await;
                    assert_eq!(r.status, 200, "{}", r.body);
                }
                3 => {
                    let body = if n % 2 == 0 {
                        format!(r#"{{"assigned_to": "{agent_k}"}}"#)
                    } else {
                        r#"{"status": "resolved"}"#.to_owned()
                    };
                    let r = testkit::send(
                        &app,
                        "PATCH",
                        &format!("/v1/{PNID}/conversations/{conv_k}"),
                        &kirim,
                        Some(&body),
                    )
                    .await;
                    assert_eq!(r.status, 200, "{}", r.body);
                }
                4 => {
                    let (path, body) = if n % 2 == 0 {
                        (format!("/api/whatsapp/conversations/{conv_e}/close"), "{}".to_owned())
                    } else {
                        (
                            format!("/api/whatsapp/conversations/{conv_e}/assign"),
                            format!(r#"{{"userId": "{agent_e}"}}"#),
                        )
                    };
                    let r = testkit::send(&app, "POST", &path, &envelope, Some(&body)).await;
                    assert!(r.status < 300, "{}", r.body);
                }
                5 => {
                    // A send (queued; its dispatch below).
                    let r = testkit::send(
                        &app,
                        "POST",
                        &format!("/v1/{PNID}/messages"),
                        &kirim,
                        Some(r#"{"messaging_product":"whatsapp","to":"971501234567","type":"text","text":{"body":"ok"}}"#),
                    )
                    .await;
                    assert_eq!(r.status, 200, "{}", r.body);
                }
                6 => {
                    // The dispatcher's path: a queued send sent, then Meta's status of it.
                    for job in s.claim_dispatch(Timestamp::now(), 60_000, 600_000, 10).unwrap() {
                        let wamid = format!("wamid.out{}", job.message_id);
                        s.finish_dispatch(
                            job.message_id,
                            rosetta_core::outbox::DispatchOutcome::Sent { wamid: wamid.clone() },
                        )
                        .unwrap();
                        s.ingest(&[IngestEvent::Status(StatusUpdate {
                            phone_number_id: PNID.into(),
                            wamid,
                            status: MessageStatus::Delivered,
                            timestamp: Timestamp::now(),
                            error_code: None,
                            error_title: None,
                            callback_data: None,
                        })])
                        .unwrap();
                    }
                }
                7 => {
                    // The CLI's paths: a tag, a key, a read mark, straight through the store.
                    s.attach_tag(org, contact, &format!("tag{}", n % 3), None).unwrap();
                    s.mark_read(
                        org,
                        s.list_messages(org, conversation, &PageRequest::first(1))
                            .unwrap()
                            .items[0]
                            .id,
                    )
                    .ok();
                    let _ = s.set_status(org, conversation, ConversationStatus::Open, None);
                }
                8 => {
                    let r = testkit::send(
                        &app,
                        "POST",
                        "/api/v1/webhooks",
                        &wacrm,
                        Some(r#"{"url": "https://hooks.example.com/w", "events": ["message.received"]}"#),
                    )
                    .await;
                    assert_eq!(r.status, 201, "{}", r.body);
                }
                9 => {
                    // The delivery worker's paths: fan-out, a claim, an outcome.
                    s.sequence_events().unwrap();
                    s.fan_out_events(&|_, e, sub| rosetta_kirim::events::render(e, sub), 100)
                        .unwrap();
                    for job in s.claim_webhook_deliveries(Timestamp::now(), 60_000, 5, 5, &[]).unwrap() {
                        s.finish_webhook_deliveries(&[(
                            job.id,
                            rosetta_core::webhooks::DeliveryOutcome {
                                attempt: job.attempt,
                                record: rosetta_core::webhooks::AttemptRecord {
                                    started_at: Timestamp::now(),
                                    duration_ms: 1,
                                    status_code: Some(200),
                                    error: None,
                                    excerpt: None,
                                },
                                next: rosetta_core::webhooks::DeliveryNext::Delivered,
                                disable_after: 24,
                            },
                        )])
                        .unwrap();
                    }
                }
                10 => {
                    let r = testkit::send(
                        &app,
                        "POST",
                        "/v1/webhook_subscriptions",
                        &kirim,
                        Some(r#"{"url": "https://hooks.example.com/k", "events": ["message.received", "contact.created"]}"#),
                    )
                    .await;
                    assert_eq!(r.status, 200, "{}", r.body);
                }
                _ => {} // no write: the next polls are 304
            }
        }
        eprintln!(
            "{}: {not_modified} polls answered 304 (each checked against a fresh read), {refreshed} answered 200; \
             shared renderings: {} hits, {} misses (each hit checked against a fresh read)",
            db.backend(),
            renders.hits(),
            renders.misses()
        );
        assert!(not_modified > 50 && refreshed > 50, "{not_modified} / {refreshed}");
        assert!(
            renders.hits() > 50,
            "the second poller was answered from the shared rendering"
        );
    }
}

/// Keys are kept in memory while the key cache's watcher runs; a revocation through another
/// instance (the CLI's store call) is refused within a second, measured.
#[actix_web::test]
async fn a_revoked_key_is_refused_within_a_second_with_the_cache_on() {
    for db in TestDb::all() {
        let (store, state) = testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        s.create_account(org, PNID, "+15550783881", None).unwrap();
        let watcher = actix_web::rt::spawn(rosetta_http::auth::watch_keys(state.clone()));
        let cache = state.keys.clone();
        let app = testkit::app(state, testkit::Dialects::all()).await;
        let key = testkit::key(s, org, KeyStyle::Kirim, None);
        let auth = vec![("Authorization", format!("Bearer {}", key.secret))];
        // Cached once the watcher has read the version; answered from it.
        for _ in 0..20 {
            assert_eq!(testkit::send(&app, "GET", "/v1/me", &auth, None).await.status, 200);
            actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(cache.hits() > 10, "answered from the cache: {}", cache.hits());
        let elsewhere = db.instance();
        let started = std::time::Instant::now();
        actix_web::rt::task::spawn_blocking(move || elsewhere.revoke_api_key(key.key.id).unwrap())
            .await
            .unwrap();
        loop {
            let status = testkit::send(&app, "GET", "/v1/me", &auth, None).await.status;
            if status == 401 {
                break;
            }
            assert_eq!(status, 200);
            assert!(
                started.elapsed() < std::time::Duration::from_secs(1),
                "still accepted after {:?}",
                started.elapsed()
            );
            actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        eprintln!(
            "{}: the revoked key was refused after {:?}",
            db.backend(),
            started.elapsed()
        );
        watcher.abort();
    }
}

/// Identical GETs of one organization within one change version share one rendering: a second
/// caller's page comes from it (kirim's request id rewritten to its own), a write makes the next
/// request render again, and what shows the caller (`/me`) is never given to another caller.
#[actix_web::test]
async fn identical_requests_share_one_rendering_within_a_version() {
    for db in TestDb::all() {
        let (store, state) = testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        s.create_account(org, PNID, "+15550783881", None).unwrap();
        s.ingest(&[customer_says("971501234567", "wamid.1", "hello")]).unwrap();
        let renders = state.renders.clone();
        let app = testkit::app(state, testkit::Dialects::all()).await;
        let bearer = |style| {
            vec![(
                "Authorization",
                format!("Bearer {}", testkit::key(s, org, style, None).secret),
            )]
        };
        let (k1, k2) = (bearer(KeyStyle::Kirim), bearer(KeyStyle::Kirim));
        let list = format!("/v1/{PNID}/conversations");
        let first = testkit::send(&app, "GET", &list, &k1, None).await;
        assert_eq!((first.status, renders.hits(), renders.misses()), (200, 0, 1));
        let second = testkit::send(&app, "GET", &list, &k2, None).await;
        assert_eq!((second.status, renders.hits()), (200, 1), "another key, the same page");
        assert_eq!(normalized(second.body.clone()), normalized(first.body.clone()));
        assert_eq!(second.headers.get("content-type"), first.headers.get("content-type"));
        let id = second.headers.get("x-request-id").unwrap().to_str().unwrap();
        assert_eq!(second.body["request_id"], id, "the request id is this request's");
        assert_ne!(second.body["request_id"], first.body["request_id"]);
        // Its own tag (the caller is in it), though the body is shared.
        assert_ne!(second.headers.get("etag"), first.headers.get("etag"));
        // A write: rendered again, showing it.
        s.ingest(&[customer_says("971501234568", "wamid.2", "hi")]).unwrap();
        let after = testkit::send(&app, "GET", &list, &k2, None).await;
        assert_eq!((renders.hits(), renders.misses()), (1, 2));
        assert_eq!(after.body["data"].as_array().unwrap().len(), 2);
        // `/me` shows the key: kept for that key only.
        let (w1, w2) = (bearer(KeyStyle::Wacrm), bearer(KeyStyle::Wacrm));
        let me1 = testkit::send(&app, "GET", "/api/v1/me", &w1, None).await;
        let me2 = testkit::send(&app, "GET", "/api/v1/me", &w2, None).await;
        assert_ne!(me1.body, me2.body, "{} / {}", me1.body, me2.body);
        let again = testkit::send(&app, "GET", "/api/v1/me", &w1, None).await;
        assert_eq!(again.body, me1.body);
        assert_eq!(renders.hits(), 2, "only the same key's /me came from a rendering");
        // Failures are not kept.
        let absent = format!("/v1/{PNID}/conversations/cnv_01HXYZABCDEFGHJKMNPQRSTVWX");
        for _ in 0..2 {
            assert_eq!(testkit::send(&app, "GET", &absent, &k1, None).await.status, 404);
        }
        assert_eq!(renders.hits(), 2);
    }
}
