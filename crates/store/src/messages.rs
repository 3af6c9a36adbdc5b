//! Messages: the newest-first list, and appending with the conversation rules that follow.

use diesel::prelude::*;
use rosetta_core::store::NewMessage;
use rosetta_core::*;

use crate::db::{map_error, DbConnection};
use crate::page::{decode_cursor, finish_keyset};
use crate::rows::*;
use crate::schema::*;

pub fn list(
    c: &mut DbConnection,
    cursors: &CursorCodec,
    org: Id,
    conversation: Id,
    page: &PageRequest,
) -> Result<Page<Message>> {
    crate::conversations::load(c, org, conversation)?;
    let limit = page.limit() as i64;
    let fingerprint = query::messages_fingerprint(org, conversation);
    let cursor = match page {
        PageRequest::Keyset { cursor, .. } => cursor.as_deref(),
        PageRequest::Offset { .. } => return Err(Error::Internal("messages are keyset paged only".into())),
    };
    let after = decode_cursor(cursors, &fingerprint, cursor)?;
    let rows = newest_first(c, conversation, after.map(|p| (p.sort, b(p.id))), limit + 1)?;
    let (rows, next_cursor, has_more) = finish_keyset(rows, limit, |r| {
        Ok(cursors.encode(
            &fingerprint,
            KeysetPosition {
                sort: r.created_at,
                id: id(&r.id)?,
            },
        ))
    })?;
    Ok(Page {
        items: rows.into_iter().map(TryInto::try_into).collect::<Result<_>>()?,
        next_cursor,
        has_more,
        total: None,
    })
}

/// Newest first, the messages older than `before` (a message of this conversation), with the
/// conversation's message count as `total`.
pub fn list_before(
    c: &mut DbConnection,
    org: Id,
    conversation: Id,
    before: Option<Id>,
    limit: u32,
) -> Result<Page<Message>> {
    crate::conversations::load(c, org, conversation)?;
    let limit = i64::from(limit.clamp(1, MAX_LIMIT));
    let position = match before {
        None => None,
        Some(before) => Some(
            messages::table
                .filter(messages::conversation_id.eq(b(conversation)))
                .filter(messages::id.eq(b(before)))
                .select((messages::created_at, messages::id))
                .first(c)
                .optional()
                .map_err(map_error)?
                .ok_or(Error::NotFound(EntityKind::Message))?,
        ),
    };
    let mut rows = newest_first(c, conversation, position, limit + 1)?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let total: i64 = messages::table
        .filter(messages::conversation_id.eq(b(conversation)))
        .count()
        .get_result(c)
        .map_err(map_error)?;
    Ok(Page {
        items: rows.into_iter().map(TryInto::try_into).collect::<Result<_>>()?,
        next_cursor: None,
        has_more,
        total: Some(total as u64),
    })
}

/// Up to `limit` of a conversation's messages, newest first, after `position` (a message's
/// `(created_at, id)`) when given. Built per backend, skipping the MultiConnection's rewriting of
/// the statement's text.
fn newest_first(
    c: &mut DbConnection,
    conversation: Id,
    position: Option<(i64, Vec<u8>)>,
    limit: i64,
) -> Result<Vec<MessageRow>> {
    crate::per_backend!(c, |conn| {
        let mut q = messages::table
            .filter(messages::conversation_id.eq(b(conversation)))
            .into_boxed();
        if let Some((at, id)) = position {
            q = q.filter(crate::sql::RowBefore::new(messages::created_at, messages::id, at, id));
        }
        q.order_by((messages::created_at.desc(), messages::id.desc()))
            .limit(limit)
            .select(crate::sql::Prerendered(MessageRow::as_select()))
            .load(conn)
    })
    .map_err(map_error)
}

pub fn find_by_wamid(c: &mut DbConnection, org: Id, wamid: &str) -> Result<Option<MessageRow>> {
    messages::table
        .filter(messages::org_id.eq(b(org)))
        .filter(messages::wamid.eq(wamid))
        .select(MessageRow::as_select())
        .first(c)
        .optional()
        .map_err(map_error)
}

/// One message of the organization.
pub fn load(c: &mut DbConnection, org: Id, message: Id) -> Result<Message> {
    messages::table
        .find(b(message))
        .filter(messages::org_id.eq(b(org)))
        .select(MessageRow::as_select())
        .first(c)
        .optional()
        .map_err(map_error)?
        .ok_or(Error::NotFound(EntityKind::Message))?
        .try_into()
}

/// `Store::mark_read`: the conversation of an inbound message has nothing unread any more.
pub fn mark_read(c: &mut DbConnection, org: Id, message: Id) -> Result<Message> {
    let message = load(c, org, message)?;
    if message.direction != Direction::Inbound {
        return Err(Error::invalid(
            "message_id",
            "only a message the customer sent can be marked as read",
        ));
    }
    let mut conversation = crate::conversations::load_for_update(c, org, message.conversation_id)?;
    if conversation.unread_count != 0 {
        conversation.unread_count = 0;
        conversation.updated_at = Timestamp::now().millis();
        crate::conversations::save(c, &conversation)?;
    }
    Ok(message)
}

/// Stores a message and moves its conversation along. A wamid already stored returns the stored
/// message and changes nothing (Meta redelivers).
pub fn append(c: &mut DbConnection, org: Id, new: NewMessage) -> Result<Message> {
    let conversation = crate::conversations::load_for_update(c, org, new.conversation_id)?;
    if let Some(wamid) = &new.wamid {
        if let Some(existing) = find_by_wamid(c, org, wamid)? {
            return existing.try_into();
        }
    }
    append_to(c, org, conversation, new)
}

/// `append` for a conversation row already loaded for update, whose wamid is known to be new.
pub fn append_to(c: &mut DbConnection, org: Id, mut conversation: ConversationRow, new: NewMessage) -> Result<Message> {
    if let Some(user) = new.sender_user_id {
        crate::directory::member(c, org, user)?;
    }
    let mut body = new.body;
    if body.reply_to_message_id.is_none() {
        if let Some(context) = body.context_wamid.clone() {
            body.reply_to_message_id = find_by_wamid(c, org, &context)?.map(|m| id(&m.id)).transpose()?;
        }
    }
    let now = Timestamp::now();
    let message = Message {
        id: Id::new(),
        org_id: org,
        conversation_id: new.conversation_id,
        wamid: new.wamid,
        direction: new.direction,
        sender_type: new.sender_type,
        sender_user_id: new.sender_user_id,
        content_type: new.content_type,
        body,
        status: new.status,
        error_code: None,
        error_title: None,
        media: None,
        created_at: new.created_at,
        updated_at: now,
    };
    diesel::insert_into(messages::table)
        .values(&MessageRow::from_domain(&message))
        .execute(c)
        .map_err(map_error)?;
    crate::events::message_stored(
        c,
        id(&conversation.account_id)?,
        id(&conversation.contact_id)?,
        &message,
    )?;

    // A closed conversation an inbound message reopens announces it.
    let closed = (conversation.status == ConversationStatus::Closed.as_str()).then(|| conversation.clone());
    conversation.record_message(
        message.direction,
        message.created_at.millis(),
        message.body.text.as_deref(),
        now.millis(),
    );
    diesel::update(conversations::table.find(conversation.id.clone()))
        .set(conversation.activity())
        .execute(c)
        .map_err(map_error)?;
    if let Some(before) = closed {
        crate::events::conversation_changed(c, &before, &conversation)?;
    }
    Ok(message)
}
