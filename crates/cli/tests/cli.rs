//! The CLI contract, through the real binary.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Sandbox {
    dir: PathBuf,
    url: String,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = std::env::temp_dir().join(format!("rosetta-cli-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("cli.db").display());
        Sandbox { dir, url }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_rosetta"))
            .arg("--database-url")
            .arg(&self.url)
            .args(args)
            .env_remove("DATABASE_URL")
            .env("ROSETTA_LOG", "warn")
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.lines().count(), 1, "exactly one JSON object: {text}");
        serde_json::from_str(&text).unwrap()
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stdout.is_empty(), "nothing on stdout when failing");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with("error: "), "{err}");
        err.lines().next().unwrap().to_owned()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_else(|| panic!("{k} in {v}")).to_owned()
}

#[test]
fn creating_commands_print_one_json_object_with_id_and_uuid() {
    let sb = Sandbox::new();
    let org = sb.json(&["org", "create", "--name", "Acme", "--json"]);
    assert_eq!(org["name"], "Acme");
    let (id, uuid) = (s(&org, "id"), s(&org, "uuid"));
    assert_eq!(id.len(), 26);
    assert_eq!(uuid.len(), 36);
    assert_eq!(org.as_object().unwrap().len(), 3);

    // Ids in any spelling: ULID, UUID, kirim's org_ form.
    let account = sb.json(&[
        "account",
        "create",
        "--org",
        &uuid,
        "--phone-number-id",
        "106540352242922",
        "--phone-number",
        "+1 555 078 3881",
        "--name",
        "Support",
        "--json",
    ]);
    assert_eq!(
        (
            account["phone_number_id"].as_str(),
            account["phone_number"].as_str(),
            account["org"].as_str()
        ),
        (Some("106540352242922"), Some("+15550783881"), Some(id.as_str()))
    );
    let user = sb.json(&[
        "user",
        "create",
        "--org",
        &format!("org_{id}"),
        "--name",
        "Support Agent",
        "--email",
        "agent@example.com",
        "--json",
    ]);
    assert_eq!(user["email"], "agent@example.com");

    let key = sb.json(&[
        "key",
        "create",
        "--org",
        &id,
        "--name",
        "ci",
        "--scopes",
        "conversations:read,messages:read",
        "--style",
        "kirim",
        "--expires-in-days",
        "30",
        "--json",
    ]);
    assert!(s(&key, "key").starts_with("kdv_live_"));
    assert_eq!(
        key["scopes"],
        serde_json::json!(["conversations:read", "messages:read"])
    );
    let every = sb.json(&["key", "create", "--org", &id, "--json"]);
    assert!(s(&every, "key").starts_with("wacrm_live_"));
    assert_eq!(
        every["scopes"].as_array().unwrap().len(),
        rosetta_core::key::ALL_SCOPES.len()
    );
    let revoked = sb.json(&["key", "revoke", "--key-id", &s(&every, "uuid"), "--json"]);
    assert_eq!(revoked["id"], every["id"]);
    assert!(revoked["revoked_at"].is_string());

    let seeded = sb.json(&[
        "seed",
        "--org",
        &id,
        "--conversations",
        "50",
        "--messages-per-conversation",
        "3",
        "--seed",
        "9",
        "--json",
    ]);
    assert_eq!(seeded["conversations"], 50);
    assert_eq!(seeded["contacts"], 50);

    // The secret is stored only as a hash: it appears nowhere in the database files.
    for entry in std::fs::read_dir(&sb.dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let secret = s(&key, "key");
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "secret found in database file"
        );
    }
}

