//! Webhook deliveries through real server processes, to a receiver over real HTTP: `kill -9` of
//! the server during a burst, then a restart: every event acknowledged was delivered at least once,
//! the repeats (claims the killed server held, attempted again after their lease) counted by the
//! receiver's dedupe key and reported. A receiver down for the whole burst, then up: everything
//! arrives. Two instances over one PostgreSQL database: each event once per subscription.

mod support;

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rosetta_deliver::receiver::{Receiver, Reply};
use support::*;

/// Not a secret: the key of this test's databases.
const KEY_HEX: &str = "7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a";

fn cli(url: &str, args: &[&str], stdin: &str) -> serde_json::Value {
    admin(KEY_HEX, url, args, stdin)
}

fn server(url: &str, port: u16) -> KillOnDrop {
    let child = rosetta()
        .env("ROSETTA_SECRET_KEY", KEY_HEX)
        .env("WHATSAPP_APP_SECRET", SECRET)
        .args(["--database-url", url, "serve", "--bind", &format!("127.0.0.1:{port}")])
        .args([
            "--workers",
            "2",
            "--rate-limit-per-minute",
            "0",
            "--allow-private-webhook-targets",
        ])
        // Retried every 200 ms for a while; a killed worker's claims are due again after 2 s.
        .args([
            "--webhook-retry-schedule",
            &format!("kirim={}", vec!["200ms"; 150].join(",")),
            "--webhook-timeout",
            "kirim=1s",
            "--webhook-lease-secs",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    listening(child, port)
}

/// An organization with the account, a kirim key, and a subscription of `message.received` to
/// `hook` made through `port`'s kirim API.
fn subscribe(url: &str, port: u16, hook: &str) -> String {
    let org = cli(url, &["org", "create", "--name", "Hooks", "--json"], "")["id"]
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
        ],
        "",
    );
    let key = cli(url, &["key", "create", "--org", &org, "--style", "kirim", "--json"], "")["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut client = Client::connect(port).unwrap();
    let body = format!(r#"{{"url": "{hook}", "events": ["message.received"]}}"#);
    let auth = format!("Bearer {key}");
    let (status, answer) = client
        .request(
            "POST",
            "/v1/webhook_subscriptions",
            &[("Authorization", &auth), ("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    key
}

/// Meta's deliveries of `n` customer messages, from 4 threads, until `stop`; the wamids acknowledged.
fn burst(port: u16, n: usize, tag: &str, stop: Arc<AtomicBool>) -> Arc<Mutex<Vec<String>>> {
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (acked, stop, tag) = (acked.clone(), stop.clone(), tag.to_owned());
            std::thread::spawn(move || {
                let Ok(mut client) = Client::connect(port) else { return };
                for i in (t..n).step_by(4) {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let wamid = format!("wamid.{tag}{i}");
                    let from = format!("97150{:07}", i % 25);
                    match client.deliver(&text_delivery(&from, &wamid, "hello")) {
                        Ok(200) => acked.lock().unwrap().push(wamid),
                        _ => return, // the server is gone: not acknowledged
                    }
                }
            })
        })
        .collect();
    std::thread::spawn(move || {
        for t in threads {
            let _ = t.join();
        }
    });
    acked
}

/// How many times each dedupe key (`X-Kirim-Event-Id`) arrived.
fn arrivals(receiver: &Receiver) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for r in receiver.received() {
        if matches!(r.reply, Reply::Hang(_) | Reply::Status(200)) {
            *seen
                .entry(r.header("x-kirim-event-id").unwrap().to_owned())
                .or_insert(0) += 1;
        }
    }
    seen
}

/// Waits until every one of `wanted` arrived; the arrivals.
fn all_arrive(receiver: &Receiver, wanted: &HashSet<String>, within: Duration) -> HashMap<String, usize> {
    let deadline = Instant::now() + within;
    loop {
        let seen = arrivals(receiver);
        let missing = wanted.iter().filter(|w| !seen.contains_key(*w)).count();
        if missing == 0 {
            return seen;
        }
        assert!(Instant::now() < deadline, "{missing} of {} never arrived", wanted.len());
        receiver.wait_for(receiver.count() + 1, Duration::from_millis(200));
    }
}

fn kill_during_a_burst(url: &str) {
    let receiver = Receiver::start("127.0.0.1:0").unwrap();
    // Each answer takes a while, so the kill finds deliveries in flight.
    receiver.answer_with(Reply::Hang(Duration::from_millis(20)));
    let port = free_port();
    let mut first = server(url, port);
    subscribe(url, port, &format!("{}/in", receiver.url()));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = burst(port, 600, "crash", stop.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.count() < 60 || acked.lock().unwrap().len() < 200 {
        assert!(Instant::now() < deadline, "the burst never got going");
        receiver.wait_for(receiver.count() + 1, Duration::from_millis(100));
    }
    first.0.kill().unwrap(); // SIGKILL: nothing runs after it
    first.0.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let before_restart = receiver.count();
    let _second = server(url, port);
    let wanted: HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    let seen = all_arrive(&receiver, &wanted, Duration::from_secs(90));
    let deliveries: usize = wanted.iter().map(|w| seen[w]).sum();
    let repeats = deliveries - wanted.len();
    eprintln!(
        "webhook kill -9 ({url_kind}): {} events acknowledged, {} had arrived at the kill, all {} delivered at least once; {deliveries} deliveries, {repeats} repeats (claims the killed server held, attempted again after their 2 s lease)",
        wanted.len(),
        before_restart,
        wanted.len(),
        url_kind = if url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" },
    );
    // A repeat is only a claim the killed process held: at most its attempts in flight.
    assert!(repeats <= 64, "{repeats} repeats");
}

fn receiver_down_then_up(url: &str) {
    let hook_port = free_port();
    let port = free_port();
    let _server = server(url, port);
    let key = subscribe(url, port, &format!("http://127.0.0.1:{hook_port}/in"));
    let acked = burst(port, 40, "down", Arc::new(AtomicBool::new(false)));
    // Every delivery has been attempted and retried while nobody listened.
    let mut client = Client::connect(port).unwrap();
    let auth = format!("Bearer {key}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = client
            .request(
                "GET",
                "/v1/webhook_deliveries?status=pending&limit=100",
                &[("Authorization", &auth)],
                b"",
            )
            .unwrap();
        let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let retried = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["attempts"].as_u64() >= Some(2))
            .count();
        if retried == 40 && acked.lock().unwrap().len() == 40 {
            let error = page["data"][0]["last_error"].as_str().unwrap();
            assert!(error.starts_with("could not connect"), "{error}");
            break;
        }
        assert!(Instant::now() < deadline, "never all retried: {retried}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let receiver = Receiver::start(&format!("127.0.0.1:{hook_port}")).unwrap();
    let wanted: HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    let seen = all_arrive(&receiver, &wanted, Duration::from_secs(60));
    assert!(seen.values().all(|n| *n == 1), "each once: {seen:?}");
}

#[test]
fn deliveries_survive_kill_9_on_sqlite() {
    let dir = temp_dir("webhook-crash");
    kill_during_a_burst(&format!("sqlite://{}", dir.join("hooks.db").display()));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn deliveries_survive_kill_9_on_postgres() {
    let Some(db) = rosetta_store::testing::TestDb::postgres() else {
        return;
    };
    kill_during_a_burst(&db.url);
}

#[test]
fn a_receiver_down_for_the_burst_gets_everything_once_up_on_sqlite() {
    let dir = temp_dir("webhook-down");
    receiver_down_then_up(&format!("sqlite://{}", dir.join("hooks.db").display()));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_receiver_down_for_the_burst_gets_everything_once_up_on_postgres() {
    let Some(db) = rosetta_store::testing::TestDb::postgres() else {
        return;
    };
    receiver_down_then_up(&db.url);
}

/// Two instances over one PostgreSQL database, both delivering, events made through both: each
/// event reaches the subscription once.
#[test]
fn two_instances_deliver_each_event_once_on_postgres() {
    let Some(db) = rosetta_store::testing::TestDb::postgres() else {
        return;
    };
    let receiver = Receiver::start("127.0.0.1:0").unwrap();
    let (a, b) = (free_port(), free_port());
    let _first = server(&db.url, a);
    let _second = server(&db.url, b);
    subscribe(&db.url, a, &format!("{}/in", receiver.url()));
    let never = Arc::new(AtomicBool::new(false));
    let through_a = burst(a, 200, "a", never.clone());
    let through_b = burst(b, 200, "b", never);
    let deadline = Instant::now() + Duration::from_secs(60);
    while through_a.lock().unwrap().len() + through_b.lock().unwrap().len() < 400 {
        assert!(Instant::now() < deadline, "the bursts never finished");
        std::thread::sleep(Duration::from_millis(50));
    }
    let wanted: HashSet<String> = through_a
        .lock()
        .unwrap()
        .iter()
        .chain(through_b.lock().unwrap().iter())
        .cloned()
        .collect();
    let seen = all_arrive(&receiver, &wanted, Duration::from_secs(60));
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(seen.len(), 400);
}
