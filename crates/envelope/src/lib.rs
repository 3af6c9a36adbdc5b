//! The envelope dialect: `/api/whatsapp/…`, `{success, data}` bodies, `page`/`limit`/`total`/`hasNext`
//! lists, close and assign.
//!
//! Translation only: parse, call the core `Store`, render. Choices where the seed and the product
//! docs are silent:
//! - `Authorization: Bearer` takes a Rosetta API key of the organization named by `x-org-id`, or an
//!   HS256 JWT (`ROSETTA_JWT_SECRET`) whose `sub` is a user of it (`user_<uuid>`, a bare UUID or a
//!   ULID). With no secret configured every JWT is 401. A JWT must carry `exp`, and may not claim a
//!   lifetime (`exp` − `iat`, or `exp` − now) over `--jwt-max-lifetime-secs` (default 7 days):
//!   either is 401. A token of another organization, or a user
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
//! - Sending: the product documents no send endpoint, so `POST /api/whatsapp/messages` follows the
//!   envelope's own shapes: `{conversationId, type (default text), content}`, `content` as a
//!   message's `content` of that type (text `{text}`; image, video, audio, document, sticker `{url,
//!   mimeType, caption, filename}` by link; template `{name, language, components}`), to the
//!   conversation's contact from its number. It answers 201 `{success: true, data: <message>}` at
//!   once, status `sending`; the message then moves as Meta reports. A session's user is the
//!   message's `senderId` (an API key's send has none). 409 when the 24-hour window is closed (only
//!   a template may be sent) or an `Idempotency-Key` was used for another body; 400 when the number
//!   has no access token. A failed message carries `error {code, message}` in lists.
//! - Rate limit: 100 requests a minute per organization, `--rate-limit-per-minute N` for N; every
//!   response carries `X-RateLimit-*` once the caller is known, a 429 `Retry-After` too.
//! - A wrong method is 405 "Method not allowed"; an unknown path 404 "Not found"; a database outage
//!   503 "Service unavailable".

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
use rosetta_core::{EntityKind, Id, Spelling, Timestamp};
use rosetta_http::auth::{self, Cost, TokenStyle};
use rosetta_http::dialect::{self, resource, Checks, Credentials, DialectError, Order, RateBy};
use rosetta_http::rate_limit::RateLimiter;
use rosetta_http::{jwt, AppState};
use utoipa::OpenApi;

use error::{EnvelopeError, ErrorBody};

pub const PREFIX: &str = "/api/whatsapp";
/// The product's default: per organization, a minute.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 100;

/// What envelope's handlers share.
#[derive(Debug)]
pub struct Envelope {
    pub state: AppState,
    pub limiter: Arc<RateLimiter>,
    /// The HS256 secret session JWTs are signed with; `None` refuses every JWT.
    pub jwt_secret: Option<Vec<u8>>,
    /// The longest lifetime (seconds) a session JWT may claim; longer ones, and ones without `exp`,
    /// are refused.
    pub jwt_max_lifetime: i64,
}

impl Envelope {
    /// Made once, shared by every worker. `rate_limit_per_minute` 0 turns limits off.
    pub fn shared(state: AppState, rate_limit_per_minute: u32, jwt_secret: Option<&str>) -> web::Data<Envelope> {
        web::Data::new(Self::new(state, rate_limit_per_minute, jwt_secret))
    }

    /// The same, to adjust before sharing (`jwt_max_lifetime`).
    pub fn new(state: AppState, rate_limit_per_minute: u32, jwt_secret: Option<&str>) -> Envelope {
        Envelope {
            limiter: state.limiter("envelope", rate_limit_per_minute),
            state,
            jwt_secret: jwt_secret.filter(|s| !s.is_empty()).map(|s| s.as_bytes().to_vec()),
            jwt_max_lifetime: rosetta_http::jwt::DEFAULT_MAX_LIFETIME_SECS,
        }
    }
}

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description =
            Some("A Rosetta API key of the organization, or a user's HS256 session JWT: `sub` the user's id, `exp` required, and a lifetime (`exp` minus `iat`, or minus now) of at most the server's `--jwt-max-lifetime-secs` (7 days by default). A token without `exp`, or claiming a longer life, is 401.".into());
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
    paths(conversations::list, conversations::get, conversations::close, conversations::assign, messages::list, messages::send, media::upload, events::stream, webhooks::register, webhooks::read, webhooks::remove),
    components(schemas(ErrorBody)),
    modifiers(&SecurityAddon),
    tags((name = "Conversations"), (name = "Messages"), (name = "Events"), (name = "Webhooks"))
)]
struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    rosetta_http::conditional::document(&mut doc);
    doc
}

/// The document as committed in `openapi/envelope.json`.
pub fn openapi_json() -> String {
    rosetta_http::docs::committed_text(&openapi())
}

/// Mounts the dialect under `/api/whatsapp`, with its document and docs page.
pub fn routes(envelope: web::Data<Envelope>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(dialect::scope::<EnvelopeError>(PREFIX, openapi(), |cfg| {
            let resource = resource::<EnvelopeError>;
            cfg.app_data(envelope)
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
                .service(
                    resource("/messages", "GET, POST")
                        .route(web::get().to(messages::list))
                        .route(web::post().to(messages::send)),
                )
                .service(resource("/media", "POST").route(web::post().to(media::upload)))
                .service(resource("/events/stream", "GET").route(web::get().to(events::stream)))
                .service(
                    resource("/webhooks", "GET, POST, DELETE")
                        .route(web::get().to(webhooks::read))
                        .route(web::post().to(webhooks::register))
                        .route(web::delete().to(webhooks::remove)),
                );
        }));
    }
}

impl Envelope {
    /// envelope's checks, in order: `Authorization: Bearer` and `x-org-id` present and well formed
    /// (401), the token valid (401: an unknown key; a JWT with a bad signature, expired, without
    /// `exp`, claiming too long a life, or with no secret configured), the token belonging to that
    /// organization (403: a key of another, a user who is not its member), then the organization's
    /// budget (429).
    fn checks(&self, req: &HttpRequest, cost: Cost) -> Result<Checks<EnvelopeError>, EnvelopeError> {
        let unauthorized = EnvelopeError::unauthorized;
        let raw = auth::token(req, TokenStyle::BearerOnly).ok_or_else(unauthorized)?;
        let org = req
            .headers()
            .get("x-org-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Id::parse(EntityKind::Organization, Spelling::Envelope, v.trim()).ok())
            .ok_or_else(unauthorized)?;
        let credentials = if jwt::looks_like_jwt(raw) {
            let secret = self.jwt_secret.as_deref().ok_or_else(unauthorized)?;
            let now = Timestamp::now().millis() / 1000;
            let claims = jwt::verify_hs256(raw, secret, now, self.jwt_max_lifetime).ok_or_else(unauthorized)?;
            let user = Id::parse_any(EntityKind::User, &claims.sub).map_err(|_| unauthorized())?;
            Credentials::User { org, user }
        } else {
            Credentials::Key {
                secret: raw.to_owned(),
                org: Some(org),
            }
        };
        let budget = self.limiter.clone();
        Ok(Checks::new(
            credentials,
            budget,
            RateBy::Organization,
            Order::MembershipBeforeRate,
            cost,
        ))
    }
}

/// A JSON body parsed as an object; anything else is 400.
pub(crate) fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, EnvelopeError> {
    dialect::json_object(body)
}
