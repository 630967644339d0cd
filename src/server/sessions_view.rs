//! The signed-in browsers of an account, for its owner's sessions page and for the admin console.

use crate::server::auth::session;
use crate::server::state::AppState;
use crate::server::time::{format_utc, now_ms};
use crate::shared::dto::SessionRow;
use crate::shared::error::AppError;

/// `current`: the stored hash of the browser asking, which is marked as this browser.
pub async fn list(state: &AppState, user_id: i64, current: Option<&str>) -> Result<Vec<SessionRow>, AppError> {
    let rows = session::list(&state.db, user_id, current, now_ms()).await?;
    Ok(rows
        .into_iter()
        .map(|s| SessionRow {
            handle: s.handle,
            browser: s.browser,
            address: s.address,
            created: format_utc(s.created_at),
            last_seen: format_utc(s.last_seen_at),
            current: s.current,
        })
        .collect())
}
