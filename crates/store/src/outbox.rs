//! The outbox (`dispatch_jobs`): a send is its message and its job, written in one transaction;
//! workers claim due jobs (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so instances over one database
//! never claim the same job; on SQLite the one writer does it), and record each attempt's outcome.

use diesel::prelude::*;
use rosetta_core::outbox::{DispatchJob, DispatchOutcome, NewSend};
use rosetta_core::send::{Recipient, ReplyTo, SendRequest, SendResult, Sent};
use rosetta_core::*;

use crate::db::{map_error, DbConnection};
use crate::rows::*;
use crate::schema::*;
use crate::sql::BlobIn;

pub const QUEUED: &str = "queued";
pub const CLAIMED: &str = "claimed";
pub const DONE: &str = "done";
pub const FAILED: &str = "failed";
/// Sent, perhaps: waiting (until due_at) for a status webhook to say what became of it.
pub const UNKNOWN: &str = "unknown";

#[derive(Queryable, Selectable, Insertable, Debug)]
#[diesel(table_name = dispatch_jobs, treat_none_as_default_value = false)]
pub struct DispatchJobRow {
    pub message_id: Vec<u8>,
    pub org_id: Vec<u8>,
    pub account_id: Vec<u8>,
    pub recipient: String,
    pub payload: String,
    pub state: String,
    pub attempts: i32,
    pub due_at: i64,
    pub deadline_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// A send of an uploaded file (`uploads`).
    pub upload_id: Option<Vec<u8>>,
}

impl DispatchJobRow {
    fn into_job(self, phone_number_id: String) -> Result<DispatchJob> {
        let r = self;
        Ok(DispatchJob {
            message_id: id(&r.message_id)?,
            org_id: id(&r.org_id)?,
            account_id: id(&r.account_id)?,
            phone_number_id,
            recipient: r.recipient,
            payload: serde_json::from_str(&r.payload).map_err(|_| corrupt("dispatch_jobs.payload", &r.payload))?,
            attempts: u32::try_from(r.attempts)
                .map_err(|_| corrupt("dispatch_jobs.attempts", &r.attempts.to_string()))?,
            deadline_at: Timestamp(r.deadline_at),
            file: None,
        })
    }
}

/// Stores the message (moving its conversation by the one rule) and queues its job, due now; the
/// job's payload carries the message's id as `biz_opaque_callback_data`. A free-form message outside
/// the 24-hour window is `Error::WindowClosed` and writes nothing.
pub fn enqueue(c: &mut DbConnection, org: Id, send: NewSend) -> Result<Message> {
    let conversation = crate::conversations::load_for_update(c, org, send.message.conversation_id)?;
    enqueue_to(c, org, conversation, send, None)
}

/// `enqueue` on a conversation row already loaded for update; a send of an uploaded file attaches
/// it to the message (its own file, kept) and names it on the job.
fn enqueue_to(
    c: &mut DbConnection,
    org: Id,
    conversation: ConversationRow,
    send: NewSend,
    upload: Option<&rosetta_core::media::Upload>,
) -> Result<Message> {
    // The 24-hour rule, checked on the locked row: free-form messages only while the window is open.
    let open = rosetta_core::outbox::window_open(conversation.last_inbound_at.map(Timestamp), Timestamp::now());
    if send.message.content_type != ContentType::Template && !open {
        return Err(Error::WindowClosed);
    }
    let account = id(&conversation.account_id)?;
    let message = crate::messages::append_to(c, org, conversation, send.message)?;
    let mut payload = send.payload;
    if let Some(object) = payload.as_object_mut() {
        object.insert(
            "biz_opaque_callback_data".into(),
            serde_json::Value::String(message.id.to_string()),
        );
    }
    let now = Timestamp::now().millis();
    diesel::insert_into(dispatch_jobs::table)
        .values(&DispatchJobRow {
            message_id: b(message.id),
            org_id: b(org),
            account_id: b(account),
            recipient: send.recipient,
            payload: payload.to_string(),
            state: QUEUED.to_owned(),
            attempts: 0,
            due_at: now,
            deadline_at: send.deadline_at.millis(),
            last_error: None,
            created_at: now,
            updated_at: now,
            upload_id: upload.map(|u| b(u.id)),
        })
        .execute(c)
        .map_err(map_error)?;
    if let Some(upload) = upload {
        crate::uploads::attach(c, org, account, message.id, upload)?;
    }
    Ok(message)
}

