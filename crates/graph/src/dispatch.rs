//! The dispatch worker: claims due jobs from the store's outbox, sends each through the Graph API
//! client, and records the outcome by the retry classes (`GraphError::disposition`):
//! - accepted: the message is `sent` with its `wamid`;
//! - retry (network, 5xx, 131000, 130429): due again after an exponential backoff with jitter,
//!   until the job's deadline; 131056 waits at least the per-recipient spacing;
//! - outcome unknown (no answer in time): never resent blindly; it waits `unknown_for` for a status
//!   webhook naming the message (`biz_opaque_callback_data`) and then fails as "outcome unknown";
//! - fail (131047, 131026, 131048, 131049, 368, 100, 132xxx, 190, other 4xx): failed at once with
//!   Meta's code and details; an account without a token fails as not configured.
//!
//! A send of a file uploaded to Rosetta (`DispatchJob::file`) first uploads it to Meta (`POST
//! /{phone_number_id}/media`, streamed from the blob store through `FileSource`) unless Meta's id
//! for it is known and fresh, remembers Meta's id (on the message's file and the upload, so one file
//! sent often goes up once in Meta's 30 days), and sends by that id. An upload that got no answer is
//! simply tried again (a second upload is harmless, unlike a second send).
//!
//! A worker that dies mid-attempt leaves its claim to run out: the store then treats the job as
//! outcome unknown too (`Store::claim_dispatch`). Store calls run on the blocking pool.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rosetta_core::outbox::{backoff, DispatchJob, DispatchOutcome};
use rosetta_core::{AccessToken, Error, Id, Store, Timestamp};

use tokio::sync::{mpsc, watch, Semaphore};

use crate::pacing::{Pacer, PacingConfig};
use crate::{Disposition, GraphClient};
use rosetta_http::sending::Sending;

/// How the worker paces and retries.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// How long a claim holds a job (longer than the client's timeout).
    pub lease: Duration,
    /// How long an unknown outcome waits for a status webhook before it fails.
    pub unknown_for: Duration,
    /// Jobs claimed at once.
    pub batch: u32,
    /// The wait when nothing is due.
    pub idle_poll: Duration,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// The least wait before another send to a recipient after 131056 (Meta: about 6 s).
    pub recipient_spacing: Duration,
    /// Per-number rate and per-recipient spacing (`pacing`).
    pub pacing: PacingConfig,
    /// Attempts running at once (`run`).
    pub in_flight: usize,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            lease: Duration::from_secs(60),
            unknown_for: Duration::from_secs(600),
            batch: 50,
            idle_poll: Duration::from_millis(250),
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
            recipient_spacing: Duration::from_secs(6),
            pacing: PacingConfig::default(),
            in_flight: 256,
        }
    }
}

/// A file opened for upload: its bytes as a streamed request body, and its length.
pub type OpenedFile<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<(reqwest::Body, u64)>> + Send + 'a>>;

/// Where the dispatcher reads the files of sends from (the blob store).
pub trait FileSource: Send + Sync + std::fmt::Debug {
    fn open<'a>(&'a self, blob: &'a str) -> OpenedFile<'a>;
}

/// Claims, sends and records; `run` loops until the process stops.
#[derive(Clone)]
pub struct Dispatcher {
    store: Arc<dyn Store>,
    graph: GraphClient,
    config: DispatchConfig,
    signals: Option<Arc<Sending>>,
    pacer: Arc<Pacer>,
    files: Option<Arc<dyn FileSource>>,
    metrics: Option<Arc<rosetta_http::metrics::Metrics>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").field("config", &self.config).finish()
    }
}

/// Each account's token, as read for a claim.
type Tokens = HashMap<Id, Result<Option<AccessToken>, Error>>;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Error> + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("blocking task failed: {e}")))?
}

impl Dispatcher {
    pub fn new(store: Arc<dyn Store>, graph: GraphClient, config: DispatchConfig) -> Dispatcher {
        Dispatcher {
            store,
            graph,
            pacer: Arc::new(Pacer::new(config.pacing.clone())),
            config,
            signals: None,
            files: None,
            metrics: None,
        }
    }

    /// Reads the files of sends of uploaded files from `files` (without it such a send fails,
    /// saying so).
    pub fn with_files(mut self, files: Arc<dyn FileSource>) -> Dispatcher {
        self.files = Some(files);
        self
    }

    /// Wakes on every send queued in this process (instead of waiting for the next poll), and
    /// tells the requests waiting on a message when its attempt finished.
    pub fn with_signals(mut self, signals: Arc<Sending>) -> Dispatcher {
        self.signals = Some(signals);
        self
    }

