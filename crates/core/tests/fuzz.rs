//! Property-based fuzzing of everything that reads untrusted bytes: ids in every spelling, keyset
//! cursors, and Meta's webhook bodies. Nothing may panic; nothing forged may be accepted; everything
//! made must read back. `PROPTEST_CASES` raises the number of cases (CI runs the default, 256 each);
//! failures are kept in `proptest-regressions/` and replayed first.

use proptest::prelude::*;
use rosetta_core::ingest::meta;
use rosetta_core::*;

const KINDS: [EntityKind; 7] = [
    EntityKind::Organization,
    EntityKind::Conversation,
    EntityKind::Contact,
    EntityKind::User,
    EntityKind::Message,
    EntityKind::Tag,
    EntityKind::Request,
];
const SPELLINGS: [Spelling; 4] = [Spelling::Ulid, Spelling::Uuid, Spelling::Kirim, Spelling::Envelope];

fn id_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z]{2,8}_[0-9A-Za-z-]{0,40}",
        "(cnv_|ctc_|usr_|conv_|contact_|user_|msg_|org_|req_)[0-9A-HJKMNP-TV-Z]{20,30}",
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[0-9A-Z]{26}",
    ]
}

proptest! {
    #[test]
    fn ids_never_panic_and_round_trip(raw in id_text(), bits in any::<u128>(), k in 0usize..7, s in 0usize..4) {
        let (kind, spelling) = (KINDS[k], SPELLINGS[s]);
        let _ = Id::parse(kind, spelling, &raw);
        let _ = Id::parse_any(kind, &raw);
        let id = Id::from_bytes(bits.to_be_bytes());
        let text = id.render(kind, spelling);
        prop_assert_eq!(Id::parse(kind, spelling, &text), Ok(id));
        prop_assert_eq!(Id::parse_any(kind, &text).ok(), Some(id));
    }

    #[test]
    fn cursors_never_panic_and_refuse_anything_but_their_own(
        raw in any::<String>(),
        sort in any::<i64>(),
        bits in any::<u128>(),
        flip in any::<usize>(),
    ) {
        let codec = CursorCodec::new(b"fuzz-secret");
        prop_assert!(codec.decode("f", &raw).is_err(), "a made-up cursor was accepted");
        let position = KeysetPosition { sort, id: Id::from_bytes(bits.to_be_bytes()) };
        let cursor = codec.encode("f", position);
        prop_assert_eq!(codec.decode("f", &cursor), Ok(position));
        prop_assert!(codec.decode("g", &cursor).is_err(), "bound to its filters");
        prop_assert!(CursorCodec::new(b"other").decode("f", &cursor).is_err(), "bound to its key");
        // One character changed anywhere is refused.
        let mut chars: Vec<char> = cursor.chars().collect();
        let i = flip % chars.len();
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        if tampered != cursor {
            prop_assert!(codec.decode("f", &tampered).is_err(), "tampered cursor accepted");
        }
    }

    #[test]
    fn webhook_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = meta::parse(&bytes);
    }

    #[test]
    fn webhook_json_of_any_shape_never_panics(value in json_value()) {
        let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [{"field": "messages", "value": value}]}]});
        let _ = meta::parse(body.to_string().as_bytes());
    }
}

/// Arbitrary JSON, biased toward the shapes Meta sends (messages, statuses, contacts, metadata).
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        "(text|image|location|interactive|button|reaction|sticker|unknown|sent|delivered|read|failed|[0-9]{6,12})"
            .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(
                "(messages|statuses|contacts|metadata|phone_number_id|from|id|timestamp|type|text|body|status|errors|context|wa_id|profile|name|latitude|longitude|interactive|button_reply|list_reply|title|payload|reaction|emoji|message_id|image|mime_type|caption|[a-z]{1,8})",
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}
