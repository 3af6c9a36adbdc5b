//! The example runs on its sample file and prints the conversations in kirim's JSON.

#[test]
fn imports_the_sample_and_prints_kirim_json() {
    let dir = std::env::temp_dir().join(format!("rosetta-import-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("import.db");
    let _ = std::fs::remove_file(&db);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rosetta-example-import-csv"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/sample.csv"))
        .arg(format!("sqlite://{}", db.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let data = page["data"].as_array().unwrap();
    let summary: Vec<(&str, &str, i64)> = data
        .iter()
        .map(|c| {
            (
                c["contact"]["phone_number"].as_str().unwrap(),
                c["last_message_at"].as_str().unwrap(),
                c["unread_count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("+447700900123", "2026-07-03T18:30:00.000Z", 1),
            ("+971501234567", "2026-07-02T09:00:00.000Z", 1),
            // The last message is the reply: nothing unread.
            ("+14155550123", "2026-07-01T12:05:00.000Z", 0),
        ]
    );
    assert!(data
        .iter()
        .all(|c| c["object"] == "conversation" && c["id"].as_str().unwrap().starts_with("cnv_")));
    std::fs::remove_dir_all(dir).ok();
}
