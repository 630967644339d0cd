//! Request ids: `x-request-id` from the client when sane (up to 128 letters, digits and `-_.:`), otherwise
//! a fresh one; echoed in the response, recorded on the request's tracing span and on the call's bill. An
//! insane one (too long, spaces, tabs, quotes) never reaches a log line or a row. Applied by `edge`.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The header a request's id travels in, both ways.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Fresh request ids: a random prefix per process and a counter (`1a2b3c4d-2f`).
#[derive(Clone)]
pub struct RequestIds {
    prefix: u32,
    counter: Arc<AtomicU64>,
}

impl Default for RequestIds {
    fn default() -> Self {
        let mut bytes = [0u8; 4];
        let _ = getrandom::fill(&mut bytes);
        Self { prefix: u32::from_le_bytes(bytes), counter: Default::default() }
    }
}

impl RequestIds {
    fn next(&self) -> Option<HeaderValue> {
        use std::io::Write;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        // At most 8 + 1 + 16 characters: written on the stack, copied once into the header value.
        let mut buf = std::io::Cursor::new([0u8; 32]);
        write!(buf, "{:08x}-{n:x}", self.prefix).ok()?;
        let len = usize::try_from(buf.position()).ok()?;
        HeaderValue::from_bytes(buf.get_ref().get(..len)?).ok()
    }
}

/// The longest client request id kept.
const MAX_CLIENT_ID: usize = 128;

fn is_sane(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CLIENT_ID
        && id.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Gives a request its id before anything else reads it: the client's `x-request-id` when it sent exactly
/// one and it is sane, otherwise a fresh one in its place. Returns the id, for the response.
pub fn settle(headers: &mut HeaderMap, ids: &RequestIds) -> Option<HeaderValue> {
    let mut given = headers.get_all(HEADER).iter();
    let kept = match (given.next(), given.next()) {
        (Some(id), None) if is_sane(id.as_bytes()) => Some(id.clone()),
        _ => None,
    };
    if let Some(id) = kept {
        return Some(id);
    }
    // What the client sent goes first, whatever happens next: it never reaches a log line or a row.
    headers.remove(HEADER);
    let fresh = ids.next()?;
    headers.insert(HEADER, fresh.clone());
    Some(fresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_are_distinct_and_replace_what_is_not_sane() {
        let ids = RequestIds::default();
        let (a, b) = (ids.next().unwrap(), ids.next().unwrap());
        assert_ne!(a, b);
        assert!(is_sane(a.as_bytes()) && a.len() >= 10, "{a:?}");
        let mut headers = HeaderMap::new();
        headers.append(HEADER, HeaderValue::from_static("one"));
        assert_eq!(settle(&mut headers, &ids).unwrap(), "one");
        headers.append(HEADER, HeaderValue::from_static("two"));
        let fresh = settle(&mut headers, &ids).unwrap();
        assert_eq!(headers.get_all(HEADER).iter().collect::<Vec<_>>(), vec![&fresh]);
        let mut none = HeaderMap::new();
        let fresh = settle(&mut none, &ids).unwrap();
        assert_eq!(none[HEADER], fresh);
    }

    #[test]
    fn client_ids_are_kept_only_when_short_and_plain() {
        for good in ["req_01HZX5", "6f1c2a9e-4b1d-4c7a-9d1e-2f3a4b5c6d7e", "trace:abc.123"] {
            assert!(is_sane(good.as_bytes()), "{good}");
        }
        let long = "a".repeat(129);
        for bad in ["", "a b", "a\tb", "a\"b", "<script>", "café", long.as_str()] {
            assert!(!is_sane(bad.as_bytes()), "{bad:?}");
        }
    }
}
