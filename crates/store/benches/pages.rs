//! Store-level page cost: one page of 50 conversations with contact and tags, at the first page
//! and 500,000 rows deep, in each ordering. Median of many runs.
//!
//! ```text
//! ROSETTA_BENCH_DATABASE_URL=sqlite://bench/data/store-1m.db \
//! ROSETTA_BENCH_CONVERSATIONS=1000000 cargo bench -p rosetta-store --bench pages
//! ```
//! The database is seeded on first use (organization "bench") and reused afterwards.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use rosetta_core::*;
use rosetta_store::schema::organizations;
use rosetta_store::seed::SeedOptions;
use rosetta_store::DieselStore;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    // Relative SQLite paths are taken from the workspace root (cargo runs benches from the
    // package folder).
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let url = env_or("ROSETTA_BENCH_DATABASE_URL", "sqlite://bench/data/store-1m.db");
    let url = match url.strip_prefix("sqlite://") {
        Some(path) if !path.starts_with('/') => format!("sqlite://{workspace}/{path}"),
        _ => url,
    };
    let conversations: u64 = env_or("ROSETTA_BENCH_CONVERSATIONS", "1000000")
        .parse()
        .expect("number");
    let depth: usize = env_or("ROSETTA_BENCH_DEPTH", "500000").parse().expect("number");
    let runs: usize = env_or("ROSETTA_BENCH_RUNS", "300").parse().expect("number");
    if let Some(path) = url.strip_prefix("sqlite://") {
        if let Some(dir) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(dir).ok();
        }
    }
    let store = DieselStore::open(&url).expect("open");
    let org = find_or_seed(&store, &url, conversations);
    println!("# Store page benchmark\n");
    println!(
        "database: {} ({})  conversations: {conversations}  depth: {depth}  runs: {runs}\n",
        store.backend_name(),
        rosetta_store::db::redact(&url)
    );
    println!("| ordering | first page (median) | page {depth} rows deep (median) | deep / first |");
    println!("|---|---|---|---|");
    let filter = ConversationFilter::default();
    for order in ConversationOrder::ALL {
        // Walk to the depth with real cursors (100 rows a step; a cursor does not depend on the limit).
        let mut cursor = None;
        let mut walked = 0;
        while walked < depth {
            let page = store
                .list_conversations(org, &filter, order, &PageRequest::Keyset { limit: 100, cursor })
                .expect("walk");
            walked += page.items.len();
            cursor = page.next_cursor;
            assert!(cursor.is_some(), "fewer than {depth} conversations");
        }
        let time = |cursor: Option<String>| {
            let request = PageRequest::Keyset { limit: 50, cursor };
            for _ in 0..20 {
                store.list_conversations(org, &filter, order, &request).expect("warm");
            }
            let samples: Vec<Duration> = (0..runs)
                .map(|_| {
                    let start = Instant::now();
                    let page = store.list_conversations(org, &filter, order, &request).expect("page");
                    assert_eq!(page.items.len(), 50);
                    start.elapsed()
                })
                .collect();
            median(samples)
        };
        let first = time(None);
        let deep = time(cursor);
        println!(
            "| {} | {:.3} ms | {:.3} ms | {:.2}x |",
            order.as_str(),
            first.as_secs_f64() * 1e3,
            deep.as_secs_f64() * 1e3,
            deep.as_secs_f64() / first.as_secs_f64()
        );
    }
    offset_pages(&store, org, runs);
}

/// envelope's page/limit lists (last activity, 20 a page) with their exact total: page 1 with the
/// total against the same page without it (keyset), and page 10,000 (or the filter's last page when
/// it has fewer) against page 1.
fn offset_pages(store: &DieselStore, org: Id, runs: usize) {
    let order = ConversationOrder::LastActivityDesc;
    let limit = 20;
    // The busiest assignee.
    let busiest = store
        .list_conversations(org, &ConversationFilter::default(), order, &PageRequest::first(100))
        .expect("page")
        .items
        .into_iter()
        .filter_map(|d| d.assignee.map(|u| u.id))
        .next()
        .expect("an assigned conversation");
    let filters = [
        ("none", ConversationFilter::default()),
        (
            "status=open (open, pending)",
            ConversationFilter {
                statuses: Some(ConversationStatus::matching(Dialect::Envelope, "open")),
                ..Default::default()
            },
        ),
        (
            "status=closed",
            ConversationFilter {
                statuses: Some(vec![ConversationStatus::Closed]),
                ..Default::default()
            },
        ),
        (
            "assignee",
            ConversationFilter {
                assignee_id: Some(busiest),
                ..Default::default()
            },
        ),
    ];
    println!("\n## Page/limit with total (envelope: last activity, limit {limit})\n");
    println!("| filter | total | page 1 without total (keyset) | page 1 with total | total / without | deep page | deep page time | deep / page 1 |");
    println!("|---|---|---|---|---|---|---|---|");
    let time = |filter: &ConversationFilter, request: &PageRequest| {
        for _ in 0..20 {
            store.list_conversations(org, filter, order, request).expect("warm");
        }
        let samples: Vec<Duration> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                store.list_conversations(org, filter, order, request).expect("page");
                start.elapsed()
            })
            .collect();
        median(samples)
    };
    for (name, filter) in &filters {
        let first = store
            .list_conversations(org, filter, order, &PageRequest::Offset { page: 1, limit })
            .expect("page");
        let total = first.total.unwrap_or(0);
        let last_page = total.div_ceil(u64::from(limit)).max(1) as u32;
        let deep_page = last_page.min(10_000);
        let keyset = time(filter, &PageRequest::first(limit));
        let with_total = time(filter, &PageRequest::Offset { page: 1, limit });
        let deep = time(filter, &PageRequest::Offset { page: deep_page, limit });
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "| {name} | {total} | {:.3} ms | {:.3} ms | {:.2}x | {deep_page} | {:.3} ms | {:.2}x |",
            ms(keyset),
            ms(with_total),
            ms(with_total) / ms(keyset),
            ms(deep),
            ms(deep) / ms(with_total)
        );
    }
}

fn find_or_seed(store: &DieselStore, url: &str, conversations: u64) -> Id {
    let mut conn = rosetta_store::db::Manager::new(rosetta_store::DatabaseUrl::parse(url).unwrap());
    let existing: Option<Vec<u8>> = {
        use r2d2::ManageConnection;
        let mut c = conn.connect().expect("connect");
        organizations::table
            .filter(organizations::name.eq("bench"))
            .select(organizations::id)
            .first(&mut c)
            .optional()
            .expect("query")
    };
    let _ = &mut conn;
    if let Some(id) = existing {
        return Id::from_slice(&id).unwrap();
    }
    let org = store.create_organization("bench").unwrap().id;
    let started = Instant::now();
    eprintln!("seeding {conversations} conversations with 10 messages each ...");
    let report = store
        .seed(
            org,
            &SeedOptions {
                conversations,
                messages_per_conversation: 10,
                seed: 7,
            },
            &mut |done| {
                if done % 100_000 == 0 {
                    eprintln!("  {done} conversations, {:.0}s", started.elapsed().as_secs_f64());
                }
            },
        )
        .expect("seed");
    eprintln!("seeded {report:?} in {:.1}s", started.elapsed().as_secs_f64());
    org
}
