//! Bounds on what one upstream answer may cost, whatever the upstream does. A streamed answer ends as an
//! upstream failure (billed by the metering policy: what it carried) when
//! - one of its events (or lines) grows past [`MAX_EVENT_BYTES`] without ending,
//! - the call passes its total deadline (`UPSTREAM_CALL_DEADLINE_SECS`; the read timeout only bounds the
//!   silence between two reads, so a stream that keeps trickling could otherwise run forever), or
//! - the server is stopping and its shutdown grace ran out ([`Cut`]): the call is settled for what it
//!   carried instead of being abandoned unbilled.
//!
//! A whole (not streamed) answer is read up to [`MAX_ANSWER_BYTES`] within the same deadline.
//!
//! A stream that breaks, runs past its deadline or grows an event too long is counted against its provider
//! ([`Watch`]); one cut at shutdown is not the provider's doing and is not.

use super::upstream::{ByteStream, UpstreamError};
use crate::server::metrics::upstreams::UpstreamStats;
use axum::body::Bytes;
use futures_util::StreamExt;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;

/// The longest event (or line) a streamed answer may carry. The largest real ones are the Responses API's
/// `response.completed`, which repeats the whole output.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;
/// The largest whole answer read.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// Tells every running upstream stream to end now (shutdown, once the grace ran out).
#[derive(Clone, Debug)]
pub struct Cut {
    tx: std::sync::Arc<watch::Sender<bool>>,
}

impl Default for Cut {
    fn default() -> Self {
        Self { tx: std::sync::Arc::new(watch::channel(false).0) }
    }
}

impl Cut {
    pub fn now(&self) {
        self.tx.send_replace(true);
    }

    /// Resolves once the cut is made (never, while it is not).
    async fn made(mut rx: watch::Receiver<bool>) {
        if rx.wait_for(|cut| *cut).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// How far the current event and line of a stream have grown, across chunks.
#[derive(Default)]
struct EventScan {
    line: usize,
    event: usize,
}

impl EventScan {
    fn push(&mut self, chunk: &[u8]) -> Result<(), UpstreamError> {
        let mut rest = chunk;
        while let Some(at) = rest.iter().position(|b| *b == b'\n') {
            let line = self.line + at;
            // A line holding nothing (or a lone `\r`) ends the event; no SSE field fits in one byte.
            let blank = line <= 1;
            self.event = if blank { 0 } else { self.event + at + 1 };
            self.line = 0;
            rest = &rest[at + 1..];
            self.check()?;
        }
        self.line += rest.len();
        self.event += rest.len();
        self.check()
    }

    fn check(&self) -> Result<(), UpstreamError> {
        if self.line.max(self.event) > MAX_EVENT_BYTES {
            return Err(UpstreamError::Broken(format!(
                "an event of the stream grew past {} MiB without ending",
                MAX_EVENT_BYTES / (1024 * 1024)
            )));
        }
        Ok(())
    }
}

/// Whose stream it is: the provider a break is counted against.
pub struct Watch {
    pub stats: Arc<UpstreamStats>,
    /// The provider's place in the configuration.
    pub provider: usize,
}

/// `stream` with its bounds: it yields an upstream failure, then ends, when an event grows too long, at
/// `deadline`, or when `cut` is made. A failure other than the cut is counted against `watch`'s provider.
pub fn guard(stream: ByteStream, deadline: Instant, cut: &Cut, watch: Option<Watch>) -> ByteStream {
    struct State {
        inner: ByteStream,
        scan: EventScan,
        deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
        cut: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
        watch: Option<Watch>,
    }
    let state = State {
        inner: stream,
        scan: EventScan::default(),
        deadline: Box::pin(tokio::time::sleep_until(deadline)),
        cut: Box::pin(Cut::made(cut.tx.subscribe())),
        watch,
    };
    Box::pin(futures_util::stream::unfold(Some(state), |state| async move {
        let mut s = state?;
        // With whether a failure is the provider's (all but the cut at shutdown).
        let (next, providers_fault) = tokio::select! {
            biased;
            () = &mut s.cut => (Err(UpstreamError::Broken("the server is stopping".into())), false),
            () = &mut s.deadline => (Err(UpstreamError::Broken("the call ran past its deadline".into())), true),
            item = s.inner.next() => (match item? {
                Ok(chunk) => s.scan.push(&chunk).map(|()| chunk),
                Err(e) => Err(e),
            }, true),
        };
        Some(match next {
            Ok(chunk) => (Ok(chunk), Some(s)),
            Err(e) => {
                if let Some(w) = s.watch.as_ref().filter(|_| providers_fault) {
                    w.stats.broke(w.provider, &e.to_string(), crate::server::time::now_ms());
                }
                (Err(e), None)
            }
        })
    }))
}

/// A whole answer, read up to [`MAX_ANSWER_BYTES`] by `deadline`.
pub async fn read_whole(response: reqwest::Response, deadline: Instant) -> Result<Bytes, UpstreamError> {
    if response.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
        return Err(too_large());
    }
    let read = async {
        let mut body = Vec::new();
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| UpstreamError::Broken(e.without_url().to_string()))?;
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(body))
    };
    tokio::time::timeout_at(deadline, read)
        .await
        .unwrap_or_else(|_| Err(UpstreamError::Broken("the call ran past its deadline".into())))
}

