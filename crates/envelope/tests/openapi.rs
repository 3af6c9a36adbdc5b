//! The committed document is what the code generates, and it describes every route.

#[test]
fn committed_document_is_fresh() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/envelope.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = rosetta_envelope::openapi_json();
    assert!(
        committed == generated,
        "openapi/envelope.json is stale: run `cargo run -p rosetta -- openapi --dialect envelope > openapi/envelope.json` and commit it"
    );
}

#[test]
fn document_describes_every_route_with_its_errors() {
    let doc: serde_json::Value = serde_json::from_str(&rosetta_envelope::openapi_json()).unwrap();
    for (path, method) in [
        ("/api/whatsapp/conversations", "get"),
        ("/api/whatsapp/conversations/{conversationId}", "get"),
        ("/api/whatsapp/conversations/{conversationId}/close", "post"),
        ("/api/whatsapp/conversations/{conversationId}/assign", "post"),
        ("/api/whatsapp/messages", "get"),
    ] {
        let op = &doc["paths"][path][method];
        assert_eq!(
            op["security"][0],
            serde_json::json!({"bearer": [], "org": []}),
            "{method} {path}"
        );
        for status in ["200", "401", "403", "429", "500"] {
            assert!(op["responses"][status].is_object(), "{method} {path} {status}");
        }
    }
    assert_eq!(doc["components"]["securitySchemes"]["org"]["name"], "x-org-id");
}

#[test]
fn status_words_are_the_rules() {
    let doc: serde_json::Value = serde_json::from_str(&rosetta_envelope::openapi_json()).unwrap();
    let status = doc["paths"]["/api/whatsapp/conversations"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "status")
        .unwrap()
        .clone();
    let words = rosetta_core::ConversationStatus::words(rosetta_core::Dialect::Envelope);
    assert_eq!(status["schema"]["enum"], serde_json::json!(words));
}
