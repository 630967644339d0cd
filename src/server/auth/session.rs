//! Browser sessions: a 256-bit random cookie value whose SHA-256 is the row key in `sessions`.
//! 30-day sliding expiry, HttpOnly, SameSite=Lax, Secure over https. The id is replaced at every login.

use crate::server::db::Db;
use crate::server::secrets::{hash_token, random_token};
use crate::server::time::{now_ms, DAY_MS};
use crate::shared::error::AppError;
use axum::http::{header, HeaderMap, HeaderValue};
use sqlx::AnyConnection;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

pub const COOKIE_NAME: &str = "gh_session";
pub const SESSION_TTL_MS: i64 = 30 * DAY_MS;
/// The expiry slides forward at most once a day, so a busy browser does not write on every request.
const SLIDE_EVERY_MS: i64 = DAY_MS;
/// "Last seen" on the sessions page is kept to within this much (one write per browser at most this often).
const SEEN_EVERY_MS: i64 = 5 * 60 * 1000;
/// How many characters of a session's starting point are shown as its handle (never the whole hash).
const HANDLE_CHARS: usize = 16;

/// The session of one request. Cheap to clone; loaded from the database at most once.
#[derive(Clone)]
pub struct Session(Arc<Inner>);

struct Inner {
    db: Db,
    presented: Option<String>,
    loaded: OnceCell<Option<i64>>,
    cookie: Mutex<Option<CookieChange>>,
    secure: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum CookieChange {
    Set(String),
    Clear,
}

impl Session {
    pub fn from_headers(db: Db, headers: &HeaderMap, secure: bool) -> Self {
        Self(Arc::new(Inner {
            db,
            presented: cookie_value(headers, COOKIE_NAME),
            loaded: OnceCell::new(),
            cookie: Mutex::new(None),
            secure,
        }))
    }

    pub fn has_cookie(&self) -> bool {
        self.0.presented.is_some()
    }

    /// The signed-in user's id, if the cookie names a live session.
    pub async fn user_id(&self) -> Result<Option<i64>, sqlx::Error> {
        self.0.loaded.get_or_try_init(|| self.load()).await.copied()
    }

    /// The signed-in account: `Unauthorized` when nobody is signed in, `Internal` (logged) when the session
    /// cannot be read.
    pub async fn signed_in(&self) -> Result<i64, AppError> {
        match self.user_id().await {
            Ok(Some(id)) => Ok(id),
            Ok(None) => Err(AppError::Unauthorized),
            Err(e) => Err(crate::server::error::internal("session lookup", e)),
        }
    }

    async fn load(&self) -> Result<Option<i64>, sqlx::Error> {
        let Some(token) = &self.0.presented else {
            return Ok(None);
        };
        let id_hash = hash_token(token);
        let row: Option<(i64, i64, Option<i64>)> =
            sqlx::query_as("SELECT user_id, expires_at, last_seen_at FROM sessions WHERE id_hash = $1")
                .bind(&id_hash)
                .fetch_optional(self.0.db.pool())
                .await?;
        let now = now_ms();
        match row {
            None => {
                self.change_cookie(CookieChange::Clear);
                Ok(None)
            }
            Some((_, expires_at, _)) if expires_at <= now => {
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(&id_hash).execute(self.0.db.pool()).await?;
                self.change_cookie(CookieChange::Clear);
                Ok(None)
            }
            Some((user_id, expires_at, last_seen)) => {
                if expires_at - now < SESSION_TTL_MS - SLIDE_EVERY_MS {
                    sqlx::query("UPDATE sessions SET expires_at = $1, last_seen_at = $2 WHERE id_hash = $3")
                        .bind(now + SESSION_TTL_MS)
                        .bind(now)
                        .bind(&id_hash)
                        .execute(self.0.db.pool())
                        .await?;
                    self.change_cookie(CookieChange::Set(token.clone()));
                } else if last_seen.is_none_or(|seen| now - seen >= SEEN_EVERY_MS) {
                    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
                        .bind(now)
                        .bind(&id_hash)
                        .execute(self.0.db.pool())
                        .await?;
                }
                Ok(Some(user_id))
            }
        }
    }

    /// The hash of the session this request came with, to be replaced at login.
    pub fn presented_hash(&self) -> Option<String> {
        self.0.presented.as_deref().map(hash_token)
    }

    /// After a committed login: send the new session's cookie.
    pub fn logged_in(&self, new_token: String) {
        self.change_cookie(CookieChange::Set(new_token));
    }

    /// Deletes the server-side session and clears the cookie.
    pub async fn logout(&self) -> Result<(), sqlx::Error> {
        if let Some(id_hash) = self.presented_hash() {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(self.0.db.pool()).await?;
        }
        self.change_cookie(CookieChange::Clear);
        Ok(())
    }

