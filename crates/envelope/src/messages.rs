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
    let urls = rosetta_http::media::MediaUrls::for_request(&req, &envelope.state);
    Ok(rosetta_http::ok_json(MessagePageResponse::from(MessagePage {
        total: found.total.unwrap_or(0),
        page: 1,
        has_next: found.has_more,
        data: found.items.into_iter().map(|m| MessageItem::new(m, &urls)).collect(),
    })))
}

/// The body of `POST /api/whatsapp/messages`.
#[derive(utoipa::ToSchema, Debug)]
#[allow(dead_code)]
pub struct SendMessage {
    #[schema(rename = "conversationId", example = "conv_550e8400-e29b-41d4-a716-446655440000")]
    conversation_id: String,
    /// text (default), image, video, audio, document, sticker or template.
    #[schema(example = "text")]
    r#type: Option<String>,
    /// Shaped like a message's `content` of that type: text `{text}`; media `{url, mimeType,
    /// caption, filename}` (or `mediaId`, a file uploaded with `POST /api/whatsapp/media`, in place
    /// of `url`); template `{name, language, components}` (components as Meta takes them).
    #[schema(value_type = Object)]
    content: serde_json::Value,
}

fn read_send(body: &[u8]) -> Result<(rosetta_core::Id, rosetta_core::Content), EnvelopeError> {
    use rosetta_core::{Content, ContentType, MediaSource};
    use serde_json::Value;
    let map = crate::json_object(body)?;
    let conversation = match map.get("conversationId") {
        Some(Value::String(raw)) if !raw.is_empty() => params::conversation_id(raw)?,
        None | Some(Value::Null) => return Err(EnvelopeError::bad_request("conversationId is required")),
        Some(_) => return Err(EnvelopeError::invalid_conversation_id()),
    };
    let kind = match map.get("type") {
        None | Some(Value::Null) => "text",
        Some(Value::String(t)) => t.as_str(),
        Some(_) => return Err(EnvelopeError::bad_request("Invalid message type")),
    };
    let content = match map.get("content") {
        Some(Value::Object(c)) => c,
        _ => return Err(EnvelopeError::bad_request("content is required")),
    };
    let text = |field: &str| -> Result<Option<String>, EnvelopeError> {
        match content.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(EnvelopeError::bad_request(format!("content.{field} must be a string"))),
        }
    };
    let media = |kind: ContentType| -> Result<Content, EnvelopeError> {
        let source = match (text("url")?, text("mediaId")?) {
            (Some(url), None) => MediaSource::Link(url),
            // A file uploaded to Rosetta (`POST /api/whatsapp/media`).
            (None, Some(id)) => MediaSource::Upload(
                rosetta_core::Id::parse_any(rosetta_core::EntityKind::Media, &id)
                    .map_err(|_| EnvelopeError::bad_request("content.mediaId is not a media id"))?,
            ),
            (Some(_), Some(_)) => {
                return Err(EnvelopeError::bad_request(
                    "content.url and content.mediaId cannot both be given",
                ))
            }
            (None, None) => return Err(EnvelopeError::bad_request("content.url is required")),
        };
        Ok(Content::Media {
            kind,
            source,
            caption: text("caption")?,
            filename: text("filename")?,
        })
    };
    let content = match kind {
        "text" => Content::Text {
            body: text("text")?.ok_or_else(|| EnvelopeError::bad_request("content.text is required"))?,
            preview_url: false,
        },
        "image" => media(ContentType::Image)?,
        "video" => media(ContentType::Video)?,
        "audio" => media(ContentType::Audio)?,
        "document" => media(ContentType::Document)?,
        "sticker" => media(ContentType::Sticker)?,
        "template" => Content::Template {
            name: text("name")?.ok_or_else(|| EnvelopeError::bad_request("content.name is required"))?,
            language: match content.get("language") {
                None | Some(Value::Null) => "en_US".to_owned(),
                Some(Value::String(code)) => code.clone(),
                Some(Value::Object(l)) => l
                    .get("code")
                    .and_then(Value::as_str)
                    .ok_or_else(|| EnvelopeError::bad_request("content.language.code is required"))?
                    .to_owned(),
                Some(_) => return Err(EnvelopeError::bad_request("content.language must be a language code")),
            },
            components: content.get("components").filter(|c| !c.is_null()).cloned(),
        },
        _ => return Err(EnvelopeError::bad_request("Invalid message type")),
    };
    content.check()?;
    Ok((conversation, content))
}

