//! Domain errors. Each dialect maps these to its own status codes and bodies.

use crate::id::EntityKind;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The row does not exist *in this organization* (another organization's row is not found too).
    #[error("{} not found", .0.noun())]
    NotFound(EntityKind),
    /// A field failed validation.
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    /// A cursor that Rosetta did not make, that was tampered with, or that was made for other filters.
    #[error("invalid cursor: {0}")]
    InvalidCursor(CursorError),
    /// The user exists but is not a member of the organization (assigning, acting).
    #[error("user is not a member of this organization")]
    NotMember,
    /// A unique rule would be broken (duplicate phone_number_id, email, ...).
    #[error("{0}")]
    Conflict(String),
    /// A free-form message outside the 24-hour customer-service window (`outbox::window_open`):
    /// only a template may be sent.
    #[error("the 24-hour customer service window is closed: only a template message can be sent")]
    WindowClosed,
    /// The WhatsApp account cannot send: it has no access token (`rosetta account set-token`).
    #[error("the WhatsApp account is not configured for sending: it has no access token")]
    NotConfigured,
    /// The database cannot be reached or is busy past the wait limit.
    #[error("database unavailable")]
    Unavailable(String),
    /// Anything else. The message is for logs, never for a response body.
    #[error("internal error")]
    Internal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("not a cursor")]
    Malformed,
    #[error("signature does not match")]
    Forged,
    #[error("made for other filters")]
    FilterMismatch,
    /// Made for another organization's list: dialects answer it as not found, like any of that
    /// organization's ids.
    #[error("made for another organization's list")]
    OtherOrganization,
}

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
