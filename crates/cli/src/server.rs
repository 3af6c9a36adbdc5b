//! `rosetta serve` and the per-dialect binaries: one store, the chosen dialects, the webhook
//! route, `/healthz` and `/readyz`.

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use rosetta_core::Dialect;
use rosetta_store::{DieselStore, StoreOptions};

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServeDialect {
    All,
    Wacrm,
    Kirim,
    Envelope,
}

/// Everything `serve` and the dialect binaries take, beside the database URL.
#[derive(Args, Debug, Clone)]
pub struct ServeOptions {
    #[arg(long, env = "ROSETTA_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "ROSETTA_WORKERS")]
    pub workers: Option<usize>,
    /// Database connections in the pool.
    #[arg(long, env = "ROSETTA_POOL_SIZE", default_value_t = 16)]
    pub pool_size: u32,
    /// Requests a minute before 429. wacrm: per key (default 120); kirim: per organization, N reads
    /// and N/10 writes (default 600 and 60); envelope: per organization (default 100). 0 turns
    /// limits off.
    #[arg(long, env = "ROSETTA_RATE_LIMIT_PER_MINUTE")]
    pub rate_limit_per_minute: Option<u32>,
    /// Whose the rate limits are: `deployment` (every instance over the database together: each
    /// reserves a fiftieth of a limit at a time, so N instances may refuse up to N fiftieths
    /// early, never allow more), or `instance` (this process's own count). Default: `deployment`
    /// on PostgreSQL, `instance` on SQLite.
    #[arg(long, env = "ROSETTA_RATE_LIMIT_SCOPE", value_enum)]
    pub rate_limit_scope: Option<RateLimitScope>,
    /// The HS256 secret envelope's session JWTs are signed with (`sub` = a user id). Without it,
    /// envelope takes API keys only.
    #[arg(long, env = "ROSETTA_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// The longest lifetime, in seconds, an envelope session JWT may claim (`exp` minus `iat`, or
    /// minus now); a token over it, or without `exp`, is refused.
    #[arg(long, env = "ROSETTA_JWT_MAX_LIFETIME_SECS", default_value_t = rosetta_http::jwt::DEFAULT_MAX_LIFETIME_SECS)]
    pub jwt_max_lifetime_secs: i64,
    /// App secret(s) that sign webhook deliveries, comma-separated to accept several during a
    /// rotation. Without one every delivery is refused.
    #[arg(long, env = "WHATSAPP_APP_SECRET", hide_env_values = true)]
    pub whatsapp_app_secret: Option<String>,
    /// The token Meta's webhook verification handshake must present.
    #[arg(long, env = "WHATSAPP_VERIFY_TOKEN", hide_env_values = true)]
    pub whatsapp_verify_token: Option<String>,
    /// Where Meta's Graph API is: sends and marks-as-read go there. Meta's unless set (a stand-in's
    /// URL for tests and the demo).
    #[arg(long, env = "ROSETTA_GRAPH_API_URL", default_value = rosetta_graph::DEFAULT_GRAPH_URL)]
    pub graph_api_url: String,
    /// The Graph API version in every call's path.
    #[arg(long, env = "ROSETTA_GRAPH_API_VERSION", default_value = rosetta_graph::DEFAULT_GRAPH_VERSION)]
    pub graph_api_version: String,
    /// How long a send is retried (network errors, 5xx, throughput limits) before it fails.
    #[arg(long, env = "ROSETTA_SEND_RETRY_FOR_SECS", default_value_t = 3600)]
    pub send_retry_for_secs: u64,
    /// How long a send whose outcome is unknown (Meta may have taken it, no answer came) waits for a
    /// status webhook to tell, before it fails as "outcome unknown". Never resent blindly.
    #[arg(long, env = "ROSETTA_SEND_UNKNOWN_FOR_SECS", default_value_t = 600)]
    pub send_unknown_for_secs: u64,
    /// How long a dispatch worker holds a claimed send before another may take it as "outcome
    /// unknown" (the worker died mid-attempt); longer than a Graph API call may take (20 s).
    #[arg(long, env = "ROSETTA_SEND_LEASE_SECS", default_value_t = 60)]
    pub send_lease_secs: u64,
    /// How long wacrm's POST /api/v1/messages waits for the first attempt before answering without
    /// a whatsapp_message_id.
    #[arg(long, env = "ROSETTA_SEND_WAIT_MILLIS", default_value_t = 10_000)]
    pub send_wait_millis: u64,
    /// Sends a second from one WhatsApp number (Meta's default throughput is 80); 0 turns the
    /// per-number pacing off. Each instance paces its own sends.
    #[arg(long, env = "ROSETTA_SEND_RATE_PER_NUMBER", default_value_t = 80.0)]
    pub send_rate_per_number: f64,
    /// Messages to one customer at once before they are spaced (Meta's pair rate limit); 0 turns
    /// the per-recipient pacing off.
    #[arg(long, env = "ROSETTA_RECIPIENT_BURST", default_value_t = 10)]
    pub recipient_burst: u32,
    /// The spacing, in milliseconds, of messages to one customer past the burst.
    #[arg(long, env = "ROSETTA_RECIPIENT_SPACING_MILLIS", default_value_t = 6000)]
    pub recipient_spacing_millis: u64,
    #[command(flatten)]
    pub media: MediaStore,
    /// How long a media fetch holds its claim before another worker may take it up again (its
    /// worker died mid-download); longer than a download may take.
    #[arg(long, env = "ROSETTA_MEDIA_LEASE_SECS", default_value_t = 660)]
    pub media_lease_secs: u64,
    /// Remove received files older than this many days (checked hourly); unset keeps them.
    #[arg(long, env = "ROSETTA_MEDIA_RETENTION_DAYS")]
    pub media_retention_days: Option<u64>,
    /// Remove events (what the live streams and webhooks carry) and finished webhook deliveries with
    /// their attempt logs older than this many days, hourly; `0` keeps them.
    #[arg(long, env = "ROSETTA_EVENT_RETENTION_DAYS", default_value_t = 30)]
    pub event_retention_days: u64,
    /// Let webhook endpoints be plain http://, loopback, private or link-local addresses (local
    /// development and tests; never on a server that reaches an internal network).
    #[arg(long, env = "ROSETTA_ALLOW_PRIVATE_WEBHOOK_TARGETS")]
    pub allow_private_webhook_targets: bool,
    /// A dialect's webhook retry schedule, `DIALECT=WAITS`: the waits before each retry, e.g.
    /// `kirim=10s,30s,2m` (ms, s, m, h; an empty list retries nothing). Repeat for each dialect
    /// (`;` between them in the variable). Defaults: the products' (wacrm and envelope 1m,5m,30m;
    /// kirim 10s,30s,2m,10m,1h,6h,24h, each ±20%).
    #[arg(
        long = "webhook-retry-schedule",
        env = "ROSETTA_WEBHOOK_RETRY_SCHEDULE",
        value_delimiter = ';',
        value_name = "DIALECT=WAITS"
    )]
    pub webhook_retry_schedule: Vec<String>,
    /// A dialect's webhook timeout, `DIALECT=WAIT` (default wacrm 5s, kirim and envelope 10s).
    #[arg(
        long = "webhook-timeout",
        env = "ROSETTA_WEBHOOK_TIMEOUT",
        value_delimiter = ';',
        value_name = "DIALECT=WAIT"
    )]
    pub webhook_timeout: Vec<String>,
    /// Consecutive failed deliveries after which a dialect's subscription is disabled,
    /// `DIALECT=N` (default wacrm 15, kirim 24, envelope 1: after its retries).
    #[arg(
        long = "webhook-disable-after",
        env = "ROSETTA_WEBHOOK_DISABLE_AFTER",
        value_delimiter = ';',
        value_name = "DIALECT=N"
    )]
    pub webhook_disable_after: Vec<String>,
    /// How long a webhook delivery's claim lasts before another worker may attempt it again (its
    /// worker died mid-attempt); longer than any webhook timeout.
    #[arg(long, env = "ROSETTA_WEBHOOK_LEASE_SECS", default_value_t = 60)]
    pub webhook_lease_secs: u64,
    /// MiB of responses kept for identical GETs of one organization within one change version (a
    /// page many dashboards poll is rendered once per change); 0 renders every request.
    #[arg(long, env = "ROSETTA_SHARED_RENDER_MIB", default_value_t = 8)]
    pub shared_render_mib: usize,
    /// Serve `/metrics` (Prometheus' text format) on this address alone, e.g. 127.0.0.1:9464, kept
    /// off the network the dialects face; without it `/metrics` is on the main address.
    #[arg(long, env = "ROSETTA_METRICS_BIND")]
    pub metrics_bind: Option<String>,
    /// Do not dispatch sends, fetch media nor deliver webhooks from this instance (another instance
    /// over the same database does).
    #[arg(long, env = "ROSETTA_NO_DISPATCH")]
    pub no_dispatch: bool,
}

