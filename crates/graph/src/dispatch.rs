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
//! A worker that dies mid-attempt leaves its claim to run out: the store then treats the job as
//! outcome unknown too (`Store::claim_dispatch`). Store calls run on the blocking pool.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rosetta_core::outbox::{backoff, DispatchJob, DispatchOutcome};
use rosetta_core::{AccessToken, Error, Id, Store, Timestamp};

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
        }
    }
}

/// Claims, sends and records; `run` loops until the process stops.
#[derive(Clone)]
pub struct Dispatcher {
    store: Arc<dyn Store>,
    graph: GraphClient,
    config: DispatchConfig,
    signals: Option<Arc<Sending>>,
    pacer: Arc<Pacer>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").field("config", &self.config).finish()
    }
}

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
        }
    }

    /// Wakes on every send queued in this process (instead of waiting for the next poll), and
    /// tells the requests waiting on a message when its attempt finished.
    pub fn with_signals(mut self, signals: Arc<Sending>) -> Dispatcher {
        self.signals = Some(signals);
        self
    }

    /// One round: claims the due jobs and attempts each; how many it attempted.
    pub async fn run_once(&self) -> Result<usize, Error> {
        let store = self.store.clone();
        let (lease, unknown_for, batch) = (
            self.config.lease.as_millis() as i64,
            self.config.unknown_for.as_millis() as i64,
            self.config.batch,
        );
        let jobs = blocking(move || store.claim_dispatch(Timestamp::now(), lease, unknown_for, batch)).await?;
        let n = jobs.len();
        if n == 0 {
            return Ok(0);
        }
        // Each account's token, read once a round.
        let mut accounts: Vec<(Id, Id)> = jobs.iter().map(|j| (j.org_id, j.account_id)).collect();
        accounts.sort();
        accounts.dedup();
        let store = self.store.clone();
        let tokens: HashMap<Id, Result<Option<AccessToken>, Error>> = blocking(move || {
            Ok(accounts
                .into_iter()
                .map(|(org, account)| (account, store.account_token(org, account)))
                .collect())
        })
        .await?;
        // One recipient's messages go in order, one after another; different recipients at once.
        let mut by_recipient: Vec<Vec<DispatchJob>> = Vec::new();
        for job in jobs {
            match by_recipient.iter_mut().find(|g| g[0].recipient == job.recipient) {
                Some(group) => group.push(job),
                None => by_recipient.push(vec![job]),
            }
        }
        // Outcomes are recorded as they come: whatever finished while the last write ran goes in
        // the next one, so a quiet round writes each at once and a busy one writes few, larger
        // transactions.
        let (done, mut finished) = tokio::sync::mpsc::unbounded_channel::<(Id, DispatchOutcome)>();
        let tokens = &tokens;
        let attempts = async move {
            let done = &done;
            futures_util::future::join_all(by_recipient.into_iter().map(|group| async move {
                for job in group {
                    let message = job.message_id;
                    let outcome = self.attempt(job, tokens).await;
                    let _ = done.send((message, outcome));
                }
            }))
            .await;
        };
        let record = async {
            while let Some(first) = finished.recv().await {
                let mut outcomes = vec![first];
                while let Ok(more) = finished.try_recv() {
                    outcomes.push(more);
                }
                let attempted: Vec<Id> = outcomes
                    .iter()
                    .filter(|(_, o)| !matches!(o, DispatchOutcome::Deferred { .. }))
                    .map(|(id, _)| *id)
                    .collect();
                let store = self.store.clone();
                blocking(move || store.finish_dispatches(&outcomes)).await?;
                if let Some(signals) = &self.signals {
                    for id in attempted {
                        signals.attempted(id);
                    }
                }
            }
            Ok::<(), Error>(())
        };
        let ((), recorded) = futures_util::future::join(attempts, record).await;
        recorded?;
        Ok(n)
    }

    /// Runs rounds until the process stops; a store fault is logged and tried again.
    pub async fn run(self) {
        loop {
            match self.run_once().await {
                Ok(0) => match &self.signals {
                    Some(signals) => {
                        let _ = actix_web::rt::time::timeout(self.config.idle_poll, signals.queued.notified()).await;
                    }
                    None => actix_web::rt::time::sleep(self.config.idle_poll).await,
                },
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = ?e, "dispatch round failed");
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
            Ok(Some(token)) => match self.send_paced(&job, &token).await {
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
                            // The account needs a new token: sends are refused as not configured
                            // until `rosetta account set-token`.
                            let store = self.store.clone();
                            let (org, account) = (job.org_id, job.account_id);
                            if let Err(e) = blocking(move || store.flag_account_token(org, account)).await {
                                tracing::warn!(error = ?e, "could not flag an account's token");
                            }
                            tracing::error!(account = %job.account_id, "Meta refused the account's access token (190): set a new one");
                            DispatchOutcome::Failed {
                                code: e.code(),
                                title: e.title(),
                            }
                        }
                    }
                }
            },
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
