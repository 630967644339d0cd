//! Real clients: the official `anthropic` and `openai` Python SDKs call Gatehouse (against the mock
//! upstream), plain and streaming, the Responses API included, and every call is billed.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::spawn_app;
use gatehouse::server::time::now_ms;

/// Runs a script of `tests/support` with Gatehouse's address and a new key of a new account (given
/// `credit` dollars when set), checks it passed, and returns how many calls were billed (the audit clean).
async fn run_script(script: &str, email: &str, credit: Option<&str>) -> i64 {
    let app = spawn_app().await;
    app.log_in(email).await;
    let user_id = app.user_id(email).await;
    if let Some(usd) = credit {
        app.top_up(user_id, usd).await;
    }
    let key = app.create_key(user_id, false).await;
    let script = format!("{}/tests/support/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new("python3").arg(script).arg(&app.address).arg(&key).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("all calls passed"));
    app.settled().await;
    let (_, total) =
        gatehouse::server::domain::bills::page(app.state.db.pool(), user_id, &Default::default(), 50, 0).await.unwrap();
    let report = gatehouse::server::domain::audit::run(app.state.db.pool(), now_ms()).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.breaches);
    total
}

#[tokio::test]
async fn the_official_python_sdks_work_through_gatehouse() {
    // Five charged calls: two Anthropic, two translated OpenAI, one GPT; count_tokens and errors are free.
    assert_eq!(run_script("sdk_clients.py", "sdk@example.com", None).await, 5);
}

#[tokio::test]
async fn the_openai_python_sdk_speaks_the_responses_api_through_gatehouse() {
    // Four charged calls (two GPT, two Claude); retrieving, listing and deleting are free.
    assert_eq!(run_script("sdk_responses.py", "sdk-responses@example.com", Some("5")).await, 4);
}

#[tokio::test]
async fn the_openai_python_sdk_embeds_completes_speaks_and_draws_through_gatehouse() {
    // Twelve charged calls (two embeddings, two completions, four speeches, four image calls); the refusals
    // are free.
    assert_eq!(run_script("sdk_openai_menu.py", "sdk-menu@example.com", Some("5")).await, 12);
}

#[tokio::test]
async fn the_openai_python_sdk_keeps_chat_completions_and_conversations_through_gatehouse() {
    // Three charged calls (two stored completions, one response in a conversation); the Store and the
    // Conversations cost nothing.
    assert_eq!(run_script("sdk_store_conversations.py", "sdk-store@example.com", Some("5")).await, 3);
}
