//! `/api/whatsapp/webhooks`: the organization's one webhook configuration, as envelope's product has
//! it (register or update, read, delete), in envelope's style (a documented choice: the product
//! describes the operations, not their routes):
//! - `POST {url, events?, isActive?}` registers it (201, with its `secret`, shown this once) or, when
//!   there is one, updates it (200, no secret); `events` defaults to every envelope event;
//!   `isActive: true` re-enables a configuration marked failing and resets its failure count.
//! - `GET` reads it (404 "Webhook not configured" when there is none); `DELETE` removes it.
//!
//! The URL must be `https://` and not a private, loopback or link-local address
//! (`--allow-private-webhook-targets` lifts both); events must be envelope's (`events::EVENT_NAMES`).
//! Deliveries carry envelope's bodies (`events::render`) signed `X-SuperWaba-Signature`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use rosetta_core::webhooks::{NewWebhook, Webhook, WebhookChanges};
use rosetta_core::{Dialect, EntityKind, Error, Spelling};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{EnvelopeError, ErrorBody};
use crate::Envelope;
use rosetta_http::auth::Cost;
use rosetta_http::dialect;

#[derive(Serialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct WebhookConfig {
    #[schema(example = "webhook_550e8400-e29b-41d4-a716-446655440000")]
    pub id: String,
    #[schema(example = "https://hooks.example.com/envelope")]
    pub url: String,
    pub events: Vec<String>,
    pub is_active: bool,
    /// Consecutive failed deliveries.
    pub failure_count: i64,
    #[schema(format = DateTime)]
    pub last_delivery_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Only when it is registered: the signing secret, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<Webhook> for WebhookConfig {
    fn from(w: Webhook) -> WebhookConfig {
        WebhookConfig {
            id: w.id.render(EntityKind::Webhook, Spelling::Envelope),
            url: w.url,
            events: w.events,
            is_active: w.is_active,
            failure_count: w.failure_count,
            last_delivery_at: w.last_delivery_at.map(|t| t.to_rfc3339()),
            created_at: w.created_at.to_rfc3339(),
            secret: None,
        }
    }
}

#[derive(Serialize, ToSchema, Debug)]
pub struct WebhookResponse {
    /// Always true.
    #[schema(example = true)]
    pub success: bool,
    pub data: WebhookConfig,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct Deleted {
    #[schema(example = true)]
    pub deleted: bool,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct DeletedResponse {
    #[schema(example = true)]
    pub success: bool,
    pub data: Deleted,
}

/// `{url, events?, isActive?}`.
#[derive(ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct WebhookBody {
    #[schema(example = "https://hooks.example.com/envelope")]
    url: String,
    #[schema(example = json!(["message.received", "conversation.closed"]))]
    events: Option<Vec<String>>,
    is_active: Option<bool>,
}

struct Asked {
    url: String,
    events: Vec<String>,
    is_active: Option<bool>,
}

fn read_body(body: &[u8], allow_private: bool) -> Result<Asked, EnvelopeError> {
    let map = crate::json_object(body)?;
    let url = match map.get("url") {
        Some(Value::String(u)) => u.trim().to_owned(),
        None | Some(Value::Null) => return Err(EnvelopeError::bad_request("url is required")),
        Some(_) => return Err(EnvelopeError::bad_request("url must be a string")),
    };
    rosetta_core::webhooks::check_url(&url, allow_private).map_err(|e| EnvelopeError::bad_request(e.to_string()))?;
    let events = match map.get("events") {
        None | Some(Value::Null) => crate::events::EVENT_NAMES.iter().map(|e| e.to_string()).collect(),
        Some(Value::Array(list)) => {
            let mut names: Vec<String> = Vec::new();
            for item in list {
                let name = item
                    .as_str()
                    .ok_or_else(|| EnvelopeError::bad_request("events must be a list of event names"))?;
                if !crate::events::EVENT_NAMES.contains(&name) {
                    return Err(EnvelopeError::bad_request(format!(
                        "Unknown event {name}: one of {}",
                        crate::events::EVENT_NAMES.join(", ")
                    )));
                }
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
            }
            if names.is_empty() {
                return Err(EnvelopeError::bad_request("events must name at least one event"));
            }
            names
        }
        Some(_) => return Err(EnvelopeError::bad_request("events must be a list of event names")),
    };
    let is_active = match map.get("isActive") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(EnvelopeError::bad_request("isActive must be a boolean")),
    };
    Ok(Asked { url, events, is_active })
}

