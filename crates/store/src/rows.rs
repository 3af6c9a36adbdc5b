//! Database rows and their conversion to core's entities. Only the store sees these.

use diesel::prelude::*;
use rosetta_core::key::KeyStyle;
use rosetta_core::*;

use crate::schema::*;

/// A stored id. Anything but 16 bytes is a corrupt row: an error that is logged, never a made-up id.
pub fn id(bytes: &[u8]) -> Result<Id> {
    Id::from_slice(bytes).ok_or_else(|| corrupt("id", &format!("{} bytes", bytes.len())))
}

pub fn opt_id(bytes: Option<Vec<u8>>) -> Result<Option<Id>> {
    bytes.as_deref().map(id).transpose()
}

/// A column value no code of Rosetta's writes: logged, and an internal error for the caller.
pub fn corrupt(column: &str, value: &str) -> Error {
    tracing::error!(column, value, "corrupt row in the database");
    Error::Internal(format!("corrupt row: {column} = {value}"))
}

/// A stored word (status, direction, …) read back through its parser.
fn word<T>(column: &str, value: &str, parse: impl FnOnce(&str) -> Option<T>) -> Result<T> {
    parse(value).ok_or_else(|| corrupt(column, value))
}

pub fn b(id: Id) -> Vec<u8> {
    id.to_bytes().to_vec()
}

fn ts(millis: Option<i64>) -> Option<Timestamp> {
    millis.map(Timestamp)
}

#[derive(Queryable, Selectable, Insertable, Debug)]
#[diesel(table_name = organizations)]
pub struct OrganizationRow {
    pub id: Vec<u8>,
    pub name: String,
    pub created_at: i64,
}

impl TryFrom<OrganizationRow> for Organization {
    type Error = Error;
    fn try_from(r: OrganizationRow) -> Result<Self> {
        Ok(Organization {
            id: id(&r.id)?,
            name: r.name,
            created_at: Timestamp(r.created_at),
        })
    }
}

#[derive(Queryable, Selectable, Insertable, Debug)]
#[diesel(table_name = whatsapp_accounts, treat_none_as_default_value = false)]
pub struct AccountRow {
    pub id: Vec<u8>,
    pub org_id: Vec<u8>,
    pub phone_number_id: String,
    pub phone_number: String,
    pub name: Option<String>,
    pub connected: bool,
    pub created_at: i64,
}

impl TryFrom<AccountRow> for WhatsAppAccount {
    type Error = Error;
    fn try_from(r: AccountRow) -> Result<Self> {
        Ok(WhatsAppAccount {
            id: id(&r.id)?,
            org_id: id(&r.org_id)?,
            phone_number_id: r.phone_number_id,
            phone_number: r.phone_number,
            name: r.name,
            connected: r.connected,
            created_at: Timestamp(r.created_at),
        })
    }
}

#[derive(Queryable, Selectable, Insertable, Debug)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: Vec<u8>,
    pub org_id: Vec<u8>,
    pub name: String,
    pub email: String,
    pub created_at: i64,
}

impl TryFrom<UserRow> for User {
    type Error = Error;
    fn try_from(r: UserRow) -> Result<Self> {
        Ok(User {
            id: id(&r.id)?,
            org_id: id(&r.org_id)?,
            name: r.name,
            email: r.email,
            created_at: Timestamp(r.created_at),
        })
    }
}

#[derive(Queryable, Selectable, Insertable, Debug, Clone)]
#[diesel(table_name = contacts, treat_none_as_default_value = false)]
pub struct ContactRow {
    pub id: Vec<u8>,
    pub org_id: Vec<u8>,
    pub phone: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub avatar_url: Option<String>,
    pub metadata: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TryFrom<ContactRow> for Contact {
    type Error = Error;
    fn try_from(r: ContactRow) -> Result<Self> {
        Ok(Contact {
            id: id(&r.id)?,
            org_id: id(&r.org_id)?,
            phone: r.phone,
            name: r.name,
            email: r.email,
            company: r.company,
            avatar_url: r.avatar_url,
            metadata: r
                .metadata
                .map(|m| serde_json::from_str(&m).map_err(|_| corrupt("contacts.metadata", &m)))
                .transpose()?,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        })
    }
}

#[derive(Queryable, Selectable, Insertable, Debug, Clone)]
#[diesel(table_name = tags)]
pub struct TagRow {
    pub id: Vec<u8>,
    pub org_id: Vec<u8>,
    pub name: String,
    pub color: String,
    pub created_at: i64,
}

impl TryFrom<TagRow> for Tag {
    type Error = Error;
    fn try_from(r: TagRow) -> Result<Self> {
        Ok(Tag {
            id: id(&r.id)?,
            org_id: id(&r.org_id)?,
            name: r.name,
            color: r.color,
            created_at: Timestamp(r.created_at),
        })
    }
}

#[derive(Queryable, Selectable, Insertable, Debug)]
#[diesel(table_name = contact_tags)]
pub struct ContactTagRow {
    pub contact_id: Vec<u8>,
    pub tag_id: Vec<u8>,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset, Debug, Clone)]