/// `Store::send`: the key first (bound already: nothing is sent), then the contact and the
/// conversation found or made, the reply resolved, the token's presence, `enqueue`, and the key bound
/// to the message; one transaction.
pub fn send(c: &mut DbConnection, org: Id, request: SendRequest) -> Result<SendResult> {
    use crate::schema::idempotency_keys as k;
    request.content.check()?;
    if let Some(key) = &request.idempotency {
        let now = Timestamp::now().millis();
        diesel::delete(
            k::table
                .filter(k::org_id.eq(b(org)))
                .filter(k::created_at.lt(now - rosetta_core::idempotency::RETENTION_MILLIS)),
        )
        .execute(c)
        .map_err(map_error)?;
        type KeyRow = (String, Option<i32>, Option<String>, i64, Option<Vec<u8>>);
        let existing: Option<KeyRow> = k::table
            .find((b(org), key.key.as_str()))
            .select((
                k::fingerprint,
                k::response_status,
                k::response_body,
                k::created_at,
                k::message_id,
            ))
            .first(c)
            .optional()
            .map_err(map_error)?;
        if let Some((fingerprint, status, body, created_at, message)) = existing {
            if fingerprint != key.fingerprint {
                return Ok(SendResult::KeyReused);
            }
            if let (Some(status), Some(body)) = (status, body) {
                return Ok(SendResult::Replay(StoredResponse {
                    status: status as u16,
                    body,
                }));
            }
            let Some(message) = message else {
                // Held by a request of another kind with the same fingerprint: cannot happen (the
                // path is in it), so it is a reuse.
                return Ok(SendResult::KeyReused);
            };
            let message: Message = crate::messages::load(c, org, id(&message)?)?;
            let conversation = crate::conversations::load(c, org, message.conversation_id)?;
            return Ok(SendResult::Earlier {
                sent: Sent {
                    conversation_id: message.conversation_id,
                    contact_id: id(&conversation.contact_id)?,
                    contact_created: false,
                    message,
                },
                since: Timestamp(created_at),
            });
        }
    }
    // An uploaded file must be this organization's, and within Meta's limit for the type, before
    // anything is written.
    let upload = match request.content.upload() {
        Some(upload_id) => {
            let upload = crate::uploads::load(c, org, upload_id)?;
            crate::uploads::check_for(&upload, request.content.content_type())?;
            Some(upload)
        }
        None => None,
    };
    let now = Timestamp::now();
    // The conversation, locked for the rest of the transaction (the 24-hour rule reads it).
    let (row, contact, phone, contact_created) = match &request.recipient {
        Recipient::Conversation(conversation) => {
            let row = crate::conversations::load_for_update(c, org, *conversation)?;
            let contact = id(&row.contact_id)?;
            let phone: String = contacts::table
                .find(b(contact))
                .select(contacts::phone)
                .first(c)
                .map_err(map_error)?;
            (row, contact, phone, false)
        }
        Recipient::Phone { account, phone, name } => {
            crate::directory::load_account(c, org, *account)?;
            let checked = crate::contacts::check_new(NewContact {
                phone: phone.clone(),
                name: name.clone(),
                ..Default::default()
            })?;
            let created = crate::contacts::create(c, org, &checked)?;
            let contact = created.contact.contact.id;
            let row = crate::rules::find_or_open(c, org, *account, contact, None, now)?;
            (row, contact, checked.phone, created.created)
        }
    };
    let conversation = id(&row.id)?;
    let (reply_to_message_id, context) = match &request.reply_to {
        None => (None, None),
        Some(ReplyTo::Wamid(wamid)) => (None, Some(wamid.clone())),
        Some(ReplyTo::Message(message)) => {
            let replied = crate::messages::load(c, org, *message)?;
            if replied.conversation_id != conversation {
                return Err(Error::invalid(
                    "reply_to_message_id",
                    "reply_to_message_id must be a message of this conversation",
                ));
            }
            (Some(replied.id), replied.wamid)
        }
    };
    if !crate::directory::can_send(c, org, id(&row.account_id)?)? {
        return Err(Error::NotConfigured);
    }
    let recipient = phone.trim_start_matches('+').to_owned();
    let mut body = request.content.stored();
    if let Some(upload) = upload
        .as_ref()
        .filter(|_| request.content.content_type() == ContentType::Document)
    {
        // A document keeps the name it was uploaded with unless the send names it.
        body.filename = body.filename.or_else(|| upload.filename.clone());
    }
    body.reply_to_message_id = reply_to_message_id;
    body.context_wamid = context.clone();
    let payload = request.content.meta_body(&recipient, context.as_deref());
    let message = enqueue_to(
        c,
        org,
        row,
        NewSend {
            message: NewMessage {
                conversation_id: conversation,
                wamid: None,
                direction: Direction::Outbound,
                sender_type: request.sender_type,
                sender_user_id: request.sender_user_id,
                content_type: request.content.content_type(),
                body,
                status: MessageStatus::Sending,
                created_at: now,
            },
            payload,
            recipient,
            deadline_at: request.deadline_at,
        },
        upload.as_ref(),
    )?;
    if let Some(key) = &request.idempotency {
        diesel::insert_into(k::table)
            .values((
                k::org_id.eq(b(org)),
                k::key.eq(key.key.as_str()),
                k::fingerprint.eq(key.fingerprint.as_str()),
                k::created_at.eq(now.millis()),
                k::message_id.eq(Some(b(message.id))),
            ))
            .execute(c)
            .map_err(map_error)?;
    }
    Ok(SendResult::Queued(Sent {
        message,
        conversation_id: conversation,
        contact_id: contact,
        contact_created,
    }))
}

