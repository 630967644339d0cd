//! The Billing pages' CSV files: `GET /billing/bills.csv` (the bills matching the Bills page's filters) and
//! `GET /billing/usage.csv` (the Usage page's sums per day, channel, model and key).

use crate::i18n::{td_string, Locale};
use crate::server::auth::session::Session;
use crate::server::http::language;
use crate::server::state::AppState;
use crate::server::{billing_view, usage_view};
use crate::shared::billing::BillQuery;
use crate::shared::error::AppError;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
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

/// A CSV download, or a plain error in `locale` (the files themselves are English: programs read them).
pub fn csv_file(made: Result<String, AppError>, name: &'static str, locale: Locale) -> Response {
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
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, td_string!(locale, errors.internal)).into_response(),
    }
}

pub async fn bills(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(query): Query<BillQuery>,
    headers: HeaderMap,
) -> Response {
    let locale = language::of_request(&headers);
    let user_id = match signed_in(&session, "/billing/bills").await {
        Ok(id) => id,
        Err(response) => return response,
    };
    let filter = match billing_view::filter_of(&query, locale) {
        Ok(f) => f,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    csv_file(
        billing_view::bills_csv(&state, user_id, &filter).await,
        "attachment; filename=\"gatehouse-bills.csv\"",
        locale,
    )
}

pub async fn usage(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
) -> Response {
    let user_id = match signed_in(&session, "/billing/usage").await {
        Ok(id) => id,
        Err(response) => return response,
    };
    csv_file(
        usage_view::usage_csv(&state, user_id).await,
        "attachment; filename=\"gatehouse-usage.csv\"",
        language::of_request(&headers),
    )
}
