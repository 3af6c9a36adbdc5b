//! The committed document is what the code generates, with the seed's patterns.

#[test]
fn committed_document_is_fresh() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/kirim.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = rosetta_kirim::openapi_json();
    assert!(
        committed == generated,
        "openapi/kirim.json is stale: run `cargo run -p rosetta -- openapi --dialect kirim > openapi/kirim.json` and commit it"
    );
}

#[test]
fn document_carries_the_seed_patterns_and_every_error() {
    let doc: serde_json::Value = serde_json::from_str(&rosetta_kirim::openapi_json()).unwrap();
    let list = &doc["paths"]["/v1/{phone_number_id}/conversations"]["get"];
    let param = |name: &str| {
        list["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))
            .clone()
    };
    // The rule's own pattern (the CLI, kirim and the webhook parser all use `is_phone_number_id`).
    assert_eq!(
        param("phone_number_id")["schema"]["pattern"],
        rosetta_core::validate::PHONE_NUMBER_ID_PATTERN
    );
    assert_eq!(param("contact_id")["schema"]["pattern"], "^ctc_[0-9A-HJKMNP-TV-Z]{26}$");
    assert_eq!(param("limit")["schema"]["pattern"], r"^\d+$");
    // The document's status words are the rule's (`ConversationStatus::words`), so they cannot drift.
    let words = rosetta_core::ConversationStatus::words(rosetta_core::Dialect::Kirim);
    assert_eq!(param("status")["schema"]["enum"], serde_json::json!(words));
    assert_eq!(words, ["open", "resolved", "pending"]);
    // The PATCH body says what its validation enforces: the same words, never null, and at least
    // one of its two fields.
    let patch = &doc["components"]["schemas"]["UpdateConversation"];
    assert_eq!(
        patch["allOf"][0]["properties"]["status"]["enum"],
        serde_json::json!(words)
    );
    assert_eq!(patch["allOf"][0]["properties"]["status"]["type"], "string");
    assert_eq!(
        patch["allOf"][1]["anyOf"],
        serde_json::json!([{"type": "object", "required": ["status"]}, {"type": "object", "required": ["assigned_to"]}])
    );
    for status in ["200", "400", "401", "404", "429", "500"] {
        assert!(list["responses"][status].is_object(), "{status}");
    }
    for (path, method) in [
        ("/v1/{phone_number_id}/conversations/{id}", "get"),
        ("/v1/{phone_number_id}/conversations/{id}", "patch"),
        ("/v1/{phone_number_id}/contacts", "get"),
        ("/v1/{phone_number_id}/contacts", "post"),
        ("/v1/accounts", "get"),
        ("/v1/me", "get"),
    ] {
        let op = &doc["paths"][path][method];
        assert_eq!(op["security"][0]["bearer"], serde_json::json!([]), "{method} {path}");
        assert!(op["responses"]["401"].is_object(), "{method} {path}");
    }
    assert!(doc["paths"]["/v1/health"]["get"]["security"].is_null());
    // Every operation's phone_number_id carries the rule's pattern (the annotations are literals).
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["name"] == "phone_number_id" {
                    seen += 1;
                    assert_eq!(
                        p["schema"]["pattern"],
                        rosetta_core::validate::PHONE_NUMBER_ID_PATTERN,
                        "{method} {path}"
                    );
                }
            }
        }
    }
    assert!(seen >= 5, "{seen}");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}
