//! Events out: what changed, as the store writes it down in the transaction that made the change (a
//! transactional outbox), whichever path made it (ingest, a dialect, the CLI, an embedding
//! program). Each dialect renders these in its own product's event names and bodies; webhooks and
//! live streams read them from the one log, in `seq` order.
//!
//! The canonical kinds, and what each product calls them:
//!
//! | kind | wacrm | kirim | envelope |
//! |---|---|---|---|
//! | `message.received` | `message.received` | `message.received` (Meta's JSON) | `message.received` |
//! | `message.created` (an outbound message queued) | — | `message.created` | — |
//! | `message.status` (sent, delivered, read, failed) | `message.status_updated` | `message.status` | `message.sent` (sent only) |
//! | `conversation.created` | `conversation.created` | — | `conversation.created` |
//! | `conversation.closed` | `conversation.closed` | `conversation.closed` | `conversation.closed` |
//! | `conversation.reopened` | — | — | — |
//! | `conversation.assigned` | — | `conversation.assigned` | `conversation.assigned` |
//! | `contact.created` | `contact.created` | `contact.created` | `contact.created` |
//! | `contact.updated` | — | `contact.updated` | `contact.updated` |

use serde_json::Value;

use crate::id::Id;
use crate::model::{ContentType, Direction, MessageStatus};
use crate::time::Timestamp;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    MessageReceived,
    MessageCreated,
    MessageStatus,
    ConversationCreated,
    ConversationClosed,
    ConversationReopened,
    ConversationAssigned,
    ContactCreated,
    ContactUpdated,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::MessageReceived,
        EventKind::MessageCreated,
        EventKind::MessageStatus,
        EventKind::ConversationCreated,
        EventKind::ConversationClosed,
        EventKind::ConversationReopened,
        EventKind::ConversationAssigned,
        EventKind::ContactCreated,
        EventKind::ContactUpdated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageReceived => "message.received",
            EventKind::MessageCreated => "message.created",
            EventKind::MessageStatus => "message.status",
            EventKind::ConversationCreated => "conversation.created",
            EventKind::ConversationClosed => "conversation.closed",
            EventKind::ConversationReopened => "conversation.reopened",
            EventKind::ConversationAssigned => "conversation.assigned",
            EventKind::ContactCreated => "contact.created",
            EventKind::ContactUpdated => "contact.updated",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An event as the store writes it: its kind, the rows it concerns, and a snapshot of what a
/// renderer needs (`data`), taken in the changing transaction so later changes do not alter it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: EventKind,
    pub account_id: Option<Id>,
    pub conversation_id: Option<Id>,
    pub message_id: Option<Id>,
    pub contact_id: Option<Id>,
    pub data: Value,
}

/// An event in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its place in the log (given after commit by the sequencer, `Store::sequence_events`): a
    /// reader that has read up to a position never misses a later one (what a stream resumes after).
    pub pos: i64,
    /// Its public id (kirim's `evt_`, wacrm's dedupe UUID).
    pub id: Id,
    pub org_id: Id,
    pub kind: EventKind,
    pub account_id: Option<Id>,
    pub conversation_id: Option<Id>,
    pub message_id: Option<Id>,
    pub contact_id: Option<Id>,
    pub data: Value,
    pub created_at: Timestamp,
}

/// The snapshot of a message for its events.
#[allow(clippy::too_many_arguments)]
pub fn message_data(
    direction: Direction,
    content_type: ContentType,
    status: MessageStatus,
    text: Option<&str>,
    wamid: Option<&str>,
    error: Option<(Option<i64>, &str)>,
) -> Value {
    let mut data = serde_json::json!({
        "direction": direction.as_str(),
        "content_type": content_type.as_str(),
        "status": status.as_str(),
        "text": text,
        "wamid": wamid,
    });
    if let Some((code, title)) = error {
        data["error"] = serde_json::json!({"code": code, "message": title});
    }
    data
}

/// What a renderer knows of an event's subjects beyond the event itself, looked up when it is
/// delivered: the WhatsApp number and the customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subjects {
    /// The account's Meta `phone_number_id` and its display number (E.164).
    pub phone_number_id: Option<String>,
    pub display_phone_number: Option<String>,
    /// The customer's phone (E.164) and name.
    pub contact_phone: Option<String>,
    pub contact_name: Option<String>,
}

/// An event in a dialect's words: its event name, its body, and the key a receiver dedupes on.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub name: &'static str,
    pub body: Value,
    pub dedupe_key: String,
    /// kirim: `meta` for Meta's own payloads, `kirim` otherwise.
    pub source: &'static str,
}
