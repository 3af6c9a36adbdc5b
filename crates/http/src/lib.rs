//! What every dialect shares on the wire: the request skeleton (`dialect`: the error trait, the
//! guard, the dialect scope), the shared state and where store operations run, key authentication,
//! rate limits, request ids, failure shaping, session tokens, documents, Meta's webhook route, and
//! the liveness/readiness routes. No dialect's JSON shapes live here.

pub mod access;
pub mod auth;
pub mod conditional;
pub mod dialect;
pub mod docs;
pub mod errors;
pub mod events;
pub mod jwt;
pub mod media;
pub mod metrics;
pub mod rate_limit;
pub mod renders;
pub mod request_id;
pub mod sending;
pub mod signing;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use rosetta_core::{Error, Store};
use serde_json::json;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Keys used since the last flush (`auth::flush_key_usage`).
    pub key_usage: auth::KeyUsage,
    /// Keys authenticated, kept while no key changed (`auth::watch_keys` turns it on).
    pub keys: Arc<auth::KeyCache>,
    /// Responses shared by identical GETs within one change version (`renders`).
    pub renders: Arc<renders::Renders>,
    /// Run read-only store operations on the calling worker instead of the blocking pool. Right for
    /// an embedded SQLite store (WAL readers never wait on writers, a page is a fraction of a
    /// millisecond, and a handoff costs two context switches); wrong for a networked database.
    pub inline_reads: bool,
    /// Send settings and the signals between the send endpoints and the dispatcher.
    pub sending: Arc<sending::Sending>,
    /// The signer of media links (the store's key).
    pub media_links: rosetta_core::media::MediaLinks,
    /// The signal from the event sequencer to this process's event streams.
    pub live: Arc<events::Live>,
    /// Whether webhook endpoints may be plain `http://`, loopback, private or link-local
    /// (`--allow-private-webhook-targets`: local development and tests).
    pub allow_private_webhook_targets: bool,
    /// What `/metrics` shows.
    pub metrics: Arc<metrics::Metrics>,
    /// Whether rate limits are the deployment's, reserved from the store, instead of this
    /// process's (several instances over one PostgreSQL database: `rate_limit`).
    pub shared_rate_limits: bool,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppState")
    }
}

impl AppState {
    pub fn new(store: Arc<dyn Store>) -> Self {
        AppState {
            media_links: store.media_links(),
            store,
            key_usage: auth::KeyUsage::default(),
            keys: Arc::default(),
            renders: Arc::default(),
            inline_reads: false,
            sending: Arc::new(sending::Sending::default()),
            live: Arc::default(),
            allow_private_webhook_targets: false,
            metrics: Arc::default(),
            shared_rate_limits: false,
        }
    }

    /// A rate limit of `per_minute` (0: off) named `bucket`: the deployment's when the state's
    /// limits are shared, this process's otherwise.
    pub fn limiter(&self, bucket: &'static str, per_minute: u32) -> Arc<rate_limit::RateLimiter> {
        let limiter = rate_limit::RateLimiter::new(per_minute);
        Arc::new(match self.shared_rate_limits {
            true => limiter.shared(bucket),
            false => limiter,
        })
    }

    /// Runs a (blocking, diesel) store operation on actix's blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(&dyn Store) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.store.clone();
        web::block(move || f(store.as_ref()))
            .await
            .map_err(|e| Error::Internal(format!("blocking task failed: {e}")))?
    }
}

impl AppState {
    /// A read whose cost is bounded (an index range, a primary-key lookup): inline when
    /// `inline_reads`, else on the blocking pool. Anything that may scan (a text search) goes
    /// through `run`.
    pub async fn read<T, F>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(&dyn Store) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        if self.inline_reads {
            f(self.store.as_ref())
        } else {
            self.run(f).await
        }
    }
}

/// Why a request body is not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// No body, or only whitespace.
    Empty,
    /// Valid JSON, but not an object.
    NotObject,
    /// Not JSON: the parser's message.
    NotJson(String),
}

/// A request body read as a JSON object; each dialect words the refusal its own way.
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, BodyError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(BodyError::NotObject),
        Err(_) if body.iter().all(u8::is_ascii_whitespace) => Err(BodyError::Empty),
        Err(e) => Err(BodyError::NotJson(e.to_string())),
    }
}

/// How long `/readyz` waits for the database before answering not ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process is up.
/// A `200` JSON response, written once into a buffer sized from the last one this thread wrote
/// (a page's JSON would otherwise grow its buffer from 128 bytes, copying at each doubling).
pub fn ok_json(value: impl serde::Serialize) -> HttpResponse {
    thread_local! {
        static LAST: std::cell::Cell<usize> = const { std::cell::Cell::new(1024) };
    }
    let mut body = Vec::with_capacity(LAST.with(|l| l.get()));
    // sonic-rs: serde_json's output, byte for byte, with its strings scanned for escapes 16 or 32
    // bytes at a time rather than one (serde_json's escaping was ~12% of a 50-row page).
    match sonic_rs::to_writer(&mut body, &value) {
        Ok(()) => {
            // Sized for the larger of this response and (decaying) those before it.
            LAST.with(|l| l.set(body.len().max(l.get() - l.get() / 8).clamp(256, 1 << 20)));
            HttpResponse::Ok()
                .content_type(actix_web::http::header::ContentType::json())
                .body(body)
        }
        Err(e) => {
            tracing::error!(error = %e, "a response could not be written as JSON");
            HttpResponse::InternalServerError().finish()
        }
    }
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers, within `READY_TIMEOUT`.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ping = tokio_timeout(READY_TIMEOUT, state.run(|s| s.ping())).await;
    match ping {
        Some(Ok(())) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Some(Err(e)) => {
            tracing::warn!(error = ?e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({"status": "unavailable", "reason": "database"}))
        }
        None => HttpResponse::ServiceUnavailable().json(json!({"status": "unavailable", "reason": "database timeout"})),
    }
}