#[diesel(table_name = conversations, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct ConversationRow {
    pub id: Vec<u8>,
    pub org_id: Vec<u8>,
    pub account_id: Vec<u8>,
    pub contact_id: Vec<u8>,
    pub status: String,
    pub assignee_id: Option<Vec<u8>>,
    pub unread_count: i64,
    pub last_message_text: Option<String>,
    pub last_message_direction: Option<String>,
    pub last_message_at: Option<i64>,
    pub last_message_key: i64,
    pub last_activity_at: i64,
    pub last_inbound_at: Option<i64>,
    pub source: Option<String>,
    pub first_message_at: Option<i64>,
    pub resolution: Option<String>,
    pub closed_at: Option<i64>,
    pub closed_by: Option<Vec<u8>>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ConversationRow {
    /// Keeps the derived sort columns in step with the fields they derive from.
    pub fn refresh_sort_keys(&mut self) {
        self.last_message_key = self.last_message_at.unwrap_or(-1);
        self.last_activity_at = self.last_message_at.unwrap_or(self.created_at).max(self.created_at);
    }

    pub fn sort_key(&self, order: ConversationOrder) -> i64 {
        match order {
            ConversationOrder::CreatedDesc => self.created_at,
            ConversationOrder::LastMessageDesc => self.last_message_key,
            ConversationOrder::LastActivityDesc => self.last_activity_at,
        }
    }

    pub fn from_domain(c: &Conversation) -> Self {
        let mut row = ConversationRow {
            id: b(c.id),
            org_id: b(c.org_id),
            account_id: b(c.account_id),
            contact_id: b(c.contact_id),
            status: c.status.as_str().to_owned(),
            assignee_id: c.assignee_id.map(b),
            unread_count: c.unread_count,
            last_message_text: c.last_message_text.clone(),
            last_message_direction: c.last_message_direction.map(|d| d.as_str().to_owned()),
            last_message_at: c.last_message_at.map(Timestamp::millis),
            last_message_key: 0,
            last_activity_at: 0,
            last_inbound_at: c.last_inbound_at.map(Timestamp::millis),
            source: c.source.clone(),
            first_message_at: c.first_message_at.map(Timestamp::millis),
            resolution: c.resolution.clone(),
            closed_at: c.closed_at.map(Timestamp::millis),
            closed_by: c.closed_by.map(b),
            created_at: c.created_at.millis(),
            updated_at: c.updated_at.millis(),
        };
        row.refresh_sort_keys();
        row
    }
}

/// The columns a new message changes. SQLite rewrites every index holding a column the UPDATE
/// assigns, changed or not, so the message path never assigns the ids and `created_at`.
#[derive(AsChangeset, Debug)]
#[diesel(table_name = conversations, treat_none_as_null = true)]
pub struct ConversationActivity<'a> {
    pub status: &'a str,
    pub unread_count: i64,
    pub last_message_text: Option<&'a str>,
    pub last_message_direction: Option<&'a str>,
    pub last_message_at: Option<i64>,
    pub last_message_key: i64,
    pub last_activity_at: i64,
    pub last_inbound_at: Option<i64>,
    pub first_message_at: Option<i64>,
    pub resolution: Option<&'a str>,
    pub closed_at: Option<i64>,
    pub closed_by: Option<&'a [u8]>,
    pub updated_at: i64,
}

impl ConversationRow {
    pub fn activity(&self) -> ConversationActivity<'_> {
        ConversationActivity {
            status: &self.status,
            unread_count: self.unread_count,
            last_message_text: self.last_message_text.as_deref(),
            last_message_direction: self.last_message_direction.as_deref(),
            last_message_at: self.last_message_at,
            last_message_key: self.last_message_key,
            last_activity_at: self.last_activity_at,
            last_inbound_at: self.last_inbound_at,
            first_message_at: self.first_message_at,
            resolution: self.resolution.as_deref(),
            closed_at: self.closed_at,
            closed_by: self.closed_by.as_deref(),
            updated_at: self.updated_at,
        }
    }
}

impl TryFrom<ConversationRow> for Conversation {
    type Error = Error;
    fn try_from(r: ConversationRow) -> Result<Self> {
        Ok(Conversation {
            id: id(&r.id)?,
            org_id: id(&r.org_id)?,
            account_id: id(&r.account_id)?,
            contact_id: id(&r.contact_id)?,
            status: word("conversations.status", &r.status, |s| s.parse().ok())?,
            assignee_id: opt_id(r.assignee_id)?,
            unread_count: r.unread_count,
            last_message_text: r.last_message_text,
            last_message_direction: r
                .last_message_direction
                .as_deref()
                .map(|d| word("conversations.last_message_direction", d, Direction::parse))
                .transpose()?,
            last_message_at: ts(r.last_message_at),
            last_inbound_at: ts(r.last_inbound_at),
            source: r.source,
            first_message_at: ts(r.first_message_at),
            resolution: r.resolution,
            closed_at: ts(r.closed_at),
            closed_by: opt_id(r.closed_by)?,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        })
    }
}

