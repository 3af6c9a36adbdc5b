//! Rate limits shared by instances over one database (`RateLimiter::shared`): two limiters, as two
//! instances would hold, over two handles on one database (SQLite, and PostgreSQL when
//! `ROSETTA_TEST_DATABASE_URL` is set) allow the limit between them, never more.

use std::sync::Arc;

use rosetta_core::{Id, Store};
use rosetta_http::rate_limit::{batch_for, RateLimiter};
use rosetta_store::testing::TestDb;

/// A minute boundary.
const T: i64 = 1_800_000_000;

fn instance(db: &TestDb, per_minute: u32, bucket: &'static str) -> (Arc<dyn Store>, Arc<RateLimiter>) {
    (
        Arc::new(db.instance()),
        Arc::new(RateLimiter::new(per_minute).shared(bucket)),
    )
}

#[test]
fn two_instances_allow_the_limit_between_them() {
    for db in TestDb::all() {
        let (a_store, a) = instance(&db, 100, "test");
        let (b_store, b) = instance(&db, 100, "test");
        let key = Id::new();
        let mut allowed = [0, 0];
        for i in 0..300 {
            let (store, limiter) = if i % 2 == 0 { (&a_store, &a) } else { (&b_store, &b) };
            let decision = limiter.check_with(key, T + 10, store.as_ref()).unwrap().unwrap();
            if decision.allowed {
                allowed[i % 2] += 1;
            }
        }
        assert_eq!(allowed, [50, 50], "{}: 100 between them, evenly as asked", db.backend());
        let refused = a.check_with(key, T + 20, a_store.as_ref()).unwrap().unwrap();
        assert_eq!(
            (refused.allowed, refused.remaining, refused.limit, refused.retry_after),
            (false, 0, 100, 40)
        );

        // Another limit, or another key, is counted apart; the next minute starts again.
        let other = RateLimiter::new(100).shared("other");
        assert!(
            other
                .check_with(key, T + 20, a_store.as_ref())
                .unwrap()
                .unwrap()
                .allowed
        );
        assert!(
            a.check_with(Id::new(), T + 20, a_store.as_ref())
                .unwrap()
                .unwrap()
                .allowed
        );
        let next = b.check_with(key, T + 60, b_store.as_ref()).unwrap().unwrap();
        assert!(next.allowed, "{}: a new minute", db.backend());
        assert_eq!(
            next.remaining,
            100 - 1,
            "a batch of {} taken, one spent",
            batch_for(100)
        );
    }
}

#[test]
fn concurrent_instances_never_allow_more_than_the_limit() {
    for db in TestDb::all() {
        let key = Id::new();
        let instances = [instance(&db, 500, "test"), instance(&db, 500, "test")];
        let allowed: usize = instances
            .iter()
            .flat_map(|(store, limiter)| {
                (0..3).map(move |_| {
                    let (store, limiter) = (store.clone(), limiter.clone());
                    std::thread::spawn(move || {
                        (0..400)
                            .filter(|_| limiter.check_with(key, T + 5, store.as_ref()).unwrap().unwrap().allowed)
                            .count()
                    })
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(
            allowed,
            500,
            "{}: 2,400 requests on 2 instances of 3 threads, 500 allowed",
            db.backend()
        );
    }
}

#[test]
fn a_batch_is_a_fiftieth_of_the_limit() {
    assert_eq!(
        [1, 49, 50, 120, 600, 5_000, 100_000].map(batch_for),
        [1, 1, 1, 3, 12, 100, 100]
    );
}