    /// Counts each recorded outcome in `metrics` (`rosetta_sends_total`).
    pub fn with_metrics(mut self, metrics: Arc<rosetta_http::metrics::Metrics>) -> Dispatcher {
        self.metrics = Some(metrics);
        self
    }

    /// Claims up to `limit` due jobs, with each of their accounts' tokens (read once).
    async fn claim(&self, limit: u32) -> Result<(Vec<DispatchJob>, Arc<Tokens>), Error> {
        let store = self.store.clone();
        let (lease, unknown_for) = (
            self.config.lease.as_millis() as i64,
            self.config.unknown_for.as_millis() as i64,
        );
        let jobs = blocking(move || store.claim_dispatch(Timestamp::now(), lease, unknown_for, limit)).await?;
        if jobs.is_empty() {
            return Ok((jobs, Arc::default()));
        }
        let mut accounts: Vec<(Id, Id)> = jobs.iter().map(|j| (j.org_id, j.account_id)).collect();
        accounts.sort();
        accounts.dedup();
        let store = self.store.clone();
        let tokens: Tokens = blocking(move || {
            Ok(accounts
                .into_iter()
                .map(|(org, account)| (account, store.account_token(org, account)))
                .collect())
        })
        .await?;
        Ok((jobs, Arc::new(tokens)))
    }

