//! Pacing, so Meta's limits are met before they are hit:
//! - **per number**: at most `per_number` sends a second from one `phone_number_id` (Meta's
//!   default throughput is 80 a second, 130429 past it). Sends are spaced evenly (a generic cell
//!   rate: each takes the next free slot, `1/rate` apart), and a send waits for its slot.
//! - **per recipient**: a burst of `recipient_burst` messages to one customer, then one every
//!   `recipient_spacing` (Meta's pair rate limit, 131056, is about one every 6 seconds with a small
//!   burst). A send over it is not attempted: it is put back until its turn, without counting as
//!   an attempt.
//!
//! The state is per process: instances over one database pace each on its own (see
//! ARCHITECTURE.md, "Sending"); run the dispatcher on one instance (`--no-dispatch` on the others)
//! where a deployment must hold the number's rate exactly.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The limits; `None` turns one off.
#[derive(Debug, Clone, PartialEq)]
pub struct PacingConfig {
    /// Sends a second per number.
    pub per_number: Option<f64>,
    /// Messages to one recipient at once, then one per `recipient_spacing`.
    pub recipient_burst: Option<u32>,
    pub recipient_spacing: Duration,
}

impl Default for PacingConfig {
    fn default() -> Self {
        PacingConfig {
            per_number: Some(80.0),
            recipient_burst: Some(10),
            recipient_spacing: Duration::from_secs(6),
        }
    }
}

impl PacingConfig {
    /// No pacing at all (benchmarks of the raw path).
    pub fn off() -> Self {
        PacingConfig {
            per_number: None,
            recipient_burst: None,
            recipient_spacing: Duration::ZERO,
        }
    }
}

/// A recipient's budget: `tokens` left at `at`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The pacing state of one dispatcher.
#[derive(Debug)]
pub struct Pacer {
    config: PacingConfig,
    /// Per number: the next free slot.
    numbers: Mutex<HashMap<String, Instant>>,
    recipients: Mutex<HashMap<String, Bucket>>,
}

/// Recipients remembered before idle (full) buckets are forgotten.
const PRUNE_OVER: usize = 10_000;

impl Pacer {
    pub fn new(config: PacingConfig) -> Pacer {
        Pacer {
            config,
            numbers: Mutex::new(HashMap::new()),
            recipients: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &PacingConfig {
        &self.config
    }

    /// Takes the next slot of `number` at `now`: how long to wait before sending in it.
    pub fn number_slot(&self, number: &str, now: Instant) -> Duration {
        let Some(rate) = self.config.per_number.filter(|r| *r > 0.0) else {
            return Duration::ZERO;
        };
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut numbers = self.numbers.lock().unwrap_or_else(|e| e.into_inner());
        let next = numbers.entry(number.to_owned()).or_insert(now);
        let slot = (*next).max(now);
        *next = slot + interval;
        slot - now
    }

    /// Takes one of `recipient`'s messages at `now`, or says how long until one is free.
    pub fn recipient_turn(&self, recipient: &str, now: Instant) -> Result<(), Duration> {
        let Some(burst) = self.config.recipient_burst.filter(|b| *b > 0) else {
            return Ok(());
        };
        let spacing = self.config.recipient_spacing.as_secs_f64().max(f64::MIN_POSITIVE);
        let burst = f64::from(burst);
        let mut recipients = self.recipients.lock().unwrap_or_else(|e| e.into_inner());
        if recipients.len() > PRUNE_OVER {
            recipients.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() / spacing < burst);
        }
        let bucket = recipients
            .entry(recipient.to_owned())
            .or_insert(Bucket { tokens: burst, at: now });
        let refilled = (bucket.tokens + now.saturating_duration_since(bucket.at).as_secs_f64() / spacing).min(burst);
        if refilled >= 1.0 {
            *bucket = Bucket {
                tokens: refilled - 1.0,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket {
                tokens: refilled,
                at: now,
            };
            Err(Duration::from_secs_f64((1.0 - refilled) * spacing))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_gets_evenly_spaced_slots() {
        let pacer = Pacer::new(PacingConfig {
            per_number: Some(80.0),
            ..PacingConfig::off()
        });
        let t0 = Instant::now();
        let waits: Vec<Duration> = (0..4).map(|_| pacer.number_slot("1065", t0)).collect();
        assert_eq!(waits[0], Duration::ZERO);
        assert_eq!(waits[3], Duration::from_secs_f64(3.0 / 80.0));
        assert_eq!(pacer.number_slot("other", t0), Duration::ZERO, "numbers apart");
        // Idle time is not banked: a send long after goes at once, then spaced again.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(pacer.number_slot("1065", later), Duration::ZERO);
        assert_eq!(pacer.number_slot("1065", later), Duration::from_secs_f64(1.0 / 80.0));
    }

    #[test]
    fn a_recipient_gets_a_burst_then_one_per_spacing() {
        let pacer = Pacer::new(PacingConfig {
            recipient_burst: Some(2),
            recipient_spacing: Duration::from_secs(6),
            ..PacingConfig::off()
        });
        let t0 = Instant::now();
        assert_eq!(pacer.recipient_turn("a", t0), Ok(()));
        assert_eq!(pacer.recipient_turn("a", t0), Ok(()));
        assert_eq!(pacer.recipient_turn("a", t0), Err(Duration::from_secs(6)));
        assert_eq!(pacer.recipient_turn("b", t0), Ok(()), "recipients apart");
        assert_eq!(
            pacer.recipient_turn("a", t0 + Duration::from_secs(3)),
            Err(Duration::from_secs(3))
        );
        assert_eq!(pacer.recipient_turn("a", t0 + Duration::from_secs(6)), Ok(()));
    }

    #[test]
    fn off_is_off() {
        let pacer = Pacer::new(PacingConfig::off());
        let t0 = Instant::now();
        for _ in 0..100 {
            assert_eq!(pacer.number_slot("n", t0), Duration::ZERO);
            assert_eq!(pacer.recipient_turn("r", t0), Ok(()));
        }
    }
}
