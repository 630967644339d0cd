//! The HTTP/1.1 server loop, with the limits that keep slow or idle clients from holding the server's
//! sockets and file descriptors:
//! - a request's headers must arrive within the header timeout (hyper closes the connection otherwise);
//! - a request body may not stall longer than the body timeout between two pieces (the request fails);
//! - a connection with no request in flight is closed after the idle timeout, whatever bytes trickle in
//!   (an idle keep-alive connection, or one sending half a request's headers a byte at a time).
//!
//! A request in flight is never cut by these: a call waiting a minute for the upstream, or a stream
//! running for an hour, keeps its connection. At start the process raises its open-file limit to the hard
//! limit (systemd's default soft limit, 1024, is what a few idle sockets used up). Graceful shutdown:
//! stop accepting, let requests in flight finish, close idle connections at once.

use super::connection_cap::{ConnectionCap, REFUSAL};
use crate::server::time::monotonic_ms;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// The timeouts of every connection (`HTTP_HEADER_TIMEOUT_SECS`, `HTTP_BODY_TIMEOUT_SECS`,
/// `HTTP_IDLE_TIMEOUT_SECS`) and how many one client may have open (`HTTP_MAX_CONNECTIONS_PER_ADDRESS`, see
/// [`ConnectionCap`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_read: Duration,
    pub body_read: Duration,
    pub idle: Duration,
    /// 0: no cap.
    pub per_address: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(30),
            idle: Duration::from_secs(60),
            per_address: 256,
        }
    }
}

/// Requests in flight on one connection, and since when none has been.
struct Activity {
    in_flight: AtomicUsize,
    idle_since: AtomicI64,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self { in_flight: AtomicUsize::new(0), idle_since: AtomicI64::new(monotonic_ms()) })
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }

    /// Resolves once the connection has had no request in flight for `idle`.
    async fn idle_for(&self, idle: Duration) {
        let idle_ms = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
        loop {
            let since = self.idle_since.load(Ordering::Acquire);
            let due = since.saturating_add(idle_ms);
            let now = monotonic_ms();
            if self.in_flight.load(Ordering::Acquire) == 0 && now >= due {
                return;
            }
            let wait = if self.in_flight.load(Ordering::Acquire) > 0 { idle_ms } else { due - now };
            tokio::time::sleep(Duration::from_millis(u64::try_from(wait.max(1)).unwrap_or(1))).await;
        }
    }
}

/// Held while a request (its response body included) is in flight.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.idle_since.store(monotonic_ms(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in flight until it has been sent (or dropped).
struct CountedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for CountedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The longest a request body may take to arrive whole (a 50 MiB upload on a slow link fits).
const BODY_WHOLE_WITHIN: Duration = Duration::from_secs(600);
/// Stands in for a limit too far away to represent (about thirty years).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// A request body's two limits as one: it may not stall longer than `stall` between two pieces, and it
/// must be whole within [`BODY_WHOLE_WITHIN`] of the request's start. Both are what a slow client costs, so
/// both are checked while the body keeps the request waiting, and only then is a timer set: a body at hand
/// with its headers (an API call's, nearly always) sets none, so the hot path registers no timer for it.
struct BodyDeadlines<B> {
    inner: B,
    stall: Duration,
    whole_by: tokio::time::Instant,
    /// Set when the body made the request wait; cleared by the next piece.
    waiting: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<B> BodyDeadlines<B> {
    /// `inner` may not stall longer than `stall` between two pieces and must be whole within `whole_within`.
    fn new(inner: B, stall: Duration, whole_within: Duration) -> Self {
        let now = tokio::time::Instant::now();
        // A limit too far to represent (an operator's "never") is no limit: the far future stands in.
        let whole_by = now.checked_add(whole_within).unwrap_or_else(|| now + FAR_FUTURE);
        Self { inner, stall, whole_by, waiting: None }
    }
}

impl<B> http_body::Body for BodyDeadlines<B>
where
    B: http_body::Body<Data = axum::body::Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = axum::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if let std::task::Poll::Ready(frame) = std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            this.waiting = None;
            return std::task::Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        let (stall, whole_by) = (this.stall, this.whole_by);
        let waiting = this.waiting.get_or_insert_with(|| {
            let now = tokio::time::Instant::now();
            let stalled_at = now.checked_add(stall).unwrap_or(whole_by);
            Box::pin(tokio::time::sleep_until(stalled_at.min(whole_by)))
        });
        if waiting.as_mut().poll(cx).is_ready() {
            let why = if tokio::time::Instant::now() >= whole_by {
                "the request body did not arrive whole in time"
            } else {
                "the request body stalled"
            };
            return std::task::Poll::Ready(Some(Err(why.into())));
        }
        std::task::Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Tells a client over its connection share why (503), then closes: its request is read (half a second at
/// most, 64 KiB) so the close does not reset the connection before the client reads the answer.
async fn refuse(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let told = async {
        stream.write_all(REFUSAL).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut read = 0;
        while read < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => read += n,
            }
        }
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), told).await;
}

