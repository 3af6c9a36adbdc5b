//! `POST /v1/{phone_number_id}/messages` (a send, or a mark-as-read) and
//! `GET /v1/{phone_number_id}/conversations/{id}/messages`.
//!
//! A send's body is Meta's own send body, read into core's `send::Content` and checked before
//! anything is written; it is queued (`Store::send`) and answered at once with the message,
//! status `pending`: the dispatch worker sends it, and a refusal by Meta shows on the message as
//! `status: failed` with `error {code, message, provider_code}`. `Idempotency-Key` is bound to the
//! message in the send's own transaction: a retry answers the first response byte for byte (or,
//! if the first request's process stopped before answering, the message as it now is) and never
//! sends again.
//!
//! The mark-as-read form (`status: "read"`, `message_id`: a customer message's wamid) is asked of
//! Meta while the request waits (502 `whatsapp_upstream_error` when Meta fails: retry it, it is
//! idempotent), then clears the conversation's unread count.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use rosetta_core::*;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::dto::*;
use crate::error::{ErrorBody, KirimError};
use crate::params;
use crate::Access;
use crate::{json_object, Kirim};
use rosetta_http::auth::Cost;
use rosetta_http::dialect::{self, current_request_id};

/// Meta's send body (`messaging_product`, `recipient_type`, `to`, `type`, the type's object,
/// `context`), or the mark-as-read body (`messaging_product`, `status: "read"`, `message_id`).
#[derive(ToSchema, Debug)]
#[allow(dead_code)]
pub struct SendMessage {
    /// Always `whatsapp`.
    #[schema(example = "whatsapp")]
    messaging_product: String,
    /// `individual`.
    recipient_type: Option<String>,
    /// The recipient's phone number (a send).
    #[schema(example = "14155550123")]
    to: Option<String>,
    /// text (default), image, video, audio, document, sticker, template or interactive.
    #[serde(rename = "type")]
    #[schema(example = "text")]
    kind: Option<String>,
    /// `{body, preview_url}`.
    #[schema(value_type = Object)]
    text: Option<Value>,
    /// `{link | id, caption, filename}` under the type's name (image, video, audio, document,
    /// sticker).
    #[schema(value_type = Object)]
    image: Option<Value>,
    /// `{name, language: {code}, components}`, passed to Meta as is.
    #[schema(value_type = Object)]
    template: Option<Value>,
    /// Meta's interactive object (`type` button or list).
    #[schema(value_type = Object)]
    interactive: Option<Value>,
    /// `{message_id: <wamid>}`: the message this one replies to.
    #[schema(value_type = Object)]
    context: Option<Value>,
    /// `read`: the mark-as-read form.
    status: Option<String>,
    /// The customer message's wamid to mark read.
    message_id: Option<String>,
}

/// What a POST asks for.
enum Asked {
    Send {
        to: String,
        content: Content,
        context: Option<String>,
    },
    Read {
        wamid: String,
    },
}

fn object<'a>(map: &'a Map<String, Value>, field: &str) -> Result<&'a Map<String, Value>, KirimError> {
    match map.get(field) {
        Some(Value::Object(o)) => Ok(o),
        None | Some(Value::Null) => Err(KirimError::missing_field(
            field,
            format!("{field} is required for this type"),
        )),
        Some(_) => Err(KirimError::invalid_field(field, format!("{field} must be an object"))),
    }
}

fn string(map: &Map<String, Value>, field: &str, param: &str) -> Result<Option<String>, KirimError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(KirimError::invalid_field(param, format!("{param} must be a string"))),
    }
}

