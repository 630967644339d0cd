//! The Billing pages' CSV files: `GET /billing/bills.csv` (the bills matching the Bills page's filters) and
//! `GET /billing/usage.csv` (the Usage page's sums per day, channel, model and key).

use crate::server::auth::session::Session;
use crate::server::state::AppState;
use crate::server::{billing_view, usage_view};
use crate::shared::billing::BillQuery;
use crate::shared::error::AppError;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

/// The signed-in account, or the response for a visitor (to the login page, then back) or a failure.
async fn signed_in(session: &Session, back_to: &str) -> Result<i64, Response> {
    match session.signed_in().await {
        Ok(id) => Ok(id),
        Err(AppError::Unauthorized) => Err(Redirect::to(&format!("/login?next={back_to}")).into_response()),
        Err(_) => Err(StatusCode::INTERNAL_SERVER_ERROR.into_response()),
    }
}

/// A CSV download, or a plain error.
pub fn csv_file(made: Result<String, AppError>, name: &'static str) -> Response {
    match made {
        Ok(csv) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, name),
                (header::CACHE_CONTROL, "no-store"),
            ],
            csv,
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "The export failed; please try again.").into_response(),
    }
}

pub async fn bills(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(query): Query<BillQuery>,
) -> Response {
    let user_id = match signed_in(&session, "/billing/bills").await {
        Ok(id) => id,
        Err(response) => return response,
    };
    let filter = match billing_view::filter_of(&query) {
        Ok(f) => f,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    csv_file(billing_view::bills_csv(&state, user_id, &filter).await, "attachment; filename=\"gatehouse-bills.csv\"")
}

pub async fn usage(State(state): State<AppState>, Extension(session): Extension<Session>) -> Response {
    let user_id = match signed_in(&session, "/billing/usage").await {
        Ok(id) => id,
        Err(response) => return response,
    };
    csv_file(usage_view::usage_csv(&state, user_id).await, "attachment; filename=\"gatehouse-usage.csv\"")
}
