//! Sending's rules, once: the 24-hour customer-service window, the backoff between attempts, and
//! what a send is while it waits in the outbox.
//!
//! A send is written in one transaction with its dispatch job (`Store::enqueue_send`); dispatch
//! workers claim due jobs (`Store::claim_dispatch`), call Meta, and record the outcome
//! (`Store::finish_dispatch`). The message's own id travels to Meta as `biz_opaque_callback_data`,
//! so a status webhook can name it even if Rosetta never recorded the `wamid`.

use std::time::Duration;

use crate::id::Id;
use crate::store::NewMessage;
use crate::time::Timestamp;

/// Free-form messages may be sent within this long of the contact's last inbound message on the
/// account; templates any time.
pub const SERVICE_WINDOW_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// Whether a free-form (non-template) message may be sent now: the conversation's last inbound
/// message (each customer message restarts the window; the business's own do not) is less than
/// 24 hours old.
pub fn window_open(last_inbound_at: Option<Timestamp>, now: Timestamp) -> bool {
    last_inbound_at.is_some_and(|at| now.millis() - at.millis() < SERVICE_WINDOW_MILLIS)
}

/// The wait before attempt `attempt + 1` (attempt 1 is the first): `base` doubled each time up to
/// `max`, less up to half of it at random (`jitter` in 0..1), so retries of a burst spread out.
pub fn backoff(attempt: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let capped = exp.min(max);
    capped.mul_f64(1.0 - 0.5 * jitter.clamp(0.0, 1.0))
}

/// A message to send: the outbound message as it is stored (status `sending`), Meta's send body,
/// the recipient, and how long it may be retried.
#[derive(Debug, Clone)]
pub struct NewSend {
    pub message: NewMessage,
    /// Meta's send body; `biz_opaque_callback_data` is set to the message's id when it is queued.
    pub payload: serde_json::Value,
    /// The recipient's number (digits), for per-recipient pacing.
    pub recipient: String,
    /// Attempts stop, and the message fails, after this.
    pub deadline_at: Timestamp,
}

/// A claimed dispatch job.
#[derive(Debug, Clone, PartialEq)]
pub struct DispatchJob {
    /// The message it sends (the job's id too).
    pub message_id: Id,
    pub org_id: Id,
    pub account_id: Id,
    /// The account's Meta `phone_number_id`, the path of the send.
    pub phone_number_id: String,
    pub recipient: String,
    pub payload: serde_json::Value,
    /// Attempts so far, this one included.
    pub attempts: u32,
    pub deadline_at: Timestamp,
    /// A send of an uploaded file: the file, to upload to Meta before the send (`payload`'s media
    /// object then gets Meta's `id`).
    pub file: Option<crate::media::JobFile>,
}

/// What came of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum DispatchOutcome {
    /// Meta accepted it: the message is `sent` with this `wamid`.
    Sent { wamid: String },
    /// Try again at `at` (`error` is kept for the operator).
    Retry { at: Timestamp, error: String },
    /// It failed for good: Meta's code (when there is one) and a title a person can act on.
    Failed { code: Option<i64>, title: String },
    /// The request may have reached Meta but no answer came: it is not resent. It waits until
    /// `until` for a status webhook naming the message (`biz_opaque_callback_data`) to reconcile it,
    /// and then fails as "outcome unknown".
    Unknown { until: Timestamp, error: String },
    /// Not attempted (pacing held it back): queued again for `at`, the attempt not counted.
    Deferred { at: Timestamp },
}

/// The title a send gets when its outcome stayed unknown past the reconciliation window.
pub const OUTCOME_UNKNOWN: &str = "outcome unknown: the request may have reached Meta, but no answer or status came back; check the recipient's chat before sending again";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_24_hours_from_the_last_inbound_message() {
        let now = Timestamp(1_800_000_000_000);
        assert!(!window_open(None, now), "no inbound message: closed");
        assert!(window_open(Some(Timestamp(now.millis() - 1_000)), now));
        assert!(window_open(
            Some(Timestamp(now.millis() - SERVICE_WINDOW_MILLIS + 1)),
            now
        ));
        assert!(!window_open(Some(Timestamp(now.millis() - SERVICE_WINDOW_MILLIS)), now));
    }

    #[test]
    fn backoff_doubles_up_to_a_cap_with_jitter() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(backoff(1, base, max, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(2, base, max, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(4, base, max, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(30, base, max, 0.0), max);
        assert_eq!(backoff(4, base, max, 1.0), Duration::from_secs(4));
    }
}
