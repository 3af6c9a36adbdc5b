//! The request skeleton every dialect shares, written once: the error trait a dialect implements
//! (its shape and words), the guard that runs a request's checks and its store call, the scope that
//! mounts a dialect (its error handlers, failure shaping, request ids, rate-limit headers, docs
//! routes and 404), resources that answer 405 with `Allow`, and the JSON-object body reader.
//!
//! A dialect says only what is its own: which credentials it reads (`Credentials`), its check order
//! (`Order`), what it rate-limits by (`RateBy`), and its error shape and words (`DialectError`).

use std::sync::Arc;

use actix_web::dev::HttpServiceFactory;
use actix_web::error::QueryPayloadError;
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use rosetta_core::{ApiKey, Error, Id, Store};

use crate::auth::{self, Cost};
use crate::conditional::Tagged;
use crate::rate_limit::{RateDecision, RateLimiter};
use crate::{request_id, AppState, BodyError};

/// A dialect's error: its shape (`ResponseError`) and its words for what the shared path refuses.
pub trait DialectError: ResponseError + Sized + Send + 'static {
    /// No usable credentials (401).
    fn unauthorized() -> Self;
    /// The caller's budget is spent (429). The rate-limit headers are added by the dialect's scope.
    fn rate_limited() -> Self;
    /// The key lacks `scope` (wacrm's 403).
    fn missing_scope(scope: &'static str) -> Self;
    /// The credentials belong to another organization than the request names, or the user is not
    /// its member (envelope's 403).
    fn other_organization() -> Self;
    /// The method is not one of `allow` (405, with `Allow`).
    fn method_not_allowed(allow: &'static str) -> Self;
    /// A query string actix could not read into the handler's parameters.
    fn bad_query(error: &QueryPayloadError) -> Self;
    /// A path segment actix could not read.
    fn bad_path() -> Self;
    /// A body that is not a JSON object.
    fn bad_body(error: BodyError) -> Self;
    /// What an actix-level failure of this status (unknown route, oversized body, panic, …) says.
    fn for_status(status: StatusCode) -> Self;
    /// A domain error a caller may see: not found, invalid, cursor, not a member, conflict.
    fn domain(error: Error) -> Self;
    /// The database is unreachable or busy past its bound (503).
    fn unavailable() -> Self;
    /// Anything else (500); the details are in the log only.
    fn internal() -> Self;
    /// Whether every response carries `X-Request-Id: req_<ULID>` and errors may name it (kirim).
    const REQUEST_IDS: bool = false;
    /// The dialect's name in logs: `wacrm`, `kirim`, `envelope`.
    const DIALECT: &'static str;
}

/// The one mapping from a domain error to a dialect's: faults are logged here, once, and answered
/// without their details.
pub fn from_core<E: DialectError>(error: Error) -> E {
    match error {
        Error::Unavailable(detail) => {
            tracing::warn!(error = %detail, "database unavailable");
            E::unavailable()
        }
        Error::Internal(detail) => {
            tracing::error!(error = %detail, "internal error");
            E::internal()
        }
        other => E::domain(other),
    }
}

/// Implements `From<rosetta_core::Error>` for a dialect's error through [`from_core`].
#[macro_export]
macro_rules! dialect_error_from_core {
    ($ty:ty) => {
        impl From<rosetta_core::Error> for $ty {
            fn from(error: rosetta_core::Error) -> Self {
                $crate::dialect::from_core(error)
            }
        }
    };
}

/// What a request presents, as its dialect reads it.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// An API key; `org` when the request also names an organization (envelope's `x-org-id`),
    /// which the key must belong to.
    Key { secret: String, org: Option<Id> },
    /// A verified user session acting in `org`; the user must be its member.
    User { org: Id, user: Id },
}

/// What one rate budget is counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateBy {
    /// Each key apart (wacrm).
    Key,
    /// The organization, every key and user together (kirim, envelope).
    Organization,
}

/// Where the rate check stands among the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// credentials (401) → rate (429) → scope (403): wacrm, kirim.
    RateBeforeScope,
    /// credentials (401) → organization or membership (403) → rate (429): envelope.
    MembershipBeforeRate,
}

/// The checks a request goes through before its parameters and its store call, refused in the
/// words of the dialect `E`.
#[derive(Debug, Clone)]
pub struct Checks<E> {
    pub credentials: Credentials,
    pub limiter: Arc<RateLimiter>,
    pub rate_by: RateBy,
    /// A scope the key must carry (wacrm); a user session carries every scope.
    pub scope: Option<&'static str>,
    pub order: Order,
    pub cost: Cost,
    dialect: std::marker::PhantomData<fn() -> E>,
}

impl<E: DialectError> Checks<E> {
    /// The checks of a dialect whose keys need no scope.
    pub fn new(credentials: Credentials, limiter: Arc<RateLimiter>, rate_by: RateBy, order: Order, cost: Cost) -> Self {
        Checks {
            credentials,
            limiter,
            rate_by,
            scope: None,
            order,
            cost,
            dialect: std::marker::PhantomData,
        }
    }

