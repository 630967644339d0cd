//! `POST /webhooks/stripe`: Stripe's signed events. 400 for a bad signature or payload (nothing is
//! credited), 200 once handled (duplicates included), 500 when the database failed so Stripe retries.

use crate::server::payments::stripe::{self, WebhookOutcome};
use crate::server::payments::topup_flow;
use crate::server::state::AppState;
use crate::server::time::now_ms;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = topup_flow::signing_secret(&state) else {
        return (StatusCode::NOT_FOUND, "Payments are not set up on this server.").into_response();
    };
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    match stripe::handle_webhook(&state.db, secret, &body, signature, now_ms()).await {
        Ok(outcome) => {
            if let WebhookOutcome::Credited { user_id } = outcome {
                // The new tier applies to the next API call.
                state.gateway.money_moved(user_id);
            }
            (StatusCode::OK, axum::Json(serde_json::json!({ "received": true, "outcome": format!("{outcome:?}") })))
                .into_response()
        }
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if status.is_server_error() {
                tracing::error!(error = %e, "stripe webhook failed");
                (status, "The event could not be recorded; it will be retried.").into_response()
            } else {
                tracing::warn!(error = %e, "stripe webhook refused");
                (status, e.to_string()).into_response()
            }
        }
    }
}
