//! The API proxy against the built-in mock upstream: both dialects, JSON and streaming, translation,
//! every refusal in the caller's dialect, and charges that equal the formula exactly.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spawn_app, spawn_app_with, TestApp};
use gatehouse::server::domain::account;
use gatehouse::server::domain::bills::{self, Bill};
use gatehouse::server::domain::charge::Refusal;
use gatehouse::server::domain::keys::{self, NewKey};
use gatehouse::server::domain::money::Money;
use gatehouse::server::domain::pricing::Usage;
use gatehouse::server::domain::refusals;
use gatehouse::server::time::now_ms;
use serde_json::{json, Value};

struct Caller {
    user_id: i64,
    key: String,
}

async fn caller(app: &TestApp, email: &str, models: &[&str], cap: Option<Money>) -> Caller {
    app.log_in(email).await;
    let user_id = app.user_id(email).await;
    let models: Vec<String> = models.iter().map(|m| m.to_string()).collect();
    let (_, key) = keys::create(
        app.state.db.pool(),
        NewKey {
            user_id,
            name: "test key",
            expires_at: None,
            spend_cap: cap,
            models: &models,
            can_manage: false,
            on_page: true,
            now: now_ms(),
        },
    )
    .await
    .unwrap();
    Caller { user_id, key }
}

async fn grant_cc_package(app: &TestApp, user_id: i64, usd: i64) {
    common::grant_claude_code_package(&app.state.db, user_id, usd, &format!("test-grant-{user_id}")).await;
}

async fn post(app: &TestApp, path: &str, key: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).header("content-type", "application/json").body(body.to_string());
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    req.send().await.unwrap()
}

/// The account's bills once every call so far is settled.
async fn bills_of(app: &TestApp, user_id: i64) -> Vec<Bill> {
    app.settled().await;
    bills::page(app.state.db.pool(), user_id, &Default::default(), 100, 0).await.unwrap().0
}

async fn balance(app: &TestApp, user_id: i64) -> Money {
    app.settled().await;
    account::money_of(app.state.db.pool(), user_id).await.unwrap().unwrap().balance
}

async fn audit_clean(app: &TestApp) {
    app.settled().await;
    let report = gatehouse::server::domain::audit::run(app.state.db.pool(), now_ms()).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.breaches);
}

fn official(app: &TestApp, model: &str, usage: Usage) -> Money {
    app.state.pricing.current().table.cost(model, &usage).unwrap()
}

const CC_MESSAGES: &str = "/api/v1/ai/anthropic/cc-omg/v1/messages";
const CC_OPENAI: &str = "/api/v1/ai/openai/cc-omg/v1/chat/completions";

