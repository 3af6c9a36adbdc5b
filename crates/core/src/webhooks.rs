//! Webhook subscriptions: an organization's endpoints that receive its events, each in one dialect's
//! bodies and signature. What a subscription is, the rules its URL and events follow, and its secret.

use crate::error::Error;
use crate::id::Id;
use crate::status::Dialect;
use crate::time::Timestamp;

/// The longest endpoint URL accepted.
pub const MAX_URL_CHARS: usize = 2048;

/// A subscription as made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub dialect: Dialect,
    pub url: String,
    /// The dialect's event names (checked by the dialect).
    pub events: Vec<String>,
    pub description: Option<String>,
    /// Made disabled when false.
    pub is_active: bool,
}

/// A subscription (its secrets are never part of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: Id,
    pub org_id: Id,
    pub dialect: Dialect,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub is_active: bool,
    /// Consecutive failed deliveries (a success resets it; re-enabling too).
    pub failure_count: i64,
    pub last_delivery_at: Option<Timestamp>,
    /// What may be shown of its signing secrets (never the secrets themselves).
    pub secrets: Vec<SecretInfo>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One signing secret, as it may be shown: every unexpired one signs each delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    pub id: Id,
    pub created_at: Timestamp,
    /// When a rotation retires it; `None` while it is the newest.
    pub expires_at: Option<Timestamp>,
}

/// A subscription just made, with its secret: shown this once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedWebhook {
    pub webhook: Webhook,
    pub secret: String,
}

/// What a change sets (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    /// Re-enabling resets `failure_count`.
    pub is_active: Option<bool>,
}

/// Rotation: a new secret (shown once) and the webhook, whose older secrets now expire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatedSecret {
    pub webhook: Webhook,
    pub secret: String,
}

/// A new signing secret: `whsec_` and 32 random bytes in URL-safe base64.
pub fn new_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Whether `ip` is an address a webhook may not reach unless private targets are allowed: loopback,
/// private, link-local, unspecified, broadcast, documentation, shared (CGNAT), unique-local, multicast.
pub fn is_private(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// An endpoint URL's rules: `https://` (plain `http://` only where private targets are allowed, as
/// for local development), a host, at most 2048 characters, and, unless private targets are
/// allowed, no loopback, private or link-local address nor `localhost` (names are checked again
/// after DNS resolution when delivering). The host, as written.
pub fn check_url(url: &str, allow_private: bool) -> Result<String, Error> {
    let bad = |why: &str| Error::invalid("url", why.to_owned());
    if url.chars().count() > MAX_URL_CHARS || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("url must be an https URL of at most 2048 characters"));
    }
    let rest = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => rest,
        (None, Some(rest)) if allow_private => rest,
        _ => return Err(bad("url must be an https URL")),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(bad("url must not carry credentials"));
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default().to_owned()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h).to_owned()
    };
    if host.is_empty() {
        return Err(bad("url must name a host"));
    }
    if !allow_private {
        let lower = host.to_ascii_lowercase();
        let private = lower == "localhost"
            || lower.ends_with(".localhost")
            || host.parse::<std::net::IpAddr>().is_ok_and(is_private);
        if private {
            return Err(bad("url must not point at a private, loopback or link-local address"));
        }
    }
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_rules() {
        assert_eq!(
            check_url("https://hooks.example.com/in?x=1", false).unwrap(),
            "hooks.example.com"
        );
        assert_eq!(
            check_url("https://hooks.example.com:8443/in", false).unwrap(),
            "hooks.example.com"
        );
        for refused in [
            "http://hooks.example.com/in",
            "ftp://hooks.example.com",
            "https://",
            "https://user:pw@hooks.example.com/",
            "https://127.0.0.1/in",
            "https://localhost:9000/in",
            "https://10.1.2.3/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/in",
            "https://[fd00::1]/in",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://hooks.example.com/a b",
        ] {
            assert!(check_url(refused, false).is_err(), "{refused}");
        }
        assert!(check_url("http://127.0.0.1:9000/in", true).is_ok());
        assert!(check_url("https://[::1]:9000/in", true).is_ok());
    }

    #[test]
    fn secrets_are_whsec_and_random() {
        let (a, b) = (new_secret(), new_secret());
        assert!(a.starts_with("whsec_") && a.len() == 6 + 43);
        assert_ne!(a, b);
    }
}
