//! Real client: the Claude Code CLI (`claude -p`, from npm) completes a prompt through the Claude Code
//! channel against the mock upstream, and the call is billed to the package.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::spawn_app;
use gatehouse::server::domain::money::Money;
use std::path::PathBuf;

fn claude_cli() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("end2end/node_modules/.bin/claude");
    assert!(path.exists(), "run `npm ci` in end2end/ (make test does) to install the Claude Code CLI");
    path
}

#[tokio::test]
async fn claude_code_completes_a_prompt_through_the_cc_omg_channel() {
    let app = spawn_app().await;
    app.log_in("claude-code@example.com").await;
    let user_id = app.user_id("claude-code@example.com").await;
    common::grant_claude_code_package(&app.state.db, user_id, 20, "cc-test").await;
    let key = app.create_key(user_id, false).await;
    let home = std::env::temp_dir().join(format!("gatehouse-claude-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let run = tokio::process::Command::new(claude_cli())
        .args(["-p", "Say hello to Gatehouse", "--output-format", "text"])
        .env("HOME", &home)
        .env("ANTHROPIC_BASE_URL", format!("{}/api/v1/ai/anthropic/cc-omg", app.address))
        .env("ANTHROPIC_AUTH_TOKEN", &key)
        .env_remove("ANTHROPIC_API_KEY")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_ERROR_REPORTING", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(180), run).await.expect("claude finished").unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "claude failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("mock upstream"), "{stdout}\n{stderr}");
    app.settled().await;
    let (bills, _) =
        gatehouse::server::domain::bills::page(app.state.db.pool(), user_id, &Default::default(), 50, 0).await.unwrap();
    assert!(!bills.is_empty());
    assert!(bills.iter().all(|b| b.channel == "cc-omg" && b.balance_paid == Money::ZERO), "{bills:?}");
    let _ = std::fs::remove_dir_all(&home);
}
