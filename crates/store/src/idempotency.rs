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
