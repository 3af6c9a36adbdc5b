//! Webhook deliveries (`webhook_deliveries`, `webhook_attempts`, migration 12): the event log fanned
//! out to the subscriptions, claimed by delivery workers, every attempt logged.
//!
//! - **Fan-out** (`fan_out`): each active subscription behind the log, in a transaction of its own
//!   that holds its row (PostgreSQL `FOR UPDATE SKIP LOCKED`: one instance fans a subscription out at
//!   a time, the others pass it by), reads the events after its cursor, renders each in the
//!   subscription's dialect (the caller's renderer), writes a delivery for each event the
//!   subscription names and moves the cursor past them all, so each event becomes one delivery per
//!   subscription (unique `(subscription_id, event_id)` besides), never none.
//! - **Claims** (`claim`): due deliveries of active subscriptions, oldest first, each to one claimer
//!   until a lease runs out (a claim whose worker died is due again then: at least once), at most
//!   `per_webhook` of one subscription, none of the subscriptions the worker says are busy.
//! - **Outcomes** (`finish`): the attempt logged; the delivery delivered, due again, or failed; the
//!   subscription's consecutive failures reset by a success, raised by a failed delivery, and past
//!   the policy's bound the subscription disabled.

use std::collections::HashMap;

use diesel::prelude::*;
use rosetta_core::events::{Event, Rendered, Subjects};
use rosetta_core::webhooks::*;
use rosetta_core::*;

use crate::db::{map_error, DbConnection};
use crate::rows::*;
use crate::schema::webhook_attempts as wa;
use crate::schema::webhook_deliveries as wd;
use crate::schema::webhook_subscriptions as w;
use crate::schema::{contacts, whatsapp_accounts};
use crate::secrets::SecretKey;
use crate::sql::BlobIn;
use crate::Backend;

pub(crate) const PENDING: &str = "pending";
pub(crate) const CLAIMED: &str = "claimed";
const DELIVERED: &str = "delivered";
const FAILED: &str = "failed";

/// How a dialect renders an event (`None`: the dialect has no such event).
pub type Render<'a> = &'a (dyn Fn(Dialect, &Event, &Subjects) -> Option<Rendered> + Sync);

#[derive(Insertable)]
#[diesel(table_name = crate::schema::webhook_deliveries)]
struct NewDelivery {
    id: Vec<u8>,
    org_id: Vec<u8>,
    subscription_id: Vec<u8>,
    event_id: Vec<u8>,
    event_pos: i64,
    event_name: String,
    dedupe_key: String,
    source: String,
    body: String,
    state: &'static str,
    attempts: i32,
    due_at: i64,
    created_at: i64,
    updated_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = crate::schema::webhook_attempts)]
struct NewAttempt {
    delivery_id: Vec<u8>,
    attempt: i32,
    started_at: i64,
    duration_ms: i64,
    status_code: Option<i32>,
    error: Option<String>,
    excerpt: Option<String>,
}

/// Active subscriptions with events after their cursor (at most `limit`).
pub fn behind(c: &mut DbConnection, limit: u32) -> Result<Vec<Id>> {
    use diesel::sql_types::{BigInt, Binary};
    #[derive(QueryableByName)]
    struct Behind {
        #[diesel(sql_type = Binary)]
        id: Vec<u8>,
    }
    let sql = "SELECT s.id FROM webhook_subscriptions s WHERE s.is_active = {TRUE} AND EXISTS \
               (SELECT 1 FROM events e WHERE e.org_id = s.org_id AND e.pos > s.cursor) LIMIT {N}";
    let rows: Vec<Behind> = match c {
        DbConnection::Sqlite(conn) => diesel::sql_query(sql.replace("{TRUE}", "1").replace("{N}", "?"))
            .bind::<BigInt, _>(i64::from(limit))
            .load(conn),
        DbConnection::Pg(conn) => diesel::sql_query(sql.replace("{TRUE}", "TRUE").replace("{N}", "$1"))
            .bind::<BigInt, _>(i64::from(limit))
            .load(conn),
    }
    .map_err(map_error)?;
    rows.iter().map(|r| id(&r.id)).collect()
}

/// The numbers and customers `events` name, as renderers see them.
/// Subjects by an event's (account, contact).
type SubjectsOf = HashMap<(Option<Id>, Option<Id>), Subjects>;

