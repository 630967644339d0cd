//! Stage 1 of a call: identify the key. The key presented in `Authorization: Bearer` or `x-api-key`, read
//! from the gateway's key cache (a busy key read again in the background before its entry expires), or
//! refused with 401 when missing, unknown, disabled or expired.

use super::failures::unavailable;
use crate::server::domain::keys::{self, ApiKey};
use crate::server::proxy::admission_book::OUTAGE_GRACE_MS;
use crate::server::proxy::dialect::ProxyError;
use crate::server::proxy::hot_cache::{Digest, ReadTicket};
use crate::server::secrets::{digest_hex, token_digest};
use crate::server::state::AppState;
use crate::server::time::now_ms;
use axum::http::{header, HeaderMap};
use std::sync::Arc;
use tracing::Instrument;

/// The key presented in `Authorization: Bearer` or `x-api-key`.
pub fn presented_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
        })
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The caller's key, refused with 401 when missing, unknown, disabled or expired. Keys come from the
/// in-memory cache when it has them (see `hot_cache`), so a call normally reads nothing here.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Arc<ApiKey>, ProxyError> {
    let secret = presented_key(headers).ok_or_else(|| {
        ProxyError::Unauthenticated("No API key: send it as `Authorization: Bearer sk-gh-...` or `x-api-key`.".into())
    })?;
    let digest = token_digest(&secret);
    let now = now_ms();
    let invalid = || ProxyError::Unauthenticated("Invalid API key.".into());
    let key = match state.gateway.keys.get(&digest, now) {
        Some(hit) => {
            if let Some(ticket) = hit.refresh {
                refresh_key(state.clone(), digest, ticket);
            }
            hit.key
        }
        // A secret found unknown a moment ago is refused without asking the database again.
        None if state.gateway.keys.known_missing(&digest, now) => return Err(invalid()),
        None => {
            let ticket = state.gateway.keys.ticket(&digest);
            // Reads on the call's path go through `hot_read`: while the database is away the call goes on
            // from what this instance read recently, or gets 503, instead of waiting for the pool.
            match state.db.hot_read(keys::by_hash(state.db.pool(), &digest_hex(&digest))).await {
                Ok(Some(k)) => state.gateway.keys.put(&digest, k, now, ticket),
                Ok(None) => {
                    state.gateway.keys.remember_missing(&digest, now, ticket);
                    return Err(invalid());
                }
                // The database is away: a key read within the outage grace still stands.
                Err(e) => match state.gateway.keys.recent(&digest, now, OUTAGE_GRACE_MS) {
                    Some(k) => k,
                    None => return Err(unavailable("key lookup", e)),
                },
            }
        }
    };
    if key.disabled {
        return Err(ProxyError::Unauthenticated("This API key is disabled.".into()));
    }
    if key.is_expired(now) {
        return Err(ProxyError::Unauthenticated("This API key has expired.".into()));
    }
    Ok(key)
}

/// A busy key's entry read again in the background before it expires (see `hot_cache`).
fn refresh_key(state: AppState, digest: Digest, ticket: ReadTicket) {
    tokio::spawn(
        async move {
            let read_at = now_ms();
            match keys::by_hash(state.db.pool(), &digest_hex(&digest)).await {
                Ok(Some(k)) => {
                    state.gateway.keys.put(&digest, k, read_at, ticket);
                }
                Ok(None) => state.gateway.keys.forget(&digest),
                Err(e) => {
                    state.gateway.keys.refresh_failed(&digest);
                    tracing::warn!(error = %e, "key refresh failed; the next call tries again");
                }
            }
        }
        .in_current_span(),
    );
}
