//! The API proxy in the same process as the pages: one module per API surface (`messages` for Anthropic
//! Messages, `chat_completions` and `responses` for OpenAI's), on the plain channel (`/v1/...`) and on named
//! channels (`/api/v1/ai/{anthropic|openai}/{channel}/v1/...`); the stages every call goes through (`call`,
//! `metering`); the `gateway` that owns the caches, the admission book, the limiter, the settlement writer and
//! the upstreams (the mock among them). Charged through the same ledger as everything else.
pub mod admission_book;
pub mod call;
pub mod chat_completions;
pub mod dialect;
pub mod gateway;
pub mod hot_cache;
pub mod key_admin;
pub mod messages;
pub mod metering;
pub mod mock;
pub mod rate_limit;
pub mod redis_client;
pub mod refusal_log;
pub mod response_owners;
pub mod responses;
pub mod settlement_writer;
pub mod sse;
pub mod upstream;

use crate::server::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
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
        .route("/v1/models", get(models))
        .route("/api/v1/ai/anthropic/{channel}/v1/models", get(models))
        .route("/api/v1/ai/openai/{channel}/v1/models", get(models))
        .merge(messages::routes())
        .merge(chat_completions::routes())
        .merge(responses::routes())
        .merge(key_admin::routes())
}

/// The channel a call came on, as a handler's argument: `default` on the plain `/v1/...` paths, the named one
/// on `/api/v1/ai/{provider}/{channel}/v1/...`; an unknown name is refused in the surface's dialect (OpenAI's
/// when `OPENAI`, Anthropic's otherwise). One handler serves a surface's plain and channel paths.
pub struct OnChannel<const OPENAI: bool>(pub &'static str);

/// The channel of an Anthropic Messages call.
pub type AnthropicChannel = OnChannel<false>;
/// The channel of a call to one of OpenAI's surfaces.
pub type OpenAiChannel = OnChannel<true>;

impl<S: Send + Sync, const OPENAI: bool> axum::extract::FromRequestParts<S> for OnChannel<OPENAI> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Response> {
        let params = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match params.iter().find(|(name, _)| *name == "channel") {
            None => Ok(Self("default")),
            Some((_, name)) => channel_of(name)
                .map(Self)
                .ok_or_else(|| unknown_channel(name, if OPENAI { Dialect::OpenAi } else { Dialect::Anthropic })),
        }
    }
}

pub(crate) fn unknown_channel(name: &str, dialect: Dialect) -> Response {
    ProxyError::UnknownModel(format!("There is no channel `{name}`; use one of {}.", NAMED_CHANNELS.join(", ")))
        .into_response(dialect)
}

/// `GET /v1/models`: the priced models, in Anthropic's shape when the caller sends `anthropic-version`.
async fn models(State(state): State<AppState>, _: OpenAiChannel, headers: HeaderMap) -> Response {
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
