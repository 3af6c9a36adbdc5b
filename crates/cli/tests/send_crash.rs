//! Sending crash test: sends under load through a real server process to the Graph API stand-in,
//! `kill -9` of the server mid-dispatch, restart. Every acknowledged send reached the stand-in
//! exactly once, or is failed with "outcome unknown"; none twice, none lost silently. On SQLite
//! and (when configured) PostgreSQL.

mod support;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rosetta_core::*;
use rosetta_graph::standin::{Fault, StandIn};
use support::*;

/// Not a secret: the key of this test's databases.
const KEY_HEX: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";
const TOKEN: &str = "EAAG-send-crash-token";

fn cli(url: &str, args: &[&str], stdin: Option<&str>) -> serde_json::Value {
    admin(KEY_HEX, url, args, stdin.unwrap_or(""))
}

fn server(url: &str, port: u16, graph: &str) -> KillOnDrop {
    let child = rosetta()
        .env("ROSETTA_SECRET_KEY", KEY_HEX)
        .env("WHATSAPP_APP_SECRET", SECRET)
        .args([
            "--database-url",
            url,
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "2",
        ])
        .args([
            "--graph-api-url",
            graph,
            "--send-rate-per-number",
            "0",
            "--recipient-burst",
            "0",
        ])
        // A claim of a killed worker runs out after 2 s; an unknown outcome waits 3 s for a status.
        .args([
            "--send-lease-secs",
            "2",
            "--send-unknown-for-secs",
            "3",
            "--rate-limit-per-minute",
            "0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    listening(child, port)
}

fn send_crash_test(url: &str) {
    let org = cli(url, &["org", "create", "--name", "Crash", "--json"], None)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    cli(
        url,
        &[
            "account",
            "create",
            "--org",
            &org,
            "--phone-number-id",
            PNID,
            "--phone-number",
            "+15550783881",
            "--token-stdin",
        ],
        Some(TOKEN),
    );
    let key = cli(
        url,
        &["key", "create", "--org", &org, "--style", "kirim", "--json"],
        None,
    )["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let standin = StandIn::start("127.0.0.1:0").unwrap();
    standin.allow(PNID, TOKEN);
    // Answers take a while, so the kill finds requests in flight at Meta.
    for r in 0..40 {
        standin.fail(
            &format!("1415555{r:04}"),
            (0..50).map(|_| Fault::Slow(Duration::from_millis(40))),
        );
    }
    let port = free_port();
    standin.report_to(&format!("http://127.0.0.1:{port}/webhooks/whatsapp"), SECRET);
    let mut server_process = server(url, port, standin.url());

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|sender| {
            let (acked, stop, key) = (acked.clone(), stop.clone(), key.clone());
            std::thread::spawn(move || {
                let mut client = Client::connect(port).unwrap();
                let auth = format!("Bearer {key}");
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let to = format!("1415555{:04}", (sender * 10 + n) % 40);
                    let body = format!(
                        r#"{{"messaging_product":"whatsapp","to":"{to}","type":"template","template":{{"name":"order_update","language":{{"code":"en_US"}}}}}}"#
                    );
                    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
                    match client.request("POST", &format!("/v1/{PNID}/messages"), &headers, body.as_bytes()) {
                        Ok((200, answer)) => {
                            let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
                            acked.lock().unwrap().push(answer["data"]["id"].as_str().unwrap().to_owned());
                        }
                        Ok((status, answer)) => panic!("unexpected {status}: {}", String::from_utf8_lossy(&answer)),
                        Err(_) => return, // the server is gone: not acknowledged
                    }
                    n += 1;
                }
            })
        })
        .collect();
    // The kill comes once sends are acknowledged and being dispatched.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 150 || standin.received().len() < 30 {
        assert!(
            Instant::now() < deadline,
            "sends are not being acknowledged and dispatched"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    server_process.kill().unwrap(); // SIGKILL
    server_process.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let at_kill = standin.received().len();

    // Restart: the queue is dispatched, abandoned claims become unknown and then fail.
    let mut server_process = server(url, port, standin.url());
    let store = rosetta_store::DieselStore::open(url).unwrap();
    let org: Id = org.parse().unwrap();
    let ids: Vec<Id> = acked
        .iter()
        .map(|id| Id::parse(EntityKind::Message, Spelling::Kirim, id).unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let settled = loop {
        let messages: Vec<Message> = ids.iter().map(|id| store.get_message(org, *id).unwrap()).collect();
        if messages.iter().all(|m| m.status != MessageStatus::Sending) {
            break messages;
        }
        assert!(Instant::now() < deadline, "acknowledged sends never settled");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut reached: HashMap<String, usize> = HashMap::new();
    for r in standin.received() {
        let id = r.body["biz_opaque_callback_data"].as_str().unwrap().to_owned();
        *reached.entry(id).or_default() += 1;
    }
    let (mut sent, mut unknown) = (0, 0);
    for m in &settled {
        let times = reached.get(&m.id.to_string()).copied().unwrap_or(0);
        assert!(times <= 1, "{} reached Meta {times} times", m.id);
        if times == 1 && m.status != MessageStatus::Failed {
            sent += 1;
        } else {
            assert_eq!(
                (m.status, m.error_title.as_deref()),
                (MessageStatus::Failed, Some(rosetta_core::outbox::OUTCOME_UNKNOWN)),
                "{} reached Meta {times} times and is {:?}",
                m.id,
                m.status
            );
            unknown += 1;
        }
    }
    assert!(reached.values().all(|&n| n == 1), "no message reached Meta twice");
    server_process.kill().unwrap();
    server_process.wait().unwrap();
    eprintln!(
        "send crash test: {} acknowledged, {at_kill} at Meta at the kill, {sent} sent once, {unknown} failed as outcome unknown",
        acked.len()
    );
}

#[test]
fn acknowledged_sends_survive_kill_9_on_sqlite() {
    let dir = temp_dir("send-crash");
    send_crash_test(&format!("sqlite://{}", dir.join("send.db").display()));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn acknowledged_sends_survive_kill_9_on_postgres() {
    let Some(db) = rosetta_store::testing::TestDb::postgres() else {
        return;
    };
    send_crash_test(&db.url);
}
