//! What `/metrics` shows, in Prometheus' text format (`prometheus-client`): requests by dialect,
//! route template and status class with their latency, rate-limit refusals, Meta's webhook
//! deliveries by outcome, and, read when scraped, the queues that leave the process (sends, event
//! deliveries, media fetches: depth and oldest age; disabled subscriptions) and the connection pool
//! (connections, idle, waits). Labels never name an organization, a key or a path's values.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub dialect: &'static str,
    /// The route template (`/api/v1/conversations/{id}`), or `(no route)`.
    pub route: String,
    /// `2xx`, `3xx`, `4xx`, `5xx`.
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub dialect: &'static str,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DialectLabels {
    pub dialect: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SendLabels {
    /// `sent`, `retry`, `failed`, `unknown`, `deferred`.
    pub outcome: &'static str,
    /// Meta's error code of a failed send, or empty.
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    /// `sends`, `event_deliveries`, `media_fetches`.
    pub queue: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    /// `in_use`, `idle`.
    pub state: &'static str,
}

/// One process's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
    rate_limited: Family<DialectLabels, Counter>,
    deliveries: Family<OutcomeLabels, Counter>,
    delivered_messages: Family<OutcomeLabels, Counter>,
    sends: Family<SendLabels, Counter>,
    webhook_attempts: Family<OutcomeLabels, Counter>,
    media_fetches: Family<OutcomeLabels, Counter>,
    queue_depth: Family<QueueLabels, Gauge>,
    queue_age: Family<QueueLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    disabled_subscriptions: Gauge,
    pool_connections: Family<PoolLabels, Gauge>,
    pool_waits: Counter,
    pool_waited: Counter<f64, std::sync::atomic::AtomicU64>,
    /// Held while the pool's counters are moved to the store's totals, so two scrapes at once
    /// cannot both add the same difference.
    pool_moves: std::sync::Mutex<()>,
    queues_unreadable: Counter,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to ~4 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0005, 2.0, 14,
    ))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("rosetta");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests a dialect answered, by dialect, route template and status class",
            requests.clone(),
        );
        let durations = Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival at its dialect to its response, by dialect and route template",
            prometheus_client::registry::Unit::Seconds,
            durations.clone(),
        );
        let rate_limited = Family::<DialectLabels, Counter>::default();
        registry.register(
            "rate_limit_refusals",
            "Requests refused with 429 because the caller's budget was spent",
            rate_limited.clone(),
        );
        let deliveries = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Meta's webhook deliveries: stored, refused (signature, size, shape) or failed (database)",
            deliveries.clone(),
        );
        let delivered_messages = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhook_messages",
            "Messages in Meta's deliveries: stored, or duplicated (a wamid already stored)",
            delivered_messages.clone(),
        );
        let sends = Family::<SendLabels, Counter>::default();
        registry.register(
            "sends",
            "Dispatch attempts of sends to Meta by outcome (sent, retry, failed, unknown, deferred by pacing) and, for a failure, Meta's error code",
            sends.clone(),
        );
        let webhook_attempts = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhook_attempts",
            "Attempts to deliver events to customers' webhook endpoints, by outcome (delivered, retry, failed for good)",
            webhook_attempts.clone(),
        );
        let media_fetches = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "media_fetches",
            "Attempts to download a received file from Meta into the media store, by outcome (stored, retry, failed for good)",
            media_fetches.clone(),
        );
        let queue_depth = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "queue_depth",
            "Items waiting in a queue that leaves the process (due, waiting for a retry, or claimed), read when scraped",
            queue_depth.clone(),
        );
        let queue_age = Family::<QueueLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register_with_unit(
            "queue_oldest_age",
            "How long the oldest item of a queue has waited (0 when it is empty)",
            prometheus_client::registry::Unit::Seconds,
            queue_age.clone(),
        );
        let disabled_subscriptions = Gauge::default();
        registry.register(
            "webhook_subscriptions_disabled",
            "Webhook subscriptions turned off, by their failures or their owner",
            disabled_subscriptions.clone(),
        );
        let pool_connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database connections of this instance's pool, in use or idle",
            pool_connections.clone(),
        );
        let pool_waits = Counter::default();
        registry.register(
            "db_pool_waits",
            "Checkouts that waited more than a millisecond for a connection",
            pool_waits.clone(),
        );
        let pool_waited = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register_with_unit(
            "db_pool_wait",
            "Time those checkouts waited, in all",
            prometheus_client::registry::Unit::Seconds,
            pool_waited.clone(),
        );
        let queues_unreadable = Counter::default();
        registry.register(
            "metrics_queue_read_failures",
            "Scrapes whose queue figures could not be read (the database was unavailable)",
            queues_unreadable.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            rate_limited,
            deliveries,
            delivered_messages,
            sends,
            webhook_attempts,
            media_fetches,
            queue_depth,
            queue_age,
            disabled_subscriptions,
            pool_connections,
            pool_waits,
            pool_waited,
            pool_moves: std::sync::Mutex::new(()),
            queues_unreadable,
        }
    }
}

/// A media fetch outcome's label: `stored`, `retry`, `failed`.
pub fn media_outcome(outcome: &rosetta_core::media::MediaOutcome) -> &'static str {
    use rosetta_core::media::MediaOutcome as O;
    match outcome {
        O::Stored { .. } => "stored",
        O::Retry { .. } => "retry",
        O::Failed { .. } => "failed",
    }
}

