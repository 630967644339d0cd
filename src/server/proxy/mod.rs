//! The API proxy in the same process as the pages: Anthropic Messages, OpenAI chat completions and the
//! OpenAI Responses API (`responses`) on the plain channel (`/v1/...`) and on named channels
//! (`/api/v1/ai/{anthropic|openai}/{channel}/v1/...`), charged through the same ledger as everything else.
pub mod admission_book;
pub mod call;
pub mod dialect;
pub mod gateway;
pub mod hot_cache;
pub mod key_admin;
pub mod metering;
pub mod mock;
pub mod mock_responses;
pub mod mock_server;
pub mod rate_limit;
pub mod redis_client;
pub mod refusal_log;
pub mod response_owners;
pub mod responses;
pub mod settlement_writer;
pub mod sse;
pub mod translate;
pub mod upstream;

use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use dialect::{Dialect, ProxyError};
use serde_json::json;

/// Channels reachable by path besides the plain `/v1/...` one.
pub const NAMED_CHANNELS: &[&str] = &["cc-omg", "codex-omg"];

pub(crate) fn channel_of(name: &str) -> Option<&'static str> {
    NAMED_CHANNELS.iter().find(|c| **c == name).copied()
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/messages", post(plain_messages))
        .route("/v1/messages/count_tokens", post(plain_count_tokens))
        .route("/v1/chat/completions", post(plain_chat))
        .route("/v1/models", get(models))
        .route("/api/v1/ai/anthropic/{channel}/v1/messages", post(channel_messages))
        .route("/api/v1/ai/anthropic/{channel}/v1/messages/count_tokens", post(channel_count_tokens))
        .route("/api/v1/ai/anthropic/{channel}/v1/models", get(channel_models))
        .route("/api/v1/ai/openai/{channel}/v1/chat/completions", post(channel_chat))
        .route("/api/v1/ai/openai/{channel}/v1/models", get(channel_models))
        .merge(responses::routes())
        .merge(key_admin::routes())
}

async fn plain_messages(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    call::handle(state, Dialect::Anthropic, "default", q, headers, body).await
}

async fn plain_chat(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    call::handle(state, Dialect::OpenAi, "default", None, headers, body).await
}

pub(crate) fn unknown_channel(name: &str, dialect: Dialect) -> Response {
    ProxyError::UnknownModel(format!("There is no channel `{name}`; use one of {}.", NAMED_CHANNELS.join(", ")))
        .into_response(dialect)
}

async fn channel_messages(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match channel_of(&channel) {
        Some(c) => call::handle(state, Dialect::Anthropic, c, q, headers, body).await,
        None => unknown_channel(&channel, Dialect::Anthropic),
    }
}

async fn channel_chat(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match channel_of(&channel) {
        Some(c) => call::handle(state, Dialect::OpenAi, c, None, headers, body).await,
        None => unknown_channel(&channel, Dialect::OpenAi),
    }
}

async fn plain_count_tokens(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    count_tokens(state, headers, body).await
}

async fn channel_count_tokens(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if channel_of(&channel).is_none() {
        return unknown_channel(&channel, Dialect::Anthropic);
    }
    count_tokens(state, headers, body).await
}

/// `POST /v1/messages/count_tokens`: free, but needs a valid key and a priced model.
async fn count_tokens(state: AppState, headers: HeaderMap, body: Bytes) -> Response {
    let d = Dialect::Anthropic;
    if let Err(e) = call::authenticate(&state, &headers).await {
        return e.into_response(d);
    }
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return ProxyError::BadRequest("The request body is not valid JSON.".into()).into_response(d);
    };
    let model = request["model"].as_str().unwrap_or("");
    if state.pricing.table.lookup(model).is_none() {
        return ProxyError::UnknownModel(format!("The model `{model}` is not offered here.")).into_response(d);
    }
    let route = state.gateway.upstreams.route(Dialect::Anthropic, model);
    match route.first().map(|p| &p.target) {
        None => ProxyError::UnknownModel(format!("No upstream provider is configured for `{model}`.")).into_response(d),
        Some(upstream::Target::Mock) => {
            // The mock's estimate: about four characters per token of the request's messages and system.
            let text = format!("{}{}{}", request["system"], request["messages"], request["tools"]);
            let tokens = text.chars().count().div_ceil(4);
            axum::Json(json!({ "input_tokens": tokens })).into_response()
        }
        Some(upstream::Target::Remote { .. }) => {
            let outgoing = upstream::Outgoing { bytes: body.clone(), stream: false };
            match state
                .gateway
                .upstreams
                .send(Dialect::Anthropic, model, "/v1/messages/count_tokens", &outgoing, &headers)
                .await
            {
                Ok(upstream::UpstreamResponse { body: upstream::UpstreamBody::Json(bytes) }) => {
                    ([(axum::http::header::CONTENT_TYPE, "application/json")], bytes).into_response()
                }
                _ => ProxyError::Upstream { status: 502, message: "The upstream could not count tokens.".into() }
                    .into_response(d),
            }
        }
    }
}

async fn channel_models(State(state): State<AppState>, Path(channel): Path<String>, headers: HeaderMap) -> Response {
    if channel_of(&channel).is_none() {
        return unknown_channel(&channel, Dialect::OpenAi);
    }
    models(State(state), headers).await
}

/// `GET /v1/models`: the priced models, in Anthropic's shape when the caller sends `anthropic-version`.
async fn models(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let anthropic = headers.contains_key("anthropic-version");
    let dialect = if anthropic { Dialect::Anthropic } else { Dialect::OpenAi };
    if let Err(e) = call::authenticate(&state, &headers).await {
        return e.into_response(dialect);
    }
    let mock = state.gateway.upstreams.uses_mock();
    let ids = state.pricing.table.model_ids();
    if anthropic {
        let data: Vec<_> = ids
            .iter()
            .filter(|id| id.starts_with("claude"))
            .map(|id| json!({"type": "model", "id": id, "display_name": id, "created_at": "2026-01-01T00:00:00Z"}))
            .collect();
        let first = data.first().map(|m| m["id"].clone());
        let last = data.last().map(|m| m["id"].clone());
        axum::Json(json!({"data": data, "has_more": false, "first_id": first, "last_id": last, "gatehouse_mock_upstream": mock}))
            .into_response()
    } else {
        let owner = if mock { "gatehouse-mock-upstream" } else { "gatehouse" };
        let data: Vec<_> = ids
            .iter()
            .map(|id| json!({"id": id, "object": "model", "created": 1_767_225_600, "owned_by": owner}))
            .collect();
        axum::Json(json!({"object": "list", "data": data})).into_response()
    }
}
