//! SIGTERM: the server stops taking new connections, finishes the request in flight, and exits.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{free_port, prepare, start_server, temp_dir, text_delivery, SECRET};

#[test]
fn sigterm_finishes_the_request_in_flight_and_exits() {
    let dir = temp_dir("shutdown");
    let url = format!("sqlite://{}", dir.join("shutdown.db").display());
    let org: rosetta_core::Id = prepare(&url).parse().unwrap();
    let port = free_port();
    let mut server = start_server(&url, port, 1);

    // A delivery in flight: its head read by the server (it answers `100 Continue`), and half its
    // body sent.
    let body = text_delivery("14155550123", "wamid.in-flight", "sent across a shutdown");
    let signature = rosetta_http::webhook::sign(SECRET, &body);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("HTTP/1.1 100"),
        "the server took the request: {line:?}"
    );
    reader.read_line(&mut line).unwrap();
    s.write_all(&body[..body.len() / 2]).unwrap();

    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // No new connections once it is stopping (polled: the signal is handled asynchronously).
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting 10 s after SIGTERM");
        std::thread::yield_now();
    }
    // The request in flight completes.
    s.write_all(&body[body.len() / 2..]).unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "the request in flight got {line:?}");
    drop(s);
    // And the process exits by itself.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if let Some(code) = server.try_wait().unwrap() {
            assert!(code.success(), "exit status {code}");
            break;
        }
        assert!(Instant::now() < deadline, "the server did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    // What it acknowledged is stored.
    let store = rosetta_store::DieselStore::open(&url).unwrap();
    use rosetta_core::*;
    let page = store
        .list_conversations(
            org,
            &ConversationFilter::default(),
            ConversationOrder::CreatedDesc,
            &PageRequest::first(10),
        )
        .unwrap();
    assert_eq!(
        page.items[0].conversation.last_message_text.as_deref(),
        Some("sent across a shutdown")
    );
    std::fs::remove_dir_all(dir).ok();
}
