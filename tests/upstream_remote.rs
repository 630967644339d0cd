//! The proxy against a real HTTP upstream (a scripted local stand-in for Anthropic): requests go through
//! byte for byte with their query string and beta headers, a 500 before any byte is retried and charged
//! once, streams are relayed and metered, and an upstream refusal charges nothing.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Bytes;
use axum::http::HeaderMap;
use common::{spawn_app_with, TestApp};
use gatehouse::server::time::now_ms;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Seen {
    requests: Mutex<Vec<(String, HeaderMap, Bytes)>>,
    calls: AtomicUsize,
}

/// Fails the first request with 500 when `fail_first`, answers 400 for model `bad`, else a message (JSON or SSE).
async fn scripted_upstream(fail_first: bool) -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let record = seen.clone();
    let handler = move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
        let record = record.clone();
        async move {
            let n = record.calls.fetch_add(1, Ordering::SeqCst);
            record.requests.lock().unwrap().push((uri.to_string(), headers, body.clone()));
            let request: Value = serde_json::from_slice(&body).unwrap_or_default();
            if fail_first && n == 0 {
                return axum::response::Response::builder().status(500).body(axum::body::Body::from("boom")).unwrap();
            }
            if request["model"] == "claude-sonnet-4-5-bad" {
                return axum::response::Response::builder()
                    .status(400)
                    .body(axum::body::Body::from(
                        r#"{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}"#,
                    ))
                    .unwrap();
            }
            let usage = json!({"input_tokens": 1200, "output_tokens": 300, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0});
            if request["stream"] == true {
                let events = [
                    (
                        "message_start",
                        json!({"type": "message_start", "message": {"id": "msg_r", "type": "message", "role": "assistant", "model": request["model"], "content": [], "usage": {"input_tokens": 1200, "output_tokens": 1, "cache_read_input_tokens": 100}}}),
                    ),
                    (
                        "content_block_start",
                        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                    ),
                    (
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "remote hello"}}),
                    ),
                    ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
                    (
                        "message_delta",
                        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 300}}),
                    ),
                    ("message_stop", json!({"type": "message_stop"})),
                ];
                let text: String = events.iter().map(|(e, d)| format!("event: {e}\ndata: {d}\n\n")).collect();
                return axum::response::Response::builder()
                    .status(200)
                    .header("content-type", "text/event-stream")
                    .body(axum::body::Body::from(text))
                    .unwrap();
            }
            let body = json!({"id": "msg_r", "type": "message", "role": "assistant", "model": request["model"],
                "content": [{"type": "text", "text": "remote hello"}], "stop_reason": "end_turn", "usage": usage});
            axum::response::Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body.to_string()))
                .unwrap()
        }
    };
    let router = axum::Router::new().route("/v1/messages", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), seen)
}

async fn app_with_upstream(base: &str) -> (TestApp, i64, String) {
    let app = spawn_app_with(&[("ANTHROPIC_API_KEY", "sk-ant-upstream-secret"), ("ANTHROPIC_BASE_URL", base)]).await;
    app.log_in("remote@example.com").await;
    let user_id = app.user_id("remote@example.com").await;
    let key = app.create_key(user_id, false).await;
    (app, user_id, key)
}

async fn bills(app: &TestApp, user_id: i64) -> Vec<gatehouse::server::domain::bills::Bill> {
    app.settled().await;
    gatehouse::server::domain::bills::page(app.state.db.pool(), user_id, &Default::default(), 50, 0).await.unwrap().0
}

#[tokio::test]
async fn requests_pass_through_untouched_and_a_500_before_any_byte_is_retried_and_charged_once() {
    let (base, seen) = scripted_upstream(true).await;
    let (app, user_id, key) = app_with_upstream(&base).await;
    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":400,"context_management":{"edits":[]},"metadata":{"user_id":"u"},"messages":[{"role":"user","content":"hi"}]}"#;
    let res = app
        .client
        .post(app.url("/api/v1/ai/anthropic/cc-omg/v1/messages?beta=true"))
        .header("x-api-key", &key)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "context-management-2025-06-27,oauth-2025-04-20")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["content"][0]["text"], "remote hello");
    let requests = seen.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "one failure, one retry");
    let (uri, headers, sent) = &requests[1];
    assert_eq!(uri, "/v1/messages?beta=true");
    assert_eq!(headers["anthropic-beta"], "context-management-2025-06-27,oauth-2025-04-20");
    assert_eq!(headers["anthropic-version"], "2023-06-01");
    assert_eq!(headers["x-api-key"], "sk-ant-upstream-secret", "the caller's key never reaches the upstream");
    assert_eq!(sent.as_ref(), body.as_bytes(), "the body goes through byte for byte");
    let b = bills(&app, user_id).await;
    assert_eq!(b.len(), 1);
    assert_eq!((b[0].input_tokens, b[0].output_tokens, b[0].cache_read_tokens), (1200, 300, 100));
    // Sonnet 4.5: 1200 x $3 + 300 x $15 + 100 x $0.30 per million.
    assert_eq!(b[0].official_cost.to_plain(), "0.00813");
}

#[tokio::test]
async fn remote_streams_are_relayed_and_metered_and_upstream_refusals_charge_nothing() {
    let (base, _) = scripted_upstream(false).await;
    let (app, user_id, key) = app_with_upstream(&base).await;
    let res = app
        .client
        .post(app.url("/v1/messages"))
        .header("x-api-key", &key)
        .header("content-type", "application/json")
        .body(r#"{"model":"claude-sonnet-4-5","max_tokens":400,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.contains("remote hello") && text.contains("event: message_stop"));
    let b = bills(&app, user_id).await;
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].output_tokens, 300);

    let refused = app
        .client
        .post(app.url("/v1/messages"))
        .header("x-api-key", &key)
        .header("content-type", "application/json")
        .body(r#"{"model":"claude-sonnet-4-5-bad","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.json::<Value>().await.unwrap()["type"], "error");
    assert_eq!(bills(&app, user_id).await.len(), 1, "nothing charged for a refused call");
    let report = gatehouse::server::domain::audit::run(app.state.db.pool(), now_ms()).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.breaches);
}
