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

/// The usable key with this secret, its use recorded for `last_used_at`.
pub fn authenticate(store: &dyn rosetta_core::Store, secret: &str, usage: &KeyUsage) -> Result<Option<ApiKey>, Error> {
    let key = store.authenticate(secret)?;
    if let Some(key) = &key {
        usage.record(key.id);
    }
    Ok(key)
}

/// `last_used_at` updates, gathered in memory and written in one statement every few seconds.
#[derive(Debug, Default, Clone)]
pub struct KeyUsage {
    pending: Arc<Mutex<HashMap<Id, Timestamp>>>,
}

impl KeyUsage {
    pub fn record(&self, key: Id) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, Timestamp::now());
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
