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

/// Every event name wacrm announces (what a subscription may name).
pub const EVENT_NAMES: [&str; 5] = [
    "message.received",
    "message.status_updated",
    "conversation.created",
    "conversation.closed",
    "contact.created",
];
