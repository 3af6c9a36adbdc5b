//! Upgrades (issue #20): a database an earlier release made, with data in it, is opened by this
//! release (which applies the migrations it lacks) and reads back the same through every dialect.
//!
//! For each earlier schema version k (every migration but the newest): the first release's
//! migration makes the schema and the first release's rows are written (an organization, its
//! account, a user, two contacts, a tag, two conversations, messages, and one key of each style,
//! whose secrets must still work), the releases up to k migrate it, and then this release opens it.
//! Every dialect's lists and messages must answer 200 with the rows, byte for byte the same for
//! every k; then the upgraded rows take writes: Meta delivers a new message to the old
//! conversation, and envelope closes it. On SQLite, and on PostgreSQL when
//! `ROSETTA_TEST_DATABASE_URL` is set.

use std::sync::Arc;

use rosetta_core::key::{hash_secret, KeyStyle, ALL_SCOPES};
use rosetta_core::{EntityKind, Id, Spelling, Store};
use rosetta_store::testing::BlankDb;
use rosetta_testkit::{app, send, Dialects};

const PNID: &str = "106540352242922";
const APP_SECRET: &str = "upgrade-app-secret";

/// The 16-byte ids of the rows (hex).
const ORG: &str = "019a0000000000000000000000000001";
const ACCOUNT: &str = "019a0000000000000000000000000002";
const USER: &str = "019a0000000000000000000000000003";
const MARIA: &str = "019a0000000000000000000000000004";
const SAM: &str = "019a0000000000000000000000000005";
const VIP: &str = "019a0000000000000000000000000006";
const OPEN: &str = "019a0000000000000000000000000007";
const CLOSED: &str = "019a0000000000000000000000000008";

/// The first release's rows, in its schema (migration 1). `x'…'` is a blob; the keys' hashes are
/// filled in.
const FIRST_RELEASE: &str = "
INSERT INTO organizations (id, name, created_at) VALUES (x'{ORG}', 'Upgrade Co', 1764000000000);
INSERT INTO whatsapp_accounts (id, org_id, phone_number_id, phone_number, name, connected, created_at)
    VALUES (x'{ACCOUNT}', x'{ORG}', '{PNID}', '+15550783881', 'Support', TRUE, 1764000000000);
INSERT INTO users (id, org_id, name, email, created_at)
    VALUES (x'{USER}', x'{ORG}', 'Ana Agent', 'ana@example.com', 1764000000000);
INSERT INTO contacts (id, org_id, phone, name, email, company, avatar_url, metadata, created_at, updated_at) VALUES
    (x'{MARIA}', x'{ORG}', '+16505551234', 'Maria Lopez', 'maria@example.com', 'Lopez Co', NULL, NULL, 1764000001000, 1764000001000),
    (x'{SAM}', x'{ORG}', '+447700900123', 'Sam', NULL, NULL, NULL, NULL, 1764000002000, 1764000002000);
INSERT INTO tags (id, org_id, name, color, created_at) VALUES (x'{VIP}', x'{ORG}', 'vip', '#ff0000', 1764000000000);
INSERT INTO contact_tags (contact_id, tag_id) VALUES (x'{MARIA}', x'{VIP}');
INSERT INTO conversations (id, org_id, account_id, contact_id, status, assignee_id, unread_count,
    last_message_text, last_message_direction, last_message_at, last_message_key, last_activity_at,
    last_inbound_at, source, first_message_at, resolution, closed_at, closed_by, created_at, updated_at) VALUES
    (x'{OPEN}', x'{ORG}', x'{ACCOUNT}', x'{MARIA}', 'open', x'{USER}', 1, 'Is my order on its way?', 'inbound',
     1764000010000, 1764000010000, 1764000010000, 1764000010000, 'whatsapp', 1764000005000, NULL, NULL, NULL,
     1764000005000, 1764000010000),
    (x'{CLOSED}', x'{ORG}', x'{ACCOUNT}', x'{SAM}', 'closed', NULL, 0, 'Thanks, bye', 'outbound',
     1764000020000, 1764000020000, 1764000020000, 1764000015000, 'whatsapp', 1764000015000, 'resolved',
     1764000021000, x'{USER}', 1764000015000, 1764000021000);
