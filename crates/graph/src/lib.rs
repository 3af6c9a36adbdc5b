//! Rosetta's one client of Meta's WhatsApp Cloud API (the Graph API), in one place, not in a
//! dialect: `POST {graph}/{version}/{phone_number_id}/messages` with the account's bearer token,
//! over rustls with bounded timeouts and pooled connections. Meta's error body (`error.code`,
//! `error_subcode`, `error_data.details`, `fbtrace_id`) is parsed once (`MetaError`) and mapped once
//! (`GraphError::disposition`): what is retried, what fails at once, what flags the token.
//!
//! `standin` is a stand-in for Meta that speaks the same contract over real HTTP, for tests and the
//! demo. Nothing reaches it unless it is configured as the Graph API URL: the default is Meta's.

pub mod dispatch;
pub mod pacing;
pub mod standin;

/// Now, in Unix milliseconds.
fn time_now_millis() -> i64 {
    rosetta_core::Timestamp::now().millis()
}

use std::time::Duration;

use rosetta_core::AccessToken;
use serde::Deserialize;

/// Meta's Graph API.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com";
/// The Graph API version Rosetta speaks by default.
pub const DEFAULT_GRAPH_VERSION: &str = "v24.0";

/// Where the Graph API is and how long a call may take.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// `https://graph.facebook.com`, or a stand-in's URL.
    pub base_url: String,
    pub version: String,
    /// The whole call, connection included.
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for GraphConfig {
    fn default() -> Self {
        GraphConfig {
            base_url: DEFAULT_GRAPH_URL.to_owned(),
            version: DEFAULT_GRAPH_VERSION.to_owned(),
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Meta took the message (accepted is not delivered: statuses follow in webhooks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The message's `wamid`.
    pub wamid: String,
    /// The recipient's WhatsApp id, as Meta resolved it.
    pub wa_id: Option<String>,
    /// `accepted` or `held_for_quality_assessment`, when Meta says.
    pub message_status: Option<String>,
}

/// Meta's error body, parsed once: branch on `code` (and `details`), never on titles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaError {
    pub code: i64,
    pub subcode: Option<i64>,
    pub message: String,
    /// `type`, e.g. `OAuthException`.
    pub kind: Option<String>,
    /// `error_data.details`.
    pub details: Option<String>,
    pub fbtrace_id: Option<String>,
}

/// Why a call did not end in an answer Rosetta can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// The connection could not be made: the request never reached Meta.
    Connect(String),
    /// The request may have reached Meta, but no answer came in time (or the connection broke
    /// while waiting): Meta may have accepted it.
    NoAnswer(String),
    /// An HTTP error status, with Meta's error when the body carried one.
    Http { status: u16, meta: Option<MetaError> },
    /// A 2xx answer that is not what Meta answers.
    Malformed(String),
}

/// What to do about a failed call: the one place the retry classes are decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Try again with backoff (network errors, 5xx, 131000, 130429 the number's throughput).
    Retry,
    /// Try again later for this recipient only (131056, the pair rate limit).
    RetryRecipientLater,
    /// The request may have been accepted: do not resend blindly; reconcile first.
    OutcomeUnknown,
    /// Fail now and keep Meta's code (131047, 131026, 131048, 131049, 368, 100, 132xxx, other 4xx).
    Fail,
    /// Fail now: the account's token is expired or invalid (190); flag the account.
    FailTokenInvalid,
}

impl GraphError {
    /// Meta's error code, when Meta sent one.
    pub fn code(&self) -> Option<i64> {
        match self {
            GraphError::Http { meta: Some(m), .. } => Some(m.code),
            _ => None,
        }
    }

    /// What a person reads about a failed send: Meta's message (and details) when Meta sent one,
    /// else what went wrong on the way.
    pub fn title(&self) -> String {
        match self {
            GraphError::Http { meta: Some(m), .. } => match &m.details {
                Some(details) if details != &m.message => format!("{} ({details})", m.message),
                _ => m.message.clone(),
            },
            other => other.to_string(),
        }
    }

