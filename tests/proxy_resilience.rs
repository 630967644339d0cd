//! The proxy when things go wrong: failover across configured providers, callers who leave before the
//! first byte or mid-stream, graceful shutdown with calls in flight, and the tier limit shared by two
//! instances through Redis.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spawn_app_with, TestApp};
use gatehouse::server::domain::bills::{self, Bill};
use gatehouse::server::domain::ledger::{self, Credit, EntryKind};
use gatehouse::server::domain::money::Money;
use gatehouse::server::time::now_ms;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An upstream that answers every request with 500 and counts them.
async fn failing_upstream() -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let handler = move || {
        let seen = seen.clone();
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "overloaded")
        }
    };
    let router = axum::Router::new().route("/v1/messages", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), count)
}

/// A port nothing listens on: connecting fails at once.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

fn providers_file(lines: &str) -> tempfile_path::TempPath {
    tempfile_path::TempPath::with(lines)
}

/// A temporary file removed when dropped (no extra crate for one file).
mod tempfile_path {
    pub struct TempPath(pub std::path::PathBuf);
    impl TempPath {
        pub fn with(text: &str) -> Self {
            let mut b = [0u8; 8];
            getrandom::fill(&mut b).unwrap();
            let name: String = b.iter().map(|x| format!("{x:02x}")).collect();
            let path = std::env::temp_dir().join(format!("gatehouse-providers-{name}.conf"));
            std::fs::write(&path, text).unwrap();
            Self(path)
        }
        pub fn as_str(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }
    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// A signed-in account with $5 of balance and a key.
async fn funded_caller(app: &TestApp, email: &str) -> (i64, String) {
    app.log_in(email).await;
    let user_id = app.user_id(email).await;
    ledger::credit_now(
        app.state.db.pool(),
        Credit {
            user_id,
            key: &format!("test-credit-{user_id}"),
            kind: EntryKind::Adjustment,
            amount: Money::usd(5),
            paid_minor: 0,
            memo: "test funds",
            now: now_ms(),
        },
    )
    .await
    .unwrap();
    let key = app.create_key(user_id, false).await;
    (user_id, key)
}

async fn call(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/messages"))
        .header("x-api-key", key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// A streamed Messages call left running in a task of its own; it answers the text the caller received
/// (empty when the connection ended without a readable body).
fn stream_in_background(app: &TestApp, key: &str, model: &str) -> tokio::task::JoinHandle<String> {
    let request = app
        .client
        .post(app.url("/v1/messages"))
        .header("x-api-key", key)
        .header("content-type", "application/json")
        .body(message(model, true).to_string());
    tokio::spawn(async move { request.send().await.unwrap().text().await.unwrap_or_default() })
}

fn message(model: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 64, "stream": stream, "messages": [{"role": "user", "content": "hello there"}]})
}

async fn bills_of(app: &TestApp, user_id: i64) -> Vec<Bill> {
    app.settled().await;
    bills::page(app.state.db.pool(), user_id, &Default::default(), 100, 0).await.unwrap().0
}

async fn audit_clean(app: &TestApp) {
    app.settled().await;
    let report = gatehouse::server::domain::audit::run(app.state.db.pool(), now_ms()).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.breaches);
}

#[tokio::test]
async fn a_failing_provider_fails_over_to_the_next_and_the_call_is_charged_once() {
    let (failing, failures) = failing_upstream().await;
    let file = providers_file(&format!(
        "# the first two fail before any byte; the mock answers\n\
         down anthropic {} - claude-*\n\
         busy anthropic {failing} - claude-*\n\
         backup anthropic mock - claude-*\n\
         gpt openai mock -\n",
        closed_port()
    ));
    let app = spawn_app_with(&[("UPSTREAM_PROVIDERS_FILE", file.as_str())]).await;
    let (user_id, key) = funded_caller(&app, "failover@example.com").await;

    let res = call(&app, &key, message("claude-sonnet-4-5", false)).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert!(v["content"][0]["text"].as_str().unwrap().contains("mock upstream"), "{v}");
    assert_eq!(failures.load(Ordering::SeqCst), 1, "the 500 provider was tried once");

    let res = call(&app, &key, message("claude-sonnet-4-5", true)).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("event: message_stop"));
    assert_eq!(failures.load(Ordering::SeqCst), 2);