impl ServeOptions {
    /// Each dialect's delivery policy: the product's, with what the options change.
    pub fn webhook_policies(
        &self,
    ) -> Result<std::collections::HashMap<Dialect, rosetta_core::webhooks::DeliveryPolicy>, String> {
        use rosetta_core::webhooks::DeliveryPolicy;
        let mut policies: std::collections::HashMap<Dialect, DeliveryPolicy> = Dialect::ALL
            .into_iter()
            .map(|d| (d, DeliveryPolicy::for_dialect(d)))
            .collect();
        let split = |raw: &str, what: &str| -> Result<(Dialect, String), String> {
            let (dialect, value) = raw
                .split_once('=')
                .ok_or_else(|| format!("{what}: {raw:?} is not DIALECT=VALUE"))?;
            let dialect: Dialect = dialect
                .trim()
                .parse()
                .map_err(|_| format!("{what}: {dialect:?} is not wacrm, kirim or envelope"))?;
            Ok((dialect, value.trim().to_owned()))
        };
        for raw in self.webhook_retry_schedule.iter().filter(|r| !r.trim().is_empty()) {
            let (d, waits) = split(raw, "--webhook-retry-schedule")?;
            policies.get_mut(&d).expect("every dialect").delays =
                DeliveryPolicy::parse_delays(&waits).map_err(|e| format!("--webhook-retry-schedule: {e}"))?;
        }
        for raw in self.webhook_timeout.iter().filter(|r| !r.trim().is_empty()) {
            let (d, wait) = split(raw, "--webhook-timeout")?;
            let wait = DeliveryPolicy::parse_delays(&wait).map_err(|e| format!("--webhook-timeout: {e}"))?;
            let [wait] = wait[..] else {
                return Err(format!("--webhook-timeout: {raw:?} is not one wait"));
            };
            policies.get_mut(&d).expect("every dialect").timeout = wait;
        }
        for raw in self.webhook_disable_after.iter().filter(|r| !r.trim().is_empty()) {
            let (d, n) = split(raw, "--webhook-disable-after")?;
            policies.get_mut(&d).expect("every dialect").disable_after = n
                .parse()
                .map_err(|_| format!("--webhook-disable-after: {n:?} is not a count"))?;
        }
        Ok(policies)
    }
}

