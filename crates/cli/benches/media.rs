//! Received media through a release `rosetta serve` and the Graph API stand-in (in this process):
//!
//! ```text
//! cargo bench -p rosetta --bench media
//! ```
//! - fetch throughput: 100 received 20 KB images at once, from the webhook to all kept;
//! - a 100 MB document fetched and then served whole through its signed link: the server's RSS
//!   before, and its peak (VmHWM) after both (streamed both ways, so the growth stays small);
//! - a kept 1 MB image served through its signed link to 32 keep-alive connections for
//!   ROSETTA_BENCH_SECONDS (5): bytes a second.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rosetta_core::*;
use rosetta_graph::standin::StandIn;
use support::*;

const KEY_HEX: &str = "4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d";
const TOKEN: &str = "EAAG-media-bench";

fn cli(url: &str, args: &[&str], stdin: &str) -> serde_json::Value {
    admin(KEY_HEX, url, args, stdin)
}

fn rss_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn delivery(wamid: &str, kind: &str, media_id: &str, mime: &str) -> Vec<u8> {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"W","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"{PNID}"}},"messages":[{{"from":"16505551234","id":"{wamid}","timestamp":"1749416383","type":"{kind}","{kind}":{{"id":"{media_id}","mime_type":"{mime}"}}}}]}}}}]}}]}}"#
    )
    .into_bytes()
}

/// Waits until the message is kept; how long it took.
fn kept(store: &rosetta_store::DieselStore, org: Id, wamid: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if let Ok(m) = store.message_by_wamid(org, wamid) {
            match m.media {
                Some(MediaState::Stored) => return started.elapsed(),
                Some(MediaState::Failed) => panic!("{wamid} failed"),
                _ => {}
            }
        }
        assert!(started.elapsed() < within, "{wamid} was never kept");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The signed link of a message's file, through wacrm's message list.
fn link(client: &mut Client, key: &str, conversation: Id, wamid: &str) -> String {
    let path = format!(
        "/api/v1/conversations/{}/messages?limit=100",
        conversation.render(EntityKind::Conversation, Spelling::Uuid)
    );
    let (_, body) = client.request("GET", &path, &[("Authorization", key)], b"").unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let url = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["whatsapp_message_id"] == wamid)
        .and_then(|m| m["media_url"].as_str())
        .expect("a media link")
        .to_owned();
    url[url.find("/media/").unwrap()..].to_owned()
}

fn main() {
    let seconds: u64 = std::env::var("ROSETTA_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dir = temp_dir("media-bench");
    let url = format!("sqlite://{}", dir.join("media.db").display());
    let org_text = cli(&url, &["org", "create", "--name", "Bench", "--json"], "")["id"]
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
    let key = format!(
        "Bearer {}",
        cli(
            &url,
            &["key", "create", "--org", &org_text, "--style", "wacrm", "--json"],
            ""
        )["key"]
            .as_str()
            .unwrap()
    );
    let standin = StandIn::start("127.0.0.1:0").unwrap();
    standin.allow(PNID, TOKEN);
    let port = free_port();
    let server = rosetta()
        .env("ROSETTA_SECRET_KEY", KEY_HEX)
        .env("WHATSAPP_APP_SECRET", SECRET)
        .env("ROSETTA_LOG", "error")
        .args([
            "--database-url",
            &url,
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "2",
        ])
        .args(["--graph-api-url", standin.url(), "--rate-limit-per-minute", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = listening(server, port);
    let store = rosetta_store::DieselStore::open(&url).unwrap();
    let mut client = Client::connect(port).unwrap();

    // 100 small images at once.
    for i in 0..100u32 {
        let image: Vec<u8> = (0..20_000u32).map(|b| (b.wrapping_mul(i + 7) >> 3) as u8).collect();
        standin.add_media(&format!("IMG{i}"), image, "image/jpeg");
    }
    let started = Instant::now();
    for i in 0..100 {
        assert_eq!(
            client
                .deliver(&delivery(
                    &format!("wamid.img{i}"),
                    "image",
                    &format!("IMG{i}"),
                    "image/jpeg"
                ))
                .unwrap(),
            200
        );
    }
    for i in 0..100 {
        kept(&store, org, &format!("wamid.img{i}"), Duration::from_secs(120));
    }
    let small = started.elapsed();

    // 100 MB, fetched and served.
    let rss_before = rss_mib(server.id(), "VmRSS:");
    let big: Vec<u8> = (0..100 * 1024 * 1024u32)
        .map(|b| (b.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    standin.add_media("BIG", big.clone(), "application/pdf");
    assert_eq!(
        client
            .deliver(&delivery("wamid.big", "document", "BIG", "application/pdf"))
            .unwrap(),
        200
    );
    let big_fetch = kept(&store, org, "wamid.big", Duration::from_secs(300));
    let conversation = store.message_by_wamid(org, "wamid.big").unwrap().conversation_id;
    let big_link = link(&mut client, &key, conversation, "wamid.big");
    let (status, body) = client.request("GET", &big_link, &[], b"").unwrap();
    assert!(
        status == 200 && body.len() == big.len() && body == big,
        "the 100 MB file served whole"
    );
    drop(body);
    let rss_peak = rss_mib(server.id(), "VmHWM:");

    // A kept 1 MB image to 32 connections.
    let image: Vec<u8> = (0..1024 * 1024u32)
        .map(|b| (b.wrapping_mul(40_503) >> 7) as u8)
        .collect();
    standin.add_media("MB", image.clone(), "image/jpeg");
    assert_eq!(
        client
            .deliver(&delivery("wamid.mb", "image", "MB", "image/jpeg"))
            .unwrap(),
        200
    );
    kept(&store, org, "wamid.mb", Duration::from_secs(60));
    let mb_link = link(&mut client, &key, conversation, "wamid.mb");
    let stop = Arc::new(AtomicBool::new(false));
    let bytes = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let (stop, bytes, path) = (stop.clone(), bytes.clone(), mb_link.clone());
            std::thread::spawn(move || {
                let mut client = Client::connect(port).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let (status, body) = client.request("GET", &path, &[], b"").unwrap();
                    assert_eq!(status, 200);
                    bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let served = bytes.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();

    println!("# Media benchmark\n\nbackend: sqlite; the stand-in and the load run in the benchmark's process on the same 2 cores\n");
    println!("| measure | figure |\n|---|---|");
    println!(
        "| 100 received 20 KB images, webhook to all kept | {:.2} s ({:.0} files/s) |",
        small.as_secs_f64(),
        100.0 / small.as_secs_f64()
    );
    println!(
        "| a 100 MB document, webhook to kept | {:.2} s |",
        big_fetch.as_secs_f64()
    );
    println!(
        "| server RSS around fetching and serving 100 MB | {rss_before:.0} MiB before, {rss_peak:.0} MiB peak (growth {:.0} MiB) |",
        rss_peak - rss_before
    );
    println!(
        "| a kept 1 MB image, 32 connections, {seconds} s | {:.2} GB/s |",
        served / 1e9
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
