//! `/api/v1/webhooks`: a request in, the exact JSON out; the secret shown once; the URL and event
//! rules; re-enabling resets the failure count; scope, and another account's endpoint not found. On
//! SQLite and (when configured) PostgreSQL.

use rosetta_core::key::KeyStyle;
use rosetta_store::testing::TestDb;
use rosetta_testkit as testkit;
use serde_json::{json, Value};

fn auth(key: &str) -> Vec<(&'static str, String)> {
    vec![("Authorization", format!("Bearer {key}"))]
}

fn bad(message: &str) -> Value {
    json!({"error": {"code": "bad_request", "message": message}})
}

#[actix_web::test]
async fn webhook_endpoints_are_made_listed_changed_and_removed() {
    for db in TestDb::all() {
        let (store, state) = testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        let other = s.create_organization("Other").unwrap().id;
        let app = testkit::app(state, testkit::Dialects::all()).await;
        let key = auth(&testkit::key(s, org, KeyStyle::Wacrm, None).secret);
        let reader = auth(&testkit::key(s, org, KeyStyle::Wacrm, Some("conversations:read")).secret);
        let theirs = auth(&testkit::key(s, other, KeyStyle::Wacrm, None).secret);

        let made = testkit::send(
            &app,
            "POST",
            "/api/v1/webhooks",
            &key,
            Some(r#"{"url": "https://hooks.example.com/wacrm", "events": ["message.received", "conversation.closed", "message.received"]}"#),
        )
        .await;
        assert_eq!(made.status, 201, "{}", made.body);
        let id = made.body["data"]["id"].as_str().unwrap().to_owned();
        let secret = made.body["data"]["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("whsec_") && secret.len() == 49, "{secret}");
        let created_at = made.body["data"]["created_at"].clone();
        let shown = |active: bool, failures: i64, events: Value, url: &str| {
            json!({"id": id, "url": url, "events": events, "is_active": active,
                   "last_delivery_at": null, "failure_count": failures, "created_at": created_at})
        };
        let mut expected = shown(
            true,
            0,
            json!(["message.received", "conversation.closed"]),
            "https://hooks.example.com/wacrm",
        );
        expected["secret"] = json!(secret);
        assert_eq!(made.body, json!({"data": expected}));

        // Listed and read without the secret.
        let listed = testkit::send(&app, "GET", "/api/v1/webhooks", &key, None).await;
        let plain = shown(
            true,
            0,
            json!(["message.received", "conversation.closed"]),
            "https://hooks.example.com/wacrm",
        );
        assert_eq!(
            (listed.status, listed.body.clone()),
            (200, json!({"data": [plain.clone()]}))
        );
        let one = testkit::send(&app, "GET", &format!("/api/v1/webhooks/{id}"), &key, None).await;
        assert_eq!((one.status, one.body.clone()), (200, json!({"data": plain})));

        // Changed: url, events, disabled; re-enabled.
        let changed = testkit::send(
            &app,
            "PATCH",
            &format!("/api/v1/webhooks/{id}"),
            &key,
            Some(r#"{"url": "https://hooks.example.com/v2", "events": ["contact.created"], "is_active": false}"#),
        )
        .await;
        assert_eq!(
            (changed.status, changed.body.clone()),
            (
                200,
                json!({"data": shown(false, 0, json!(["contact.created"]), "https://hooks.example.com/v2")})
            )
        );
        let enabled = testkit::send(
            &app,
            "PATCH",
            &format!("/api/v1/webhooks/{id}"),
            &key,
            Some(r#"{"is_active": true}"#),
        )
        .await;
        assert_eq!(enabled.body["data"]["is_active"], true);

        // The rules, each a 400 in wacrm's words; nothing is made.
        for (body, message) in [
            (r#"{"events": ["message.received"]}"#, "'url' is required"),
            (r#"{"url": "https://hooks.example.com/x"}"#, "'events' is required"),
            (r#"{"url": "http://hooks.example.com/x", "events": ["message.received"]}"#, "url must be an https URL"),
            (
                r#"{"url": "https://127.0.0.1:9000/x", "events": ["message.received"]}"#,
                "url must not point at a private, loopback or link-local address",
            ),
            (
                r#"{"url": "https://169.254.169.254/latest", "events": ["message.received"]}"#,
                "url must not point at a private, loopback or link-local address",
            ),
            (r#"{"url": "https://hooks.example.com/x", "events": []}"#, "'events' must name at least one event"),
            (
                r#"{"url": "https://hooks.example.com/x", "events": ["contact.created"], "is_active": {}}"#,
                "'is_active' must be a boolean",
            ),
            (
                r#"{"url": "https://hooks.example.com/x", "events": ["message.sent"]}"#,
                "unknown event 'message.sent': one of message.received, message.status_updated, conversation.created, conversation.closed, contact.created",
            ),
        ] {
            let r = testkit::send(&app, "POST", "/api/v1/webhooks", &key, Some(body)).await;
            assert_eq!((r.status, r.body.clone()), (400, bad(message)), "{body}");
        }
        let listed = testkit::send(&app, "GET", "/api/v1/webhooks", &key, None).await;
        assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
        // Made disabled when asked.
        let off = testkit::send(
            &app,
            "POST",
            "/api/v1/webhooks",
            &key,
            Some(r#"{"url": "https://hooks.example.com/off", "events": ["contact.created"], "is_active": false}"#),
        )
        .await;
        assert_eq!((off.status, off.body["data"]["is_active"].clone()), (201, json!(false)));
        let off_id = off.body["data"]["id"].as_str().unwrap().to_owned();
        testkit::send(&app, "DELETE", &format!("/api/v1/webhooks/{off_id}"), &key, None).await;

        // Scope, and another account's endpoint.
        let r = testkit::send(&app, "GET", "/api/v1/webhooks", &reader, None).await;
        assert_eq!(r.status, 403);
        for method in ["GET", "PATCH", "DELETE"] {
            let r = testkit::send(&app, method, &format!("/api/v1/webhooks/{id}"), &theirs, Some("{}")).await;
            assert_eq!(
                (r.status, r.body.clone()),
                (
                    404,
                    json!({"error": {"code": "not_found", "message": "Webhook not found"}})
                ),
                "{method}"
            );
        }
        let r = testkit::send(&app, "GET", "/api/v1/webhooks", &theirs, None).await;
        assert_eq!(r.body, json!({"data": []}));

        // Removed.
        let r = testkit::send(&app, "DELETE", &format!("/api/v1/webhooks/{id}"), &key, None).await;
        assert_eq!(r.status, 204);
        let r = testkit::send(&app, "GET", &format!("/api/v1/webhooks/{id}"), &key, None).await;
        assert_eq!(r.status, 404);
    }
}
