//! Events in kirim's words. `message.received` and `message.status` carry Meta's webhook payload
//! (source `meta`), rebuilt from what Rosetta stored (the number's metadata, the customer's contact,
//! the message or status; a media message carries its type and caption, not Meta's media object);
//! their dedupe key is the wamid (with the status for statuses, so sent, delivered and read are
//! three deliveries). kirim's own events (source `kirim`) are `{id: "evt_…", type, created_at,
//! livemode, data}`: `message.created`, `conversation.assigned`, `conversation.closed`,
//! `contact.created`, `contact.updated`; the `evt_` id is the dedupe key. Signed by `signature`:
//! `X-Kirim-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, one v1 per live secret.

use rosetta_core::events::{Event, EventKind, Rendered, Subjects};
use rosetta_core::{EntityKind, Id, MessageStatus};
use serde_json::{json, Value};

use crate::dto::kirim_id;

fn kid(kind: EntityKind, id: Option<Id>) -> Value {
    id.map_or(Value::Null, |id| json!(kirim_id(kind, id)))
}

/// kirim's word for a message status.
fn status_word(status: &Value) -> Value {
    match status.as_str() {
        Some(s) if s == MessageStatus::Sending.as_str() => json!("pending"),
        _ => status.clone(),
    }
}

/// Meta's webhook envelope around one change's `value`.
fn meta(subjects: &Subjects, value: Value) -> Value {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({
        "display_phone_number": subjects.display_phone_number.as_deref().map(|p| p.trim_start_matches('+')),
        "phone_number_id": subjects.phone_number_id,
    });
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": subjects.phone_number_id, "changes": [{"field": "messages", "value": value}]}],
    })
}

fn unix(event: &Event, field: &str) -> String {
    let millis = event.data[field].as_i64().unwrap_or(event.created_at.millis());
    (millis / 1000).to_string()
}

/// The event's kirim form, if kirim announces it.
pub fn render(event: &Event, subjects: &Subjects) -> Option<Rendered> {
    let d = &event.data;
    let wa_id = subjects
        .contact_phone
        .as_deref()
        .map(|p| p.trim_start_matches('+').to_owned());
    match event.kind {
        EventKind::MessageReceived => {
            let kind = d["content_type"].as_str().unwrap_or("unsupported");
            let mut message =
                json!({"from": wa_id, "id": d["wamid"], "timestamp": unix(event, "created_at"), "type": kind});
            message[kind] = match kind {
                "text" => json!({"body": d["text"]}),
                _ => match d["text"].as_str() {
                    Some(caption) => json!({"caption": caption}),
                    None => json!({}),
                },
            };
            let wamid = d["wamid"].as_str().unwrap_or_default().to_owned();
            return Some(Rendered {
                name: "message.received",
                body: meta(
                    subjects,
                    json!({"contacts": [{"profile": {"name": subjects.contact_name}, "wa_id": wa_id}],
                           "messages": [message]}),
                ),
                dedupe_key: wamid,
                source: "meta",
            });
        }
        EventKind::MessageStatus => {
            let mut status = json!({
                "id": d["wamid"],
                "status": d["status"],
                "timestamp": (event.created_at.millis() / 1000).to_string(),
                "recipient_id": wa_id,
            });
            if let Some(error) = d.get("error") {
                status["errors"] = json!([{"code": error["code"], "title": error["message"]}]);
            }
            return Some(Rendered {
                name: "message.status",
                body: meta(subjects, json!({"statuses": [status]})),
                dedupe_key: format!(
                    "{}.{}",
                    d["wamid"].as_str().unwrap_or_default(),
                    d["status"].as_str().unwrap_or_default()
                ),
                source: "meta",
            });
        }
        _ => {}
    }
    let conversation = kid(EntityKind::Conversation, event.conversation_id);
    let contact = || {
        json!({"id": kid(EntityKind::Contact, event.contact_id), "object": "contact",
               "phone_number": d["phone"], "name": d["name"], "email": d["email"]})
    };
    let (name, data) = match event.kind {
        EventKind::MessageCreated => (
            "message.created",
            json!({"message": {
                "id": kid(EntityKind::Message, event.message_id), "object": "message",
                "conversation_id": conversation, "direction": d["direction"], "type": d["content_type"],
                "status": status_word(&d["status"]), "wamid": d["wamid"], "text": d["text"],
            }}),
        ),
        EventKind::ConversationAssigned => (
            "conversation.assigned",
            json!({
                "conversation": {"id": conversation, "object": "conversation",
                                 "status": conversation_status(&d["status"])},
                "assignee": {"user_id": user(&d["assignee_id"]), "team_id": null,
                             "previous_user_id": user(&d["previous_assignee_id"])},
            }),
        ),
        EventKind::ConversationClosed => (
            "conversation.closed",
            json!({"conversation": {"id": conversation, "object": "conversation",
                                    "status": conversation_status(&d["status"]),
                                    "closed_by_user_id": user(&d["closed_by"])}}),
        ),
        EventKind::ContactCreated => ("contact.created", json!({"contact": contact()})),
        EventKind::ContactUpdated => ("contact.updated", json!({"contact": contact()})),
        _ => return None,
    };
    let id = kirim_id(EntityKind::Event, event.id);
    Some(Rendered {
        name,
        body: json!({"id": id, "type": name, "created_at": event.created_at.to_rfc3339(),
                     "livemode": true, "data": data}),
        dedupe_key: id,
        source: "kirim",
    })
}

