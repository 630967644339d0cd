//! Stage 3 of a call: relay it. No charged call can be cancelled halfway by a caller who leaves
//! ([`uncancellable`]: it moves to a task of its own then); a streamed answer goes from the upstream to the
//! caller through a [`Relay`], which keeps reading the upstream after the caller left (to learn the real
//! usage) and notes whether the upstream broke, and tells the metrics when the stream's first piece went out
//! and when it ended (its [`StreamWatch`]). Each API surface decides what to send for each event it reads.

use super::admit::Admitted;
use super::failures::{internal, upstream_error};
use super::observe::StreamWatch;
use super::settle::{end_stream, release};
use crate::server::metrics::Surface;
use crate::server::proxy::dialect::{Dialect, ProxyError};
use crate::server::proxy::metering::Meter;
use crate::server::proxy::settlement_writer::CallGuard;
use crate::server::proxy::upstream::{ByteStream, Outgoing, UpstreamBody, UpstreamError};
use crate::server::state::AppState;
use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use std::future::Future;
use tokio::sync::mpsc;
use tracing::Instrument;

/// Runs a call so that a caller who leaves cannot cancel it halfway: it runs where its caller waits for it
/// (no task of its own to start and hand the answer back from, on the hot path), and should the caller go
/// away first it moves to a task of its own and finishes there ([`Unstoppable`]). It keeps the request's
/// span either way (its log lines carry the request id); the call counts as running while the guard it
/// gets lives. A call that panics is answered 500.
pub async fn uncancellable<F>(state: &AppState, dialect: Dialect, call: impl FnOnce(CallGuard) -> F) -> Response
where
    F: Future<Output = Response> + Send + 'static,
{
    let running = state.gateway.calls.begin();
    match (Unstoppable { call: Some(Box::pin(call(running).in_current_span())) }).await {
        Ok(response) => response,
        Err(panicked) => internal("call task", panicked).into_response(dialect),
    }
}

/// A call's future that cannot be cancelled: dropped before it finished (its caller left), it is handed
/// to a task of its own to finish, so an admitted call is always settled or released. Resolves to the
/// call's answer, or to what it panicked with.
struct Unstoppable<F: Future<Output = Response> + Send + 'static> {
    call: Option<std::pin::Pin<Box<F>>>,
}

impl<F: Future<Output = Response> + Send + 'static> Future for Unstoppable<F> {
    type Output = Result<Response, String>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let Some(call) = self.call.as_mut() else {
            return std::task::Poll::Ready(Err("polled after it finished".into()));
        };
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call.as_mut().poll(cx)));
        match polled {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(response)) => {
                self.call = None;
                std::task::Poll::Ready(Ok(response))
            }
            Err(panic) => {
                self.call = None;
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                std::task::Poll::Ready(Err(what))
            }
        }
    }
}

impl<F: Future<Output = Response> + Send + 'static> Drop for Unstoppable<F> {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            // The caller left mid-call: the call finishes on its own. Without a runtime (or with one that is
            // shutting down) the process is ending, and the in-memory hold ends with it, as a spawned call's
            // would.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(call);
            }
        }
    }
}

