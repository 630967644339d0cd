//! The signed-in browsers of an account, for its owner's sessions page and for the admin console.

use crate::i18n::{td_string, Locale};
use crate::server::auth::{session, user_agent};
use crate::server::state::AppState;
use crate::server::time::{date_time_for, now_ms};
use crate::shared::dto::SessionRow;
use crate::shared::error::AppError;

/// `current`: the stored hash of the browser asking, which is marked as this browser. The browsers are
/// described in `locale`.
pub async fn list(
    state: &AppState,
    user_id: i64,
    current: Option<&str>,
    locale: Locale,
) -> Result<Vec<SessionRow>, AppError> {
    let rows = session::list(&state.db, user_id, current, now_ms()).await?;
    Ok(rows
        .into_iter()
        .map(|s| SessionRow {
            handle: s.handle,
            browser: user_agent::summary_in(&s.user_agent, locale),
            address: if s.address == "unknown" {
                td_string!(locale, sessions.unknown_address).to_string()
            } else {
                s.address
            },
            created: date_time_for(s.created_at, locale),
            last_seen: date_time_for(s.last_seen_at, locale),
            current: s.current,
        })
        .collect())
}
