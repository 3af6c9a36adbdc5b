//! `GET /api/whatsapp/messages?conversationId=&limit=&before=`.

use actix_web::{web, HttpRequest, HttpResponse};
use rosetta_http::auth::Cost;
use rosetta_http::dialect;

use crate::dto::*;
use crate::error::{EnvelopeError, ErrorBody};
use crate::params::{self, ListMessages};
use crate::Envelope;

/// A conversation's messages, newest first; `before` pages back from a message.
#[utoipa::path(
    get,
    path = "/api/whatsapp/messages",
    tag = "Messages",
    params(ListMessages),
    security(("bearer" = [], "org" = [])),
    responses(
        (status = 200, description = "One page of messages, newest first", body = MessagePageResponse),
        (status = 400, description = "A missing or invalid conversation ID, message ID or limit", body = ErrorBody),
        (status = 401, description = "Missing or invalid auth headers", body = ErrorBody),
        (status = 403, description = "The token does not belong to this organization", body = ErrorBody),
        (status = 404, description = "Conversation not found (or the `before` message is not in it)", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn list(
    req: HttpRequest,
    envelope: web::Data<Envelope>,
    query: web::Query<ListMessages>,
) -> Result<HttpResponse, EnvelopeError> {
    let q = query.into_inner();
    let params = (|| {
        let conversation = match q.conversationId.as_deref() {
            None | Some("") => return Err(EnvelopeError::bad_request("conversationId is required")),
            Some(raw) => params::conversation_id(raw)?,
        };
        let limit = params::limit(q.limit.as_deref(), params::DEFAULT_MESSAGE_LIMIT)?;
        let before = q
            .before
            .as_deref()
            .filter(|b| !b.is_empty())
            .map(params::message_id)
            .transpose()?;
        Ok((conversation, limit, before))
    })();
    let found = dialect::call(
        &req,
        &envelope.state,
        envelope.checks(&req, Cost::BoundedRead)?,
        params,
        |store, caller, (conversation, limit, before)| {
            Ok(store.list_messages_before(caller.org, conversation, before, limit)?)
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(MessagePageResponse::from(MessagePage {
        total: found.total.unwrap_or(0),
        page: 1,
        has_next: found.has_more,
        data: found.items.into_iter().map(MessageItem::from).collect(),
    })))
}
