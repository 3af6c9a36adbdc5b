//! `GET|POST /webhooks/whatsapp`: Meta's verification handshake and signed deliveries.
//!
//! Every binary mounts this beside its dialect. A POST is refused unless its
//! `X-Hub-Signature-256` is the HMAC-SHA256 of the raw body under one of the configured app secrets
//! (several, for rotation); with no secret configured every POST is refused (fail closed). A 200
//! means the whole delivery is committed.

use std::collections::HashMap;

use actix_web::http::header::ContentType;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use rosetta_core::ingest::meta;
use rosetta_core::Error;
use serde_json::json;
use sha2::Sha256;

use crate::AppState;

/// Deliveries larger than this are refused with 413 (Meta's are a few KiB).
pub const MAX_BODY: usize = 1024 * 1024;
pub const PATH: &str = "/webhooks/whatsapp";

/// The webhook's secrets, from `WHATSAPP_APP_SECRET` (comma-separated) and `WHATSAPP_VERIFY_TOKEN`.
#[derive(Clone, Default)]
pub struct WebhookConfig {
    app_secrets: Vec<Vec<u8>>,
    verify_token: Option<String>,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("app_secrets", &self.app_secrets.len())
            .field("verify_token", &self.verify_token.is_some())
            .finish()
    }
}

impl WebhookConfig {
    /// `app_secrets` is a comma-separated list; blanks are dropped.
    pub fn new(app_secrets: Option<&str>, verify_token: Option<&str>) -> Self {
        WebhookConfig {
            app_secrets: app_secrets
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.as_bytes().to_vec())
                .collect(),
            verify_token: verify_token.map(str::to_owned).filter(|t| !t.is_empty()),
        }
    }

    pub fn accepts_deliveries(&self) -> bool {
        !self.app_secrets.is_empty()
    }

    /// Whether `header` (`sha256=<hex>`) signs `body` under any configured secret, compared in
    /// constant time.
    pub fn signature_valid(&self, header: Option<&str>, body: &[u8]) -> bool {
        let Some(expected) = header
            .and_then(|h| h.trim().strip_prefix("sha256="))
            .and_then(|h| hex::decode(h).ok())
        else {
            return false;
        };
        self.app_secrets.iter().any(|secret| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
            mac.update(body);
            mac.verify_slice(&expected).is_ok()
        })
    }
}

/// Signs a body the way Meta does: `sha256=<hex>` (for tests, load generators and demos).
pub fn sign(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", crate::signing::plain(secret, body))
}

fn error(status: actix_web::http::StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": {"code": code, "message": message}}))
}

/// Mounts the webhook route; `config` goes in as app data.
pub fn routes(config: WebhookConfig) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(config)).service(
            web::resource(PATH)
                .route(web::get().to(verify))
                .route(web::post().to(receive))
                .default_service(web::to(|| async {
                    error(
                        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
                        "method_not_allowed",
                        "Use GET or POST",
                    )
                })),
        );
    }
}

async fn verify(query: web::Query<HashMap<String, String>>, config: web::Data<WebhookConfig>) -> HttpResponse {
    use actix_web::http::StatusCode;
    let (Some(mode), Some(token), Some(challenge)) = (
        query.get("hub.mode"),
        query.get("hub.verify_token"),
        query.get("hub.challenge"),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "hub.mode, hub.verify_token and hub.challenge are required",
        );
    };
    let token_ok = config.verify_token.as_deref().is_some_and(|expected| {
        rosetta_core::key::hashes_equal(
            &rosetta_core::key::hash_secret(expected),
            &rosetta_core::key::hash_secret(token),
        )
    });
    if mode != "subscribe" || !token_ok {
        return error(StatusCode::FORBIDDEN, "forbidden", "Verification token does not match");
    }
    HttpResponse::Ok()
        .content_type(ContentType::plaintext())
        .body(challenge.clone())
}

async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    config: web::Data<WebhookConfig>,
) -> HttpResponse {
    let response = take(req, payload, state.clone(), config).await;
    state.metrics.delivery(match response.status().as_u16() {
        200 => "stored",
        400..=499 => "refused",
        _ => "failed",
    });
    response
}

async fn take(
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<AppState>,
    config: web::Data<WebhookConfig>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "A delivery may be at most 1 MiB",
        )
    };
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY) {
        return too_large();
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(4096).min(MAX_BODY));
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "The request body could not be read",
            );
        };
        if body.len() + chunk.len() > MAX_BODY {
            return too_large();
        }
        body.extend_from_slice(&chunk);
    }
    if !config.accepts_deliveries() {
        tracing::warn!("webhook delivery refused: WHATSAPP_APP_SECRET is not configured");
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Webhook app secret is not configured: deliveries are refused",
        );
    }
    let signature = req.headers().get("x-hub-signature-256").and_then(|v| v.to_str().ok());
    if !config.signature_valid(signature, &body) {
        // Logged without the body: it is unauthenticated, and may be anyone's data.
        tracing::warn!(
            bytes = body.len(),
            signed = signature.is_some(),
            "webhook delivery refused: missing or invalid X-Hub-Signature-256"
        );
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing or invalid X-Hub-Signature-256",
        );
    }
    let events = match meta::parse(&body) {
        Ok(events) => events,
        Err(meta::ParseError::Json(e)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                &format!("The body is not valid JSON: {e}"),
            )
        }
        Err(meta::ParseError::Shape(e)) => return error(StatusCode::BAD_REQUEST, "bad_request", &e),
    };
    let count = events.len();
    match state.run(move |store| store.ingest(&events)).await {
        Ok(report) => {
            state
                .metrics
                .delivered(report.messages as u64, report.duplicates as u64);
            if report.messages > 0 {
                state.sending.received.notify_one();
            }
            for pnid in &report.unknown_accounts {
                tracing::info!(phone_number_id = %pnid, "webhook for an unknown phone_number_id acknowledged and skipped");
            }
            HttpResponse::Ok().json(json!({
                "received": count,
                "messages": report.messages,
                "duplicates": report.duplicates,
                "statuses": report.statuses,
                "statuses_ignored": report.statuses_ignored,
                "unknown_phone_number_ids": report.unknown_accounts,
            }))
        }
        Err(Error::Invalid { message, .. }) => error(StatusCode::BAD_REQUEST, "bad_request", &message),
        Err(Error::Unavailable(e)) => {
            tracing::warn!(error = %e, "webhook delivery not stored: database unavailable");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The database is unavailable; retry later",
            )
        }
        Err(e) => {
            tracing::error!(error = ?e, "webhook delivery not stored");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal server error")
        }
    }
}