fn subjects(c: &mut DbConnection, events: &[Event]) -> Result<SubjectsOf> {
    let mut accounts: Vec<Vec<u8>> = events.iter().filter_map(|e| e.account_id).map(b).collect();
    let mut people: Vec<Vec<u8>> = events.iter().filter_map(|e| e.contact_id).map(b).collect();
    for list in [&mut accounts, &mut people] {
        list.sort();
        list.dedup();
    }
    let numbers: HashMap<Vec<u8>, (String, String)> = if accounts.is_empty() {
        HashMap::new()
    } else {
        let found: Vec<(Vec<u8>, String, String)> = crate::per_backend!(c, |conn| whatsapp_accounts::table
            .filter(BlobIn::new(whatsapp_accounts::id, &accounts))
            .select((
                whatsapp_accounts::id,
                whatsapp_accounts::phone_number_id,
                whatsapp_accounts::phone_number,
            ))
            .load(conn))
        .map_err(map_error)?;
        found.into_iter().map(|(i, p, n)| (i, (p, n))).collect()
    };
    let customers: HashMap<Vec<u8>, (String, Option<String>)> = if people.is_empty() {
        HashMap::new()
    } else {
        let found: Vec<(Vec<u8>, String, Option<String>)> = crate::per_backend!(c, |conn| contacts::table
            .filter(BlobIn::new(contacts::id, &people))
            .select((contacts::id, contacts::phone, contacts::name))
            .load(conn))
        .map_err(map_error)?;
        found.into_iter().map(|(i, p, n)| (i, (p, n))).collect()
    };
    let mut out = HashMap::new();
    for e in events {
        out.entry((e.account_id, e.contact_id)).or_insert_with(|| {
            let number = e.account_id.and_then(|a| numbers.get(&b(a)));
            let customer = e.contact_id.and_then(|p| customers.get(&b(p)));
            Subjects {
                phone_number_id: number.map(|n| n.0.clone()),
                display_phone_number: number.map(|n| n.1.clone()),
                contact_phone: customer.map(|p| p.0.clone()),
                contact_name: customer.and_then(|p| p.1.clone()),
            }
        });
    }
    Ok(out)
}

/// Fans one subscription out (inside the caller's transaction): up to `limit` events after its
/// cursor become its deliveries, and the cursor moves past them. What it passed over and made;
/// `None` when another instance holds the subscription or it is no longer active.
pub fn fan_out(c: &mut DbConnection, render: Render<'_>, subscription: Id, limit: u32) -> Result<Option<FanOut>> {
    type Sub = (Vec<u8>, String, String, i64, i64);
    let q = w::table
        .filter(w::id.eq(b(subscription)))
        .filter(w::is_active.eq(true))
        .select((w::org_id, w::dialect, w::events, w::cursor, w::created_at));
    let found: Option<Sub> = match c {
        DbConnection::Pg(pg) => q.for_update().skip_locked().first(pg).optional(),
        DbConnection::Sqlite(sqlite) => q.first(sqlite).optional(),
    }
    .map_err(map_error)?;
    let Some((org, dialect, names, cursor, since)) = found else {
        return Ok(None);
    };
    let org = id(&org)?;
    let dialect: Dialect = dialect
        .parse()
        .map_err(|_| corrupt("webhook_subscriptions.dialect", &dialect))?;
    let names: Vec<String> =
        serde_json::from_str(&names).map_err(|_| corrupt("webhook_subscriptions.events", &names))?;
    let events = crate::events::after(c, org, cursor, limit)?;
    let Some(last) = events.last().map(|e| e.pos) else {
        return Ok(Some(FanOut::default()));
    };
    let subjects = subjects(c, &events)?;
    let now = Timestamp::now().millis();
    let rows: Vec<NewDelivery> = events
        .iter()
        // Only what happened since it was made (on PostgreSQL an event committed before may be
        // placed after the cursor it started at).
        .filter(|event| event.created_at.millis() >= since)
        .filter_map(|event| {
            let about = subjects.get(&(event.account_id, event.contact_id))?;
            let rendered = render(dialect, event, about)?;
            names.iter().any(|n| n == rendered.name).then(|| NewDelivery {
                id: b(Id::new()),
                org_id: b(org),
                subscription_id: b(subscription),
                event_id: b(event.id),
                event_pos: event.pos,
                event_name: rendered.name.to_owned(),
                dedupe_key: rendered.dedupe_key,
                source: rendered.source.to_owned(),
                body: rendered.body.to_string(),
                state: PENDING,
                attempts: 0,
                due_at: now,
                created_at: now,
                updated_at: now,
            })
        })
        .collect();
    let mut made = 0;
    // SQLite allows 32,766 bound values a statement: 14 a row.
    for chunk in rows.chunks(1000) {
        made += match c {
            DbConnection::Sqlite(conn) => diesel::insert_or_ignore_into(wd::table).values(chunk).execute(conn),
            DbConnection::Pg(conn) => diesel::insert_into(wd::table)
                .values(chunk)
                .on_conflict_do_nothing()
                .execute(conn),
        }
        .map_err(map_error)?;
    }
    diesel::update(w::table.find(b(subscription)))
        .set(w::cursor.eq(last))
        .execute(c)
        .map_err(map_error)?;
    Ok(Some(FanOut {
        events: events.len(),
        deliveries: made,
    }))
}

