//! Applying webhook deliveries: contacts and conversations found or made, messages stored once,
//! statuses moved forward only.

use std::collections::HashMap;

use diesel::prelude::*;
use rosetta_core::ingest::{InboundMessage, IngestEvent, IngestReport, StatusUpdate};
use rosetta_core::store::NewMessage;
use rosetta_core::*;

use crate::db::{map_error, DbConnection};
use crate::rows::*;
use crate::schema::*;

/// Applies every event; the caller wraps this in one transaction.
pub fn apply(c: &mut DbConnection, events: &[IngestEvent]) -> Result<IngestReport> {
    let mut report = IngestReport::default();
    // phone_number_id -> (organization, account), looked up once per delivery.
    let mut accounts: HashMap<String, Option<(Id, Id)>> = HashMap::new();
    for event in events {
        let pnid = match event {
            IngestEvent::Message(m) | IngestEvent::Echo(m) => &m.phone_number_id,
            IngestEvent::Status(s) => &s.phone_number_id,
        };
        if !accounts.contains_key(pnid) {
            let found: Option<(Vec<u8>, Vec<u8>)> = whatsapp_accounts::table
                .filter(whatsapp_accounts::phone_number_id.eq(pnid))
                .select((whatsapp_accounts::org_id, whatsapp_accounts::id))
                .first(c)
                .optional()
                .map_err(map_error)?;
            accounts.insert(
                pnid.clone(),
                found
                    .map(|(org, account)| Ok::<_, Error>((id(&org)?, id(&account)?)))
                    .transpose()?,
            );
        }
        let Some((org, account)) = accounts[pnid] else {
            if !report.unknown_accounts.contains(pnid) {
                report.unknown_accounts.push(pnid.clone());
            }
            continue;
        };
        match event {
            IngestEvent::Message(m) => message(c, org, account, m, Direction::Inbound, &mut report)?,
            IngestEvent::Echo(m) => message(c, org, account, m, Direction::Outbound, &mut report)?,
            IngestEvent::Status(s) => status(c, org, s, &mut report)?,
        }
    }
    Ok(report)
}

/// A customer's message (`Inbound`), or an echo of one the business sent from the WhatsApp
/// Business app (`Outbound`: an agent's, already `sent`).
fn message(
    c: &mut DbConnection,
    org: Id,
    account: Id,
    m: &InboundMessage,
    direction: Direction,
    report: &mut IngestReport,
) -> Result<()> {
    if crate::messages::find_by_wamid(c, org, &m.wamid)?.is_some() {
        report.duplicates += 1;
        return Ok(());
    }
    let phone = validate::normalize_phone("wa_id", &m.wa_id)?;
    // The contact name rule `create_contact` applies, for a name Meta sends.
    let profile_name = validate::profile_name(m.profile_name.as_deref());
    let contact = match crate::contacts::find_by_phone(c, org, &phone)? {
        Some(mut row) => {
            if let Some(name) = profile_name.filter(|n| row.name.as_deref() != Some(n.as_str())) {
                row.updated_at = Timestamp::now().millis();
                diesel::update(contacts::table.find(row.id.clone()))
                    .set((contacts::name.eq(&name), contacts::updated_at.eq(row.updated_at)))
                    .execute(c)
                    .map_err(map_error)?;
                row.name = Some(name);
                crate::events::contact_updated(c, &row)?;
            }
            id(&row.id)?
        }
        None => {
            let now = Timestamp::now().millis();
            let row = ContactRow {
                id: b(Id::new()),
                org_id: b(org),
                phone,
                name: profile_name,
                email: None,
                company: None,
                avatar_url: None,
                metadata: None,
                created_at: now,
                updated_at: now,
            };
            diesel::insert_into(contacts::table)
                .values(&row)
                .execute(c)
                .map_err(map_error)?;
            crate::events::contact_created(c, &row)?;
            id(&row.id)?
        }
    };
    let conversation = crate::rules::find_or_open(c, org, account, contact, Some("organic"), Timestamp::now())?;
    let conversation_id = id(&conversation.id)?;
    let stored = crate::messages::append_to(
        c,
        org,
        conversation,
        NewMessage {
            conversation_id,
            wamid: Some(m.wamid.clone()),
            direction,
            sender_type: match direction {
                Direction::Inbound => SenderType::Customer,
                Direction::Outbound => SenderType::Agent,
            },
            sender_user_id: None,
            content_type: m.content_type,
            body: m.body.clone(),
            status: match direction {
                Direction::Inbound => MessageStatus::Received,
                Direction::Outbound => MessageStatus::Sent,
            },
            created_at: m.timestamp,
        },
    )?;
    // A received file is fetched from Meta while its link can still be had: queued with the message.
    let is_media = matches!(
        stored.content_type,
        ContentType::Image | ContentType::Video | ContentType::Audio | ContentType::Document | ContentType::Sticker
    );
    if let (true, Some(media_id)) = (is_media, stored.body.media_id.as_deref()) {
        crate::media::enqueue(
            c,
            org,
            account,
            stored.id,
            media_id,
            m.media_sha256.as_deref(),
            stored.body.mime_type.as_deref(),
        )?;
    }
    report.messages += 1;
    Ok(())
}

fn status(c: &mut DbConnection, org: Id, s: &StatusUpdate, report: &mut IngestReport) -> Result<()> {
    let found = match crate::messages::find_by_wamid(c, org, &s.wamid)? {
        Some(row) => Some(row),
        // Our message whose wamid was never recorded (Meta took it, the answer was lost): the
        // id we sent as biz_opaque_callback_data names it.
        None => match &s.callback_data {
            Some(data) => crate::outbox::reconcile(c, org, data, &s.wamid)?,
            None => None,
        },
    };
    let Some(row) = found else {
        report.statuses_ignored += 1;
        return Ok(());
    };
    let current = MessageStatus::parse(&row.status).ok_or_else(|| corrupt("messages.status", &row.status))?;
    if row.direction != Direction::Outbound.as_str() || !current.can_advance_to(s.status) {
        report.statuses_ignored += 1;
        return Ok(());
    }
    let (code, title) = if s.status == MessageStatus::Failed {
        (s.error_code, s.error_title.clone())
    } else {
        (row.error_code, row.error_title.clone())
    };
    let error = (s.status == MessageStatus::Failed).then(|| (code, title.as_deref().unwrap_or_default()));
    crate::events::status_moved(c, &row, s.status, None, error)?;
    diesel::update(messages::table.find(row.id))
        .set((
            messages::status.eq(s.status.as_str()),
            messages::error_code.eq(code),
            messages::error_title.eq(title),
            messages::updated_at.eq(Timestamp::now().millis()),
        ))
        .execute(c)
        .map_err(map_error)?;
    report.statuses += 1;
    Ok(())
}
