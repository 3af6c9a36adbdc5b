//! Fixed-window rate limits, one counter per key (a key id, an organization, ...) per minute.
//!
//! A check takes no lock and allocates nothing once a key has its counter: the counters sit in a
//! concurrent map whose reads are lock-free (`papaya`), and each is atomic words (the window and a
//! count in it) moved by compare-and-swap.
//!
//! Alone (`RateLimiter::new`), an instance counts in this process. Shared (`shared`, several
//! instances over one PostgreSQL database), an instance reserves a key's requests from the
//! deployment's count a batch at a time (`Store::reserve_rate`, one upsert per batch, never one
//! per request) and spends them locally, so the deployment together never allows more than the
//! limit in a minute. The tolerance is the other way: requests reserved by one instance and not
//! spent are lost to the others, so a deployment of N instances may refuse up to N × the batch
//! (`batch_for`: a fiftieth of the limit, at least 1, at most 100) before the limit; and each
//! instance reads minutes off its own clock, so clocks apart by s seconds may allow a minute's
//! last s seconds of one instance into the next of another.

use std::sync::atomic::{AtomicU64, Ordering};

use rosetta_core::Id;

/// Past this many keys, counters of earlier windows are dropped (they would start again anyway).
const MAX_KEYS: usize = 100_000;

/// Unix seconds now; tests put a fixed clock in so that no window rolls over mid-test.
pub type Clock = fn() -> i64;

fn system_clock() -> i64 {
    rosetta_core::Timestamp::now().millis() / 1000
}

fn pack(window: u32, count: u32) -> u64 {
    (u64::from(window) << 32) | u64::from(count)
}

fn unpack(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

/// A window (minute number, high 32 bits) and a count in it (low 32 bits).
#[derive(Debug, Default)]
struct Word(AtomicU64);

impl Word {
    /// The count in `window` (0 when the word holds another).
    fn get(&self, window: u32) -> u32 {
        match unpack(self.0.load(Ordering::Acquire)) {
            (w, count) if w == window => count,
            _ => 0,
        }
    }

    /// Adds `n` to the count in `window` (starting it at `n` when the word held another).
    fn add(&self, window: u32, n: u32) {
        let _ = self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
            let (w, count) = unpack(word);
            Some(pack(window, if w == window { count.saturating_add(n) } else { n }))
        });
    }

    /// Sets the count in `window` to at least `n`.
    fn raise(&self, window: u32, n: u32) {
        let _ = self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
            let (w, count) = unpack(word);
            Some(pack(window, if w == window { count.max(n) } else { n }))
        });
    }
}

/// One key's counts: the requests allowed in its window (`used`) and, shared, what this instance
/// was granted in it (`granted`) and the deployment's total asked at its last reservation (`asked`).
#[derive(Debug, Default)]
struct Counter {
    used: AtomicU64,
    granted: Word,
    asked: Word,
}

impl Counter {
    /// Counts one request in `window` if fewer than `limit` were; the count after it.
    fn take(&self, window: u32, limit: u32) -> (bool, u32) {
        let mut current = self.used.load(Ordering::Relaxed);
        loop {
            let (w, count) = unpack(current);
            let count = if w == window { count } else { 0 };
            if count >= limit {
                return (false, count);
            }
            match self
                .used
                .compare_exchange_weak(current, pack(window, count + 1), Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return (true, count + 1),
                Err(seen) => current = seen,
            }
        }
    }

    fn window(&self) -> u32 {
        unpack(self.used.load(Ordering::Relaxed)).0
    }
}

/// The requests an instance reserves at a time from a shared limit of `per_minute`.
pub fn batch_for(per_minute: u32) -> u32 {
    per_minute.div_ceil(50).clamp(1, 100)
}

