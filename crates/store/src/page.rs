//! Keyset pages, shared by every list (conversations, contacts, messages): reading the cursor a
//! client sent back, and cutting the extra row read to know whether another page exists.

use rosetta_core::*;

pub fn decode_cursor(cursors: &CursorCodec, fingerprint: &str, cursor: Option<&str>) -> Result<Option<KeysetPosition>> {
    cursor
        .map(|text| cursors.decode(fingerprint, text))
        .transpose()
        .map_err(Error::InvalidCursor)
}

/// Cuts the extra row read to learn whether another page exists, and makes the next cursor.
pub fn finish_keyset<R>(
    mut rows: Vec<R>,
    limit: i64,
    cursor_of: impl Fn(&R) -> Result<String>,
) -> Result<(Vec<R>, Option<String>, bool)> {
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if has_more {
        rows.last().map(cursor_of).transpose()?
    } else {
        None
    };
    Ok((rows, next, has_more))
}
