//! What `/metrics` shows, in Prometheus' text format (`prometheus-client`): requests by dialect,
//! route template and status class with their latency, rate-limit refusals, and Meta's webhook
//! deliveries by outcome. Labels never name an organization, a key or a path's values.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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

/// One process's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
    rate_limited: Family<DialectLabels, Counter>,
    deliveries: Family<OutcomeLabels, Counter>,
    delivered_messages: Family<OutcomeLabels, Counter>,
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
        Metrics {
            registry,
            requests,
            durations,
            rate_limited,
            deliveries,
            delivered_messages,
        }
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
        self.requests
            .get_or_create(&RequestLabels {
                dialect,
                route: route.to_owned(),
                status: status_class(status),
            })
            .inc();
        self.durations
            .get_or_create(&RouteLabels {
                dialect,
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
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

    /// The text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// `GET /metrics`.
pub async fn serve(state: actix_web::web::Data<crate::AppState>) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.encode())
}
