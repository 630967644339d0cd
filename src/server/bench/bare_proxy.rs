//! `gatehouse bare-proxy --upstream URL [ADDR]`: the physical limit the benchmark compares Gatehouse with.
//! An axum server that forwards every request to the upstream with the same HTTP client library Gatehouse
//! uses (reqwest on hyper-util) and streams the answer back: no keys, no limits, no money, no logging.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::StreamExt;
use std::sync::Arc;

struct Upstream {
    base: String,
    http: reqwest::Client,
}

async fn forward(
    State(up): State<Arc<Upstream>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = up.http.request(method, format!("{}{path}", up.base)).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            req = req.header(name, value);
        }
    }
    match req.send().await {
        Ok(res) => {
            let status = res.status();
            let content_type = res.headers().get("content-type").cloned();
            let mut out =
                Response::new(Body::from_stream(res.bytes_stream().map(|r| r.map_err(std::io::Error::other))));
            *out.status_mut() = status;
            if let Some(ct) = content_type {
                out.headers_mut().insert("content-type", ct);
            }
            out
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

pub async fn serve(listener: tokio::net::TcpListener, upstream: &str) -> std::io::Result<()> {
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1024)
        // Configured as Gatehouse's upstream client is.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(std::io::Error::other)?;
    let state = Arc::new(Upstream { base: upstream.trim_end_matches('/').to_string(), http });
    let router = Router::new().fallback(forward).with_state(state);
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router).await
}
