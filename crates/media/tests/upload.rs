//! Sending files: uploaded in each dialect's style (kirim's mirror of Meta's upload, wacrm's and
//! envelope's media routes), kept in the blob store, sent by id (the dispatcher uploads the file to
//! Meta once and sends by Meta's id; a second send of the same file reuses it), and shown in the
//! conversation like a received file. Another organization's upload id, or a link re-signed for
//! another organization's file, is refused. On SQLite and (when configured) PostgreSQL.

mod support;
use support::{received, PNID};

use rosetta_core::key::KeyStyle;
use rosetta_core::*;
use rosetta_media::blobs::{Blobs, LocalBlobs};
use rosetta_store::testing::TestDb;
use rosetta_testkit::{self as testkit, Part};
use serde_json::json;

const CUSTOMER: &str = "16505551234";
const OTHER_PNID: &str = "106540352249999";

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

fn path_of(url: &str) -> String {
    url[url.find("/media/").expect("a media link")..].to_owned()
}

#[actix_web::test]
async fn files_are_uploaded_sent_by_id_and_shown_like_received_ones() {
    for db in TestDb::all() {
        let (store, state) = testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        let account = s.create_account(org, PNID, "+15550783881", None).unwrap().id;
        let other = s.create_organization("Globex").unwrap().id;
        s.create_account(other, OTHER_PNID, "+15550783882", None).unwrap();
        let standin = testkit::standin(s, org, account, PNID);
        // The customer wrote first: the 24-hour window is open.
        s.ingest(&[received("wamid.hello", ContentType::Image, "HELLO", "image/jpeg", None)])
            .unwrap();
        let dir = std::env::temp_dir().join(format!("rosetta-upload-{}", Id::new().to_string().to_lowercase()));
        let blobs: Blobs = LocalBlobs::open(&dir).unwrap().into();
        testkit::dispatch_with_media(&state, standin.url(), blobs.clone());
        let app = testkit::app(
            state.clone(),
            testkit::Dialects {
                media: Some(blobs.clone()),
                ..testkit::Dialects::all()
            },
        )
        .await;
        let kirim = vec![(
            "Authorization",
            format!("Bearer {}", testkit::key(s, org, KeyStyle::Kirim, None).secret),
        )];
        let wacrm = vec![(
            "Authorization",
            format!("Bearer {}", testkit::key(s, org, KeyStyle::Wacrm, None).secret),
        )];
        let envelope = vec![
            (
                "Authorization",
                format!("Bearer {}", testkit::key(s, org, KeyStyle::Envelope, None).secret),
            ),
            ("x-org-id", org.render(EntityKind::Organization, Spelling::Envelope)),
        ];

        // kirim: Meta's upload, mirrored.
        let pdf: Vec<u8> = b"%PDF-1.7 the invoice ".repeat(5000);
        let (content_type, body) = testkit::multipart(&[
            Part::text("messaging_product", "whatsapp"),
            Part::text("type", "application/pdf"),
            Part::file("invoice.pdf", "application/octet-stream", &pdf),
        ]);
        let r = testkit::send_bytes(&app, "POST", &format!("/v1/{PNID}/media"), &kirim, &content_type, body).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let med = r.body["data"]["id"].as_str().unwrap().to_owned();
        assert!(med.starts_with("med_") && med.len() == 30, "{med}");
        assert_eq!(
            r.body,
            json!({
                "data": {
                    "id": med,
                    "object": "media",
                    "mime_type": "application/pdf",
                    "file_size": pdf.len(),
                    "sha256": sha256_hex(&pdf),
                    "filename": "invoice.pdf",
                    "created_at": r.body["data"]["created_at"],
                },
                "request_id": r.body["request_id"],
            })
        );
        assert!(
            blobs.contains(&sha256_hex(&pdf)).await.unwrap(),
            "kept in the blob store"
        );

        // kirim sends it by its id: the dispatcher uploads it to Meta and sends by Meta's id.
        let r = testkit::send(
            &app,
            "POST",
            &format!("/v1/{PNID}/messages"),
            &kirim,
            Some(
                &json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "document",
                        "document": {"id": med, "caption": "Your invoice"}})
                .to_string(),
            ),
        )
        .await;
        assert_eq!(
            (r.status, r.body["data"]["status"].as_str()),
            (200, Some("pending")),
            "{}",
            r.body
        );
        let first = Id::parse(
            EntityKind::Message,
            Spelling::Kirim,
            r.body["data"]["id"].as_str().unwrap(),
        )
        .unwrap();
        let sent = testkit::settled(&state, org, first).await;
        assert_eq!(sent.status, MessageStatus::Sent, "{sent:?}");
        let accepted = standin.received();
        let document = &accepted.last().unwrap().body["document"];
        let meta_id = document["id"].as_str().expect("sent by Meta's id");
        assert_eq!(document["caption"], "Your invoice");
        assert_eq!(
            standin.media(meta_id),
            Some((pdf.clone(), "application/pdf".to_owned())),
            "Meta got the file whole"
        );
        assert_eq!(standin.uploads(), 1);

        // wacrm sends the same file (its id as a UUID): Meta's id is reused, nothing uploaded again.
        let uuid = Id::parse(EntityKind::Media, Spelling::Kirim, &med)
            .unwrap()
            .render(EntityKind::Media, Spelling::Uuid);
        let r = testkit::send(
            &app,
            "POST",
            "/api/v1/messages",
            &wacrm,
            Some(&json!({"to": format!("+{CUSTOMER}"), "type": "document", "media_id": uuid}).to_string()),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let second = Id::parse(
            EntityKind::Message,
            Spelling::Uuid,
            r.body["data"]["message_id"].as_str().unwrap(),
        )
        .unwrap();
        assert_eq!(testkit::settled(&state, org, second).await.status, MessageStatus::Sent);
        assert_eq!(standin.received().last().unwrap().body["document"]["id"], meta_id);
        assert_eq!(standin.uploads(), 1, "Meta's id for the file was reused");

        // The sent file shows in the conversation like a received one: a signed link to the bytes,
        // with the name it was uploaded with.
        let conversation = sent.conversation_id;
        let list = testkit::send(
            &app,
            "GET",
            &format!(
                "/api/v1/conversations/{}/messages",
                conversation.render(EntityKind::Conversation, Spelling::Uuid)
            ),
            &wacrm,
            None,
        )
        .await;
        let shown = list.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == first.render(EntityKind::Message, Spelling::Uuid))
            .unwrap()
            .clone();
        assert_eq!(
            (
                shown["direction"].clone(),
                shown["content_type"].clone(),
                shown["media_status"].clone(),
                shown["content_text"].clone()
            ),
            (
                json!("outbound"),
                json!("document"),
                json!("stored"),
                json!("Your invoice")
            ),
            "{shown}"
        );
        let got = testkit::send(&app, "GET", &path_of(shown["media_url"].as_str().unwrap()), &[], None).await;
        assert_eq!((got.status, got.raw == pdf), (200, true));
        assert_eq!(
            got.header("content-disposition"),
            Some("inline; filename=\"invoice.pdf\"")
        );

        // envelope: its upload, then a send by content.mediaId.
        let png: Vec<u8> = [&b"\x89PNG\r\n\x1a\n"[..], &[7u8; 30_000]].concat();
        let (content_type, body) = testkit::multipart(&[Part::file("menu.png", "image/png", &png)]);
        let r = testkit::send_bytes(&app, "POST", "/api/whatsapp/media", &envelope, &content_type, body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let media_id = r.body["data"]["id"].as_str().unwrap().to_owned();
        assert!(media_id.starts_with("media_"), "{media_id}");
        assert_eq!(
            r.body,
            json!({"success": true, "data": {
                "id": media_id, "mimeType": "image/png", "size": png.len(), "sha256": sha256_hex(&png),
                "filename": "menu.png", "createdAt": r.body["data"]["createdAt"]}})
        );
        let r = testkit::send(
            &app,
            "POST",
            "/api/whatsapp/messages",
            &envelope,
            Some(
                &json!({"conversationId": conversation.render(EntityKind::Conversation, Spelling::Envelope),
                        "type": "image", "content": {"mediaId": media_id, "caption": "Today's menu"}})
                .to_string(),
            ),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let third = Id::parse(
            EntityKind::Message,
            Spelling::Envelope,
            r.body["data"]["id"].as_str().unwrap(),
        )
        .unwrap();
        assert_eq!(testkit::settled(&state, org, third).await.status, MessageStatus::Sent);
        let image = standin.received().last().unwrap().body["image"].clone();
        assert_eq!(
            standin
                .media(image["id"].as_str().unwrap())
                .map(|(bytes, _)| bytes == png),
            Some(true)
        );
        assert_eq!(standin.uploads(), 2);

        // wacrm's upload answers in its shape; bad bodies are each dialect's validation error.
        let (content_type, body) = testkit::multipart(&[
            Part::text("filename", "q3.csv"),
            Part::file("export.csv", "text/csv", b"a,b\n1,2\n"),
        ]);
        let r = testkit::send_bytes(&app, "POST", "/api/v1/media", &wacrm, &content_type, body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            (
                r.body["data"]["filename"].clone(),
                r.body["data"]["mime_type"].clone(),
                r.body["data"]["size"].clone()
            ),
            (json!("q3.csv"), json!("text/csv"), json!(8))
        );
        let (content_type, body) = testkit::multipart(&[Part::text("type", "image/png")]);
        let r = testkit::send_bytes(&app, "POST", "/api/v1/media", &wacrm, &content_type, body.clone()).await;
        assert_eq!(
            (r.status, r.body.clone()),
            (
                400,
                json!({"error": {"code": "bad_request", "message": "file is required: the file to upload, as a multipart part named file"}})
            )
        );
        let r = testkit::send_bytes(
            &app,
            "POST",
            &format!("/v1/{PNID}/media"),
            &kirim,
            &content_type,
            body.clone(),
        )
        .await;
        assert_eq!(
            (r.status, r.body["error"]["param"].as_str()),
            (400, Some("file")),
            "{}",
            r.body
        );
        let r = testkit::send(&app, "POST", "/api/whatsapp/media", &envelope, Some("{}")).await;
        assert_eq!((r.status, r.body["success"].clone()), (400, json!(false)), "{}", r.body);
        // A file over Meta's limit for the type is refused at the send, nothing written.
        let big = vec![1u8; 6 * 1024 * 1024];
        let (content_type, body) = testkit::multipart(&[Part::file("huge.jpg", "image/jpeg", &big)]);
        let r = testkit::send_bytes(&app, "POST", "/api/v1/media", &wacrm, &content_type, body).await;
        let huge = r.body["data"]["id"].as_str().unwrap().to_owned();
        let r = testkit::send(
            &app,
            "POST",
            "/api/v1/messages",
            &wacrm,
            Some(&json!({"to": format!("+{CUSTOMER}"), "type": "image", "media_id": huge}).to_string()),
        )
        .await;
        assert_eq!(
            (r.status, r.body["error"]["message"].clone()),
            (
                400,
                json!("the uploaded file is 6291456 bytes, over Meta's 5242880-byte limit for image messages")
            )
        );

        // Another organization cannot send this organization's files, in any dialect.
        let kirim_b = vec![(
            "Authorization",
            format!("Bearer {}", testkit::key(s, other, KeyStyle::Kirim, None).secret),
        )];
        let r = testkit::send(
            &app,
            "POST",
            &format!("/v1/{OTHER_PNID}/messages"),
            &kirim_b,
            Some(
                &json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "document", "document": {"id": med}})
                    .to_string(),
            ),
        )
        .await;
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str()),
            (404, Some("resource_not_found")),
            "{}",
            r.body
        );
        let wacrm_b = vec![(
            "Authorization",
            format!("Bearer {}", testkit::key(s, other, KeyStyle::Wacrm, None).secret),
        )];
        let r = testkit::send(
            &app,
            "POST",
            "/api/v1/messages",
            &wacrm_b,
            Some(&json!({"to": format!("+{CUSTOMER}"), "type": "document", "media_id": uuid}).to_string()),
        )
        .await;
        assert_eq!(
            (r.status, r.body.clone()),
            (
                404,
                json!({"error": {"code": "not_found", "message": "Media not found"}})
            )
        );
        let envelope_b = vec![
            (
                "Authorization",
                format!("Bearer {}", testkit::key(s, other, KeyStyle::Envelope, None).secret),
            ),
            ("x-org-id", other.render(EntityKind::Organization, Spelling::Envelope)),
        ];
        // Organization B's own conversation (a customer wrote to its number).
        let mut hello = received("wamid.b", ContentType::Image, "HELLO_B", "image/jpeg", None);
        if let rosetta_core::ingest::IngestEvent::Message(m) = &mut hello {
            m.phone_number_id = OTHER_PNID.into();
        }
        s.ingest(&[hello]).unwrap();
        let b_conversation = s.message_by_wamid(other, "wamid.b").unwrap().conversation_id;
        let r = testkit::send(
            &app,
            "POST",
            "/api/whatsapp/messages",
            &envelope_b,
            Some(
                &json!({"conversationId": b_conversation.render(EntityKind::Conversation, Spelling::Envelope),
                        "type": "image", "content": {"mediaId": media_id}})
                .to_string(),
            ),
        )
        .await;
        assert_eq!(
            (r.status, r.body.clone()),
            (404, json!({"success": false, "error": "Media file not found"}))
        );
        // Nothing of those refusals was written: organization B has only its customer's message.
        let b_messages = s.list_messages_before(other, b_conversation, None, 100).unwrap();
        assert_eq!(b_messages.items.len(), 1);

        // A link is the permission for one file only: re-pointed at another message it is forged.
        let token = &path_of(shown["media_url"].as_str().unwrap())["/media/".len()..];
        let mut bytes = base64_decode(token);
        bytes[..16].copy_from_slice(&third.to_bytes());
        let r = testkit::send(&app, "GET", &format!("/media/{}", base64_encode(&bytes)), &[], None).await;
        assert_eq!((r.status, r.body["error"].as_str()), (403, Some("Invalid media link")));
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn base64_decode(token: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A file over 100 MB is refused with each dialect's 413 as it streams in, and nothing of it is
/// left behind (no temporary file, no blob, no upload).
#[actix_web::test]
async fn an_upload_over_100_mb_is_413_and_leaves_nothing() {
    let db = TestDb::sqlite();
    let (store, state) = testkit::state(&db);
    let s = store.as_ref();
    let org = s.create_organization("Acme").unwrap().id;
    s.create_account(org, PNID, "+15550783881", None).unwrap();
    let dir = std::env::temp_dir().join(format!("rosetta-upload-{}", Id::new().to_string().to_lowercase()));
    let blobs: Blobs = LocalBlobs::open(&dir).unwrap().into();
    let app = testkit::app(
        state,
        testkit::Dialects {
            media: Some(blobs),
            ..testkit::Dialects::all()
        },
    )
    .await;
    let huge = vec![0u8; rosetta_core::media::MAX_UPLOAD_BYTES as usize + 1];
    let (content_type, body) = testkit::multipart(&[Part::file("huge.pdf", "application/pdf", &huge)]);
    drop(huge);
    let kirim = vec![(
        "Authorization",
        format!("Bearer {}", testkit::key(s, org, KeyStyle::Kirim, None).secret),
    )];
    let r = testkit::send_bytes(&app, "POST", &format!("/v1/{PNID}/media"), &kirim, &content_type, body).await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.body["error"]["type"], "invalid_request_error", "{}", r.body);
    let files: Vec<_> = walk(&dir);
    assert!(files.is_empty(), "left behind: {files:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}
