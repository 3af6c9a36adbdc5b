//! Parameters, checked exactly as the seed's patterns say; each failure names its parameter.

use rosetta_core::{ConversationStatus, Dialect, EntityKind, Id, Spelling};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::KirimError;

pub const DEFAULT_LIMIT: u32 = 25;
use rosetta_core::MAX_LIMIT;

/// `^\d{6,20}$` (`validate::is_phone_number_id`).
pub fn phone_number_id(raw: &str) -> Result<String, KirimError> {
    if rosetta_core::validate::is_phone_number_id(raw) {
        Ok(raw.to_owned())
    } else {
        Err(KirimError::invalid_phone_number())
    }
}

/// `^\d+$`, from 1 to 100; default 25.
pub fn limit(raw: Option<&str>) -> Result<u32, KirimError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    if raw.is_empty() || raw.len() > 10 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(KirimError::invalid_limit());
    }
    match raw.parse::<u32>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(KirimError::invalid_limit()),
    }
}

/// An empty cursor is no cursor; one Rosetta could not have made is `invalid_cursor`.
pub fn cursor(raw: Option<String>) -> Result<Option<String>, KirimError> {
    rosetta_core::cursor::param(raw).map_err(|_| KirimError::invalid_cursor())
}

/// A kirim id (`cnv_…`, `ctc_…`, `usr_…`): prefix and 26 upper-case Crockford characters.
pub fn id(kind: EntityKind, param: &str, raw: &str) -> Result<Id, KirimError> {
    Id::parse(kind, Spelling::Kirim, raw).map_err(|_| {
        KirimError::invalid_field(
            param,
            format!(
                "{param} must be {} followed by 26 Crockford base32 characters",
                kind.kirim_prefix()
            ),
        )
    })
}

/// A status word kirim does not use.
pub fn invalid_status() -> KirimError {
    let words = ConversationStatus::words(Dialect::Kirim);
    KirimError::invalid_field("status", format!("status must be one of {}", words.join(", ")))
}

/// `open`, `resolved` or `pending`, as the canonical statuses it selects.
pub fn status_filter(raw: &str) -> Result<Vec<ConversationStatus>, KirimError> {
    ConversationStatus::filter(Dialect::Kirim, raw).map_err(|_| invalid_status())
}

/// The canonical status kirim means when it writes `raw` (PATCH).
pub fn status_value(raw: &str) -> Result<ConversationStatus, KirimError> {
    ConversationStatus::from_dialect(Dialect::Kirim, raw).ok_or_else(invalid_status)
}

#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct ListConversations {
    /// Only conversations with this status.
    #[param(inline, value_type = Option<StatusParam>)]
    pub status: Option<String>,
    /// Only this contact's conversations.
    #[param(pattern = "^ctc_[0-9A-HJKMNP-TV-Z]{26}$")]
    pub contact_id: Option<String>,
    /// Page size, 1 to 100 (default 25).
    #[param(pattern = r"^\d+$", example = "25")]
    pub limit: Option<String>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema, Debug)]
#[serde(rename_all = "lowercase")]
pub enum StatusParam {
    Open,
    Resolved,
    Pending,
}

#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct ListMessages {
    /// Page size, 1 to 100 (default 25).
    #[param(pattern = r"^\d+$", example = "25")]
    pub limit: Option<String>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct ListContacts {
    /// Exactly this phone number (E.164; common spellings are normalized).
    pub phone: Option<String>,
    /// Part of the name or phone number, case-insensitive.
    pub search: Option<String>,
    /// Page size, 1 to 100 (default 25).
    #[param(pattern = r"^\d+$", example = "25")]
    pub limit: Option<String>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct ListAccounts {
    /// `connected` (default) or `all`.
    #[param(inline, value_type = Option<AccountsStatusParam>)]
    pub status: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema, Debug)]
#[serde(rename_all = "lowercase")]
pub enum AccountsStatusParam {
    Connected,
    All,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_pattern_and_range() {
        assert_eq!(limit(None), Ok(25));
        assert_eq!(limit(Some("1")), Ok(1));
        assert_eq!(limit(Some("100")), Ok(100));
        assert_eq!(limit(Some("007")), Ok(7));
        for bad in ["0", "101", "-1", "1.5", "", " 5", "abc", "99999999999"] {
            assert_eq!(limit(Some(bad)), Err(KirimError::invalid_limit()), "{bad}");
        }
    }

    #[test]
    fn phone_number_ids_are_6_to_20_digits() {
        assert!(phone_number_id("106540352242922").is_ok());
        assert!(phone_number_id("123456").is_ok());
        for bad in ["12345", "123456789012345678901", "12345a", "", "+123456"] {
            assert!(phone_number_id(bad).is_err(), "{bad}");
        }
    }
}