#[tokio::test]
async fn a_claude_code_call_is_answered_and_paid_by_the_package_at_the_official_price() {
    let app = spawn_app().await;
    let c = caller(&app, "cc@example.com", &[], None).await;
    grant_cc_package(&app, c.user_id, 20).await;
    let res = post(
        &app,
        &format!("{CC_MESSAGES}?beta=true"),
        Some(&c.key),
        json!({"model": "claude-opus-4-1", "max_tokens": 256, "messages": [{"role": "user", "content": "Hello there"}],
               "metadata": {"user_id": "x"}, "context_management": {"edits": []}}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert!(v["content"][0]["text"].as_str().unwrap().contains("mock upstream"));
    let usage = Usage {
        input: v["usage"]["input_tokens"].as_u64().unwrap(),
        output: v["usage"]["output_tokens"].as_u64().unwrap(),
        ..Usage::default()
    };
    let bills = bills_of(&app, c.user_id).await;
    assert_eq!(bills.len(), 1);
    let b = &bills[0];
    assert_eq!(
        (b.channel.as_str(), b.model.as_str(), b.key_name.as_deref()),
        ("cc-omg", "claude-opus-4-1", Some("test key"))
    );
    assert_eq!((b.input_tokens, b.output_tokens), (usage.input as i64, usage.output as i64));
    assert_eq!(b.official_cost, official(&app, "claude-opus-4-1", usage));
    assert_eq!(b.packages_paid, b.official_cost);
    assert_eq!(b.balance_paid, Money::ZERO);
    assert_eq!(balance(&app, c.user_id).await, Money::parse_usd("0.10").unwrap());
    let listed = keys::list(app.state.db.pool(), c.user_id).await.unwrap();
    assert_eq!(listed[0].used_times, 1);
    assert!(listed[0].last_used_at.is_some());
    assert_eq!(listed[0].spent, b.official_cost);
    audit_clean(&app).await;
}

#[tokio::test]
async fn without_a_package_the_balance_pays_official_times_the_channel_rate() {
    let app = spawn_app().await;
    let c = caller(&app, "rate@example.com", &[], None).await;
    let res = post(
        &app,
        CC_MESSAGES,
        Some(&c.key),
        json!({"model": "claude-haiku-4-5", "max_tokens": 50,
        "messages": [{"role": "user", "content": "Hi"}]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let b = &bills_of(&app, c.user_id).await[0];
    let expected = Money::round_from(b.official_cost.to_decimal() * rust_decimal::Decimal::new(2, 1)).unwrap();
    assert_eq!(b.balance_paid, expected);
    assert_eq!(balance(&app, c.user_id).await, Money::parse_usd("0.10").unwrap().saturating_sub(expected));
}

async fn read_sse(res: reqwest::Response) -> Vec<(Option<String>, String)> {
    let text = res.text().await.unwrap();
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut event = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = Some(e.to_string());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (event, data)
        })
        .collect()
}

#[tokio::test]
async fn anthropic_streams_pass_through_and_are_metered_from_the_last_usage() {
    let app = spawn_app().await;
    let c = caller(&app, "stream@example.com", &[], None).await;
    grant_cc_package(&app, c.user_id, 20).await;
    let res = post(&app, CC_MESSAGES, Some(&c.key), json!({"model": "claude-sonnet-4-5", "max_tokens": 500, "stream": true,
        "thinking": {"type": "enabled", "budget_tokens": 1024}, "messages": [{"role": "user", "content": "Stream please"}]}))
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let events = read_sse(res).await;
    let names: Vec<&str> = events.iter().filter_map(|e| e.0.as_deref()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    assert!(names.contains(&"content_block_delta"));
    let thinking = events.iter().any(|e| e.1.contains("thinking_delta"));
    assert!(thinking, "thinking blocks pass through");
    let start: Value = serde_json::from_str(&events[0].1).unwrap();
    let delta: Value =
        serde_json::from_str(&events.iter().find(|e| e.0.as_deref() == Some("message_delta")).unwrap().1).unwrap();
    let usage = Usage {
        input: start["message"]["usage"]["input_tokens"].as_u64().unwrap(),
        output: delta["usage"]["output_tokens"].as_u64().unwrap(),
        ..Usage::default()
    };
    // The bill is written when the stream ends, by the settlement writer.
    let bills = bills_of(&app, c.user_id).await;
    assert_eq!(bills.len(), 1);
    assert_eq!(bills[0].output_tokens, usage.output as i64);
    assert_eq!(bills[0].official_cost, official(&app, "claude-sonnet-4-5", usage));
    audit_clean(&app).await;
}

#[tokio::test]
async fn a_stream_with_nothing_to_translate_reaches_the_caller_byte_for_byte() {
    let app = spawn_app().await;
    let c = caller(&app, "bytes@example.com", &[], None).await;
    let request = json!({"model": "claude-haiku-4-5", "max_tokens": 200, "stream": true,
        "messages": [{"role": "user", "content": "Byte for byte, ünïcödé included"}]});
    let res = post(&app, CC_MESSAGES, Some(&c.key), request.clone()).await;
    assert_eq!(res.status(), 200);
    let got = res.bytes().await.unwrap();
    // What the upstream (the in-process mock) sends for this request.
    let reply = gatehouse::server::proxy::mock::anthropic(&request, gatehouse::server::proxy::mock::Shape::default())
        .await
        .unwrap();
    let gatehouse::server::proxy::upstream::UpstreamBody::Stream(mut upstream) = reply.body else {
        panic!("the mock streams when asked to");
    };
    let mut expected = Vec::new();
    while let Some(chunk) = futures_util::StreamExt::next(&mut upstream).await {
        expected.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&expected));
    assert_eq!(bills_of(&app, c.user_id).await.len(), 1, "and it is billed");
}

#[tokio::test]
async fn openai_calls_to_claude_models_are_translated_both_ways() {
    let app = spawn_app().await;
    let c = caller(&app, "translate@example.com", &[], None).await;
    grant_cc_package(&app, c.user_id, 20).await;
    let res = post(
        &app,
        CC_OPENAI,
        Some(&c.key),
        json!({"model": "claude-haiku-4-5", "messages": [
        {"role": "system", "content": "Translate to French."}, {"role": "user", "content": "Good morning"}]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["choices"][0]["message"]["content"].as_str().unwrap().contains("Good morning"));
    let prompt = v["usage"]["prompt_tokens"].as_u64().unwrap();
    let completion = v["usage"]["completion_tokens"].as_u64().unwrap();
    let b = &bills_of(&app, c.user_id).await[0];
    assert_eq!((b.input_tokens as u64, b.output_tokens as u64), (prompt, completion));
    assert_eq!(b.channel, "cc-omg");

    // Streaming, with and without the usage chunk.
    for include_usage in [true, false] {
        let mut body =
            json!({"model": "claude-haiku-4-5", "stream": true, "messages": [{"role": "user", "content": "Hi"}]});
        if include_usage {
            body["stream_options"] = json!({"include_usage": true});
        }
        let events = read_sse(post(&app, CC_OPENAI, Some(&c.key), body).await).await;
        assert_eq!(events.last().unwrap().1, "[DONE]");
        let first: Value = serde_json::from_str(&events[0].1).unwrap();
        assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
        let text: String = events
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(&e.1).ok())
            .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::to_string))
            .collect();
        assert!(text.contains("mock upstream"));
        let has_usage = events.iter().any(|e| e.1.contains("\"usage\""));
        assert_eq!(has_usage, include_usage);
    }
    assert_eq!(bills_of(&app, c.user_id).await.len(), 3);
    audit_clean(&app).await;
}

#[tokio::test]
async fn gpt_models_go_to_the_openai_upstream_on_the_plain_channel_at_full_price() {
    let app = spawn_app().await;
    let c = caller(&app, "gpt@example.com", &[], None).await;
    let res = post(
        &app,
        "/v1/chat/completions",
        Some(&c.key),
        json!({"model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hi"}]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-mock"));
    let b = &bills_of(&app, c.user_id).await[0];
    assert_eq!((b.channel.as_str(), b.multiplier.as_str()), ("default", "1"));
    assert_eq!(b.balance_paid, b.official_cost);
    let events = read_sse(
        post(
            &app,
            "/v1/chat/completions",
            Some(&c.key),
            json!({"model": "gpt-4o-mini", "stream": true,
        "messages": [{"role": "user", "content": "Hi"}]}),
        )
        .await,
    )
    .await;
    assert!(!events.iter().any(|e| e.1.contains("\"usage\"")), "usage asked for on the caller's behalf stays hidden");
    let bills = bills_of(&app, c.user_id).await;
    assert_eq!(bills.len(), 2);
    assert!(bills[0].output_tokens > 0);
}

#[tokio::test]
async fn every_refusal_comes_in_the_callers_dialect_with_the_right_status() {
    let app = spawn_app_with(&[("RATE_TIERS", "0:3")]).await;
    let c = caller(&app, "errors@example.com", &["claude-haiku-4-5"], None).await;
    let hi = json!({"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]});

    let res = post(&app, "/v1/messages", None, hi.clone()).await;
    assert_eq!(res.status(), 401);
    let v: Value = res.json().await.unwrap();
    assert_eq!((v["type"].as_str(), v["error"]["type"].as_str()), (Some("error"), Some("authentication_error")));
    let res = post(&app, "/v1/chat/completions", Some("sk-gh-nope"), hi.clone()).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "invalid_api_key");
    // Authorization: Bearer works as well as x-api-key.
    let res = app.client.post(app.url("/v1/messages")).bearer_auth(&c.key).body("{not json").send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["type"], "invalid_request_error");

    let res = post(&app, "/v1/messages", Some(&c.key), json!({"model": "llama-3-70b", "messages": []})).await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["type"], "not_found_error");
    let res =
        post(&app, "/v1/messages", Some(&c.key), json!({"model": "claude-opus-4-1", "max_tokens": 5, "messages": []}))
            .await;
    assert_eq!(res.status(), 403, "the key only allows claude-haiku-4-5");
    let res = post(&app, "/api/v1/ai/anthropic/nope/v1/messages", Some(&c.key), hi.clone()).await;
    assert_eq!(res.status(), 404);

    // RATE_TIERS=0:3: three calls a minute.
    for _ in 0..3 {
        assert_eq!(post(&app, "/v1/messages", Some(&c.key), hi.clone()).await.status(), 200);
    }
    let res = post(&app, "/v1/messages", Some(&c.key), hi.clone()).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["type"], "rate_limit_error");
}

/// serde reads a struct from a JSON array too, field by field: no API takes one, and a surface that writes a
/// field into the request it passes on (the usage a stream is asked for, an image's billed size, speech's
/// event stream) must never meet one after admission.
#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_refused_on_every_surface_and_holds_nothing() {
    let app = spawn_app().await;
    let c = caller(&app, "arrays@example.com", &[], None).await;
    app.top_up(c.user_id, "5").await;
    for (path, body) in [
        ("/v1/messages", json!(["claude-haiku-4-5"])),
        ("/v1/chat/completions", json!(["gpt-4o-mini", 10, null, null, true])),
        ("/v1/completions", json!(["gpt-3.5-turbo-instruct", "Once"])),
        ("/v1/embeddings", json!(["text-embedding-3-small", "The sea"])),
        ("/v1/audio/speech", json!(["gpt-4o-mini-tts", "Hello", "coral"])),
        ("/v1/images/generations", json!(["dall-e-3", "A lighthouse"])),
        ("/v1/responses", json!(["gpt-4o-mini", "Hi"])),
    ] {
        let res = post(&app, path, Some(&c.key), body).await;
        assert_eq!(res.status(), 400, "{path}");
        let v: Value = res.json().await.unwrap();
        assert!(v["error"]["message"].as_str().unwrap().contains("JSON object"), "{path}: {v}");
    }
    assert_eq!(app.open_holds().await, 0);
    assert!(bills_of(&app, c.user_id).await.is_empty());
}

