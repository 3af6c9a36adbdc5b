//! The blob store: files addressed by their sha256 (hex), behind one interface (`Blobs`) over a
//! local directory (`LocalBlobs`, the default) or S3-compatible object storage (`S3Blobs`: AWS S3,
//! MinIO, R2, … through `object_store`).
//!
//! A file enters the store only whole and checked: it is written to a local temporary file first
//! (`temp_file`), its sha256 taken while it streams in, and then committed under that address
//! (a rename, or an upload to the bucket). The same file committed twice is kept once.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;

/// Temporary files older than this are a stopped process's leftovers (a download takes at most
/// `rosetta_graph::DOWNLOAD_TIMEOUT`).
const STALE_TEMP: Duration = Duration::from_secs(24 * 3600);

fn valid_address(sha256: &str) -> bool {
    sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn not_an_address() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "not a blob address")
}

/// Where a blob lives under a root: `ab/cd/<sha256>`.
fn relative(sha256: &str) -> io::Result<String> {
    if !valid_address(sha256) {
        return Err(not_an_address());
    }
    Ok(format!("{}/{}/{}", &sha256[..2], &sha256[2..4], sha256))
}

/// A directory of temporary files (`<dir>/tmp`), for files on their way into a store.
#[derive(Debug, Clone)]
struct Spool {
    dir: PathBuf,
}

/// This machine's name, as temporary files carry it.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().replace(['.', '/'], "_"))
        .unwrap_or_else(|_| "host".into())
}

impl Spool {
    /// Makes `<root>/tmp` and removes what stopped processes left there: a temporary file is named
    /// `<host>.<pid>.<random>`, so one of this machine whose process is gone is a leftover (a
    /// download killed half-way), and any a day old is too (another machine's, on a shared volume).
    fn open(root: &Path) -> io::Result<Spool> {
        let dir = root.join("tmp");
        std::fs::create_dir_all(&dir)?;
        let (now, host) = (SystemTime::now(), host());
        let can_see_processes = Path::new("/proc/self").exists();
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let mut parts = name.splitn(3, '.');
            let ours_and_gone = match (parts.next(), parts.next()) {
                (Some(h), Some(pid)) if h == host && can_see_processes => !Path::new("/proc").join(pid).exists(),
                _ => false,
            };
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| now.duration_since(t).unwrap_or_default() > STALE_TEMP)
                .unwrap_or(false);
            if ours_and_gone || old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Spool { dir })
    }

    async fn create(&self) -> io::Result<(PathBuf, tokio::fs::File)> {
        let name = format!("{}.{}.{:032x}", host(), std::process::id(), rand::random::<u128>());
        let path = self.dir.join(name);
        let file = tokio::fs::File::create(&path).await?;
        Ok((path, file))
    }
}

/// A local directory of blobs: `<root>/ab/cd/<sha256>`, and `<root>/tmp` for files being written.
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    root: PathBuf,
    spool: Spool,
}

impl LocalBlobs {
    /// Opens (making it if needed) the directory at `root`.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<LocalBlobs> {
        let root = root.into();
        let spool = Spool::open(&root)?;
        Ok(LocalBlobs { root, spool })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `sha256` lives (it may not exist).
    pub fn path(&self, sha256: &str) -> io::Result<PathBuf> {
        Ok(self.root.join(relative(sha256)?))
    }

    async fn commit(&self, temp: &Path, sha256: &str) -> io::Result<()> {
        let target = self.path(sha256)?;
        if tokio::fs::try_exists(&target).await? {
            tokio::fs::remove_file(temp).await?;
            return Ok(());
        }
        if let Some(dir) = target.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        tokio::fs::rename(temp, &target).await
    }

    async fn remove(&self, sha256: &str) -> io::Result<()> {
        match tokio::fs::remove_file(self.path(sha256)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Blobs in an S3-compatible bucket, under `<prefix>/ab/cd/<sha256>`; temporary files in a local
/// spool directory.
#[derive(Clone)]
pub struct S3Blobs {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    url: String,
    spool: Spool,
}

impl std::fmt::Debug for S3Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Blobs").field("url", &self.url).finish()
    }
}

/// Files go to the bucket in parts of this size (S3's minimum part is 5 MiB).
const PART_SIZE: usize = 8 * 1024 * 1024;

fn s3_error(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e.to_string()),
        e => io::Error::other(e.to_string()),
    }
}

