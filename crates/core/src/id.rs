//! Entity ids: one ULID, spelled the way each dialect spells it (design.md, "Identity").
//!
//! Every dialect accepts only its own spelling on input; the CLI accepts any of them.

use std::fmt;
use std::str::FromStr;

use ulid::Ulid;
use uuid::Uuid;

/// The kinds of entity that carry an id. The kind decides the prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Organization,
    Account,
    User,
    Contact,
    Tag,
    Conversation,
    Message,
    ApiKey,
    Request,
    /// A file uploaded to send.
    Media,
    /// An event out.
    Event,
    /// A webhook subscription.
    Webhook,
    /// One of a webhook subscription's signing secrets.
    WebhookSecret,
    /// One event's delivery to one webhook subscription.
    WebhookDelivery,
}

/// The ways of writing an id down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Spelling {
    /// 26 Crockford base32 characters (CLI output).
    Ulid,
    /// A hyphenated UUID (wacrm, CLI `uuid` field).
    Uuid,
    /// kirim: a short prefix and 26 upper-case Crockford characters (`cnv_01H…`).
    Kirim,
    /// envelope: a word prefix and a UUID (`conv_1f0e…`); organizations are bare UUIDs.
    Envelope,
}

impl EntityKind {
    /// kirim's prefix, with its underscore.
    pub fn kirim_prefix(self) -> &'static str {
        match self {
            EntityKind::Organization => "org_",
            EntityKind::Account => "acc_",
            EntityKind::User => "usr_",
            EntityKind::Contact => "ctc_",
            EntityKind::Tag => "lbl_",
            EntityKind::Conversation => "cnv_",
            EntityKind::Message => "msg_",
            EntityKind::ApiKey => "key_",
            EntityKind::Request => "req_",
            EntityKind::Media => "med_",
            EntityKind::Event => "evt_",
            EntityKind::Webhook => "wbs_",
            EntityKind::WebhookSecret => "sec_",
            EntityKind::WebhookDelivery => "wbd_",
        }
    }

    /// envelope's prefix, with its underscore; empty where envelope writes a bare UUID.
    pub fn envelope_prefix(self) -> &'static str {
        match self {
            EntityKind::Organization => "",
            EntityKind::Account => "account_",
            EntityKind::User => "user_",
            EntityKind::Contact => "contact_",
            EntityKind::Tag => "label_",
            EntityKind::Conversation => "conv_",
            EntityKind::Message => "msg_",
            EntityKind::ApiKey => "key_",
            EntityKind::Request => "req_",
            EntityKind::Media => "media_",
            EntityKind::Event => "evt_",
            EntityKind::Webhook => "webhook_",
            EntityKind::WebhookSecret => "secret_",
            EntityKind::WebhookDelivery => "delivery_",
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            EntityKind::Organization => "organization",
            EntityKind::Account => "WhatsApp account",
            EntityKind::User => "user",
            EntityKind::Contact => "contact",
            EntityKind::Tag => "tag",
            EntityKind::Conversation => "conversation",
            EntityKind::Message => "message",
            EntityKind::ApiKey => "API key",
            EntityKind::Request => "request",
            EntityKind::Media => "media file",
            EntityKind::Event => "event",
            EntityKind::Webhook => "webhook",
            EntityKind::WebhookSecret => "webhook secret",
            EntityKind::WebhookDelivery => "webhook delivery",
        }
    }
}

/// An entity id: 128 time-ordered bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(Ulid);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {kind} id {value:?}")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
}

impl Id {
    /// A new id, later than every id this process made before (monotonic within a millisecond),
    /// so that rows made in one millisecond still list newest first.
    pub fn new() -> Self {
        static GENERATOR: std::sync::Mutex<ulid::Generator> = std::sync::Mutex::new(ulid::Generator::new());
        let mut generator = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
        Id(generator.generate().unwrap_or_else(|_| Ulid::new()))
    }

