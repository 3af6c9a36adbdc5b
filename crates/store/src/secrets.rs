//! Secrets at rest: WhatsApp access tokens are sealed with XChaCha20-Poly1305 (RustCrypto's
//! `chacha20poly1305`) under a key that is never in the database:
//! - `ROSETTA_SECRET_KEY` (64 hex characters, or 32 bytes in base64), which every instance over one
//!   PostgreSQL database must share; or
//! - for SQLite without it, a key file beside the database (`<file>.secret-key`), made with mode
//!   0600 on first open. Back it up with the database: without it the tokens cannot be read.
//!
//! A sealed value is `1 || nonce (24) || ciphertext+tag`, bound to its row by the associated data
//! (the account's id), so a ciphertext copied onto another account does not open.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use rosetta_core::{Error, Id};

/// The environment variable that holds the key.
pub const SECRET_KEY_ENV: &str = "ROSETTA_SECRET_KEY";
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// The key tokens are sealed with. Its `Debug` never shows it.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

impl SecretKey {
    /// A new random key.
    pub fn generate() -> SecretKey {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        SecretKey(key)
    }

    /// 64 hex characters, or 32 bytes in (standard or URL-safe) base64.
    pub fn parse(text: &str) -> Result<SecretKey, String> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|e| e.to_string())?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
                .map_err(|_| format!("{SECRET_KEY_ENV} must be 64 hex characters or 32 bytes in base64"))?
        };
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("{SECRET_KEY_ENV} must be 32 bytes (64 hex characters)"))?;
        Ok(SecretKey(key))
    }

    /// The key in `ROSETTA_SECRET_KEY`, if it is set.
    pub fn from_env() -> Result<Option<SecretKey>, String> {
        match std::env::var(SECRET_KEY_ENV) {
            Ok(text) if !text.trim().is_empty() => SecretKey::parse(&text).map(Some),
            _ => Ok(None),
        }
    }

    /// The key file of a SQLite database: `<file>.secret-key` beside it.
    pub fn file_beside(database: &Path) -> PathBuf {
        let mut name = database.as_os_str().to_owned();
        name.push(".secret-key");
        PathBuf::from(name)
    }

    /// Reads the key file at `path`, or makes it (mode 0600) with a new key if there is none.
    pub fn load_or_create(path: &Path) -> Result<SecretKey, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => SecretKey::parse(&text).map_err(|e| format!("key file {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SecretKey::generate();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                match options.open(path) {
                    Ok(mut file) => {
                        file.write_all(format!("{}\n", hex::encode(key.0)).as_bytes())
                            .and_then(|_| file.sync_all())
                            .map_err(|e| format!("cannot write key file {}: {e}", path.display()))?;
                        Ok(key)
                    }
                    // Another process made it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => SecretKey::load_or_create(path),
                    Err(e) => Err(format!("cannot create key file {}: {e}", path.display())),
                }
            }
            Err(e) => Err(format!("cannot read key file {}: {e}", path.display())),
        }
    }

    /// Seals `plaintext` for the row `owner`.
    pub fn seal(&self, owner: Id, plaintext: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = owner.to_bytes();
        let sealed = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 seals any length a token has");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what `seal` made for `owner`. Another key, another row or a damaged value is an error
    /// that says which, never a wrong token.
    pub fn open(&self, owner: Id, sealed: &[u8]) -> Result<String, Error> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(Error::Internal("a sealed secret is damaged".into()));
        }
        let (nonce, ciphertext) = sealed[1..].split_at(NONCE_LEN);
        let aad = owner.to_bytes();
        let plain = self
            .cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                Error::Internal(format!(
                    "a stored access token does not open with this secret key ({SECRET_KEY_ENV} or the key file changed?)"
                ))
            })?;
        String::from_utf8(plain).map_err(|_| Error::Internal("a sealed secret is not text".into()))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.0).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_tokens_open_only_with_their_key_and_row() {
        let key = SecretKey::generate();
        let (a, b) = (Id::new(), Id::new());
        let sealed = key.seal(a, "EAAG-token");
        assert!(!sealed.windows(10).any(|w| w == b"EAAG-token"), "not in clear");
        assert_ne!(sealed, key.seal(a, "EAAG-token"), "a fresh nonce each time");
        assert_eq!(key.open(a, &sealed).unwrap(), "EAAG-token");
        assert!(key.open(b, &sealed).is_err(), "bound to its row");
        assert!(SecretKey::generate().open(a, &sealed).is_err(), "another key");
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(key.open(a, &damaged).is_err());
        assert_eq!(format!("{key:?}"), "SecretKey(***)");
    }

    #[test]
    fn keys_parse_from_hex_or_base64_and_files_are_private() {
        let hex_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        assert!(SecretKey::parse(hex_key).is_ok());
        assert!(SecretKey::parse(&base64::engine::general_purpose::STANDARD.encode([7u8; 32])).is_ok());
        assert!(SecretKey::parse("short").is_err());
        let dir = std::env::temp_dir().join(format!("rosetta-key-{}", Id::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = SecretKey::file_beside(&dir.join("r.db"));
        assert!(path.ends_with("r.db.secret-key"));
        let made = SecretKey::load_or_create(&path).unwrap();
        let again = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(made.0, again.0, "made once, then read");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
