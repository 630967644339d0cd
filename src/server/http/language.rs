//! The language a request is answered in, and the switcher's links.
//!
//! A page is in the language of the `i18n_pref_locale` cookie, else the first of the browser's `Accept-Language` that Gatehouse speaks, else English. The header's
//! switcher links to `GET /lang/{zh|en|ja}?next=/where/you/were`, which sets the cookie, keeps the choice on
//! the signed-in account (its emails are written in it), and sends the browser back: it works before the
//! page hydrates and without JavaScript.

use crate::i18n::{td_string, I18nLocaleTrait, Locale};
use crate::server::auth::session::{cookie_value, Session};
use crate::server::auth::users;
use crate::server::state::AppState;
use crate::shared::next_path::safe_next;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use std::str::FromStr;

/// The chosen language's cookie (named as leptos_i18n names its own; only `/lang/..` writes it).
pub const COOKIE: &str = "i18n_pref_locale";
const ONE_YEAR_SECS: i64 = 365 * 24 * 3600;

/// The language named by the cookie, when it names one Gatehouse speaks.
pub fn chosen(headers: &HeaderMap) -> Option<Locale> {
    cookie_value(headers, COOKIE).and_then(|v| Locale::from_str(&v).ok())
}

/// The browser's preferred language among ours (`Accept-Language`, in the browser's order), if any.
pub fn accepted(headers: &HeaderMap) -> Option<Locale> {
    let header = headers.get(header::ACCEPT_LANGUAGE)?.to_str().ok()?;
    let mut ranked: Vec<(f32, &str)> = header
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let q =
                parts.find_map(|p| p.trim().strip_prefix("q=")).map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (!tag.is_empty() && tag != "*" && q > 0.0).then_some((q, tag))
        })
        .collect();
    // A stable sort keeps the browser's order among equal weights.
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked.into_iter().find_map(|(_, tag)| {
        let primary = tag.split(['-', '_']).next().unwrap_or(tag).to_ascii_lowercase();
        Locale::from_str(&primary).ok()
    })
}

/// The language of a request: the cookie's, else `Accept-Language`'s, else English.
pub fn of_request(headers: &HeaderMap) -> Locale {
    chosen(headers).or_else(|| accepted(headers)).unwrap_or_default()
}

/// The language to write to an account in: the language of the browser asking when it chose one, else the
/// account's own choice, else the browser's `Accept-Language`.
pub fn for_account(headers: &HeaderMap, account_choice: Option<&str>) -> Locale {
    chosen(headers)
        .or_else(|| account_choice.and_then(|c| Locale::from_str(c).ok()))
        .or_else(|| accepted(headers))
        .unwrap_or_default()
}

/// `Set-Cookie` for a chosen language (not a secret, and nothing else depends on it being HttpOnly).
pub fn cookie(locale: Locale, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={}; Path=/; SameSite=Lax; Max-Age={ONE_YEAR_SECS}{secure}",
        locale.as_str()
    ))
    .ok()
}

#[derive(serde::Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// `GET /lang/{locale}?next=PATH`: chooses the language and goes back to `PATH` (a path on this site).
pub async fn switch(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(locale): Path<String>,
    Query(next): Query<Next>,
) -> Response {
    let Ok(locale) = Locale::from_str(&locale) else {
        // 中文 / English / 日本語 are the languages there are; anything else is a page that does not exist.
        return (StatusCode::NOT_FOUND, td_string!(Locale::default(), errors.not_found)).into_response();
    };
    if let Ok(Some(user_id)) = session.user_id().await {
        if let Err(e) = users::set_locale(&state.db, user_id, locale.as_str()).await {
            // The page still switches; only the emails' language is not kept this time.
            tracing::warn!(error = %e, "could not keep the account's language");
        }
    }
    let to = safe_next(next.next.as_deref().unwrap_or("/"));
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
    if let Some(c) = cookie(locale, state.settings.cookies_secure()) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: Option<&str>, accept: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(c) = cookie {
            h.insert(header::COOKIE, HeaderValue::from_str(c).unwrap_or(HeaderValue::from_static("")));
        }
        if let Some(a) = accept {
            h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_str(a).unwrap_or(HeaderValue::from_static("")));
        }
        h
    }

    #[test]
    fn the_cookie_wins_then_the_browsers_languages_in_weight_order_then_english() {
        assert_eq!(of_request(&headers(Some("i18n_pref_locale=ja"), Some("zh-CN"))), Locale::ja);
        assert_eq!(of_request(&headers(None, Some("zh-CN,zh;q=0.9,en;q=0.8"))), Locale::zh);
        assert_eq!(of_request(&headers(None, Some("fr-FR,ja;q=0.5,en;q=0.7"))), Locale::en);
        assert_eq!(of_request(&headers(None, Some("fr-FR,de;q=0.9"))), Locale::en);
        assert_eq!(of_request(&headers(None, Some("zh-TW;q=0,ja"))), Locale::ja);
        assert_eq!(of_request(&headers(Some("i18n_pref_locale=xx"), None)), Locale::en);
        assert_eq!(of_request(&headers(None, None)), Locale::en);
    }

    #[test]
    fn an_account_is_written_to_in_the_browsers_choice_else_its_own() {
        assert_eq!(for_account(&headers(Some("i18n_pref_locale=zh"), None), Some("ja")), Locale::zh);
        assert_eq!(for_account(&headers(None, Some("en")), Some("ja")), Locale::ja);
        assert_eq!(for_account(&headers(None, Some("ja")), None), Locale::ja);
    }
}
