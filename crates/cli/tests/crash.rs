//! Ingest crash test: signed deliveries from several senders against a real server process,
//! `kill -9` in the middle, restart: every delivery that got 200 is stored exactly once.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rosetta_core::*;
use support::*;

fn crash_test(url: &str) {
    let org: Id = prepare(url).parse().unwrap();
    let port = free_port();
    let mut server = start_server(url, port, 2);
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..8)
        .map(|sender| {
            let (acked, stop) = (acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut client = Client::connect(port).unwrap();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let wamid = format!("wamid.crash.{sender}.{n}");
                    // 40 contacts, so new contacts and conversations are made while the crash comes.
                    let wa_id = format!("1650555{:04}", (sender * 7 + n) % 40);
                    match client.deliver(&text_delivery(&wa_id, &wamid, "crash test")) {
                        Ok(200) => acked.lock().unwrap().push(wamid),
                        Ok(other) => panic!("unexpected status {other}"),
                        Err(_) => return, // the server is gone: this delivery was not acknowledged
                    }
                    n += 1;
                }
            })
        })
        .collect();
    // The crash comes once a good number of deliveries were acknowledged, while more are in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 100 {
        assert!(
            std::time::Instant::now() < deadline,
            "deliveries are not being acknowledged"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "only {} deliveries acknowledged before the crash",
        acked.len()
    );

    // Restart, and read everything back through the store.
    let mut server = start_server(url, port, 1);
    let store = rosetta_store::DieselStore::open(url).unwrap();
    let mut stored: HashMap<String, usize> = HashMap::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_conversations(
                org,
                &ConversationFilter::default(),
                ConversationOrder::CreatedDesc,
                &PageRequest::Keyset { limit: 100, cursor },
            )
            .unwrap();
        for d in &page.items {
            let mut mcursor = None;
            let mut count = 0;
            loop {
                let messages = store
                    .list_messages(
                        org,
                        d.conversation.id,
                        &PageRequest::Keyset {
                            limit: 100,
                            cursor: mcursor,
                        },
                    )
                    .unwrap();
                for m in &messages.items {
                    *stored.entry(m.wamid.clone().unwrap()).or_default() += 1;
                    count += 1;
                }
                match messages.next_cursor {
                    Some(c) => mcursor = Some(c),
                    None => break,
                }
            }
            // The counter agrees with what is stored: no half-applied delivery.
            assert_eq!(
                d.conversation.unread_count, count as i64,
                "unread count of {}",
                d.conversation.id
            );
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    for wamid in &acked {
        assert_eq!(
            stored.get(wamid),
            Some(&1),
            "{wamid} was acknowledged but is stored {:?} times",
            stored.get(wamid)
        );
    }
    assert!(stored.values().all(|&n| n == 1));
    // The restarted server takes deliveries again, and a redelivery of an acknowledged one is a no-op.
    let mut client = Client::connect(port).unwrap();
    assert_eq!(
        client
            .deliver(&text_delivery("16505550001", &acked[0], "crash test"))
            .unwrap(),
        200
    );
    assert_eq!(
        client
            .deliver(&text_delivery("16505550001", "wamid.after", "after"))
            .unwrap(),
        200
    );
    server.kill().unwrap();
    server.wait().unwrap();
    eprintln!("crash test: {} acknowledged, {} stored", acked.len(), stored.len());
}

