//! A send, between a dialect's words and Meta's: what is sent (`Content`, one of Meta's send
//! types), to whom, in reply to what, and the two translations every dialect shares: Meta's send
//! body (`Content::meta_body`) and the message as Rosetta stores and lists it (`Content::stored`).
//! The limits are Meta's, checked once (`Content::check`) before anything is written.
//!
//! `Store::send` takes a `SendRequest` and, in one transaction, finds or creates the contact and the
//! conversation, applies the 24-hour rule, stores the message (`sending`) and queues its dispatch
//! job, and binds the request's idempotency key to the message.

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::id::Id;
use crate::idempotency::{RequestKey, StoredResponse};
use crate::model::{ContentType, Message, MessageBody, SenderType};
use crate::time::Timestamp;

/// Meta's limit on a text message's body, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Meta's limit on a media caption, in characters.
pub const MAX_CAPTION_CHARS: usize = 1024;
/// The longest media link or document filename accepted.
pub const MAX_LINK_CHARS: usize = 2048;
pub const MAX_FILENAME_CHARS: usize = 240;
/// Meta's limit on a template's name.
pub const MAX_TEMPLATE_NAME_CHARS: usize = 512;

/// Where a media message's file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaSource {
    /// An `https://` (or `http://`) URL Meta fetches.
    Link(String),
    /// A media id Meta already holds (uploaded to Meta directly).
    Id(String),
    /// A file uploaded to Rosetta (its id, in the sender's organization): the dispatcher uploads it
    /// to Meta and sends by Meta's id.
    Upload(crate::Id),
}

/// What a message says, in Meta's send types.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Text {
        body: String,
        preview_url: bool,
    },
    /// `kind` is image, video, audio, document or sticker.
    Media {
        kind: ContentType,
        source: MediaSource,
        caption: Option<String>,
        filename: Option<String>,
    },
    /// Meta's template object: `components` as Meta takes them (the dialect builds or passes them).
    Template {
        name: String,
        language: String,
        components: Option<Value>,
    },
    /// Meta's `interactive` object (`type` button or list), as the dialect built or passed it.
    Interactive {
        interactive: Value,
    },
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn is_http_url(s: &str) -> bool {
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !s.chars().any(char::is_whitespace))
}