#[derive(Queryable, Selectable, Insertable, Debug, Clone)]
#[diesel(table_name = messages, treat_none_as_default_value = false)]
pub struct MessageRow {
    pub id: Vec<u8>,
    pub org_id: Vec<u8>,
    pub conversation_id: Vec<u8>,
    pub wamid: Option<String>,
    pub direction: String,
    pub sender_type: String,
    pub sender_user_id: Option<Vec<u8>>,
    pub content_type: String,
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
    pub reaction_to_wamid: Option<String>,
    pub reply_to_message_id: Option<Vec<u8>>,
    pub context_wamid: Option<String>,
    pub raw_type: Option<String>,
    pub status: String,
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub media_state: Option<String>,
}

impl MessageRow {
    pub fn from_domain(m: &Message) -> Self {
        let body = &m.body;
        MessageRow {
            id: b(m.id),
            org_id: b(m.org_id),
            conversation_id: b(m.conversation_id),
            wamid: m.wamid.clone(),
            direction: m.direction.as_str().to_owned(),
            sender_type: m.sender_type.as_str().to_owned(),
            sender_user_id: m.sender_user_id.map(b),
            content_type: m.content_type.as_str().to_owned(),
            text: body.text.clone(),
            media_id: body.media_id.clone(),
            media_url: body.media_url.clone(),
            mime_type: body.mime_type.clone(),
            filename: body.filename.clone(),
            latitude: body.latitude,
            longitude: body.longitude,
            location_name: body.location_name.clone(),
            location_address: body.location_address.clone(),
            template_name: body.template_name.clone(),
            interactive_reply_id: body.interactive_reply_id.clone(),
            interactive_reply_title: body.interactive_reply_title.clone(),
            button_payload: body.button_payload.clone(),
            reaction_emoji: body.reaction_emoji.clone(),
            reaction_to_wamid: body.reaction_to_wamid.clone(),
            reply_to_message_id: body.reply_to_message_id.map(b),
            context_wamid: body.context_wamid.clone(),
            raw_type: body.raw_type.clone(),
            status: m.status.as_str().to_owned(),
            error_code: m.error_code,
            error_title: m.error_title.clone(),
            created_at: m.created_at.millis(),
            updated_at: m.updated_at.millis(),
            media_state: m.media.map(|state| state.as_str().to_owned()),
        }
    }
}

impl TryFrom<MessageRow> for Message {
    type Error = Error;
    fn try_from(r: MessageRow) -> Result<Self> {
        Ok(Message {
            id: id(&r.id)?,
            org_id: id(&r.org_id)?,
            conversation_id: id(&r.conversation_id)?,
            wamid: r.wamid,
            direction: word("messages.direction", &r.direction, Direction::parse)?,
            sender_type: word("messages.sender_type", &r.sender_type, SenderType::parse)?,
            sender_user_id: opt_id(r.sender_user_id)?,
            content_type: word("messages.content_type", &r.content_type, ContentType::parse)?,
            body: MessageBody {
                text: r.text,
                media_id: r.media_id,
                media_url: r.media_url,
                mime_type: r.mime_type,
                filename: r.filename,
                latitude: r.latitude,
                longitude: r.longitude,
                location_name: r.location_name,
                location_address: r.location_address,
                template_name: r.template_name,
                interactive_reply_id: r.interactive_reply_id,
                interactive_reply_title: r.interactive_reply_title,
                button_payload: r.button_payload,
                reaction_emoji: r.reaction_emoji,
                reaction_to_wamid: r.reaction_to_wamid,
                reply_to_message_id: opt_id(r.reply_to_message_id)?,
                context_wamid: r.context_wamid,
                raw_type: r.raw_type,
            },
            status: word("messages.status", &r.status, MessageStatus::parse)?,
            error_code: r.error_code,
            error_title: r.error_title,
            media: r
                .media_state
                .map(|state| word("messages.media_state", &state, MediaState::parse))
                .transpose()?,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        })
    }
}

#[derive(Queryable, Selectable, Insertable, Debug)]
#[diesel(table_name = api_keys, treat_none_as_default_value = false)]
pub struct ApiKeyRow {
    pub id: Vec<u8>,
    pub org_id: Vec<u8>,
    pub name: Option<String>,
    pub style: String,
    pub scopes: String,
    pub secret_hash: Vec<u8>,
    pub last4: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = Error;
    fn try_from(r: ApiKeyRow) -> Result<Self> {
        Ok(ApiKey {
            id: id(&r.id)?,
            org_id: id(&r.org_id)?,
            name: r.name,
            style: word("api_keys.style", &r.style, |s| s.parse::<KeyStyle>().ok())?,
            scopes: r
                .scopes
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            last4: r.last4,
            created_at: Timestamp(r.created_at),
            expires_at: ts(r.expires_at),
            revoked_at: ts(r.revoked_at),
            last_used_at: ts(r.last_used_at),
        })
    }
}