#[test]
fn tag_add_creates_and_attaches() {
    let sb = Sandbox::new();
    let org = sb.json(&["org", "create", "--name", "Acme", "--json"]);
    let id = s(&org, "id");
    sb.json(&[
        "seed",
        "--org",
        &id,
        "--conversations",
        "3",
        "--messages-per-conversation",
        "1",
        "--json",
    ]);
    // Find a contact through the store (the CLI has no contact listing).
    let store = rosetta_store::DieselStore::open(&sb.url).unwrap();
    use rosetta_core::Store;
    let org_id: rosetta_core::Id = id.parse().unwrap();
    let contact = store
        .list_contacts(org_id, &Default::default(), &rosetta_core::PageRequest::first(1))
        .unwrap()
        .items
        .remove(0)
        .contact
        .id;
    let contact_uuid = contact.uuid().hyphenated().to_string();
    let tag = sb.json(&[
        "tag",
        "add",
        "--org",
        &id,
        "--contact",
        &format!("contact_{contact_uuid}"),
        "--name",
        "vip-test",
        "--json",
    ]);
    assert_eq!(
        (tag["name"].as_str(), tag["color"].as_str()),
        (Some("vip-test"), Some("#3b82f6"))
    );
    let again = sb.json(&[
        "tag",
        "add",
        "--org",
        &id,
        "--contact",
        &contact.to_string(),
        "--name",
        "vip-test",
        "--color",
        "#10B981",
        "--json",
    ]);
    assert_eq!(
        (again["id"].as_str(), again["color"].as_str()),
        (tag["id"].as_str(), Some("#10b981"))
    );
    let tags = store.get_contact(org_id, contact).unwrap().tags;
    assert_eq!(tags.iter().filter(|t| t.name == "vip-test").count(), 1);
}

#[test]
fn wrong_input_is_one_line_and_writes_nothing() {
    let sb = Sandbox::new();
    let org = sb.json(&["org", "create", "--name", "Acme", "--json"]);
    let id = s(&org, "id");
    assert_eq!(
        sb.fails(&["org", "create", "--name", "  "]),
        "error: name must not be empty"
    );
    assert!(sb
        .fails(&[
            "account",
            "create",
            "--org",
            "nope",
            "--phone-number-id",
            "1234567",
            "--phone-number",
            "+15550783881"
        ])
        .contains("malformed organization id"));
    assert_eq!(
        sb.fails(&[
            "account",
            "create",
            "--org",
            &id,
            "--phone-number-id",
            "12ab",
            "--phone-number",
            "+15550783881"
        ]),
        "error: phone_number_id must be 6 to 20 digits"
    );
    assert!(sb
        .fails(&[
            "account",
            "create",
            "--org",
            &id,
            "--phone-number-id",
            "1234567",
            "--phone-number",
            "555"
        ])
        .contains("E.164"));
    assert_eq!(
        sb.fails(&[
            "user",
            "create",
            "--org",
            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "--name",
            "X",
            "--email",
            "x@example.com"
        ]),
        "error: organization not found"
    );
    assert!(sb
        .fails(&["key", "create", "--org", &id, "--scopes", "bogus"])
        .contains("unknown scope"));
    assert!(sb
        .fails(&["key", "revoke", "--key-id", "01ARZ3NDEKTSV4RRFFQ69G5FAV"])
        .contains("API key not found"));
    let bad_url = Command::new(env!("CARGO_BIN_EXE_rosetta"))
        .args(["--database-url", "mysql://x", "migrate"])
        .output()
        .unwrap();
    assert!(!bad_url.status.success());
    assert!(String::from_utf8_lossy(&bad_url.stderr).starts_with("error: unsupported database URL"));
    // Nothing was half written: the organization still has no account, user or key.
    let store = rosetta_store::DieselStore::open(&sb.url).unwrap();
    use rosetta_core::Store;
    assert!(store.list_accounts(id.parse().unwrap(), false).unwrap().is_empty());
}

#[test]
fn migrate_is_idempotent() {
    let sb = Sandbox::new();
    let first = sb.run(&["migrate"]);
    // Every migration the repository has, once.
    let all = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/sqlite"))
        .unwrap()
        .count();
    assert!(
        String::from_utf8_lossy(&first.stdout).starts_with(&format!("{all} migration(s) applied")),
        "{}",
        String::from_utf8_lossy(&first.stdout)
    );
    let second = sb.run(&["migrate"]);
    assert!(String::from_utf8_lossy(&second.stdout).starts_with("0 migration(s) applied"));
}

