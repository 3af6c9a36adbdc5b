//! The wacrm dialect: `/api/v1/…`, `{data, meta.next_cursor}`, scoped `wacrm_live_` keys.
//!
//! Translation only: parse, call the core `Store`, render. Choices where the seed and the product
//! docs are silent:
//! - A malformed conversation or contact id in the path is 404 `not_found` (a wacrm client treats
//!   "no such id" as not found; a 400 would tell it nothing more), never 403.
//! - A malformed `contact_id` or `tag` filter is 400 `bad_request`: it is the caller's mistake. A
//!   well-formed one that names no contact or tag of this account is 404 `not_found`, like that id
//!   anywhere else; so is a cursor made for another account's list.
//! - `limit` below 1 after flooring (e.g. `0.5`) means the default 50, like any non-positive value.
//! - Database faults are 503 with code `unavailable`; a wrong method is 405 `method_not_allowed`.
//! - Once the key is known, every response carries `X-RateLimit-*` (errors too), and a 429
//!   `Retry-After`.
//! - A user who is not a member of the key's account is 404 `not_found` ("User not found"), like
//!   any id of another account.
//! - Content types: a sticker is `image`, a quick-reply button is `interactive` (its payload is the
//!   `interactive_reply_id`), a reaction is `unsupported`.
//! - Sending (`POST /api/v1/messages`, `messages.rs` has the details): a wacrm account is a Rosetta
//!   organization, which may have several WhatsApp numbers; a send goes from its first connected
//!   number (the oldest). No number, or one without an access token (or whose token Meta refused),
//!   is 400 `whatsapp_not_configured`. The answer waits at most `--send-wait-millis` for the first
//!   attempt: 201 with the wamid, 502 `meta_error` when Meta refused it (the message stays, failed,
//!   with Meta's code), or 201 with `whatsapp_message_id: null` while it is retried, slow, or of
//!   unknown outcome (it is still sent, once; its status shows in the conversation's messages).
//!   `reply_to_message_id` that names no message is 404; one of another conversation is 400.
//! - A failed message in a list carries `error {code, message}` (Meta's code, or null when none came
//!   back); other messages have no `error` field, as in the seed.
//! - `POST /api/v1/contacts` with a phone number that is already a contact answers 200 with that
//!   contact, unchanged (201 for a new one); tags are not written through these routes.

mod contacts;
mod conversations;
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

use error::{ErrorBody, ErrorDetail, WacrmError};

pub const PREFIX: &str = "/api/v1";
/// The product's default: 120 requests a minute per key.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 120;

/// What wacrm's handlers share.
#[derive(Debug)]
pub struct Wacrm {
    pub state: AppState,
    pub limiter: Arc<RateLimiter>,
}

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "A wacrm_live_ key, with or without the `Bearer ` prefix.",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Rosetta: wacrm dialect", version = "1", description = "Conversations, messages and contacts, in the wacrm Conversations API dialect: read them, send messages through the WhatsApp Cloud API, write contacts. Errors are {\"error\":{\"code\",\"message\"}}."),
    paths(conversations::list, conversations::get, conversations::messages, messages::send, media::upload, events::stream, webhooks::create, webhooks::list, webhooks::get, webhooks::update, webhooks::delete, contacts::list, contacts::create, contacts::get, contacts::update, contacts::me),
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

/// The document as committed in `openapi/wacrm.json`.
pub fn openapi_json() -> String {
    rosetta_http::docs::committed_text(&openapi())
}

impl Wacrm {
    /// The dialect's state, made once and shared by every worker (rate-limit counters included).
    /// `rate_limit_per_minute` 0 turns rate limiting off.
    pub fn shared(state: AppState, rate_limit_per_minute: u32) -> web::Data<Wacrm> {
        web::Data::new(Wacrm {
            limiter: state.limiter("wacrm", rate_limit_per_minute),
            state,
        })
    }
}

/// Mounts the dialect under `/api/v1`, with its document and docs page.
pub fn routes(wacrm: web::Data<Wacrm>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(dialect::scope::<WacrmError>(PREFIX, openapi(), |cfg| {
            let get = |path, handler| resource::<WacrmError>(path, "GET").route(handler);
            // Static paths before those with segments: actix tries resources in order, and a
            // segment is a regex match.
            cfg.app_data(wacrm)
                .service(get("/me", web::get().to(contacts::me)))
                .service(get("/conversations", web::get().to(conversations::list)))
                .service(get("/conversations/{id}", web::get().to(conversations::get)))
                .service(get(
                    "/conversations/{id}/messages",
                    web::get().to(conversations::messages),
                ))
                .service(resource::<WacrmError>("/messages", "POST").route(web::post().to(messages::send)))
                .service(resource::<WacrmError>("/media", "POST").route(web::post().to(media::upload)))
                .service(get("/events/stream", web::get().to(events::stream)))
                .service(
                    resource::<WacrmError>("/webhooks", "GET, POST")
                        .route(web::get().to(webhooks::list))
                        .route(web::post().to(webhooks::create)),
                )
                .service(
                    resource::<WacrmError>("/webhooks/{id}", "GET, PATCH, DELETE")
                        .route(web::get().to(webhooks::get))
                        .route(web::patch().to(webhooks::update))
                        .route(web::delete().to(webhooks::delete)),
                )
                .service(
                    resource::<WacrmError>("/contacts", "GET, POST")
                        .route(web::get().to(contacts::list))
                        .route(web::post().to(contacts::create)),
                )
                .service(
                    resource::<WacrmError>("/contacts/{id}", "GET, PATCH")
                        .route(web::get().to(contacts::get))
                        .route(web::patch().to(contacts::update)),
                );
        }));
    }
}

impl Wacrm {
    /// wacrm's checks, in the product's order: a key, `Bearer` or bare (401), its own rate budget
    /// (429), `scope` (403).
    fn checks(
        &self,
        req: &HttpRequest,
        scope: Option<&'static str>,
        cost: Cost,
    ) -> Result<Checks<WacrmError>, WacrmError> {
        let secret = auth::token(req, TokenStyle::BearerOrBare).ok_or(WacrmError::Unauthorized)?;
        let key = Credentials::Key {
            secret: secret.to_owned(),
            org: None,
        };
        Ok(Checks::new(key, self.limiter.clone(), RateBy::Key, Order::RateBeforeScope, cost).scope(scope))
    }
}