/// A message's row (the dispatch job's message), as it is before an outcome moves it.
fn message_row(c: &mut DbConnection, message: Id) -> Result<MessageRow> {
    messages::table
        .find(b(message))
        .select(MessageRow::as_select())
        .first(c)
        .optional()
        .map_err(map_error)?
        .ok_or(Error::NotFound(EntityKind::Message))
}

/// Jobs whose outcome nobody knows: a claim whose lease ran out (the worker died mid-attempt)
/// becomes unknown until `now + unknown_for_millis`; an unknown job past that fails, on its message
/// too, with `OUTCOME_UNKNOWN`.
fn sweep(c: &mut DbConnection, now: Timestamp, unknown_for_millis: i64) -> Result<()> {
    diesel::update(
        dispatch_jobs::table
            .filter(dispatch_jobs::state.eq(CLAIMED))
            .filter(dispatch_jobs::due_at.le(now.millis())),
    )
    .set((
        dispatch_jobs::state.eq(UNKNOWN),
        dispatch_jobs::due_at.eq(now.millis() + unknown_for_millis),
        dispatch_jobs::last_error.eq(Some("the worker stopped during the attempt")),
        dispatch_jobs::updated_at.eq(now.millis()),
    ))
    .execute(c)
    .map_err(map_error)?;
    let expired: Vec<Vec<u8>> = dispatch_jobs::table
        .filter(dispatch_jobs::state.eq(UNKNOWN))
        .filter(dispatch_jobs::due_at.le(now.millis()))
        .select(dispatch_jobs::message_id)
        .limit(1000)
        .load(c)
        .map_err(map_error)?;
    for message in expired {
        let outcome = DispatchOutcome::Failed {
            code: None,
            title: rosetta_core::outbox::OUTCOME_UNKNOWN.to_owned(),
        };
        finish(c, id(&message)?, outcome)?;
    }
    Ok(())
}

