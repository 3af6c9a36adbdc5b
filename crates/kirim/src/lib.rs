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
//! - Sending (`POST /v1/{phone_number_id}/messages`) answers 200 with the queued message (the
//!   newer docs), `status: "pending"` until Meta accepts it, then `sent`, `delivered`, `read`, or
//!   `failed` with `error {code, message, provider_code}` (kirim's codes for Meta's, `whatsapp_error`
//!   for the rest). A closed 24-hour window is 422 `outside_24h_window` and an account without a
//!   usable token 422 `account_not_connected`, both before anything is queued. A message object:
//!   `{id: "msg_…", object, conversation_id, direction, type, status, wamid, text, media, template,
//!   context_message_id, error, created_at, updated_at}`.
//! - Mark-as-read is asked of Meta while the request waits (502 `whatsapp_upstream_error` if Meta
//!   fails: it is idempotent, retry it), then the conversation's unread count is cleared; the
//!   message must be one of the organization's (404 `resource_not_found`, `param: message_id`).

mod account;
mod contacts;
mod conversations;
pub mod deliveries;
pub mod dto;
pub mod error;
pub mod events;
mod media;
mod messages;
pub mod params;
pub mod webhooks;

use std::sync::Arc;

use actix_web::{web, HttpRequest};
use rosetta_http::auth::{self, Cost, TokenStyle};
use rosetta_http::dialect::{self, resource, Checks, Credentials, Order, RateBy};
use rosetta_http::rate_limit::RateLimiter;
use rosetta_http::AppState;
use utoipa::OpenApi;

use error::{ErrorBody, ErrorDetail, KirimError};

pub const PREFIX: &str = "/v1";
/// The product's defaults: per organization, a minute.
pub const DEFAULT_READS_PER_MINUTE: u32 = 600;
pub const DEFAULT_WRITES_PER_MINUTE: u32 = 60;

/// What kirim's handlers share: the store and the organization rate budgets.
#[derive(Debug)]
pub struct Kirim {
    pub state: AppState,
    pub reads: Arc<RateLimiter>,
    pub writes: Arc<RateLimiter>,
    /// Meta's Graph API, for what is asked of Meta while the request waits (mark as read); sends
    /// go through the outbox. `None`: such requests answer 502.
    pub graph: Option<rosetta_graph::GraphClient>,
}

impl Kirim {
    /// Made once, shared by every worker. `rate_limit_per_minute`: `None` for the product's
    /// defaults (600 reads, 60 writes), `Some(n)` for n reads and n/10 writes, `Some(0)` for none.
    pub fn shared(
        state: AppState,
        rate_limit_per_minute: Option<u32>,
        graph: Option<rosetta_graph::GraphClient>,
    ) -> web::Data<Kirim> {
        let (reads, writes) = match rate_limit_per_minute {
            None => (DEFAULT_READS_PER_MINUTE, DEFAULT_WRITES_PER_MINUTE),
            Some(0) => (0, 0),
            Some(n) => (n, (n / 10).max(1)),
        };
        web::Data::new(Kirim {
            reads: state.limiter("kirim.reads", reads),
            writes: state.limiter("kirim.writes", writes),
            state,
            graph,
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
        messages::list,
        messages::send,
        media::upload,
        events::stream,
        webhooks::create,
        webhooks::list,
        webhooks::get,
        webhooks::update,
        webhooks::delete,
        webhooks::rotate,
        deliveries::list,
        deliveries::get,
        deliveries::replay,
        deliveries::bulk_replay,
        contacts::list,
        contacts::create,
        contacts::get,
        contacts::update,
        account::accounts,
        account::me,
        account::health,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&SecurityAddon),
    tags((name = "Conversations"), (name = "Messages"), (name = "Contacts"), (name = "Account"), (name = "Events"), (name = "Webhooks"))
)]
struct ApiDoc;

/// The dialect's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    rosetta_http::conditional::document(&mut doc);
    doc
}

/// The document as committed in `openapi/kirim.json`.
pub fn openapi_json() -> String {
    rosetta_http::docs::committed_text(&openapi())
}

/// Mounts the dialect under `/v1`, with its document and docs page.
pub fn routes(kirim: web::Data<Kirim>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(dialect::scope::<KirimError>(PREFIX, openapi(), |cfg| {
            let resource = resource::<KirimError>;
            cfg.app_data(kirim)
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
                    resource("/{phone_number_id}/conversations/{id}/messages", "GET")
                        .route(web::get().to(messages::list)),
                )
                .service(resource("/{phone_number_id}/messages", "POST").route(web::post().to(messages::send)))
                .service(resource("/{phone_number_id}/media", "POST").route(web::post().to(media::upload)))
                .service(resource("/events/stream", "GET").route(web::get().to(events::stream)))
                .service(
                    resource("/webhook_subscriptions", "GET, POST")
                        .route(web::get().to(webhooks::list))
                        .route(web::post().to(webhooks::create)),
                )
                .service(
                    resource("/webhook_subscriptions/{id}", "GET, PATCH, DELETE")
                        .route(web::get().to(webhooks::get))
                        .route(web::patch().to(webhooks::update))
                        .route(web::delete().to(webhooks::delete)),
                )
                .service(
                    resource("/webhook_subscriptions/{id}/secrets", "POST").route(web::post().to(webhooks::rotate)),
                )
                .service(resource("/webhook_deliveries", "GET").route(web::get().to(deliveries::list)))
                .service(
                    resource("/webhook_deliveries/bulk_replay", "POST").route(web::post().to(deliveries::bulk_replay)),
                )
                .service(resource("/webhook_deliveries/{id}", "GET").route(web::get().to(deliveries::get)))
                .service(resource("/webhook_deliveries/{id}/replay", "POST").route(web::post().to(deliveries::replay)))
                .service(
                    resource("/{phone_number_id}/contacts", "GET, POST")
                        .route(web::get().to(contacts::list))
                        .route(web::post().to(contacts::create)),
                )
                .service(
                    resource("/{phone_number_id}/contacts/{id}", "GET, PATCH")
                        .route(web::get().to(contacts::get))
                        .route(web::patch().to(contacts::update)),
                );
        }));
    }
}

/// Which of the organization's two budgets a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

impl Kirim {
    /// kirim's checks, in order: a `Bearer` key (401), then the organization's read or write budget
    /// (429).
    fn checks(&self, req: &HttpRequest, access: Access, cost: Cost) -> Result<Checks<KirimError>, KirimError> {
        let secret = auth::token(req, TokenStyle::BearerOnly).ok_or_else(KirimError::invalid_api_key)?;
        let key = Credentials::Key {
            secret: secret.to_owned(),
            org: None,
        };
        let budget = match access {
            Access::Read => self.reads.clone(),
            Access::Write => self.writes.clone(),
        };
        Ok(Checks::new(
            key,
            budget,
            RateBy::Organization,
            Order::RateBeforeScope,
            cost,
        ))
    }
}

/// A JSON body parsed as an object; anything else is 400 `invalid_request`.
pub(crate) fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, KirimError> {
    dialect::json_object(body)
}
