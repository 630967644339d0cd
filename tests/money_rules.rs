//! The money rules through HTTP, as the guide's users meet them: the Claude Code user on the referral
//! package running parallel streams, channels bound to their models, spending caps and the debt bound under
//! bursts, holds at the true worst case, model names checked at the door, upstreams that report absurd
//! usage, a charge the database refuses, unknown keys, and a database outage under load. Runs on SQLite
//! or PostgreSQL (TEST_DATABASE).
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spawn_app, spawn_app_with, TestApp};
use gatehouse::server::domain::bills::{self, Bill};
use gatehouse::server::domain::keys::{self, NewKey};
use gatehouse::server::domain::money::Money;
use gatehouse::server::domain::packages;
use gatehouse::server::domain::pricing::Usage;
use gatehouse::server::domain::unsettled;
use gatehouse::server::proxy::settlement_writer::PendingSettlement;
use gatehouse::server::time::now_ms;
use serde_json::{json, Value};
use std::time::Duration;

const CC_MESSAGES: &str = "/api/v1/ai/anthropic/cc-omg/v1/messages";
const CC_OPENAI: &str = "/api/v1/ai/openai/cc-omg/v1/chat/completions";
const CODEX_MESSAGES: &str = "/api/v1/ai/anthropic/codex-omg/v1/messages";
const CODEX_OPENAI: &str = "/api/v1/ai/openai/codex-omg/v1/chat/completions";

async fn key_for(app: &TestApp, user_id: i64, cap: Option<Money>) -> String {
    let new = NewKey {
        user_id,
        name: "test key",
        expires_at: None,
        spend_cap: cap,
        models: &[],
        can_manage: false,
        on_page: true,
        now: now_ms(),
    };
    keys::create(app.state.db.pool(), new).await.unwrap().1
}

/// A signed-up account (with the welcome balance) and a key; returns (account id, key).
async fn account(app: &TestApp, email: &str, cap: Option<Money>) -> (i64, String) {
    app.log_in(email).await;
    let user_id = app.user_id(email).await;
    (user_id, key_for(app, user_id, cap).await)
}

fn post(app: &TestApp, path: &str, key: &str, body: &Value) -> reqwest::RequestBuilder {
    app.client
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("x-api-key", key)
        .timeout(Duration::from_secs(30))
        .body(body.to_string())
}

async fn bills_of(app: &TestApp, user_id: i64) -> Vec<Bill> {
    app.settled().await;
    bills::page(app.state.db.pool(), user_id, &Default::default(), 500, 0).await.unwrap().0
}

async fn balance(app: &TestApp, user_id: i64) -> Money {
    app.settled().await;
    let (units,): (i64,) = sqlx::query_as("SELECT balance FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    Money::from_units(units)
}

async fn audit_clean(app: &TestApp) {
    app.settled().await;
    let report = gatehouse::server::domain::audit::run(app.state.db.pool(), now_ms()).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.breaches);
}

/// A paid top-up of `usd` (the tier it buys is 10000 requests a minute), as the top-up flow credits it.
async fn fund(app: &TestApp, user_id: i64, usd: i64) {
    use gatehouse::server::domain::ledger::{self, Credit, EntryKind};
    let credit = Credit {
        user_id,
        key: &format!("funds-{user_id}"),
        kind: EntryKind::Topup,
        amount: Money::usd(usd),
        paid_minor: 100_000,
        memo: "test top-up",
        now: now_ms(),
    };
    ledger::credit_now(app.state.db.pool(), credit).await.unwrap();
    app.state.gateway.money_moved(user_id);
}

