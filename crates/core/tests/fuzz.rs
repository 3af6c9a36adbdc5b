//! Property-based fuzzing of everything that reads untrusted bytes: ids in every spelling, keyset
//! cursors, and Meta's webhook bodies. Nothing may panic; nothing forged may be accepted; everything
//! made must read back. `PROPTEST_CASES` raises the number of cases (CI runs the default, 256 each);
//! failures are kept in `proptest-regressions/` and replayed first.
//!
//! The committed corpus (`tests/corpus/`: Meta's webhook shapes from the dialect notes, ids in every
//! spelling and their near-misses, cursor-like strings) is replayed on every run, and seeds the
//! mutation fuzzers below: random byte flips, insertions, deletions and truncations of its entries.
//! A webhook body named `ok_*` must parse, `bad_*` must be refused; an input that once crashed goes
//! in as a file, so it stays a regression test.

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

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

/// The webhook corpus: (file name, bytes), sorted by name.
fn webhook_corpus() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(format!("{CORPUS}/webhook"))
        .expect("tests/corpus/webhook")
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// A line-per-entry corpus file.
fn lines(name: &str) -> Vec<String> {
    std::fs::read_to_string(format!("{CORPUS}/{name}"))
        .expect("corpus file")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Byte-level mutations: (position, kind, byte) applied in order.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(at, kind, byte) in edits {
        let at = if bytes.is_empty() { 0 } else { at % (bytes.len() + 1) };
        match kind % 4 {
            0 if at < bytes.len() => bytes[at] ^= byte.max(1),
            1 => bytes.insert(at, byte),
            2 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => bytes.truncate(at),
        }
    }
    bytes
}

#[test]
fn webhook_corpus_replays() {
    let corpus = webhook_corpus();
    assert!(corpus.len() >= 20, "the corpus is there");
    for (name, bytes) in corpus {
        let parsed = meta::parse(&bytes);
        if name.starts_with("ok_") {
            assert!(parsed.is_ok(), "{name}: {parsed:?}");
        } else if name.starts_with("bad_") {
            assert!(parsed.is_err(), "{name} was accepted: {parsed:?}");
        }
    }
}

#[test]
fn id_and_cursor_corpus_replays() {
    let codec = CursorCodec::new(b"fuzz-secret");
    for raw in lines("ids.txt").iter().chain(lines("cursors.txt").iter()) {
        for k in KINDS {
            for s in SPELLINGS {
                if let Ok(id) = Id::parse(k, s, raw) {
                    // Whatever is accepted is the id it renders to.
                    assert_eq!(Id::parse(k, s, &id.render(k, s)), Ok(id), "{raw}");
                }
            }
            let _ = Id::parse_any(k, raw);
        }
        assert!(codec.decode("f", raw).is_err(), "{raw} accepted as a cursor");
    }
}

proptest! {
    #[test]
    fn webhook_corpus_mutations_never_panic(
        pick in any::<usize>(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8),
    ) {
        let corpus = webhook_corpus();
        let (_, bytes) = &corpus[pick % corpus.len()];
        let _ = meta::parse(&mutate(bytes.clone(), &edits));
    }

    #[test]
    fn id_and_cursor_corpus_mutations_never_panic(
        pick in any::<usize>(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6),
        k in 0usize..7,
        s in 0usize..4,
    ) {
        let corpus: Vec<String> = lines("ids.txt").into_iter().chain(lines("cursors.txt")).collect();
        let raw = mutate(corpus[pick % corpus.len()].clone().into_bytes(), &edits);
        let raw = String::from_utf8_lossy(&raw);
        let _ = Id::parse(KINDS[k], SPELLINGS[s], &raw);
        let _ = Id::parse_any(KINDS[k], &raw);
        prop_assert!(CursorCodec::new(b"fuzz-secret").decode("f", &raw).is_err());
    }

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
