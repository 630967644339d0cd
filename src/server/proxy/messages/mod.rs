//! The Anthropic Messages API, on `/v1/messages` and `/api/v1/ai/anthropic/{channel}/v1/messages` (with
//! `count_tokens` beside it). Claude models pass through to the Anthropic upstream byte for byte: the
//! request is read only for its model, limits and `stream`; the answer only for its usage (`events`).
//! Translators from the other surfaces build Messages requests from `request`'s pieces.

mod count_tokens;
pub mod events;
pub mod request;

use super::call::{self, Ask};
use super::dialect::{Dialect, ProxyError};
use super::metering;
use super::settlement_writer::CallGuard;
use super::sse;
use super::upstream::{Outgoing, UpstreamBody, UpstreamError};
use super::{AnthropicBody, AnthropicChannel, CallBody, OnChannel};
use crate::server::metrics::Surface;
use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use events::Event;
use std::time::Instant;

const D: Dialect = Dialect::Anthropic;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/messages", post(call))
        .route("/v1/messages/count_tokens", post(count_tokens::count))
        .route("/api/v1/ai/anthropic/{channel}/v1/messages", post(call))
        .route("/api/v1/ai/anthropic/{channel}/v1/messages/count_tokens", post(count_tokens::count))
}

/// A Messages call, counted for the metrics with whatever it was answered (a refused body included). It
/// cannot be cancelled halfway by a caller who disconnects (`call::uncancellable`): once admitted, it is
/// answered by the upstream, metered and settled (or its hold released) whatever the caller does.
async fn call(
    State(state): State<AppState>,
    OnChannel(channel): AnthropicChannel,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<AnthropicBody, Response>,
) -> Response {
    let s = state.clone();
    let on = (Surface::Messages, D, channel);
    call::charged(&state, on, body.map(|CallBody(b)| b), |body, running| run(s, channel, q, headers, body, running))
        .await
}

async fn run(
    state: AppState,
    channel: &'static str,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    (running, started): (CallGuard, Instant),
) -> Response {
    let key = match call::authenticate(&state, &headers).await {
        Ok(k) => k,
        Err(e) => return e.into_response(D),
    };
    let peek: request::Peek<'_> = match call::read_request(&body) {
        Ok(p) => p,
        Err(e) => return e.into_response(D),
    };
    if let Some(refusal) = request::unmetered_tool(peek.tools.as_deref()) {
        return ProxyError::BadRequest(refusal).into_response(D);
    }
    let stream = peek.stream == Some(true);
    let limit_searches = request::unlimited_search(peek.tools.as_deref());
    let ask = Ask {
        user_id: key.user_id,
        key: Some(key),
        channel,
        model: peek.model.as_deref().unwrap_or_default().to_string(),
        kind: crate::server::domain::pricing::ModelKind::Chat,
        max_tokens: peek.max_tokens,
        choices: None,
        prompts: 1,
        request_bytes: body.len(),
        web_searches: peek.web_searches_allowed(),
        image: None,
        request_id: call::request_id_of(&headers),
    };
    // A search tool without `max_uses` gets the limit the hold counts, so no search goes unbilled.
    let body = match limit_searches.then(|| request::with_search_limit(&body, false)).flatten() {
        Some(limited) => Bytes::from(limited),
        None => body,
    };
    let admitted = match call::admit(&state, ask).await {
        Ok(a) => a,
        Err(e) => return e.into_response(D),
    };
    if call::provider_dialect(&admitted.model) != D {
        call::release(&state, &admitted).await;
        return ProxyError::BadRequest(format!(
            "`{}` is not a Claude model; call it through the OpenAI-compatible /v1/chat/completions.",
            admitted.model
        ))
        .into_response(D);
    }
    let path = match &query {
        Some(q) => format!("/v1/messages?{q}"),
        None => "/v1/messages".to_string(),
    };
    let outgoing = Outgoing::body(body, stream);
    let answer = match call::send_upstream(&state, &admitted, (D, D), &path, &outgoing, &headers).await {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    match answer {
        UpstreamBody::Json(answer) => {
            let Some(usage) = metering::answer_usage::<events::UsageReport>(&answer) else {
                tracing::warn!(model = %admitted.model, "upstream answered with something that is not JSON");
                call::release(&state, &admitted).await;
                return call::upstream_error(&UpstreamError::Broken("not JSON".into())).into_response(D);
            };
            call::settle_whole(&state, &admitted, usage, answer.len()).await;
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], answer).into_response()
        }
        UpstreamBody::Stream(upstream) => {
            let watch = call::StreamWatch::new(&state, Surface::Messages, started);
            let (relay, response) = call::open_stream(D, watch);
            let mut parser = sse::Parser::default();
            // The upstream's bytes go to the caller as they came; each event is read once, for the meter.
            call::relay_stream(state, admitted, running, (upstream, relay), move |chunk, meter| {
                for ev in parser.push(&chunk) {
                    if let Some(e) = Event::parse(&ev.data) {
                        e.meter(meter);
                    }
                }
                vec![chunk]
            });
            response
        }
    }
}