fn read_body(body: &[u8]) -> Result<Asked, KirimError> {
    let map = json_object(body)?;
    match string(&map, "messaging_product", "messaging_product")? {
        Some(p) if p == "whatsapp" => {}
        Some(_) => {
            return Err(KirimError::invalid_field(
                "messaging_product",
                "messaging_product must be whatsapp",
            ))
        }
        None => {
            return Err(KirimError::missing_field(
                "messaging_product",
                "messaging_product is required",
            ))
        }
    }
    if let Some(status) = string(&map, "status", "status")? {
        if status != "read" {
            return Err(KirimError::invalid_field("status", "status must be read"));
        }
        let wamid = string(&map, "message_id", "message_id")?
            .filter(|w| !w.is_empty())
            .ok_or_else(|| KirimError::missing_field("message_id", "message_id is required to mark a message read"))?;
        return Ok(Asked::Read { wamid });
    }
    match string(&map, "recipient_type", "recipient_type")? {
        None => {}
        Some(t) if t == "individual" => {}
        Some(_) => {
            return Err(KirimError::invalid_field(
                "recipient_type",
                "recipient_type must be individual",
            ))
        }
    }
    let to = string(&map, "to", "to")?
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| KirimError::missing_field("to", "to is required"))?;
    validate::normalize_phone("to", &to)?;
    let kind = string(&map, "type", "type")?.unwrap_or_else(|| "text".into());
    let media = |kind: ContentType| -> Result<Content, KirimError> {
        let name = kind.as_str();
        let o = object(&map, name)?;
        let source = match (
            string(o, "link", &format!("{name}.link"))?,
            string(o, "id", &format!("{name}.id"))?,
        ) {
            (Some(link), None) => MediaSource::Link(link),
            // A `med_` id is a file uploaded to Rosetta (`POST /v1/{phone_number_id}/media`);
            // anything else is Meta's own media id.
            (None, Some(id)) if id.starts_with(EntityKind::Media.kirim_prefix()) => {
                MediaSource::Upload(Id::parse(EntityKind::Media, Spelling::Kirim, &id).map_err(|_| {
                    KirimError::invalid_field(&format!("{name}.id"), format!("{name}.id is not a media id"))
                })?)
            }
            (None, Some(id)) => MediaSource::Id(id),
            _ => {
                return Err(KirimError::invalid_field(
                    name,
                    format!("{name} must have exactly one of link and id"),
                ))
            }
        };
        Ok(Content::Media {
            kind,
            source,
            caption: string(o, "caption", &format!("{name}.caption"))?,
            filename: string(o, "filename", &format!("{name}.filename"))?,
        })
    };
    let content = match kind.as_str() {
        "text" => {
            let o = object(&map, "text")?;
            let body = string(o, "body", "text.body")?
                .ok_or_else(|| KirimError::missing_field("text.body", "text.body is required"))?;
            let preview_url = match o.get("preview_url") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(KirimError::invalid_field(
                        "text.preview_url",
                        "text.preview_url must be a boolean",
                    ))
                }
            };
            Content::Text { body, preview_url }
        }
        "image" => media(ContentType::Image)?,
        "video" => media(ContentType::Video)?,
        "audio" => media(ContentType::Audio)?,
        "document" => media(ContentType::Document)?,
        "sticker" => media(ContentType::Sticker)?,
        "template" => {
            let o = object(&map, "template")?;
            let name = string(o, "name", "template.name")?
                .ok_or_else(|| KirimError::missing_field("template.name", "template.name is required"))?;
            let language = match o.get("language") {
                Some(Value::Object(l)) => string(l, "code", "template.language.code")?,
                Some(Value::String(code)) => Some(code.clone()),
                None | Some(Value::Null) => None,
                Some(_) => None,
            }
            .ok_or_else(|| KirimError::missing_field("template.language", "template.language.code is required"))?;
            Content::Template {
                name,
                language,
                components: o.get("components").filter(|c| !c.is_null()).cloned(),
            }
        }
        "interactive" => Content::Interactive {
            interactive: Value::Object(object(&map, "interactive")?.clone()),
        },
        _ => {
            return Err(KirimError::invalid_field(
                "type",
                "type must be one of text, image, video, audio, document, sticker, template, interactive",
            ))
        }
    };
    content.check().map_err(|e| match e {
        // Name the field where Meta's body has it.
        Error::Invalid { field, message } => {
            let param = match field {
                "text" => "text.body".to_owned(),
                "link" | "id" | "caption" | "filename" => format!("{kind}.{field}"),
                other => other.to_owned(),
            };
            KirimError::invalid_field(&param, message)
        }
        other => other.into(),
    })?;
    let context = match map.get("context") {
        None | Some(Value::Null) => None,
        Some(Value::Object(c)) => Some(
            string(c, "message_id", "context.message_id")?
                .ok_or_else(|| KirimError::missing_field("context.message_id", "context.message_id is required"))?,
        ),
        Some(_) => return Err(KirimError::invalid_field("context", "context must be an object")),
    };
    Ok(Asked::Send { to, content, context })
}

