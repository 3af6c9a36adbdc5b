//! Synthetic data for demos and benchmarks: realistic, and the same for the same seed.
//!
//! Contacts with names in several scripts and E.164 phones of several countries, tags, agents,
//! conversations in every status with and without assignees, and messages of every content type
//! in both directions with their delivery statuses, spread over six months. Rows are inserted in
//! batched transactions.

use diesel::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rosetta_core::store::ConversationUpdate;
use rosetta_core::*;

use crate::db::map_error;
use crate::rows::*;
use crate::schema::*;
use crate::DieselStore;

#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub conversations: u64,
    pub messages_per_conversation: u32,
    pub seed: u64,
}

impl Default for SeedOptions {
    fn default() -> Self {
        SeedOptions {
            conversations: 1000,
            messages_per_conversation: 10,
            seed: 1,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub accounts: u64,
    pub users: u64,
    pub tags: u64,
    pub contacts: u64,
    pub conversations: u64,
    pub messages: u64,
}

/// Conversations per transaction.
const BATCH: usize = 2000;
/// The seeded timeline ends here (2026-11-01T00:00:00Z) and spans `SPREAD_DAYS` before it, so that
/// the same seed gives the same data whatever day it runs.
const ANCHOR_MILLIS: i64 = 1_793_491_200_000;
const SPREAD_DAYS: i64 = 180;

const NAMES: &[(&[&str], &[&str])] = &[
    (
        &[
            "James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "Sarah", "David",
        ],
        &["Smith", "Johnson", "Williams", "Brown", "Jones", "Miller"],
    ),
    (
        &["María", "José", "Lucía", "Carlos", "Sofía", "Javier"],
        &["García", "Fernández", "López", "Martínez", "Sánchez"],
    ),
    (
        &["أحمد", "فاطمة", "محمد", "مريم", "علي", "نور"],
        &["حسن", "العلي", "الخطيب", "منصور"],
    ),
    (
        &["आरव", "सान्या", "विवान", "अनन्या", "रोहन"],
        &["शर्मा", "वर्मा", "पटेल", "सिंह"],
    ),
    (
        &["Иван", "Ольга", "Дмитрий", "Анна", "Сергей"],
        &["Иванов", "Смирнова", "Кузнецов", "Попова"],
    ),
    (&["伟", "芳", "娜", "敏", "静"], &["王", "李", "张", "刘"]),
    (
        &["Yuki", "Haruto", "さくら", "蓮", "Aoi"],
        &["Sato", "Suzuki", "高橋", "田中"],
    ),
    (
        &["Budi", "Siti", "Agus", "Dewi", "Putri"],
        &["Santoso", "Wijaya", "Hidayat", "Lestari"],
    ),
    (
        &["Ahmed", "Sheena", "Olu", "Chidi", "Amara"],
        &["Hassan", "Nelson", "Okafor", "Mensah"],
    ),
];

/// Country prefix and a national prefix; the index fills the remaining digits.
const PHONES: &[(&str, &str)] = &[
    ("1", "415"),
    ("44", "7700"),
    ("971", "50"),
    ("91", "98"),
    ("62", "812"),
    ("55", "119"),
    ("7", "916"),
    ("86", "138"),
    ("49", "151"),
];

const TAGS: &[(&str, &str)] = &[
    ("vip", "#f59e0b"),
    ("returning", DEFAULT_TAG_COLOR),
    ("wholesale", "#10b981"),
    ("complaint", "#ef4444"),
    ("lead", "#8b5cf6"),
    ("priority", "#ec4899"),
];

const TEXTS: &[&str] = &[
    "When will my order arrive?",
    "Thanks for the information!",
    "Hey, I have a question about my order.",
    "Can I change the delivery address?",
    "¿Tienen esto en otro color?",
    "متى سيصل طلبي؟",
    "मेरा ऑर्डर कहाँ है?",
    "Спасибо, всё получил 👍",
    "请问什么时候发货？",
    "Your order #4821 has shipped 🚚",
    "We're sorry for the delay, a new one is on its way.",
    "Apakah masih tersedia?",
    "Great, see you tomorrow 🙂",
];

impl DieselStore {
    /// Fills `org` with synthetic data. Running it again adds more (new contacts and conversations).
    pub fn seed(&self, org: Id, options: &SeedOptions, progress: &mut dyn FnMut(u64)) -> Result<SeedReport> {
        let mut report = SeedReport::default();
        let existing_contacts: i64 = self.read(|c| {
            crate::directory::require_organization(c, org)?;
            contacts::table
                .filter(contacts::org_id.eq(b(org)))
                .count()
                .get_result(c)
                .map_err(map_error)
        })?;
        let offset = existing_contacts as u64;
        if offset + options.conversations > 10_000_000 {
            return Err(Error::invalid(
                "conversations",
                "seed makes at most 10,000,000 contacts per organization",
            ));
        }
        // The content depends only on the seed (and on how many contacts came before, so that a
        // second run adds new rows); account numbers, which are unique across organizations, also
        // on the organization.
        let mut seed_bytes = [0u8; 32];
        seed_bytes[..8].copy_from_slice(&options.seed.to_le_bytes());
        seed_bytes[8..16].copy_from_slice(&offset.to_le_bytes());
        let mut rng = ChaCha8Rng::from_seed(seed_bytes);
        seed_bytes[16..].copy_from_slice(&org.to_bytes());
        let mut org_rng = ChaCha8Rng::from_seed(seed_bytes);

        // Accounts, agents and tags: reuse what the organization has, make what it lacks.
        let mut accounts = self.list_accounts(org, false)?;
        if accounts.is_empty() {
            for (i, name) in ["Support", "Sales"].into_iter().enumerate() {
                let phone_number_id: String = format!("1{:014}", org_rng.random_range(0..100_000_000_000_000u64));
                let phone = format!(
                    "+1555{:07}",
                    org_rng.random_range(0..10_000_000u32) / 10 * 10 + i as u32
                );
                accounts.push(self.create_account(org, &phone_number_id, &phone, Some(name))?);
                report.accounts += 1;
            }
        }
        let mut users: Vec<User> = self
            .read(|c| {
                users::table
                    .filter(users::org_id.eq(b(org)))
                    .select(UserRow::as_select())
                    .load(c)
                    .map_err(map_error)
            })?
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<_>>()?;
        if users.is_empty() {
            for (name, email) in [
                ("Support Agent", "agent@example.com"),
                ("Layla Haddad", "layla@example.com"),
                ("Tomás Ruiz", "tomas@example.com"),
                ("Priya Nair", "priya@example.com"),
                ("陈静", "chen@example.com"),
                ("Bot Supervisor", "bots@example.com"),
            ] {
                users.push(self.create_user(org, name, email)?);
                report.users += 1;
            }
        }
        let tag_ids: Vec<Vec<u8>> = self.write(|c| {
            let mut ids = Vec::new();
            for (name, color) in TAGS {
                let found: Option<Vec<u8>> = tags::table
                    .filter(tags::org_id.eq(b(org)))
                    .filter(tags::name.eq(*name))
                    .select(tags::id)
                    .first(c)
                    .optional()
                    .map_err(map_error)?;
                let tag_id = match found {
                    Some(id) => id,
                    None => {
                        let row = TagRow {
                            id: b(Id::new()),
                            org_id: b(org),
                            name: (*name).to_owned(),
                            color: (*color).to_owned(),
                            created_at: ANCHOR_MILLIS - SPREAD_DAYS * 86_400_000,
                        };
                        diesel::insert_into(tags::table)
                            .values(&row)
                            .execute(c)
                            .map_err(map_error)?;
                        row.id
                    }
                };
                ids.push(tag_id);
            }
            Ok(ids)
        })?;
        report.tags = tag_ids.len() as u64;

        let start = ANCHOR_MILLIS - SPREAD_DAYS * 86_400_000;
        let step = (SPREAD_DAYS * 86_400_000) / options.conversations.max(1) as i64;
        let mut done = 0u64;
        while done < options.conversations {
            let n = (options.conversations - done).min(BATCH as u64);
            let mut batch = Batch::default();
            for k in 0..n {
                let i = done + k;
                let created = start + step * i as i64 + rng.random_range(0..step.max(1));
                generate(
                    &mut rng,
                    &mut batch,
                    org,
                    offset + i,
                    created,
                    options.messages_per_conversation,
                    &accounts,
                    &users,
                    &tag_ids,
                )?;
            }
            self.write(|c| batch.insert(c))?;
            report.contacts += batch.contacts.len() as u64;
            report.conversations += batch.conversations.len() as u64;
            report.messages += batch.messages.len() as u64;
            done += n;
            progress(done);
        }
        // A bulk load leaves PostgreSQL's planner without statistics until autovacuum's analyze
        // runs (never, where autovacuum is off): it then chose the organization's ordered index
        // for a one-contact filter and scanned it whole (100 ms+ a page on 1,000,000
        // conversations, and 503s under load). Gather them now.
        self.read(|c| match c {
            crate::db::DbConnection::Pg(c) => diesel::sql_query("ANALYZE").execute(c).map(|_| ()).map_err(map_error),
            crate::db::DbConnection::Sqlite(_) => Ok(()),
        })?;
        Ok(report)
    }
}

#[derive(Default)]
struct Batch {
    contacts: Vec<ContactRow>,
    contact_tags: Vec<ContactTagRow>,
    conversations: Vec<ConversationRow>,
    messages: Vec<MessageRow>,
}

/// Multi-row INSERT: diesel builds it per backend (SQLite and PostgreSQL spell `DEFAULT` apart),
/// so this is the one place the store branches on the backend for a plain insert.
macro_rules! insert_many {
    ($c:expr, $table:expr, $rows:expr) => {
        match $c {
            crate::DbConnection::Sqlite(c) => diesel::insert_into($table).values($rows).execute(c),
            crate::DbConnection::Pg(c) => diesel::insert_into($table).values($rows).execute(c),
        }
        .map_err(map_error)?
    };
}

impl Batch {
    fn insert(&self, c: &mut crate::DbConnection) -> Result<()> {
        // SQLite allows 32,766 bound values a statement: keep every chunk below it.
        for chunk in self.contacts.chunks(2000) {
            insert_many!(c, contacts::table, chunk);
        }
        for chunk in self.contact_tags.chunks(5000) {
            insert_many!(c, contact_tags::table, chunk);
        }
        for chunk in self.conversations.chunks(1000) {
            insert_many!(c, conversations::table, chunk);
        }
        for chunk in self.messages.chunks(1000) {
            insert_many!(c, messages::table, chunk);
        }
        Ok(())
    }
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

#[allow(clippy::too_many_arguments)]
fn generate(
    rng: &mut ChaCha8Rng,
    batch: &mut Batch,
    org: Id,
    index: u64,
    created: i64,
    messages_per_conversation: u32,
    accounts: &[WhatsAppAccount],
    users: &[User],
    tag_ids: &[Vec<u8>],
) -> Result<()> {
    let (firsts, lasts) = NAMES[(index % NAMES.len() as u64) as usize];
    let name = format!("{} {}", pick(rng, firsts), pick(rng, lasts));
    let (country, national) = PHONES[(index / NAMES.len() as u64 % PHONES.len() as u64) as usize];
    let phone = format!("+{country}{national}{:07}", index % 10_000_000);
    let contact_id = Id::at_millis(created, rng.random());
    let email = rng.random_bool(0.4).then(|| format!("customer{index}@example.com"));
    let company = rng
        .random_bool(0.3)
        .then(|| pick(rng, &["Acme", "Globex", "Initech", "Umbrella", "Stark Industries"]).to_string());
    let avatar_url = rng
        .random_bool(0.2)
        .then(|| format!("https://cdn.example.com/avatars/{index}.jpg"));
    batch.contacts.push(ContactRow {
        id: b(contact_id),
        org_id: b(org),
        phone,
        name: rng.random_bool(0.95).then_some(name),
        email,
        company,
        avatar_url,
        metadata: None,
        created_at: created,
        updated_at: created,
    });
    let tag_count = match rng.random_range(0..10) {
        0..=5 => 0,
        6..=8 => 1,
        _ => 2,
    };
    let first_tag = rng.random_range(0..tag_ids.len());
    for t in 0..tag_count {
        batch.contact_tags.push(ContactTagRow {
            contact_id: b(contact_id),
            tag_id: tag_ids[(first_tag + t) % tag_ids.len()].clone(),
        });
    }

    let status = match rng.random_range(0..100) {
        0..=29 => ConversationStatus::Open,
        30..=39 => ConversationStatus::Pending,
        40..=54 => ConversationStatus::AiHandling,
        55..=64 => ConversationStatus::Escalated,
        _ => ConversationStatus::Closed,
    };
    let assignee = rng.random_bool(0.6).then(|| pick(rng, users).id);
    let account = pick(rng, accounts).id;
    let conversation_id = Id::at_millis(created, rng.random());
    let mut row = ConversationRow {
        id: b(conversation_id),
        org_id: b(org),
        account_id: b(account),
        contact_id: b(contact_id),
        status: status.as_str().to_owned(),
        assignee_id: assignee.map(b),
        unread_count: 0,
        last_message_text: None,
        last_message_direction: None,
        last_message_at: None,
        last_message_key: 0,
        last_activity_at: 0,
        last_inbound_at: None,
        source: Some(
            pick(
                rng,
                &["organic", "organic", "campaign", "click_to_whatsapp_ad", "import"],
            )
            .to_string(),
        ),
        first_message_at: None,
        resolution: None,
        closed_at: None,
        closed_by: None,
        created_at: created,
        updated_at: created,
    };

    // 2% of conversations have no message yet: they sort last by last_message_at.
    let count = if rng.random_bool(0.02) {
        0
    } else {
        messages_per_conversation
    };
    let mut at = created;
    for m in 0..count {
        at += rng.random_range(5_000..7_200_000);
        let direction = if m == 0 || rng.random_bool(0.55) {
            Direction::Inbound
        } else {
            Direction::Outbound
        };
        let content_type = if rng.random_bool(0.6) {
            ContentType::Text
        } else {
            *pick(rng, &ContentType::ALL)
        };
        let message_id = Id::at_millis(at, rng.random());
        let mut body = MessageBody::default();
        match content_type {
            ContentType::Text => body.text = Some(pick(rng, TEXTS).to_string()),
            ContentType::Image
            | ContentType::Video
            | ContentType::Audio
            | ContentType::Document
            | ContentType::Sticker => {
                let (mime, ext) = match content_type {
                    ContentType::Image => ("image/jpeg", "jpg"),
                    ContentType::Video => ("video/mp4", "mp4"),
                    ContentType::Audio => ("audio/ogg", "ogg"),
                    ContentType::Document => ("application/pdf", "pdf"),
                    _ => ("image/webp", "webp"),
                };
                body.media_id = Some(format!(
                    "{}",
                    rng.random_range(100_000_000_000_000u64..999_999_999_999_999)
                ));
                body.media_url = Some(format!("https://media.example.com/{message_id}.{ext}"));
                body.mime_type = Some(mime.to_owned());
                if content_type == ContentType::Document {
                    body.filename = Some(format!("invoice-{index}.pdf"));
                }
                if matches!(content_type, ContentType::Image | ContentType::Video) && rng.random_bool(0.5) {
                    body.text = Some(pick(rng, TEXTS).to_string());
                }
            }
            ContentType::Location => {
                body.latitude = Some(rng.random_range(-60.0..60.0));
                body.longitude = Some(rng.random_range(-180.0..180.0));
                body.location_name = Some("Pickup point".to_owned());
                body.location_address = Some("12 Harbour Road".to_owned());
            }
            ContentType::Interactive => {
                body.interactive_reply_id = Some(format!("option_{}", rng.random_range(1..5)));
                body.interactive_reply_title =
                    Some(pick(rng, &["Track my order", "Talk to an agent", "Returns"]).to_string());
                body.text = body.interactive_reply_title.clone();
            }
            ContentType::Button => {
                body.button_payload = Some("CONFIRM".to_owned());
                body.text = Some("Confirm".to_owned());
            }
            ContentType::Reaction => {
                body.reaction_emoji = Some(pick(rng, &["👍", "❤️", "😂", "🙏"]).to_string());
                body.reaction_to_wamid = batch.messages.last().and_then(|p| p.wamid.clone());
            }
            ContentType::Template => {
                body.template_name = Some(pick(rng, &["order_shipped", "appointment_reminder", "welcome"]).to_string());
                body.text = Some("Your order has shipped.".to_owned());
            }
            ContentType::Unsupported => body.raw_type = Some("ephemeral".to_owned()),
        }
        // Templates are sent, never received.
        let direction = if content_type == ContentType::Template {
            Direction::Outbound
        } else {
            direction
        };
        let status = match direction {
            Direction::Inbound => MessageStatus::Received,
            Direction::Outbound => match rng.random_range(0..20) {
                0 => MessageStatus::Failed,
                1..=3 => MessageStatus::Sent,
                4..=9 => MessageStatus::Delivered,
                _ => MessageStatus::Read,
            },
        };
        let (error_code, error_title) = if status == MessageStatus::Failed {
            (Some(131026), Some("Message undeliverable".to_owned()))
        } else {
            (None, None)
        };
        let sender_user_id = (direction == Direction::Outbound).then_some(assignee).flatten();
        let sender_type = match direction {
            Direction::Inbound => SenderType::Customer,
            Direction::Outbound if sender_user_id.is_some() => SenderType::Agent,
            Direction::Outbound => SenderType::Bot,
        };
        let message = Message {
            id: message_id,
            org_id: org,
            conversation_id,
            wamid: Some(format!("wamid.{message_id}")),
            direction,
            sender_type,
            sender_user_id,
            content_type,
            body,
            status,
            error_code,
            error_title,
            // Seeded media ids are made up: nothing to fetch.
            media: None,
            created_at: Timestamp(at),
            updated_at: Timestamp(at),
        };
        // The rule live appends and ingest follow (`rules.rs`), so a seeded database agrees with a
        // live one.
        row.record_message(direction, at, message.body.text.as_deref(), at);
        batch.messages.push(MessageRow::from_domain(&message));
    }
    // The status is set after the messages (an inbound message would reopen a closed one), by the
    // update rule every other path uses.
    let closer = assignee.or_else(|| users.first().map(|u| u.id));
    let status_change = ConversationUpdate {
        status: Some(status),
        actor: closer,
        ..Default::default()
    };
    row.status = ConversationStatus::Open.as_str().to_owned();
    row.apply_update(&status_change, at + 3_600_000)?;
    if status != ConversationStatus::Closed {
        row.updated_at = at;
    }
    // A conversation without messages still needs its sort keys (-1, and its creation time).
    row.refresh_sort_keys();
    batch.conversations.push(row);
    Ok(())
}
