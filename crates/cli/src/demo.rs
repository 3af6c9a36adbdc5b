//! `rosetta demo`: a seeded database, one key per dialect, every dialect and the webhook route on one
//! port, and the commands to try them, printed ready to paste.

use std::path::PathBuf;

use clap::Args;
use rosetta_core::key::{parse_scopes, KeyStyle};
use rosetta_core::store::NewApiKey;
use rosetta_core::{EntityKind, Id, Spelling, Store};
use rosetta_store::seed::SeedOptions;
use rosetta_store::DieselStore;
use serde_json::json;

use crate::server::{serve, ServeDialect, ServeOptions};

/// The demo's WhatsApp number (Meta's `phone_number_id`, as in the seed documents).
pub const DEMO_PHONE_NUMBER_ID: &str = "106540352242922";
/// The customer of the demo's sample webhook.
const DEMO_CUSTOMER: &str = "+14155550100";

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Where the demo database goes (created if missing). Default: a new folder in the system's
    /// temporary directory.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Listen address (like `serve`, from `ROSETTA_BIND` too).
    #[arg(long, env = "ROSETTA_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Conversations to seed.
    #[arg(long, default_value_t = 3000)]
    pub conversations: u64,
    /// Also print the summary as one JSON line (keys, URLs), for scripts.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: DemoArgs) -> Result<(), String> {
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("rosetta-demo-{}", Id::new().to_string().to_lowercase())));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let db = dir.join("demo.db");
    if db.exists() {
        return Err(format!(
            "{} already holds a demo; serve it with `rosetta --database-url sqlite://{} serve`, or pass another --dir",
            db.display(),
            db.display()
        ));
    }
    let url = format!("sqlite://{}", db.display());
    eprintln!("creating the demo database at {} ...", db.display());
    let store = DieselStore::open(&url).map_err(|e| e.to_string())?;
    let org = store.create_organization("Rosetta Demo").map_err(|e| e.to_string())?;
    let account = store
        .create_account(org.id, DEMO_PHONE_NUMBER_ID, "+15550783881", Some("Support"))
        .map_err(|e| e.to_string())?
        .id;
    // The demo's number sends through a stand-in for Meta on loopback, with a made-up token.
    let demo_token = format!("EAAG-demo-{}", Id::new().to_string().to_lowercase());
    store
        .set_account_token(
            org.id,
            account,
            &rosetta_core::AccessToken::new(&demo_token).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
    let report = store
        .seed(
            org.id,
            &SeedOptions {
                conversations: args.conversations,
                messages_per_conversation: 5,
                seed: 1,
            },
            &mut |_| {},
        )
        .map_err(|e| e.to_string())?;
    let key = |style: KeyStyle| {
        store
            .create_api_key(
                org.id,
                NewApiKey {
                    name: Some(format!("demo {}", style.as_str())),
                    style,
                    scopes: parse_scopes(None).expect("every scope"),
                    expires_at: None,
                },
            )
            .map(|k| k.secret)
            .map_err(|e| e.to_string())
    };
    let (wacrm, kirim, envelope) = (key(KeyStyle::Wacrm)?, key(KeyStyle::Kirim)?, key(KeyStyle::Envelope)?);
    // The customer of the sample webhook, known beforehand so the envelope's send can name the
    // conversation.
    let customer = store
        .create_contact(
            org.id,
            rosetta_core::NewContact {
                phone: DEMO_CUSTOMER.into(),
                name: Some("New Customer".into()),
                ..Default::default()
            },
        )
        .map_err(|e| e.to_string())?
        .contact
        .contact
        .id;
    let conversation = store
        .open_conversation(org.id, account, customer)
        .map_err(|e| e.to_string())?
        .id;
    // A local receiver subscribed to every wacrm event, so each change shows as a signed delivery.
    let receiver = rosetta_deliver::receiver::Receiver::start("127.0.0.1:0")
        .map_err(|e| format!("the demo's webhook receiver: {e}"))?;
    let subscription = store
        .create_webhook(
            org.id,
            rosetta_core::webhooks::NewWebhook {
                dialect: rosetta_core::Dialect::Wacrm,
                url: format!("{}/demo-webhook", receiver.url()),
                events: rosetta_wacrm::events::EVENT_NAMES
                    .iter()
                    .map(|e| e.to_string())
                    .collect(),
                description: Some("rosetta demo".into()),
                is_active: true,
            },
        )
        .map_err(|e| e.to_string())?;
    drop(store);
    let receiver_url = receiver.url().to_owned();
    let secret = subscription.secret.clone();
    std::thread::Builder::new()
        .name("demo-receiver".into())
        .spawn(move || show_deliveries(receiver, &secret))
        .map_err(|e| e.to_string())?;

    let app_secret = format!("demo-{}", Id::new().to_string().to_lowercase());
    let base = format!("http://{}", args.bind);
    let standin =
        rosetta_graph::standin::StandIn::start("127.0.0.1:0").map_err(|e| format!("the Graph API stand-in: {e}"))?;
    standin.allow(DEMO_PHONE_NUMBER_ID, &demo_token);
    standin.report_to(&format!("{base}/webhooks/whatsapp"), &app_secret);
    let conversation_uuid = conversation.render(EntityKind::Conversation, Spelling::Uuid);
    let conversation_kirim = conversation.render(EntityKind::Conversation, Spelling::Kirim);
    let conversation_envelope = conversation.render(EntityKind::Conversation, Spelling::Envelope);
    let sends = json!({
        "wacrm": {"path": "/api/v1/messages", "body": json!({"to": DEMO_CUSTOMER, "text": "Hi from wacrm! How can we help?"}).to_string()},
        "kirim": {"path": format!("/v1/{DEMO_PHONE_NUMBER_ID}/messages"), "body": json!({"messaging_product": "whatsapp", "to": DEMO_CUSTOMER.trim_start_matches('+'), "type": "text", "text": {"body": "Hi from kirim!"}}).to_string()},
        "envelope": {"path": "/api/whatsapp/messages", "body": json!({"conversationId": conversation_envelope, "type": "text", "content": {"text": "Hi from envelope!"}}).to_string()},
    });
    let lists = json!({
        "wacrm": format!("/api/v1/conversations/{conversation_uuid}/messages?limit=3"),
        "kirim": format!("/v1/{DEMO_PHONE_NUMBER_ID}/conversations/{conversation_kirim}/messages?limit=3"),
        "envelope": format!("/api/whatsapp/messages?conversationId={conversation_envelope}&limit=3"),
    });
    let org_uuid = org.id.render(EntityKind::Organization, Spelling::Envelope);
    let wamid = format!("wamid.demo{}", Id::new());
    let delivery = json!({"object": "whatsapp_business_account", "entry": [{"id": "demo", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": DEMO_PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "New Customer"}, "wa_id": DEMO_CUSTOMER.trim_start_matches('+')}],
        "messages": [{"from": DEMO_CUSTOMER.trim_start_matches('+'), "id": wamid, "timestamp": (rosetta_core::Timestamp::now().millis() / 1000).to_string(), "type": "text", "text": {"body": "Hello from the demo webhook!"}}]
    }}]}]})
    .to_string();
    let signature = rosetta_http::webhook::sign(&app_secret, delivery.as_bytes());

    println!(
        r#"
Rosetta demo: {conversations} conversations and {messages} messages of the organization "Rosetta Demo",
served in all three dialects at {base}.

Docs (work offline):
  wacrm     {base}/api/v1/docs/
  kirim     {base}/v1/docs/
  envelope  {base}/api/whatsapp/docs/

Try each dialect:
  curl -s '{base}/api/v1/conversations?limit=2' -H 'Authorization: Bearer {wacrm}'
  curl -s '{base}/v1/{pnid}/conversations?limit=2' -H 'Authorization: Bearer {kirim}'
  curl -s '{base}/api/whatsapp/conversations?limit=2' -H 'Authorization: Bearer {envelope}' -H 'x-org-id: {org_uuid}'

Make a new message arrive, as Meta would deliver it (signed with this demo's app secret), then list again:
  curl -s -X POST '{base}/webhooks/whatsapp' -H 'Content-Type: application/json' -H 'X-Hub-Signature-256: {signature}' -d '{delivery}'

Answer the customer from each dialect. Sends go to a stand-in for Meta's Graph API at {standin}
(offline; a real deployment reaches Meta), which reports each message sent, delivered and read:
  curl -s -X POST '{base}{wacrm_send_path}' -H 'Authorization: Bearer {wacrm}' -H 'Content-Type: application/json' -d '{wacrm_send}'
  curl -s -X POST '{base}{kirim_send_path}' -H 'Authorization: Bearer {kirim}' -H 'Content-Type: application/json' -d '{kirim_send}'
  curl -s -X POST '{base}{envelope_send_path}' -H 'Authorization: Bearer {envelope}' -H 'x-org-id: {org_uuid}' -H 'Content-Type: application/json' -d '{envelope_send}'

Watch them go sending -> sent -> delivered -> read, in every dialect:
  curl -s '{base}{wacrm_list}' -H 'Authorization: Bearer {wacrm}'
  curl -s '{base}{kirim_list}' -H 'Authorization: Bearer {kirim}'
  curl -s '{base}{envelope_list}' -H 'Authorization: Bearer {envelope}' -H 'x-org-id: {org_uuid}'

Each change is also delivered as a signed wacrm webhook (X-Wacrm-Signature) to a receiver on
{receiver}/demo-webhook, subscribed to every wacrm event; each arrival is printed below, its signature
checked. The same subscription through the API:
  curl -s '{base}/api/v1/webhooks' -H 'Authorization: Bearer {wacrm}'

The data lives in {db}. To start again, stop this (Ctrl-C) and run `cargo run -p rosetta -- demo`
(a new database each time); to serve this one again:
  cargo run -p rosetta -- --database-url sqlite://{db} serve --whatsapp-app-secret {app_secret}
"#,
        conversations = report.conversations,
        messages = report.messages,
        pnid = DEMO_PHONE_NUMBER_ID,
        db = db.display(),
        standin = standin.url(),
        receiver = receiver_url,
        wacrm_send_path = sends["wacrm"]["path"].as_str().unwrap_or_default(),
        wacrm_send = sends["wacrm"]["body"].as_str().unwrap_or_default(),
        kirim_send_path = sends["kirim"]["path"].as_str().unwrap_or_default(),
        kirim_send = sends["kirim"]["body"].as_str().unwrap_or_default(),
        envelope_send_path = sends["envelope"]["path"].as_str().unwrap_or_default(),
        envelope_send = sends["envelope"]["body"].as_str().unwrap_or_default(),
        wacrm_list = lists["wacrm"].as_str().unwrap_or_default(),
        kirim_list = lists["kirim"].as_str().unwrap_or_default(),
        envelope_list = lists["envelope"].as_str().unwrap_or_default(),
    );
    if args.json {
        println!(
            "{}",
            json!({
                "base": base, "database": db.display().to_string(), "org": org_uuid,
                "phone_number_id": DEMO_PHONE_NUMBER_ID,
                "keys": {"wacrm": wacrm, "kirim": kirim, "envelope": envelope},
                "webhook": {"body": delivery, "signature": signature},
                "sends": sends, "lists": lists, "graph_standin": standin.url(),
                "webhook_receiver": format!("{receiver_url}/demo-webhook"),
            })
        );
    }
    use std::io::Write;
    std::io::stdout().flush().ok();
    serve(
        &url,
        ServeDialect::All,
        ServeOptions {
            bind: args.bind,
            workers: None,
            pool_size: 16,
            rate_limit_per_minute: None,
            rate_limit_scope: None,
            jwt_secret: None,
            jwt_max_lifetime_secs: rosetta_http::jwt::DEFAULT_MAX_LIFETIME_SECS,
            whatsapp_app_secret: Some(app_secret),
            whatsapp_verify_token: Some("rosetta-demo".into()),
            graph_api_url: standin.url().to_owned(),
            graph_api_version: rosetta_graph::DEFAULT_GRAPH_VERSION.into(),
            send_retry_for_secs: 3600,
            send_unknown_for_secs: 600,
            send_lease_secs: 60,
            send_wait_millis: 10_000,
            send_rate_per_number: 80.0,
            recipient_burst: 10,
            recipient_spacing_millis: 6000,
            no_dispatch: false,
            media: Default::default(),
            media_retention_days: None,
            event_retention_days: 30,
            allow_private_webhook_targets: true,
            media_lease_secs: 660,
            webhook_retry_schedule: Vec::new(),
            webhook_timeout: Vec::new(),
            webhook_disable_after: Vec::new(),
            webhook_lease_secs: 60,
            shared_render_mib: 8,
            metrics_bind: None,
        },
    )
}

/// Prints each delivery the demo's receiver gets, with its signature checked, until the process ends.
fn show_deliveries(receiver: rosetta_deliver::receiver::Receiver, secret: &str) {
    let mut shown = 0;
    loop {
        if !receiver.wait_for(shown + 1, std::time::Duration::from_secs(3600)) {
            continue;
        }
        let got = receiver.received();
        for r in &got[shown..] {
            let signature = r.header("x-wacrm-signature").unwrap_or_default();
            let verified = signature
                .split_once(',')
                .and_then(|(t, _)| t.strip_prefix("t="))
                .and_then(|t| t.parse::<i64>().ok())
                .is_some_and(|t| rosetta_wacrm::events::signature(secret, t, &r.body) == signature);
            println!(
                "webhook delivered: {} (signature {}) {}",
                r.header("x-wacrm-event").unwrap_or("?"),
                if verified { "verified" } else { "NOT VALID" },
                String::from_utf8_lossy(&r.body)
            );
        }
        shown = got.len();
    }
}