/// Send a message in a conversation (to its contact, from its number). Answers at once with the
/// message, status `sending`; it moves to `sent`, `delivered` and `read` (or `failed`, with
/// `error`) as Meta reports. A session (JWT) caller is the message's `senderId`. With
/// `Idempotency-Key`, a retry answers the first response and never sends twice.
#[utoipa::path(
    post,
    path = "/api/whatsapp/messages",
    tag = "Messages",
    params(
        ("Idempotency-Key" = Option<String>, Header, max_length = 255, description = "A retry with the same key and body answers the first response and sends nothing"),
    ),
    request_body = SendMessage,
    security(("bearer" = [], "org" = [])),
    responses(
        (status = 201, description = "The queued message", body = MessageResponse),
        (status = 400, description = "A missing or invalid field, or WhatsApp not configured for the conversation's number", body = ErrorBody),
        (status = 401, description = "Missing or invalid auth headers", body = ErrorBody),
        (status = 403, description = "The token does not belong to this organization", body = ErrorBody),
        (status = 404, description = "Conversation not found", body = ErrorBody),
        (status = 409, description = "Customer service window closed (only a template may be sent), or the Idempotency-Key was used for another request", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn send(
    req: HttpRequest,
    envelope: web::Data<Envelope>,
    body: web::Bytes,
) -> Result<HttpResponse, EnvelopeError> {
    use rosetta_core::*;
    let params = (|| {
        let (conversation, content) = read_send(&body)?;
        let key = rosetta_http::sending::idempotency_key(&req, &body)
            .map_err(|e| EnvelopeError::bad_request(e.to_string()))?;
        Ok((conversation, content, key))
    })();
    let deadline_at = envelope.state.sending.deadline();
    let urls = rosetta_http::media::MediaUrls::for_request(&req, &envelope.state);
    let (queued, status, body) = dialect::call(
        &req,
        &envelope.state,
        envelope.checks(&req, Cost::Blocking)?,
        params,
        move |store, caller, (conversation, content, key)| {
            let org = caller.org;
            let request = SendRequest {
                recipient: Recipient::Conversation(conversation),
                content,
                reply_to: None,
                sender_type: SenderType::Agent,
                sender_user_id: caller.user(),
                idempotency: key.clone(),
                deadline_at,
            };
            let (message, queued) = match store.send(org, request)? {
                SendResult::Replay(stored) => return Ok((false, stored.status, stored.body)),
                SendResult::KeyReused => {
                    return Err(EnvelopeError::new(
                        actix_web::http::StatusCode::CONFLICT,
                        "Idempotency-Key was already used for another request",
                    ))
                }
                SendResult::Earlier { sent, .. } => (sent.message, false),
                SendResult::Queued(sent) => (sent.message, true),
            };
            let body = serde_json::to_string(&MessageResponse::from(MessageItem::new(message, &urls)))
                .map_err(|e| EnvelopeError::from(Error::Internal(e.to_string())))?;
            if let Some(k) = &key {
                let stored = StoredResponse {
                    status: 201,
                    body: body.clone(),
                };
                if let Err(e) = store.complete_idempotency_key(org, &k.key, &stored) {
                    tracing::warn!(error = %e, "could not record an idempotent response");
                }
            }
            Ok((queued, 201, body))
        },
    )
    .await?;
    if queued {
        envelope.state.sending.queued();
    }
    Ok(HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::CREATED),
    )
    .content_type("application/json")
    .body(body))
}
