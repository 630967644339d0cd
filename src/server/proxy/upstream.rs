//! Where calls go: the built-in mock, or configured Anthropic and OpenAI(-compatible) providers, with
//! connect/read timeouts and one retry on connect errors, 429 and 5xx before any byte reached the caller.

use super::dialect::Dialect;
use super::mock;
use axum::body::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::Value;
use std::pin::Pin;
use std::time::Duration;

pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, UpstreamError>> + Send>>;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream could not be reached: {0}")]
    Unreachable(String),
    #[error("the upstream answered {status}")]
    Status { status: u16, body: String },
    #[error("the upstream connection broke: {0}")]
    Broken(String),
}

impl UpstreamError {
    /// Worth another attempt: nothing reached the caller and the failure may be passing.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unreachable(_) => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Broken(_) => false,
        }
    }
}

pub enum UpstreamBody {
    Json(Value),
    Stream(ByteStream),
}

pub struct UpstreamResponse {
    pub body: UpstreamBody,
}

impl UpstreamResponse {
    pub fn json(v: Value) -> Self {
        Self { body: UpstreamBody::Json(v) }
    }

    pub fn stream(s: ByteStream) -> Self {
        Self { body: UpstreamBody::Stream(s) }
    }
}

/// One configured provider.
#[derive(Clone, Debug)]
pub enum Provider {
    Mock,
    Remote { dialect: Dialect, base_url: String, api_key: String },
}

/// The providers for each dialect.
#[derive(Clone, Debug)]
pub struct Upstreams {
    pub anthropic: Provider,
    pub openai: Provider,
    http: reqwest::Client,
}

/// Headers passed through to Anthropic untouched (Claude Code sends several betas).
const ANTHROPIC_PASSTHROUGH: &[&str] = &["anthropic-version", "anthropic-beta", "x-stainless-helper-method"];

impl Upstreams {
    pub fn new(anthropic: Provider, openai: Provider, connect_timeout: Duration, read_timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .unwrap_or_default();
        Self { anthropic, openai, http }
    }

    /// True when a dialect is answered by the mock (the UI and `/v1/models` say so).
    pub fn uses_mock(&self) -> bool {
        matches!(self.anthropic, Provider::Mock) || matches!(self.openai, Provider::Mock)
    }

    pub fn provider(&self, dialect: Dialect) -> &Provider {
        match dialect {
            Dialect::Anthropic => &self.anthropic,
            Dialect::OpenAi => &self.openai,
        }
    }

    /// Sends a request body to `path` of the dialect's provider; retries once when that is safe.
    pub async fn send(
        &self,
        dialect: Dialect,
        path_and_query: &str,
        body: &Value,
        raw: Option<&Bytes>,
        headers: &axum::http::HeaderMap,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let mut last = None;
        for attempt in 0..2 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            match self.send_once(dialect, path_and_query, body, raw, headers).await {
                Ok(r) => return Ok(r),
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, attempt, "upstream failed before answering; retrying");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| UpstreamError::Unreachable("no attempt made".into())))
    }

    async fn send_once(
        &self,
        dialect: Dialect,
        path_and_query: &str,
        body: &Value,
        raw: Option<&Bytes>,
        headers: &axum::http::HeaderMap,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let (base_url, api_key) = match self.provider(dialect) {
            Provider::Mock => {
                return match dialect {
                    Dialect::Anthropic => mock::anthropic(body).await,
                    Dialect::OpenAi => mock::openai(body).await,
                }
            }
            Provider::Remote { base_url, api_key, .. } => (base_url, api_key),
        };
        let url = format!("{}{path_and_query}", base_url.trim_end_matches('/'));
        let mut req = self.http.post(url).header("content-type", "application/json");
        req = match dialect {
            Dialect::Anthropic => {
                let mut r = req.header("x-api-key", api_key);
                for name in ANTHROPIC_PASSTHROUGH {
                    if let Some(v) = headers.get(*name) {
                        r = r.header(*name, v.clone());
                    }
                }
                if headers.get("anthropic-version").is_none() {
                    r = r.header("anthropic-version", "2023-06-01");
                }
                r
            }
            Dialect::OpenAi => req.bearer_auth(api_key),
        };
        let payload = match raw {
            Some(bytes) => bytes.clone(),
            None => Bytes::from(body.to_string()),
        };
        let response =
            req.body(payload).send().await.map_err(|e| UpstreamError::Unreachable(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let text = response.text().await.unwrap_or_default();
            return Err(UpstreamError::Status { status, body: text.chars().take(2000).collect() });
        }
        if body["stream"] == true {
            let stream =
                response.bytes_stream().map(|r| r.map_err(|e| UpstreamError::Broken(e.without_url().to_string())));
            Ok(UpstreamResponse::stream(Box::pin(stream)))
        } else {
            let v: Value = response.json().await.map_err(|e| UpstreamError::Broken(e.without_url().to_string()))?;
            Ok(UpstreamResponse::json(v))
        }
    }
}
