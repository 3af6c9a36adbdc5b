//! One test application for Rosetta's dialect tests (in the spirit of crates.io's `TestApp`): every
//! dialect mounted over one store as `rosetta serve` mounts them, rate limits counted on a fixed
//! clock (so no window rolls over mid-test), one request helper, and the builders every fixture
//! uses. Each dialect's tests keep only their own data and their own expected JSON.

use std::sync::Arc;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::{test, web, App};
use rosetta_core::key::{parse_scopes, KeyStyle};
use rosetta_core::*;
use rosetta_http::rate_limit::RateLimiter;
use rosetta_http::AppState;
use rosetta_store::testing::TestDb;
use serde_json::Value;

pub use rosetta_store::testing::Shortcuts;

pub mod s3;

/// The time every test rate limiter reads: 30 s into a minute, forever.
pub const FIXED_NOW: i64 = 1_800_000_030;

fn fixed_clock() -> i64 {
    FIXED_NOW
}

/// A limiter of `per_minute` (0: off) on the fixed clock.
pub fn limiter(per_minute: u32) -> Arc<RateLimiter> {
    Arc::new(RateLimiter::with_clock(per_minute, fixed_clock))
}

/// A store over `db` (a second handle, as another instance would open it) and the HTTP state over
/// it, reading inline on SQLite as `serve` does.
pub fn state(db: &TestDb) -> (Arc<dyn Store>, AppState) {
    let store: Arc<dyn Store> = Arc::new(db.instance());
    let mut state = AppState::new(store.clone());
    state.inline_reads = db.backend() == "sqlite";
    (store, state)
}

/// Which dialects a test app mounts, and their limits (requests a minute; 0 turns one off).
#[derive(Debug, Clone)]
pub struct Dialects {
    pub wacrm: Option<u32>,
    /// kirim's reads; writes are a tenth of it (at least 1), as `--rate-limit-per-minute` sets.
    pub kirim: Option<u32>,
    pub envelope: Option<u32>,
    /// envelope's JWT secret.
    pub jwt_secret: Option<&'static str>,
    /// Mounts Meta's webhook route, deliveries signed with this app secret.
    pub app_secret: Option<&'static str>,
    /// Meta's Graph API (a stand-in's client) for what kirim asks of Meta while a request waits.
    pub graph: Option<rosetta_graph::GraphClient>,
    /// Mounts `/media/{token}` over this blob store.
    pub media: Option<rosetta_media::blobs::Blobs>,
}

impl Dialects {
    /// Every dialect, no limits.
    pub fn all() -> Self {
        Dialects {
            wacrm: Some(0),
            kirim: Some(0),
            envelope: Some(0),
            jwt_secret: None,
            app_secret: None,
            graph: None,
            media: None,
        }
    }
}

/// The application `serve --dialect all` builds (the dialects asked for), on the fixed clock.
pub async fn app(
    state: AppState,
    dialects: Dialects,
) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error> {
    let mut app = App::new().app_data(web::Data::new(state.clone()));
    if let Some(secret) = dialects.app_secret {
        app = app.configure(rosetta_http::webhook::routes(
            rosetta_http::webhook::WebhookConfig::new(Some(secret), None),
        ));
    }
    if let Some(blobs) = dialects.media.clone() {
        app = app.configure(rosetta_media::serve::routes(blobs));
    }
    if let Some(limit) = dialects.wacrm {
        app = app.configure(rosetta_wacrm::routes(web::Data::new(rosetta_wacrm::Wacrm {
            state: state.clone(),
            limiter: limiter(limit),
        })));
    }
    if let Some(reads) = dialects.kirim {
        let writes = if reads == 0 { 0 } else { (reads / 10).max(1) };
        app = app.configure(rosetta_kirim::routes(web::Data::new(rosetta_kirim::Kirim {
            state: state.clone(),
            reads: limiter(reads),
            writes: limiter(writes),
            graph: dialects.graph.clone(),
        })));
    }
    if let Some(limit) = dialects.envelope {
        let mut envelope = rosetta_envelope::Envelope::new(state.clone(), 0, dialects.jwt_secret);
        envelope.limiter = limiter(limit);
        app = app.configure(rosetta_envelope::routes(web::Data::new(envelope)));
    }
    test::init_service(app.default_service(web::to(rosetta_http::not_found))).await
}