impl Content {
    /// Meta's limits: text 1–4096 characters; a caption at most 1024 (none on audio or stickers);
    /// a link an http(s) URL; a template name of lower-case letters, digits and underscores and a
    /// language code like `en_US`; an interactive object of type button or list with a body.
    pub fn check(&self) -> Result<()> {
        match self {
            Content::Text { body, .. } => {
                if body.trim().is_empty() {
                    return Err(Error::invalid("text", "the text must not be empty"));
                }
                if chars(body) > MAX_TEXT_CHARS {
                    return Err(Error::invalid(
                        "text",
                        format!("the text must be at most {MAX_TEXT_CHARS} characters"),
                    ));
                }
            }
            Content::Media {
                kind,
                source,
                caption,
                filename,
            } => {
                if !matches!(
                    kind,
                    ContentType::Image
                        | ContentType::Video
                        | ContentType::Audio
                        | ContentType::Document
                        | ContentType::Sticker
                ) {
                    return Err(Error::invalid("type", format!("{} is not a media type", kind.as_str())));
                }
                match source {
                    MediaSource::Link(link) if !is_http_url(link) || chars(link) > MAX_LINK_CHARS => {
                        return Err(Error::invalid(
                            "link",
                            "the media link must be an http(s) URL of at most 2048 characters",
                        ))
                    }
                    MediaSource::Id(id) if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                        return Err(Error::invalid("id", "the media id must be Meta's media id"))
                    }
                    _ => {}
                }
                if let Some(caption) = caption {
                    if matches!(kind, ContentType::Audio | ContentType::Sticker) {
                        return Err(Error::invalid(
                            "caption",
                            format!("a {} message cannot have a caption", kind.as_str()),
                        ));
                    }
                    if chars(caption) > MAX_CAPTION_CHARS {
                        return Err(Error::invalid(
                            "caption",
                            format!("the caption must be at most {MAX_CAPTION_CHARS} characters"),
                        ));
                    }
                }
                if let Some(filename) = filename {
                    if *kind != ContentType::Document {
                        return Err(Error::invalid("filename", "only a document has a filename"));
                    }
                    if filename.trim().is_empty()
                        || chars(filename) > MAX_FILENAME_CHARS
                        || filename.contains(['/', '\\'])
                    {
                        return Err(Error::invalid(
                            "filename",
                            format!("the filename must be 1 to {MAX_FILENAME_CHARS} characters, without a path"),
                        ));
                    }
                }
            }
            Content::Template {
                name,
                language,
                components,
            } => {
                if name.is_empty()
                    || chars(name) > MAX_TEMPLATE_NAME_CHARS
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    return Err(Error::invalid(
                        "template.name",
                        "the template name must be lower-case letters, digits and underscores",
                    ));
                }
                let lang_ok = (2..=15).contains(&language.len())
                    && language
                        .bytes()
                        .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-');
                if !lang_ok {
                    return Err(Error::invalid(
                        "template.language",
                        "the template language must be a language code such as en_US",
                    ));
                }
                if let Some(c) = components {
                    if !c.is_array() {
                        return Err(Error::invalid("template.components", "components must be a list"));
                    }
                }
            }
            Content::Interactive { interactive } => {
                let kind = interactive.get("type").and_then(Value::as_str);
                if !matches!(kind, Some("button" | "list")) {
                    return Err(Error::invalid(
                        "interactive.type",
                        "interactive type must be button or list",
                    ));
                }
                let body = interactive.pointer("/body/text").and_then(Value::as_str).unwrap_or("");
                if body.trim().is_empty() || chars(body) > MAX_CAPTION_CHARS {
                    return Err(Error::invalid(
                        "interactive.body.text",
                        "the interactive body text must be 1 to 1024 characters",
                    ));
                }
                if !interactive.get("action").is_some_and(Value::is_object) {
                    return Err(Error::invalid("interactive.action", "interactive action is required"));
                }
            }
        }
        Ok(())
    }

    /// The uploaded file it sends, if it sends one.
    pub fn upload(&self) -> Option<crate::Id> {
        match self {
            Content::Media {
                source: MediaSource::Upload(id),
                ..
            } => Some(*id),
            _ => None,
        }
    }

    /// The stored message's type.
    pub fn content_type(&self) -> ContentType {
        match self {
            Content::Text { .. } => ContentType::Text,
            Content::Media { kind, .. } => *kind,
            Content::Template { .. } => ContentType::Template,
            Content::Interactive { .. } => ContentType::Interactive,
        }
    }

    /// The message as Rosetta stores it: the text (or caption, or interactive body), the media link
    /// or id, the filename, the template's name.
    pub fn stored(&self) -> MessageBody {
        match self {
            Content::Text { body, .. } => MessageBody {
                text: Some(body.clone()),
                ..Default::default()
            },
            Content::Media {
                source,
                caption,
                filename,
                ..
            } => {
                let (media_url, media_id) = match source {
                    MediaSource::Link(link) => (Some(link.clone()), None),
                    MediaSource::Id(id) => (None, Some(id.clone())),
                    // The message's file is the upload (`media_files`), served like a received one.
                    MediaSource::Upload(_) => (None, None),
                };
                MessageBody {
                    text: caption.clone(),
                    media_url,
                    media_id,
                    filename: filename.clone(),
                    ..Default::default()
                }
            }
            Content::Template { name, .. } => MessageBody {
                template_name: Some(name.clone()),
                ..Default::default()
            },
            Content::Interactive { interactive } => MessageBody {
                text: interactive
                    .pointer("/body/text")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                ..Default::default()
            },
        }
    }

    /// Meta's send body to `to` (digits), replying to `context` (a wamid) when given. The outbox
    /// adds `biz_opaque_callback_data`.
    pub fn meta_body(&self, to: &str, context: Option<&str>) -> Value {
        let mut body = Map::new();
        body.insert("messaging_product".into(), json!("whatsapp"));
        body.insert("recipient_type".into(), json!("individual"));
        body.insert("to".into(), json!(to));
        let (kind, object) = match self {
            Content::Text { body, preview_url } => ("text", json!({"body": body, "preview_url": preview_url})),
            Content::Media {
                kind,
                source,
                caption,
                filename,
            } => {
                let mut object = Map::new();
                match source {
                    MediaSource::Link(link) => object.insert("link".into(), json!(link)),
                    MediaSource::Id(id) => object.insert("id".into(), json!(id)),
                    // Meta's id is put in by the dispatcher once the file is uploaded.
                    MediaSource::Upload(_) => None,
                };
                if let Some(caption) = caption {
                    object.insert("caption".into(), json!(caption));
                }
                if let Some(filename) = filename {
                    object.insert("filename".into(), json!(filename));
                }
                (kind.as_str(), Value::Object(object))
            }
            Content::Template {
                name,
                language,
                components,
            } => {
                let mut object = json!({"name": name, "language": {"code": language}});
                if let Some(components) = components {
                    object["components"] = components.clone();
                }
                ("template", object)
            }
            Content::Interactive { interactive } => ("interactive", interactive.clone()),
        };
        body.insert("type".into(), json!(kind));
        body.insert(kind.into(), object);
        if let Some(wamid) = context {
            body.insert("context".into(), json!({"message_id": wamid}));
        }
        Value::Object(body)
    }
}

