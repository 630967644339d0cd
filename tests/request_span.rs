//! Every line a call causes carries its request id: the tasks a call spawns (the call itself, its stream,
//! a web-chat reply) keep the request's tracing span, so `x-request-id` finds all of them in the logs.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::spawn_app;
use serde_json::json;
use std::sync::{Arc, Mutex, OnceLock};

/// The log lines this test process wrote (one global subscriber per test binary).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_ansi(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .init();
        captured
    })
}

/// The captured line containing `message`, waiting a little for tasks still finishing.
async fn line_with(message: &str) -> String {
    for _ in 0..100 {
        let text = String::from_utf8(logs().0.lock().unwrap().clone()).unwrap();
        if let Some(line) = text.lines().find(|l| l.contains(message)) {
            return line.to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no log line with {message:?} in:\n{}", String::from_utf8_lossy(&logs().0.lock().unwrap()));
}

#[tokio::test]
async fn lines_logged_inside_call_and_stream_tasks_carry_the_request_id() {
    logs();
    let app = spawn_app().await;
    app.log_in("spans@example.com").await;
    let user_id = app.user_id("spans@example.com").await;
    let key = app.create_key(user_id, false).await;
    let call = |request_id: &'static str, body: serde_json::Value, path: &'static str| {
        app.client
            .post(app.url(path))
            .header("content-type", "application/json")
            .header("x-api-key", &key)
            .header("x-request-id", request_id)
            .body(body.to_string())
            .send()
    };

    // Logged by the call's own task: an answer without usage.
    let res = call(
        "span-json-1",
        json!({"model": "gpt-4o-usage-none", "messages": [{"role": "user", "content": "Hi"}]}),
        "/v1/chat/completions",
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let line = line_with("an answer without usage").await;
    assert!(line.contains("id=span-json-1"), "{line}");
    // Its hold is let go once its charge is written.
    app.settled().await;

    // Logged by the stream's task: the upstream's stream broke midway.
    let res = call(
        "span-stream-1",
        json!({"model": "claude-sonnet-4-5-fail-midstream", "max_tokens": 50, "stream": true,
               "messages": [{"role": "user", "content": "Hi"}]}),
        "/v1/messages",
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("message_start"), "{body}");
    let line = line_with("upstream stream broke").await;
    assert!(line.contains("id=span-stream-1"), "{line}");
}

/// A request id from the client is kept only when it is short and plain: one that is too long or carries
/// spaces, tabs or quotes is replaced before it reaches a log line or a bill.
#[tokio::test]
async fn an_insane_client_request_id_is_replaced_by_a_fresh_one() {
    let app = spawn_app().await;
    let id_of = |given: String| {
        let req = app.client.get(app.url("/healthz")).header("x-request-id", given);
        async move { req.send().await.unwrap().headers()["x-request-id"].to_str().unwrap().to_string() }
    };
    assert_eq!(id_of("trace-01HZX5:abc".into()).await, "trace-01HZX5:abc");
    for insane in ["x".repeat(4000), "id\twith\ttabs".into(), "id with \"quotes\"".into()] {
        let got = id_of(insane.clone()).await;
        assert_ne!(got, insane);
        assert!(got.len() < 40 && got.chars().all(|c| c.is_ascii_hexdigit() || c == '-'), "{got}");
    }
}