/// A charged call of `surface`, as its route's handler runs it: a body refused while reading it is the
/// answer; otherwise `run` gets the body, the running call's guard and when the call began, and cannot be
/// cancelled by a caller who leaves ([`uncancellable`]). Either way the answer is counted for the metrics.
pub async fn charged<F>(
    state: &AppState,
    (surface, dialect, channel): (Surface, Dialect, &'static str),
    body: Result<Bytes, Response>,
    run: impl FnOnce(Bytes, (CallGuard, std::time::Instant)) -> F,
) -> Response
where
    F: Future<Output = Response> + Send + 'static,
{
    let started = std::time::Instant::now();
    let response = match body {
        Ok(body) => uncancellable(state, dialect, |running| run(body, (running, started))).await,
        Err(refused) => refused,
    };
    super::answered(state, surface, channel, started, &response);
    response
}

/// Sends an admitted call to the providers serving its model (`target` is their dialect). When every one
/// fails before answering, the hold is released and the caller gets the failure in its own `dialect`.
pub async fn send_upstream(
    state: &AppState,
    p: &Admitted,
    (dialect, target): (Dialect, Dialect),
    path: &str,
    outgoing: &Outgoing,
    headers: &axum::http::HeaderMap,
) -> Result<UpstreamBody, Response> {
    match state.gateway.upstreams.send(target, &p.model, path, outgoing, headers).await {
        Ok(reply) => Ok(reply.body),
        Err(e) => {
            tracing::warn!(error = %e, model = %p.model, "upstream failed before answering");
            release(state, p).await;
            Err(upstream_error(&e).into_response(dialect))
        }
    }
}

/// The upstream's whole JSON answer to a request that is not a charged call (retrieving, changing, deleting
/// or listing something it keeps), as the caller gets it: its own 4xx errors (not found, cannot cancel)
/// passed as they came, anything else failing in OpenAI's shape.
pub fn json_answer(got: Result<crate::server::proxy::upstream::UpstreamResponse, UpstreamError>) -> Response {
    use axum::response::IntoResponse;
    let dialect = Dialect::OpenAi;
    match got {
        Ok(crate::server::proxy::upstream::UpstreamResponse { body: UpstreamBody::Json(bytes) }) => {
            ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
        }
        Ok(_) => ProxyError::Upstream { status: 502, message: "The upstream answered with a stream.".into() }
            .into_response(dialect),
        Err(UpstreamError::Status { status, body })
            if (400..500).contains(&status) && serde_json::from_str::<serde_json::Value>(&body).is_ok() =>
        {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(e) => upstream_error(&e).into_response(dialect),
    }
}

/// The two ends of a streamed answer: the caller's (its response, returned at once) and the call task's,
/// which `watch` follows for the metrics.
pub fn open_stream(dialect: Dialect, watch: StreamWatch) -> (Relay, Response) {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .extension(super::observe::Streamed)
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| ProxyError::Internal.into_response(dialect));
    (Relay { tx, caller_left: false, broke: false, watch }, response)
}

/// Relays a streamed answer in a task of its own: `each` gets every chunk of the upstream's and the meter,
/// and returns what the caller is sent for it; at the end (or when the upstream breaks) the call is ended by
/// the one rule ([`end_stream`]). The call counts as running until its charge is queued.
pub fn relay_stream<F>(
    state: AppState,
    admitted: Admitted,
    running: CallGuard,
    (mut upstream, mut relay): (ByteStream, Relay),
    mut each: F,
) where
    F: FnMut(Bytes, &mut Meter) -> Vec<Bytes> + Send + 'static,
{
    tokio::spawn(
        async move {
            let _running = running;
            let mut meter = Meter::default();
            while let Some(chunk) = relay.next_chunk(&mut upstream).await {
                let out = each(chunk, &mut meter);
                relay.send(out).await;
            }
            end_stream(&state, &admitted, &meter, relay.broke, relay.caller_left).await;
            // The stream's duration is counted (its watch) before the call stops counting as running, so
            // whoever waits for running calls finds it counted.
            drop(relay);
        }
        .in_current_span(),
    );
}

/// How long a caller may leave a streamed answer unread before it counts as gone.
pub const CALLER_STALL: std::time::Duration = std::time::Duration::from_secs(60);

/// The call task's end of a streamed answer.
pub struct Relay {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    /// The caller disconnected; the upstream is still read to its end.
    pub caller_left: bool,
    /// The upstream's stream broke before its end.
    pub broke: bool,
    /// Counts the first piece sent, and the stream's duration when the relay is dropped at its end.
    watch: StreamWatch,
}

impl Relay {
    /// The upstream's next chunk; `None` at its end or when it broke (then `broke` is set).
    pub async fn next_chunk(&mut self, upstream: &mut ByteStream) -> Option<Bytes> {
        match upstream.next().await? {
            Ok(chunk) => Some(chunk),
            Err(e) => {
                tracing::warn!(error = %e, "upstream stream broke");
                self.broke = true;
                None
            }
        }
    }

    /// Sends pieces to the caller, unless it has left. A caller that keeps its connection but stops reading
    /// for [`CALLER_STALL`] counts as gone: the upstream is read (and metered) on without it, so neither the
    /// call's deadline nor a shutdown waits on a reader that never reads.
    pub async fn send(&mut self, pieces: Vec<Bytes>) {
        if self.caller_left {
            return;
        }
        if !pieces.is_empty() {
            self.watch.sending();
        }
        for piece in pieces {
            match tokio::time::timeout(CALLER_STALL, self.tx.send(Ok(piece))).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    self.caller_left = true;
                    tracing::info!("caller disconnected mid-stream; metering to the end");
                    return;
                }
                Err(_) => {
                    self.caller_left = true;
                    // Dropping our end ends the caller's stream.
                    let (closed, _) = mpsc::channel(1);
                    self.tx = closed;
                    tracing::info!("caller stopped reading mid-stream; metering to the end without it");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_call_its_caller_stops_waiting_for_finishes_in_a_task_of_its_own() {
        let (finished, was_finished) = tokio::sync::oneshot::channel();
        let (go, gone) = tokio::sync::oneshot::channel::<()>();
        let call = async move {
            let _ = gone.await;
            let _ = finished.send("finished");
            Response::new(Body::empty())
        };
        let mut running = Unstoppable { call: Some(Box::pin(call)) };
        assert!(tokio::time::timeout(Duration::from_millis(20), &mut running).await.is_err(), "still running");
        // The caller leaves: its future is dropped halfway; the call goes on.
        drop(running);
        go.send(()).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), was_finished).await;
        assert_eq!(got.unwrap().unwrap(), "finished");
    }

    #[tokio::test]
    async fn a_call_finished_where_it_was_awaited_answers_and_a_panic_is_an_error() {
        let done = Unstoppable { call: Some(Box::pin(async { Response::new(Body::from("ok")) })) }.await;
        assert_eq!(done.unwrap().status(), StatusCode::OK);
        let panicked = Unstoppable {
            call: Some(Box::pin(async {
                if std::hint::black_box(true) {
                    panic!("boom");
                }
                Response::new(Body::empty())
            })),
        }
        .await;
        assert_eq!(panicked.unwrap_err(), "boom");
    }
}
