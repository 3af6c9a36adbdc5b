//! What every dialect's send endpoint shares: the send settings, the in-process signals between the
//! endpoints and the dispatch worker (a send wakes the worker at once; an attempt tells the
//! requests waiting on it), the bounded wait for a send's first attempt, and the `Idempotency-Key`
//! header read once.
//!
//! The signals are an optimisation inside one process: a worker also polls, and a waiting request
//! also re-reads the message, so instances over one PostgreSQL database (where another instance's
//! worker may take the job) still see every outcome, only a little later.

use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use rosetta_core::idempotency::{request_fingerprint, MAX_KEY_LEN};
use rosetta_core::{Error, Id, Message, MessageStatus, RequestKey, Timestamp};
use tokio::sync::{broadcast, Notify};

use crate::AppState;

/// How sends behave, for every dialect.
#[derive(Debug)]
pub struct Sending {
    /// How long a send is retried before it fails (its deadline).
    pub retry_for: Duration,
    /// How long an endpoint that answers with the outcome (wacrm's `whatsapp_message_id`) waits
    /// for the first attempt.
    pub wait_for_attempt: Duration,
    /// Notified after every send is queued: the dispatcher wakes.
    pub queued: Notify,
    /// The message of every finished attempt (sent, failed, retried or unknown).
    pub attempted: broadcast::Sender<Id>,
    /// Notified after a webhook delivery stored messages (some may have files to fetch): the
    /// media fetcher wakes.
    pub received: Notify,
}

/// A send is retried for an hour by default.
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(3600);
/// wacrm waits up to 10 seconds for the first attempt by default.
pub const DEFAULT_WAIT_FOR_ATTEMPT: Duration = Duration::from_secs(10);
/// How often a waiting request re-reads its message when no signal comes (another instance's
/// worker may have taken the job).
const RECHECK: Duration = Duration::from_millis(250);

impl Default for Sending {
    fn default() -> Self {
        Sending {
            retry_for: DEFAULT_RETRY_FOR,
            wait_for_attempt: DEFAULT_WAIT_FOR_ATTEMPT,
            queued: Notify::new(),
            attempted: broadcast::channel(1024).0,
            received: Notify::new(),
        }
    }
}

impl Sending {
    /// The deadline of a send made now.
    pub fn deadline(&self) -> Timestamp {
        Timestamp(Timestamp::now().millis() + self.retry_for.as_millis() as i64)
    }

    /// Wakes the dispatcher: a send was queued.
    pub fn queued(&self) {
        self.queued.notify_one();
    }

    /// Tells waiting requests that `message`'s attempt finished.
    pub fn attempted(&self, message: Id) {
        // No receiver is fine: nobody waits.
        let _ = self.attempted.send(message);
    }
}

/// Waits, up to `Sending::wait_for_attempt`, until `message`'s first attempt finished, and returns
/// the message as it then is: `sent` with its wamid, `failed` with Meta's error, or still
/// `sending` (the attempt is being retried, its outcome is unknown, or it did not finish in time).
pub async fn wait_for_attempt(state: &AppState, org: Id, message: Id) -> Result<Message, Error> {
    let mut attempts = state.sending.attempted.subscribe();
    let deadline = Instant::now() + state.sending.wait_for_attempt;
    loop {
        let current = state.read(move |s| s.get_message(org, message)).await?;
        let now = Instant::now();
        if current.status != MessageStatus::Sending || now >= deadline {
            return Ok(current);
        }
        let wait = (deadline - now).min(RECHECK);
        let until = tokio::time::Instant::now() + wait;
        // Signals for other messages are passed over until ours, the re-check, or the deadline.
        loop {
            match tokio::time::timeout_at(until, attempts.recv()).await {
                Ok(Ok(id)) if id == message => {
                    // Attempted: whatever it became (a retry keeps it `sending`) is the answer.
                    return state.read(move |s| s.get_message(org, message)).await;
                }
                Ok(Ok(_)) => continue,
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => break,
                Ok(Err(broadcast::error::RecvError::Closed)) => {
                    tokio::time::sleep_until(until).await;
                    break;
                }
                Err(_) => break,
            }
        }
    }
}

/// Why an `Idempotency-Key` header was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadKey;

impl std::fmt::Display for BadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters")
    }
}

/// The request's `Idempotency-Key` bound to its method, path and body; `None` without the header.
pub fn idempotency_key(req: &HttpRequest, body: &[u8]) -> Result<Option<RequestKey>, BadKey> {
    let Some(value) = req.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BadKey);
    }
    Ok(Some(RequestKey {
        key: key.to_owned(),
        fingerprint: request_fingerprint(req.method().as_str(), req.path(), body),
    }))
}
