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
