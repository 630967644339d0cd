//! The OpenAI Responses API, on `/v1/responses` and `/api/v1/ai/openai/{channel}/v1/responses`: create
//! (JSON, streamed `response.*` events, background), retrieve, delete, cancel and input items.
//!
//! - OpenAI models pass through to the OpenAI upstream byte for byte and are metered from the final usage
//!   (cached input at the cached price, output including reasoning), on every exit path as any other call.
//! - Claude models are translated to the Messages API and back (`claude`); Gatehouse writes and keeps the
//!   response itself, so retrieving, listing input items and `previous_response_id` work for them too.
//! - Every response id made here is remembered with its account (`domain::responses`): another account's
//!   id gets 404 and is never forwarded.
//! - A background response (OpenAI models) holds its worst case until it finishes; Gatehouse follows it
//!   upstream and bills its final usage then (by the estimate when it ended without usage, never free).

pub mod background;
pub mod claude;
pub mod events;
pub mod items;

use super::call::{self, Admitted, Ask};
use super::dialect::{Dialect, ProxyError};
use super::messages;
use super::messages::request::{unmetered_tool, web_searches_allowed, PeekTool};
use super::metering::{Meter, Reported};
use super::settlement_writer::CallGuard;
use super::sse;
use super::upstream::{Outgoing, UpstreamBody, UpstreamError};
use super::{CallBody, OnChannel, OpenAiBody, OpenAiChannel};
use crate::server::domain::owned_ids::IdKind;
use crate::server::domain::responses::{Owned, Written};
use crate::server::metrics::Surface;
use crate::server::secrets::random_token;
use crate::server::state::AppState;
use crate::server::time::now_ms;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::time::Instant;
use tracing::Instrument;

const D: Dialect = Dialect::OpenAi;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/responses", post(create_route))
        .route("/v1/responses/{id}", get(retrieve).delete(delete))
        .route("/v1/responses/{id}/cancel", post(cancel))
        .route("/v1/responses/{id}/input_items", get(input_items))
        .route("/api/v1/ai/openai/{channel}/v1/responses", post(create_route))
        .route("/api/v1/ai/openai/{channel}/v1/responses/{id}", get(retrieve).delete(delete))
        .route("/api/v1/ai/openai/{channel}/v1/responses/{id}/cancel", post(cancel))
        .route("/api/v1/ai/openai/{channel}/v1/responses/{id}/input_items", get(input_items))
}

/// `POST /v1/responses`, counted for the metrics with whatever it was answered (a refused body included).
/// Like every charged call it cannot be cancelled halfway by a caller who leaves (`call::uncancellable`).
async fn create_route(
    State(state): State<AppState>,
    OnChannel(channel): OpenAiChannel,
    headers: HeaderMap,
    body: Result<OpenAiBody, Response>,
) -> Response {
    let s = state.clone();
    let on = (Surface::Responses, D, channel);
    call::charged(&state, on, body.map(|CallBody(b)| b), |body, running| {
        create_call(s, channel, headers, body, running)
    })
    .await
}

/// What is asked of a response by its id.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Retrieve,
    Delete,
    Cancel,
    InputItems,
}

/// The response id of a by-id path (on the plain or a named channel).
#[derive(serde::Deserialize)]
struct ById {
    id: String,
}

async fn retrieve(
    State(s): State<AppState>,
    OnChannel(c): OpenAiChannel,
    Path(p): Path<ById>,
    q: RawQuery,
    h: HeaderMap,
) -> Response {
    by_id(s, c, Op::Retrieve, p.id, q.0, h).await
}
async fn delete(State(s): State<AppState>, OnChannel(c): OpenAiChannel, Path(p): Path<ById>, h: HeaderMap) -> Response {
    by_id(s, c, Op::Delete, p.id, None, h).await
}
async fn cancel(State(s): State<AppState>, OnChannel(c): OpenAiChannel, Path(p): Path<ById>, h: HeaderMap) -> Response {
    by_id(s, c, Op::Cancel, p.id, None, h).await
}
async fn input_items(
    State(s): State<AppState>,
    OnChannel(c): OpenAiChannel,
    Path(p): Path<ById>,
    q: RawQuery,
    h: HeaderMap,
) -> Response {
    by_id(s, c, Op::InputItems, p.id, q.0, h).await
}