pub struct RateLimiter {
    per_minute: u32,
    clock: Clock,
    counters: papaya::HashMap<Id, Counter>,
    /// Reserved from the store a batch at a time under this name (several instances over one
    /// database).
    shared: Option<&'static str>,
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
            shared: None,
        }
    }

    /// Shares the limit with every instance over the same store, under `bucket`, a name no other
    /// limit of the deployment has (see the module's docs).
    pub fn shared(mut self, bucket: &'static str) -> Self {
        self.shared = Some(bucket);
        self
    }

    /// Unix seconds by the limiter's clock.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Counts one request for `key`; `None` when limits are off. A shared limiter reserves from
    /// `store` when this instance has spent what it was granted.
    pub fn check(&self, key: Id, store: &dyn rosetta_core::Store) -> rosetta_core::Result<Option<RateDecision>> {
        self.check_with(key, self.now(), store)
    }

    /// `check` at `now` (tests give the time).
    pub fn check_with(
        &self,
        key: Id,
        now: i64,
        store: &dyn rosetta_core::Store,
    ) -> rosetta_core::Result<Option<RateDecision>> {
        match self.shared {
            None => Ok(self.check_at(key, now)),
            Some(bucket) => self.check_shared(bucket, key, now, store),
        }
    }

    /// A check of a limiter counting in this process (`shared` reserves from a store: `check`).
    pub fn check_at(&self, key: Id, now: i64) -> Option<RateDecision> {
        if self.per_minute == 0 {
            return None;
        }
        let minute = now.div_euclid(60);
        let (allowed, count) = self.counter(key, minute as u32, |c| c.take(minute as u32, self.per_minute));
        Some(self.decision(allowed, self.per_minute - count, now))
    }

    /// A check of the deployment's limit `bucket` at `now`, reserving from `store` when this
    /// instance has spent its grant.
    fn check_shared(
        &self,
        bucket: &str,
        key: Id,
        now: i64,
        store: &dyn rosetta_core::Store,
    ) -> rosetta_core::Result<Option<RateDecision>> {
        if self.per_minute == 0 {
            return Ok(None);
        }
        let minute = now.div_euclid(60);
        let window = minute as u32;
        let limit = self.per_minute;
        // What the rest of the deployment may still allow, as of this instance's last reservation.
        let elsewhere = |c: &Counter| limit.saturating_sub(c.asked.get(window));
        loop {
            let (allowed, used, granted, left) = self.counter(key, window, |c| {
                let granted = c.granted.get(window);
                let (allowed, used) = c.take(window, granted);
                (allowed, used, granted, elsewhere(c))
            });
            if allowed {
                return Ok(Some(self.decision(true, granted - used + left, now)));
            }
            if left == 0 {
                // The deployment's budget for this minute is reserved: refused without asking.
                return Ok(Some(self.decision(false, 0, now)));
            }
            let want = batch_for(limit);
            let asked = store.reserve_rate(bucket, key, minute, want)?;
            let before = asked - i64::from(want);
            let got = (i64::from(limit) - before).clamp(0, i64::from(want)) as u32;
            let asked = asked.clamp(0, i64::from(u32::MAX)) as u32;
            self.counter(key, window, |c| {
                c.asked.raise(window, asked);
                c.granted.add(window, got);
            });
        }
    }

    /// `f` on `key`'s counter (made when it has none; counters of earlier windows are dropped past
    /// `MAX_KEYS`).
    fn counter<T>(&self, key: Id, window: u32, f: impl FnOnce(&Counter) -> T) -> T {
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
        f(counter)
    }

    fn decision(&self, allowed: bool, remaining: u32, now: i64) -> RateDecision {
        let reset = (now.div_euclid(60) + 1) * 60;
        RateDecision {
            allowed,
            limit: self.per_minute,
            remaining: remaining.min(self.per_minute),
            reset,
            retry_after: reset - now,
        }
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
        assert!(RateLimiter::new(0).check_at(a, t).is_none());
        let a = Id::new();
        let frozen = RateLimiter::with_clock(1, || 1_800_000_059);
        assert_eq!(
            frozen.check_at(a, frozen.now()).unwrap().reset,
            1_800_000_060,
            "the clock is the limiter's"
        );
        assert!(!frozen.check_at(a, frozen.now()).unwrap().allowed);
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
