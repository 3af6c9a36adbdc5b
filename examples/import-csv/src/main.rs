//! Imports conversations from a CSV file into a Rosetta store, then prints them as kirim's API
//! would (`{data, has_more, next_cursor}`), newest message first.
//!
//!   cargo run -p rosetta-example-import-csv -- examples/import-csv/sample.csv [sqlite://import.db]
//!
//! The CSV has a header and the columns `phone,name,direction,timestamp,text`: phone in E.164 (or a
//! common spelling), direction `inbound` or `outbound`, timestamp RFC 3339; a field may be quoted
//! ("…", with "" for a quote). Each row becomes a message in the conversation of that phone on the
//! organization's one WhatsApp number, through the same store rules as Meta's webhooks: the contact
//! is found or created, unread counts and last-message fields move, a closed conversation reopens.

use rosetta_core::*;
use rosetta_store::DieselStore;

fn main() {
    let mut args = std::env::args().skip(1);
    let csv = args.next().unwrap_or_else(|| {
        eprintln!("usage: import-csv FILE.csv [DATABASE_URL]");
        std::process::exit(2)
    });
    let url = args.next().unwrap_or_else(|| "sqlite://import.db".into());
    match run(&csv, &url) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1)
        }
    }
}

fn run(csv: &str, url: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(csv).map_err(|e| format!("{csv}: {e}"))?;
    let store = DieselStore::open(url).map_err(|e| e.to_string())?;
    let org = store.create_organization("CSV import").map_err(|e| e.to_string())?.id;
    let account = store
        .create_account(
            org,
            &format!("{}", 100_000_000 + org.millis() % 900_000_000),
            "+15550000000",
            Some("Import"),
        )
        .map_err(|e| e.to_string())?;
    for (n, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let row = fields(line);
        let [phone, name, direction, timestamp, body] = row.as_slice() else {
            return Err(format!("line {}: expected 5 fields, found {}", n + 1, row.len()));
        };
        let at = |what: &str| format!("line {}: {what}", n + 1);
        let contact = store
            .create_contact(
                org,
                NewContact {
                    phone: phone.clone(),
                    name: (!name.is_empty()).then(|| name.clone()),
                    ..Default::default()
                },
            )
            .map_err(|e| at(&e.to_string()))?
            .contact
            .contact
            .id;
        let conversation = store
            .open_conversation(org, account.id, contact)
            .map_err(|e| at(&e.to_string()))?
            .id;
        let direction = Direction::parse(direction).ok_or_else(|| at("direction must be inbound or outbound"))?;
        let created_at = Timestamp::parse_rfc3339(timestamp).ok_or_else(|| at("timestamp must be RFC 3339"))?;
        store
            .append_message(
                org,
                NewMessage {
                    conversation_id: conversation,
                    wamid: None,
                    direction,
                    sender_type: if direction == Direction::Inbound {
                        SenderType::Customer
                    } else {
                        SenderType::Agent
                    },
                    sender_user_id: None,
                    content_type: ContentType::Text,
                    body: MessageBody {
                        text: Some(body.clone()),
                        ..Default::default()
                    },
                    status: if direction == Direction::Inbound {
                        MessageStatus::Received
                    } else {
                        MessageStatus::Sent
                    },
                    created_at,
                },
            )
            .map_err(|e| at(&e.to_string()))?;
    }
    let page = store
        .list_conversations(
            org,
            &ConversationFilter::default(),
            ConversationOrder::LastMessageDesc,
            &PageRequest::first(100),
        )
        .map_err(|e| e.to_string())?;
    let body = serde_json::json!({
        "data": page.items.into_iter().map(rosetta_kirim::dto::ConversationDto::from).collect::<Vec<_>>(),
        "has_more": page.has_more,
        "next_cursor": page.next_cursor,
    });
    serde_json::to_string_pretty(&body).map_err(|e| e.to_string())
}

/// One CSV line's fields: commas separate, a quoted field may hold commas and "" for a quote.
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().expect("one field").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            (c, _) => out.last_mut().expect("one field").push(c),
        }
    }
    out
}
