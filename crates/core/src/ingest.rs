//! Ingest: what Meta's WhatsApp Cloud API webhooks say, as domain events.
//!
//! `meta::parse` reads one webhook delivery into `IngestEvent`s; `Store::ingest` applies a
//! delivery's events in one transaction. A program that embeds the core can build `IngestEvent`s
//! from another source (an import, a queue) and feed them through the same rules.

use crate::model::{ContentType, MessageBody, MessageStatus};
use crate::time::Timestamp;

/// A message a customer sent to one of the organization's WhatsApp numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    /// Which WhatsApp account received it (Meta's `metadata.phone_number_id`).
    pub phone_number_id: String,
    /// The sender's WhatsApp id (digits of their phone number).
    pub wa_id: String,
    /// The sender's profile name, when Meta sent one.
    pub profile_name: Option<String>,
    pub wamid: String,
    pub timestamp: Timestamp,
    pub content_type: ContentType,
    pub body: MessageBody,
    /// The checksum Meta declared for a media message's file (its webhook's `sha256`).
    pub media_sha256: Option<String>,
}

/// A delivery status of a message the business sent.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    pub phone_number_id: String,
    pub wamid: String,
    pub status: MessageStatus,
    pub timestamp: Timestamp,
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    /// Meta's `biz_opaque_callback_data`: Rosetta sends a message's own id in it, so a status can
    /// name a message whose `wamid` Rosetta never recorded (a crash after Meta accepted it).
    pub callback_data: Option<String>,
}

// Events live a few microseconds in one delivery's Vec: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum IngestEvent {
    Message(InboundMessage),
    Status(StatusUpdate),
    /// A message the business sent from the WhatsApp Business app on the same number (Meta's
    /// `smb_message_echoes`): stored as outbound (status `sent`), once by wamid. `wa_id` is the
    /// customer it went to.
    Echo(InboundMessage),
}

/// What applying a delivery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// New messages stored.
    pub messages: u32,
    /// Messages whose wamid was already stored (Meta redelivered): nothing changed.
    pub duplicates: u32,
    /// Status updates that moved a message forward.
    pub statuses: u32,
    /// Status updates that would not move forward, or name a wamid Rosetta does not have.
    pub statuses_ignored: u32,
    /// `phone_number_id`s no organization has: their events were skipped.
    pub unknown_accounts: Vec<String>,
}

/// Meta's webhook payload (`object: whatsapp_business_account`).
pub mod meta {
    use std::collections::HashMap;

    use serde::Deserialize;
    use serde_json::Value;

    use super::*;