type ClaimedRow = (
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    String,
    String,
    String,
    String,
    i32,
    String,
    String,
    Vec<u8>,
);

/// The unexpired secrets of a subscription, oldest first.
pub fn live_secrets(key: &SecretKey, subscription: Id, sealed: &[u8], now: Timestamp) -> Result<Vec<String>> {
    let opened = key.open(subscription, sealed)?;
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&opened).map_err(|_| corrupt("webhook_subscriptions.secrets", "not a list"))?;
    Ok(list
        .into_iter()
        .filter(|s| s["expires_at"].as_i64().is_none_or(|at| at > now.millis()))
        .filter_map(|s| s["secret"].as_str().map(str::to_owned))
        .collect())
}

/// Claims up to `limit` due deliveries (the longest due first) until `now + lease_millis`: at most
/// `per_webhook` of one subscription, none of `busy`'s, none of a disabled subscription.
pub fn claim(
    c: &mut DbConnection,
    key: &SecretKey,
    now: Timestamp,
    lease_millis: i64,
    limit: u32,
    per_webhook: u32,
    busy: &[Id],
) -> Result<Vec<DeliveryJob>> {
    // Left out: the busy subscriptions and the disabled ones (few), by a list, so the planner walks
    // the index of pending deliveries rather than each subscription's history. An id no row has
    // keeps the list non-empty (`NOT IN ()` is not SQL).
    let disabled: Vec<Vec<u8>> = w::table
        .filter(w::is_active.eq(false))
        .select(w::id)
        .load(c)
        .map_err(map_error)?;
    let busy: Vec<Vec<u8>> = busy
        .iter()
        .copied()
        .map(b)
        .chain(disabled)
        .chain([vec![0u8; 16]])
        .collect();
    macro_rules! due {
        () => {
            wd::table
                // Written out, so both planners see the partial index's own predicate.
                .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                    "webhook_deliveries.state IN ('pending', 'claimed')",
                ))
                .filter(wd::due_at.le(now.millis()))
                .filter(diesel::dsl::not(BlobIn::new(wd::subscription_id, &busy)))
                .order(wd::due_at.asc())
                .limit(i64::from(limit))
                .select((wd::id, wd::subscription_id))
        };
    }
    let due: Vec<(Vec<u8>, Vec<u8>)> = match c {
        // Rows another instance holds are skipped, not waited for: each delivery goes to one claimer.
        DbConnection::Pg(pg) => due!().for_update().skip_locked().load(pg),
        // One writer at a time (the write transaction holds SQLite's lock).
        DbConnection::Sqlite(sqlite) => due!().load(sqlite),
    }
    .map_err(map_error)?;
    let mut per: HashMap<Vec<u8>, u32> = HashMap::new();
    let ids: Vec<Vec<u8>> = due
        .into_iter()
        .filter(|(_, sub)| {
            let n = per.entry(sub.clone()).or_default();
            *n += 1;
            *n <= per_webhook
        })
        .map(|(d, _)| d)
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let claimed = BlobIn::new(wd::id, &ids);
    crate::per_backend!(c, |conn| diesel::update(wd::table.filter(claimed))
        .set((
            wd::state.eq(CLAIMED),
            wd::due_at.eq(now.millis() + lease_millis),
            wd::attempts.eq(wd::attempts + 1),
            wd::updated_at.eq(now.millis()),
        ))
        .execute(conn))
    .map_err(map_error)?;
    let rows: Vec<ClaimedRow> = crate::per_backend!(c, |conn| wd::table
        .inner_join(w::table)
        .filter(claimed)
        .order((wd::created_at.asc(), wd::id.asc()))
        .select((
            wd::id,
            wd::org_id,
            wd::subscription_id,
            wd::event_id,
            wd::event_name,
            wd::dedupe_key,
            wd::source,
            wd::body,
            wd::attempts,
            w::dialect,
            w::url,
            w::secrets,
        ))
        .load(conn))
    .map_err(map_error)?;
    let mut secrets: HashMap<Vec<u8>, Vec<String>> = HashMap::new();
    rows.into_iter()
        .map(
            |(delivery, org, sub, event, name, dedupe, source, body, attempts, dialect, url, sealed)| {
                let webhook_id = id(&sub)?;
                let live = match secrets.get(&sub) {
                    Some(live) => live.clone(),
                    None => {
                        let live = live_secrets(key, webhook_id, &sealed, now)?;
                        secrets.insert(sub, live.clone());
                        live
                    }
                };
                Ok(DeliveryJob {
                    id: id(&delivery)?,
                    org_id: id(&org)?,
                    webhook_id,
                    dialect: dialect
                        .parse()
                        .map_err(|_| corrupt("webhook_subscriptions.dialect", &dialect))?,
                    url,
                    secrets: live,
                    event_id: id(&event)?,
                    event_name: name,
                    dedupe_key: dedupe,
                    source,
                    body,
                    attempt: attempts.max(0) as u32,
                })
            },
        )
        .collect()
}