/// The fields of a create request Gatehouse reads; the rest passes through unparsed for OpenAI models.
#[derive(serde::Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    store: Option<bool>,
    #[serde(default)]
    background: Option<bool>,
    #[serde(borrow, default)]
    previous_response_id: Option<Cow<'a, str>>,
    #[serde(default)]
    max_output_tokens: Option<u64>,
    /// A conversation of the caller's (`conv_…`, or `{"id": "conv_…"}`) the response is added to.
    #[serde(default)]
    conversation: Option<Value>,
    /// Read for the web search tool, billed per search.
    #[serde(borrow, default)]
    tools: Option<Vec<PeekTool<'a>>>,
    #[serde(default)]
    max_tool_calls: Option<serde::de::IgnoredAny>,
}

fn not_found(id: &str) -> ProxyError {
    ProxyError::NotFound(format!("No response with id '{id}' was found."))
}

/// The caller's response with this id, or 404 (another account's id reads as unknown).
async fn owned(state: &AppState, user_id: i64, id: &str) -> Result<Owned, ProxyError> {
    match state.gateway.responses.find(&state.db, user_id, id).await {
        Ok(Some(o)) => Ok(o),
        Ok(None) => Err(not_found(id)),
        Err(e) => Err(call::unavailable("response lookup", e)),
    }
}

async fn remember(state: &AppState, owned: Owned) {
    state.gateway.responses.remember(owned).await;
}

/// How Gatehouse answers a create: passing the OpenAI upstream's answer through, or writing the response
/// itself from a Claude model's Messages answer.
enum Writer {
    PassThrough,
    Claude(Box<Translation>),
}

/// A Claude model's response being written: the request, the id Gatehouse gave it, its input items and
/// the conversation it continues.
struct Translation {
    request: Value,
    id: String,
    created_at: i64,
    input_items: Vec<Value>,
    /// Items before this response's output (earlier turns, then this input).
    conversation: Vec<Value>,
}

impl Translation {
    fn written(&self, response: &Value) -> Written {
        let mut conversation = self.conversation.clone();
        conversation.extend(response["output"].as_array().cloned().unwrap_or_default());
        Written {
            body: response.to_string(),
            input_items: Value::Array(self.input_items.clone()).to_string(),
            conversation: Value::Array(conversation).to_string(),
        }
    }
}

/// A create request made ready: admitted, with what goes upstream and how the answer comes back.
struct Created {
    admitted: Admitted,
    outgoing: Outgoing,
    writer: Writer,
    store: bool,
    background: bool,
}

async fn create_call(
    state: AppState,
    channel: &'static str,
    headers: HeaderMap,
    body: Bytes,
    (running, started): (CallGuard, Instant),
) -> Response {
    let created = match prepare(&state, channel, &headers, &body).await {
        Ok(c) => c,
        Err(e) => return e.into_response(D),
    };
    let (target, path) = match created.writer {
        Writer::PassThrough => (Dialect::OpenAi, "/v1/responses"),
        Writer::Claude(_) => (Dialect::Anthropic, "/v1/messages"),
    };
    let answer =
        match call::send_upstream(&state, &created.admitted, (D, target), path, &created.outgoing, &headers).await {
            Ok(a) => a,
            Err(refused) => return refused,
        };
    match answer {
        UpstreamBody::Json(answer) => whole(&state, created, answer, running).await,
        UpstreamBody::Stream(upstream) => {
            let watch = call::StreamWatch::new(&state, Surface::Responses, started);
            let (to_caller, response) = call::open_stream(D, watch);
            tokio::spawn(relay(state, created, upstream, to_caller, running).in_current_span());
            response
        }
    }
}

