//! OpenAI chat completions, on `/v1/chat/completions` and `/api/v1/ai/openai/{channel}/v1/chat/completions`.
//! OpenAI models pass through to the OpenAI upstream (`passthrough`).
//! Claude models are translated to the Messages API and back (`claude`). Chunks are read once (`chunk`); the
//! pass-through (`passthrough`) is shared with legacy text completions.

pub mod chunk;
pub mod claude;
pub mod passthrough;

use super::call::{self, Ask};
use super::dialect::Dialect;
use super::messages;
use super::metering::Reported;
use super::settlement_writer::CallGuard;
use super::sse;
use super::upstream::{Outgoing, UpstreamBody, UpstreamError};
use super::{CallBody, OnChannel, OpenAiBody, OpenAiChannel};
use crate::server::metrics::Surface;
use crate::server::state::AppState;
use crate::server::time::now_ms;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use std::borrow::Cow;
use std::time::Instant;

const D: Dialect = Dialect::OpenAi;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(call))
        .route("/api/v1/ai/openai/{channel}/v1/chat/completions", post(call))
}

/// A chat completion, counted for the metrics with whatever it was answered (a refused body included). It
/// cannot be cancelled halfway by a caller who disconnects (`call::uncancellable`): once admitted, it is
/// answered by the upstream, metered and settled (or its hold released) whatever the caller does.
async fn call(
    State(state): State<AppState>,
    OnChannel(channel): OpenAiChannel,
    headers: HeaderMap,
    body: Result<OpenAiBody, Response>,
) -> Response {
    let s = state.clone();
    let on = (Surface::ChatCompletions, D, channel);
    call::charged(&state, on, body.map(|CallBody(b)| b), |body, running| run(s, channel, headers, body, running)).await
}

/// The few fields of a chat completion request the proxy reads; everything else passes through unparsed.
#[derive(serde::Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default)]
    n: Option<u64>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<PeekStreamOptions>,
    /// `store: true` keeps the completion at OpenAI (its Store), with its `metadata`.
    #[serde(default)]
    store: Option<bool>,
    #[serde(default)]
    metadata: Option<Value>,
}

#[derive(serde::Deserialize)]
struct PeekStreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

async fn run(
    state: AppState,
    channel: &'static str,
    headers: HeaderMap,
    body: Bytes,
    (running, started): (CallGuard, Instant),
) -> Response {
    let key = match call::authenticate(&state, &headers).await {
        Ok(k) => k,
        Err(e) => return e.into_response(D),
    };
    let peek: Peek<'_> = match call::read_request(&body) {
        Ok(p) => p,
        Err(e) => return e.into_response(D),
    };
    let model = peek.model.as_deref().unwrap_or_default().to_string();
    let target = call::provider_dialect(&model);
    let mut max_tokens = peek.max_completion_tokens.or(peek.max_tokens);
    if target == Dialect::Anthropic {
        // A Claude model gets the translation's default when none is given.
        max_tokens = max_tokens.or(Some(messages::request::DEFAULT_MAX_TOKENS));
    }
    let streaming = peek.stream == Some(true);
    let include_usage = peek.stream_options.and_then(|o| o.include_usage) == Some(true);
    let stored = match (peek.store == Some(true), target) {
        (false, _) => None,
        (true, Dialect::Anthropic) => {
            return super::dialect::ProxyError::BadRequest(format!(
                "`store: true` keeps a completion in OpenAI's Store, offered for OpenAI models only; call `{model}` without `store`. You were not charged."
            ))
            .into_response(D)
        }
        (true, Dialect::OpenAi) => {
            match super::stored_completions::metadata_text(peek.metadata.as_ref().unwrap_or(&Value::Null)) {
                Ok(m) => Some(m),
                Err(e) => return e.into_response(D),
            }
        }
    };
    let ask = Ask {
        user_id: key.user_id,
        key: Some(key),
        channel,
        model,
        kind: crate::server::domain::pricing::ModelKind::Chat,
        max_tokens,
        choices: peek.n,
        prompts: 1,
        request_bytes: body.len(),
        web_searches: 0,
        image: None,
        request_id: call::request_id_of(&headers),
    };
    let admitted = match call::admit(&state, ask).await {
        Ok(a) => a,
        Err(e) => return e.into_response(D),
    };
    if target == Dialect::OpenAi {
        let route = passthrough::Route {
            surface: Surface::ChatCompletions,
            path: "/v1/chat/completions",
            streaming,
            include_usage,
            stored,
        };
        return passthrough::relay(state, admitted, (running, started), route, body, &headers).await;
    }
    // A Claude model: the request translated to the Messages API, the answer back.
    let outgoing = match serde_json::from_slice::<Value>(&body) {
        Ok(r) => Outgoing::json(&claude::request_to_anthropic(&r)),
        Err(e) => {
            call::release(&state, &admitted).await;
            return call::not_json(e).into_response(D);
        }
    };
    let target = (D, Dialect::Anthropic);
    let answer = match call::send_upstream(&state, &admitted, target, "/v1/messages", &outgoing, &headers).await {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    match answer {
        UpstreamBody::Json(answer) => {
            // Parsed whole, once.
            let Ok(v) = serde_json::from_slice::<Value>(&answer) else {
                tracing::warn!(model = %admitted.model, "upstream answered with something that is not JSON");
                call::release(&state, &admitted).await;
                return call::upstream_error(&UpstreamError::Broken("not JSON".into())).into_response(D);
            };
            let usage = messages::events::UsageReport::of(&v["usage"]).usage();
            call::settle_whole(&state, &admitted, usage, answer.len()).await;
            (StatusCode::OK, axum::Json(claude::response_to_openai(&v, now_ms() / 1000))).into_response()
        }
        UpstreamBody::Stream(upstream) => {
            let watch = call::StreamWatch::new(&state, Surface::ChatCompletions, started);
            let (relay, response) = call::open_stream(D, watch);
            let mut parser = sse::Parser::default();
            let mut translator = claude::StreamTranslator::new(now_ms() / 1000, include_usage);
            call::relay_stream(state, admitted, running, (upstream, relay), move |piece, meter| {
                let mut out: Vec<Bytes> = Vec::new();
                for ev in parser.push(&piece) {
                    if let Some(e) = messages::events::Event::parse(&ev.data) {
                        e.meter(meter);
                        out.extend(translator.on_event(&e));
                    }
                }
                out
            });
            response
        }
    }
}
