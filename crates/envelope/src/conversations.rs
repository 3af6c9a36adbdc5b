//! `GET /api/whatsapp/conversations`, `GET /conversations/{id}`, `POST /conversations/{id}/close`
//! and `/assign`.

use actix_web::{web, HttpRequest, HttpResponse};
use rosetta_core::*;
use rosetta_http::auth::Cost;
use rosetta_http::dialect;

use crate::dto::*;
use crate::error::{EnvelopeError, ErrorBody};
use crate::params::{self, ListConversations};
use crate::{json_object, Envelope};

/// Retrieve a paginated list of conversations for your organization, most recently active first.
#[utoipa::path(
    get,
    path = "/api/whatsapp/conversations",
    tag = "Conversations",
    params(ListConversations),
    security(("bearer" = [], "org" = [])),
    responses(
        (status = 200, description = "One page, with the total the filters select", body = ConversationPageResponse),
        (status = 400, description = "Invalid page, limit, status or assignee", body = ErrorBody),
        (status = 401, description = "Missing or invalid auth headers", body = ErrorBody),
        (status = 403, description = "The token does not belong to this organization, or the assignee is not a member of it", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn list(
    req: HttpRequest,
    envelope: web::Data<Envelope>,
    query: web::Query<ListConversations>,
) -> Result<HttpResponse, EnvelopeError> {
    let q = query.into_inner();
    let params = (|| {
        let page = params::page(q.page.as_deref())?;
        let limit = params::limit(q.limit.as_deref(), params::DEFAULT_LIMIT)?;
        let filter = ConversationFilter {
            statuses: q.status.as_deref().map(params::status).transpose()?,
            assignee_id: q
                .assignee
                .as_deref()
                .map(|a| params::user_id(a, "Invalid assignee ID"))
                .transpose()?,
            ..Default::default()
        };
        Ok((page, limit, filter))
    })();
    let (page, limit, found) = dialect::call(
        &req,
        &envelope.state,
        envelope.checks(&req, Cost::BoundedRead)?,
        params,
        |store, caller, (page, limit, filter)| {
            let found = store.list_conversations(
                caller.org,
                &filter,
                ConversationOrder::LastActivityDesc,
                &PageRequest::Offset { page, limit },
            )?;
            Ok((page, limit, found))
        },
    )
    .await?;
    let total = found.total.unwrap_or(0);
    Ok(rosetta_http::ok_json(ConversationPageResponse::from(
        ConversationPage {
            conversations: found.items.into_iter().map(ConversationItem::from).collect(),
            total,
            page,
            limit,
            has_next: u64::from(page) * u64::from(limit) < total,
        },
    )))
}

/// Retrieve a single conversation by ID, including full contact details.
#[utoipa::path(
    get,
    path = "/api/whatsapp/conversations/{conversationId}",
    tag = "Conversations",
    params(("conversationId" = String, Path, example = "conv_a1b2c3d4-5678-90ab-cdef-1234567890ab")),
    security(("bearer" = [], "org" = [])),
    responses(
        (status = 200, description = "The conversation", body = ConversationResponse),
        (status = 400, description = "Invalid conversation ID", body = ErrorBody),
        (status = 401, description = "Missing or invalid auth headers", body = ErrorBody),
        (status = 403, description = "The token does not belong to this organization", body = ErrorBody),
        (status = 404, description = "Conversation not found (also another organization's)", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn get(
    req: HttpRequest,
    envelope: web::Data<Envelope>,
    id: web::Path<String>,
) -> Result<HttpResponse, EnvelopeError> {
    let params = params::conversation_id(&id);
    let detail = dialect::call(
        &req,
        &envelope.state,
        envelope.checks(&req, Cost::BoundedRead)?,
        params,
        |store, caller, id| Ok(store.get_conversation(caller.org, id)?),
    )
    .await?;
    Ok(rosetta_http::ok_json(ConversationResponse::from(
        ConversationFull::from(detail),
    )))
}

/// The optional `{resolution}` of a close; an empty body is allowed.
fn close_body(body: &[u8]) -> Result<Option<String>, EnvelopeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let map = json_object(body)?;
    match map.get("resolution") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(EnvelopeError::bad_request("resolution must be a string")),
    }
}

/// Mark a conversation as resolved: it stops AI handling and leaves the active queue. Closing a
/// closed conversation keeps its first close.
#[utoipa::path(
    post,
    path = "/api/whatsapp/conversations/{conversationId}/close",
    tag = "Conversations",
    params(("conversationId" = String, Path, example = "conv_a1b2c3d4-5678-90ab-cdef-1234567890ab")),
    request_body(content = Option<CloseRequest>, description = "Optional; an empty body is allowed"),
    security(("bearer" = [], "org" = [])),
    responses(
        (status = 200, description = "Closed", body = ClosedResponse),
        (status = 400, description = "Invalid conversation ID, or a malformed body", body = ErrorBody),
        (status = 401, description = "Missing or invalid auth headers", body = ErrorBody),
        (status = 403, description = "The token does not belong to this organization", body = ErrorBody),
        (status = 404, description = "Conversation not found", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn close(
    req: HttpRequest,
    envelope: web::Data<Envelope>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, EnvelopeError> {
    let params = params::conversation_id(&id).and_then(|id| Ok((id, close_body(&body)?)));
    let closed = dialect::call(
        &req,
        &envelope.state,
        envelope.checks(&req, Cost::Blocking)?,
        params,
        |store, caller, (id, resolution)| {
            Ok(store.update_conversation(caller.org, id, ConversationUpdate::close(resolution, caller.user()))?)
        },
    )
    .await?;
    Ok(rosetta_http::ok_json(ClosedResponse::from(Closed::from(
        closed.conversation,
    ))))
}

fn assign_body(body: &[u8]) -> Result<Id, EnvelopeError> {
    let map = json_object(body)?;
    match map.get("userId") {
        None | Some(serde_json::Value::Null) => Err(EnvelopeError::bad_request("userId is required")),
        Some(serde_json::Value::String(s)) => params::user_id(s, "Invalid user ID"),
        Some(_) => Err(EnvelopeError::bad_request("Invalid user ID")),
    }
}

/// Assign a conversation to a team member of this organization.
#[utoipa::path(
    post,
    path = "/api/whatsapp/conversations/{conversationId}/assign",
    tag = "Conversations",
    params(("conversationId" = String, Path, example = "conv_a1b2c3d4-5678-90ab-cdef-1234567890ab")),
    request_body = AssignRequest,
    security(("bearer" = [], "org" = [])),
    responses(
        (status = 200, description = "Assigned", body = AssignedResponse),
        (status = 400, description = "Invalid conversation ID, a missing or malformed userId", body = ErrorBody),
        (status = 401, description = "Missing or invalid auth headers", body = ErrorBody),
        (status = 403, description = "User is not a member of this organization (or the token is not)", body = ErrorBody),
        (status = 404, description = "Conversation not found", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn assign(
    req: HttpRequest,
    envelope: web::Data<Envelope>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, EnvelopeError> {
    let params = params::conversation_id(&id).and_then(|id| Ok((id, assign_body(&body)?)));
    let detail = dialect::call(
        &req,
        &envelope.state,
        envelope.checks(&req, Cost::Blocking)?,
        params,
        |store, caller, (id, user)| {
            Ok(store.update_conversation(
                caller.org,
                id,
                ConversationUpdate {
                    assignee: Some(Some(user)),
                    actor: caller.user(),
                    ..Default::default()
                },
            )?)
        },
    )
    .await?;
    Ok(rosetta_http::ok_json(AssignedResponse::from(Assigned::from(detail))))
}

#[derive(utoipa::ToSchema, Debug)]
#[allow(dead_code)]
pub struct CloseRequest {
    #[schema(example = "resolved")]
    pub resolution: Option<String>,
}

#[derive(utoipa::ToSchema, Debug)]
#[allow(dead_code, non_snake_case)]
pub struct AssignRequest {
    #[schema(example = "user_12345678-abcd-4f00-8000-123456789abc")]
    pub userId: String,
}