    fn change_cookie(&self, change: CookieChange) {
        if let Ok(mut slot) = self.0.cookie.lock() {
            *slot = Some(change);
        }
    }

    /// The `Set-Cookie` value this request's response must carry, if any.
    pub fn set_cookie_header(&self) -> Option<HeaderValue> {
        let change = self.0.cookie.lock().ok()?.clone()?;
        match change {
            CookieChange::Set(token) => private_cookie(COOKIE_NAME, &token, SESSION_TTL_MS / 1000, self.0.secure),
            CookieChange::Clear => private_cookie(COOKIE_NAME, "", 0, self.0.secure),
        }
    }
}

/// A `Set-Cookie` value for a secret the page's scripts never read: whole site, HttpOnly, SameSite=Lax,
/// Secure over https. `max_age_secs` 0 clears it. `None` when `value` is not a valid header value.
pub fn private_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"))
        .ok()
}

/// Where a browser is: its address and `User-Agent`, kept with its session and named in login emails.
#[derive(Clone, Debug, Default)]
pub struct Browser {
    pub address: String,
    pub user_agent: String,
}

/// Creates a session for `user_id` inside the login transaction, deleting the one it replaces.
/// Returns the cookie value (the only place the raw id exists).
pub async fn create_in(
    conn: &mut AnyConnection,
    user_id: i64,
    now: i64,
    replaces: Option<&str>,
    browser: &Browser,
) -> Result<String, AppError> {
    if let Some(old) = replaces {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(old).execute(&mut *conn).await?;
    }
    let token = random_token().map_err(|e| crate::server::error::internal("no randomness for a session id", e))?;
    let user_agent: String = browser.user_agent.chars().filter(|c| !c.is_control()).take(512).collect();
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, created_at, expires_at, last_seen_at, client_ip, user_agent) \
         VALUES ($1, $2, $3, $4, $3, $5, $6)",
    )
    .bind(hash_token(&token))
    .bind(user_id)
    .bind(now)
    .bind(now + SESSION_TTL_MS)
    .bind(&browser.address)
    .bind(&user_agent)
    .execute(&mut *conn)
    .await?;
    Ok(token)
}

/// One of an account's signed-in browsers, for the sessions page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedInBrowser {
    /// The start of the session's stored hash: enough to name it, useless to sign in with.
    pub handle: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub address: String,
    /// Its `User-Agent` as it was sent (control characters dropped); pages name it with `user_agent`.
    pub user_agent: String,
    /// The browser asking.
    pub current: bool,
}

/// The account's live sessions, the most recently seen first.
pub async fn list(
    db: &Db,
    user_id: i64,
    current_hash: Option<&str>,
    now: i64,
) -> Result<Vec<SignedInBrowser>, sqlx::Error> {
    type Row = (String, i64, Option<i64>, Option<String>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id_hash, created_at, last_seen_at, client_ip, user_agent FROM sessions \
         WHERE user_id = $1 AND expires_at > $2 ORDER BY COALESCE(last_seen_at, created_at) DESC",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(hash, created_at, seen, address, ua)| SignedInBrowser {
            handle: hash.chars().take(HANDLE_CHARS).collect(),
            created_at,
            last_seen_at: seen.unwrap_or(created_at),
            address: address.unwrap_or_else(|| "unknown".into()),
            user_agent: ua.unwrap_or_default(),
            current: current_hash == Some(hash.as_str()),
        })
        .collect())
}

/// Signs out one of the account's browsers by its handle; false when the account has no such session.
pub async fn revoke(db: &Db, user_id: i64, handle: &str) -> Result<bool, sqlx::Error> {
    if handle.len() != HANDLE_CHARS || !handle.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(false);
    }
    let sql = format!("DELETE FROM sessions WHERE user_id = $1 AND SUBSTR(id_hash, 1, {HANDLE_CHARS}) = $2");
    let done = sqlx::query(&sql).bind(user_id).bind(handle).execute(db.pool()).await?;
    Ok(done.rows_affected() > 0)
}

/// Signs out every browser of the account but the one asking; returns how many.
pub async fn revoke_others(db: &Db, user_id: i64, current_hash: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
        .bind(user_id)
        .bind(current_hash)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

/// Removes sessions past their expiry (run now and then).
pub async fn delete_expired(db: &Db) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now_ms())
        .execute(db.pool())
        .await?
        .rows_affected())
}

pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty() && v.len() <= 128)
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; gh_session=abc; b=2"));
        assert_eq!(cookie_value(&h, COOKIE_NAME).as_deref(), Some("abc"));
        h.insert(header::COOKIE, HeaderValue::from_static("gh_session=; x=y"));
        assert_eq!(cookie_value(&h, COOKIE_NAME), None);
    }
}