/// A response: status, body as JSON (`null` when it is not JSON), headers.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
    /// The body as it came.
    pub raw: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `method uri` with `headers` and, when given, a JSON `body`.
pub async fn send(
    app: &impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
    method: &str,
    uri: &str,
    headers: &[(&str, String)],
    body: Option<&str>,
) -> Reply {
    match body {
        Some(body) => send_bytes(app, method, uri, headers, "application/json", body.as_bytes().to_vec()).await,
        None => call(app, test::TestRequest::default(), method, uri, headers).await,
    }
}

/// `send` with a body of `content_type`.
pub async fn send_bytes(
    app: &impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
    method: &str,
    uri: &str,
    headers: &[(&str, String)],
    content_type: &str,
    body: Vec<u8>,
) -> Reply {
    let req = test::TestRequest::default()
        .insert_header(("Content-Type", content_type))
        .set_payload(body);
    call(app, req, method, uri, headers).await
}

async fn call(
    app: &impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
    req: test::TestRequest,
    method: &str,
    uri: &str,
    headers: &[(&str, String)],
) -> Reply {
    let method = actix_web::http::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut req = req.method(method).uri(uri);
    for (name, value) in headers {
        req = req.insert_header((*name, value.as_str()));
    }
    let resp = test::call_service(app, req.to_request()).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = test::read_body(resp).await;
    Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        headers,
        raw: bytes.to_vec(),
    }
}

/// One part of a `multipart/form-data` body.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    pub name: &'a str,
    pub filename: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub bytes: &'a [u8],
}

impl<'a> Part<'a> {
    /// A text field.
    pub fn text(name: &'a str, value: &'a str) -> Part<'a> {
        Part {
            name,
            filename: None,
            content_type: None,
            bytes: value.as_bytes(),
        }
    }

    /// A file.
    pub fn file(filename: &'a str, content_type: &'a str, bytes: &'a [u8]) -> Part<'a> {
        Part {
            name: "file",
            filename: Some(filename),
            content_type: Some(content_type),
            bytes,
        }
    }
}

