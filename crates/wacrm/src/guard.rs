//! wacrm's checks, in the product's order: key (401), rate limit (429), scope (403), then the
//! operation, all in one trip to the blocking pool.

use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use rosetta_core::{ApiKey, Error, Store};
use rosetta_http::auth::{self, TokenStyle};
use rosetta_http::rate_limit::RateDecision;

use crate::error::WacrmError;
use crate::Wacrm;

/// The caller's key, once it passed every check, and the rate-limit state to report.
#[derive(Debug)]
pub struct Caller {
    pub key: ApiKey,
    pub rate: Option<RateDecision>,
}

impl Caller {
    /// A 200 response carrying the rate-limit headers.
    pub fn ok(&self) -> HttpResponseBuilder {
        let mut response = HttpResponse::Ok();
        if let Some(rate) = &self.rate {
            rate.headers(&mut response);
        }
        response
    }
}

/// Checks the request's key and, if it may, runs `op` for the key's organization with the
/// request's parsed parameters. A parameter error is answered only after the key, rate and scope
/// checks passed, as the product does.
pub async fn call<P, T, F>(
    req: &HttpRequest,
    wacrm: &Wacrm,
    scope: Option<&'static str>,
    cost: auth::Cost,
    params: Result<P, WacrmError>,
    op: F,
) -> Result<(Caller, T), WacrmError>
where
    P: Send + 'static,
    F: FnOnce(&dyn Store, &ApiKey, P) -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    let token = auth::token(req, TokenStyle::BearerOrBare).ok_or(WacrmError::Unauthorized)?;
    let limiter = wacrm.limiter.clone();
    let outcome = auth::with_key(&wacrm.state, token, cost, move |store, key| {
        let rate = limiter.check(&key.id.to_string());
        if let Some(decision) = rate.filter(|d| !d.allowed) {
            return Ok(Err(WacrmError::RateLimited(decision)));
        }
        if let Some(scope) = scope.filter(|s| !key.has_scope(s)) {
            return Ok(Err(WacrmError::Forbidden(scope)));
        }
        let params = match params {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let value = op(store, &key, params)?;
        Ok(Ok((Caller { key, rate }, value)))
    })
    .await?;
    outcome.ok_or(WacrmError::Unauthorized)?
}
