//! Input rules every dialect and the CLI share: phones, emails, colours, names.

use validator::ValidateEmail;

use crate::error::Error;

/// Normalises a phone number to E.164 (`+` and 8 to 15 digits, not starting with 0).
/// Spaces, dots, dashes and parentheses are dropped; a missing `+` is added (WhatsApp's `wa_id`
/// is written without one).
pub fn normalize_phone(field: &'static str, input: &str) -> Result<String, Error> {
    let trimmed = input.trim();
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix("00").unwrap_or(trimmed)),
    };
    let _ = plus;
    let mut digits = String::with_capacity(16);
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => {
                return Err(Error::invalid(
                    field,
                    format!("{field} must be a phone number in E.164 form, like +14155550123"),
                ))
            }
        }
    }
    if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
        return Err(Error::invalid(
            field,
            format!("{field} must be a phone number in E.164 form, like +14155550123"),
        ));
    }
    Ok(format!("+{digits}"))
}

pub fn check_email(field: &'static str, email: &str) -> Result<(), Error> {
    if email.len() <= 254 && email.validate_email() {
        Ok(())
    } else {
        Err(Error::invalid(field, format!("{field} must be an email address")))
    }
}

/// `#rgb` or `#rrggbb`, stored lower case.
pub fn normalize_color(field: &'static str, color: &str) -> Result<String, Error> {
    let hex = color.trim().strip_prefix('#').unwrap_or("");
    if (hex.len() == 3 || hex.len() == 6) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(format!("#{}", hex.to_ascii_lowercase()))
    } else {
        Err(Error::invalid(
            field,
            format!("{field} must be a hex colour like #3b82f6"),
        ))
    }
}

/// The longest name (of a contact, a user, an organization, …) in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// A contact's name as Meta sends it (`profile.name`), by the rule `create_contact` applies: trimmed,
/// blank means none, and (since a message must never be lost over its sender's name) cut to
/// [`MAX_NAME_CHARS`] characters rather than refused.
pub fn profile_name(raw: Option<&str>) -> Option<String> {
    let trimmed = raw?.trim();
    (!trimmed.is_empty()).then(|| match check_name("name", trimmed, MAX_NAME_CHARS) {
        Ok(name) => name,
        Err(_) => trimmed
            .chars()
            .take(MAX_NAME_CHARS)
            .collect::<String>()
            .trim_end()
            .to_owned(),
    })
}

/// A name that is not blank and not absurdly long.
pub fn check_name(field: &'static str, name: &str, max: usize) -> Result<String, Error> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid(field, format!("{field} must not be empty")));
    }
    if trimmed.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// Meta's `phone_number_id`: 6 to 20 digits (kirim's `^\d{6,20}$`). The one rule for the CLI, the
/// dialects and the webhook parser.
pub fn is_phone_number_id(value: &str) -> bool {
    (6..=20).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
}

/// The pattern of [`is_phone_number_id`], for documents.
pub const PHONE_NUMBER_ID_PATTERN: &str = r"^\d{6,20}$";

pub fn check_phone_number_id(field: &'static str, value: &str) -> Result<(), Error> {
    if is_phone_number_id(value) {
        Ok(())
    } else {
        Err(Error::invalid(field, format!("{field} must be 6 to 20 digits")))
    }
}

/// The longest search text a list takes, in characters (not bytes), in every dialect.
pub const MAX_SEARCH_CHARS: usize = 200;

/// A list's search text: blank means no search; longer than [`MAX_SEARCH_CHARS`] characters is
/// refused.
pub fn search_text(field: &'static str, raw: Option<String>) -> Result<Option<String>, Error> {
    match raw {
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) if s.chars().count() > MAX_SEARCH_CHARS => Err(Error::invalid(
            field,
            format!("{field} must be at most {MAX_SEARCH_CHARS} characters"),
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        assert_eq!(normalize_phone("phone", "+1 (415) 555-0123").unwrap(), "+14155550123");
        assert_eq!(normalize_phone("phone", "16505551234").unwrap(), "+16505551234");
        assert_eq!(normalize_phone("phone", "00971501234567").unwrap(), "+971501234567");
        for bad in [
            "",
            "+",
            "+0123456789",
            "+1234567",
            "+1234567890123456",
            "abc",
            "+1 415 555 0123 x2",
        ] {
            assert!(normalize_phone("phone", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn colours_emails_names() {
        assert_eq!(normalize_color("color", "#3B82F6").unwrap(), "#3b82f6");
        assert_eq!(normalize_color("color", "#fff").unwrap(), "#fff");
        assert!(normalize_color("color", "3b82f6").is_err());
        assert!(normalize_color("color", "#3b82fg").is_err());
        assert!(check_email("email", "agent@example.com").is_ok());
        assert!(check_email("email", "agent@").is_err());
        assert_eq!(check_name("name", "  Ahmed  ", 10).unwrap(), "Ahmed");
        assert!(check_name("name", "  ", 10).is_err());
        assert!(check_phone_number_id("phone_number_id", "106540352242922").is_ok());
        assert!(check_phone_number_id("phone_number_id", "12345").is_err());
        assert!(check_phone_number_id("phone_number_id", "12345a").is_err());
        assert!(!is_phone_number_id("123456789012345678901"));
        assert_eq!(profile_name(Some("  Ahmed  ")), Some("Ahmed".into()));
        assert_eq!(profile_name(Some("   ")), None);
        assert_eq!(profile_name(None), None);
        assert_eq!(
            profile_name(Some(&"é".repeat(250))).unwrap().chars().count(),
            MAX_NAME_CHARS
        );
        assert_eq!(search_text("search", Some(" ".into())), Ok(None));
        assert!(
            search_text("search", Some("é".repeat(200))).unwrap().is_some(),
            "characters, not bytes"
        );
        assert!(search_text("search", Some("a".repeat(201))).is_err());
    }
}
