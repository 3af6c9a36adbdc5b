//! The event log (`events`, migration 10): the transactional outbox of events out. Every change a
//! product announces writes its event here, in the transaction that made it, through the few
//! functions below, called from the one place each kind of change happens (`messages::append_to`,
//! `rules::find_or_open`, `conversations::update`, the status moves in ingest and the outbox, the
//! contact writes), so no path can make a change without its event.

use diesel::prelude::*;
use rosetta_core::events::{message_data, Event, EventKind, NewEvent};
use rosetta_core::*;
use serde_json::json;

use crate::db::{map_error, DbConnection};
use crate::rows::*;
use crate::schema::events as ev;
use crate::schema::*;

/// Writes one event (inside the caller's transaction).
pub fn record(c: &mut DbConnection, org: Id, event: NewEvent) -> Result<()> {
    diesel::insert_into(ev::table)
        .values((
            ev::id.eq(b(Id::new())),
            ev::org_id.eq(b(org)),
            ev::kind.eq(event.kind.as_str()),
            ev::account_id.eq(event.account_id.map(b)),
            ev::conversation_id.eq(event.conversation_id.map(b)),
            ev::message_id.eq(event.message_id.map(b)),
            ev::contact_id.eq(event.contact_id.map(b)),
            ev::data.eq(event.data.to_string()),
            ev::created_at.eq(Timestamp::now().millis()),
        ))
        .execute(c)
        .map(|_| ())
        .map_err(map_error)
}

/// A message stored: `message.received` for a customer's, `message.created` for one the business
/// sends (queued, or an echo of one sent from the WhatsApp Business app).
pub fn message_stored(c: &mut DbConnection, account: Id, contact: Id, message: &Message) -> Result<()> {
    let kind = match message.direction {
        Direction::Inbound => EventKind::MessageReceived,
        Direction::Outbound => EventKind::MessageCreated,
    };
    let mut data = message_data(
        message.direction,
        message.content_type,
        message.status,
        message.body.text.as_deref(),
        message.wamid.as_deref(),
        None,
    );
    data["sender_type"] = json!(message.sender_type.as_str());
    data["sender_user_id"] = json!(message.sender_user_id.map(|u| u.to_string()));
    data["created_at"] = json!(message.created_at.millis());
    record(
        c,
        message.org_id,
        NewEvent {
            kind,
            account_id: Some(account),
            conversation_id: Some(message.conversation_id),
            message_id: Some(message.id),
            contact_id: Some(contact),
            data,
        },
    )
}

/// A message's status moved (sent, delivered, read, failed); `row` is the message as it was, before.
pub fn status_moved(
    c: &mut DbConnection,
    row: &MessageRow,
    status: MessageStatus,
    wamid: Option<&str>,
    error: Option<(Option<i64>, &str)>,
) -> Result<()> {
    let message = id(&row.id)?;
    let conversation = id(&row.conversation_id)?;
    let (account, contact): (Vec<u8>, Vec<u8>) = conversations::table
        .find(&row.conversation_id)
        .select((conversations::account_id, conversations::contact_id))
        .first(c)
        .map_err(map_error)?;
    let direction = Direction::parse(&row.direction).ok_or_else(|| corrupt("messages.direction", &row.direction))?;
    let content_type =
        ContentType::parse(&row.content_type).ok_or_else(|| corrupt("messages.content_type", &row.content_type))?;
    let previous = MessageStatus::parse(&row.status).ok_or_else(|| corrupt("messages.status", &row.status))?;
    let mut data = message_data(
        direction,
        content_type,
        status,
        row.text.as_deref(),
        wamid.or(row.wamid.as_deref()),
        error,
    );
    data["previous_status"] = json!(previous.as_str());
    record(
        c,
        id(&row.org_id)?,
        NewEvent {
            kind: EventKind::MessageStatus,
            account_id: Some(id(&account)?),
            conversation_id: Some(conversation),
            message_id: Some(message),
            contact_id: Some(id(&contact)?),
            data,
        },
    )
}