    pub fn disposition(&self) -> Disposition {
        match self {
            GraphError::Connect(_) => Disposition::Retry,
            GraphError::NoAnswer(_) => Disposition::OutcomeUnknown,
            GraphError::Malformed(_) => Disposition::OutcomeUnknown,
            GraphError::Http { status, meta } => match meta.as_ref().map(|m| m.code) {
                Some(190) => Disposition::FailTokenInvalid,
                Some(131056) => Disposition::RetryRecipientLater,
                Some(130429 | 131000) => Disposition::Retry,
                Some(131047 | 131026 | 131048 | 131049 | 368 | 100) => Disposition::Fail,
                Some(code) if (132000..133000).contains(&code) => Disposition::Fail,
                _ if *status >= 500 || *status == 429 => Disposition::Retry,
                _ if *status == 401 => Disposition::FailTokenInvalid,
                _ => Disposition::Fail,
            },
        }
    }
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GraphError::Connect(e) => write!(f, "cannot reach the Graph API: {e}"),
            GraphError::NoAnswer(e) => write!(f, "no answer from the Graph API: {e}"),
            GraphError::Http { status, meta: Some(m) } => {
                write!(f, "Graph API error {} (HTTP {status}): {}", m.code, m.message)?;
                if let Some(details) = &m.details {
                    write!(f, " ({details})")?;
                }
                Ok(())
            }
            GraphError::Http { status, meta: None } => write!(f, "Graph API answered HTTP {status}"),
            GraphError::Malformed(e) => write!(f, "unexpected Graph API answer: {e}"),
        }
    }
}

impl std::error::Error for GraphError {}

/// The one Graph API client: cheap to clone, connections pooled.
#[derive(Debug, Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    config: GraphConfig,
}

impl GraphClient {
    pub fn new(config: GraphConfig) -> Result<GraphClient, String> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("rosetta/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the Graph API client: {e}"))?;
        Ok(GraphClient { http, config })
    }

    pub fn config(&self) -> &GraphConfig {
        &self.config
    }

    /// `POST /{version}/{phone_number_id}/messages` with Meta's send body.
    pub async fn send_message(
        &self,
        phone_number_id: &str,
        token: &AccessToken,
        body: &serde_json::Value,
    ) -> Result<Accepted, GraphError> {
        let answer = self.post_messages(phone_number_id, token, body).await?;
        let parsed: SendAnswer =
            serde_json::from_value(answer.clone()).map_err(|e| GraphError::Malformed(format!("{e}: {answer}")))?;
        let message = parsed
            .messages
            .into_iter()
            .next()
            .ok_or_else(|| GraphError::Malformed(format!("no message id: {answer}")))?;
        Ok(Accepted {
            wamid: message.id,
            wa_id: parsed.contacts.into_iter().next().and_then(|c| c.wa_id),
            message_status: message.message_status,
        })
    }

    /// Marks a received message read (Meta's mark-as-read form of the same path).
    pub async fn mark_read(&self, phone_number_id: &str, token: &AccessToken, wamid: &str) -> Result<(), GraphError> {
        let body = serde_json::json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid});
        self.post_messages(phone_number_id, token, &body).await.map(|_| ())
    }

    async fn post_messages(
        &self,
        phone_number_id: &str,
        token: &AccessToken,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, GraphError> {
        let url = format!(
            "{}/{}/{}/messages",
            self.config.base_url.trim_end_matches('/'),
            self.config.version,
            phone_number_id
        );
        let response = self
            .http
            .post(url)
            .bearer_auth(token.expose())
            .json(body)
            .send()
            .await
            .map_err(transport_error)?;
        answer(response).await
    }
}

/// A received file's details (`GET /{version}/{media-id}`): a download URL valid a few minutes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MediaInfo {
    pub url: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    /// Meta's checksum of the file (base64, or hex, of its sha256).
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub file_size: Option<u64>,
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v: Option<serde_json::Value> = Option::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    })
}

/// A download that was written whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// The sha256 of the bytes written (hex).
    pub sha256: String,
    pub size: u64,
}

/// Why a download did not end in a whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadError {
    /// Worth another attempt with a fresh URL: a network error, a 5xx, an expired or refused URL,
    /// a body cut short.
    Retry(String),
    /// Not worth another: the file is larger than allowed.
    Fail(String),
}

