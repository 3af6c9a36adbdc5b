//! `/api/v1/webhooks` (scope `webhooks:manage`): the account's webhook endpoints, as wacrm's
//! product has them. `POST {url, events}` → 201 with the endpoint and its `secret` (`whsec_…`,
//! shown this once); `GET` lists them newest first, without secrets; `GET`/`PATCH`/`DELETE
//! /api/v1/webhooks/{id}` (`PATCH` takes `url`, `events`, `is_active`; re-enabling resets
//! `failure_count`; `DELETE` answers 204). The URL must be `https://` and not a private, loopback or
//! link-local address (`--allow-private-webhook-targets` lifts both, for local development); the
//! events must be wacrm's (`events::EVENT_NAMES`), at least one. Either wrong is 400 `bad_request`.
//! An endpoint receives what happens after it was made, in wacrm's bodies (`events::render`), signed
//! with its secret (`X-Wacrm-Signature`).

use actix_web::{web, HttpRequest, HttpResponse};
use rosetta_core::webhooks::{NewWebhook, Webhook, WebhookChanges};
use rosetta_core::{Dialect, EntityKind, Error, Id, Spelling};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::error::{ErrorBody, WacrmError};
use crate::{params, Wacrm};
use rosetta_http::auth::Cost;
use rosetta_http::dialect;

const SCOPE: Option<&str> = Some("webhooks:manage");

#[derive(Serialize, ToSchema, Debug)]
pub struct WebhookDto {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(example = "https://hooks.example.com/wacrm")]
    pub url: String,
    #[schema(example = json!(["message.received", "message.status_updated"]))]
    pub events: Vec<String>,
    pub is_active: bool,
    #[schema(format = DateTime)]
    pub last_delivery_at: Option<String>,
    /// Consecutive failed deliveries; the endpoint is disabled after 15.
    pub failure_count: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Only in the answer to its creation: the signing secret, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "whsec_q6cK1rV0b2y3m9s8d7f6g5h4j3k2l1z0x9c8v7b6n5m")]
    pub secret: Option<String>,
}

impl From<Webhook> for WebhookDto {
    fn from(w: Webhook) -> WebhookDto {
        WebhookDto {
            id: w.id.render(EntityKind::Webhook, Spelling::Uuid),
            url: w.url,
            events: w.events,
            is_active: w.is_active,
            last_delivery_at: w.last_delivery_at.map(|t| t.to_rfc3339()),
            failure_count: w.failure_count,
            created_at: w.created_at.to_rfc3339(),
            secret: None,
        }
    }
}

#[derive(Serialize, ToSchema, Debug)]
pub struct WebhookData {
    pub data: WebhookDto,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct WebhookList {
    pub data: Vec<WebhookDto>,
}

/// `{url, events}` (create), or any of `{url, events, is_active}` (change).
#[derive(ToSchema, Debug)]
#[allow(dead_code)]
pub struct WebhookBody {
    #[schema(example = "https://hooks.example.com/wacrm")]
    url: Option<String>,
    #[schema(example = json!(["message.received"]))]
    events: Option<Vec<String>>,
    is_active: Option<bool>,
}

fn bad(message: impl Into<String>) -> WacrmError {
    WacrmError::BadRequest(message.into())
}

fn url(map: &Map<String, Value>, allow_private: bool) -> Result<Option<String>, WacrmError> {
    match map.get("url") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(u)) => {
            let u = u.trim().to_owned();
            rosetta_core::webhooks::check_url(&u, allow_private).map_err(|e| bad(e.to_string()))?;
            Ok(Some(u))
        }
        Some(_) => Err(bad("'url' must be a string")),
    }
}

fn is_active(map: &Map<String, Value>) -> Result<Option<bool>, WacrmError> {
    match map.get("is_active") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad("'is_active' must be a boolean")),
    }
}

