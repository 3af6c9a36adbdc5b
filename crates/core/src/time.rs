//! Timestamps: UTC, millisecond precision, written `2026-07-01T15:44:00.000Z` (design.md, "Data rules").

use std::fmt;

use time::format_description::well_known::Rfc3339 as WellKnownRfc3339;
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
        self.rfc3339().to_string()
    }

    /// The time as `to_rfc3339` writes it, written only when formatted or serialized (straight
    /// into the response: every list row carries a few).
    pub fn rfc3339(self) -> Rfc3339 {
        Rfc3339(self)
    }

    /// Written digit by digit (`time`'s formatter was ~4% of a page's CPU); `None` for years
    /// outside 0–9999, which go through `time`.
    fn rfc3339_bytes(self) -> Option<[u8; 24]> {
        let (secs, ms) = (self.0.div_euclid(1000), self.0.rem_euclid(1000));
        let t = OffsetDateTime::from_unix_timestamp(secs).ok()?;
        let (year, month, day) = t.to_calendar_date();
        if !(0..=9999).contains(&year) {
            return None;
        }
        let (h, m, sec) = t.to_hms();
        let mut out = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut value: u32| {
            for i in (at..at + width).rev() {
                out[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year as u32);
        put(5, 2, u8::from(month).into());
        put(8, 2, day.into());
        put(11, 2, h.into());
        put(14, 2, m.into());
        put(17, 2, sec.into());
        put(20, 3, ms as u32);
        Some(out)
    }

    fn to_rfc3339_slow(self) -> String {
        let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .ok()
            .and_then(|t| t.format(format).ok())
            .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_owned())
    }

    /// Any RFC 3339 time; precision below a millisecond is dropped.
    pub fn parse_rfc3339(value: &str) -> Option<Self> {
        let t = OffsetDateTime::parse(value, &WellKnownRfc3339).ok()?;
        Some(Timestamp((t.unix_timestamp_nanos() / 1_000_000) as i64))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.rfc3339(), f)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.rfc3339(), f)
    }
}

/// A timestamp in RFC 3339 (`Timestamp::rfc3339`): `Display` writes it, and it serializes as
/// that string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339(Timestamp);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.rfc3339_bytes() {
            // Only ASCII digits and separators were written.
            Some(bytes) => f.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?),
            None => f.write_str(&self.0.to_rfc3339_slow()),
        }
    }
}

impl serde::Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.rfc3339_bytes() {
            Some(bytes) => serializer.serialize_str(std::str::from_utf8(&bytes).map_err(serde::ser::Error::custom)?),
            None => serializer.serialize_str(&self.0.to_rfc3339_slow()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_writes_and_serializes_as_to_rfc3339_does() {
        for t in [
            Timestamp(0),
            Timestamp(1_749_416_383_123),
            Timestamp(-1),
            Timestamp(400_000_000_000_000),
        ] {
            assert_eq!(t.rfc3339().to_string(), t.to_rfc3339());
            assert_eq!(
                serde_json::to_string(&t.rfc3339()).unwrap(),
                format!("\"{}\"", t.to_rfc3339())
            );
        }
        assert_eq!(Timestamp(-1).to_rfc3339(), "1969-12-31T23:59:59.999Z");
    }

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
        assert_eq!(Timestamp(-1).to_rfc3339(), "1969-12-31T23:59:59.999Z");
        // The same as `time`'s formatter, across the range a store holds.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = Timestamp((x % 253_402_300_800_000) as i64 - 62_167_219_200_000 / 2);
            assert_eq!(t.to_rfc3339(), t.to_rfc3339_slow(), "{}", t.0);
        }
    }
}