impl std::fmt::Display for DownloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownloadError::Retry(e) | DownloadError::Fail(e) => f.write_str(e),
        }
    }
}

/// How long a download may take, whole.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);

impl GraphClient {
    /// `GET /{version}/{media-id}`: where to download a received file from, for a few minutes.
    pub async fn media_info(&self, media_id: &str, token: &AccessToken) -> Result<MediaInfo, GraphError> {
        let url = format!(
            "{}/{}/{}",
            self.config.base_url.trim_end_matches('/'),
            self.config.version,
            media_id
        );
        let response = self
            .http
            .get(url)
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(transport_error)?;
        answer(response).await
    }

    /// Downloads `url` (with the token, as Meta requires) into `sink`, chunk by chunk (never the
    /// whole file in memory), refusing more than `max` bytes, and hashing as it goes.
    pub async fn download(
        &self,
        url: &str,
        token: &AccessToken,
        max: u64,
        sink: &mut (impl tokio::io::AsyncWrite + Unpin),
    ) -> Result<Downloaded, DownloadError> {
        use sha2::{Digest, Sha256};
        use tokio::io::AsyncWriteExt;
        let retry = |e: reqwest::Error| DownloadError::Retry(format!("download: {e}"));
        let mut response = self
            .http
            .get(url)
            .bearer_auth(token.expose())
            .timeout(DOWNLOAD_TIMEOUT)
            .send()
            .await
            .map_err(retry)?;
        let status = response.status().as_u16();
        // A refused or missing download is usually an expired URL: the next attempt gets a fresh
        // one (a media id that is gone fails at `media_info`).
        if !(200..300).contains(&status) {
            return Err(DownloadError::Retry(format!("download answered HTTP {status}")));
        }
        if let Some(length) = response.content_length().filter(|l| *l > max) {
            return Err(DownloadError::Fail(format!(
                "the file is {length} bytes, over the {max}-byte limit"
            )));
        }
        let expected = response.content_length();
        let (mut hash, mut size) = (Sha256::new(), 0u64);
        while let Some(chunk) = response.chunk().await.map_err(retry)? {
            size += chunk.len() as u64;
            if size > max {
                return Err(DownloadError::Fail(format!("the file is over the {max}-byte limit")));
            }
            hash.update(&chunk);
            sink.write_all(&chunk)
                .await
                .map_err(|e| DownloadError::Retry(format!("cannot write the file: {e}")))?;
        }
        if expected.is_some_and(|e| e != size) {
            return Err(DownloadError::Retry(format!(
                "the download was cut short ({size} bytes)"
            )));
        }
        sink.flush()
            .await
            .map_err(|e| DownloadError::Retry(format!("cannot write the file: {e}")))?;
        Ok(Downloaded {
            sha256: hex::encode(hash.finalize()),
            size,
        })
    }
}

impl GraphClient {
    /// `POST /{version}/{phone_number_id}/media`: uploads a file (`body`, `length` bytes, streamed:
    /// a file on disk or an object in a bucket) for sending by id; Meta's media id.
    pub async fn upload_media(
        &self,
        phone_number_id: &str,
        token: &AccessToken,
        body: reqwest::Body,
        length: u64,
        mime_type: &str,
        filename: &str,
    ) -> Result<String, GraphError> {
        let part = reqwest::multipart::Part::stream_with_length(body, length)
            .file_name(filename.to_owned())
            .mime_str(mime_type)
            .map_err(|e| GraphError::Malformed(format!("bad media type {mime_type:?}: {e}")))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime_type.to_owned())
            .part("file", part);
        let url = format!(
            "{}/{}/{}/media",
            self.config.base_url.trim_end_matches('/'),
            self.config.version,
            phone_number_id
        );
        let response = self
            .http
            .post(url)
            .bearer_auth(token.expose())
            .multipart(form)
            .timeout(DOWNLOAD_TIMEOUT)
            .send()
            .await
            .map_err(transport_error)?;
        let answer: serde_json::Value = answer(response).await?;
        answer["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| GraphError::Malformed(format!("no media id: {answer}")))
    }
}

