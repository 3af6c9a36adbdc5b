//! The rules of a conversation, once: how a message moves it along (used by live appends, ingest
//! and the seeder alike, so a seeded database agrees with a live one), how its status and assignee
//! change, and finding or opening the conversation of an account and contact.
//!
//! **Unread**: an inbound message adds one; an outbound message that is the conversation's newest
//! clears it (an agent or bot answered, so the customer's messages before it have been seen). So
//! `unread_count` is the number of inbound messages since the last outbound reply. Closing does not
//! clear it; an older outbound message arriving late (a status webhook's echo, an import) does not
//! either.

use diesel::prelude::*;
use rosetta_core::store::ConversationUpdate;
use rosetta_core::*;

use crate::db::{map_error, DbConnection};
use crate::rows::*;
use crate::schema::*;

impl ConversationRow {
    /// The stored status, read through its parser (a word Rosetta never writes is an error).
    pub fn current_status(&self) -> Result<ConversationStatus> {
        self.status
            .parse()
            .map_err(|_| corrupt("conversations.status", &self.status))
    }

    /// Moves the conversation along for a message sent or received at `at`, recorded at `now`.
    pub fn record_message(&mut self, direction: Direction, at: i64, text: Option<&str>, now: i64) {
        let newest = self.last_message_at.is_none_or(|last| at >= last);
        if newest {
            self.last_message_at = Some(at);
            self.last_message_text = text.map(str::to_owned);
            self.last_message_direction = Some(direction.as_str().to_owned());
        }
        self.first_message_at = Some(self.first_message_at.map_or(at, |first| first.min(at)));
        match direction {
            Direction::Inbound => {
                self.unread_count += 1;
                self.last_inbound_at = Some(self.last_inbound_at.map_or(at, |last| last.max(at)));
                // A new inbound message reopens a closed conversation.
                if self.status == ConversationStatus::Closed.as_str() {
                    self.status = ConversationStatus::Open.as_str().to_owned();
                    self.clear_close();
                }
            }
            Direction::Outbound if newest => self.unread_count = 0,
            Direction::Outbound => {}
        }
        self.updated_at = now;
        self.refresh_sort_keys();
    }

    /// Applies a status change and an assignment (`ConversationUpdate` documents the rules);
    /// whether anything changed. The users it names are checked by the caller.
    pub fn apply_update(&mut self, update: &ConversationUpdate, now: i64) -> Result<bool> {
        let mut changed = false;
        if let Some(status) = update.status {
            let current = self.current_status()?;
            let already = current == status || update.asked_in.is_some_and(|d| current.project(d) == status.project(d));
            if !already {
                self.status = status.as_str().to_owned();
                if status == ConversationStatus::Closed {
                    self.resolution = Some(update.resolution.clone().unwrap_or_else(|| "resolved".to_owned()));
                    self.closed_at = Some(now);
                    self.closed_by = update.actor.map(b);
                } else if current == ConversationStatus::Closed {
                    self.clear_close();
                }
                changed = true;
            }
        }
        if let Some(assignee) = update.assignee {
            let wanted = assignee.map(b);
            if self.assignee_id != wanted {
                self.assignee_id = wanted;
                changed = true;
            }
        }
        if changed {
            self.updated_at = now;
        }
        Ok(changed)
    }

    fn clear_close(&mut self) {
        self.resolution = None;
        self.closed_at = None;
        self.closed_by = None;
    }
}