/// A paid tier (10000 requests a minute), so a burst meets the money rules, not the rate limit.
async fn paid_tier(app: &TestApp, user_id: i64) {
    sqlx::query("UPDATE users SET paid_topups_minor = 100000 WHERE id = $1")
        .bind(user_id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
}

/// `n` copies of a call sent at once; each answers its status.
fn in_parallel(app: &TestApp, path: &str, key: &str, body: &Value, n: usize) -> Vec<tokio::task::JoinHandle<u16>> {
    (0..n)
        .map(|_| {
            let request = post(app, path, key, body);
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect()
}

/// How many of the calls were served; every other one must have been refused for money (402).
async fn served(calls: Vec<tokio::task::JoinHandle<u16>>) -> usize {
    let mut admitted = 0;
    for c in calls {
        let status = c.await.unwrap();
        assert!(status == 200 || status == 402, "{status}");
        admitted += usize::from(status == 200);
    }
    admitted
}

fn sum(bills: &[Bill], f: impl Fn(&Bill) -> Money) -> Money {
    bills.iter().fold(Money::ZERO, |s, b| s.saturating_add(f(b)))
}

#[tokio::test]
async fn sixteen_parallel_claude_code_streams_on_the_referral_package_are_all_served_and_paid_by_the_package() {
    // The guide's Claude Code user: the $20 referral package and the $0.10 welcome balance. Claude Code
    // asks for 32000 output tokens, so each Opus 4.1 call could cost $2.40; the real answers cost cents.
    let app = spawn_app_with(&[("MOCK_STREAM_PACE_MS", "25")]).await;
    let (user_id, key) = account(&app, "claude-coder@example.com", None).await;
    let package = common::grant_claude_code_package(&app.state.db, user_id, 20, "referral").await;
    let before = balance(&app, user_id).await;
    assert_eq!(before, Money::from_units(100_000_000));
    let body = json!({"model": "claude-opus-4-1", "max_tokens": 32000, "stream": true,
        "messages": [{"role": "user", "content": "Refactor this function, please."}]});
    let mut calls = Vec::new();
    for _ in 0..16 {
        let request = post(&app, CC_MESSAGES, &key, &body);
        calls.push(tokio::spawn(async move {
            let res = request.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.text().await.unwrap())
        }));
    }
    // Watched until every call is done: a busy machine may start the sixteen over a few hundred ms.
    let mut running_at_once = 0;
    while !calls.iter().all(|c| c.is_finished()) {
        running_at_once = running_at_once.max(app.state.gateway.admissions().open_holds());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for c in calls {
        let (status, text) = c.await.unwrap();
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("event: message_stop"), "{text}");
    }
    assert!(running_at_once >= 8, "the calls ran side by side ({running_at_once} at once)");
    let bills = bills_of(&app, user_id).await;
    assert_eq!(bills.len(), 16);
    assert!(bills.iter().all(|b| b.packages_paid == b.official_cost && b.balance_paid == Money::ZERO), "{bills:?}");
    assert_eq!(balance(&app, user_id).await, before, "the balance did not move by one unit");
    let spent = sum(&bills, |b| b.official_cost);
    let left = packages::list(app.state.db.pool(), user_id, now_ms()).await.unwrap();
    let left = left.iter().find(|p| p.id == package).unwrap().remaining;
    assert_eq!(left, Money::usd(20).saturating_sub(spent));
    audit_clean(&app).await;
}

#[tokio::test]
async fn a_burst_that_really_costs_its_worst_case_leaves_the_balance_within_the_debt_bound() {
    // The Claude Code user's burst when every answer really is as long as it may be: the package pays what it
    // holds, the balance at most the package's worth at x0.2 plus one call's worst-case balance charge.
    let app = spawn_app_with(&[("MOCK_STREAM_PACE_MS", "25")]).await;
    let (user_id, key) = account(&app, "worst-case@example.com", None).await;
    common::grant_claude_code_package(&app.state.db, user_id, 20, "referral").await;
    paid_tier(&app, user_id).await;
    // `-usage-max` reports u64::MAX output tokens: each call is billed every token it allowed.
    let model = "claude-opus-4-1-usage-max";
    let body = json!({"model": model, "max_tokens": 32000, "stream": true,
        "messages": [{"role": "user", "content": "Write everything."}]});
    let prices = app.state.pricing.current();
    let price = prices.table.lookup(model).unwrap();
    let worst = price.worst_case(price.limits(model, Some(32000), None).unwrap(), body.to_string().len()).unwrap();
    let one_call = gatehouse::server::domain::charge::balance_part(worst, rust_decimal::Decimal::new(2, 1)).unwrap();
    let admitted = served(in_parallel(&app, CC_MESSAGES, &key, &body, 100)).await;
    let end = balance(&app, user_id).await;
    let bound = Money::usd(4).saturating_add(one_call);
    assert!(end >= bound.negated(), "ended at {end} after {admitted} calls (bound -{bound})");
    assert!(end < Money::ZERO, "the burst did reach into the balance ({admitted} calls, balance {end})");
    let left = packages::list(app.state.db.pool(), user_id, now_ms()).await.unwrap();
    assert_eq!(left[0].remaining, Money::ZERO, "the package paid all it held first");
    audit_clean(&app).await;
}

#[tokio::test]
async fn a_model_outside_its_channels_family_is_refused_with_400_in_the_callers_dialect_and_charges_nothing() {
    let app = spawn_app().await;
    let (user_id, key) = account(&app, "wrong-channel@example.com", None).await;
    common::grant_claude_code_package(&app.state.db, user_id, 20, "referral").await;
    let before = balance(&app, user_id).await;
    let gpt = json!({"model": "gpt-5.5", "messages": [{"role": "user", "content": "Hi"}]});
    let res = post(&app, CC_OPENAI, &key, &gpt).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("cc-omg") && message.contains("claude-*") && message.contains("gpt-5.5"), "{message}");
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let claude =
        json!({"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]});
    let res = post(&app, CODEX_MESSAGES, &key, &claude).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["type"], "error", "Anthropic's error shape: {body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("codex-omg"), "{body}");
    let res = post(&app, CODEX_OPENAI, &key, &claude).send().await.unwrap();
    assert_eq!(res.status(), 400);

    // Each channel still serves its own family.
    assert_eq!(post(&app, CODEX_OPENAI, &key, &gpt).send().await.unwrap().status(), 200);
    assert_eq!(post(&app, CC_OPENAI, &key, &claude).send().await.unwrap().status(), 200);
    let bills = bills_of(&app, user_id).await;
    assert_eq!(bills.len(), 2, "only the two served calls are billed");
    let gpt_bill = bills.iter().find(|b| b.model == "gpt-5.5").unwrap();
    // The Claude Code package does not pay for the CodeX channel: the balance pays at x0.2.
    assert_eq!(gpt_bill.packages_paid, Money::ZERO);
    assert!(balance(&app, user_id).await < before);
    audit_clean(&app).await;
}

/// Hosted tools whose cost the answer does not report (code execution by container time, OpenAI's code
/// interpreter, file search, image generation) are refused in the caller's dialect: never run for free.
#[tokio::test]
async fn hosted_tools_whose_cost_is_not_reported_are_refused_and_charge_nothing() {
    let app = spawn_app().await;
    let (user_id, key) = account(&app, "code-exec@example.com", None).await;
    let before = balance(&app, user_id).await;
    let claude = json!({"model": "claude-sonnet-4-5", "max_tokens": 50,
        "tools": [{"type": "code_execution_20250825", "name": "code_execution"}],
        "messages": [{"role": "user", "content": "Compute 2**100"}]});
    let res = post(&app, "/v1/messages", &key, &claude).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["type"], "error", "Anthropic's error shape: {body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("code_execution_20250825"), "{body}");
    for tool in
        [json!({"type": "code_interpreter", "container": {"type": "auto"}}), json!({"type": "image_generation"})]
    {
        let gpt = json!({"model": "gpt-5-mini", "input": "Plot it", "tools": [tool]});
        let res = post(&app, "/v1/responses", &key, &gpt).send().await.unwrap();
        assert_eq!(res.status(), 400);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error", "OpenAI's error shape: {body}");
    }
    // The same calls without those tools are served.
    let plain =
        json!({"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]});
    assert_eq!(post(&app, "/v1/messages", &key, &plain).send().await.unwrap().status(), 200);
    assert_eq!(bills_of(&app, user_id).await.len(), 1, "only the served call is billed");
    assert!(balance(&app, user_id).await < before);
    audit_clean(&app).await;
}

#[tokio::test]
async fn thirty_parallel_calls_on_a_capped_key_overrun_its_cap_by_one_call_at_most() {
    let app = spawn_app_with(&[("MOCK_STREAM_PACE_MS", "10")]).await;
    app.log_in("capped@example.com").await;
    let user_id = app.user_id("capped@example.com").await;
    let cap = Money::from_units(1_000_000); // $0.001
    let key = key_for(&app, user_id, Some(cap)).await;
    let body = json!({"model": "claude-haiku-4-5", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "Translate: good morning"}]});
    let mut calls = Vec::new();
    for _ in 0..30 {
        let request = post(&app, "/v1/messages", &key, &body);
        calls.push(tokio::spawn(async move {
            let res = request.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.text().await.unwrap())
        }));
    }
    let mut statuses = Vec::new();
    for c in calls {
        let (status, text) = c.await.unwrap();
        if status == 402 {
            assert!(text.contains("spending cap"), "{text}");
        }
        statuses.push(status);
    }
    assert!(statuses.iter().all(|s| *s == 200 || *s == 402), "{statuses:?}");
    let bills = bills_of(&app, user_id).await;
    assert!(!bills.is_empty());
    let spent = sum(&bills, |b| b.packages_paid.saturating_add(b.balance_paid));
    let largest = bills.iter().map(|b| b.packages_paid.saturating_add(b.balance_paid)).max().unwrap();
    assert!(spent <= cap.saturating_add(largest), "spent {spent} on a {cap} cap ({} calls)", bills.len());
    audit_clean(&app).await;
}

#[tokio::test]
async fn an_openai_call_without_max_tokens_holds_the_models_maximum_output_while_it_runs() {
    let app = spawn_app().await;
    let (user_id, key) = account(&app, "no-max@example.com", None).await;
    // `-slow` keeps the call running for 400 ms before its first byte; gpt-4o answers 16384 tokens at most.
    let body = json!({"model": "gpt-4o-slow", "stream": true, "messages": [{"role": "user", "content": "Hi"}]});
    let running = tokio::spawn(post(&app, "/v1/chat/completions", &key, &body).send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let prices = app.state.pricing.current();
    let price = prices.table.lookup("gpt-4o-slow").unwrap();
    assert_eq!(price.max_output, 16_384);
    let worst = price.worst_case(price.limits("gpt-4o-slow", None, None).unwrap(), body.to_string().len()).unwrap();
    assert_eq!(app.state.gateway.admissions().balance_held(user_id), worst);
    // The Balance page's "reserved by calls still running" shows the same figure.
    let page =
        gatehouse::server::billing_view::balance(&app.state, user_id, gatehouse::i18n::Locale::en).await.unwrap();
    assert_eq!(page.reserved.map(|r| r.exact), Some(worst.to_string()));
    assert!(worst > Money::from_units(160_000_000), "16384 tokens at $10 per million: {worst}");
    assert_eq!(running.await.unwrap().unwrap().status(), 200);
    assert_eq!(app.open_holds().await, 0);
}

#[tokio::test]
async fn model_names_with_control_characters_or_too_long_are_refused_before_anything_else() {
    let app = spawn_app().await;
    let (user_id, key) = account(&app, "names@example.com", None).await;
    for model in ["gpt-5\u{0}x", "gpt-5\nx", "claude sonnet", &"a".repeat(129)] {
        let body = json!({"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]});
        for path in ["/v1/chat/completions", "/v1/messages"] {
            let res = post(&app, path, &key, &body).send().await.unwrap();
            assert_eq!(res.status(), 400, "{model:?} on {path}");
            let text = res.text().await.unwrap();
            assert!(text.contains("printable ASCII"), "{text}");
        }
    }
    assert!(bills_of(&app, user_id).await.is_empty());
}

#[tokio::test]
async fn max_tokens_outside_one_to_the_models_maximum_is_refused() {
    let app = spawn_app().await;
    let (user_id, key) = account(&app, "limits@example.com", None).await;
    for max in [json!(0), json!(u64::MAX), json!(1_000_000_000_000_000u64), json!(32001)] {
        let body =
            json!({"model": "claude-opus-4-1", "max_tokens": max, "messages": [{"role": "user", "content": "Hi"}]});
        let res = post(&app, "/v1/messages", &key, &body).send().await.unwrap();
        assert_eq!(res.status(), 400, "max_tokens {max}");
        assert!(res.text().await.unwrap().contains("max_tokens"));
    }
    let choices = json!({"model": "gpt-4o", "n": 0, "messages": [{"role": "user", "content": "Hi"}]});
    assert_eq!(post(&app, "/v1/chat/completions", &key, &choices).send().await.unwrap().status(), 400);
    assert!(bills_of(&app, user_id).await.is_empty());
}

#[tokio::test]
async fn a_hundred_parallel_calls_asking_for_eight_choices_on_five_cents_stay_within_the_debt_bound() {
    let app = spawn_app_with(&[("WELCOME_BALANCE", "0.05"), ("MOCK_STREAM_PACE_MS", "20")]).await;
    let (user_id, key) = account(&app, "choices@example.com", None).await;
    paid_tier(&app, user_id).await;
    let body = json!({"model": "gpt-4o", "n": 8, "max_tokens": 100, "stream": true,
        "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "Name a colour."}]});
    let prices = app.state.pricing.current();
    let price = prices.table.lookup("gpt-4o").unwrap();
    let one_call =
        price.worst_case(price.limits("gpt-4o", Some(100), Some(8)).unwrap(), body.to_string().len()).unwrap();
    let calls = in_parallel(&app, "/v1/chat/completions", &key, &body, 100);
    // While the admitted calls reserve the funds, a call asking for 10^15 tokens is refused at the door
    // and an ordinary one is told its funds are reserved by running calls.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let huge = json!({"model": "gpt-4o", "max_tokens": 1_000_000_000_000_000u64, "messages": [{"role": "user", "content": "Hi"}]});
    assert_eq!(post(&app, "/v1/chat/completions", &key, &huge).send().await.unwrap().status(), 400);
    let res = post(&app, "/v1/chat/completions", &key, &body).send().await.unwrap();
    let status = res.status().as_u16();
    assert!(status == 200 || status == 402, "{status}");
    if status == 402 {
        let text = res.text().await.unwrap();
        assert!(text.contains("reserve") && text.contains("finish"), "{text}");
    }
    let admitted = served(calls).await;
    let end = balance(&app, user_id).await;
    // No package: the balance goes at most one call's worst case below zero.
    assert!(end >= one_call.negated(), "ended at {end} after {admitted} calls (one call's worst case {one_call})");
    assert!((1..100).contains(&admitted), "admitted {admitted}");
    let bills = bills_of(&app, user_id).await;
    assert!(bills.iter().all(|b| b.output_tokens >= 8), "eight choices billed: {bills:?}");
    audit_clean(&app).await;
}

#[tokio::test]
async fn usage_an_upstream_inflates_or_leaves_out_is_billed_within_the_requests_limits_never_free() {
    let app = spawn_app().await;
    let (user_id, key) = account(&app, "anomalies@example.com", None).await;
    // Enough to pay absurd (clamped) usage many times over.
    fund(&app, user_id, 100).await;
    let cases = [
        ("/v1/messages", "claude-sonnet-4-5-usage-max"),
        ("/v1/messages", "claude-sonnet-4-5-usage-huge"),
        ("/v1/messages", "claude-sonnet-4-5-usage-none"),
        ("/v1/chat/completions", "gpt-4o-usage-max"),
        ("/v1/chat/completions", "gpt-4o-usage-huge"),
        ("/v1/chat/completions", "gpt-4o-usage-none"),
    ];
    for stream in [false, true] {
        for (path, model) in cases {
            let body = json!({"model": model, "max_tokens": 50, "stream": stream,
                "messages": [{"role": "user", "content": "Hi"}]});
            let res = post(&app, path, &key, &body).send().await.unwrap();
            assert_eq!(res.status(), 200, "{model}");
            res.text().await.unwrap();
            let bills = bills_of(&app, user_id).await;
            let bill = bills.iter().max_by_key(|b| b.id).unwrap();
            let prices = app.state.pricing.current();
            let price = prices.table.lookup(model).unwrap();
            let limits = price.limits(model, Some(50), None).unwrap();
            let ceiling =
                price.cost(&Usage { input: limits.input, output: limits.output, ..Usage::default() }).unwrap();
            assert!(bill.official_cost.is_positive(), "{model} (stream {stream}) billed nothing: {bill:?}");
            assert!(bill.official_cost <= ceiling, "{model} (stream {stream}): {} above {ceiling}", bill.official_cost);
            assert!(bill.output_tokens <= 50 && (bill.input_tokens as u64) <= limits.input, "{bill:?}");
        }
    }
    audit_clean(&app).await;
}

fn pending(user_id: i64, request_key: &str, model: &str) -> PendingSettlement {
    PendingSettlement {
        outcome: Default::default(),
        latency_ms: None,
        request_id: None,
        user_id,
        request_key: request_key.into(),
        api_key_id: None,
        key_name: None,
        channel: "default",
        model: model.into(),
        usage: Usage { input: 10, output: 10, ..Usage::default() },
        official: Money::from_units(1_000),
        multiplier: rust_decimal::Decimal::ONE,
        now: now_ms(),
    }
}

#[tokio::test]
async fn a_charge_the_database_refuses_is_set_aside_and_holds_up_neither_other_charges_nor_shutdown() {
    let mut app = spawn_app().await;
    let (user_id, key) = account(&app, "poison@example.com", None).await;
    // PostgreSQL refuses a NUL in text; an account that no longer exists is refused by both databases.
    let refused = if std::env::var("TEST_DATABASE").as_deref() == Ok("postgres") {
        pending(user_id, "api:poison", "gpt-5\u{0}x")
    } else {
        pending(999_999, "api:poison", "gpt-5")
    };
    app.state.gateway.settlements().submit(refused).await;
    app.state.gateway.settlements().submit(pending(user_id, "api:good", "gpt-5")).await;
    tokio::time::timeout(Duration::from_secs(5), app.state.gateway.settlements().flush())
        .await
        .expect("the refused charge does not hold up the writer");
    // Calls keep being charged.
    let body = json!({"model": "gpt-5", "messages": [{"role": "user", "content": "Hi"}]});
    assert_eq!(post(&app, "/v1/chat/completions", &key, &body).send().await.unwrap().status(), 200);
    assert_eq!(bills_of(&app, user_id).await.len(), 2);
    let aside = unsettled::list(app.state.db.pool()).await.unwrap();
    assert_eq!(aside.len(), 1);
    assert_eq!(aside[0].call.request_key, "api:poison");
    let report = gatehouse::server::domain::audit::run(app.state.db.pool(), now_ms()).await.unwrap();
    assert!(report.breaches.iter().any(|b| b.0.contains("api:poison")), "{:?}", report.breaches);
    tokio::time::timeout(Duration::from_secs(10), app.shut_down()).await.expect("shutdown is not held up");
}

#[tokio::test]
async fn an_unknown_key_is_remembered_briefly_and_a_key_created_after_works_at_once() {
    let app = spawn_app().await;
    let (user_id, _) = account(&app, "unknown@example.com", None).await;
    let body = json!({"model": "gpt-5", "messages": [{"role": "user", "content": "Hi"}]});
    let wrong = "sk-gh-this-key-does-not-exist";
    for _ in 0..3 {
        assert_eq!(post(&app, "/v1/chat/completions", wrong, &body).send().await.unwrap().status(), 401);
    }
    let digest = gatehouse::server::secrets::token_digest(wrong);
    assert!(app.state.gateway.key_cache().known_missing(&digest, now_ms()), "the miss is remembered");
    // Creating a key forgets every remembered miss, so a new key is never refused as unknown.
    let new = gatehouse::server::keys_view::create(
        &app.state,
        user_id,
        "fresh",
        "",
        "",
        "",
        false,
        gatehouse::i18n::Locale::en,
    )
    .await;
    assert!(new.is_ok(), "{new:?}");
    assert!(!app.state.gateway.key_cache().known_missing(&digest, now_ms()));
}

/// A TCP gate in front of PostgreSQL: while closed it cuts every connection through it and refuses new
/// ones, as a database that went away would.
struct DbGate {
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl DbGate {
    async fn start(target: &str) -> (String, DbGate) {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let gate = DbGate { open: Default::default(), connections: Default::default() };
        gate.open.store(true, Ordering::SeqCst);
        let (open, connections, target) = (gate.open.clone(), gate.connections.clone(), target.to_string());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !open.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections.lock().unwrap().push(task.abort_handle());
            }
        });
        (addr, gate)
    }

    fn close(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for c in self.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn reopen(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_database_outage_of_a_few_seconds_under_load_answers_no_500_and_loses_no_charge() {
    if std::env::var("TEST_DATABASE").as_deref() != Ok("postgres") {
        return; // an embedded SQLite file does not go away; PostgreSQL runs this test
    }
    let direct = common::fresh_database_url().await;
    let (gate_addr, gate) = DbGate::start("127.0.0.1:5432").await;
    let through_gate = direct.replacen("127.0.0.1:5432", &gate_addr, 1);
    assert_ne!(through_gate, direct);
    let app = spawn_app_with(&[("DATABASE_URL", &through_gate)]).await;
    let (user_id, key) = account(&app, "outage@example.com", None).await;
    fund(&app, user_id, 50).await;
    // An account whose key this instance has never seen: nothing recent can stand in for it.
    let (_, unseen_key) = account(&app, "unseen@example.com", None).await;
    let body = json!({"model": "claude-haiku-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]});
    let start = tokio::time::Instant::now();
    let until = start + Duration::from_secs(9);
    let mut workers = Vec::new();
    for _ in 0..6 {
        let (client, url, key, body) = (app.client.clone(), app.url("/v1/messages"), key.clone(), body.to_string());
        workers.push(tokio::spawn(async move {
            // (sent, answered, status), as times since the start
            let mut calls = Vec::new();
            while tokio::time::Instant::now() < until {
                let sent = start.elapsed();
                let res = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-api-key", &key)
                    .timeout(Duration::from_secs(30))
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                if status == 503 {
                    assert!(res.headers().contains_key("retry-after"));
                }
                calls.push((sent, start.elapsed(), status));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            calls
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    gate.close();
    let closed_at = start.elapsed();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let res = post(&app, "/v1/messages", &unseen_key, &body).send().await.unwrap();
    assert_eq!(res.status(), 503, "nothing stands in for an account never read");
    assert!(res.headers().contains_key("retry-after"));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let reopened_at = start.elapsed();
    gate.reopen();
    let mut calls = Vec::new();
    for w in workers {
        calls.extend(w.await.unwrap());
    }
    let statuses: Vec<u16> = calls.iter().map(|c| c.2).collect();
    let served_in_outage = calls.iter().filter(|(sent, answered, status)| {
        *status == 200 && *sent > closed_at + Duration::from_secs(1) && *answered < reopened_at
    });
    assert!(served_in_outage.count() > 10, "calls were answered while the database was away");
    let slowest = calls.iter().map(|(sent, answered, _)| *answered - *sent).max().unwrap();
    assert!(slowest < Duration::from_secs(4), "no call waited for the database to come back: {slowest:?}");
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert!(statuses.iter().all(|s| *s == 200 || *s == 503), "{statuses:?}");
    assert!(ok > 50, "calls were served through the outage: {ok} of {}", statuses.len());
    tokio::time::timeout(Duration::from_secs(30), app.state.gateway.settlements().flush())
        .await
        .expect("charges written");
    app.settled().await;
    let (billed,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM bills WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(usize::try_from(billed).unwrap(), ok, "every answered call billed exactly once");
    audit_clean(&app).await;
}