/// Who a send goes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Recipient {
    /// A phone number (any common spelling) on an account: the contact and the conversation are
    /// found, or made (the contact with `name`).
    Phone {
        account: Id,
        phone: String,
        name: Option<String>,
    },
    /// An existing conversation of the organization (its contact, on its account).
    Conversation(Id),
}

/// What a message replies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyTo {
    /// A stored message, which must belong to the send's conversation; sent with its wamid as
    /// Meta's `context` when it has one, without a context otherwise.
    Message(Id),
    /// A wamid, passed to Meta as `context.message_id` as it is.
    Wamid(String),
}

/// A send as a dialect asks for it.
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub recipient: Recipient,
    pub content: Content,
    pub reply_to: Option<ReplyTo>,
    pub sender_type: SenderType,
    /// The agent sending it (a member of the organization), when the caller acts as one.
    pub sender_user_id: Option<Id>,
    pub idempotency: Option<RequestKey>,
    /// Attempts stop, and the message fails, after this.
    pub deadline_at: Timestamp,
}

/// A queued send: the message (status `sending`) and where it went.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub message: Message,
    pub conversation_id: Id,
    pub contact_id: Id,
    /// Whether this send made the contact.
    pub contact_created: bool,
}

/// What `Store::send` did.
#[derive(Debug, Clone, PartialEq)]
pub enum SendResult {
    /// Queued now.
    Queued(Sent),
    /// The key's request ran before and its response was recorded: send it again.
    Replay(StoredResponse),
    /// The key's request ran before and queued this message, but no response was recorded (it is
    /// still running, or its process stopped first); `since` is when. Nothing was sent again.
    Earlier { sent: Sent, since: Timestamp },
    /// The key was used for a different request.
    KeyReused,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_bodies_per_type() {
        let text = Content::Text {
            body: "Hi".into(),
            preview_url: false,
        };
        assert_eq!(
            text.meta_body("14155550101", Some("wamid.X")),
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "14155550101",
                   "type": "text", "text": {"body": "Hi", "preview_url": false},
                   "context": {"message_id": "wamid.X"}})
        );
        let doc = Content::Media {
            kind: ContentType::Document,
            source: MediaSource::Link("https://example.com/a.pdf".into()),
            caption: Some("Invoice".into()),
            filename: Some("a.pdf".into()),
        };
        assert_eq!(
            doc.meta_body("1", None)["document"],
            json!({"link": "https://example.com/a.pdf", "caption": "Invoice", "filename": "a.pdf"})
        );
        let template = Content::Template {
            name: "order_update".into(),
            language: "en_US".into(),
            components: None,
        };
        assert_eq!(
            template.meta_body("1", None)["template"],
            json!({"name": "order_update", "language": {"code": "en_US"}})
        );
        assert_eq!(template.stored().template_name.as_deref(), Some("order_update"));
    }

    #[test]
    fn limits_are_metas() {
        let text = |s: String| Content::Text {
            body: s,
            preview_url: false,
        };
        assert!(text("x".repeat(MAX_TEXT_CHARS)).check().is_ok());
        assert!(text("x".repeat(MAX_TEXT_CHARS + 1)).check().is_err());
        assert!(text("  ".into()).check().is_err());
        let media = |kind, link: &str, caption: Option<&str>| Content::Media {
            kind,
            source: MediaSource::Link(link.into()),
            caption: caption.map(Into::into),
            filename: None,
        };
        assert!(media(ContentType::Image, "https://e.com/a.png", Some("c"))
            .check()
            .is_ok());
        assert!(media(ContentType::Image, "ftp://e.com/a.png", None).check().is_err());
        assert!(media(ContentType::Audio, "https://e.com/a.ogg", Some("c"))
            .check()
            .is_err());
        assert!(media(ContentType::Text, "https://e.com/a", None).check().is_err());
        let template = |name: &str, language: &str| Content::Template {
            name: name.into(),
            language: language.into(),
            components: None,
        };
        assert!(template("hello_world", "en_US").check().is_ok());
        assert!(template("Hello World", "en_US").check().is_err());
        assert!(template("hello", "").check().is_err());
    }
}
