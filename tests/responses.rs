//! The OpenAI Responses API against the mock upstream: OpenAI models passed through (JSON, streamed,
//! background) and metered from the final usage, Claude models translated and kept by Gatehouse, every
//! exit path settled, and response ids that belong to the account that made them.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spawn_app, spawn_app_with, TestApp};
use gatehouse::server::domain::background_follows::{self, Follow};
use gatehouse::server::domain::bills::{self, Bill};
use gatehouse::server::domain::money::Money;
use gatehouse::server::domain::pricing::Usage;
use serde_json::{json, Value};

struct Caller {
    user_id: i64,
    key: String,
}

async fn caller(app: &TestApp, email: &str) -> Caller {
    app.log_in(email).await;
    let user_id = app.user_id(email).await;
    app.top_up(user_id, "20").await;
    Caller { user_id, key: app.create_key(user_id, false).await }
}

async fn send(app: &TestApp, method: reqwest::Method, path: &str, key: &str, body: Option<Value>) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(key);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    req.send().await.unwrap()
}

async fn create(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    send(app, reqwest::Method::POST, "/v1/responses", key, Some(body)).await
}

async fn bills_of(app: &TestApp, user_id: i64) -> Vec<Bill> {
    app.settled().await;
    bills::page(app.state.db.pool(), user_id, &Default::default(), 100, 0).await.unwrap().0
}

