//! The README's first command, `rosetta demo`: started, answered once in every dialect (and by its
//! signed sample webhook), and stopped.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{free_port, rosetta, temp_dir, Client};

#[test]
fn demo_answers_in_every_dialect_and_takes_its_sample_webhook() {
    let dir = temp_dir("demo");
    let port = free_port();
    // The address comes from ROSETTA_BIND, as for `serve`.
    let mut child = rosetta()
        .env("ROSETTA_BIND", format!("127.0.0.1:{port}"))
        .args([
            "demo",
            "--dir",
            dir.to_str().unwrap(),
            "--conversations",
            "200",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map(support::KillOnDrop)
        .unwrap();
    let mut printed = String::new();
    let mut summary: Option<Value> = None;
    // Every line the demo prints, as it prints it.
    let (tx, printed_lines) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                return;
            }
        }
    });
    for line in printed_lines.iter() {
        if line.starts_with('{') {
            summary = Some(serde_json::from_str(&line).unwrap());
            break;
        }
        printed.push_str(&line);
        printed.push('\n');
    }
    let summary = summary.expect("the demo prints its summary");
    for what in [
        "X-Wacrm-Signature",
        "/api/v1/docs/",
        "/v1/docs/",
        "/api/whatsapp/docs/",
        "curl -s",
        "X-Hub-Signature-256",
        "demo.db",
    ] {
        assert!(printed.contains(what), "the demo's text names {what}:\n{printed}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut client = loop {
        match Client::connect(port) {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("the demo never listened: {e}"),
        }
    };
    let key = |d: &str| format!("Bearer {}", summary["keys"][d].as_str().unwrap());
    let org = summary["org"].as_str().unwrap().to_owned();
    let get = |client: &mut Client, path: &str, headers: &[(&str, &str)]| {
        let (status, body) = client.request("GET", path, headers, b"").unwrap();
        (status, serde_json::from_slice::<Value>(&body).unwrap())
    };
    let (status, wacrm) = get(
        &mut client,
        "/api/v1/conversations?limit=2",
        &[("Authorization", &key("wacrm"))],
    );
    assert_eq!((status, wacrm["data"].as_array().unwrap().len()), (200, 2));
    let kirim_list = "/v1/106540352242922/conversations?limit=1";
    let (status, kirim) = get(&mut client, kirim_list, &[("Authorization", &key("kirim"))]);
    assert_eq!((status, kirim["has_more"].clone()), (200, Value::Bool(true)));
    let (status, envelope) = get(
        &mut client,
        "/api/whatsapp/conversations?limit=2",
        &[("Authorization", &key("envelope")), ("x-org-id", &org)],
    );
    // The seeded conversations and the sample webhook's customer.
    assert_eq!((status, envelope["data"]["total"].clone()), (200, Value::from(201)));

    // The printed webhook makes a new message appear.
    let body = summary["webhook"]["body"].as_str().unwrap();
    let signature = summary["webhook"]["signature"].as_str().unwrap();
    let (status, _) = client
        .request(
            "POST",
            "/webhooks/whatsapp",
            &[("Content-Type", "application/json"), ("X-Hub-Signature-256", signature)],
            body.as_bytes(),
        )
        .unwrap();
    assert_eq!(status, 200);
    let (_, kirim) = get(&mut client, kirim_list, &[("Authorization", &key("kirim"))]);
    assert_eq!(kirim["data"][0]["contact"]["name"], "New Customer");

    // The printed sends: one from each dialect, through the stand-in for Meta, each seen by every
    // dialect going sending -> sent -> delivered -> read (the stand-in's status webhooks).
    for (dialect, answer) in [("wacrm", 201), ("kirim", 200), ("envelope", 201)] {
        let send = &summary["sends"][dialect];
        let mut headers = vec![
            ("Authorization", key(dialect)),
            ("Content-Type", "application/json".to_owned()),
        ];
        if dialect == "envelope" {
            headers.push(("x-org-id", org.clone()));
        }
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let (status, body) = client
            .request(
                "POST",
                send["path"].as_str().unwrap(),
                &headers,
                send["body"].as_str().unwrap().as_bytes(),
            )
            .unwrap();
        assert_eq!(status, answer, "{dialect}: {}", String::from_utf8_lossy(&body));
    }
    let lists = &summary["lists"];
    let statuses = |client: &mut Client| -> Vec<String> {
        let (_, w) = get(
            client,
            lists["wacrm"].as_str().unwrap(),
            &[("Authorization", &key("wacrm"))],
        );
        let (_, k) = get(
            client,
            lists["kirim"].as_str().unwrap(),
            &[("Authorization", &key("kirim"))],
        );
        let (_, e) = get(
            client,
            lists["envelope"].as_str().unwrap(),
            &[("Authorization", &key("envelope")), ("x-org-id", &org)],
        );
        let mut all = Vec::new();
        for list in [&w["data"], &k["data"], &e["data"]["data"]] {
            all.extend(
                list.as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["status"].as_str().unwrap().to_owned()),
            );
        }
        all
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = statuses(&mut client);
        if now.len() == 9 && now.iter().all(|s| s == "read") {
            break;
        }
        assert!(Instant::now() < deadline, "the sends never all read: {now:?}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Each change was also delivered to the demo's receiver as a signed wacrm webhook, and printed.
    let mut delivered = Vec::new();
    while !(delivered.iter().any(|l: &String| l.contains("message.received"))
        && delivered.iter().any(|l| l.contains("message.status_updated")))
    {
        match printed_lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.starts_with("webhook delivered: ") => {
                assert!(line.contains("(signature verified)"), "{line}");
                delivered.push(line);
            }
            Ok(_) => {}
            Err(_) => panic!("the demo printed no delivery of each: {delivered:?}"),
        }
    }
    assert!(summary["webhook_receiver"].as_str().unwrap().ends_with("/demo-webhook"));

    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(dir).ok();
}
