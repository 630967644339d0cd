//! Cache headers for the site's files. The front end's files carry a hash of their content in their name
//! (cargo-leptos `hash-files`: `gatehouse.<22 base64url characters>.wasm`), so a browser may keep them for a
//! year without asking again: a new build has new names. Files without a hash (favicon) are revalidated
//! after an hour. Pages themselves are never cached: they show a person's account.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

const FOREVER: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const AN_HOUR: HeaderValue = HeaderValue::from_static("public, max-age=3600");
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");

pub async fn headers(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    if !matches!(response.status(), StatusCode::OK | StatusCode::NOT_MODIFIED) {
        return response;
    }
    let policy = if path.starts_with("/pkg/") {
        if content_hashed(&path) {
            FOREVER
        } else {
            REVALIDATE
        }
    } else if is_site_file(&path) {
        AN_HOUR
    } else {
        return response;
    };
    response.headers_mut().insert(header::CACHE_CONTROL, policy);
    response
}

/// True when a dot-separated part of the file name is a cargo-leptos content hash (an MD5 in unpadded
/// base64url: 22 characters).
fn content_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or("");
    name.split('.')
        .any(|part| part.len() == 22 && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

fn is_site_file(path: &str) -> bool {
    [".svg", ".ico", ".png", ".txt", ".webmanifest"].iter().any(|ext| path.ends_with(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_content_hashed_names_are_kept_forever() {
        assert!(content_hashed("/pkg/gatehouse.Fq3H9sPq0X2rN8b1y-4Z_w.wasm"));
        assert!(content_hashed("/pkg/gatehouse.Fq3H9sPq0X2rN8b1y-4Z_w.css"));
        assert!(!content_hashed("/pkg/gatehouse.wasm"));
        assert!(!content_hashed("/pkg/gatehouse_bg.wasm"));
        assert!(!content_hashed("/pkg/gatehouse.short.js"));
        assert!(is_site_file("/favicon.svg"));
        assert!(!is_site_file("/billing/bills"));
    }
}
