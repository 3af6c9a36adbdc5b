//! envelope's wire types, from core's entities, in the seed's camelCase shapes.

use rosetta_core::*;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

pub fn env_id(kind: EntityKind, id: Id) -> String {
    id.render(kind, Spelling::Envelope)
}

/// An envelope id in a response, written straight into it.
fn eid(kind: EntityKind, id: Id) -> Rendered {
    id.rendered(kind, Spelling::Envelope)
}

fn time(t: Timestamp) -> Rfc3339 {
    t.rfc3339()
}

#[derive(Serialize, ToSchema, Debug)]
pub struct ContactSummary {
    #[schema(value_type = String, example = "contact_f1e2d3c4-5678-90ab-cdef-abcdefabcdef")]
    pub id: Rendered,
    pub name: Option<String>,
    #[schema(example = "+971501234567")]
    pub phone: String,
    pub avatar: Option<String>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct ContactDetail {
    #[schema(value_type = String, example = "contact_f1e2d3c4-5678-90ab-cdef-abcdefabcdef")]
    pub id: Rendered,
    pub name: Option<String>,
    #[schema(example = "+971501234567")]
    pub phone: String,
    pub email: Option<String>,
    /// Tag names.
    pub labels: Vec<String>,
    pub avatar: Option<String>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct LastMessage {
    pub text: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: Rfc3339,
    /// inbound or outbound.
    #[schema(example = "inbound")]
    pub direction: &'static str,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct Assignee {
    #[schema(value_type = String, example = "user_12345678-abcd-4f00-8000-123456789abc")]
    pub id: Rendered,
    pub name: String,
    pub email: String,
}

/// A conversation as the list shows it.
#[derive(Serialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ConversationItem {
    #[schema(value_type = String, example = "conv_a1b2c3d4-5678-90ab-cdef-1234567890ab")]
    pub id: Rendered,
    #[schema(value_type = String)]
    pub contact_id: Rendered,
    pub contact: ContactSummary,
    /// open, closed, ai_handling or escalated.
    #[schema(example = "open")]
    pub status: &'static str,
    #[schema(value_type = Option<String>)]
    pub assignee_id: Option<Rendered>,
    #[schema(example = "whatsapp")]
    pub channel: &'static str,
    /// `null` before the first message.
    pub last_message: Option<LastMessage>,
    pub unread_count: i64,
    pub ai_handling: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Rfc3339,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Rfc3339,
}

#[derive(Serialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[schema(example = "organic")]
    pub source: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_message_at: Option<Rfc3339>,
}

/// A conversation with full contact details.
#[derive(Serialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ConversationFull {
    #[schema(value_type = String)]
    pub id: Rendered,
    #[schema(value_type = String)]
    pub contact_id: Rendered,
    pub contact: ContactDetail,
    #[schema(example = "open")]
    pub status: &'static str,
    #[schema(value_type = Option<String>)]
    pub assignee_id: Option<Rendered>,
    pub assignee: Option<Assignee>,
    #[schema(example = "whatsapp")]
    pub channel: &'static str,
    pub last_message: Option<LastMessage>,
    pub unread_count: i64,
    pub ai_handling: bool,
    pub metadata: Metadata,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Rfc3339,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Rfc3339,
}

fn last_message(c: &Conversation) -> Option<LastMessage> {
    Some(LastMessage {
        text: c.last_message_text.clone(),
        timestamp: time(c.last_message_at?),
        direction: c.last_message_direction.map_or("inbound", Direction::as_str),
    })
}

fn assignee(u: User) -> Assignee {
    Assignee {
        id: eid(EntityKind::User, u.id),
        name: u.name,
        email: u.email,
    }
}

