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

/// Signed, short-lived links to a message's file (`/media/{token}`): the message id and an expiry,
/// authenticated with HMAC-SHA256 under a key kept in the database, so every instance accepts the
/// links of every other. Only what the link names can be fetched with it, until it expires.
#[derive(Clone)]
pub struct MediaLinks {
    key: [u8; 32],
}

impl std::fmt::Debug for MediaLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaLinks(..)")
    }
}

/// Why a link is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("not a media link")]
    Malformed,
    #[error("the link's signature does not match")]
    Forged,
    #[error("the link has expired")]
    Expired,
}

/// How long a media link is good for.
pub const LINK_LIFETIME_SECS: i64 = 3600;

const MAC_LEN: usize = 16;

impl MediaLinks {
    /// Links under a key derived from `secret` (the database's signing secret), apart from
    /// cursors signed with the same secret.
    pub fn new(secret: &[u8]) -> MediaLinks {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        hash.update(b"rosetta media links\0");
        hash.update(secret);
        MediaLinks {
            key: hash.finalize().into(),
        }
    }

    fn mac(&self, payload: &[u8]) -> [u8; MAC_LEN] {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// A link token for `message`'s file, good until `expires_at` (Unix seconds).
    pub fn sign(&self, message: Id, expires_at: i64) -> String {
        use base64::Engine;
        let mut bytes = Vec::with_capacity(16 + 8 + MAC_LEN);
        bytes.extend_from_slice(&message.to_bytes());
        bytes.extend_from_slice(&expires_at.to_be_bytes());
        let mac = self.mac(&bytes);
        bytes.extend_from_slice(&mac);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The message a token names, if it is authentic and not expired at `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: i64) -> Result<Id, LinkError> {
        use base64::Engine;
        use subtle::ConstantTimeEq;
        if token.len() > 64 {
            return Err(LinkError::Malformed);
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| LinkError::Malformed)?;
        if bytes.len() != 16 + 8 + MAC_LEN {
            return Err(LinkError::Malformed);
        }
        let (payload, mac) = bytes.split_at(24);
        if !bool::from(self.mac(payload).ct_eq(mac)) {
            return Err(LinkError::Forged);
        }
        let expires = i64::from_be_bytes(payload[16..24].try_into().expect("8 bytes"));
        if expires < now {
            return Err(LinkError::Expired);
        }
        let id: [u8; 16] = payload[..16].try_into().map_err(|_| LinkError::Malformed)?;
        Ok(Id::from_bytes(id))
    }
}

/// A message's file as the media route serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFileInfo {
    pub org_id: Id,
    pub state: crate::model::MediaState,
    pub content_type: ContentType,
    /// The blob's sha256 (hex), once stored.
    pub blob: Option<String>,
    pub size: Option<i64>,
    pub mime_type: Option<String>,
    /// A document's filename.
    pub filename: Option<String>,
    /// Why the fetch failed.
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_only_untampered_and_unexpired() {
        let links = MediaLinks::new(b"secret");
        let message = Id::new();
        let token = links.sign(message, 1_000);
        assert_eq!(links.verify(&token, 999), Ok(message));
        assert_eq!(links.verify(&token, 1_001), Err(LinkError::Expired));
        assert_eq!(MediaLinks::new(b"other").verify(&token, 999), Err(LinkError::Forged));
        let mut tampered = token.clone().into_bytes();
        tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
        assert!(links.verify(std::str::from_utf8(&tampered).unwrap(), 999).is_err());
        assert_eq!(links.verify("nope", 0), Err(LinkError::Malformed));
    }
}

/// The largest file a client may upload to send (Meta's largest, a document's).
pub const MAX_UPLOAD_BYTES: u64 = 100 * 1024 * 1024;

/// How long Rosetta reuses Meta's id for a file it uploaded (Meta keeps an uploaded file 30 days;
/// a day's margin).
pub const META_UPLOAD_REUSE_MILLIS: i64 = 29 * 24 * 3600 * 1000;

/// A file received from a client, kept in the blob store, to be uploaded as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpload {
    /// The WhatsApp number it was uploaded for (kirim's path names one).
    pub account_id: Option<Id>,
    /// Its sha256 (hex): its address in the blob store.
    pub sha256: String,
    pub size: i64,
    pub mime_type: String,
    pub filename: Option<String>,
}

/// A file a client uploaded to send by id: Rosetta's id for it, scoped to its organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: Id,
    pub org_id: Id,
    pub account_id: Option<Id>,
    pub sha256: String,
    pub size: i64,
    pub mime_type: String,
    pub filename: Option<String>,
    pub created_at: Timestamp,
}

/// The file a claimed send carries (a send of an uploaded file): the dispatcher uploads it to Meta
/// unless `media_id` (Meta's id for it through this account, still fresh) is known, and sends by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFile {
    /// The upload it came from (pruned uploads leave `None`: the message's own copy is sent).
    pub upload_id: Option<Id>,
    pub blob: String,
    pub mime_type: String,
    pub filename: String,
    pub media_id: Option<String>,
}
