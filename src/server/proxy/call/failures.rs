//! How a call's failures reach the caller: our own (logged, 500), the database away (503, retry shortly),
//! an unreadable body (400) and an upstream that failed before answering (its status, or 502/503).

use crate::server::proxy::dialect::ProxyError;
use crate::server::proxy::upstream::UpstreamError;

pub fn internal(context: &'static str, e: impl std::fmt::Display) -> ProxyError {
    tracing::error!(error = %e, "{context}");
    ProxyError::Internal
}

/// The database cannot be reached and nothing recent stands in: 503, retry shortly.
pub fn unavailable(context: &'static str, e: impl std::fmt::Display) -> ProxyError {
    tracing::warn!(error = %e, "{context}: database unavailable");
    ProxyError::Unavailable { retry_after_secs: 5 }
}

pub fn not_json(e: serde_json::Error) -> ProxyError {
    ProxyError::BadRequest(format!("The request body is not valid JSON: {e}"))
}

pub fn upstream_error(e: &UpstreamError) -> ProxyError {
    match e {
        UpstreamError::Status { status: 429, .. } => ProxyError::Upstream {
            status: 503,
            message: "The upstream provider is rate limiting us; please retry shortly. You were not charged.".into(),
        },
        UpstreamError::Status { status, .. } if *status >= 400 && *status < 500 => ProxyError::Upstream {
            status: *status,
            message: format!("The upstream provider refused the request ({status}). You were not charged."),
        },
        _ => ProxyError::Upstream {
            status: 502,
            message: "The upstream provider failed before answering. You were not charged; please retry.".into(),
        },
    }
}