/// A user id (canonical ULID in the event) as kirim writes it.
fn user(raw: &Value) -> Value {
    raw.as_str()
        .and_then(|u| u.parse::<Id>().ok())
        .map_or(Value::Null, |u| json!(kirim_id(EntityKind::User, u)))
}

/// A conversation status (canonical in the event) in kirim's words.
fn conversation_status(raw: &Value) -> Value {
    raw.as_str()
        .and_then(|s| s.parse::<rosetta_core::ConversationStatus>().ok())
        .map_or(Value::Null, |s| json!(s.project(rosetta_core::Dialect::Kirim)))
}

/// The `X-Kirim-Signature` value for `body` sent at `t`, signed with every live secret.
pub fn signature(secrets: &[&str], t: i64, body: &[u8]) -> String {
    rosetta_http::signing::stamped(secrets, t, body)
}

/// A delivery's headers: `X-Kirim-Source` (meta or kirim), `X-Kirim-Event`, `X-Kirim-Event-Id` (the
/// dedupe key: the wamid for Meta's events, the `evt_` id otherwise), `X-Kirim-Delivery-Id` (`wbd_`),
/// `X-Kirim-Attempt`, and `X-Kirim-Signature` with one `v1` per live secret.
fn headers(a: &rosetta_http::events::Attempt<'_>) -> Vec<(&'static str, String)> {
    let secrets: Vec<&str> = a.secrets.iter().map(String::as_str).collect();
    vec![
        ("X-Kirim-Source", a.source.to_owned()),
        ("X-Kirim-Event", a.event_name.to_owned()),
        ("X-Kirim-Event-Id", a.dedupe_key.to_owned()),
        (
            "X-Kirim-Delivery-Id",
            kirim_id(EntityKind::WebhookDelivery, a.delivery_id),
        ),
        ("X-Kirim-Attempt", a.number.to_string()),
        ("X-Kirim-Signature", signature(&secrets, a.timestamp, a.body)),
    ]
}

/// kirim's events out: its bodies and its delivery headers.
pub const OUTBOUND: rosetta_http::events::Outbound = rosetta_http::events::Outbound { render, headers };

/// Every event name kirim announces (what a subscription may name).
pub const EVENT_NAMES: [&str; 7] = [
    "message.received",
    "message.status",
    "message.created",
    "conversation.assigned",
    "conversation.closed",
    "contact.created",
    "contact.updated",
];

/// A live stream of the organization's events (Server-Sent Events), in kirim's webhook bodies: `id:`
/// the event's position, `event:` its kirim type, `data:` its body (Meta's payload for
/// `message.received` and `message.status`). Resumes after `Last-Event-ID` with no gap; without it,
/// starts with what happens next.
#[utoipa::path(
    get,
    path = "/v1/events/stream",
    tag = "Events",
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event (its id in the stream)"),
        ("last_event_id" = Option<i64>, Query, minimum = 0, description = "The same, for clients that cannot set headers"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The stream (text/event-stream)", content_type = "text/event-stream", body = String),
        (status = 400, description = "Last-Event-ID is not an id of this stream", body = crate::error::ErrorBody),
        (status = 401, description = "Authentication failure", body = crate::error::ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = crate::error::ErrorBody),
        (status = 503, description = "Database unavailable", body = crate::error::ErrorBody),
    )
)]
pub async fn stream(
    req: actix_web::HttpRequest,
    kirim: actix_web::web::Data<crate::Kirim>,
) -> Result<actix_web::HttpResponse, crate::error::KirimError> {
    let checks = kirim.checks(&req, crate::Access::Read, rosetta_http::auth::Cost::BoundedRead)?;
    rosetta_http::events::route(&req, &kirim.state, checks, render).await
}
