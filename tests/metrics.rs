//! `/metrics`: served only with `METRICS_TOKEN` and only to that bearer token, in Prometheus' text format as
//! Prometheus' own Python parser (`prometheus_client`) reads it, counting the calls, charges and login
//! emails that happened.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spawn_app, spawn_app_with, TestApp};
use gatehouse::server::time::now_ms;
use serde_json::{json, Value};

const TOKEN: &str = "metrics-token-for-the-tests-0123456789";

async fn scrape(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url("/metrics"));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    req.send().await.unwrap()
}

/// Parses a scrape with `tests/support/parse_metrics.py` (Prometheus' own parser) and returns its samples.
async fn parsed(app: &TestApp, text: &str) -> Vec<Value> {
    let name = format!("gatehouse-metrics-{}.txt", app.address.replace([':', '/', '.'], ""));
    let input = std::env::temp_dir().join(name);
    std::fs::write(&input, text).unwrap();
    let script = format!("{}/tests/support/parse_metrics.py", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&input);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}\n{text}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout).unwrap()
}

/// The value of the one sample named `name` whose labels include `labels`.
fn value(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Value> =
        samples.iter().filter(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v)).collect();
    assert_eq!(found.len(), 1, "one sample {name} {labels:?}: {found:?}");
    found[0]["value"].as_f64().unwrap()
}

async fn post(app: &TestApp, path: &str, key: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("x-api-key", key)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn without_a_metrics_token_there_is_no_metrics_page() {
    let app = spawn_app().await;
    assert_eq!(scrape(&app, None).await.status(), 404);
    assert_eq!(scrape(&app, Some(&format!("Bearer {TOKEN}"))).await.status(), 404);
}

#[tokio::test]
async fn metrics_are_refused_without_the_right_bearer_token() {
    let app = spawn_app_with(&[("METRICS_TOKEN", TOKEN)]).await;
    let basic = format!("Basic {TOKEN}");
    for authorization in [None, Some("Bearer wrong-token-of-some-length"), Some(TOKEN), Some(basic.as_str())] {
        let res = scrape(&app, authorization).await;
        assert_eq!(res.status(), 401, "{authorization:?}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
    }
    let res = scrape(&app, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
}

#[tokio::test]
async fn prometheus_reads_the_metrics_and_they_count_the_calls_charges_and_login_emails() {
    let app = spawn_app_with(&[("METRICS_TOKEN", TOKEN)]).await;
    app.log_in("metrics@example.com").await;
    let user_id = app.user_id("metrics@example.com").await;
    app.top_up(user_id, "5").await;
    let key = app.create_key(user_id, false).await;
    let ask = |stream: bool| {
        json!({"model": "claude-haiku-4-5", "max_tokens": 64, "stream": stream,
               "messages": [{"role": "user", "content": "Count me"}]})
    };
    // A whole answer on the plain channel, a refused key, and a stream on the Claude Code channel.
    assert_eq!(post(&app, "/v1/messages", &key, ask(false)).await.status(), 200);
    assert_eq!(post(&app, "/v1/messages", "sk-gh-not-a-key", ask(false)).await.status(), 401);
    let streamed = post(&app, "/api/v1/ai/anthropic/cc-omg/v1/messages", &key, ask(true)).await;
    assert_eq!(streamed.status(), 200);
    assert!(streamed.text().await.unwrap().contains("message_stop"));
    app.settled().await;

    let res = scrape(&app, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(res.status(), 200);
    let samples = parsed(&app, &res.text().await.unwrap()).await;

    let requests = |channel: &str, status: &str| {
        value(
            &samples,
            "gatehouse_requests_total",
            &[("surface", "messages"), ("channel", channel), ("status", status)],
        )
    };
    assert_eq!(requests("default", "200"), 1.0);
    assert_eq!(requests("default", "401"), 1.0);
    assert_eq!(requests("cc-omg", "200"), 1.0);
    let messages = [("surface", "messages")];
    assert_eq!(value(&samples, "gatehouse_request_duration_seconds_count", &messages), 3.0);
    assert_eq!(
        value(&samples, "gatehouse_request_duration_seconds_bucket", &[("surface", "messages"), ("le", "+Inf")]),
        3.0
    );
    assert!(value(&samples, "gatehouse_request_duration_seconds_sum", &messages) > 0.0);
    assert_eq!(value(&samples, "gatehouse_stream_first_byte_seconds_count", &messages), 1.0);
    assert_eq!(value(&samples, "gatehouse_request_duration_seconds_count", &[("surface", "chat_completions")]), 0.0);

    // Both answered calls were charged, each on its channel; nothing is left to write or held.
    assert!(value(&samples, "gatehouse_spend_usd_total", &[("channel", "default")]) > 0.0);
    assert!(value(&samples, "gatehouse_spend_usd_total", &[("channel", "cc-omg")]) > 0.0);
    assert!(value(&samples, "gatehouse_settlement_batch_size_count", &[]) >= 1.0);
    assert_eq!(value(&samples, "gatehouse_settlement_queue_depth", &[]), 0.0);
    assert_eq!(value(&samples, "gatehouse_open_holds", &[]), 0.0);

    // The built-in mock is the `anthropic` provider: two attempts (the refused key never reached it).
    assert_eq!(value(&samples, "gatehouse_upstream_calls_total", &[("provider", "anthropic")]), 2.0);
    let errors = [("provider", "anthropic"), ("kind", "status_5xx")];
    assert_eq!(value(&samples, "gatehouse_upstream_errors_total", &errors), 0.0);
    assert_eq!(value(&samples, "gatehouse_upstream_failovers_total", &[("provider", "anthropic")]), 0.0);

    assert_eq!(value(&samples, "gatehouse_login_emails_sent_total", &[]), 1.0);
    assert_eq!(value(&samples, "gatehouse_login_emails_failed_total", &[]), 0.0);
    assert_eq!(value(&samples, "gatehouse_referrals", &[("status", "rewarded")]), 0.0);
    let families = |kind: &str| samples.iter().filter(|s| s["type"] == kind).count();
    assert!(families("counter") > 0 && families("gauge") > 0 && families("histogram") > 0);

    // The operators' console sees the same provider.
    let health = app.state.gateway.provider_health(now_ms());
    let anthropic = health.iter().find(|p| p.name == "anthropic").unwrap();
    assert_eq!((anthropic.calls, anthropic.errors, anthropic.failovers), (2, 0, 0));
    assert!(anthropic.p50_ms.is_some() && anthropic.p99_ms.is_some());
    assert_eq!(anthropic.last_error, None);
}
