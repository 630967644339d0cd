//! Helpers for server functions: reach the state and session of the current request, and answer errors
//! with their HTTP status.

use crate::server::auth::session::Session;
use crate::server::auth::users::{self, User};
use crate::server::http::{client_ip, invite_ack_cookie};
use crate::server::state::AppState;
use crate::shared::error::AppError;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;

pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| crate::server::error::internal("server function", "AppState missing"))
}

fn parts() -> Result<Parts, AppError> {
    use_context::<Parts>().ok_or_else(|| crate::server::error::internal("server function", "request parts missing"))
}

pub fn session() -> Result<Session, AppError> {
    parts()?
        .extensions
        .get::<Session>()
        .cloned()
        .ok_or_else(|| crate::server::error::internal("server function", "session layer missing"))
}

/// The signed-in user, if any (a disabled account's browsers are signed out when it is disabled; one that
/// signed in while it happened counts as signed out).
pub async fn current_user(state: &AppState) -> Result<Option<User>, AppError> {
    match session()?.user_id().await? {
        Some(id) => Ok(users::find(&state.db, id).await?.filter(|u| u.disabled_at.is_none())),
        None => Ok(None),
    }
}

/// The signed-in operator. Everyone else, signed in or not, gets `NotFound`: the console does not say it
/// exists.
pub async fn require_operator(state: &AppState) -> Result<User, AppError> {
    let Some(id) = session()?.user_id().await? else { return Err(AppError::NotFound) };
    users::operator(&state.db, id, &state.settings.operators.admin_emails).await?.ok_or(AppError::NotFound)
}

/// The signed-in user, or `Unauthorized`.
pub async fn require_user(state: &AppState) -> Result<User, AppError> {
    current_user(state).await?.ok_or(AppError::Unauthorized)
}

/// The request's client network, what per-address limits count: its IPv4 address or IPv6 /64 (see
/// `http::client_ip`, which also says when `X-Forwarded-For` is believed).
pub fn client_network_of_request(state: &AppState) -> Result<String, AppError> {
    let parts = parts()?;
    Ok(client_ip::from_parts(&parts, &state.settings.trusted_proxies)
        .map(client_ip::network_of)
        .unwrap_or_else(|| "unknown".to_string()))
}

/// The browser asking: its client address (see `http::client_ip`) and `User-Agent`.
pub fn browser_of_request(state: &AppState) -> Result<crate::server::auth::session::Browser, AppError> {
    let parts = parts()?;
    let address = client_ip::from_parts(&parts, &state.settings.trusted_proxies)
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".to_string());
    Ok(crate::server::auth::session::Browser { address, user_agent: user_agent() })
}

/// The invitation acknowledgement token this browser holds (see `http::invite_ack_cookie`).
pub fn invite_ack_of_browser() -> Option<String> {
    parts().ok().and_then(|p| invite_ack_cookie::read(&p.headers))
}

/// Adds a `Set-Cookie` to the response.
pub fn set_cookie(value: HeaderValue) {
    if let Some(options) = use_context::<ResponseOptions>() {
        options.append_header(axum::http::header::SET_COOKIE, value);
    }
}

/// The request's `User-Agent`, or empty.
pub fn user_agent() -> String {
    parts()
        .ok()
        .and_then(|p| p.headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string))
        .unwrap_or_default()
}

/// Sets the response status (and `Retry-After`) from the error, then returns the result unchanged.
pub fn answer<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let (Err(e), Some(options)) = (&result, use_context::<ResponseOptions>()) {
        options.set_status(StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
        if let AppError::RateLimited { retry_after_secs, .. } = e {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                options.insert_header(axum::http::header::RETRY_AFTER, v);
            }
        }
    }
    result
}

/// Like [`answer`], but a browser's plain form submission (posted before the page hydrated) is redirected to
/// the page `back_to` names for the error, where the error is explained, instead of receiving error data.
pub fn answer_form(
    result: Result<(), AppError>,
    back_to: impl FnOnce(&AppError) -> Option<String>,
) -> Result<(), AppError> {
    if let Err(e) = &result {
        if is_plain_form_post() {
            if let Some(path) = back_to(e) {
                leptos_axum::redirect(&path);
                return Ok(());
            }
        }
    }
    answer(result)
}

/// True for a browser's plain form submission (no JavaScript), which wants a redirect, not data.
fn is_plain_form_post() -> bool {
    use_context::<Parts>()
        .and_then(|p| {
            p.headers.get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok()).map(|v| v.contains("text/html"))
        })
        .unwrap_or(false)
}

/// The language the request is answered in (see `http::language`): server functions write their messages
/// in it.
pub fn locale() -> crate::i18n::Locale {
    parts().map(|p| crate::server::http::language::of_request(&p.headers)).unwrap_or_default()
}
