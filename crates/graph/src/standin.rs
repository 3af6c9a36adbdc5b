//! A stand-in for Meta's WhatsApp Cloud API, speaking its documented contract over real HTTP, for
//! tests and the demo (Meta's servers cannot be reached from a test, and a newcomer's demo must
//! work offline). It is never what a production configuration reaches: only a Graph API URL set to
//! it does.
//!
//! It takes `POST /{version}/{phone_number_id}/messages` as Meta does: the bearer token must be the
//! one configured for that number (else 401, code 190), the body must be a send (or mark-as-read)
//! body of Meta's shape (else 400, code 100); a send is answered with a fresh `wamid`, counted, and,
//! when a webhook is configured, followed by signed status webhooks (sent, delivered, read; or
//! failed with an error) posted back, `biz_opaque_callback_data` included. It can be told to fail a
//! recipient: a Meta error code the first N times, a 5xx, no answer in time (it then accepts the
//! message late, as Meta may), or a slow answer.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use rand::RngCore;
use serde_json::{json, Value};

/// What the stand-in does to the next send to a recipient.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer Meta's error `code` with this HTTP status.
    Code { code: i64, status: u16 },
    /// Answer a bare server error.
    ServerError(u16),
    /// Accept the message, but answer only after this long (past a client's timeout: the outcome
    /// is unknown to the client, yet the message was taken).
    LateAccept(Duration),
    /// Answer normally after this long.
    Slow(Duration),
    /// Accept, then report the message failed with this code in a status webhook.
    FailLater { code: i64, title: String },
}

/// What the stand-in does to the next fetch of a media id.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaFault {
    /// The media id is unknown (404, code 100): the file is gone.
    NotFound,
    /// The declared checksum does not match the bytes.
    WrongChecksum,
    /// The URL handed out has already expired (its download is refused).
    Expired,
    /// The download answers after this long.
    Slow(Duration),
    /// The download announces the whole length and stops half-way.
    Truncated,
    /// The media lookup answers a bare 503.
    ServerError,
}

/// A file the stand-in serves as a received media id.
#[derive(Debug, Clone, Default)]
struct Media {
    bytes: Vec<u8>,
    mime_type: String,
    faults: VecDeque<MediaFault>,
    /// A fault taken at lookup that applies to the download it handed out.
    pending: Option<MediaFault>,
}

/// A send the stand-in accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub phone_number_id: String,
    pub to: String,
    pub wamid: String,
    pub body: Value,
    /// When it arrived.
    pub at: std::time::SystemTime,
}

#[derive(Debug, Default)]
struct Shared {
    /// phone_number_id → the token it takes.
    tokens: HashMap<String, String>,
    /// recipient → what to do to its next sends, in order.
    faults: HashMap<String, VecDeque<Fault>>,
    received: Vec<Received>,
    marked_read: Vec<String>,
    /// Where status webhooks go, and the app secret that signs them.
    webhook: Option<(String, String)>,
    /// Every request seen, accepted or not.
    requests: usize,
    /// Media ids it serves.
    media: HashMap<String, Media>,
    /// Downloads served whole.
    downloads: usize,
    /// Uploads accepted.
    uploads: usize,
}

/// A running stand-in; stopped when dropped.
pub struct StandIn {
    url: String,
    shared: Arc<Mutex<Shared>>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for StandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandIn").field("url", &self.url).finish()
    }
}

impl StandIn {
    /// Starts one on `bind` (e.g. `127.0.0.1:0` for any free port) in a thread of its own.
    pub fn start(bind: &str) -> std::io::Result<StandIn> {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = web::Data::new(shared.clone());
        let listener = std::net::TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("graph-standin".into())
            .spawn(move || {
                let system = actix_web::rt::System::new();
                system.block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(state.clone())
                            .app_data(web::PayloadConfig::new(1024 * 1024))
                            .route("/{version}/{phone_number_id}/messages", web::post().to(messages))
                            .route("/media-download/{media_id}", web::get().to(media_download))
                            .route("/{version}/{phone_number_id}/media", web::post().to(media_upload))
                            .route("/{version}/{media_id}", web::get().to(media_info))
                    })
                    .workers(1)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .listen(listener);
                    match server {
                        Ok(server) => {
                            let server = server.run();
                            let _ = tx.send(Ok(server.handle()));
                            let _ = server.await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })?;
        let handle = rx
            .recv()
            .map_err(|_| std::io::Error::other("the stand-in did not start"))??;
        Ok(StandIn {
            url: format!("http://{addr}"),
            shared,
            handle,
            thread: Some(thread),
        })
    }

