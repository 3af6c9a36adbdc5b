//! The one rule for the file URL a message shows, in every dialect: a received file that Rosetta
//! keeps is a signed, short-lived link to Rosetta's `/media/{token}` (absolute, from the request's
//! own scheme and host, `Forwarded`/`X-Forwarded-*` honoured); a file sent by link shows that link;
//! a file not yet fetched (or failed, or pruned) shows none, never a link that would not answer.

use actix_web::HttpRequest;
use rosetta_core::media::{MediaLinks, LINK_LIFETIME_SECS};
use rosetta_core::{MediaState, Message, Timestamp};

use crate::AppState;

/// The path media links are served under.
pub const MEDIA_PATH: &str = "/media";

/// Makes the file URLs of one response (cheap to clone, and `Send`, so a store call can use it).
#[derive(Debug, Clone)]
pub struct MediaUrls {
    base: String,
    links: MediaLinks,
    expires: i64,
}

impl MediaUrls {
    /// For a response to `req`: links to this host, good until the end of the half hour after
    /// this one (30 to 60 minutes, at most `LINK_LIFETIME_SECS`), so every response of one half hour
    /// carries the same links (what a conditional GET's tag names, `conditional::window`).
    pub fn for_request(req: &HttpRequest, state: &AppState) -> MediaUrls {
        let info = req.connection_info();
        let window = crate::conditional::WINDOW_SECS;
        MediaUrls {
            base: format!("{}://{}{MEDIA_PATH}/", info.scheme(), info.host()),
            links: state.media_links.clone(),
            expires: ((crate::conditional::window(Timestamp::now()) + 2) * window)
                .min(Timestamp::now().millis() / 1000 + LINK_LIFETIME_SECS),
        }
    }

    /// The URL `message`'s file shows.
    pub fn url(&self, message: &Message) -> Option<String> {
        match message.media {
            Some(MediaState::Stored) => Some(format!("{}{}", self.base, self.links.sign(message.id, self.expires))),
            Some(_) => None,
            None => message.body.media_url.clone(),
        }
    }
}
