//! `GET /v1/{phone_number_id}/conversations`, `GET` and `PATCH /v1/{phone_number_id}/conversations/{id}`.

use actix_web::{web, HttpRequest, HttpResponse};
use rosetta_core::*;
use rosetta_http::auth::Cost;
use rosetta_http::dialect;

use crate::dto::*;
use crate::error::{ErrorBody, KirimError};
use crate::params::{self, ListConversations};
use crate::Access;
use crate::{json_object, Kirim};
use rosetta_http::dialect::current_request_id;

/// The conversation, if it is this account's.
pub(crate) fn of_account(
    store: &dyn Store,
    org: Id,
    account: &WhatsAppAccount,
    id: Id,
) -> Result<ConversationDetail, KirimError> {
    let detail = store.get_conversation(org, id)?;
    if detail.conversation.account_id != account.id {
        return Err(KirimError::not_found("Conversation"));
    }
    Ok(detail)
}

/// List conversations for the WhatsApp account identified by phone_number_id. Ordered newest-active
/// first by last_message_at (NULLS LAST), then id.
#[utoipa::path(
    get,
    path = "/v1/{phone_number_id}/conversations",
    tag = "Conversations",
    params(
        ("phone_number_id" = String, Path, pattern = r"^\d{6,20}$", example = "106540352242922", description = "Meta WhatsApp Business phone_number_id of the connected account (GET /v1/accounts)"),
        ListConversations,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Conversation list", body = ConversationList),
        (status = 400, description = "Validation failure", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 404, description = "Resource not found", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn list(
    req: HttpRequest,
    kirim: web::Data<Kirim>,
    path: web::Path<String>,
    query: web::Query<ListConversations>,
) -> Result<HttpResponse, KirimError> {
    let query = query.into_inner();
    let params = (|| {
        let pnid = params::phone_number_id(&path)?;
        let statuses = query.status.as_deref().map(params::status_filter).transpose()?;
        let contact_id = query
            .contact_id
            .as_deref()
            .map(|raw| params::id(EntityKind::Contact, "contact_id", raw))
            .transpose()?;
        let page = PageRequest::Keyset {
            limit: params::limit(query.limit.as_deref())?,
            cursor: params::cursor(query.cursor)?,
        };
        Ok((pnid, statuses, contact_id, page))
    })();
    let page = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Read, Cost::BoundedRead)?,
        params,
        |store, p, (pnid, statuses, contact_id, page)| {
            let org = p.org;
            let account = store.find_account(org, &pnid)?;
            let filter = ConversationFilter {
                statuses,
                contact_id,
                account_id: Some(account.id),
                ..Default::default()
            };
            // The store answers a contact of another organization as not found: name the filter.
            store
                .list_conversations(org, &filter, ConversationOrder::LastMessageDesc, &page)
                .map_err(|e| match e {
                    Error::NotFound(EntityKind::Contact) => KirimError::from(e).param("contact_id"),
                    e => e.into(),
                })
        },
    )
    .await?;
    Ok(rosetta_http::ok_json(ConversationList {
        has_more: page.has_more,
        next_cursor: page.next_cursor,
        data: page.items.into_iter().map(ConversationDto::from).collect(),
        request_id: current_request_id(),
    }))
}

/// One conversation of this account.
#[utoipa::path(
    get,
    path = "/v1/{phone_number_id}/conversations/{id}",
    tag = "Conversations",
    params(
        ("phone_number_id" = String, Path, pattern = r"^\d{6,20}$", example = "106540352242922"),
        ("id" = String, Path, pattern = "^cnv_[0-9A-HJKMNP-TV-Z]{26}$", example = "cnv_01HXYZABCDEFGHJKMNPQRSTVWX"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The conversation", body = ConversationData),
        (status = 400, description = "Validation failure", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 404, description = "Resource not found (also another organization's or account's)", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn get(
    req: HttpRequest,
    kirim: web::Data<Kirim>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, KirimError> {
    let (pnid, id) = path.into_inner();
    let params =
        params::phone_number_id(&pnid).and_then(|pnid| Ok((pnid, params::id(EntityKind::Conversation, "id", &id)?)));
    let detail = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Read, Cost::BoundedRead)?,
        params,
        |store, p, (pnid, id)| {
            let account = store.find_account(p.org, &pnid)?;
            of_account(store, p.org, &account, id)
        },
    )
    .await?;
    Ok(rosetta_http::ok_json(ConversationData {
        data: detail.into(),
        request_id: current_request_id(),
    }))
}

/// `{status?, assigned_to?}`, at least one.
fn update_body(body: &[u8]) -> Result<ConversationUpdate, KirimError> {
    let map = json_object(body)?;
    let mut update = ConversationUpdate {
        asked_in: Some(Dialect::Kirim),
        ..Default::default()
    };
    match map.get("status") {
        None => {}
        Some(serde_json::Value::String(s)) => update.status = Some(params::status_value(s)?),
        Some(_) => return Err(params::invalid_status()),
    }
    match map.get("assigned_to") {
        None => {}
        Some(serde_json::Value::Null) => update.assignee = Some(None),
        Some(serde_json::Value::String(s)) => {
            update.assignee = Some(Some(params::id(EntityKind::User, "assigned_to", s)?))
        }
        Some(_) => {
            return Err(KirimError::invalid_field(
                "assigned_to",
                "assigned_to must be a user id (usr_…) or null",
            ))
        }
    }
    if update.status.is_none() && update.assignee.is_none() {
        return Err(KirimError::missing_field(
            "status",
            "Send at least one of status, assigned_to",
        ));
    }
    Ok(update)
}

/// Change a conversation's status, assignee, or both, at once. `assigned_to: null` unassigns.
#[utoipa::path(
    patch,
    path = "/v1/{phone_number_id}/conversations/{id}",
    tag = "Conversations",
    params(
        ("phone_number_id" = String, Path, pattern = r"^\d{6,20}$", example = "106540352242922"),
        ("id" = String, Path, pattern = "^cnv_[0-9A-HJKMNP-TV-Z]{26}$", example = "cnv_01HXYZABCDEFGHJKMNPQRSTVWX"),
    ),
    request_body = UpdateConversation,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The conversation after the change", body = ConversationData),
        (status = 400, description = "Validation failure", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 404, description = "Resource not found (the conversation, or the user to assign)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn update(
    req: HttpRequest,
    kirim: web::Data<Kirim>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, KirimError> {
    let (pnid, id) = path.into_inner();
    let params = (|| {
        let pnid = params::phone_number_id(&pnid)?;
        let id = params::id(EntityKind::Conversation, "id", &id)?;
        Ok((pnid, id, update_body(&body)?))
    })();
    let detail = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Write, Cost::Blocking)?,
        params,
        |store, p, (pnid, id, update)| {
            let org = p.org;
            let account = store.find_account(org, &pnid)?;
            of_account(store, org, &account, id)?;
            Ok(store.update_conversation(org, id, update)?)
        },
    )
    .await?;
    Ok(rosetta_http::ok_json(ConversationData {
        data: detail.into(),
        request_id: current_request_id(),
    }))
}
