//! Ingest throughput: signed webhook deliveries of one text message each, from concurrent senders
//! over loopback, against a release `rosetta serve`. Median of several rounds.
//!
//! ```text
//! cargo bench -p rosetta --bench ingest                       # SQLite in a temporary folder
//! ROSETTA_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/rosetta_ingest cargo bench -p rosetta --bench ingest
//! ```
//! Knobs: ROSETTA_BENCH_SENDERS (default "8,32"), ROSETTA_BENCH_SECONDS (5), ROSETTA_BENCH_ROUNDS (3).

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn main() {
    let dir = temp_dir("ingest-bench");
    let url = env_or(
        "ROSETTA_BENCH_DATABASE_URL",
        &format!("sqlite://{}", dir.join("ingest.db").display()),
    );
    let senders: Vec<usize> = env_or("ROSETTA_BENCH_SENDERS", "8,32")
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let seconds: u64 = env_or("ROSETTA_BENCH_SECONDS", "5").parse().unwrap();
    let rounds: usize = env_or("ROSETTA_BENCH_ROUNDS", "3").parse().unwrap();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    prepare(&url);
    let port = free_port();
    let mut server = start_server(&url, port, workers);
    let backend = if url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    println!("# Ingest benchmark\n\nbackend: {backend}, server workers: {workers}, {seconds}s a round, median of {rounds} rounds\n");
    println!("| senders | deliveries/s (median) | rounds | non-200 |");
    println!("|---|---|---|---|");
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    for &n in &senders {
        let mut rates = Vec::new();
        let mut failures = 0;
        for round in 0..rounds {
            let stop = Arc::new(AtomicBool::new(false));
            let ok = Arc::new(AtomicU64::new(0));
            let bad = Arc::new(AtomicU64::new(0));
            let threads: Vec<_> = (0..n)
                .map(|sender| {
                    let (stop, ok, bad) = (stop.clone(), ok.clone(), bad.clone());
                    std::thread::spawn(move || {
                        let mut client = Client::connect(port).unwrap();
                        let mut i = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            let wamid = format!("wamid.bench.{run_id}.{n}.{round}.{sender}.{i}");
                            // 10,000 customers: most deliveries find their contact and conversation.
                            let wa_id = format!("4477009{:05}", (sender as u64 * 7919 + i) % 10_000);
                            match client.deliver(&text_delivery(&wa_id, &wamid, "Is my order on its way?")) {
                                Ok(200) => ok.fetch_add(1, Ordering::Relaxed),
                                _ => bad.fetch_add(1, Ordering::Relaxed),
                            };
                            i += 1;
                        }
                    })
                })
                .collect();
            let started = Instant::now();
            std::thread::sleep(Duration::from_secs(seconds));
            stop.store(true, Ordering::Relaxed);
            let elapsed = started.elapsed().as_secs_f64();
            for t in threads {
                t.join().unwrap();
            }
            rates.push(ok.load(Ordering::Relaxed) as f64 / elapsed);
            failures += bad.load(Ordering::Relaxed);
        }
        rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let listed: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            "| {n} | {:.0} | {} | {failures} |",
            rates[rates.len() / 2],
            listed.join(", ")
        );
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