/// Records attempts' outcomes (see the module's docs). An outcome of an attempt that is no longer
/// the delivery's latest (its lease ran out and another worker claimed it again) is logged but
/// leaves the delivery to the later attempt.
pub fn finish(c: &mut DbConnection, outcomes: &[(Id, DeliveryOutcome)]) -> Result<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let now = Timestamp::now().millis();
    let attempts: Vec<NewAttempt> = outcomes
        .iter()
        .map(|(delivery, o)| NewAttempt {
            delivery_id: b(*delivery),
            attempt: o.attempt as i32,
            started_at: o.record.started_at.millis(),
            duration_ms: o.record.duration_ms,
            status_code: o.record.status_code.map(i32::from),
            error: o.record.error.clone(),
            excerpt: o.record.excerpt.clone(),
        })
        .collect();
    for chunk in attempts.chunks(2000) {
        match c {
            DbConnection::Sqlite(conn) => diesel::insert_or_ignore_into(wa::table).values(chunk).execute(conn),
            DbConnection::Pg(conn) => diesel::insert_into(wa::table)
                .values(chunk)
                .on_conflict_do_nothing()
                .execute(conn),
        }
        .map_err(map_error)?;
    }
    let ids: Vec<Vec<u8>> = outcomes.iter().map(|(d, _)| b(*d)).collect();
    let current: HashMap<Vec<u8>, (Vec<u8>, i32)> = crate::per_backend!(c, |conn| wd::table
        .filter(BlobIn::new(wd::id, &ids))
        .select((wd::id, wd::subscription_id, wd::attempts))
        .load::<(Vec<u8>, Vec<u8>, i32)>(conn))
    .map_err(map_error)?
    .into_iter()
    .map(|(d, s, n)| (d, (s, n)))
    .collect();
    // Per subscription: whether a success reset the count, the failures after it, the bound.
    let mut subs: HashMap<Vec<u8>, (bool, i32, u32)> = HashMap::new();
    let mut delivered: Vec<Vec<u8>> = Vec::new();
    for (delivery, o) in outcomes {
        let key = b(*delivery);
        let Some((sub, latest)) = current.get(&key) else {
            continue; // removed with its subscription meanwhile
        };
        if *latest != o.attempt as i32 {
            continue;
        }
        let tally = subs.entry(sub.clone()).or_insert((false, 0, o.disable_after));
        let status = o.record.status_code.map(i32::from);
        match o.next {
            DeliveryNext::Delivered => {
                *tally = (true, 0, o.disable_after);
                delivered.push(key);
                continue;
            }
            DeliveryNext::Retry { at } => {
                diesel::update(wd::table.find(&key))
                    .set((
                        wd::state.eq(PENDING),
                        wd::due_at.eq(at.millis()),
                        wd::last_status.eq(status),
                        wd::last_error.eq(&o.record.error),
                        wd::updated_at.eq(now),
                    ))
                    .execute(c)
                    .map_err(map_error)?;
            }
            DeliveryNext::Failed => {
                tally.1 += 1;
                diesel::update(wd::table.find(&key))
                    .set((
                        wd::state.eq(FAILED),
                        wd::last_status.eq(status),
                        wd::last_error.eq(&o.record.error),
                        wd::updated_at.eq(now),
                    ))
                    .execute(c)
                    .map_err(map_error)?;
            }
        }
    }
    if !delivered.is_empty() {
        // Status 2xx all: the one taken is the first's (every delivered attempt got a 2xx).
        let statuses: HashMap<Vec<u8>, Option<i32>> = outcomes
            .iter()
            .map(|(d, o)| (b(*d), o.record.status_code.map(i32::from)))
            .collect();
        let mut by_status: HashMap<Option<i32>, Vec<Vec<u8>>> = HashMap::new();
        for d in delivered {
            by_status
                .entry(statuses.get(&d).copied().flatten())
                .or_default()
                .push(d);
        }
        for (status, ids) in by_status {
            crate::per_backend!(c, |conn| diesel::update(wd::table.filter(BlobIn::new(wd::id, &ids)))
                .set((
                    wd::state.eq(DELIVERED),
                    wd::last_status.eq(status),
                    wd::last_error.eq(None::<String>),
                    wd::delivered_at.eq(Some(now)),
                    wd::updated_at.eq(now),
                ))
                .execute(conn))
            .map_err(map_error)?;
        }
    }
    for (sub, (reset, failures, bound)) in subs {
        let (count, active): (i32, bool) = w::table
            .find(&sub)
            .select((w::failure_count, w::is_active))
            .first(c)
            .map_err(map_error)?;
        let count = if reset { failures } else { count + failures };
        let disable = failures > 0 && count >= bound as i32;
        diesel::update(w::table.find(&sub))
            .set((
                w::failure_count.eq(count),
                w::is_active.eq(active && !disable),
                w::last_delivery_at.eq(Some(now)),
            ))
            .execute(c)
            .map_err(map_error)?;
        if disable && active {
            tracing::warn!(
                webhook = %id(&sub)?,
                failures = count,
                "webhook subscription disabled after consecutive failed deliveries"
            );
        }
    }
    Ok(())
}