#[test]
fn acknowledged_deliveries_survive_kill_9_on_sqlite() {
    let dir = temp_dir("crash");
    crash_test(&format!("sqlite://{}", dir.join("crash.db").display()));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn acknowledged_deliveries_survive_kill_9_on_postgres() {
    let Some(db) = rosetta_store::testing::TestDb::postgres() else {
        return;
    };
    crash_test(&db.url);
}

/// Writes through each dialect (kirim PATCH and contact create, envelope assign and close), each
/// acknowledged with a 2xx, then `kill -9`: all of them are there after a restart.
fn dialect_writes_survive(url: &str) {
    let org: Id = prepare(url).parse().unwrap();
    let store = rosetta_store::DieselStore::open(url).unwrap();
    let user = store.create_user(org, "Agent", "agent@example.com").unwrap().id;
    let account = store.find_account(org, PNID).unwrap().id;
    let conversations: Vec<Id> = (0..2)
        .map(|i| {
            let c = store
                .create_contact(
                    org,
                    NewContact {
                        phone: format!("+1415555010{i}"),
                        ..Default::default()
                    },
                )
                .unwrap()
                .contact
                .contact
                .id;
            store.open_conversation(org, account, c).unwrap().id
        })
        .collect();
    let key = |style| {
        store
            .create_api_key(
                org,
                NewApiKey {
                    name: None,
                    style,
                    scopes: rosetta_core::key::parse_scopes(None).unwrap(),
                    expires_at: None,
                },
            )
            .unwrap()
            .secret
    };
    let (kirim, envelope) = (
        key(rosetta_core::key::KeyStyle::Kirim),
        key(rosetta_core::key::KeyStyle::Envelope),
    );
    drop(store);
    let port = free_port();
    let mut server = start_server(url, port, 2);
    let mut c = Client::connect(port).unwrap();
    let k = format!("Bearer {kirim}");
    let e = format!("Bearer {envelope}");
    let org_uuid = org.render(EntityKind::Organization, Spelling::Envelope);
    let json = ("Content-Type", "application/json");
    let patch = format!(
        "/v1/{PNID}/conversations/{}",
        conversations[0].render(EntityKind::Conversation, Spelling::Kirim)
    );
    let (s1, _) = c
        .request(
            "PATCH",
            &patch,
            &[("Authorization", &k), json],
            br#"{"status":"pending"}"#,
        )
        .unwrap();
    let (s2, _) = c
        .request(
            "POST",
            &format!("/v1/{PNID}/contacts"),
            &[("Authorization", &k), json],
            br#"{"phone_number":"+14155550177","name":"Durable"}"#,
        )
        .unwrap();
    let conv = conversations[1].render(EntityKind::Conversation, Spelling::Envelope);
    let assign = format!(
        r#"{{"userId":"{}"}}"#,
        user.render(EntityKind::User, Spelling::Envelope)
    );
    let (s3, _) = c
        .request(
            "POST",
            &format!("/api/whatsapp/conversations/{conv}/assign"),
            &[("Authorization", &e), ("x-org-id", &org_uuid), json],
            assign.as_bytes(),
        )
        .unwrap();
    let (s4, _) = c
        .request(
            "POST",
            &format!("/api/whatsapp/conversations/{conv}/close"),
            &[("Authorization", &e), ("x-org-id", &org_uuid)],
            b"",
        )
        .unwrap();
    assert_eq!((s1, s2, s3, s4), (200, 201, 200, 200));
    server.kill().unwrap(); // SIGKILL, right after the last 2xx
    server.wait().unwrap();

    let store = rosetta_store::DieselStore::open(url).unwrap();
    assert_eq!(
        store
            .get_conversation(org, conversations[0])
            .unwrap()
            .conversation
            .status,
        ConversationStatus::Pending
    );
    let closed = store.get_conversation(org, conversations[1]).unwrap();
    assert_eq!(
        (closed.conversation.status, closed.assignee.map(|u| u.id)),
        (ConversationStatus::Closed, Some(user))
    );
    let found = store
        .list_contacts(
            org,
            &ContactFilter {
                phone: Some("+14155550177".into()),
                ..Default::default()
            },
            &PageRequest::first(5),
        )
        .unwrap();
    assert_eq!(found.items.len(), 1);
}

#[test]
fn dialect_writes_survive_kill_9() {
    let dir = temp_dir("crash-writes");
    dialect_writes_survive(&format!("sqlite://{}", dir.join("writes.db").display()));
    let _ = std::fs::remove_dir_all(dir);
    if let Some(db) = rosetta_store::testing::TestDb::postgres() {
        dialect_writes_survive(&db.url);
    }
}
