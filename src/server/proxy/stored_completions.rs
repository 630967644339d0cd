//! OpenAI's Store of chat completions, on `/v1/chat/completions` (GET: the list),
//! `/v1/chat/completions/{id}` (retrieve, update metadata, delete) and `/v1/chat/completions/{id}/messages`,
//! and the same under `/api/v1/ai/openai/{channel}/v1/...`. A chat completion made through Gatehouse with
//! `store: true` (an OpenAI model, passed through) is remembered with its account (`chat_completions`
//! hands it over as soon as its id is known); another account's id gets 404 and nothing is forwarded. The
//! list is read from what Gatehouse remembered (the upstream's holds every account's), each completion
//! then fetched from the upstream that keeps it. None of this is charged.

use super::call;
use super::dialect::{Dialect, ProxyError};
use super::upstream::{with_query, Outgoing, UpstreamBody, UpstreamError};
use super::{CallBody, OnChannel, OpenAiBody, OpenAiChannel};
use crate::server::domain::owned_ids::{plain_id, IdKind, ListQuery, OwnedId};
use crate::server::metrics::Surface;
use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::time::Instant;

const D: Dialect = Dialect::OpenAi;
const KIND: IdKind = IdKind::ChatCompletion;

pub fn routes() -> Router<AppState> {
    let by_id = || get(one).post(one).delete(one);
    Router::new()
        .route("/v1/chat/completions", get(list))
        .route("/v1/chat/completions/{id}", by_id())
        .route("/v1/chat/completions/{id}/messages", get(one))
        .route("/api/v1/ai/openai/{channel}/v1/chat/completions", get(list))
        .route("/api/v1/ai/openai/{channel}/v1/chat/completions/{id}", by_id())
        .route("/api/v1/ai/openai/{channel}/v1/chat/completions/{id}/messages", get(one))
}

/// The id of a by-id path (on the plain or a named channel).
#[derive(serde::Deserialize)]
struct ById {
    id: String,
}

/// What is asked of a stored completion.
enum Op {
    Retrieve,
    Update(Bytes),
    Delete,
    Messages(Option<String>),
}

/// The caller's stored completions (counted for the metrics).
async fn list(State(s): State<AppState>, OnChannel(c): OpenAiChannel, q: RawQuery, h: HeaderMap) -> Response {
    let started = Instant::now();
    let response = listed(&s, q.0.as_deref().unwrap_or(""), &h).await.unwrap_or_else(|e| e.into_response(D));
    call::answered(&s, Surface::StoredCompletions, c, started, &response);
    response
}

/// A request about one stored completion (counted for the metrics).
async fn one(
    State(state): State<AppState>,
    OnChannel(channel): OpenAiChannel,
    (method, uri): (Method, Uri),
    Path(p): Path<ById>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<OpenAiBody, Response>,
) -> Response {
    let started = Instant::now();
    let op = body.map(|CallBody(body)| match (method.as_str(), uri.path().ends_with("/messages")) {
        (_, true) => Op::Messages(query),
        ("POST", false) => Op::Update(body),
        ("DELETE", false) => Op::Delete,
        _ => Op::Retrieve,
    });
    let response = match op {
        Ok(op) => answer(&state, &p.id, op, &headers).await.unwrap_or_else(|e| e.into_response(D)),
        Err(refused) => refused,
    };
    call::answered(&state, Surface::StoredCompletions, channel, started, &response);
    response
}

async fn answer(state: &AppState, id: &str, op: Op, headers: &HeaderMap) -> Result<Response, ProxyError> {
    let key = call::authenticate(state, headers).await?;
    let owned = state.gateway.owned.require(&state.db, key.user_id, KIND, id).await?;
    let path = format!("/v1/chat/completions/{}", owned.id);
    let upstreams = &state.gateway.upstreams;
    let send = |method, path: String, body: Option<Outgoing>| async move {
        upstreams.request_kept(method, (D, Some(&owned.model)), &path, body.as_ref(), &HeaderMap::new()).await
    };
    match op {
        Op::Retrieve => Ok(call::json_answer(send(reqwest::Method::GET, path, None).await)),
        Op::Messages(query) => {
            let path = with_query(format!("{path}/messages"), query);
            Ok(call::json_answer(send(reqwest::Method::GET, path, None).await))
        }
        Op::Update(body) => {
            let metadata = metadata_of(&body)?;
            let got = send(reqwest::Method::POST, path, Some(Outgoing::body(body, false))).await;
            if got.is_ok() {
                let done = state.gateway.owned.set_metadata(&state.db, (key.user_id, KIND, id), &metadata).await;
                done.map_err(|e| call::unavailable("stored completion update", e))?;
            }
            Ok(call::json_answer(got))
        }
        Op::Delete => {
            let got = send(reqwest::Method::DELETE, path, None).await;
            if matches!(&got, Ok(_) | Err(UpstreamError::Status { status: 404, .. })) {
                forget(state, key.user_id, id).await;
            }
            Ok(call::json_answer(got))
        }
    }
}

async fn forget(state: &AppState, user_id: i64, id: &str) {
    if let Err(e) = state.gateway.owned.forget(&state.db, user_id, KIND, id).await {
        tracing::error!(error = %e, completion = %id, "deleted stored completion not forgotten");
    }
}

/// The metadata a body sets (an update's, a conversation's): see [`metadata_text`].
pub fn metadata_of(body: &[u8]) -> Result<String, ProxyError> {
    let v: Value = call::read_request(body)?;
    metadata_text(&v["metadata"])
}

