//! kirim's checks, in order: key (401), the organization's rate limit for reads or writes (429),
//! the parameters (400), then the operation; all in one trip to the store.

use actix_web::{HttpMessage, HttpRequest};
use rosetta_core::{ApiKey, Store};
use rosetta_http::auth::{self, Cost, TokenStyle};

use crate::error::KirimError;
use crate::Kirim;

/// Which of the organization's two budgets a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Checks the request's key and rate budget and, if both allow, runs `op` with the key and the
/// parsed parameters. The rate decision is left on the request for the response headers.
pub async fn call<P, T, F>(
    req: &HttpRequest,
    kirim: &Kirim,
    access: Access,
    cost: Cost,
    params: Result<P, KirimError>,
    op: F,
) -> Result<T, KirimError>
where
    P: Send + 'static,
    F: FnOnce(&dyn Store, &ApiKey, P) -> Result<T, KirimError> + Send + 'static,
    T: Send + 'static,
{
    let token = auth::token(req, TokenStyle::BearerOnly).ok_or_else(KirimError::invalid_api_key)?;
    let limiter = match access {
        Access::Read => kirim.reads.clone(),
        Access::Write => kirim.writes.clone(),
    };
    let outcome = auth::with_key(&kirim.state, token, cost, move |store, key| {
        let rate = limiter.check(&key.org_id.to_string());
        if rate.is_some_and(|d| !d.allowed) {
            return Ok((rate, Err(KirimError::rate_limited())));
        }
        Ok((rate, params.and_then(|p| op(store, &key, p))))
    })
    .await?;
    let (rate, result) = outcome.ok_or_else(KirimError::invalid_api_key)?;
    if let Some(rate) = rate {
        req.extensions_mut().insert(rate);
    }
    result
}
