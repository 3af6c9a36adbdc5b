//! Files clients upload to send (`uploads`, migration 9): Rosetta's id for a file already in the
//! blob store, scoped to its organization; the send of one (its message's own file, `media_files`,
//! written with the message); the claimed job's file; and Meta's id for it once uploaded there.

use diesel::prelude::*;
use rosetta_core::media::{JobFile, NewUpload, Upload, META_UPLOAD_REUSE_MILLIS};
use rosetta_core::*;

use crate::db::{map_error, DbConnection};
use crate::rows::*;
use crate::schema::*;
use crate::sql::BlobIn;

type UploadRow = (
    Vec<u8>,
    Vec<u8>,
    Option<Vec<u8>>,
    String,
    i64,
    String,
    Option<String>,
    i64,
);

fn upload(row: UploadRow) -> Result<Upload> {
    let (upload_id, org, account, sha256, size, mime_type, filename, created_at) = row;
    Ok(Upload {
        id: id(&upload_id)?,
        org_id: id(&org)?,
        account_id: account.as_deref().map(id).transpose()?,
        sha256,
        size,
        mime_type,
        filename,
        created_at: Timestamp(created_at),
    })
}

/// `Store::create_upload`.
pub fn create(c: &mut DbConnection, org: Id, new: NewUpload) -> Result<Upload> {
    if let Some(account) = new.account_id {
        crate::directory::load_account(c, org, account)?;
    }
    let (upload_id, now) = (Id::new(), Timestamp::now());
    diesel::insert_into(uploads::table)
        .values((
            uploads::id.eq(b(upload_id)),
            uploads::org_id.eq(b(org)),
            uploads::account_id.eq(new.account_id.map(b)),
            uploads::blob.eq(&new.sha256),
            uploads::size.eq(new.size),
            uploads::mime_type.eq(&new.mime_type),
            uploads::filename.eq(&new.filename),
            uploads::created_at.eq(now.millis()),
        ))
        .execute(c)
        .map_err(map_error)?;
    Ok(Upload {
        id: upload_id,
        org_id: org,
        account_id: new.account_id,
        sha256: new.sha256,
        size: new.size,
        mime_type: new.mime_type,
        filename: new.filename,
        created_at: now,
    })
}

/// An upload of `org`'s: another organization's (or a pruned one) is `NotFound`.
pub fn load(c: &mut DbConnection, org: Id, upload_id: Id) -> Result<Upload> {
    let row: Option<UploadRow> = uploads::table
        .filter(uploads::id.eq(b(upload_id)))
        .filter(uploads::org_id.eq(b(org)))
        .select((
            uploads::id,
            uploads::org_id,
            uploads::account_id,
            uploads::blob,
            uploads::size,
            uploads::mime_type,
            uploads::filename,
            uploads::created_at,
        ))
        .first(c)
        .optional()
        .map_err(map_error)?;
    upload(row.ok_or(Error::NotFound(EntityKind::Media))?)
}

/// A send of `upload` as a `kind` message: within Meta's limit for the type.
pub fn check_for(upload: &Upload, kind: ContentType) -> Result<()> {
    let max = rosetta_core::media::max_bytes(kind);
    if upload.size as u64 > max {
        return Err(Error::invalid(
            "id",
            format!(
                "the uploaded file is {} bytes, over Meta's {max}-byte limit for {} messages",
                upload.size,
                kind.as_str()
            ),
        ));
    }
    Ok(())
}

/// The message's own file: the upload's blob, kept (so it is served like a received one) from the
/// moment the message is.
pub fn attach(c: &mut DbConnection, org: Id, account: Id, message: Id, upload: &Upload) -> Result<()> {
    let now = Timestamp::now().millis();
    diesel::insert_into(media_files::table)
        .values((
            media_files::message_id.eq(b(message)),
            media_files::org_id.eq(b(org)),
            media_files::account_id.eq(b(account)),
            // Meta's id, once the dispatcher uploaded it.
            media_files::media_id.eq(""),
            media_files::mime_type.eq(Some(upload.mime_type.as_str())),
            media_files::blob.eq(Some(upload.sha256.as_str())),
            media_files::size.eq(Some(upload.size)),
            media_files::job.eq(crate::media::DONE),
            media_files::attempts.eq(0),
            media_files::due_at.eq(now),
            media_files::created_at.eq(now),
            media_files::updated_at.eq(now),
        ))
        .execute(c)
        .map_err(map_error)?;
    diesel::update(messages::table.find(b(message)))
        .set(messages::media_state.eq(Some(MediaState::Stored.as_str())))
        .execute(c)
        .map(|_| ())
        .map_err(map_error)
}

