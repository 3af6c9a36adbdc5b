//! `POST /v1/{phone_number_id}/media`: a file to send by id, mirroring Meta's own upload (the same
//! path under `/v1`, the same multipart body: `file`, `type`, `messaging_product`). The file is kept
//! in Rosetta's media store and answered with kirim's media object; its `id` (`med_…`) is what a
//! send names as `image.id` (or `video`, `audio`, `document`, `sticker`): the dispatcher uploads
//! the file to Meta and sends by Meta's id. An id that is not a `med_` id is Meta's own, passed on
//! as it is. The id is the organization's: another organization's is `resource_not_found`.

use actix_web::{web, HttpRequest, HttpResponse};
use rosetta_core::media::Upload;
use rosetta_core::EntityKind;
use serde::Serialize;
use utoipa::ToSchema;

use crate::dto::kirim_id;
use crate::error::{ErrorBody, KirimError};
use crate::{params, Access, Kirim};
use rosetta_http::auth::Cost;
use rosetta_http::dialect::current_request_id;

/// Meta's upload body, as `multipart/form-data`.
#[derive(ToSchema, Debug)]
#[allow(dead_code)]
pub struct UploadMedia {
    /// The file (its part's `Content-Type` and filename are the file's). At most 100 MB; sending
    /// it checks Meta's limit for the message type (images 5 MB, audio and video 16 MB, stickers
    /// 500 KB).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// The file's MIME type (wins over the part's `Content-Type`).
    #[serde(rename = "type")]
    #[schema(example = "image/jpeg")]
    kind: Option<String>,
    /// `whatsapp`, when given.
    #[schema(example = "whatsapp")]
    messaging_product: Option<String>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct MediaDto {
    #[schema(example = "med_01HXYZABCDEFGHJKMNPQRSTVWX", pattern = "^med_[0-9A-HJKMNP-TV-Z]{26}$")]
    pub id: String,
    #[schema(example = "media")]
    pub object: &'static str,
    #[schema(example = "image/jpeg")]
    pub mime_type: String,
    /// Bytes.
    pub file_size: i64,
    /// The file's sha256, in hex.
    pub sha256: String,
    pub filename: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl MediaDto {
    pub fn new(upload: Upload) -> MediaDto {
        MediaDto {
            id: kirim_id(EntityKind::Media, upload.id),
            object: "media",
            mime_type: upload.mime_type,
            file_size: upload.size,
            sha256: upload.sha256,
            filename: upload.filename,
            created_at: upload.created_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema, Debug)]
pub struct MediaData {
    pub data: MediaDto,
    #[schema(example = "req_01HXYZABCDEFGHJKMNPQRSTVWX")]
    pub request_id: String,
}

/// Upload a file to send by id (Meta's upload, mirrored): answered with its `med_` id.
#[utoipa::path(
    post,
    path = "/v1/{phone_number_id}/media",
    tag = "Messages",
    params(("phone_number_id" = String, Path, pattern = r"^\d{6,20}$", example = "106540352242922")),
    request_body(content = UploadMedia, content_type = "multipart/form-data"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Kept: send it by its id", body = MediaData),
        (status = 400, description = "Validation failure (no file, no type, an empty file)", body = ErrorBody),
        (status = 401, description = "Authentication failure", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 413, description = "The file is over 100 MB", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "Database or media store unavailable", body = ErrorBody),
    )
)]
pub async fn upload(
    req: HttpRequest,
    kirim: web::Data<Kirim>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, KirimError> {
    let pnid = params::phone_number_id(&path);
    let checks = kirim.checks(&req, Access::Write, Cost::Blocking)?;
    let upload = rosetta_media::upload::upload(
        &req,
        &kirim.state,
        checks,
        move |store, principal| Ok(Some(store.find_account(principal.org, &pnid?)?.id)),
        payload,
    )
    .await?;
    Ok(rosetta_http::ok_json(MediaData {
        data: MediaDto::new(upload),
        request_id: current_request_id(),
    }))
}