fn too_large() -> UpstreamError {
    UpstreamError::Broken(format!("the answer is larger than {} MiB", MAX_ANSWER_BYTES / (1024 * 1024)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_of(chunks: Vec<Vec<u8>>) -> ByteStream {
        Box::pin(futures_util::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from(c)))))
    }

    async fn collect(s: ByteStream) -> (usize, Option<UpstreamError>) {
        let items: Vec<_> = s.collect().await;
        let bytes = items.iter().filter_map(|i| i.as_ref().ok()).map(Bytes::len).sum();
        (bytes, items.into_iter().find_map(Result::err))
    }

    fn far() -> Instant {
        Instant::now() + std::time::Duration::from_secs(60)
    }

    #[tokio::test]
    async fn ordinary_streams_pass_untouched() {
        let events = b"event: a\ndata: {}\n\nevent: b\r\ndata: {}\r\n\r\n".to_vec();
        let (bytes, err) = collect(guard(stream_of(vec![events.clone(); 1000]), far(), &Cut::default(), None)).await;
        assert_eq!((bytes, err), (events.len() * 1000, None));
        // Many events adding up to more than the cap are fine: the cap is per event.
        let event = format!("data: {}\n\n", "x".repeat(1024 * 1024)).into_bytes();
        let (bytes, err) = collect(guard(stream_of(vec![event.clone(); 20]), far(), &Cut::default(), None)).await;
        assert_eq!((bytes, err), (event.len() * 20, None));
    }

    #[tokio::test]
    async fn an_event_growing_past_the_cap_ends_the_stream_as_broken() {
        // One line, in 1 MiB pieces, never ending.
        let mut chunks = vec![b"data: ".to_vec()];
        chunks.extend(std::iter::repeat_n(vec![b'x'; 1024 * 1024], 40));
        let (bytes, err) = collect(guard(stream_of(chunks), far(), &Cut::default(), None)).await;
        assert!(matches!(err, Some(UpstreamError::Broken(m)) if m.contains("16 MiB")));
        assert!(bytes <= MAX_EVENT_BYTES, "{bytes}");
        // Many short lines that never make a blank one: one event.
        let lines = vec![b"data: x\n".to_vec(); MAX_EVENT_BYTES / 8 + 10];
        let (_, err) = collect(guard(stream_of(lines), far(), &Cut::default(), None)).await;
        assert!(err.is_some());
    }

    #[tokio::test]
    async fn a_stream_ends_at_its_deadline_and_when_the_cut_is_made() {
        let endless: ByteStream = Box::pin(futures_util::stream::unfold((), |()| async {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            Some((Ok(Bytes::from_static(b"data: {}\n\n")), ()))
        }));
        let deadline = Instant::now() + std::time::Duration::from_millis(60);
        let (bytes, err) = collect(guard(endless, deadline, &Cut::default(), None)).await;
        assert!(bytes > 0);
        assert!(matches!(err, Some(UpstreamError::Broken(m)) if m.contains("deadline")));

        let cut = Cut::default();
        let silent: ByteStream = Box::pin(futures_util::stream::pending());
        let guarded = guard(silent, far(), &cut, None);
        let ended = tokio::spawn(collect(guarded));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        cut.now();
        let (_, err) = ended.await.unwrap();
        assert!(matches!(err, Some(UpstreamError::Broken(m)) if m.contains("stopping")));
    }
}
