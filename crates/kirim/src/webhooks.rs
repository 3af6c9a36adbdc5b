//! `/v1/webhook_subscriptions`: the organization's webhook subscriptions, in kirim's shapes.
//! - `POST {url, events, description?}` → `{data: {id: "wbs_…", object: "webhook_subscription",
//!   url, status: "active", events, description, secrets: [{id: "sec_…", created_at, expires_at}],
//!   initial_secret: "whsec_…"}, request_id}` (the secret shown this once). A URL that is not
//!   `https://`, or names a private, loopback or link-local host, is 400 `invalid_webhook_url`
//!   (`--allow-private-webhook-targets` lifts it for local development).
//! - `GET` lists them (newest first, one page), `GET`/`PATCH`/`DELETE /{id}`; `PATCH` takes `url`,
//!   `events`, `description`, `status` (`active` | `disabled`; re-activating resets the failure
//!   count).
//! - `POST /{id}/secrets {expires_in_hours?}` rotates: a new secret (answered once, as `secret`),
//!   the older ones expiring after `expires_in_hours` (24 by default, at most 720, 0 at once); until
//!   then every unexpired secret signs, so a delivery carries one `v1` per secret.
//!
//! Deliveries carry kirim's bodies (`events::render`) and headers (`events::OUTBOUND`); what was
//! delivered, and replay, is `/v1/webhook_deliveries` (`deliveries.rs`).

use actix_web::{web, HttpRequest, HttpResponse};
use rosetta_core::webhooks::{NewWebhook, Webhook, WebhookChanges};
use rosetta_core::{Dialect, EntityKind, Timestamp};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::dto::kirim_id;
use crate::error::{ErrorBody, KirimError};
use crate::{params, Access, Kirim};
use rosetta_http::auth::Cost;
use rosetta_http::dialect::{self, current_request_id};

#[derive(Serialize, ToSchema, Debug)]
pub struct SecretDto {
    #[schema(example = "sec_01HXYZABCDEFGHJKMNPQRSTVWX")]
    pub id: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When a rotation retires it; null while it is the newest.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct SubscriptionDto {
    #[schema(example = "wbs_01HXYZABCDEFGHJKMNPQRSTVWX", pattern = "^wbs_[0-9A-HJKMNP-TV-Z]{26}$")]
    pub id: String,
    #[schema(example = "webhook_subscription")]
    pub object: &'static str,
    pub url: String,
    /// active or disabled.
    pub status: &'static str,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub secrets: Vec<SecretDto>,
    /// Consecutive failed deliveries; disabled after 24.
    pub failure_count: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Only in the answer to its creation: the first signing secret, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_secret: Option<String>,
    /// Only in the answer to a rotation: the new signing secret, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<Webhook> for SubscriptionDto {
    fn from(w: Webhook) -> SubscriptionDto {
        SubscriptionDto {
            id: kirim_id(EntityKind::Webhook, w.id),
            object: "webhook_subscription",
            url: w.url,
            status: if w.is_active { "active" } else { "disabled" },
            events: w.events,
            description: w.description,
            secrets: w
                .secrets
                .into_iter()
                .map(|s| SecretDto {
                    id: kirim_id(EntityKind::WebhookSecret, s.id),
                    created_at: s.created_at.to_rfc3339(),
                    expires_at: s.expires_at.map(|t| t.to_rfc3339()),
                })
                .collect(),
            failure_count: w.failure_count,
            created_at: w.created_at.to_rfc3339(),
            updated_at: w.updated_at.to_rfc3339(),
            initial_secret: None,
            secret: None,
        }
    }
}

#[derive(Serialize, ToSchema, Debug)]
pub struct SubscriptionData {
    pub data: SubscriptionDto,
    #[schema(example = "req_01HXYZABCDEFGHJKMNPQRSTVWX")]
    pub request_id: String,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct SubscriptionList {
    pub data: Vec<SubscriptionDto>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
    #[schema(example = "req_01HXYZABCDEFGHJKMNPQRSTVWX")]
    pub request_id: String,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct DeletedDto {
    pub id: String,
    #[schema(example = "webhook_subscription")]
    pub object: &'static str,
    pub deleted: bool,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct DeletedData {
    pub data: DeletedDto,
    pub request_id: String,
}

/// `{url, events, description?}` (create), or any of `{url, events, description, status}` (change).
#[derive(ToSchema, Debug)]
#[allow(dead_code)]
pub struct SubscriptionBody {
    #[schema(example = "https://hooks.example.com/kirim")]
    url: Option<String>,
    #[schema(example = json!(["message.received", "conversation.closed"]))]
    events: Option<Vec<String>>,
    description: Option<String>,
    /// active (default) or disabled.
    status: Option<String>,
}

/// `{expires_in_hours?}`.
#[derive(ToSchema, Debug)]
#[allow(dead_code)]
pub struct RotateBody {
    /// How long the older secrets keep signing: 0 to 720, 24 by default.
    #[schema(minimum = 0, maximum = 720)]
    expires_in_hours: Option<i64>,
}

fn url(map: &Map<String, Value>, allow_private: bool) -> Result<Option<String>, KirimError> {
    match map.get("url") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(u)) => {
            let u = u.trim().to_owned();
            rosetta_core::webhooks::check_url(&u, allow_private)
                .map_err(|e| KirimError::invalid_webhook_url(e.to_string()))?;
            Ok(Some(u))
        }
        Some(_) => Err(KirimError::invalid_webhook_url("url must be a string")),
    }
}

fn events(map: &Map<String, Value>) -> Result<Option<Vec<String>>, KirimError> {
    let list = match map.get("events") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(KirimError::invalid_field(
                "events",
                "events must be a list of event types",
            ))
        }
    };
    let mut names: Vec<String> = Vec::new();
    for item in list {
        let name = item
            .as_str()
            .ok_or_else(|| KirimError::invalid_field("events", "events must be a list of event types"))?;
        if !crate::events::EVENT_NAMES.contains(&name) {
            return Err(KirimError::invalid_field(
                "events",
                format!(
                    "unknown event type {name}: one of {}",
                    crate::events::EVENT_NAMES.join(", ")
                ),
            ));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    if names.is_empty() {
        return Err(KirimError::invalid_field(
            "events",
            "events must name at least one event type",
        ));
    }
    Ok(Some(names))
}

/// `status`: `active` or `disabled`.
fn status(map: &Map<String, Value>) -> Result<Option<bool>, KirimError> {
    match map.get("status") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s == "active" => Ok(Some(true)),
        Some(Value::String(s)) if s == "disabled" => Ok(Some(false)),
        Some(_) => Err(KirimError::invalid_field("status", "status must be active or disabled")),
    }
}

fn description(map: &Map<String, Value>) -> Result<Option<Option<String>>, KirimError> {
    match map.get("description") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(d)) if d.chars().count() <= 500 => Ok(Some(Some(d.clone()))),
        Some(_) => Err(KirimError::invalid_field(
            "description",
            "description must be a string of at most 500 characters",
        )),
    }
}

