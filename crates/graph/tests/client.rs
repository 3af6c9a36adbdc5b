//! The Graph API client against the stand-in, over real HTTP: sends, Meta's errors and their retry
//! classes, a late answer, mark-as-read, and signed status webhooks back.

use std::time::Duration;

use rosetta_core::AccessToken;
use rosetta_graph::standin::{Fault, StandIn};
use rosetta_graph::{Disposition, GraphClient, GraphConfig, GraphError};
use serde_json::{json, Value};

const PNID: &str = "106540352242922";
const TOKEN: &str = "EAAG-standin-token";

fn client(standin: &StandIn, timeout: Duration) -> GraphClient {
    GraphClient::new(GraphConfig {
        base_url: standin.url().to_owned(),
        timeout,
        ..GraphConfig::default()
    })
    .unwrap()
}

fn text(to: &str, body: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text",
           "text": {"body": body}, "biz_opaque_callback_data": "msg-01"})
}

#[actix_web::test]
async fn sends_errors_and_retry_classes() {
    let standin = StandIn::start("127.0.0.1:0").unwrap();
    standin.allow(PNID, TOKEN);
    let graph = client(&standin, Duration::from_secs(5));
    let token = AccessToken::new(TOKEN).unwrap();

    let accepted = graph
        .send_message(PNID, &token, &text("+14155550123", "Hi!"))
        .await
        .unwrap();
    assert!(accepted.wamid.starts_with("wamid."), "{accepted:?}");
    assert_eq!(accepted.wa_id.as_deref(), Some("14155550123"));
    assert_eq!(standin.count_to("14155550123"), 1);
    assert_eq!(standin.received()[0].body["text"]["body"], "Hi!");

    // A wrong token is Meta's 190: fail, and flag the account.
    let wrong = AccessToken::new("EAAG-wrong").unwrap();
    let e = graph
        .send_message(PNID, &wrong, &text("14155550123", "x"))
        .await
        .unwrap_err();
    assert_eq!((e.code(), e.disposition()), (Some(190), Disposition::FailTokenInvalid));
    // A body Meta refuses is 100, with its details kept.
    let e = graph
        .send_message(
            PNID,
            &token,
            &json!({"messaging_product": "whatsapp", "to": "14155550123", "type": "text", "text": {}}),
        )
        .await
        .unwrap_err();
    match &e {
        GraphError::Http {
            status: 400,
            meta: Some(m),
        } => {
            assert_eq!(m.code, 100);
            assert_eq!(m.details.as_deref(), Some("The parameter text['body'] is required."));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.disposition(), Disposition::Fail);

    // Injected failures, one per send, in order; then the recipient is served again.
    standin.fail(
        "14155550199",
        [
            Fault::Code {
                code: 130429,
                status: 400,
            },
            Fault::Code {
                code: 131056,
                status: 400,
            },
            Fault::ServerError(503),
            Fault::Code {
                code: 131047,
                status: 400,
            },
            Fault::Code {
                code: 132001,
                status: 400,
            },
        ],
    );
    let mut seen = Vec::new();
    for _ in 0..5 {
        let e = graph
            .send_message(PNID, &token, &text("14155550199", "x"))
            .await
            .unwrap_err();
        seen.push((e.code(), e.disposition()));
    }
    assert_eq!(
        seen,
        [
            (Some(130429), Disposition::Retry),
            (Some(131056), Disposition::RetryRecipientLater),
            (None, Disposition::Retry),
            (Some(131047), Disposition::Fail),
            (Some(132001), Disposition::Fail),
        ]
    );
    assert_eq!(standin.count_to("14155550199"), 0, "a refused send is not counted");
    graph
        .send_message(PNID, &token, &text("14155550199", "x"))
        .await
        .unwrap();
    assert_eq!(standin.count_to("14155550199"), 1);

    // An answer that comes too late: the outcome is unknown to the client, yet Meta took it.
    standin.fail("14155550177", [Fault::LateAccept(Duration::from_millis(1500))]);
    let impatient = client(&standin, Duration::from_millis(300));
    let e = impatient
        .send_message(PNID, &token, &text("14155550177", "x"))
        .await
        .unwrap_err();
    assert_eq!(e.disposition(), Disposition::OutcomeUnknown, "{e}");
    assert!(!e.to_string().contains(TOKEN));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while standin.count_to("14155550177") == 0 {
        assert!(std::time::Instant::now() < deadline, "the late send was never taken");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }

    // Nothing listening: the request never left, so it can be retried.
    let nowhere = GraphClient::new(GraphConfig {
        base_url: "http://127.0.0.1:9".into(),
        ..GraphConfig::default()
    })
    .unwrap();
    let e = nowhere
        .send_message(PNID, &token, &text("14155550123", "x"))
        .await
        .unwrap_err();
    assert_eq!(e.disposition(), Disposition::Retry, "{e}");

    graph.mark_read(PNID, &token, &accepted.wamid).await.unwrap();
    assert_eq!(standin.marked_read(), vec![accepted.wamid.clone()]);
}

#[actix_web::test]
async fn accepted_sends_are_followed_by_signed_status_webhooks() {
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    const SECRET: &str = "app-secret";
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let receiver = HttpServer::new(move || {
        let tx = tx.clone();
        App::new().route(
            "/webhooks/whatsapp",
            web::post().to(move |req: HttpRequest, body: web::Bytes| {
                let tx = tx.clone();
                async move {
                    let config = rosetta_http::webhook::WebhookConfig::new(Some(SECRET), None);
                    let signature = req.headers().get("x-hub-signature-256").and_then(|v| v.to_str().ok());
                    if !config.signature_valid(signature, &body) {
                        return HttpResponse::Unauthorized().finish();
                    }
                    let value: Value = serde_json::from_slice(&body).unwrap();
                    let _ = tx.send(value["entry"][0]["changes"][0]["value"]["statuses"][0].clone());
                    HttpResponse::Ok().finish()
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let receiver_handle = receiver.handle();
    actix_web::rt::spawn(receiver);

    let standin = StandIn::start("127.0.0.1:0").unwrap();
    standin.allow(PNID, TOKEN);
    standin.report_to(&format!("http://127.0.0.1:{port}/webhooks/whatsapp"), SECRET);
    let graph = client(&standin, Duration::from_secs(5));
    let token = AccessToken::new(TOKEN).unwrap();
    let accepted = graph
        .send_message(PNID, &token, &text("14155550123", "Hi"))
        .await
        .unwrap();
    async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Value>) -> Value {
        actix_web::rt::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a status webhook in time")
            .unwrap()
    }
    for expected in ["sent", "delivered", "read"] {
        let status = next(&mut rx).await;
        assert_eq!(
            (
                status["id"].as_str(),
                status["status"].as_str(),
                status["biz_opaque_callback_data"].as_str()
            ),
            (Some(accepted.wamid.as_str()), Some(expected), Some("msg-01"))
        );
    }
    // A send that Meta takes and fails later reports the failure with its code.
    standin.fail(
        "14155550188",
        [Fault::FailLater {
            code: 131026,
            title: "Message undeliverable".into(),
        }],
    );
    let later = graph
        .send_message(PNID, &token, &text("14155550188", "Hi"))
        .await
        .unwrap();
    let status = next(&mut rx).await;
    assert_eq!(
        (
            status["id"].as_str(),
            status["status"].as_str(),
            status["errors"][0]["code"].as_i64()
        ),
        (Some(later.wamid.as_str()), Some("failed"), Some(131026))
    );
    receiver_handle.stop(false).await;
}

/// A file uploaded (streamed from disk, multipart as Meta takes it) becomes a media id, which the
/// stand-in then serves like a received one; a wrong token is refused with 190.
#[actix_web::test]
async fn uploads_become_media_ids() {
    let standin = StandIn::start("127.0.0.1:0").unwrap();
    standin.allow(PNID, TOKEN);
    let graph = client(&standin, Duration::from_secs(5));
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    let token = AccessToken::new(TOKEN).unwrap();
    let id = graph
        .upload_media(
            PNID,
            &token,
            bytes.clone().into(),
            300_000,
            "application/pdf",
            "invoice.pdf",
        )
        .await
        .unwrap();
    let info = graph.media_info(&id, &token).await.unwrap();
    assert_eq!(
        (info.mime_type.as_deref(), info.file_size),
        (Some("application/pdf"), Some(300_000))
    );
    let mut back = Vec::new();
    let got = graph.download(&info.url, &token, 1 << 20, &mut back).await.unwrap();
    assert_eq!((&back, got.size), (&bytes, 300_000));
    let wrong = AccessToken::new("EAAG-wrong").unwrap();
    let refused = graph
        .upload_media(
            PNID,
            &wrong,
            bytes.clone().into(),
            300_000,
            "application/pdf",
            "invoice.pdf",
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(190));
}