/// Claims up to `limit` queued jobs due at `now` (oldest first) until `now + lease_millis`, after
/// the sweep of unknown outcomes.
pub fn claim(
    c: &mut DbConnection,
    now: Timestamp,
    lease_millis: i64,
    unknown_for_millis: i64,
    limit: u32,
) -> Result<Vec<DispatchJob>> {
    sweep(c, now, unknown_for_millis)?;
    let due = dispatch_jobs::table
        .filter(dispatch_jobs::state.eq(QUEUED))
        .filter(dispatch_jobs::due_at.le(now.millis()))
        .order((dispatch_jobs::due_at.asc(), dispatch_jobs::message_id.asc()))
        .limit(i64::from(limit))
        .select(dispatch_jobs::message_id);
    let ids: Vec<Vec<u8>> = match c {
        // Rows another instance holds are skipped, not waited for: each job goes to one claimer.
        DbConnection::Pg(pg) => due.for_update().skip_locked().load(pg),
        // One writer at a time (the write transaction holds SQLite's lock).
        DbConnection::Sqlite(sqlite) => due.load(sqlite),
    }
    .map_err(map_error)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // The whole batch in two statements: one claim, one read with the accounts' numbers.
    let claimed = BlobIn::new(dispatch_jobs::message_id, &ids);
    crate::per_backend!(c, |conn| diesel::update(dispatch_jobs::table.filter(claimed))
        .set((
            dispatch_jobs::state.eq(CLAIMED),
            dispatch_jobs::due_at.eq(now.millis() + lease_millis),
            dispatch_jobs::attempts.eq(dispatch_jobs::attempts + 1),
            dispatch_jobs::updated_at.eq(now.millis()),
        ))
        .execute(conn))
    .map_err(map_error)?;
    let rows: Vec<(DispatchJobRow, String)> = crate::per_backend!(c, |conn| dispatch_jobs::table
        .inner_join(whatsapp_accounts::table.on(whatsapp_accounts::id.eq(dispatch_jobs::account_id)))
        .filter(claimed)
        .order((dispatch_jobs::created_at.asc(), dispatch_jobs::message_id.asc()))
        .select((DispatchJobRow::as_select(), whatsapp_accounts::phone_number_id))
        .load(conn))
    .map_err(map_error)?;
    let mut files = crate::uploads::job_files(c, &ids, now)?;
    rows.into_iter()
        .map(|(row, phone_number_id)| {
            let mut job = row.into_job(phone_number_id)?;
            job.file = files.remove(&job.message_id);
            Ok(job)
        })
        .collect()
}