fn not_configured() -> EnvelopeError {
    EnvelopeError::new(StatusCode::NOT_FOUND, "Webhook not configured")
}

/// Register the organization's webhook (201, with its secret), or update it (200).
#[utoipa::path(
    post,
    path = "/api/whatsapp/webhooks",
    tag = "Webhooks",
    request_body = WebhookBody,
    security(("bearer" = [], "org" = [])),
    responses(
        (status = 200, description = "Updated", body = WebhookResponse),
        (status = 201, description = "Registered, with its secret (shown once)", body = WebhookResponse),
        (status = 400, description = "url, events or isActive", body = ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "The credentials are not the organization's", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn register(
    req: HttpRequest,
    envelope: web::Data<Envelope>,
    body: web::Bytes,
) -> Result<HttpResponse, EnvelopeError> {
    let params = read_body(&body, envelope.state.allow_private_webhook_targets);
    let (created, config) = dialect::call(
        &req,
        &envelope.state,
        envelope.checks(&req, Cost::Blocking)?,
        params,
        |s, p, asked| match s.list_webhooks(p.org, Dialect::Envelope)?.into_iter().next() {
            Some(existing) => {
                let changes = WebhookChanges {
                    url: Some(asked.url),
                    events: Some(asked.events),
                    description: None,
                    is_active: asked.is_active,
                };
                Ok((
                    false,
                    WebhookConfig::from(s.update_webhook(p.org, Dialect::Envelope, existing.id, changes)?),
                ))
            }
            None => {
                let made = s.create_webhook(
                    p.org,
                    NewWebhook {
                        dialect: Dialect::Envelope,
                        url: asked.url,
                        events: asked.events,
                        description: None,
                        // Registering makes it active; isActive re-enables an existing one.
                        is_active: true,
                    },
                )?;
                let mut config = WebhookConfig::from(made.webhook);
                config.secret = Some(made.secret);
                Ok((true, config))
            }
        },
    )
    .await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(HttpResponse::build(status).json(WebhookResponse {
        success: true,
        data: config,
    }))
}

/// The organization's webhook configuration.
#[utoipa::path(
    get,
    path = "/api/whatsapp/webhooks",
    tag = "Webhooks",
    security(("bearer" = [], "org" = [])),
    responses(
        (status = 200, description = "The configuration (no secret)", body = WebhookResponse),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "The credentials are not the organization's", body = ErrorBody),
        (status = 404, description = "Webhook not configured", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn read(req: HttpRequest, envelope: web::Data<Envelope>) -> Result<HttpResponse, EnvelopeError> {
    let config = dialect::call(
        &req,
        &envelope.state,
        envelope.checks(&req, Cost::BoundedRead)?,
        Ok(()),
        |s, p, ()| {
            s.list_webhooks(p.org, Dialect::Envelope)?
                .into_iter()
                .next()
                .map(WebhookConfig::from)
                .ok_or_else(not_configured)
        },
    )
    .await?;
    Ok(rosetta_http::ok_json(WebhookResponse {
        success: true,
        data: config,
    }))
}

/// Remove the organization's webhook configuration.
#[utoipa::path(
    delete,
    path = "/api/whatsapp/webhooks",
    tag = "Webhooks",
    security(("bearer" = [], "org" = [])),
    responses(
        (status = 200, description = "Removed", body = DeletedResponse),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "The credentials are not the organization's", body = ErrorBody),
        (status = 404, description = "Webhook not configured", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn remove(req: HttpRequest, envelope: web::Data<Envelope>) -> Result<HttpResponse, EnvelopeError> {
    dialect::call(
        &req,
        &envelope.state,
        envelope.checks(&req, Cost::Blocking)?,
        Ok(()),
        |s, p, ()| {
            let existing = s
                .list_webhooks(p.org, Dialect::Envelope)?
                .into_iter()
                .next()
                .ok_or_else(not_configured)?;
            s.delete_webhook(p.org, Dialect::Envelope, existing.id)
                .map_err(|e: Error| EnvelopeError::from(e))
        },
    )
    .await?;
    Ok(rosetta_http::ok_json(DeletedResponse {
        success: true,
        data: Deleted { deleted: true },
    }))
}