/// Each dialect's events out (its bodies and delivery headers).
pub fn outbound(dialect: Dialect) -> rosetta_http::events::Outbound {
    match dialect {
        Dialect::Wacrm => rosetta_wacrm::events::OUTBOUND,
        Dialect::Kirim => rosetta_kirim::events::OUTBOUND,
        Dialect::Envelope => rosetta_envelope::events::OUTBOUND,
    }
}

/// How often recorded API key use is written to the database.
const KEY_USAGE_FLUSH: Duration = Duration::from_secs(5);

/// Whose the rate limits are (`serve --rate-limit-scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RateLimitScope {
    Deployment,
    Instance,
}

pub fn serve(database_url: &str, dialect: ServeDialect, options: ServeOptions) -> Result<(), String> {
    let store = DieselStore::open_with(
        database_url,
        StoreOptions {
            pool_size: options.pool_size,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let backend = store.backend_name();
    let store: Arc<dyn rosetta_core::Store> = Arc::new(store);
    let mut state = rosetta_http::AppState::new(store.clone());
    state.inline_reads = backend == "sqlite";
    state.shared_rate_limits = match options.rate_limit_scope {
        Some(scope) => scope == RateLimitScope::Deployment,
        None => backend != "sqlite",
    };
    state.renders = Arc::new(rosetta_http::renders::Renders::new(options.shared_render_mib << 20));
    state.allow_private_webhook_targets = options.allow_private_webhook_targets;
    state.sending = Arc::new(rosetta_http::sending::Sending {
        retry_for: Duration::from_secs(options.send_retry_for_secs),
        wait_for_attempt: Duration::from_millis(options.send_wait_millis),
        ..Default::default()
    });
    let graph = rosetta_graph::GraphClient::new(rosetta_graph::GraphConfig {
        base_url: options.graph_api_url.clone(),
        version: options.graph_api_version.clone(),
        ..Default::default()
    })?;
    let blobs = options.media.open(database_url)?;
    let fetcher = (!options.no_dispatch).then(|| {
        rosetta_media::fetch::Fetcher::new(
            store.clone(),
            graph.clone(),
            blobs.clone(),
            rosetta_media::fetch::FetchConfig {
                lease: Duration::from_secs(options.media_lease_secs.max(1)),
                ..Default::default()
            },
        )
        .with_signals(state.sending.clone())
        .with_metrics(state.metrics.clone())
    });
    let dispatcher = (!options.no_dispatch).then(|| {
        rosetta_graph::dispatch::Dispatcher::new(
            store.clone(),
            graph.clone(),
            rosetta_graph::dispatch::DispatchConfig {
                unknown_for: Duration::from_secs(options.send_unknown_for_secs),
                lease: Duration::from_secs(options.send_lease_secs.max(1)),
                pacing: rosetta_graph::pacing::PacingConfig {
                    per_number: (options.send_rate_per_number > 0.0).then_some(options.send_rate_per_number),
                    recipient_burst: (options.recipient_burst > 0).then_some(options.recipient_burst),
                    recipient_spacing: Duration::from_millis(options.recipient_spacing_millis),
                },
                ..Default::default()
            },
        )
        .with_signals(state.sending.clone())
        .with_metrics(state.metrics.clone())
        .with_files(std::sync::Arc::new(blobs.clone()))
    });
    let deliverer = match options.no_dispatch {
        true => None,
        false => Some(
            rosetta_deliver::Deliverer::new(
                store.clone(),
                outbound,
                rosetta_deliver::DeliverConfig {
                    policies: options.webhook_policies()?,
                    lease: Duration::from_secs(options.webhook_lease_secs.max(1)),
                    allow_private: options.allow_private_webhook_targets,
                    ..Default::default()
                },
                state.live.clone(),
            )?
            .with_metrics(state.metrics.clone()),
        ),
    };
    let webhook = rosetta_http::webhook::WebhookConfig::new(
        options.whatsapp_app_secret.as_deref(),
        options.whatsapp_verify_token.as_deref(),
    );
    if !webhook.accepts_deliveries() {
        tracing::warn!("WHATSAPP_APP_SECRET is not set: every webhook delivery will be refused");
    }
    let dialects: Vec<Dialect> = match dialect {
        ServeDialect::All => Dialect::ALL.to_vec(),
        ServeDialect::Wacrm => vec![Dialect::Wacrm],
        ServeDialect::Kirim => vec![Dialect::Kirim],
        ServeDialect::Envelope => vec![Dialect::Envelope],
    };
    let wacrm_limit = options
        .rate_limit_per_minute
        .unwrap_or(rosetta_wacrm::DEFAULT_RATE_LIMIT_PER_MINUTE);
    let workers = options
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let blocking_threads = blocking_threads_per_worker(backend, options.pool_size, workers);
    tracing::info!(bind = %options.bind, backend, dialects = ?dialects.iter().map(|d| d.as_str()).collect::<Vec<_>>(), "rosetta listening");
    let bind = options.bind.clone();
    actix_web::rt::System::new()
        .block_on(async move {
            actix_web::rt::spawn(rosetta_http::auth::flush_key_usage(state.clone(), KEY_USAGE_FLUSH));
            // Keys are kept in memory while none changes (a revocation anywhere empties every
            // instance's cache within a quarter second).
            actix_web::rt::spawn(rosetta_http::auth::watch_keys(state.clone()));
            // Every instance runs the sequencer: one at a time places events, the others find
            // nothing to do, and each wakes its own streams.
            actix_web::rt::spawn(rosetta_http::events::sequencer(state.clone()));
            if let Some(dispatcher) = dispatcher {
                actix_web::rt::spawn(dispatcher.run());
            }
            if let Some(fetcher) = fetcher {
                actix_web::rt::spawn(fetcher.run());
            }
            if let Some(deliverer) = deliverer {
                actix_web::rt::spawn(deliverer.run());
            }
            if options.event_retention_days > 0 {
                let (store, days) = (store.clone(), options.event_retention_days as i64);
                actix_web::rt::spawn(async move {
                    loop {
                        let before =
                            rosetta_core::Timestamp(rosetta_core::Timestamp::now().millis() - days * 86_400_000);
                        let mut removed = 0;
                        loop {
                            let s = store.clone();
                            let pruned = move || {
                                Ok::<_, rosetta_core::Error>(
                                    s.prune_events(before, 1000)? + s.prune_webhook_deliveries(before, 1000)?,
                                )
                            };
                            match tokio::task::spawn_blocking(pruned).await {
                                Ok(Ok(0)) => break,
                                Ok(Ok(n)) => removed += n,
                                Ok(Err(e)) => {
                                    tracing::warn!(error = ?e, "event retention failed");
                                    break;
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "event retention failed");
                                    break;
                                }
                            }
                        }
                        if removed > 0 {
                            tracing::info!(removed, "retention removed old events and webhook deliveries");
                        }
                        actix_web::rt::time::sleep(Duration::from_secs(3600)).await;
                    }
                });
            }
            if let Some(days) = options.media_retention_days {
                let (store, blobs) = (store.clone(), blobs.clone());
                actix_web::rt::spawn(async move {
                    loop {
                        let before =
                            rosetta_core::Timestamp(rosetta_core::Timestamp::now().millis() - days as i64 * 86_400_000);
                        match rosetta_media::prune(store.clone(), &blobs, before).await {
                            Ok((0, _)) => {}
                            Ok((files, deleted)) => tracing::info!(files, deleted, "media retention pruned files"),
                            Err(e) => tracing::warn!(error = ?e, "media retention failed"),
                        }
                        actix_web::rt::time::sleep(Duration::from_secs(3600)).await;
                    }
                });
            }
            let app_state = state.clone();
            // Built once, shared by every worker: rate-limit counters must be too.
            let wacrm = dialects
                .contains(&Dialect::Wacrm)
                .then(|| rosetta_wacrm::Wacrm::shared(app_state.clone(), wacrm_limit));
            let kirim = dialects.contains(&Dialect::Kirim).then(|| {
                rosetta_kirim::Kirim::shared(app_state.clone(), options.rate_limit_per_minute, Some(graph.clone()))
            });
            let envelope = dialects.contains(&Dialect::Envelope).then(|| {
                let mut envelope = rosetta_envelope::Envelope::new(
                    app_state.clone(),
                    options
                        .rate_limit_per_minute
                        .unwrap_or(rosetta_envelope::DEFAULT_RATE_LIMIT_PER_MINUTE),
                    options.jwt_secret.as_deref(),
                );
                envelope.jwt_max_lifetime = options.jwt_max_lifetime_secs;
                actix_web::web::Data::new(envelope)
            });
            let metrics_apart = options.metrics_bind.clone();
            let metrics_on_main = metrics_apart.is_none();
            let metrics_state = app_state.clone();
            let server = actix_web::HttpServer::new(move || {
                let mut app = actix_web::App::new()
                    .app_data(actix_web::web::Data::new(app_state.clone()))
                    .configure(rosetta_http::health_routes)
                    .configure(rosetta_http::webhook::routes(webhook.clone()))
                    .configure(rosetta_media::serve::routes(blobs.clone()));
                if let Some(wacrm) = &wacrm {
                    app = app.configure(rosetta_wacrm::routes(wacrm.clone()));
                }
                if let Some(kirim) = &kirim {
                    app = app.configure(rosetta_kirim::routes(kirim.clone()));
                }
                if let Some(envelope) = &envelope {
                    app = app.configure(rosetta_envelope::routes(envelope.clone()));
                }
                if metrics_on_main {
                    app = app.configure(rosetta_http::metrics_routes);
                }
                app.default_service(actix_web::web::to(rosetta_http::not_found))
            })
            .workers(workers)
            .worker_max_blocking_threads(blocking_threads)
            .shutdown_timeout(30)
            .bind(&bind)?
            .run();
            // `/metrics` on its own address: one worker, nothing else served there.
            let metrics_server = match &metrics_apart {
                Some(address) => {
                    let metrics = actix_web::HttpServer::new(move || {
                        actix_web::App::new()
                            .app_data(actix_web::web::Data::new(metrics_state.clone()))
                            .configure(rosetta_http::metrics_routes)
                            .default_service(actix_web::web::to(rosetta_http::not_found))
                    })
                    .workers(1)
                    .disable_signals()
                    .bind(address)?
                    .run();
                    tracing::info!(bind = %address, "metrics listening");
                    let handle = metrics.handle();
                    actix_web::rt::spawn(metrics);
                    Some(handle)
                }
                None => None,
            };
            let outcome = server.await;
            if let Some(handle) = metrics_server {
                handle.stop(true).await;
            }
            rosetta_http::auth::flush_now(&state).await;
            tracing::info!(
                hits = state.renders.hits(),
                misses = state.renders.misses(),
                "shared renderings"
            );
            outcome
        })
        .map_err(|e| format!("server: {e}"))
}

/// The blocking-pool threads each worker may start (actix's default is 512 / workers).
///
/// On PostgreSQL every read and write runs on the blocking pool and holds a pooled connection for
/// its whole run, so a thread beyond the pool's size could only wait for one, yet costs a stack
/// and an allocator heap: at 32 connections the server ran 48 threads, and capping them here took
/// its peak RSS from 253 to 150 MiB (the rest was mimalloc's eager arena commit, see
/// `.cargo/config.toml`). The pool's size, shared out among the workers, is enough. On SQLite reads
/// run inline and webhook deliveries wait on the blocking pool for the group-commit writer
/// *without* a connection: there, more waiting threads mean bigger batches, so actix's default
/// stays.
pub fn blocking_threads_per_worker(backend: &str, pool_size: u32, workers: usize) -> usize {
    match backend {
        "sqlite" => 512 / workers.max(1),
        _ => (pool_size as usize).div_ceil(workers.max(1)).max(1),
    }
}

/// Where media is kept: the blob store's settings, for `serve` and `media prune`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct MediaStore {
    /// Where media is kept (a directory, content-addressed by sha256). Default: beside the SQLite
    /// file (`<file>.media`), or `rosetta-media` in the working directory on PostgreSQL. With
    /// --media-s3-url it holds only files on their way into the bucket.
    #[arg(long, env = "ROSETTA_MEDIA_DIR")]
    pub media_dir: Option<std::path::PathBuf>,
    /// Keep media in an S3-compatible bucket instead (AWS S3, MinIO, R2, …), for several instances:
    /// `s3://bucket` or `s3://bucket/prefix`. Credentials, region and endpoint come from the
    /// standard variables: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT (MinIO,
    /// R2), AWS_ALLOW_HTTP=true for a plain-HTTP endpoint.
    #[arg(long, env = "ROSETTA_MEDIA_S3_URL")]
    pub media_s3_url: Option<String>,
}