    let bills = bills_of(&app, user_id).await;
    assert_eq!(bills.len(), 2, "one bill per call, whatever the failovers");
    assert!(bills.iter().all(|b| b.official_cost.is_positive()));
    assert_eq!(app.open_holds().await, 0);
    audit_clean(&app).await;
}

/// Serves the mock upstream over HTTP on `listener` (its own stores: what another provider made, it does not
/// know).
fn serve_mock(listener: tokio::net::TcpListener) {
    tokio::spawn(gatehouse::server::proxy::mock::server::serve(listener, Default::default()));
}

#[tokio::test]
async fn what_a_failover_made_on_the_next_provider_is_found_there_later() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second = format!("http://{}", listener.local_addr().unwrap());
    serve_mock(listener);
    let first = closed_port();
    let file = providers_file(&format!("first openai {first} -\nsecond openai {second} -\n"));
    let app = spawn_app_with(&[("UPSTREAM_PROVIDERS_FILE", file.as_str())]).await;
    let (_, key) = funded_caller(&app, "failover-kept@example.com").await;
    let post = |path: &'static str, body: Value| {
        let req = app.client.post(app.url(path)).bearer_auth(&key).json(&body);
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200, "{path}");
            res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
        }
    };
    // The first provider is down: a conversation, a stored chat completion and a response are made on the
    // second.
    let conversation = post("/v1/conversations", json!({"metadata": {"topic": "tides"}})).await;
    let ask = json!({"model": "gpt-4o-mini", "store": true, "messages": [{"role": "user", "content": "Hi"}]});
    let completion = post("/v1/chat/completions", ask).await;
    let response = post("/v1/responses", json!({"model": "gpt-4o-mini", "input": "Hi"})).await;
    // The first provider is back, knowing none of them: each is still found, on the second.
    serve_mock(tokio::net::TcpListener::bind(first.trim_start_matches("http://")).await.unwrap());
    for path in [
        format!("/v1/conversations/{conversation}"),
        format!("/v1/conversations/{conversation}/items"),
        format!("/v1/chat/completions/{completion}"),
        format!("/v1/chat/completions/{completion}/messages"),
        format!("/v1/responses/{response}"),
    ] {
        let res = app.client.get(app.url(&path)).bearer_auth(&key).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}: {}", res.text().await.unwrap());
    }
    let res = app.client.delete(app.url(&format!("/v1/conversations/{conversation}"))).bearer_auth(&key);
    assert_eq!(res.send().await.unwrap().status(), 200);
    // Deleted, it is forgotten: 404 without asking any provider.
    let res = app.client.get(app.url(&format!("/v1/conversations/{conversation}"))).bearer_auth(&key);
    assert_eq!(res.send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn a_kept_thing_on_a_provider_that_is_down_is_not_taken_for_gone() {
    // The first provider keeps a conversation, then goes down; the second never had it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let first = listener.local_addr().unwrap();
    let router = gatehouse::server::proxy::mock::server::router(Default::default());
    let up = router.clone();
    let serving = tokio::spawn(async move { axum::serve(listener, up).await });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second = format!("http://{}", listener.local_addr().unwrap());
    serve_mock(listener);
    let file = providers_file(&format!("first openai http://{first} -\nsecond openai {second} -\n"));
    let app = spawn_app_with(&[("UPSTREAM_PROVIDERS_FILE", file.as_str())]).await;
    let (_, key) = funded_caller(&app, "failover-down@example.com").await;
    let res = app.client.post(app.url("/v1/conversations")).bearer_auth(&key).json(&json!({})).send().await.unwrap();
    let conversation = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    serving.abort();
    let _ = serving.await;
    // The second's 404 is not the answer while the first cannot say: 502, and the id is kept.
    let path = format!("/v1/conversations/{conversation}");
    let res = app.client.get(app.url(&path)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.status(), 502, "{}", res.text().await.unwrap());
    let res = app.client.delete(app.url(&path)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.status(), 502);
    // Back (with what it kept), the first has it still, and so does the caller.
    let listener = tokio::net::TcpListener::bind(first).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let res = app.client.get(app.url(&path)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn when_every_provider_fails_the_caller_gets_502_and_pays_nothing() {
    let (failing, failures) = failing_upstream().await;
    let file = providers_file(&format!("busy anthropic {failing} - claude-*\ndown anthropic {} -\n", closed_port()));
    let app = spawn_app_with(&[("UPSTREAM_PROVIDERS_FILE", file.as_str())]).await;
    let (user_id, key) = funded_caller(&app, "alldown@example.com").await;
    let res = call(&app, &key, message("claude-haiku-4-5", false)).await;
    assert_eq!(res.status(), 502);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["type"], "error", "Anthropic's error shape: {v}");
    assert_eq!(failures.load(Ordering::SeqCst), 1);
    // GPT models have no provider in this file: refused before anything is held.
    let res = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("No upstream provider"));
    assert!(bills_of(&app, user_id).await.is_empty());
    assert_eq!(app.open_holds().await, 0);
    audit_clean(&app).await;
}

#[tokio::test]
async fn a_caller_who_leaves_before_the_first_byte_is_billed_once_for_what_the_upstream_did() {
    let app = spawn_app_with(&[]).await;
    let (user_id, key) = funded_caller(&app, "leaver@example.com").await;
    for stream in [false, true] {
        // The slow mock takes 400 ms before its first byte; the caller gives up after 100 ms.
        let client = reqwest::Client::builder().timeout(Duration::from_millis(100)).build().unwrap();
        let gone = client
            .post(app.url("/v1/messages"))
            .header("x-api-key", &key)
            .header("content-type", "application/json")
            .body(message("claude-sonnet-4-5-slow", stream).to_string())
            .send()
            .await;
        assert!(gone.is_err(), "the caller timed out before any byte");
    }
    let bills = bills_of(&app, user_id).await;
    assert_eq!(bills.len(), 2, "the upstream answered both calls, so both are billed, once each");
    assert!(bills.iter().all(|b| b.input_tokens > 0 && b.output_tokens > 0), "{bills:?}");
    assert_eq!(app.open_holds().await, 0);
    audit_clean(&app).await;
}

#[tokio::test]
async fn a_caller_who_leaves_mid_stream_is_billed_the_whole_answer_once() {
    let app = spawn_app_with(&[]).await;
    let (user_id, key) = funded_caller(&app, "midstream@example.com").await;
    let whole = {
        let res = call(&app, &key, message("claude-sonnet-4-5-slow", true)).await;
        res.text().await.unwrap();
        bills_of(&app, user_id).await[0].output_tokens
    };
    let mut res = call(&app, &key, message("claude-sonnet-4-5-slow", true)).await;
    assert_eq!(res.status(), 200);
    let first = res.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(res);
    let bills = bills_of(&app, user_id).await;
    assert_eq!(bills.len(), 2);
    assert_eq!(bills[0].output_tokens, whole, "metered to the end after the caller left");
    assert_eq!(app.open_holds().await, 0);
    audit_clean(&app).await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_running_streams_and_writes_their_bills() {
    let mut app = spawn_app_with(&[]).await;
    let (user_id, key) = funded_caller(&app, "shutdown@example.com").await;
    let db_url = app.state.settings.database_url.expose().to_string();
    let running = stream_in_background(&app, &key, "claude-sonnet-4-5-slow");
    // Shut down while the stream is in flight (the slow mock needs well over a second).
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(app.state.gateway.running_calls(), 1);
    app.shut_down().await;
    let text = running.await.unwrap();
    assert!(text.contains("event: message_stop"), "the running stream was finished, not cut: {text}");
    // The server's pool is closed; look with a new connection.
    let db = gatehouse::server::db::Db::connect(&db_url).await.unwrap();
    let (bills, _) = bills::page(db.pool(), user_id, &Default::default(), 10, 0).await.unwrap();
    assert_eq!(bills.len(), 1, "the bill was written before the server stopped");
    assert_eq!(app.state.gateway.admissions().open_holds(), 0);
}

#[tokio::test]
async fn shutdown_writes_every_queued_charge_even_when_the_database_is_slower_than_the_grace() {
    let mut app = spawn_app_with(&[("SHUTDOWN_GRACE_SECS", "1")]).await;
    let (user_id, key) = funded_caller(&app, "slow-books@example.com").await;
    let db_url = app.state.settings.database_url.expose().to_string();
    // Another connection holds the account's row (on SQLite, the write lock) for 3 s: the charge waits.
    let other = gatehouse::server::db::Db::connect(&db_url).await.unwrap();
    let mut blocking = other.pool().begin().await.unwrap();
    sqlx::query("UPDATE users SET balance = balance WHERE id = $1")
        .bind(user_id)
        .execute(&mut *blocking)
        .await
        .unwrap();
    let res = call(&app, &key, message("claude-haiku-4-5", false)).await;
    assert_eq!(res.status(), 200);
    // The writer has taken the first charge and waits on the lock; the second waits in its queue.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let res = call(&app, &key, message("claude-haiku-4-5", false)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.state.gateway.settlements().unwritten(), 2);
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        blocking.commit().await.unwrap();
    });
    let stopping = std::time::Instant::now();
    app.shut_down().await;
    let stopped_after = stopping.elapsed();
    release.await.unwrap();
    let (bills, _) = bills::page(other.pool(), user_id, &Default::default(), 10, 0).await.unwrap();
    assert_eq!(bills.len(), 2, "both queued charges were written before the server stopped");
    assert!(stopped_after >= Duration::from_secs(2), "it waited for the database, past the 1 s grace");
}