#[test]
fn media_prune_reports_and_refuses_a_bad_duration() {
    let sb = Sandbox::new();
    let out = sb.run(&["media", "prune", "--older-than", "30d"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "pruned 0 files (0 blobs deleted)\n"
    );
    assert!(
        sb.dir.join("cli.db.media").is_dir(),
        "the default media directory is beside the database"
    );
    let bad = sb.run(&["media", "prune", "--older-than", "soon"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a duration like 30d"));
}

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Some((status, body))
}

#[test]
fn serve_answers_health_and_readiness() {
    let sb = Sandbox::new();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rosetta"))
        .args([
            "--database-url",
            &sb.url,
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "1",
        ])
        .env("ROSETTA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        if let Some(answer) = get(port, "/healthz") {
            break answer;
        }
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(100));
    };
    let ready = get(port, "/readyz");
    let missing = get(port, "/nope");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(health, (200, r#"{"status":"ok"}"#.to_owned()));
    assert_eq!(ready, Some((200, r#"{"status":"ready"}"#.to_owned())));
    assert_eq!(missing.map(|m| m.0), Some(404));
}

impl Sandbox {
    /// Runs with `input` on standard input.
    fn run_with_input(&self, args: &[&str], input: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rosetta"))
            .arg("--database-url")
            .arg(&self.url)
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove("ROSETTA_SECRET_KEY")
            .env("ROSETTA_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }
}

/// Access tokens come from standard input only, are stored sealed (the database holds no token),
/// under a key file beside the SQLite file with mode 0600; a bad token writes nothing.
#[test]
fn account_tokens_come_from_stdin_and_are_stored_sealed() {
    const TOKEN: &str = "EAAGm0PX4ZCpsBA-cli-secret-token-0123456789";
    let sb = Sandbox::new();
    let org = sb.json(&["org", "create", "--name", "Acme", "--json"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let create = |pnid: &str, input: &str| {
        sb.run_with_input(
            &[
                "account",
                "create",
                "--org",
                &org,
                "--phone-number-id",
                pnid,
                "--phone-number",
                "+15550783881",
                "--token-stdin",
                "--json",
            ],
            input,
        )
    };
    // An empty token is refused before anything is written.
    let empty = create("106540352242922", "\n");
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("access token is empty"));
    let made = create("106540352242922", &format!("{TOKEN}\n"));
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let account: Value = serde_json::from_slice(&made.stdout).unwrap();
    let account = account["id"].as_str().unwrap().to_owned();
    assert!(
        !String::from_utf8_lossy(&made.stdout).contains(TOKEN)
            && !String::from_utf8_lossy(&made.stderr).contains(TOKEN),
        "the token is never printed"
    );

    let replaced = sb.run_with_input(
        &["account", "set-token", "--account", &account],
        "EAAG-replaced-token\n",
    );
    assert!(
        replaced.status.success(),
        "{}",
        String::from_utf8_lossy(&replaced.stderr)
    );
    assert!(!String::from_utf8_lossy(&replaced.stdout).contains("EAAG"));
    let unknown = sb.run_with_input(
        &[
            "account",
            "set-token",
            "--account",
            &rosetta_core::Id::new().to_string(),
        ],
        "EAAG-x\n",
    );
    assert!(!unknown.status.success());

    let db = sb.dir.join("cli.db");
    let key_file = rosetta_store::secrets::SecretKey::file_beside(&db);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key file is the owner's alone");
    }
    let mut bytes = std::fs::read(&db).unwrap();
    for suffix in ["-wal", "-shm"] {
        if let Ok(more) = std::fs::read(format!("{}{suffix}", db.display())) {
            bytes.extend(more);
        }
    }
    for secret in [TOKEN, "EAAG-replaced-token"] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "stored in clear"
        );
    }
    // The store (with the same key file) reads the last token back.
    use rosetta_core::Store;
    let store = rosetta_store::DieselStore::open(&sb.url).unwrap();
    let id = rosetta_core::Id::parse_any(rosetta_core::EntityKind::Account, &account).unwrap();
    let org = store.account_org(id).unwrap();
    assert_eq!(
        store.account_token(org, id).unwrap().unwrap().expose(),
        "EAAG-replaced-token"
    );
}
