//! What a list asks for: filters, orderings and pages (design.md, "Lists").

use crate::id::Id;
use crate::status::ConversationStatus;

/// Every list returns at most this many rows a page, whatever the dialect.
pub const MAX_LIMIT: u32 = 100;

/// The orderings conversations can be listed in. Each ends in id desc, so every row has one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConversationOrder {
    /// `created_at` desc, id desc (wacrm).
    CreatedDesc,
    /// `last_message_at` desc nulls last, id desc (kirim).
    LastMessageDesc,
    /// Last activity desc, id desc (envelope): the last message's time, or the creation time for a
    /// conversation without messages.
    LastActivityDesc,
}

impl ConversationOrder {
    pub const ALL: [ConversationOrder; 3] = [
        ConversationOrder::CreatedDesc,
        ConversationOrder::LastMessageDesc,
        ConversationOrder::LastActivityDesc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConversationOrder::CreatedDesc => "created_desc",
            ConversationOrder::LastMessageDesc => "last_message_desc",
            ConversationOrder::LastActivityDesc => "last_activity_desc",
        }
    }
}

/// Which conversations a list selects. Every field narrows; `None` does not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationFilter {
    /// `Some(empty)` selects nothing (a status word the dialect does not know).
    pub statuses: Option<Vec<ConversationStatus>>,
    pub contact_id: Option<Id>,
    pub assignee_id: Option<Id>,
    pub account_id: Option<Id>,
}

impl ConversationFilter {
    /// A stable description of the filter, to which cursors are bound.
    pub fn fingerprint(&self, org: Id, order: ConversationOrder) -> String {
        let mut statuses: Vec<&str> = self.statuses.iter().flatten().map(|s| s.as_str()).collect();
        statuses.sort_unstable();
        statuses.dedup();
        format!(
            "conversations|{org}|{}|{}|{}|{}|{}",
            order.as_str(),
            if self.statuses.is_some() {
                statuses.join(",")
            } else {
                "*".to_owned()
            },
            opt(self.contact_id),
            opt(self.assignee_id),
            opt(self.account_id),
        )
    }

    /// True when the filter can match nothing at all.
    pub fn is_empty_set(&self) -> bool {
        self.statuses.as_ref().is_some_and(|s| s.is_empty())
    }
}

/// Which contacts a list selects. Contacts list `created_at` desc, id desc.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactFilter {
    /// Part of the name or of the phone number, case-insensitive.
    pub search: Option<String>,
    /// Exactly this E.164 phone.
    pub phone: Option<String>,
    pub tag_id: Option<Id>,
}

impl ContactFilter {
    pub fn fingerprint(&self, org: Id) -> String {
        format!(
            "contacts|{org}|{}|{}|{}",
            self.search.as_deref().unwrap_or("*"),
            self.phone.as_deref().unwrap_or("*"),
            opt(self.tag_id)
        )
    }
}

/// Messages of one conversation, newest first.
pub fn messages_fingerprint(org: Id, conversation: Id) -> String {
    format!("messages|{org}|{conversation}")
}

fn opt(id: Option<Id>) -> String {
    id.map_or_else(|| "*".to_owned(), |id| id.to_string())
}

/// How a caller pages through a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageRequest {
    /// Keyset paging: `cursor` is the `next_cursor` of the previous page, `None` for the first page.
    Keyset { limit: u32, cursor: Option<String> },
    /// Page/limit paging (1-based page) with an exact total.
    Offset { page: u32, limit: u32 },
}

impl PageRequest {
    pub fn first(limit: u32) -> Self {
        PageRequest::Keyset { limit, cursor: None }
    }

    pub fn limit(&self) -> u32 {
        match self {
            PageRequest::Keyset { limit, .. } | PageRequest::Offset { limit, .. } => (*limit).clamp(1, MAX_LIMIT),
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Keyset paging: where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
    pub has_more: bool,
    /// Offset paging: every row the filter selects.
    pub total: Option<u64>,
}

impl<T> Page<T> {
    pub fn empty() -> Self {
        Page {
            items: Vec::new(),
            next_cursor: None,
            has_more: false,
            total: None,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
            has_more: self.has_more,
            total: self.total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_status_order_but_not_status_sets() {
        let org = Id::new();
        let a = ConversationFilter {
            statuses: Some(vec![ConversationStatus::Open, ConversationStatus::Escalated]),
            ..Default::default()
        };
        let b = ConversationFilter {
            statuses: Some(vec![ConversationStatus::Escalated, ConversationStatus::Open]),
            ..Default::default()
        };
        let c = ConversationFilter {
            statuses: Some(vec![ConversationStatus::Open]),
            ..Default::default()
        };
        let order = ConversationOrder::CreatedDesc;
        assert_eq!(a.fingerprint(org, order), b.fingerprint(org, order));
        assert_ne!(a.fingerprint(org, order), c.fingerprint(org, order));
        assert_ne!(
            a.fingerprint(org, order),
            a.fingerprint(org, ConversationOrder::LastMessageDesc)
        );
        assert_ne!(a.fingerprint(org, order), a.fingerprint(Id::new(), order));
        assert_ne!(
            ConversationFilter::default().fingerprint(org, order),
            ConversationFilter {
                statuses: Some(vec![]),
                ..Default::default()
            }
            .fingerprint(org, order)
        );
    }

    #[test]
    fn limits_are_clamped() {
        assert_eq!(PageRequest::first(0).limit(), 1);
        assert_eq!(PageRequest::first(500).limit(), 100);
        assert_eq!(PageRequest::Offset { page: 3, limit: 20 }.limit(), 20);
    }
}
