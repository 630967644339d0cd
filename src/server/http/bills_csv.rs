//! `GET /billing/bills.csv`: the signed-in person's bills matching the Bills page's filters, as CSV.

use crate::server::auth::session::Session;
use crate::server::billing_view;
use crate::server::state::AppState;
use crate::shared::billing::BillQuery;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

pub async fn download(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(query): Query<BillQuery>,
) -> Response {
    let user_id = match session.user_id().await {
        Ok(Some(id)) => id,
        Ok(None) => return Redirect::to("/login?next=/billing/bills").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "session lookup failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let filter = match billing_view::filter_of(&query) {
        Ok(f) => f,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    match billing_view::bills_csv(&state, user_id, &filter).await {
        Ok(csv) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"gatehouse-bills.csv\""),
                (header::CACHE_CONTROL, "no-store"),
            ],
            csv,
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "The export failed; please try again.").into_response(),
    }
}
