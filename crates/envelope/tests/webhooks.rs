//! `/api/whatsapp/webhooks`: the organization's one configuration, registered (with its secret,
//! once), read, updated, re-enabled and removed; its rules in envelope's shape; another
//! organization's never seen. On SQLite and (when configured) PostgreSQL.

use rosetta_core::key::KeyStyle;
use rosetta_core::{EntityKind, Spelling};
use rosetta_store::testing::TestDb;
use rosetta_testkit as testkit;
use serde_json::{json, Value};

fn refused(message: &str) -> Value {
    json!({"success": false, "error": message})
}

#[actix_web::test]
async fn the_webhook_configuration_is_registered_read_updated_and_removed() {
    for db in TestDb::all() {
        let (store, state) = testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        let other = s.create_organization("Other").unwrap().id;
        let app = testkit::app(state, testkit::Dialects::all()).await;
        let auth = |org: rosetta_core::Id| {
            vec![
                (
                    "Authorization",
                    format!("Bearer {}", testkit::key(s, org, KeyStyle::Envelope, None).secret),
                ),
                ("x-org-id", org.render(EntityKind::Organization, Spelling::Envelope)),
            ]
        };
        let (ours, theirs) = (auth(org), auth(other));

        let r = testkit::send(&app, "GET", "/api/whatsapp/webhooks", &ours, None).await;
        assert_eq!((r.status, r.body.clone()), (404, refused("Webhook not configured")));

        let made = testkit::send(
            &app,
            "POST",
            "/api/whatsapp/webhooks",
            &ours,
            Some(r#"{"url": "https://hooks.example.com/envelope"}"#),
        )
        .await;
        assert_eq!(made.status, 201, "{}", made.body);
        let config = &made.body["data"];
        let id = config["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("webhook_"), "{id}");
        let secret = config["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("whsec_"));
        let all_events = json!([
            "message.received",
            "message.sent",
            "conversation.created",
            "conversation.closed",
            "conversation.assigned",
            "contact.created",
            "contact.updated"
        ]);
        let shown = |url: &str, events: Value, active: bool| {
            json!({"id": id, "url": url, "events": events, "isActive": active, "failureCount": 0,
                   "lastDeliveryAt": null, "createdAt": config["createdAt"]})
        };
        let mut expected = shown("https://hooks.example.com/envelope", all_events.clone(), true);
        expected["secret"] = json!(secret);
        assert_eq!(made.body, json!({"success": true, "data": expected}));

        // Read without the secret; updated in place (200, same id, no new secret); disabled,
        // re-enabled.
        let r = testkit::send(&app, "GET", "/api/whatsapp/webhooks", &ours, None).await;
        assert_eq!(
            r.body,
            json!({"success": true, "data": shown("https://hooks.example.com/envelope", all_events, true)})
        );
        let r = testkit::send(
            &app,
            "POST",
            "/api/whatsapp/webhooks",
            &ours,
            Some(r#"{"url": "https://hooks.example.com/v2", "events": ["message.received"], "isActive": false}"#),
        )
        .await;
        assert_eq!(
            (r.status, r.body.clone()),
            (
                200,
                json!({"success": true, "data": shown("https://hooks.example.com/v2", json!(["message.received"]), false)})
            )
        );
        let r = testkit::send(
            &app,
            "POST",
            "/api/whatsapp/webhooks",
            &ours,
            Some(r#"{"url": "https://hooks.example.com/v2", "isActive": true}"#),
        )
        .await;
        assert_eq!(r.body["data"]["isActive"], true);

        // The rules.
        for (body, message) in [
            ("{}", "url is required"),
            (r#"{"url": "http://hooks.example.com/x"}"#, "url must be an https URL"),
            (
                r#"{"url": "https://192.168.1.10/x"}"#,
                "url must not point at a private, loopback or link-local address",
            ),
            (
                r#"{"url": "https://hooks.example.com/x", "events": ["message.status"]}"#,
                "Unknown event message.status: one of message.received, message.sent, conversation.created, conversation.closed, conversation.assigned, contact.created, contact.updated",
            ),
            (r#"{"url": "https://hooks.example.com/x", "isActive": "yes"}"#, "isActive must be a boolean"),
        ] {
            let r = testkit::send(&app, "POST", "/api/whatsapp/webhooks", &ours, Some(body)).await;
            assert_eq!((r.status, r.body.clone()), (400, refused(message)), "{body}");
        }

        // Another organization has none, and cannot remove ours.
        let r = testkit::send(&app, "GET", "/api/whatsapp/webhooks", &theirs, None).await;
        assert_eq!(r.status, 404);
        let r = testkit::send(&app, "DELETE", "/api/whatsapp/webhooks", &theirs, None).await;
        assert_eq!(r.status, 404);

        // Removed.
        let r = testkit::send(&app, "DELETE", "/api/whatsapp/webhooks", &ours, None).await;
        assert_eq!(
            (r.status, r.body.clone()),
            (200, json!({"success": true, "data": {"deleted": true}}))
        );
        let r = testkit::send(&app, "GET", "/api/whatsapp/webhooks", &ours, None).await;
        assert_eq!(r.status, 404);
    }
}