fn data(dto: SubscriptionDto) -> HttpResponse {
    rosetta_http::ok_json(SubscriptionData {
        data: dto,
        request_id: current_request_id(),
    })
}

/// Subscribe an endpoint to events: answered with its `initial_secret`, shown once.
#[utoipa::path(
    post,
    path = "/v1/webhook_subscriptions",
    tag = "Webhooks",
    request_body = SubscriptionBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Subscribed, with its initial secret (shown once)", body = SubscriptionData),
        (status = 400, description = "invalid_webhook_url, or events", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn create(req: HttpRequest, kirim: web::Data<Kirim>, body: web::Bytes) -> Result<HttpResponse, KirimError> {
    let allow_private = kirim.state.allow_private_webhook_targets;
    let params = (|| {
        let map = crate::json_object(&body)?;
        let url = url(&map, allow_private)?.ok_or_else(|| KirimError::missing_field("url", "url is required"))?;
        let events = events(&map)?.ok_or_else(|| KirimError::missing_field("events", "events is required"))?;
        Ok(NewWebhook {
            dialect: Dialect::Kirim,
            url,
            events,
            description: description(&map)?.flatten(),
            is_active: status(&map)?.unwrap_or(true),
        })
    })();
    let made = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Write, Cost::Blocking)?,
        params,
        |s, p, new| Ok(s.create_webhook(p.org, new)?),
    )
    .await?;
    let mut dto = SubscriptionDto::from(made.webhook);
    dto.initial_secret = Some(made.secret);
    Ok(data(dto))
}

/// The organization's webhook subscriptions, newest first.
#[utoipa::path(
    get,
    path = "/v1/webhook_subscriptions",
    tag = "Webhooks",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscriptions (one page)", body = SubscriptionList),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn list(req: HttpRequest, kirim: web::Data<Kirim>) -> Result<HttpResponse, KirimError> {
    let all = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Read, Cost::BoundedRead)?,
        Ok(()),
        |s, p, ()| Ok(s.list_webhooks(p.org, Dialect::Kirim)?),
    )
    .await?;
    Ok(rosetta_http::ok_json(SubscriptionList {
        data: all.into_iter().map(SubscriptionDto::from).collect(),
        has_more: false,
        next_cursor: None,
        request_id: current_request_id(),
    }))
}

fn subscription_id(raw: &str) -> Result<rosetta_core::Id, KirimError> {
    params::id(EntityKind::Webhook, "id", raw)
}

