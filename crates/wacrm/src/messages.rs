//! `POST /api/v1/messages`: a reply (or a first template) through Meta's Cloud API.
//!
//! The body is read into core's `send::Content` (wacrm's `type`/`text`/`media_url`/`template`/
//! `interactive_payload` into Meta's send types), checked before anything is written, and queued
//! with `Store::send` on the organization's first connected WhatsApp account. wacrm answers with
//! the wamid, so the request then waits, bounded (`--send-wait-millis`, 10 s by default), for the
//! first dispatch attempt:
//! - Meta accepted it: 201 with `whatsapp_message_id`;
//! - Meta refused it: 502 `meta_error` with Meta's message (the message stays, `failed`, with
//!   Meta's code);
//! - the attempt is being retried (a throughput limit, a 5xx, a network error), its outcome is
//!   unknown, or it did not finish in time: 201 with `whatsapp_message_id: null`. The message is
//!   queued and will be sent; its `status` and wamid show in `GET /conversations/{id}/messages`.
//!
//! `Idempotency-Key`: the key is bound to the message in the send's own transaction, so a retry
//! never sends twice, even after a crash. A replay answers the recorded response (recorded once the
//! outcome is known: sent or failed); a retry while the first is still waiting for its attempt is
//! 409 `idempotency_key_in_progress` (after a minute, the message as it is); another body with the
//! same key is 409 `idempotency_key_reused`. A request refused before anything was queued (a bad
//! body, a closed window) leaves the key free.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use rosetta_core::*;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::error::{ErrorBody, WacrmError};
use crate::params;
use crate::Wacrm;
use rosetta_http::auth::Cost;
use rosetta_http::dialect;

/// The body of `POST /api/v1/messages`.
#[derive(ToSchema, Debug)]
#[allow(dead_code)]
pub struct SendMessage {
    /// The recipient's number in E.164 (`+` and digits).
    #[schema(example = "+14155550123")]
    to: String,
    /// text (default), template, image, video, document, audio or interactive.
    #[schema(example = "text")]
    r#type: Option<String>,
    /// The message (text), or the caption (media, at most 1024 characters).
    #[schema(example = "Your order has shipped!")]
    text: Option<String>,
    /// The file's public URL (media types), or
    media_url: Option<String>,
    /// a file uploaded to Rosetta (`POST /api/v1/media`): its id (media types; exactly one of the two).
    #[schema(format = Uuid)]
    media_id: Option<String>,
    /// A document's filename.
    filename: Option<String>,
    template: Option<TemplateSpec>,
    /// A message of the same conversation this one answers.
    #[schema(format = Uuid)]
    reply_to_message_id: Option<String>,
    /// The contact's name, when the number is not a contact yet.
    name: Option<String>,
    /// `{kind: "buttons", body, header?, footer?, buttons: [{id, title}]}` or `{kind: "list", body,
    /// button_label, sections: [{title?, rows: [{id, title, description?}]}]}`.
    #[schema(value_type = Object)]
    interactive_payload: Option<Value>,
}

/// A template message.
#[derive(ToSchema, Debug)]
#[allow(dead_code)]
pub struct TemplateSpec {
    #[schema(example = "order_update")]
    name: String,
    /// Default `en_US`.
    #[schema(example = "en_US")]
    language: Option<String>,
    /// A list of strings (the body's variables in order), or `{header: [..], body: [..], buttons:
    /// [..]}` (each a list of strings; a button's string is its URL suffix).
    #[schema(value_type = Object)]
    params: Option<Value>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct SentMessage {
    #[schema(format = Uuid)]
    pub message_id: String,
    /// Meta's wamid; null while the first attempt is retried or slow (see the operation's text).
    pub whatsapp_message_id: Option<String>,
    #[schema(format = Uuid)]
    pub conversation_id: String,
    #[schema(format = Uuid)]
    pub contact_id: String,
    pub contact_created: bool,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct SentMessageData {
    pub data: SentMessage,
}

fn bad(message: impl Into<String>) -> WacrmError {
    WacrmError::BadRequest(message.into())
}

fn string(map: &Map<String, Value>, field: &str) -> Result<Option<String>, WacrmError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(format!("'{field}' must be a string"))),
    }
}

fn strings(value: &Value, field: &str) -> Result<Vec<String>, WacrmError> {
    let list = value
        .as_array()
        .ok_or_else(|| bad(format!("'{field}' must be a list of strings")))?;
    list.iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad(format!("'{field}' must be a list of strings")))
        })
        .collect()
}

