//! Received media: every photo, voice note and document a customer sends is fetched from Meta as
//! it arrives (Meta's own link expires minutes after it is handed out and needs the account's
//! token) and kept in the blob store.
//!
//! - `blobs`: the blob store, content-addressed by sha256, so one file sent twice is kept once; a
//!   local directory (by default beside the SQLite file) or an S3-compatible bucket. A file enters
//!   it only whole and checked: it is written to a temporary file, then renamed into place or
//!   uploaded.
//! - `fetch`: the worker. It claims the store's durable fetch jobs (queued with each media message,
//!   in its transaction), asks Meta for a fresh URL on every attempt, streams the download (never
//!   the whole file in memory) within Meta's size limit for the type, checks it against the
//!   `sha256` Meta declared, and records stored, retry (network errors, 5xx, an expired URL, a cut
//!   download; with backoff, at most `media::MAX_ATTEMPTS` times) or failed (the media id is gone,
//!   too large, checksum mismatch), on the message, never silently. A worker that dies mid-download
//!   leaves its claim to run out; the job is then fetched again from the start.

pub mod blobs;
pub mod fetch;
pub mod serve;
pub mod upload;

/// Retention: marks every kept file received before `before` pruned and deletes the blobs no kept
/// file uses any more; `(files pruned, blobs deleted)`. Safe to run on several instances at once.
pub async fn prune(
    store: std::sync::Arc<dyn rosetta_core::Store>,
    blobs: &blobs::Blobs,
    before: rosetta_core::Timestamp,
) -> Result<(usize, usize), rosetta_core::Error> {
    let (mut files, mut deleted) = (0, 0);
    loop {
        let s = store.clone();
        let (n, unused) = tokio::task::spawn_blocking(move || s.prune_media(before, 500))
            .await
            .map_err(|e| rosetta_core::Error::Internal(format!("blocking task failed: {e}")))??;
        for blob in &unused {
            blobs
                .remove(blob)
                .await
                .map_err(|e| rosetta_core::Error::Internal(format!("cannot delete blob {blob}: {e}")))?;
        }
        deleted += unused.len();
        files += n;
        if n == 0 {
            return Ok((files, deleted));
        }
    }
}
