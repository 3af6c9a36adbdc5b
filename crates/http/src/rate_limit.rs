//! Fixed-window rate limits, one counter per key (a key id, an organization, ...) per minute.
//!
//! Counters live in this process: several instances each allow the limit. A check takes no lock
//! and allocates nothing once a key has its counter: the counters sit in a concurrent map whose
//! reads are lock-free (`papaya`), and each is one atomic word (the window and the count in it)
//! moved by compare-and-swap.

use std::sync::atomic::{AtomicU64, Ordering};

use rosetta_core::Id;

/// Past this many keys, counters of earlier windows are dropped (they would start again anyway).
const MAX_KEYS: usize = 100_000;

/// Unix seconds now; tests put a fixed clock in so that no window rolls over mid-test.
pub type Clock = fn() -> i64;

fn system_clock() -> i64 {
    rosetta_core::Timestamp::now().millis() / 1000
}

/// One key's window (minute number, high 32 bits) and the requests counted in it (low 32 bits).
#[derive(Debug, Default)]
struct Counter(AtomicU64);

impl Counter {
    fn pack(window: u32, count: u32) -> u64 {
        (u64::from(window) << 32) | u64::from(count)
    }

    fn unpack(word: u64) -> (u32, u32) {
        ((word >> 32) as u32, word as u32)
    }

    /// Counts one request in `window` if fewer than `limit` were; the count after it.
    fn take(&self, window: u32, limit: u32) -> (bool, u32) {
        let mut current = self.0.load(Ordering::Relaxed);
        loop {
            let (w, count) = Self::unpack(current);
            let count = if w == window { count } else { 0 };
            if count >= limit {
                return (false, count);
            }
            match self.0.compare_exchange_weak(
                current,
                Self::pack(window, count + 1),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return (true, count + 1),
                Err(seen) => current = seen,
            }
        }
    }

    fn window(&self) -> u32 {
        Self::unpack(self.0.load(Ordering::Relaxed)).0
    }
}

pub struct RateLimiter {
    per_minute: u32,
    clock: Clock,
    counters: papaya::HashMap<Id, Counter>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("per_minute", &self.per_minute)
            .field("keys", &self.counters.len())
            .finish()
    }
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
            counters: papaya::HashMap::new(),
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
        let minute = now.div_euclid(60);
        let reset = (minute + 1) * 60;
        let window = minute as u32;
        let counters = self.counters.pin();
        let counter = match counters.get(&key) {
            Some(counter) => counter,
            None => {
                if counters.len() >= MAX_KEYS {
                    counters.retain(|_, c| c.window() == window);
                }
                counters.get_or_insert_with(key, Counter::default)
            }
        };
        let (allowed, count) = counter.take(window, self.per_minute);
        Some(RateDecision {
            allowed,
            limit: self.per_minute,
            remaining: self.per_minute - count,
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

    #[test]
    fn concurrent_checks_allow_exactly_the_limit() {
        let limiter = std::sync::Arc::new(RateLimiter::new(1_000));
        let key = Id::new();
        let t = 1_800_000_000;
        let allowed: usize = (0..4)
            .map(|_| {
                let limiter = limiter.clone();
                std::thread::spawn(move || (0..500).filter(|_| limiter.check_at(key, t).unwrap().allowed).count())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(allowed, 1_000, "2,000 requests from 4 threads, 1,000 allowed");
    }

    #[test]
    fn old_windows_are_dropped_past_the_key_bound() {
        let limiter = RateLimiter::new(5);
        for _ in 0..MAX_KEYS {
            limiter.check_at(Id::new(), 0);
        }
        limiter.check_at(Id::new(), 60);
        assert_eq!(limiter.counters.len(), 1, "only the new window's counter is kept");
    }
}
