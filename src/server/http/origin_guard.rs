//! Refuses state-changing browser requests from other origins (CSRF), server functions included.
//! A POST/PUT/PATCH/DELETE must carry an `Origin` (or `Referer`) equal to the public origin or to the
//! host it was sent to. API routes authenticated by key, not cookie, are exempt.

use crate::server::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Paths whose callers authenticate with an API key or a signature, never with the session cookie.
const KEY_AUTH_PREFIXES: &[&str] = &["/v1/", "/api/v1/", "/webhooks/"];

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if is_safe_method(request.method()) || KEY_AUTH_PREFIXES.iter().any(|p| request.uri().path().starts_with(p)) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let claimed = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|v| *v != "null")
        .map(str::to_string)
        .or_else(|| headers.get(header::REFERER).and_then(|v| v.to_str().ok()).and_then(origin_of));
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if claimed.as_deref().is_some_and(|origin| same_site(origin, &state.public_base_url, host)) {
        return next.run(request).await;
    }
    tracing::warn!(origin = ?claimed, path = %request.uri().path(), "cross-origin request refused");
    (StatusCode::FORBIDDEN, "Cross-origin request refused: this form must be sent from Gatehouse's own pages.")
        .into_response()
}

fn is_safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    Some(u.origin().ascii_serialization())
}

fn same_site(origin: &str, public_base_url: &str, host: Option<&str>) -> bool {
    let origin = origin.trim_end_matches('/');
    if origin.eq_ignore_ascii_case(public_base_url.trim_end_matches('/')) {
        return true;
    }
    let Some(host) = host else { return false };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|o| o.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_origin_and_the_requested_host_are_same_site() {
        assert!(same_site("https://gh.example.com", "https://gh.example.com", None));
        assert!(same_site("http://127.0.0.1:3000", "http://localhost:3000", Some("127.0.0.1:3000")));
    }

    #[test]
    fn other_origins_are_not() {
        assert!(!same_site("https://evil.example", "https://gh.example.com", Some("gh.example.com")));
        assert!(!same_site("https://gh.example.com.evil.example", "https://gh.example.com", Some("gh.example.com")));
        assert!(!same_site("http://127.0.0.1:3001", "http://127.0.0.1:3000", Some("127.0.0.1:3000")));
    }

    #[test]
    fn a_referer_gives_its_origin() {
        assert_eq!(origin_of("https://gh.example.com/login?x=1").as_deref(), Some("https://gh.example.com"));
        assert_eq!(origin_of("not a url"), None);
    }
}
