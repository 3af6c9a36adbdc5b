//! A WhatsApp account's access token (a Graph API bearer token). It is a secret: its `Debug` shows
//! only that it is one, it has no `Display`, and the text is reached only through `expose`, at the
//! one place that sends it to Meta. The store keeps it encrypted.

use crate::error::Error;

/// The longest token accepted. Meta's tokens are a few hundred characters.
pub const MAX_TOKEN_LEN: usize = 4096;

#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// A token as an operator pasted it: surrounding whitespace is dropped; empty, too long, or
    /// holding whitespace or control characters inside is refused (the refusal never repeats it).
    pub fn new(raw: &str) -> Result<AccessToken, Error> {
        let token = raw.trim();
        if token.is_empty() {
            return Err(Error::invalid("token", "the access token is empty"));
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::invalid(
                "token",
                format!("the access token is longer than {MAX_TOKEN_LEN} bytes"),
            ));
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid(
                "token",
                "the access token holds whitespace or control characters",
            ));
        }
        Ok(AccessToken(token.to_owned()))
    }

    /// The token's text, for the `Authorization` header of a Graph API call and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_and_never_shown() {
        let t = AccessToken::new("  EAAGm0PX4ZCpsBAtoken123\n").unwrap();
        assert_eq!(t.expose(), "EAAGm0PX4ZCpsBAtoken123");
        assert_eq!(format!("{t:?}"), "AccessToken(***)");
        assert_eq!(format!("{:?}", Some(&t)), "Some(AccessToken(***))");
        for bad in ["", "   ", "two words", "tab\there"] {
            let e = AccessToken::new(bad).unwrap_err();
            assert!(!format!("{e:?}").contains(bad.trim()) || bad.trim().is_empty(), "{e:?}");
        }
        assert!(AccessToken::new(&"a".repeat(MAX_TOKEN_LEN + 1)).is_err());
    }
}
