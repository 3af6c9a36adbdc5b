//! Files clients upload to send, once for every dialect: the request's checks (the dialect's), then
//! the multipart body streamed to a temporary file (never whole in memory) with its sha256 taken on
//! the way, within `MAX_UPLOAD_BYTES`, committed to the blob store, and recorded
//! (`Store::create_upload`) under a Rosetta id scoped to the organization. Each dialect answers it
//! in its own shape; a bad body is the dialect's validation error, an oversize one its 413.
//!
//! The body is `multipart/form-data` as Meta's own upload takes it: a `file` part (its
//! `Content-Type` and filename are the file's), and optionally `type` (the MIME type, which wins
//! over the part's), `messaging_product` (`whatsapp` when given) and `filename`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use rosetta_core::media::{NewUpload, Upload, MAX_UPLOAD_BYTES};
use rosetta_core::{Error, Id, Store};
use rosetta_http::dialect::{self, Checks, DialectError, Principal};
use rosetta_http::AppState;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::blobs::Blobs;

/// Text parts are short; a longer one is refused.
const MAX_TEXT_PART: usize = 1024;

/// The file of a body, in a temporary file, checked.
struct Received {
    temp: std::path::PathBuf,
    sha256: String,
    size: u64,
    content_type: Option<String>,
    filename: Option<String>,
}

enum Refused {
    Invalid(&'static str, String),
    TooLarge,
    Store(std::io::Error),
}

fn invalid(field: &'static str, message: impl Into<String>) -> Refused {
    Refused::Invalid(field, message.into())
}

/// A MIME type as `type/subtype` (parameters allowed), in lower case.
fn mime_type(raw: &str) -> Result<String, Refused> {
    let mime: mime::Mime = raw.trim().parse().map_err(|_| {
        invalid(
            "type",
            format!("type must be a MIME type such as image/jpeg, not {raw:?}"),
        )
    })?;
    Ok(mime.essence_str().to_ascii_lowercase())
}

async fn text(field: &mut actix_multipart::Field, name: &'static str) -> Result<String, Refused> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(|e| invalid(name, format!("the {name} part could not be read: {e}")))?;
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_TEXT_PART {
            return Err(invalid(name, format!("{name} must be at most {MAX_TEXT_PART} bytes")));
        }
    }
    String::from_utf8(bytes).map_err(|_| invalid(name, format!("{name} must be UTF-8 text")))
}

