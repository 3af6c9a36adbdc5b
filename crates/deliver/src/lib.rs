//! Events out to customers' endpoints: the fan-out of the event log to webhook subscriptions, and
//! the delivery worker `serve` runs (unless `--no-dispatch`).
//!
//! - **Fan-out** (`Deliverer::fan_out`): woken when the log's end moves (`Live::fan_out`, from the
//!   watcher every instance runs) or every second, it asks the store to turn the events after each
//!   active subscription's cursor into that subscription's deliveries, rendered by its dialect
//!   (`Store::fan_out_events`; each event once per subscription, in the transaction that moves the
//!   cursor), and wakes the claimer.
//! - **Delivery** (`Deliverer::run`): claims due deliveries while fewer than `in_flight` attempts
//!   run, each attempt a task of its own, at most `per_webhook` at once to one subscription (a
//!   subscription at its bound is left out of the next claims), so a slow or dead receiver holds
//!   up only its own deliveries. An attempt POSTs the stored body with the dialect's headers and
//!   signature (`rosetta_http::events::Outbound`), within the dialect's timeout, following no
//!   redirect, through the address guard (`guard`); a 2xx delivers it; otherwise the dialect's
//!   policy (`DeliveryPolicy`: which failures are retried, the schedule with jitter; a 429's
//!   `Retry-After` is honoured up to an hour) makes it due again or failed. Every attempt is logged
//!   with its status, duration, error and the first 1 KiB of the answer, in coalesced transactions.
//! - **At least once**: a delivery is written before it is attempted, and a claim whose worker died
//!   is due again when its lease runs out, so a crash repeats an attempt rather than losing one; the
//!   receiver dedupes on the dialect's key (wacrm's body `id`, `X-Kirim-Event-Id`,
//!   `X-Webhook-Delivery-Id`).

pub mod guard;
pub mod receiver;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use rosetta_core::webhooks::{
    AttemptRecord, DeliveryJob, DeliveryNext, DeliveryOutcome, DeliveryPolicy, EXCERPT_BYTES,
};
use rosetta_core::{Dialect, Error, Id, Store, Timestamp};
use rosetta_http::events::{Attempt, Live, Outbound};
use tokio::sync::{mpsc, Notify, Semaphore};

pub use guard::Guard;

/// How the worker claims and attempts.
#[derive(Debug, Clone)]
pub struct DeliverConfig {
    /// Each dialect's timeouts, retries and disable bound.
    pub policies: HashMap<Dialect, DeliveryPolicy>,
    /// How long a claim holds a delivery (longer than any timeout): a claim whose worker died is
    /// attempted again after it.
    pub lease: Duration,
    /// Deliveries claimed at once.
    pub batch: u32,
    /// Attempts running at once.
    pub in_flight: usize,
    /// Attempts running at once to one subscription (claimed in batches of half of it).
    pub per_webhook: usize,
    /// The wait when nothing is due (retries come due without a signal).
    pub idle_poll: Duration,
    /// The wait of the fan-out when nothing woke it.
    pub fan_out_poll: Duration,
    /// Events fanned out per subscription a round.
    pub fan_out_batch: u32,
    /// Lets endpoints be loopback, private or link-local, and plain http.
    pub allow_private: bool,
    /// Names answered without DNS (see `Guard::fixed`).
    pub fixed_names: HashMap<String, Vec<std::net::IpAddr>>,
}

impl Default for DeliverConfig {
    fn default() -> Self {
        DeliverConfig {
            policies: Dialect::ALL
                .into_iter()
                .map(|d| (d, DeliveryPolicy::for_dialect(d)))
                .collect(),
            lease: Duration::from_secs(60),
            batch: 128,
            in_flight: 256,
            per_webhook: 32,
            idle_poll: Duration::from_millis(250),
            fan_out_poll: Duration::from_secs(1),
            fan_out_batch: 1000,
            allow_private: false,
            fixed_names: HashMap::new(),
        }
    }
}

/// Each dialect's rendering and headers (the dialect crates' `events::OUTBOUND`).
pub type Formats = fn(Dialect) -> Outbound;

/// The fan-out and the delivery worker.
#[derive(Clone)]
pub struct Deliverer {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    config: Arc<DeliverConfig>,
    formats: Formats,
    live: Arc<Live>,
    /// Wakes the claimer: deliveries were made, or a busy subscription has room again.
    wake: Arc<Notify>,
    /// Attempts running per subscription.
    running: Arc<Mutex<HashMap<Id, usize>>>,
    metrics: Option<Arc<rosetta_http::metrics::Metrics>>,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer").field("config", &self.config).finish()
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Error> + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("blocking task failed: {e}")))?
}