/// One webhook subscription.
#[utoipa::path(
    get,
    path = "/v1/webhook_subscriptions/{id}",
    tag = "Webhooks",
    params(("id" = String, Path, pattern = "^wbs_[0-9A-HJKMNP-TV-Z]{26}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionData),
        (status = 400, description = "A malformed id", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 404, description = "No such subscription", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn get(req: HttpRequest, kirim: web::Data<Kirim>, id: web::Path<String>) -> Result<HttpResponse, KirimError> {
    let params = subscription_id(&id);
    let webhook = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Read, Cost::BoundedRead)?,
        params,
        |s, p, id| Ok(s.get_webhook(p.org, Dialect::Kirim, id)?),
    )
    .await?;
    Ok(data(webhook.into()))
}

/// Change a subscription's url, events, description or status (`active` | `disabled`).
#[utoipa::path(
    patch,
    path = "/v1/webhook_subscriptions/{id}",
    tag = "Webhooks",
    params(("id" = String, Path, pattern = "^wbs_[0-9A-HJKMNP-TV-Z]{26}$")),
    request_body = SubscriptionBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription as it now is", body = SubscriptionData),
        (status = 400, description = "invalid_webhook_url, events, status, or a malformed id", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 404, description = "No such subscription", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn update(
    req: HttpRequest,
    kirim: web::Data<Kirim>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, KirimError> {
    let allow_private = kirim.state.allow_private_webhook_targets;
    let params = (|| {
        let id = subscription_id(&id)?;
        let map = crate::json_object(&body)?;
        let is_active = status(&map)?;
        Ok((
            id,
            WebhookChanges {
                url: url(&map, allow_private)?,
                events: events(&map)?,
                description: description(&map)?,
                is_active,
            },
        ))
    })();
    let webhook = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Write, Cost::Blocking)?,
        params,
        |s, p, (id, changes)| Ok(s.update_webhook(p.org, Dialect::Kirim, id, changes)?),
    )
    .await?;
    Ok(data(webhook.into()))
}

/// Remove a subscription.
#[utoipa::path(
    delete,
    path = "/v1/webhook_subscriptions/{id}",
    tag = "Webhooks",
    params(("id" = String, Path, pattern = "^wbs_[0-9A-HJKMNP-TV-Z]{26}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Removed", body = DeletedData),
        (status = 400, description = "A malformed id", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 404, description = "No such subscription", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn delete(
    req: HttpRequest,
    kirim: web::Data<Kirim>,
    id: web::Path<String>,
) -> Result<HttpResponse, KirimError> {
    let params = subscription_id(&id);
    let removed = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Write, Cost::Blocking)?,
        params,
        |s, p, id| {
            s.delete_webhook(p.org, Dialect::Kirim, id)?;
            Ok(id)
        },
    )
    .await?;
    Ok(rosetta_http::ok_json(DeletedData {
        data: DeletedDto {
            id: kirim_id(EntityKind::Webhook, removed),
            object: "webhook_subscription",
            deleted: true,
        },
        request_id: current_request_id(),
    }))
}

/// Rotate the signing secret: a new one (shown once, as `secret`), the older ones retiring after
/// `expires_in_hours`.
#[utoipa::path(
    post,
    path = "/v1/webhook_subscriptions/{id}/secrets",
    tag = "Webhooks",
    params(("id" = String, Path, pattern = "^wbs_[0-9A-HJKMNP-TV-Z]{26}$")),
    request_body = RotateBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Rotated: the subscription with its new secret (shown once)", body = SubscriptionData),
        (status = 400, description = "expires_in_hours, or a malformed id", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 404, description = "No such subscription", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn rotate(
    req: HttpRequest,
    kirim: web::Data<Kirim>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, KirimError> {
    let params = (|| {
        let id = subscription_id(&id)?;
        let map = if body.is_empty() {
            Map::new()
        } else {
            crate::json_object(&body)?
        };
        let hours = match map.get("expires_in_hours") {
            None | Some(Value::Null) => 24,
            Some(Value::Number(n)) => n
                .as_i64()
                .filter(|h| (0..=720).contains(h))
                .ok_or_else(|| KirimError::invalid_field("expires_in_hours", "expires_in_hours must be 0 to 720"))?,
            Some(_) => {
                return Err(KirimError::invalid_field(
                    "expires_in_hours",
                    "expires_in_hours must be 0 to 720",
                ))
            }
        };
        Ok((id, Timestamp(Timestamp::now().millis() + hours * 3_600_000)))
    })();
    let rotated = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Write, Cost::Blocking)?,
        params,
        |s, p, (id, expire_at)| Ok(s.rotate_webhook_secret(p.org, Dialect::Kirim, id, expire_at)?),
    )
    .await?;
    let mut dto = SubscriptionDto::from(rotated.webhook);
    dto.secret = Some(rotated.secret);
    Ok(data(dto))
}
