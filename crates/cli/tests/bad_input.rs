//! Bad input at the edges of HTTP, against a real server: oversized headers and query strings,
//! invalid UTF-8, deeply nested JSON, oversized bodies and slow clients are refused quickly, in the
//! dialect's shape wherever the request reaches a dialect, and never tie up the workers.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{free_port, prepare, rosetta, start_server, temp_dir, Client, PNID};

/// One raw request on a fresh connection: the status and body of the answer (or none: closed).
fn raw(port: u16, request: &[u8]) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

#[test]
fn edge_inputs_are_refused_quickly_in_shape() {
    let dir = temp_dir("bad-input");
    let url = format!("sqlite://{}", dir.join("bad.db").display());
    let org = prepare(&url);
    let out = rosetta()
        .args([
            "--database-url",
            &url,
            "key",
            "create",
            "--org",
            &org,
            "--style",
            "kirim",
            "--json",
        ])
        .output()
        .unwrap();
    let key: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    let port = free_port();
    let mut server = start_server(&url, port, 2);
    let list = format!("/v1/{PNID}/conversations");
    let started = Instant::now();

    // Invalid UTF-8 in the query string: the dialect's 400.
    let (status, body) = raw(
        port,
        format!(
            "GET {list}?status=%FF%FE HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains(r#""type":"invalid_request_error""#) && body.contains("request_id"),
        "{body}"
    );

    // Invalid UTF-8 and deeply nested JSON in bodies: the dialect's 400.
    let patch = format!("/v1/{PNID}/conversations/cnv_01HXYZABCDEFGHJKMNPQRSTVWX");
    for payload in [vec![0xff, 0xfe, b'{'], "[".repeat(100_000).into_bytes()] {
        let mut req = format!(
            "PATCH {patch} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            payload.len()
        )
        .into_bytes();
        req.extend(&payload);
        let (status, body) = raw(port, &req).unwrap();
        assert!(status == 400 || status == 413, "{status} {body}");
        assert!(body.contains(r#""error":{"type""#), "{body}");
    }
    // A webhook body nested past 64 levels is refused before parsing (signature checked first).
    let deep = "[".repeat(10_000);
    let mut c = Client::connect(port).unwrap();
    assert_eq!(c.deliver(deep.as_bytes()).unwrap(), 400);

    // A body over the limit: the dialect's 413, without reading it all.
    let big = vec![b'a'; 2 * 1024 * 1024];
    let mut req = format!("POST /v1/{PNID}/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", big.len()).into_bytes();
    req.extend(&big);
    let (status, body) = raw(port, &req).unwrap();
    assert_eq!(status, 413, "{body}");
    assert!(body.contains(r#""error":{"type""#), "{body}");

    // Oversized heads within what the HTTP parser reads (128 KiB): the dialect's 414/431, in its
    // shape, in every dialect.
    let big_header = "a".repeat(20 * 1024);
    let long_query = "a".repeat(10 * 1024);
    for (path, shape) in [
        (list.as_str(), r#""request_id":"req_"#),
        ("/api/v1/conversations", r#"{"error":{"#),
        ("/api/whatsapp/conversations", r#"{"success":false,"error":"#),
    ] {
        let (status, body) = raw(
            port,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-Big: {big_header}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        assert_eq!(status, 431, "{path}: {body}");
        assert!(body.contains(shape), "{path}: {body}");
        let (status, body) = raw(
            port,
            format!("GET {path}?q={long_query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        assert_eq!(status, 414, "{path}: {body}");
        assert!(body.contains(shape), "{path}: {body}");
        let many: String = (0..80).map(|i| format!("X-H{i}: 1\r\n")).collect();
        let (status, body) = raw(
            port,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        assert_eq!(status, 431, "{path}: {body}");
        assert!(body.contains(shape), "{path}: {body}");
    }
    // Beyond the parser's own limits (a 200 KiB head, 100 headers) actix answers a bare 431
    // before any route is known, and closes the connection rather than holding it.
    let (status, _) = raw(
        port,
        format!(
            "GET {list} HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(200_000)
        )
        .as_bytes(),
    )
    .unwrap_or((0, String::new()));
    // No answer at all (0) is the connection closed on us mid-write; it is right only if the
    // server is still there to answer the next request, which a dead server is not.
    let alive = || raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").map(|r| r.0);
    assert!(
        status == 431 || (status == 0 && alive() == Some(200)),
        "oversized header: {status}"
    );
    let many: String = (0..100).map(|i| format!("X-H{i}: 1\r\n")).collect();
    let (status, _) =
        raw(port, format!("GET {list} HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes()).unwrap_or((0, String::new()));
    assert!(
        matches!(status, 400 | 431) || (status == 0 && alive() == Some(200)),
        "too many headers: {status}"
    );
    assert_eq!(alive(), Some(200), "the server outlives the bad input");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "bad input took {:?}",
        started.elapsed()
    );

    // Slow clients: 64 connections that send half a request head and stall do not keep others out,
    // and are dropped by the server.
    let slow: Vec<TcpStream> = (0..64)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n").unwrap();
            s
        })
        .collect();
    let t = Instant::now();
    let (status, _) = Client::connect(port)
        .unwrap()
        .request("GET", "/v1/health", &[], b"")
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "a normal request waited {:?} behind slow clients",
        t.elapsed()
    );
    let t = Instant::now();
    for mut s in slow {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf); // returns when the server closes it
    }
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "slow clients were held {:?}",
        t.elapsed()
    );
    server.kill().unwrap();
    server.wait().unwrap();
    std::fs::remove_dir_all(dir).ok();
}