fn text_parameters(values: Vec<String>) -> Value {
    Value::Array(
        values
            .into_iter()
            .map(|text| json!({"type": "text", "text": text}))
            .collect(),
    )
}

/// wacrm's template params as Meta's components.
fn components(params: Option<&Value>) -> Result<Option<Value>, WacrmError> {
    let Some(params) = params.filter(|p| !p.is_null()) else {
        return Ok(None);
    };
    if params.is_array() {
        let body = strings(params, "template.params")?;
        return Ok(Some(json!([{"type": "body", "parameters": text_parameters(body)}])));
    }
    let map = params
        .as_object()
        .ok_or_else(|| bad("'template.params' must be a list of strings or an object"))?;
    let mut components = Vec::new();
    for part in ["header", "body"] {
        if let Some(values) = map.get(part).filter(|v| !v.is_null()) {
            let values = strings(values, &format!("template.params.{part}"))?;
            components.push(json!({"type": part, "parameters": text_parameters(values)}));
        }
    }
    if let Some(buttons) = map.get("buttons").filter(|v| !v.is_null()) {
        for (index, suffix) in strings(buttons, "template.params.buttons")?.into_iter().enumerate() {
            components.push(json!({"type": "button", "sub_type": "url", "index": index.to_string(),
                                   "parameters": [{"type": "text", "text": suffix}]}));
        }
    }
    Ok(Some(Value::Array(components)))
}

fn required_text<'a>(map: &'a Map<String, Value>, field: &str, what: &str) -> Result<&'a str, WacrmError> {
    map.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| bad(format!("'{field}' is required in {what}")))
}

