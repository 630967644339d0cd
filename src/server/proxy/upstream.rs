//! Where calls go: the built-in mock, or configured Anthropic and OpenAI(-compatible) providers, with
//! connect/read timeouts, model routing, and failover on connect errors, 429 and 5xx before any byte
//! reached the caller. Every attempt is counted for its provider (`metrics::upstreams`): its latency to
//! an answer, or how it failed, and the failovers; a stream that breaks later is counted by its guard.

use super::dialect::Dialect;
use super::mock;
use super::upstream_guard::{self, Cut, Watch};
use crate::server::metrics::provider_health::ProviderHealth;
use crate::server::metrics::upstreams::{ErrorKind, UpstreamStats};
use crate::server::provider_config::{ProviderApi, ProviderSpec};
use crate::server::time::now_ms;
use axum::body::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::Value;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, UpstreamError>> + Send>>;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream could not be reached: {0}")]
    Unreachable(String),
    #[error("the upstream answered {status}")]
    Status { status: u16, body: String },
    #[error("the upstream connection broke: {0}")]
    Broken(String),
    #[error("no configured provider serves this model")]
    NoRoute,
}

impl UpstreamError {
    /// Worth another attempt: nothing reached the caller and the failure may be passing.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unreachable(_) => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Broken(_) | Self::NoRoute => false,
        }
    }

    /// The error with the start of the provider's own answer, for the operators' console.
    fn detail(&self) -> String {
        match self {
            Self::Status { status, body } if !body.trim().is_empty() => {
                format!("the upstream answered {status}: {}", body.trim().chars().take(200).collect::<String>())
            }
            other => other.to_string(),
        }
    }

    /// How the provider failed, as the metrics count it (`None`: no provider was asked).
    fn kind(&self) -> Option<ErrorKind> {
        match self {
            Self::Unreachable(_) => Some(ErrorKind::Unreachable),
            Self::Status { status: 429, .. } => Some(ErrorKind::RateLimited),
            Self::Status { status, .. } if *status >= 500 => Some(ErrorKind::ServerError),
            Self::Status { .. } => Some(ErrorKind::Refused),
            Self::Broken(_) => Some(ErrorKind::BrokenAnswer),
            Self::NoRoute => None,
        }
    }
}

pub enum UpstreamBody {
    /// A whole JSON answer, as the provider sent it (parsed only where something must be read from it).
    Json(Bytes),
    Stream(ByteStream),
}

/// A request body ready to send: its bytes (the caller's own when nothing had to change) and whether it
/// asks for a stream.
pub struct Outgoing {
    pub bytes: Bytes,
    pub stream: bool,
    /// The body's content type when it is not JSON (an image edit's `multipart/form-data` with its
    /// boundary), passed on as the caller sent it.
    pub form: Option<axum::http::HeaderValue>,
}

impl Outgoing {
    pub fn json(v: &Value) -> Self {
        Self { bytes: Bytes::from(v.to_string()), stream: v["stream"] == true, form: None }
    }

    /// A JSON body as it came.
    pub fn body(bytes: Bytes, stream: bool) -> Self {
        Self { bytes, stream, form: None }
    }
}

pub struct UpstreamResponse {
    pub body: UpstreamBody,
}

impl UpstreamResponse {
    pub fn json(v: Value) -> Self {
        Self { body: UpstreamBody::Json(Bytes::from(v.to_string())) }
    }

    pub fn stream(s: ByteStream) -> Self {
        Self { body: UpstreamBody::Stream(s) }
    }
}

/// Where one provider's calls go.
#[derive(Clone, Debug)]
pub enum Target {
    Mock,
    /// `base` is `base_url` parsed once (`None` if it does not parse: each call then reports it).
    Remote {
        base_url: String,
        base: Option<reqwest::Url>,
        api_key: Option<String>,
    },
}

/// `path` with the caller's query string, if it has one (passed on as it came).
pub fn with_query(path: String, query: Option<String>) -> String {
    match query.filter(|q| !q.is_empty()) {
        Some(q) => format!("{path}?{q}"),
        None => path,
    }
}

/// `base` with `path_and_query` appended to its path, without parsing a URL string on every call.
fn join(base: &reqwest::Url, path_and_query: &str) -> reqwest::Url {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let mut url = base.clone();
    let mut full = String::with_capacity(base.path().len() + path.len());
    full.push_str(base.path().trim_end_matches('/'));
    full.push_str(path);
    url.set_path(&full);
    url.set_query(query);
    url
}

