//! Webhook subscriptions (`webhook_subscriptions`, migration 11): made, listed, changed and removed
//! per organization and dialect; secrets sealed at rest (`secrets.rs`), bound to the subscription.

use diesel::prelude::*;
use rosetta_core::webhooks::{CreatedWebhook, NewWebhook, RotatedSecret, SecretInfo, Webhook, WebhookChanges};
use rosetta_core::*;
use serde_json::json;

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
    String,
    i64,
    i64,
);

/// The shown part of the secrets, as stored.
fn info_json(secrets: &[SecretInfo]) -> String {
    serde_json::Value::Array(
        secrets
            .iter()
            .map(|s| {
                json!({"id": s.id.to_string(), "created_at": s.created_at.millis(),
                            "expires_at": s.expires_at.map(|t| t.millis())})
            })
            .collect(),
    )
    .to_string()
}

fn info(raw: &str) -> Result<Vec<SecretInfo>> {
    let bad = || corrupt("webhook_subscriptions.secret_info", raw);
    let list: Vec<serde_json::Value> = serde_json::from_str(raw).map_err(|_| bad())?;
    list.into_iter()
        .map(|s| {
            Ok(SecretInfo {
                id: s["id"].as_str().and_then(|i| i.parse().ok()).ok_or_else(bad)?,
                created_at: Timestamp(s["created_at"].as_i64().ok_or_else(bad)?),
                expires_at: s["expires_at"].as_i64().map(Timestamp),
            })
        })
        .collect()
}

fn webhook(row: Row) -> Result<Webhook> {
    let (wid, org, dialect, url, events, description, is_active, failures, last, secret_info, created_at, updated_at) =
        row;
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
        secrets: info(&secret_info)?,
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
            w::secret_info,
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
    let first = SecretInfo {
        id: Id::new(),
        created_at: now,
        expires_at: None,
    };
    let secrets = json!([{"id": first.id.to_string(), "secret": secret,
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
            w::secret_info.eq(info_json(std::slice::from_ref(&first))),
            w::secrets.eq(key.seal(webhook_id, &secrets.to_string())),
            w::is_active.eq(new.is_active),
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
            is_active: new.is_active,
            failure_count: 0,
            last_delivery_at: None,
            secrets: vec![first],
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
    // Re-enabling resets the failures and starts from the log's end: what happened while it was
    // disabled is not delivered (deliveries already made and pending resume).
    let mut cursor = None;
    if let Some(active) = changes.is_active {
        if active && !current.is_active {
            current.failure_count = 0;
            cursor = Some(crate::events::newest(c, org)?);
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
    if let Some(cursor) = cursor {
        diesel::update(w::table.find(b(webhook_id)))
            .set(w::cursor.eq(cursor))
            .execute(c)
            .map_err(map_error)?;
    }
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

/// `Store::rotate_webhook_secret`: the secrets unsealed, the older ones given an expiry (one already
/// expiring keeps the sooner), the new one added, all sealed again; expired ones dropped.
pub fn rotate(
    c: &mut DbConnection,
    key: &SecretKey,
    org: Id,
    dialect: Dialect,
    webhook_id: Id,
    old_expire_at: Timestamp,
) -> Result<RotatedSecret> {
    let mut current = get(c, org, dialect, webhook_id)?;
    let sealed: Vec<u8> = w::table
        .find(b(webhook_id))
        .select(w::secrets)
        .first(c)
        .map_err(map_error)?;
    let opened = key.open(webhook_id, &sealed)?;
    let mut secrets: Vec<serde_json::Value> =
        serde_json::from_str(&opened).map_err(|_| corrupt("webhook_subscriptions.secrets", "not a list"))?;
    let now = Timestamp::now();
    for s in secrets.iter_mut() {
        let expiry = match s["expires_at"].as_i64() {
            Some(at) => at.min(old_expire_at.millis()),
            None => old_expire_at.millis(),
        };
        s["expires_at"] = json!(expiry);
    }
    secrets.retain(|s| s["expires_at"].as_i64().is_none_or(|at| at > now.millis()));
    let secret = rosetta_core::webhooks::new_secret();
    let new_id = Id::new();
    secrets.push(json!({"id": new_id.to_string(), "secret": secret, "created_at": now.millis(), "expires_at": null}));
    let shown: Vec<SecretInfo> = secrets
        .iter()
        .map(|s| SecretInfo {
            id: s["id"].as_str().and_then(|i| i.parse().ok()).unwrap_or(new_id),
            created_at: Timestamp(s["created_at"].as_i64().unwrap_or(now.millis())),
            expires_at: s["expires_at"].as_i64().map(Timestamp),
        })
        .collect();
    diesel::update(w::table.find(b(webhook_id)))
        .set((
            w::secrets.eq(key.seal(webhook_id, &serde_json::Value::Array(secrets).to_string())),
            w::secret_info.eq(info_json(&shown)),
            w::updated_at.eq(now.millis()),
        ))
        .execute(c)
        .map_err(map_error)?;
    current.secrets = shown;
    current.updated_at = now;
    Ok(RotatedSecret {
        webhook: current,
        secret,
    })
}