fn conversation_event(kind: EventKind, row: &ConversationRow, data: serde_json::Value) -> Result<NewEvent> {
    Ok(NewEvent {
        kind,
        account_id: Some(id(&row.account_id)?),
        conversation_id: Some(id(&row.id)?),
        message_id: None,
        contact_id: Some(id(&row.contact_id)?),
        data,
    })
}

fn user(raw: &Option<Vec<u8>>) -> Result<Option<String>> {
    raw.as_deref().map(|u| id(u).map(|u| u.to_string())).transpose()
}

/// A conversation made.
pub fn conversation_created(c: &mut DbConnection, row: &ConversationRow) -> Result<()> {
    let event = conversation_event(
        EventKind::ConversationCreated,
        row,
        json!({"status": row.status, "source": row.source}),
    )?;
    record(c, id(&row.org_id)?, event)
}

/// What changed between `before` and `after` of one conversation: closed, reopened, assigned.
pub fn conversation_changed(c: &mut DbConnection, before: &ConversationRow, after: &ConversationRow) -> Result<()> {
    let org = id(&after.org_id)?;
    let closed = ConversationStatus::Closed.as_str();
    if before.status != closed && after.status == closed {
        let event = conversation_event(
            EventKind::ConversationClosed,
            after,
            json!({"status": after.status, "resolution": after.resolution, "closed_by": user(&after.closed_by)?}),
        )?;
        record(c, org, event)?;
    } else if before.status == closed && after.status != closed {
        let event = conversation_event(EventKind::ConversationReopened, after, json!({"status": after.status}))?;
        record(c, org, event)?;
    }
    if before.assignee_id != after.assignee_id {
        let event = conversation_event(
            EventKind::ConversationAssigned,
            after,
            json!({"status": after.status, "assignee_id": user(&after.assignee_id)?,
                   "previous_assignee_id": user(&before.assignee_id)?}),
        )?;
        record(c, org, event)?;
    }
    Ok(())
}

fn contact_event(kind: EventKind, row: &ContactRow) -> Result<NewEvent> {
    Ok(NewEvent {
        kind,
        account_id: None,
        conversation_id: None,
        message_id: None,
        contact_id: Some(id(&row.id)?),
        data: json!({"phone": row.phone, "name": row.name, "email": row.email, "company": row.company}),
    })
}

/// A contact made.
pub fn contact_created(c: &mut DbConnection, row: &ContactRow) -> Result<()> {
    let event = contact_event(EventKind::ContactCreated, row)?;
    record(c, id(&row.org_id)?, event)
}

/// A contact changed (its row as it now is).
pub fn contact_updated(c: &mut DbConnection, row: &ContactRow) -> Result<()> {
    let event = contact_event(EventKind::ContactUpdated, row)?;
    record(c, id(&row.org_id)?, event)
}

/// `Store::sequence_events`: gives every committed event without a position the next ones, in
/// one transaction, one sequencer at a time. SQLite has one writer, so its insert order is its commit
/// order; on PostgreSQL a transaction-level advisory lock keeps a second sequencer out (it returns 0
/// and tries again later), so positions become visible in increasing order.
pub fn sequence(c: &mut DbConnection) -> Result<usize> {
    use diesel::sql_types::{BigInt, Bool};
    match c {
        DbConnection::Sqlite(conn) => diesel::sql_query("UPDATE events SET pos = seq WHERE pos IS NULL")
            .execute(conn)
            .map_err(map_error),
        DbConnection::Pg(conn) => {
            #[derive(QueryableByName)]
            struct Locked {
                #[diesel(sql_type = Bool)]
                locked: bool,
            }
            let locked: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
                .bind::<BigInt, _>(SEQUENCER_LOCK)
                .get_result(conn)
                .map_err(map_error)?;
            if !locked.locked {
                return Ok(0);
            }
            diesel::sql_query(
                // Positions in insert order within the batch (a transaction's events keep theirs).
                "UPDATE events SET pos = numbered.pos FROM \
                 (SELECT seq, nextval('events_pos_seq') AS pos FROM \
                  (SELECT seq FROM events WHERE pos IS NULL ORDER BY seq LIMIT 10000) AS waiting) AS numbered \
                 WHERE events.seq = numbered.seq",
            )
            .execute(conn)
            .map_err(map_error)
        }
    }
}

