//! Received files served through signed links, in every dialect: the list shows a link once the
//! file is kept (none before), the link answers the bytes with their type, length, ETag, Range and
//! disposition; a tampered or expired link is refused; an active type is an attachment.

mod support;
use std::sync::Arc;
use std::time::Duration;
use support::{named, received, PNID};

use rosetta_core::key::KeyStyle;
use rosetta_core::*;
use rosetta_graph::standin::StandIn;
use rosetta_media::blobs::{Blobs, LocalBlobs};
use rosetta_media::fetch::{FetchConfig, Fetcher};
use rosetta_store::testing::TestDb;
use rosetta_testkit as testkit;
use serde_json::Value;

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// The path of a signed link (the test app answers any host).
fn path_of(url: &str) -> String {
    let at = url.find("/media/").expect("a media link");
    url[at..].to_owned()
}

#[actix_web::test]
async fn kept_files_are_served_through_signed_links() {
    for db in TestDb::all() {
        let dir = std::env::temp_dir().join(format!("rosetta-serve-{}", Id::new().to_string().to_lowercase()));
        let blobs = LocalBlobs::open(&dir).unwrap();
        served_through_signed_links(&db, blobs.into()).await;
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The same from an S3 bucket on a real S3-protocol server (`s3s-fs`): fetched into the bucket,
/// served from it (whole, a Range, a conditional request), pruned from it.
#[actix_web::test]
async fn kept_files_are_served_from_an_s3_bucket() {
    let Some(s3) = testkit::s3::S3Server::start() else {
        return;
    };
    for db in TestDb::all() {
        let spool = std::env::temp_dir().join(format!("rosetta-spool-{}", Id::new().to_string().to_lowercase()));
        let blobs = s3.blobs(db.backend(), &spool);
        served_through_signed_links(&db, blobs.into()).await;
        assert_eq!(
            std::fs::read_dir(spool.join("tmp")).unwrap().count(),
            0,
            "no temporary file left"
        );
        let _ = std::fs::remove_dir_all(spool);
    }
}

async fn served_through_signed_links(db: &TestDb, blobs: Blobs) {
    {
        let (store, state) = testkit::state(db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        let account = s.create_account(org, PNID, "+15550783881", None).unwrap().id;
        let standin: StandIn = testkit::standin(s, org, account, PNID);
        let photo: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec();
        standin.add_media("PHOTO", photo.clone(), "image/jpeg");
        standin.add_media("SVG", svg.clone(), "image/svg+xml");
        s.ingest(&[
            received("wamid.photo", ContentType::Image, "PHOTO", "image/jpeg", None),
            named(
                received("wamid.svg", ContentType::Document, "SVG", "image/svg+xml", None),
                "drawing.svg",
            ),
        ])
        .unwrap();
        let dialects = testkit::Dialects {
            media: Some(blobs.clone()),
            ..testkit::Dialects::all()
        };
        let app = testkit::app(state.clone(), dialects).await;
        let wacrm = testkit::key(s, org, KeyStyle::Wacrm, None).secret;
        let auth = vec![("Authorization", format!("Bearer {wacrm}"))];
        let conversation = s.message_by_wamid(org, "wamid.photo").unwrap().conversation_id;
        let list = |app| {
            let uri = format!(
                "/api/v1/conversations/{}/messages",
                conversation.render(EntityKind::Conversation, Spelling::Uuid)
            );
            let auth = auth.clone();
            async move { testkit::send(app, "GET", &uri, &auth, None).await }
        };
        // Not fetched yet: no link (never one that would not answer).
        let before = list(&app).await;
        assert!(
            before.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["media_url"].is_null()),
            "{}",
            before.body
        );

        let fetcher = Fetcher::new(
            Arc::new(db.instance()),
            testkit::graph(standin.url()),
            blobs.clone(),
            FetchConfig {
                base_backoff: Duration::from_millis(10),
                ..FetchConfig::default()
            },
        );
        while s.message_by_wamid(org, "wamid.svg").unwrap().media == Some(MediaState::Pending)
            || s.message_by_wamid(org, "wamid.photo").unwrap().media == Some(MediaState::Pending)
        {
            fetcher.run_once().await.unwrap();
        }
        let after = list(&app).await;
        let url_of = |body: &Value, kind: &str| -> String {
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["content_type"] == kind)
                .and_then(|m| m["media_url"].as_str())
                .expect("a media link")
                .to_owned()
        };
        let photo_url = url_of(&after.body, "image");
        assert!(photo_url.starts_with("http://localhost:8080/media/"), "{photo_url}");

        // The bytes, with their type, length, ETag, and no sniffing.
        let got = testkit::send(&app, "GET", &path_of(&photo_url), &[], None).await;
        assert_eq!(got.status, 200);
        assert_eq!(got.raw, photo);
        assert_eq!(got.header("content-type"), Some("image/jpeg"));
        // Content-Length is written by the HTTP layer from the sized body (not in a test service's
        // headers): the body is the whole file.
        assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
        assert!(got.header("content-disposition").unwrap().starts_with("inline"));
        let etag = got.header("etag").expect("an ETag").to_owned();
        // A Range request, and a conditional one.
        let part = testkit::send(
            &app,
            "GET",
            &path_of(&photo_url),
            &[("Range", "bytes=100-199".into())],
            None,
        )
        .await;
        assert_eq!((part.status, part.raw.as_slice()), (206, &photo[100..200]));
        assert_eq!(part.header("content-range"), Some("bytes 100-199/50000"));
        let unchanged = testkit::send(&app, "GET", &path_of(&photo_url), &[("If-None-Match", etag)], None).await;
        assert_eq!(unchanged.status, 304);

        // An SVG is an attachment, with its filename, never inline.
        let svg_url = url_of(&after.body, "document");
        let got = testkit::send(&app, "GET", &path_of(&svg_url), &[], None).await;
        assert_eq!((got.status, got.raw.as_slice()), (200, svg.as_slice()));
        assert_eq!(
            got.header("content-disposition"),
            Some("attachment; filename=\"drawing.svg\"")
        );

        // Tampered, or expired: refused.
        let mut tampered = path_of(&photo_url);
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        let r = testkit::send(&app, "GET", &tampered, &[], None).await;
        assert_eq!((r.status, r.body["error"].as_str()), (403, Some("Invalid media link")));
        let photo_id = s.message_by_wamid(org, "wamid.photo").unwrap().id;
        let expired = state.media_links.sign(photo_id, Timestamp::now().millis() / 1000 - 1);
        let r = testkit::send(&app, "GET", &format!("/media/{expired}"), &[], None).await;
        assert_eq!(r.status, 410);

        // The other dialects show the same kept file.
        let envelope = testkit::key(s, org, KeyStyle::Envelope, None).secret;
        let r = testkit::send(
            &app,
            "GET",
            &format!(
                "/api/whatsapp/messages?conversationId={}",
                conversation.render(EntityKind::Conversation, Spelling::Envelope)
            ),
            &[
                ("Authorization", format!("Bearer {envelope}")),
                ("x-org-id", org.render(EntityKind::Organization, Spelling::Envelope)),
            ],
            None,
        )
        .await;
        let image = r.body["data"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["type"] == "image")
            .unwrap()
            .clone();
        let got = testkit::send(
            &app,
            "GET",
            &path_of(image["content"]["url"].as_str().unwrap()),
            &[],
            None,
        )
        .await;
        assert_eq!(got.raw, photo);
        let kirim = testkit::key(s, org, KeyStyle::Kirim, None).secret;
        let r = testkit::send(
            &app,
            "GET",
            &format!(
                "/v1/{PNID}/conversations/{}/messages",
                conversation.render(EntityKind::Conversation, Spelling::Kirim)
            ),
            &[("Authorization", format!("Bearer {kirim}"))],
            None,
        )
        .await;
        let image = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["type"] == "image")
            .unwrap()
            .clone();
        let got = testkit::send(
            &app,
            "GET",
            &path_of(image["media"]["link"].as_str().unwrap()),
            &[],
            None,
        )
        .await;
        assert_eq!(got.raw, photo);
        assert_eq!(image["media"]["status"], "stored");

        // Retention: the files go, the messages say so, old links say why.
        let later = Timestamp(Timestamp::now().millis() + 1_000);
        let pruned = rosetta_media::prune(store.clone(), &blobs, later).await.unwrap();
        assert_eq!(pruned, (2, 2));
        assert!(!blobs.contains(&sha256_hex(&photo)).await.unwrap());
        let r = testkit::send(&app, "GET", &path_of(&photo_url), &[], None).await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (410, Some("The file was removed by the retention policy"))
        );
        let listed = list(&app).await;
        let photo_row = listed.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["content_type"] == "image")
            .unwrap()
            .clone();
        assert_eq!(
            (photo_row["media_url"].clone(), photo_row["media_status"].clone()),
            (Value::Null, Value::from("pruned"))
        );
        assert_eq!(
            rosetta_media::prune(store.clone(), &blobs, later).await.unwrap(),
            (0, 0)
        );
    }
}