    /// The key must also carry `scope`.
    pub fn scope(mut self, scope: Option<&'static str>) -> Self {
        self.scope = scope;
        self
    }
}

/// Who a request acts as, once every check passed.
#[derive(Debug, Clone)]
pub struct Principal {
    pub org: Id,
    /// The key, when the credentials were one.
    key: Option<ApiKey>,
    /// The user, when the credentials were a user's session.
    user: Option<Id>,
    /// Whether the operation read who the caller is: its response is then not shared with other
    /// callers (`renders`).
    read_caller: std::cell::Cell<bool>,
}

impl Principal {
    /// The key, when the credentials were one (the response then shows who asked).
    pub fn key(&self) -> Option<&ApiKey> {
        self.read_caller.set(true);
        self.key.as_ref()
    }

    /// The user, when the credentials were a user's session (the response then shows who asked).
    pub fn user(&self) -> Option<Id> {
        self.read_caller.set(true);
        self.user
    }
}

/// Runs the checks, then the parameters, then `op` for the principal, all in one store call: inline
/// for a bounded read when the state allows (`AppState::read`), on the blocking pool otherwise. A
/// parameter error is answered only once every check passed. The rate decision is left on the
/// request for the dialect's scope to turn into headers, on errors too.
pub async fn call<E, P, T, F>(
    req: &HttpRequest,
    state: &AppState,
    checks: Checks<E>,
    params: Result<P, E>,
    op: F,
) -> Result<T, E>
where
    E: DialectError + From<Error>,
    P: Send + 'static,
    T: Send + 'static,
    F: FnOnce(&dyn Store, &Principal, P) -> Result<T, E> + Send + 'static,
{
    let usage = state.key_usage.clone();
    let keys = state.keys.clone();
    let renders = state.renders.clone();
    let conditional = crate::conditional::Conditional::of(req);
    let Checks {
        credentials,
        limiter,
        rate_by,
        scope,
        order,
        cost,
        ..
    } = checks;
    type Ran<T, E> = (Option<RateDecision>, Option<Tagged>, Result<T, E>);
    let run = move |store: &dyn Store| -> Result<Ran<T, E>, Error> {
        let principal = match credentials {
            Credentials::Key { secret, org } => match auth::authenticate(store, &secret, &usage, &keys)? {
                None => return Ok((None, None, Err(E::unauthorized()))),
                Some(key) => Principal {
                    org: org.unwrap_or(key.org_id),
                    key: Some(key),
                    user: None,
                    read_caller: Default::default(),
                },
            },
            Credentials::User { org, user } => Principal {
                org,
                key: None,
                user: Some(user),
                read_caller: Default::default(),
            },
        };
        let member = |store: &dyn Store| -> Result<bool, Error> {
            if let Some(key) = &principal.key {
                return Ok(key.org_id == principal.org);
            }
            match principal.user.map(|user| store.get_user(principal.org, user)) {
                Some(Err(Error::NotFound(_))) => Ok(false),
                Some(Err(e)) => Err(e),
                _ => Ok(true),
            }
        };
        let has_scope = scope.is_none_or(|s| principal.key.as_ref().is_none_or(|k| k.has_scope(s)));
        if order == Order::MembershipBeforeRate && !member(store)? {
            return Ok((None, None, Err(E::other_organization())));
        }
        let rate = limiter.check(
            match rate_by {
                RateBy::Key => principal.key.as_ref().map_or(principal.org, |k| k.id),
                RateBy::Organization => principal.org,
            },
            store,
        )?;
        if rate.is_some_and(|d| !d.allowed) {
            return Ok((rate, None, Err(E::rate_limited())));
        }
        if order == Order::RateBeforeScope && !member(store)? {
            return Ok((rate, None, Err(E::other_organization())));
        }
        if !has_scope {
            return Ok((rate, None, Err(E::missing_scope(scope.unwrap_or_default()))));
        }
        let params = match params {
            Ok(p) => p,
            Err(e) => return Ok((rate, None, Err(e))),
        };
        // The organization's version, read before the data: a tag never names newer data than it.
        let mut tagged = match &conditional {
            Some(c) => {
                let version = store.org_version(principal.org)?;
                let caller = principal.key.as_ref().map(|k| k.id).or(principal.user);
                let mut tagged = c.tag(principal.org, caller, version, rosetta_core::Timestamp::now());
                if tagged.not_modified {
                    return Ok((rate, Some(tagged), Err(E::for_status(StatusCode::NOT_MODIFIED))));
                }
                // The same request made within this version: its rendering answers (the scope
                // puts it in place of this marker).
                tagged.hit = renders.get(tagged.share, caller);
                if tagged.hit.is_some() {
                    return Ok((rate, Some(tagged), Err(E::for_status(StatusCode::NOT_MODIFIED))));
                }
                Some(tagged)
            }
            None => None,
        };
        let result = op(store, &principal, params);
        if let Some(tagged) = &mut tagged {
            tagged.caller_specific = principal.read_caller.get();
        }
        Ok((rate, tagged, result))
    };
    let (rate, tagged, result) = match cost {
        Cost::BoundedRead => state.read(run).await?,
        Cost::Blocking => state.run(run).await?,
    };
    if let Some(rate) = rate {
        req.extensions_mut().insert(rate);
    }
    if let Some(tagged) = tagged {
        req.extensions_mut().insert(tagged);
    }
    result
}

