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

use crate::blobs::{Blobs, S3Blobs};

/// Mounts `GET /media/{token}` over `blobs`.
pub fn routes(blobs: impl Into<Blobs>) -> impl FnOnce(&mut web::ServiceConfig) {
    let blobs: Blobs = blobs.into();
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
    blobs: web::Data<Blobs>,
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
    let mime: mime::Mime = info
        .mime_type
        .as_deref()
        .and_then(|m| m.parse().ok())
        .unwrap_or(mime::APPLICATION_OCTET_STREAM);
    let disposition = ContentDisposition {
        disposition: if active(mime.essence_str()) {
            DispositionType::Attachment
        } else {
            DispositionType::Inline
        },
        parameters: vec![DispositionParam::Filename(info.filename.unwrap_or_else(|| {
            message.render(EntityKind::Message, rosetta_core::Spelling::Uuid)
        }))],
    };
    let mut response = match blobs.get_ref() {
        Blobs::Local(local) => {
            let file = match local.path(&blob) {
                Ok(path) => NamedFile::open_async(&path).await,
                Err(e) => Err(e),
            };
            match file {
                Ok(file) => file
                    .set_content_type(mime)
                    .set_content_disposition(disposition)
                    .use_etag(true)
                    .use_last_modified(false)
                    .respond_to(&req)
                    .map_into_boxed_body(),
                Err(e) => {
                    tracing::error!(error = %e, %blob, "a stored file is missing from the blob store");
                    return refused(StatusCode::NOT_FOUND, "No such file");
                }
            }
        }
        Blobs::S3(s3) => match from_bucket(&req, s3, &blob, mime, disposition).await {
            Ok(response) => response,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::error!(error = %e, %blob, "a stored file is missing from the blob store");
                return refused(StatusCode::NOT_FOUND, "No such file");
            }
            Err(e) => {
                tracing::warn!(error = %e, %blob, "the media bucket did not answer");
                return refused(StatusCode::SERVICE_UNAVAILABLE, "Service temporarily unavailable");
            }
        },
    };
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

/// A blob from the bucket, streamed: the whole file, or one `Range` (206; a range past the end is
/// 416), with the blob's address as its `ETag` (`If-None-Match` → 304, `If-Range` honoured).
async fn from_bucket(
    req: &HttpRequest,
    s3: &S3Blobs,
    blob: &str,
    mime: mime::Mime,
    disposition: ContentDisposition,
) -> std::io::Result<HttpResponse> {
    use actix_web::http::StatusCode;
    let etag = format!("\"{blob}\"");
    let header = |name: header::HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok());
    let matches = |value: &str| value.split(',').any(|t| t.trim() == etag || t.trim() == "*");
    let mut builder = HttpResponse::Ok();
    builder
        .insert_header((header::ETAG, etag.clone()))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header(disposition);
    if header(header::IF_NONE_MATCH).is_some_and(matches) {
        return Ok(builder.status(StatusCode::NOT_MODIFIED).finish());
    }
    let size = s3.size(blob).await?;
    let wanted = header(header::RANGE).filter(|_| header(header::IF_RANGE).is_none_or(|v| v.trim() == etag));
    let range = match wanted.map(|r| actix_files::HttpRange::parse(r, size)) {
        None => None,
        Some(Ok(ranges)) if ranges.len() == 1 => Some(ranges[0]),
        // Several ranges: the whole file (a server may ignore Range).
        Some(Ok(_)) => None,
        Some(Err(_)) => {
            return Ok(builder
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .insert_header((header::CONTENT_RANGE, format!("bytes */{size}")))
                .finish())
        }
    };
    builder.insert_header((header::CONTENT_TYPE, mime.to_string()));
    let (length, stream) = match range {
        Some(r) if r.length > 0 => {
            let (_, stream) = s3.get(blob, Some(r.start..r.start + r.length)).await?;
            builder.status(StatusCode::PARTIAL_CONTENT).insert_header((
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{size}", r.start, r.start + r.length - 1),
            ));
            (r.length, stream)
        }
        _ => {
            let (_, stream) = s3.get(blob, None).await?;
            (size, stream)
        }
    };
    builder.no_chunking(length);
    Ok(builder.streaming(stream))
}