async fn receive(req: &HttpRequest, payload: web::Payload, blobs: &Blobs) -> Result<Received, Refused> {
    let mut form = actix_multipart::Multipart::new(req.headers(), payload);
    let (mut file, mut kind, mut filename): (Option<Received>, Option<String>, Option<String>) = (None, None, None);
    let result = async {
        while let Some(field) = form.next().await {
            let mut field = field.map_err(|e| {
                invalid(
                    "file",
                    format!("the body must be multipart/form-data with a file part: {e}"),
                )
            })?;
            match field.name().unwrap_or_default() {
                "file" if file.is_none() => {
                    let (temp, mut out) = blobs.temp_file().await.map_err(Refused::Store)?;
                    let received = Received {
                        temp,
                        sha256: String::new(),
                        size: 0,
                        content_type: field.content_type().map(|m| m.essence_str().to_owned()),
                        filename: field
                            .content_disposition()
                            .and_then(|d| d.get_filename())
                            .map(str::to_owned),
                    };
                    // Held from here, so a refusal below removes the temporary file.
                    let received = file.insert(received);
                    let mut hash = Sha256::new();
                    while let Some(chunk) = field.next().await {
                        let chunk = chunk.map_err(|e| invalid("file", format!("the file could not be read: {e}")))?;
                        received.size += chunk.len() as u64;
                        if received.size > MAX_UPLOAD_BYTES {
                            return Err(Refused::TooLarge);
                        }
                        hash.update(&chunk);
                        out.write_all(&chunk).await.map_err(Refused::Store)?;
                    }
                    out.flush().await.map_err(Refused::Store)?;
                    received.sha256 = hex::encode(hash.finalize());
                }
                "file" => return Err(invalid("file", "only one file can be uploaded at a time")),
                "type" => kind = Some(mime_type(&text(&mut field, "type").await?)?),
                "filename" => filename = Some(text(&mut field, "filename").await?),
                "messaging_product" => {
                    if text(&mut field, "messaging_product").await? != "whatsapp" {
                        return Err(invalid("messaging_product", "messaging_product must be whatsapp"));
                    }
                }
                // Other parts are ignored, as Meta ignores them; drained so the body is read.
                _ => while field.next().await.is_some() {},
            }
        }
        Ok(())
    }
    .await;
    let Some(mut received) = file else {
        return Err(result.err().unwrap_or_else(|| {
            invalid(
                "file",
                "file is required: the file to upload, as a multipart part named file",
            )
        }));
    };
    if let Err(refused) = result {
        let _ = tokio::fs::remove_file(&received.temp).await;
        return Err(refused);
    }
    if received.size == 0 {
        let _ = tokio::fs::remove_file(&received.temp).await;
        return Err(invalid("file", "the file is empty"));
    }
    if let Some(kind) = kind {
        received.content_type = Some(kind);
    }
    let filename = filename
        .or(received.filename.take())
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty());
    if filename
        .as_ref()
        .is_some_and(|f| f.chars().count() > rosetta_core::send::MAX_FILENAME_CHARS || f.contains(['/', '\\', '\0']))
    {
        let _ = tokio::fs::remove_file(&received.temp).await;
        return Err(invalid(
            "filename",
            "filename must be a file's name of at most 240 characters",
        ));
    }
    received.filename = filename;
    if received.content_type.is_none() {
        let _ = tokio::fs::remove_file(&received.temp).await;
        return Err(invalid(
            "type",
            "type is required: the file's MIME type (or the file part's Content-Type)",
        ));
    }
    Ok(received)
}

/// An upload in a dialect: `checks` first (nothing is read before they pass), then `account` (the
/// WhatsApp number the dialect's path names, if any, checked as the principal's), then the file,
/// kept and recorded.
pub async fn upload<E, A>(
    req: &HttpRequest,
    state: &AppState,
    checks: Checks<E>,
    account: A,
    payload: web::Payload,
) -> Result<Upload, E>
where
    E: DialectError + From<Error>,
    A: FnOnce(&dyn Store, &Principal) -> Result<Option<Id>, E> + Send + 'static,
{
    let (org, account) = dialect::call(req, state, checks, Ok(()), move |store, principal, ()| {
        Ok((principal.org, account(store, principal)?))
    })
    .await?;
    let Some(blobs) = req.app_data::<web::Data<Blobs>>() else {
        tracing::error!("an upload came to an instance without a media store");
        return Err(E::for_status(StatusCode::SERVICE_UNAVAILABLE));
    };
    let received = match receive(req, payload, blobs).await {
        Ok(received) => received,
        Err(Refused::Invalid(field, message)) => return Err(E::domain(Error::invalid(field, message))),
        Err(Refused::TooLarge) => return Err(E::for_status(StatusCode::PAYLOAD_TOO_LARGE)),
        Err(Refused::Store(e)) => {
            tracing::warn!(error = %e, "an upload could not be written");
            return Err(E::unavailable());
        }
    };
    if let Err(e) = blobs.commit(&received.temp, &received.sha256).await {
        tracing::warn!(error = %e, "an upload could not be kept");
        return Err(E::unavailable());
    }
    let new = NewUpload {
        account_id: account,
        sha256: received.sha256,
        size: received.size as i64,
        mime_type: received.content_type.unwrap_or_default(),
        filename: received.filename,
    };
    // A failure here leaves a blob no row names: harmless, and removed by no one but a person (it
    // may be another upload's too).
    state
        .run(move |store| store.create_upload(org, new))
        .await
        .map_err(dialect::from_core)
}