    /// Why a delivery cannot be taken. Nothing of it is stored.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub enum ParseError {
        #[error("the body is not JSON: {0}")]
        Json(String),
        #[error("{0}")]
        Shape(String),
    }

    #[derive(Deserialize)]
    struct Webhook {
        object: String,
        #[serde(default)]
        entry: Vec<Entry>,
    }

    #[derive(Deserialize)]
    struct Entry {
        #[serde(default)]
        changes: Vec<Change>,
    }

    #[derive(Deserialize)]
    struct Change {
        field: String,
        value: Value,
    }

    #[derive(Deserialize)]
    struct ChangeValue {
        metadata: Metadata,
        #[serde(default)]
        contacts: Vec<Contact>,
        #[serde(default)]
        messages: Vec<Value>,
        #[serde(default)]
        statuses: Vec<Value>,
        #[serde(default)]
        message_echoes: Vec<Value>,
    }

    #[derive(Deserialize)]
    struct Metadata {
        phone_number_id: String,
    }

    #[derive(Deserialize)]
    struct Contact {
        wa_id: String,
        #[serde(default)]
        profile: Option<Profile>,
    }

    #[derive(Deserialize)]
    struct Profile {
        #[serde(default)]
        name: Option<String>,
    }

    /// JSON nesting deeper than this is refused before parsing (Meta's payloads are ~8 deep).
    const MAX_DEPTH: usize = 64;

    /// Reads one delivery. Changes other than `messages` are skipped; a message of a type Rosetta
    /// does not model is kept as `unsupported`; anything structurally wrong refuses the whole delivery.
    pub fn parse(body: &[u8]) -> Result<Vec<IngestEvent>, ParseError> {
        if nesting_depth(body) > MAX_DEPTH {
            return Err(ParseError::Json(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let hook: Webhook = serde_json::from_slice(body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => ParseError::Shape(e.to_string()),
            _ => ParseError::Json(e.to_string()),
        })?;
        if hook.object != "whatsapp_business_account" {
            return Err(ParseError::Shape(format!(
                "object {:?} is not whatsapp_business_account",
                hook.object
            )));
        }
        let mut events = Vec::new();
        for (e, entry) in hook.entry.into_iter().enumerate() {
            for (c, change) in entry.changes.into_iter().enumerate() {
                if change.field != "messages" && change.field != "smb_message_echoes" {
                    continue;
                }
                let at = format!("entry[{e}].changes[{c}].value");
                let value: ChangeValue =
                    serde_json::from_value(change.value).map_err(|err| ParseError::Shape(format!("{at}: {err}")))?;
                let pnid = value.metadata.phone_number_id;
                if !crate::validate::is_phone_number_id(&pnid) {
                    return Err(ParseError::Shape(format!(
                        "{at}.metadata.phone_number_id must be 6 to 20 digits"
                    )));
                }
                let names: HashMap<String, Option<String>> = value
                    .contacts
                    .into_iter()
                    .map(|c| (c.wa_id, c.profile.and_then(|p| p.name)))
                    .collect();
                for (m, message) in value.messages.iter().enumerate() {
                    let message = inbound(&pnid, &names, message, "from")
                        .map_err(|err| ParseError::Shape(format!("{at}.messages[{m}]: {err}")))?;
                    events.push(IngestEvent::Message(message));
                }
                for (m, echo) in value.message_echoes.iter().enumerate() {
                    // The customer is the echo's `to`; `from` is the business's own number.
                    let echo = inbound(&pnid, &HashMap::new(), echo, "to")
                        .map_err(|err| ParseError::Shape(format!("{at}.message_echoes[{m}]: {err}")))?;
                    events.push(IngestEvent::Echo(echo));
                }
                for (s, status) in value.statuses.iter().enumerate() {
                    if let Some(update) = status_update(&pnid, status)
                        .map_err(|err| ParseError::Shape(format!("{at}.statuses[{s}]: {err}")))?
                    {
                        events.push(IngestEvent::Status(update));
                    }
                }
            }
        }
        Ok(events)
    }

    /// The deepest nesting of `[`/`{` outside strings, counted without building anything.
    fn nesting_depth(body: &[u8]) -> usize {
        let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
        for &b in body {
            if in_string {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    max = max.max(depth);
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        max
    }

    fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
        v.get(key).and_then(Value::as_str)
    }

    fn owned(v: &Value, key: &str) -> Option<String> {
        text(v, key).map(str::to_owned)
    }

    fn required<'a>(v: &'a Value, key: &str, at: &str) -> Result<&'a str, String> {
        text(v, key)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("{at}{key} is missing"))
    }

    fn unix_seconds(v: &Value) -> Result<Timestamp, String> {
        let raw = v.get("timestamp").ok_or("timestamp is missing")?;
        let seconds = match raw {
            Value::String(s) => s
                .parse::<i64>()
                .map_err(|_| format!("timestamp {s:?} is not unix seconds"))?,
            Value::Number(n) => n.as_i64().ok_or("timestamp is not unix seconds")?,
            _ => return Err("timestamp is not unix seconds".into()),
        };
        if !(0..=253_402_300_799).contains(&seconds) {
            return Err("timestamp is out of range".into());
        }
        Ok(Timestamp::from_unix_seconds(seconds))
    }

    /// A message of the webhook; `party` names the customer's field (`from` for what the customer
    /// sent, `to` for an echo of what the business sent).
    fn inbound(
        pnid: &str,
        names: &HashMap<String, Option<String>>,
        m: &Value,
        party: &str,
    ) -> Result<InboundMessage, String> {
        let wa_id = required(m, party, "")?.to_owned();
        if !wa_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{party} {wa_id:?} is not a WhatsApp id"));
        }
        let wamid = required(m, "id", "")?.to_owned();
        let timestamp = unix_seconds(m)?;
        let kind = required(m, "type", "")?;
        let mut body = MessageBody::default();
        let mut media_sha256 = None;
        if let Some(context) = m.get("context") {
            body.context_wamid = owned(context, "id");
        }
        let part = |key: &str| {
            m.get(key)
                .filter(|v| v.is_object())
                .ok_or_else(|| format!("type {kind} without its {key} object"))
        };
        let content_type = match kind {
            "text" => {
                body.text = Some(required(part("text")?, "body", "text.")?.to_owned());
                ContentType::Text
            }
            "image" | "video" | "audio" | "document" | "sticker" => {
                let media = part(kind)?;
                body.media_id = Some(required(media, "id", &format!("{kind}."))?.to_owned());
                body.mime_type = owned(media, "mime_type");
                media_sha256 = owned(media, "sha256");
                body.text = owned(media, "caption");
                body.filename = owned(media, "filename");
                ContentType::parse(kind).unwrap_or(ContentType::Unsupported)
            }
            "location" => {
                let loc = part("location")?;
                let coordinate = |key: &str| {
                    loc.get(key)
                        .and_then(Value::as_f64)
                        .ok_or_else(|| format!("location.{key} is missing"))
                };
                body.latitude = Some(coordinate("latitude")?);
                body.longitude = Some(coordinate("longitude")?);
                body.location_name = owned(loc, "name");
                body.location_address = owned(loc, "address");
                body.text = body.location_name.clone();
                ContentType::Location
            }
            "interactive" => {
                let interactive = part("interactive")?;
                let reply_kind = required(interactive, "type", "interactive.")?;
                let reply = interactive
                    .get(reply_kind)
                    .filter(|v| v.is_object())
                    .ok_or_else(|| format!("interactive.{reply_kind} is missing"))?;
                body.interactive_reply_id = Some(required(reply, "id", "interactive reply ")?.to_owned());
                body.interactive_reply_title = owned(reply, "title");
                body.text = body.interactive_reply_title.clone();
                ContentType::Interactive
            }
            "button" => {
                let button = part("button")?;
                body.text = owned(button, "text");
                body.button_payload = owned(button, "payload");
                ContentType::Button
            }
            "reaction" => {
                let reaction = part("reaction")?;
                body.reaction_to_wamid = Some(required(reaction, "message_id", "reaction.")?.to_owned());
                // An empty emoji removes a reaction; it is kept as what Meta sent.
                body.reaction_emoji = owned(reaction, "emoji");
                ContentType::Reaction
            }
            other => {
                body.raw_type = Some(other.to_owned());
                ContentType::Unsupported
            }
        };
        Ok(InboundMessage {
            phone_number_id: pnid.to_owned(),
            profile_name: names.get(&wa_id).cloned().flatten(),
            wa_id,
            wamid,
            timestamp,
            content_type,
            body,
            media_sha256,
        })
    }

    /// `None` for a status Rosetta does not track (Meta also sends `deleted` and `warning`).
    fn status_update(pnid: &str, s: &Value) -> Result<Option<StatusUpdate>, String> {
        let wamid = required(s, "id", "")?.to_owned();
        let timestamp = unix_seconds(s)?;
        let status = match required(s, "status", "")? {
            "sent" => MessageStatus::Sent,
            "delivered" => MessageStatus::Delivered,
            "read" => MessageStatus::Read,
            "failed" => MessageStatus::Failed,
            _ => return Ok(None),
        };
        let error = s.get("errors").and_then(Value::as_array).and_then(|e| e.first());
        Ok(Some(StatusUpdate {
            phone_number_id: pnid.to_owned(),
            wamid,
            status,
            timestamp,
            error_code: error.and_then(|e| e.get("code")).and_then(Value::as_i64),
            error_title: error.and_then(|e| owned(e, "title").or_else(|| owned(e, "message"))),
            callback_data: owned(s, "biz_opaque_callback_data"),
        }))
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde_json::json;

        fn delivery(value: Value) -> Vec<u8> {
            json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}]})
                .to_string()
                .into_bytes()
        }

        fn one(message: Value) -> Result<InboundMessage, ParseError> {
            let value = json!({
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
                "messages": [message]
            });
            match parse(&delivery(value))?.remove(0) {
                IngestEvent::Message(m) => Ok(m),
                other => panic!("{other:?}"),
            }
        }

        fn base(kind: &str, part: Value) -> Value {
            let mut m = json!({"from": "16505551234", "id": "wamid.X", "timestamp": "1749416383", "type": kind});
            m[kind] = part;
            m
        }

        #[test]
        fn text_with_profile_name() {
            let m = one(base("text", json!({"body": "Hi 👋"}))).unwrap();
            assert_eq!(m.wa_id, "16505551234");
            assert_eq!(m.profile_name.as_deref(), Some("Sheena Nelson"));
            assert_eq!(m.timestamp, Timestamp::from_unix_seconds(1749416383));
            assert_eq!(
                (m.content_type, m.body.text.as_deref()),
                (ContentType::Text, Some("Hi 👋"))
            );
        }

        #[test]
        fn every_type() {
            let img = one(base(
                "image",
                json!({"id": "MEDIA1", "mime_type": "image/jpeg", "caption": "look"}),
            ))
            .unwrap();
            assert_eq!(
                (
                    img.content_type,
                    img.body.media_id.as_deref(),
                    img.body.mime_type.as_deref(),
                    img.body.text.as_deref()
                ),
                (ContentType::Image, Some("MEDIA1"), Some("image/jpeg"), Some("look"))
            );
            let doc = one(base(
                "document",
                json!({"id": "D", "mime_type": "application/pdf", "filename": "a.pdf"}),
            ))
            .unwrap();
            assert_eq!(doc.body.filename.as_deref(), Some("a.pdf"));
            for kind in ["video", "audio", "sticker"] {
                assert_eq!(one(base(kind, json!({"id": "M"}))).unwrap().content_type.as_str(), kind);
            }
            let loc = one(base(
                "location",
                json!({"latitude": 25.2, "longitude": 55.27, "name": "Dubai Mall", "address": "Downtown"}),
            ))
            .unwrap();
            assert_eq!(
                (
                    loc.body.latitude,
                    loc.body.longitude,
                    loc.body.location_address.as_deref()
                ),
                (Some(25.2), Some(55.27), Some("Downtown"))
            );
            let button = one(base(
                "interactive",
                json!({"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}}),
            ))
            .unwrap();
            assert_eq!(
                (
                    button.body.interactive_reply_id.as_deref(),
                    button.body.interactive_reply_title.as_deref()
                ),
                (Some("yes"), Some("Yes"))
            );
            let list = one(base(
                "interactive",
                json!({"type": "list_reply", "list_reply": {"id": "r2", "title": "Returns", "description": "x"}}),
            ))
            .unwrap();
            assert_eq!(list.body.interactive_reply_id.as_deref(), Some("r2"));
            let quick = one(base("button", json!({"text": "Confirm", "payload": "CONFIRM"}))).unwrap();
            assert_eq!(
                (
                    quick.content_type,
                    quick.body.button_payload.as_deref(),
                    quick.body.text.as_deref()
                ),
                (ContentType::Button, Some("CONFIRM"), Some("Confirm"))
            );
            let reaction = one(base("reaction", json!({"message_id": "wamid.OUT", "emoji": "👍"}))).unwrap();
            assert_eq!(
                (
                    reaction.body.reaction_to_wamid.as_deref(),
                    reaction.body.reaction_emoji.as_deref()
                ),
                (Some("wamid.OUT"), Some("👍"))
            );
            let odd = one(json!({"from": "16505551234", "id": "wamid.Y", "timestamp": "1749416383", "type": "order", "order": {"catalog_id": "1"}})).unwrap();
            assert_eq!(
                (odd.content_type, odd.body.raw_type.as_deref()),
                (ContentType::Unsupported, Some("order"))
            );
            let mut reply = base("text", json!({"body": "yes"}));
            reply["context"] = json!({"from": "15550783881", "id": "wamid.EARLIER"});
            assert_eq!(one(reply).unwrap().body.context_wamid.as_deref(), Some("wamid.EARLIER"));
        }

        #[test]
        fn bad_parts_refuse_the_delivery() {
            assert!(matches!(parse(b"{not json"), Err(ParseError::Json(_))));
            assert!(matches!(parse(b"[]"), Err(ParseError::Shape(_))));
            assert!(matches!(
                parse(br#"{"object":"page","entry":[]}"#),
                Err(ParseError::Shape(_))
            ));
            assert!(one(base("text", json!({}))).is_err());
            assert!(one(base("image", json!({"mime_type": "image/jpeg"}))).is_err());
            assert!(one(json!({"from": "16505551234", "id": "wamid.X", "timestamp": "yesterday", "type": "text", "text": {"body": "x"}})).is_err());
            assert!(one(json!({"id": "wamid.X", "timestamp": "1", "type": "text", "text": {"body": "x"}})).is_err());
            let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
            assert!(matches!(parse(deep.as_bytes()), Err(ParseError::Json(_))));
        }

        #[test]
        fn statuses_and_other_fields() {
            let value = json!({
                "metadata": {"phone_number_id": "106540352242922"},
                "statuses": [
                    {"id": "wamid.OUT", "status": "delivered", "timestamp": "1749416400", "recipient_id": "16505551234"},
                    {"id": "wamid.OUT2", "status": "failed", "timestamp": "1749416401", "recipient_id": "1", "biz_opaque_callback_data": "01JZ0000000000000000000000", "errors": [{"code": 131026, "title": "Message undeliverable"}]},
                    {"id": "wamid.OUT3", "status": "deleted", "timestamp": "1749416401"}
                ]
            });
            let events = parse(&delivery(value)).unwrap();
            assert_eq!(events.len(), 2);
            assert_eq!(
                events[1],
                IngestEvent::Status(StatusUpdate {
                    phone_number_id: "106540352242922".into(),
                    wamid: "wamid.OUT2".into(),
                    status: MessageStatus::Failed,
                    timestamp: Timestamp::from_unix_seconds(1749416401),
                    error_code: Some(131026),
                    error_title: Some("Message undeliverable".into()),
                    callback_data: Some("01JZ0000000000000000000000".into()),
                })
            );
            let other = json!({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{"field": "account_update", "value": {"x": 1}}]}]});
            assert_eq!(parse(other.to_string().as_bytes()).unwrap(), vec![]);
        }
    }
}
