//! Parameters: the seed's ids (`conv_<uuid>`, `user_<uuid>`, `msg_<uuid>`), page and limit.

use rosetta_core::{ConversationStatus, Dialect, EntityKind, Id, Spelling};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::EnvelopeError;

pub const DEFAULT_LIMIT: u32 = 20;
pub const DEFAULT_MESSAGE_LIMIT: u32 = 50;
use rosetta_core::MAX_LIMIT;

pub fn conversation_id(raw: &str) -> Result<Id, EnvelopeError> {
    Id::parse(EntityKind::Conversation, Spelling::Envelope, raw).map_err(|_| EnvelopeError::invalid_conversation_id())
}

/// `user_<uuid>`; the seed also calls it a UUID, so a bare UUID is taken too.
pub fn user_id(raw: &str, message: &'static str) -> Result<Id, EnvelopeError> {
    Id::parse(EntityKind::User, Spelling::Envelope, raw)
        .or_else(|_| Id::parse(EntityKind::User, Spelling::Uuid, raw))
        .map_err(|_| EnvelopeError::bad_request(message))
}

pub fn message_id(raw: &str) -> Result<Id, EnvelopeError> {
    Id::parse(EntityKind::Message, Spelling::Envelope, raw)
        .map_err(|_| EnvelopeError::bad_request("Invalid message ID"))
}

/// A positive integer; `None` gives `default`. `limit` above 100 means 100.
fn positive(raw: Option<&str>, default: u32, message: &'static str) -> Result<u32, EnvelopeError> {
    match raw.map(str::trim) {
        None => Ok(default),
        // Up to i64's maximum, as the document's int64 says; larger values are refused.
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 1 => Ok(n.min(i64::from(u32::MAX)) as u32),
            _ => Err(EnvelopeError::bad_request(message)),
        },
    }
}

/// The last page a request may name.
pub const MAX_PAGE: u32 = 1_000_000_000;

pub fn page(raw: Option<&str>) -> Result<u32, EnvelopeError> {
    positive(raw, 1, "Invalid page").and_then(|p| {
        if p <= MAX_PAGE {
            Ok(p)
        } else {
            Err(EnvelopeError::bad_request("Invalid page"))
        }
    })
}

pub fn limit(raw: Option<&str>, default: u32) -> Result<u32, EnvelopeError> {
    positive(raw, default, "Invalid limit").map(|n| n.min(MAX_LIMIT))
}

/// `open`, `closed`, `ai_handling` or `escalated`, as the canonical statuses it selects.
pub fn status(raw: &str) -> Result<Vec<ConversationStatus>, EnvelopeError> {
    ConversationStatus::filter(Dialect::Envelope, raw).map_err(|_| EnvelopeError::bad_request("Invalid status"))
}

#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct ListConversations {
    /// Page number for pagination (from 1).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000000000, example = 1)]
    pub page: Option<String>,
    /// Results per page (default 20, max 100; more means 100).
    #[param(value_type = Option<i64>, minimum = 1, example = 20)]
    pub limit: Option<String>,
    /// Filter by status.
    #[param(inline, value_type = Option<StatusParam>)]
    pub status: Option<String>,
    /// Filter by assigned user ID (`user_<uuid>`, or the bare UUID).
    pub assignee: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema, Debug)]
#[serde(rename_all = "snake_case")]
pub enum StatusParam {
    Open,
    Closed,
    AiHandling,
    Escalated,
}

#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
#[allow(non_snake_case)]
pub struct ListMessages {
    /// The conversation (`conv_<uuid>`).
    #[param(required = true, example = "conv_a1b2c3d4-5678-90ab-cdef-1234567890ab")]
    pub conversationId: Option<String>,
    /// Messages per page (default 50, max 100; more means 100).
    #[param(value_type = Option<i64>, minimum = 1, example = 50)]
    pub limit: Option<String>,
    /// Only messages older than this one (`msg_<uuid>`).
    pub before: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_limits() {
        assert_eq!(page(None), Ok(1));
        assert_eq!(page(Some("10000")), Ok(10_000));
        assert!(page(Some("0")).is_err());
        assert!(page(Some("-1")).is_err());
        assert!(page(Some("x")).is_err());
        assert!(page(Some("2147483648")).is_err());
        assert!(page(Some("")).is_err());
        assert_eq!(limit(None, 20), Ok(20));
        assert_eq!(limit(Some("500"), 20), Ok(100));
        assert!(limit(Some("0"), 20).is_err());
        assert!(limit(Some("2.5"), 20).is_err());
    }
}
