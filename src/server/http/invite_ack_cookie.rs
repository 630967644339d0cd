//! The invitation acknowledgement of this browser. "I Understand" on `/i/CODE` puts the acknowledgement's
//! token in an HttpOnly cookie (never in a URL), and a login link carries the invitation only when the
//! browser asking for it holds that cookie: someone who acknowledged their own code cannot attach it to a
//! login link for another person's address from elsewhere, nor can a shared URL carry it.

use crate::server::auth::session::{cookie_value, private_cookie};
use axum::http::{HeaderMap, HeaderValue};

pub const NAME: &str = "gh_invite_ack";
/// As long as an acknowledgement is good for.
const MAX_AGE_SECS: i64 = crate::server::domain::referral::ACK_TTL_MS / 1000;

pub fn read(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, NAME).filter(|t| !t.is_empty())
}

pub fn set(token: &str, secure: bool) -> Option<HeaderValue> {
    private_cookie(NAME, token, MAX_AGE_SECS, secure)
}

pub fn clear(secure: bool) -> HeaderValue {
    private_cookie(NAME, "", 0, secure).unwrap_or(HeaderValue::from_static("gh_invite_ack=; Path=/; Max-Age=0"))
}