INSERT INTO messages (id, org_id, conversation_id, wamid, direction, sender_type, sender_user_id, content_type,
    text, media_id, mime_type, status, created_at, updated_at) VALUES
    (x'019a0000000000000000000000000011', x'{ORG}', x'{OPEN}', 'wamid.one', 'inbound', 'customer', NULL, 'text',
     'Hello, I ordered a lamp', NULL, NULL, 'received', 1764000005000, 1764000005000),
    (x'019a0000000000000000000000000012', x'{ORG}', x'{OPEN}', 'wamid.two', 'outbound', 'agent', x'{USER}', 'text',
     'Let me check', NULL, NULL, 'read', 1764000007000, 1764000008000),
    (x'019a0000000000000000000000000013', x'{ORG}', x'{OPEN}', 'wamid.three', 'inbound', 'customer', NULL, 'image',
     'Is my order on its way?', 'MEDIA1', 'image/jpeg', 'received', 1764000010000, 1764000010000),
    (x'019a0000000000000000000000000014', x'{ORG}', x'{CLOSED}', 'wamid.four', 'inbound', 'customer', NULL, 'text',
     'Can I return it?', NULL, NULL, 'received', 1764000015000, 1764000015000),
    (x'019a0000000000000000000000000015', x'{ORG}', x'{CLOSED}', 'wamid.five', 'outbound', 'agent', x'{USER}', 'text',
     'Thanks, bye', NULL, NULL, 'delivered', 1764000020000, 1764000020000);
INSERT INTO api_keys (id, org_id, name, style, scopes, secret_hash, last4, created_at) VALUES
    (x'019a0000000000000000000000000021', x'{ORG}', 'dashboard', 'wacrm', '{SCOPES}', x'{WACRM_HASH}', 'aaaa', 1764000000000),
    (x'019a0000000000000000000000000022', x'{ORG}', 'bot', 'kirim', '{SCOPES}', x'{KIRIM_HASH}', 'bbbb', 1764000000000),
    (x'019a0000000000000000000000000023', x'{ORG}', 'inbox', 'envelope', '{SCOPES}', x'{ENVELOPE_HASH}', 'cccc', 1764000000000);
";