/// Why an attempt got no usable answer.
struct Failure {
    error: String,
    /// Whether trying again could help (a refused address or a bad URL cannot).
    retryable: bool,
}

/// What an attempt got back.
struct Answer {
    status: u16,
    excerpt: Option<String>,
    retry_after: Option<Duration>,
    location: Option<String>,
}

impl Deliverer {
    /// `live` is the watcher's signal (`AppState::live`); a fresh one for tools and tests.
    pub fn new(
        store: Arc<dyn Store>,
        formats: Formats,
        config: DeliverConfig,
        live: Arc<Live>,
    ) -> Result<Deliverer, String> {
        let guard = Guard {
            allow_private: config.allow_private,
            fixed: Arc::new(config.fixed_names.clone()),
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(guard))
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("Rosetta-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("webhook client: {e}"))?;
        // A claim outlives its attempt: a lease shorter than a timeout would let a second worker
        // attempt a delivery the first is still waiting on.
        let mut config = config;
        let longest = config.policies.values().map(|p| p.timeout).max().unwrap_or_default();
        config.lease = config.lease.max(longest + Duration::from_secs(1));
        Ok(Deliverer {
            store,
            client,
            config: Arc::new(config),
            formats,
            live,
            wake: Arc::new(Notify::new()),
            running: Arc::default(),
            metrics: None,
        })
    }

    /// Counts each attempt's outcome in `metrics` (`rosetta_webhook_attempts_total`).
    pub fn with_metrics(mut self, metrics: Arc<rosetta_http::metrics::Metrics>) -> Deliverer {
        self.metrics = Some(metrics);
        self
    }

    fn policy(&self, dialect: Dialect) -> DeliveryPolicy {
        self.config
            .policies
            .get(&dialect)
            .cloned()
            .unwrap_or_else(|| DeliveryPolicy::for_dialect(dialect))
    }

    /// One fan-out round: what it passed over and made.
    pub async fn fan_out_once(&self) -> Result<rosetta_core::webhooks::FanOut, Error> {
        let (store, formats, batch) = (self.store.clone(), self.formats, self.config.fan_out_batch);
        let done = blocking(move || store.fan_out_events(&move |d, e, s| (formats(d).render)(e, s), batch)).await?;
        if done.deliveries > 0 {
            self.wake.notify_one();
        }
        Ok(done)
    }

    /// Runs the fan-out until the process stops.
    pub async fn fan_out(self) {
        loop {
            match self.fan_out_once().await {
                // More may be waiting behind a full round.
                Ok(done) if done.events > 0 => continue,
                Ok(_) => {
                    let _ = actix_web::rt::time::timeout(self.config.fan_out_poll, self.live.fan_out.notified()).await;
                }
                Err(e) => {
                    tracing::warn!(error = ?e, "could not fan events out to webhook subscriptions");
                    actix_web::rt::time::sleep(self.config.fan_out_poll).await;
                }
            }
        }
    }

    /// A claim takes at most half a subscription's bound, and a subscription with more than half
    /// its bound running is left out of claims: so at most the bound run at once, and a busy
    /// subscription is claimed for again in batches, when half its attempts have ended.
    fn half(&self) -> usize {
        (self.config.per_webhook / 2).max(1)
    }

    /// The subscriptions with more than half their bound of attempts running.
    fn busy(&self) -> Vec<Id> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running
            .iter()
            .filter(|(_, n)| **n > self.half())
            .map(|(id, _)| *id)
            .collect()
    }

    fn started(&self, webhook: Id) {
        *self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(webhook)
            .or_default() += 1;
    }

