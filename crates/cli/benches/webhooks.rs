//! Webhook deliveries: a release `rosetta serve` fans customer messages out to kirim subscriptions
//! and delivers them, signed, to receivers on loopback (in this process).
//!
//! ```text
//! cargo bench -p rosetta --bench webhooks                         # SQLite in a temporary folder
//! ROSETTA_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/rosetta_hooks cargo bench -p rosetta --bench webhooks
//! ```
//! Knobs: ROSETTA_BENCH_EVENTS (10000), ROSETTA_BENCH_ROUNDS (3).
//!
//! Measures:
//! - throughput: a backlog of events (made while no instance delivered) to 1 and to 4 subscriptions;
//!   deliveries a second from the delivering server's start to the last arrival (fan-out, claims,
//!   signing, the POSTs and the records of every attempt);
//! - latency at low load: one customer message every 20 ms through Meta's webhook; from the
//!   request to the delivery's arrival (ingest, commit, the log watcher, fan-out, claim, POST), p50
//!   and p99;
//! - the same with a second subscription whose receiver hangs every request for 30 s;
//! - the server's peak RSS (VmHWM).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rosetta_deliver::receiver::{Receiver, Reply};
use support::*;

/// Not a secret: the key of the benchmark's databases.
const KEY_HEX: &str = "c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn cli(url: &str, args: &[&str], stdin: &str) -> serde_json::Value {
    admin(KEY_HEX, url, args, stdin)
}