/// A body read as a JSON object, refused in the dialect's words otherwise.
pub fn json_object<E: DialectError>(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, E> {
    crate::json_object(body).map_err(E::bad_body)
}

/// A resource that answers `allow` (e.g. "GET, PATCH") and 405 with `Allow` for any other method.
pub fn resource<E: DialectError>(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, _>(E::method_not_allowed(allow))
    }))
}

/// The largest request body a dialect reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A dialect's scope at `prefix`: its error handlers for queries, paths and bodies; every failure in
/// its shape (`errors::ensure_shape`); request ids when the dialect has them; the rate-limit headers
/// of the request's decision on every response; its document and docs page; 404 for any other path.
/// The dialect adds its resources with `configure`.
pub fn scope<E: DialectError>(
    prefix: &'static str,
    document: utoipa::openapi::OpenApi,
    configure: impl FnOnce(&mut web::ServiceConfig),
) -> impl HttpServiceFactory {
    web::scope(prefix)
        .app_data(web::QueryConfig::default().error_handler(|e, _| E::bad_query(&e).into()))
        .app_data(web::PathConfig::default().error_handler(|_, _| E::bad_path().into()))
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .wrap_fn(|req, srv| {
            let id = E::REQUEST_IDS.then(|| {
                let id = request_id::generate();
                request_id::log_client_id(&req, &id);
                id
            });
            let access = crate::access::Access::start(E::DIALECT, &req, id.as_deref());
            let stamped = id.clone();
            let render = move |status: StatusCode| {
                let mut response = E::for_status(status).error_response();
                if let Some(id) = &stamped {
                    set_request_id(response.headers_mut(), id);
                }
                response
            };
            let shaped = crate::errors::ensure_shape(req, srv, render);
            async move {
                let mut response = match &id {
                    Some(id) => request_id::scope(id.clone(), shaped).await?,
                    None => shaped.await?,
                };
                if let Some(id) = &id {
                    set_request_id(response.headers_mut(), id);
                }
                let tagged = response.request().extensions_mut().remove::<Tagged>();
                if let Some(tagged) = tagged {
                    if tagged.not_modified {
                        // The tag is current: no body, nothing read.
                        let (req, _) = response.into_parts();
                        response = actix_web::dev::ServiceResponse::new(req, HttpResponse::NotModified().finish());
                    } else if let Some(hit) = &tagged.hit {
                        // The same request within the same version: its rendering, this request's id.
                        let (req, _) = response.into_parts();
                        response = actix_web::dev::ServiceResponse::new(req, hit.response(id.as_deref()));
                    } else if response.status() == StatusCode::OK {
                        response = keep_rendering(response, &tagged, id.as_deref());
                    }
                    if let Some(id) = &id {
                        set_request_id(response.headers_mut(), id);
                    }
                    if matches!(response.status(), StatusCode::OK | StatusCode::NOT_MODIFIED) {
                        crate::conditional::set_etag(response.headers_mut(), &tagged.etag);
                    }
                }
                let rate = response.request().extensions().get::<RateDecision>().copied();
                if let Some(rate) = rate {
                    rate.apply(response.headers_mut());
                }
                access.finish(&response);
                Ok(response)
            }
        })
        .configure(crate::docs::scoped_routes(prefix, document))
        .configure(configure)
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(E::for_status(StatusCode::NOT_FOUND))
        }))
}

/// Keeps a `200` response's rendering for identical requests within its version (`renders`), when
/// its body is whole (a stream is passed through untouched).
fn keep_rendering(
    response: actix_web::dev::ServiceResponse,
    tagged: &Tagged,
    request_id: Option<&str>,
) -> actix_web::dev::ServiceResponse {
    let Some(state) = response.request().app_data::<web::Data<AppState>>().cloned() else {
        return response;
    };
    if !state.renders.enabled() {
        return response;
    }
    let (req, res) = response.into_parts();
    let (head, body) = res.into_parts();
    let res = match actix_web::body::MessageBody::try_into_bytes(body) {
        Ok(bytes) => {
            let caller = tagged.caller_specific.then_some(tagged.caller);
            state
                .renders
                .keep(tagged.share, caller, head.headers(), bytes.clone(), request_id);
            head.set_body(actix_web::body::BoxBody::new(bytes))
        }
        Err(body) => head.set_body(body),
    };
    actix_web::dev::ServiceResponse::new(req, res)
}

fn set_request_id(headers: &mut actix_web::http::header::HeaderMap, id: &str) {
    use actix_web::http::header::{HeaderName, HeaderValue};
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert(HeaderName::from_static("x-request-id"), value);
    }
}

/// The request id of the request being served (inside a scope with request ids, always set).
pub fn current_request_id() -> String {
    request_id::current().unwrap_or_else(request_id::generate)
}