/// Authenticates, reads the request, checks `previous_response_id` belongs to the caller, builds what
/// goes upstream and admits the call.
async fn prepare(
    state: &AppState,
    channel: &'static str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Created, ProxyError> {
    let key = call::authenticate(state, headers).await?;
    let peek: Peek<'_> = call::read_request(body)?;
    if let Some(refusal) = unmetered_tool(peek.tools.as_deref()) {
        return Err(ProxyError::BadRequest(refusal));
    }
    let model = peek.model.as_deref().unwrap_or_default().to_string();
    let store = peek.store != Some(false);
    let background = peek.background == Some(true);
    if background && !store {
        return Err(ProxyError::BadRequest("A background response must be stored: drop `store: false`.".into()));
    }
    if items::refers_to_items(body) {
        // Item ids are the upstream's, shared by every account: never forwarded.
        return Err(ProxyError::BadRequest(
            "`item_reference` inputs are not offered here; send the items themselves, continue a response of yours with `previous_response_id`, or one of your conversations with `conversation`.".into(),
        ));
    }
    // A conversation is forwarded only when it is the caller's (another account's reads as unknown).
    let in_conversation = match &peek.conversation {
        None | Some(Value::Null) => false,
        Some(c) => {
            let id = c.as_str().or_else(|| c["id"].as_str()).ok_or_else(|| {
                ProxyError::BadRequest("`conversation` must be a conversation id, or an object with its `id`.".into())
            })?;
            if call::provider_dialect(&model) != Dialect::OpenAi {
                return Err(ProxyError::BadRequest(format!(
                    "Conversations are kept by OpenAI and offered for OpenAI models only; continue a Claude model (`{model}`) with `previous_response_id`."
                )));
            }
            state.gateway.owned.require(&state.db, key.user_id, IdKind::Conversation, id).await?;
            true
        }
    };
    let previous = match peek.previous_response_id.as_deref() {
        Some(id) => Some(owned(state, key.user_id, id).await?),
        None => None,
    };
    let (outgoing, writer, max_tokens) = if call::provider_dialect(&model) == Dialect::OpenAi {
        if previous.as_ref().is_some_and(|p| p.written.is_some()) {
            return Err(ProxyError::BadRequest(format!(
                "`previous_response_id` names a response of a Claude model; continue it with a Claude model, not `{model}`."
            )));
        }
        // OpenAI's search tool has no limit of its own: the response gets the one the hold counts.
        let searches = web_searches_allowed(peek.tools.as_deref()) > 0 && peek.max_tool_calls.is_none();
        let bytes = match searches.then(|| messages::request::with_search_limit(body, true)).flatten() {
            Some(limited) => Bytes::from(limited),
            None => body.clone(),
        };
        (Outgoing::body(bytes, peek.stream == Some(true)), Writer::PassThrough, peek.max_output_tokens)
    } else {
        if background {
            return Err(ProxyError::BadRequest(
                "Background responses are offered for OpenAI models only; call Claude models without `background`."
                    .into(),
            ));
        }
        let mut conversation: Vec<Value> = match &previous {
            None => Vec::new(),
            Some(Owned { written: Some(w), .. }) => serde_json::from_str(&w.conversation).unwrap_or_default(),
            Some(_) => {
                return Err(ProxyError::BadRequest(format!(
                    "`previous_response_id` names a response of an OpenAI model; a Claude model (`{model}`) cannot continue it."
                )))
            }
        };
        let request: Value = serde_json::from_slice(body).map_err(call::not_json)?;
        if !matches!(request["text"]["format"]["type"].as_str(), None | Some("text")) {
            return Err(ProxyError::BadRequest(format!(
                "Structured output (`text.format`) is offered for OpenAI models only; `{model}` answers in text."
            )));
        }
        let id = new_response_id().map_err(|e| call::internal("response id", e))?;
        let input_items = items::input_items(&request["input"], &format!("msg_{id}_in"));
        conversation.extend(input_items.iter().cloned());
        let messages = claude::to_messages(&request, &conversation);
        let max_tokens = messages["max_tokens"].as_u64();
        let translation = Translation { request, id, created_at: now_ms() / 1000, input_items, conversation };
        (Outgoing::json(&messages), Writer::Claude(Box::new(translation)), max_tokens)
    };
    let ask = Ask {
        user_id: key.user_id,
        key: Some(key),
        channel,
        model,
        kind: crate::server::domain::pricing::ModelKind::Chat,
        max_tokens,
        choices: None,
        prompts: 1,
        web_searches: web_searches_allowed(peek.tools.as_deref()),
        // A pass-through continuing an earlier response (or a conversation) sends the whole conversation
        // upstream, which the body does not show: its hold counts the model's whole context.
        request_bytes: if (previous.is_some() || in_conversation) && matches!(writer, Writer::PassThrough) {
            usize::MAX
        } else {
            outgoing.bytes.len().max(body.len())
        },
        image: None,
        request_id: call::request_id_of(headers),
    };
    let admitted = call::admit(state, ask).await?;
    Ok(Created { admitted, outgoing, writer, store, background })
}

/// Ids of responses Gatehouse writes: random, so two accounts never meet on one.
fn new_response_id() -> Result<String, getrandom::Error> {
    Ok(format!("resp_gh{}", &random_token()?[..40]))
}

fn owner(admitted: &Admitted, id: &str, written: Option<Written>) -> Owned {
    Owned {
        id: id.to_string(),
        user_id: admitted.user_id,
        channel: admitted.channel.to_string(),
        model: admitted.model.clone(),
        written,
        created_at: now_ms(),
    }
}