#[tokio::test]
async fn a_balance_at_or_below_zero_gets_402_whatever_packages_remain() {
    let app = spawn_app_with(&[("WELCOME_BALANCE", "0")]).await;
    let c = caller(&app, "broke@example.com", &[], None).await;
    grant_cc_package(&app, c.user_id, 20).await;
    let res = post(
        &app,
        CC_OPENAI,
        Some(&c.key),
        json!({"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "Hi"}]}),
    )
    .await;
    assert_eq!(res.status(), 402);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "insufficient_quota");
    assert!(v["error"]["message"].as_str().unwrap().contains("blocked until your balance is positive"));
    let res = post(
        &app,
        CC_MESSAGES,
        Some(&c.key),
        json!({"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}),
    )
    .await;
    assert_eq!(res.status(), 402);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["type"], "billing_error");
    assert!(bills_of(&app, c.user_id).await.is_empty());
}

#[tokio::test]
async fn refused_calls_are_kept_for_the_bills_page_and_bills_say_how_each_call_went() {
    let app = spawn_app_with(&[("WELCOME_BALANCE", "0")]).await;
    let c = caller(&app, "refused@example.com", &[], None).await;
    let hi = json!({"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]});
    let send = |request_id: &'static str| {
        app.client
            .post(app.url("/v1/messages"))
            .header("content-type", "application/json")
            .header("x-api-key", &c.key)
            .header("x-request-id", request_id)
            .body(hi.to_string())
            .send()
    };
    assert_eq!(send("req-refused-1").await.unwrap().status(), 402);
    // A second refusal of the same kind within the window is not written again.
    assert_eq!(send("req-refused-2").await.unwrap().status(), 402);
    let mut kept = Vec::new();
    for _ in 0..50 {
        kept = gatehouse::server::domain::refusals::recent(app.state.db.pool(), c.user_id, 10).await.unwrap();
        if !kept.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(kept.len(), 1, "{kept:?}");
    let r = &kept[0];
    assert_eq!((r.status, r.channel.as_str(), r.model.as_str()), (402, "default", "claude-haiku-4-5"));
    assert_eq!((r.key_name.as_deref(), r.request_id.as_deref()), (Some("test key"), Some("req-refused-1")));
    assert!(
        matches!(r.why, refusals::Why::Payment(Refusal::BalanceNotPositive { balance }) if !balance.is_positive()),
        "{:?}",
        r.why
    );
    let rows =
        gatehouse::server::billing_view::refused(&app.state, c.user_id, gatehouse::i18n::Locale::en).await.unwrap();
    assert_eq!(rows[0].status, 402);
    assert!(rows[0].reason.starts_with("Your balance was "), "{}", rows[0].reason);
    let zh =
        gatehouse::server::billing_view::refused(&app.state, c.user_id, gatehouse::i18n::Locale::zh).await.unwrap();
    assert!(zh[0].reason.starts_with("当时余额为 "), "{}", zh[0].reason);
    assert!(bills_of(&app, c.user_id).await.is_empty(), "nothing charged");

    // A call that runs: its bill keeps the request id, the outcome and the latency.
    app.top_up(c.user_id, "1").await;
    let res = send("req-served-1").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-request-id"], "req-served-1");
    let b = bills_of(&app, c.user_id).await.remove(0);
    assert_eq!((b.outcome.as_str(), b.request_id.as_deref()), ("complete", Some("req-served-1")));
    assert!(b.latency_ms.is_some_and(|ms| (0..10_000).contains(&ms)), "{:?}", b.latency_ms);
    let row = &gatehouse::server::billing_view::bills(
        &app.state,
        c.user_id,
        &Default::default(),
        gatehouse::i18n::Locale::en,
    )
    .await
    .unwrap()
    .rows[0];
    assert_eq!((row.outcome.as_str(), row.request_id.as_str()), ("complete", "req-served-1"));
    assert!(row.latency.ends_with(" ms") || row.latency.ends_with(" s"), "{}", row.latency);
}

#[tokio::test]
async fn a_key_stops_at_its_spending_cap_and_disabled_keys_are_refused() {
    let app = spawn_app().await;
    let c = caller(&app, "capped@example.com", &[], Some(Money::from_units(1))).await;
    let hi = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]});
    assert_eq!(post(&app, "/v1/chat/completions", Some(&c.key), hi.clone()).await.status(), 200);
    let res = post(&app, "/v1/chat/completions", Some(&c.key), hi.clone()).await;
    assert_eq!(res.status(), 402);
    assert!(res.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().contains("spending cap"));
    let id = keys::list(app.state.db.pool(), c.user_id).await.unwrap()[0].id;
    // As the keys page does it, so the proxy's key cache hears of it at once.
    gatehouse::server::keys_view::set_disabled(&app.state, c.user_id, id, true, gatehouse::i18n::Locale::en)
        .await
        .unwrap();
    assert_eq!(post(&app, "/v1/chat/completions", Some(&c.key), hi).await.status(), 401);
}

#[tokio::test]
async fn an_upstream_failure_before_any_byte_charges_nothing_and_a_broken_stream_bills_what_was_seen() {
    let app = spawn_app().await;
    let c = caller(&app, "fail@example.com", &[], None).await;
    let res = post(
        &app,
        "/v1/messages",
        Some(&c.key),
        json!({"model": "claude-sonnet-4-5-fail-500", "max_tokens": 5,
        "messages": [{"role": "user", "content": "Hi"}]}),
    )
    .await;
    assert_eq!(res.status(), 502);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["type"], "api_error");
    assert!(bills_of(&app, c.user_id).await.is_empty());
    assert_eq!(app.state.gateway.admissions().balance_held(c.user_id), Money::ZERO);

    let res = post(
        &app,
        "/v1/messages",
        Some(&c.key),
        json!({"model": "claude-sonnet-4-5-fail-midstream", "max_tokens": 50,
        "stream": true, "messages": [{"role": "user", "content": "Hi"}]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let _ = res.text().await;
    let bills = bills_of(&app, c.user_id).await;
    assert_eq!(bills.len(), 1);
    assert!(bills[0].input_tokens > 0 && bills[0].official_cost.is_positive(), "never billed as zero");
    audit_clean(&app).await;
}

#[tokio::test]
async fn models_are_listed_in_either_dialect_and_say_when_the_mock_is_in_use() {
    let app = spawn_app().await;
    let c = caller(&app, "models@example.com", &[], None).await;
    let v: Value =
        app.client.get(app.url("/v1/models")).bearer_auth(&c.key).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["object"], "list");
    assert!(v["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "gpt-4o" && m["owned_by"] == "gatehouse-mock-upstream"));
    let v: Value = app
        .client
        .get(app.url("/api/v1/ai/anthropic/cc-omg/v1/models"))
        .header("x-api-key", &c.key)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["data"].as_array().unwrap().iter().all(|m| m["type"] == "model"));
    assert_eq!(v["gatehouse_mock_upstream"], true);
    let res = app.client.get(app.url("/v1/models")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = post(
        &app,
        "/v1/messages/count_tokens",
        Some(&c.key),
        json!({"model": "claude-opus-4-1", "messages": [{"role": "user", "content": "Count me"}]}),
    )
    .await;
    assert!(res.json::<Value>().await.unwrap()["input_tokens"].as_u64().unwrap() > 0);
}

/// Claude Code sends screenshots and files inline: a request of several megabytes (above axum's 2 MiB
/// default) is answered and billed; one above the API's own limit is refused with 413 in the caller's
/// dialect, whether it says its length or streams it, and nothing is held or billed.
#[tokio::test]
async fn large_requests_pass_up_to_the_apis_own_limit_and_beyond_it_get_413_in_the_callers_dialect() {
    let app = spawn_app().await;
    let c = caller(&app, "images@example.com", &[], None).await;
    app.top_up(c.user_id, "50").await;
    let image = "iVBORw0KGgo".repeat(160_000); // about 1.7 MB of base64 each
    let blocks: Vec<Value> = (0..3)
        .map(|_| json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": image}}))
        .chain([json!({"type": "text", "text": "What changed between these screenshots?"})])
        .collect();
    let body =
        json!({"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": [{"role": "user", "content": blocks}]});
    assert!(body.to_string().len() > 5_000_000);
    let res = post(&app, "/v1/messages", Some(&c.key), body).await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    assert_eq!(bills_of(&app, c.user_id).await.len(), 1);

    let huge = "x".repeat(33 * 1024 * 1024);
    let over = json!({"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": huge}]});
    let res = post(&app, "/v1/messages", Some(&c.key), over).await;
    assert_eq!(res.status(), 413);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "request_too_large");
    assert!(v["error"]["message"].as_str().unwrap().contains("32 MiB"), "{v}");

    // Streamed without a length, to an OpenAI surface: refused once past 50 MiB, in OpenAI's shape.
    let chunk = axum::body::Bytes::from(vec![b' '; 1024 * 1024]);
    let pieces = (0..60).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
    let res = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&c.key)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(pieces)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "request_too_large", "{v}");
    assert_eq!(bills_of(&app, c.user_id).await.len(), 1, "nothing billed for refused requests");
    assert_eq!(app.open_holds().await, 0);
    audit_clean(&app).await;
}