/// `Store::prune_events`: the oldest events made before `before`, at most `limit` (only placed
/// ones: an event waiting for its position is never removed from under the sequencer).
pub fn prune(c: &mut DbConnection, before: Timestamp, limit: u32) -> Result<usize> {
    let old: Vec<i64> = ev::table
        .filter(ev::created_at.lt(before.millis()))
        .filter(ev::pos.is_not_null())
        .order(ev::seq.asc())
        .limit(i64::from(limit))
        .select(ev::seq)
        .load(c)
        .map_err(map_error)?;
    if old.is_empty() {
        return Ok(0);
    }
    diesel::delete(ev::table.filter(ev::seq.eq_any(&old)))
        .execute(c)
        .map_err(map_error)
}

/// The advisory lock the sequencer holds (an arbitrary constant of Rosetta's).
const SEQUENCER_LOCK: i64 = 0x526f_7365_7474_6131;

/// `Store::events_after`: an organization's sequenced events after position `pos`, in order, at most
/// `limit`.
pub fn after(c: &mut DbConnection, org: Id, pos: i64, limit: u32) -> Result<Vec<Event>> {
    type Row = (
        Option<i64>,
        Vec<u8>,
        Vec<u8>,
        String,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        String,
        i64,
    );
    let rows: Vec<Row> = ev::table
        .filter(ev::org_id.eq(b(org)))
        .filter(ev::pos.gt(pos))
        .order(ev::pos.asc())
        .limit(i64::from(limit))
        .select((
            ev::pos,
            ev::id,
            ev::org_id,
            ev::kind,
            ev::account_id,
            ev::conversation_id,
            ev::message_id,
            ev::contact_id,
            ev::data,
            ev::created_at,
        ))
        .load(c)
        .map_err(map_error)?;
    let opt = |raw: Option<Vec<u8>>| raw.as_deref().map(id).transpose();
    rows.into_iter()
        .map(
            |(pos, event, org, kind, account, conversation, message, contact, data, created_at)| {
                Ok(Event {
                    pos: pos.ok_or_else(|| corrupt("events.pos", "null"))?,
                    id: id(&event)?,
                    org_id: id(&org)?,
                    kind: EventKind::parse(&kind).ok_or_else(|| corrupt("events.kind", &kind))?,
                    account_id: opt(account)?,
                    conversation_id: opt(conversation)?,
                    message_id: opt(message)?,
                    contact_id: opt(contact)?,
                    data: serde_json::from_str(&data).map_err(|_| corrupt("events.data", &data))?,
                    created_at: Timestamp(created_at),
                })
            },
        )
        .collect()
}

/// The newest position of an organization's log (0 when empty): how far behind a reader is.
pub fn newest(c: &mut DbConnection, org: Id) -> Result<i64> {
    ev::table
        .filter(ev::org_id.eq(b(org)))
        .select(diesel::dsl::max(ev::pos))
        .first::<Option<i64>>(c)
        .map(|p| p.unwrap_or(0))
        .map_err(map_error)
}

/// `Store::log_mark`: the newest position, and whether committed events wait for one.
pub fn mark(c: &mut DbConnection) -> Result<rosetta_core::webhooks::LogMark> {
    let newest: Option<i64> = ev::table
        .select(diesel::dsl::max(ev::pos))
        .first(c)
        .map_err(map_error)?;
    let waiting: Option<i64> = ev::table
        .filter(ev::pos.is_null())
        .select(ev::seq)
        .limit(1)
        .first(c)
        .optional()
        .map_err(map_error)?;
    Ok(rosetta_core::webhooks::LogMark {
        newest: newest.unwrap_or(0),
        unsequenced: waiting.is_some(),
    })
}
