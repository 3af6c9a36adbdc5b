//! Media crash test: a received file is being downloaded when the server is killed (`kill -9`);
//! after a restart the fetch is taken up again once its claim runs out, and the kept file is whole.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use rosetta_core::*;
use rosetta_graph::standin::{MediaFault, StandIn};
use support::*;

const KEY_HEX: &str = "6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d";
const TOKEN: &str = "EAAG-media-crash";

fn server(url: &str, port: u16, graph: &str, media: &std::path::Path) -> KillOnDrop {
    let child = rosetta()
        .env("ROSETTA_SECRET_KEY", KEY_HEX)
        .env("WHATSAPP_APP_SECRET", SECRET)
        .args([
            "--database-url",
            url,
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "1",
        ])
        .args(["--graph-api-url", graph, "--media-lease-secs", "2"])
        .arg("--media-dir")
        .arg(media)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    listening(child, port)
}

#[test]
fn a_download_killed_half_way_resumes_and_the_file_is_whole() {
    use sha2::{Digest, Sha256};
    let dir = temp_dir("media-crash");
    let url = format!("sqlite://{}", dir.join("media.db").display());
    let media = dir.join("media");
    let status = rosetta()
        .env("ROSETTA_SECRET_KEY", KEY_HEX)
        .args(["--database-url", &url, "org", "create", "--name", "Crash", "--json"])
        .output()
        .unwrap();
    let org: Id = serde_json::from_slice::<serde_json::Value>(&status.stdout).unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut create = rosetta()
        .env("ROSETTA_SECRET_KEY", KEY_HEX)
        .args(["--database-url", &url, "account", "create", "--org", &org.to_string()])
        .args([
            "--phone-number-id",
            PNID,
            "--phone-number",
            "+15550783881",
            "--token-stdin",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    create.stdin.take().unwrap().write_all(TOKEN.as_bytes()).unwrap();
    assert!(create.wait().unwrap().success());

    let standin = StandIn::start("127.0.0.1:0").unwrap();
    standin.allow(PNID, TOKEN);
    let document: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    standin.add_media("DOC", document.clone(), "application/pdf");
    // The first download hangs long enough to be killed in the middle.
    standin.media_fail("DOC", [MediaFault::Slow(Duration::from_secs(30))]);
    let port = free_port();
    let mut first = server(&url, port, standin.url(), &media);
    let delivery = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"W","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"{PNID}"}},"messages":[{{"from":"16505551234","id":"wamid.doc","timestamp":"1749416383","type":"document","document":{{"id":"DOC","mime_type":"application/pdf","filename":"contract.pdf"}}}}]}}}}]}}]}}"#
    );
    let mut client = Client::connect(port).unwrap();
    assert_eq!(client.deliver(delivery.as_bytes()).unwrap(), 200);
    // The lookup and the download have begun: kill it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while standin.requests() < 2 {
        assert!(Instant::now() < deadline, "the fetch never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(standin.downloads(), 0);

    let mut second = server(&url, port, standin.url(), &media);
    let store = rosetta_store::DieselStore::open(&url).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let message = store.message_by_wamid(org, "wamid.doc").unwrap();
        if message.media == Some(MediaState::Stored) {
            break;
        }
        assert_ne!(message.media, Some(MediaState::Failed));
        assert!(Instant::now() < deadline, "the fetch was never taken up again");
        std::thread::sleep(Duration::from_millis(100));
    }
    let sha = hex::encode(Sha256::digest(&document));
    let kept = std::fs::read(media.join(&sha[..2]).join(&sha[2..4]).join(&sha)).unwrap();
    assert!(kept == document, "the kept file is whole");
    assert_eq!(
        std::fs::read_dir(media.join("tmp")).unwrap().count(),
        0,
        "no half-written file"
    );
    second.kill().unwrap();
    second.wait().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