/// A whole (not streamed) answer: metered, settled, remembered, answered.
async fn whole(state: &AppState, created: Created, answer: Bytes, running: CallGuard) -> Response {
    let Created { admitted, writer, store, background, .. } = created;
    match writer {
        Writer::PassThrough => {
            let Some(a) = events::ResponseHead::parse(&answer) else {
                tracing::warn!(model = %admitted.model, "upstream answered with something that is not JSON");
                call::release(state, &admitted).await;
                return call::upstream_error(&UpstreamError::Broken("not JSON".into())).into_response(D);
            };
            let running_upstream = a.running();
            if store {
                if let Some(id) = &a.id {
                    remember(state, owner(&admitted, id, None)).await;
                }
            }
            match &a.id {
                // Followed (and recorded) before the caller learns the id: it cannot be deleted first, and a
                // restart follows it again.
                Some(id) if background && running_upstream => {
                    let tracked = background::track(state, &admitted, id).await;
                    background::follow(state, admitted, tracked, running, 0);
                }
                _ => call::settle_whole(state, &admitted, a.usage(), answer.len()).await,
            }
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], answer).into_response()
        }
        Writer::Claude(t) => {
            let Ok(message) = serde_json::from_slice::<Value>(&answer) else {
                call::release(state, &admitted).await;
                return call::upstream_error(&UpstreamError::Broken("not JSON".into())).into_response(D);
            };
            let usage = messages::events::UsageReport::of(&message["usage"]).usage();
            call::settle_whole(state, &admitted, usage, answer.len()).await;
            let response = claude::response_of(&message, &t.request, &t.id, t.created_at);
            if store {
                remember(state, owner(&admitted, &t.id, Some(t.written(&response)))).await;
            }
            (StatusCode::OK, axum::Json(response)).into_response()
        }
    }
}

/// A streamed answer, relayed to the caller: OpenAI's events as they came (read for metering and the
/// response id), or Claude's translated. Every event is parsed once. After the caller leaves, the upstream
/// is read to its end to learn the real usage.
async fn relay(
    state: AppState,
    created: Created,
    mut upstream: super::upstream::ByteStream,
    mut to_caller: call::Relay,
    running: CallGuard,
) {
    // The call counts as running until its charge is queued.
    let Created { admitted, writer, store, background, .. } = created;
    // A background response is tracked from its `response.created` on, before the caller reads its id.
    let mut tracked: Option<background::Tracked> = None;
    let mut translation = match writer {
        Writer::Claude(t) => {
            let stream = claude::Stream::new(&t.request, &t.id, t.created_at);
            Some((t, stream))
        }
        Writer::PassThrough => None,
    };
    let mut parser = sse::Parser::default();
    let mut meter = Meter::default();
    while let Some(chunk) = to_caller.next_chunk(&mut upstream).await {
        let mut out: Vec<Bytes> = Vec::new();
        for ev in parser.push(&chunk) {
            match &mut translation {
                None => {
                    let Some(e) = events::Event::parse(&ev.data) else { continue };
                    e.meter(&mut meter);
                    // The id is remembered before the caller can read it.
                    if let Some(id) = e.created_id() {
                        if store {
                            remember(&state, owner(&admitted, id, None)).await;
                        }
                        if background {
                            tracked = Some(background::track(&state, &admitted, id).await);
                        }
                    }
                }
                Some((t, stream)) => {
                    let Some(e) = messages::events::Event::parse(&ev.data) else { continue };
                    e.meter(&mut meter);
                    let was_finished = stream.finished().is_some();
                    out.extend(stream.on_event(&e));
                    if let Some(done) = stream.finished().filter(|_| store && !was_finished) {
                        remember(&state, owner(&admitted, &t.id, Some(t.written(done)))).await;
                    }
                }
            }
        }
        if translation.is_none() {
            out.push(chunk);
        }
        to_caller.send(out).await;
    }
    let (broke, caller_left) = (to_caller.broke, to_caller.caller_left);
    match tracked {
        // A background response whose stream ended before its last event goes on upstream: follow it there
        // (still marked followed while the caller's stream ends, so it cannot be deleted first).
        Some(t) if !meter.finished => {
            background::follow(&state, admitted, t, running, meter.output_chars);
            drop(to_caller);
        }
        tracked => {
            call::end_stream(&state, &admitted, &meter, broke, caller_left).await;
            // The stream's duration is counted before the call stops counting as running.
            drop(to_caller);
            drop(running);
            if let Some(t) = tracked {
                background::ended_in_stream(&state, t).await;
            }
        }
    }
}

/// Retrieve, delete, cancel or list the input items of the caller's response (counted for the metrics):
/// answered from what Gatehouse kept (Claude models) or forwarded to the upstream that holds it (OpenAI
/// models).
async fn by_id(
    state: AppState,
    channel: &'static str,
    op: Op,
    id: String,
    query: Option<String>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let response = by_id_answer(&state, op, id, query, headers).await;
    call::answered(&state, Surface::ResponsesById, channel, started, &response);
    response
}

