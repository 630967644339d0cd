//! The API proxy in the same process as the pages: one module per API surface (`messages` for Anthropic
//! Messages; `chat_completions`, `responses`, `embeddings`, `completions` (the legacy text completions),
//! `speech` and `images` for OpenAI's, and `conversations` and `stored_completions`, which are not charged),
//! on the plain channel (`/v1/...`) and on named
//! channels (`/api/v1/ai/{anthropic|openai}/{channel}/v1/...`); the stages every call goes through (`call`,
//! `metering`); the `gateway` that owns the caches, the admission book, the limiter, the settlement writer and
//! the upstreams (the mock among them). Charged through the same ledger as everything else.
pub mod admission_book;
pub mod call;
pub mod chat_completions;
pub mod completions;
pub mod conversations;
pub mod dialect;
pub mod embeddings;
pub mod gateway;
pub mod hot_cache;
pub mod images;
pub mod key_admin;
pub mod messages;
pub mod metering;
pub mod mock;
pub mod multipart;
pub mod owned_ids;
pub mod owners;
pub mod rate_limit;
pub mod redis_client;
pub mod refusal_log;
pub mod response_owners;
pub mod responses;
pub mod settlement_writer;
pub mod speech;
pub mod sse;
pub mod stored_completions;
pub mod upstream;
pub mod upstream_guard;

use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use dialect::{Dialect, ProxyError};
use futures_util::StreamExt;
use serde_json::json;

/// Channels reachable by path besides the plain `/v1/...` one.
pub const NAMED_CHANNELS: &[&str] = &["cc-omg", "codex-omg"];

/// Every channel a call can be charged on: the plain API's (`default`), web chat's and the named ones.
pub fn charged_channels() -> Vec<&'static str> {
    ["default", crate::server::chat::reply::CHANNEL].into_iter().chain(NAMED_CHANNELS.iter().copied()).collect()
}

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
        .merge(embeddings::routes())
        .merge(completions::routes())
        .merge(speech::routes())
        .merge(images::routes())
        .merge(stored_completions::routes())
        .merge(conversations::routes())
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

/// The largest body read before the caller's key is checked.
const UNCHECKED_BODY_BYTES: usize = 2 * 1024 * 1024;

/// A call's request body, read up to the surface's request limit (`MAX_REQUEST_MB_ANTHROPIC`, 32 MiB like
/// Anthropic's own; `MAX_REQUEST_MB_OPENAI`, 50 MiB like OpenAI's): a larger one is refused with 413 in the
/// surface's dialect, before its body is read when it says its length, and as soon as the limit is passed
/// when it does not.
pub struct CallBody<const OPENAI: bool>(pub Bytes);

/// The body of an Anthropic Messages call.
pub type AnthropicBody = CallBody<false>;
/// The body of a call to one of OpenAI's surfaces.
pub type OpenAiBody = CallBody<true>;

impl<const OPENAI: bool> axum::extract::FromRequest<AppState> for CallBody<OPENAI> {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &AppState) -> Result<Self, Response> {
        let (dialect, limit) = match OPENAI {
            true => (Dialect::OpenAi, state.settings.upstream.max_request_bytes_openai),
            false => (Dialect::Anthropic, state.settings.upstream.max_request_bytes_anthropic),
        };
        let too_large = || {
            ProxyError::TooLarge(format!(
                "The request is larger than this API accepts ({} MiB). Send fewer or smaller images or files.",
                limit / (1024 * 1024)
            ))
            .into_response(dialect)
        };
        let declared = request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            drain(request.into_body().into_data_stream());
            return Err(too_large());
        }
        // A large body (or one that does not say its size) is read only for a valid key: nobody without one
        // makes the server hold megabytes. The handler finds the key in the cache this filled.
        if declared.is_none_or(|n| n > UNCHECKED_BODY_BYTES) {
            if let Err(e) = call::authenticate(state, request.headers()).await {
                drain(request.into_body().into_data_stream());
                return Err(e.into_response(dialect));
            }
        }
        let mut body = request.into_body().into_data_stream();
        let mut first: Option<Bytes> = None;
        let mut more: Vec<u8> = Vec::new();
        while let Some(piece) = body.next().await {
            let piece = match piece {
                Ok(p) => p,
                Err(e) => {
                    return Err(ProxyError::BadRequest(format!("The request body could not be read: {e}"))
                        .into_response(dialect))
                }
            };
            let held = first.as_ref().map_or(0, Bytes::len) + more.len();
            if held + piece.len() > limit {
                drain(body);
                return Err(too_large());
            }
            match &first {
                None if more.is_empty() => first = Some(piece),
                _ => {
                    if let Some(f) = first.take() {
                        more.extend_from_slice(&f);
                    }
                    more.extend_from_slice(&piece);
                }
            }
        }
        Ok(Self(match first {
            Some(only) => only,
            None => Bytes::from(more),
        }))
    }
}

/// After a refusal, the rest of the caller's body is read and thrown away for a few seconds (at most
/// [`DRAIN_BYTES`]) in the background, so a client still sending it gets to read the answer instead of a
/// reset connection.
fn drain(mut body: axum::body::BodyDataStream) {
    tokio::spawn(async move {
        let mut read = 0usize;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while let Some(Ok(piece)) = body.next().await {
                read += piece.len();
                if read > DRAIN_BYTES {
                    break;
                }
            }
        })
        .await;
    });
}

/// The most of a refused body read and thrown away.
const DRAIN_BYTES: usize = 64 * 1024 * 1024;

pub(crate) fn unknown_channel(name: &str, dialect: Dialect) -> Response {
    ProxyError::UnknownModel(format!("There is no channel `{name}`; use one of {}.", NAMED_CHANNELS.join(", ")))
        .into_response(dialect)
}

/// `GET /v1/models`: the priced models, in Anthropic's shape when the caller sends `anthropic-version`
/// (counted for the metrics).
async fn models(State(state): State<AppState>, OnChannel(channel): OpenAiChannel, headers: HeaderMap) -> Response {
    let started = std::time::Instant::now();
    let response = list_models(&state, &headers).await;
    call::answered(&state, crate::server::metrics::Surface::Models, channel, started, &response);
    response
}

async fn list_models(state: &AppState, headers: &HeaderMap) -> Response {
    let anthropic = headers.contains_key("anthropic-version");
    let dialect = if anthropic { Dialect::Anthropic } else { Dialect::OpenAi };
    if let Err(e) = call::authenticate(state, headers).await {
        return e.into_response(dialect);
    }
    let mock = state.gateway.upstreams.uses_mock();
    let prices = state.pricing.current();
    let ids = prices.table.model_ids();
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