type DeliveryRow = (
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    String,
    String,
    String,
    i32,
    i64,
    Option<i32>,
    Option<String>,
    i64,
    i64,
    Option<i64>,
);

macro_rules! delivery_columns {
    () => {
        (
            wd::id,
            wd::subscription_id,
            wd::event_id,
            wd::event_name,
            wd::dedupe_key,
            wd::state,
            wd::attempts,
            wd::due_at,
            wd::last_status,
            wd::last_error,
            wd::created_at,
            wd::updated_at,
            wd::delivered_at,
        )
    };
}

fn delivery(row: DeliveryRow) -> Result<WebhookDelivery> {
    let (d, sub, event, name, dedupe, state, attempts, due, status, error, created, updated, delivered) = row;
    let shown = match state.as_str() {
        CLAIMED => DeliveryState::Pending,
        other => DeliveryState::parse(other).ok_or_else(|| corrupt("webhook_deliveries.state", other))?,
    };
    Ok(WebhookDelivery {
        id: id(&d)?,
        webhook_id: id(&sub)?,
        event_id: id(&event)?,
        event_name: name,
        dedupe_key: dedupe,
        state: shown,
        attempts: attempts.max(0) as u32,
        next_attempt_at: (shown == DeliveryState::Pending).then_some(Timestamp(due)),
        last_status_code: status.and_then(|s| u16::try_from(s).ok()),
        last_error: error,
        created_at: Timestamp(created),
        updated_at: Timestamp(updated),
        delivered_at: delivered.map(Timestamp),
    })
}

