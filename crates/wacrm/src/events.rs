//! Events in wacrm's words (what its webhooks carry): `message.received`,
//! `message.status_updated`, `conversation.created`, `conversation.closed`, `contact.created`;
//! the other changes have no wacrm event. Body `{id, event, occurred_at, account_id, data}`, ids as
//! UUIDs, `account_id` the organization (wacrm's account is its tenant); `id` (one per event) is the receiver's dedupe key. Signed by `signature`:
//! `X-Wacrm-Signature: t=<unix>,v1=<hex HMAC-SHA256(the whole whsec_ secret, "<t>.<raw body>")>`.

use rosetta_core::events::{Event, EventKind, Rendered, Subjects};
use rosetta_core::{EntityKind, Id, Spelling};
use serde_json::{json, Value};

fn uuid(kind: EntityKind, id: Option<Id>) -> Value {
    id.map_or(Value::Null, |id| json!(id.render(kind, Spelling::Uuid)))
}

/// The event's wacrm form, if wacrm announces it.
pub fn render(event: &Event, _subjects: &Subjects) -> Option<Rendered> {
    let conversation = uuid(EntityKind::Conversation, event.conversation_id);
    let contact = uuid(EntityKind::Contact, event.contact_id);
    let d = &event.data;
    let (name, data) = match event.kind {
        EventKind::MessageReceived => (
            "message.received",
            json!({
                "conversation_id": conversation,
                "contact_id": contact,
                "whatsapp_message_id": d["wamid"],
                "content_type": d["content_type"]
                    .as_str()
                    .and_then(rosetta_core::ContentType::parse)
                    .map(crate::dto::content_type),
                "text": d["text"],
            }),
        ),
        EventKind::MessageStatus => (
            "message.status_updated",
            json!({"whatsapp_message_id": d["wamid"], "conversation_id": conversation, "status": d["status"]}),
        ),
        EventKind::ConversationCreated => (
            "conversation.created",
            json!({"conversation_id": conversation, "contact_id": contact}),
        ),
        EventKind::ConversationClosed => (
            "conversation.closed",
            json!({"conversation_id": conversation, "contact_id": contact}),
        ),
        EventKind::ContactCreated => (
            "contact.created",
            json!({"contact_id": contact, "phone": d["phone"], "name": d["name"]}),
        ),
        EventKind::MessageCreated
        | EventKind::ConversationReopened
        | EventKind::ConversationAssigned
        | EventKind::ContactUpdated => return None,
    };
    let id = event.id.render(EntityKind::Message, Spelling::Uuid);
    Some(Rendered {
        name,
        body: json!({
            "id": id,
            "event": name,
            "occurred_at": event.created_at.to_rfc3339(),
            // wacrm's account is the tenant (the seed: a conversation "belongs to a different
            // account"), Rosetta's organization.
            "account_id": event.org_id.render(EntityKind::Organization, Spelling::Uuid),
            "data": data,
        }),
        dedupe_key: id,
        source: "wacrm",
    })
}

/// The `X-Wacrm-Signature` value for `body` sent at `t`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    rosetta_http::signing::stamped(&[secret], t, body)
}

/// A delivery's headers: `X-Wacrm-Event`, `X-Wacrm-Webhook-Id` (the endpoint's id) and
/// `X-Wacrm-Signature` under the endpoint's secret.
fn headers(a: &rosetta_http::events::Attempt<'_>) -> Vec<(&'static str, String)> {
    let secret = a.secrets.last().map_or("", String::as_str);
    vec![
        ("X-Wacrm-Event", a.event_name.to_owned()),
        (
            "X-Wacrm-Webhook-Id",
            a.webhook_id.render(EntityKind::Webhook, Spelling::Uuid),
        ),
        ("X-Wacrm-Signature", signature(secret, a.timestamp, a.body)),
    ]
}

/// wacrm's events out: its bodies and its delivery headers.
pub const OUTBOUND: rosetta_http::events::Outbound = rosetta_http::events::Outbound { render, headers };

/// Every event name wacrm announces (what a subscription may name).
pub const EVENT_NAMES: [&str; 5] = [
    "message.received",
    "message.status_updated",
    "conversation.created",
    "conversation.closed",
    "contact.created",
];

/// A live stream of the account's events (Server-Sent Events), in wacrm's webhook bodies: `id:` the
/// event's position, `event:` its wacrm name, `data:` its body. Resumes after `Last-Event-ID` with
/// no gap; without it, starts with what happens next. Scope `messages:read`.
#[utoipa::path(
    get,
    path = "/api/v1/events/stream",
    tag = "Events",
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event (its id in the stream)"),
        ("last_event_id" = Option<i64>, Query, minimum = 0, description = "The same, for clients that cannot set headers"),
    ),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The stream (text/event-stream)", content_type = "text/event-stream", body = String),
        (status = 400, description = "bad_request: Last-Event-ID is not an id of this stream", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = crate::error::ErrorBody),
        (status = 403, description = "The key lacks messages:read", body = crate::error::ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = crate::error::ErrorBody),
        (status = 503, description = "Database unavailable", body = crate::error::ErrorBody),
    )
)]
pub async fn stream(
    req: actix_web::HttpRequest,
    wacrm: actix_web::web::Data<crate::Wacrm>,
) -> Result<actix_web::HttpResponse, crate::error::WacrmError> {
    let checks = wacrm.checks(&req, Some("messages:read"), rosetta_http::auth::Cost::BoundedRead)?;
    rosetta_http::events::route(&req, &wacrm.state, checks, render).await
}
