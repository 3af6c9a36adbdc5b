//! Fixed-window rate limits, one counter per key (a key id, an organization, ...) per minute.
//!
//! Counters live in this process: several instances each allow the limit. They are spread over
//! shards by key, so concurrent requests of different callers rarely wait on one lock, and a
//! check allocates nothing.

use std::collections::HashMap;
use std::sync::Mutex;

use rosetta_core::Id;

const SHARDS: usize = 16;

/// Unix seconds now; tests put a fixed clock in so that no window rolls over mid-test.
pub type Clock = fn() -> i64;

fn system_clock() -> i64 {
    rosetta_core::Timestamp::now().millis() / 1000
}

#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    clock: Clock,
    windows: [Mutex<HashMap<Id, (i64, u32)>>; SHARDS],
}

/// The outcome of one check, and the headers that tell the client about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds when the window resets.
    pub reset: i64,
    pub retry_after: i64,
}

impl RateDecision {
    /// `X-RateLimit-Limit`, `-Remaining`, `-Reset`, and `Retry-After` when refused, set on a
    /// response (the dialect scope does it for every response).
    pub fn apply(&self, headers: &mut actix_web::http::header::HeaderMap) {
        use actix_web::http::header::{HeaderName, HeaderValue};
        let mut set = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        set("x-ratelimit-limit", self.limit.to_string());
        set("x-ratelimit-remaining", self.remaining.to_string());
        set("x-ratelimit-reset", self.reset.to_string());
        if !self.allowed {
            set("retry-after", self.retry_after.max(1).to_string());
        }
    }
}

impl RateLimiter {
    /// `per_minute == 0` turns the limiter off.
    pub fn new(per_minute: u32) -> Self {
        Self::with_clock(per_minute, system_clock)
    }

    /// A limiter that reads the time from `clock` (unix seconds).
    pub fn with_clock(per_minute: u32, clock: Clock) -> Self {
        RateLimiter {
            per_minute,
            clock,
            windows: Default::default(),
        }
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Counts one request for `key`; `None` when limits are off.
    pub fn check(&self, key: Id) -> Option<RateDecision> {
        self.check_at(key, (self.clock)())
    }

    pub fn check_at(&self, key: Id, now: i64) -> Option<RateDecision> {
        if self.per_minute == 0 {
            return None;
        }
        let window = now.div_euclid(60);
        let reset = (window + 1) * 60;
        let shard = usize::from(key.to_bytes()[15]) % SHARDS;
        let mut windows = self.windows[shard].lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > 100_000 / SHARDS {
            windows.retain(|_, (w, _)| *w == window);
        }
        let entry = windows.entry(key).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        let allowed = entry.1 < self.per_minute;
        if allowed {
            entry.1 += 1;
        }
        Some(RateDecision {
            allowed,
            limit: self.per_minute,
            remaining: self.per_minute - entry.1,
            reset,
            retry_after: reset - now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_per_minute() {
        let limiter = RateLimiter::new(2);
        let (a, b) = (Id::new(), Id::new());
        let t = 1_800_000_000; // a minute boundary
        assert_eq!(
            limiter.check_at(a, t).unwrap(),
            RateDecision {
                allowed: true,
                limit: 2,
                remaining: 1,
                reset: t + 60,
                retry_after: 60
            }
        );
        assert!(limiter.check_at(a, t + 1).unwrap().allowed);
        let refused = limiter.check_at(a, t + 15).unwrap();
        assert_eq!(
            (refused.allowed, refused.remaining, refused.retry_after),
            (false, 0, 45)
        );
        assert!(
            limiter.check_at(b, t + 15).unwrap().allowed,
            "other keys are counted apart"
        );
        assert!(limiter.check_at(a, t + 60).unwrap().allowed, "a new window");
        assert!(RateLimiter::new(0).check(a).is_none());
        let a = Id::new();
        let frozen = RateLimiter::with_clock(1, || 1_800_000_059);
        assert_eq!(
            frozen.check(a).unwrap().reset,
            1_800_000_060,
            "the clock is the limiter's"
        );
        assert!(!frozen.check(a).unwrap().allowed);
    }
}
