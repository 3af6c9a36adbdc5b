//! Idempotency keys: claimed in one short transaction before the request runs, completed with
//! the response after. A claim is atomic on both backends (the primary key decides between
//! racing requests, and the loser reads the winner's row).

use diesel::prelude::*;
use rosetta_core::idempotency::{ABANDONED_AFTER_MILLIS, RETENTION_MILLIS};
use rosetta_core::*;

use crate::db::{map_error, DbConnection};
use crate::rows::b;
use crate::schema::idempotency_keys as k;

#[derive(Queryable, Debug)]
struct Row {
    fingerprint: String,
    response_status: Option<i32>,
    response_body: Option<String>,
    created_at: i64,
}

pub fn claim(c: &mut DbConnection, org: Id, key: &str, fingerprint: &str, now: Timestamp) -> Result<IdempotencyClaim> {
    let now = now.millis();
    // Expired keys of this organization go first; the index on created_at keeps it cheap.
    diesel::delete(
        k::table
            .filter(k::org_id.eq(b(org)))
            .filter(k::created_at.lt(now - RETENTION_MILLIS)),
    )
    .execute(c)
    .map_err(map_error)?;
    let existing: Option<Row> = k::table
        .find((b(org), key))
        .select((k::fingerprint, k::response_status, k::response_body, k::created_at))
        .first(c)
        .optional()
        .map_err(map_error)?;
    match existing {
        None => {}
        Some(row) if row.fingerprint != fingerprint => return Ok(IdempotencyClaim::Mismatch),
        Some(Row {
            response_status: Some(status),
            response_body: Some(body),
            ..
        }) => {
            return Ok(IdempotencyClaim::Replay(StoredResponse {
                status: status as u16,
                body,
            }))
        }
        Some(row) if row.created_at > now - ABANDONED_AFTER_MILLIS => return Ok(IdempotencyClaim::InProgress),
        Some(_) => {
            // Claimed by a request that never finished: take it over.
            diesel::update(k::table.find((b(org), key)))
                .set(k::created_at.eq(now))
                .execute(c)
                .map_err(map_error)?;
            return Ok(IdempotencyClaim::Claimed);
        }
    }
    diesel::insert_into(k::table)
        .values((
            k::org_id.eq(b(org)),
            k::key.eq(key),
            k::fingerprint.eq(fingerprint),
            k::created_at.eq(now),
        ))
        .execute(c)
        .map_err(map_error)?;
    Ok(IdempotencyClaim::Claimed)
}

pub fn complete(c: &mut DbConnection, org: Id, key: &str, response: &StoredResponse) -> Result<()> {
    diesel::update(k::table.find((b(org), key)))
        .set((
            k::response_status.eq(Some(i32::from(response.status))),
            k::response_body.eq(Some(response.body.as_str())),
        ))
        .execute(c)
        .map(|_| ())
        .map_err(map_error)
}

pub fn release(c: &mut DbConnection, org: Id, key: &str) -> Result<()> {
    diesel::delete(k::table.find((b(org), key)).filter(k::response_status.is_null()))
        .execute(c)
        .map(|_| ())
        .map_err(map_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDb;
    use crate::DieselStore;
    use rosetta_core::idempotency::{ABANDONED_AFTER_MILLIS, RETENTION_MILLIS};
    use rosetta_core::Store;

    #[test]
    fn claims_replays_mismatches_takeovers_and_expiry() {
        for db in TestDb::all() {
            let store = DieselStore::open(&db.url).unwrap();
            let org = store.create_organization("A").unwrap().id;
            let other = store.create_organization("B").unwrap().id;
            let t0 = Timestamp::now();
            let at = |ms: i64| Timestamp(t0.millis() + ms);
            let claim_at = |org, key: &str, fp: &str, t| store.write(|c| claim(c, org, key, fp, t)).unwrap();
            let done = StoredResponse {
                status: 201,
                body: "{}".into(),
            };

            assert_eq!(claim_at(org, "k", "fp1", at(0)), IdempotencyClaim::Claimed);
            assert_eq!(claim_at(org, "k", "fp1", at(10)), IdempotencyClaim::InProgress);
            assert_eq!(claim_at(org, "k", "fp2", at(10)), IdempotencyClaim::Mismatch);
            assert_eq!(
                claim_at(other, "k", "fp2", at(10)),
                IdempotencyClaim::Claimed,
                "per organization"
            );
            // Never completed: taken over once abandoned.
            assert_eq!(
                claim_at(org, "k", "fp1", at(ABANDONED_AFTER_MILLIS + 1)),
                IdempotencyClaim::Claimed
            );
            store.complete_idempotency_key(org, "k", &done).unwrap();
            // Release does not undo a completed key.
            store.release_idempotency_key(org, "k").unwrap();
            assert_eq!(
                claim_at(org, "k", "fp1", at(ABANDONED_AFTER_MILLIS + 2)),
                IdempotencyClaim::Replay(done.clone())
            );
            // After 24 hours the key is new again.
            assert_eq!(
                claim_at(org, "k", "fp2", at(ABANDONED_AFTER_MILLIS + RETENTION_MILLIS + 2)),
                IdempotencyClaim::Claimed
            );
            // A released claim frees the key at once.
            assert_eq!(claim_at(org, "r", "fp", at(0)), IdempotencyClaim::Claimed);
            store.release_idempotency_key(org, "r").unwrap();
            assert_eq!(claim_at(org, "r", "fp", at(1)), IdempotencyClaim::Claimed);
        }
    }

    #[test]
    fn one_claim_wins_across_instances() {
        for db in TestDb::all() {
            let first = std::sync::Arc::new(DieselStore::open(&db.url).unwrap());
            let org = first.create_organization("A").unwrap().id;
            let stores: Vec<_> = (0..4)
                .map(|_| std::sync::Arc::new(DieselStore::open(&db.url).unwrap()))
                .collect();
            let outcomes: Vec<IdempotencyClaim> = std::thread::scope(|s| {
                let handles: Vec<_> = stores
                    .iter()
                    .flat_map(|store| (0..2).map(move |_| store))
                    .map(|store| s.spawn(move || store.claim_idempotency_key(org, "race", "fp").unwrap()))
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let claimed = outcomes.iter().filter(|o| **o == IdempotencyClaim::Claimed).count();
            assert_eq!(claimed, 1, "{outcomes:?} on {}", db.backend());
            assert!(outcomes
                .iter()
                .all(|o| matches!(o, IdempotencyClaim::Claimed | IdempotencyClaim::InProgress)));
        }
    }
}
