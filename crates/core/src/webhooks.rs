//! Webhook subscriptions: an organization's endpoints that receive its events, each in one dialect's
//! bodies and signature. What a subscription is, the rules its URL and events follow, and its secret.

use std::time::Duration;

use crate::error::Error;
use crate::id::Id;
use crate::status::Dialect;
use crate::time::Timestamp;

/// The longest endpoint URL accepted.
pub const MAX_URL_CHARS: usize = 2048;

/// A subscription as made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub dialect: Dialect,
    pub url: String,
    /// The dialect's event names (checked by the dialect).
    pub events: Vec<String>,
    pub description: Option<String>,
    /// Made disabled when false.
    pub is_active: bool,
}

/// A subscription (its secrets are never part of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: Id,
    pub org_id: Id,
    pub dialect: Dialect,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub is_active: bool,
    /// Consecutive failed deliveries (a success resets it; re-enabling too).
    pub failure_count: i64,
    pub last_delivery_at: Option<Timestamp>,
    /// What may be shown of its signing secrets (never the secrets themselves).
    pub secrets: Vec<SecretInfo>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One signing secret, as it may be shown: every unexpired one signs each delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    pub id: Id,
    pub created_at: Timestamp,
    /// When a rotation retires it; `None` while it is the newest.
    pub expires_at: Option<Timestamp>,
}

/// A subscription just made, with its secret: shown this once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedWebhook {
    pub webhook: Webhook,
    pub secret: String,
}

/// What a change sets (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    /// Re-enabling resets `failure_count`.
    pub is_active: Option<bool>,
}

/// Rotation: a new secret (shown once) and the webhook, whose older secrets now expire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatedSecret {
    pub webhook: Webhook,
    pub secret: String,
}

/// A new signing secret: `whsec_` and 32 random bytes in URL-safe base64.
pub fn new_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Whether `ip` is an address a webhook may not reach unless private targets are allowed: loopback,
/// private, link-local, unspecified, broadcast, documentation, shared (CGNAT), unique-local, multicast.
pub fn is_private(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// An endpoint URL's rules: `https://` (plain `http://` only where private targets are allowed, as
/// for local development), a host, no credentials, at most 2048 characters, and, unless private
/// targets are allowed, no loopback, private or link-local address nor `localhost`. The URL is read
/// as an HTTP client reads it (`127.1` and `0x7f000001` are addresses); names are checked again
/// after DNS resolution when delivering. The host, as the client will use it.
pub fn check_url(raw: &str, allow_private: bool) -> Result<String, Error> {
    let bad = |why: &str| Error::invalid("url", why.to_owned());
    if raw.chars().count() > MAX_URL_CHARS || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("url must be an https URL of at most 2048 characters"));
    }
    let url = url::Url::parse(raw).map_err(|_| bad("url must be an https URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(bad("url must be an https URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("url must not carry credentials"));
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
        Some(url::Host::Ipv4(v4)) => v4.to_string(),
        Some(url::Host::Ipv6(v6)) => v6.to_string(),
        _ => return Err(bad("url must name a host")),
    };
    if !allow_private {
        let private = match url.host() {
            Some(url::Host::Ipv4(v4)) => is_private(v4.into()),
            Some(url::Host::Ipv6(v6)) => is_private(v6.into()),
            _ => {
                let name = host.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost")
            }
        };
        if private {
            return Err(bad("url must not point at a private, loopback or link-local address"));
        }
    }
    Ok(host)
}

/// How one dialect's deliveries are timed out, retried and given up on: the product's documented
/// behaviour by default (`for_dialect`), every part a setting.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryPolicy {
    /// The waits before each retry: after the first attempt fails, the first wait, and so on; past
    /// the last, the delivery has failed.
    pub delays: Vec<Duration>,
    /// Each wait is spread by up to this fraction either way (kirim: ±20%), so a receiver that was
    /// down is not met by every retry at once.
    pub jitter: f64,
    /// The whole attempt: connecting, sending, and the answer's head.
    pub timeout: Duration,
    /// Consecutive failed deliveries (every attempt failed, or a refusal not worth retrying) after
    /// which the subscription is disabled; a success resets the count, and so does re-enabling.
    pub disable_after: u32,
    /// Whether a 4xx other than 408 and 429 is retried (wacrm and envelope: every failure is; kirim:
    /// it fails at once).
    pub retry_client_errors: bool,
}