    /// The base URL to configure as the Graph API URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `phone_number_id` takes `token`.
    pub fn allow(&self, phone_number_id: &str, token: &str) {
        self.lock().tokens.insert(phone_number_id.to_owned(), token.to_owned());
    }

    /// Status webhooks go to `url`, signed with `app_secret` (`X-Hub-Signature-256`).
    pub fn report_to(&self, url: &str, app_secret: &str) {
        self.lock().webhook = Some((url.to_owned(), app_secret.to_owned()));
    }

    /// The next sends to `to` meet `faults`, one each, in order.
    pub fn fail(&self, to: &str, faults: impl IntoIterator<Item = Fault>) {
        self.lock().faults.entry(to.to_owned()).or_default().extend(faults);
    }

    /// Every send accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// How many sends to `to` were accepted.
    pub fn count_to(&self, to: &str) -> usize {
        self.lock().received.iter().filter(|r| r.to == to).count()
    }

    /// The wamids marked read.
    pub fn marked_read(&self) -> Vec<String> {
        self.lock().marked_read.clone()
    }

    /// Serves `bytes` as the received media id `media_id`.
    pub fn add_media(&self, media_id: &str, bytes: Vec<u8>, mime_type: &str) {
        self.lock().media.insert(
            media_id.to_owned(),
            Media {
                bytes,
                mime_type: mime_type.to_owned(),
                ..Default::default()
            },
        );
    }

    /// The next fetches of `media_id` meet `faults`, one each, in order.
    pub fn media_fail(&self, media_id: &str, faults: impl IntoIterator<Item = MediaFault>) {
        if let Some(media) = self.lock().media.get_mut(media_id) {
            media.faults.extend(faults);
        }
    }

    /// Downloads served whole so far.
    pub fn downloads(&self) -> usize {
        self.lock().downloads
    }

    /// Uploads accepted so far.
    pub fn uploads(&self) -> usize {
        self.lock().uploads
    }

    /// The bytes and type of a media id it serves (an upload, or one added).
    pub fn media(&self, media_id: &str) -> Option<(Vec<u8>, String)> {
        self.lock()
            .media
            .get(media_id)
            .map(|m| (m.bytes.clone(), m.mime_type.clone()))
    }