/// The deliveries of the organization's subscriptions in `dialect` that `filter` selects.
fn filtered(org: Id, dialect: Dialect, filter: &DeliveryFilter) -> wd::BoxedQuery<'static, Backend> {
    let mut q = wd::table
        .filter(wd::org_id.eq(b(org)))
        .filter(
            wd::subscription_id.eq_any(
                w::table
                    .filter(w::org_id.eq(b(org)))
                    .filter(w::dialect.eq(dialect.as_str()))
                    .select(w::id),
            ),
        )
        .into_boxed();
    if let Some(sub) = filter.webhook_id {
        q = q.filter(wd::subscription_id.eq(b(sub)));
    }
    match filter.state {
        Some(DeliveryState::Pending) => q = q.filter(wd::state.eq_any([PENDING, CLAIMED])),
        Some(state) => q = q.filter(wd::state.eq(state.as_str())),
        None => {}
    }
    if let Some(name) = &filter.event_name {
        q = q.filter(wd::event_name.eq(name.clone()));
    }
    if let Some(from) = filter.created_from {
        q = q.filter(wd::created_at.ge(from.millis()));
    }
    if let Some(before) = filter.created_before {
        q = q.filter(wd::created_at.lt(before.millis()));
    }
    q
}

fn fingerprint(org: Id, dialect: Dialect, f: &DeliveryFilter) -> String {
    let opt = |t: Option<Timestamp>| t.map_or("*".to_owned(), |t| t.millis().to_string());
    format!(
        "deliveries|{org}|{}|{}|{}|{}|{}|{}",
        dialect.as_str(),
        f.webhook_id.map_or("*".to_owned(), |i| i.to_string()),
        f.state.map_or("*", |s| s.as_str()),
        f.event_name.as_deref().unwrap_or("*"),
        opt(f.created_from),
        opt(f.created_before)
    )
}

/// `Store::list_webhook_deliveries`: newest first, by keyset.
pub fn list(
    c: &mut DbConnection,
    cursors: &CursorCodec,
    org: Id,
    dialect: Dialect,
    filter: &DeliveryFilter,
    page: &PageRequest,
) -> Result<Page<WebhookDelivery>> {
    if let Some(sub) = filter.webhook_id {
        crate::webhooks::get(c, org, dialect, sub)?;
    }
    let limit = page.limit() as i64;
    let cursor = match page {
        PageRequest::Keyset { cursor, .. } => cursor.as_deref(),
        PageRequest::Offset { .. } => None,
    };
    let fingerprint = fingerprint(org, dialect, filter);
    let after = crate::page::decode_cursor(cursors, &fingerprint, cursor)?;
    let mut q = filtered(org, dialect, filter);
    if let Some(p) = after {
        q = q.filter(crate::sql::RowBefore::new(wd::created_at, wd::id, p.sort, b(p.id)));
    }
    let rows: Vec<DeliveryRow> = q
        .order_by((wd::created_at.desc(), wd::id.desc()))
        .limit(limit + 1)
        .select(delivery_columns!())
        .load(c)
        .map_err(map_error)?;
    let (rows, next_cursor, has_more) = crate::page::finish_keyset(rows, limit, |r| {
        Ok(cursors.encode(
            &fingerprint,
            KeysetPosition {
                sort: r.10,
                id: id(&r.0)?,
            },
        ))
    })?;
    Ok(Page {
        items: rows.into_iter().map(delivery).collect::<Result<_>>()?,
        next_cursor,
        has_more,
        total: None,
    })
}

