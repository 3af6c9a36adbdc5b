//! Sending through the outbox: a release `rosetta serve` queues kirim sends and dispatches them to
//! the Graph API stand-in on loopback (in this process).
//!
//! ```text
//! cargo bench -p rosetta --bench send                         # SQLite in a temporary folder
//! ROSETTA_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/rosetta_send cargo bench -p rosetta --bench send
//! ```
//! Knobs: ROSETTA_BENCH_SENDERS (16), ROSETTA_BENCH_SECONDS (5), ROSETTA_BENCH_ROUNDS (3).
//!
//! Three measures:
//! - throughput, pacing off: sends accepted a second (200 answers) and dispatched a second (all of
//!   a round's accepted sends at the stand-in, from the round's start to the last arrival);
//! - latency at low load: one sender, one send every 20 ms; from the request to the send's arrival
//!   at the stand-in (enqueue, commit, wake, claim, and the Graph API call), p50 and p99;
//! - pacing on (80 a second per number, the default): 800 sends to 800 recipients at once, the rate
//!   they arrive at the stand-in;
//! - the server's peak RSS (VmHWM) in each.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rosetta_graph::standin::StandIn;
use support::*;

/// Not a secret: the key of the benchmark's databases.
const KEY_HEX: &str = "b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3";
const TOKEN: &str = "EAAG-bench-token";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn cli(url: &str, args: &[&str], stdin: &str) -> serde_json::Value {
    admin(KEY_HEX, url, args, stdin)
}

