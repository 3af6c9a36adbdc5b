//! envelope's checks, in order: `Authorization: Bearer` and `x-org-id` present and well formed
//! (401), the token valid (401: an unknown key, a JWT with a bad signature, expired, or signed with
//! no secret configured), the token belonging to that organization (403), the organization's rate
//! budget (429), the parameters (400), then the operation; in one trip to the store.

use actix_web::{HttpMessage, HttpRequest};
use rosetta_core::{EntityKind, Id, Spelling, Store, Timestamp};
use rosetta_http::auth::{self, Cost, TokenStyle};
use rosetta_http::jwt;

use crate::error::EnvelopeError;
use crate::Envelope;

/// Who is calling: an organization, and the user when the token is a user's session JWT.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub org: Id,
    pub user: Option<Id>,
}

enum Token {
    Key(String),
    User(Id),
}

pub async fn call<P, T, F>(
    req: &HttpRequest,
    envelope: &Envelope,
    cost: Cost,
    params: Result<P, EnvelopeError>,
    op: F,
) -> Result<T, EnvelopeError>
where
    P: Send + 'static,
    F: FnOnce(&dyn Store, Caller, P) -> Result<T, EnvelopeError> + Send + 'static,
    T: Send + 'static,
{
    let raw = auth::token(req, TokenStyle::BearerOnly).ok_or_else(EnvelopeError::unauthorized)?;
    let org = req
        .headers()
        .get("x-org-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Id::parse(EntityKind::Organization, Spelling::Envelope, v.trim()).ok())
        .ok_or_else(EnvelopeError::unauthorized)?;
    let token = if jwt::looks_like_jwt(raw) {
        let secret = envelope.jwt_secret.as_deref().ok_or_else(EnvelopeError::unauthorized)?;
        let claims =
            jwt::verify_hs256(raw, secret, Timestamp::now().millis() / 1000).ok_or_else(EnvelopeError::unauthorized)?;
        Token::User(Id::parse_any(EntityKind::User, &claims.sub).map_err(|_| EnvelopeError::unauthorized())?)
    } else {
        Token::Key(raw.to_owned())
    };
    let limiter = envelope.limiter.clone();
    let usage = envelope.state.key_usage.clone();
    let checked = move |store: &dyn Store| -> Result<_, rosetta_core::Error> {
        let caller = match token {
            Token::Key(secret) => match auth::authenticate(store, &secret, &usage)? {
                None => return Ok((None, Err(EnvelopeError::unauthorized()))),
                Some(key) => {
                    if key.org_id != org {
                        return Ok((None, Err(EnvelopeError::forbidden())));
                    }
                    Caller { org, user: None }
                }
            },
            Token::User(user) => match store.get_user(org, user) {
                Ok(_) => Caller { org, user: Some(user) },
                Err(rosetta_core::Error::NotFound(_)) => return Ok((None, Err(EnvelopeError::forbidden()))),
                Err(e) => return Err(e),
            },
        };
        let rate = limiter.check(&org.to_string());
        if rate.is_some_and(|d| !d.allowed) {
            return Ok((rate, Err(EnvelopeError::rate_limited())));
        }
        Ok((rate, params.and_then(|p| op(store, caller, p))))
    };
    let (rate, result) = match cost {
        Cost::BoundedRead => envelope.state.read(checked).await?,
        Cost::Blocking => envelope.state.run(checked).await?,
    };
    if let Some(rate) = rate {
        req.extensions_mut().insert(rate);
    }
    result
}
