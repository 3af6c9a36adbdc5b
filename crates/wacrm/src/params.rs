//! Query parameters, read as leniently as the product reads them.

use rosetta_core::{EntityKind, Id, Spelling};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::WacrmError;

pub const DEFAULT_LIMIT: u32 = 50;

/// wacrm's `limit` never fails: a value that is not a positive number means 50, a fraction is
/// floored (and a fraction below 1 means 50), above 100 means 100.
pub fn limit(raw: Option<&str>) -> u32 {
    let Some(n) = raw.and_then(|s| s.trim().parse::<f64>().ok()) else {
        return DEFAULT_LIMIT;
    };
    if n.is_nan() || n < 1.0 {
        return DEFAULT_LIMIT;
    }
    n.floor().min(f64::from(rosetta_core::MAX_LIMIT)) as u32
}

/// A UUID path or query id. Anything else matches no row.
pub fn uuid(kind: EntityKind, raw: &str) -> Option<Id> {
    Id::parse(kind, Spelling::Uuid, raw).ok()
}

pub fn cursor(raw: Option<String>) -> Result<Option<String>, WacrmError> {
    rosetta_core::cursor::param(raw).map_err(|e| rosetta_core::Error::InvalidCursor(e).into())
}

#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct ListConversations {
    /// open, pending or closed. Any other value matches nothing.
    pub status: Option<String>,
    /// Only this contact's conversations (a contact UUID).
    #[param(format = Uuid)]
    pub contact_id: Option<String>,
    /// Page size; default 50, max 100. Lenient: not a positive number means 50, a fraction is floored.
    #[param(value_type = Option<String>, example = "50")]
    pub limit: Option<String>,
    /// The previous page's `meta.next_cursor`.
    pub cursor: Option<String>,
}

#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Page size; default 50, max 100. Lenient: not a positive number means 50, a fraction is floored.
    #[param(value_type = Option<String>, example = "50")]
    pub limit: Option<String>,
    /// The previous page's `meta.next_cursor`.
    pub cursor: Option<String>,
}

#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct ListContacts {
    /// Part of the name or of the phone number.
    pub search: Option<String>,
    /// Only contacts with this tag (a tag UUID).
    #[param(format = Uuid)]
    pub tag: Option<String>,
    #[param(value_type = Option<String>, example = "50")]
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_limit() {
        for (raw, expected) in [
            (None, 50),
            (Some("10"), 10),
            (Some("2.9"), 2),
            (Some("0"), 50),
            (Some("-3"), 50),
            (Some("abc"), 50),
            (Some(""), 50),
            (Some("0.5"), 50),
            (Some("100"), 100),
            (Some("101"), 100),
            (Some("1e9"), 100),
            (Some("NaN"), 50),
            (Some("inf"), 100),
        ] {
            assert_eq!(limit(raw), expected, "{raw:?}");
        }
    }
}
