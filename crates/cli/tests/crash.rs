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
    std::thread::sleep(Duration::from_millis(1500));
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
