//! Three instances over one PostgreSQL database behave as one (issue #20): a round-robin client
//! spreads requests over three `rosetta serve` processes on loopback ports, and
//! - every queue item is processed once: each received file is downloaded once, each send reaches
//!   Meta's stand-in once, each event reaches the customer's endpoint once;
//! - a cursor and a media link made by one instance work on the others, and an idempotent request
//!   retried on another instance gets the first answer;
//! - a rate limit holds for the deployment, not per instance (`--rate-limit-scope deployment`, the
//!   default on PostgreSQL), within the documented tolerance;
//! - a key revoked through the CLI is refused by every instance within the key watch's bound;
//! - `kill -9` of one instance during a burst of deliveries loses nothing acknowledged.
//!
//! PostgreSQL only (SQLite is one instance's file); CI sets `ROSETTA_TEST_DATABASE_URL`.

mod support;

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rosetta_core::*;
use rosetta_deliver::receiver::Receiver;
use rosetta_graph::standin::StandIn;
use serde_json::Value;
use support::*;

/// Not a secret: the key of this test's database.
const KEY_HEX: &str = "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c";
const TOKEN: &str = "EAAG-three-instances";
const LIMIT: u32 = 600;

fn cli(url: &str, args: &[&str], stdin: &str) -> Value {
    admin(KEY_HEX, url, args, stdin)
}