impl From<rosetta_core::ConversationDetail> for ConversationItem {
    fn from(d: rosetta_core::ConversationDetail) -> Self {
        let c = d.conversation;
        let contact = d.contact.contact;
        ConversationItem {
            id: eid(EntityKind::Conversation, c.id),
            contact_id: eid(EntityKind::Contact, contact.id),
            contact: ContactSummary {
                id: eid(EntityKind::Contact, contact.id),
                name: contact.name,
                phone: contact.phone,
                avatar: contact.avatar_url,
            },
            status: c.status.project(Dialect::Envelope),
            assignee_id: c.assignee_id.map(|u| eid(EntityKind::User, u)),
            channel: "whatsapp",
            last_message: last_message(&c),
            unread_count: c.unread_count,
            ai_handling: c.ai_handling(),
            created_at: time(c.created_at),
            updated_at: time(c.updated_at),
        }
    }
}

impl From<rosetta_core::ConversationDetail> for ConversationFull {
    fn from(d: rosetta_core::ConversationDetail) -> Self {
        let c = d.conversation;
        let contact = d.contact.contact;
        ConversationFull {
            id: eid(EntityKind::Conversation, c.id),
            contact_id: eid(EntityKind::Contact, contact.id),
            contact: ContactDetail {
                id: eid(EntityKind::Contact, contact.id),
                name: contact.name,
                phone: contact.phone,
                email: contact.email,
                labels: d.contact.tags.into_iter().map(|t| t.name).collect(),
                avatar: contact.avatar_url,
            },
            status: c.status.project(Dialect::Envelope),
            assignee_id: c.assignee_id.map(|u| eid(EntityKind::User, u)),
            assignee: d.assignee.map(assignee),
            channel: "whatsapp",
            last_message: last_message(&c),
            unread_count: c.unread_count,
            ai_handling: c.ai_handling(),
            metadata: Metadata {
                source: c.source.clone(),
                first_message_at: c.first_message_at.map(time),
            },
            created_at: time(c.created_at),
            updated_at: time(c.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ConversationPage {
    pub conversations: Vec<ConversationItem>,
    /// Every conversation the filters select.
    pub total: u64,
    pub page: u32,
    pub limit: u32,
    pub has_next: bool,
}

#[derive(Serialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Closed {
    #[schema(value_type = String)]
    pub id: Rendered,
    #[schema(example = "closed")]
    pub status: &'static str,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<Rfc3339>,
    /// The user who closed it, when the caller is one (a session token); `null` for an API key.
    #[schema(value_type = Option<String>)]
    pub closed_by: Option<Rendered>,
}

impl From<Conversation> for Closed {
    fn from(c: Conversation) -> Self {
        Closed {
            id: eid(EntityKind::Conversation, c.id),
            status: c.status.project(Dialect::Envelope),
            closed_at: c.closed_at.map(time),
            closed_by: c.closed_by.map(|u| eid(EntityKind::User, u)),
        }
    }
}

#[derive(Serialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Assigned {
    #[schema(value_type = String)]
    pub id: Rendered,
    #[schema(value_type = Option<String>)]
    pub assignee_id: Option<Rendered>,
    pub assignee: Option<Assignee>,
    #[schema(example = "open")]
    pub status: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Rfc3339,
}

impl From<rosetta_core::ConversationDetail> for Assigned {
    fn from(d: rosetta_core::ConversationDetail) -> Self {
        let c = d.conversation;
        Assigned {
            id: eid(EntityKind::Conversation, c.id),
            assignee_id: c.assignee_id.map(|u| eid(EntityKind::User, u)),
            assignee: d.assignee.map(assignee),
            status: c.status.project(Dialect::Envelope),
            updated_at: time(c.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct MessageItem {
    #[schema(value_type = String, example = "msg_0192f0c4-1b2c-7d3e-8f40-123456789abc")]
    pub id: Rendered,
    /// Meta's `wamid.…`.
    pub wa_message_id: Option<String>,
    #[schema(value_type = String)]
    pub conversation_id: Rendered,
    #[schema(example = "inbound")]
    pub direction: &'static str,
    /// text, image, video, audio, document, sticker, location, interactive, button, reaction,
    /// template or unsupported.
    #[serde(rename = "type")]
    #[schema(example = "text")]
    pub kind: &'static str,
    /// By type (a media `url` is a signed link to Rosetta's copy of a received file, good for an
    /// hour, null until it is fetched; or the link a file was sent by): text `{text}`; image, video, sticker `{url, mimeType, caption}`; document `{url,
    /// mimeType, filename}`; audio `{url, mimeType}`; location `{latitude, longitude, name,
    /// address}`; interactive `{id, title}`; button `{text, payload}`; reaction `{emoji,
    /// messageId}`; template `{name, text}`; unsupported `{type}`.
    #[schema(value_type = Object)]
    pub content: Value,
    /// received, sending, sent, delivered, read or failed.
    #[schema(example = "delivered")]
    pub status: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: Rfc3339,
    /// The agent who sent an outbound message, when known.
    #[schema(value_type = Option<String>)]
    pub sender_id: Option<Rendered>,
    /// Why the message failed (only on a failed outbound message): Meta's error code (null when
    /// none came back) and its message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<MessageError>,
}

fn content(kind: ContentType, b: &MessageBody, url: Option<String>) -> Value {
    match kind {
        ContentType::Text => json!({"text": b.text}),
        ContentType::Image | ContentType::Video | ContentType::Sticker => {
            json!({"url": url, "mimeType": b.mime_type, "caption": b.text})
        }
        ContentType::Document => json!({"url": url, "mimeType": b.mime_type, "filename": b.filename}),
        ContentType::Audio => json!({"url": url, "mimeType": b.mime_type}),
        ContentType::Location => json!({
            "latitude": b.latitude, "longitude": b.longitude,
            "name": b.location_name, "address": b.location_address
        }),
        ContentType::Interactive => json!({"id": b.interactive_reply_id, "title": b.interactive_reply_title}),
        ContentType::Button => json!({"text": b.text, "payload": b.button_payload}),
        ContentType::Reaction => json!({"emoji": b.reaction_emoji, "messageId": b.reaction_to_wamid}),
        ContentType::Template => json!({"name": b.template_name, "text": b.text}),
        ContentType::Unsupported => json!({"type": b.raw_type}),
    }
}

impl MessageItem {
    /// The message as the envelope shows it; `content.url` by the one rule (`rosetta_http::media`).
    pub fn new(m: Message, urls: &rosetta_http::media::MediaUrls) -> Self {
        let url = urls.url(&m);
        MessageItem {
            id: eid(EntityKind::Message, m.id),
            wa_message_id: m.wamid,
            conversation_id: eid(EntityKind::Conversation, m.conversation_id),
            direction: m.direction.as_str(),
            kind: m.content_type.as_str(),
            content: {
                let mut content = content(m.content_type, &m.body, url);
                // A received file says what became of it: pending, stored, failed or pruned.
                if let (Some(state), Some(object)) = (m.media, content.as_object_mut()) {
                    object.insert("status".into(), Value::from(state.as_str()));
                }
                content
            },
            status: m.status.as_str(),
            timestamp: time(m.created_at),
            sender_id: m.sender_user_id.map(|u| eid(EntityKind::User, u)),
            error: (m.status == MessageStatus::Failed).then(|| MessageError {
                code: m.error_code,
                message: m
                    .error_title
                    .clone()
                    .unwrap_or_else(|| "The message could not be sent".into()),
            }),
        }
    }
}

#[derive(Serialize, ToSchema, Debug)]
pub struct MessageError {
    #[schema(example = 131026)]
    pub code: Option<i64>,
    pub message: String,
}

#[derive(Serialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    pub data: Vec<MessageItem>,
    /// Every message of the conversation.
    pub total: u64,
    pub page: u32,
    pub has_next: bool,
}

macro_rules! success {
    ($name:ident, $inner:ty) => {
        #[derive(Serialize, ToSchema, Debug)]
        pub struct $name {
            /// Always true.
            #[schema(example = true)]
            pub success: bool,
            pub data: $inner,
        }
        impl From<$inner> for $name {
            fn from(data: $inner) -> Self {
                $name { success: true, data }
            }
        }
    };
}

success!(ConversationPageResponse, ConversationPage);
success!(ConversationResponse, ConversationFull);
success!(ClosedResponse, Closed);
success!(AssignedResponse, Assigned);
success!(MessagePageResponse, MessagePage);
success!(MessageResponse, MessageItem);