impl MediaStore {
    /// Opens the blob store these settings name.
    pub fn open(&self, database_url: &str) -> Result<rosetta_media::blobs::Blobs, String> {
        let dir = self
            .media_dir
            .clone()
            .unwrap_or_else(|| default_media_dir(database_url));
        match &self.media_s3_url {
            Some(url) => rosetta_media::blobs::S3Blobs::open(url, &[], &dir)
                .map(Into::into)
                .map_err(|e| format!("media store {url}: {e}")),
            None => rosetta_media::blobs::LocalBlobs::open(&dir)
                .map(Into::into)
                .map_err(|e| format!("media directory {}: {e}", dir.display())),
        }
    }
}

/// Where received media goes when `--media-dir` is not given: beside a SQLite file, else in the
/// working directory.
pub fn default_media_dir(database_url: &str) -> std::path::PathBuf {
    match database_url.strip_prefix("sqlite://") {
        Some(path) => std::path::PathBuf::from(format!("{path}.media")),
        None => std::path::PathBuf::from("rosetta-media"),
    }
}

/// A dialect's OpenAPI document, as committed under `openapi/`.
pub fn openapi(dialect: Dialect) -> Result<String, String> {
    match dialect {
        Dialect::Wacrm => Ok(rosetta_wacrm::openapi_json()),
        Dialect::Kirim => Ok(rosetta_kirim::openapi_json()),
        Dialect::Envelope => Ok(rosetta_envelope::openapi_json()),
    }
}

#[cfg(test)]
mod tests {
    use super::blocking_threads_per_worker;

    #[test]
    fn postgres_gets_the_pool_shared_out_and_sqlite_keeps_actix_default() {
        assert_eq!(blocking_threads_per_worker("postgres", 16, 2), 8);
        assert_eq!(blocking_threads_per_worker("postgres", 5, 2), 3);
        assert_eq!(blocking_threads_per_worker("postgres", 1, 4), 1);
        assert_eq!(blocking_threads_per_worker("sqlite", 16, 2), 256);
    }
}
