//! One API call from start to finish, in named stages shared by every API surface and web chat:
//! identify the key (`identify`), admit it (`admit`: price, channel, limits, rate tier, the hold), relay it
//! to the upstream and back (each surface's stream loop; this module's for Anthropic Messages and OpenAI
//! chat completions, translating between them when the caller's dialect differs from the provider's),
//! meter it (`metering`) and settle it (`settle`) exactly once on every exit path, within the request's
//! limits. `failures` is how errors reach the caller.

mod admit;
mod failures;
mod identify;
mod relay;
mod settle;

pub use admit::{admit, request_id_of, Admitted, Ask, HOLD_TTL_MS};
pub use failures::{internal, not_json, unavailable, upstream_error};
pub use identify::{authenticate, presented_key};
pub use relay::{in_own_task, open_stream, Relay};
pub use settle::{end_stream, release, settle};

use super::dialect::{Dialect, ProxyError};
use super::metering::{self, Meter};
use super::settlement_writer::CallGuard;
use super::sse;
use super::translate::{self, StreamTranslator};
use super::upstream::{Outgoing, UpstreamBody, UpstreamError};
use crate::server::domain::ledger::CallOutcome;
use crate::server::domain::pricing::Usage;
use crate::server::state::AppState;
use crate::server::time::now_ms;
use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tracing::Instrument;

/// The few fields of a request the proxy reads; everything else passes through unparsed into a tree.
#[derive(serde::Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    model: Option<std::borrow::Cow<'a, str>>,
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

/// What an API call asked for, once admitted.
struct Asked {
    stream: bool,
    include_usage: bool,
}

/// An API call up to admission: the key, the request, the key's own limits, then [`admit`].
async fn prepare(
    state: &AppState,
    dialect: Dialect,
    channel: &'static str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Admitted, Asked), ProxyError> {
    let key = authenticate(state, headers).await?;
    let peek: Peek<'_> = serde_json::from_slice(body).map_err(not_json)?;
    let model = peek.model.as_deref().unwrap_or_default().to_string();
    let (max_tokens, choices) = match dialect {
        Dialect::Anthropic => (peek.max_tokens, None),
        // A Claude model asked for in the OpenAI dialect gets the translation's default when none is given.
        Dialect::OpenAi if provider_dialect(&model) == Dialect::Anthropic => {
            (peek.max_completion_tokens.or(peek.max_tokens).or(Some(translate::DEFAULT_MAX_TOKENS)), peek.n)
        }
        Dialect::OpenAi => (peek.max_completion_tokens.or(peek.max_tokens), peek.n),
    };
    let asked = Asked {
        stream: peek.stream == Some(true),
        include_usage: peek.stream_options.and_then(|o| o.include_usage) == Some(true),
    };
    let ask = Ask {
        user_id: key.user_id,
        key: Some(key),
        channel,
        model,
        max_tokens,
        choices,
        request_bytes: body.len(),
        request_id: request_id_of(headers),
    };
    Ok((admit(state, ask).await?, asked))
}

/// The usage of a whole JSON answer, without building the rest of it; `None` when it is not JSON.
fn usage_of(target: Dialect, answer: &[u8]) -> Option<Usage> {
    #[derive(serde::Deserialize)]
    struct WithUsage {
        #[serde(default)]
        usage: Value,
    }
    let w: WithUsage = serde_json::from_slice(answer).ok()?;
    Some(usage_in(target, &w.usage))
}

/// A provider's usage object, read in its dialect.
fn usage_in(target: Dialect, usage: &Value) -> Usage {
    match target {
        Dialect::Anthropic => {
            let mut u = Usage::default();
            metering::apply_anthropic(&mut u, usage);
            u
        }
        Dialect::OpenAi => metering::openai(usage),
    }
}

fn parsed(body: &Bytes) -> Result<Value, ProxyError> {
    serde_json::from_slice(body).map_err(not_json)
}

/// Which dialect answers a model: Claude models go to Anthropic, everything else to OpenAI.
pub fn provider_dialect(model: &str) -> Dialect {
    if crate::server::domain::pricing::base_model_id(model).starts_with("claude") {
        Dialect::Anthropic
    } else {
        Dialect::OpenAi
    }
}

/// A charged call: Anthropic Messages (`dialect` Anthropic) or OpenAI chat completions (OpenAi).
///
/// The call runs in its own task, so a caller who disconnects does not cancel it halfway: once admitted,
/// it is answered by the upstream, metered and settled (or its hold released) whatever the caller does.
pub async fn handle(
    state: AppState,
    dialect: Dialect,
    channel: &'static str,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    in_own_task(&state.clone(), dialect, |running| run(state, dialect, channel, query, headers, body, running)).await
}

