//! Timestamps: UTC, millisecond precision, written `2026-07-01T15:44:00.000Z` (design.md, "Data rules").

use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, UTC. Stored as a 64-bit integer in every backend.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let now = OffsetDateTime::now_utc();
        Timestamp((now.unix_timestamp_nanos() / 1_000_000) as i64)
    }

    pub fn from_millis(millis: i64) -> Self {
        Timestamp(millis)
    }

    pub fn from_unix_seconds(seconds: i64) -> Self {
        Timestamp(seconds.saturating_mul(1000))
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_days(self, days: i64) -> Self {
        Timestamp(self.0.saturating_add(days.saturating_mul(86_400_000)))
    }

    /// `2026-07-01T15:44:00.000Z`.
    pub fn to_rfc3339(self) -> String {
        let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .ok()
            .and_then(|t| t.format(format).ok())
            .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_owned())
    }

    /// Any RFC 3339 time; precision below a millisecond is dropped.
    pub fn parse_rfc3339(value: &str) -> Option<Self> {
        let t = OffsetDateTime::parse(value, &Rfc3339).ok()?;
        Some(Timestamp((t.unix_timestamp_nanos() / 1_000_000) as i64))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_milliseconds_and_z() {
        let t = Timestamp::parse_rfc3339("2026-07-01T15:44:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-07-01T15:44:00.000Z");
        let t = Timestamp::parse_rfc3339("2026-07-01T17:44:00.123456+02:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-07-01T15:44:00.123Z");
        assert_eq!(
            Timestamp::from_unix_seconds(1749416383).to_rfc3339(),
            "2025-06-08T20:59:43.000Z"
        );
    }
}
