//! HS256 JSON Web Tokens (envelope's session tokens): the signature checked in constant time
//! against the configured secret, `exp` required and honoured, `nbf` honoured, the lifetime a token
//! claims capped, `sub` returned. Nothing else is trusted.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What Rosetta reads from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub exp: Option<i64>,
}

/// Whether `token` looks like a JWT (three dot-separated parts) rather than an API key.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// The longest a session token may live by default: a token claiming more is refused.
pub const DEFAULT_MAX_LIFETIME_SECS: i64 = 7 * 24 * 3600;

/// Verifies an HS256 token signed with `secret` at `now` (unix seconds). A token without `exp` is
/// refused (it would never expire), and so is one whose lifetime (`exp` minus `iat`, or minus `now`
/// without `iat`) is over `max_lifetime` seconds.
pub fn verify_hs256(token: &str, secret: &[u8], now: i64, max_lifetime: i64) -> Option<Claims> {
    let mut parts = token.split('.');
    let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || secret.is_empty() {
        return None;
    }
    let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header.get("alg")?.as_str()? != "HS256" {
        return None;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(&token.as_bytes()[..token.len() - signature.len() - 1]);
    mac.verify_slice(&URL_SAFE_NO_PAD.decode(signature).ok()?).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let number = |name: &str| claims.get(name).and_then(serde_json::Value::as_f64).map(|n| n as i64);
    let exp = number("exp")?;
    let issued = number("iat").unwrap_or(now).min(now);
    if now >= exp || number("nbf").is_some_and(|nbf| now < nbf) || exp.saturating_sub(issued) > max_lifetime {
        return None;
    }
    Some(Claims {
        sub: claims.get("sub")?.as_str()?.to_owned(),
        exp: Some(exp),
    })
}

/// Signs `claims` (a JSON object) with HS256: for tests and tools.
pub fn sign_hs256(claims: &serde_json::Value, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{header}.{payload}").as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{header}.{payload}.{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signed_tokens_verify_and_tampered_or_expired_ones_do_not() {
        let secret = b"s3cret";
        let token = sign_hs256(&json!({"sub": "user_1", "exp": 2_000}), secret);
        assert!(looks_like_jwt(&token));
        let verify_hs256 = |token: &str, secret: &[u8], now: i64| verify_hs256(token, secret, now, 3_600);
        assert_eq!(
            verify_hs256(&token, secret, 1_000),
            Some(Claims {
                sub: "user_1".into(),
                exp: Some(2_000)
            })
        );
        assert_eq!(verify_hs256(&token, secret, 2_000), None, "expired");
        assert_eq!(verify_hs256(&token, b"other", 1_000), None, "wrong secret");
        assert_eq!(verify_hs256(&token, b"", 1_000), None, "no secret");
        let mut tampered = token.clone();
        tampered.insert(token.find('.').unwrap() + 2, 'x');
        assert_eq!(verify_hs256(&tampered, secret, 1_000), None);
        // alg none is refused.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#)
        );
        assert_eq!(verify_hs256(&none, secret, 1_000), None);
        let not_yet = sign_hs256(&json!({"sub": "u", "nbf": 5_000, "exp": 6_000}), secret);
        assert_eq!(verify_hs256(&not_yet, secret, 1_000), None);
        assert!(verify_hs256(&sign_hs256(&json!({"sub": "u", "exp": 1_001}), secret), secret, 1_000).is_some());
        assert!(!looks_like_jwt("kdv_live_abc"));
    }

    #[test]
    fn tokens_without_exp_or_living_too_long_are_refused() {
        let secret = b"s3cret";
        let forever = sign_hs256(&json!({"sub": "u"}), secret);
        assert_eq!(verify_hs256(&forever, secret, 1_000, 3_600), None, "no exp");
        let non_numeric = sign_hs256(&json!({"sub": "u", "exp": "soon"}), secret);
        assert_eq!(verify_hs256(&non_numeric, secret, 1_000, 3_600), None);
        let long = sign_hs256(&json!({"sub": "u", "exp": 1_000 + 3_601}), secret);
        assert_eq!(verify_hs256(&long, secret, 1_000, 3_600), None, "over the cap from now");
        assert!(
            verify_hs256(&long, secret, 1_000, 3_601).is_some(),
            "the cap is configurable"
        );
        let issued_long_ago = sign_hs256(&json!({"sub": "u", "iat": 0, "exp": 5_000}), secret);
        assert_eq!(
            verify_hs256(&issued_long_ago, secret, 1_000, 3_600),
            None,
            "iat to exp over the cap"
        );
        let fine = sign_hs256(&json!({"sub": "u", "iat": 900, "exp": 4_000}), secret);
        assert!(verify_hs256(&fine, secret, 1_000, 3_600).is_some());
    }
}