impl DeliveryPolicy {
    /// The product's documented behaviour: wacrm retries after 1, 5 and 30 minutes, times out at 5 s
    /// and disables after 15 failures; kirim at 0, 10 s, 30 s, 2 min, 10 min, 1 h, 6 h and 24 h (±20%),
    /// times out at 10 s, retries only 3xx, 408, 429, 5xx and network errors, and disables after 24;
    /// envelope retries 3 times after 1, 5 and 30 minutes, then marks the configuration failing
    /// (disabled) until it is re-enabled (its timeout is not documented: 10 s).
    pub fn for_dialect(dialect: Dialect) -> DeliveryPolicy {
        let secs = |list: &[u64]| list.iter().map(|s| Duration::from_secs(*s)).collect();
        match dialect {
            Dialect::Wacrm => DeliveryPolicy {
                delays: secs(&[60, 300, 1800]),
                jitter: 0.2,
                timeout: Duration::from_secs(5),
                disable_after: 15,
                retry_client_errors: true,
            },
            Dialect::Kirim => DeliveryPolicy {
                delays: secs(&[10, 30, 120, 600, 3600, 21_600, 86_400]),
                jitter: 0.2,
                timeout: Duration::from_secs(10),
                disable_after: 24,
                retry_client_errors: false,
            },
            Dialect::Envelope => DeliveryPolicy {
                delays: secs(&[60, 300, 1800]),
                jitter: 0.2,
                timeout: Duration::from_secs(10),
                disable_after: 1,
                retry_client_errors: true,
            },
        }
    }

    /// Whether an attempt that got `status` (`None`: no answer: a network error, a refusal before
    /// sending, a timeout) may be tried again.
    pub fn retryable(&self, status: Option<u16>) -> bool {
        match status {
            None => true,
            Some(code) if (200..300).contains(&code) => false,
            Some(408 | 429) => true,
            Some(code) if (400..500).contains(&code) => self.retry_client_errors,
            Some(_) => true,
        }
    }

    /// The wait before the next attempt after attempt `attempt` (counted from 1) failed, spread by
    /// `unit` (uniform in 0..1); `None` when the schedule is spent.
    pub fn next_delay(&self, attempt: u32, unit: f64) -> Option<Duration> {
        let base = self.delays.get(attempt.checked_sub(1)? as usize)?;
        let spread = 1.0 + self.jitter * (unit.clamp(0.0, 1.0) * 2.0 - 1.0);
        Some(base.mul_f64(spread.max(0.0)))
    }

    /// Reads a schedule written as waits separated by commas, each in seconds or with a unit (`ms`,
    /// `s`, `m`, `h`): `60,300,1800` or `1m,5m,30m`; empty means no retries.
    pub fn parse_delays(raw: &str) -> Result<Vec<Duration>, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                let (number, unit) = s
                    .find(|c: char| !c.is_ascii_digit() && c != '.')
                    .map_or((s, "s"), |at| s.split_at(at));
                let n: f64 = number.parse().map_err(|_| format!("{s:?} is not a wait"))?;
                let secs = match unit {
                    "ms" => n / 1000.0,
                    "s" => n,
                    "m" => n * 60.0,
                    "h" => n * 3600.0,
                    _ => return Err(format!("{s:?}: the unit must be ms, s, m or h")),
                };
                Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is not a wait"))
            })
            .collect()
    }
}

/// A delivery a worker claimed: where it goes, how it is signed, what it carries.
#[derive(Clone, PartialEq, Eq)]
pub struct DeliveryJob {
    pub id: Id,
    pub org_id: Id,
    pub webhook_id: Id,
    pub dialect: Dialect,
    pub url: String,
    /// Every unexpired signing secret, newest last.
    pub secrets: Vec<String>,
    /// The event's public id.
    pub event_id: Id,
    /// The dialect's event name, dedupe key and source (kirim's `meta` or `kirim`).
    pub event_name: String,
    pub dedupe_key: String,
    pub source: String,
    /// The rendered body, the same on every attempt.
    pub body: String,
    /// This attempt's number, from 1.
    pub attempt: u32,
}

impl std::fmt::Debug for DeliveryJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryJob")
            .field("id", &self.id)
            .field("webhook_id", &self.webhook_id)
            .field("dialect", &self.dialect)
            .field("url", &self.url)
            .field("secrets", &format_args!("[{} hidden]", self.secrets.len()))
            .field("event_name", &self.event_name)
            .field("attempt", &self.attempt)
            .finish()
    }
}

/// What one attempt did, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub started_at: Timestamp,
    pub duration_ms: i64,
    /// The receiver's status code; `None` when there was no answer.
    pub status_code: Option<u16>,
    /// Why it failed, in Rosetta's words (a timeout, a refused address, a redirect, a status).
    pub error: Option<String>,
    /// The start of the receiver's answer, at most `EXCERPT_BYTES`.
    pub excerpt: Option<String>,
}

/// The longest excerpt of a receiver's answer kept with an attempt.
pub const EXCERPT_BYTES: usize = 1024;

/// What comes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryNext {
    Delivered,
    Retry {
        at: Timestamp,
    },
    /// No more attempts: the subscription's consecutive failures go up by one, and past its
    /// policy's `disable_after` it is disabled.
    Failed,
}

/// An attempt's outcome, for `Store::finish_webhook_deliveries`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// The attempt's number, as claimed (a later claim of the same delivery, after this one's lease
    /// ran out, wins over this record's state).
    pub attempt: u32,
    pub record: AttemptRecord,
    pub next: DeliveryNext,
    pub disable_after: u32,
}

