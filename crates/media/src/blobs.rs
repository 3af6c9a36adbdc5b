//! The blob store: files addressed by their sha256 (hex).

use std::io;
use std::path::{Path, PathBuf};

/// A local directory of blobs: `<root>/ab/cd/<sha256>`, and `<root>/tmp` for files being written.
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    root: PathBuf,
}

fn valid_address(sha256: &str) -> bool {
    sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl LocalBlobs {
    /// Opens (making it if needed) the directory at `root`; files left half-written by a process
    /// that stopped are removed.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<LocalBlobs> {
        let root = root.into();
        let tmp = root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(LocalBlobs { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `sha256` lives (it may not exist).
    pub fn path(&self, sha256: &str) -> io::Result<PathBuf> {
        if !valid_address(sha256) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a blob address"));
        }
        Ok(self.root.join(&sha256[..2]).join(&sha256[2..4]).join(sha256))
    }

    /// A new temporary file to write a blob into.
    pub async fn temp_file(&self) -> io::Result<(PathBuf, tokio::fs::File)> {
        let name = format!("{:032x}", rand::random::<u128>());
        let path = self.root.join("tmp").join(name);
        let file = tokio::fs::File::create(&path).await?;
        Ok((path, file))
    }

    /// Moves a whole, checked temporary file into place as `sha256`; if the blob is already
    /// there (the same file sent again), the temporary file is dropped.
    pub async fn commit(&self, temp: &Path, sha256: &str) -> io::Result<()> {
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

    /// Removes the blob `sha256` (retention); a missing one is fine.
    pub async fn remove(&self, sha256: &str) -> io::Result<()> {
        match tokio::fs::remove_file(self.path(sha256)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Whether the blob is there.
    pub async fn contains(&self, sha256: &str) -> io::Result<bool> {
        tokio::fs::try_exists(self.path(sha256)?).await
    }
}