async fn run(
    state: AppState,
    dialect: Dialect,
    channel: &'static str,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    running: CallGuard,
) -> Response {
    let (prepared, asked) = match prepare(&state, dialect, channel, &headers, &body).await {
        Ok(p) => p,
        Err(e) => return e.into_response(dialect),
    };
    let target = provider_dialect(&prepared.model);
    let (streaming, include_usage) = (asked.stream, asked.include_usage);
    // The request as the provider gets it: the caller's bytes when nothing changes, translated otherwise.
    let outgoing = match (dialect, target) {
        (Dialect::Anthropic, Dialect::Anthropic) => Ok(Outgoing { bytes: body.clone(), stream: streaming }),
        (Dialect::OpenAi, Dialect::OpenAi) if !streaming || include_usage => {
            Ok(Outgoing { bytes: body.clone(), stream: streaming })
        }
        (Dialect::OpenAi, Dialect::OpenAi) => parsed(&body).map(|mut r| {
            // Ask for usage so the call can be metered; the caller only sees it if they asked.
            r["stream_options"] = serde_json::json!({"include_usage": true});
            Outgoing::json(&r)
        }),
        (Dialect::OpenAi, Dialect::Anthropic) => {
            parsed(&body).map(|r| Outgoing::json(&translate::request_to_anthropic(&r)))
        }
        (Dialect::Anthropic, Dialect::OpenAi) => Err(ProxyError::BadRequest(format!(
            "`{}` is not a Claude model; call it through the OpenAI-compatible /v1/chat/completions.",
            prepared.model
        ))),
    };
    let outgoing = match outgoing {
        Ok(o) => o,
        Err(e) => {
            release(&state, &prepared).await;
            return e.into_response(dialect);
        }
    };
    let path = match (target, &query) {
        (Dialect::Anthropic, Some(q)) if dialect == Dialect::Anthropic => format!("/v1/messages?{q}"),
        (Dialect::Anthropic, _) => "/v1/messages".to_string(),
        (Dialect::OpenAi, _) => "/v1/chat/completions".to_string(),
    };
    let reply = match state.gateway.upstreams.send(target, &prepared.model, &path, &outgoing, &headers).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, model = %prepared.model, "upstream failed before answering");
            release(&state, &prepared).await;
            return upstream_error(&e).into_response(dialect);
        }
    };
    match reply.body {
        UpstreamBody::Json(answer) => {
            // An answer to translate is parsed whole, once; one passed through only for its usage.
            let whole: Option<Value> = if dialect != target { serde_json::from_slice(&answer).ok() } else { None };
            let usage = match &whole {
                Some(v) => Some(usage_in(target, &v["usage"])),
                None if dialect != target => None,
                None => usage_of(target, &answer),
            };
            let usage = match usage {
                Some(u) if !u.is_empty() => u,
                Some(_) => {
                    // Answered without usage: billed by the estimate, never free.
                    tracing::warn!(model = %prepared.model, request = %prepared.request_key, "upstream anomaly: an answer without usage; billed by the estimate");
                    metering::estimated(prepared.estimated_input, answer.len())
                }
                None => {
                    tracing::warn!(model = %prepared.model, "upstream answered with something that is not JSON");
                    release(&state, &prepared).await;
                    return upstream_error(&UpstreamError::Broken("not JSON".into())).into_response(dialect);
                }
            };
            settle(&state, &prepared, usage, CallOutcome::Complete).await;
            match whole {
                Some(v) => {
                    (StatusCode::OK, axum::Json(translate::response_to_openai(&v, now_ms() / 1000))).into_response()
                }
                None => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], answer).into_response(),
            }
        }
        UpstreamBody::Stream(mut upstream) => {
            let (mut relay, response) = open_stream(dialect);
            tokio::spawn(
                async move {
                    // The call counts as running until its charge is queued.
                    let _running = running;
                    let mut parser = sse::Parser::default();
                    let mut meter = Meter::default();
                    let mut translator =
                        (dialect != target).then(|| StreamTranslator::new(now_ms() / 1000, include_usage));
                    // Nothing to translate or hold back: the upstream's bytes go to the caller as they came (still
                    // parsed, for metering), without writing each event again.
                    let raw = translator.is_none() && (target == Dialect::Anthropic || include_usage);
                    while let Some(chunk) = relay.next_chunk(&mut upstream).await {
                        let mut out: Vec<Bytes> = Vec::new();
                        for ev in parser.push(&chunk) {
                            // Each event is parsed once, for the meter and whatever is sent for it.
                            let v = match serde_json::from_str::<Value>(&ev.data) {
                                Ok(v) => v,
                                Err(_) => {
                                    // `[DONE]` (and anything else not JSON) passes as it came.
                                    meter.on_openai(&ev);
                                    if !raw && translator.is_none() {
                                        out.push(sse::write(ev.event.as_deref(), &ev.data));
                                    }
                                    continue;
                                }
                            };
                            match target {
                                Dialect::Anthropic => meter.on_anthropic_event(&v),
                                Dialect::OpenAi => meter.on_openai_event(&v),
                            }
                            if raw {
                                continue;
                            }
                            match (&mut translator, target) {
                                (Some(t), _) => out.extend(t.on_value(&v)),
                                // The usage chunk we asked for on the caller's behalf stays with us.
                                (None, Dialect::OpenAi) if !include_usage && is_usage_only_chunk(&v) => {}
                                (None, _) => out.push(sse::write(ev.event.as_deref(), &ev.data)),
                            }
                        }
                        if raw {
                            out.push(chunk);
                        }
                        relay.send(out).await;
                    }
                    end_stream(&state, &prepared, &meter, relay.broke, relay.caller_left).await;
                }
                .in_current_span(),
            );
            response
        }
    }
}

fn is_usage_only_chunk(v: &Value) -> bool {
    v["usage"].is_object() && v["choices"].as_array().is_some_and(|c| c.is_empty())
}
