//! Puts the request's `Session` in its extensions and writes the session cookie on the way out.

use crate::server::auth::session::Session;
use crate::server::state::AppState;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

pub async fn attach(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let session = Session::from_headers(state.db.clone(), request.headers(), state.settings.cookies_secure());
    // Load before rendering starts: a streamed page could otherwise miss the refreshed cookie.
    if session.has_cookie() && !is_static_asset(request.uri().path()) {
        if let Err(e) = session.user_id().await {
            tracing::error!(error = %e, "session lookup failed");
        }
    }
    request.extensions_mut().insert(session.clone());
    let mut response = next.run(request).await;
    if let Some(cookie) = session.set_cookie_header() {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn is_static_asset(path: &str) -> bool {
    path.starts_with("/pkg/") || path.rsplit('/').next().is_some_and(|last| last.contains('.'))
}
