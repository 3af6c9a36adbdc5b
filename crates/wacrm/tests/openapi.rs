//! The committed document is what the code generates.

#[test]
fn committed_document_is_fresh() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/wacrm.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = rosetta_wacrm::openapi_json();
    assert!(
        committed == generated,
        "openapi/wacrm.json is stale: run `cargo run -p rosetta -- openapi --dialect wacrm > openapi/wacrm.json` and commit it"
    );
}

#[test]
fn document_describes_every_route_with_its_errors() {
    let doc: serde_json::Value = serde_json::from_str(&rosetta_wacrm::openapi_json()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/conversations",
        "/api/v1/conversations/{id}",
        "/api/v1/conversations/{id}/messages",
        "/api/v1/contacts",
        "/api/v1/contacts/{id}",
        "/api/v1/me",
    ] {
        let op = &paths[path]["get"];
        assert!(op.is_object(), "{path}");
        for status in ["200", "401", "429", "500"] {
            assert!(op["responses"][status].is_object(), "{path} {status}");
        }
        assert_eq!(op["security"][0]["api_key"], serde_json::json!([]), "{path}");
    }
    assert_eq!(doc["components"]["securitySchemes"]["api_key"]["in"], "header");
}
