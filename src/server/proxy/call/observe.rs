//! What every API call tells the metrics (`metrics::calls`): the status it was answered with and how long
//! it took; for a streamed answer, when its first piece went to the caller and when the stream ended. Each
//! is an atomic addition or two on counters the gateway sized at start, so the hot path stays cheap.

use crate::server::metrics::{CallMetrics, Surface};
use crate::server::state::AppState;
use axum::response::Response;
use std::sync::Arc;
use std::time::Instant;

/// Counts a call's answer (a refusal as much as a success), `started` being when its handler began. A
/// whole answer's duration is counted here; a stream's when it ends (see [`StreamWatch`]).
pub fn answered(state: &AppState, surface: Surface, channel: &str, started: Instant, response: &Response) {
    let metrics = &state.gateway.metrics;
    metrics.answered(surface, channel, response.status().as_u16());
    if !is_stream(response) {
        metrics.took(surface, started.elapsed());
    }
}

/// Marks an answer opened by `open_stream` (whatever its content type: events or audio).
#[derive(Clone, Copy, Debug)]
pub struct Streamed;

/// An answer opened by `open_stream`: its duration is the stream's, counted when the stream ends.
fn is_stream(response: &Response) -> bool {
    response.extensions().get::<Streamed>().is_some()
}

/// Follows a streamed answer for the metrics: the first piece handed to the caller, and (when it is
/// dropped with the stream's relay) how long the whole stream took.
pub struct StreamWatch {
    metrics: Arc<CallMetrics>,
    surface: Surface,
    started: Instant,
    first_sent: bool,
}

impl StreamWatch {
    /// For a call of `surface` whose handler began at `started`.
    pub fn new(state: &AppState, surface: Surface, started: Instant) -> Self {
        Self { metrics: Arc::clone(&state.gateway.metrics), surface, started, first_sent: false }
    }

    /// Pieces are about to go to the caller: the first time, the time to the first piece is counted.
    pub(super) fn sending(&mut self) {
        if !self.first_sent {
            self.first_sent = true;
            self.metrics.first_piece(self.surface, self.started.elapsed());
        }
    }
}

impl Drop for StreamWatch {
    fn drop(&mut self) {
        self.metrics.took(self.surface, self.started.elapsed());
    }
}
