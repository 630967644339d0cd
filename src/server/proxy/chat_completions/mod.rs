//! OpenAI chat completions, on `/v1/chat/completions` and `/api/v1/ai/openai/{channel}/v1/chat/completions`.
//! OpenAI models pass through to the OpenAI upstream (a stream gets `stream_options.include_usage` added
//! when the caller did not ask for it, so it can be metered; that usage chunk is kept from the caller).
//! Claude models are translated to the Messages API and back (`claude`). Chunks are read once (`chunk`).

pub mod chunk;
pub mod claude;

use super::call::{self, Ask};
use super::dialect::Dialect;
use super::messages;
use super::metering::{self, Reported};
use super::settlement_writer::CallGuard;
use super::sse;
use super::upstream::{Outgoing, UpstreamBody, UpstreamError};
use super::{CallBody, OnChannel, OpenAiBody, OpenAiChannel};
use crate::server::metrics::Surface;
use crate::server::state::AppState;
use crate::server::time::now_ms;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chunk::Chunk;
use serde_json::Value;
use std::borrow::Cow;
use std::time::Instant;

const D: Dialect = Dialect::OpenAi;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(call))
        .route("/api/v1/ai/openai/{channel}/v1/chat/completions", post(call))
}

/// A chat completion, counted for the metrics with whatever it was answered (a refused body included).
async fn call(
    State(state): State<AppState>,
    OnChannel(channel): OpenAiChannel,
    headers: HeaderMap,
    body: Result<OpenAiBody, Response>,
) -> Response {
    let started = Instant::now();
    let response = match body {
        Ok(CallBody(body)) => handle(state.clone(), channel, headers, body, started).await,
        Err(refused) => refused,
    };
    call::answered(&state, Surface::ChatCompletions, channel, started, &response);
    response
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
}

#[derive(serde::Deserialize)]
struct PeekStreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// A charged chat completion. It runs in its own task, so a caller who disconnects does not cancel it
/// halfway: once admitted, it is answered by the upstream, metered and settled (or its hold released)
/// whatever the caller does.
async fn handle(state: AppState, channel: &'static str, headers: HeaderMap, body: Bytes, started: Instant) -> Response {
    call::in_own_task(&state.clone(), D, |running| run(state, channel, headers, body, (running, started))).await
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
    let peek: Peek<'_> = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return call::not_json(e).into_response(D),
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
    let ask = Ask {
        user_id: key.user_id,
        key: Some(key),
        channel,
        model,
        max_tokens,
        choices: peek.n,
        request_bytes: body.len(),
        web_searches: 0,
        request_id: call::request_id_of(&headers),
    };
    let admitted = match call::admit(&state, ask).await {
        Ok(a) => a,
        Err(e) => return e.into_response(D),
    };
    // The request as the provider gets it: the caller's bytes when nothing changes, translated otherwise.
    let outgoing = match target {
        Dialect::OpenAi if !streaming || include_usage => Ok(Outgoing { bytes: body, stream: streaming }),
        Dialect::OpenAi => serde_json::from_slice::<Value>(&body).map(|mut r| {
            // Ask for usage so the call can be metered; the caller only sees it if they asked.
            r["stream_options"] = serde_json::json!({"include_usage": true});
            Outgoing::json(&r)
        }),
        Dialect::Anthropic => {
            serde_json::from_slice::<Value>(&body).map(|r| Outgoing::json(&claude::request_to_anthropic(&r)))
        }
    };
    let outgoing = match outgoing {
        Ok(o) => o,
        Err(e) => {
            call::release(&state, &admitted).await;
            return call::not_json(e).into_response(D);
        }
    };
    let path = match target {
        Dialect::Anthropic => "/v1/messages",
        Dialect::OpenAi => "/v1/chat/completions",
    };
    let answer = match call::send_upstream(&state, &admitted, (D, target), path, &outgoing, &headers).await {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    match answer {
        UpstreamBody::Json(answer) => {
            // An answer to translate is parsed whole, once; one passed through only for its usage.
            let (usage, translated) = match target {
                Dialect::OpenAi => (metering::answer_usage::<chunk::UsageReport>(&answer), None),
                Dialect::Anthropic => match serde_json::from_slice::<Value>(&answer) {
                    Ok(v) => {
                        let usage = messages::events::UsageReport::of(&v["usage"]).usage();
                        (Some(usage), Some(claude::response_to_openai(&v, now_ms() / 1000)))
                    }
                    Err(_) => (None, None),
                },
            };
            let Some(usage) = usage else {
                tracing::warn!(model = %admitted.model, "upstream answered with something that is not JSON");
                call::release(&state, &admitted).await;
                return call::upstream_error(&UpstreamError::Broken("not JSON".into())).into_response(D);
            };
            call::settle_whole(&state, &admitted, usage, answer.len()).await;
            match translated {
                Some(v) => (StatusCode::OK, axum::Json(v)).into_response(),
                None => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], answer).into_response(),
            }
        }
        UpstreamBody::Stream(upstream) => {
            let watch = call::StreamWatch::new(&state, Surface::ChatCompletions, started);
            let (relay, response) = call::open_stream(D, watch);
            let mut parser = sse::Parser::default();
            let mut translator =
                (target == Dialect::Anthropic).then(|| claude::StreamTranslator::new(now_ms() / 1000, include_usage));
            // Nothing to translate or hold back: the upstream's bytes go to the caller as they came (still read
            // once, for metering), without writing each event again.
            let raw = translator.is_none() && include_usage;
            call::relay_stream(state, admitted, running, (upstream, relay), move |piece, meter| {
                let mut out: Vec<Bytes> = Vec::new();
                for ev in parser.push(&piece) {
                    match &mut translator {
                        Some(t) => {
                            if let Some(e) = messages::events::Event::parse(&ev.data) {
                                e.meter(meter);
                                out.extend(t.on_event(&e));
                            }
                        }
                        None => match Chunk::parse(&ev.data) {
                            Some(c) => {
                                c.meter(meter);
                                // The usage chunk asked for on the caller's behalf stays with us.
                                if !raw && !c.is_usage_only() {
                                    out.push(sse::write(ev.event.as_deref(), &ev.data));
                                }
                            }
                            None => {
                                // `[DONE]`, and anything else that is not a chunk, passes as it came.
                                if chunk::is_done(&ev.data) {
                                    meter.finished = true;
                                }
                                if !raw {
                                    out.push(sse::write(ev.event.as_deref(), &ev.data));
                                }
                            }
                        },
                    }
                }
                if raw {
                    out.push(piece);
                }
                out
            });
            response
        }
    }
}