/// Every media type a customer sends (image, video, audio, document, sticker), fetched and kept,
/// as each dialect shows it: the exact message JSON (the signed link aside, which carries its own
/// expiry), then the bytes with their type through that link.
#[actix_web::test]
async fn every_media_type_in_every_dialect() {
    for db in TestDb::all() {
        let (store, state) = testkit::state(&db);
        let s = store.as_ref();
        let org = s.create_organization("Acme").unwrap().id;
        let account = s.create_account(org, PNID, "+15550783881", None).unwrap().id;
        let standin: StandIn = testkit::standin(s, org, account, PNID);
        let kinds = [
            (ContentType::Image, "image/jpeg", 40_000usize),
            (ContentType::Video, "video/mp4", 90_000),
            (ContentType::Audio, "audio/ogg", 30_000),
            (ContentType::Document, "application/pdf", 60_000),
            (ContentType::Sticker, "image/webp", 20_000),
        ];
        let mut events = Vec::new();
        let mut files = Vec::new();
        for (i, (kind, mime, size)) in kinds.iter().enumerate() {
            let bytes: Vec<u8> = (0..*size).map(|b| (b * (i + 3) % 251) as u8).collect();
            let media_id = format!("M{i}");
            standin.add_media(&media_id, bytes.clone(), mime);
            let mut event = received(&format!("wamid.{i}"), *kind, &media_id, mime, None);
            if *kind == ContentType::Document {
                event = named(event, "statement.pdf");
            }
            events.push(event);
            files.push(bytes);
        }
        s.ingest(&events).unwrap();
        let dir = std::env::temp_dir().join(format!("rosetta-types-{}", Id::new().to_string().to_lowercase()));
        let blobs: Blobs = LocalBlobs::open(&dir).unwrap().into();
        let fetcher = Fetcher::new(
            Arc::new(db.instance()),
            testkit::graph(standin.url()),
            blobs.clone(),
            FetchConfig::default(),
        );
        let pending = |s: &dyn Store| {
            (0..kinds.len())
                .any(|i| s.message_by_wamid(org, &format!("wamid.{i}")).unwrap().media == Some(MediaState::Pending))
        };
        while pending(s) {
            fetcher.run_once().await.unwrap();
        }
        let app = testkit::app(
            state.clone(),
            testkit::Dialects {
                media: Some(blobs),
                ..testkit::Dialects::all()
            },
        )
        .await;
        let messages: Vec<Message> = (0..kinds.len())
            .map(|i| s.message_by_wamid(org, &format!("wamid.{i}")).unwrap())
            .collect();
        let conversation = messages[0].conversation_id;

        // Each dialect's list, newest first in wacrm and kirim, oldest first in envelope: found by id.
        let wacrm = vec![(
            "Authorization",
            format!("Bearer {}", testkit::key(s, org, KeyStyle::Wacrm, None).secret),
        )];
        let kirim = vec![(
            "Authorization",
            format!("Bearer {}", testkit::key(s, org, KeyStyle::Kirim, None).secret),
        )];
        let envelope = vec![
            (
                "Authorization",
                format!("Bearer {}", testkit::key(s, org, KeyStyle::Envelope, None).secret),
            ),
            ("x-org-id", org.render(EntityKind::Organization, Spelling::Envelope)),
        ];
        let w = testkit::send(
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
        let k = testkit::send(
            &app,
            "GET",
            &format!(
                "/v1/{PNID}/conversations/{}/messages",
                conversation.render(EntityKind::Conversation, Spelling::Kirim)
            ),
            &kirim,
            None,
        )
        .await;
        let e = testkit::send(
            &app,
            "GET",
            &format!(
                "/api/whatsapp/messages?conversationId={}",
                conversation.render(EntityKind::Conversation, Spelling::Envelope)
            ),
            &envelope,
            None,
        )
        .await;
        let find = |list: &Value, id: String| -> Value {
            list.as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"] == id.as_str())
                .unwrap_or_else(|| panic!("{id} in {list}"))
                .clone()
        };
        for (i, m) in messages.iter().enumerate() {
            let (kind, mime, _) = kinds[i];
            let kind = kind.as_str();
            let filename = (kind == "document").then_some("statement.pdf");
            let at = m.created_at.to_rfc3339();

            let mut wm = find(&w.body["data"], m.id.render(EntityKind::Message, Spelling::Uuid));
            let url = wm["media_url"].take();
            assert_eq!(
                wm,
                serde_json::json!({
                    "id": m.id.render(EntityKind::Message, Spelling::Uuid),
                    "conversation_id": conversation.render(EntityKind::Conversation, Spelling::Uuid),
                    "whatsapp_message_id": format!("wamid.{i}"),
                    // wacrm's types have no sticker: it is an image there (the seed's enum).
                    "direction": "inbound", "sender_type": "customer",
                    "content_type": if kind == "sticker" { "image" } else { kind },
                    "content_text": null, "media_url": null, "media_status": "stored",
                    "template_name": null, "interactive_reply_id": null, "reply_to_message_id": null,
                    "status": "received", "created_at": at,
                }),
                "wacrm {kind}"
            );
            let got = testkit::send(&app, "GET", &path_of(url.as_str().unwrap()), &[], None).await;
            assert_eq!((got.status, &got.raw), (200, &files[i]), "wacrm {kind}");
            assert_eq!(got.header("content-type"), Some(mime));

            let mut km = find(&k.body["data"], m.id.render(EntityKind::Message, Spelling::Kirim));
            let link = km["media"]["link"].take();
            assert_eq!(
                km,
                serde_json::json!({
                    "id": m.id.render(EntityKind::Message, Spelling::Kirim), "object": "message",
                    "conversation_id": conversation.render(EntityKind::Conversation, Spelling::Kirim),
                    "direction": "inbound", "type": kind, "status": "received",
                    "wamid": format!("wamid.{i}"), "text": null,
                    "media": {"id": format!("M{i}"), "mime_type": mime, "link": null, "filename": filename,
                              "status": "stored"},
                    "template": null, "context_message_id": null, "error": null,
                    "created_at": at, "updated_at": km["updated_at"],
                }),
                "kirim {kind}"
            );
            let got = testkit::send(&app, "GET", &path_of(link.as_str().unwrap()), &[], None).await;
            assert_eq!((got.status, &got.raw), (200, &files[i]), "kirim {kind}");

            let mut em = find(
                &e.body["data"]["data"],
                m.id.render(EntityKind::Message, Spelling::Envelope),
            );
            let url = em["content"]["url"].take();
            let mut content = serde_json::json!({"url": null, "mimeType": mime, "status": "stored"});
            match kind {
                "document" => content["filename"] = serde_json::json!("statement.pdf"),
                "audio" => {}
                _ => content["caption"] = Value::Null,
            }
            assert_eq!(
                em,
                serde_json::json!({
                    "id": m.id.render(EntityKind::Message, Spelling::Envelope),
                    "waMessageId": format!("wamid.{i}"),
                    "conversationId": conversation.render(EntityKind::Conversation, Spelling::Envelope),
                    "direction": "inbound", "type": kind, "content": content, "status": "received",
                    "timestamp": at, "senderId": null,
                }),
                "envelope {kind}"
            );
            let got = testkit::send(&app, "GET", &path_of(url.as_str().unwrap()), &[], None).await;
            assert_eq!((got.status, &got.raw), (200, &files[i]), "envelope {kind}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