enum Answer {
    Fresh(String),
    Replay(StoredResponse),
    Read(ReadReceipt),
}

/// Send a message (Meta's send body), or mark a customer's message read (`status: "read"`). A
/// send answers at once with the queued message, status `pending`; if Meta refuses it later the
/// message becomes `failed` with `error {code, message, provider_code}`.
#[utoipa::path(
    post,
    path = "/v1/{phone_number_id}/messages",
    tag = "Messages",
    params(
        ("phone_number_id" = String, Path, pattern = r"^\d{6,20}$", example = "106540352242922"),
        ("Idempotency-Key" = Option<String>, Header, max_length = 255, description = "Replays the first response for the same request, per organization, for 24 hours; never sends twice"),
    ),
    request_body = SendMessage,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Queued (status pending), or marked read", body = MessageData),
        (status = 400, description = "Validation failure", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 404, description = "No such account, or (mark as read) no such customer message", body = ErrorBody),
        (status = 409, description = "A request with this Idempotency-Key is still running", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "outside_24h_window (only a template may be sent), account_not_connected (no access token), idempotency_key_reuse", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 502, description = "whatsapp_upstream_error: Meta failed a mark-as-read (retry it)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn send(
    req: HttpRequest,
    kirim: web::Data<Kirim>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, KirimError> {
    let params = (|| {
        let pnid = params::phone_number_id(&path)?;
        let asked = read_body(&body)?;
        let key = rosetta_http::sending::idempotency_key(&req, &body)
            .map_err(|e| KirimError::invalid_request(e.to_string()).param("Idempotency-Key"))?;
        Ok((pnid, asked, key))
    })();
    let deadline_at = kirim.state.sending.deadline();
    let request_id = current_request_id();
    let graph = kirim.graph.clone();
    let urls = rosetta_http::media::MediaUrls::for_request(&req, &kirim.state);
    let (org, queued, answer) = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Write, Cost::Blocking)?,
        params,
        move |store, p, (pnid, asked, key)| {
            let org = p.org;
            let account = store.find_account(org, &pnid)?;
            let (to, content, context) = match asked {
                Asked::Read { wamid } => {
                    let message = store
                        .message_by_wamid(org, &wamid)
                        .map_err(|e| KirimError::from(e).param("message_id"))?;
                    let token = store.account_token(org, account.id)?.ok_or(Error::NotConfigured)?;
                    return Ok((org, false, Err((account, message, token))));
                }
                Asked::Send { to, content, context } => (to, content, context),
            };
            let request = SendRequest {
                recipient: Recipient::Phone {
                    account: account.id,
                    phone: to,
                    name: None,
                },
                content,
                reply_to: context.map(ReplyTo::Wamid),
                sender_type: SenderType::Agent,
                sender_user_id: None,
                idempotency: key.clone(),
                deadline_at,
            };
            let (message, queued) = match store.send(org, request)? {
                SendResult::Replay(stored) => return Ok((org, false, Ok(Answer::Replay(stored)))),
                SendResult::KeyReused => return Err(KirimError::idempotency_key_reuse()),
                SendResult::Earlier { sent, .. } => (sent.message, false),
                SendResult::Queued(sent) => (sent.message, true),
            };
            let body = serde_json::to_string(&MessageData {
                data: MessageDto::new(message, &urls),
                request_id,
            })
            .map_err(|e| KirimError::from(Error::Internal(e.to_string())))?;
            if let Some(k) = &key {
                let stored = StoredResponse {
                    status: 200,
                    body: body.clone(),
                };
                // The message is bound to the key already: an unrecorded response is rebuilt from it.
                if let Err(e) = store.complete_idempotency_key(org, &k.key, &stored) {
                    tracing::warn!(error = %e, "could not record an idempotent response");
                }
            }
            Ok((org, queued, Ok(Answer::Fresh(body))))
        },
    )
    .await?;
    if queued {
        kirim.state.sending.queued();
    }
    let answer = match answer {
        Ok(answer) => answer,
        Err((account, message, token)) => {
            let graph = graph.ok_or_else(upstream_error)?;
            let wamid = message.wamid.clone().unwrap_or_default();
            if let Err(e) = graph.mark_read(&account.phone_number_id, &token, &wamid).await {
                tracing::warn!(error = %e, "Meta did not mark a message read");
                return Err(upstream_error());
            }
            let id = message.id;
            let message = kirim
                .state
                .run(move |s| s.mark_read(org, id))
                .await
                .map_err(|e| KirimError::from(e).param("message_id"))?;
            Answer::Read(ReadReceipt {
                id: kirim_id(EntityKind::Message, message.id),
                object: "message",
                status: "read",
                message_id: wamid,
            })
        }
    };
    Ok(match answer {
        Answer::Fresh(body) => HttpResponse::Ok().content_type("application/json").body(body),
        Answer::Replay(stored) => HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK))
            .content_type("application/json")
            .insert_header(("Idempotent-Replayed", "true"))
            .body(stored.body),
        Answer::Read(receipt) => rosetta_http::ok_json(ReadReceiptData {
            data: receipt,
            request_id: current_request_id(),
        }),
    })
}