async fn tokio_timeout<T>(limit: Duration, fut: impl std::future::Future<Output = T>) -> Option<T> {
    actix_web::rt::time::timeout(limit, fut).await.ok()
}

/// Mounts `/healthz` and `/readyz`.
pub fn health_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

/// Mounts `/metrics` (Prometheus' text format), on the main address or on its own.
pub fn metrics_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics::serve));
}

/// The answer for a path outside every dialect's prefix: no dialect's shape (each dialect answers
/// its own unknown paths inside its scope), the plain `status` object of the health routes.
pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({"status": "not_found"}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{test, App};
    use rosetta_core::*;

    /// `ok_json` writes what serde_json writes, byte for byte: every escape, number and nesting a
    /// response can hold (a contact's metadata is any JSON; a location message has floats).
    #[actix_web::test]
    async fn ok_json_writes_serde_jsons_bytes() {
        let every_ascii: String = (0u8..0x80).map(char::from).collect();
        let floats = [
            0.0,
            -0.0,
            0.1,
            1.5,
            -33.8688197,
            151.2092955,
            1e21,
            1e-7,
            123_456_789.123_456_78,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
        ];
        let value = json!({
            "ascii": every_ascii,
            "unicode": "caf\u{e9} \u{2028}\u{2029} \u{1f600} \u{7f} \u{ffff}",
            "floats": floats,
            "ints": [0, -1, i64::MIN, i64::MAX, u64::MAX],
            "nested": {"z": [null, true, false, {}, [], ""], "a": {"b": {"c": "\"\\/"}}},
            "empty": {},
        });
        #[derive(serde::Serialize)]
        struct Typed<'a> {
            id: rosetta_core::id::Rendered,
            at: rosetta_core::time::Rfc3339,
            text: Option<&'a str>,
            none: Option<u8>,
            float: f32,
            value: &'a serde_json::Value,
        }
        let typed = Typed {
            id: Id::from_bytes([7; 16]).rendered(EntityKind::Conversation, rosetta_core::id::Spelling::Uuid),
            at: Timestamp(1_751_384_640_123).rfc3339(),
            text: Some("line\nbreak \"quoted\"\t"),
            none: None,
            float: 0.3,
            value: &value,
        };
        for (ours, theirs) in [
            (ok_json(&value), serde_json::to_vec(&value).unwrap()),
            (ok_json(&typed), serde_json::to_vec(&typed).unwrap()),
        ] {
            let body = actix_web::body::to_bytes(ours.into_body()).await.unwrap();
            assert_eq!(String::from_utf8_lossy(&body), String::from_utf8_lossy(&theirs));
        }
    }

    /// A store whose database is gone.
    struct Down;
    macro_rules! down {
        ($($name:ident($($arg:ty),*) -> $ret:ty;)*) => {
            $(fn $name(&self, $(_: $arg),*) -> Result<$ret> { Err(Error::Unavailable("down".into())) })*
        };
    }
    impl Store for Down {
        fn media_links(&self) -> rosetta_core::media::MediaLinks {
            rosetta_core::media::MediaLinks::new(b"down")
        }
        fn fan_out_events(
            &self,
            _: &(dyn Fn(
                Dialect,
                &rosetta_core::events::Event,
                &rosetta_core::events::Subjects,
            ) -> Option<rosetta_core::events::Rendered>
                  + Sync),
            _: u32,
        ) -> Result<rosetta_core::webhooks::FanOut> {
            Err(Error::Unavailable("down".into()))
        }
        down! {
            ping() -> ();
            create_organization(&str) -> Organization;
            get_organization(Id) -> Organization;
            create_account(Id, &str, &str, Option<&str>) -> WhatsAppAccount;
            list_accounts(Id, bool) -> Vec<WhatsAppAccount>;
            find_account(Id, &str) -> WhatsAppAccount;
            set_account_token(Id, Id, &AccessToken) -> ();
            account_token(Id, Id) -> Option<AccessToken>;
            flag_account_token(Id, Id) -> ();
            create_user(Id, &str, &str) -> User;
            get_user(Id, Id) -> User;
            create_contact(Id, NewContact) -> ContactCreated;
            get_contact(Id, Id) -> ContactWithTags;
            update_contact(Id, Id, ContactChanges) -> ContactWithTags;
            list_contacts(Id, &ContactFilter, &PageRequest) -> Page<ContactWithTags>;
            attach_tag(Id, Id, &str, Option<&str>) -> Tag;
            detach_tag(Id, Id, Id) -> ();
            open_conversation(Id, Id, Id) -> Conversation;
            list_conversations(Id, &ConversationFilter, ConversationOrder, &PageRequest) -> Page<ConversationDetail>;
            get_conversation(Id, Id) -> ConversationDetail;
            update_conversation(Id, Id, ConversationUpdate) -> ConversationDetail;
            claim_idempotency_key(Id, &str, &str) -> IdempotencyClaim;
            complete_idempotency_key(Id, &str, &StoredResponse) -> ();
            release_idempotency_key(Id, &str) -> ();
            list_messages(Id, Id, &PageRequest) -> Page<Message>;
            list_messages_before(Id, Id, Option<Id>, u32) -> Page<Message>;
            append_message(Id, NewMessage) -> Message;
            create_api_key(Id, NewApiKey) -> CreatedApiKey;
            revoke_api_key(Id) -> ApiKey;
            authenticate(&str) -> Option<ApiKey>;
            enqueue_send(Id, NewSend) -> Message;
            claim_dispatch(Timestamp, i64, i64, u32) -> Vec<DispatchJob>;
            finish_dispatch(Id, DispatchOutcome) -> ();
            finish_dispatches(&[(Id, DispatchOutcome)]) -> ();
            send(Id, SendRequest) -> SendResult;
            get_message(Id, Id) -> Message;
            message_by_wamid(Id, &str) -> Message;
            mark_read(Id, Id) -> Message;
            ingest(&[IngestEvent]) -> IngestReport;
            claim_media(Timestamp, i64, u32) -> Vec<rosetta_core::media::MediaJob>;
            finish_media(Id, rosetta_core::media::MediaOutcome) -> ();
            media_file(Id) -> rosetta_core::media::MediaFileInfo;
            create_upload(Id, rosetta_core::media::NewUpload) -> rosetta_core::media::Upload;
            events_after(Id, i64, u32) -> Vec<rosetta_core::events::Event>;
            newest_event(Id) -> i64;
            sequence_events() -> usize;
            prune_events(Timestamp, u32) -> usize;
            claim_webhook_deliveries(Timestamp, i64, u32, u32, &[Id]) -> Vec<rosetta_core::webhooks::DeliveryJob>;
            finish_webhook_deliveries(&[(Id, rosetta_core::webhooks::DeliveryOutcome)]) -> ();
            list_webhook_deliveries(Id, rosetta_core::Dialect, &rosetta_core::webhooks::DeliveryFilter, &PageRequest) -> Page<rosetta_core::webhooks::WebhookDelivery>;
            get_webhook_delivery(Id, rosetta_core::Dialect, Id) -> rosetta_core::webhooks::DeliveryDetail;
            replay_webhook_deliveries(Id, rosetta_core::Dialect, &rosetta_core::webhooks::Replay) -> Vec<rosetta_core::webhooks::WebhookDelivery>;
            prune_webhook_deliveries(Timestamp, u32) -> usize;
            log_mark() -> rosetta_core::webhooks::LogMark;
            org_version(Id) -> rosetta_core::store::OrgVersion;
            key_version() -> i64;
            create_webhook(Id, rosetta_core::webhooks::NewWebhook) -> rosetta_core::webhooks::CreatedWebhook;
            list_webhooks(Id, rosetta_core::Dialect) -> Vec<rosetta_core::webhooks::Webhook>;
            get_webhook(Id, rosetta_core::Dialect, Id) -> rosetta_core::webhooks::Webhook;
            update_webhook(Id, rosetta_core::Dialect, Id, rosetta_core::webhooks::WebhookChanges) -> rosetta_core::webhooks::Webhook;
            delete_webhook(Id, rosetta_core::Dialect, Id) -> ();
            rotate_webhook_secret(Id, rosetta_core::Dialect, Id, Timestamp) -> rosetta_core::webhooks::RotatedSecret;
            remember_meta_media(Id, Option<Id>, Id, &str) -> ();
            prune_media(Timestamp, u32) -> (usize, Vec<String>);
            touch_api_keys(&[(Id, Timestamp)]) -> ();
        }
    }

    #[actix_web::test]
    async fn readiness_follows_the_database() {
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(AppState::new(Arc::new(Down))))
                .configure(health_routes),
        )
        .await;
        let live = test::call_service(&app, test::TestRequest::get().uri("/healthz").to_request()).await;
        assert_eq!(live.status(), 200);
        assert_eq!(test::read_body(live).await, r#"{"status":"ok"}"#);
        let ready = test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
        assert_eq!(ready.status(), 503);
        assert_eq!(
            test::read_body(ready).await,
            r#"{"reason":"database","status":"unavailable"}"#
        );
        let app = test::init_service(App::new().default_service(web::to(not_found))).await;
        let unknown = test::call_service(&app, test::TestRequest::get().uri("/nowhere").to_request()).await;
        assert_eq!(unknown.status(), 404);
        assert_eq!(test::read_body(unknown).await, r#"{"status":"not_found"}"#);
    }
}