/// `data:` payloads of a streamed answer, parsed.
async fn events(res: reqwest::Response) -> Vec<Value> {
    let text = res.text().await.unwrap();
    text.split("\n\n")
        .filter_map(|block| block.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

fn usage_of(v: &Value) -> Usage {
    let input = v["input_tokens"].as_u64().unwrap();
    let cached = v["input_tokens_details"]["cached_tokens"].as_u64().unwrap_or(0);
    Usage {
        input: input - cached,
        output: v["output_tokens"].as_u64().unwrap(),
        cache_read: cached,
        ..Usage::default()
    }
}

async fn audit_clean(app: &TestApp) {
    app.settled().await;
    let report =
        gatehouse::server::domain::audit::run(app.state.db.pool(), gatehouse::server::time::now_ms()).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.breaches);
}

#[tokio::test]
async fn an_openai_response_passes_through_and_is_billed_from_its_usage_with_cached_input_and_reasoning() {
    let app = spawn_app().await;
    let c = caller(&app, "responses@example.com").await;
    // A long prompt: the mock reads half of it from the cache, as OpenAI's prompt caching does.
    let long = "Describe the sea. ".repeat(400);
    let res = create(
        &app,
        &c.key,
        json!({"model": "gpt-5-mini", "input": long, "reasoning": {"effort": "low"}, "max_output_tokens": 2000}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["object"], "response");
    assert!(r["id"].as_str().unwrap().starts_with("resp_mock"));
    assert_eq!(r["output"][0]["type"], "reasoning");
    assert!(r["output"][1]["content"][0]["text"].as_str().unwrap().contains("mock upstream"));
    let usage = usage_of(&r["usage"]);
    assert!(usage.cache_read > 0 && r["usage"]["output_tokens_details"]["reasoning_tokens"].as_u64().unwrap() > 0);
    let bills = bills_of(&app, c.user_id).await;
    assert_eq!(bills.len(), 1);
    let b = &bills[0];
    assert_eq!((b.channel.as_str(), b.model.as_str(), b.outcome.as_str()), ("default", "gpt-5-mini", "complete"));
    assert_eq!(
        (b.input_tokens, b.cache_read_tokens, b.output_tokens),
        (usage.input as i64, usage.cache_read as i64, usage.output as i64)
    );
    assert_eq!(b.official_cost, app.state.pricing.current().table.cost("gpt-5-mini", &usage).unwrap());
    assert_eq!(b.balance_paid, b.official_cost);

    // The owner is written behind the call; once settled, the row is in the database.
    let id = r["id"].as_str().unwrap();
    let row = gatehouse::server::domain::responses::find(app.state.db.pool(), c.user_id, id).await.unwrap();
    assert_eq!(
        row.map(|o| (o.model, o.channel, o.written.is_none())),
        Some(("gpt-5-mini".into(), "default".into(), true))
    );
    // Retrieve and input items go to the upstream that holds it; delete forgets it on both sides.
    let got: Value =
        send(&app, reqwest::Method::GET, &format!("/v1/responses/{id}"), &c.key, None).await.json().await.unwrap();
    assert_eq!(got, r);
    let items: Value = send(&app, reqwest::Method::GET, &format!("/v1/responses/{id}/input_items"), &c.key, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(items["data"][0]["content"][0]["text"], long.as_str());
    let res = send(&app, reqwest::Method::DELETE, &format!("/v1/responses/{id}"), &c.key, None).await;
    assert_eq!(res.json::<Value>().await.unwrap()["deleted"], true);
    let res = send(&app, reqwest::Method::GET, &format!("/v1/responses/{id}"), &c.key, None).await;
    assert_eq!(res.status(), 404);
    assert!(gatehouse::server::domain::responses::find(app.state.db.pool(), c.user_id, id).await.unwrap().is_none());
    assert_eq!(bills_of(&app, c.user_id).await.len(), 1, "retrieving, listing and deleting are free");
    audit_clean(&app).await;
}

#[tokio::test]
async fn a_streamed_openai_response_reaches_the_caller_as_sent_and_is_billed_once() {
    let app = spawn_app().await;
    let c = caller(&app, "stream-responses@example.com").await;
    let res = create(
        &app,
        &c.key,
        json!({"model": "gpt-5-mini", "input": "Stream please", "stream": true, "max_output_tokens": 1000}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let evs = events(res).await;
    let types: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"response.created"));
    assert_eq!(types.last(), Some(&"response.completed"));
    let text: String = evs
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert!(text.contains("mock upstream"));
    let done = evs.last().unwrap();
    let usage = usage_of(&done["response"]["usage"]);
    let bills = bills_of(&app, c.user_id).await;
    assert_eq!(bills.len(), 1);
    assert_eq!((bills[0].input_tokens, bills[0].output_tokens), (usage.input as i64, usage.output as i64));
    // The id in the stream is the caller's: it can be retrieved.
    let id = done["response"]["id"].as_str().unwrap();
    let got = send(&app, reqwest::Method::GET, &format!("/v1/responses/{id}"), &c.key, None).await;
    assert_eq!(got.status(), 200);
}

#[tokio::test]
async fn another_accounts_response_id_is_not_found_and_never_forwarded() {
    let app = spawn_app().await;
    let owner = caller(&app, "owner@example.com").await;
    let other = caller(&app, "other@example.com").await;
    let r: Value = create(&app, &owner.key, json!({"model": "gpt-5-mini", "input": "Mine", "max_output_tokens": 500}))
        .await
        .json()
        .await
        .unwrap();
    let claude: Value =
        create(&app, &owner.key, json!({"model": "claude-haiku-4-5", "input": "Mine too", "max_output_tokens": 500}))
            .await
            .json()
            .await
            .unwrap();
    for id in [r["id"].as_str().unwrap(), claude["id"].as_str().unwrap()] {
        for (method, path) in [
            (reqwest::Method::GET, format!("/v1/responses/{id}")),
            (reqwest::Method::GET, format!("/v1/responses/{id}/input_items")),
            (reqwest::Method::POST, format!("/v1/responses/{id}/cancel")),
            (reqwest::Method::DELETE, format!("/v1/responses/{id}")),
            (reqwest::Method::GET, format!("/api/v1/ai/openai/codex-omg/v1/responses/{id}")),
        ] {
            let res = send(&app, method.clone(), &path, &other.key, None).await;
            assert_eq!(res.status(), 404, "{method} {path}");
            let body: Value = res.json().await.unwrap();
            assert!(body["error"]["message"].as_str().unwrap().contains(id), "{body}");
        }
        let res =
            create(&app, &other.key, json!({"model": "gpt-5-mini", "input": "Continue", "previous_response_id": id}))
                .await;
        assert_eq!(res.status(), 404);
        // Still the owner's, untouched by the other account's delete.
        let res = send(&app, reqwest::Method::GET, &format!("/v1/responses/{id}"), &owner.key, None).await;
        assert_eq!(res.status(), 200, "{id}");
    }
    assert!(bills_of(&app, other.user_id).await.is_empty(), "refused attempts cost nothing");
    assert_eq!(app.open_holds().await, 0);
}

#[tokio::test]
async fn a_claude_model_is_translated_kept_by_gatehouse_and_continued_with_previous_response_id() {
    let app = spawn_app().await;
    let c = caller(&app, "claude-responses@example.com").await;
    let first: Value = create(
        &app,
        &c.key,
        json!({"model": "claude-haiku-4-5", "instructions": "Be brief.", "input": "Hello Claude", "max_output_tokens": 400}),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = first["id"].as_str().unwrap();
    assert!(id.starts_with("resp_gh"), "{id}");
    assert_eq!(first["status"], "completed");
    let text = first["output"][0]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("mock upstream") && text.contains("Hello Claude"), "{text}");

    let got: Value =
        send(&app, reqwest::Method::GET, &format!("/v1/responses/{id}"), &c.key, None).await.json().await.unwrap();
    assert_eq!(got, first);
    let items: Value = send(&app, reqwest::Method::GET, &format!("/v1/responses/{id}/input_items"), &c.key, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(items["data"][0]["content"][0]["text"], "Hello Claude");

    // Continued, streamed: the second turn carries the first (the mock's input grows) and is kept too.
    let res = create(
        &app,
        &c.key,
        json!({"model": "claude-haiku-4-5", "previous_response_id": id, "input": "And again", "stream": true, "max_output_tokens": 400}),
    )
    .await;
    let evs = events(res).await;
    let types: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"response.created"));
    assert!(types.contains(&"response.output_text.delta"));
    assert_eq!(types.last(), Some(&"response.completed"));
    let second = &evs.last().unwrap()["response"];
    assert!(second["output"][0]["content"][0]["text"].as_str().unwrap().contains("And again"));
    assert_eq!(second["previous_response_id"], id);
    let second_id = second["id"].as_str().unwrap();
    let kept: Value = send(&app, reqwest::Method::GET, &format!("/v1/responses/{second_id}"), &c.key, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(&kept, second);

    let bills = bills_of(&app, c.user_id).await;
    assert_eq!(bills.len(), 2);
    assert!(bills[0].input_tokens > bills[1].input_tokens, "the continued turn sends the conversation: {bills:?}");
    let usage = usage_of(&second["usage"]);
    assert_eq!(bills[0].output_tokens, usage.output as i64);

    // A Claude response cannot be cancelled (it is never in the background); deleting forgets it.
    let res = send(&app, reqwest::Method::POST, &format!("/v1/responses/{id}/cancel"), &c.key, None).await;
    assert_eq!(res.status(), 400);
    let res = send(&app, reqwest::Method::DELETE, &format!("/v1/responses/{id}"), &c.key, None).await;
    assert_eq!(res.json::<Value>().await.unwrap()["deleted"], true);
    let res = send(&app, reqwest::Method::GET, &format!("/v1/responses/{id}"), &c.key, None).await;
    assert_eq!(res.status(), 404);
    audit_clean(&app).await;
}

#[tokio::test]
async fn store_false_keeps_nothing_to_retrieve() {
    let app = spawn_app().await;
    let c = caller(&app, "nostore@example.com").await;
    for model in ["gpt-5-mini", "claude-haiku-4-5"] {
        let r: Value = create(
            &app,
            &c.key,
            json!({"model": model, "input": "Forget me", "store": false, "max_output_tokens": 300}),
        )
        .await
        .json()
        .await
        .unwrap();
        let res =
            send(&app, reqwest::Method::GET, &format!("/v1/responses/{}", r["id"].as_str().unwrap()), &c.key, None)
                .await;
        assert_eq!(res.status(), 404, "{model}");
    }
    assert_eq!(bills_of(&app, c.user_id).await.len(), 2);
}

#[tokio::test]
async fn a_background_response_is_billed_when_it_finishes_and_a_cancelled_one_by_its_estimate() {
    let app = spawn_app().await;
    let c = caller(&app, "background@example.com").await;
    let body = json!({"model": "gpt-5-mini", "input": "Take your time", "background": true, "max_output_tokens": 1000});
    let queued: Value = create(&app, &c.key, body.clone()).await.json().await.unwrap();
    assert_eq!(queued["status"], "queued");
    // Recorded before its id reached the caller, so a restart would follow it again.
    let follows = background_follows::all(app.state.db.pool()).await.unwrap();
    assert!(follows.iter().any(|f| f.response_id == queued["id"].as_str().unwrap() && f.user_id == c.user_id));
    let cancelled: Value = create(&app, &c.key, body).await.json().await.unwrap();
    // While it runs (and is followed for its usage), it cannot be deleted out from under its bill.
    let res = send(
        &app,
        reqwest::Method::DELETE,
        &format!("/v1/responses/{}", cancelled["id"].as_str().unwrap()),
        &c.key,
        None,
    )
    .await;
    assert_eq!(res.status(), 400);
    let res = send(
        &app,
        reqwest::Method::POST,
        &format!("/v1/responses/{}/cancel", cancelled["id"].as_str().unwrap()),
        &c.key,
        None,
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "cancelled");
    // Both calls hold their worst case until they end; `settled` waits for the followers. The cancelled one
    // ended without usage: billed by the estimate of its input, never free.
    let bills = bills_of(&app, c.user_id).await;
    assert_eq!(bills.len(), 2, "{bills:?}");
    let (done_bill, cancelled_bill) =
        if bills[0].outcome == "complete" { (&bills[0], &bills[1]) } else { (&bills[1], &bills[0]) };
    assert_eq!((cancelled_bill.outcome.as_str(), cancelled_bill.output_tokens), ("stopped", 0));
    assert!(cancelled_bill.input_tokens > 0);
    let done: Value =
        send(&app, reqwest::Method::GET, &format!("/v1/responses/{}", queued["id"].as_str().unwrap()), &c.key, None)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(done["status"], "completed");
    assert_eq!(done_bill.output_tokens, done["usage"]["output_tokens"].as_i64().unwrap());
    assert_eq!(app.open_holds().await, 0);
    assert_eq!(background_follows::all(app.state.db.pool()).await.unwrap(), Vec::new(), "forgotten once billed");
    let res = create(&app, &c.key, json!({"model": "claude-haiku-4-5", "input": "x", "background": true})).await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn failures_settle_as_the_metering_policy_says() {
    let app = spawn_app().await;
    let c = caller(&app, "failing-responses@example.com").await;
    let res =
        create(&app, &c.key, json!({"model": "gpt-5-mini-fail-500", "input": "x", "max_output_tokens": 100})).await;
    assert_eq!(res.status(), 502);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "upstream_error");
    let res = create(
        &app,
        &c.key,
        json!({"model": "gpt-5-mini-fail-midstream", "input": "Break", "stream": true, "max_output_tokens": 500}),
    )
    .await;
    let evs = events(res).await;
    assert!(!evs.iter().any(|e| e["type"] == "response.completed"));
    let bills = bills_of(&app, c.user_id).await;
    assert_eq!(bills.len(), 1, "only the broken stream is billed: {bills:?}");
    assert_eq!(bills[0].outcome, "upstream_broke");
    assert!(bills[0].output_tokens > 0 && bills[0].input_tokens > 0);
    let res = create(&app, &c.key, json!({"model": "no-such-model", "input": "x"})).await;
    assert_eq!(res.status(), 404);
    let res = app.client.post(app.url("/v1/responses")).bearer_auth(&c.key).body("{not json").send().await.unwrap();
    assert_eq!(res.status(), 400);
    let res = app.client.post(app.url("/v1/responses")).body("{}").send().await.unwrap();
    assert_eq!(res.status(), 401);
    // Upstream item ids are shared by every account: never forwarded; a conversation must be the caller's.
    for body in [
        json!({"model": "gpt-5-mini", "input": [{"type": "item_reference", "id": "msg_someone_elses"}]}),
        json!({"model": "claude-haiku-4-5", "input": "x", "text": {"format": {"type": "json_object"}}}),
        json!({"model": "gpt-5-mini", "input": "x", "conversation": 42}),
    ] {
        assert_eq!(create(&app, &c.key, body.clone()).await.status(), 400, "{body}");
    }
    let body = json!({"model": "gpt-5-mini", "input": "x", "conversation": "conv_someone_elses"});
    assert_eq!(create(&app, &c.key, body).await.status(), 404, "another account's conversation reads as unknown");
    assert_eq!(app.open_holds().await, 0);
    audit_clean(&app).await;
}

#[tokio::test]
async fn the_codex_channel_serves_openai_models_at_its_rate() {
    let app = spawn_app().await;
    let c = caller(&app, "codex-channel@example.com").await;
    let res = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/ai/openai/codex-omg/v1/responses",
        &c.key,
        Some(json!({"model": "gpt-5-codex", "input": "Write a function", "max_output_tokens": 1000})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let b = &bills_of(&app, c.user_id).await[0];
    assert_eq!((b.channel.as_str(), b.multiplier.as_str()), ("codex-omg", "0.2"));
    let expected = Money::round_from(b.official_cost.to_decimal() * rust_decimal::Decimal::new(2, 1)).unwrap();
    assert_eq!(b.balance_paid, expected);
    let res = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/ai/openai/codex-omg/v1/responses",
        &c.key,
        Some(json!({"model": "claude-haiku-4-5", "input": "x"})),
    )
    .await;
    assert_eq!(res.status(), 400, "the CodeX channel serves OpenAI models only");
    let res = send(&app, reqwest::Method::POST, "/api/v1/ai/openai/nope/v1/responses", &c.key, Some(json!({}))).await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn continuing_a_response_holds_the_models_whole_context_because_the_body_does_not_show_it() {
    let app = spawn_app().await;
    app.log_in("continue@example.com").await;
    let user_id = app.user_id("continue@example.com").await;
    let key = app.create_key(user_id, false).await;
    let first = create(&app, &key, json!({"model": "gpt-5.5", "input": "Hi", "max_output_tokens": 16})).await;
    assert_eq!(first.status(), 200);
    let id = first.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    // While one continuation runs (the slow mock takes 400 ms), its hold is the whole context's price, more
    // than the welcome balance: a second one at the same time is refused instead of reading another
    // million tokens on credit.
    let running = create(
        &app,
        &key,
        json!({"model": "gpt-5.5-slow", "input": "Go on", "previous_response_id": id, "max_output_tokens": 16}),
    );
    let second = async {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        create(
            &app,
            &key,
            json!({"model": "gpt-5.5", "input": "And on", "previous_response_id": id, "max_output_tokens": 16}),
        )
        .await
    };
    let (running, second) = tokio::join!(running, second);
    assert_eq!(running.status(), 200);
    assert_eq!(second.status(), 402);
    assert_eq!(bills_of(&app, user_id).await.len(), 2);
}

async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// A follow as a server that stopped while following leaves it.
fn left_follow(response_id: &str, request_key: &str, user_id: i64, started_ms_ago: i64) -> Follow {
    Follow {
        response_id: response_id.into(),
        request_key: request_key.into(),
        user_id,
        api_key_id: None,
        key_name: None,
        channel: "default".into(),
        model: "gpt-5-mini".into(),
        multiplier: "1".into(),
        estimated_input: 10,
        max_input: 1_000,
        max_output: 1_000,
        max_web_searches: 0,
        worst_case: Money::usd(1).units(),
        request_id: None,
        started_at: gatehouse::server::time::now_ms() - started_ms_ago,
        // Untouched since before the abandonment limit: its server stopped.
        alive_at: gatehouse::server::time::now_ms() - background_follows::ABANDONED_MS - 1,
    }
}

#[tokio::test]
async fn background_responses_a_stopped_server_was_following_are_followed_again_and_billed_once() {
    // An OpenAI upstream that outlives the server: the mock over HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gatehouse::server::proxy::mock::server::serve(listener, Default::default()));
    let providers = std::env::temp_dir().join(format!("gh-follow-{}.conf", gatehouse::server::time::now_ms()));
    std::fs::write(&providers, format!("claude anthropic mock - claude-*\noa openai {upstream} -\n")).unwrap();
    let providers = providers.to_str().unwrap().to_string();
    let database = common::fresh_database_url().await;
    let settings = [("UPSTREAM_PROVIDERS_FILE", providers.as_str()), ("DATABASE_URL", database.as_str())];

    let mut first = spawn_app_with(&settings).await;
    let c = caller(&first, "restart@example.com").await;
    // A call billed just before the stop whose follow was not forgotten yet: never billed twice.
    let res = create(&first, &c.key, json!({"model": "gpt-5-mini", "input": "hi", "max_output_tokens": 50})).await;
    assert_eq!(res.status(), 200);
    first.settled().await;
    let billed_key: String = sqlx::query_scalar("SELECT request_key FROM bills WHERE user_id = $1")
        .bind(c.user_id)
        .fetch_one(first.state.db.pool())
        .await
        .unwrap();
    // A background response still running upstream when the server stopped, seven hours ago (past the 6 h a
    // follow lasts): it is still looked at once, and billed what it used, not its worst case.
    const SEVEN_HOURS_MS: i64 = 7 * 3_600_000;
    let running = json_of(reqwest::Client::new().post(format!("{upstream}/v1/responses")).json(
        &json!({"model": "gpt-5-mini", "input": "Take your time", "background": true, "max_output_tokens": 1000,
            "tools": [{"type": "web_search"}]}),
    ))
    .await;
    assert_eq!(running["status"], "queued");
    let pool = first.state.db.pool().clone();
    // It was allowed OpenAI's web search (20 searches at most, what Gatehouse asks upstream for).
    let left_running = Follow {
        max_web_searches: 20,
        ..left_follow(running["id"].as_str().unwrap(), "api:left-running", c.user_id, SEVEN_HOURS_MS)
    };
    background_follows::record(&pool, &left_running).await.unwrap();
    background_follows::record(&pool, &left_follow("resp_billed_before_the_stop", &billed_key, c.user_id, 0))
        .await
        .unwrap();
    first.shut_down().await;

    let second = spawn_app_with(&settings).await;
    // The follows are resumed in the background at start; wait until both are dealt with.
    for _ in 0..100 {
        if background_follows::all(second.state.db.pool()).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let bills = bills_of(&second, c.user_id).await;
    assert_eq!(bills.len(), 2, "{bills:?}");
    let done =
        json_of(reqwest::Client::new().get(format!("{upstream}/v1/responses/{}", running["id"].as_str().unwrap())))
            .await;
    assert_eq!(done["status"], "completed");
    let resumed = bills
        .iter()
        .find(|b| b.outcome == "complete" && b.output_tokens == done["usage"]["output_tokens"].as_i64().unwrap());
    assert!(resumed.is_some(), "the resumed response is billed its final usage: {bills:?}");
    assert_eq!(resumed.unwrap().web_searches, 1, "and the web search it ran: {bills:?}");
    assert_eq!(background_follows::all(second.state.db.pool()).await.unwrap(), Vec::new());
    audit_clean(&second).await;
    let _ = std::fs::remove_file(&providers);
}

/// OpenAI's hosted web search (Codex offers it) costs per search: each `web_search_call` in the response's
/// output is billed at the price table's `tool:web_search` price on top of the tokens, streamed or not.
#[tokio::test]
async fn openai_web_search_calls_are_billed_per_search() {
    let app = spawn_app().await;
    let c = caller(&app, "openai-search@example.com").await;
    for stream in [false, true] {
        let res = create(
            &app,
            &c.key,
            json!({"model": "gpt-5-mini", "input": "What is new?", "stream": stream, "tools": [{"type": "web_search"}]}),
        )
        .await;
        assert_eq!(res.status(), 200);
        res.text().await.unwrap();
    }
    let bills = bills_of(&app, c.user_id).await;
    assert_eq!(bills.len(), 2);
    for b in &bills {
        assert_eq!(b.web_searches, 1, "{b:?}");
        let tokens = Usage {
            input: u64::try_from(b.input_tokens).unwrap(),
            output: u64::try_from(b.output_tokens).unwrap(),
            cache_read: u64::try_from(b.cache_read_tokens).unwrap(),
            ..Usage::default()
        };
        let expected = app
            .state
            .pricing
            .current()
            .table
            .cost("gpt-5-mini", &tokens)
            .unwrap()
            .checked_add(Money::parse_usd("0.01").unwrap());
        assert_eq!(Some(b.official_cost), expected);
    }
    audit_clean(&app).await;
}