fn server(url: &str, port: u16, deliver: bool) -> KillOnDrop {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).to_string();
    let mut cmd = rosetta();
    cmd.env("ROSETTA_SECRET_KEY", KEY_HEX)
        .env("ROSETTA_LOG", "error")
        .env("WHATSAPP_APP_SECRET", SECRET)
        .args(["--database-url", url, "serve", "--bind", &format!("127.0.0.1:{port}")])
        .args([
            "--workers",
            &workers,
            "--rate-limit-per-minute",
            "0",
            "--allow-private-webhook-targets",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if !deliver {
        cmd.arg("--no-dispatch");
    }
    listening(cmd.spawn().unwrap(), port)
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn subscribe(port: u16, auth: &str, url: &str) -> String {
    let mut client = Client::connect(port).unwrap();
    let body = format!(r#"{{"url": "{url}", "events": ["message.received"]}}"#);
    let (status, answer) = client
        .request(
            "POST",
            "/v1/webhook_subscriptions",
            &[("Authorization", auth), ("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let v: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    v["data"]["id"].as_str().unwrap().to_owned()
}

fn unsubscribe(port: u16, auth: &str, id: &str) {
    let mut client = Client::connect(port).unwrap();
    let (status, _) = client
        .request(
            "DELETE",
            &format!("/v1/webhook_subscriptions/{id}"),
            &[("Authorization", auth)],
            b"",
        )
        .unwrap();
    assert_eq!(status, 200);
}

/// `n` customer messages through Meta's webhook, from 8 connections.
fn ingest(port: u16, tag: &str, n: usize) {
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let tag = tag.to_owned();
            std::thread::spawn(move || {
                let mut client = Client::connect(port).unwrap();
                for i in (t..n).step_by(8) {
                    let body = text_delivery(&format!("97150{:07}", i % 500), &format!("wamid.{tag}.{i}"), "hi");
                    assert_eq!(client.deliver(&body).unwrap(), 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One message every 20 ms; each one's time from the request to its arrival at `receiver`, sorted.
fn latencies(port: u16, receiver: &Receiver, tag: &str, n: usize) -> Vec<f64> {
    let mut client = Client::connect(port).unwrap();
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let before = receiver.count();
    for i in 0..n {
        let wamid = format!("wamid.{tag}.{i}");
        let body = text_delivery("971509999999", &wamid, "hi");
        sent.insert(wamid, Instant::now());
        assert_eq!(client.deliver(&body).unwrap(), 200);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        receiver.wait_for(before + n, Duration::from_secs(60)),
        "deliveries missing"
    );
    let mut out: Vec<f64> = receiver
        .received()
        .iter()
        .filter_map(|r| {
            let t0 = sent.get(r.header("x-kirim-event-id")?)?;
            Some(r.at.duration_since(*t0).as_secs_f64() * 1000.0)
        })
        .collect();
    out.sort_by(|a, b| a.total_cmp(b));
    out
}

fn main() {
    let dir = temp_dir("webhook-bench");
    let url = env_or(
        "ROSETTA_BENCH_DATABASE_URL",
        &format!("sqlite://{}", dir.join("hooks.db").display()),
    );
    let events: usize = env_or("ROSETTA_BENCH_EVENTS", "10000").parse().unwrap();
    let rounds: usize = env_or("ROSETTA_BENCH_ROUNDS", "3").parse().unwrap();
    let backend = if url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    let org = cli(&url, &["org", "create", "--name", "Bench", "--json"], "")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    cli(
        &url,
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
    let key = cli(
        &url,
        &["key", "create", "--org", &org, "--style", "kirim", "--json"],
        "",
    )["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let auth = format!("Bearer {key}");
    println!(
        "# Webhook delivery benchmark\n\nbackend: {backend}; the receivers run in the benchmark's process on the same 2 cores\n"
    );

    // Throughput: a backlog made with no instance delivering, then a delivering server.
    let mut throughput: Vec<(usize, Vec<f64>)> = Vec::new();
    let mut rss: f64 = 0.0;
    for subscriptions in [1usize, 4] {
        let mut rates = Vec::new();
        for round in 0..rounds {
            let receiver = Receiver::start("127.0.0.1:0").unwrap();
            let port = free_port();
            let quiet = server(&url, port, false);
            let ids: Vec<String> = (0..subscriptions)
                .map(|s| subscribe(port, &auth, &format!("{}/hook{s}", receiver.url())))
                .collect();
            ingest(port, &format!("t{subscriptions}r{round}"), events);
            drop(quiet);
            let port = free_port();
            let started = Instant::now();
            let delivering = server(&url, port, true);
            let total = events * subscriptions;
            assert!(receiver.wait_for(total, Duration::from_secs(300)), "deliveries missing");
            let last = receiver.received().iter().map(|r| r.at).max().unwrap();
            rates.push(total as f64 / last.duration_since(started).as_secs_f64());
            rss = rss.max(peak_rss_mib(delivering.id()));
            for id in ids {
                unsubscribe(port, &auth, &id);
            }
        }
        throughput.push((subscriptions, rates));
    }

    // Latency at low load, then beside a hanging receiver.
    let port = free_port();
    let server_process = server(&url, port, true);
    let receiver = Receiver::start("127.0.0.1:0").unwrap();
    subscribe(port, &auth, &format!("{}/in", receiver.url()));
    let calm = latencies(port, &receiver, "calm", 200);
    let hanging = Receiver::start("127.0.0.1:0").unwrap();
    hanging.answer_with(Reply::Hang(Duration::from_secs(30)));
    subscribe(port, &auth, &format!("{}/in", hanging.url()));
    let beside = latencies(port, &receiver, "beside", 200);
    rss = rss.max(peak_rss_mib(server_process.id()));
    drop(server_process);

    println!("| measure | figure |\n|---|---|");
    for (subscriptions, rates) in &throughput {
        println!(
            "| backlog of {events} events to {subscriptions} subscription(s), median of {rounds} | {:.0} deliveries/s (rounds: {}) |",
            median(rates.clone()),
            rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", ")
        );
    }
    println!(
        "| change to delivery, 50 messages/s | p50 {:.1} ms, p99 {:.1} ms ({} deliveries) |",
        percentile(&calm, 0.5),
        percentile(&calm, 0.99),
        calm.len()
    );
    println!(
        "| the same, another subscription's receiver hanging | p50 {:.1} ms, p99 {:.1} ms ({} deliveries) |",
        percentile(&beside, 0.5),
        percentile(&beside, 0.99),
        beside.len()
    );
    println!("| server peak RSS | {rss:.0} MiB |");
    println!(
        "\nresult: {}",
        serde_json::json!({
            "backend": backend, "events": events, "rounds": rounds,
            "deliveries_per_s": throughput.iter().map(|(s, r)| (s.to_string(), median(r.clone()))).collect::<HashMap<_, _>>(),
            "latency_p50_ms": percentile(&calm, 0.5), "latency_p99_ms": percentile(&calm, 0.99),
            "hanging_p50_ms": percentile(&beside, 0.5), "hanging_p99_ms": percentile(&beside, 0.99),
            "rss_mib": rss,
        })
    );
    let _ = std::fs::remove_dir_all(dir);
}
