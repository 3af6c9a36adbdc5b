//! Keyset cursors: opaque to clients, tamper-evident (HMAC-SHA256) and bound to the filters they
//! were made with. The key lives in the database, so a cursor made by one instance is good on every
//! instance over the same database.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::CursorError;
use crate::id::Id;

/// The longest cursor Rosetta makes is 86 characters; anything longer is not one, in any dialect.
pub const MAX_CURSOR_LEN: usize = 128;
/// A cursor parameter as every dialect reads it: empty is no cursor; longer than any cursor
/// Rosetta makes is malformed.
pub fn param(raw: Option<String>) -> Result<Option<String>, CursorError> {
    match raw {
        Some(c) if c.is_empty() => Ok(None),
        Some(c) if c.len() > MAX_CURSOR_LEN => Err(CursorError::Malformed),
        other => Ok(other),
    }
}
const VERSION: u8 = 2;
const SCOPE_LEN: usize = 8;
const PAYLOAD_LEN: usize = 1 + SCOPE_LEN + 8 + 16;
const MAC_LEN: usize = 16;

/// Where a page ends: the sort key of its last row and that row's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysetPosition {
    pub sort: i64,
    pub id: Id,
}

/// Signs and checks cursors with one key.
#[derive(Clone)]
pub struct CursorCodec {
    /// The HMAC keyed once (its inner and outer pads hashed): each cursor clones it, two SHA-256
    /// blocks fewer than keying it again.
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec(..)")
    }
}

impl CursorCodec {
    pub fn new(secret: &[u8]) -> Self {
        let key: [u8; 32] = Sha256::digest(secret).into();
        CursorCodec {
            keyed: Hmac::<Sha256>::new_from_slice(&key).expect("any key length"),
        }
    }

    /// A cursor for the position after `position`, in the list described by `fingerprint`.
    pub fn encode(&self, fingerprint: &str, position: KeysetPosition) -> String {
        let mut bytes = Vec::with_capacity(PAYLOAD_LEN + MAC_LEN);
        bytes.push(VERSION);
        bytes.extend_from_slice(&scope(fingerprint));
        bytes.extend_from_slice(&position.sort.to_be_bytes());
        bytes.extend_from_slice(&position.id.to_bytes());
        let mac = self.mac(&bytes);
        bytes.extend_from_slice(&mac);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads a cursor back, refusing anything not made by this key for this very list.
    pub fn decode(&self, fingerprint: &str, cursor: &str) -> Result<KeysetPosition, CursorError> {
        if cursor.len() > MAX_CURSOR_LEN {
            return Err(CursorError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| CursorError::Malformed)?;
        if bytes.len() != PAYLOAD_LEN + MAC_LEN || bytes[0] != VERSION {
            return Err(CursorError::Malformed);
        }
        let (payload, mac) = bytes.split_at(PAYLOAD_LEN);
        if !bool::from(self.mac(payload).ct_eq(mac)) {
            return Err(CursorError::Forged);
        }
        let expected = scope(fingerprint);
        if payload[1..1 + SCOPE_LEN] != expected {
            // The first half names the list's owner (kind and organization): a cursor of another
            // organization's list is told apart from one made for other filters.
            return Err(if payload[1..1 + SCOPE_LEN / 2] != expected[..SCOPE_LEN / 2] {
                CursorError::OtherOrganization
            } else {
                CursorError::FilterMismatch
            });
        }
        let sort = i64::from_be_bytes(payload[1 + SCOPE_LEN..1 + SCOPE_LEN + 8].try_into().expect("8 bytes"));
        let id = Id::from_slice(&payload[1 + SCOPE_LEN + 8..]).ok_or(CursorError::Malformed)?;
        Ok(KeysetPosition { sort, id })
    }

    fn mac(&self, payload: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = self.keyed.clone();
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        full[..MAC_LEN].try_into().expect("16 bytes")
    }
}

/// 4 bytes of the list's owner (a fingerprint's first two fields: kind and organization), then 4
/// of the whole fingerprint.
fn scope(fingerprint: &str) -> [u8; SCOPE_LEN] {
    let owner_end = fingerprint
        .match_indices('|')
        .nth(1)
        .map_or(fingerprint.len(), |(i, _)| i);
    let mut out = [0u8; SCOPE_LEN];
    out[..SCOPE_LEN / 2].copy_from_slice(&Sha256::digest(&fingerprint.as_bytes()[..owner_end])[..SCOPE_LEN / 2]);
    out[SCOPE_LEN / 2..].copy_from_slice(&Sha256::digest(fingerprint.as_bytes())[..SCOPE_LEN / 2]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let codec = CursorCodec::new(b"secret one");
        let pos = KeysetPosition {
            sort: 1_751_384_640_000,
            id: Id::new(),
        };
        let cursor = codec.encode("list A", pos);
        assert_eq!(codec.decode("list A", &cursor), Ok(pos));
        // Another instance with the same key reads it.
        assert_eq!(CursorCodec::new(b"secret one").decode("list A", &cursor), Ok(pos));
        // Other filters.
        let list = codec.encode("conversations|org|open", pos);
        assert_eq!(
            codec.decode("conversations|org|closed", &list),
            Err(CursorError::FilterMismatch)
        );
        // Another organization's list.
        let org_a = codec.encode("conversations|org-a|*", pos);
        assert_eq!(
            codec.decode("conversations|org-a|open", &org_a),
            Err(CursorError::FilterMismatch)
        );
        assert_eq!(
            codec.decode("conversations|org-b|*", &org_a),
            Err(CursorError::OtherOrganization)
        );
        // Another key.
        assert_eq!(
            CursorCodec::new(b"secret two").decode("list A", &cursor),
            Err(CursorError::Forged)
        );
        // Any flipped byte.
        let mut raw = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        for i in 0..raw.len() {
            raw[i] ^= 1;
            let tampered = URL_SAFE_NO_PAD.encode(&raw);
            assert!(codec.decode("list A", &tampered).is_err(), "byte {i}");
            raw[i] ^= 1;
        }
        for junk in ["", "abc", "eyJpZCI6MX0", "!!!!", &"A".repeat(500)] {
            assert_eq!(codec.decode("list A", junk), Err(CursorError::Malformed), "{junk}");
        }
    }

    #[test]
    fn negative_sort_keys_survive() {
        let codec = CursorCodec::new(b"k");
        let pos = KeysetPosition {
            sort: -1,
            id: Id::new(),
        };
        assert_eq!(codec.decode("x", &codec.encode("x", pos)), Ok(pos));
    }
}