/// One configured provider: its API dialect, where it is, and which models it serves.
#[derive(Clone, Debug)]
pub struct Provider {
    pub name: String,
    pub dialect: Dialect,
    pub target: Target,
    spec: ProviderSpec,
}

impl Provider {
    pub fn from_spec(spec: &ProviderSpec) -> Self {
        Self {
            name: spec.name.clone(),
            dialect: match spec.api {
                ProviderApi::Anthropic => Dialect::Anthropic,
                ProviderApi::OpenAi => Dialect::OpenAi,
            },
            target: match &spec.base_url {
                None => Target::Mock,
                Some(url) => Target::Remote {
                    base_url: url.clone(),
                    base: reqwest::Url::parse(url).ok(),
                    api_key: spec.api_key.as_ref().map(|k| k.expose().to_string()),
                },
            },
            spec: spec.clone(),
        }
    }

    pub fn serves(&self, dialect: Dialect, model: &str) -> bool {
        self.dialect == dialect && self.spec.serves(model)
    }
}

/// The configured providers, in the order calls try them.
#[derive(Clone, Debug)]
pub struct Upstreams {
    providers: Vec<Provider>,
    http: reqwest::Client,
    /// Pause between the built-in mock's stream pieces.
    mock_pace: Duration,
    /// The responses the built-in mock stored (its Responses API).
    mock_responses: std::sync::Arc<super::mock::responses::Store>,
    /// The chat completions and conversations the built-in mock stored.
    mock_stored: std::sync::Arc<super::mock::stored::Stored>,
    /// The longest a call's answer may take, start to end (`UPSTREAM_CALL_DEADLINE_SECS`).
    call_deadline: Duration,
    /// Ends every running stream at once (shutdown, once its grace ran out).
    cut: Cut,
    /// Each provider's attempts, errors, failovers and recent health, indexed like `providers`.
    stats: Arc<UpstreamStats>,
}

/// Headers passed through to Anthropic untouched (Claude Code sends several betas).
const ANTHROPIC_PASSTHROUGH: &[&str] = &["anthropic-version", "anthropic-beta", "x-stainless-helper-method"];

