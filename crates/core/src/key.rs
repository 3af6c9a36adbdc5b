//! API keys: generated here, shown once, stored only as a SHA-256 hash (design.md, "Authentication").

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every scope a key can carry. A key made without `--scopes` gets all of them.
pub const ALL_SCOPES: [&str; 8] = [
    "conversations:read",
    "conversations:write",
    "messages:read",
    "messages:send",
    "contacts:read",
    "contacts:write",
    "webhooks:manage",
    "accounts:read",
];

/// Which dialect's spelling a key's secret follows. Any key works in every dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyStyle {
    /// `wacrm_live_` + 43 base64url characters (32 random bytes).
    Wacrm,
    /// `kdv_live_` + 24 base64url characters (18 random bytes).
    Kirim,
    /// `env_live_` + 43 base64url characters (32 random bytes).
    Envelope,
}

impl KeyStyle {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStyle::Wacrm => "wacrm",
            KeyStyle::Kirim => "kirim",
            KeyStyle::Envelope => "envelope",
        }
    }

    fn prefix_and_bytes(self) -> (&'static str, usize) {
        match self {
            KeyStyle::Wacrm => ("wacrm_live_", 32),
            KeyStyle::Kirim => ("kdv_live_", 18),
            KeyStyle::Envelope => ("env_live_", 32),
        }
    }

    /// A new random secret in this style.
    pub fn generate_secret(self) -> String {
        let (prefix, len) = self.prefix_and_bytes();
        let mut bytes = vec![0u8; len];
        rand::rng().fill_bytes(&mut bytes);
        format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
    }
}

impl fmt::Display for KeyStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyStyle {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "wacrm" => Ok(KeyStyle::Wacrm),
            "kirim" => Ok(KeyStyle::Kirim),
            "envelope" => Ok(KeyStyle::Envelope),
            _ => Err(format!("unknown key style {s:?} (expected wacrm, kirim or envelope)")),
        }
    }
}

/// The stored form of a secret.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Checks a requested scope list: known scopes, no duplicates kept. `None` means every scope.
pub fn parse_scopes(list: Option<&str>) -> Result<Vec<String>, String> {
    let Some(list) = list else {
        return Ok(ALL_SCOPES.iter().map(|s| (*s).to_owned()).collect());
    };
    let mut scopes: Vec<String> = Vec::new();
    for scope in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !ALL_SCOPES.contains(&scope) {
            return Err(format!("unknown scope {scope:?} (known: {})", ALL_SCOPES.join(", ")));
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    if scopes.is_empty() {
        return Err("--scopes names no scope".to_owned());
    }
    Ok(scopes)
}

/// Compares two hashes in constant time.
pub fn hashes_equal(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_follow_their_style() {
        let w = KeyStyle::Wacrm.generate_secret();
        assert!(
            w.starts_with("wacrm_live_") && w.len() == "wacrm_live_".len() + 43,
            "{w}"
        );
        let k = KeyStyle::Kirim.generate_secret();
        assert!(k.starts_with("kdv_live_") && k.len() == "kdv_live_".len() + 24, "{k}");
        assert_ne!(KeyStyle::Wacrm.generate_secret(), w);
        assert_eq!(hash_secret(&w), hash_secret(&w.clone()));
    }

    #[test]
    fn scopes() {
        assert_eq!(parse_scopes(None).unwrap().len(), ALL_SCOPES.len());
        assert_eq!(
            parse_scopes(Some("messages:read, conversations:read,messages:read")).unwrap(),
            vec!["messages:read", "conversations:read"]
        );
        assert!(parse_scopes(Some("conversations:delete")).is_err());
        assert!(parse_scopes(Some(",")).is_err());
    }
}