    /// Every request seen, accepted or refused.
    pub fn requests(&self) -> usize {
        self.lock().requests
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let stop = self.handle.stop(false);
        if let Some(thread) = self.thread.take() {
            // The server's own thread drives the stop; wait for it to end.
            drop(stop);
            let _ = thread.join();
        }
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// `GET /{version}/{media-id}`: a download URL valid five minutes, as Meta answers.
async fn media_info(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    shared: web::Data<Arc<Mutex<Shared>>>,
) -> HttpResponse {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let (_, media_id) = path.into_inner();
    let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
    shared.requests += 1;
    let token_known = bearer(&req).is_some_and(|t| shared.tokens.values().any(|known| known == t));
    if !token_known {
        return meta_error(401, 190, "Invalid OAuth access token - Cannot parse access token", None);
    }
    let host = req.connection_info().host().to_owned();
    let Some(media) = shared.media.get_mut(&media_id) else {
        return meta_error(
            404,
            100,
            &format!("Unsupported get request. Object with ID '{media_id}' does not exist"),
            None,
        );
    };
    let fault = media.faults.pop_front();
    let mut sha = Sha256::digest(&media.bytes).to_vec();
    let mut expires = crate::time_now_millis() + 300_000;
    match fault {
        Some(MediaFault::NotFound) => {
            return meta_error(
                404,
                100,
                &format!("Unsupported get request. Object with ID '{media_id}' does not exist"),
                None,
            )
        }
        Some(MediaFault::ServerError) => return HttpResponse::ServiceUnavailable().body("upstream trouble"),
        Some(MediaFault::WrongChecksum) => sha[0] ^= 0xff,
        Some(MediaFault::Expired) => expires = crate::time_now_millis() - 1,
        Some(other) => media.pending = Some(other),
        None => {}
    }
    HttpResponse::Ok().json(json!({
        "messaging_product": "whatsapp",
        "url": format!("http://{host}/media-download/{media_id}?exp={expires}"),
        "mime_type": media.mime_type,
        "sha256": base64::engine::general_purpose::STANDARD.encode(sha),
        "file_size": media.bytes.len(),
        "id": media_id,
    }))
}

/// `POST /{version}/{phone_number_id}/media`: a multipart upload (`messaging_product`, `type`,
/// `file`) with the number's token; the file becomes a media id it serves like a received one.
async fn media_upload(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    mut form: actix_multipart::Multipart,
    shared: web::Data<Arc<Mutex<Shared>>>,
) -> HttpResponse {
    use futures_util::StreamExt;
    let (_, pnid) = path.into_inner();
    {
        let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.requests += 1;
        let expected = shared.tokens.get(&pnid).cloned();
        if expected.is_none() || bearer(&req) != expected.as_deref() {
            return meta_error(401, 190, "Invalid OAuth access token - Cannot parse access token", None);
        }
    }
    let (mut product, mut kind, mut file) = (None, None, None);
    while let Some(Ok(mut field)) = form.next().await {
        let name = field.name().map(str::to_owned).unwrap_or_default();
        let mut bytes = Vec::new();
        while let Some(Ok(chunk)) = field.next().await {
            bytes.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "messaging_product" => product = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "type" => kind = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "file" => file = Some(bytes),
            _ => {}
        }
    }
    let (Some("whatsapp"), Some(kind), Some(file)) = (product.as_deref(), kind, file) else {
        return meta_error(
            400,
            100,
            "(#100) Invalid parameter",
            Some("messaging_product, type and file are required"),
        );
    };
    let id = format!("{}", rand::random::<u64>());
    let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
    shared.uploads += 1;
    shared.media.insert(
        id.clone(),
        Media {
            bytes: file,
            mime_type: kind,
            ..Default::default()
        },
    );
    HttpResponse::Ok().json(json!({ "id": id }))
}

/// The download behind a media URL: the token required, refused once expired.
async fn media_download(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
    shared: web::Data<Arc<Mutex<Shared>>>,
) -> HttpResponse {
    let media_id = path.into_inner();
    let (bytes, mime, fault) = {
        let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.requests += 1;
        let token_known = bearer(&req).is_some_and(|t| shared.tokens.values().any(|known| known == t));
        let expired = query
            .get("exp")
            .and_then(|e| e.parse::<i64>().ok())
            .is_none_or(|e| e < crate::time_now_millis());
        if !token_known {
            return HttpResponse::Unauthorized().finish();
        }
        if expired {
            return HttpResponse::NotFound().finish();
        }
        let Some(media) = shared.media.get_mut(&media_id) else {
            return HttpResponse::NotFound().finish();
        };
        let fault = media.pending.take();
        (media.bytes.clone(), media.mime_type.clone(), fault)
    };
    match fault {
        Some(MediaFault::Slow(wait)) => actix_web::rt::time::sleep(wait).await,
        Some(MediaFault::Truncated) => {
            let half = bytes[..bytes.len() / 2].to_vec();
            let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(web::Bytes::from(half)) });
            return HttpResponse::Ok()
                .content_type(mime)
                .no_chunking(bytes.len() as u64)
                .streaming(stream);
        }
        _ => {}
    }
    shared.lock().unwrap_or_else(|p| p.into_inner()).downloads += 1;
    HttpResponse::Ok().content_type(mime).body(bytes)
}

fn meta_error(status: u16, code: i64, message: &str, details: Option<&str>) -> HttpResponse {
    let mut error = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "StandIn",
    });
    if let Some(details) = details {
        error["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
    }
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
    )
    .json(json!({ "error": error }))
}

/// What Meta checks of a send body; `Err` is its `(#100)` details.
fn check_send(body: &Value) -> Result<(String, &'static str), String> {
    const TYPES: [&str; 10] = [
        "text",
        "image",
        "video",
        "audio",
        "document",
        "sticker",
        "template",
        "interactive",
        "location",
        "reaction",
    ];
    let to = body["to"].as_str().ok_or("The parameter to is required.")?;
    let digits: String = to.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() < 8 || to.chars().any(|c| !(c.is_ascii_digit() || c == '+')) {
        return Err(format!("Invalid parameter to: {to}"));
    }
    let kind = body["type"].as_str().unwrap_or("text");
    let kind = TYPES
        .into_iter()
        .find(|t| *t == kind)
        .ok_or_else(|| format!("Unsupported message type: {kind}"))?;
    let object = &body[kind];
    if !object.is_object() {
        return Err(format!("The parameter {kind} is required."));
    }
    match kind {
        "text" if object["body"].as_str().is_none_or(|b| b.is_empty()) => {
            return Err("The parameter text['body'] is required.".into())
        }
        "image" | "video" | "audio" | "document" | "sticker"
            if object["link"].as_str().is_none() && object["id"].as_str().is_none() =>
        {
            return Err(format!("The parameter {kind}['link'] or {kind}['id'] is required."))
        }
        "template" if object["name"].as_str().is_none() => {
            return Err("The parameter template['name'] is required.".into())
        }
        _ => {}
    }
    Ok((digits, kind))
}

