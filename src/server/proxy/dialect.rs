//! The two API dialects callers speak, and errors in each: Anthropic's `{"type":"error","error":{...}}`
//! and OpenAI's `{"error":{"message","type","code"}}`, with the HTTP status that goes with them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Anthropic,
    OpenAi,
}

/// Everything the proxy can refuse a call for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyError {
    /// 400: the request cannot be read or is missing something.
    BadRequest(String),
    /// 401: no key, unknown, disabled or expired key.
    Unauthenticated(String),
    /// 402: balance <= 0, funds reserved by running calls, or the key's spending cap reached.
    PaymentRequired(crate::server::domain::charge::Refusal),
    /// 403: the key may not use this model.
    Forbidden(String),
    /// 404: the model is not offered (no price).
    UnknownModel(String),
    /// 404: no such thing for this caller (a response id that is not theirs, or not there).
    NotFound(String),
    /// 413: the request is larger than the API accepts.
    TooLarge(String),
    /// 429: over the account's requests-per-minute tier.
    RateLimited { message: String, retry_after_secs: u64 },
    /// 502/503/504: the upstream failed before answering.
    Upstream { status: u16, message: String },
    /// 503: Gatehouse's database cannot be reached and nothing recent stands in for it.
    Unavailable { retry_after_secs: u64 },
    /// 500: our fault; details are in the log.
    Internal,
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::PaymentRequired(_) => StatusCode::PAYMENT_REQUIRED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::UnknownModel(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Upstream { status, .. } => StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY),
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> std::borrow::Cow<'_, str> {
        let m = match self {
            Self::PaymentRequired(refusal) => return refusal.message().into(),
            Self::BadRequest(m)
            | Self::Unauthenticated(m)
            | Self::Forbidden(m)
            | Self::UnknownModel(m)
            | Self::NotFound(m)
            | Self::TooLarge(m)
            | Self::RateLimited { message: m, .. }
            | Self::Upstream { message: m, .. } => m,
            Self::Unavailable { .. } => {
                "Gatehouse cannot reach its database for a moment. You were not charged; please retry shortly."
            }
            Self::Internal => "Something went wrong inside Gatehouse; please retry.",
        };
        m.into()
    }

    fn anthropic_type(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "invalid_request_error",
            Self::Unauthenticated(_) => "authentication_error",
            Self::PaymentRequired(_) => "billing_error",
            Self::Forbidden(_) => "permission_error",
            Self::UnknownModel(_) | Self::NotFound(_) => "not_found_error",
            Self::TooLarge(_) => "request_too_large",
            Self::RateLimited { .. } => "rate_limit_error",
            Self::Upstream { status: 529 | 503, .. } | Self::Unavailable { .. } => "overloaded_error",
            Self::Upstream { .. } | Self::Internal => "api_error",
        }
    }

    fn openai_type_and_code(&self) -> (&'static str, &'static str) {
        match self {
            Self::BadRequest(_) => ("invalid_request_error", "invalid_request"),
            Self::Unauthenticated(_) => ("invalid_request_error", "invalid_api_key"),
            Self::PaymentRequired(_) => ("insufficient_quota", "insufficient_quota"),
            Self::Forbidden(_) => ("invalid_request_error", "model_not_allowed"),
            Self::UnknownModel(_) => ("invalid_request_error", "model_not_found"),
            Self::NotFound(_) => ("invalid_request_error", "not_found"),
            Self::TooLarge(_) => ("invalid_request_error", "request_too_large"),
            Self::RateLimited { .. } => ("rate_limit_exceeded", "rate_limit_exceeded"),
            Self::Upstream { .. } => ("api_error", "upstream_error"),
            Self::Unavailable { .. } => ("api_error", "service_unavailable"),
            Self::Internal => ("api_error", "internal_error"),
        }
    }

    pub fn body(&self, dialect: Dialect) -> serde_json::Value {
        match dialect {
            Dialect::Anthropic => serde_json::json!({
                "type": "error",
                "error": { "type": self.anthropic_type(), "message": self.message() }
            }),
            Dialect::OpenAi => {
                let (kind, code) = self.openai_type_and_code();
                serde_json::json!({ "error": { "message": self.message(), "type": kind, "param": null, "code": code } })
            }
        }
    }

    pub fn into_response(self, dialect: Dialect) -> Response {
        let mut response = (self.status(), axum::Json(self.body(dialect))).into_response();
        if let Self::RateLimited { retry_after_secs, .. } | Self::Unavailable { retry_after_secs } = &self {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_speak_the_callers_dialect() {
        let balance = crate::server::domain::money::Money::ZERO;
        let e = ProxyError::PaymentRequired(crate::server::domain::charge::Refusal::BalanceNotPositive { balance });
        assert_eq!(e.status(), StatusCode::PAYMENT_REQUIRED);
        let a = e.body(Dialect::Anthropic);
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "billing_error");
        let o = e.body(Dialect::OpenAi);
        assert_eq!(o["error"]["code"], "insufficient_quota");
        let message = o["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("Your balance is $0.00. API access is blocked"), "{message}");
        assert_eq!(ProxyError::UnknownModel("x".into()).body(Dialect::Anthropic)["error"]["type"], "not_found_error");
    }
}
