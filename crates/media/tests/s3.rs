//! The S3 blob store against a real S3-protocol server (`s3s-fs`, started here): a file larger than
//! a part goes up in parts and comes back whole; the same file committed twice is one object; a
//! range reads only its bytes; removing is idempotent.

use futures_util::StreamExt;
use rosetta_core::Id;
use rosetta_media::blobs::Blobs;
use rosetta_testkit as testkit;
use tokio::io::AsyncWriteExt;

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

async fn collect(mut stream: futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

#[actix_web::test]
async fn files_go_up_in_parts_and_come_back_whole() {
    let Some(s3) = testkit::s3::S3Server::start() else {
        return;
    };
    let spool = std::env::temp_dir().join(format!("rosetta-spool-{}", Id::new().to_string().to_lowercase()));
    let bucket = s3.blobs("files", &spool);
    let blobs: Blobs = bucket.clone().into();
    // 20 MiB: three parts of 8 MiB.
    let big: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i % 239) as u8).collect();
    let sha = sha256_hex(&big);
    for _ in 0..2 {
        let (temp, mut file) = blobs.temp_file().await.unwrap();
        file.write_all(&big).await.unwrap();
        file.flush().await.unwrap();
        drop(file);
        blobs.commit(&temp, &sha).await.unwrap();
        assert!(!temp.exists(), "the temporary file is gone once committed");
    }
    assert!(blobs.contains(&sha).await.unwrap());
    let objects: Vec<_> = walk(&s3.bucket_dir());
    assert_eq!(objects, vec![format!("files/{}/{}/{sha}", &sha[..2], &sha[2..4])]);

    let (size, whole) = bucket.get(&sha, None).await.unwrap();
    assert_eq!(size, big.len() as u64);
    assert!(collect(whole).await == big, "the file comes back whole");
    let (_, part) = bucket.get(&sha, Some(9_000_000..9_000_100)).await.unwrap();
    assert_eq!(collect(part).await, big[9_000_000..9_000_100]);
    let (_, length) = blobs.body(&sha).await.unwrap();
    assert_eq!(length, big.len() as u64);

    blobs.remove(&sha).await.unwrap();
    blobs.remove(&sha).await.unwrap();
    assert!(!blobs.contains(&sha).await.unwrap());
    assert!(blobs.remove("not-an-address").await.is_err());
    let _ = std::fs::remove_dir_all(spool);
}

/// The object keys under `dir` (the server keeps one file per object).
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let key = path.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                // The server's own bookkeeping files are not objects.
                if !key.starts_with('.') && !key.contains("/.") {
                    out.push(key);
                }
            }
        }
    }
    out
}
