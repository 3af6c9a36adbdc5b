//! A real S3-protocol server for tests: `s3s-fs` (from crates.io: `cargo install s3s-fs@0.14.1
//! --features binary`, which CI does), started on a free loopback port over a temporary directory,
//! and stopped when dropped. Found as `$ROSETTA_S3S_FS` or `s3s-fs` on the `PATH`; when it is not
//! installed a test skips, unless `ROSETTA_REQUIRE_S3` is set (CI), where it fails.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "rosetta-test";
pub const SECRET_KEY: &str = "rosetta-test-secret";
pub const BUCKET: &str = "media";

#[derive(Debug)]
pub struct S3Server {
    child: Child,
    root: PathBuf,
    endpoint: String,
}

impl S3Server {
    /// Starts one; `None` (after saying why) when `s3s-fs` is not installed and S3 is not required.
    pub fn start() -> Option<S3Server> {
        let binary = std::env::var("ROSETTA_S3S_FS").unwrap_or_else(|_| "s3s-fs".into());
        let required = std::env::var_os("ROSETTA_REQUIRE_S3").is_some();
        let root = std::env::temp_dir().join(format!(
            "rosetta-s3-{}",
            rosetta_core::Id::new().to_string().to_lowercase()
        ));
        std::fs::create_dir_all(root.join(BUCKET)).expect("the S3 server's directory");
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().unwrap().port()
        };
        let spawned = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if !required => {
                eprintln!(
                    "skipping the S3 test: cannot run {binary} ({e}); `cargo install s3s-fs@0.14.1 --features binary`"
                );
                let _ = std::fs::remove_dir_all(&root);
                return None;
            }
            Err(e) => panic!("ROSETTA_REQUIRE_S3 is set but {binary} cannot run: {e}"),
        };
        let server = S3Server {
            child,
            root,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The options `S3Blobs::open` takes to reach this server.
    pub fn options(&self) -> Vec<(&'static str, String)> {
        vec![
            ("endpoint", self.endpoint.clone()),
            ("region", "us-east-1".into()),
            ("access_key_id", ACCESS_KEY.into()),
            ("secret_access_key", SECRET_KEY.into()),
            ("aws_allow_http", "true".into()),
        ]
    }

    /// A bucket store on this server under `prefix`, spooling in `spool`.
    pub fn blobs(&self, prefix: &str, spool: &std::path::Path) -> rosetta_media::blobs::S3Blobs {
        let options = self.options();
        let options: Vec<(&str, &str)> = options.iter().map(|(k, v)| (*k, v.as_str())).collect();
        rosetta_media::blobs::S3Blobs::open(&format!("s3://{BUCKET}/{prefix}"), &options, spool)
            .expect("the S3 blob store opens")
    }

    /// Where the server keeps the bucket's objects (to look at them from a test).
    pub fn bucket_dir(&self) -> PathBuf {
        self.root.join(BUCKET)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
