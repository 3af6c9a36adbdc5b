//! Idempotency keys (kirim's `Idempotency-Key` on POST): the first response to a key is kept per
//! organization and replayed for the same request; the store holds them, so every instance over
//! one database agrees.

use sha2::{Digest, Sha256};

/// How long a completed key is replayed.
pub const RETENTION_MILLIS: i64 = 24 * 60 * 60 * 1000;
/// A key claimed this long ago and never completed belongs to a request that died with its
/// process: the next request with it may take it over.
pub const ABANDONED_AFTER_MILLIS: i64 = 60 * 1000;
/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// A request's `Idempotency-Key` and what it is bound to (`request_fingerprint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    pub key: String,
    pub fingerprint: String,
}

/// A response as it was first sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is new (or expired, or abandoned): this request runs and must complete or release it.
    Claimed,
    /// The same request already ran: send this again.
    Replay(StoredResponse),
    /// The same key is held by a request still running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// The fingerprint of a request a key is bound to: method, path and body. A JSON body is compared
/// by value (whitespace and key order do not matter); anything else byte for byte.
pub fn request_fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_bytes());
    hash.update([0]);
    hash.update(path.as_bytes());
    hash.update([0]);
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => hash.update(value.to_string().as_bytes()),
        Err(_) => hash.update(body),
    }
    let digest = hash.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_compare_by_value() {
        let a = request_fingerprint("POST", "/v1/1/contacts", br#"{"a":1,"b":"x"}"#);
        let b = request_fingerprint("POST", "/v1/1/contacts", b" { \"b\": \"x\", \"a\": 1 } ");
        let c = request_fingerprint("POST", "/v1/1/contacts", br#"{"a":2,"b":"x"}"#);
        let d = request_fingerprint("POST", "/v1/2/contacts", br#"{"a":1,"b":"x"}"#);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_eq!(a.len(), 64);
    }
}