fn events(map: &Map<String, Value>) -> Result<Option<Vec<String>>, WacrmError> {
    let list = match map.get("events") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(bad("'events' must be a list of event names")),
    };
    let mut names: Vec<String> = Vec::new();
    for item in list {
        let name = item
            .as_str()
            .ok_or_else(|| bad("'events' must be a list of event names"))?;
        if !crate::events::EVENT_NAMES.contains(&name) {
            return Err(bad(format!(
                "unknown event '{name}': one of {}",
                crate::events::EVENT_NAMES.join(", ")
            )));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    if names.is_empty() {
        return Err(bad("'events' must name at least one event"));
    }
    Ok(Some(names))
}

/// Add a webhook endpoint: answered with its secret, shown this once.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    tag = "Webhooks",
    request_body = WebhookBody,
    security(("api_key" = [])),
    responses(
        (status = 201, description = "Made, with its secret (shown once)", body = WebhookData),
        (status = 400, description = "bad_request: url or events", body = ErrorBody),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = ErrorBody),
        (status = 403, description = "The key lacks webhooks:manage", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn create(req: HttpRequest, wacrm: web::Data<Wacrm>, body: web::Bytes) -> Result<HttpResponse, WacrmError> {
    let allow_private = wacrm.state.allow_private_webhook_targets;
    let params = (|| {
        let map = dialect::json_object::<WacrmError>(&body)?;
        let url = url(&map, allow_private)?.ok_or_else(|| bad("'url' is required"))?;
        let events = events(&map)?.ok_or_else(|| bad("'events' is required"))?;
        Ok(NewWebhook {
            dialect: Dialect::Wacrm,
            url,
            events,
            description: None,
            is_active: is_active(&map)?.unwrap_or(true),
        })
    })();
    let made = dialect::call(
        &req,
        &wacrm.state,
        wacrm.checks(&req, SCOPE, Cost::Blocking)?,
        params,
        |s, p, new| Ok(s.create_webhook(p.org, new)?),
    )
    .await?;
    let mut dto = WebhookDto::from(made.webhook);
    dto.secret = Some(made.secret);
    Ok(HttpResponse::Created().json(WebhookData { data: dto }))
}

/// The account's webhook endpoints, newest first (no secrets).
#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    tag = "Webhooks",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The endpoints", body = WebhookList),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = ErrorBody),
        (status = 403, description = "The key lacks webhooks:manage", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn list(req: HttpRequest, wacrm: web::Data<Wacrm>) -> Result<HttpResponse, WacrmError> {
    let all = dialect::call(
        &req,
        &wacrm.state,
        wacrm.checks(&req, SCOPE, Cost::BoundedRead)?,
        Ok(()),
        |s, p, ()| Ok(s.list_webhooks(p.org, Dialect::Wacrm)?),
    )
    .await?;
    Ok(rosetta_http::ok_json(WebhookList {
        data: all.into_iter().map(WebhookDto::from).collect(),
    }))
}

fn webhook_id(raw: &str) -> Result<Id, Error> {
    params::uuid(EntityKind::Webhook, raw).ok_or(Error::NotFound(EntityKind::Webhook))
}

/// One webhook endpoint (no secret).
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}",
    tag = "Webhooks",
    params(("id" = String, Path, format = Uuid, description = "Webhook UUID")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The endpoint", body = WebhookData),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = ErrorBody),
        (status = 403, description = "The key lacks webhooks:manage", body = ErrorBody),
        (status = 404, description = "No such webhook in this account (also a malformed id)", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn get(req: HttpRequest, wacrm: web::Data<Wacrm>, id: web::Path<String>) -> Result<HttpResponse, WacrmError> {
    let id = webhook_id(&id);
    let webhook = dialect::call(
        &req,
        &wacrm.state,
        wacrm.checks(&req, SCOPE, Cost::BoundedRead)?,
        Ok(id),
        |s, p, id| Ok(s.get_webhook(p.org, Dialect::Wacrm, id?)?),
    )
    .await?;
    Ok(rosetta_http::ok_json(WebhookData { data: webhook.into() }))
}

/// Change a webhook endpoint's url, events or `is_active` (re-enabling resets `failure_count`).
#[utoipa::path(
    patch,
    path = "/api/v1/webhooks/{id}",
    tag = "Webhooks",
    params(("id" = String, Path, format = Uuid, description = "Webhook UUID")),
    request_body = WebhookBody,
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The endpoint as it now is", body = WebhookData),
        (status = 400, description = "bad_request: url, events or is_active", body = ErrorBody),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = ErrorBody),
        (status = 403, description = "The key lacks webhooks:manage", body = ErrorBody),
        (status = 404, description = "No such webhook in this account (also a malformed id)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn update(
    req: HttpRequest,
    wacrm: web::Data<Wacrm>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WacrmError> {
    let allow_private = wacrm.state.allow_private_webhook_targets;
    let id = webhook_id(&id);
    let params = (|| {
        let map = dialect::json_object::<WacrmError>(&body)?;
        Ok(WebhookChanges {
            url: url(&map, allow_private)?,
            events: events(&map)?,
            description: None,
            is_active: is_active(&map)?,
        })
    })();
    let webhook = dialect::call(
        &req,
        &wacrm.state,
        wacrm.checks(&req, SCOPE, Cost::Blocking)?,
        params,
        |s, p, changes| Ok(s.update_webhook(p.org, Dialect::Wacrm, id?, changes)?),
    )
    .await?;
    Ok(rosetta_http::ok_json(WebhookData { data: webhook.into() }))
}

/// Remove a webhook endpoint.
#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/{id}",
    tag = "Webhooks",
    params(("id" = String, Path, format = Uuid, description = "Webhook UUID")),
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = ErrorBody),
        (status = 403, description = "The key lacks webhooks:manage", body = ErrorBody),
        (status = 404, description = "No such webhook in this account (also a malformed id)", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn delete(
    req: HttpRequest,
    wacrm: web::Data<Wacrm>,
    id: web::Path<String>,
) -> Result<HttpResponse, WacrmError> {
    let id = webhook_id(&id);
    dialect::call(
        &req,
        &wacrm.state,
        wacrm.checks(&req, SCOPE, Cost::Blocking)?,
        Ok(id),
        |s, p, id| Ok(s.delete_webhook(p.org, Dialect::Wacrm, id?)?),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
