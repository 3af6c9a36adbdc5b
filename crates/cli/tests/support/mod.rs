//! Helpers shared by the CLI's tests and benches: a server process, a keep-alive HTTP/1.1 client
//! over plain TCP (no client library, so a load generator adds almost nothing), signed deliveries.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SECRET: &str = "bench-app-secret";
pub const PNID: &str = "106540352242922";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("rosetta-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `rosetta` binary this build made; a benchmark may serve another build's instead
/// (`ROSETTA_BENCH_BIN`, for a before/after in one sitting).
pub fn rosetta() -> Command {
    let bin = std::env::var("ROSETTA_BENCH_BIN")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_rosetta").into());
    let mut cmd = Command::new(bin);
    cmd.env("ROSETTA_LOG", "warn").env_remove("DATABASE_URL");
    cmd
}

/// Creates an organization with the account `PNID`; returns the organization's ULID.
pub fn prepare(url: &str) -> String {
    let out = rosetta()
        .args(["--database-url", url, "org", "create", "--name", "Load", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let org: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let org = org["id"].as_str().unwrap().to_owned();
    let out = rosetta()
        .args([
            "--database-url",
            url,
            "account",
            "create",
            "--org",
            &org,
            "--phone-number-id",
            PNID,
            "--phone-number",
            "+15550783881",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    org
}

/// A child process killed (and reaped) when dropped, so a test that fails half-way does not leave
/// its server running. Derefs to the `Child`.
pub struct KillOnDrop(pub Child);

impl std::ops::Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Already exited (the test stopped it) is fine: kill then fails and wait returns at once.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start_server(url: &str, port: u16, workers: usize) -> KillOnDrop {
    let child = rosetta()
        .args([
            "--database-url",
            url,
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--workers",
            &workers.to_string(),
        ])
        .env("WHATSAPP_APP_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    listening(child, port)
}

/// `child`, a server started on `port`, once it accepts connections there (up to a minute); killed
/// when dropped.
pub fn listening(child: std::process::Child, port: u16) -> KillOnDrop {
    let child = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// A delivery of one text message from `wa_id`.
pub fn text_delivery(wa_id: &str, wamid: &str, text: &str) -> Vec<u8> {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"WABA","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"{PNID}"}},"contacts":[{{"profile":{{"name":"Load Tester"}},"wa_id":"{wa_id}"}}],"messages":[{{"from":"{wa_id}","id":"{wamid}","timestamp":"1749416383","type":"text","text":{{"body":"{text}"}}}}]}}}}]}}]}}"#
    )
    .into_bytes()
}

/// One keep-alive connection.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// The last response's headers, names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Client {
    pub fn connect(port: u16) -> std::io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            headers: Vec::new(),
        })
    }

    /// Sends a request and reads the whole response: (status, body).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        self.writer.write_all(&request)?;
        let mut status_line = String::new();
        if self.reader.read_line(&mut status_line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
        }
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other("bad status line"))?;
        let mut length = 0usize;
        self.headers.clear();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
                self.headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok((status, body))
    }

    /// The last response's header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn deliver(&mut self, body: &[u8]) -> std::io::Result<u16> {
        let signature = rosetta_http::webhook::sign(SECRET, body);
        self.request(
            "POST",
            "/webhooks/whatsapp",
            &[
                ("Content-Type", "application/json"),
                ("X-Hub-Signature-256", &signature),
            ],
            body,
        )
        .map(|(status, _)| status)
    }
}

/// A child's output, read line by line on a thread as it comes, so a test can wait for a line
/// (an event) instead of sleeping.
#[allow(dead_code)]
pub struct Output {
    text: std::sync::Arc<(std::sync::Mutex<String>, std::sync::Condvar)>,
}

#[allow(dead_code)]
impl Output {
    pub fn read(from: impl std::io::Read + Send + 'static) -> Output {
        use std::io::BufRead;
        let text = std::sync::Arc::new((std::sync::Mutex::new(String::new()), std::sync::Condvar::new()));
        let shared = text.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(from).lines() {
                let Ok(line) = line else { break };
                let (lock, cvar) = &*shared;
                let mut all = lock.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
                cvar.notify_all();
            }
        });
        Output { text }
    }

    /// Waits until the output holds `needle`, up to `within`; whether it came.
    pub fn wait_for(&self, needle: &str, within: std::time::Duration) -> bool {
        let (lock, cvar) = &*self.text;
        let guard = lock.lock().unwrap();
        let (guard, _) = cvar
            .wait_timeout_while(guard, within, |all| !all.contains(needle))
            .unwrap();
        guard.contains(needle)
    }

    /// Everything read so far.
    pub fn text(&self) -> String {
        self.text.0.lock().unwrap().clone()
    }
}

/// Runs an admin command on `url` with the secret key `key_hex` and `stdin`; its JSON output
/// (`null` when it printed none). A failure panics with its stderr.
pub fn admin(key_hex: &str, url: &str, args: &[&str], stdin: &str) -> serde_json::Value {
    let mut child = rosetta()
        .env("ROSETTA_SECRET_KEY", key_hex)
        .args(["--database-url", url])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}
