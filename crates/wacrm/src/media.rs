//! `POST /api/v1/media` (scope `messages:send`): a file to send. wacrm's product sends media by
//! public URL only (`media_url`); a file a team holds has no URL, so Rosetta adds this upload in
//! wacrm's style: a multipart body with a `file` part (optionally `type`, the MIME type, and
//! `filename`), answered 201 with `{data: {id, …}}`. A send then names it as `media_id` (a UUID)
//! in place of `media_url`; the dispatcher uploads the file to Meta and sends by Meta's id. The id
//! is the organization's: another organization's is 404 `not_found`.

use actix_web::{web, HttpRequest, HttpResponse};
use rosetta_core::media::Upload;
use rosetta_core::{EntityKind, Spelling};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ErrorBody, WacrmError};
use crate::Wacrm;
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
    #[schema(example = "application/pdf")]
    kind: Option<String>,
    /// The name a document is shown with (wins over the part's filename).
    #[schema(example = "invoice.pdf")]
    filename: Option<String>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct MediaDto {
    /// What a send names as `media_id`.
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(example = "application/pdf")]
    pub mime_type: String,
    /// Bytes.
    pub size: i64,
    /// The file's sha256, in hex.
    pub sha256: String,
    pub filename: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct MediaData {
    pub data: MediaDto,
}

impl From<Upload> for MediaDto {
    fn from(upload: Upload) -> MediaDto {
        MediaDto {
            id: upload.id.render(EntityKind::Media, Spelling::Uuid),
            mime_type: upload.mime_type,
            size: upload.size,
            sha256: upload.sha256,
            filename: upload.filename,
            created_at: upload.created_at.to_rfc3339(),
        }
    }
}

/// Upload a file to send: a send names it as `media_id`.
#[utoipa::path(
    post,
    path = "/api/v1/media",
    tag = "Messages",
    request_body(content = UploadMedia, content_type = "multipart/form-data"),
    security(("api_key" = [])),
    responses(
        (status = 201, description = "Kept: send it by its id (media_id)", body = MediaData),
        (status = 400, description = "bad_request: no file, no type, an empty file", body = ErrorBody),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = ErrorBody),
        (status = 403, description = "The key lacks messages:send", body = ErrorBody),
        (status = 413, description = "The file is over 100 MB", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database or media store unavailable", body = ErrorBody),
    )
)]
pub async fn upload(
    req: HttpRequest,
    wacrm: web::Data<Wacrm>,
    payload: web::Payload,
) -> Result<HttpResponse, WacrmError> {
    let checks = wacrm.checks(&req, Some("messages:send"), Cost::Blocking)?;
    let upload = rosetta_media::upload::upload(&req, &wacrm.state, checks, |_, _| Ok(None), payload).await?;
    Ok(HttpResponse::Created().json(MediaData { data: upload.into() }))
}
