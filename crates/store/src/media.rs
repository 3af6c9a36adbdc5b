//! Received media (`media_files`, migration 8): a media message's file and its durable fetch job,
//! written with the message; claims (PostgreSQL `FOR UPDATE SKIP LOCKED`, SQLite's one writer)
//! and outcomes, on the job and on the message's `media_state`.

use diesel::prelude::*;
use rosetta_core::media::{MediaJob, MediaOutcome};
use rosetta_core::*;

use crate::db::{map_error, DbConnection};
use crate::rows::*;
use crate::schema::*;
use crate::sql::BlobIn;

pub const QUEUED: &str = "queued";
pub const CLAIMED: &str = "claimed";
pub const DONE: &str = "done";
pub const FAILED: &str = "failed";

/// Queues the fetch of a media message just stored (same transaction): its state is `pending`.
pub fn enqueue(
    c: &mut DbConnection,
    org: Id,
    account: Id,
    message: Id,
    media_id: &str,
    declared_sha256: Option<&str>,
    mime_type: Option<&str>,
) -> Result<()> {
    let now = Timestamp::now().millis();
    diesel::insert_into(media_files::table)
        .values((
            media_files::message_id.eq(b(message)),
            media_files::org_id.eq(b(org)),
            media_files::account_id.eq(b(account)),
            media_files::media_id.eq(media_id),
            media_files::declared_sha256.eq(declared_sha256),
            media_files::mime_type.eq(mime_type),
            media_files::job.eq(QUEUED),
            media_files::attempts.eq(0),
            media_files::due_at.eq(now),
            media_files::created_at.eq(now),
            media_files::updated_at.eq(now),
        ))
        .execute(c)
        .map_err(map_error)?;
    set_state(c, message, MediaState::Pending)
}

fn set_state(c: &mut DbConnection, message: Id, state: MediaState) -> Result<()> {
    diesel::update(messages::table.find(b(message)))
        .set(messages::media_state.eq(Some(state.as_str())))
        .execute(c)
        .map(|_| ())
        .map_err(map_error)
}

/// Claims up to `limit` due fetches (a claim whose lease ran out is due again).
pub fn claim(c: &mut DbConnection, now: Timestamp, lease_millis: i64, limit: u32) -> Result<Vec<MediaJob>> {
    let due = media_files::table
        .filter(media_files::job.eq_any([QUEUED, CLAIMED]))
        .filter(media_files::due_at.le(now.millis()))
        .order((media_files::due_at.asc(), media_files::message_id.asc()))
        .limit(i64::from(limit))
        .select(media_files::message_id);
    let ids: Vec<Vec<u8>> = match c {
        DbConnection::Pg(pg) => due.for_update().skip_locked().load(pg),
        DbConnection::Sqlite(sqlite) => due.load(sqlite),
    }
    .map_err(map_error)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let claimed = BlobIn::new(media_files::message_id, &ids);
    crate::per_backend!(c, |conn| diesel::update(media_files::table.filter(claimed))
        .set((
            media_files::job.eq(CLAIMED),
            media_files::due_at.eq(now.millis() + lease_millis),
            media_files::attempts.eq(media_files::attempts + 1),
            media_files::updated_at.eq(now.millis()),
        ))
        .execute(conn))
    .map_err(map_error)?;
    type Row = (
        Vec<u8>,
        Vec<u8>,
        Vec<u8>,
        String,
        Option<String>,
        Option<String>,
        i32,
        String,
    );
    let rows: Vec<Row> = crate::per_backend!(c, |conn| media_files::table
        .inner_join(messages::table.on(messages::id.eq(media_files::message_id)))
        .filter(claimed)
        .select((
            media_files::message_id,
            media_files::org_id,
            media_files::account_id,
            media_files::media_id,
            media_files::declared_sha256,
            media_files::mime_type,
            media_files::attempts,
            messages::content_type,
        ))
        .load(conn))
    .map_err(map_error)?;
    rows.into_iter()
        .map(
            |(message, org, account, media_id, declared_sha256, mime_type, attempts, content_type)| {
                Ok(MediaJob {
                    message_id: id(&message)?,
                    org_id: id(&org)?,
                    account_id: id(&account)?,
                    content_type: ContentType::parse(&content_type)
                        .ok_or_else(|| corrupt("messages.content_type", &content_type))?,
                    media_id,
                    declared_sha256,
                    mime_type,
                    attempts: u32::try_from(attempts)
                        .map_err(|_| corrupt("media_files.attempts", &attempts.to_string()))?,
                })
            },
        )
        .collect()
}

