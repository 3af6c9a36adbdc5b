//! The outbox (`dispatch_jobs`): a send is its message and its job, written in one transaction;
//! workers claim due jobs (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so instances over one database
//! never claim the same job; on SQLite the one writer does it), and record each attempt's outcome.

use diesel::prelude::*;
use rosetta_core::outbox::{DispatchJob, DispatchOutcome, NewSend};
use rosetta_core::*;

use crate::db::{map_error, DbConnection};
use crate::rows::*;
use crate::schema::*;

pub const QUEUED: &str = "queued";
pub const CLAIMED: &str = "claimed";
pub const DONE: &str = "done";
pub const FAILED: &str = "failed";

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
}

impl TryFrom<DispatchJobRow> for DispatchJob {
    type Error = Error;
    fn try_from(r: DispatchJobRow) -> Result<Self> {
        Ok(DispatchJob {
            message_id: id(&r.message_id)?,
            org_id: id(&r.org_id)?,
            account_id: id(&r.account_id)?,
            recipient: r.recipient,
            payload: serde_json::from_str(&r.payload).map_err(|_| corrupt("dispatch_jobs.payload", &r.payload))?,
            attempts: u32::try_from(r.attempts)
                .map_err(|_| corrupt("dispatch_jobs.attempts", &r.attempts.to_string()))?,
            deadline_at: Timestamp(r.deadline_at),
        })
    }
}

/// Stores the message (moving its conversation by the one rule) and queues its job, due now; the
/// job's payload carries the message's id as `biz_opaque_callback_data`.
pub fn enqueue(c: &mut DbConnection, org: Id, send: NewSend) -> Result<Message> {
    let conversation = crate::conversations::load_for_update(c, org, send.message.conversation_id)?;
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
        })
        .execute(c)
        .map_err(map_error)?;
    Ok(message)
}

/// Claims up to `limit` queued jobs due at `now` (oldest first) until `now + lease_millis`.
pub fn claim(c: &mut DbConnection, now: Timestamp, lease_millis: i64, limit: u32) -> Result<Vec<DispatchJob>> {
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
    let mut jobs = Vec::with_capacity(ids.len());
    for message in ids {
        diesel::update(dispatch_jobs::table.find(&message))
            .set((
                dispatch_jobs::state.eq(CLAIMED),
                dispatch_jobs::due_at.eq(now.millis() + lease_millis),
                dispatch_jobs::attempts.eq(dispatch_jobs::attempts + 1),
                dispatch_jobs::updated_at.eq(now.millis()),
            ))
            .execute(c)
            .map_err(map_error)?;
        let row: DispatchJobRow = dispatch_jobs::table
            .find(&message)
            .select(DispatchJobRow::as_select())
            .first(c)
            .map_err(map_error)?;
        jobs.push(row.try_into()?);
    }
    Ok(jobs)
}

/// Records an attempt's outcome on the job and its message. A retry due after the job's deadline
/// fails it instead, saying why.
pub fn finish(c: &mut DbConnection, message: Id, outcome: DispatchOutcome) -> Result<()> {
    let job: DispatchJobRow = dispatch_jobs::table
        .find(b(message))
        .select(DispatchJobRow::as_select())
        .first(c)
        .optional()
        .map_err(map_error)?
        .ok_or(Error::NotFound(EntityKind::Message))?;
    let now = Timestamp::now().millis();
    let outcome = match outcome {
        DispatchOutcome::Retry { at, error } if at.millis() > job.deadline_at => DispatchOutcome::Failed {
            code: None,
            title: format!("gave up after {} attempts: {error}", job.attempts),
        },
        other => other,
    };
    let (state, due_at, last_error) = match &outcome {
        DispatchOutcome::Sent { wamid } => {
            // A status webhook may have moved the message on already: only `sending` becomes `sent`.
            diesel::update(
                messages::table
                    .find(b(message))
                    .filter(messages::status.eq(MessageStatus::Sending.as_str())),
            )
            .set((
                messages::status.eq(MessageStatus::Sent.as_str()),
                messages::updated_at.eq(now),
            ))
            .execute(c)
            .map_err(map_error)?;
            diesel::update(messages::table.find(b(message)))
                .set(messages::wamid.eq(Some(wamid.as_str())))
                .execute(c)
                .map_err(map_error)?;
            (DONE, job.due_at, None)
        }
        DispatchOutcome::Retry { at, error } => (QUEUED, at.millis(), Some(error.clone())),
        DispatchOutcome::Failed { code, title } => {
            let current: String = messages::table
                .find(b(message))
                .select(messages::status)
                .first(c)
                .map_err(map_error)?;
            let current = MessageStatus::parse(&current).ok_or_else(|| corrupt("messages.status", &current))?;
            if current.can_advance_to(MessageStatus::Failed) {
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
            (FAILED, job.due_at, Some(title.clone()))
        }
    };
    diesel::update(dispatch_jobs::table.find(b(message)))
        .set((
            dispatch_jobs::state.eq(state),
            dispatch_jobs::due_at.eq(due_at),
            dispatch_jobs::last_error.eq(last_error),
            dispatch_jobs::updated_at.eq(now),
        ))
        .execute(c)
        .map_err(map_error)?;
    Ok(())
}
