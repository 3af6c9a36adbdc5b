//! Received media, between the store and the fetcher: a durable fetch job per media message
//! (written in the transaction that stores the message), what a fetch came to, and the size limits.

use crate::id::Id;
use crate::model::ContentType;
use crate::time::Timestamp;

/// A claimed fetch job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaJob {
    pub message_id: Id,
    pub org_id: Id,
    pub account_id: Id,
    pub content_type: ContentType,
    /// Meta's media id.
    pub media_id: String,
    /// The checksum Meta declared (base64 or hex of the sha256), when it sent one.
    pub declared_sha256: Option<String>,
    pub mime_type: Option<String>,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

/// What came of a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaOutcome {
    /// In the blob store under its sha256 (hex).
    Stored {
        blob: String,
        size: i64,
        mime_type: Option<String>,
    },
    /// Try again at `at` (a network error, a 5xx, an expired URL).
    Retry { at: Timestamp, error: String },
    /// For good (404, checksum mismatch, too large): the message shows it failed, and why.
    Failed { error: String },
}

/// Meta's documented maxima for received media, by type.
pub fn max_bytes(content_type: ContentType) -> u64 {
    const MB: u64 = 1024 * 1024;
    match content_type {
        ContentType::Image => 5 * MB,
        ContentType::Audio | ContentType::Video => 16 * MB,
        ContentType::Sticker => 500 * 1024,
        _ => 100 * MB,
    }
}

/// Attempts before a fetch fails for good.
pub const MAX_ATTEMPTS: u32 = 8;