/// `Store::media_file`: the file of a message, whichever organization's (a signed link names it).
pub fn file(c: &mut DbConnection, message: Id) -> Result<rosetta_core::media::MediaFileInfo> {
    type Row = (
        Vec<u8>,
        Option<String>,
        String,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = media_files::table
        .inner_join(messages::table.on(messages::id.eq(media_files::message_id)))
        .filter(media_files::message_id.eq(b(message)))
        .select((
            media_files::org_id,
            messages::media_state,
            messages::content_type,
            media_files::blob,
            media_files::size,
            media_files::mime_type,
            messages::filename,
            media_files::error,
        ))
        .first(c)
        .optional()
        .map_err(map_error)?;
    let (org, state, content_type, blob, size, mime_type, filename, error) =
        row.ok_or(Error::NotFound(EntityKind::Message))?;
    let state = state.unwrap_or_else(|| MediaState::Pending.as_str().to_owned());
    Ok(rosetta_core::media::MediaFileInfo {
        org_id: id(&org)?,
        state: MediaState::parse(&state).ok_or_else(|| corrupt("messages.media_state", &state))?,
        content_type: ContentType::parse(&content_type)
            .ok_or_else(|| corrupt("messages.content_type", &content_type))?,
        blob,
        size,
        mime_type,
        filename,
        error,
    })
}

/// Retention for kept files: those made before `before` are marked pruned; their blobs, for
/// `unused` to check.
pub fn prune(c: &mut DbConnection, before: Timestamp, limit: u32) -> Result<(usize, Vec<String>)> {
    let old: Vec<(Vec<u8>, Option<String>)> = media_files::table
        .inner_join(messages::table.on(messages::id.eq(media_files::message_id)))
        .filter(messages::media_state.eq(MediaState::Stored.as_str()))
        .filter(media_files::created_at.lt(before.millis()))
        .select((media_files::message_id, media_files::blob))
        .limit(i64::from(limit))
        .load(c)
        .map_err(map_error)?;
    if old.is_empty() {
        return Ok((0, Vec::new()));
    }
    let pruned = old.len();
    let ids: Vec<Vec<u8>> = old.iter().map(|(id, _)| id.clone()).collect();
    crate::per_backend!(c, |conn| diesel::update(
        messages::table.filter(BlobIn::new(messages::id, &ids))
    )
    .set(messages::media_state.eq(Some(MediaState::Pruned.as_str())))
    .execute(conn))
    .map_err(map_error)?;
    Ok((pruned, old.into_iter().filter_map(|(_, blob)| blob).collect()))
}

/// Of `blobs`, those no kept file and no upload uses any more (a file received again later, or
/// uploaded to send, keeps its blob).
pub fn unused(c: &mut DbConnection, mut blobs: Vec<String>) -> Result<Vec<String>> {
    blobs.sort();
    blobs.dedup();
    if blobs.is_empty() {
        return Ok(blobs);
    }
    let mut still_used: Vec<Option<String>> = media_files::table
        .inner_join(messages::table.on(messages::id.eq(media_files::message_id)))
        .filter(messages::media_state.eq(MediaState::Stored.as_str()))
        .filter(media_files::blob.eq_any(&blobs))
        .select(media_files::blob)
        .load(c)
        .map_err(map_error)?;
    let uploaded: Vec<String> = uploads::table
        .filter(uploads::blob.eq_any(&blobs))
        .select(uploads::blob)
        .load(c)
        .map_err(map_error)?;
    still_used.extend(uploaded.into_iter().map(Some));
    Ok(blobs
        .into_iter()
        .filter(|b| !still_used.iter().any(|u| u.as_deref() == Some(b.as_str())))
        .collect())
}

/// Records a fetch's outcome on its job and its message.
pub fn finish(c: &mut DbConnection, message: Id, outcome: MediaOutcome) -> Result<()> {
    let now = Timestamp::now().millis();
    let row = media_files::table.find(b(message));
    let updated = match &outcome {
        MediaOutcome::Stored { blob, size, mime_type } => diesel::update(row)
            .set((
                media_files::job.eq(DONE),
                media_files::blob.eq(Some(blob.as_str())),
                media_files::size.eq(Some(*size)),
                media_files::mime_type.eq(mime_type.as_deref()),
                media_files::last_error.eq(None::<String>),
                media_files::updated_at.eq(now),
            ))
            .execute(c),
        MediaOutcome::Retry { at, error } => diesel::update(row)
            .set((
                media_files::job.eq(QUEUED),
                media_files::due_at.eq(at.millis()),
                media_files::last_error.eq(Some(error.as_str())),
                media_files::updated_at.eq(now),
            ))
            .execute(c),
        MediaOutcome::Failed { error } => diesel::update(row)
            .set((
                media_files::job.eq(FAILED),
                media_files::error.eq(Some(error.as_str())),
                media_files::last_error.eq(Some(error.as_str())),
                media_files::updated_at.eq(now),
            ))
            .execute(c),
    }
    .map_err(map_error)?;
    if updated == 0 {
        return Err(Error::NotFound(EntityKind::Message));
    }
    match outcome {
        MediaOutcome::Stored { .. } => set_state(c, message, MediaState::Stored),
        MediaOutcome::Failed { .. } => set_state(c, message, MediaState::Failed),
        MediaOutcome::Retry { .. } => Ok(()),
    }
}
