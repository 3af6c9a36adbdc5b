//! wacrm's errors: `{"error":{"code","message"}}`, no request id. Clients branch on `code`.

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
    MethodNotAllowed(&'static str),
    RateLimited,
    /// 409: a free-form message outside the 24-hour customer-service window.
    WindowClosed,
    /// 400 `whatsapp_not_configured`: no WhatsApp account that can send.
    NotConfigured,
    /// 409 `idempotency_key_reused` / `idempotency_key_in_progress`.
    IdempotencyKeyReused,
    IdempotencyKeyInProgress,
    /// 502 `meta_error`: Meta refused the send (its message).
    Meta(String),
    Unavailable,
    Internal,
    /// An actix-level client error of another status (413, 414, 431, …), in wacrm's words.
    Status(StatusCode),
}

impl WacrmError {
    /// The error as wacrm sends it.
    pub fn body(&self) -> ErrorBody {
        let (_, code, message) = self.parts();
        ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message,
            },
        }
    }

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
            WacrmError::MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed".into(),
            ),
            WacrmError::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Rate limit exceeded for this API key".into(),
            ),
            WacrmError::WindowClosed => (
                StatusCode::CONFLICT,
                "customer_service_window_closed",
                "The 24-hour customer service window is closed: only template messages can be sent".into(),
            ),
            WacrmError::NotConfigured => (
                StatusCode::BAD_REQUEST,
                "whatsapp_not_configured",
                "WhatsApp is not configured for this account: connect a number and set its access token".into(),
            ),
            WacrmError::IdempotencyKeyReused => (
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                "This Idempotency-Key was used with a different request body".into(),
            ),
            WacrmError::IdempotencyKeyInProgress => (
                StatusCode::CONFLICT,
                "idempotency_key_in_progress",
                "A request with this Idempotency-Key is still in progress".into(),
            ),
            WacrmError::Meta(message) => (
                StatusCode::BAD_GATEWAY,
                "meta_error",
                format!("Meta API error: {message}"),
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
            WacrmError::Status(status) => (
                *status,
                "bad_request",
                status.canonical_reason().unwrap_or("Bad request").to_owned(),
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
        let mut response = HttpResponse::build(self.parts().0);
        if let WacrmError::MethodNotAllowed(allow) = self {
            response.insert_header(("Allow", *allow));
        }
        response.json(self.body())
    }
}

impl DialectError for WacrmError {
    const DIALECT: &'static str = "wacrm";

    fn unauthorized() -> Self {
        WacrmError::Unauthorized
    }

    fn rate_limited() -> Self {
        WacrmError::RateLimited
    }

    fn missing_scope(scope: &'static str) -> Self {
        WacrmError::Forbidden(scope)
    }

    fn other_organization() -> Self {
        WacrmError::Unauthorized
    }

    fn method_not_allowed(allow: &'static str) -> Self {
        WacrmError::MethodNotAllowed(allow)
    }

    fn bad_query(error: &QueryPayloadError) -> Self {
        WacrmError::BadRequest(format!("Invalid query string: {error}"))
    }

    fn bad_path() -> Self {
        WacrmError::NotFound("Resource")
    }

    fn bad_body(_: BodyError) -> Self {
        WacrmError::BadRequest("The request body must be a JSON object".into())
    }

    fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => WacrmError::Unauthorized,
            404 => WacrmError::NotFound("Resource"),
            405 => WacrmError::MethodNotAllowed("GET"),
            429 => WacrmError::RateLimited,
            503 => WacrmError::Unavailable,
            400..=499 => WacrmError::Status(status),
            _ => WacrmError::Internal,
        }
    }

    fn domain(error: Error) -> Self {
        match error {
            Error::NotFound(EntityKind::Contact) => WacrmError::NotFound("Contact"),
            Error::NotFound(EntityKind::Conversation) => WacrmError::NotFound("Conversation"),
            Error::NotFound(EntityKind::Tag) => WacrmError::NotFound("Tag"),
            Error::NotFound(EntityKind::Media) => WacrmError::NotFound("Media"),
            Error::NotFound(EntityKind::Webhook) => WacrmError::NotFound("Webhook"),
            // A user who is not a member is, for this organization, a user that does not exist.
            Error::NotFound(EntityKind::User) | Error::NotMember => WacrmError::NotFound("User"),
            Error::NotFound(_) => WacrmError::NotFound("Resource"),
            Error::Invalid { message, .. } => WacrmError::BadRequest(message),
            Error::InvalidCursor(rosetta_core::CursorError::OtherOrganization) => WacrmError::NotFound("Resource"),
            Error::InvalidCursor(_) => WacrmError::BadRequest("Invalid cursor".into()),
            Error::Conflict(m) => WacrmError::BadRequest(m),
            Error::WindowClosed => WacrmError::WindowClosed,
            Error::NotConfigured => WacrmError::NotConfigured,
            Error::Unavailable(_) => WacrmError::Unavailable,
            Error::Internal(_) => WacrmError::Internal,
        }
    }

    fn unavailable() -> Self {
        WacrmError::Unavailable
    }

    fn internal() -> Self {
        WacrmError::Internal
    }
}

rosetta_http::dialect_error_from_core!(WacrmError);

#[cfg(test)]
mod tests {
    use super::*;

    /// A user who is not a member is reported as what it is for this organization (no such user),
    /// not as a missing scope of the caller's key.
    #[test]
    fn not_a_member_is_a_missing_user_not_a_missing_scope() {
        let e = WacrmError::from(Error::NotMember);
        assert_eq!(e.status_code(), StatusCode::NOT_FOUND);
        assert_eq!(e.to_string(), "User not found");
        assert_eq!(
            WacrmError::from(Error::NotFound(EntityKind::User)).to_string(),
            "User not found"
        );
    }

    #[actix_web::test]
    async fn a_closed_window_is_409_customer_service_window_closed() {
        let response = WacrmError::from(Error::WindowClosed).error_response();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let body = actix_web::body::to_bytes(response.into_body()).await.unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            serde_json::json!({"error": {"code": "customer_service_window_closed", "message": "The 24-hour customer service window is closed: only template messages can be sent"}})
        );
    }
}
