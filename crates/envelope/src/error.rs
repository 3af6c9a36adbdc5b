//! envelope's errors: `{"success": false, "error": "<message>"}` with the seed's statuses and messages.

use std::borrow::Cow;

use actix_web::error::QueryPayloadError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use rosetta_core::{EntityKind, Error};
use rosetta_http::dialect::DialectError;
use rosetta_http::BodyError;
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
    /// For 405: the methods the resource answers.
    pub allow: Option<&'static str>,
}

impl EnvelopeError {
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        EnvelopeError {
            status,
            message: message.into(),
            allow: None,
        }
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn invalid_conversation_id() -> Self {
        Self::bad_request("Invalid conversation ID")
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
        let mut response = HttpResponse::build(self.status);
        if let Some(allow) = self.allow {
            response.insert_header(("Allow", allow));
        }
        response.json(ErrorBody {
            success: false,
            error: self.message.to_string(),
        })
    }
}

impl DialectError for EnvelopeError {
    const DIALECT: &'static str = "envelope";

    fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized")
    }

    fn rate_limited() -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded")
    }

    /// envelope has no scopes: a key acts for its whole organization.
    fn missing_scope(_: &'static str) -> Self {
        Self::forbidden()
    }

    fn other_organization() -> Self {
        Self::forbidden()
    }

    fn method_not_allowed(allow: &'static str) -> Self {
        let mut e = Self::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
        e.allow = Some(allow);
        e
    }

    fn bad_query(_: &QueryPayloadError) -> Self {
        Self::bad_request("Invalid query parameters")
    }

    fn bad_path() -> Self {
        Self::invalid_conversation_id()
    }

    fn bad_body(error: BodyError) -> Self {
        match error {
            BodyError::NotObject => Self::bad_request("The request body must be a JSON object"),
            BodyError::Empty | BodyError::NotJson(_) => Self::bad_request("Invalid JSON body"),
        }
    }

    fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => Self::unauthorized(),
            404 => Self::new(status, "Not found"),
            405 => Self::new(status, "Method not allowed"),
            413 => Self::new(status, "Request body too large"),
            429 => Self::rate_limited(),
            503 => Self::unavailable(),
            400..=499 => Self::new(status, status.canonical_reason().unwrap_or("Bad request")),
            _ => Self::internal(),
        }
    }

    fn domain(e: Error) -> Self {
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
            Error::WindowClosed => EnvelopeError::new(
                StatusCode::CONFLICT,
                "Customer service window closed: only template messages can be sent",
            ),
            Error::NotConfigured => EnvelopeError::bad_request(
                "WhatsApp is not configured for this conversation's number: it has no access token",
            ),
            Error::Unavailable(_) => EnvelopeError::unavailable(),
            Error::Internal(_) => EnvelopeError::internal(),
        }
    }

    fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable")
    }

    fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }
}

rosetta_http::dialect_error_from_core!(EnvelopeError);

fn capitalized(noun: &str) -> String {
    let mut chars = noun.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_window_is_409_in_envelope_words() {
        let e = EnvelopeError::from(Error::WindowClosed);
        assert_eq!(
            (e.status, e.message.as_ref()),
            (
                StatusCode::CONFLICT,
                "Customer service window closed: only template messages can be sent"
            )
        );
    }
}
