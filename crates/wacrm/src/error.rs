//! wacrm's errors: `{"error":{"code","message"}}`, no request id. Clients branch on `code`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use rosetta_core::{EntityKind, Error};
use rosetta_http::rate_limit::RateDecision;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema, Debug)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct ErrorDetail {
    /// One of unauthorized, forbidden, bad_request, not_found, method_not_allowed, rate_limited,
    /// unavailable, internal.
    #[schema(example = "not_found")]
    pub code: String,
    #[schema(example = "Conversation not found")]
    pub message: String,
}

#[derive(Debug)]
pub enum WacrmError {
    Unauthorized,
    Forbidden(&'static str),
    BadRequest(String),
    NotFound(&'static str),
    MethodNotAllowed,
    RateLimited(RateDecision),
    Unavailable,
    Internal,
}

impl WacrmError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            WacrmError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Missing or invalid API key".into(),
            ),
            WacrmError::Forbidden(scope) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("This API key is missing the '{scope}' scope"),
            ),
            WacrmError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m.clone()),
            WacrmError::NotFound(what) => (StatusCode::NOT_FOUND, "not_found", format!("{what} not found")),
            WacrmError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed".into(),
            ),
            WacrmError::RateLimited(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Rate limit exceeded for this API key".into(),
            ),
            WacrmError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service temporarily unavailable".into(),
            ),
            WacrmError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error".into(),
            ),
        }
    }
}

impl std::fmt::Display for WacrmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.parts().2)
    }
}

impl ResponseError for WacrmError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, message) = self.parts();
        let mut response = HttpResponse::build(status);
        match self {
            WacrmError::RateLimited(decision) => decision.headers(&mut response),
            // Every wacrm resource is read-only.
            WacrmError::MethodNotAllowed => {
                response.insert_header(("Allow", "GET"));
            }
            _ => {}
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message,
            },
        })
    }
}

impl From<Error> for WacrmError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(EntityKind::Contact) => WacrmError::NotFound("Contact"),
            Error::NotFound(EntityKind::Conversation) => WacrmError::NotFound("Conversation"),
            Error::NotFound(EntityKind::Tag) => WacrmError::NotFound("Tag"),
            Error::NotFound(_) => WacrmError::NotFound("Resource"),
            Error::Invalid { message, .. } => WacrmError::BadRequest(message),
            Error::InvalidCursor(rosetta_core::CursorError::OtherOrganization) => WacrmError::NotFound("Resource"),
            Error::InvalidCursor(_) => WacrmError::BadRequest("Invalid cursor".into()),
            Error::NotMember => WacrmError::Forbidden("conversations:write"),
            Error::Conflict(m) => WacrmError::BadRequest(m),
            Error::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                WacrmError::Unavailable
            }
            Error::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                WacrmError::Internal
            }
        }
    }
}
