//! wacrm's wire types and their conversion from core's entities. Field names, types and null
//! rules follow the seed (`seeds/wacrm-conversations.md`).

use rosetta_core::*;
use serde::Serialize;
use utoipa::ToSchema;

/// An id as wacrm writes it (a UUID), written straight into the response.
fn uuid(id: Id) -> Rendered {
    id.rendered(EntityKind::Conversation, Spelling::Uuid)
}

#[derive(Serialize, ToSchema, Debug)]
pub struct TagDto {
    #[schema(value_type = String, format = Uuid)]
    pub id: Rendered,
    #[schema(example = "vip")]
    pub name: String,
    #[schema(example = "#3b82f6")]
    pub color: String,
}

/// A contact as embedded in a conversation.
#[derive(Serialize, ToSchema, Debug)]
pub struct ConversationContactDto {
    #[schema(value_type = String, format = Uuid)]
    pub id: Rendered,
    #[schema(example = "+14155550123")]
    pub phone: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub tags: Vec<TagDto>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct ConversationDto {
    #[schema(value_type = String, format = Uuid)]
    pub id: Rendered,
    #[schema(value_type = String, format = Uuid)]
    pub contact_id: Rendered,
    /// open, pending or closed.
    #[schema(example = "open")]
    pub status: &'static str,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub assigned_agent_id: Option<Rendered>,
    pub last_message_text: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_message_at: Option<Rfc3339>,
    pub unread_count: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Rfc3339,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Rfc3339,
    pub contact: ConversationContactDto,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct MessageDto {
    #[schema(value_type = String, format = Uuid)]
    pub id: Rendered,
    #[schema(value_type = String, format = Uuid)]
    pub conversation_id: Rendered,
    /// inbound or outbound.
    pub direction: &'static str,
    /// customer, agent, bot or system.
    pub sender_type: &'static str,
    /// text, image, video, document, audio, location, template, interactive or unsupported.
    pub content_type: &'static str,
    pub content_text: Option<String>,
    /// A received file: a signed link to Rosetta's copy, good for an hour (null until the file is
    /// fetched, or if it could not be). A file sent by link: that link.
    pub media_url: Option<String>,
    /// For a received file only: pending (being fetched), stored, failed or pruned (removed by
    /// retention).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_status: Option<&'static str>,
    pub template_name: Option<String>,
    pub whatsapp_message_id: Option<String>,
    /// received (inbound), or sending, sent, delivered, read, failed (outbound).
    pub status: &'static str,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub reply_to_message_id: Option<Rendered>,
    pub interactive_reply_id: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Rfc3339,
    /// Why the message failed (only on a failed outbound message): Meta's error code (null when
    /// none came back, e.g. an outcome that stayed unknown) and its message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<MessageErrorDto>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct MessageErrorDto {
    #[schema(example = 131026)]
    pub code: Option<i64>,
    pub message: String,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct ContactDto {
    #[schema(value_type = String, format = Uuid)]
    pub id: Rendered,
    pub phone: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub avatar_url: Option<String>,
    pub tags: Vec<TagDto>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Rfc3339,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Rfc3339,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct Meta {
    /// Opaque; pass it as `cursor` for the next page. Null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct ConversationList {
    pub data: Vec<ConversationDto>,
    pub meta: Meta,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct ConversationData {
    pub data: ConversationDto,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct MessageList {
    pub data: Vec<MessageDto>,
    pub meta: Meta,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct ContactList {
    pub data: Vec<ContactDto>,
    pub meta: Meta,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct ContactData {
    pub data: ContactDto,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct MeAccount {
    #[schema(value_type = String, format = Uuid)]
    pub id: Rendered,
    pub name: String,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct MeKey {
    #[schema(value_type = String, format = Uuid)]
    pub id: Rendered,
    pub scopes: Vec<String>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct Me {
    pub account: MeAccount,
    pub key: MeKey,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct MeData {
    pub data: Me,
}

impl From<&Tag> for TagDto {
    fn from(t: &Tag) -> Self {
        TagDto {
            id: uuid(t.id),
            name: t.name.clone(),
            color: t.color.clone(),
        }
    }
}

impl From<ConversationDetail> for ConversationDto {
    fn from(d: ConversationDetail) -> Self {
        let c = d.conversation;
        let contact = d.contact.contact;
        ConversationDto {
            id: uuid(c.id),
            contact_id: uuid(c.contact_id),
            status: c.status.project(Dialect::Wacrm),
            assigned_agent_id: c.assignee_id.map(uuid),
            last_message_text: c.last_message_text,
            last_message_at: c.last_message_at.map(|t| t.rfc3339()),
            unread_count: c.unread_count,
            created_at: c.created_at.rfc3339(),
            updated_at: c.updated_at.rfc3339(),
            contact: ConversationContactDto {
                id: uuid(contact.id),
                phone: contact.phone,
                name: contact.name,
                email: contact.email,
                company: contact.company,
                tags: d.contact.tags.iter().map(TagDto::from).collect(),
            },
        }
    }
}

/// wacrm's content types: text, image, video, document, audio, location, template, interactive,
/// unsupported. A sticker is an image; a template quick-reply button is an interactive reply;
/// a reaction has no wacrm type and is `unsupported`.
pub fn content_type(t: ContentType) -> &'static str {
    match t {
        ContentType::Text => "text",
        ContentType::Image | ContentType::Sticker => "image",
        ContentType::Video => "video",
        ContentType::Document => "document",
        ContentType::Audio => "audio",
        ContentType::Location => "location",
        ContentType::Template => "template",
        ContentType::Interactive | ContentType::Button => "interactive",
        ContentType::Reaction | ContentType::Unsupported => "unsupported",
    }
}

impl MessageDto {
    /// The message as wacrm shows it; `media_url` by the one rule (`rosetta_http::media`).
    pub fn new(m: Message, urls: &rosetta_http::media::MediaUrls) -> Self {
        let media_url = urls.url(&m);
        let interactive_reply_id = match m.content_type {
            ContentType::Interactive => m.body.interactive_reply_id.clone(),
            ContentType::Button => m.body.button_payload.clone(),
            _ => None,
        };
        MessageDto {
            id: uuid(m.id),
            conversation_id: uuid(m.conversation_id),
            direction: m.direction.as_str(),
            sender_type: m.sender_type.as_str(),
            content_type: content_type(m.content_type),
            content_text: m.body.text,
            media_url,
            media_status: m.media.map(MediaState::as_str),
            template_name: m.body.template_name,
            whatsapp_message_id: m.wamid,
            status: m.status.as_str(),
            reply_to_message_id: m.body.reply_to_message_id.map(uuid),
            interactive_reply_id,
            created_at: m.created_at.rfc3339(),
            error: (m.status == MessageStatus::Failed).then(|| MessageErrorDto {
                code: m.error_code,
                message: m.error_title.unwrap_or_else(|| "The message could not be sent".into()),
            }),
        }
    }
}

impl From<ContactWithTags> for ContactDto {
    fn from(c: ContactWithTags) -> Self {
        let tags = c.tags.iter().map(TagDto::from).collect();
        let c = c.contact;
        ContactDto {
            id: uuid(c.id),
            phone: c.phone,
            name: c.name,
            email: c.email,
            company: c.company,
            avatar_url: c.avatar_url,
            tags,
            created_at: c.created_at.rfc3339(),
            updated_at: c.updated_at.rfc3339(),
        }
    }
}