impl Upstreams {
    pub fn new(
        providers: &[ProviderSpec],
        connect_timeout: Duration,
        read_timeout: Duration,
        call_deadline: Duration,
        mock_pace: Duration,
    ) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            // An API provider answers; it does not redirect (and following would cost every call).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            providers: providers.iter().map(Provider::from_spec).collect(),
            http,
            mock_pace,
            mock_responses: std::sync::Arc::default(),
            mock_stored: std::sync::Arc::default(),
            call_deadline,
            cut: Cut::default(),
            stats: Arc::new(UpstreamStats::new(providers.iter().map(|p| p.name.clone()))),
        }
    }

    /// Each provider's counters (for `/metrics`).
    pub fn stats(&self) -> &UpstreamStats {
        &self.stats
    }

    /// Each provider's last five minutes, in configuration order (the operators' console).
    pub fn health(&self, now_ms: i64) -> Vec<ProviderHealth> {
        self.stats.health(now_ms)
    }

    /// Ends every running upstream stream now; each call settles what it carried (see `upstream_guard`).
    pub fn cut_streams(&self) {
        self.cut.now();
    }

    /// True when any call can be answered by the mock (the UI and `/v1/models` say so).
    pub fn uses_mock(&self) -> bool {
        self.providers.iter().any(|p| matches!(p.target, Target::Mock))
    }

    /// Some provider serves the model (checked on every call, so without collecting the route).
    pub fn serves(&self, dialect: Dialect, model: &str) -> bool {
        self.providers.iter().any(|p| p.serves(dialect, model))
    }

    /// The providers for a model in the order they are tried: the first, then its failovers.
    pub fn route(&self, dialect: Dialect, model: &str) -> Vec<&Provider> {
        self.providers.iter().filter(|p| p.serves(dialect, model)).collect()
    }

    /// POSTs a request body to `path` of the model's providers. A failure before any byte came back
    /// (unreachable, 429, 5xx) moves on to the next provider; with one provider, it is tried twice.
    pub async fn send(
        &self,
        dialect: Dialect,
        model: &str,
        path_and_query: &str,
        body: &Outgoing,
        headers: &axum::http::HeaderMap,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let route = self.route_of(dialect, Some(model));
        self.attempt(route, reqwest::Method::POST, path_and_query, Some(body), headers, false).await
    }

    /// Sends a request about something a provider keeps (a response, a conversation, a stored chat
    /// completion, made through Gatehouse) to the providers of `model`, or of `dialect` for what names no
    /// model (a conversation), the first configured one first (see [`Upstreams::send`]). A 404 moves on
    /// to the next provider too: the thing was made wherever its call landed, on another provider when the
    /// first one failed then. It is "not found" only when every provider answered so: when one failed
    /// instead, that failure is the answer (it may have the thing). With one provider, its 404 is the
    /// answer. A conversation is created through it too, so a provider without Conversations (404) is passed
    /// over.
    pub async fn request_kept(
        &self,
        method: reqwest::Method,
        (dialect, model): (Dialect, Option<&str>),
        path_and_query: &str,
        body: Option<&Outgoing>,
        headers: &axum::http::HeaderMap,
    ) -> Result<UpstreamResponse, UpstreamError> {
        self.attempt(self.route_of(dialect, model), method, path_and_query, body, headers, true).await
    }

    /// The providers serving `model` (or any of `dialect`'s, for `None`), each with its place in the
    /// configuration, which its counters are indexed by.
    fn route_of(&self, dialect: Dialect, model: Option<&str>) -> Vec<(usize, &Provider)> {
        let serves = |p: &Provider| match model {
            Some(m) => p.serves(dialect, m),
            None => p.dialect == dialect,
        };
        self.providers.iter().enumerate().filter(|(_, p)| serves(p)).collect()
    }

    /// Tries `route`'s providers in turn: a failure before any byte came back (unreachable, 429, 5xx)
    /// moves on to the next provider; with one provider, it is tried twice. For something a provider keeps
    /// (`kept`), a 404 moves on to the next provider as well (never to the same one again).
    async fn attempt(
        &self,
        route: Vec<(usize, &Provider)>,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&Outgoing>,
        headers: &axum::http::HeaderMap,
        kept: bool,
    ) -> Result<UpstreamResponse, UpstreamError> {
        if route.is_empty() {
            return Err(UpstreamError::NoRoute);
        }
        let attempts = route.len().max(2);
        let deadline = tokio::time::Instant::now() + self.call_deadline;
        let mut last = None;
        // Kept things on several providers: one that failed, and so may have what the others lack.
        let mut unsure = None;
        for attempt in 0..attempts {
            let (index, provider) = route[attempt % route.len()];
            if attempt >= route.len() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let asked = Instant::now();
            let sent = self.send_once(&method, provider, path_and_query, body, headers, deadline).await;
            match sent {
                Ok(UpstreamResponse { body: UpstreamBody::Stream(s) }) => {
                    self.stats.answered(index, asked.elapsed(), now_ms());
                    let watch = Watch { stats: Arc::clone(&self.stats), provider: index };
                    return Ok(UpstreamResponse::stream(upstream_guard::guard(s, deadline, &self.cut, Some(watch))));
                }
                Ok(r) => {
                    self.stats.answered(index, asked.elapsed(), now_ms());
                    return Ok(r);
                }
                Err(e) => {
                    let now = now_ms();
                    let not_here = kept && matches!(e, UpstreamError::Status { status: 404, .. });
                    if not_here && attempt + 1 < route.len() {
                        // An answer, not a failure of the provider's (its counters and last error stay).
                        self.stats.answered(index, asked.elapsed(), now);
                        tracing::debug!(provider = %provider.name, "not found on this provider; asking the next");
                        continue;
                    }
                    if let Some(kind) = e.kind() {
                        self.stats.failed(index, kind, &e.detail(), now);
                    }
                    if not_here {
                        // A provider that could not answer may have it: its failure is the answer, not "gone".
                        return Err(unsure.unwrap_or(e));
                    }
                    if !e.is_retryable() {
                        return Err(e);
                    }
                    if attempt + 1 < attempts {
                        self.stats.failed_over(index, now);
                    }
                    tracing::warn!(error = %e, provider = %provider.name, attempt, "upstream failed before answering; trying again");
                    if kept && route.len() > 1 {
                        unsure = Some(e.clone());
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(UpstreamError::NoRoute))
    }

    async fn send_once(
        &self,
        method: &reqwest::Method,
        provider: &Provider,
        path_and_query: &str,
        body: Option<&Outgoing>,
        headers: &axum::http::HeaderMap,
        deadline: tokio::time::Instant,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let dialect = provider.dialect;
        let (base_url, api_key) = match &provider.target {
            Target::Mock if path_and_query.starts_with("/v1/responses") => {
                let shape = mock::Shape::paced(self.mock_pace);
                let bytes = body.map(|b| &b.bytes[..]).unwrap_or_default();
                return super::mock::responses::handle(
                    method.as_str(),
                    path_and_query,
                    bytes,
                    shape,
                    &self.mock_responses,
                )
                .await;
            }
            // Conversations, and stored chat completions by id (or their list).
            Target::Mock
                if path_and_query.starts_with("/v1/conversations")
                    || path_and_query.starts_with("/v1/chat/completions/")
                    || (path_and_query.starts_with("/v1/chat/completions") && *method == reqwest::Method::GET) =>
            {
                let bytes = body.map(|b| &b.bytes[..]).unwrap_or_default();
                let stored = &self.mock_stored;
                return match path_and_query.starts_with("/v1/conversations") {
                    true => mock::stored::conversations(method.as_str(), path_and_query, bytes, stored),
                    false => mock::stored::completions(method.as_str(), path_and_query, bytes, stored),
                };
            }
            Target::Mock => {
                let request = match body {
                    Some(Outgoing { form: Some(form), bytes, .. }) => mock::form_request(form, bytes),
                    Some(b) => serde_json::from_slice::<Value>(&b.bytes).ok(),
                    None => None,
                };
                let Some(request) = request else {
                    return Err(UpstreamError::Status { status: 400, body: "mock upstream: not JSON".into() });
                };
                let shape = mock::Shape::paced(self.mock_pace);
                if path_and_query == "/v1/chat/completions" && request["store"] == true {
                    return mock::stored::create_completion(&request, shape, &self.mock_stored).await;
                }
                return match dialect {
                    Dialect::Anthropic => mock::anthropic(&request, mock::Shape::paced(self.mock_pace)).await,
                    Dialect::OpenAi => {
                        mock::openai_at(path_and_query, &request, mock::Shape::paced(self.mock_pace)).await
                    }
                };
            }
            Target::Remote { base_url, base, api_key } => (base.as_ref().ok_or(base_url), api_key.as_deref()),
        };
        let base =
            base_url.map_err(|url| UpstreamError::Unreachable(format!("the provider URL {url} is not a URL")))?;
        let mut req = self.http.request(method.clone(), join(base, path_and_query));
        if let Some(b) = body {
            req = match &b.form {
                Some(form) => req.header("content-type", form.clone()),
                None => req.header("content-type", "application/json"),
            };
            req = req.body(b.bytes.clone());
        }
        req = match dialect {
            Dialect::Anthropic => {
                let mut r = match api_key {
                    Some(k) => req.header("x-api-key", k),
                    None => req,
                };
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
            Dialect::OpenAi => match api_key {
                Some(k) => req.bearer_auth(k),
                None => req,
            },
        };
        let response = req.send().await.map_err(|e| UpstreamError::Unreachable(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let text = response.text().await.unwrap_or_default();
            return Err(UpstreamError::Status { status, body: text.chars().take(2000).collect() });
        }
        if body.is_some_and(|b| b.stream) {
            let stream =
                response.bytes_stream().map(|r| r.map_err(|e| UpstreamError::Broken(e.without_url().to_string())));
            Ok(UpstreamResponse::stream(Box::pin(stream)))
        } else {
            let bytes = upstream_guard::read_whole(response, deadline).await?;
            Ok(UpstreamResponse { body: UpstreamBody::Json(bytes) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joining_a_path_gives_the_url_the_string_would_parse_to() {
        for base in ["http://127.0.0.1:9100", "http://127.0.0.1:9100/", "https://api.example.com/anthropic/"] {
            for path in ["/v1/messages", "/v1/messages?beta=true", "/v1/chat/completions"] {
                let expected = reqwest::Url::parse(&format!("{}{path}", base.trim_end_matches('/'))).unwrap();
                assert_eq!(join(&reqwest::Url::parse(base).unwrap(), path), expected, "{base} + {path}");
            }
        }
    }
}
