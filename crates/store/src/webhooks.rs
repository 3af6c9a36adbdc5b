//! Webhook subscriptions (`webhook_subscriptions`, migration 11): made, listed, changed and removed
//! per organization and dialect; secrets sealed at rest (`secrets.rs`), bound to the subscription.

use diesel::prelude::*;
use rosetta_core::webhooks::{CreatedWebhook, NewWebhook, Webhook, WebhookChanges};
use rosetta_core::*;

use crate::db::{map_error, DbConnection};
use crate::rows::*;
use crate::schema::webhook_subscriptions as w;
use crate::secrets::SecretKey;

type Row = (
    Vec<u8>,
    Vec<u8>,
    String,
    String,
    String,
    Option<String>,
    bool,
    i32,
    Option<i64>,
    i64,
    i64,
);

fn webhook(row: Row) -> Result<Webhook> {
    let (wid, org, dialect, url, events, description, is_active, failures, last, created_at, updated_at) = row;
    Ok(Webhook {
        id: id(&wid)?,
        org_id: id(&org)?,
        dialect: dialect
            .parse()
            .map_err(|_| corrupt("webhook_subscriptions.dialect", &dialect))?,
        url,
        events: serde_json::from_str(&events).map_err(|_| corrupt("webhook_subscriptions.events", &events))?,
        description,
        is_active,
        failure_count: i64::from(failures),
        last_delivery_at: last.map(Timestamp),
        created_at: Timestamp(created_at),
        updated_at: Timestamp(updated_at),
    })
}

macro_rules! columns {
    () => {
        (
            w::id,
            w::org_id,
            w::dialect,
            w::url,
            w::events,
            w::description,
            w::is_active,
            w::failure_count,
            w::last_delivery_at,
            w::created_at,
            w::updated_at,
        )
    };
}

/// `Store::create_webhook`: starts at the log's newest position (earlier events are not its).
pub fn create(c: &mut DbConnection, key: &SecretKey, org: Id, new: NewWebhook) -> Result<CreatedWebhook> {
    crate::directory::require_organization(c, org)?;
    let (webhook_id, now) = (Id::new(), Timestamp::now());
    let secret = rosetta_core::webhooks::new_secret();
    let secrets = serde_json::json!([{"id": Id::new().to_string(), "secret": secret,
                                      "created_at": now.millis(), "expires_at": null}]);
    let cursor = crate::events::newest(c, org)?;
    let events = serde_json::to_string(&new.events).map_err(|e| Error::Internal(e.to_string()))?;
    diesel::insert_into(w::table)
        .values((
            w::id.eq(b(webhook_id)),
            w::org_id.eq(b(org)),
            w::dialect.eq(new.dialect.as_str()),
            w::url.eq(&new.url),
            w::events.eq(&events),
            w::description.eq(&new.description),
            w::secrets.eq(key.seal(webhook_id, &secrets.to_string())),
            w::is_active.eq(true),
            w::failure_count.eq(0),
            w::cursor.eq(cursor),
            w::created_at.eq(now.millis()),
            w::updated_at.eq(now.millis()),
        ))
        .execute(c)
        .map_err(map_error)?;
    Ok(CreatedWebhook {
        webhook: Webhook {
            id: webhook_id,
            org_id: org,
            dialect: new.dialect,
            url: new.url,
            events: new.events,
            description: new.description,
            is_active: true,
            failure_count: 0,
            last_delivery_at: None,
            created_at: now,
            updated_at: now,
        },
        secret,
    })
}

/// `Store::list_webhooks`.
pub fn list(c: &mut DbConnection, org: Id, dialect: Dialect) -> Result<Vec<Webhook>> {
    let rows: Vec<Row> = w::table
        .filter(w::org_id.eq(b(org)))
        .filter(w::dialect.eq(dialect.as_str()))
        .order((w::created_at.desc(), w::id.desc()))
        .limit(1000)
        .select(columns!())
        .load(c)
        .map_err(map_error)?;
    rows.into_iter().map(webhook).collect()
}

/// `Store::get_webhook`.
pub fn get(c: &mut DbConnection, org: Id, dialect: Dialect, webhook_id: Id) -> Result<Webhook> {
    let row: Option<Row> = w::table
        .filter(w::id.eq(b(webhook_id)))
        .filter(w::org_id.eq(b(org)))
        .filter(w::dialect.eq(dialect.as_str()))
        .select(columns!())
        .first(c)
        .optional()
        .map_err(map_error)?;
    webhook(row.ok_or(Error::NotFound(EntityKind::Webhook))?)
}

/// `Store::update_webhook`.
pub fn update(
    c: &mut DbConnection,
    org: Id,
    dialect: Dialect,
    webhook_id: Id,
    changes: WebhookChanges,
) -> Result<Webhook> {
    let mut current = get(c, org, dialect, webhook_id)?;
    if let Some(url) = changes.url {
        current.url = url;
    }
    if let Some(events) = changes.events {
        current.events = events;
    }
    if let Some(description) = changes.description {
        current.description = description;
    }
    if let Some(active) = changes.is_active {
        if active && !current.is_active {
            current.failure_count = 0;
        }
        current.is_active = active;
    }
    current.updated_at = Timestamp::now();
    let events = serde_json::to_string(&current.events).map_err(|e| Error::Internal(e.to_string()))?;
    diesel::update(w::table.find(b(webhook_id)))
        .set((
            w::url.eq(&current.url),
            w::events.eq(&events),
            w::description.eq(&current.description),
            w::is_active.eq(current.is_active),
            w::failure_count.eq(current.failure_count as i32),
            w::updated_at.eq(current.updated_at.millis()),
        ))
        .execute(c)
        .map_err(map_error)?;
    Ok(current)
}

/// `Store::delete_webhook`.
pub fn delete(c: &mut DbConnection, org: Id, dialect: Dialect, webhook_id: Id) -> Result<()> {
    get(c, org, dialect, webhook_id)?;
    diesel::delete(w::table.find(b(webhook_id)))
        .execute(c)
        .map(|_| ())
        .map_err(map_error)
}