    fn ended(&self, webhook: Id) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = running.get_mut(&webhook) {
            *n -= 1;
            if *n == self.half() {
                // No longer busy: its waiting deliveries may be claimed.
                self.wake.notify_one();
            }
            if *n == 0 {
                running.remove(&webhook);
            }
        }
    }

    async fn claim(&self, limit: u32) -> Result<Vec<DeliveryJob>, Error> {
        let (store, busy) = (self.store.clone(), self.busy());
        let (lease, per) = (self.config.lease.as_millis() as i64, self.half() as u32);
        blocking(move || store.claim_webhook_deliveries(Timestamp::now(), lease, limit, per, &busy)).await
    }

    /// Records outcomes in one transaction (tried a few times: a lost record leaves the delivery to
    /// its lease, and so to another attempt).
    async fn record(&self, outcomes: Vec<(Id, DeliveryOutcome)>) -> Result<(), Error> {
        // Counted as made (before they are recorded: an attempt happened whether or not its record
        // is lost).
        if let Some(metrics) = &self.metrics {
            for (_, outcome) in &outcomes {
                metrics.webhook_attempt(match outcome.next {
                    rosetta_core::webhooks::DeliveryNext::Delivered => "delivered",
                    rosetta_core::webhooks::DeliveryNext::Retry { .. } => "retry",
                    rosetta_core::webhooks::DeliveryNext::Failed => "failed",
                });
            }
        }
        let outcomes = Arc::new(outcomes);
        let mut tries = 0;
        loop {
            let (store, outcomes) = (self.store.clone(), outcomes.clone());
            match blocking(move || store.finish_webhook_deliveries(&outcomes)).await {
                Ok(()) => return Ok(()),
                Err(e) if tries < 3 => {
                    tries += 1;
                    tracing::warn!(error = ?e, "could not record webhook deliveries; trying again");
                    actix_web::rt::time::sleep(Duration::from_millis(200 * tries)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Records what arrives on `finished` until every sender is gone, whatever finished while the
    /// last write ran going in the next one.
    async fn recorder(&self, mut finished: mpsc::UnboundedReceiver<(Id, DeliveryOutcome)>) {
        while let Some(first) = finished.recv().await {
            let mut outcomes = vec![first];
            while let Ok(more) = finished.try_recv() {
                outcomes.push(more);
            }
            if let Err(e) = self.record(outcomes).await {
                tracing::error!(error = ?e, "webhook delivery outcomes could not be recorded; their leases will bring them back");
            }
        }
    }

    fn start(
        &self,
        job: DeliveryJob,
        done: mpsc::UnboundedSender<(Id, DeliveryOutcome)>,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> actix_web::rt::task::JoinHandle<()> {
        self.started(job.webhook_id);
        let this = self.clone();
        actix_web::rt::spawn(async move {
            let outcome = this.attempt(&job).await;
            this.ended(job.webhook_id);
            let _ = done.send((job.id, outcome));
            drop(permit);
        })
    }

    /// One round, for tests and tools: fans out, claims one batch, attempts it, records every
    /// outcome; how many deliveries it attempted.
    pub async fn run_once(&self) -> Result<usize, Error> {
        self.fan_out_once().await?;
        let jobs = self.claim(self.config.batch).await?;
        let n = jobs.len();
        let (done, finished) = mpsc::unbounded_channel();
        let tasks: Vec<_> = jobs
            .into_iter()
            .map(|job| self.start(job, done.clone(), None))
            .collect();
        drop(done);
        let (_, ()) = futures_util::future::join(futures_util::future::join_all(tasks), self.recorder(finished)).await;
        Ok(n)
    }

    /// Runs the fan-out and the deliveries until the process stops.
    pub async fn run(self) {
        actix_web::rt::spawn(self.clone().fan_out());
        let permits = Arc::new(Semaphore::new(self.config.in_flight.max(1)));
        let (done, finished) = mpsc::unbounded_channel();
        let recorder = self.clone();
        actix_web::rt::spawn(async move { recorder.recorder(finished).await });
        loop {
            let free = permits.available_permits().min(self.config.batch as usize);
            if free == 0 {
                drop(permits.acquire().await);
                continue;
            }
            match self.claim(free as u32).await {
                Ok(jobs) if jobs.is_empty() => {
                    let _ = actix_web::rt::time::timeout(self.config.idle_poll, self.wake.notified()).await;
                }
                Ok(jobs) => {
                    for job in jobs {
                        let permit = permits.clone().acquire_owned().await.ok();
                        self.start(job, done.clone(), permit);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = ?e, "could not claim webhook deliveries");
                    actix_web::rt::time::sleep(self.config.idle_poll).await;
                }
            }
        }
    }

    /// Attempts one delivery: what was logged, and what follows.
    pub async fn attempt(&self, job: &DeliveryJob) -> DeliveryOutcome {
        let policy = self.policy(job.dialect);
        let started_at = Timestamp::now();
        let clock = Instant::now();
        let answer = self.post(job, &policy).await;
        let duration_ms = clock.elapsed().as_millis() as i64;
        let later = |wait: Duration| Timestamp(Timestamp::now().millis() + wait.as_millis() as i64);
        let jitter: f64 = rand::rng().random();
        let (record, next) = match answer {
            Ok(answer) if (200..300).contains(&answer.status) => (
                AttemptRecord {
                    started_at,
                    duration_ms,
                    status_code: Some(answer.status),
                    error: None,
                    excerpt: answer.excerpt,
                },
                DeliveryNext::Delivered,
            ),
            Ok(answer) => {
                let error = match &answer.location {
                    Some(to) => format!(
                        "the endpoint answered {} (redirects are not followed; Location: {to})",
                        answer.status
                    ),
                    None => format!("the endpoint answered {}", answer.status),
                };
                let next = match policy.retryable(Some(answer.status)) {
                    true => policy.next_delay(job.attempt, jitter).map(|wait| {
                        let asked = answer.retry_after.filter(|r| *r <= Duration::from_secs(3600));
                        DeliveryNext::Retry {
                            at: later(asked.map_or(wait, |r| r.max(wait))),
                        }
                    }),
                    false => None,
                };
                (
                    AttemptRecord {
                        started_at,
                        duration_ms,
                        status_code: Some(answer.status),
                        error: Some(error),
                        excerpt: answer.excerpt,
                    },
                    next.unwrap_or(DeliveryNext::Failed),
                )
            }
            Err(failure) => {
                let next = failure
                    .retryable
                    .then(|| policy.next_delay(job.attempt, jitter))
                    .flatten()
                    .map(|wait| DeliveryNext::Retry { at: later(wait) });
                (
                    AttemptRecord {
                        started_at,
                        duration_ms,
                        status_code: None,
                        error: Some(failure.error),
                        excerpt: None,
                    },
                    next.unwrap_or(DeliveryNext::Failed),
                )
            }
        };
        if next == DeliveryNext::Failed {
            tracing::warn!(delivery = %job.id, webhook = %job.webhook_id, attempt = job.attempt,
                error = record.error.as_deref().unwrap_or(""), "webhook delivery failed");
        }
        DeliveryOutcome {
            attempt: job.attempt,
            record,
            next,
            disable_after: policy.disable_after,
        }
    }

    /// The POST itself.
    async fn post(&self, job: &DeliveryJob, policy: &DeliveryPolicy) -> Result<Answer, Failure> {
        let fixed = |error: String| Failure {
            error,
            retryable: false,
        };
        let url = reqwest::Url::parse(&job.url).map_err(|_| fixed("the endpoint URL is not a URL".into()))?;
        match url.scheme() {
            "https" => {}
            "http" if self.config.allow_private => {}
            other => {
                return Err(fixed(format!(
                    "{other}:// endpoints are refused: https only (--allow-private-webhook-targets allows http)"
                )))
            }
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(v4)) => Some(std::net::IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(std::net::IpAddr::V6(v6)),
            _ => None,
        };
        if let Some(addr) = literal.filter(|a| !self.config.allow_private && rosetta_core::webhooks::is_private(*a)) {
            return Err(fixed(
                guard::Refused {
                    host: addr.to_string(),
                    addr,
                }
                .to_string(),
            ));
        }
        let format = (self.formats)(job.dialect);
        let timestamp = Timestamp::now().millis() / 1000;
        let attempt = Attempt {
            webhook_id: job.webhook_id,
            delivery_id: job.id,
            event_name: &job.event_name,
            dedupe_key: &job.dedupe_key,
            source: &job.source,
            number: job.attempt,
            timestamp,
            body: job.body.as_bytes(),
            secrets: &job.secrets,
        };
        let mut request = self
            .client
            .post(url)
            .timeout(policy.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in (format.headers)(&attempt) {
            request = request.header(name, value);
        }
        let mut response = request.body(job.body.clone()).send().await.map_err(|e| {
            let refused = std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |s| s.source())
                .find_map(|s| s.downcast_ref::<guard::Refused>().cloned());
            match refused {
                Some(refused) => fixed(refused.to_string()),
                None if e.is_timeout() => Failure {
                    error: format!("no answer within {} s", policy.timeout.as_secs_f64()),
                    retryable: true,
                },
                None if e.is_connect() => Failure {
                    error: format!("could not connect: {}", root_cause(&e)),
                    retryable: true,
                },
                None => Failure {
                    error: format!("the request failed: {}", root_cause(&e)),
                    retryable: true,
                },
            }
        })?;
        let status = response.status().as_u16();
        let header = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = (300..400)
            .contains(&status)
            .then(|| header(reqwest::header::LOCATION))
            .flatten();
        let retry_after = header(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // The first bytes of the answer, within the same timeout; the rest is not read.
        let mut excerpt = Vec::new();
        while excerpt.len() < EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                _ => break,
            }
        }
        excerpt.truncate(EXCERPT_BYTES);
        // A multi-byte character cut at the end shows as one replacement character.
        let excerpt = (!excerpt.is_empty()).then(|| String::from_utf8_lossy(&excerpt).into_owned());
        Ok(Answer {
            status,
            excerpt,
            retry_after,
            location,
        })
    }
}

/// The innermost cause of an error, in its own words (reqwest's outer text says only "error
/// sending request").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