    /// An id whose time part is `millis` (used to give seeded rows their historical time order).
    pub fn at_millis(millis: i64, random: u128) -> Self {
        Id(Ulid::from_parts(millis.max(0) as u64, random))
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Id(Ulid::from_bytes(bytes))
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 16]>::try_from(bytes).ok().map(Id::from_bytes)
    }

    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_bytes()
    }

    pub fn ulid(self) -> Ulid {
        self.0
    }

    pub fn uuid(self) -> Uuid {
        Uuid::from_bytes(self.0.to_bytes())
    }

    /// Milliseconds since the epoch encoded in the id.
    pub fn millis(self) -> i64 {
        self.0.timestamp_ms() as i64
    }

    /// Writes the id of an entity of `kind` in `spelling`.
    pub fn render(self, kind: EntityKind, spelling: Spelling) -> String {
        self.rendered(kind, spelling).to_string()
    }

    /// The id of an entity of `kind` in `spelling`, written only when formatted or serialized
    /// (straight into the response, with no string of its own: a list row carries several).
    pub fn rendered(self, kind: EntityKind, spelling: Spelling) -> Rendered {
        Rendered {
            id: self,
            kind,
            spelling,
        }
    }

    /// Reads an id written in exactly `spelling`; anything else is an error.
    pub fn parse(kind: EntityKind, spelling: Spelling, value: &str) -> Result<Id, IdError> {
        let err = || IdError {
            kind: kind.noun(),
            value: value.to_owned(),
        };
        let parsed = match spelling {
            Spelling::Ulid => parse_strict_ulid(value),
            Spelling::Uuid => parse_hyphenated_uuid(value),
            Spelling::Kirim => value.strip_prefix(kind.kirim_prefix()).and_then(parse_strict_ulid),
            Spelling::Envelope => value
                .strip_prefix(kind.envelope_prefix())
                .and_then(parse_hyphenated_uuid),
        };
        parsed.ok_or_else(err)
    }

    /// Reads an id in any spelling of `kind` (ULID in either case, UUID, kirim or envelope form):
    /// what the CLI accepts.
    pub fn parse_any(kind: EntityKind, value: &str) -> Result<Id, IdError> {
        let value = value.trim();
        [Spelling::Kirim, Spelling::Envelope, Spelling::Uuid]
            .into_iter()
            .find_map(|s| Id::parse(kind, s, value).ok())
            .or_else(|| parse_strict_ulid(&value.to_ascii_uppercase()))
            .ok_or_else(|| IdError {
                kind: kind.noun(),
                value: value.to_owned(),
            })
    }
}

impl Default for Id {
    fn default() -> Self {
        Id::new()
    }
}

const CROCKFORD_UPPER: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// 26 upper-case Crockford characters, first one at most `7` (128 bits), as kirim's pattern demands.
fn parse_strict_ulid(value: &str) -> Option<Id> {
    let bytes = value.as_bytes();
    // The first character carries only 3 bits: above `7` the value overflows 128 bits.
    if bytes.len() != 26 || bytes[0] > b'7' || !bytes.iter().all(|b| CROCKFORD_UPPER.contains(b)) {
        return None;
    }
    Ulid::from_string(value).ok().map(Id)
}