#[tokio::test]
async fn a_key_disabled_elsewhere_is_refused_within_the_cache_freshness_while_in_constant_use() {
    use gatehouse::server::proxy::hot_cache::FRESH_MS;
    let app = spawn_app_with(&[]).await;
    let (user_id, key) = funded_caller(&app, "busy-key@example.com").await;
    let started = std::time::Instant::now();
    // In use the whole time: the cached entry is read again in the background before it expires.
    let mut disabled_at = None;
    loop {
        let res = call(&app, &key, message("claude-haiku-4-5", false)).await;
        match (res.status().as_u16(), disabled_at) {
            (200, None) if started.elapsed() > Duration::from_millis(1_500) => {
                // Another instance (or an operator) disables it in the database, not through this one.
                let db = gatehouse::server::db::Db::connect(app.state.settings.database_url.expose()).await.unwrap();
                sqlx::query("UPDATE api_keys SET disabled = 1 WHERE user_id = $1")
                    .bind(user_id)
                    .execute(db.pool())
                    .await
                    .unwrap();
                disabled_at = Some(std::time::Instant::now());
            }
            (200, None) => {}
            (200, Some(at)) => {
                let waited = at.elapsed().as_millis();
                assert!(waited < u128::try_from(FRESH_MS).unwrap() + 500, "still served {waited} ms after");
            }
            (401, Some(_)) => break,
            (other, _) => panic!("{other}: {}", res.text().await.unwrap()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Calls alternately through the instances until one refuses with 429 (at most `max` calls). Returns how
/// many passed, the seconds it took, and the refusal. GCRA lets one more call through per second passed.
async fn until_refused(apps: [&TestApp; 2], key: &str, max: usize) -> (usize, f64, Option<reqwest::Response>) {
    let started = std::time::Instant::now();
    for i in 0..max {
        let res = call(apps[i % 2], key, message("claude-haiku-4-5", false)).await;
        match res.status().as_u16() {
            200 => {}
            429 => return (i, started.elapsed().as_secs_f64(), Some(res)),
            other => panic!("call {i}: {other} {}", res.text().await.unwrap()),
        }
    }
    (max, started.elapsed().as_secs_f64(), None)
}

/// Within the free tier's 60 a minute, allowing for the seconds the burst took.
fn within_one_limit(passed: usize, secs: f64) -> bool {
    passed >= 60 && passed as f64 <= 60.0 + secs.ceil() + 1.0
}

#[tokio::test]
async fn two_instances_sharing_redis_hold_the_tier_limit_together() {
    let prefix = format!("gatehouse-test-{}", now_ms());
    let redis = [("REDIS_URL", "redis://127.0.0.1:6379"), ("REDIS_KEY_PREFIX", prefix.as_str())];
    let first = spawn_app_with(&redis).await;
    let db_url = first.state.settings.database_url.expose().to_string();
    let second = spawn_app_with(&[redis[0], redis[1], ("DATABASE_URL", db_url.as_str())]).await;
    assert!(first.state.gateway.limiter().shared() && second.state.gateway.limiter().shared());
    let (_, key) = funded_caller(&first, "shared-limit@example.com").await;

    // The free tier is 60 a minute, counted once for both instances.
    let (passed, secs, refusal) = until_refused([&first, &second], &key, 200).await;
    assert!(within_one_limit(passed, secs), "{passed} calls passed in {secs:.1} s");
    let res = refusal.expect("refused");
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "one call's interval: {retry}");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
}

#[tokio::test]
async fn without_redis_each_instance_limits_on_its_own() {
    let first = spawn_app_with(&[]).await;
    let db_url = first.state.settings.database_url.expose().to_string();
    let second = spawn_app_with(&[("DATABASE_URL", db_url.as_str())]).await;
    let (_, key) = funded_caller(&first, "own-limit@example.com").await;
    let (passed, secs, _) = until_refused([&first, &second], &key, 300).await;
    assert!(passed >= 119, "each instance allows its own 60: {passed} passed in {secs:.1} s");
}

#[tokio::test]
async fn an_unreachable_redis_falls_back_to_memory_limits_instead_of_refusing_calls() {
    let dead = format!("redis://{}", closed_port().trim_start_matches("http://"));
    let app = spawn_app_with(&[("REDIS_URL", dead.as_str())]).await;
    let (_, key) = funded_caller(&app, "dead-redis@example.com").await;
    let (passed, secs, refusal) = until_refused([&app, &app], &key, 200).await;
    assert!(within_one_limit(passed, secs), "the memory limiter still holds the tier: {passed} in {secs:.1} s");
    assert!(refusal.is_some());
}

#[tokio::test]
async fn a_burst_of_parallel_calls_cannot_run_the_balance_below_one_calls_overrun() {
    // One cent of balance; each call may cost up to ~2 cents (Opus, 1000 output tokens allowed).
    let app = spawn_app_with(&[("WELCOME_BALANCE", "0.01")]).await;
    app.log_in("burst@example.com").await;
    let user_id = app.user_id("burst@example.com").await;
    let key = app.create_key(user_id, false).await;
    let body =
        json!({"model": "claude-opus-4-1-slow", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]});
    let calls = (0..30).map(|_| {
        let (client, url, key, body) = (app.client.clone(), app.url("/v1/messages"), key.clone(), body.to_string());
        tokio::spawn(async move {
            client
                .post(url)
                .header("x-api-key", key)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    });
    let mut statuses = Vec::new();
    for c in calls {
        statuses.push(c.await.unwrap());
    }
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    assert!(admitted >= 1 && statuses.iter().all(|s| *s == 200 || *s == 402), "{statuses:?}");
    assert!(admitted < 30, "running calls' holds refuse the rest: {statuses:?}");
    let bills = bills_of(&app, user_id).await;
    assert_eq!(bills.len(), admitted);
    let worst_single = bills.iter().map(|b| b.balance_paid).max().unwrap();
    let balance =
        gatehouse::server::domain::account::money_of(app.state.db.pool(), user_id).await.unwrap().unwrap().balance;
    assert!(balance >= Money::ZERO.saturating_sub(worst_single), "debt {balance} is at most one call's {worst_single}");
    assert_eq!(app.open_holds().await, 0);
    audit_clean(&app).await;
}

#[tokio::test]
async fn money_added_by_another_process_is_seen_within_the_books_freshness() {
    use gatehouse::server::proxy::admission_book::FRESH_MS;
    let app = spawn_app_with(&[("WELCOME_BALANCE", "0")]).await;
    app.log_in("later@example.com").await;
    let user_id = app.user_id("later@example.com").await;
    let key = app.create_key(user_id, false).await;
    assert_eq!(call(&app, &key, message("claude-haiku-4-5", false)).await.status(), 402);
    let db_url = app.state.settings.database_url.expose().to_string();
    let out = common::cli(&db_url, &["admin", "credit", "later@example.com", "5", "--reason", "support credit"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    tokio::time::sleep(Duration::from_millis(u64::try_from(FRESH_MS).unwrap() + 100)).await;
    assert_eq!(call(&app, &key, message("claude-haiku-4-5", false)).await.status(), 200);
}

/// A scripted Anthropic upstream that misbehaves after a proper start: under `/endless` it trickles a text
/// delta every 50 ms forever; under `/giant` it sends one line that never ends (17 MiB, then silence).
async fn misbehaving_upstream() -> String {
    use axum::body::{Body, Bytes};
    use futures_util::StreamExt;
    fn start() -> Bytes {
        Bytes::from(concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",",
            "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        ))
    }
    fn sse(body: Body) -> axum::response::Response {
        axum::response::Response::builder().header("content-type", "text/event-stream").body(body).unwrap()
    }
    let endless = || async {
        let ticks = futures_util::stream::unfold(0u64, |n| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let delta = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"tick tock \"}}\n\n";
            Some((Ok::<_, std::io::Error>(Bytes::from(delta)), n + 1))
        });
        sse(Body::from_stream(futures_util::stream::once(async { Ok(start()) }).chain(ticks)))
    };
    let giant = || async {
        let line = futures_util::stream::iter((0..17).map(|i| {
            let piece =
                if i == 0 { b"event: content_block_delta\ndata: {\"x\":\"".to_vec() } else { vec![b'x'; 1024 * 1024] };
            Ok::<_, std::io::Error>(Bytes::from(piece))
        }))
        .chain(futures_util::stream::pending());
        sse(Body::from_stream(futures_util::stream::once(async { Ok(start()) }).chain(line)))
    };
    let router = axum::Router::new()
        .route("/endless/v1/messages", axum::routing::post(endless))
        .route("/giant/v1/messages", axum::routing::post(giant));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// The stream a caller gets, read until it ends (or 20 s pass).
async fn streamed(app: &TestApp, key: &str) -> String {
    let res = call(app, key, message("claude-sonnet-4-5", true)).await;
    assert_eq!(res.status(), 200);
    tokio::time::timeout(Duration::from_secs(20), res.text()).await.expect("the stream ended").unwrap_or_default()
}

#[tokio::test]
async fn a_stream_that_never_ends_is_cut_at_the_call_deadline_and_billed_for_what_it_carried() {
    let upstream = misbehaving_upstream().await;
    let file = providers_file(&format!("endless anthropic {upstream}/endless - claude-*\n"));
    let app = spawn_app_with(&[("UPSTREAM_PROVIDERS_FILE", file.as_str()), ("UPSTREAM_CALL_DEADLINE_SECS", "1")]).await;
    let (user_id, key) = funded_caller(&app, "endless@example.com").await;
    let started = std::time::Instant::now();
    let text = streamed(&app, &key).await;
    assert!(started.elapsed() < Duration::from_secs(5), "ended at its deadline: {:?}", started.elapsed());
    assert!(text.contains("tick tock"));
    let bills = bills_of(&app, user_id).await;
    assert_eq!(bills.len(), 1);
    assert_eq!(bills[0].outcome, "upstream_broke");
    assert!(bills[0].output_tokens > 0 && bills[0].official_cost.is_positive(), "{:?}", bills[0]);
    assert_eq!(app.open_holds().await, 0);
    audit_clean(&app).await;
}

#[tokio::test]
async fn an_event_longer_than_the_cap_ends_the_call_as_an_upstream_failure() {
    let upstream = misbehaving_upstream().await;
    let file = providers_file(&format!("giant anthropic {upstream}/giant - claude-*\n"));
    let app = spawn_app_with(&[("UPSTREAM_PROVIDERS_FILE", file.as_str())]).await;
    let (user_id, key) = funded_caller(&app, "giant@example.com").await;
    streamed(&app, &key).await;
    let bills = bills_of(&app, user_id).await;
    assert_eq!(bills.len(), 1);
    assert_eq!(bills[0].outcome, "upstream_broke");
    assert_eq!(bills[0].input_tokens, 12, "billed what message_start reported");
    assert_eq!(app.open_holds().await, 0);
    audit_clean(&app).await;
}

#[tokio::test]
async fn streams_still_running_when_the_shutdown_grace_ends_are_cut_and_billed() {
    let upstream = misbehaving_upstream().await;
    let file = providers_file(&format!("endless anthropic {upstream}/endless - claude-*\n"));
    let mut app = spawn_app_with(&[("UPSTREAM_PROVIDERS_FILE", file.as_str()), ("SHUTDOWN_GRACE_SECS", "1")]).await;
    let (user_id, key) = funded_caller(&app, "cut@example.com").await;
    let db_url = app.state.settings.database_url.expose().to_string();
    let running = stream_in_background(&app, &key, "claude-sonnet-4-5");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.state.gateway.running_calls(), 1);
    let stopping = std::time::Instant::now();
    app.shut_down().await;
    assert!(stopping.elapsed() < Duration::from_secs(8), "{:?}", stopping.elapsed());
    let _ = tokio::time::timeout(Duration::from_secs(5), running).await;
    let db = gatehouse::server::db::Db::connect(&db_url).await.unwrap();
    let (bills, _) = bills::page(db.pool(), user_id, &Default::default(), 10, 0).await.unwrap();
    assert_eq!(bills.len(), 1, "the cut stream was billed before the server stopped");
    assert_eq!(bills[0].outcome, "upstream_broke");
    assert!(bills[0].output_tokens > 0);
    assert_eq!(app.state.gateway.admissions().open_holds(), 0);
}