/// `sql` with `x'…'` blobs spelled for `backend`.
fn for_backend(sql: &str, backend: &str) -> String {
    if backend == "sqlite" {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    // A blob starts a value: `x'` after a space or `(`, never inside a word (`'inbox'`).
    let blob = |s: &str| {
        [s.find(" x'"), s.find("(x'")]
            .into_iter()
            .flatten()
            .min()
            .map(|at| at + 1)
    };
    while let Some(at) = blob(rest) {
        let end = at + 2 + rest[at + 2..].find('\'').unwrap();
        out.push_str(&rest[..at]);
        out.push_str(&format!("'\\x{}'::bytea", &rest[at + 2..end]));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn id(hex: &str) -> Id {
    let bytes: [u8; 16] = hex::decode(hex).unwrap().try_into().unwrap();
    Id::from_bytes(bytes)
}

/// What every dialect shows of the rows: (request, status, body); then the writes after the
/// upgrade, checked.
async fn read_back(store: rosetta_store::DieselStore, secrets: &[String; 3]) -> Vec<(String, u16, String)> {
    let store: Arc<dyn Store> = Arc::new(store);
    let dialects = Dialects {
        app_secret: Some(APP_SECRET),
        ..Dialects::all()
    };
    let app = app(rosetta_http::AppState::new(store), dialects).await;
    let [wacrm, kirim, envelope] = secrets;
    let open = id(OPEN);
    let org_header = id(ORG).render(EntityKind::Organization, Spelling::Envelope);
    let requests: Vec<(String, Vec<(&str, String)>)> = vec![
        (
            "/api/v1/conversations".into(),
            vec![("Authorization", format!("Bearer {wacrm}"))],
        ),
        (
            format!(
                "/api/v1/conversations/{}/messages",
                open.render(EntityKind::Conversation, Spelling::Uuid)
            ),
            vec![("Authorization", format!("Bearer {wacrm}"))],
        ),
        (
            "/api/v1/contacts".into(),
            vec![("Authorization", format!("Bearer {wacrm}"))],
        ),
        (
            format!("/v1/{PNID}/conversations"),
            vec![("Authorization", format!("Bearer {kirim}"))],
        ),
        (
            format!(
                "/v1/{PNID}/conversations/{}/messages",
                open.render(EntityKind::Conversation, Spelling::Kirim)
            ),
            vec![("Authorization", format!("Bearer {kirim}"))],
        ),
        (
            format!("/v1/{PNID}/contacts"),
            vec![("Authorization", format!("Bearer {kirim}"))],
        ),
        (
            "/api/whatsapp/conversations".into(),
            vec![
                ("Authorization", format!("Bearer {envelope}")),
                ("x-org-id", org_header.clone()),
            ],
        ),
        (
            "/api/whatsapp/conversations?status=closed".into(),
            vec![
                ("Authorization", format!("Bearer {envelope}")),
                ("x-org-id", org_header.clone()),
            ],
        ),
        (
            format!(
                "/api/whatsapp/messages?conversationId={}",
                open.render(EntityKind::Conversation, Spelling::Envelope)
            ),
            vec![
                ("Authorization", format!("Bearer {envelope}")),
                ("x-org-id", org_header.clone()),
            ],
        ),
    ];
    let mut shown = Vec::new();
    for (uri, headers) in requests {
        let mut reply = send(&app, "GET", &uri, &headers, None).await;
        // Each response's own request id is not the data's.
        if let Some(body) = reply.body.as_object_mut() {
            body.remove("request_id");
        }
        shown.push((uri, reply.status, reply.body.to_string()));
    }

    // Writes on the upgraded rows: Maria writes again (her conversation gets the message and one
    // more unread), and envelope closes the conversation.
    let delivery = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"W","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"{PNID}"}},"contacts":[{{"profile":{{"name":"Maria Lopez"}},"wa_id":"16505551234"}}],"messages":[{{"from":"16505551234","id":"wamid.after","timestamp":"1764000100","type":"text","text":{{"body":"Any news?"}}}}]}}}}]}}]}}"#
    );
    let signature = rosetta_http::webhook::sign(APP_SECRET, delivery.as_bytes());
    let reply = rosetta_testkit::send_bytes(
        &app,
        "POST",
        "/webhooks/whatsapp",
        &[("X-Hub-Signature-256", signature)],
        "application/json",
        delivery.into_bytes(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let kirim_auth = [("Authorization", format!("Bearer {kirim}"))];
    let conversation = format!(
        "/v1/{PNID}/conversations/{}",
        open.render(EntityKind::Conversation, Spelling::Kirim)
    );
    let after = send(&app, "GET", &conversation, &kirim_auth, None).await;
    assert_eq!(
        (
            after.status,
            &after.body["data"]["unread_count"],
            &after.body["data"]["last_message_at"]
        ),
        (
            200,
            &serde_json::json!(2),
            &serde_json::json!("2025-11-24T16:01:40.000Z")
        ),
        "{}",
        after.body
    );
    let messages = send(&app, "GET", &format!("{conversation}/messages"), &kirim_auth, None).await;
    assert!(messages.body.to_string().contains("Any news?"), "{}", messages.body);
    let close = send(
        &app,
        "POST",
        &format!(
            "/api/whatsapp/conversations/{}/close",
            open.render(EntityKind::Conversation, Spelling::Envelope)
        ),
        &[
            ("Authorization", format!("Bearer {envelope}")),
            ("x-org-id", org_header),
        ],
        Some("{}"),
    )
    .await;
    assert_eq!(close.status, 200, "{}", close.body);
    let closed = send(&app, "GET", &conversation, &kirim_auth, None).await;
    assert_eq!(closed.body["data"]["status"], "resolved", "{}", closed.body);
    shown
}

#[actix_web::test]
async fn every_earlier_schema_with_data_upgrades_and_reads_back_in_every_dialect() {
    let secrets = [KeyStyle::Wacrm, KeyStyle::Kirim, KeyStyle::Envelope].map(|s| s.generate_secret());
    let hash = |s: &str| hex::encode(hash_secret(s));
    let rows = FIRST_RELEASE
        .replace("{ORG}", ORG)
        .replace("{ACCOUNT}", ACCOUNT)
        .replace("{USER}", USER)
        .replace("{MARIA}", MARIA)
        .replace("{SAM}", SAM)
        .replace("{VIP}", VIP)
        .replace("{OPEN}", OPEN)
        .replace("{CLOSED}", CLOSED)
        .replace("{PNID}", PNID)
        .replace("{SCOPES}", &ALL_SCOPES.join(","))
        .replace("{WACRM_HASH}", &hash(&secrets[0]))
        .replace("{KIRIM_HASH}", &hash(&secrets[1]))
        .replace("{ENVELOPE_HASH}", &hash(&secrets[2]));
    let versions = BlankDb::all()[0].migrations().len();
    assert!(versions >= 14, "migrations: {versions}");
    let mut first: Option<Vec<(String, u16, String)>> = None;
    for made_at in 1..versions {
        for db in BlankDb::all() {
            db.migrate_first(1);
            db.execute(&for_backend(&rows, db.backend()));
            db.migrate_first(made_at);
            let store = db.open();
            assert_eq!(
                store.migrations_applied(),
                versions - made_at,
                "{}: opened at version {made_at}",
                db.backend()
            );
            let shown = read_back(store, &secrets).await;
            for (uri, status, body) in &shown {
                assert_eq!(*status, 200, "{} at version {made_at}: {uri}: {body}", db.backend());
            }
            match &first {
                None => {
                    // What the rows must show, once; every other version and backend the same.
                    let all: String = shown.iter().map(|(_, _, b)| b.as_str()).collect();
                    for needle in [
                        "Maria Lopez",
                        "+16505551234",
                        "vip",
                        "Is my order on its way?",
                        "Hello, I ordered a lamp",
                        "Let me check",
                        "Thanks, bye",
                        "closed",
                    ] {
                        assert!(all.contains(needle), "{needle} not shown: {all}");
                    }
                    first = Some(shown);
                }
                Some(first) => {
                    for (a, b) in first.iter().zip(&shown) {
                        assert_eq!(a, b, "{} at version {made_at}", db.backend());
                    }
                }
            }
        }
    }
}
