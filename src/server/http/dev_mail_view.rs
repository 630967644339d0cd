//! `GET /dev/mailbox/{id}`: one dev-mailbox message rendered as the recipient would see it (dev mode only;
//! the route does not exist in production).

use crate::server::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

pub async fn show(State(state): State<AppState>, Path(id): Path<u64>) -> Response {
    match state.mailer.dev_mailbox().and_then(|m| m.get(id)) {
        Some(stored) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; img-src data:"),
            ],
            stored.email.html,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "No such message in the dev mailbox.").into_response(),
    }
}
