//! Request ids: `x-request-id` from the client when sane (up to 128 letters, digits and `-_.:`), otherwise
//! a fresh one; echoed in the response, recorded on the request's tracing span and on the call's bill. An
//! insane one (too long, spaces, tabs, quotes) never reaches a log line or a row.

use axum::extract::Request as AxumRequest;
use axum::http::{HeaderValue, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::atomic::{AtomicU64, Ordering};
use tower_http::request_id::{MakeRequestId, RequestId};

#[derive(Clone)]
pub struct MakeId {
    prefix: u32,
    counter: std::sync::Arc<AtomicU64>,
}

impl Default for MakeId {
    fn default() -> Self {
        let mut bytes = [0u8; 4];
        let _ = getrandom::fill(&mut bytes);
        Self { prefix: u32::from_le_bytes(bytes), counter: Default::default() }
    }
}

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{:08x}-{n:x}", self.prefix)).ok().map(RequestId::new)
    }
}

/// The longest client request id kept.
const MAX_CLIENT_ID: usize = 128;

fn is_sane(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CLIENT_ID
        && id.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Runs before the request-id layer: a client's `x-request-id` that is not sane is dropped, so the request
/// gets a fresh one.
pub async fn drop_insane(mut request: AxumRequest, next: Next) -> Response {
    let headers = request.headers_mut();
    let mut given = headers.get_all("x-request-id").iter();
    let keep = match (given.next(), given.next()) {
        (Some(id), None) => is_sane(id.as_bytes()),
        (None, _) => true,
        (Some(_), Some(_)) => false,
    };
    if !keep {
        headers.remove("x-request-id");
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

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
