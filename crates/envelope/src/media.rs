//! `POST /api/whatsapp/media`: a file to send. envelope's product sends media by URL
//! (`content.url`); a file a team holds has no URL, so Rosetta adds this upload in envelope's style:
//! a multipart body with a `file` part (optionally `type`, the MIME type, and `filename`), answered
//! 201 with `{success: true, data: {id: "media_…", …}}`. A send then names it as `content.mediaId`
//! in place of `content.url`; the dispatcher uploads the file to Meta and sends by Meta's id. The id
//! is the organization's (the `x-org-id` one): another organization's is 404 "Media file not found".

use actix_web::{web, HttpRequest, HttpResponse};
use rosetta_core::media::Upload;
use rosetta_core::{EntityKind, Spelling};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{EnvelopeError, ErrorBody};
use crate::Envelope;
use rosetta_http::auth::Cost;

/// The upload, as `multipart/form-data`.
#[derive(ToSchema, Debug)]
#[allow(dead_code)]
pub struct UploadMedia {
    /// The file (its part's `Content-Type` and filename are the file's). At most 100 MB; sending it
    /// checks Meta's limit for the message type (images 5 MB, audio and video 16 MB).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// The file's MIME type (wins over the part's `Content-Type`).
    #[serde(rename = "type")]
    #[schema(example = "image/png")]
    kind: Option<String>,
    /// The name a document is shown with (wins over the part's filename).
    #[schema(example = "menu.pdf")]
    filename: Option<String>,
}

#[derive(Serialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct MediaItem {
    /// What a send names as `content.mediaId`.
    #[schema(example = "media_550e8400-e29b-41d4-a716-446655440000")]
    pub id: String,
    #[schema(example = "image/png")]
    pub mime_type: String,
    /// Bytes.
    pub size: i64,
    /// The file's sha256, in hex.
    pub sha256: String,
    pub filename: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<Upload> for MediaItem {
    fn from(upload: Upload) -> MediaItem {
        MediaItem {
            id: upload.id.render(EntityKind::Media, Spelling::Envelope),
            mime_type: upload.mime_type,
            size: upload.size,
            sha256: upload.sha256,
            filename: upload.filename,
            created_at: upload.created_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema, Debug)]
pub struct MediaResponse {
    /// Always true.
    #[schema(example = true)]
    pub success: bool,
    pub data: MediaItem,
}

/// Upload a file to send: a send names it as `content.mediaId`.
#[utoipa::path(
    post,
    path = "/api/whatsapp/media",
    tag = "Messages",
    request_body(content = UploadMedia, content_type = "multipart/form-data"),
    security(("bearer" = [], "org" = [])),
    responses(
        (status = 201, description = "Kept: send it by its id (content.mediaId)", body = MediaResponse),
        (status = 400, description = "No file, no type, an empty file", body = ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "The credentials are not the organization's", body = ErrorBody),
        (status = 413, description = "The file is over 100 MB", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database or media store unavailable", body = ErrorBody),
    )
)]
pub async fn upload(
    req: HttpRequest,
    envelope: web::Data<Envelope>,
    payload: web::Payload,
) -> Result<HttpResponse, EnvelopeError> {
    let checks = envelope.checks(&req, Cost::Blocking)?;
    let upload = rosetta_media::upload::upload(&req, &envelope.state, checks, |_, _| Ok(None), payload).await?;
    Ok(HttpResponse::Created().json(MediaResponse {
        success: true,
        data: upload.into(),
    }))
}
