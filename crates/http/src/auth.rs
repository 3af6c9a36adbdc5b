//! API key authentication shared by every dialect: reading the token, looking the key up by its
//! hash, and recording `last_used_at` without a write on the request path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::HttpRequest;
use rosetta_core::{ApiKey, Error, Id, Timestamp};

use crate::AppState;

/// How a dialect reads `Authorization`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStyle {
    /// `Bearer <key>` only (kirim, envelope).
    BearerOnly,
    /// `Bearer <key>` or the bare key (wacrm).
    BearerOrBare,
}

/// The token of `Authorization`, if the header is there and well formed.
pub fn token(req: &HttpRequest, style: TokenStyle) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return None,
        None if style == TokenStyle::BearerOrBare => value,
        None => return None,
    };
    (!token.is_empty() && token.len() <= 512).then_some(token)
}

/// How much work a request's store operation may do (`dialect::call`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// A bounded read: may run inline (`AppState::read`).
    BoundedRead,
    /// A write, or a read that may scan: always on the blocking pool.
    Blocking,
}

/// The usable key with this secret, its use recorded for `last_used_at`: from `cache` when it holds
/// it (and it is still usable), else from the store.
pub fn authenticate(
    store: &dyn rosetta_core::Store,
    secret: &str,
    usage: &KeyUsage,
    cache: &KeyCache,
) -> Result<Option<ApiKey>, Error> {
    let hash = cache.enabled().then(|| rosetta_core::key::hash_secret(secret));
    let key = match hash.and_then(|h| cache.get(&h)) {
        Some(key) => Some(key).filter(|k| k.is_usable_at(Timestamp::now())),
        None => {
            let seen = cache.version();
            let key = store.authenticate(secret)?;
            if let (Some(h), Some(k)) = (hash, &key) {
                cache.put(h, k.clone(), seen);
            }
            key
        }
    };
    if let Some(key) = &key {
        usage.record(key.id);
    }
    Ok(key)
}

/// Keys authenticated, by their secret's hash, so a request need not look its key up. Kept only
/// while no key changed: `watch_keys` reads the store's key version every `KEY_WATCH` and empties
/// the cache when it moved (a revocation, an expiry or scope change, a removal, on any instance or
/// process), so a revoked key is refused everywhere within that. Off until a watcher runs. Bounded:
/// emptied when it holds `KEY_CACHE_MAX` keys. Unknown secrets are never cached.
#[derive(Debug, Default)]
pub struct KeyCache {
    enabled: std::sync::atomic::AtomicBool,
    /// The key version the cache holds keys of.
    version: std::sync::atomic::AtomicI64,
    keys: std::sync::RwLock<HashMap<[u8; 32], ApiKey>>,
    hits: std::sync::atomic::AtomicU64,
}

/// How often `watch_keys` reads the key version: the bound on a revocation taking effect.
pub const KEY_WATCH: Duration = Duration::from_millis(250);
/// The most keys kept.
pub const KEY_CACHE_MAX: usize = 10_000;

impl KeyCache {
    fn enabled(&self) -> bool {
        self.enabled.load(std::sync::atomic::Ordering::Acquire)
    }

    fn version(&self) -> i64 {
        self.version.load(std::sync::atomic::Ordering::Acquire)
    }

    fn get(&self, hash: &[u8; 32]) -> Option<ApiKey> {
        let found = self.keys.read().unwrap_or_else(|p| p.into_inner()).get(hash).cloned();
        if found.is_some() {
            self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        found
    }

    /// Requests answered from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Keeps `key`, read while the cache was at `seen`: not when the version moved meanwhile (the
    /// key may have been read before a change the cache was emptied for).
    fn put(&self, hash: [u8; 32], key: ApiKey, seen: i64) {
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        if self.version() != seen {
            return;
        }
        if keys.len() >= KEY_CACHE_MAX {
            keys.clear();
        }
        keys.insert(hash, key);
    }

    /// The store's key version is now `version`: forget every key if it moved.
    fn observe(&self, version: i64) {
        if self.version() != version {
            let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
            self.version.store(version, std::sync::atomic::Ordering::Release);
            keys.clear();
        }
    }
}

/// Watches the store's key version for `state`'s key cache until the process stops (`serve` runs
/// it); the cache is used only while this runs and has read the version.
pub async fn watch_keys(state: AppState) {
    loop {
        match state.read(|s| s.key_version()).await {
            Ok(version) => {
                state.keys.observe(version);
                state.keys.enabled.store(true, std::sync::atomic::Ordering::Release);
            }
            Err(e) => {
                // Unsure what changed: stop trusting the cache until the version is read again.
                state.keys.enabled.store(false, std::sync::atomic::Ordering::Release);
                state.keys.keys.write().unwrap_or_else(|p| p.into_inner()).clear();
                tracing::warn!(error = ?e, "could not read the key version; keys are looked up on every request");
            }
        }
        actix_web::rt::time::sleep(KEY_WATCH).await;
    }
}

/// `last_used_at` updates, gathered in memory and written in one statement every few seconds. A
/// key is recorded at most once a second (`last_used_at` is good to the second): a request whose
/// key was recorded in the same second takes no lock.
#[derive(Debug, Clone)]
pub struct KeyUsage {
    pending: Arc<Mutex<HashMap<Id, Timestamp>>>,
    /// Per slot (by key), the key and second last recorded: `(key's low 32 bits << 32) | second`.
    recent: Arc<[std::sync::atomic::AtomicU64; 64]>,
}

impl Default for KeyUsage {
    fn default() -> Self {
        KeyUsage {
            pending: Arc::default(),
            recent: Arc::new(std::array::from_fn(|_| std::sync::atomic::AtomicU64::new(0))),
        }
    }
}

impl KeyUsage {
    pub fn record(&self, key: Id) {
        use std::sync::atomic::Ordering;
        let now = Timestamp::now();
        let bytes = key.to_bytes();
        let low = u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
        let stamp = (u64::from(low) << 32) | (now.millis() / 1000) as u32 as u64;
        let slot = &self.recent[low as usize % 64];
        if slot.load(Ordering::Relaxed) == stamp {
            return;
        }
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(key, now);
        slot.store(stamp, Ordering::Relaxed);
    }

    pub fn take(&self) -> Vec<(Id, Timestamp)> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).drain().collect()
    }
}

/// Flushes recorded key use every `every`; runs until the server stops.
pub async fn flush_key_usage(state: AppState, every: Duration) {
    let mut ticker = actix_web::rt::time::interval(every);
    loop {
        ticker.tick().await;
        flush_now(&state).await;
    }
}

/// Writes what was recorded so far (also called at shutdown).
pub async fn flush_now(state: &AppState) {
    let used = state.key_usage.take();
    if used.is_empty() {
        return;
    }
    if let Err(e) = state.run(move |store| store.touch_api_keys(&used)).await {
        tracing::warn!(error = ?e, "could not record API key use");
    }
}