/// A Graph API answer: its JSON body, or Meta's error (parsed once) for a non-2xx status.
async fn answer<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T, GraphError> {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(transport_error)?;
    if !(200..300).contains(&status) {
        return Err(GraphError::Http {
            status,
            meta: parse_error(&bytes),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| GraphError::Malformed(e.to_string()))
}

/// Whether Meta's declared checksum (base64 or hex of the sha256) names these bytes (`hex`).
pub fn checksum_matches(declared: &str, hex_sha256: &str) -> bool {
    use base64::Engine;
    let declared = declared.trim();
    if declared.eq_ignore_ascii_case(hex_sha256) {
        return true;
    }
    let Ok(bytes) = hex::decode(hex_sha256) else {
        return false;
    };
    [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ]
    .iter()
    .any(|engine| engine.decode(declared).is_ok_and(|d| d == bytes))
}

/// A transport failure, told apart by whether the request can have reached Meta. The error's text
/// never carries the token (it is in a header, which reqwest does not print).
fn transport_error(e: reqwest::Error) -> GraphError {
    let connect = e.is_connect();
    let text = e.without_url().to_string();
    if connect {
        GraphError::Connect(text)
    } else {
        GraphError::NoAnswer(text)
    }
}

/// Meta's `{"error": {...}}`, if the body is one.
pub fn parse_error(body: &[u8]) -> Option<MetaError> {
    #[derive(Deserialize)]
    struct Envelope {
        error: Body,
    }
    #[derive(Deserialize)]
    struct Body {
        code: i64,
        #[serde(default)]
        error_subcode: Option<i64>,
        #[serde(default)]
        message: String,
        #[serde(default, rename = "type")]
        kind: Option<String>,
        #[serde(default)]
        error_data: Option<Data>,
        #[serde(default)]
        fbtrace_id: Option<String>,
    }
    #[derive(Deserialize)]
    struct Data {
        #[serde(default)]
        details: Option<String>,
    }
    let e = serde_json::from_slice::<Envelope>(body).ok()?.error;
    Some(MetaError {
        code: e.code,
        subcode: e.error_subcode,
        message: e.message,
        kind: e.kind,
        details: e.error_data.and_then(|d| d.details),
        fbtrace_id: e.fbtrace_id,
    })
}

#[derive(Deserialize)]
struct SendAnswer {
    #[serde(default)]
    contacts: Vec<SendContact>,
    messages: Vec<SendMessage>,
}

#[derive(Deserialize)]
struct SendContact {
    wa_id: Option<String>,
}

#[derive(Deserialize)]
struct SendMessage {
    id: String,
    message_status: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_errors_parse_once_and_classify_once() {
        let body = br#"{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because more than 24 hours have passed"},"fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}"#;
        let meta = parse_error(body).unwrap();
        assert_eq!(
            (meta.code, meta.details.as_deref(), meta.fbtrace_id.as_deref()),
            (
                131047,
                Some("Message failed to send because more than 24 hours have passed"),
                Some("Az8or2yhqkZfEZ-_4Qn_Bam")
            )
        );
        let http = |status, code: Option<i64>| GraphError::Http {
            status,
            meta: code.map(|code| MetaError {
                code,
                subcode: None,
                message: String::new(),
                kind: None,
                details: None,
                fbtrace_id: None,
            }),
        };
        use Disposition::*;
        for (error, expected) in [
            (http(400, Some(131047)), Fail),
            (http(400, Some(131026)), Fail),
            (http(400, Some(131048)), Fail),
            (http(400, Some(131049)), Fail),
            (http(400, Some(368)), Fail),
            (http(400, Some(100)), Fail),
            (http(400, Some(132001)), Fail),
            (http(401, Some(190)), FailTokenInvalid),
            (http(400, Some(130429)), Retry),
            (http(400, Some(131000)), Retry),
            (http(400, Some(131056)), RetryRecipientLater),
            (http(503, None), Retry),
            (http(500, Some(1)), Retry),
            (http(404, None), Fail),
            (GraphError::Connect("refused".into()), Retry),
            (GraphError::NoAnswer("timed out".into()), OutcomeUnknown),
        ] {
            assert_eq!(error.disposition(), expected, "{error}");
        }
        assert_eq!(parse_error(b"<html>"), None);
    }
}
