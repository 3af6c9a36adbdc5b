//! Secrets stay secret: API keys are stored only as hashes (the database file is read byte for byte),
//! and a full run at the default log level (`info`) writes no key, token, app secret or message text
//! to its logs.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{free_port, prepare, rosetta, temp_dir, text_delivery, Client, PNID, SECRET};

const JWT_SECRET: &str = "jwt-secret-for-the-log-test";
const MESSAGE_TEXT: &str = "my card number is 4111-secret-text";

fn cli(url: &str, args: &[&str]) -> Value {
    let out = rosetta().args(["--database-url", url]).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

#[test]
fn keys_are_hashed_and_text_logs_carry_no_secret() {
    keys_are_hashed_and_logs_carry_no_secret("text");
}

/// `ROSETTA_LOG_FORMAT=json`: one JSON object a line, and the same secrets kept out.
#[test]
fn keys_are_hashed_and_json_logs_carry_no_secret() {
    keys_are_hashed_and_logs_carry_no_secret("json");
}

fn keys_are_hashed_and_logs_carry_no_secret(format: &str) {
    let dir = temp_dir(&format!("secrets-{format}"));
    let db = dir.join("secrets.db");
    let url = format!("sqlite://{}", db.display());
    let org = prepare(&url);
    let user = cli(
        &url,
        &[
            "user",
            "create",
            "--org",
            &org,
            "--name",
            "Agent",
            "--email",
            "agent@example.com",
            "--json",
        ],
    );
    let keys: Vec<String> = ["wacrm", "kirim", "envelope"]
        .iter()
        .map(|style| {
            cli(&url, &["key", "create", "--org", &org, "--style", style, "--json"])["key"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let org_uuid = rosetta_core::Id::parse_any(rosetta_core::EntityKind::Organization, &org)
        .unwrap()
        .uuid()
        .to_string();
    let jwt = rosetta_http::jwt::sign_hs256(
        &json!({"sub": user["uuid"], "exp": rosetta_core::Timestamp::now().millis() / 1000 + 3600}),
        JWT_SECRET.as_bytes(),
    );

    let port = free_port();
    let mut server = rosetta()
        .env_remove("ROSETTA_LOG")
        .args([
            "--database-url",
            &url,
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "1",
        ])
        .env("WHATSAPP_APP_SECRET", SECRET)
        .env("ROSETTA_JWT_SECRET", JWT_SECRET)
        .env("ROSETTA_LOG_FORMAT", format)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map(support::KillOnDrop)
        .unwrap();
    let logs = support::Output::read(server.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut c = loop {
        match Client::connect(port) {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(
        c.deliver(&text_delivery("14155550123", "wamid.secret", MESSAGE_TEXT))
            .unwrap(),
        200
    );
    let bearer = |k: &str| format!("Bearer {k}");
    let calls: Vec<(String, Vec<(&str, String)>)> = vec![
        (
            "/api/v1/conversations".into(),
            vec![("Authorization", bearer(&keys[0]))],
        ),
        (
            "/api/v1/conversations".into(),
            vec![("Authorization", bearer(&format!("{}x", keys[0])))],
        ),
        (
            format!("/v1/{PNID}/conversations"),
            vec![
                ("Authorization", bearer(&keys[1])),
                ("X-Request-Id", "client-id".into()),
            ],
        ),
        (
            format!("/v1/{PNID}/conversations?cursor=garbage"),
            vec![("Authorization", bearer(&keys[1]))],
        ),
        (
            "/api/whatsapp/conversations".into(),
            vec![("Authorization", bearer(&keys[2])), ("x-org-id", org_uuid.clone())],
        ),
        (
            "/api/whatsapp/conversations".into(),
            vec![("Authorization", bearer(&jwt)), ("x-org-id", org_uuid.clone())],
        ),
        (
            "/api/whatsapp/conversations".into(),
            vec![
                ("Authorization", bearer(&format!("{jwt}x"))),
                ("x-org-id", org_uuid.clone()),
            ],
        ),
    ];
    for (path, headers) in &calls {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = c.request("GET", path, &headers, b"").unwrap();
        assert!(status < 500, "{path}: {status} {}", String::from_utf8_lossy(&body));
    }
    // A delivery with a wrong signature is logged as refused, without its body.
    let (status, _) = c
        .request(
            "POST",
            "/webhooks/whatsapp",
            &[("X-Hub-Signature-256", "sha256=00")],
            &text_delivery("14155550123", "wamid.x", MESSAGE_TEXT),
        )
        .unwrap();
    assert_eq!(status, 401);
    drop(c);
    assert!(
        logs.wait_for("webhook delivery refused", Duration::from_secs(10)),
        "the refused delivery is logged: {}",
        logs.text()
    );
    server.kill().unwrap();
    server.wait().unwrap();
    let logs = logs.text();
    assert!(logs.contains("rosetta listening"), "the run logged at info: {logs}");
    check_access_lines(format, &logs);
    for secret in keys
        .iter()
        .map(String::as_str)
        .chain([jwt.as_str(), SECRET, JWT_SECRET, MESSAGE_TEXT])
    {
        assert!(
            !logs.contains(secret),
            "the logs carry a secret ({}…): {logs}",
            &secret[..8]
        );
    }

    // The database holds the message (it is the inbox) but no key.
    let mut bytes = std::fs::read(&db).unwrap();
    for suffix in ["-wal", "-shm"] {
        if let Ok(more) = std::fs::read(format!("{}{suffix}", db.display())) {
            bytes.extend(more);
        }
    }
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(contains(MESSAGE_TEXT.as_bytes()), "the inbox stores its messages");
    for key in &keys {
        assert!(!contains(key.as_bytes()), "a key is stored in clear");
        assert!(
            !contains(&key.as_bytes()[key.len() - 12..]),
            "a key's tail is stored in clear"
        );
    }
    std::fs::remove_dir_all(dir).ok();
}

/// Instances keep keys in memory while none changes (issue #19): a revocation through the CLI is
/// refused by both instances within a second (the caches are emptied within 250 ms).
#[test]
fn a_revoked_key_is_refused_within_a_second_by_every_instance() {
    let dir = temp_dir("revoke");
    let url = format!("sqlite://{}", dir.join("revoke.db").display());
    let org = prepare(&url);
    let key = cli(&url, &["key", "create", "--org", &org, "--style", "kirim", "--json"]);
    let (secret, key_id) = (
        key["key"].as_str().unwrap().to_owned(),
        key["id"].as_str().unwrap().to_owned(),
    );
    let ports = [free_port(), free_port()];
    let mut servers: Vec<_> = ports.iter().map(|p| support::start_server(&url, *p, 1)).collect();
    let bearer = format!("Bearer {secret}");
    let ask = |port: u16| {
        Client::connect(port)
            .unwrap()
            .request(
                "GET",
                &format!("/v1/{PNID}/conversations"),
                &[("Authorization", &bearer)],
                b"",
            )
            .unwrap()
            .0
    };
    assert_eq!(ports.map(ask), [200, 200]);
    // Asked again, so each instance's cache holds the key.
    assert_eq!(ports.map(ask), [200, 200]);
    cli(&url, &["key", "revoke", "--key-id", &key_id]);
    let revoked = std::time::Instant::now();
    loop {
        let answers = ports.map(ask);
        if answers == [401, 401] {
            break;
        }
        assert!(
            revoked.elapsed() < std::time::Duration::from_secs(1),
            "still accepted {:?} after the revocation: {answers:?}",
            revoked.elapsed()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for s in &mut servers {
        s.kill().unwrap();
        s.wait().unwrap();
    }
    std::fs::remove_dir_all(dir).ok();
}

/// Every request a dialect served has its access line: request id, dialect, route (the template,
/// never the query), status, duration; in JSON, every line is one object with the standard fields.
fn check_access_lines(format: &str, logs: &str) {
    if format == "json" {
        let lines: Vec<Value> = logs
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object a line ({e}): {l}")))
            .collect();
        for line in &lines {
            for field in ["timestamp", "level", "target", "message"] {
                assert!(line.get(field).is_some(), "{field} missing: {line}");
            }
        }
        let access: Vec<&Value> = lines.iter().filter(|l| l["target"] == "rosetta::access").collect();
        for dialect in ["wacrm", "kirim", "envelope"] {
            let line = access
                .iter()
                .find(|l| l["dialect"] == dialect)
                .unwrap_or_else(|| panic!("no access line for {dialect}: {logs}"));
            assert_eq!(line["level"], "INFO", "{line}");
            assert_eq!(line["method"], "GET", "{line}");
            assert!(
                line["request_id"].as_str().is_some_and(|id| id.starts_with("req_")),
                "{line}"
            );
            assert!(line["status"].as_u64().is_some(), "{line}");
            assert!(line["duration_ms"].as_f64().is_some(), "{line}");
            let route = line["route"].as_str().unwrap();
            assert!(route.ends_with("/conversations") && !route.contains('?'), "{line}");
        }
        let kirim = access
            .iter()
            .find(|l| l["dialect"] == "kirim" && l["status"] == 400)
            .unwrap_or_else(|| panic!("the refused kirim cursor is logged with its status: {logs}"));
        assert_eq!(kirim["route"], "/v1/{phone_number_id}/conversations", "{kirim}");
    } else {
        for dialect in ["wacrm", "kirim", "envelope"] {
            assert!(
                logs.lines().any(|l| l.contains("rosetta::access")
                    && l.contains(&format!("dialect=\"{dialect}\""))
                    && l.contains("route=")
                    && l.contains("status=")
                    && l.contains("duration_ms=")),
                "no access line for {dialect}: {logs}"
            );
        }
    }
}
