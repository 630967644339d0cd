//! OpenAI embeddings, on `/v1/embeddings` and `/api/v1/ai/openai/{channel}/v1/embeddings`: an embedding
//! model's call passes through to the OpenAI upstream as it came (`chat_completions::passthrough`, whole
//! JSON) and is billed its input tokens (the upstream's `usage.prompt_tokens`, or about a token per 3 bytes
//! of the request when it reports none). Nothing is written, so the hold is the input's worst case alone.

use super::call::{self, Ask};
use super::chat_completions::passthrough::{self, Route};
use super::dialect::Dialect;
use super::settlement_writer::CallGuard;
use super::{CallBody, OnChannel, OpenAiBody, OpenAiChannel};
use crate::server::domain::pricing::ModelKind;
use crate::server::metrics::Surface;
use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use std::borrow::Cow;
use std::time::Instant;

const D: Dialect = Dialect::OpenAi;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/embeddings", post(call)).route("/api/v1/ai/openai/{channel}/v1/embeddings", post(call))
}

async fn call(
    State(state): State<AppState>,
    OnChannel(channel): OpenAiChannel,
    headers: HeaderMap,
    body: Result<OpenAiBody, Response>,
) -> Response {
    let s = state.clone();
    let on = (Surface::Embeddings, D, channel);
    call::charged(&state, on, body.map(|CallBody(b)| b), |body, running| run(s, channel, headers, body, running)).await
}

#[derive(serde::Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    input: Option<serde::de::IgnoredAny>,
}

async fn run(
    state: AppState,
    channel: &'static str,
    headers: HeaderMap,
    body: Bytes,
    running: (CallGuard, Instant),
) -> Response {
    let key = match call::authenticate(&state, &headers).await {
        Ok(k) => k,
        Err(e) => return e.into_response(D),
    };
    let peek: Peek<'_> = match call::read_request(&body) {
        Ok(p) => p,
        Err(e) => return e.into_response(D),
    };
    if peek.input.is_none() {
        return super::dialect::ProxyError::BadRequest("`input` is required: the text (or texts) to embed.".into())
            .into_response(D);
    }
    let ask = Ask {
        user_id: key.user_id,
        key: Some(key),
        channel,
        model: peek.model.as_deref().unwrap_or_default().to_string(),
        kind: ModelKind::Embedding,
        max_tokens: None,
        choices: None,
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
    let route = Route {
        surface: Surface::Embeddings,
        path: "/v1/embeddings",
        streaming: false,
        include_usage: false,
        stored: None,
    };
    passthrough::relay(state, admitted, running, route, body, &headers).await
}
