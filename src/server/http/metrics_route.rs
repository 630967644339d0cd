//! `GET /metrics`: everything Gatehouse counts, in Prometheus' text format 0.0.4, for the operator's
//! Prometheus. Not served (404) unless `METRICS_TOKEN` is set; then only to `Authorization: Bearer <token>`
//! (401 with `WWW-Authenticate: Bearer` otherwise), the token compared in constant time.
//!
//! The gateway writes its own counters (calls, upstreams, settlements, holds); the mailer's login emails and
//! the referrals by status (read from the database now) are added here. A database that does not answer
//! leaves the referrals out rather than failing the scrape: metrics matter most when something is wrong.

use crate::server::metrics::{referrals, Exposition, Kind, CONTENT_TYPE};
use crate::server::secrets::token_digest;
use crate::server::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// How long the referral count may take before the scrape goes on without it.
const REFERRALS_WITHIN: Duration = Duration::from_secs(2);

pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = &state.settings.operators.metrics_token else {
        return (StatusCode::NOT_FOUND, "Not found").into_response();
    };
    if !bearer_matches(&headers, token.expose()) {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "Unauthorized").into_response();
    }
    let mut out = Exposition::default();
    state.gateway.render_metrics(&mut out);
    out.family(
        "gatehouse_login_emails_sent_total",
        Kind::Counter,
        "Login emails handed to the mail transport (the SMTP server, or the dev mailbox).",
    );
    out.count("gatehouse_login_emails_sent_total", &[], state.mailer.sent());
    out.family(
        "gatehouse_login_emails_failed_total",
        Kind::Counter,
        "Login emails that could not be sent (the address or message was refused, or SMTP failed).",
    );
    out.count("gatehouse_login_emails_failed_total", &[], state.mailer.failed());
    // Bounded, so a database that does not answer cannot hold the scrape past Prometheus' own timeout (not
    // a hot read: a slow count here must not mark the database away for the API calls).
    match tokio::time::timeout(REFERRALS_WITHIN, referrals::by_status(state.db.pool())).await {
        Ok(Ok(counts)) => referrals::render(&mut out, &counts),
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: referrals could not be counted; left out of this scrape"),
        Err(_) => tracing::warn!("metrics: counting referrals took too long; left out of this scrape"),
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], out.finish()).into_response()
}

/// The request carries `Authorization: Bearer <expected>`. Both sides are hashed first, so the comparison
/// takes the same time whatever the token's length and however much of it matched.
fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
    else {
        return false;
    };
    let (given, expected) = (token_digest(given), token_digest(expected));
    given.iter().zip(expected.iter()).fold(0u8, |differ, (a, b)| differ | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_authorization(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn only_the_exact_bearer_token_is_let_in() {
        let token = "0123456789abcdef0123";
        assert!(bearer_matches(&with_authorization("Bearer 0123456789abcdef0123"), token));
        assert!(!bearer_matches(&with_authorization("Bearer 0123456789abcdef012"), token));
        assert!(!bearer_matches(&with_authorization("Bearer 0123456789abcdef01234"), token));
        assert!(!bearer_matches(&with_authorization("Basic 0123456789abcdef0123"), token));
        assert!(!bearer_matches(&with_authorization("0123456789abcdef0123"), token));
        assert!(!bearer_matches(&HeaderMap::new(), token));
    }
}