fn server(url: &str, port: u16, graph: &str, media: &std::path::Path) -> KillOnDrop {
    let child = rosetta()
        .env("ROSETTA_SECRET_KEY", KEY_HEX)
        .env("WHATSAPP_APP_SECRET", SECRET)
        .args(["--database-url", url, "serve", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--workers", "2", "--pool-size", "4", "--graph-api-url", graph])
        .args(["--rate-limit-per-minute", &LIMIT.to_string()])
        .args(["--send-rate-per-number", "0", "--recipient-burst", "0"])
        .arg("--allow-private-webhook-targets")
        .arg("--media-dir")
        .arg(media)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    listening(child, port)
}

/// A response: status, body, headers.
type Answer = (u16, Value, Vec<(String, String)>);

/// Requests spread over the instances in turn; one that does not answer is passed over.
struct RoundRobin {
    ports: Vec<u16>,
    next: AtomicUsize,
}

impl RoundRobin {
    /// The instance's index and its answer.
    fn request(&self, method: &str, path: &str, auth: &str, body: &str) -> (usize, u16, Value, Vec<(String, String)>) {
        for _ in 0..self.ports.len() {
            let at = self.next.fetch_add(1, Ordering::Relaxed) % self.ports.len();
            if let Some((status, body, headers)) = self.at(at, method, path, auth, body) {
                return (at, status, body, headers);
            }
        }
        panic!("no instance answered {method} {path}");
    }

    /// `None` when the instance is gone.
    fn at(&self, at: usize, method: &str, path: &str, auth: &str, body: &str) -> Option<Answer> {
        self.at_with(at, method, path, auth, body, &[])
    }

    /// `at` with more headers.
    fn at_with(
        &self,
        at: usize,
        method: &str,
        path: &str,
        auth: &str,
        body: &str,
        more: &[(&str, &str)],
    ) -> Option<Answer> {
        let mut client = Client::connect(self.ports[at]).ok()?;
        let auth = format!("Bearer {auth}");
        let mut headers = vec![("Authorization", auth.as_str()), ("Content-Type", "application/json")];
        headers.extend_from_slice(more);
        let (status, answer) = client.request(method, path, &headers, body.as_bytes()).ok()?;
        let json = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        Some((status, json, client.headers))
    }

    fn deliver(&self, body: &[u8]) -> Option<u16> {
        let at = self.next.fetch_add(1, Ordering::Relaxed) % self.ports.len();
        Client::connect(self.ports[at]).ok()?.deliver(body).ok()
    }
}

fn image_delivery(from: &str, wamid: &str, media_id: &str) -> Vec<u8> {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"W","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"{PNID}"}},"contacts":[{{"profile":{{"name":"Pic Sender"}},"wa_id":"{from}"}}],"messages":[{{"from":"{from}","id":"{wamid}","timestamp":"1749416383","type":"image","image":{{"id":"{media_id}","mime_type":"image/png"}}}}]}}}}]}}]}}"#
    )
    .into_bytes()
}

/// Waits until `done` holds, polling the database (no instance's timing is assumed).
fn until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_instances_behave_as_one_over_postgres() {
    let Some(db) = rosetta_store::testing::TestDb::postgres() else {
        return;
    };
    let url = db.url.clone();
    let org_text = cli(&url, &["org", "create", "--name", "Fleet", "--json"], "")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let org: Id = org_text.parse().unwrap();
    cli(
        &url,
        &[
            "account",
            "create",
            "--org",
            &org_text,
            "--phone-number-id",
            PNID,
            "--phone-number",
            "+15550783881",
            "--token-stdin",
        ],
        TOKEN,
    );
    let key = |style: &str| -> (String, String) {
        let made = cli(
            &url,
            &["key", "create", "--org", &org_text, "--style", style, "--json"],
            "",
        );
        (
            made["key"].as_str().unwrap().to_owned(),
            made["id"].as_str().unwrap().to_owned(),
        )
    };
    let (kirim, _) = key("kirim");
    let (wacrm, wacrm_id) = key("wacrm");
    let (limited, _) = key("wacrm");

    let standin = StandIn::start("127.0.0.1:0").unwrap();
    standin.allow(PNID, TOKEN);
    let images: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 2048 + usize::from(i)]).collect();
    for (i, bytes) in images.iter().enumerate() {
        standin.add_media(&format!("IMG{i}"), bytes.clone(), "image/png");
    }
    let receiver = Receiver::start("127.0.0.1:0").unwrap();
    let media = temp_dir("instances-media");
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    standin.report_to(&format!("http://127.0.0.1:{}/webhooks/whatsapp", ports[0]), SECRET);
    let mut servers: Vec<KillOnDrop> = ports.iter().map(|&p| server(&url, p, standin.url(), &media)).collect();
    let fleet = RoundRobin {
        ports: ports.clone(),
        next: AtomicUsize::new(0),
    };

    // Events to the customer's endpoint, subscribed through one instance.
    let hook = format!(r#"{{"url": "{}/in", "events": ["message.received"]}}"#, receiver.url());
    let (_, status, answer, _) = fleet.request("POST", "/v1/webhook_subscriptions", &kirim, &hook);
    assert_eq!(status, 200, "{answer}");

    // 1. Every queue item once. Received files (one per sender) and sends, through all three.
    let wamids: Vec<String> = (0..images.len()).map(|i| format!("wamid.img{i}")).collect();
    for (i, wamid) in wamids.iter().enumerate() {
        let from = format!("1650555{i:04}");
        assert_eq!(
            fleet.deliver(&image_delivery(&from, wamid, &format!("IMG{i}"))),
            Some(200)
        );
    }
    let mut sent = Vec::new();
    for n in 0..24 {
        let body = format!(
            r#"{{"messaging_product":"whatsapp","to":"1415555{:04}","type":"template","template":{{"name":"order_update","language":{{"code":"en_US"}}}}}}"#,
            n % 8
        );
        let (_, status, answer, _) = fleet.request("POST", &format!("/v1/{PNID}/messages"), &kirim, &body);
        assert_eq!(status, 200, "{answer}");
        sent.push(
            Id::parse(
                EntityKind::Message,
                Spelling::Kirim,
                answer["data"]["id"].as_str().unwrap(),
            )
            .unwrap(),
        );
    }
    let store = rosetta_store::DieselStore::open(&url).unwrap();
    until("every file kept", Duration::from_secs(60), || {
        wamids
            .iter()
            .all(|w| store.message_by_wamid(org, w).unwrap().media == Some(MediaState::Stored))
    });
    assert_eq!(standin.downloads(), images.len(), "each file downloaded once");
    until("every send dispatched", Duration::from_secs(60), || {
        sent.iter()
            .all(|id| store.get_message(org, *id).unwrap().status != MessageStatus::Sending)
    });
    let mut reached: HashMap<String, usize> = HashMap::new();
    for r in standin.received() {
        *reached
            .entry(r.body["biz_opaque_callback_data"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(reached.len(), sent.len(), "every send reached Meta");
    assert!(reached.values().all(|&n| n == 1), "none twice: {reached:?}");
    let wanted: HashSet<&String> = wamids.iter().collect();
    until("every event delivered", Duration::from_secs(60), || {
        let got: HashSet<String> = receiver
            .received()
            .iter()
            .filter_map(|r| r.header("x-kirim-event-id").map(str::to_owned))
            .collect();
        wanted.iter().all(|w| got.contains(*w))
    });
    assert_eq!(receiver.count(), wamids.len(), "each event delivered once");

    // 2. A cursor made by one instance pages on every other; a media link made by one serves on
    //    the others.
    let (maker, status, first, _) = fleet.request("GET", "/api/v1/conversations?limit=2", &wacrm, "");
    assert_eq!(status, 200, "{first}");
    let cursor = first["meta"]["next_cursor"].as_str().expect("a next page").to_owned();
    let next = format!("/api/v1/conversations?limit=2&cursor={cursor}");
    let pages: Vec<Value> = (0..3)
        .map(|at| fleet.at(at, "GET", &next, &wacrm, "").unwrap().1)
        .collect();
    assert!(
        pages[0]["data"].as_array().is_some_and(|d| d.len() == 2),
        "{}",
        pages[0]
    );
    assert!(
        pages.iter().all(|p| *p == pages[maker]),
        "the same page on every instance"
    );
    let with_image = store.message_by_wamid(org, &wamids[0]).unwrap();
    let messages = format!(
        "/api/v1/conversations/{}/messages",
        with_image
            .conversation_id
            .render(EntityKind::Conversation, Spelling::Uuid)
    );
    let (maker, _, listed, _) = fleet.request("GET", &messages, &wacrm, "");
    let link = listed["data"][0]["media_url"]
        .as_str()
        .expect("a media link")
        .to_owned();
    let path = &link[link.find("/media/").unwrap()..];
    for at in (0..3).filter(|&at| at != maker) {
        let mut client = Client::connect(ports[at]).unwrap();
        let (status, bytes) = client.request("GET", path, &[], b"").unwrap();
        assert_eq!(
            (status, bytes),
            (200, images[0].clone()),
            "instance {at} serves {maker}'s link"
        );
    }

    // An idempotent request retried on another instance gets the first one's answer.
    let contact = r#"{"phone_number": "+14155550199", "name": "Retried Once"}"#;
    let once = [("Idempotency-Key", "fleet-retry-1")];
    let path = format!("/v1/{PNID}/contacts");
    let answers: Vec<Answer> = (0..3)
        .map(|at| fleet.at_with(at, "POST", &path, &kirim, contact, &once).unwrap())
        .collect();
    assert!(answers[0].0 == 200 || answers[0].0 == 201, "{:?}", answers[0]);
    let strip = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().map(|o| o.remove("request_id"));
        v
    };
    assert!(
        answers
            .iter()
            .all(|a| a.0 == answers[0].0 && strip(&a.1) == strip(&answers[0].1)),
        "one contact made, its answer replayed by the others: {answers:?}"
    );

    // 3. The rate limit is the deployment's: a key's requests over three instances are allowed up
    //    to the limit in a minute, never more, and at most 3 batches of 12 short of it.
    let mut windows: HashMap<String, (u32, u32)> = HashMap::new();
    let refused = loop {
        for _ in 0..LIMIT + 60 {
            let (_, status, _, headers) = fleet.request("GET", "/api/v1/me", &limited, "");
            let reset = headers
                .iter()
                .find(|(k, _)| k == "x-ratelimit-reset")
                .unwrap()
                .1
                .clone();
            let counts = windows.entry(reset).or_default();
            match status {
                200 => counts.0 += 1,
                429 => counts.1 += 1,
                other => panic!("unexpected {other}"),
            }
        }
        // A run may straddle a minute: judged by the window that refused.
        if let Some((_, counts)) = windows.iter().find(|(_, c)| c.1 > 0 && c.0 + c.1 > LIMIT) {
            break *counts;
        }
    };
    assert!(
        windows.values().all(|c| c.0 <= LIMIT),
        "never more than {LIMIT} a minute: {windows:?}"
    );
    let batch = rosetta_http::rate_limit::batch_for(LIMIT);
    assert!(
        refused.0 >= LIMIT - 3 * batch,
        "at most three batches short: {refused:?}"
    );

    // 4. A key revoked through the CLI is refused by every instance within the watch's bound.
    cli(&url, &["key", "revoke", "--key-id", &wacrm_id], "");
    let revoked = Instant::now();
    for at in 0..3 {
        until("the revoked key refused", Duration::from_secs(5), || {
            fleet.at(at, "GET", "/api/v1/me", &wacrm, "").unwrap().0 == 401
        });
    }
    let took = revoked.elapsed();
    assert!(took < Duration::from_secs(2), "revocation took {took:?}");

    // 5. kill -9 of one instance during a burst loses nothing acknowledged.
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let fleet = Arc::new(fleet);
    let writers: Vec<_> = (0..3)
        .map(|t| {
            let (acked, stop, fleet) = (acked.clone(), stop.clone(), fleet.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let wamid = format!("wamid.burst{t}-{i}");
                    let from = format!("97150{:07}", i % 20);
                    if fleet.deliver(&text_delivery(&from, &wamid, "hello")) == Some(200) {
                        acked.lock().unwrap().push(wamid);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    until("a burst under way", Duration::from_secs(60), || {
        acked.lock().unwrap().len() >= 150
    });
    servers[2].kill().unwrap();
    servers[2].wait().unwrap();
    let at_kill = acked.lock().unwrap().len();
    until("the burst goes on without it", Duration::from_secs(60), || {
        acked.lock().unwrap().len() >= at_kill + 150
    });
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|w| store.message_by_wamid(org, w).is_err())
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged deliveries lost: {lost:?}",
        lost.len(),
        acked.len()
    );
    eprintln!(
        "three instances: {} deliveries acknowledged ({at_kill} before the kill), none lost; rate limit {refused:?} (allowed, refused) of {LIMIT}; revocation seen by all in {took:?}",
        acked.len()
    );
    drop(servers);
    let _ = std::fs::remove_dir_all(media);
}
