//! Real client: OpenAI's Codex CLI (`codex exec`, from npm, its native binary inside the package),
//! configured the way its users add a custom provider (`model_provider`, `base_url` on the CodeX channel,
//! `env_key`, `wire_api = "responses"`), completes a prompt and a turn where the mock makes it call a tool
//! against the mock upstream; every call is billed once at x0.2 on codex-omg.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spawn_app, TestApp};
use gatehouse::server::domain::bills::Bill;
use gatehouse::server::domain::money::Money;
use std::path::{Path, PathBuf};

fn codex_cli() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("end2end/node_modules/.bin/codex");
    assert!(path.exists(), "run `npm ci` in end2end/ (make test does) to install the Codex CLI");
    path
}

/// A Codex home with the provider set up as the docs page shows it.
fn codex_home(app: &TestApp, name: &str) -> PathBuf {
    let home = std::env::temp_dir().join(format!("gatehouse-codex-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let config = format!(
        "model = \"gpt-5-codex\"\nmodel_provider = \"gatehouse\"\n\n[model_providers.gatehouse]\nname = \"Gatehouse\"\n\
         base_url = \"{}/api/v1/ai/openai/codex-omg/v1\"\nenv_key = \"GATEHOUSE_API_KEY\"\nwire_api = \"responses\"\n",
        app.address
    );
    std::fs::write(home.join("config.toml"), config).unwrap();
    home
}

async fn codex_exec(home: &Path, key: &str, prompt: &str) -> String {
    let run = tokio::process::Command::new(codex_cli())
        .args(["exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", prompt])
        .current_dir(home)
        .env("CODEX_HOME", home)
        .env("HOME", home)
        .env("GATEHOUSE_API_KEY", key)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(180), run).await.expect("codex finished").unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "codex failed:\n{stdout}\n{stderr}");
    format!("{stdout}\n{stderr}")
}

async fn bills_of(app: &TestApp, user_id: i64) -> Vec<Bill> {
    app.settled().await;
    gatehouse::server::domain::bills::page(app.state.db.pool(), user_id, &Default::default(), 50, 0).await.unwrap().0
}

fn billed_at_the_codex_rate(bills: &[Bill]) {
    for b in bills {
        assert_eq!((b.channel.as_str(), b.model.as_str(), b.multiplier.as_str()), ("codex-omg", "gpt-5-codex", "0.2"));
        let expected = Money::round_from(b.official_cost.to_decimal() * rust_decimal::Decimal::new(2, 1)).unwrap();
        assert_eq!(b.balance_paid, expected, "{b:?}");
        assert!(b.input_tokens > 0 && b.output_tokens > 0, "{b:?}");
    }
}

#[tokio::test]
async fn codex_completes_a_prompt_and_a_tool_call_through_the_codex_channel() {
    let app = spawn_app().await;
    app.log_in("codex@example.com").await;
    let user_id = app.user_id("codex@example.com").await;
    app.top_up(user_id, "10").await;
    let key = app.create_key(user_id, false).await;
    let home = codex_home(&app, "exec");

    let said = codex_exec(&home, &key, "Say hello to Gatehouse").await;
    assert!(said.contains("mock upstream"), "{said}");
    let bills = bills_of(&app, user_id).await;
    assert_eq!(bills.len(), 1, "{bills:?}");
    billed_at_the_codex_rate(&bills);

    // The mock answers "use a tool" with a call of Codex's shell tool; Codex runs it and sends the output
    // back, and the mock quotes it: two calls, each billed once.
    let said = codex_exec(&home, &key, "Please use a tool to greet").await;
    // What the command printed came back to the mock, which quotes it.
    let quoted = said.split("The tool answered").nth(1).unwrap_or_else(|| panic!("no answer after the tool:\n{said}"));
    assert!(quoted.contains("hello from the mock tool"), "{said}");
    let bills = bills_of(&app, user_id).await;
    assert_eq!(bills.len(), 3, "{bills:?}");
    billed_at_the_codex_rate(&bills);
    assert_eq!(app.open_holds().await, 0);
    let report =
        gatehouse::server::domain::audit::run(app.state.db.pool(), gatehouse::server::time::now_ms()).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.breaches);
    let _ = std::fs::remove_dir_all(&home);
}
