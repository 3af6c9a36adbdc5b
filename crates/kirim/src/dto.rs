//! kirim's wire types, from core's entities. Field names, types and null rules follow the seed
//! (`seeds/kirim-conversations.md`) and the product docs (dialects.md).

use rosetta_core::*;
use serde::Serialize;
use utoipa::ToSchema;

pub fn kirim_id(kind: EntityKind, id: Id) -> String {
    id.render(kind, Spelling::Kirim)
}

/// A kirim id in a response, written straight into it.
fn kid(kind: EntityKind, id: Id) -> Rendered {
    id.rendered(kind, Spelling::Kirim)
}

fn time(t: Timestamp) -> Rfc3339 {
    t.rfc3339()
}

#[derive(Serialize, ToSchema, Debug)]
pub struct ConversationContact {
    #[schema(value_type = String, example = "ctc_01HXYZABCDEFGHJKMNPQRSTVWX", pattern = "^ctc_[0-9A-HJKMNP-TV-Z]{26}$")]
    pub id: Rendered,
    #[schema(example = "+14155550123")]
    pub phone_number: Option<String>,
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct WhatsAppAccountRef {
    #[schema(example = "+15550783881")]
    pub phone_number: Option<String>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct Assignee {
    #[schema(value_type = String, example = "usr_01HXYZABCDEFGHJKMNPQRSTVWX", pattern = "^usr_[0-9A-HJKMNP-TV-Z]{26}$")]
    pub id: Rendered,
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct ConversationDto {
    #[schema(value_type = String, example = "cnv_01HXYZABCDEFGHJKMNPQRSTVWX", pattern = "^cnv_[0-9A-HJKMNP-TV-Z]{26}$")]
    pub id: Rendered,
    #[schema(inline, value_type = ConversationObjectKind)]
    pub object: &'static str,
    #[schema(inline, value_type = KirimStatus)]
    pub status: &'static str,
    pub contact: ConversationContact,
    pub whatsapp_account: WhatsAppAccountRef,
    /// `null` when unassigned.
    pub assignee: Option<Assignee>,
    pub unread_count: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_message_at: Option<Rfc3339>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_inbound_at: Option<Rfc3339>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Rfc3339,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Rfc3339,
}

#[derive(ToSchema, Debug)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum ConversationObjectKind {
    Conversation,
}

#[derive(ToSchema, Debug)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum KirimStatus {
    Open,
    Resolved,
    Pending,
}

impl From<ConversationDetail> for ConversationDto {
    fn from(d: ConversationDetail) -> Self {
        let c = d.conversation;
        ConversationDto {
            id: kid(EntityKind::Conversation, c.id),
            object: "conversation",
            status: c.status.project(Dialect::Kirim),
            contact: ConversationContact {
                id: kid(EntityKind::Contact, d.contact.contact.id),
                phone_number: Some(d.contact.contact.phone),
                name: d.contact.contact.name,
            },
            whatsapp_account: WhatsAppAccountRef {
                phone_number: Some(d.account.phone_number),
            },
            assignee: d.assignee.map(|u| Assignee {
                id: kid(EntityKind::User, u.id),
                name: Some(u.name),
                email: Some(u.email),
            }),
            unread_count: c.unread_count,
            last_message_at: c.last_message_at.map(time),
            last_inbound_at: c.last_inbound_at.map(time),
            created_at: time(c.created_at),
            updated_at: time(c.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema, Debug)]
pub struct ContactDto {
    #[schema(value_type = String, example = "ctc_01HXYZABCDEFGHJKMNPQRSTVWX", pattern = "^ctc_[0-9A-HJKMNP-TV-Z]{26}$")]
    pub id: Rendered,
    #[schema(inline, value_type = ContactObjectKind)]
    pub object: &'static str,
    #[schema(example = "+14155550123")]
    pub phone_number: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// The caller's own fields; `{}` when none were set.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// The account named in the request path.
    pub whatsapp_account: WhatsAppAccountRef,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Rfc3339,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Rfc3339,
}

#[derive(ToSchema, Debug)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum ContactObjectKind {
    Contact,
}

impl ContactDto {
    pub fn new(contact: Contact, account: &WhatsAppAccount) -> Self {
        ContactDto {
            id: kid(EntityKind::Contact, contact.id),
            object: "contact",
            phone_number: contact.phone,
            name: contact.name,
            email: contact.email,
            metadata: contact.metadata.unwrap_or_else(|| serde_json::json!({})),
            whatsapp_account: WhatsAppAccountRef {
                phone_number: Some(account.phone_number.clone()),
            },
            created_at: time(contact.created_at),
            updated_at: time(contact.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema, Debug)]
pub struct AccountDto {
    #[schema(inline, value_type = AccountObjectKind)]
    pub object: &'static str,
    #[schema(example = "106540352242922", pattern = r"^\d{6,20}$")]
    pub phone_number_id: String,
    #[schema(example = "+15550783881")]
    pub phone_number: String,
    pub name: Option<String>,
    /// `connected` or `disconnected`.
    #[schema(inline, value_type = AccountStatus)]
    pub status: &'static str,
}

#[derive(ToSchema, Debug)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum AccountObjectKind {
    Account,
}

#[derive(ToSchema, Debug)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum AccountStatus {
    Connected,
    Disconnected,
}

impl From<WhatsAppAccount> for AccountDto {
    fn from(a: WhatsAppAccount) -> Self {
        AccountDto {
            object: "account",
            phone_number_id: a.phone_number_id,
            phone_number: a.phone_number,
            name: a.name,
            status: if a.connected { "connected" } else { "disconnected" },
        }
    }
}

macro_rules! list {
    ($name:ident, $item:ty) => {
        #[derive(Serialize, ToSchema, Debug)]
        pub struct $name {
            pub data: Vec<$item>,
            pub has_more: bool,
            /// `null` when `has_more` is false.
            pub next_cursor: Option<String>,
            #[schema(example = "req_01HXYZABCDEFGHJKMNPQRSTVWX")]
            pub request_id: String,
        }
    };
}

macro_rules! single {
    ($name:ident, $item:ty) => {
        #[derive(Serialize, ToSchema, Debug)]
        pub struct $name {
            pub data: $item,
            #[schema(example = "req_01HXYZABCDEFGHJKMNPQRSTVWX")]
            pub request_id: String,
        }
    };
}

list!(ConversationList, ConversationDto);
list!(MessageList, MessageDto);
single!(MessageData, MessageDto);
single!(ReadReceiptData, ReadReceipt);
list!(ContactList, ContactDto);
list!(AccountList, AccountDto);
single!(ConversationData, ConversationDto);
single!(ContactData, ContactDto);
single!(MeData, Me);

#[derive(Serialize, ToSchema, Debug)]
pub struct Me {
    pub organization: OrganizationDto,
    pub api_key: ApiKeyDto,
    pub rate_limits: RateLimits,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct OrganizationDto {
    #[schema(example = "org_01HXYZABCDEFGHJKMNPQRSTVWX")]
    pub id: String,
    pub name: String,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct ApiKeyDto {
    #[schema(example = "key_01HXYZABCDEFGHJKMNPQRSTVWX")]
    pub id: String,
    pub label: Option<String>,
    /// The key's last four characters.
    #[schema(example = "x9Qa")]
    pub last4: String,
}

/// Requests a minute per organization; `null` when limits are off.
#[derive(Serialize, ToSchema, Debug)]
pub struct RateLimits {
    #[schema(example = 600)]
    pub read_per_minute: Option<u32>,
    #[schema(example = 60)]
    pub write_per_minute: Option<u32>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
    pub request_id: String,
}

/// `PATCH /v1/{phone_number_id}/conversations/{id}`: `status`, `assigned_to` or both. Its schema is
/// written by hand to say exactly what the validation enforces: `status` is one of the dialect's
/// words (never null), `assigned_to` a user id or null, and at least one of the two is present
/// (other fields are ignored).
#[derive(Debug)]
#[allow(dead_code)]
pub struct UpdateConversation {
    pub status: Option<String>,
    pub assigned_to: Option<String>,
}

impl utoipa::PartialSchema for UpdateConversation {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, SchemaType, Type};
        let status = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(rosetta_core::ConversationStatus::words(
                rosetta_core::Dialect::Kirim,
            )))
            .description(Some("The new status."));
        let assigned_to = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .pattern(Some(r"^usr_[0-9A-HJKMNP-TV-Z]{26}$"))
            .description(Some("A user of this organization, or `null` to unassign."));
        let fields = ObjectBuilder::new()
            .property("status", status)
            .property("assigned_to", assigned_to);
        let one_of_them = AnyOfBuilder::new()
            .item(ObjectBuilder::new().required("status"))
            .item(ObjectBuilder::new().required("assigned_to"));
        AllOfBuilder::new()
            .description(Some(
                "At least one of `status` and `assigned_to`; other fields are ignored.",
            ))
            .item(fields)
            .item(one_of_them)
            .into()
    }
}

impl ToSchema for UpdateConversation {}

/// `POST /v1/{phone_number_id}/contacts`.
#[derive(ToSchema, Debug)]
#[allow(dead_code)]
pub struct CreateContact {
    /// E.164, or a common spelling of it.
    #[schema(example = "+14155550123")]
    pub phone_number: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// Any JSON object.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// A message, in kirim's shape: `msg_` id, `type` and the type's object as Meta names them.
#[derive(Serialize, ToSchema, Debug)]
pub struct MessageDto {
    #[schema(value_type = String, example = "msg_01HXYZABCDEFGHJKMNPQRSTVWX", pattern = "^msg_[0-9A-HJKMNP-TV-Z]{26}$")]
    pub id: Rendered,
    #[schema(inline, value_type = MessageObjectKind)]
    pub object: &'static str,
    #[schema(value_type = String, example = "cnv_01HXYZABCDEFGHJKMNPQRSTVWX", pattern = "^cnv_[0-9A-HJKMNP-TV-Z]{26}$")]
    pub conversation_id: Rendered,
    /// inbound or outbound.
    pub direction: &'static str,
    /// text, image, video, audio, document, sticker, location, interactive, button, reaction,
    /// template or unsupported.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// received (inbound); pending (queued, not yet accepted by Meta), sent, delivered, read or
    /// failed (outbound).
    pub status: &'static str,
    /// Meta's wamid; null until Meta accepted an outbound message.
    pub wamid: Option<String>,
    /// The text, caption, or interactive body.
    pub text: Option<String>,
    pub media: Option<MessageMedia>,
    pub template: Option<MessageTemplate>,
    /// The wamid this message replies to.
    pub context_message_id: Option<String>,
    /// Why an outbound message failed; null otherwise.
    pub error: Option<MessageError>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Rfc3339,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Rfc3339,
}

#[derive(ToSchema, Debug)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum MessageObjectKind {
    Message,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct MessageMedia {
    /// Meta's media id.
    pub id: Option<String>,
    /// A received file: a signed link to Rosetta's copy, good for an hour (null until the file is
    /// fetched, or if it could not be). A file sent by link: that link.
    pub link: Option<String>,
    pub mime_type: Option<String>,
    pub filename: Option<String>,
    /// For a received file: pending (being fetched), stored, failed or pruned (removed by
    /// retention); null for a file sent by link.
    pub status: Option<&'static str>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct MessageTemplate {
    pub name: String,
}

/// kirim's failure: its own `code`, the message, and Meta's code as `provider_code`.
#[derive(Serialize, ToSchema, Debug)]
pub struct MessageError {
    #[schema(example = "outside_24h_window")]
    pub code: &'static str,
    pub message: String,
    #[schema(example = 131047)]
    pub provider_code: Option<i64>,
}

/// kirim's code for Meta's error code (the documented ones; `whatsapp_error` for the rest,
/// `outcome_unknown` when no code came back).
pub fn error_code(provider_code: Option<i64>) -> &'static str {
    match provider_code {
        Some(131047) => "outside_24h_window",
        Some(132015) => "template_paused",
        Some(132016) => "template_disabled",
        Some(132000) => "template_param_count_mismatch",
        Some(132001) => "template_param_format_mismatch",
        Some(131053) => "media_download_failed",
        Some(1006) => "recipient_not_on_whatsapp",
        Some(1013) => "recipient_blocked",
        Some(_) => "whatsapp_error",
        None => "send_failed",
    }
}

impl MessageDto {
    /// The message as kirim shows it; the media `link` by the one rule (`rosetta_http::media`).
    pub fn new(m: Message, urls: &rosetta_http::media::MediaUrls) -> Self {
        let link = urls.url(&m);
        let media = matches!(
            m.content_type,
            ContentType::Image | ContentType::Video | ContentType::Audio | ContentType::Document | ContentType::Sticker
        )
        .then(|| MessageMedia {
            id: m.body.media_id.clone(),
            link,
            mime_type: m.body.mime_type.clone(),
            filename: m.body.filename.clone(),
            status: m.media.map(MediaState::as_str),
        });
        let error = (m.status == MessageStatus::Failed).then(|| MessageError {
            code: error_code(m.error_code),
            message: m
                .error_title
                .clone()
                .unwrap_or_else(|| "The message could not be sent".into()),
            provider_code: m.error_code,
        });
        MessageDto {
            id: kid(EntityKind::Message, m.id),
            object: "message",
            conversation_id: kid(EntityKind::Conversation, m.conversation_id),
            direction: m.direction.as_str(),
            kind: m.content_type.as_str(),
            status: match m.status {
                MessageStatus::Sending => "pending",
                other => other.as_str(),
            },
            wamid: m.wamid,
            text: m.body.text,
            media,
            template: m.body.template_name.map(|name| MessageTemplate { name }),
            context_message_id: m.body.context_wamid,
            error,
            created_at: time(m.created_at),
            updated_at: time(m.updated_at),
        }
    }
}

/// The answer to a mark-as-read request.
#[derive(Serialize, ToSchema, Debug)]
pub struct ReadReceipt {
    #[schema(example = "msg_01HXYZABCDEFGHJKMNPQRSTVWX")]
    pub id: String,
    #[schema(inline, value_type = MessageObjectKind)]
    pub object: &'static str,
    /// Always read.
    #[schema(example = "read")]
    pub status: &'static str,
    /// The wamid marked read.
    pub message_id: String,
}
