//! An OpenAI call passed through to the OpenAI upstream in OpenAI's chunk format: chat completions of an
//! OpenAI model and legacy text completions (their chunks differ only in where the text is). The caller's
//! bytes go as they came, except that a stream gets `stream_options.include_usage` added when the caller
//! did not ask for it, so it can be metered; that usage chunk is kept from the caller. A whole answer is
//! metered from its usage; a stream chunk by chunk, each parsed once.

use super::chunk::{self, Chunk};
use crate::server::metrics::Surface;
use crate::server::proxy::call::{self, Admitted};
use crate::server::proxy::dialect::Dialect;
use crate::server::proxy::metering;
use crate::server::proxy::settlement_writer::CallGuard;
use crate::server::proxy::sse;
use crate::server::proxy::upstream::{Outgoing, UpstreamBody, UpstreamError};
use crate::server::state::AppState;
use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::time::Instant;

const D: Dialect = Dialect::OpenAi;

/// Where an admitted call goes and how it was asked: the surface (for the metrics), the upstream path,
/// whether it streams, whether the caller asked for the usage chunk, and (a chat completion with
/// `store: true`) the metadata it is kept with: its id is remembered for the caller as soon as it is known.
pub struct Route {
    pub surface: Surface,
    pub path: &'static str,
    pub streaming: bool,
    pub include_usage: bool,
    pub stored: Option<String>,
}

/// Sends an admitted call's body to the OpenAI upstream at `route.path`, relays the answer and settles it.
pub async fn relay(
    state: AppState,
    admitted: Admitted,
    (running, started): (CallGuard, Instant),
    route: Route,
    body: Bytes,
    headers: &HeaderMap,
) -> Response {
    let Route { surface, path, streaming, include_usage, stored } = route;
    // A stored completion's id, remembered for the caller before the caller can read it. Nothing is set up
    // (nor any answer read for its id) for a call that is not stored.
    let mut keep = stored.map(|metadata| Keep {
        state: state.clone(),
        user_id: admitted.user_id,
        model: admitted.model.clone(),
        metadata,
        kept: false,
    });
    let outgoing = match streaming && !include_usage {
        false => Ok(Outgoing::body(body, streaming)),
        true => serde_json::from_slice::<Value>(&body).map(|mut r| {
            // Ask for usage so the call can be metered; the caller only sees it if they asked.
            r["stream_options"] = serde_json::json!({"include_usage": true});
            Outgoing::json(&r)
        }),
    };
    let outgoing = match outgoing {
        Ok(o) => o,
        Err(e) => {
            call::release(&state, &admitted).await;
            return call::not_json(e).into_response(D);
        }
    };
    let answer = match call::send_upstream(&state, &admitted, (D, D), path, &outgoing, headers).await {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    match answer {
        UpstreamBody::Json(answer) => {
            if let Some(k) = keep.as_mut() {
                k.id(answer_id(&answer).as_deref());
            }
            let Some(usage) = metering::answer_usage::<chunk::UsageReport>(&answer) else {
                tracing::warn!(model = %admitted.model, "upstream answered with something that is not JSON");
                call::release(&state, &admitted).await;
                return call::upstream_error(&UpstreamError::Broken("not JSON".into())).into_response(D);
            };
            call::settle_whole(&state, &admitted, usage, answer.len()).await;
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], answer).into_response()
        }
        UpstreamBody::Stream(upstream) => {
            let watch = call::StreamWatch::new(&state, surface, started);
            let (relay, response) = call::open_stream(D, watch);
            let mut parser = sse::Parser::default();
            // Nothing held back: the upstream's bytes go to the caller as they came (still read once, for
            // metering), without writing each event again.
            let raw = include_usage;
            call::relay_stream(state, admitted, running, (upstream, relay), move |piece, meter| {
                let mut out: Vec<Bytes> = Vec::new();
                for ev in parser.push(&piece) {
                    match Chunk::parse(&ev.data) {
                        Some(c) => {
                            if let Some(k) = keep.as_mut() {
                                k.id(c.id.as_deref());
                            }
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

/// What a stored completion is remembered with, until its id is seen.
struct Keep {
    state: AppState,
    user_id: i64,
    model: String,
    metadata: String,
    kept: bool,
}

impl Keep {
    /// The answer's id (or a chunk's): remembered the first time it is seen.
    fn id(&mut self, id: Option<&str>) {
        if let (Some(id), false) = (id, self.kept) {
            let remember = crate::server::proxy::stored_completions::remember;
            remember(&self.state, self.user_id, &self.model, &self.metadata, id);
            self.kept = true;
        }
    }
}

/// The `id` of a whole answer.
fn answer_id(answer: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        #[serde(default)]
        id: Option<String>,
    }
    serde_json::from_slice::<Id>(answer).ok().and_then(|a| a.id)
}