/// Metadata as OpenAI takes it (an object of at most 16 string values; none is `{}`), as JSON text.
pub fn metadata_text(metadata: &Value) -> Result<String, ProxyError> {
    match metadata {
        Value::Object(m) if m.len() <= 16 && m.values().all(Value::is_string) => Ok(metadata.to_string()),
        Value::Null => Ok("{}".into()),
        _ => Err(ProxyError::BadRequest("`metadata` must be an object of at most 16 string values.".into())),
    }
}

/// What a list asks for, from its query string: `model`, `metadata[KEY]=VALUE` pairs, `after`, `limit`
/// (20 by default, 1 to 100) and `order` (`asc` by default, or `desc`).
fn list_query(query: &str) -> Result<ListQuery, ProxyError> {
    let mut q = ListQuery { limit: 20, ..ListQuery::default() };
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "model" => q.model = Some(v.into_owned()),
            "after" => q.after = Some(v.into_owned()),
            "limit" => {
                q.limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|l| (1..=100).contains(l))
                    .ok_or_else(|| ProxyError::BadRequest("`limit` must be between 1 and 100.".into()))?;
            }
            "order" => {
                q.newest_first = match v.as_ref() {
                    "asc" => false,
                    "desc" => true,
                    _ => return Err(ProxyError::BadRequest("`order` must be asc or desc.".into())),
                }
            }
            key => {
                if let Some(name) = key.strip_prefix("metadata[").and_then(|r| r.strip_suffix(']')) {
                    q.metadata.push((name.to_string(), v.into_owned()));
                }
            }
        }
    }
    Ok(q)
}

/// Completions read from the upstream at once, at most, while listing.
const LIST_FETCHES: usize = 8;

/// The caller's stored completions, a page, each as the upstream keeps it. One the upstream cannot give
/// now (it no longer has it, or it failed) is left out of the page, and the page's cursor ids are still
/// Gatehouse's, so the caller can go on.
async fn listed(state: &AppState, query: &str, headers: &HeaderMap) -> Result<Response, ProxyError> {
    use futures_util::StreamExt;
    let key = call::authenticate(state, headers).await?;
    let q = list_query(query)?;
    let (rows, has_more) = state
        .gateway
        .owned
        .list(&state.db, key.user_id, KIND, &q)
        .await
        .map_err(|e| call::unavailable("stored completion list", e))?;
    let fetches = rows.iter().cloned().map(|o| async move {
        let path = format!("/v1/chat/completions/{}", o.id);
        let got = state
            .gateway
            .upstreams
            .request_kept(reqwest::Method::GET, (D, Some(&o.model)), &path, None, &HeaderMap::new())
            .await;
        (o, got)
    });
    let fetched: Vec<_> = futures_util::stream::iter(fetches).buffered(LIST_FETCHES).collect().await;
    let mut data = Vec::with_capacity(rows.len());
    for (o, got) in fetched {
        match got {
            Ok(super::upstream::UpstreamResponse { body: UpstreamBody::Json(bytes) }) => {
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(v) => data.push(v),
                    Err(_) => tracing::warn!(completion = %o.id, "stored completion is not JSON upstream; left out"),
                }
            }
            Ok(_) => tracing::warn!(completion = %o.id, "stored completion came as a stream; left out"),
            Err(e) => {
                tracing::warn!(error = %e, completion = %o.id, "stored completion not read; left out of the list")
            }
        }
    }
    let list = json!({
        "object": "list",
        "data": data,
        "first_id": rows.first().map(|o| o.id.clone()),
        "last_id": rows.last().map(|o| o.id.clone()),
        "has_more": has_more,
    });
    Ok(axum::Json(list).into_response())
}

/// Remembers a chat completion made with `store: true` for the caller, as soon as its id is known.
pub fn remember(state: &AppState, user_id: i64, model: &str, metadata: &str, id: &str) {
    if !plain_id(id) {
        tracing::warn!("upstream gave a stored completion an id that cannot be kept; it is not remembered");
        return;
    }
    let owned = OwnedId {
        id: id.to_string(),
        kind: KIND,
        user_id,
        model: model.to_string(),
        metadata: metadata.to_string(),
        created_at: crate::server::time::now_ms(),
    };
    state.gateway.owned.hand_over(owned);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_query_reads_model_metadata_and_paging() {
        let q = list_query("model=gpt-4o&metadata%5Bproject%5D=kite&metadata[stage]=draft&after=c1&limit=5&order=desc")
            .unwrap();
        assert_eq!(q.model.as_deref(), Some("gpt-4o"));
        assert_eq!(
            q.metadata,
            [("project".to_string(), "kite".to_string()), ("stage".to_string(), "draft".to_string())]
        );
        assert_eq!((q.after.as_deref(), q.limit, q.newest_first), (Some("c1"), 5, true));
        assert_eq!(list_query("").unwrap().limit, 20);
        assert!(list_query("limit=0").is_err() && list_query("limit=101").is_err() && list_query("order=up").is_err());
    }

    #[test]
    fn metadata_is_an_object_of_strings() {
        assert_eq!(metadata_of(br#"{"metadata": {"a": "b"}}"#).unwrap(), r#"{"a":"b"}"#);
        assert_eq!(metadata_of(br#"{}"#).unwrap(), "{}");
        assert!(metadata_of(br#"{"metadata": {"a": 1}}"#).is_err());
        assert!(metadata_of(b"not json").is_err());
    }
}
