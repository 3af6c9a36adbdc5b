//! The envelope dialect: `/api/whatsapp/…`, `{success, data}` bodies, `page`/`limit`/`total`/`hasNext`
//! lists, close and assign.
//!
//! Translation only: parse, call the core `Store`, render. Choices where the seed and the product
//! docs are silent:
//! - `Authorization: Bearer` takes a Rosetta API key of the organization named by `x-org-id`, or an
//!   HS256 JWT (`ROSETTA_JWT_SECRET`) whose `sub` is a user of it (`user_<uuid>`, a bare UUID or a
//!   ULID). With no secret configured every JWT is 401. A token of another organization, or a user
//!   who is not its member, is 403 "Forbidden".
//! - `page` and `limit` must be positive integers (400 "Invalid page" / "Invalid limit"); a `limit`
//!   over 100 means 100. An unknown `status` is 400 "Invalid status"; a malformed `assignee` 400
//!   "Invalid assignee ID" (`user_<uuid>`, or the bare UUID, which the seed also calls it); an
//!   assignee who is not a member of the organization is 403 "User is not a member of this
//!   organization", as in assign.
//! - `assign` needs `userId` (400 "userId is required", "Invalid user ID"); an unknown user or one
//!   of another organization is 403 "User is not a member of this organization". Assigning keeps the
//!   status.
//! - `close` takes an empty body or `{resolution}`; `closedBy` is the JWT's user, `null` for an API
//!   key. Closing a closed conversation answers its first close.
//! - Messages: `{success, data: {data, total, page, hasNext}}`, `total` the conversation's message
//!   count, `page` always 1 (paging is by `before`, a `msg_<uuid>`; one not in the conversation is
//!   404 "Message not found"). A sticker's content is an image's; interactive replies, buttons,
//!   reactions, templates and unsupported messages carry `{id, title}`, `{text, payload}`,
//!   `{emoji, messageId}`, `{name, text}` and `{type}`.
//! - Rate limit: 100 requests a minute per organization, `--rate-limit-per-minute N` for N; every
//!   response carries `X-RateLimit-*` once the caller is known, a 429 `Retry-After` too.
//! - A wrong method is 405 "Method not allowed"; an unknown path 404 "Not found"; a database outage
//!   503 "Service unavailable".

mod conversations;
pub mod dto;
pub mod error;
mod guard;
mod messages;
pub mod params;

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpResponse};
use rosetta_http::rate_limit::{RateDecision, RateLimiter};
use rosetta_http::AppState;
use utoipa::OpenApi;

use error::{EnvelopeError, ErrorBody};

pub const PREFIX: &str = "/api/whatsapp";
/// The product's default: per organization, a minute.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 100;
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What envelope's handlers share.
#[derive(Debug)]
pub struct Envelope {
    pub state: AppState,
    pub limiter: Arc<RateLimiter>,
    /// The HS256 secret session JWTs are signed with; `None` refuses every JWT.
    pub jwt_secret: Option<Vec<u8>>,
}

impl Envelope {
    /// Made once, shared by every worker. `rate_limit_per_minute` 0 turns limits off.
    pub fn shared(state: AppState, rate_limit_per_minute: u32, jwt_secret: Option<&str>) -> web::Data<Envelope> {
        web::Data::new(Envelope {
            state,
            limiter: Arc::new(RateLimiter::new(rate_limit_per_minute)),
            jwt_secret: jwt_secret.filter(|s| !s.is_empty()).map(|s| s.as_bytes().to_vec()),
        })
    }
}

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description =
            Some("A Rosetta API key of the organization, or a user's HS256 session JWT (sub = user id).".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        components.add_security_scheme(
            "org",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-org-id",
                "The organization's UUID.",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Rosetta: envelope dialect", version = "1", description = "Manage WhatsApp Business conversations: list, read, close and assign, in the envelope API dialect. Every body is {\"success\": true, \"data\": …} or {\"success\": false, \"error\": \"…\"}."),
    paths(conversations::list, conversations::get, conversations::close, conversations::assign, messages::list),
    components(schemas(ErrorBody)),
    modifiers(&SecurityAddon),
    tags((name = "Conversations"), (name = "Messages"))
)]
struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as committed in `openapi/envelope.json`.
pub fn openapi_json() -> String {
    rosetta_http::docs::committed_text(&openapi())
}

fn render(status: StatusCode) -> HttpResponse {
    use actix_web::ResponseError;
    EnvelopeError::for_status(status).error_response()
}

async fn not_found() -> Result<HttpResponse, EnvelopeError> {
    Err(EnvelopeError::new(StatusCode::NOT_FOUND, "Not found"))
}

fn resource(path: &str, methods: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        Ok::<_, actix_web::Error>(
            HttpResponse::MethodNotAllowed()
                .insert_header(("Allow", methods))
                .json(ErrorBody {
                    success: false,
                    error: "Method not allowed".into(),
                }),
        )
    }))
}

/// Mounts the dialect under `/api/whatsapp`, with its document and docs page.
pub fn routes(envelope: web::Data<Envelope>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::scope(PREFIX)
                .app_data(envelope)
                .app_data(
                    web::QueryConfig::default()
                        .error_handler(|_, _| EnvelopeError::bad_request("Invalid query parameters").into()),
                )
                .app_data(
                    web::PathConfig::default().error_handler(|_, _| EnvelopeError::invalid_conversation_id().into()),
                )
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .wrap_fn(|req, srv| {
                    let call = rosetta_http::errors::ensure_shape(req, srv, render);
                    async move {
                        let mut response = call.await?;
                        let rate = response.request().extensions().get::<RateDecision>().copied();
                        if let Some(rate) = rate {
                            rate.apply(response.headers_mut());
                        }
                        Ok(response)
                    }
                })
                .configure(rosetta_http::docs::scoped_routes(PREFIX, openapi()))
                .service(resource("/conversations", "GET").route(web::get().to(conversations::list)))
                .service(resource("/conversations/{conversationId}", "GET").route(web::get().to(conversations::get)))
                .service(
                    resource("/conversations/{conversationId}/close", "POST")
                        .route(web::post().to(conversations::close)),
                )
                .service(
                    resource("/conversations/{conversationId}/assign", "POST")
                        .route(web::post().to(conversations::assign)),
                )
                .service(resource("/messages", "GET").route(web::get().to(messages::list)))
                .default_service(web::to(not_found)),
        );
    }
}

/// A JSON body parsed as an object; anything else is 400.
pub(crate) fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, EnvelopeError> {
    rosetta_http::json_object(body).map_err(|e| match e {
        rosetta_http::BodyError::NotObject if body.iter().all(u8::is_ascii_whitespace) => {
            EnvelopeError::bad_request("Invalid JSON body")
        }
        rosetta_http::BodyError::NotObject => EnvelopeError::bad_request("The request body must be a JSON object"),
        rosetta_http::BodyError::NotJson(_) => EnvelopeError::bad_request("Invalid JSON body"),
    })
}
