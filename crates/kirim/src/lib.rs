//! The kirim dialect: `/v1/{phone_number_id}/…` and `/v1/…`, `cnv_`/`ctc_` ULID ids,
//! `{data, has_more, next_cursor, request_id}` lists, typed errors carrying the request id.
//!
//! Translation only: parse, call the core `Store`, render. Choices where the seed and the product
//! docs are silent:
//! - A single object answers `{"data": {...}, "request_id": "req_…"}`, like a list's `data`.
//! - A malformed id in the path or a filter is 400 `invalid_field_value` naming the parameter; a
//!   well-formed id that is not this organization's (or not this account's) is 404
//!   `resource_not_found`, the `contact_id` filter included.
//! - `PATCH` ignores fields it does not know; `status: "open"` on a conversation kirim already shows
//!   as open (canonical `ai_handling`, `escalated`) keeps its canonical status.
//! - Assigning a user who is not in the organization is 404 `resource_not_found`, `param:
//!   assigned_to`.
//! - An idempotent replay sends the first response's body byte for byte (its `request_id`
//!   included); `X-Request-Id` names the replaying request. Only completed (2xx) responses are
//!   stored: a request that failed leaves the key free for a corrected retry.
//! - Contacts belong to the organization, not to one account: `/v1/{phone_number_id}/contacts` lists
//!   the organization's contacts, with `whatsapp_account` the account of the path.
//! - A database outage is 503 `api_error`/`service_unavailable`; a wrong method is 405
//!   `invalid_request`. An expired key is `invalid_api_key` like any other unusable key.
//! - `--rate-limit-per-minute N` sets reads to N and writes to N/10 (at least 1); 0 disables both.

mod account;
mod contacts;
mod conversations;
pub mod dto;
pub mod error;
mod guard;
pub mod params;

use std::sync::Arc;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpResponse};
use rosetta_http::rate_limit::{RateDecision, RateLimiter};
use rosetta_http::{request_id, AppState};
use utoipa::OpenApi;

use error::{ErrorBody, ErrorDetail, KirimError};

pub const PREFIX: &str = "/v1";
/// The product's defaults: per organization, a minute.
pub const DEFAULT_READS_PER_MINUTE: u32 = 600;
pub const DEFAULT_WRITES_PER_MINUTE: u32 = 60;
/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What kirim's handlers share: the store and the organization rate budgets.
#[derive(Debug)]
pub struct Kirim {
    pub state: AppState,
    pub reads: Arc<RateLimiter>,
    pub writes: Arc<RateLimiter>,
}

impl Kirim {
    /// Made once, shared by every worker. `rate_limit_per_minute`: `None` for the product's
    /// defaults (600 reads, 60 writes), `Some(n)` for n reads and n/10 writes, `Some(0)` for none.
    pub fn shared(state: AppState, rate_limit_per_minute: Option<u32>) -> web::Data<Kirim> {
        let (reads, writes) = match rate_limit_per_minute {
            None => (DEFAULT_READS_PER_MINUTE, DEFAULT_WRITES_PER_MINUTE),
            Some(0) => (0, 0),
            Some(n) => (n, (n / 10).max(1)),
        };
        web::Data::new(Kirim {
            state,
            reads: Arc::new(RateLimiter::new(reads)),
            writes: Arc::new(RateLimiter::new(writes)),
        })
    }
}

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description = Some("A kdv_live_ API key (or a key of another dialect of the same organization).".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Rosetta: kirim dialect", version = "1", description = "Conversations and contacts of a WhatsApp account, in the kirim API dialect. Every response carries X-Request-Id; errors are {\"error\":{\"type\",\"code\",\"message\",\"param\"?,\"request_id\"}}."),
    paths(
        conversations::list,
        conversations::get,
        conversations::update,
        contacts::list,
        contacts::create,
        account::accounts,
        account::me,
        account::health,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&SecurityAddon),
    tags((name = "Conversations"), (name = "Contacts"), (name = "Account"))
)]
struct ApiDoc;

/// The dialect's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as committed in `openapi/kirim.json`.
pub fn openapi_json() -> String {
    rosetta_http::docs::committed_text(&openapi())
}

fn render(status: StatusCode) -> HttpResponse {
    use actix_web::ResponseError;
    KirimError::for_status(status).error_response()
}

async fn not_found() -> Result<HttpResponse, KirimError> {
    Err(KirimError::not_found("Resource"))
}

/// A resource answering `methods` (e.g. "GET, PATCH"), 405 with `Allow` for any other.
fn resource(path: &str, methods: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        let mut e = KirimError::method_not_allowed();
        e.allow = Some(methods);
        Err::<HttpResponse, _>(e)
    }))
}

/// Every kirim response: Rosetta's request id, and the organization's rate budget once known.
fn stamp(headers: &mut actix_web::http::header::HeaderMap, id: &str, rate: Option<RateDecision>) {
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert(HeaderName::from_static("x-request-id"), value);
    }
    if let Some(rate) = rate {
        rate.apply(headers);
    }
}

/// Mounts the dialect under `/v1`, with its document and docs page.
pub fn routes(kirim: web::Data<Kirim>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::scope(PREFIX)
                .app_data(kirim)
                .app_data(
                    web::QueryConfig::default()
                        .error_handler(|e, _| KirimError::invalid_request(format!("Invalid query string: {e}")).into()),
                )
                .app_data(web::PathConfig::default().error_handler(|_, _| KirimError::not_found("Resource").into()))
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .wrap_fn(|req, srv| {
                    let id = request_id::generate();
                    request_id::log_client_id(&req, &id);
                    let stamped = id.clone();
                    let render = move |status| {
                        let mut response = render(status);
                        stamp(response.headers_mut(), &stamped, None);
                        response
                    };
                    let shaped = rosetta_http::errors::ensure_shape(req, srv, render);
                    async move {
                        let mut response = request_id::scope(id.clone(), shaped).await?;
                        let rate = response.request().extensions().get::<RateDecision>().copied();
                        stamp(response.headers_mut(), &id, rate);
                        Ok(response)
                    }
                })
                .configure(rosetta_http::docs::scoped_routes(PREFIX, openapi()))
                .service(resource("/health", "GET").route(web::get().to(account::health)))
                .service(resource("/accounts", "GET").route(web::get().to(account::accounts)))
                .service(resource("/me", "GET").route(web::get().to(account::me)))
                .service(resource("/{phone_number_id}/conversations", "GET").route(web::get().to(conversations::list)))
                .service(
                    resource("/{phone_number_id}/conversations/{id}", "GET, PATCH")
                        .route(web::get().to(conversations::get))
                        .route(web::patch().to(conversations::update)),
                )
                .service(
                    resource("/{phone_number_id}/contacts", "GET, POST")
                        .route(web::get().to(contacts::list))
                        .route(web::post().to(contacts::create)),
                )
                .default_service(web::to(not_found)),
        );
    }
}

/// The request id of the request being served (inside kirim's scope, always set).
pub(crate) fn current_request_id() -> String {
    request_id::current().unwrap_or_else(request_id::generate)
}

/// A JSON body parsed as an object; anything else is 400 `invalid_request`.
pub(crate) fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, KirimError> {
    rosetta_http::json_object(body).map_err(|e| match e {
        rosetta_http::BodyError::NotObject => KirimError::invalid_request("The request body must be a JSON object"),
        rosetta_http::BodyError::NotJson(e) => {
            KirimError::invalid_request(format!("The request body is not valid JSON: {e}"))
        }
    })
}