fn server(url: &str, port: u16, graph: &str, rate: &str) -> KillOnDrop {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).to_string();
    let child = rosetta()
        .env("ROSETTA_SECRET_KEY", KEY_HEX)
        .env("ROSETTA_LOG", "error")
        .args([
            "--database-url",
            url,
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--workers",
            &workers,
        ])
        .args([
            "--graph-api-url",
            graph,
            "--send-rate-per-number",
            rate,
            "--recipient-burst",
            "0",
        ])
        .args(["--rate-limit-per-minute", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    listening(child, port)
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn send_body(to: &str) -> String {
    format!(
        r#"{{"messaging_product":"whatsapp","to":"{to}","type":"template","template":{{"name":"order_update","language":{{"code":"en_US"}}}}}}"#
    )
}

/// Posts a send; the message id on 200.
fn post(client: &mut Client, auth: &str, to: &str) -> Option<String> {
    let headers = [("Authorization", auth), ("Content-Type", "application/json")];
    match client.request(
        "POST",
        &format!("/v1/{PNID}/messages"),
        &headers,
        send_body(to).as_bytes(),
    ) {
        Ok((200, body)) => {
            let body: serde_json::Value = serde_json::from_slice(&body).ok()?;
            let id = body["data"]["id"].as_str()?;
            Some(id.trim_start_matches("msg_").to_owned())
        }
        _ => None,
    }
}

fn wait_for(standin: &StandIn, n: usize, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while standin.received().len() < n {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let dir = temp_dir("send-bench");
    let url = env_or(
        "ROSETTA_BENCH_DATABASE_URL",
        &format!("sqlite://{}", dir.join("send.db").display()),
    );
    let senders: usize = env_or("ROSETTA_BENCH_SENDERS", "16").parse().unwrap();
    let seconds: u64 = env_or("ROSETTA_BENCH_SECONDS", "5").parse().unwrap();
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
            "--token-stdin",
        ],
        TOKEN,
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
    let standin = StandIn::start("127.0.0.1:0").unwrap();
    standin.allow(PNID, TOKEN);
    println!(
        "# Send benchmark\n\nbackend: {backend}; the stand-in runs in the benchmark's process on the same 2 cores\n"
    );

    // Throughput, pacing off.
    let port = free_port();
    let server_process = server(&url, port, standin.url(), "0");
    let (mut accepted_rates, mut dispatched_rates) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let before = standin.received().len();
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let threads: Vec<_> = (0..senders)
            .map(|sender| {
                let (stop, ok, auth) = (stop.clone(), ok.clone(), auth.clone());
                std::thread::spawn(move || {
                    let mut client = Client::connect(port).unwrap();
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        // Replies to 2,000 customers: the first round makes their contacts and
                        // conversations, later rounds find them (as an inbox's sends mostly do).
                        let to = format!("4477{:06}", (sender as u64 * 7919 + i) % 2_000);
                        if post(&mut client, &auth, &to).is_some() {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        let accepted = ok.load(Ordering::Relaxed) as usize;
        let accepted_for = started.elapsed().as_secs_f64();
        assert!(
            wait_for(&standin, before + accepted, Duration::from_secs(120)),
            "sends were not all dispatched"
        );
        let received = standin.received();
        let last = received.iter().map(|r| r.at).max().unwrap();
        let start_wall = SystemTime::now() - started.elapsed();
        let dispatched_for = last.duration_since(start_wall).unwrap_or_default().as_secs_f64();
        accepted_rates.push(accepted as f64 / accepted_for);
        dispatched_rates.push(accepted as f64 / dispatched_for.max(accepted_for));
    }
    let throughput_rss = peak_rss_mib(server_process.id());

    // Latency at low load: one send every 20 ms.
    let sent_at: Arc<Mutex<Vec<(String, SystemTime)>>> = Arc::default();
    let mut client = Client::connect(port).unwrap();
    let before = standin.received().len();
    for i in 0..200 {
        let t0 = SystemTime::now();
        if let Some(id) = post(&mut client, &auth, &format!("4478{i:07}")) {
            sent_at.lock().unwrap().push((id, t0));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent_at = sent_at.lock().unwrap().clone();
    assert!(wait_for(&standin, before + sent_at.len(), Duration::from_secs(60)));
    let arrivals: std::collections::HashMap<String, SystemTime> = standin
        .received()
        .into_iter()
        .filter_map(|r| Some((r.body["biz_opaque_callback_data"].as_str()?.to_owned(), r.at)))
        .collect();
    let mut latencies: Vec<f64> = sent_at
        .iter()
        .filter_map(|(id, t0)| Some(arrivals.get(id)?.duration_since(*t0).ok()?.as_secs_f64() * 1000.0))
        .collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    drop(server_process);

    // Pacing on: 80 a second per number.
    let port = free_port();
    let server_process = server(&url, port, standin.url(), "80");
    let before = standin.received().len();
    let n = 800;
    let threads: Vec<_> = (0..8)
        .map(|sender| {
            let auth = auth.clone();
            std::thread::spawn(move || {
                let mut client = Client::connect(port).unwrap();
                for i in (sender..n).step_by(8) {
                    post(&mut client, &auth, &format!("4479{i:07}")).expect("accepted");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(wait_for(&standin, before + n, Duration::from_secs(60)));
    let mut paced: Vec<SystemTime> = standin.received()[before..].iter().map(|r| r.at).collect();
    paced.sort();
    let span = paced[n - 1].duration_since(paced[0]).unwrap().as_secs_f64();
    let paced_rate = (n - 1) as f64 / span;
    let pacing_rss = peak_rss_mib(server_process.id());
    drop(server_process);

    println!("| measure | figure |\n|---|---|");
    println!(
        "| accepted, pacing off ({senders} senders, {seconds}s, median of {rounds}) | {:.0} sends/s (rounds: {}) |",
        median(accepted_rates.clone()),
        accepted_rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "| accepted and dispatched, pacing off | {:.0} sends/s (rounds: {}) |",
        median(dispatched_rates.clone()),
        dispatched_rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "| request to arrival at Meta, 50 sends/s | p50 {:.1} ms, p99 {:.1} ms ({} sends) |",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.len()
    );
    println!(
        "| pacing on, 80/s per number, {n} sends | {paced_rate:.1} sends/s ({:+.1}% of 80) |",
        (paced_rate / 80.0 - 1.0) * 100.0
    );
    println!("| server peak RSS | {throughput_rss:.0} MiB (throughput and latency), {pacing_rss:.0} MiB (pacing) |");
    // For bench/run.py.
    println!(
        "\nresult: {}",
        serde_json::json!({
            "backend": backend, "senders": senders, "seconds": seconds, "rounds": rounds,
            "accepted": median(accepted_rates.clone()), "dispatched": median(dispatched_rates.clone()),
            "accepted_rounds": accepted_rates, "dispatched_rounds": dispatched_rates,
            "latency_p50_ms": percentile(&latencies, 0.5), "latency_p99_ms": percentile(&latencies, 0.99),
            "paced_rate": paced_rate, "paced_target": 80.0,
            "rss_mib": throughput_rss.max(pacing_rss),
        })
    );
    let _ = std::fs::remove_dir_all(dir);
}
