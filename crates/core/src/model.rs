//! The entities Rosetta stores. Plain data: no dialect's JSON names here (each dialect crate owns
//! its wire types and converts).

use crate::id::Id;
use crate::status::ConversationStatus;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    pub id: Id,
    pub name: String,
    pub created_at: Timestamp,
}

/// A WhatsApp Business phone number connected to an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct WhatsAppAccount {
    pub id: Id,
    pub org_id: Id,
    /// Meta's `phone_number_id`, digits only.
    pub phone_number_id: String,
    /// The display number, E.164.
    pub phone_number: String,
    pub name: Option<String>,
    pub connected: bool,
    pub created_at: Timestamp,
}

/// An agent: someone conversations are assigned to.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: Id,
    pub org_id: Id,
    pub name: String,
    pub email: String,
    pub created_at: Timestamp,
}

/// Tags default to this colour.
pub const DEFAULT_TAG_COLOR: &str = "#3b82f6";

#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub id: Id,
    pub org_id: Id,
    pub name: String,
    pub color: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub id: Id,
    pub org_id: Id,
    /// E.164.
    pub phone: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub avatar_url: Option<String>,
    /// A JSON object of the caller's own fields (kirim's `metadata`).
    pub metadata: Option<serde_json::Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A contact with its full tag set, as every dialect embeds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactWithTags {
    pub contact: Contact,
    /// Ordered by name.
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "inbound" => Some(Direction::Inbound),
            "outbound" => Some(Direction::Outbound),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: Id,
    pub org_id: Id,
    pub account_id: Id,
    pub contact_id: Id,
    pub status: ConversationStatus,
    pub assignee_id: Option<Id>,
    pub unread_count: i64,
    pub last_message_text: Option<String>,
    pub last_message_direction: Option<Direction>,
    pub last_message_at: Option<Timestamp>,
    pub last_inbound_at: Option<Timestamp>,
    /// How the conversation started (`organic`, `campaign`, `import`, ...): envelope's `metadata.source`.
    pub source: Option<String>,
    pub first_message_at: Option<Timestamp>,
    pub resolution: Option<String>,
    pub closed_at: Option<Timestamp>,
    pub closed_by: Option<Id>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Conversation {
    /// Envelope's `aiHandling`.
    pub fn ai_handling(&self) -> bool {
        self.status == ConversationStatus::AiHandling
    }
}

/// A conversation with everything the dialects embed in it.
#[derive(Debug, Clone)]
pub struct ConversationDetail {
    pub conversation: Conversation,
    pub contact: ContactWithTags,
    pub assignee: Option<User>,
    pub account: WhatsAppAccount,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SenderType {
    Customer,
    Agent,
    Bot,
    System,
}

impl SenderType {
    pub fn as_str(self) -> &'static str {
        match self {
            SenderType::Customer => "customer",
            SenderType::Agent => "agent",
            SenderType::Bot => "bot",
            SenderType::System => "system",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            SenderType::Customer,
            SenderType::Agent,
            SenderType::Bot,
            SenderType::System,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// What a message carries. Meta's types, plus `template` for outbound templates; anything Meta
/// sends that Rosetta does not model is kept as `unsupported`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    Text,
    Image,
    Video,
    Audio,
    Document,
    Sticker,
    Location,
    Interactive,
    Button,
    Reaction,
    Template,
    Unsupported,
}

impl ContentType {
    pub const ALL: [ContentType; 12] = [
        ContentType::Text,
        ContentType::Image,
        ContentType::Video,
        ContentType::Audio,
        ContentType::Document,
        ContentType::Sticker,
        ContentType::Location,
        ContentType::Interactive,
        ContentType::Button,
        ContentType::Reaction,
        ContentType::Template,
        ContentType::Unsupported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Text => "text",
            ContentType::Image => "image",
            ContentType::Video => "video",
            ContentType::Audio => "audio",
            ContentType::Document => "document",
            ContentType::Sticker => "sticker",
            ContentType::Location => "location",
            ContentType::Interactive => "interactive",
            ContentType::Button => "button",
            ContentType::Reaction => "reaction",
            ContentType::Template => "template",
            ContentType::Unsupported => "unsupported",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        ContentType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn is_media(self) -> bool {
        matches!(
            self,
            ContentType::Image | ContentType::Video | ContentType::Audio | ContentType::Document | ContentType::Sticker
        )
    }
}

/// Delivery state. Inbound messages are `Received`; outbound ones only move forward
/// (`Sending < Sent < Delivered < Read`; `Failed` only from `Sending` or `Sent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    Received,
    Sending,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 6] = [
        MessageStatus::Received,
        MessageStatus::Sending,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Read,
        MessageStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Received => "received",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Read => "read",
            MessageStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        MessageStatus::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether an outbound message in `self` may move to `next`.
    pub fn can_advance_to(self, next: MessageStatus) -> bool {
        use MessageStatus::*;
        let rank = |s: MessageStatus| match s {
            Sending => Some(0),
            Sent => Some(1),
            Delivered => Some(2),
            Read => Some(3),
            Received | Failed => None,
        };
        match (self, next) {
            (Sending | Sent, Failed) => true,
            (from, to) => matches!((rank(from), rank(to)), (Some(a), Some(b)) if b > a),
        }
    }
}

/// The type-specific content of a message: which fields are set depends on its `ContentType`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MessageBody {
    /// Text body; caption for media; button text for a quick reply.
    pub text: Option<String>,
    pub media_id: Option<String>,
    pub media_url: Option<String>,
    pub mime_type: Option<String>,
    pub filename: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub location_name: Option<String>,
    pub location_address: Option<String>,
    pub template_name: Option<String>,
    pub interactive_reply_id: Option<String>,
    pub interactive_reply_title: Option<String>,
    pub button_payload: Option<String>,
    pub reaction_emoji: Option<String>,
    /// The wamid a reaction is about.
    pub reaction_to_wamid: Option<String>,
    /// The stored message this one replies to, when Rosetta has it.
    pub reply_to_message_id: Option<Id>,
    /// The wamid from Meta's `context`, kept even when Rosetta does not have that message.
    pub context_wamid: Option<String>,
    /// The original type name for an `unsupported` message.
    pub raw_type: Option<String>,
}

/// What became of a message's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaState {
    /// Waiting to be fetched from Meta.
    Pending,
    /// Kept in the blob store.
    Stored,
    /// Could not be fetched (`MediaFile::error` says why).
    Failed,
    /// Removed by retention.
    Pruned,
}

impl MediaState {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaState::Pending => "pending",
            MediaState::Stored => "stored",
            MediaState::Failed => "failed",
            MediaState::Pruned => "pruned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => MediaState::Pending,
            "stored" => MediaState::Stored,
            "failed" => MediaState::Failed,
            "pruned" => MediaState::Pruned,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: Id,
    pub org_id: Id,
    pub conversation_id: Id,
    /// Meta's `wamid.…`.
    pub wamid: Option<String>,
    pub direction: Direction,
    pub sender_type: SenderType,
    /// The agent who sent an outbound message, when known.
    pub sender_user_id: Option<Id>,
    pub content_type: ContentType,
    pub body: MessageBody,
    pub status: MessageStatus,
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    /// What became of the file of a received media message; `None` for messages without one.
    pub media: Option<MediaState>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An API key's metadata. The secret itself is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: Id,
    pub org_id: Id,
    pub name: Option<String>,
    pub style: crate::key::KeyStyle,
    pub scopes: Vec<String>,
    /// The last four characters of the secret, for display.
    pub last4: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

impl ApiKey {
    pub fn is_usable_at(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

#[cfg(test)]
mod tests {
    use super::MessageStatus::*;

    #[test]
    fn message_status_only_moves_forward() {
        assert!(Sending.can_advance_to(Sent));
        assert!(Sent.can_advance_to(Read)); // delivered may be skipped
        assert!(Sent.can_advance_to(Failed));
        assert!(Sending.can_advance_to(Failed));
        assert!(!Delivered.can_advance_to(Failed));
        assert!(!Read.can_advance_to(Delivered));
        assert!(!Delivered.can_advance_to(Delivered));
        assert!(!Failed.can_advance_to(Sent));
        assert!(!Received.can_advance_to(Read));
    }
}
