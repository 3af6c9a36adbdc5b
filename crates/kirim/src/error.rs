//! kirim's errors: `{"error":{"type","code","message","param"?,"request_id"}}`, the request id
//! being the one in the response's `X-Request-Id`.

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
    /// invalid_request_error, authentication_error, permission_error, not_found, conflict,
    /// rate_limit_error or api_error.
    #[serde(rename = "type")]
    #[schema(example = "invalid_request_error")]
    pub kind: String,
    #[schema(example = "invalid_phone_number")]
    pub code: String,
    #[schema(example = "phone_number_id must be 6 to 20 digits")]
    pub message: String,
    /// The parameter or field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "phone_number_id")]
    pub param: Option<String>,
    #[schema(example = "req_01HXYZABCDEFGHJKMNPQRSTVWX")]
    pub request_id: String,
}

/// One kirim error: status, type, code, message and the parameter at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KirimError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    pub param: Option<String>,
    /// For 405: the methods the resource answers.
    pub allow: Option<&'static str>,
}

const INVALID: &str = "invalid_request_error";

impl KirimError {
    fn new(status: StatusCode, kind: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        KirimError {
            status,
            kind,
            code,
            message: message.into(),
            param: None,
            allow: None,
        }
    }

    pub fn param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, INVALID, "invalid_request", message)
    }

    pub fn invalid_phone_number() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            INVALID,
            "invalid_phone_number",
            "phone_number_id must be 6 to 20 digits",
        )
        .param("phone_number_id")
    }

    /// A webhook URL that is not https, or names a private host: 400 `invalid_webhook_url`.
    pub fn invalid_webhook_url(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, INVALID, "invalid_webhook_url", message).param("url")
    }

    pub fn invalid_field(param: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, INVALID, "invalid_field_value", message).param(param)
    }

    pub fn missing_field(param: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, INVALID, "missing_required_field", message).param(param)
    }

    pub fn invalid_limit() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            INVALID,
            "invalid_limit",
            "limit must be an integer from 1 to 100",
        )
        .param("limit")
    }

    pub fn invalid_cursor() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            INVALID,
            "invalid_cursor",
            "cursor is not valid for this list and these filters",
        )
        .param("cursor")
    }

    pub fn invalid_api_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid_api_key",
            "Missing or invalid API key: send Authorization: Bearer <key>",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "resource_not_found",
            format!("{what} not found"),
        )
    }

    /// 502: Meta failed what was asked of it while the request waited.
    pub fn upstream(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "api_error", "whatsapp_upstream_error", message)
    }

    pub fn idempotency_in_progress() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "conflict",
            "idempotency_in_progress",
            "A request with this Idempotency-Key is still running; retry shortly",
        )
    }

    pub fn idempotency_key_reuse() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            INVALID,
            "idempotency_key_reuse",
            "This Idempotency-Key was used with a different request",
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                kind: self.kind.into(),
                code: self.code.into(),
                message: self.message.clone(),
                param: self.param.clone(),
                request_id: rosetta_http::dialect::current_request_id(),
            },
        }
    }
}

impl std::fmt::Display for KirimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for KirimError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(allow) = self.allow {
            response.insert_header(("Allow", allow));
        }
        response.json(self.body())
    }
}

impl DialectError for KirimError {
    const DIALECT: &'static str = "kirim";

    const REQUEST_IDS: bool = true;

    fn unauthorized() -> Self {
        Self::invalid_api_key()
    }

    fn rate_limited() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "rate_limit_exceeded",
            "Rate limit exceeded for this organization",
        )
    }

    /// kirim keys act for the whole organization: no scope is ever missing.
    fn missing_scope(_: &'static str) -> Self {
        Self::invalid_api_key()
    }

    fn other_organization() -> Self {
        Self::invalid_api_key()
    }

    fn method_not_allowed(allow: &'static str) -> Self {
        let mut e = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            INVALID,
            "invalid_request",
            "Method not allowed on this resource",
        );
        e.allow = Some(allow);
        e
    }

    fn bad_query(error: &QueryPayloadError) -> Self {
        Self::invalid_request(format!("Invalid query string: {error}"))
    }

    fn bad_path() -> Self {
        Self::not_found("Resource")
    }

    fn bad_body(error: BodyError) -> Self {
        match error {
            BodyError::Empty | BodyError::NotObject => Self::invalid_request("The request body must be a JSON object"),
            BodyError::NotJson(e) => Self::invalid_request(format!("The request body is not valid JSON: {e}")),
        }
    }

    fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => Self::invalid_api_key(),
            404 => Self::not_found("Resource"),
            405 => Self::new(
                status,
                INVALID,
                "invalid_request",
                "Method not allowed on this resource",
            ),
            429 => Self::rate_limited(),
            503 => Self::unavailable(),
            400..=499 => {
                let mut e = Self::invalid_request(status.canonical_reason().unwrap_or("Bad request"));
                e.status = status;
                e
            }
            _ => Self::internal(),
        }
    }

    fn domain(e: Error) -> Self {
        match e {
            Error::NotFound(kind) => KirimError::not_found(match kind {
                EntityKind::Account => "WhatsApp account",
                EntityKind::Contact => "Contact",
                EntityKind::Conversation => "Conversation",
                EntityKind::User => "User",
                EntityKind::Webhook => "Webhook subscription",
                EntityKind::WebhookDelivery => "Webhook delivery",
                _ => "Resource",
            }),
            Error::Invalid { field, message } => KirimError::invalid_field(field, message),
            Error::InvalidCursor(rosetta_core::CursorError::OtherOrganization) => {
                KirimError::not_found("Resource").param("cursor")
            }
            Error::InvalidCursor(_) => KirimError::invalid_cursor(),
            Error::NotMember => KirimError::not_found("User").param("assigned_to"),
            Error::Conflict(m) => KirimError::new(StatusCode::CONFLICT, "conflict", "conflict", m),
            // kirim's own code for Meta's 131047, refused before anything is queued.
            Error::WindowClosed => KirimError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                INVALID,
                "outside_24h_window",
                "More than 24 hours have passed since the customer's last message: only a template can be sent",
            )
            .param("type"),
            Error::NotConfigured => KirimError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                INVALID,
                "account_not_connected",
                "This WhatsApp account is not connected for sending: it has no access token",
            )
            .param("phone_number_id"),
            Error::Unavailable(_) => KirimError::unavailable(),
            Error::Internal(_) => KirimError::internal(),
        }
    }

    fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            "service_unavailable",
            "Service temporarily unavailable",
        )
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "internal_error",
            "Internal server error",
        )
    }
}

rosetta_http::dialect_error_from_core!(KirimError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_window_is_kirims_outside_24h_window() {
        let e = KirimError::from(Error::WindowClosed);
        assert_eq!(
            (e.status, e.kind, e.code, e.param.as_deref()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                INVALID,
                "outside_24h_window",
                Some("type")
            )
        );
    }
}