async fn messages(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    shared: web::Data<Arc<Mutex<Shared>>>,
) -> HttpResponse {
    let (_, pnid) = path.into_inner();
    let lock = || shared.lock().unwrap_or_else(|p| p.into_inner());
    lock().requests += 1;
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let expected = lock().tokens.get(&pnid).cloned();
    let Some(expected) = expected else {
        return meta_error(
            400,
            100,
            &format!("Unsupported post request. Object with ID '{pnid}' does not exist"),
            None,
        );
    };
    if bearer != Some(expected.as_str()) {
        return meta_error(401, 190, "Invalid OAuth access token - Cannot parse access token", None);
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return meta_error(400, 100, "(#100) Invalid parameter", Some("The body is not JSON"));
    };
    if body["messaging_product"] != "whatsapp" {
        return meta_error(
            400,
            100,
            "(#100) The parameter messaging_product is required.",
            Some("messaging_product must be \"whatsapp\""),
        );
    }
    if body["status"] == "read" {
        let Some(wamid) = body["message_id"].as_str() else {
            return meta_error(400, 100, "(#100) The parameter message_id is required.", None);
        };
        lock().marked_read.push(wamid.to_owned());
        return HttpResponse::Ok().json(json!({"success": true}));
    }
    let (to, _) = match check_send(&body) {
        Ok(checked) => checked,
        Err(details) => return meta_error(400, 100, "(#100) Invalid parameter", Some(&details)),
    };
    let fault = lock().faults.get_mut(&to).and_then(VecDeque::pop_front);
    let mut fail_later = None;
    match fault {
        Some(Fault::Code { code, status }) => {
            return meta_error(
                status,
                code,
                &format!("(#{code}) Injected by the stand-in"),
                Some("injected"),
            )
        }
        Some(Fault::ServerError(status)) => {
            return HttpResponse::build(
                actix_web::http::StatusCode::from_u16(status)
                    .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
            )
            .body("upstream trouble")
        }
        Some(Fault::LateAccept(delay) | Fault::Slow(delay)) => actix_web::rt::time::sleep(delay).await,
        Some(Fault::FailLater { code, title }) => fail_later = Some((code, title)),
        None => {}
    }
    let mut id = [0u8; 16];
    rand::rng().fill_bytes(&mut id);
    let wamid = format!("wamid.{}", hex::encode_upper(id));
    let webhook = {
        let mut shared = lock();
        shared.received.push(Received {
            phone_number_id: pnid.clone(),
            to: to.clone(),
            wamid: wamid.clone(),
            body: body.clone(),
            at: std::time::SystemTime::now(),
        });
        shared.webhook.clone()
    };
    if let Some((url, secret)) = webhook {
        let statuses: Vec<Value> = match fail_later {
            Some((code, title)) => vec![status_object(&wamid, &to, "failed", &body, Some((code, &title)))],
            None => ["sent", "delivered", "read"]
                .into_iter()
                .map(|s| status_object(&wamid, &to, s, &body, None))
                .collect(),
        };
        actix_web::rt::spawn(post_statuses(url, secret, pnid, statuses));
    }
    HttpResponse::Ok().json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": body["to"], "wa_id": to}],
        "messages": [{"id": wamid, "message_status": "accepted"}],
    }))
}

fn status_object(wamid: &str, to: &str, status: &str, body: &Value, error: Option<(i64, &str)>) -> Value {
    let mut object = json!({
        "id": wamid,
        "status": status,
        "timestamp": (rosetta_core::Timestamp::now().millis() / 1000).to_string(),
        "recipient_id": to,
    });
    if let Some(data) = body["biz_opaque_callback_data"].as_str() {
        object["biz_opaque_callback_data"] = json!(data);
    }
    if let Some((code, title)) = error {
        object["errors"] = json!([{"code": code, "title": title, "message": title, "error_data": {"details": title}}]);
    }
    object
}

/// Posts each status as its own webhook delivery, in order, signed as Meta signs them.
async fn post_statuses(url: String, secret: String, pnid: String, statuses: Vec<Value>) {
    let client = reqwest::Client::new();
    for status in statuses {
        let delivery = json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "0", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "0", "phone_number_id": pnid},
                "statuses": [status],
            }}]}],
        });
        let bytes = delivery.to_string().into_bytes();
        let signature = rosetta_http::webhook::sign(&secret, &bytes);
        let sent = client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(bytes)
            .send()
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "the stand-in could not post a status webhook");
        }
    }
}
