//! What the media tests share.

use rosetta_core::ingest::{InboundMessage, IngestEvent};
use rosetta_core::*;

pub const PNID: &str = "106540352242922";

/// A media message from a customer, as ingest receives it.
pub fn received(wamid: &str, kind: ContentType, media_id: &str, mime: &str, sha256: Option<String>) -> IngestEvent {
    IngestEvent::Message(InboundMessage {
        phone_number_id: PNID.into(),
        wa_id: "16505551234".into(),
        profile_name: Some("Sheena".into()),
        wamid: wamid.into(),
        timestamp: Timestamp::now(),
        content_type: kind,
        body: MessageBody {
            media_id: Some(media_id.into()),
            mime_type: Some(mime.into()),
            ..Default::default()
        },
        media_sha256: sha256,
    })
}

/// The same message, a document named `filename`.
#[allow(dead_code)]
pub fn named(event: IngestEvent, filename: &str) -> IngestEvent {
    match event {
        IngestEvent::Message(mut m) => {
            m.body.filename = Some(filename.into());
            IngestEvent::Message(m)
        }
        other => other,
    }
}
