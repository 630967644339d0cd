//! The admin console's CSV file: `GET /admin/codes.csv`, every redemption code (its last symbols, amount,
//! uses, expiry, note, state). Operators only: anyone else gets 404.

use crate::server::auth::session::Session;
use crate::server::auth::users;
use crate::server::http::billing_csv::csv_file;
use crate::server::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;

pub async fn codes(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    headers: axum::http::HeaderMap,
) -> Response {
    let operator = match session.user_id().await {
        Ok(Some(id)) => users::operator(&state.db, id, &state.settings.operators.admin_emails).await,
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    match operator {
        Ok(Some(_)) => csv_file(
            crate::server::admin_view::codes_csv(&state).await,
            "attachment; filename=\"gatehouse-redemption-codes.csv\"",
            crate::server::http::language::of_request(&headers),
        ),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "codes export: session lookup failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
