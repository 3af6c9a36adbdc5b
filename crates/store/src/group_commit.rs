//! Group commit for ingest on SQLite. SQLite has one writer, and a commit costs as much as the
//! work of a delivery: deliveries that arrive together are applied by one writer thread in one
//! transaction, each in its own savepoint (a bad delivery rolls back alone and gets its own error),
//! and every caller is answered only after the commit, so a 200 still means durable.

use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use diesel::result::Error as DieselError;
use diesel::Connection;
use rosetta_core::ingest::{IngestEvent, IngestReport};
use rosetta_core::{Error, Result};

use crate::db::{map_error, map_pool_error, write_transaction, DbConnection, Pool};

/// Deliveries applied in one transaction at most.
const MAX_BATCH: usize = 256;

struct Job {
    events: Vec<IngestEvent>,
    reply: SyncSender<Result<IngestReport>>,
}

pub struct IngestQueue {
    sender: Sender<Job>,
}

impl IngestQueue {
    pub fn start(pool: Pool, write_lock: Arc<Mutex<()>>) -> IngestQueue {
        let (sender, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("rosetta-ingest".into())
            .spawn(move || writer(pool, write_lock, receiver))
            .expect("spawn the ingest writer");
        IngestQueue { sender }
    }

    pub fn ingest(&self, events: &[IngestEvent]) -> Result<IngestReport> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.sender
            .send(Job {
                events: events.to_vec(),
                reply,
            })
            .map_err(|_| Error::Internal("ingest writer stopped".into()))?;
        answer
            .recv()
            .map_err(|_| Error::Internal("ingest writer stopped".into()))?
    }
}

fn writer(pool: Pool, write_lock: Arc<Mutex<()>>, jobs: Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Fast path: the whole batch plainly. Only if a delivery fails is it all rolled back and
        // redone one savepoint per delivery, so that the others still commit.
        let outcome = pool.get().map_err(map_pool_error).and_then(|mut conn| {
            let fast = write_transaction(&mut conn, Some(&write_lock), |c| {
                batch
                    .iter()
                    .map(|job| crate::ingest::apply(c, &job.events).map(Ok))
                    .collect::<Result<Vec<_>>>()
            });
            match fast {
                Err(Error::Unavailable(e)) => Err(Error::Unavailable(e)),
                Err(_) => write_transaction(&mut conn, Some(&write_lock), |c| {
                    Ok(batch.iter().map(|job| savepoint(c, &job.events)).collect::<Vec<_>>())
                }),
                ok => ok,
            }
        });
        match outcome {
            Ok(results) => {
                for (job, result) in batch.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                for job in batch {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Applies one delivery inside a savepoint of the batch's transaction.
fn savepoint(c: &mut DbConnection, events: &[IngestEvent]) -> Result<IngestReport> {
    let mut failure: Option<Error> = None;
    let result = c.transaction::<IngestReport, DieselError, _>(|c| {
        crate::ingest::apply(c, events).map_err(|e| {
            failure = Some(e);
            DieselError::RollbackTransaction
        })
    });
    match (result, failure) {
        (Ok(report), _) => Ok(report),
        (Err(_), Some(domain)) => Err(domain),
        (Err(e), None) => Err(map_error(e)),
    }
}
