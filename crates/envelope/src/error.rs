//! envelope's errors: `{"success": false, "error": "<message>"}` with the seed's statuses and messages.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use rosetta_core::{EntityKind, Error};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema, Debug)]
pub struct ErrorBody {
    /// Always false.
    #[schema(example = false)]
    pub success: bool,
    #[schema(example = "Conversation not found")]
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeError {
    pub status: StatusCode,
    pub message: Cow<'static, str>,
}

impl EnvelopeError {
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        EnvelopeError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn invalid_conversation_id() -> Self {
        Self::bad_request("Invalid conversation ID")
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized")
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden")
    }

    pub fn not_member() -> Self {
        Self::new(StatusCode::FORBIDDEN, "User is not a member of this organization")
    }

    pub fn conversation_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Conversation not found")
    }

    pub fn rate_limited() -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded")
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }

    /// What an actix-level failure of this status says in envelope.
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => Self::unauthorized(),
            404 => Self::new(status, "Not found"),
            405 => Self::new(status, "Method not allowed"),
            413 => Self::new(status, "Request body too large"),
            429 => Self::rate_limited(),
            503 => Self::new(status, "Service unavailable"),
            400..=499 => Self::new(status, status.canonical_reason().unwrap_or("Bad request")),
            _ => Self::internal(),
        }
    }
}

impl std::fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ResponseError for EnvelopeError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(ErrorBody {
            success: false,
            error: self.message.to_string(),
        })
    }
}

impl From<Error> for EnvelopeError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(EntityKind::Conversation) => EnvelopeError::conversation_not_found(),
            Error::NotFound(EntityKind::Message) => EnvelopeError::new(StatusCode::NOT_FOUND, "Message not found"),
            Error::NotFound(EntityKind::User) | Error::NotMember => EnvelopeError::not_member(),
            Error::NotFound(kind) => {
                EnvelopeError::new(StatusCode::NOT_FOUND, format!("{} not found", capitalized(kind.noun())))
            }
            Error::Invalid { message, .. } => EnvelopeError::bad_request(message),
            Error::InvalidCursor(_) => EnvelopeError::bad_request("Invalid cursor"),
            Error::Conflict(m) => EnvelopeError::new(StatusCode::CONFLICT, m),
            Error::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                EnvelopeError::new(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable")
            }
            Error::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                EnvelopeError::internal()
            }
        }
    }
}

fn capitalized(noun: &str) -> String {
    let mut chars = noun.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