/// Where a delivery stands, as shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Waiting for its next attempt (or being attempted).
    Pending,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<DeliveryState> {
        [DeliveryState::Pending, DeliveryState::Delivered, DeliveryState::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// One event's delivery to one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub id: Id,
    pub webhook_id: Id,
    pub event_id: Id,
    pub event_name: String,
    pub dedupe_key: String,
    pub state: DeliveryState,
    /// Attempts made (or begun).
    pub attempts: u32,
    /// When a pending delivery is next attempted.
    pub next_attempt_at: Option<Timestamp>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

/// One logged attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub attempt: u32,
    pub record: AttemptRecord,
}

/// A delivery with its attempts, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryDetail {
    pub delivery: WebhookDelivery,
    pub attempts: Vec<DeliveryAttempt>,
}

/// Which deliveries a list or a bulk replay takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub webhook_id: Option<Id>,
    pub state: Option<DeliveryState>,
    pub event_name: Option<String>,
    /// Made at or after / before these times.
    pub created_from: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
}

/// Which deliveries a replay queues again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// These (every one must be the caller's, or none is replayed).
    Ids(Vec<Id>),
    /// The newest `MAX_BULK_REPLAY` the filter selects.
    Matching(DeliveryFilter),
}

/// The most deliveries one bulk replay queues again.
pub const MAX_BULK_REPLAY: usize = 1000;

/// What one fan-out did: events passed over (each a delivery, or not one the subscription names),
/// and deliveries made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FanOut {
    pub events: usize,
    pub deliveries: usize,
}

/// What a worker needs to know of the log: its newest position, and whether committed events wait
/// for one (the sequencer has work).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogMark {
    pub newest: i64,
    pub unsequenced: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_rules() {
        assert_eq!(
            check_url("https://hooks.example.com/in?x=1", false).unwrap(),
            "hooks.example.com"
        );
        assert_eq!(
            check_url("https://hooks.example.com:8443/in", false).unwrap(),
            "hooks.example.com"
        );
        for refused in [
            "http://hooks.example.com/in",
            "ftp://hooks.example.com",
            "https://",
            "https://user:pw@hooks.example.com/",
            "https://127.0.0.1/in",
            "https://localhost:9000/in",
            "https://10.1.2.3/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/in",
            "https://[fd00::1]/in",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://hooks.example.com/a b",
            "https://127.1/in",
            "https://0x7f000001/in",
            "https://2130706433/in",
            "https://LOCALHOST./in",
            "https://[::ffff:127.0.0.1]/in",
        ] {
            assert!(check_url(refused, false).is_err(), "{refused}");
        }
        assert!(check_url("http://127.0.0.1:9000/in", true).is_ok());
        assert!(check_url("https://[::1]:9000/in", true).is_ok());
    }

    #[test]
    fn policies_follow_the_products() {
        let kirim = DeliveryPolicy::for_dialect(Dialect::Kirim);
        assert_eq!(kirim.next_delay(1, 0.5), Some(Duration::from_secs(10)));
        assert_eq!(kirim.next_delay(7, 0.5), Some(Duration::from_secs(86_400)));
        assert_eq!(kirim.next_delay(8, 0.5), None);
        assert_eq!(kirim.next_delay(2, 0.0), Some(Duration::from_secs(24)));
        assert_eq!(kirim.next_delay(2, 1.0), Some(Duration::from_secs(36)));
        for (status, retried) in [
            (None, true),
            (Some(301), true),
            (Some(408), true),
            (Some(429), true),
            (Some(500), true),
            (Some(400), false),
            (Some(404), false),
            (Some(200), false),
        ] {
            assert_eq!(kirim.retryable(status), retried, "{status:?}");
        }
        let wacrm = DeliveryPolicy::for_dialect(Dialect::Wacrm);
        assert!(wacrm.retryable(Some(404)));
        assert_eq!(wacrm.delays.len(), 3);
        assert_eq!(wacrm.disable_after, 15);
        assert_eq!(DeliveryPolicy::for_dialect(Dialect::Envelope).disable_after, 1);
        assert_eq!(
            DeliveryPolicy::parse_delays("1m, 5m,30m").unwrap(),
            vec![
                Duration::from_secs(60),
                Duration::from_secs(300),
                Duration::from_secs(1800)
            ]
        );
        assert_eq!(
            DeliveryPolicy::parse_delays("200ms,1.5,2h").unwrap(),
            vec![
                Duration::from_millis(200),
                Duration::from_millis(1500),
                Duration::from_secs(7200)
            ]
        );
        assert!(DeliveryPolicy::parse_delays("").unwrap().is_empty());
        assert!(DeliveryPolicy::parse_delays("5d").is_err());
        assert!(DeliveryPolicy::parse_delays("x").is_err());
    }

    #[test]
    fn secrets_are_whsec_and_random() {
        let (a, b) = (new_secret(), new_secret());
        assert!(a.starts_with("whsec_") && a.len() == 6 + 43);
        assert_ne!(a, b);
    }
}
