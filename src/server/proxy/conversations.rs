//! OpenAI's Conversations, on `/v1/conversations` (create), `/v1/conversations/{id}` (retrieve, update,
//! delete), `/v1/conversations/{id}/items` (create, list) and `/v1/conversations/{id}/items/{item}`
//! (retrieve, delete), and the same under `/api/v1/ai/openai/{channel}/v1/...`. A conversation names no
//! model: it goes to the first OpenAI provider configured (the one that keeps it). A conversation made
//! through Gatehouse is remembered with its account; another account's id gets 404 and nothing is
//! forwarded. The Responses API continues a conversation of the caller's (`conversation`). None of this
//! is charged.

use super::call;
use super::dialect::{Dialect, ProxyError};
use super::responses::items;
use super::stored_completions::metadata_of;
use super::upstream::{with_query, Outgoing, UpstreamBody, UpstreamError, UpstreamResponse};
use super::{CallBody, OnChannel, OpenAiBody, OpenAiChannel};
use crate::server::domain::owned_ids::{plain_id, IdKind, OwnedId};
use crate::server::metrics::Surface;
use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use std::time::Instant;

const D: Dialect = Dialect::OpenAi;
const KIND: IdKind = IdKind::Conversation;

pub fn routes() -> Router<AppState> {
    let by_id = || get(one).post(one).delete(one);
    Router::new()
        .route("/v1/conversations", post(create))
        .route("/v1/conversations/{id}", by_id())
        .route("/v1/conversations/{id}/items", by_id())
        .route("/v1/conversations/{id}/items/{item}", by_id())
        .route("/api/v1/ai/openai/{channel}/v1/conversations", post(create))
        .route("/api/v1/ai/openai/{channel}/v1/conversations/{id}", by_id())
        .route("/api/v1/ai/openai/{channel}/v1/conversations/{id}/items", by_id())
        .route("/api/v1/ai/openai/{channel}/v1/conversations/{id}/items/{item}", by_id())
}

/// The ids of a path (on the plain or a named channel).
#[derive(serde::Deserialize)]
struct Ids {
    id: String,
    #[serde(default)]
    item: Option<String>,
}

/// What is asked of a conversation.
enum Op {
    Retrieve,
    Update(Bytes),
    Delete,
    AddItems(Bytes, Option<String>),
    ListItems(Option<String>),
    RetrieveItem(String, Option<String>),
    DeleteItem(String),
}

impl Op {
    /// The operation a method on a path asks for (`None`: no such operation there).
    fn of(method: &Method, uri: &Uri, item: Option<String>, query: Option<String>, body: Bytes) -> Option<Op> {
        let items = uri.path().ends_with("/items");
        Some(match (method.as_str(), items, item) {
            ("GET", false, None) => Op::Retrieve,
            ("POST", false, None) => Op::Update(body),
            ("DELETE", false, None) => Op::Delete,
            ("POST", true, None) => Op::AddItems(body, query),
            ("GET", true, None) => Op::ListItems(query),
            ("GET", _, Some(item)) => Op::RetrieveItem(item, query),
            ("DELETE", _, Some(item)) => Op::DeleteItem(item),
            _ => return None,
        })
    }
}

async fn create(
    State(s): State<AppState>,
    OnChannel(c): OpenAiChannel,
    h: HeaderMap,
    body: Result<OpenAiBody, Response>,
) -> Response {
    let started = Instant::now();
    let response = match body {
        Ok(CallBody(body)) => created(&s, &h, body).await.unwrap_or_else(|e| e.into_response(D)),
        Err(refused) => refused,
    };
    call::answered(&s, Surface::Conversations, c, started, &response);
    response
}

/// A request about one conversation or its items (counted for the metrics).
async fn one(
    State(state): State<AppState>,
    OnChannel(channel): OpenAiChannel,
    (method, uri): (Method, Uri),
    Path(ids): Path<Ids>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<OpenAiBody, Response>,
) -> Response {
    let started = Instant::now();
    let response = match body {
        Ok(CallBody(body)) => match Op::of(&method, &uri, ids.item, query, body) {
            Some(op) => answer(&state, &ids.id, op, &headers).await.unwrap_or_else(|e| e.into_response(D)),
            None => ProxyError::NotFound("No such endpoint.".into()).into_response(D),
        },
        Err(refused) => refused,
    };
    call::answered(&state, Surface::Conversations, channel, started, &response);
    response
}

