//! `/v1/webhook_subscriptions`: made with its initial secret (once), listed, read, changed, secrets
//! rotated (every unexpired one listed), removed; the rules in kirim's error shape; another
//! organization's never reached. On SQLite and (when configured) PostgreSQL.

use rosetta_core::key::KeyStyle;
use rosetta_store::testing::TestDb;
use rosetta_testkit as testkit;
use serde_json::{json, Value};

#[actix_web::test]
async fn webhook_subscriptions_are_made_rotated_changed_and_removed() {
    for db in TestDb::all() {
        let (store, state) = testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        let other = s.create_organization("Other").unwrap().id;
        let app = testkit::app(state, testkit::Dialects::all()).await;
        let auth = |org| {
            vec![(
                "Authorization",
                format!("Bearer {}", testkit::key(s, org, KeyStyle::Kirim, None).secret),
            )]
        };
        let (ours, theirs) = (auth(org), auth(other));

        let made = testkit::send(
            &app,
            "POST",
            "/v1/webhook_subscriptions",
            &ours,
            Some(r#"{"url": "https://hooks.example.com/kirim", "events": ["message.received", "conversation.assigned"], "description": "CRM sync"}"#),
        )
        .await;
        assert_eq!(made.status, 200, "{}", made.body);
        let d = &made.body["data"];
        let id = d["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("wbs_") && id.len() == 30, "{id}");
        let initial = d["initial_secret"].as_str().unwrap().to_owned();
        assert!(initial.starts_with("whsec_"));
        let first_secret = d["secrets"][0].clone();
        assert!(first_secret["id"].as_str().unwrap().starts_with("sec_"));
        assert_eq!(first_secret["expires_at"], Value::Null);
        assert_eq!(
            made.body,
            json!({"data": {
                "id": id, "object": "webhook_subscription", "url": "https://hooks.example.com/kirim",
                "status": "active", "events": ["message.received", "conversation.assigned"],
                "description": "CRM sync", "secrets": [first_secret], "failure_count": 0,
                "created_at": d["created_at"], "updated_at": d["updated_at"], "initial_secret": initial,
            }, "request_id": made.body["request_id"]})
        );

        // Listed and read, never with a secret.
        let listed = testkit::send(&app, "GET", "/v1/webhook_subscriptions", &ours, None).await;
        assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
        assert_eq!(
            (listed.body["has_more"].clone(), listed.body["next_cursor"].clone()),
            (json!(false), Value::Null)
        );
        assert!(listed.body["data"][0].get("initial_secret").is_none());
        let one = testkit::send(&app, "GET", &format!("/v1/webhook_subscriptions/{id}"), &ours, None).await;
        assert_eq!(one.body["data"]["id"], id.as_str());

        // Rotation: a new secret, once; the first now expires in 2 hours; both listed.
        let rotated = testkit::send(
            &app,
            "POST",
            &format!("/v1/webhook_subscriptions/{id}/secrets"),
            &ours,
            Some(r#"{"expires_in_hours": 2}"#),
        )
        .await;
        assert_eq!(rotated.status, 200, "{}", rotated.body);
        let new_secret = rotated.body["data"]["secret"].as_str().unwrap();
        assert!(new_secret.starts_with("whsec_") && new_secret != initial);
        let secrets = rotated.body["data"]["secrets"].as_array().unwrap();
        assert_eq!(secrets.len(), 2);
        assert_eq!(secrets[0]["id"], first_secret["id"]);
        assert!(secrets[0]["expires_at"].is_string() && secrets[1]["expires_at"].is_null());

        // Changed: disabled, events; re-activated.
        let r = testkit::send(
            &app,
            "PATCH",
            &format!("/v1/webhook_subscriptions/{id}"),
            &ours,
            Some(r#"{"status": "disabled", "events": ["contact.updated"], "description": null}"#),
        )
        .await;
        assert_eq!(
            (
                r.body["data"]["status"].clone(),
                r.body["data"]["events"].clone(),
                r.body["data"]["description"].clone()
            ),
            (json!("disabled"), json!(["contact.updated"]), Value::Null)
        );
        let r = testkit::send(
            &app,
            "PATCH",
            &format!("/v1/webhook_subscriptions/{id}"),
            &ours,
            Some(r#"{"status": "active"}"#),
        )
        .await;
        assert_eq!(r.body["data"]["status"], "active");

        // The rules, in kirim's error shape.
        for (body, code, param) in [
            (
                r#"{"url": "http://hooks.example.com", "events": ["message.received"]}"#,
                "invalid_webhook_url",
                "url",
            ),
            (
                r#"{"url": "https://[::1]/x", "events": ["message.received"]}"#,
                "invalid_webhook_url",
                "url",
            ),
            (
                r#"{"url": "https://hooks.example.com", "events": ["message.sent"]}"#,
                "invalid_field_value",
                "events",
            ),
            (
                r#"{"url": "https://hooks.example.com"}"#,
                "missing_required_field",
                "events",
            ),
            (
                r#"{"url": "https://hooks.example.com", "events": ["contact.created"], "status": {}}"#,
                "invalid_field_value",
                "status",
            ),
        ] {
            let r = testkit::send(&app, "POST", "/v1/webhook_subscriptions", &ours, Some(body)).await;
            assert_eq!(
                (
                    r.status,
                    r.body["error"]["code"].as_str(),
                    r.body["error"]["param"].as_str()
                ),
                (400, Some(code), Some(param)),
                "{body}: {}",
                r.body
            );
        }
        let r = testkit::send(
            &app,
            "POST",
            &format!("/v1/webhook_subscriptions/{id}/secrets"),
            &ours,
            Some(r#"{"expires_in_hours": 9999}"#),
        )
        .await;
        assert_eq!(
            (r.status, r.body["error"]["param"].as_str()),
            (400, Some("expires_in_hours"))
        );

        // Another organization reaches none of it.
        for (method, path) in [
            ("GET", format!("/v1/webhook_subscriptions/{id}")),
            ("PATCH", format!("/v1/webhook_subscriptions/{id}")),
            ("DELETE", format!("/v1/webhook_subscriptions/{id}")),
            ("POST", format!("/v1/webhook_subscriptions/{id}/secrets")),
        ] {
            let r = testkit::send(&app, method, &path, &theirs, Some("{}")).await;
            assert_eq!(
                (r.status, r.body["error"]["code"].as_str()),
                (404, Some("resource_not_found")),
                "{method} {path}: {}",
                r.body
            );
        }
        let r = testkit::send(&app, "GET", "/v1/webhook_subscriptions", &theirs, None).await;
        assert_eq!(r.body["data"], json!([]));

        // Removed.
        let r = testkit::send(&app, "DELETE", &format!("/v1/webhook_subscriptions/{id}"), &ours, None).await;
        assert_eq!(
            r.body["data"],
            json!({"id": id, "object": "webhook_subscription", "deleted": true})
        );
        let r = testkit::send(&app, "GET", &format!("/v1/webhook_subscriptions/{id}"), &ours, None).await;
        assert_eq!(r.status, 404);
    }
}

fn customer_says(wamid: &str) -> rosetta_core::ingest::IngestEvent {
    use rosetta_core::*;
    rosetta_core::ingest::IngestEvent::Message(rosetta_core::ingest::InboundMessage {
        phone_number_id: "106540352242922".into(),
        wa_id: "971501234567".into(),
        profile_name: Some("Ahmed".into()),
        wamid: wamid.into(),
        timestamp: Timestamp::now(),
        content_type: ContentType::Text,
        body: MessageBody {
            text: Some("hello".into()),
            ..Default::default()
        },
        media_sha256: None,
    })
}

/// `/v1/webhook_deliveries`: listed with filters and cursors, read with every attempt, replayed one
/// at a time and in bulk; another organization's never reached.
#[actix_web::test]
async fn webhook_deliveries_are_listed_read_and_replayed() {
    use rosetta_core::webhooks::*;
    use rosetta_core::{Dialect, Id, Timestamp};
    for db in TestDb::all() {
        let (store, state) = testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        s.create_account(org, "106540352242922", "+15550783881", None).unwrap();
        let other = s.create_organization("Other").unwrap().id;
        let app = testkit::app(state, testkit::Dialects::all()).await;
        let auth = |org| {
            vec![(
                "Authorization",
                format!("Bearer {}", testkit::key(s, org, KeyStyle::Kirim, None).secret),
            )]
        };
        let (ours, theirs) = (auth(org), auth(other));
        let made = testkit::send(
            &app,
            "POST",
            "/v1/webhook_subscriptions",
            &ours,
            Some(r#"{"url": "https://hooks.example.com/kirim", "events": ["message.received", "contact.created"]}"#),
        )
        .await;
        let sub = made.body["data"]["id"].as_str().unwrap().to_owned();
        s.ingest(&[customer_says("wamid.1")]).unwrap();
        s.ingest(&[customer_says("wamid.2")]).unwrap();
        s.sequence_events().unwrap();
        let render = |_: Dialect, e: &rosetta_core::events::Event, subjects: &rosetta_core::events::Subjects| {
            rosetta_kirim::events::render(e, subjects)
        };
        assert_eq!(s.fan_out_events(&render, 100).unwrap().deliveries, 3);
        // Attempted once each: wamid.1 delivered, wamid.2 failed (a 400), contact.created waiting.
        let jobs = s
            .claim_webhook_deliveries(Timestamp::now(), 60_000, 10, 10, &[])
            .unwrap();
        let by_key = |k: &str| jobs.iter().find(|j| j.dedupe_key == k).unwrap().id;
        let record = |status: u16, error: Option<&str>, excerpt: &str, next: DeliveryNext| DeliveryOutcome {
            attempt: 1,
            record: AttemptRecord {
                started_at: Timestamp(1_780_000_000_000),
                duration_ms: 42,
                status_code: Some(status),
                error: error.map(str::to_owned),
                excerpt: Some(excerpt.into()),
            },
            next,
            disable_after: 24,
        };
        let contact_created = jobs.iter().find(|j| j.event_name == "contact.created").unwrap();
        s.finish_webhook_deliveries(&[
            (by_key("wamid.1"), record(200, None, "ok", DeliveryNext::Delivered)),
            (
                by_key("wamid.2"),
                record(400, Some("the endpoint answered 400"), "bad", DeliveryNext::Failed),
            ),
            (
                contact_created.id,
                record(
                    503,
                    Some("the endpoint answered 503"),
                    "busy",
                    DeliveryNext::Retry {
                        at: Timestamp(1_780_000_010_000),
                    },
                ),
            ),
        ])
        .unwrap();
        let wbd = |id: Id| rosetta_kirim::dto::kirim_id(rosetta_core::EntityKind::WebhookDelivery, id);
        let delivered = wbd(by_key("wamid.1"));
        let failed = wbd(by_key("wamid.2"));

        // One, with its attempt log, exactly.
        let one = testkit::send(&app, "GET", &format!("/v1/webhook_deliveries/{failed}"), &ours, None).await;
        assert_eq!(one.status, 200, "{}", one.body);
        let d = &one.body["data"];
        assert_eq!(
            one.body,
            json!({"data": {
                "id": failed, "object": "webhook_delivery", "subscription_id": sub,
                "event_id": "wamid.2", "event_type": "message.received", "status": "failed",
                "attempts": 1, "next_attempt_at": null, "last_response_status": 400,
                "last_error": "the endpoint answered 400", "created_at": d["created_at"],
                "delivered_at": null,
                "attempt_log": [{"attempt": 1, "started_at": "2026-05-28T20:26:40.000Z", "duration_ms": 42,
                                 "response_status": 400, "error": "the endpoint answered 400",
                                 "response_excerpt": "bad"}],
            }, "request_id": one.body["request_id"]})
        );
        // Listed newest first, by page; filtered by status, type and subscription.
        let list = |q: &str| {
            let (uri, app, ours) = (format!("/v1/webhook_deliveries{q}"), &app, &ours);
            async move { testkit::send(app, "GET", &uri, ours, None).await }
        };
        let all = list("").await;
        assert_eq!(all.body["data"].as_array().unwrap().len(), 3);
        assert!(all.body["data"][0].get("attempt_log").is_none());
        let first = list("?limit=2").await;
        assert_eq!(first.body["has_more"], true);
        let cursor = first.body["next_cursor"].as_str().unwrap();
        let second = list(&format!("?limit=2&cursor={cursor}")).await;
        assert_eq!(second.body["data"].as_array().unwrap().len(), 1);
        let ids = |r: &testkit::Reply| -> Vec<String> {
            r.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_owned())
                .collect()
        };
        let pending = list("?status=pending").await;
        assert_eq!(pending.body["data"][0]["event_type"], "contact.created");
        assert_eq!(pending.body["data"][0]["next_attempt_at"], "2026-05-28T20:26:50.000Z");
        assert_eq!(ids(&list("?status=delivered").await), vec![delivered.clone()]);
        assert_eq!(ids(&list("?event_type=contact.created").await).len(), 1);
        assert_eq!(
            ids(&list(&format!("?subscription_id={sub}&status=failed")).await),
            vec![failed.clone()]
        );
        for (q, param) in [
            ("?status=lost", "status"),
            ("?event_type=message.sent", "event_type"),
            ("?subscription_id=wbs_1", "subscription_id"),
            ("?created_after=yesterday", "created_after"),
            ("?limit=0", "limit"),
        ] {
            let bad = list(q).await;
            assert_eq!(bad.status, 400, "{q}: {}", bad.body);
            assert_eq!(bad.body["error"]["param"], param, "{q}");
            assert!(bad.body["error"]["request_id"].is_string());
        }

        // Replayed: the same delivery, pending, due now.
        let again = testkit::send(
            &app,
            "POST",
            &format!("/v1/webhook_deliveries/{failed}/replay"),
            &ours,
            None,
        )
        .await;
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(
            (again.body["data"]["id"].as_str(), again.body["data"]["status"].as_str()),
            (Some(failed.as_str()), Some("pending"))
        );
        assert!(again.body["data"]["next_attempt_at"].is_string());
        // In bulk: by ids, and by filter.
        let bulk = testkit::send(
            &app,
            "POST",
            "/v1/webhook_deliveries/bulk_replay",
            &ours,
            Some(&json!({"delivery_ids": [delivered]}).to_string()),
        )
        .await;
        assert_eq!(
            bulk.body["data"],
            json!({"object": "bulk_replay", "replayed": 1, "delivery_ids": [delivered]})
        );
        let bulk = testkit::send(
            &app,
            "POST",
            "/v1/webhook_deliveries/bulk_replay",
            &ours,
            Some(&json!({"subscription_id": sub, "status": "pending"}).to_string()),
        )
        .await;
        assert_eq!(bulk.body["data"]["replayed"], 3);
        let too_many: Vec<String> = (0..1001).map(|_| wbd(Id::new())).collect();
        for (body, param) in [
            (json!({"delivery_ids": too_many}), "delivery_ids"),
            (json!({"delivery_ids": []}), "delivery_ids"),
            (json!({"delivery_ids": ["wbs_x"]}), "delivery_ids"),
            (json!({"delivery_ids": [failed], "status": "failed"}), "status"),
            (json!({"status": 3}), "status"),
        ] {
            let bad = testkit::send(
                &app,
                "POST",
                "/v1/webhook_deliveries/bulk_replay",
                &ours,
                Some(&body.to_string()),
            )
            .await;
            assert_eq!(bad.status, 400, "{body}: {}", bad.body);
            assert_eq!(bad.body["error"]["param"], param, "{body}");
        }

        // Another organization: none of it, 404 on every id route, nothing replayed.
        assert!(testkit::send(&app, "GET", "/v1/webhook_deliveries", &theirs, None)
            .await
            .body["data"]
            .as_array()
            .unwrap()
            .is_empty());
        for (method, path) in [
            ("GET", format!("/v1/webhook_deliveries/{failed}")),
            ("POST", format!("/v1/webhook_deliveries/{failed}/replay")),
            ("GET", format!("/v1/webhook_deliveries?subscription_id={sub}")),
        ] {
            let r = testkit::send(&app, method, &path, &theirs, None).await;
            assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
        }
        let r = testkit::send(
            &app,
            "POST",
            "/v1/webhook_deliveries/bulk_replay",
            &theirs,
            Some(&json!({"delivery_ids": [failed]}).to_string()),
        )
        .await;
        assert_eq!(r.status, 404);
        drop(db);
    }
}
