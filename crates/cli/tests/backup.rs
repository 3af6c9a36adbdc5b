//! `rosetta backup` while the server takes deliveries, then `rosetta restore` into a stopped
//! deployment: every delivery acknowledged before the backup began is in the restored database,
//! and the restored deployment serves with its key file. And what restore refuses.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rosetta_core::*;
use support::*;

fn cli(url: &str, args: &[&str]) -> std::process::Output {
    rosetta().args(["--database-url", url]).args(args).output().unwrap()
}

#[test]
fn a_backup_under_write_load_restores_every_acknowledged_write() {
    let dir = temp_dir("backup");
    let url = format!("sqlite://{}", dir.join("live.db").display());
    let org: Id = prepare(&url).parse().unwrap();
    let port = free_port();
    let server = start_server(&url, port, 2);

    // Four writers deliver one message each at a time, as fast as they are acknowledged.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (acked, stop) = (acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut client = Client::connect(port).unwrap();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let wamid = format!("wamid.backup.{w}.{i}");
                    let body = text_delivery(&format!("1555000{w:04}"), &wamid, "under load");
                    if client.deliver(&body).unwrap() == 200 {
                        acked.lock().unwrap().push(wamid);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    let wait_for = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked.lock().unwrap().len() < n {
            assert!(Instant::now() < deadline, "the writers stalled");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for(200);
    // Everything acknowledged before the backup starts must be in it.
    let before: Vec<String> = acked.lock().unwrap().clone();
    let backup = dir.join("copy.db");
    let out = cli(&url, &["backup", "--to", backup.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["path"], backup.display().to_string());
    assert!(
        report["key_file"].as_str().unwrap().ends_with("copy.db.secret-key"),
        "{report}"
    );
    // The writers went on during the backup and after it.
    let during = acked.lock().unwrap().len();
    wait_for(during + 100);
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert!(
        before.len() >= 200 && acked.lock().unwrap().len() > before.len(),
        "writes on both sides of the backup"
    );

    // A backup is never written over.
    let again = cli(&url, &["backup", "--to", backup.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));

    // Restore refuses a database a server has open, and leaves it as it was.
    let live = cli(&url, &["restore", "--from", backup.to_str().unwrap()]);
    assert!(!live.status.success());
    assert!(String::from_utf8_lossy(&live.stderr).contains("in use"), "{live:?}");
    drop(server);

    // Into a new deployment (another directory): the database and its key file.
    let target_dir = temp_dir("backup-restored");
    let restored = format!("sqlite://{}", target_dir.join("rosetta.db").display());
    let out = cli(&restored, &["restore", "--from", backup.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(target_dir.join("rosetta.db.secret-key").exists());
    let store = rosetta_store::DieselStore::open(&restored).unwrap();
    for wamid in &before {
        store
            .message_by_wamid(org, wamid)
            .unwrap_or_else(|e| panic!("{wamid}, acknowledged before the backup, is missing: {e:?}"));
    }
    drop(store);

    // Over the stopped original: kept beside it, and the restored one serves.
    let out = cli(&url, &["restore", "--from", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kept: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("live.db.before-restore-"))
        .collect();
    assert_eq!(kept.len(), 1, "the database restored over is kept: {kept:?}");
    let port = free_port();
    let _server = start_server(&url, port, 1);
    let mut client = Client::connect(port).unwrap();
    let body = text_delivery("15559990000", "wamid.after.restore", "after");
    assert_eq!(client.deliver(&body).unwrap(), 200);
    std::fs::remove_dir_all(dir).ok();
    std::fs::remove_dir_all(target_dir).ok();
}

#[test]
fn restore_refuses_what_is_not_a_rosetta_database() {
    let dir = temp_dir("restore-refuses");
    let target = format!("sqlite://{}", dir.join("rosetta.db").display());
    let garbage = dir.join("garbage.db");
    std::fs::write(&garbage, b"not a database at all, just some bytes").unwrap();
    let out = cli(&target, &["restore", "--from", garbage.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a database"),
        "{out:?}"
    );
    let missing = cli(&target, &["restore", "--from", dir.join("nope.db").to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no such backup"),
        "{missing:?}"
    );
    assert!(!dir.join("rosetta.db").exists(), "nothing was put in place");
    let pg = cli(
        "postgres://postgres@127.0.0.1:5432/postgres",
        &["restore", "--from", garbage.to_str().unwrap()],
    );
    assert!(String::from_utf8_lossy(&pg.stderr).contains("pg_dump"), "{pg:?}");
    std::fs::remove_dir_all(dir).ok();
}