fn parse_hyphenated_uuid(value: &str) -> Option<Id> {
    if value.len() != 36 {
        return None;
    }
    Uuid::try_parse(value).ok().map(|u| Id(Ulid::from_bytes(*u.as_bytes())))
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for Id {
    type Err = IdError;
    /// A bare ULID.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ulid::from_string(s).map(Id).map_err(|_| IdError {
            kind: "entity",
            value: s.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_id_writes_and_serializes_as_render_does() {
        let id = Id::new();
        for kind in KINDS {
            for spelling in [Spelling::Ulid, Spelling::Uuid, Spelling::Kirim, Spelling::Envelope] {
                let rendered = id.rendered(kind, spelling);
                assert_eq!(rendered.to_string(), id.render(kind, spelling));
                assert_eq!(
                    serde_json::to_string(&rendered).unwrap(),
                    format!("\"{}\"", id.render(kind, spelling))
                );
            }
        }
    }

    const KINDS: [EntityKind; 9] = [
        EntityKind::Organization,
        EntityKind::Account,
        EntityKind::User,
        EntityKind::Contact,
        EntityKind::Tag,
        EntityKind::Conversation,
        EntityKind::Message,
        EntityKind::ApiKey,
        EntityKind::Request,
    ];
    const SPELLINGS: [Spelling; 4] = [Spelling::Ulid, Spelling::Uuid, Spelling::Kirim, Spelling::Envelope];

    #[test]
    fn every_spelling_round_trips() {
        for _ in 0..200 {
            let id = Id::new();
            for kind in KINDS {
                for spelling in SPELLINGS {
                    let text = id.render(kind, spelling);
                    assert_eq!(Id::parse(kind, spelling, &text), Ok(id), "{kind:?} {spelling:?} {text}");
                    assert_eq!(Id::parse_any(kind, &text), Ok(id), "any: {kind:?} {spelling:?} {text}");
                }
            }
        }
    }

    #[test]
    fn spellings_match_the_design_table() {
        let id = Id::parse(EntityKind::Conversation, Spelling::Ulid, "01HXYZABCDEFGHJKMNPQRSTVWX").unwrap();
        assert_eq!(
            id.render(EntityKind::Conversation, Spelling::Kirim),
            "cnv_01HXYZABCDEFGHJKMNPQRSTVWX"
        );
        let uuid = id.render(EntityKind::Conversation, Spelling::Uuid);
        assert_eq!(uuid, id.uuid().hyphenated().to_string());
        assert_eq!(
            id.render(EntityKind::Conversation, Spelling::Envelope),
            format!("conv_{uuid}")
        );
        assert_eq!(
            id.render(EntityKind::Contact, Spelling::Envelope),
            format!("contact_{uuid}")
        );
        assert_eq!(id.render(EntityKind::User, Spelling::Envelope), format!("user_{uuid}"));
        assert_eq!(id.render(EntityKind::Organization, Spelling::Envelope), uuid);
        assert_eq!(
            id.render(EntityKind::Request, Spelling::Kirim),
            "req_01HXYZABCDEFGHJKMNPQRSTVWX"
        );
        // The same bits through the UUID.
        assert_eq!(Id::parse(EntityKind::Contact, Spelling::Uuid, &uuid), Ok(id));
    }

    #[test]
    fn each_dialect_accepts_only_its_own_spelling() {
        let id = Id::new();
        let kirim = id.render(EntityKind::Conversation, Spelling::Kirim);
        let envelope = id.render(EntityKind::Conversation, Spelling::Envelope);
        let uuid = id.render(EntityKind::Conversation, Spelling::Uuid);
        assert!(Id::parse(EntityKind::Conversation, Spelling::Uuid, &kirim).is_err());
        assert!(Id::parse(EntityKind::Conversation, Spelling::Kirim, &envelope).is_err());
        assert!(Id::parse(EntityKind::Conversation, Spelling::Envelope, &uuid).is_err());
        // A contact prefix is not a conversation prefix.
        let contact = id.render(EntityKind::Contact, Spelling::Kirim);
        assert!(Id::parse(EntityKind::Conversation, Spelling::Kirim, &contact).is_err());
    }

    #[test]
    fn new_ids_increase() {
        let ids: Vec<Id> = (0..1000).map(|_| Id::new()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn kirim_spelling_is_strict() {
        for bad in [
            "ctc_01hxyzabcdefghjkmnpqrstvwx",  // lower case
            "ctc_01HXYZABCDEFGHJKMNPQRSTVW",   // 25
            "ctc_01HXYZABCDEFGHJKMNPQRSTVWXY", // 27
            "ctc_01HXYZABCDEFGHJKMNPQRSTVWI",  // I is not Crockford
            "ctc_81HXYZABCDEFGHJKMNPQRSTVWX",  // overflows 128 bits
            "ctc-01HXYZABCDEFGHJKMNPQRSTVWX",
            "",
        ] {
            assert!(Id::parse(EntityKind::Contact, Spelling::Kirim, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uuid_spelling_must_be_hyphenated() {
        let id = Id::new();
        let simple = id.uuid().simple().to_string();
        assert!(Id::parse(EntityKind::Contact, Spelling::Uuid, &simple).is_err());
        let upper = id.render(EntityKind::Contact, Spelling::Uuid).to_uppercase();
        assert_eq!(Id::parse(EntityKind::Contact, Spelling::Uuid, &upper), Ok(id));
        assert!(Id::parse(EntityKind::Contact, Spelling::Uuid, "not-a-uuid").is_err());
        assert!(Id::parse(
            EntityKind::Contact,
            Spelling::Envelope,
            "contact_f1e2d3c4-5678-90ab-cdef-abcdefabcdeg"
        )
        .is_err());
    }
}

/// An id in one spelling (`Id::rendered`): `Display` writes it, and it serializes as that string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rendered {
    id: Id,
    kind: EntityKind,
    spelling: Spelling,
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Rendered { id, kind, spelling } = *self;
        match spelling {
            Spelling::Ulid => write!(f, "{}", id.0),
            Spelling::Uuid => write!(f, "{}", id.uuid().hyphenated()),
            Spelling::Kirim => write!(f, "{}{}", kind.kirim_prefix(), id.0),
            Spelling::Envelope => write!(f, "{}{}", kind.envelope_prefix(), id.uuid().hyphenated()),
        }
    }
}

impl serde::Serialize for Rendered {
    /// Written into a buffer on the stack and handed over as one string (serde_json's
    /// `collect_str` escapes piece by piece, which cost more than the string it saves).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use std::fmt::Write;
        let mut buf = StackStr::default();
        write!(buf, "{self}").map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(buf.as_str())
    }
}

/// Room for the longest spelling of an id (a prefix and a hyphenated UUID).
#[derive(Debug)]
struct StackStr {
    bytes: [u8; 64],
    len: usize,
}

impl Default for StackStr {
    fn default() -> Self {
        StackStr { bytes: [0; 64], len: 0 }
    }
}

impl StackStr {
    fn as_str(&self) -> &str {
        // Only whole `str`s were written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl fmt::Write for StackStr {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.bytes
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
