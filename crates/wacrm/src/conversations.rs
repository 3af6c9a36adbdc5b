//! `GET /api/v1/conversations`, `/conversations/{id}`, `/conversations/{id}/messages`.

use actix_web::{web, HttpRequest, HttpResponse};
use rosetta_core::*;

use crate::dto::*;
use crate::error::{ErrorBody, WacrmError};
use crate::params::{self, ListConversations, Paging};
use crate::Wacrm;
use rosetta_http::auth::Cost;
use rosetta_http::dialect;

/// List conversations, newest first (`created_at` desc, then id desc).
#[utoipa::path(
    get,
    path = "/api/v1/conversations",
    tag = "Conversations",
    params(ListConversations),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "One page of conversations, each with its contact and the contact's tags", body = ConversationList),
        (status = 400, description = "A cursor Rosetta did not make, or made for other filters; a malformed contact_id", body = ErrorBody),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = ErrorBody),
        (status = 403, description = "The key lacks conversations:read", body = ErrorBody),
        (status = 404, description = "contact_id names no contact of this account, or the cursor is another account's", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn list(
    req: HttpRequest,
    wacrm: web::Data<Wacrm>,
    query: web::Query<ListConversations>,
) -> Result<HttpResponse, WacrmError> {
    let query = query.into_inner();
    let params = (|| {
        let contact_id = match query.contact_id.as_deref() {
            Some(raw) => Some(
                params::uuid(EntityKind::Contact, raw)
                    .ok_or_else(|| WacrmError::BadRequest("contact_id must be a UUID".into()))?,
            ),
            None => None,
        };
        let filter = ConversationFilter {
            statuses: query
                .status
                .as_deref()
                .map(|s| ConversationStatus::matching(Dialect::Wacrm, s)),
            contact_id,
            ..Default::default()
        };
        let page = PageRequest::Keyset {
            limit: params::limit(query.limit.as_deref()),
            cursor: params::cursor(query.cursor)?,
        };
        Ok((filter, page))
    })();
    let page = dialect::call(
        &req,
        &wacrm.state,
        wacrm.checks(&req, Some("conversations:read"), Cost::BoundedRead)?,
        params,
        |s, p, (filter, page)| Ok(s.list_conversations(p.org, &filter, ConversationOrder::CreatedDesc, &page)?),
    )
    .await?;
    Ok(rosetta_http::ok_json(ConversationList {
        meta: Meta {
            next_cursor: page.next_cursor,
        },
        data: page.items.into_iter().map(ConversationDto::from).collect(),
    }))
}

/// One conversation with its contact and tags. Another account's conversation is 404.
#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}",
    tag = "Conversations",
    params(("id" = String, Path, format = Uuid, description = "Conversation UUID")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The conversation", body = ConversationData),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = ErrorBody),
        (status = 403, description = "The key lacks conversations:read", body = ErrorBody),
        (status = 404, description = "No such conversation in this account (also a malformed id)", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn get(req: HttpRequest, wacrm: web::Data<Wacrm>, id: web::Path<String>) -> Result<HttpResponse, WacrmError> {
    let id = params::uuid(EntityKind::Conversation, &id);
    let detail = dialect::call(
        &req,
        &wacrm.state,
        wacrm.checks(&req, Some("conversations:read"), Cost::BoundedRead)?,
        Ok(id),
        |s, p, id| Ok(s.get_conversation(p.org, id.ok_or(Error::NotFound(EntityKind::Conversation))?)?),
    )
    .await?;
    Ok(rosetta_http::ok_json(ConversationData { data: detail.into() }))
}

/// A conversation's messages, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}/messages",
    tag = "Conversations",
    params(("id" = String, Path, format = Uuid, description = "Conversation UUID"), Paging),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "One page of messages, newest first", body = MessageList),
        (status = 400, description = "A cursor Rosetta did not make, or made for another conversation", body = ErrorBody),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = ErrorBody),
        (status = 403, description = "The key lacks messages:read", body = ErrorBody),
        (status = 404, description = "No such conversation in this account (also a malformed id)", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn messages(
    req: HttpRequest,
    wacrm: web::Data<Wacrm>,
    id: web::Path<String>,
    query: web::Query<Paging>,
) -> Result<HttpResponse, WacrmError> {
    let id = params::uuid(EntityKind::Conversation, &id);
    let query = query.into_inner();
    let params = params::cursor(query.cursor).map(|cursor| PageRequest::Keyset {
        limit: params::limit(query.limit.as_deref()),
        cursor,
    });
    let page = dialect::call(
        &req,
        &wacrm.state,
        wacrm.checks(&req, Some("messages:read"), Cost::BoundedRead)?,
        params,
        move |s, p, page| Ok(s.list_messages(p.org, id.ok_or(Error::NotFound(EntityKind::Conversation))?, &page)?),
    )
    .await?;
    let urls = rosetta_http::media::MediaUrls::for_request(&req, &wacrm.state);
    Ok(rosetta_http::ok_json(MessageList {
        meta: Meta {
            next_cursor: page.next_cursor,
        },
        data: page.items.into_iter().map(|m| MessageDto::new(m, &urls)).collect(),
    }))
}
