//! The database going away and coming back (PostgreSQL, when `ROSETTA_TEST_DATABASE_URL` is set):
//! connections refused and the open ones terminated. Requests answer 503 in each dialect's shape
//! within a bounded time, `/readyz` says not ready, and service resumes by itself.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{free_port, rosetta, Client, PNID};

/// A path, its headers, and what its 503 body must contain.
type Probe<'a> = (String, Vec<(&'static str, String)>, &'a str);

fn psql(admin_url: &str, sql: &str) {
    let out = Command::new("psql")
        .args([admin_url, "-qAtc", sql])
        .output()
        .expect("psql");
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
}

fn cli(url: &str, args: &[&str]) -> serde_json::Value {
    let out = rosetta().args(["--database-url", url]).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// A server with a seeded organization (pool of 4) and, for each dialect, a list request with its
/// credentials and the 503 shape it must answer in an outage. All three answer 200 now.
fn serve_probed(url: &str) -> (support::KillOnDrop, u16, Vec<Probe<'static>>) {
    let org = cli(url, &["org", "create", "--name", "Faults", "--json"]);
    let org_id = org["id"].as_str().unwrap().to_owned();
    let org_uuid = org["uuid"].as_str().unwrap().to_owned();
    cli(
        url,
        &[
            "account",
            "create",
            "--org",
            &org_id,
            "--phone-number-id",
            PNID,
            "--phone-number",
            "+15550783881",
        ],
    );
    cli(
        url,
        &[
            "seed",
            "--org",
            &org_id,
            "--conversations",
            "20",
            "--messages-per-conversation",
            "2",
        ],
    );
    let key = |style: &str| {
        cli(url, &["key", "create", "--org", &org_id, "--style", style, "--json"])["key"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (wacrm, kirim, envelope) = (key("wacrm"), key("kirim"), key("envelope"));

    let port = free_port();
    let server = rosetta()
        .env("WHATSAPP_APP_SECRET", support::SECRET)
        .args([
            "--database-url",
            url,
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "2",
            "--pool-size",
            "4",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(support::KillOnDrop)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Client::connect(port).is_err() {
        assert!(Instant::now() < deadline, "the server never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let bearer = |k: &str| format!("Bearer {k}");
    let requests: Vec<Probe<'static>> = vec![
        (
            "/api/v1/conversations".into(),
            vec![("Authorization", bearer(&wacrm))],
            r#""code":"unavailable""#,
        ),
        (
            format!("/v1/{PNID}/conversations"),
            vec![("Authorization", bearer(&kirim))],
            r#""code":"service_unavailable""#,
        ),
        (
            "/api/whatsapp/conversations".into(),
            vec![("Authorization", bearer(&envelope)), ("x-org-id", org_uuid.clone())],
            r#""error":"Service unavailable""#,
        ),
    ];
    for (path, headers, _) in &requests {
        assert_eq!(get(port, path, headers).0, 200, "{path} before the outage");
    }

    (server, port, requests)
}

/// GET `path` on a fresh connection: status, body, and how long the answer took.
fn get(port: u16, path: &str, headers: &[(&str, String)]) -> (u16, String, Duration) {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let started = Instant::now();
    let (status, body) = Client::connect(port)
        .unwrap()
        .request("GET", path, &headers, b"")
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned(), started.elapsed())
}

#[test]
fn database_outage_answers_503_in_every_dialect_and_recovers() {
    let Some(db) = rosetta_store::testing::TestDb::postgres() else {
        return;
    };
    let url = db.url.clone();
    let name = url.rsplit('/').next().unwrap().to_owned();
    let admin = format!("{}/postgres", url.rsplit_once('/').unwrap().0);
    let (mut server, port, requests) = serve_probed(&url);
    // The outage: no new connections, the open ones terminated.
    psql(&admin, &format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"));
    psql(&admin, &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"));
    for (path, headers, shape) in &requests {
        // The first request may meet a connection killed under it; every answer is a 503 in shape.
        for _ in 0..2 {
            let (status, body, took) = get(port, path, headers);
            assert_eq!(status, 503, "{path} during the outage: {body}");
            assert!(body.contains(shape), "{path}: {body}");
            assert!(took < Duration::from_secs(12), "{path} took {took:?}");
        }
    }
    let (status, body, _) = get(port, "/readyz", &[]);
    assert_eq!(status, 503, "{body}");

    // The database comes back: service resumes without a restart.
    psql(&admin, &format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = get(port, "/readyz", &[]).0 == 200 && requests.iter().all(|(p, h, _)| get(port, p, h).0 == 200);
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "service did not resume");
        std::thread::sleep(Duration::from_millis(200));
    }
    server.kill().unwrap();
    server.wait().unwrap();
}

/// The SQLite file moved away under a running server (as good as unreadable: every new read of
/// it fails): 503 in each dialect's shape within a bound (the first within 100 ms), `/readyz` not ready, a delivery refused
/// (Meta retries it) rather than written into a new empty database, and service resumes by itself
/// when the file is back, with what was written before.
#[test]
fn sqlite_file_gone_answers_503_in_every_dialect_and_recovers() {
    let dir = support::temp_dir("sqlite-gone");
    let path = dir.join("faults.db");
    let url = format!("sqlite://{}", path.display());
    let (mut server, port, requests) = serve_probed(&url);
    let mut client = Client::connect(port).unwrap();
    assert_eq!(
        client
            .deliver(&support::text_delivery("15550001111", "wamid.before", "before"))
            .unwrap(),
        200
    );

    let away = dir.join("faults.db.away");
    std::fs::rename(&path, &away).unwrap();
    // Connections look at the file at most every `SQLITE_FILE_CHECK_EVERY` (100 ms): the first 503
    // comes within that bound, and every request after it is refused.
    let moved = Instant::now();
    let (first, headers, _) = &requests[0];
    // Paced: wacrm's rate limit counts these (an unpaced loop was refused with 429s, never
    // reaching the database, and timed out here).
    loop {
        let (status, body, _) = get(port, first, headers);
        if status == 503 {
            break;
        }
        assert!(
            moved.elapsed() < Duration::from_secs(2),
            "still answering 2 s after the file moved: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    for (path, headers, shape) in &requests {
        for _ in 0..2 {
            let (status, body, took) = get(port, path, headers);
            assert_eq!(status, 503, "{path} with the file gone: {body}");
            assert!(body.contains(shape), "{path}: {body}");
            assert!(took < Duration::from_secs(8), "{path} took {took:?}");
        }
    }
    let (status, body, _) = get(port, "/readyz", &[]);
    assert_eq!(status, 503, "{body}");
    let status = Client::connect(port)
        .unwrap()
        .deliver(&support::text_delivery("15550002222", "wamid.during", "during"))
        .unwrap();
    assert_eq!(status, 503, "a delivery with the file gone");
    assert!(!path.exists(), "an empty database was created in the file's place");

    std::fs::rename(&away, &path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answers: Vec<(u16, String)> = std::iter::once(get(port, "/readyz", &[]))
            .chain(requests.iter().map(|(p, h, _)| get(port, p, h)))
            .map(|(status, body, _)| (status, body))
            .collect();
        if answers.iter().all(|(status, _)| *status == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "service did not resume: {answers:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Meta's retry of the refused delivery is taken now; the one before is still there.
    let status = Client::connect(port)
        .unwrap()
        .deliver(&support::text_delivery("15550002222", "wamid.during", "during"))
        .unwrap();
    assert_eq!(status, 200);
    let (_, headers, _) = &requests[1];
    let (status, body, _) = get(port, &format!("/v1/{PNID}/contacts?limit=100"), headers);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("15550001111") && body.contains("15550002222"), "{body}");
    server.kill().unwrap();
    server.wait().unwrap();
    std::fs::remove_dir_all(dir).ok();
}

/// Rows locked elsewhere and a small pool: the writes waiting on the lock give up after the lock
/// timeout, a read waiting for a connection meanwhile after the pool timeout, both as 503 in shape; nothing
/// hangs, and everything answers again once the lock is gone.
#[test]
fn locked_rows_and_an_exhausted_pool_answer_503_within_a_bound() {
    let Some(db) = rosetta_store::testing::TestDb::postgres() else {
        return;
    };
    let url = db.url.clone();
    let org = cli(&url, &["org", "create", "--name", "Pool", "--json"]);
    let org_id = org["id"].as_str().unwrap().to_owned();
    cli(
        &url,
        &[
            "account",
            "create",
            "--org",
            &org_id,
            "--phone-number-id",
            PNID,
            "--phone-number",
            "+15550783881",
        ],
    );
    cli(
        &url,
        &[
            "seed",
            "--org",
            &org_id,
            "--conversations",
            "10",
            "--messages-per-conversation",
            "1",
        ],
    );
    let kirim = cli(&url, &["key", "create", "--org", &org_id, "--style", "kirim", "--json"])["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let port = free_port();
    let mut server = rosetta()
        .args([
            "--database-url",
            &url,
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "2",
            "--pool-size",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(support::KillOnDrop)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Client::connect(port).is_err() {
        assert!(Instant::now() < deadline, "the server never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let bearer = format!("Bearer {kirim}");
    let (_, body) = Client::connect(port)
        .unwrap()
        .request(
            "GET",
            &format!("/v1/{PNID}/conversations?limit=1"),
            &[("Authorization", &bearer)],
            b"",
        )
        .unwrap();
    let first: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let cnv = first["data"][0]["id"].as_str().unwrap().to_owned();

    // Another session holds every conversation row for 12 seconds.
    let mut holder = Command::new("psql")
        .args([
            url.as_str(),
            "-qAtc",
            "BEGIN; SELECT id FROM conversations FOR UPDATE; SELECT pg_sleep(12); COMMIT;",
        ])
        .stdout(Stdio::null())
        .spawn()
        .map(support::KillOnDrop)
        .unwrap();
    // Wait until it holds the rows (it is sleeping inside its transaction).
    psql_until(
        &url,
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(12)%' AND wait_event = 'PgSleep'",
        "1",
        "the lock holder never started",
    );
    let patch = format!("/v1/{PNID}/conversations/{cnv}");
    // As many writers as connections: each waits on the lock, not for the pool.
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (patch, bearer) = (patch.clone(), bearer.clone());
            std::thread::spawn(move || {
                let t = Instant::now();
                let (status, body) = Client::connect(port)
                    .unwrap()
                    .request(
                        "PATCH",
                        &patch,
                        &[("Authorization", &bearer), ("Content-Type", "application/json")],
                        br#"{"status":"pending"}"#,
                    )
                    .unwrap();
                (status, String::from_utf8_lossy(&body).into_owned(), t.elapsed())
            })
        })
        .collect();
    // Wait until both writers hold their connection and wait on the row lock.
    psql_until(
        &url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        "2",
        "the writers never waited on the lock",
    );
    let t = Instant::now();
    let (status, body) = Client::connect(port)
        .unwrap()
        .request(
            "GET",
            &format!("/v1/{PNID}/conversations"),
            &[("Authorization", &bearer)],
            b"",
        )
        .unwrap();
    let read_took = t.elapsed();
    for w in writers {
        let (status, body, took) = w.join().unwrap();
        assert_eq!(status, 503, "after {took:?}: {body}");
        assert!(body.contains("service_unavailable"), "{body}");
        assert!(took < Duration::from_secs(12), "a write waited {took:?}");
    }
    // The read queued behind the writers' connections; they give up on the lock after the lock
    // timeout, before the read's own pool timeout (both 5 s, and the writers started first), so
    // the read is answered, late but whole.
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(read_took < Duration::from_secs(12), "a read waited {read_took:?}");
    holder.wait().unwrap();
    let (status, _) = Client::connect(port)
        .unwrap()
        .request(
            "PATCH",
            &patch,
            &[("Authorization", &bearer), ("Content-Type", "application/json")],
            br#"{"status":"pending"}"#,
        )
        .unwrap();
    assert_eq!(status, 200, "writes resume once the lock is gone");
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Polls `sql` on `url` until it prints `expected`, for up to 10 s (else fails with `what`).
fn psql_until(url: &str, sql: &str, expected: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new("psql").args([url, "-qAtc", sql]).output().unwrap();
        if String::from_utf8_lossy(&out.stdout).trim() == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{what}");
    }
}
