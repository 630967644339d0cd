//! The rest of OpenAI's menu against the mock upstream: embeddings (billed per input token, nothing
//! written), legacy text completions (JSON and SSE, metered like chat completions) and text to speech
//! (streamed audio, billed per character, or per token from the upstream's event stream), each model refused
//! on another kind's endpoint, every exit path settled once; and the key-management API's per-model
//! multipliers and membership-expiry query.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{grant_claude_code_package, price_table_with, spawn_app, spawn_app_with, TestApp};
use gatehouse::server::domain::pricing::Usage;
use serde_json::{json, Value};

async fn caller(app: &TestApp, email: &str) -> (i64, String) {
    app.log_in(email).await;
    let user_id = app.user_id(email).await;
    app.top_up(user_id, "20").await;
    (user_id, app.create_key(user_id, false).await)
}

async fn post(app: &TestApp, path: &str, key: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url(path)).bearer_auth(key).json(&body).send().await.unwrap()
}

/// The shipped price table with the mock's failure-mode variants of two models priced too.
fn price_table_with_failure_modes() -> std::path::PathBuf {
    let mut text = String::new();
    for suffix in ["fail-500", "usage-none", "usage-huge"] {
        text.push_str(&format!(
            "text-embedding-3-small-{suffix} 0.02 0 0.02 0.02 0.02 context=300000 kind=embedding\n\
             gpt-3.5-turbo-instruct-{suffix} 1.50 2 1.50 1.50 1.50 max_output=4096 context=4096 kind=completion\n"
        ));
    }
    text.push_str(
        "gpt-3.5-turbo-instruct-fail-midstream 1.50 2 1.50 1.50 1.50 max_output=4096 context=4096 kind=completion\n",
    );
    for suffix in ["fail-500", "fail-midstream"] {
        text.push_str(&format!("tts-1-{suffix} 15 0 0 0 0 context=4096 kind=speech\n"));
    }
    for suffix in ["fail-500", "fail-midstream", "usage-none", "usage-huge"] {
        text.push_str(&format!(
            "gpt-4o-mini-tts-{suffix} 0.60 12 0.60 0.60 0.60 max_output=12500 context=2000 kind=speech billed=tokens\n"
        ));
    }
    price_table_with(&text)
}

fn cost(app: &TestApp, model: &str, usage: Usage) -> gatehouse::server::domain::money::Money {
    app.state.pricing.current().table.cost(model, &usage).unwrap()
}