    /// Starts one job's attempt as a task of its own. A recipient's messages go in claim order:
    /// each waits for the one before it to that recipient (`chains`); different recipients go at
    /// once. The outcome goes to `done`.
    fn start(
        &self,
        job: DispatchJob,
        tokens: Arc<Tokens>,
        chains: &mut HashMap<String, watch::Receiver<bool>>,
        done: mpsc::UnboundedSender<(Id, DispatchOutcome)>,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> actix_web::rt::task::JoinHandle<()> {
        let (finished, this_one) = watch::channel(false);
        let before = chains.insert(job.recipient.clone(), this_one);
        let this = self.clone();
        actix_web::rt::spawn(async move {
            if let Some(mut before) = before {
                // The earlier message settled (or its task ended): this one may go.
                let _ = before.wait_for(|settled| *settled).await;
            }
            let message = job.message_id;
            let outcome = this.attempt(job, &tokens).await;
            let _ = done.send((message, outcome));
            let _ = finished.send(true);
            drop(permit);
        })
    }

    /// Records outcomes in one transaction (tried a few times: a lost record leaves the job to
    /// its lease, and so to "outcome unknown"), then tells the requests waiting on them.
    async fn record(&self, outcomes: Vec<(Id, DispatchOutcome)>) -> Result<(), Error> {
        let attempted: Vec<Id> = outcomes
            .iter()
            .filter(|(_, o)| !matches!(o, DispatchOutcome::Deferred { .. }))
            .map(|(id, _)| *id)
            .collect();
        let outcomes = Arc::new(outcomes);
        let mut tries = 0;
        loop {
            let (store, outcomes) = (self.store.clone(), outcomes.clone());
            match blocking(move || store.finish_dispatches(&outcomes)).await {
                Ok(()) => break,
                Err(e) if tries < 3 => {
                    tries += 1;
                    tracing::warn!(error = ?e, "could not record dispatch outcomes; trying again");
                    actix_web::rt::time::sleep(Duration::from_millis(200 * tries)).await;
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(metrics) = &self.metrics {
            for (_, outcome) in outcomes.iter() {
                metrics.send(outcome);
            }
        }
        if let Some(signals) = &self.signals {
            for id in attempted {
                signals.attempted(id);
            }
        }
        Ok(())
    }

    /// Records what arrives on `finished` until every sender is gone: whatever finished while
    /// the last write ran goes in the next one, so a quiet moment writes each outcome at once and
    /// a busy one writes few, larger transactions.
    async fn recorder(&self, mut finished: mpsc::UnboundedReceiver<(Id, DispatchOutcome)>) -> Result<(), Error> {
        while let Some(first) = finished.recv().await {
            let mut outcomes = vec![first];
            while let Ok(more) = finished.try_recv() {
                outcomes.push(more);
            }
            self.record(outcomes).await?;
        }
        Ok(())
    }

    /// One round, for tests and tools: claims one batch, attempts every job, records every
    /// outcome; how many jobs it claimed.
    pub async fn run_once(&self) -> Result<usize, Error> {
        let (jobs, tokens) = self.claim(self.config.batch).await?;
        let n = jobs.len();
        let (done, finished) = mpsc::unbounded_channel();
        let mut chains = HashMap::new();
        let tasks: Vec<_> = jobs
            .into_iter()
            .map(|job| self.start(job, tokens.clone(), &mut chains, done.clone(), None))
            .collect();
        drop(done);
        let (_, recorded) =
            futures_util::future::join(futures_util::future::join_all(tasks), self.recorder(finished)).await;
        recorded?;
        Ok(n)
    }

    /// Runs until the process stops: claims whenever a send is queued (or every `idle_poll`) and
    /// fewer than `in_flight` attempts are running, so one slow call never holds up the others.
    /// A store fault is logged and tried again.
    pub async fn run(self) {
        let permits = Arc::new(Semaphore::new(self.config.in_flight.max(1)));
        let (done, finished) = mpsc::unbounded_channel();
        let recorder = self.clone();
        actix_web::rt::spawn(async move {
            if let Err(e) = recorder.recorder(finished).await {
                tracing::error!(error = ?e, "dispatch outcomes could not be recorded; the jobs will be resolved by their leases");
            }
        });
        let mut chains: HashMap<String, watch::Receiver<bool>> = HashMap::new();
        loop {
            chains.retain(|_, settled| !*settled.borrow() && settled.has_changed().is_ok());
            let free = permits.available_permits().min(self.config.batch as usize);
            if free == 0 {
                // Wait for an attempt to finish.
                drop(permits.acquire().await);
                continue;
            }
            match self.claim(free as u32).await {
                Ok((jobs, _)) if jobs.is_empty() => match &self.signals {
                    Some(signals) => {
                        let _ = actix_web::rt::time::timeout(self.config.idle_poll, signals.queued.notified()).await;
                    }
                    None => actix_web::rt::time::sleep(self.config.idle_poll).await,
                },
                Ok((jobs, tokens)) => {
                    for job in jobs {
                        let permit = permits.clone().acquire_owned().await.ok();
                        self.start(job, tokens.clone(), &mut chains, done.clone(), permit);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = ?e, "could not claim dispatch jobs");
                    actix_web::rt::time::sleep(self.config.idle_poll).await;
                }
            }
        }
    }

    /// Attempts one job: what came of it (`Deferred` when pacing held it back unattempted).
    async fn attempt(
        &self,
        job: DispatchJob,
        tokens: &HashMap<Id, Result<Option<AccessToken>, Error>>,
    ) -> DispatchOutcome {
        let now = Timestamp::now();
        let later = |wait: Duration| Timestamp(now.millis() + wait.as_millis() as i64);
        if let Err(wait) = self.pacer.recipient_turn(&job.recipient, std::time::Instant::now()) {
            return DispatchOutcome::Deferred { at: later(wait) };
        }
        let retry_wait = backoff(
            job.attempts,
            self.config.base_backoff,
            self.config.max_backoff,
            rand::rng().random::<f64>(),
        );
        let token = tokens
            .get(&job.account_id)
            .cloned()
            .unwrap_or_else(|| Err(Error::Internal("no token read for the account".into())));
        match token {
            Err(e) => {
                // Nothing was sent: try again later.
                tracing::warn!(error = ?e, "could not read the account's token");
                DispatchOutcome::Retry {
                    at: later(retry_wait),
                    error: "the account's token could not be read".into(),
                }
            }
            Ok(None) => DispatchOutcome::Failed {
                code: None,
                title: "whatsapp_not_configured: the WhatsApp account has no access token (rosetta account set-token)"
                    .into(),
            },
            Ok(Some(token)) => match self.with_media_id(job, &token, later(retry_wait)).await {
                Err(outcome) => outcome,
                Ok(job) => self.sent(job, &token, retry_wait, later).await,
            },
        }
    }

    /// A send of an uploaded file, with Meta's id for it in its payload (uploading it first when
    /// Meta has none fresh); any other send as it is. `Err` is the attempt's outcome when the
    /// upload did not succeed (nothing was sent).
    async fn with_media_id(
        &self,
        mut job: DispatchJob,
        token: &AccessToken,
        retry_at: Timestamp,
    ) -> Result<DispatchJob, DispatchOutcome> {
        let Some(file) = job.file.clone() else {
            return Ok(job);
        };
        let media_id = match file.media_id {
            Some(media_id) => media_id,
            None => {
                let Some(files) = &self.files else {
                    return Err(DispatchOutcome::Failed {
                        code: None,
                        title: "this instance has no media store to read the uploaded file from".into(),
                    });
                };
                let (body, length) = match files.open(&file.blob).await {
                    Ok(opened) => opened,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(DispatchOutcome::Failed {
                            code: None,
                            title: "the uploaded file was removed (retention) before it was sent".into(),
                        })
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read a file to upload");
                        return Err(DispatchOutcome::Retry {
                            at: retry_at,
                            error: format!("the file could not be read from the media store: {e}"),
                        });
                    }
                };
                let uploaded = self
                    .graph
                    .upload_media(
                        &job.phone_number_id,
                        token,
                        body,
                        length,
                        &file.mime_type,
                        &file.filename,
                    )
                    .await;
                match uploaded {
                    Ok(media_id) => {
                        let store = self.store.clone();
                        let (message, upload, account, id) =
                            (job.message_id, file.upload_id, job.account_id, media_id.clone());
                        if let Err(e) = blocking(move || store.remember_meta_media(message, upload, account, &id)).await
                        {
                            // Only reuse is lost: the next attempt uploads again.
                            tracing::warn!(error = ?e, "could not remember Meta's id for an uploaded file");
                        }
                        media_id
                    }
                    Err(e) => {
                        let error = format!("uploading the file to Meta failed: {e}");
                        return Err(match e.disposition() {
                            Disposition::Retry | Disposition::RetryRecipientLater | Disposition::OutcomeUnknown => {
                                DispatchOutcome::Retry { at: retry_at, error }
                            }
                            Disposition::Fail => DispatchOutcome::Failed {
                                code: e.code(),
                                title: format!("uploading the file to Meta failed: {}", e.title()),
                            },
                            Disposition::FailTokenInvalid => {
                                self.flag_token(&job).await;
                                DispatchOutcome::Failed {
                                    code: e.code(),
                                    title: e.title(),
                                }
                            }
                        });
                    }
                }
            }
        };
        let kind = job.payload["type"].as_str().unwrap_or_default().to_owned();
        match job.payload.get_mut(&kind).and_then(|o| o.as_object_mut()) {
            Some(object) => {
                object.insert("id".into(), serde_json::Value::String(media_id));
            }
            None => {
                return Err(DispatchOutcome::Failed {
                    code: None,
                    title: format!("the queued send has no {kind} object to put the file in"),
                })
            }
        }
        Ok(job)
    }

    /// The account needs a new token: sends are refused as not configured until `rosetta account
    /// set-token`.
    async fn flag_token(&self, job: &DispatchJob) {
        let store = self.store.clone();
        let (org, account) = (job.org_id, job.account_id);
        if let Err(e) = blocking(move || store.flag_account_token(org, account)).await {
            tracing::warn!(error = ?e, "could not flag an account's token");
        }
        tracing::error!(account = %job.account_id, "Meta refused the account's access token (190): set a new one");
    }

    /// Sends, and what came of it.
    async fn sent(
        &self,
        job: DispatchJob,
        token: &AccessToken,
        retry_wait: Duration,
        later: impl Fn(Duration) -> Timestamp,
    ) -> DispatchOutcome {
        match self.send_paced(&job, token).await {
            Ok(accepted) => DispatchOutcome::Sent { wamid: accepted.wamid },
            Err(e) => {
                let error = e.to_string();
                match e.disposition() {
                    Disposition::Retry => DispatchOutcome::Retry {
                        at: later(retry_wait),
                        error,
                    },
                    Disposition::RetryRecipientLater => DispatchOutcome::Retry {
                        at: later(retry_wait.max(self.config.recipient_spacing)),
                        error,
                    },
                    Disposition::OutcomeUnknown => DispatchOutcome::Unknown {
                        until: later(self.config.unknown_for),
                        error,
                    },
                    Disposition::Fail => DispatchOutcome::Failed {
                        code: e.code(),
                        title: e.title(),
                    },
                    Disposition::FailTokenInvalid => {
                        self.flag_token(&job).await;
                        DispatchOutcome::Failed {
                            code: e.code(),
                            title: e.title(),
                        }
                    }
                }
            }
        }
    }

    /// Sends in the number's next slot.
    async fn send_paced(&self, job: &DispatchJob, token: &AccessToken) -> Result<crate::Accepted, crate::GraphError> {
        let wait = self.pacer.number_slot(&job.phone_number_id, std::time::Instant::now());
        if !wait.is_zero() {
            actix_web::rt::time::sleep(wait).await;
        }
        self.graph.send_message(&job.phone_number_id, token, &job.payload).await
    }
}
