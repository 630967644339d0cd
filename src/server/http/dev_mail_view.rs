//! `GET /dev/mailbox/{id}`: one dev-mailbox message rendered as the recipient would see it (dev mode only;
//! the route does not exist in production).

use crate::i18n::td_string;
use crate::server::http::language;
use crate::server::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

pub async fn show(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<u64>) -> Response {
    match state.mailer.dev_mailbox().and_then(|m| m.get(id)) {
        Some(stored) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; img-src data:"),
            ],
            stored.email.html,
        )
            .into_response(),
        None => {
            let locale = language::of_request(&headers);
            (StatusCode::NOT_FOUND, td_string!(locale, mailbox.no_such_message)).into_response()
        }
    }
}