/// `2xx` … `5xx`.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    pub fn request(&self, dialect: &'static str, route: &str, status: u16, took: Duration) {
        let labels = RouteLabels {
            dialect,
            route: route.to_owned(),
        };
        self.durations.get_or_create(&labels).observe(took.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                dialect,
                route: labels.route,
                status: status_class(status),
            })
            .inc();
        if status == 429 {
            self.rate_limited.get_or_create(&DialectLabels { dialect }).inc();
        }
    }

    /// A webhook delivery's outcome: `stored`, `refused` or `failed`.
    pub fn delivery(&self, outcome: &'static str) {
        self.deliveries.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Messages of a stored delivery: new ones and duplicates.
    pub fn delivered(&self, stored: u64, duplicated: u64) {
        self.delivered_messages
            .get_or_create(&OutcomeLabels { outcome: "stored" })
            .inc_by(stored);
        self.delivered_messages
            .get_or_create(&OutcomeLabels { outcome: "duplicated" })
            .inc_by(duplicated);
    }

    /// A dispatch attempt's outcome, recorded.
    pub fn send(&self, outcome: &rosetta_core::DispatchOutcome) {
        use rosetta_core::DispatchOutcome as O;
        let (outcome, code) = match outcome {
            O::Sent { .. } => ("sent", String::new()),
            O::Retry { .. } => ("retry", String::new()),
            O::Failed { code, .. } => ("failed", code.map(|c| c.to_string()).unwrap_or_default()),
            O::Unknown { .. } => ("unknown", String::new()),
            O::Deferred { .. } => ("deferred", String::new()),
        };
        self.sends.get_or_create(&SendLabels { outcome, code }).inc();
    }

    /// An attempt to deliver an event to a customer's endpoint: `delivered`, `retry`, `failed`.
    pub fn webhook_attempt(&self, outcome: &'static str) {
        self.webhook_attempts.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// An attempt to download a received file, recorded (`media_outcome`'s label).
    pub fn media_fetch(&self, outcome: &'static str) {
        self.media_fetches.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Sets the figures read at scrape time: the queues (`None`: they could not be read, counted),
    /// and the pool.
    pub fn refresh(
        &self,
        queues: Option<rosetta_core::Queues>,
        pool: Option<rosetta_core::PoolState>,
        now: rosetta_core::Timestamp,
    ) {
        match queues {
            Some(q) => {
                for (queue, backlog) in [
                    ("sends", q.sends),
                    ("event_deliveries", q.event_deliveries),
                    ("media_fetches", q.media_fetches),
                ] {
                    let labels = QueueLabels { queue };
                    self.queue_depth.get_or_create(&labels).set(backlog.depth as i64);
                    let age = backlog
                        .oldest
                        .map_or(0.0, |t| (now.millis() - t.millis()).max(0) as f64 / 1000.0);
                    self.queue_age.get_or_create(&labels).set(age);
                }
                self.disabled_subscriptions.set(q.disabled_subscriptions as i64);
            }
            None => {
                self.queues_unreadable.inc();
            }
        }
        if let Some(pool) = pool {
            self.pool_connections
                .get_or_create(&PoolLabels { state: "idle" })
                .set(i64::from(pool.idle));
            self.pool_connections
                .get_or_create(&PoolLabels { state: "in_use" })
                .set(i64::from(pool.size.saturating_sub(pool.idle)));
            // Counters only go up: move them to the store's totals, one scrape at a time.
            let _moving = self.pool_moves.lock().unwrap_or_else(|e| e.into_inner());
            let waits = pool.waits.saturating_sub(self.pool_waits.get());
            self.pool_waits.inc_by(waits);
            let waited = pool.waited_micros as f64 / 1e6 - self.pool_waited.get();
            if waited > 0.0 {
                self.pool_waited.inc_by(waited);
            }
        }
    }

    /// The text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// `GET /metrics`.
pub async fn serve(state: actix_web::web::Data<crate::AppState>) -> actix_web::HttpResponse {
    let queues = state.run(|store| store.queues()).await;
    if let Err(e) = &queues {
        tracing::warn!(error = ?e, "metrics: the queues could not be read");
    }
    state
        .metrics
        .refresh(queues.ok(), state.store.pool(), rosetta_core::Timestamp::now());
    actix_web::HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_scrapes_move_the_pool_counters_once() {
        let metrics = std::sync::Arc::new(Metrics::default());
        let pool = rosetta_core::PoolState {
            size: 4,
            idle: 1,
            waits: 1_000,
            waited_micros: 2_500_000,
        };
        let scrapes: Vec<_> = (0..8)
            .map(|_| {
                let metrics = metrics.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        metrics.refresh(None, Some(pool), rosetta_core::Timestamp(0));
                    }
                })
            })
            .collect();
        for s in scrapes {
            s.join().unwrap();
        }
        let text = metrics.encode();
        for line in [
            "rosetta_db_pool_waits_total 1000",
            "rosetta_db_pool_wait_seconds_total 2.5",
            r#"rosetta_db_pool_connections{state="in_use"} 3"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}: {text}");
        }
    }
}
