//! `GET /media/{token}`: a kept file, through a signed, short-lived link (`rosetta_http::media`
//! makes them). The bytes with their `Content-Type`, `Content-Length`, an `ETag` and `Range`
//! support (actix-files), `Content-Disposition` with the document's filename, and
//! `X-Content-Type-Options: nosniff`; active types (HTML, SVG, XML, JavaScript) are attachments,
//! never inline. A tampered link is 403, an expired one 410; a file not fetched yet 404, a failed
//! one 404 saying why, a pruned one 410.

use actix_files::NamedFile;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{web, HttpRequest, HttpResponse, Responder};
use rosetta_core::media::LinkError;
use rosetta_core::{EntityKind, Error, MediaState, Timestamp};
use rosetta_http::AppState;
use serde_json::json;

use crate::blobs::LocalBlobs;

/// Mounts `GET /media/{token}` over `blobs`.
pub fn routes(blobs: LocalBlobs) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(blobs)).route(
            &format!("{}/{{token}}", rosetta_http::media::MEDIA_PATH),
            web::get().to(serve),
        );
    }
}

fn refused(status: actix_web::http::StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .json(json!({"error": message}))
}

/// Types a browser would run or render as a page: never inline.
fn active(mime: &str) -> bool {
    let mime = mime.to_ascii_lowercase();
    ["html", "svg", "xml", "javascript", "ecmascript", "xhtml"]
        .iter()
        .any(|t| mime.contains(t))
}

async fn serve(
    req: HttpRequest,
    token: web::Path<String>,
    state: web::Data<AppState>,
    blobs: web::Data<LocalBlobs>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let now = Timestamp::now().millis() / 1000;
    let message = match state.media_links.verify(&token, now) {
        Ok(message) => message,
        Err(LinkError::Expired) => {
            return refused(
                StatusCode::GONE,
                "This media link has expired: list the message again for a fresh one",
            )
        }
        Err(_) => return refused(StatusCode::FORBIDDEN, "Invalid media link"),
    };
    let info = match state.read(move |s| s.media_file(message)).await {
        Ok(info) => info,
        Err(Error::NotFound(EntityKind::Message)) => return refused(StatusCode::NOT_FOUND, "No such file"),
        Err(e) => {
            tracing::warn!(error = ?e, "media lookup failed");
            return refused(StatusCode::SERVICE_UNAVAILABLE, "Service temporarily unavailable");
        }
    };
    let blob = match (info.state, info.blob.as_deref()) {
        (MediaState::Stored, Some(blob)) => blob.to_owned(),
        (MediaState::Pruned, _) => return refused(StatusCode::GONE, "The file was removed by the retention policy"),
        (MediaState::Failed, _) => {
            let why = info.error.unwrap_or_else(|| "the file could not be fetched".into());
            return refused(StatusCode::NOT_FOUND, &format!("The file could not be kept: {why}"));
        }
        _ => return refused(StatusCode::NOT_FOUND, "The file is not fetched yet"),
    };
    let path = match blobs.path(&blob) {
        Ok(path) => path,
        Err(_) => return refused(StatusCode::NOT_FOUND, "No such file"),
    };
    let file = match NamedFile::open_async(&path).await {
        Ok(file) => file,
        Err(e) => {
            tracing::error!(error = %e, %blob, "a stored file is missing from the blob store");
            return refused(StatusCode::NOT_FOUND, "No such file");
        }
    };
    let mime: mime::Mime = info
        .mime_type
        .as_deref()
        .and_then(|m| m.parse().ok())
        .unwrap_or(mime::APPLICATION_OCTET_STREAM);
    let disposition = if active(mime.essence_str()) {
        DispositionType::Attachment
    } else {
        DispositionType::Inline
    };
    let filename = info
        .filename
        .unwrap_or_else(|| message.render(EntityKind::Message, rosetta_core::Spelling::Uuid));
    let mut response = file
        .set_content_type(mime)
        .set_content_disposition(ContentDisposition {
            disposition,
            parameters: vec![DispositionParam::Filename(filename)],
        })
        .use_etag(true)
        .use_last_modified(false)
        .respond_to(&req)
        .map_into_boxed_body();
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, max-age=3600"),
    );
    response
}