#[tokio::test]
async fn an_embedding_is_billed_its_input_tokens_and_nothing_else() {
    let app = spawn_app().await;
    let (user_id, key) = caller(&app, "embed@example.com").await;
    let res = post(
        &app,
        "/v1/embeddings",
        &key,
        json!({"model": "text-embedding-3-small", "input": ["The sea.", "The sky, at night."]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["data"][1]["index"], 1);
    let tokens = v["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(tokens > 0);
    let b = app.bills_of(user_id).await;
    assert_eq!(b.len(), 1);
    let b = &b[0];
    assert_eq!((b.model.as_str(), b.input_tokens, b.output_tokens), ("text-embedding-3-small", tokens as i64, 0));
    assert_eq!(b.official_cost, cost(&app, "text-embedding-3-small", Usage { input: tokens, ..Usage::default() }));
    assert_eq!(b.balance_paid, b.official_cost);
    // The same on a channel's path, the multiplier of the plain API (embeddings are not the CodeX channel's).
    let res = post(
        &app,
        "/api/v1/ai/openai/codex-omg/v1/embeddings",
        &key,
        json!({"model": "text-embedding-3-small", "input": "x"}),
    )
    .await;
    assert_eq!(res.status(), 400);
    let v: Value = res.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("codex-omg"), "{v}");
    app.audit_clean().await;
    assert_eq!(app.bills_of(user_id).await.len(), 1);
}

#[tokio::test]
async fn each_kind_of_model_is_refused_on_another_kinds_endpoint_and_nothing_is_charged() {
    let app = spawn_app().await;
    let (user_id, key) = caller(&app, "kinds@example.com").await;
    let cases = [
        (
            "/v1/chat/completions",
            json!({"model": "text-embedding-3-small", "messages": [{"role": "user", "content": "hi"}]}),
            "/v1/embeddings",
        ),
        ("/v1/responses", json!({"model": "text-embedding-3-large", "input": "hi"}), "/v1/embeddings"),
        (
            "/v1/chat/completions",
            json!({"model": "gpt-3.5-turbo-instruct", "messages": [{"role": "user", "content": "hi"}]}),
            "/v1/completions",
        ),
        ("/v1/embeddings", json!({"model": "gpt-4o", "input": "hi"}), "/v1/chat/completions"),
        ("/v1/embeddings", json!({"model": "gpt-3.5-turbo-instruct", "input": "hi"}), "/v1/completions"),
        ("/v1/completions", json!({"model": "gpt-4o", "prompt": "hi"}), "/v1/chat/completions"),
        ("/v1/completions", json!({"model": "claude-sonnet-4-5", "prompt": "hi"}), "/v1/messages"),
    ];
    for (path, body, points_to) in cases {
        let res = post(&app, path, &key, body.clone()).await;
        assert_eq!(res.status(), 400, "{path} {body}");
        let v: Value = res.json().await.unwrap();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(points_to) && message.contains("not charged"), "{path}: {message}");
    }
    // Counting tokens is for chat models too.
    let res = app
        .client
        .post(app.url("/v1/messages/count_tokens"))
        .header("x-api-key", &key)
        .json(&json!({"model": "text-embedding-3-small", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Claude's Messages API refuses an embedding model in Anthropic's shape.
    let res = app
        .client
        .post(app.url("/v1/messages"))
        .header("x-api-key", &key)
        .json(&json!({"model": "text-embedding-3-small", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["type"], "error");
    // Bad input to the new endpoints: clear errors in OpenAI's shape, nothing charged.
    for (path, body, status) in [
        ("/v1/embeddings", json!({"model": "text-embedding-3-small"}), 400),
        ("/v1/embeddings", json!({"model": "text-embedding-9", "input": "x"}), 404),
        ("/v1/embeddings", json!({"model": "text-embedding-3-small", "input": ""}), 400),
        ("/v1/completions", json!({"model": "gpt-3.5-turbo-instruct", "prompt": "x", "max_tokens": 5000}), 400),
    ] {
        let res = post(&app, path, &key, body.clone()).await;
        assert_eq!(res.status(), status, "{path} {body}");
        let v: Value = res.json().await.unwrap();
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    let res = app
        .client
        .post(app.url("/v1/embeddings"))
        .body("{not json")
        .header("authorization", format!("Bearer {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = app
        .client
        .post(app.url("/v1/completions"))
        .json(&json!({"model": "gpt-3.5-turbo-instruct", "prompt": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(app.bills_of(user_id).await.is_empty());
    app.audit_clean().await;
}

#[tokio::test]
async fn embedding_failures_charge_nothing_and_missing_usage_is_billed_by_the_estimate() {
    let prices = price_table_with_failure_modes();
    let app = spawn_app_with(&[("PRICE_TABLE", prices.to_str().unwrap())]).await;
    let (user_id, key) = caller(&app, "embed-fail@example.com").await;
    let res =
        post(&app, "/v1/embeddings", &key, json!({"model": "text-embedding-3-small-fail-500", "input": "x"})).await;
    assert!(res.status().is_server_error(), "{}", res.status());
    assert!(res.json::<Value>().await.unwrap()["error"]["message"].is_string());
    assert!(app.bills_of(user_id).await.is_empty(), "a failed call costs nothing");
    // No usage reported: the input estimated from the request, still no output.
    let body = json!({"model": "text-embedding-3-small-usage-none", "input": "one two three four five six"});
    let res = post(&app, "/v1/embeddings", &key, body.clone()).await;
    assert_eq!(res.status(), 200);
    let b = app.bills_of(user_id).await;
    assert_eq!(b.len(), 1);
    assert_eq!((b[0].input_tokens, b[0].output_tokens), ((body.to_string().len() / 3) as i64, 0));
    // An absurd report is cut to the model's context: never beyond the hold.
    let res =
        post(&app, "/v1/embeddings", &key, json!({"model": "text-embedding-3-small-usage-huge", "input": "x"})).await;
    assert_eq!(res.status(), 200);
    let b = app.bills_of(user_id).await;
    assert_eq!(b.len(), 2);
    assert!(b[0].input_tokens <= 300_000 && b[0].output_tokens == 0, "{:?}", b[0]);
    app.audit_clean().await;
    let _ = std::fs::remove_file(prices);
}

#[tokio::test]
async fn a_legacy_completion_is_billed_its_prompt_and_every_choice() {
    let app = spawn_app().await;
    let (user_id, key) = caller(&app, "legacy@example.com").await;
    let res = post(
        &app,
        "/v1/completions",
        &key,
        json!({"model": "gpt-3.5-turbo-instruct", "prompt": "Once upon a time", "max_tokens": 100, "n": 2}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"].as_array().unwrap().len(), 2);
    assert!(v["choices"][0]["text"].as_str().unwrap().contains("mock upstream"));
    let usage = Usage {
        input: v["usage"]["prompt_tokens"].as_u64().unwrap(),
        output: v["usage"]["completion_tokens"].as_u64().unwrap(),
        ..Usage::default()
    };
    let b = app.bills_of(user_id).await;
    assert_eq!(b.len(), 1);
    assert_eq!((b[0].input_tokens as u64, b[0].output_tokens as u64), (usage.input, usage.output));
    assert_eq!(b[0].official_cost, cost(&app, "gpt-3.5-turbo-instruct", usage));
    // A list of prompts: each gets its `n` choices, from `best_of` candidates, all within the hold and billed.
    let body = json!({"model": "gpt-3.5-turbo-instruct", "prompt": ["Once", "Twice", "Thrice"], "max_tokens": 10, "n": 2, "best_of": 3});
    let v: Value = post(&app, "/v1/completions", &key, body).await.json().await.unwrap();
    assert_eq!(v["choices"].as_array().unwrap().len(), 6, "{v}");
    assert_eq!(v["choices"][5]["index"], 5);
    let output = v["usage"]["completion_tokens"].as_u64().unwrap();
    assert_eq!(output, 3 * 3 * 10, "three prompts, three candidates each, cut at max_tokens");
    let b = app.bills_of(user_id).await;
    assert_eq!(b[0].output_tokens as u64, output, "billed every candidate of every prompt, not one prompt's");
    // The Codex channel is for Codex: a legacy completion there is refused, not charged at its rate.
    let res = post(
        &app,
        "/api/v1/ai/openai/codex-omg/v1/completions",
        &key,
        json!({"model": "gpt-3.5-turbo-instruct", "prompt": "x"}),
    )
    .await;
    assert_eq!(res.status(), 400);
    let message = res.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("chat models only") && message.contains("plain /v1"), "{message}");
    assert_eq!(app.bills_of(user_id).await.len(), 2);
    app.audit_clean().await;
}

/// The text and `data:` payloads of a streamed answer.
async fn streamed(res: reqwest::Response) -> (String, Vec<Value>) {
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    let chunks: Vec<Value> = body
        .split("\n\n")
        .filter_map(|b| b.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let text = chunks.iter().filter_map(|c| c["choices"][0]["text"].as_str()).collect();
    (text, chunks)
}

#[tokio::test]
async fn a_streamed_legacy_completion_is_metered_with_or_without_the_callers_usage_chunk() {
    let app = spawn_app().await;
    let (user_id, key) = caller(&app, "legacy-stream@example.com").await;
    // Without include_usage: Gatehouse asks for it to meter the call, and keeps it from the caller.
    let res = post(
        &app,
        "/v1/completions",
        &key,
        json!({"model": "gpt-3.5-turbo-instruct", "prompt": "Tell me", "stream": true}),
    )
    .await;
    let (text, chunks) = streamed(res).await;
    assert!(text.contains("mock upstream"), "{text}");
    assert!(chunks.iter().all(|c| c.get("usage").is_none_or(Value::is_null)), "no usage chunk was asked for");
    // With it: the caller sees it, and the bill matches it.
    let res = post(&app, "/v1/completions", &key, json!({"model": "gpt-3.5-turbo-instruct", "prompt": "Tell me", "stream": true, "stream_options": {"include_usage": true}})).await;
    let (_, chunks) = streamed(res).await;
    let usage = &chunks.last().unwrap()["usage"];
    let b = app.bills_of(user_id).await;
    assert_eq!(b.len(), 2);
    for bill in &b {
        assert_eq!(bill.output_tokens as u64, usage["completion_tokens"].as_u64().unwrap(), "{bill:?}");
        assert_eq!(bill.outcome, "complete");
    }
    app.audit_clean().await;
}

#[tokio::test]
async fn a_legacy_stream_that_breaks_is_billed_the_text_it_carried() {
    let prices = price_table_with_failure_modes();
    let app = spawn_app_with(&[("PRICE_TABLE", prices.to_str().unwrap())]).await;
    let (user_id, key) = caller(&app, "legacy-broke@example.com").await;
    let body = json!({"model": "gpt-3.5-turbo-instruct-fail-midstream", "prompt": "Tell me a long story", "stream": true, "max_tokens": 200});
    let res = post(&app, "/v1/completions", &key, body).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap_or_default();
    assert!(text.contains("\"text\""), "some text went out before the break: {text}");
    let b = app.bills_of(user_id).await;
    assert_eq!(b.len(), 1, "the text streamed before the break is billed, never released unbilled");
    assert_eq!(b[0].outcome, "upstream_broke");
    assert!(b[0].output_tokens > 0 && b[0].input_tokens > 0, "{:?}", b[0]);
    // A failure before the first byte costs nothing.
    let res = post(
        &app,
        "/v1/completions",
        &key,
        json!({"model": "gpt-3.5-turbo-instruct-fail-500", "prompt": "x", "stream": true}),
    )
    .await;
    assert!(res.status().is_server_error());
    assert_eq!(app.bills_of(user_id).await.len(), 1);
    app.audit_clean().await;
    let _ = std::fs::remove_file(prices);
}

#[tokio::test]
async fn the_model_list_names_embedding_and_completion_models() {
    let app = spawn_app().await;
    let (_, key) = caller(&app, "list@example.com").await;
    let v: Value = app.client.get(app.url("/v1/models")).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = v["data"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
    assert!(ids.contains(&"text-embedding-3-small") && ids.contains(&"gpt-3.5-turbo-instruct"), "{ids:?}");
}

async fn admin(app: &TestApp, path: &str, key: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let res = app.client.post(app.url(path)).bearer_auth(key).form(form).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn the_key_api_answers_each_models_multiplier_and_the_membership_expiry() {
    let app = spawn_app().await;
    let email = "manager-menu@example.com";
    app.log_in(email).await;
    let user_id = app.user_id(email).await;
    let manager = app.create_key(user_id, true).await;
    // Per channel, as before.
    let (status, v) = admin(&app, "/api/v1/user/admin/model-multiplier", &manager, &[]).await;
    assert_eq!((status, &v["data"]["cc-omg"]), (200, &json!("0.2")), "{v}");
    // Per model: each channel serving it, and its official prices.
    let (status, v) = admin(
        &app,
        "/api/v1/user/admin/model-multiplier",
        &manager,
        &[("model", "claude-sonnet-4-5, text-embedding-3-small")],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let sonnet = &v["data"]["claude-sonnet-4-5"];
    assert_eq!(sonnet["kind"], "chat");
    assert_eq!(sonnet["channels"], json!({"default": "1", "web-chat": "1", "cc-omg": "0.2"}));
    assert_eq!((&sonnet["unit"], &sonnet["usd_per_million"]["output"]), (&json!("tokens"), &json!("15")));
    let embedding = &v["data"]["text-embedding-3-small"];
    assert_eq!(embedding["kind"], "embedding");
    assert_eq!(embedding["channels"], json!({"default": "1"}), "web chat and the named channels do not serve it");
    assert_eq!(embedding["usd_per_million"], json!({"input": "0.02"}));
    let (_, v) =
        admin(&app, "/api/v1/user/admin/model-multiplier", &manager, &[("model", "tts-1,gpt-4o-mini-tts")]).await;
    assert_eq!(
        (&v["data"]["tts-1"]["unit"], &v["data"]["tts-1"]["usd_per_million"]),
        (&json!("characters"), &json!({"input": "15"}))
    );
    assert_eq!(
        (&v["data"]["gpt-4o-mini-tts"]["unit"], &v["data"]["gpt-4o-mini-tts"]["usd_per_million"]),
        (&json!("tokens"), &json!({"input": "0.6", "output": "12"}))
    );
    let (status, v) = admin(&app, "/api/v1/user/admin/model-multiplier", &manager, &[("model", "gpt-99-nope")]).await;
    assert_eq!(status, 404);
    assert!(v["message"].as_str().unwrap().contains("gpt-99-nope"));
    // Membership: no package yet, then the latest expiry of the usable ones.
    let (status, v) = admin(&app, "/api/v1/user/admin/membership-expiry", &manager, &[]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((&v["data"]["is_member"], &v["data"]["expired_at"]), (&json!(false), &Value::Null));
    assert_eq!(v["data"]["tier"]["rpm"], 60);
    grant_claude_code_package(&app.state.db, user_id, 20, "menu-grant").await;
    let (_, v) = admin(&app, "/api/v1/user/admin/membership-expiry", &manager, &[]).await;
    let data = &v["data"];
    assert_eq!(data["is_member"], true);
    let expiry = data["expired_at"].as_i64().unwrap();
    let in_30_days = gatehouse::server::time::now_ms() / 1000 + 30 * 86_400;
    assert!((in_30_days - expiry).abs() < 60, "{data}");
    assert_eq!(data["packages"][0]["remaining"], "20");
    assert!(data["expired_at_utc"].as_str().unwrap().ends_with("UTC"));
    // A key without management rights is refused.
    let plain = app.create_key(user_id, false).await;
    let (status, _) = admin(&app, "/api/v1/user/admin/membership-expiry", &plain, &[]).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn speech_streams_audio_and_is_billed_per_character_read_out() {
    let app = spawn_app().await;
    let (user_id, key) = caller(&app, "speech@example.com").await;
    let text = "Hello there, sea. Ça va ?";
    let res = post(&app, "/v1/audio/speech", &key, json!({"model": "tts-1", "voice": "alloy", "input": text})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "audio/mpeg");
    let audio = res.bytes().await.unwrap();
    assert_eq!(&audio[..2], &[0xFF, 0xFB], "MPEG audio frames");
    let res = post(
        &app,
        "/v1/audio/speech",
        &key,
        json!({"model": "tts-1-hd", "voice": "nova", "input": text, "response_format": "wav"}),
    )
    .await;
    assert_eq!(res.headers()["content-type"], "audio/wav");
    assert_eq!(&res.bytes().await.unwrap()[..4], b"RIFF");
    let b = app.bills_of(user_id).await;
    assert_eq!(b.len(), 2);
    let chars = text.chars().count() as u64;
    for (bill, model) in b.iter().zip(["tts-1-hd", "tts-1"]) {
        assert_eq!((bill.model.as_str(), bill.input_tokens as u64, bill.output_tokens), (model, chars, 0));
        assert_eq!(bill.official_cost, cost(&app, model, Usage { input: chars, ..Usage::default() }));
    }
    // 25 characters at $30 per million.
    assert_eq!(b[0].official_cost, gatehouse::server::domain::money::Money::parse_usd("0.00075").unwrap());
    // The Bills page names what a speech call was billed for: characters, not tokens.
    let cookie = app.log_in("speech@example.com").await;
    let html = app.get_page("/billing/bills", Some(&cookie)).await.text().await.unwrap();
    assert_eq!(html.matches("25 characters read out").count(), 2, "both speech calls");
    assert!(!html.contains("25 in · 0 out"));
    // Refused before anything is held: too long, empty, a model without a per-character price, a chat model.
    for (body, status) in [
        (json!({"model": "tts-1", "voice": "alloy", "input": "x".repeat(4097)}), 400),
        (json!({"model": "tts-1", "voice": "alloy", "input": ""}), 400),
        (json!({"model": "tts-1", "input": "hi"}), 400),
        (json!({"model": "gpt-6-mini-tts", "voice": "alloy", "input": "hi"}), 404),
        (json!({"model": "gpt-4o", "voice": "alloy", "input": "hi"}), 400),
    ] {
        let res = post(&app, "/v1/audio/speech", &key, body.clone()).await;
        assert_eq!(res.status(), status, "{body}");
        assert!(res.json::<Value>().await.unwrap()["error"]["message"].is_string());
    }
    let res = post(
        &app,
        "/v1/chat/completions",
        &key,
        json!({"model": "tts-1", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert!(res.text().await.unwrap().contains("/v1/audio/speech"));
    assert_eq!(app.bills_of(user_id).await.len(), 2);
    app.audit_clean().await;
}

#[tokio::test]
async fn speech_that_fails_first_costs_nothing_and_speech_cut_off_is_billed() {
    let prices = price_table_with_failure_modes();
    let app = spawn_app_with(&[("PRICE_TABLE", prices.to_str().unwrap())]).await;
    let (user_id, key) = caller(&app, "speech-fail@example.com").await;
    let res =
        post(&app, "/v1/audio/speech", &key, json!({"model": "tts-1-fail-500", "voice": "alloy", "input": "hi"})).await;
    assert!(res.status().is_server_error());
    assert!(app.bills_of(user_id).await.is_empty());
    // Audio flowed, then the upstream broke: the text was read out (in part), so the call is billed.
    let long = "A long text to read out. ".repeat(40);
    let res =
        post(&app, "/v1/audio/speech", &key, json!({"model": "tts-1-fail-midstream", "voice": "alloy", "input": long}))
            .await;
    assert_eq!(res.status(), 200);
    let _ = res.bytes().await;
    let b = app.bills_of(user_id).await;
    assert_eq!(b.len(), 1);
    assert_eq!((b[0].outcome.as_str(), b[0].input_tokens), ("upstream_broke", long.chars().count() as i64));
    app.audit_clean().await;
    let _ = std::fs::remove_file(prices);
}

/// The mock's usage for `text` read out by gpt-4o-mini-tts (see `mock::speech`): about four characters a
/// token of text (and instructions) in, 1,250 audio tokens a minute of speech (15 characters a second).
fn mock_speech_usage(text: &str, instructions: &str) -> Usage {
    let tokens = |t: &str| if t.is_empty() { 0 } else { (t.chars().count() as u64).div_ceil(4).max(1) };
    let seconds = (text.chars().count() as f64 / 15.0).clamp(0.5, 10.0);
    Usage {
        input: tokens(text) + tokens(instructions),
        output: (seconds * 1250.0 / 60.0).ceil() as u64,
        ..Usage::default()
    }
}

#[tokio::test]
async fn token_priced_speech_is_billed_its_text_and_audio_tokens_as_audio_or_events() {
    let app = spawn_app().await;
    let (user_id, key) = caller(&app, "speech-tokens@example.com").await;
    let text = "Welcome aboard. The tide is with us tonight, and the harbour lights are on.";
    let calmly = "Speak calmly, like a ship's captain.";
    // Asked for audio: the audio itself (decoded from the upstream's events), whole and in its format.
    let res = post(
        &app,
        "/v1/audio/speech",
        &key,
        json!({"model": "gpt-4o-mini-tts", "voice": "coral", "input": text, "instructions": calmly}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "audio/mpeg");
    let mp3 = res.bytes().await.unwrap();
    let seconds = text.chars().count() as f64 / 15.0;
    assert_eq!(mp3.len(), 417 * (seconds / 0.026) as usize, "every MPEG frame, nothing else");
    assert!(mp3.chunks(417).all(|f| f[..2] == [0xFF, 0xFB]));
    let res = post(
        &app,
        "/v1/audio/speech",
        &key,
        json!({"model": "gpt-4o-mini-tts", "voice": "coral", "input": text, "response_format": "wav"}),
    )
    .await;
    assert_eq!(res.headers()["content-type"], "audio/wav");
    let wav = res.bytes().await.unwrap();
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize, wav.len() - 44, "a whole WAV file");
    // Asked for events: the upstream's events as they came, ending with the usage billed.
    let res = post(
        &app,
        "/v1/audio/speech",
        &key,
        json!({"model": "gpt-4o-mini-tts", "voice": "coral", "input": text, "stream_format": "sse"}),
    )
    .await;
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let events = res.text().await.unwrap();
    let last: Value = serde_json::from_str(events.trim_end().rsplit("data: ").next().unwrap()).unwrap();
    let plain = mock_speech_usage(text, "");
    assert_eq!(last["type"], "speech.audio.done");
    assert_eq!(
        (last["usage"]["input_tokens"].as_u64(), last["usage"]["output_tokens"].as_u64()),
        (Some(plain.input), Some(plain.output))
    );
    assert!(events.matches("speech.audio.delta").count() >= 1);
    let b = app.bills_of(user_id).await;
    assert_eq!(b.len(), 3);
    let instructed = mock_speech_usage(text, calmly);
    for (bill, usage) in b.iter().zip([plain, plain, instructed]) {
        assert_eq!((bill.model.as_str(), bill.outcome.as_str()), ("gpt-4o-mini-tts", "complete"));
        assert_eq!((bill.input_tokens as u64, bill.output_tokens as u64), (usage.input, usage.output));
        assert_eq!(bill.official_cost, cost(&app, "gpt-4o-mini-tts", usage));
    }
    // The Bills page words it in tokens, not characters.
    let cookie = app.log_in("speech-tokens@example.com").await;
    let html = app.get_page("/billing/bills", Some(&cookie)).await.text().await.unwrap();
    assert!(!html.contains("characters read out"));
    assert!(html.contains(&format!("{} in · {} out", instructed.input, instructed.output)), "tokens in and out");
    // tts-1 has no event stream (the upstream refuses it): nothing charged.
    let res = post(
        &app,
        "/v1/audio/speech",
        &key,
        json!({"model": "tts-1", "voice": "alloy", "input": "hi", "stream_format": "sse"}),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(res.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().contains("not charged"));
    assert_eq!(app.bills_of(user_id).await.len(), 3);
    app.audit_clean().await;
}

#[tokio::test]
async fn token_priced_speech_that_breaks_or_reports_nothing_is_billed_the_audio_made() {
    let prices = price_table_with_failure_modes();
    let app = spawn_app_with(&[("PRICE_TABLE", prices.to_str().unwrap())]).await;
    let (user_id, key) = caller(&app, "speech-tokens-fail@example.com").await;
    let speak = |model: &str, input: &str, format: &str| json!({"model": model, "voice": "coral", "input": input, "response_format": format});
    let res = post(&app, "/v1/audio/speech", &key, speak("gpt-4o-mini-tts-fail-500", "hi", "mp3")).await;
    assert!(res.status().is_server_error());
    assert!(app.bills_of(user_id).await.is_empty(), "failing first costs nothing");
    // Ten seconds of PCM (480,000 bytes in 16 KiB pieces) break halfway: the audio heard is billed, at
    // 21 tokens a second, with the input estimated.
    let long = "A long text to read out. ".repeat(8);
    let res = post(&app, "/v1/audio/speech", &key, speak("gpt-4o-mini-tts-fail-midstream", &long, "pcm")).await;
    assert_eq!(res.status(), 200);
    // Read piece by piece: the body ends in an error where the upstream broke.
    let (mut heard, mut body) = (0, res.bytes_stream());
    while let Some(Ok(piece)) = futures_util::StreamExt::next(&mut body).await {
        heard += piece.len();
    }
    let b = app.bills_of(user_id).await;
    assert_eq!((b.len(), b[0].outcome.as_str()), (1, "upstream_broke"));
    let pieces = 480_000usize.div_ceil(16_384);
    let sent = (pieces / 2) * 16_384;
    assert_eq!(heard, sent, "the caller got the audio the upstream sent before it broke");
    assert_eq!(b[0].output_tokens as u64, (sent as u64 * 21).div_ceil(48_000));
    assert!(b[0].input_tokens > 0);
    // No usage in the report: billed the audio heard, whole.
    let res = post(&app, "/v1/audio/speech", &key, speak("gpt-4o-mini-tts-usage-none", &long, "pcm")).await;
    assert_eq!(res.bytes().await.unwrap().len(), 480_000);
    let b = app.bills_of(user_id).await;
    assert_eq!((b[0].outcome.as_str(), b[0].output_tokens), ("complete", 210));
    // Usage beyond what the request allows is cut to it: at most 12,500 audio tokens.
    let res = post(&app, "/v1/audio/speech", &key, speak("gpt-4o-mini-tts-usage-huge", "hi", "mp3")).await;
    let _ = res.bytes().await;
    let b = app.bills_of(user_id).await;
    assert_eq!((b[0].outcome.as_str(), b[0].output_tokens), ("complete", 12_500));
    app.audit_clean().await;
    let _ = std::fs::remove_file(prices);
}
