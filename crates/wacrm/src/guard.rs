//! wacrm's checks, in the product's order: key (401), rate limit (429), scope (403).

use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use rosetta_core::ApiKey;
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

pub async fn check(
    req: &HttpRequest,
    wacrm: &Wacrm,
    scope: Option<&'static str>,
) -> Result<Caller, WacrmError> {
    let token = auth::token(req, TokenStyle::BearerOrBare).ok_or(WacrmError::Unauthorized)?;
    let key = auth::authenticate(&wacrm.state, token)
        .await?
        .ok_or(WacrmError::Unauthorized)?;
    let rate = wacrm.limiter.check(&key.id.to_string());
    if let Some(decision) = rate.filter(|d| !d.allowed) {
        return Err(WacrmError::RateLimited(decision));
    }
    if let Some(scope) = scope.filter(|s| !key.has_scope(s)) {
        return Err(WacrmError::Forbidden(scope));
    }
    Ok(Caller { key, rate })
}
