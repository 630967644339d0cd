//! OpenAI text to speech, on `/v1/audio/speech` and `/api/v1/ai/openai/{channel}/v1/audio/speech`: a speech
//! model's call passes through to the OpenAI upstream as it came, and its audio comes back as the upstream
//! streams it. It is billed per character of `input` (the price line's input column is per million
//! characters), known before the call: the hold is the bill. Failing before the first byte costs nothing;
//! once audio flowed the call is billed, however it ended.

use super::call::{self, Ask};
use super::dialect::{Dialect, ProxyError};
use super::settlement_writer::CallGuard;
use super::upstream::{Outgoing, UpstreamBody, UpstreamError};
use super::{CallBody, OnChannel, OpenAiBody, OpenAiChannel};
use crate::server::domain::pricing::{ModelKind, Usage};
use crate::server::metrics::Surface;
use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use std::borrow::Cow;
use std::time::Instant;

const D: Dialect = Dialect::OpenAi;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/audio/speech", post(call)).route("/api/v1/ai/openai/{channel}/v1/audio/speech", post(call))
}

async fn call(
    State(state): State<AppState>,
    OnChannel(channel): OpenAiChannel,
    headers: HeaderMap,
    body: Result<OpenAiBody, Response>,
) -> Response {
    let s = state.clone();
    let on = (Surface::Speech, D, channel);
    call::charged(&state, on, body.map(|CallBody(b)| b), |body, running| run(s, channel, headers, body, running)).await
}

#[derive(serde::Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    input: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    voice: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    response_format: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stream_format: Option<Cow<'a, str>>,
}

/// The content type of the audio asked for (OpenAI's answers carry the same).
fn content_type(response_format: Option<&str>, stream_format: Option<&str>) -> &'static str {
    if stream_format == Some("sse") {
        return "text/event-stream";
    }
    match response_format.unwrap_or("mp3") {
        "opus" => "audio/opus",
        "aac" => "audio/aac",
        "flac" => "audio/flac",
        "wav" => "audio/wav",
        "pcm" => "audio/pcm",
        _ => "audio/mpeg",
    }
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
    let characters = peek.input.as_deref().map_or(0, |t| t.chars().count());
    if characters == 0 {
        return ProxyError::BadRequest("`input` is required: the text to read out.".into()).into_response(D);
    }
    if peek.voice.as_deref().is_none_or(str::is_empty) {
        return ProxyError::BadRequest("`voice` is required (such as alloy, nova or shimmer).".into()).into_response(D);
    }
    let kind = content_type(peek.response_format.as_deref(), peek.stream_format.as_deref());
    let ask = Ask {
        user_id: key.user_id,
        key: Some(key),
        channel,
        model: peek.model.as_deref().unwrap_or_default().to_string(),
        kind: ModelKind::Speech,
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
    // The bill, known now: the characters read out, at most as many as the model reads in one request (its
    // price line's `context=`).
    let usage = Usage { input: u64::try_from(characters).unwrap_or(u64::MAX), ..Usage::default() };
    if usage.input > admitted.limits.input {
        call::release(&state, &admitted).await;
        return ProxyError::BadRequest(format!(
            "`input` must be at most {} characters for `{}` (it has {characters}).",
            admitted.limits.input, admitted.model
        ))
        .into_response(D);
    }
    let outgoing = Outgoing::body(body, true);
    let answer = match call::send_upstream(&state, &admitted, (D, D), "/v1/audio/speech", &outgoing, &headers).await {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    // Asked for as a stream, the audio comes as one (from every provider, the mock included).
    let UpstreamBody::Stream(upstream) = answer else {
        call::release(&state, &admitted).await;
        return call::upstream_error(&UpstreamError::Broken("whole audio where a stream was asked".into()))
            .into_response(D);
    };
    let watch = call::StreamWatch::new(&state, Surface::Speech, started);
    let (relay, mut response) = call::open_stream(D, watch);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // The audio passes as it comes; its first byte makes the call billable.
    call::relay_stream(state, admitted, running, (upstream, relay), move |piece, meter| {
        if !meter.reported && !piece.is_empty() {
            meter.report(usage);
        }
        vec![piece]
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audio_keeps_the_content_type_of_its_format() {
        assert_eq!(content_type(None, None), "audio/mpeg");
        assert_eq!(content_type(Some("wav"), None), "audio/wav");
        assert_eq!(content_type(Some("opus"), None), "audio/opus");
        assert_eq!(content_type(Some("mp3"), Some("sse")), "text/event-stream");
    }
}
