//! Events in envelope's words: `message.received`, `message.sent` (a status reaching sent),
//! `conversation.created`, `conversation.closed`, `conversation.assigned`, `contact.created`,
//! `contact.updated`. Body `{event, timestamp, org_id, data}` (the product's first documented form;
//! its other page's `X-Webhook-Secret` header would send the secret itself and is not used), ids in
//! envelope's spelling; the event's id (`evt_<uuid>`) is the dedupe key, sent as a header with each
//! delivery. Signed by `signature`: `X-SuperWaba-Signature: <hex HMAC-SHA256(secret, raw body)>`.
//! `message.received` data is `{message_id, conversation_id, from, contact_name, type, content,
//! timestamp}`, `content` as a message's (`{text}` for text, `{caption}` for media with one).

use rosetta_core::events::{Event, EventKind, Rendered, Subjects};
use rosetta_core::{EntityKind, Id, MessageStatus, Spelling};
use serde_json::{json, Value};

fn eid(kind: EntityKind, id: Option<Id>) -> Value {
    id.map_or(Value::Null, |id| json!(id.render(kind, Spelling::Envelope)))
}

fn user(raw: &Value) -> Value {
    raw.as_str()
        .and_then(|u| u.parse::<Id>().ok())
        .map_or(Value::Null, |u| json!(u.render(EntityKind::User, Spelling::Envelope)))
}

/// The event's envelope form, if envelope announces it.
pub fn render(event: &Event, subjects: &Subjects) -> Option<Rendered> {
    let d = &event.data;
    let message = eid(EntityKind::Message, event.message_id);
    let conversation = eid(EntityKind::Conversation, event.conversation_id);
    let contact = eid(EntityKind::Contact, event.contact_id);
    let (name, data) = match event.kind {
        EventKind::MessageReceived => {
            let kind = d["content_type"].as_str().unwrap_or("unsupported");
            let content = match (kind, d["text"].as_str()) {
                ("text", text) => json!({"text": text}),
                (_, Some(caption)) => json!({"caption": caption}),
                (_, None) => json!({}),
            };
            let at = rosetta_core::Timestamp(d["created_at"].as_i64().unwrap_or(event.created_at.millis()));
            (
                "message.received",
                json!({"message_id": message, "conversation_id": conversation,
                       "from": subjects.contact_phone, "contact_name": subjects.contact_name,
                       "type": kind, "content": content, "timestamp": at.to_rfc3339()}),
            )
        }
        EventKind::MessageStatus if d["status"] == MessageStatus::Sent.as_str() => (
            "message.sent",
            json!({"message_id": message, "conversation_id": conversation, "wa_message_id": d["wamid"]}),
        ),
        EventKind::ConversationCreated => (
            "conversation.created",
            json!({"conversation_id": conversation, "contact_id": contact}),
        ),
        EventKind::ConversationClosed => (
            "conversation.closed",
            json!({"conversation_id": conversation, "contact_id": contact, "closed_by": user(&d["closed_by"])}),
        ),
        EventKind::ConversationAssigned => (
            "conversation.assigned",
            json!({"conversation_id": conversation, "contact_id": contact,
                   "assigned_to": user(&d["assignee_id"]), "previous_assignee": user(&d["previous_assignee_id"])}),
        ),
        EventKind::ContactCreated => (
            "contact.created",
            json!({"contact_id": contact, "phone": d["phone"], "name": d["name"], "email": d["email"]}),
        ),
        EventKind::ContactUpdated => (
            "contact.updated",
            json!({"contact_id": contact, "phone": d["phone"], "name": d["name"], "email": d["email"]}),
        ),
        _ => return None,
    };
    Some(Rendered {
        name,
        body: json!({
            "event": name,
            "timestamp": event.created_at.to_rfc3339(),
            "org_id": event.org_id.render(EntityKind::Organization, Spelling::Envelope),
            "data": data,
        }),
        dedupe_key: event.id.render(EntityKind::Event, Spelling::Envelope),
        source: "envelope",
    })
}

/// The `X-SuperWaba-Signature` value for `body`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    rosetta_http::signing::plain(secret, body)
}

/// A delivery's headers: `X-SuperWaba-Signature` (hex HMAC-SHA256 of the body under the secret),
/// and from the product's other docs page `X-Webhook-Event` and `X-Webhook-Delivery-Id` (the
/// receiver's dedupe key). That page also puts the secret itself in `X-Webhook-Secret`; Rosetta never
/// sends a secret.
fn headers(a: &rosetta_http::events::Attempt<'_>) -> Vec<(&'static str, String)> {
    let secret = a.secrets.last().map_or("", String::as_str);
    vec![
        ("X-SuperWaba-Signature", signature(secret, a.body)),
        ("X-Webhook-Event", a.event_name.to_owned()),
        ("X-Webhook-Delivery-Id", a.dedupe_key.to_owned()),
    ]
}

/// envelope's events out: its bodies and its delivery headers.
pub const OUTBOUND: rosetta_http::events::Outbound = rosetta_http::events::Outbound { render, headers };

/// Every event name envelope announces (what its configuration may name).
pub const EVENT_NAMES: [&str; 7] = [
    "message.received",
    "message.sent",
    "conversation.created",
    "conversation.closed",
    "conversation.assigned",
    "contact.created",
    "contact.updated",
];

/// A live stream of the organization's events (Server-Sent Events), in envelope's webhook bodies:
/// `id:` the event's position, `event:` its envelope name, `data:` its body. Resumes after
/// `Last-Event-ID` with no gap; without it, starts with what happens next.
#[utoipa::path(
    get,
    path = "/api/whatsapp/events/stream",
    tag = "Events",
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event (its id in the stream)"),
        ("last_event_id" = Option<i64>, Query, minimum = 0, description = "The same, for clients that cannot set headers"),
    ),
    security(("bearer" = [], "org" = [])),
    responses(
        (status = 200, description = "The stream (text/event-stream)", content_type = "text/event-stream", body = String),
        (status = 400, description = "Last-Event-ID is not an id of this stream", body = crate::error::ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = crate::error::ErrorBody),
        (status = 403, description = "The credentials are not the organization's", body = crate::error::ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = crate::error::ErrorBody),
        (status = 503, description = "Database unavailable", body = crate::error::ErrorBody),
    )
)]
pub async fn stream(
    req: actix_web::HttpRequest,
    envelope: actix_web::web::Data<crate::Envelope>,
) -> Result<actix_web::HttpResponse, crate::error::EnvelopeError> {
    let checks = envelope.checks(&req, rosetta_http::auth::Cost::BoundedRead)?;
    rosetta_http::events::route(&req, &envelope.state, checks, render).await
}