/// `Store::get_webhook_delivery`: the delivery and its attempts.
pub fn get(c: &mut DbConnection, org: Id, dialect: Dialect, delivery_id: Id) -> Result<DeliveryDetail> {
    let row: Option<DeliveryRow> = filtered(org, dialect, &DeliveryFilter::default())
        .filter(wd::id.eq(b(delivery_id)))
        .select(delivery_columns!())
        .first(c)
        .optional()
        .map_err(map_error)?;
    let delivery = delivery(row.ok_or(Error::NotFound(EntityKind::WebhookDelivery))?)?;
    type AttemptRow = (i32, i64, i64, Option<i32>, Option<String>, Option<String>);
    let rows: Vec<AttemptRow> = wa::table
        .filter(wa::delivery_id.eq(b(delivery_id)))
        .order(wa::attempt.asc())
        .select((
            wa::attempt,
            wa::started_at,
            wa::duration_ms,
            wa::status_code,
            wa::error,
            wa::excerpt,
        ))
        .load(c)
        .map_err(map_error)?;
    let attempts = rows
        .into_iter()
        .map(|(n, started, duration, status, error, excerpt)| DeliveryAttempt {
            attempt: n.max(0) as u32,
            record: AttemptRecord {
                started_at: Timestamp(started),
                duration_ms: duration,
                status_code: status.and_then(|s| u16::try_from(s).ok()),
                error,
                excerpt,
            },
        })
        .collect();
    Ok(DeliveryDetail { delivery, attempts })
}

/// `Store::replay_webhook_deliveries`: the deliveries named (every one the organization's in this
/// dialect, or none is replayed) or the first `MAX_BULK_REPLAY` the filter selects, due again now
/// (one being attempted right now is left to that attempt). They keep their id, event and body; the
/// attempt count goes on.
pub fn replay(c: &mut DbConnection, org: Id, dialect: Dialect, which: &Replay) -> Result<Vec<WebhookDelivery>> {
    let ids: Vec<Vec<u8>> = match which {
        Replay::Ids(ids) => {
            let mut wanted: Vec<Vec<u8>> = ids.iter().copied().map(b).collect();
            wanted.sort();
            wanted.dedup();
            if wanted.is_empty() {
                return Ok(Vec::new());
            }
            let found: Vec<Vec<u8>> = filtered(org, dialect, &DeliveryFilter::default())
                .filter(wd::id.eq_any(wanted.clone()))
                .select(wd::id)
                .load(c)
                .map_err(map_error)?;
            if found.len() != wanted.len() {
                return Err(Error::NotFound(EntityKind::WebhookDelivery));
            }
            found
        }
        Replay::Matching(filter) => {
            if let Some(sub) = filter.webhook_id {
                crate::webhooks::get(c, org, dialect, sub)?;
            }
            filtered(org, dialect, filter)
                .order_by((wd::created_at.desc(), wd::id.desc()))
                .limit(MAX_BULK_REPLAY as i64)
                .select(wd::id)
                .load(c)
                .map_err(map_error)?
        }
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let now = Timestamp::now().millis();
    for chunk in ids.chunks(500) {
        crate::per_backend!(c, |conn| diesel::update(
            wd::table
                .filter(BlobIn::new(wd::id, chunk))
                .filter(wd::state.ne(CLAIMED))
        )
        .set((wd::state.eq(PENDING), wd::due_at.eq(now), wd::updated_at.eq(now)))
        .execute(conn))
        .map_err(map_error)?;
    }
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<DeliveryRow> = crate::per_backend!(c, |conn| wd::table
            .filter(BlobIn::new(wd::id, chunk))
            .order((wd::created_at.desc(), wd::id.desc()))
            .select(delivery_columns!())
            .load(conn))
        .map_err(map_error)?;
        for row in rows {
            out.push(delivery(row)?);
        }
    }
    Ok(out)
}

/// `Store::prune_webhook_deliveries`: deliveries made before `before` that are no longer pending,
/// at most `limit`, with their attempts.
pub fn prune(c: &mut DbConnection, before: Timestamp, limit: u32) -> Result<usize> {
    let old: Vec<Vec<u8>> = wd::table
        .filter(wd::created_at.lt(before.millis()))
        .filter(wd::state.eq_any([DELIVERED, FAILED]))
        .order(wd::created_at.asc())
        .limit(i64::from(limit))
        .select(wd::id)
        .load(c)
        .map_err(map_error)?;
    if old.is_empty() {
        return Ok(0);
    }
    crate::per_backend!(c, |conn| diesel::delete(
        wa::table.filter(BlobIn::new(wa::delivery_id, &old))
    )
    .execute(conn))
    .map_err(map_error)?;
    crate::per_backend!(c, |conn| diesel::delete(wd::table.filter(BlobIn::new(wd::id, &old)))
        .execute(conn))
    .map_err(map_error)
}
