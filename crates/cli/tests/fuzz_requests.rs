//! Property-based fuzzing of query strings, paths, headers and bodies through every dialect's real
//! routes (actix's parsing, then each dialect's own): arbitrary input never makes a 5xx, and every
//! error is in the caller's dialect's shape. `PROPTEST_CASES` raises the number of cases.
//!
//! The committed corpus `tests/corpus/queries.txt` (edge values of every parameter the dialects
//! read) is replayed on every route first, and its lines are mixed into the generated queries.

use std::sync::Arc;

use actix_web::test as actix_test;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rosetta_core::key::{parse_scopes, KeyStyle};
use rosetta_core::*;
use rosetta_http::AppState;

fn shaped(prefix: &str, status: u16, body: &serde_json::Value) -> bool {
    if status < 400 {
        return true;
    }
    match prefix {
        "/api/v1" => body["error"]["code"].is_string() && body["error"]["message"].is_string(),
        "/v1" => {
            body["error"]["type"].is_string()
                && body["error"]["code"].is_string()
                && body["error"]["request_id"].is_string()
        }
        _ => body["success"] == false && body["error"].is_string(),
    }
}

/// Percent-encodes what a URI cannot carry (a stray `%` is kept: a malformed escape is input too).
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'%' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn arbitrary_requests_never_5xx_and_always_answer_in_shape() {
    let dir = std::env::temp_dir().join(format!("rosetta-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("fuzz.db").display());
    let store: Arc<dyn Store> = Arc::new(rosetta_store::DieselStore::open(&url).unwrap());
    let org = store.create_organization("Fuzz").unwrap().id;
    let account = store
        .create_account(org, "106540352242922", "+15550783881", None)
        .unwrap()
        .id;
    let contact = store
        .create_contact(
            org,
            NewContact {
                phone: "+14155550123".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .contact
        .contact
        .id;
    store.open_conversation(org, account, contact).unwrap();
    let key = |style| {
        store
            .create_api_key(
                org,
                NewApiKey {
                    name: None,
                    style,
                    scopes: parse_scopes(None).unwrap(),
                    expires_at: None,
                },
            )
            .unwrap()
            .secret
    };
    let (wacrm, kirim, envelope) = (key(KeyStyle::Wacrm), key(KeyStyle::Kirim), key(KeyStyle::Envelope));
    let org_uuid = org.render(EntityKind::Organization, Spelling::Envelope);
    let state = AppState::new(store.clone());
    let rt = actix_web::rt::Runtime::new().unwrap();
    let dialects = rosetta_testkit::Dialects {
        jwt_secret: Some("s"),
        ..rosetta_testkit::Dialects::all()
    };
    let app = rt.block_on(rosetta_testkit::app(state, dialects));
    let routes = [
        ("/api/v1", "GET", "/conversations"),
        ("/api/v1", "GET", "/conversations/{x}"),
        ("/api/v1", "GET", "/conversations/{x}/messages"),
        ("/api/v1", "GET", "/contacts"),
        ("/api/v1", "GET", "/contacts/{x}"),
        ("/v1", "GET", "/106540352242922/conversations"),
        ("/v1", "GET", "/{x}/conversations"),
        ("/v1", "PATCH", "/106540352242922/conversations/{x}"),
        ("/v1", "GET", "/106540352242922/contacts"),
        ("/v1", "POST", "/106540352242922/contacts"),
        ("/v1", "GET", "/accounts"),
        ("/api/whatsapp", "GET", "/conversations"),
        ("/api/whatsapp", "GET", "/conversations/{x}"),
        ("/api/whatsapp", "POST", "/conversations/{x}/close"),
        ("/api/whatsapp", "POST", "/conversations/{x}/assign"),
        ("/api/whatsapp", "GET", "/messages"),
    ];
    let segment = "[A-Za-z0-9_%.~-]{0,40}";
    let query = proptest::collection::vec(
        (
            "(limit|cursor|status|contact_id|page|assignee|conversationId|before|search|phone|tag|[a-z]{1,6})",
            prop_oneof![
                "[ -~]{0,30}",
                "-?[0-9]{1,25}",
                "%[0-9A-F]{2}[a-z]{0,5}",
                Just(String::new())
            ],
        ),
        0..4,
    );
    let body = prop_oneof![
        Just(None),
        any::<Vec<u8>>().prop_map(Some),
        "\\{\"(status|assigned_to|userId|resolution|phone_number|name|email|metadata)\":(null|true|1|\"[ -~]{0,20}\"|\\[\\]|\\{\\})\\}"
            .prop_map(|s| Some(s.into_bytes())),
    ];
    let corpus: Vec<String> = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/queries.txt"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let call = |method: &str, uri: &str, authed: bool, body: Option<Vec<u8>>| -> Result<(), String> {
        let prefix = ["/api/whatsapp", "/api/v1", "/v1"]
            .into_iter()
            .find(|p| uri.starts_with(p))
            .unwrap();
        let mut req = actix_test::TestRequest::default()
            .method(method.parse().unwrap())
            .uri(uri);
        if authed {
            req = match prefix {
                "/api/v1" => req.insert_header(("Authorization", wacrm.clone())),
                "/v1" => req.insert_header(("Authorization", format!("Bearer {kirim}"))),
                _ => req
                    .insert_header(("Authorization", format!("Bearer {envelope}")))
                    .insert_header(("x-org-id", org_uuid.clone())),
            };
        }
        if let Some(body) = body {
            req = req
                .insert_header(("Content-Type", "application/json"))
                .set_payload(body);
        }
        let (status, text) = rt.block_on(async {
            let resp = actix_test::call_service(&app, req.to_request()).await;
            let status = resp.status().as_u16();
            (status, actix_test::read_body(resp).await)
        });
        let json: serde_json::Value = serde_json::from_slice(&text).unwrap_or(serde_json::Value::Null);
        if status >= 500 || !shaped(prefix, status, &json) {
            return Err(format!("{method} {uri}: {status} {}", String::from_utf8_lossy(&text)));
        }
        Ok(())
    };
    for line in &corpus {
        for (prefix, method, path) in routes {
            call(
                method,
                &format!("{prefix}{}?{line}", path.replace("{x}", "x")),
                true,
                None,
            )
            .unwrap();
        }
    }
    let query = prop_oneof![
        query.prop_map(|q| q
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")),
        proptest::sample::select(corpus.clone()),
    ];
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..Config::default()
    });
    let tried = std::cell::Cell::new(0);
    runner
        .run(
            &(0..routes.len(), segment, query, body, any::<bool>()),
            |(r, x, q, body, authed)| {
                let (prefix, method, path) = routes[r];
                let uri = format!("{prefix}{}?{q}", path.replace("{x}", &x));
                tried.set(tried.get() + 1);
                let outcome = call(method, &uri, authed, body);
                prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
                Ok(())
            },
        )
        .unwrap();
    assert!(tried.get() >= 256, "only {} cases", tried.get());
    std::fs::remove_dir_all(dir).ok();
}