/// Sends a conversation request to the OpenAI provider that keeps conversations.
async fn send(
    state: &AppState,
    method: reqwest::Method,
    path: &str,
    body: Option<Bytes>,
) -> Result<UpstreamResponse, UpstreamError> {
    let body = body.map(|b| Outgoing::body(b, false));
    state.gateway.upstreams.request_kept(method, (D, None), path, body.as_ref(), &HeaderMap::new()).await
}

/// Creates a conversation upstream and remembers it for the caller.
async fn created(state: &AppState, headers: &HeaderMap, body: Bytes) -> Result<Response, ProxyError> {
    let key = call::authenticate(state, headers).await?;
    let body = if body.iter().all(u8::is_ascii_whitespace) { Bytes::from_static(b"{}") } else { body };
    let metadata = metadata_of(&body)?;
    no_item_references(&body)?;
    let got = send(state, reqwest::Method::POST, "/v1/conversations", Some(body)).await;
    if let Ok(UpstreamResponse { body: UpstreamBody::Json(answer) }) = &got {
        let made: Value = serde_json::from_slice(answer).unwrap_or_default();
        match made["id"].as_str().filter(|id| plain_id(id)) {
            Some(id) => {
                let owned = OwnedId {
                    id: id.to_string(),
                    kind: KIND,
                    user_id: key.user_id,
                    model: String::new(),
                    metadata,
                    created_at: crate::server::time::now_ms(),
                };
                state.gateway.owned.remember(owned).await;
            }
            None => {
                tracing::warn!("upstream made a conversation without a usable id");
                return Err(call::upstream_error(&UpstreamError::Broken("a conversation without a usable id".into())));
            }
        }
    }
    Ok(call::json_answer(got))
}

async fn answer(state: &AppState, id: &str, op: Op, headers: &HeaderMap) -> Result<Response, ProxyError> {
    let key = call::authenticate(state, headers).await?;
    let owned = state.gateway.owned.require(&state.db, key.user_id, KIND, id).await?;
    let base = format!("/v1/conversations/{}", owned.id);
    let got = match op {
        Op::Retrieve => send(state, reqwest::Method::GET, &base, None).await,
        Op::Update(body) => {
            let metadata = metadata_of(&body)?;
            let got = send(state, reqwest::Method::POST, &base, Some(body)).await;
            if got.is_ok() {
                let done = state.gateway.owned.set_metadata(&state.db, (key.user_id, KIND, id), &metadata).await;
                done.map_err(|e| call::unavailable("conversation update", e))?;
            }
            got
        }
        Op::Delete => {
            let got = send(state, reqwest::Method::DELETE, &base, None).await;
            if matches!(&got, Ok(_) | Err(UpstreamError::Status { status: 404, .. })) {
                if let Err(e) = state.gateway.owned.forget(&state.db, key.user_id, KIND, id).await {
                    tracing::error!(error = %e, conversation = %id, "deleted conversation not forgotten");
                }
            }
            got
        }
        Op::AddItems(body, query) => {
            call::read_request::<serde::de::IgnoredAny>(&body)?;
            no_item_references(&body)?;
            send(state, reqwest::Method::POST, &with_query(format!("{base}/items"), query), Some(body)).await
        }
        Op::ListItems(query) => {
            send(state, reqwest::Method::GET, &with_query(format!("{base}/items"), query), None).await
        }
        Op::RetrieveItem(item, query) => {
            send(state, reqwest::Method::GET, &with_query(format!("{base}/items/{}", item_id(&item)?), query), None)
                .await
        }
        Op::DeleteItem(item) => {
            send(state, reqwest::Method::DELETE, &format!("{base}/items/{}", item_id(&item)?), None).await
        }
    };
    Ok(call::json_answer(got))
}

/// An item id as it may go into a path (see [`plain_id`]); any other reads as unknown.
fn item_id(item: &str) -> Result<&str, ProxyError> {
    match plain_id(item) {
        true => Ok(item),
        false => Err(ProxyError::NotFound(format!("No item found with id '{item}'."))),
    }
}

/// Items given by reference are refused: item ids are the upstream's, shared by every account.
fn no_item_references(body: &[u8]) -> Result<(), ProxyError> {
    match items::refers_to_items(body) {
        false => Ok(()),
        true => Err(ProxyError::BadRequest(
            "`item_reference` items are not offered here; send the items themselves.".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ids_are_plain_words_before_they_go_into_a_path() {
        assert_eq!(item_id("msg_abc-123").unwrap(), "msg_abc-123");
        for bad in ["", "../x", "a/b", "a?b", "a%2Fb"] {
            assert!(item_id(bad).is_err(), "{bad}");
        }
        assert!(no_item_references(br#"{"items": [{"type": "item_reference", "id": "msg_x"}]}"#).is_err());
    }
}
