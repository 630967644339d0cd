//! OpenAI's legacy text completions, on `/v1/completions` and `/api/v1/ai/openai/{channel}/v1/completions`:
//! a completion model's call (`gpt-3.5-turbo-instruct`, `davinci-002`, …) passes through to the OpenAI
//! upstream as JSON or SSE, metered and settled like a chat completion (`chat_completions::passthrough`).

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
    Router::new().route("/v1/completions", post(call)).route("/api/v1/ai/openai/{channel}/v1/completions", post(call))
}

async fn call(
    State(state): State<AppState>,
    OnChannel(channel): OpenAiChannel,
    headers: HeaderMap,
    body: Result<OpenAiBody, Response>,
) -> Response {
    let s = state.clone();
    let on = (Surface::Completions, D, channel);
    call::charged(&state, on, body.map(|CallBody(b)| b), |body, running| run(s, channel, headers, body, running)).await
}

/// The fields of a legacy completion request the proxy reads.
#[derive(serde::Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    prompt: Option<serde_json::Value>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    n: Option<u64>,
    /// Candidates generated server-side for each prompt, `n` of them returned: all are billed.
    #[serde(default)]
    best_of: Option<u64>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(serde::Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// How many prompts a request's `prompt` holds: a string or a list of token ids is one; a list of strings
/// or of token lists is one each.
fn prompts_in(prompt: Option<&serde_json::Value>) -> u64 {
    match prompt {
        Some(serde_json::Value::Array(items)) if !items.iter().all(serde_json::Value::is_number) => {
            u64::try_from(items.len()).unwrap_or(u64::MAX).max(1)
        }
        _ => 1,
    }
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
    let streaming = peek.stream == Some(true);
    let include_usage = peek.stream_options.and_then(|o| o.include_usage) == Some(true);
    let ask = Ask {
        user_id: key.user_id,
        key: Some(key),
        channel,
        model: peek.model.as_deref().unwrap_or_default().to_string(),
        kind: ModelKind::Completion,
        // Without `max_tokens`, held for the model's most (an upstream's own default may be larger than
        // OpenAI's 16).
        max_tokens: peek.max_tokens,
        choices: Some(peek.best_of.unwrap_or(1).max(peek.n.unwrap_or(1))),
        prompts: prompts_in(peek.prompt.as_ref()),
        request_bytes: body.len(),
        web_searches: 0,
        image: None,
        request_id: call::request_id_of(&headers),
    };
    let admitted = match call::admit(&state, ask).await {
        Ok(a) => a,
        Err(e) => return e.into_response(D),
    };
    let route =
        Route { surface: Surface::Completions, path: "/v1/completions", streaming, include_usage, stored: None };
    passthrough::relay(state, admitted, running, route, body, &headers).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_prompt_of_a_list_counts() {
        assert_eq!(prompts_in(None), 1);
        assert_eq!(prompts_in(Some(&json!("Once"))), 1);
        assert_eq!(prompts_in(Some(&json!([1, 2, 3]))), 1, "token ids of one prompt");
        assert_eq!(prompts_in(Some(&json!(["a", "b", "c"]))), 3);
        assert_eq!(prompts_in(Some(&json!([[1, 2], [3]]))), 2);
        assert_eq!(prompts_in(Some(&json!([]))), 1);
    }
}
