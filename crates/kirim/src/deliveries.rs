//! `/v1/webhook_deliveries`: what was delivered to the organization's subscriptions, every attempt,
//! and replay. Kept 30 days (`serve --event-retention-days`).
//! - `GET` lists them, newest first, by cursor; filters `subscription_id`, `status` (`pending`,
//!   `delivered`, `failed`), `event_type`, `created_after`, `created_before` (RFC 3339).
//! - `GET /{id}` one, with its `attempt_log` (each attempt: when, how long, the response's status and
//!   first 1 KiB, or why there was none).
//! - `POST /{id}/replay` queues it again, due now: the same delivery (`wbd_`), event and body, the
//!   next attempt number, delivered even if it had failed or been delivered before.
//! - `POST /bulk_replay` queues again the deliveries named (`{delivery_ids: [...]}`, 1 to 1000,
//!   every one the organization's or none replayed) or the newest 1000 a filter selects (the list's
//!   filters in the body, e.g. `{subscription_id, status: "failed"}`).
//!
//! `event_id` is what a receiver dedupes on, as in `X-Kirim-Event-Id`: the wamid for Meta's events,
//! the `evt_` id for kirim's own.

use actix_web::{web, HttpRequest, HttpResponse};
use rosetta_core::webhooks::{DeliveryDetail, DeliveryFilter, DeliveryState, Replay, WebhookDelivery, MAX_BULK_REPLAY};
use rosetta_core::{Dialect, EntityKind, PageRequest, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::dto::kirim_id;
use crate::error::{ErrorBody, KirimError};
use crate::{params, Access, Kirim};
use rosetta_http::auth::Cost;
use rosetta_http::dialect::{self, current_request_id};

#[derive(Serialize, ToSchema, Debug)]
pub struct AttemptDto {
    /// From 1.
    pub attempt: u32,
    #[schema(format = DateTime)]
    pub started_at: String,
    pub duration_ms: i64,
    /// The endpoint's status code; null when there was no answer.
    pub response_status: Option<u16>,
    /// Why it failed (a status, a timeout, a refused address, a redirect not followed).
    pub error: Option<String>,
    /// The first 1 KiB of the endpoint's answer.
    pub response_excerpt: Option<String>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct DeliveryDto {
    #[schema(example = "wbd_01HXYZABCDEFGHJKMNPQRSTVWX", pattern = "^wbd_[0-9A-HJKMNP-TV-Z]{26}$")]
    pub id: String,
    #[schema(example = "webhook_delivery")]
    pub object: &'static str,
    #[schema(example = "wbs_01HXYZABCDEFGHJKMNPQRSTVWX")]
    pub subscription_id: String,
    /// The receiver's dedupe key (`X-Kirim-Event-Id`): a wamid or an `evt_` id.
    pub event_id: String,
    #[schema(example = "message.received")]
    pub event_type: String,
    /// pending, delivered or failed.
    pub status: &'static str,
    /// Attempts made.
    pub attempts: u32,
    /// When a pending delivery is next attempted.
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    pub last_response_status: Option<u16>,
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub delivered_at: Option<String>,
    /// Only when one delivery is read: every attempt, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_log: Option<Vec<AttemptDto>>,
}

impl From<WebhookDelivery> for DeliveryDto {
    fn from(d: WebhookDelivery) -> DeliveryDto {
        DeliveryDto {
            id: kirim_id(EntityKind::WebhookDelivery, d.id),
            object: "webhook_delivery",
            subscription_id: kirim_id(EntityKind::Webhook, d.webhook_id),
            event_id: d.dedupe_key,
            event_type: d.event_name,
            status: d.state.as_str(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at.map(|t| t.to_rfc3339()),
            last_response_status: d.last_status_code,
            last_error: d.last_error,
            created_at: d.created_at.to_rfc3339(),
            delivered_at: d.delivered_at.map(|t| t.to_rfc3339()),
            attempt_log: None,
        }
    }
}

impl From<DeliveryDetail> for DeliveryDto {
    fn from(d: DeliveryDetail) -> DeliveryDto {
        let mut dto = DeliveryDto::from(d.delivery);
        dto.attempt_log = Some(
            d.attempts
                .into_iter()
                .map(|a| AttemptDto {
                    attempt: a.attempt,
                    started_at: a.record.started_at.to_rfc3339(),
                    duration_ms: a.record.duration_ms,
                    response_status: a.record.status_code,
                    error: a.record.error,
                    response_excerpt: a.record.excerpt,
                })
                .collect(),
        );
        dto
    }
}

#[derive(Serialize, ToSchema, Debug)]
pub struct DeliveryData {
    pub data: DeliveryDto,
    #[schema(example = "req_01HXYZABCDEFGHJKMNPQRSTVWX")]
    pub request_id: String,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct DeliveryList {
    pub data: Vec<DeliveryDto>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
    #[schema(example = "req_01HXYZABCDEFGHJKMNPQRSTVWX")]
    pub request_id: String,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct BulkReplayDto {
    #[schema(example = "bulk_replay")]
    pub object: &'static str,
    /// How many were queued again.
    pub replayed: usize,
    pub delivery_ids: Vec<String>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct BulkReplayData {
    pub data: BulkReplayDto,
    #[schema(example = "req_01HXYZABCDEFGHJKMNPQRSTVWX")]
    pub request_id: String,
}

#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct ListDeliveries {
    /// Only this subscription's.
    #[param(pattern = "^wbs_[0-9A-HJKMNP-TV-Z]{26}$")]
    pub subscription_id: Option<String>,
    /// pending, delivered or failed.
    #[param(inline, value_type = Option<DeliveryStatusParam>)]
    pub status: Option<String>,
    /// Only this event type.
    #[param(example = "message.received")]
    pub event_type: Option<String>,
    /// Made at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub created_after: Option<String>,
    /// Made before this time (RFC 3339).
    #[param(format = DateTime)]
    pub created_before: Option<String>,
    /// Page size, 1 to 100 (default 25).
    #[param(pattern = r"^\d+$", example = "25")]
    pub limit: Option<String>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

#[derive(Deserialize, ToSchema, Debug)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatusParam {
    Pending,
    Delivered,
    Failed,
}

/// `{delivery_ids}`, or filters.
#[derive(ToSchema, Debug)]
#[allow(dead_code)]
pub struct BulkReplayBody {
    /// 1 to 1000 deliveries; or leave it out and filter.
    #[schema(max_items = 1000)]
    delivery_ids: Option<Vec<String>>,
    subscription_id: Option<String>,
    /// pending, delivered or failed.
    status: Option<String>,
    event_type: Option<String>,
    #[schema(format = DateTime)]
    created_after: Option<String>,
    #[schema(format = DateTime)]
    created_before: Option<String>,
}

fn delivery_id(param: &str, raw: &str) -> Result<rosetta_core::Id, KirimError> {
    params::id(EntityKind::WebhookDelivery, param, raw)
}

/// The list's filters, from the query or a bulk replay's body (strings each).
fn filter(get: impl Fn(&str) -> Result<Option<String>, KirimError>) -> Result<DeliveryFilter, KirimError> {
    let time = |name: &str| -> Result<Option<Timestamp>, KirimError> {
        get(name)?
            .map(|raw| {
                Timestamp::parse_rfc3339(&raw)
                    .ok_or_else(|| KirimError::invalid_field(name, format!("{name} must be an RFC 3339 time")))
            })
            .transpose()
    };
    let state = get("status")?
        .map(|raw| {
            DeliveryState::parse(&raw)
                .ok_or_else(|| KirimError::invalid_field("status", "status must be pending, delivered or failed"))
        })
        .transpose()?;
    let event_name = get("event_type")?
        .map(|raw| {
            crate::events::EVENT_NAMES
                .contains(&raw.as_str())
                .then_some(raw)
                .ok_or_else(|| {
                    KirimError::invalid_field(
                        "event_type",
                        format!("event_type must be one of {}", crate::events::EVENT_NAMES.join(", ")),
                    )
                })
        })
        .transpose()?;
    Ok(DeliveryFilter {
        webhook_id: get("subscription_id")?
            .map(|raw| params::id(EntityKind::Webhook, "subscription_id", &raw))
            .transpose()?,
        state,
        event_name,
        created_from: time("created_after")?,
        created_before: time("created_before")?,
    })
}

/// Deliveries to the organization's subscriptions, newest first.
#[utoipa::path(
    get,
    path = "/v1/webhook_deliveries",
    tag = "Webhooks",
    params(ListDeliveries),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryList),
        (status = 400, description = "A filter, limit or cursor", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 404, description = "No such subscription", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn list(
    req: HttpRequest,
    kirim: web::Data<Kirim>,
    query: web::Query<ListDeliveries>,
) -> Result<HttpResponse, KirimError> {
    let query = query.into_inner();
    let params = (|| {
        let filter = filter(|name| {
            Ok(match name {
                "subscription_id" => query.subscription_id.clone(),
                "status" => query.status.clone(),
                "event_type" => query.event_type.clone(),
                "created_after" => query.created_after.clone(),
                _ => query.created_before.clone(),
            })
        })?;
        let page = PageRequest::Keyset {
            limit: params::limit(query.limit.as_deref())?,
            cursor: params::cursor(query.cursor.clone())?,
        };
        Ok((filter, page))
    })();
    let page = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Read, Cost::BoundedRead)?,
        params,
        |s, p, (filter, page)| Ok(s.list_webhook_deliveries(p.org, Dialect::Kirim, &filter, &page)?),
    )
    .await?;
    Ok(rosetta_http::ok_json(DeliveryList {
        data: page.items.into_iter().map(DeliveryDto::from).collect(),
        has_more: page.has_more,
        next_cursor: page.next_cursor,
        request_id: current_request_id(),
    }))
}

/// One delivery, with every attempt.
#[utoipa::path(
    get,
    path = "/v1/webhook_deliveries/{id}",
    tag = "Webhooks",
    params(("id" = String, Path, pattern = "^wbd_[0-9A-HJKMNP-TV-Z]{26}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The delivery and its attempts", body = DeliveryData),
        (status = 400, description = "A malformed id", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 404, description = "No such delivery", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn get(req: HttpRequest, kirim: web::Data<Kirim>, id: web::Path<String>) -> Result<HttpResponse, KirimError> {
    let params = delivery_id("id", &id);
    let detail = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Read, Cost::BoundedRead)?,
        params,
        |s, p, id| Ok(s.get_webhook_delivery(p.org, Dialect::Kirim, id)?),
    )
    .await?;
    Ok(rosetta_http::ok_json(DeliveryData {
        data: detail.into(),
        request_id: current_request_id(),
    }))
}

/// Queue one delivery again, due now.
#[utoipa::path(
    post,
    path = "/v1/webhook_deliveries/{id}/replay",
    tag = "Webhooks",
    params(("id" = String, Path, pattern = "^wbd_[0-9A-HJKMNP-TV-Z]{26}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Queued again", body = DeliveryData),
        (status = 400, description = "A malformed id", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 404, description = "No such delivery", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn replay(
    req: HttpRequest,
    kirim: web::Data<Kirim>,
    id: web::Path<String>,
) -> Result<HttpResponse, KirimError> {
    let params = delivery_id("id", &id);
    let mut replayed = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Write, Cost::Blocking)?,
        params,
        |s, p, id| Ok(s.replay_webhook_deliveries(p.org, Dialect::Kirim, &Replay::Ids(vec![id]))?),
    )
    .await?;
    let one = replayed
        .pop()
        .ok_or_else(|| KirimError::from(rosetta_core::Error::NotFound(EntityKind::WebhookDelivery)))?;
    Ok(rosetta_http::ok_json(DeliveryData {
        data: one.into(),
        request_id: current_request_id(),
    }))
}

/// Queue again the deliveries named, or those a filter selects (the newest 1000).
#[utoipa::path(
    post,
    path = "/v1/webhook_deliveries/bulk_replay",
    tag = "Webhooks",
    request_body = BulkReplayBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Queued again", body = BulkReplayData),
        (status = 400, description = "delivery_ids or a filter", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 404, description = "A delivery or subscription that is not the organization's", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn bulk_replay(
    req: HttpRequest,
    kirim: web::Data<Kirim>,
    body: web::Bytes,
) -> Result<HttpResponse, KirimError> {
    let params = (|| {
        let map: Map<String, Value> = crate::json_object(&body)?;
        let text = |name: &str| -> Result<Option<String>, KirimError> {
            match map.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(KirimError::invalid_field(name, format!("{name} must be a string"))),
            }
        };
        match map.get("delivery_ids") {
            None | Some(Value::Null) => Ok(Replay::Matching(filter(text)?)),
            Some(Value::Array(list)) => {
                if list.is_empty() || list.len() > MAX_BULK_REPLAY {
                    return Err(KirimError::invalid_field(
                        "delivery_ids",
                        format!("delivery_ids must name 1 to {MAX_BULK_REPLAY} deliveries"),
                    ));
                }
                if let Some(other) = [
                    "subscription_id",
                    "status",
                    "event_type",
                    "created_after",
                    "created_before",
                ]
                .into_iter()
                .find(|f| map.get(*f).is_some_and(|v| !v.is_null()))
                {
                    return Err(KirimError::invalid_field(
                        other,
                        format!("{other} cannot be given with delivery_ids"),
                    ));
                }
                let ids = list
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .ok_or_else(|| {
                                KirimError::invalid_field("delivery_ids", "delivery_ids must be a list of wbd_ ids")
                            })
                            .and_then(|raw| delivery_id("delivery_ids", raw))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Replay::Ids(ids))
            }
            Some(_) => Err(KirimError::invalid_field(
                "delivery_ids",
                "delivery_ids must be a list of wbd_ ids",
            )),
        }
    })();
    let replayed = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Write, Cost::Blocking)?,
        params,
        |s, p, which| Ok(s.replay_webhook_deliveries(p.org, Dialect::Kirim, &which)?),
    )
    .await?;
    Ok(rosetta_http::ok_json(BulkReplayData {
        data: BulkReplayDto {
            object: "bulk_replay",
            replayed: replayed.len(),
            delivery_ids: replayed
                .into_iter()
                .map(|d| kirim_id(EntityKind::WebhookDelivery, d.id))
                .collect(),
        },
        request_id: current_request_id(),
    }))
}