/// Anthropic's web search server tool costs per search: the searches an answer reports are billed at the
/// price table's `tool:web_search` price on top of its tokens, streamed or not, and shown on the bill.
#[tokio::test]
async fn web_searches_are_billed_per_search_on_top_of_the_tokens() {
    let app = spawn_app().await;
    let c = caller(&app, "searcher@example.com", &[], None).await;
    app.top_up(c.user_id, "5").await;
    let tools = json!([{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]);
    for stream in [false, true] {
        let res = post(
            &app,
            "/v1/messages",
            Some(&c.key),
            json!({"model": "claude-sonnet-4-5", "max_tokens": 256, "stream": stream, "tools": tools,
                   "messages": [{"role": "user", "content": "What is new on Mars?"}]}),
        )
        .await;
        assert_eq!(res.status(), 200);
        res.text().await.unwrap();
    }
    let bills = bills_of(&app, c.user_id).await;
    assert_eq!(bills.len(), 2);
    // More searches reported than the tool's `max_uses` allowed are an upstream anomaly: billed at most that.
    let one = json!([{"type": "web_search_20250305", "name": "web_search", "max_uses": 1}]);
    let res = post(
        &app,
        "/v1/messages",
        Some(&c.key),
        json!({"model": "claude-sonnet-4-5", "max_tokens": 256, "tools": one,
               "messages": [{"role": "user", "content": "Once only"}]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let newest = bills_of(&app, c.user_id).await.remove(0);
    assert_eq!(newest.web_searches, 1);
    let per_search = app.state.pricing.current().table.tool_price("web_search").unwrap();
    assert_eq!(per_search.to_string(), "0.01");
    for b in &bills {
        assert_eq!(b.web_searches, 2, "{b:?}");
        let tokens = Usage {
            input: u64::try_from(b.input_tokens).unwrap(),
            output: u64::try_from(b.output_tokens).unwrap(),
            ..Usage::default()
        };
        let expected =
            official(&app, "claude-sonnet-4-5", tokens).checked_add(Money::parse_usd("0.02").unwrap()).unwrap();
        assert_eq!(b.official_cost, expected);
    }
    audit_clean(&app).await;
}
