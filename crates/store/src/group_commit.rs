//! Group commit for ingest on SQLite. SQLite has one writer, and a commit costs as much as the
//! work of a delivery: deliveries that arrive together are applied by one writer thread in one
//! transaction, each in its own savepoint (a bad delivery rolls back alone and gets its own error),
//! and every caller is answered only after the commit, so a 200 still means durable.
//!
//! The writer thread is supervised: a panic while applying a batch answers that batch's callers
//! with an error and the thread goes on to the next batch; should the thread end anyway, the next
//! delivery starts a new one. A thread that cannot be spawned at open is an open error.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use diesel::result::Error as DieselError;
use diesel::Connection;
use rosetta_core::ingest::{IngestEvent, IngestReport};
use rosetta_core::{Error, Result};

use crate::db::{lock_writes, map_error, map_pool_error, write_transaction, DbConnection, Pool};

/// Deliveries applied in one transaction at most.
const MAX_BATCH: usize = 256;

struct Job {
    events: Vec<IngestEvent>,
    reply: SyncSender<Result<IngestReport>>,
}

/// How one delivery is applied (`ingest::apply`; tests put a faulty one in).
type Apply = fn(&mut DbConnection, &[IngestEvent]) -> Result<IngestReport>;

pub struct IngestQueue {
    pool: Pool,
    write_lock: Arc<Mutex<()>>,
    apply: Apply,
    sender: Mutex<Sender<Job>>,
}

impl IngestQueue {
    pub fn start(pool: Pool, write_lock: Arc<Mutex<()>>) -> std::io::Result<IngestQueue> {
        Self::start_with(pool, write_lock, crate::ingest::apply)
    }

    fn start_with(pool: Pool, write_lock: Arc<Mutex<()>>, apply: Apply) -> std::io::Result<IngestQueue> {
        let sender = spawn(pool.clone(), write_lock.clone(), apply)?;
        Ok(IngestQueue {
            pool,
            write_lock,
            apply,
            sender: Mutex::new(sender),
        })
    }

    pub fn ingest(&self, events: &[IngestEvent]) -> Result<IngestReport> {
        let (reply, answer) = mpsc::sync_channel(1);
        let mut job = Job {
            events: events.to_vec(),
            reply,
        };
        {
            let mut sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(mpsc::SendError(returned)) = sender.send(job) {
                // The writer is gone: start another and hand it the job.
                tracing::error!("the ingest writer had stopped; starting a new one");
                *sender = spawn(self.pool.clone(), self.write_lock.clone(), self.apply)
                    .map_err(|e| Error::Internal(format!("cannot restart the ingest writer: {e}")))?;
                job = returned;
                sender
                    .send(job)
                    .map_err(|_| Error::Internal("ingest writer stopped".into()))?;
            }
        }
        answer
            .recv()
            .map_err(|_| Error::Internal("ingest writer stopped".into()))?
    }
}

fn spawn(pool: Pool, write_lock: Arc<Mutex<()>>, apply: Apply) -> std::io::Result<Sender<Job>> {
    let (sender, receiver) = mpsc::channel();
    std::thread::Builder::new()
        .name("rosetta-ingest".into())
        .spawn(move || writer(pool, write_lock, apply, receiver))?;
    Ok(sender)
}

fn writer(pool: Pool, write_lock: Arc<Mutex<()>>, apply: Apply, jobs: Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| commit(&pool, &write_lock, apply, &batch)))
            .unwrap_or_else(|_| {
                tracing::error!(
                    deliveries = batch.len(),
                    "the ingest writer panicked; the batch is refused"
                );
                Err(Error::Internal("ingest writer panicked".into()))
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

/// Fast path: the whole batch plainly. Only if a delivery fails is it all rolled back and redone
/// one savepoint per delivery, so that the others still commit.
fn commit(pool: &Pool, write_lock: &Mutex<()>, apply: Apply, batch: &[Job]) -> Result<Vec<Result<IngestReport>>> {
    let _turn = lock_writes(Some(write_lock));
    let mut conn = pool.get().map_err(map_pool_error)?;
    let fast = write_transaction(&mut conn, |c| {
        batch
            .iter()
            .map(|job| apply(c, &job.events).map(Ok))
            .collect::<Result<Vec<_>>>()
    });
    match fast {
        Err(Error::Unavailable(e)) => Err(Error::Unavailable(e)),
        Err(_) => write_transaction(&mut conn, |c| {
            Ok(batch
                .iter()
                .map(|job| savepoint(c, apply, &job.events))
                .collect::<Vec<_>>())
        }),
        ok => ok,
    }
}

/// Applies one delivery inside a savepoint of the batch's transaction.
fn savepoint(c: &mut DbConnection, apply: Apply, events: &[IngestEvent]) -> Result<IngestReport> {
    let mut failure: Option<Error> = None;
    let result = c.transaction::<IngestReport, DieselError, _>(|c| {
        apply(c, events).map_err(|e| {
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::db::{DatabaseUrl, Manager};

    static PANIC_NEXT: AtomicBool = AtomicBool::new(true);

    /// Panics once, then applies nothing.
    fn faulty(_: &mut DbConnection, _: &[IngestEvent]) -> Result<IngestReport> {
        if PANIC_NEXT.swap(false, Ordering::SeqCst) {
            panic!("a bug in ingest");
        }
        Ok(IngestReport::default())
    }

    #[test]
    fn a_panic_fails_its_batch_and_the_writer_goes_on() {
        let dir = std::env::temp_dir().join(format!("rosetta-gc-{}", rosetta_core::Id::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = DatabaseUrl::Sqlite(dir.join("t.db"));
        let pool = r2d2::Pool::builder().max_size(2).build(Manager::new(url)).unwrap();
        let queue = IngestQueue::start_with(pool, Arc::new(Mutex::new(())), faulty).unwrap();
        assert_eq!(
            queue.ingest(&[]),
            Err(Error::Internal("ingest writer panicked".into())),
            "the panicking batch is refused, not left hanging"
        );
        for _ in 0..3 {
            assert_eq!(
                queue.ingest(&[]),
                Ok(IngestReport::default()),
                "later deliveries are served"
            );
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
