//! The built-in mock upstream served over HTTP (`gatehouse mock-upstream`): the same answers the in-process
//! mock gives, at Anthropic's `/v1/messages`, OpenAI's `/v1/chat/completions`, `/v1/completions`,
//! `/v1/embeddings`, `/v1/audio/speech`, `/v1/images/generations` and `/v1/images/edits` (a form), and the
//! Responses API's, Conversations and stored chat completions (`store: true`), and the
//! `/v1/responses` (with retrieve, delete, cancel and input items). The benchmark calls it
//! directly and through Gatehouse, and it stands in for a provider when trying a providers file.

use super as mock;
use crate::server::proxy::upstream::{UpstreamBody, UpstreamError, UpstreamResponse};
use axum::body::{Body, Bytes};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::Router;
use futures_util::StreamExt;
use serde_json::Value;

pub fn router(shape: mock::Shape) -> Router {
    let store = std::sync::Arc::new(mock::responses::Store::default());
    let stored = std::sync::Arc::new(mock::stored::Stored::default());
    let kept = {
        let stored = std::sync::Arc::clone(&stored);
        move |method: Method, uri: Uri, body: Bytes| {
            let stored = std::sync::Arc::clone(&stored);
            async move {
                let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
                respond(match path.starts_with("/v1/conversations") {
                    true => mock::stored::conversations(method.as_str(), path, &body, &stored),
                    false => mock::stored::completions(method.as_str(), path, &body, &stored),
                })
            }
        }
    };
    let chat = move |uri: Uri, body: Bytes| {
        let stored = std::sync::Arc::clone(&stored);
        async move {
            match serde_json::from_slice::<Value>(&body) {
                Ok(r) if r["store"] == true => respond(mock::stored::create_completion(&r, shape, &stored).await),
                _ => answer(uri, body, false, shape).await,
            }
        }
    };
    let responses = move |method: Method, uri: Uri, body: Bytes| {
        let store = std::sync::Arc::clone(&store);
        async move { respond(mock::responses::handle(method.as_str(), uri.path(), &body, shape, &store).await) }
    };
    Router::new()
        .route("/v1/messages", post(move |uri: Uri, body: Bytes| answer(uri, body, true, shape)))
        .route("/v1/chat/completions", post(chat).get(kept.clone()))
        .route("/v1/chat/completions/{*rest}", any(kept.clone()))
        .route("/v1/conversations", any(kept.clone()))
        .route("/v1/conversations/{*rest}", any(kept))
        .route("/v1/completions", post(move |uri: Uri, body: Bytes| answer(uri, body, false, shape)))
        .route("/v1/embeddings", post(move |uri: Uri, body: Bytes| answer(uri, body, false, shape)))
        .route("/v1/audio/speech", post(move |uri: Uri, body: Bytes| answer(uri, body, false, shape)))
        .route("/v1/images/generations", post(move |uri: Uri, body: Bytes| answer(uri, body, false, shape)))
        .route(
            "/v1/images/edits",
            post(move |headers: axum::http::HeaderMap, body: Bytes| async move {
                let form = headers.get(header::CONTENT_TYPE).and_then(|t| mock::form_request(t, &body));
                let Some(request) = form else {
                    return (StatusCode::BAD_REQUEST, "mock upstream: the body is not a form").into_response();
                };
                respond(mock::openai_at("/v1/images/edits", &request, shape).await)
            }),
        )
        .route("/v1/responses", post(responses.clone()))
        .route("/v1/responses/{*rest}", any(responses))
}

async fn answer(uri: Uri, body: Bytes, anthropic: bool, shape: mock::Shape) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "mock upstream: the body is not JSON").into_response();
    };
    let reply = match anthropic {
        true => mock::anthropic(&request, shape).await,
        false => mock::openai_at(uri.path(), &request, shape).await,
    };
    let mut response = respond(reply);
    if uri.path() == "/v1/audio/speech" && response.status().is_success() {
        let kind = crate::server::proxy::speech::content_type(
            request["response_format"].as_str(),
            request["stream_format"].as_str(),
        );
        response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(kind));
    }
    response
}

fn respond(reply: Result<UpstreamResponse, UpstreamError>) -> Response {
    match reply {
        Ok(UpstreamResponse { body: UpstreamBody::Json(bytes) }) => {
            ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
        }
        Ok(UpstreamResponse { body: UpstreamBody::Stream(s) }) => {
            let body = Body::from_stream(s.map(|r| r.map_err(std::io::Error::other)));
            ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], body).into_response()
        }
        Err(UpstreamError::Status { status, body }) => {
            (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY), body).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// Serves the mock on `listener`, answering in `shape`, until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, shape: mock::Shape) -> std::io::Result<()> {
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(shape)).await
}