async fn by_id_answer(state: &AppState, op: Op, id: String, query: Option<String>, headers: HeaderMap) -> Response {
    let key = match call::authenticate(state, &headers).await {
        Ok(k) => k,
        Err(e) => return e.into_response(D),
    };
    let owned = match owned(state, key.user_id, &id).await {
        Ok(o) => o,
        Err(e) => return e.into_response(D),
    };
    match &owned.written {
        Some(w) => kept(state, op, &owned, w, query.as_deref()).await,
        None => forwarded(state, op, &owned, query).await,
    }
}

async fn forget(state: &AppState, owned: &Owned) {
    if let Err(e) = state.gateway.responses.forget(&state.db, owned.user_id, &owned.id).await {
        tracing::error!(error = %e, response = %owned.id, "deleted response not forgotten");
    }
}

fn deleted(id: &str) -> Response {
    axum::Json(json!({"id": id, "object": "response.deleted", "deleted": true})).into_response()
}

async fn kept(state: &AppState, op: Op, owned: &Owned, w: &Written, query: Option<&str>) -> Response {
    match op {
        Op::Retrieve => ([(header::CONTENT_TYPE, "application/json")], w.body.clone()).into_response(),
        Op::Delete => {
            forget(state, owned).await;
            deleted(&owned.id)
        }
        Op::Cancel => ProxyError::BadRequest("Only responses created with background=true can be cancelled.".into())
            .into_response(D),
        Op::InputItems => {
            let all: Vec<Value> = serde_json::from_str(&w.input_items).unwrap_or_default();
            axum::Json(page_of(all, query.unwrap_or(""))).into_response()
        }
    }
}

/// A page of input items as the API lists them: `order` (`desc` by default), `after` an item id, `limit`
/// (20 by default, at most 100).
fn page_of(mut all: Vec<Value>, query: &str) -> Value {
    let param = |name: &str| {
        query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    };
    if param("order").as_deref() != Some("asc") {
        all.reverse();
    }
    if let Some(after) = param("after") {
        if let Some(at) = all.iter().position(|i| i["id"] == after.as_str()) {
            all.drain(..=at);
        }
    }
    let limit = param("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(20).clamp(1, 100);
    let has_more = all.len() > limit;
    all.truncate(limit);
    let mut page = items::list(&all);
    page["has_more"] = json!(has_more);
    page
}

async fn forwarded(state: &AppState, op: Op, owned: &Owned, query: Option<String>) -> Response {
    if op == Op::Delete && state.gateway.responses.followed(&owned.id) {
        return ProxyError::BadRequest(
            "This response is still running in the background: cancel it or wait until it ends, then delete it.".into(),
        )
        .into_response(D);
    }
    if query.as_deref().is_some_and(|q| q.split('&').any(|kv| kv == "stream=true")) {
        return ProxyError::BadRequest(
            "Streaming a stored response again is not offered here; retrieve it whole.".into(),
        )
        .into_response(D);
    }
    let (method, path) = match op {
        Op::Retrieve => (reqwest::Method::GET, format!("/v1/responses/{}", owned.id)),
        Op::Delete => (reqwest::Method::DELETE, format!("/v1/responses/{}", owned.id)),
        Op::Cancel => (reqwest::Method::POST, format!("/v1/responses/{}/cancel", owned.id)),
        Op::InputItems => (reqwest::Method::GET, format!("/v1/responses/{}/input_items", owned.id)),
    };
    let path = super::upstream::with_query(path, query);
    let body = (op == Op::Cancel).then(|| Outgoing::body(Bytes::from_static(b"{}"), false));
    let got = state
        .gateway
        .upstreams
        .request_kept(method, (Dialect::OpenAi, Some(&owned.model)), &path, body.as_ref(), &HeaderMap::new())
        .await;
    if op == Op::Delete && matches!(&got, Ok(_) | Err(UpstreamError::Status { status: 404, .. })) {
        forget(state, owned).await;
    }
    call::json_answer(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_items_are_listed_newest_first_by_default_in_pages() {
        let all: Vec<Value> = (0..5).map(|i| json!({"id": format!("i{i}")})).collect();
        let page = page_of(all.clone(), "limit=2");
        assert_eq!(page["data"], json!([{"id": "i4"}, {"id": "i3"}]));
        assert_eq!(page["has_more"], true);
        let page = page_of(all.clone(), "order=asc&after=i2");
        assert_eq!(page["data"], json!([{"id": "i3"}, {"id": "i4"}]));
        assert_eq!(page["has_more"], false);
    }
}