/// wacrm's `interactive_payload` as Meta's `interactive` object.
fn interactive(payload: &Value) -> Result<Value, WacrmError> {
    let map = payload
        .as_object()
        .ok_or_else(|| bad("'interactive_payload' must be an object"))?;
    let body = required_text(map, "body", "interactive_payload")?;
    let mut object = match map.get("kind").and_then(Value::as_str) {
        Some("buttons") => {
            let buttons = map
                .get("buttons")
                .and_then(Value::as_array)
                .filter(|b| (1..=3).contains(&b.len()))
                .ok_or_else(|| bad("'interactive_payload.buttons' must have 1 to 3 buttons"))?;
            let buttons = buttons
                .iter()
                .map(|b| {
                    let b = b.as_object().ok_or_else(|| bad("each button must be {id, title}"))?;
                    let id = required_text(b, "id", "each button")?;
                    let title = required_text(b, "title", "each button")?;
                    if title.chars().count() > 20 {
                        return Err(bad("a button's title must be at most 20 characters"));
                    }
                    Ok(json!({"type": "reply", "reply": {"id": id, "title": title}}))
                })
                .collect::<Result<Vec<_>, _>>()?;
            json!({"type": "button", "body": {"text": body}, "action": {"buttons": buttons}})
        }
        Some("list") => {
            let label = required_text(map, "button_label", "interactive_payload")?;
            let sections = map
                .get("sections")
                .and_then(Value::as_array)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| bad("'interactive_payload.sections' must be a non-empty list"))?;
            let sections = sections
                .iter()
                .map(|section| {
                    let section = section
                        .as_object()
                        .ok_or_else(|| bad("each section must be {title?, rows}"))?;
                    let rows = section
                        .get("rows")
                        .and_then(Value::as_array)
                        .filter(|r| (1..=10).contains(&r.len()))
                        .ok_or_else(|| bad("each section must have 1 to 10 rows"))?;
                    let rows = rows
                        .iter()
                        .map(|row| {
                            let row = row.as_object().ok_or_else(|| bad("each row must be {id, title}"))?;
                            let id = required_text(row, "id", "each row")?;
                            let title = required_text(row, "title", "each row")?;
                            if title.chars().count() > 24 {
                                return Err(bad("a row's title must be at most 24 characters"));
                            }
                            let mut out = json!({"id": id, "title": title});
                            if let Some(d) = string(row, "description")? {
                                out["description"] = json!(d);
                            }
                            Ok(out)
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    let mut out = json!({"rows": rows});
                    if let Some(t) = string(section, "title")? {
                        out["title"] = json!(t);
                    }
                    Ok::<Value, WacrmError>(out)
                })
                .collect::<Result<Vec<_>, _>>()?;
            json!({"type": "list", "body": {"text": body}, "action": {"button": label, "sections": sections}})
        }
        _ => return Err(bad("'interactive_payload.kind' must be buttons or list")),
    };
    if let Some(header) = string(map, "header")? {
        object["header"] = json!({"type": "text", "text": header});
    }
    if let Some(footer) = string(map, "footer")? {
        object["footer"] = json!({"text": footer});
    }
    Ok(object)
}

/// What the body asks for, checked: the recipient, the content, the reply, the new contact's name.
struct Asked {
    to: String,
    content: Content,
    reply_to: Option<Id>,
    name: Option<String>,
}

fn read_body(body: &[u8]) -> Result<Asked, WacrmError> {
    let map = dialect::json_object::<WacrmError>(body)?;
    let to = string(&map, "to")?
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("'to' is required"))?;
    validate::normalize_phone("to", &to).map_err(|_| bad("'to' must be a phone number in E.164 format"))?;
    let kind = string(&map, "type")?.unwrap_or_else(|| "text".into());
    let text = string(&map, "text")?;
    let media = |kind: ContentType| -> Result<Content, WacrmError> {
        let source = match (string(&map, "media_url")?, string(&map, "media_id")?) {
            (Some(link), None) => MediaSource::Link(link),
            (None, Some(id)) => MediaSource::Upload(
                Id::parse(EntityKind::Media, Spelling::Uuid, &id).map_err(|_| bad("'media_id' must be a UUID"))?,
            ),
            (Some(_), Some(_)) => return Err(bad("'media_url' and 'media_id' cannot both be given")),
            (None, None) => return Err(bad(format!("'media_url' is required for {} messages", kind.as_str()))),
        };
        Ok(Content::Media {
            kind,
            source,
            caption: text.clone().filter(|t| !t.is_empty()),
            filename: if kind == ContentType::Document {
                string(&map, "filename")?
            } else {
                None
            },
        })
    };
    let content = match kind.as_str() {
        "text" => Content::Text {
            body: text
                .clone()
                .ok_or_else(|| bad("'text' is required for text messages"))?,
            preview_url: false,
        },
        "image" => media(ContentType::Image)?,
        "video" => media(ContentType::Video)?,
        "audio" => media(ContentType::Audio)?,
        "document" => media(ContentType::Document)?,
        "template" => {
            let template = map
                .get("template")
                .and_then(Value::as_object)
                .ok_or_else(|| bad("'template' is required for template messages"))?;
            Content::Template {
                name: string(template, "name")?.ok_or_else(|| bad("'template.name' is required"))?,
                language: string(template, "language")?.unwrap_or_else(|| "en_US".into()),
                components: components(template.get("params"))?,
            }
        }
        "interactive" => Content::Interactive {
            interactive: interactive(
                map.get("interactive_payload")
                    .ok_or_else(|| bad("'interactive_payload' is required for interactive messages"))?,
            )?,
        },
        other => {
            return Err(bad(format!(
                "'type' must be one of text, template, image, video, document, audio, interactive (got {other:?})"
            )))
        }
    };
    content.check()?;
    let reply_to = match string(&map, "reply_to_message_id")? {
        None => None,
        Some(raw) => Some(
            params::uuid(EntityKind::Message, &raw)
                .ok_or_else(|| bad("'reply_to_message_id' must be a message UUID"))?,
        ),
    };
    let name = string(&map, "name")?;
    Ok(Asked {
        to,
        content,
        reply_to,
        name,
    })
}

fn render(message: &Message, sent: &Sent) -> SentMessageData {
    let uuid = |id: Id| id.render(EntityKind::Message, Spelling::Uuid);
    SentMessageData {
        data: SentMessage {
            message_id: uuid(message.id),
            whatsapp_message_id: message.wamid.clone(),
            conversation_id: uuid(sent.conversation_id),
            contact_id: uuid(sent.contact_id),
            contact_created: sent.contact_created,
        },
    }
}

