//! The one signer of events out: HMAC-SHA256 in hex, and the stamped form the products put in their
//! signature headers (`t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, each v1 the HMAC of `"<t>.<raw
//! body>"` under one live secret). Each dialect picks its header and form; none signs by itself.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `hex(HMAC-SHA256(key, message))`, the message given in parts.
pub fn hmac_sha256_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// `t=<t>,v1=<hex>` with one `v1` per secret (a rotation signs with every live secret), each the
/// HMAC of `"<t>.<body>"` under the whole secret string.
pub fn stamped(secrets: &[&str], t: i64, body: &[u8]) -> String {
    let stamp = t.to_string();
    let mut header = format!("t={stamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&hmac_sha256_hex(secret.as_bytes(), &[stamp.as_bytes(), b".", body]));
    }
    header
}

/// A body signed as a whole: `hex(HMAC-SHA256(secret, body))`.
pub fn plain(secret: &str, body: &[u8]) -> String {
    hmac_sha256_hex(secret.as_bytes(), &[body])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231, test case 2.
    #[test]
    fn hmac_matches_the_rfc() {
        assert_eq!(
            hmac_sha256_hex(b"Jefe", &[b"what do ya want ", b"for nothing?"]),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn stamped_signs_with_every_secret() {
        let header = stamped(&["whsec_a", "whsec_b"], 1_700_000_000, b"{}");
        let parts: Vec<&str> = header.split(',').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "t=1700000000");
        assert_eq!(
            parts[1],
            format!("v1={}", hmac_sha256_hex(b"whsec_a", &[b"1700000000.{}"]))
        );
        assert_ne!(parts[1], parts[2]);
    }
}
