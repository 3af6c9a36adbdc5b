//! Received media: every photo, voice note and document a customer sends is fetched from Meta as
//! it arrives (Meta's own link expires minutes after it is handed out and needs the account's
//! token) and kept in the blob store.
//!
//! - `blobs`: the blob store, content-addressed by sha256, so one file sent twice is kept once; a
//!   local directory (by default beside the SQLite file). A file enters it only whole and checked:
//!   it is written to a temporary file and renamed into place.
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