/// The conversation of this account and contact, loaded for update (locked on PostgreSQL), made
/// open if there is none (with `source` when given). The only find-or-open: `Store::open_conversation`
/// and ingest both come here.
pub fn find_or_open(
    c: &mut DbConnection,
    org: Id,
    account: Id,
    contact: Id,
    source: Option<&str>,
    now: Timestamp,
) -> Result<ConversationRow> {
    let existing: Option<Vec<u8>> = conversations::table
        .filter(conversations::account_id.eq(b(account)))
        .filter(conversations::contact_id.eq(b(contact)))
        .filter(conversations::org_id.eq(b(org)))
        .select(conversations::id)
        .first(c)
        .optional()
        .map_err(map_error)?;
    match existing {
        Some(conversation) => crate::conversations::load_for_update(c, org, id(&conversation)?),
        None => {
            let mut row = ConversationRow::from_domain(&new_conversation(org, account, contact, now));
            row.source = source.map(str::to_owned);
            diesel::insert_into(conversations::table)
                .values(&row)
                .execute(c)
                .map_err(map_error)?;
            crate::events::conversation_created(c, &row)?;
            Ok(row)
        }
    }
}

/// A new, open conversation with no message yet.
pub fn new_conversation(org: Id, account: Id, contact: Id, now: Timestamp) -> Conversation {
    Conversation {
        id: Id::new(),
        org_id: org,
        account_id: account,
        contact_id: contact,
        status: ConversationStatus::Open,
        assignee_id: None,
        unread_count: 0,
        last_message_text: None,
        last_message_direction: None,
        last_message_at: None,
        last_inbound_at: None,
        source: None,
        first_message_at: None,
        resolution: None,
        closed_at: None,
        closed_by: None,
        created_at: now,
        updated_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> ConversationRow {
        ConversationRow::from_domain(&new_conversation(Id::new(), Id::new(), Id::new(), Timestamp(1_000)))
    }

    #[test]
    fn unread_counts_inbound_since_the_last_reply() {
        let mut r = row();
        r.record_message(Direction::Inbound, 2_000, Some("hi"), 2_000);
        r.record_message(Direction::Inbound, 3_000, Some("hello?"), 3_000);
        assert_eq!(r.unread_count, 2);
        r.record_message(Direction::Outbound, 4_000, Some("Hi! How can I help?"), 4_000);
        assert_eq!(r.unread_count, 0, "a reply clears unread");
        r.record_message(Direction::Inbound, 5_000, Some("my order"), 5_000);
        assert_eq!(r.unread_count, 1);
        r.record_message(Direction::Outbound, 4_500, Some("late echo"), 6_000);
        assert_eq!(r.unread_count, 1, "an older outbound message clears nothing");
        assert_eq!(
            (
                r.last_message_at,
                r.last_message_text.as_deref(),
                r.first_message_at,
                r.last_inbound_at
            ),
            (Some(5_000), Some("my order"), Some(2_000), Some(5_000))
        );
    }

    #[test]
    fn inbound_reopens_and_updates_follow_the_rules() {
        let mut r = row();
        let actor = Id::new();
        assert!(r
            .apply_update(&ConversationUpdate::close(None, Some(actor)), 2_000)
            .unwrap());
        assert_eq!(
            (
                r.status.as_str(),
                r.resolution.as_deref(),
                r.closed_at,
                r.closed_by.clone()
            ),
            ("closed", Some("resolved"), Some(2_000), Some(b(actor)))
        );
        assert!(
            !r.apply_update(&ConversationUpdate::close(Some("spam".into()), None), 3_000)
                .unwrap(),
            "closing a closed conversation keeps its first close"
        );
        r.record_message(Direction::Inbound, 4_000, None, 4_000);
        assert_eq!((r.status.as_str(), r.closed_at), ("open", None));
        r.status = ConversationStatus::AiHandling.as_str().to_owned();
        let kirim_open = ConversationUpdate {
            status: Some(ConversationStatus::Open),
            asked_in: Some(Dialect::Kirim),
            ..Default::default()
        };
        assert!(
            !r.apply_update(&kirim_open, 5_000).unwrap(),
            "kirim already shows it open"
        );
        r.status = "bogus".into();
        assert!(r
            .apply_update(&ConversationUpdate::status(ConversationStatus::Open), 5_000)
            .is_err());
    }
}