/// The files of claimed jobs that send one (`messages` are those jobs' messages), by message:
/// Meta's id when the message's file has one, or its upload has a fresh one for this account.
pub fn job_files(
    c: &mut DbConnection,
    messages: &[Vec<u8>],
    now: Timestamp,
) -> Result<std::collections::HashMap<Id, JobFile>> {
    type Row = (
        Vec<u8>,
        Vec<u8>,
        Option<Vec<u8>>,
        Option<String>,
        Option<String>,
        String,
        Option<String>,
        String,
        Option<Vec<u8>>,
        Option<String>,
        Option<i64>,
    );
    if messages.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<Row> = crate::per_backend!(c, |conn| dispatch_jobs::table
        .inner_join(media_files::table.on(media_files::message_id.eq(dispatch_jobs::message_id)))
        .inner_join(messages::table.on(messages::id.eq(dispatch_jobs::message_id)))
        .left_join(uploads::table.on(uploads::id.nullable().eq(dispatch_jobs::upload_id)))
        .filter(BlobIn::new(dispatch_jobs::message_id, messages))
        .filter(dispatch_jobs::upload_id.is_not_null())
        .select((
            dispatch_jobs::message_id,
            dispatch_jobs::account_id,
            dispatch_jobs::upload_id,
            media_files::blob,
            media_files::mime_type,
            media_files::media_id,
            messages::filename,
            messages::content_type,
            uploads::meta_account_id.nullable(),
            uploads::meta_media_id.nullable(),
            uploads::meta_uploaded_at.nullable(),
        ))
        .load(conn))
    .map_err(map_error)?;
    let mut files = std::collections::HashMap::new();
    for (message, account, upload_id, blob, mime_type, media_id, filename, kind, meta_account, meta_id, meta_at) in rows
    {
        let message = id(&message)?;
        let blob = blob.ok_or_else(|| corrupt("media_files.blob", "null on a sent file"))?;
        let reusable = meta_id.filter(|_| {
            meta_account.as_deref() == Some(account.as_slice())
                && meta_at.is_some_and(|at| at > now.millis() - META_UPLOAD_REUSE_MILLIS)
        });
        let media_id = Some(media_id).filter(|m| !m.is_empty()).or(reusable);
        let mime_type = mime_type.unwrap_or_else(|| "application/octet-stream".into());
        // A file needs a name for Meta's upload: the message's id, the type's usual ending.
        let filename = filename.unwrap_or_else(|| {
            let ending: String = mime_type
                .split(['/', ';', '+'])
                .nth(1)
                .unwrap_or(kind.as_str())
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            format!("{}.{ending}", message.render(EntityKind::Message, Spelling::Uuid))
        });
        files.insert(
            message,
            JobFile {
                upload_id: upload_id.as_deref().map(id).transpose()?,
                mime_type,
                filename,
                blob,
                media_id,
            },
        );
    }
    Ok(files)
}

/// `Store::remember_meta_media`.
pub fn remember(c: &mut DbConnection, message: Id, upload_id: Option<Id>, account: Id, media_id: &str) -> Result<()> {
    diesel::update(media_files::table.find(b(message)))
        .set(media_files::media_id.eq(media_id))
        .execute(c)
        .map_err(map_error)?;
    if let Some(upload_id) = upload_id {
        diesel::update(uploads::table.find(b(upload_id)))
            .set((
                uploads::meta_account_id.eq(Some(b(account))),
                uploads::meta_media_id.eq(Some(media_id)),
                uploads::meta_uploaded_at.eq(Some(Timestamp::now().millis())),
            ))
            .execute(c)
            .map_err(map_error)?;
    }
    Ok(())
}

/// Retention for uploads: those made before `before` go (a send already made keeps its message's own
/// file); their blobs, for the caller to check are unused.
pub fn prune(c: &mut DbConnection, before: Timestamp, limit: u32) -> Result<(usize, Vec<String>)> {
    let old: Vec<(Vec<u8>, String)> = uploads::table
        .filter(uploads::created_at.lt(before.millis()))
        .select((uploads::id, uploads::blob))
        .limit(i64::from(limit))
        .load(c)
        .map_err(map_error)?;
    if old.is_empty() {
        return Ok((0, Vec::new()));
    }
    let ids: Vec<Vec<u8>> = old.iter().map(|(i, _)| i.clone()).collect();
    crate::per_backend!(c, |conn| diesel::delete(
        uploads::table.filter(BlobIn::new(uploads::id, &ids))
    )
    .execute(conn))
    .map_err(map_error)?;
    Ok((old.len(), old.into_iter().map(|(_, blob)| blob).collect()))
}
