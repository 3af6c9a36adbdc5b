//! The fetch worker (see the crate docs).

use std::sync::Arc;
use std::time::Duration;

use rosetta_core::media::{max_bytes, MediaJob, MediaOutcome, MAX_ATTEMPTS};
use rosetta_core::outbox::backoff;
use rosetta_core::{Error, Store, Timestamp};
use rosetta_graph::{checksum_matches, DownloadError, GraphClient, GraphError};

use crate::blobs::Blobs;

/// How the worker claims.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// How long a claim holds a job (longer than a download may take).
    pub lease: Duration,
    /// Jobs claimed, and fetched at once, per round.
    pub batch: u32,
    /// The wait when nothing is due.
    pub idle_poll: Duration,
    /// The wait before the second attempt, doubled each time up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            lease: rosetta_graph::DOWNLOAD_TIMEOUT + Duration::from_secs(60),
            batch: 16,
            idle_poll: Duration::from_millis(500),
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(600),
        }
    }
}

/// Claims fetch jobs, fetches, records.
#[derive(Clone)]
pub struct Fetcher {
    store: Arc<dyn Store>,
    graph: GraphClient,
    blobs: Blobs,
    config: FetchConfig,
    signals: Option<Arc<rosetta_http::sending::Sending>>,
    metrics: Option<Arc<rosetta_http::metrics::Metrics>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").field("config", &self.config).finish()
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Error> + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("blocking task failed: {e}")))?
}

/// Why one attempt did not store the file.
enum Failure {
    /// Worth another attempt.
    Again(String),
    /// For good.
    Final(String),
}

impl Fetcher {
    pub fn new(store: Arc<dyn Store>, graph: GraphClient, blobs: impl Into<Blobs>, config: FetchConfig) -> Fetcher {
        Fetcher {
            store,
            graph,
            blobs: blobs.into(),
            config,
            signals: None,
            metrics: None,
        }
    }

    /// Wakes when a webhook delivery stored messages in this process (instead of waiting for the
    /// next poll).
    pub fn with_signals(mut self, signals: Arc<rosetta_http::sending::Sending>) -> Fetcher {
        self.signals = Some(signals);
        self
    }

    /// Counts each attempt's outcome, as it is recorded, in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<rosetta_http::metrics::Metrics>) -> Fetcher {
        self.metrics = Some(metrics);
        self
    }

    /// One round: claims due jobs, fetches them at once, records each; how many it claimed.
    pub async fn run_once(&self) -> Result<usize, Error> {
        let store = self.store.clone();
        let (lease, batch) = (self.config.lease.as_millis() as i64, self.config.batch);
        let jobs = blocking(move || store.claim_media(Timestamp::now(), lease, batch)).await?;
        let n = jobs.len();
        let outcomes = futures_util::future::join_all(jobs.into_iter().map(|job| async move {
            let message = job.message_id;
            (message, self.fetch(job).await)
        }))
        .await;
        for (message, outcome) in outcomes {
            let store = self.store.clone();
            let metrics = self.metrics.clone();
            // Counted once recorded, as the dispatcher counts its sends.
            blocking(move || {
                let label = rosetta_http::metrics::media_outcome(&outcome);
                store.finish_media(message, outcome)?;
                if let Some(metrics) = metrics {
                    metrics.media_fetch(label);
                }
                Ok(())
            })
            .await?;
        }
        Ok(n)
    }

    /// Runs rounds until the process stops; a store fault is logged and tried again.
    pub async fn run(self) {
        loop {
            match self.run_once().await {
                Ok(0) => match &self.signals {
                    Some(signals) => {
                        let _ = actix_web::rt::time::timeout(self.config.idle_poll, signals.received.notified()).await;
                    }
                    None => actix_web::rt::time::sleep(self.config.idle_poll).await,
                },
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = ?e, "media fetch round failed");
                    actix_web::rt::time::sleep(self.config.idle_poll).await;
                }
            }
        }
    }

    /// One attempt at one job, as an outcome to record.
    async fn fetch(&self, job: MediaJob) -> MediaOutcome {
        match self.try_fetch(&job).await {
            Ok(outcome) => outcome,
            Err(Failure::Final(error)) => {
                tracing::warn!(message = %job.message_id, %error, "a received file could not be kept");
                MediaOutcome::Failed { error }
            }
            Err(Failure::Again(error)) if job.attempts >= MAX_ATTEMPTS => MediaOutcome::Failed {
                error: format!("gave up after {} attempts: {error}", job.attempts),
            },
            Err(Failure::Again(error)) => MediaOutcome::Retry {
                at: Timestamp(
                    Timestamp::now().millis()
                        + backoff(job.attempts, self.config.base_backoff, self.config.max_backoff, 0.0).as_millis()
                            as i64,
                ),
                error,
            },
        }
    }

    async fn try_fetch(&self, job: &MediaJob) -> Result<MediaOutcome, Failure> {
        let store = self.store.clone();
        let (org, account) = (job.org_id, job.account_id);
        let token = blocking(move || store.account_token(org, account))
            .await
            .map_err(|e| Failure::Again(format!("the account's token could not be read: {e}")))?
            .ok_or_else(|| {
                Failure::Again("the WhatsApp account has no access token (rosetta account set-token)".into())
            })?;
        // A fresh URL on every attempt: Meta's expire within minutes.
        let info = self
            .graph
            .media_info(&job.media_id, &token)
            .await
            .map_err(|e| match &e {
                GraphError::Http { status: 404, .. } | GraphError::Http { status: 400, .. } => {
                    Failure::Final(format!("Meta no longer has this file: {}", e.title()))
                }
                _ => Failure::Again(e.to_string()),
            })?;
        let max = max_bytes(job.content_type);
        if let Some(size) = info.file_size.filter(|s| *s > max) {
            return Err(Failure::Final(format!(
                "the file is {size} bytes, over the {max}-byte limit"
            )));
        }
        let (temp, mut file) = self
            .blobs
            .temp_file()
            .await
            .map_err(|e| Failure::Again(format!("cannot write the file: {e}")))?;
        let downloaded = match self.graph.download(&info.url, &token, max, &mut file).await {
            Ok(d) => d,
            Err(e) => {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(match e {
                    DownloadError::Retry(e) => Failure::Again(e),
                    DownloadError::Fail(e) => Failure::Final(e),
                });
            }
        };
        drop(file);
        let declared = job.declared_sha256.as_deref().or(info.sha256.as_deref());
        if let Some(declared) = declared {
            if !checksum_matches(declared, &downloaded.sha256) {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(Failure::Final(format!(
                    "checksum mismatch: Meta declared {declared}, the file is sha256 {}",
                    downloaded.sha256
                )));
            }
        }
        self.blobs
            .commit(&temp, &downloaded.sha256)
            .await
            .map_err(|e| Failure::Again(format!("cannot keep the file: {e}")))?;
        Ok(MediaOutcome::Stored {
            blob: downloaded.sha256,
            size: downloaded.size as i64,
            mime_type: info.mime_type.or_else(|| job.mime_type.clone()),
        })
    }
}