fn upstream_error() -> KirimError {
    KirimError::upstream("Meta's WhatsApp API did not accept the request; retry it")
}

/// The messages of one conversation of this account, newest first.
#[utoipa::path(
    get,
    path = "/v1/{phone_number_id}/conversations/{id}/messages",
    tag = "Messages",
    params(
        ("phone_number_id" = String, Path, pattern = r"^\d{6,20}$", example = "106540352242922"),
        ("id" = String, Path, pattern = "^cnv_[0-9A-HJKMNP-TV-Z]{26}$", description = "Conversation id"),
        crate::params::ListMessages,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Message list", body = MessageList),
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
    path: web::Path<(String, String)>,
    query: web::Query<crate::params::ListMessages>,
) -> Result<HttpResponse, KirimError> {
    let (pnid, id) = path.into_inner();
    let query = query.into_inner();
    let params = (|| {
        let pnid = params::phone_number_id(&pnid)?;
        let id = params::id(EntityKind::Conversation, "id", &id)?;
        let page = PageRequest::Keyset {
            limit: params::limit(query.limit.as_deref())?,
            cursor: params::cursor(query.cursor)?,
        };
        Ok((pnid, id, page))
    })();
    let page = dialect::call(
        &req,
        &kirim.state,
        kirim.checks(&req, Access::Read, Cost::BoundedRead)?,
        params,
        |store, p, (pnid, id, page)| {
            let account = store.find_account(p.org, &pnid)?;
            crate::conversations::of_account(store, p.org, &account, id)?;
            Ok(store.list_messages(p.org, id, &page)?)
        },
    )
    .await?;
    let urls = rosetta_http::media::MediaUrls::for_request(&req, &kirim.state);
    Ok(rosetta_http::ok_json(MessageList {
        has_more: page.has_more,
        next_cursor: page.next_cursor,
        data: page.items.into_iter().map(|m| MessageDto::new(m, &urls)).collect(),
        request_id: current_request_id(),
    }))
}
