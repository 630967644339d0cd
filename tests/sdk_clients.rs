//! Real clients: the official `anthropic` and `openai` Python SDKs call Gatehouse (against the mock
//! upstream), plain and streaming, and every call is billed.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::spawn_app;
use gatehouse::server::time::now_ms;

#[tokio::test]
async fn the_official_python_sdks_work_through_gatehouse() {
    let app = spawn_app().await;
    app.log_in("sdk@example.com").await;
    let user_id = app.user_id("sdk@example.com").await;
    let key = app.create_key(user_id, false).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/sdk_clients.py");
    let out = tokio::process::Command::new("python3").arg(script).arg(&app.address).arg(&key).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("all calls passed"));
    // Five charged calls: two Anthropic, two translated OpenAI, one GPT; count_tokens and errors are free.
    app.settled().await;
    let (bills, total) =
        gatehouse::server::domain::bills::page(app.state.db.pool(), user_id, &Default::default(), 50, 0).await.unwrap();
    assert_eq!(total, 5, "{bills:?}");
    let report = gatehouse::server::domain::audit::run(app.state.db.pool(), now_ms()).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.breaches);
}