/// Records an attempt's outcome on the job and its message. A retry due after the job's deadline
/// fails it instead, saying why.
pub fn finish(c: &mut DbConnection, message: Id, outcome: DispatchOutcome) -> Result<()> {
    let now = Timestamp::now().millis();
    let job = |c: &mut DbConnection| -> Result<DispatchJobRow> {
        dispatch_jobs::table
            .find(b(message))
            .select(DispatchJobRow::as_select())
            .first(c)
            .optional()
            .map_err(map_error)?
            .ok_or(Error::NotFound(EntityKind::Message))
    };
    let outcome = match outcome {
        DispatchOutcome::Retry { at, error } => {
            let job = job(c)?;
            if at.millis() > job.deadline_at {
                DispatchOutcome::Failed {
                    code: None,
                    title: format!("gave up after {} attempts: {error}", job.attempts),
                }
            } else {
                DispatchOutcome::Retry { at, error }
            }
        }
        other => other,
    };
    let (state, due_at, last_error) = match &outcome {
        DispatchOutcome::Sent { wamid } => {
            let row = message_row(c, message)?;
            if row.status == MessageStatus::Sending.as_str() {
                crate::events::status_moved(c, &row, MessageStatus::Sent, Some(wamid), None)?;
            }
            // A status webhook may have moved the message on already: only `sending` becomes `sent`.
            let status = diesel::dsl::case_when::<_, _, diesel::sql_types::Text>(
                messages::status.eq(MessageStatus::Sending.as_str()),
                MessageStatus::Sent.as_str(),
            )
            .otherwise(messages::status);
            let updated = diesel::update(messages::table.find(b(message)))
                .set((
                    messages::status.eq(status),
                    messages::wamid.eq(Some(wamid.as_str())),
                    messages::updated_at.eq(now),
                ))
                .execute(c)
                .map_err(map_error)?;
            if updated == 0 {
                return Err(Error::NotFound(EntityKind::Message));
            }
            (DONE, None, None)
        }
        DispatchOutcome::Retry { at, error } => (QUEUED, Some(at.millis()), Some(error.clone())),
        DispatchOutcome::Deferred { at } => {
            diesel::update(dispatch_jobs::table.find(b(message)))
                .set((
                    dispatch_jobs::state.eq(QUEUED),
                    dispatch_jobs::due_at.eq(at.millis()),
                    dispatch_jobs::attempts.eq(dispatch_jobs::attempts - 1),
                    dispatch_jobs::updated_at.eq(now),
                ))
                .execute(c)
                .map_err(map_error)?;
            return Ok(());
        }
        DispatchOutcome::Unknown { until, error } => (UNKNOWN, Some(until.millis()), Some(error.clone())),
        DispatchOutcome::Failed { code, title } => {
            let row = message_row(c, message)?;
            let current = MessageStatus::parse(&row.status).ok_or_else(|| corrupt("messages.status", &row.status))?;
            if current.can_advance_to(MessageStatus::Failed) {
                crate::events::status_moved(c, &row, MessageStatus::Failed, None, Some((*code, title.as_str())))?;
                diesel::update(messages::table.find(b(message)))
                    .set((
                        messages::status.eq(MessageStatus::Failed.as_str()),
                        messages::error_code.eq(*code),
                        messages::error_title.eq(Some(title.as_str())),
                        messages::updated_at.eq(now),
                    ))
                    .execute(c)
                    .map_err(map_error)?;
            }
            (FAILED, None, Some(title.clone()))
        }
    };
    let job_row = dispatch_jobs::table.find(b(message));
    let updated = match due_at {
        Some(due_at) => diesel::update(job_row)
            .set((
                dispatch_jobs::state.eq(state),
                dispatch_jobs::due_at.eq(due_at),
                dispatch_jobs::last_error.eq(last_error),
                dispatch_jobs::updated_at.eq(now),
            ))
            .execute(c),
        None => diesel::update(job_row)
            .set((
                dispatch_jobs::state.eq(state),
                dispatch_jobs::last_error.eq(last_error),
                dispatch_jobs::updated_at.eq(now),
            ))
            .execute(c),
    }
    .map_err(map_error)?;
    if updated == 0 {
        return Err(Error::NotFound(EntityKind::Message));
    }
    Ok(())
}

/// A status naming one of our messages by its id (`biz_opaque_callback_data`) when its `wamid`
/// was never recorded: the message gets its `wamid`, and its job (claimed or unknown) is done.
/// Returns the message row when it reconciled one.
pub fn reconcile(c: &mut DbConnection, org: Id, callback_data: &str, wamid: &str) -> Result<Option<MessageRow>> {
    let Ok(message) = callback_data.parse::<Id>() else {
        return Ok(None);
    };
    let row: Option<MessageRow> = messages::table
        .find(b(message))
        .filter(messages::org_id.eq(b(org)))
        .filter(messages::wamid.is_null())
        .filter(messages::direction.eq(Direction::Outbound.as_str()))
        .select(MessageRow::as_select())
        .first(c)
        .optional()
        .map_err(map_error)?;
    let Some(mut row) = row else {
        return Ok(None);
    };
    diesel::update(messages::table.find(b(message)))
        .set(messages::wamid.eq(Some(wamid)))
        .execute(c)
        .map_err(map_error)?;
    diesel::update(
        dispatch_jobs::table
            .find(b(message))
            .filter(dispatch_jobs::state.eq_any([CLAIMED, UNKNOWN])),
    )
    .set((
        dispatch_jobs::state.eq(DONE),
        dispatch_jobs::last_error.eq(None::<String>),
        dispatch_jobs::updated_at.eq(Timestamp::now().millis()),
    ))
    .execute(c)
    .map_err(map_error)?;
    row.wamid = Some(wamid.to_owned());
    Ok(Some(row))
}