/// Raises the soft open-file limit to the hard one, so sockets are not refused at 1024.
pub fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
                let wanted = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
                    tracing::warn!(soft = limit.rlim_cur, "could not raise the open-file limit");
                }
            }
        }
    }
}

/// Serves `router` on `listener` until `stop` resolves, then lets requests in flight finish, for `drain` at
/// most (then their connections are closed). `cap` counts connections per client network.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    cap: Arc<ConnectionCap>,
    stop: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> std::io::Result<()> {
    let (stopping, stopped) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::error!(error = %e, "accept error");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let Some(admitted) = cap.admit(peer.ip()) else {
            connections.spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let mut stopped = stopped.clone();
        connections.spawn(async move {
            let _admitted = admitted;
            let activity = Activity::new();
            let counted = Arc::clone(&activity);
            let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                let in_flight = counted.begin();
                request.extensions_mut().insert(ConnectInfo(peer));
                // A body that stalls longer than the body timeout between two pieces, or that is not all in
                // within [`BODY_WHOLE_WITHIN`] (a byte trickled now and then), fails the request.
                let request = request.map(|b| Body::new(BodyDeadlines::new(b, limits.body_read, BODY_WHOLE_WITHIN)));
                let answer = router.clone().oneshot(request);
                async move {
                    let response = answer.await.unwrap_or_else(|never| match never {});
                    Ok::<_, std::convert::Infallible>(
                        response.map(|inner| CountedBody { inner, _in_flight: in_flight }),
                    )
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = &mut connection => return,
                () = activity.idle_for(limits.idle) => return,
                _ = stopped.wait_for(|s| *s) => connection.as_mut().graceful_shutdown(),
            }
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    let drained = tokio::time::timeout(drain, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "connections still open after the shutdown grace; closing them"
        );
        connections.abort_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(stream: &mut tokio::net::TcpStream) -> String {
        stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut answer = vec![0; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer)).await.unwrap().unwrap();
        String::from_utf8_lossy(&answer[..n]).into_owned()
    }

    /// The next frame of a body under [`BodyDeadlines`], with the timer it set meanwhile (if any).
    async fn next_frame<B>(body: &mut BodyDeadlines<B>) -> Option<Result<Vec<u8>, String>>
    where
        B: http_body::Body<Data = axum::body::Bytes> + Unpin,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        use http_body::Body as _;
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx)).await?;
        Some(frame.map(|f| f.into_data().map(|d| d.to_vec()).unwrap_or_default()).map_err(|e| e.to_string()))
    }

    /// A body fed by the returned sender, piece by piece.
    fn fed_body() -> (tokio::sync::mpsc::Sender<Result<axum::body::Bytes, std::io::Error>>, Body) {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
        (tx, Body::from_stream(stream))
    }

    #[tokio::test]
    async fn a_body_at_hand_sets_no_timer_and_one_that_stalls_or_never_ends_fails() {
        let ms = Duration::from_millis;
        // At hand with its headers: read without a timer.
        let mut at_hand = BodyDeadlines::new(Body::from("{}"), ms(50), ms(100));
        assert_eq!(next_frame(&mut at_hand).await, Some(Ok(b"{}".to_vec())));
        assert!(at_hand.waiting.is_none(), "no timer for a body at hand");
        assert_eq!(next_frame(&mut at_hand).await, None);

        // A body whose next piece never comes fails once it stalled for its limit; the timer set while it
        // waited goes with the piece that comes in time. The margins are wide: a busy machine may pause the
        // test for a good fraction of a second.
        let (tx, body) = fed_body();
        let mut stalled = BodyDeadlines::new(body, ms(1500), Duration::from_secs(60));
        let feed = tokio::spawn(async move {
            tokio::time::sleep(ms(50)).await;
            tx.send(Ok("a".into())).await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        assert_eq!(next_frame(&mut stalled).await, Some(Ok(b"a".to_vec())));
        assert!(stalled.waiting.is_none(), "a piece in time clears the timer");
        let waited = std::time::Instant::now();
        let failed = next_frame(&mut stalled).await.unwrap().unwrap_err();
        assert!(failed.contains("stalled"), "{failed}");
        assert!(waited.elapsed() >= ms(1450) && waited.elapsed() < Duration::from_secs(10), "{:?}", waited.elapsed());
        feed.abort();

        // A piece every 20 ms never stalls for 1.5 s, but the body is not whole within 600 ms.
        let (tx, body) = fed_body();
        let started = std::time::Instant::now();
        let mut trickling = BodyDeadlines::new(body, ms(1500), ms(600));
        let feed = tokio::spawn(async move {
            while tx.send(Ok("x".into())).await.is_ok() {
                tokio::time::sleep(ms(20)).await;
            }
        });
        let failed = loop {
            match next_frame(&mut trickling).await {
                Some(Ok(_)) => continue,
                Some(Err(e)) => break e,
                None => panic!("the trickle ended"),
            }
        };
        assert!(failed.contains("did not arrive whole"), "{failed}");
        assert!(started.elapsed() >= ms(590) && started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        feed.abort();

        // Limits too far to represent (an operator's "never") are no limits, not a panic.
        let (_feeding, body) = fed_body();
        let mut unlimited = BodyDeadlines::new(body, Duration::MAX, Duration::MAX);
        let pending = tokio::time::timeout(ms(50), next_frame(&mut unlimited)).await;
        assert!(pending.is_err(), "still waiting for its first piece");
        assert!(unlimited.waiting.is_some());
    }

    #[tokio::test]
    async fn a_client_over_its_connection_share_is_told_so_while_others_are_served() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/", axum::routing::get(|| async { "hello" }));
        // Loopback counted here (the server exempts it), two connections at most.
        let cap = ConnectionCap::new(2, |_| false);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stop = async move {
            let _ = stop_rx.await;
        };
        let limits = ConnectionLimits::default();
        let server = tokio::spawn(serve(listener, router, limits, Arc::clone(&cap), stop, Duration::from_secs(1)));
        let mut first = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _second = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(get(&mut first).await.ends_with("hello"));
        let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut refused = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), third.read_to_string(&mut refused)).await.unwrap();
        assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
        assert!(refused.contains("Too many connections"), "{refused}");
        // The first still works; once it closes, its share comes back.
        assert!(get(&mut first).await.ends_with("hello"));
        drop(first);
        let mut fourth = None;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if cap.open_from("127.0.0.1".parse().unwrap()) < 2 {
                fourth = Some(tokio::net::TcpStream::connect(addr).await.unwrap());
                break;
            }
        }
        let mut fourth = fourth.expect("the closed connection was given back");
        assert!(get(&mut fourth).await.ends_with("hello"));
        let _ = stop_tx.send(());
        drop(fourth);
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_connection_is_idle_only_while_no_request_is_in_flight() {
        let activity = Activity::new();
        let idle = Duration::from_millis(40);
        let started = std::time::Instant::now();
        activity.idle_for(idle).await;
        assert!(started.elapsed() >= idle);
        let request = activity.begin();
        let waiting = tokio::time::timeout(Duration::from_millis(120), activity.idle_for(idle)).await;
        assert!(waiting.is_err(), "a request in flight keeps the connection");
        drop(request);
        let started = std::time::Instant::now();
        activity.idle_for(idle).await;
        assert!(started.elapsed() >= Duration::from_millis(30), "idle counts from the request's end");
    }
}
