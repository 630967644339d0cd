//! What every request and response passes through first and last, in one layer: the request gets its id
//! (`request_id`: the client's when sane, otherwise a fresh one) before anything else sees it, and the
//! response carries that id and the security headers (`security_headers`). One hand-written service
//! instead of four stacked layers, so an API call pays for no boxed service, boxed future or extension on
//! its way in and out.

use super::request_id::{self, RequestIds};
use super::security_headers::{self, Hsts};
use axum::http::{HeaderValue, Request, Response};
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// The layer: request ids from one generator, and whether responses carry HSTS.
#[derive(Clone)]
pub struct EdgeLayer {
    ids: RequestIds,
    hsts: Hsts,
}

impl EdgeLayer {
    pub fn new(hsts: Hsts) -> Self {
        Self { ids: RequestIds::default(), hsts }
    }
}

impl<S> tower::Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge { inner, ids: self.ids.clone(), hsts: self.hsts }
    }
}

#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    ids: RequestIds,
    hsts: Hsts,
}

impl<S, B, R> tower::Service<Request<B>> for Edge<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let id = request_id::settle(request.headers_mut(), &self.ids);
        EdgeFuture { inner: self.inner.call(request), id, hsts: self.hsts }
    }
}

pin_project_lite::pin_project! {
    pub struct EdgeFuture<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
        hsts: Hsts,
    }
}

impl<F, R, E> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        let headers = response.headers_mut();
        if let Some(id) = this.id.take() {
            headers.entry(request_id::HEADER).or_insert(id);
        }
        security_headers::add_to(headers, *this.hsts);
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::header;
    use tower::{Service, ServiceExt};

    async fn through(request: Request<Body>, answer: Response<Body>, hsts: bool) -> (Option<String>, Response<Body>) {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
        let saw = std::sync::Arc::clone(&seen);
        let answer = std::sync::Mutex::new(Some(answer));
        let inner = tower::service_fn(move |r: Request<Body>| {
            *saw.lock().unwrap() = r.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_string());
            let a = answer.lock().unwrap().take().unwrap();
            async move { Ok::<_, std::convert::Infallible>(a) }
        });
        let mut edge = tower::Layer::layer(&EdgeLayer::new(Hsts(hsts)), inner);
        let response = edge.ready().await.unwrap().call(request).await.unwrap();
        let seen = seen.lock().unwrap().clone();
        (seen, response)
    }

    #[tokio::test]
    async fn the_request_gets_its_id_before_the_app_and_the_response_carries_it_with_the_security_headers() {
        // A sane client id is kept and echoed.
        let req = Request::builder().header("x-request-id", "req-1").body(Body::empty()).unwrap();
        let (seen, res) = through(req, Response::new(Body::empty()), false).await;
        assert_eq!(seen.as_deref(), Some("req-1"));
        assert_eq!(res.headers()["x-request-id"], "req-1");
        assert_eq!(res.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(res.headers()[header::REFERRER_POLICY], "same-origin");
        assert!(!res.headers().contains_key(header::STRICT_TRANSPORT_SECURITY));
        assert!(!res.headers().contains_key(header::CONTENT_SECURITY_POLICY), "not a page");

        // An insane one (or two of them) is replaced by a fresh id, the same the app saw.
        for given in [vec!["a b"], vec!["x", "y"]] {
            let mut req = Request::builder();
            for g in &given {
                req = req.header("x-request-id", *g);
            }
            let (seen, res) = through(req.body(Body::empty()).unwrap(), Response::new(Body::empty()), true).await;
            let seen = seen.expect("a fresh id");
            assert!(!given.contains(&seen.as_str()), "{seen}");
            assert_eq!(res.headers()["x-request-id"], seen.as_str());
            assert_eq!(res.headers().get_all("x-request-id").iter().count(), 1);
            assert_eq!(res.headers()[header::STRICT_TRANSPORT_SECURITY], "max-age=31536000");
        }

        // A page gets the policy without a nonce unless it set its own; an id the app set itself stays.
        let page = Response::builder()
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .header("x-request-id", "own")
            .body(Body::empty())
            .unwrap();
        let (_, res) = through(Request::new(Body::empty()), page, false).await;
        assert_eq!(res.headers()["x-request-id"], "own");
        assert_eq!(res.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert!(res.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("frame-ancestors 'none'"));
    }
}