impl S3Blobs {
    /// The bucket at `url` (`s3://bucket` or `s3://bucket/prefix`). Credentials, region and endpoint
    /// come from the standard `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT` for MinIO or R2, `AWS_ALLOW_HTTP`),
    /// then from `options` (`object_store`'s names: `endpoint`, `region`, `access_key_id`, …).
    /// Temporary files are spooled under `spool_root/tmp`.
    pub fn open(url: &str, options: &[(&str, &str)], spool_root: &Path) -> io::Result<S3Blobs> {
        let parsed = url
            .strip_prefix("s3://")
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "an S3 media store is s3://bucket[/prefix]"))?;
        let (bucket, prefix) = parsed.split_once('/').unwrap_or((parsed, ""));
        if bucket.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the S3 URL names no bucket",
            ));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (key, value) in options {
            let key: AmazonS3ConfigKey = key
                .parse()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("S3 option {key}: {e}")))?;
            builder = builder.with_config(key, *value);
        }
        let store = builder
            .build()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("S3 media store {url}: {e}")))?;
        Ok(S3Blobs {
            store: Arc::new(store),
            prefix: prefix.trim_matches('/').to_owned(),
            url: url.to_owned(),
            spool: Spool::open(spool_root)?,
        })
    }

    /// The object key of the blob `sha256`.
    fn key(&self, sha256: &str) -> io::Result<object_store::path::Path> {
        let relative = relative(sha256)?;
        let key = if self.prefix.is_empty() {
            relative
        } else {
            format!("{}/{relative}", self.prefix)
        };
        object_store::path::Path::parse(key).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
    }

    async fn exists(&self, key: &object_store::path::Path) -> io::Result<bool> {
        match self.store.head(key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(s3_error(e)),
        }
    }

    /// Uploads the checked temporary file (in parts, never whole in memory) unless the bucket has
    /// it already, then removes it.
    async fn commit(&self, temp: &Path, sha256: &str) -> io::Result<()> {
        let key = self.key(sha256)?;
        if !self.exists(&key).await? {
            let mut file = tokio::fs::File::open(temp).await?;
            let length = file.metadata().await?.len();
            if length as usize <= PART_SIZE {
                let mut bytes = Vec::with_capacity(length as usize);
                file.read_to_end(&mut bytes).await?;
                self.store.put(&key, PutPayload::from(bytes)).await.map_err(s3_error)?;
            } else {
                let upload = self.store.put_multipart(&key).await.map_err(s3_error)?;
                let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
                let mut buffer = vec![0u8; 256 * 1024];
                loop {
                    let n = match file.read(&mut buffer).await {
                        Ok(n) => n,
                        Err(e) => {
                            let _ = writer.abort().await;
                            return Err(e);
                        }
                    };
                    if n == 0 {
                        break;
                    }
                    // At most two parts in flight: memory stays bounded by the part size.
                    writer.wait_for_capacity(2).await.map_err(s3_error)?;
                    writer.write(&buffer[..n]);
                }
                writer.finish().await.map_err(s3_error)?;
            }
        }
        tokio::fs::remove_file(temp).await
    }

    async fn remove(&self, sha256: &str) -> io::Result<()> {
        match self.store.delete(&self.key(sha256)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(s3_error(e)),
        }
    }

    /// The bytes `range` of a blob (all of it when `None`), as a stream; and the blob's size.
    pub async fn get(
        &self,
        sha256: &str,
        range: Option<std::ops::Range<u64>>,
    ) -> io::Result<(u64, futures_util::stream::BoxStream<'static, io::Result<bytes::Bytes>>)> {
        let options = object_store::GetOptions {
            range: range.map(object_store::GetRange::Bounded),
            ..Default::default()
        };
        let result = self
            .store
            .get_opts(&self.key(sha256)?, options)
            .await
            .map_err(s3_error)?;
        let size = result.meta.size;
        Ok((size, result.into_stream().map(|chunk| chunk.map_err(s3_error)).boxed()))
    }

    /// The size of a blob.
    pub async fn size(&self, sha256: &str) -> io::Result<u64> {
        Ok(self.store.head(&self.key(sha256)?).await.map_err(s3_error)?.size)
    }
}

/// The blob store Rosetta keeps media in: one interface over both kinds.
#[derive(Debug, Clone)]
pub enum Blobs {
    Local(LocalBlobs),
    S3(S3Blobs),
}

impl From<LocalBlobs> for Blobs {
    fn from(local: LocalBlobs) -> Blobs {
        Blobs::Local(local)
    }
}

impl From<S3Blobs> for Blobs {
    fn from(s3: S3Blobs) -> Blobs {
        Blobs::S3(s3)
    }
}

impl Blobs {
    /// A new local temporary file to write a blob into.
    pub async fn temp_file(&self) -> io::Result<(PathBuf, tokio::fs::File)> {
        match self {
            Blobs::Local(local) => local.spool.create().await,
            Blobs::S3(s3) => s3.spool.create().await,
        }
    }

    /// Puts a whole, checked temporary file in the store as `sha256`; if the blob is already
    /// there (the same file sent again), the temporary file is dropped.
    pub async fn commit(&self, temp: &Path, sha256: &str) -> io::Result<()> {
        let result = match self {
            Blobs::Local(local) => local.commit(temp, sha256).await,
            Blobs::S3(s3) => s3.commit(temp, sha256).await,
        };
        if result.is_err() {
            let _ = tokio::fs::remove_file(temp).await;
        }
        result
    }

    /// Removes the blob `sha256` (retention); a missing one is fine.
    pub async fn remove(&self, sha256: &str) -> io::Result<()> {
        match self {
            Blobs::Local(local) => local.remove(sha256).await,
            Blobs::S3(s3) => s3.remove(sha256).await,
        }
    }

    /// Whether the blob is there.
    pub async fn contains(&self, sha256: &str) -> io::Result<bool> {
        match self {
            Blobs::Local(local) => tokio::fs::try_exists(local.path(sha256)?).await,
            Blobs::S3(s3) => s3.exists(&s3.key(sha256)?).await,
        }
    }

    /// The whole blob as a request body streamed from the store (for uploads to Meta), with its
    /// length.
    pub async fn body(&self, sha256: &str) -> io::Result<(reqwest::Body, u64)> {
        match self {
            Blobs::Local(local) => {
                let file = tokio::fs::File::open(local.path(sha256)?).await?;
                let length = file.metadata().await?.len();
                Ok((reqwest::Body::from(file), length))
            }
            Blobs::S3(s3) => {
                let (length, stream) = s3.get(sha256, None).await?;
                Ok((reqwest::Body::wrap_stream(stream), length))
            }
        }
    }
}

/// The dispatcher reads the files of sends from the blob store.
impl rosetta_graph::dispatch::FileSource for Blobs {
    fn open<'a>(&'a self, blob: &'a str) -> rosetta_graph::dispatch::OpenedFile<'a> {
        Box::pin(self.body(blob))
    }
}
