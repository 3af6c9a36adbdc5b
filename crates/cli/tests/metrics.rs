//! `/metrics` in Prometheus' text format: requests by dialect, route template and status class,
//! rate-limit refusals, Meta's deliveries and their messages by outcome; on its own address with
//! `--metrics-bind` (and then not on the main one), else beside the dialects.

mod support;

use std::process::Stdio;

use support::*;

fn key(url: &str, org: &str) -> String {
    let out = rosetta()
        .args([
            "--database-url",
            url,
            "key",
            "create",
            "--org",
            org,
            "--style",
            "wacrm",
            "--json",
        ])
        .output()
        .unwrap();
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    created["key"].as_str().unwrap().to_owned()
}

fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let (status, body) = Client::connect(port)
        .unwrap()
        .request("GET", path, headers, b"")
        .unwrap();
    (status, String::from_utf8(body).unwrap())
}

#[test]
fn metrics_count_requests_refusals_and_deliveries() {
    let dir = temp_dir("metrics");
    let url = format!("sqlite://{}", dir.join("metrics.db").display());
    let org = prepare(&url);
    let key = key(&url, &org);
    let (port, metrics_port) = (free_port(), free_port());
    let child = rosetta()
        .args([
            "--database-url",
            &url,
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--metrics-bind",
            &format!("127.0.0.1:{metrics_port}"),
            "--rate-limit-per-minute",
            "3",
            // Nothing leaves this instance: a received file waits in its queue.
            "--no-dispatch",
        ])
        .env("WHATSAPP_APP_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = listening(child, port);
    listening_port(metrics_port);

    let auth = format!("Bearer {key}");
    assert_eq!(get(port, "/api/v1/conversations", &[]).0, 401);
    for _ in 0..3 {
        assert_eq!(get(port, "/api/v1/conversations", &[("Authorization", &auth)]).0, 200);
    }
    assert_eq!(get(port, "/api/v1/conversations", &[("Authorization", &auth)]).0, 429);
    let mut meta = Client::connect(port).unwrap();
    let delivery = text_delivery("14155550123", "wamid.metrics", "hello");
    assert_eq!(meta.deliver(&delivery).unwrap(), 200);
    assert_eq!(meta.deliver(&delivery).unwrap(), 200, "Meta's retry: a duplicate");
    let (unsigned, _) = meta
        .request(
            "POST",
            "/webhooks/whatsapp",
            &[("Content-Type", "application/json")],
            &delivery,
        )
        .unwrap();
    assert_eq!(unsigned, 401);

    let image = String::from_utf8(text_delivery("14155550123", "wamid.metrics.image", "x"))
        .unwrap()
        .replace(
            r#""type":"text","text":{"body":"x"}"#,
            r#""type":"image","image":{"id":"1234567890","mime_type":"image/jpeg","sha256":"abc"}"#,
        );
    assert!(image.contains("image/jpeg"));
    assert_eq!(meta.deliver(image.as_bytes()).unwrap(), 200);

    let (status, text) = get(metrics_port, "/metrics", &[]);
    assert_eq!(status, 200, "{text}");
    for line in [
        r#"rosetta_http_requests_total{dialect="wacrm",route="/api/v1/conversations",status="2xx"} 3"#,
        r#"rosetta_http_requests_total{dialect="wacrm",route="/api/v1/conversations",status="4xx"} 2"#,
        r#"rosetta_http_request_duration_seconds_count{dialect="wacrm",route="/api/v1/conversations"} 5"#,
        r#"rosetta_rate_limit_refusals_total{dialect="wacrm"} 1"#,
        r#"rosetta_webhook_deliveries_total{outcome="stored"} 3"#,
        r#"rosetta_webhook_deliveries_total{outcome="refused"} 1"#,
        r#"rosetta_webhook_messages_total{outcome="stored"} 2"#,
        r#"rosetta_webhook_messages_total{outcome="duplicated"} 1"#,
        r#"rosetta_queue_depth{queue="sends"} 0"#,
        r#"rosetta_queue_depth{queue="event_deliveries"} 0"#,
        r#"rosetta_queue_depth{queue="media_fetches"} 1"#,
        r#"rosetta_queue_oldest_age_seconds{queue="sends"} 0.0"#,
        r#"rosetta_webhook_subscriptions_disabled 0"#,
        r#"rosetta_db_pool_waits_total 0"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
    assert!(
        text.contains("# TYPE rosetta_http_request_duration_seconds histogram"),
        "{text}"
    );
    let media_age: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(r#"rosetta_queue_oldest_age_seconds{queue="media_fetches"} "#))
        .unwrap_or_else(|| panic!("no media age: {text}"))
        .parse()
        .unwrap();
    assert!((0.0..60.0).contains(&media_age), "{media_age}");
    for state in ["in_use", "idle"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!(r#"rosetta_db_pool_connections{{state="{state}"}} "#))),
            "{state}: {text}"
        );
    }
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    assert!(
        !text.contains(&key) && !text.contains(&org),
        "no key or organization in the labels"
    );

    // On its own address only: not beside the dialects, and nothing else there.
    assert_eq!(get(port, "/metrics", &[]).0, 404);
    assert_eq!(
        get(metrics_port, "/api/v1/conversations", &[("Authorization", &auth)]).0,
        404
    );

    // Without --metrics-bind it is on the main address.
    let port = free_port();
    let _plain = start_server(&url, port, 1);
    let (status, text) = get(port, "/metrics", &[]);
    assert_eq!(status, 200, "{text}");
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    std::fs::remove_dir_all(dir).ok();
}

/// Waits for something to listen on `port`.
fn listening_port(port: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