/// A `multipart/form-data` body of `parts`: its `Content-Type` and bytes.
pub fn multipart(parts: &[Part]) -> (String, Vec<u8>) {
    const BOUNDARY: &str = "rosetta-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{}\"", part.name).as_bytes(),
        );
        if let Some(filename) = part.filename {
            body.extend_from_slice(format!("; filename=\"{filename}\"").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        if let Some(content_type) = part.content_type {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

/// An API key of `org` in `style`, with `scopes` (`None`: every scope).
pub fn key(store: &dyn Store, org: Id, style: KeyStyle, scopes: Option<&str>) -> CreatedApiKey {
    store
        .create_api_key(
            org,
            NewApiKey {
                name: Some("ci".into()),
                style,
                scopes: parse_scopes(scopes).unwrap(),
                expires_at: None,
            },
        )
        .unwrap()
}

/// A contact of `org`.
pub fn contact(store: &dyn Store, org: Id, phone: &str, name: Option<&str>) -> Id {
    store
        .create_contact(
            org,
            NewContact {
                phone: phone.into(),
                name: name.map(Into::into),
                ..Default::default()
            },
        )
        .unwrap()
        .contact
        .contact
        .id
}

/// A message at `at` (RFC 3339): from the customer when inbound (received), else from an agent
/// (delivered).
pub fn message(
    conversation: Id,
    wamid: &str,
    direction: Direction,
    content_type: ContentType,
    body: MessageBody,
    at: &str,
) -> NewMessage {
    let inbound = direction == Direction::Inbound;
    NewMessage {
        conversation_id: conversation,
        wamid: Some(wamid.into()),
        direction,
        sender_type: if inbound {
            SenderType::Customer
        } else {
            SenderType::Agent
        },
        sender_user_id: None,
        content_type,
        body,
        status: if inbound {
            MessageStatus::Received
        } else {
            MessageStatus::Delivered
        },
        created_at: Timestamp::parse_rfc3339(at).unwrap(),
    }
}

/// An inbound text message at `at` (RFC 3339).
pub fn inbound(conversation: Id, wamid: &str, text: &str, at: &str) -> NewMessage {
    message(
        conversation,
        wamid,
        Direction::Inbound,
        ContentType::Text,
        MessageBody {
            text: Some(text.into()),
            ..Default::default()
        },
        at,
    )
}

/// The Graph API stand-in's token for test accounts.
pub const GRAPH_TOKEN: &str = "EAAG-testkit-token";

/// A Graph API client of the stand-in at `url`, with a short timeout.
pub fn graph(url: &str) -> rosetta_graph::GraphClient {
    rosetta_graph::GraphClient::new(rosetta_graph::GraphConfig {
        base_url: url.to_owned(),
        timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    })
    .expect("a graph client")
}

/// Starts a stand-in for Meta that accepts `GRAPH_TOKEN` for `phone_number_id`, and gives the account
/// that token.
pub fn standin(store: &dyn Store, org: Id, account: Id, phone_number_id: &str) -> rosetta_graph::standin::StandIn {
    let standin = rosetta_graph::standin::StandIn::start("127.0.0.1:0").expect("the stand-in starts");
    standin.allow(phone_number_id, GRAPH_TOKEN);
    store
        .set_account_token(org, account, &AccessToken::new(GRAPH_TOKEN).unwrap())
        .unwrap();
    standin
}

/// Runs a dispatch worker for `state` against the stand-in at `url` on the test's runtime, woken by
/// the state's send signals as `serve` runs it; retries come after milliseconds, not seconds.
pub fn dispatch(state: &AppState, url: &str) {
    actix_web::rt::spawn(dispatcher(state, url).run());
}

/// Runs the log's watcher for `state` on the test's runtime, as `serve` does. Abort it when the
/// test is done with this database (a watcher left running would read a database that is gone).
pub fn sequence_events(state: &AppState) -> actix_web::rt::task::JoinHandle<()> {
    actix_web::rt::spawn(rosetta_http::events::sequencer(state.clone()))
}

/// `dispatch`, reading the files of sends of uploaded files from `blobs` as `serve` does.
pub fn dispatch_with_media(state: &AppState, url: &str, blobs: rosetta_media::blobs::Blobs) {
    actix_web::rt::spawn(dispatcher(state, url).with_files(Arc::new(blobs)).run());
}

fn dispatcher(state: &AppState, url: &str) -> rosetta_graph::dispatch::Dispatcher {
    rosetta_graph::dispatch::Dispatcher::new(
        state.store.clone(),
        graph(url),
        rosetta_graph::dispatch::DispatchConfig {
            base_backoff: std::time::Duration::from_millis(20),
            max_backoff: std::time::Duration::from_millis(80),
            idle_poll: std::time::Duration::from_millis(50),
            recipient_spacing: std::time::Duration::from_millis(50),
            ..Default::default()
        },
    )
    .with_signals(state.sending.clone())
    .with_metrics(state.metrics.clone())
}

/// Waits, on the dispatcher's signals (never a sleep), until `message` is no longer `sending`
/// (sent or failed), for up to 30 seconds.
pub async fn settled(state: &AppState, org: Id, message: Id) -> Message {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let m = rosetta_http::sending::wait_for_attempt(state, org, message)
            .await
            .unwrap();
        if m.status != MessageStatus::Sending || std::time::Instant::now() > give_up {
            return m;
        }
    }
}
