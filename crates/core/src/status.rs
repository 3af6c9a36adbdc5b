//! The canonical conversation status and how each dialect projects it (design.md, "Status model").

use std::fmt;
use std::str::FromStr;

/// The three API dialects Rosetta speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Wacrm,
    Kirim,
    Envelope,
}

impl Dialect {
    pub const ALL: [Dialect; 3] = [Dialect::Wacrm, Dialect::Kirim, Dialect::Envelope];

    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Wacrm => "wacrm",
            Dialect::Kirim => "kirim",
            Dialect::Envelope => "envelope",
        }
    }
}

impl FromStr for Dialect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dialect::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| format!("unknown dialect {s:?} (expected wacrm, kirim or envelope)"))
    }
}

/// One status, stored once; each dialect shows its own word for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConversationStatus {
    Open,
    Pending,
    AiHandling,
    Escalated,
    Closed,
}

impl ConversationStatus {
    /// Every status, in the order dialects list their words (`words`): open and closed first.
    pub const ALL: [ConversationStatus; 5] = [
        ConversationStatus::Open,
        ConversationStatus::Closed,
        ConversationStatus::Pending,
        ConversationStatus::AiHandling,
        ConversationStatus::Escalated,
    ];

    /// The stored (canonical) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Open => "open",
            ConversationStatus::Pending => "pending",
            ConversationStatus::AiHandling => "ai_handling",
            ConversationStatus::Escalated => "escalated",
            ConversationStatus::Closed => "closed",
        }
    }

    /// What `dialect` calls this status.
    pub fn project(self, dialect: Dialect) -> &'static str {
        use ConversationStatus::*;
        match (dialect, self) {
            (_, Open) => "open",
            (Dialect::Envelope, Pending) => "open",
            (_, Pending) => "pending",
            (Dialect::Envelope, AiHandling) => "ai_handling",
            (Dialect::Envelope, Escalated) => "escalated",
            (_, AiHandling | Escalated) => "open",
            (Dialect::Kirim, Closed) => "resolved",
            (_, Closed) => "closed",
        }
    }

    /// Every canonical status that `dialect` shows as `value`; empty for a word the dialect
    /// does not use. A status filter selects exactly this set.
    pub fn matching(dialect: Dialect, value: &str) -> Vec<ConversationStatus> {
        ConversationStatus::ALL
            .into_iter()
            .filter(|s| s.project(dialect) == value)
            .collect()
    }

    /// The words `dialect` uses for statuses, each once, in the canonical order: what its status
    /// filter accepts and its documents list.
    pub fn words(dialect: Dialect) -> Vec<&'static str> {
        let mut words: Vec<&'static str> = Vec::with_capacity(5);
        for status in ConversationStatus::ALL {
            let word = status.project(dialect);
            if !words.contains(&word) {
                words.push(word);
            }
        }
        words
    }

    /// The canonical statuses a dialect's status filter selects for `value`, or the dialect's
    /// words when it uses no such word (for the refusal's message).
    pub fn filter(dialect: Dialect, value: &str) -> Result<Vec<ConversationStatus>, Vec<&'static str>> {
        let set = ConversationStatus::matching(dialect, value);
        if set.is_empty() {
            Err(ConversationStatus::words(dialect))
        } else {
            Ok(set)
        }
    }

    /// The canonical status a dialect means when it *writes* `value` (e.g. kirim's PATCH):
    /// the status that projects to it and is not a refinement of another.
    pub fn from_dialect(dialect: Dialect, value: &str) -> Option<ConversationStatus> {
        ConversationStatus::matching(dialect, value).into_iter().next()
    }
}

impl fmt::Display for ConversationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConversationStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConversationStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown status {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::ConversationStatus::*;
    use super::*;

    #[test]
    fn projection_table() {
        // canonical, wacrm, kirim, envelope: the table in design.md.
        let table = [
            (Open, "open", "open", "open"),
            (Pending, "pending", "pending", "open"),
            (AiHandling, "open", "open", "ai_handling"),
            (Escalated, "open", "open", "escalated"),
            (Closed, "closed", "resolved", "closed"),
        ];
        for (canonical, wacrm, kirim, envelope) in table {
            assert_eq!(canonical.project(Dialect::Wacrm), wacrm);
            assert_eq!(canonical.project(Dialect::Kirim), kirim);
            assert_eq!(canonical.project(Dialect::Envelope), envelope);
            assert_eq!(canonical.as_str().parse::<ConversationStatus>(), Ok(canonical));
        }
    }

    #[test]
    fn filters_select_every_status_that_projects_to_the_value() {
        assert_eq!(
            ConversationStatus::matching(Dialect::Wacrm, "open"),
            vec![Open, AiHandling, Escalated]
        );
        assert_eq!(ConversationStatus::matching(Dialect::Kirim, "resolved"), vec![Closed]);
        assert_eq!(ConversationStatus::matching(Dialect::Kirim, "closed"), vec![]);
        assert_eq!(
            ConversationStatus::matching(Dialect::Envelope, "open"),
            vec![Open, Pending]
        );
        assert_eq!(
            ConversationStatus::matching(Dialect::Envelope, "ai_handling"),
            vec![AiHandling]
        );
        assert_eq!(ConversationStatus::matching(Dialect::Wacrm, "bogus"), vec![]);
        assert_eq!(ConversationStatus::from_dialect(Dialect::Kirim, "open"), Some(Open));
        assert_eq!(
            ConversationStatus::from_dialect(Dialect::Kirim, "resolved"),
            Some(Closed)
        );
        assert_eq!(ConversationStatus::words(Dialect::Wacrm), ["open", "closed", "pending"]);
        assert_eq!(
            ConversationStatus::words(Dialect::Kirim),
            ["open", "resolved", "pending"]
        );
        assert_eq!(
            ConversationStatus::words(Dialect::Envelope),
            ["open", "closed", "ai_handling", "escalated"]
        );
        assert_eq!(ConversationStatus::filter(Dialect::Kirim, "resolved"), Ok(vec![Closed]));
        assert_eq!(
            ConversationStatus::filter(Dialect::Kirim, "closed"),
            Err(vec!["open", "resolved", "pending"])
        );
    }
}