/// Send a message to a number on the account's WhatsApp number (the first connected one). Finds
/// or creates the contact and the conversation. Waits, bounded, for the first attempt: a send
/// being retried (or slower than the bound) answers 201 with `whatsapp_message_id: null` and is
/// still delivered; its status shows in the conversation's messages. With `Idempotency-Key`, a
/// retry never sends twice.
#[utoipa::path(
    post,
    path = "/api/v1/messages",
    tag = "Messages",
    params(
        ("Idempotency-Key" = Option<String>, Header, max_length = 255, description = "Makes a retry safe: the same key and body answer the first response and never send twice"),
    ),
    request_body = SendMessage,
    security(("api_key" = [])),
    responses(
        (status = 201, description = "Queued and, unless whatsapp_message_id is null, accepted by Meta", body = SentMessageData),
        (status = 400, description = "bad_request (the body), or whatsapp_not_configured (no number with an access token)", body = ErrorBody),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = ErrorBody),
        (status = 403, description = "The key lacks messages:send", body = ErrorBody),
        (status = 404, description = "reply_to_message_id names no message of this account", body = ErrorBody),
        (status = 409, description = "customer_service_window_closed (only templates more than 24 h after the contact's last message), idempotency_key_reused, idempotency_key_in_progress", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 502, description = "meta_error: Meta refused the message (it is kept, failed, with Meta's code)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn send(req: HttpRequest, wacrm: web::Data<Wacrm>, body: web::Bytes) -> Result<HttpResponse, WacrmError> {
    let params = (|| {
        let asked = read_body(&body)?;
        let key = rosetta_http::sending::idempotency_key(&req, &body).map_err(|e| bad(e.to_string()))?;
        Ok((asked, key))
    })();
    let deadline_at = wacrm.state.sending.deadline();
    let (org, outcome) = dialect::call(
        &req,
        &wacrm.state,
        wacrm.checks(&req, Some("messages:send"), Cost::Blocking)?,
        params,
        move |store, p, (asked, key)| {
            let account = store
                .list_accounts(p.org, true)?
                .into_iter()
                .next()
                .ok_or(WacrmError::NotConfigured)?;
            let request = SendRequest {
                recipient: Recipient::Phone {
                    account: account.id,
                    phone: asked.to,
                    name: asked.name,
                },
                content: asked.content,
                reply_to: asked.reply_to.map(ReplyTo::Message),
                sender_type: SenderType::Agent,
                sender_user_id: None,
                idempotency: key,
                deadline_at,
            };
            Ok((p.org, store.send(p.org, request)?))
        },
    )
    .await?;
    let sent = match outcome {
        SendResult::Replay(stored) => {
            return Ok(
                HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::CREATED))
                    .content_type("application/json")
                    .insert_header(("Idempotent-Replayed", "true"))
                    .body(stored.body),
            )
        }
        SendResult::KeyReused => return Err(WacrmError::IdempotencyKeyReused),
        SendResult::Earlier { sent, since } => {
            let running =
                Timestamp::now().millis() - since.millis() < rosetta_core::idempotency::ABANDONED_AFTER_MILLIS;
            if running && sent.message.status == MessageStatus::Sending {
                return Err(WacrmError::IdempotencyKeyInProgress);
            }
            sent
        }
        SendResult::Queued(sent) => {
            wacrm.state.sending.queued();
            sent
        }
    };
    let message = rosetta_http::sending::wait_for_attempt(&wacrm.state, org, sent.message.id).await?;
    let (status, body) = match message.status {
        MessageStatus::Failed => {
            let error = WacrmError::Meta(message.error_title.clone().unwrap_or_else(|| "the send failed".into()));
            let body =
                serde_json::to_string(&error.body()).map_err(|e| WacrmError::from(Error::Internal(e.to_string())))?;
            (StatusCode::BAD_GATEWAY, body)
        }
        _ => {
            let body = serde_json::to_string(&render(&message, &sent))
                .map_err(|e| WacrmError::from(Error::Internal(e.to_string())))?;
            (StatusCode::CREATED, body)
        }
    };
    // The outcome is known (sent or failed): a retry with the key replays this response.
    let settled = message.status != MessageStatus::Sending;
    if let (true, Some(key)) = (
        settled,
        req.headers().get("Idempotency-Key").and_then(|k| k.to_str().ok()),
    ) {
        let (key, stored) = (
            key.trim().to_owned(),
            StoredResponse {
                status: status.as_u16(),
                body: body.clone(),
            },
        );
        if let Err(e) = wacrm
            .state
            .run(move |s| s.complete_idempotency_key(org, &key, &stored))
            .await
        {
            tracing::warn!(error = %e, "could not record an idempotent response");
        }
    }
    Ok(HttpResponse::build(status).content_type("application/json").body(body))
}
