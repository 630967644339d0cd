//! Web chat on the server: conversations persist per account and nobody else can reach them; each reply
//! streams through the proxy's admission, upstream and metering and is billed once on the `web-chat`
//! channel (packages first); refusals and upstream failures are shown in the conversation and charge nothing.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spawn_app, spawn_app_with, TestApp};
use gatehouse::server::domain::bills::{self, Bill};
use gatehouse::server::domain::money::Money;
use gatehouse::server::domain::pricing::Usage;
use gatehouse::server::time::now_ms;
use serde_json::Value;

async fn ask(
    app: &TestApp,
    cookie: &str,
    conversation: Option<i64>,
    text: &str,
    model: &str,
    thinking: bool,
) -> reqwest::Response {
    let conversation = conversation.map(|c| c.to_string());
    let thinking = thinking.to_string();
    let mut form = vec![("text", text), ("model", model), ("thinking", thinking.as_str())];
    if let Some(c) = &conversation {
        form.push(("conversation_id", c.as_str()));
    }
    app.post_form("/api/chat_ask", &form, Some(cookie)).await
}

/// Asks and streams the reply; returns (conversation id, reply id, the SSE text).
async fn chat(
    app: &TestApp,
    cookie: &str,
    conversation: Option<i64>,
    text: &str,
    model: &str,
    thinking: bool,
) -> (i64, i64, String) {
    let res = ask(app, cookie, conversation, text, model, thinking).await;
    assert_eq!(res.status(), 200);
    let asked: Value = res.json().await.unwrap();
    let reply_id = asked["reply_id"].as_i64().unwrap();
    let events = stream(app, cookie, reply_id).await;
    (asked["conversation_id"].as_i64().unwrap(), reply_id, events)
}

async fn stream(app: &TestApp, cookie: &str, reply_id: i64) -> String {
    let res = app
        .client
        .get(app.url(&format!("/chat/replies/{reply_id}/stream")))
        .header("cookie", format!("gh_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    res.text().await.unwrap()
}

/// The `data:` payloads of an SSE body.
fn events(sse: &str) -> Vec<Value> {
    sse.lines().filter_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).unwrap()).collect()
}

async fn thread(app: &TestApp, cookie: &str, id: i64) -> reqwest::Response {
    app.post_form("/api/chat_thread", &[("id", &id.to_string())], Some(cookie)).await
}

async fn bills_of(app: &TestApp, user_id: i64) -> Vec<Bill> {
    app.settled().await;
    bills::page(app.state.db.pool(), user_id, &Default::default(), 100, 0).await.unwrap().0
}

async fn grant_package(app: &TestApp, user_id: i64) {
    common::grant_claude_code_package(&app.state.db, user_id, 20, &format!("chat-test-grant-{user_id}")).await;
}

#[tokio::test]
async fn a_reply_streams_with_its_thinking_is_saved_and_is_paid_by_the_package_on_the_web_chat_channel() {
    let app = spawn_app().await;
    let cookie = app.log_in("chatter@example.com").await;
    let user_id = app.user_id("chatter@example.com").await;
    grant_package(&app, user_id).await;

    let (conversation, reply_id, sse) =
        chat(&app, &cookie, None, "Explain **GCRA** briefly", "claude-sonnet-4-5", true).await;
    let evs = events(&sse);
    let thinking: String = evs.iter().filter(|e| e["t"] == "thinking").map(|e| e["v"].as_str().unwrap()).collect();
    let text: String = evs.iter().filter(|e| e["t"] == "text").map(|e| e["v"].as_str().unwrap()).collect();
    assert!(!thinking.is_empty(), "thinking streamed: {sse}");
    assert!(text.contains("mock upstream") && evs.iter().filter(|e| e["t"] == "text").count() > 3, "in pieces: {sse}");
    assert_eq!(evs.last().unwrap()["t"], "done");
    let first_text = evs.iter().position(|e| e["t"] == "text").unwrap();
    assert!(evs.iter().position(|e| e["t"] == "thinking").unwrap() < first_text, "thinking comes first");

    // Reloading shows the same conversation.
    let res = thread(&app, &cookie, conversation).await;
    assert_eq!(res.status(), 200);
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["conversation"]["title"], "Explain **GCRA** briefly");
    assert_eq!(t["conversation"]["model"], "claude-sonnet-4-5");
    assert_eq!(t["conversation"]["thinking"], true);
    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(
        (messages[0]["role"].as_str(), messages[0]["content"].as_str()),
        (Some("user"), Some("Explain **GCRA** briefly"))
    );
    assert_eq!(messages[1]["id"], reply_id);
    assert_eq!(messages[1]["status"], "done");
    assert_eq!(messages[1]["content"].as_str().unwrap(), text);
    assert_eq!(messages[1]["thinking"].as_str().unwrap(), thinking);
    assert!(messages[1]["html"].as_str().unwrap().starts_with("<p>"), "rendered from Markdown");

    // One bill, web chat, no key, paid by the package at the official price.
    let bills = bills_of(&app, user_id).await;
    assert_eq!(bills.len(), 1);
    let b = &bills[0];
    assert_eq!((b.channel.as_str(), b.model.as_str(), b.key_name.as_deref()), ("web-chat", "claude-sonnet-4-5", None));
    let usage = Usage { input: b.input_tokens as u64, output: b.output_tokens as u64, ..Usage::default() };
    let official = app.state.pricing.current().table.cost("claude-sonnet-4-5", &usage).unwrap();
    assert!(official.is_positive());
    assert_eq!(b.official_cost, official);
    assert_eq!((b.packages_paid, b.balance_paid), (official, Money::ZERO));
    assert_eq!(app.open_holds().await, 0);

    // A second message continues the conversation with its history.
    let (same, _, sse) = chat(&app, &cookie, Some(conversation), "And in one line?", "claude-sonnet-4-5", false).await;
    assert_eq!(same, conversation);
    assert_eq!(events(&sse).last().unwrap()["t"], "done");
    assert!(!events(&sse).iter().any(|e| e["t"] == "thinking"), "thinking off for this one");
    assert_eq!(bills_of(&app, user_id).await.len(), 2);
    let list = app.post_form("/api/chat_conversations", &[], Some(&cookie)).await.json::<Value>().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_reply_is_asked_for_once_even_if_the_browser_reconnects() {
    let app = spawn_app().await;
    let cookie = app.log_in("reconnect@example.com").await;
    let user_id = app.user_id("reconnect@example.com").await;
    let (_, reply_id, _) = chat(&app, &cookie, None, "hi", "claude-haiku-4-5", false).await;
    let again = events(&stream(&app, &cookie, reply_id).await);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["t"], "done");
    assert_eq!(bills_of(&app, user_id).await.len(), 1);
}

#[tokio::test]
async fn nobody_else_can_read_stream_rename_or_delete_a_conversation() {
    let app = spawn_app().await;
    let owner = app.log_in("owner@example.com").await;
    let other = app.log_in("other@example.com").await;
    let res = ask(&app, &owner, None, "my secret plans", "claude-haiku-4-5", false).await;
    let asked: Value = res.json().await.unwrap();
    let (conversation, reply_id) = (asked["conversation_id"].as_i64().unwrap(), asked["reply_id"].as_i64().unwrap());

    assert_eq!(thread(&app, &other, conversation).await.status(), 404);
    let res = app
        .client
        .get(app.url(&format!("/chat/replies/{reply_id}/stream")))
        .header("cookie", format!("gh_session={other}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = app.client.get(app.url(&format!("/chat/replies/{reply_id}/stream"))).send().await.unwrap();
    assert_eq!(res.status(), 401, "signed out");
    assert_eq!(ask(&app, &other, Some(conversation), "let me in", "claude-haiku-4-5", false).await.status(), 404);
    let id = conversation.to_string();
    assert_eq!(
        app.post_form("/api/chat_rename", &[("id", &id), ("title", "mine now")], Some(&other)).await.status(),
        404
    );
    assert_eq!(app.post_form("/api/chat_delete", &[("id", &id)], Some(&other)).await.status(), 404);
    let list = app.post_form("/api/chat_conversations", &[], Some(&other)).await.json::<Value>().await.unwrap();
    assert_eq!(list, serde_json::json!([]));
    assert_eq!(app.post_form("/api/chat_conversations", &[], None).await.status(), 401);

    // The owner still has everything, and the reply was never started by the others.
    let t: Value = thread(&app, &owner, conversation).await.json().await.unwrap();
    assert_eq!(t["conversation"]["title"], "my secret plans");
    assert_eq!(t["messages"][1]["status"], "pending");
    assert_eq!(events(&stream(&app, &owner, reply_id).await).last().unwrap()["t"], "done");
}

#[tokio::test]
async fn conversations_can_be_renamed_and_deleted_with_their_messages() {
    let app = spawn_app().await;
    let cookie = app.log_in("tidy@example.com").await;
    let (first, _, _) = chat(&app, &cookie, None, "first", "claude-haiku-4-5", false).await;
    let (second, _, _) = chat(&app, &cookie, None, "second", "gpt-5-mini", true).await;
    let list: Value = app.post_form("/api/chat_conversations", &[], Some(&cookie)).await.json().await.unwrap();
    assert_eq!(list[0]["id"], second, "newest first");
    assert_eq!(list[1]["id"], first);
    assert_eq!(list[0]["thinking"], false, "GPT models have no deep thinking");
    let res =
        app.post_form("/api/chat_rename", &[("id", &first.to_string()), ("title", "  Renamed  ")], Some(&cookie)).await;
    assert_eq!(res.status(), 200);
    let res = app.post_form("/api/chat_rename", &[("id", &first.to_string()), ("title", " ")], Some(&cookie)).await;
    assert_eq!(res.status(), 400);
    let res = app.post_form("/api/chat_delete", &[("id", &second.to_string())], Some(&cookie)).await;
    assert_eq!(res.status(), 200);
    let list: Value = app.post_form("/api/chat_conversations", &[], Some(&cookie)).await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["title"], "Renamed");
    assert_eq!(thread(&app, &cookie, second).await.status(), 404);
    let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM chat_messages WHERE conversation_id = $1")
        .bind(second)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    // Bad input changes nothing.
    assert_eq!(ask(&app, &cookie, Some(first), "   ", "claude-haiku-4-5", false).await.status(), 400);
    assert_eq!(ask(&app, &cookie, Some(first), "hi", "claude-nonexistent-9", false).await.status(), 400);
    let t: Value = thread(&app, &cookie, first).await.json().await.unwrap();
    assert_eq!(t["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_balance_at_zero_is_explained_in_the_conversation_with_a_link_to_billing_and_charges_nothing() {
    let app = spawn_app_with(&[("WELCOME_BALANCE", "0")]).await;
    let cookie = app.log_in("broke-chat@example.com").await;
    let user_id = app.user_id("broke-chat@example.com").await;
    grant_package(&app, user_id).await;
    let (conversation, _, sse) = chat(&app, &cookie, None, "hello", "claude-sonnet-4-5", false).await;
    let evs = events(&sse);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["t"], "error");
    assert_eq!(evs[0]["billing"], true);
    assert!(evs[0]["v"].as_str().unwrap().contains("balance"));
    let t: Value = thread(&app, &cookie, conversation).await.json().await.unwrap();
    assert_eq!(t["messages"][1]["status"], "failed");
    assert_eq!(t["messages"][1]["error_billing"], true);
    assert!(bills_of(&app, user_id).await.is_empty());
    assert_eq!(app.open_holds().await, 0);
}

#[tokio::test]
async fn an_upstream_that_fails_before_any_token_is_reported_and_not_charged() {
    let dir = std::env::temp_dir().join(format!("gatehouse-chat-providers-{}", now_ms()));
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = l.local_addr().unwrap();
    drop(l);
    std::fs::write(&dir, format!("down anthropic http://{dead} -\ngpt openai mock -\n")).unwrap();
    let app = spawn_app_with(&[("UPSTREAM_PROVIDERS_FILE", dir.to_str().unwrap())]).await;
    let cookie = app.log_in("unlucky@example.com").await;
    let user_id = app.user_id("unlucky@example.com").await;
    let (conversation, _, sse) = chat(&app, &cookie, None, "hello", "claude-sonnet-4-5", true).await;
    let evs = events(&sse);
    assert_eq!(evs.last().unwrap()["t"], "error");
    assert!(evs.last().unwrap()["v"].as_str().unwrap().contains("not charged"));
    assert!(bills_of(&app, user_id).await.is_empty());
    assert_eq!(app.open_holds().await, 0);
    // The failed reply stays out of the next request's history; the conversation goes on with GPT.
    let (_, _, sse) = chat(&app, &cookie, Some(conversation), "again", "gpt-5-mini", false).await;
    assert_eq!(events(&sse).last().unwrap()["t"], "done");
    assert_eq!(bills_of(&app, user_id).await.len(), 1);
    let _ = std::fs::remove_file(&dir);
}

#[tokio::test]
async fn a_reply_still_running_blocks_a_new_message_but_a_stale_one_is_given_up() {
    use gatehouse::server::domain::chat::{self, Ask, ChatError, STALE_REPLY_MS};
    let db = common::fresh_db().await;
    let user_id = common::insert_user(&db, "busy@example.com").await;
    let ask = |conversation_id, now| Ask {
        user_id,
        conversation_id,
        text: "hi",
        model: "claude-haiku-4-5",
        thinking: false,
        unfinished: "この返信は最後まで届きませんでした。",
        now,
    };
    let first = chat::ask(db.pool(), ask(None, 1_000)).await.unwrap();
    let busy = chat::ask(db.pool(), ask(Some(first.conversation_id), 2_000)).await;
    assert_eq!(busy, Err(ChatError::Busy));
    assert_eq!(chat::messages(db.pool(), user_id, first.conversation_id).await.unwrap().len(), 2, "nothing added");
    let later = chat::ask(db.pool(), ask(Some(first.conversation_id), 1_000 + STALE_REPLY_MS + 1)).await.unwrap();
    let messages = chat::messages(db.pool(), user_id, first.conversation_id).await.unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(
        (messages[1].status.as_str(), messages[1].error.as_deref()),
        ("failed", Some("この返信は最後まで届きませんでした。")),
        "in the words (and language) of the request that gave it up"
    );
    assert_eq!(messages[3].id, later.reply_id);
    assert_eq!(messages[3].status, "pending");
    // The stale reply can no longer be streamed; the new one can, once.
    assert_eq!(chat::start_reply(db.pool(), user_id, first.reply_id).await, Err(ChatError::AlreadyStarted));
    let job = chat::start_reply(db.pool(), user_id, later.reply_id).await.unwrap();
    assert_eq!(job.history, vec![("user".to_string(), "hi\n\nhi".to_string())]);
    assert_eq!(chat::start_reply(db.pool(), user_id, later.reply_id).await, Err(ChatError::AlreadyStarted));
}

#[tokio::test]
async fn a_gpt_chat_is_paid_by_the_balance_at_the_official_price_not_by_the_claude_code_package() {
    let app = spawn_app().await;
    let cookie = app.log_in("gpt-chatter@example.com").await;
    let user_id = app.user_id("gpt-chatter@example.com").await;
    grant_package(&app, user_id).await;
    let (_, _, sse) = chat(&app, &cookie, None, "Hello GPT", "gpt-5.5", false).await;
    assert_eq!(events(&sse).last().unwrap()["t"], "done", "{sse}");
    let bills = bills_of(&app, user_id).await;
    assert_eq!(bills.len(), 1);
    let b = &bills[0];
    assert_eq!((b.channel.as_str(), b.model.as_str()), ("web-chat", "gpt-5.5"));
    assert!(b.official_cost.is_positive());
    // The guide promises free Claude chat on the web: the referral package does not pay for GPT.
    assert_eq!((b.packages_paid, b.balance_paid), (Money::ZERO, b.official_cost));
}

#[tokio::test]
async fn a_message_posted_without_javascript_is_answered_billed_once_and_lands_on_its_conversation() {
    let app = spawn_app().await;
    let cookie = app.log_in("plain-chat@example.com").await;
    let user_id = app.user_id("plain-chat@example.com").await;
    let post = |form: Vec<(&'static str, String)>| {
        app.client
            .post(app.url("/chat"))
            .header("origin", &app.address)
            .header("cookie", format!("gh_session={cookie}"))
            .header("accept", "text/html")
            .form(&form)
            .send()
    };
    let res = post(vec![("text", "Hello plainly".into()), ("model", "claude-haiku-4-5".into())]).await.unwrap();
    assert_eq!(res.status(), 303);
    let to = res.headers()["location"].to_str().unwrap().to_string();
    let conversation: i64 = to.strip_prefix("/chat?c=").expect("the conversation's page").parse().unwrap();
    // The reply was written before the redirect: the page shows it finished.
    let t: Value = thread(&app, &cookie, conversation).await.json().await.unwrap();
    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["status"], "done");
    assert!(messages[1]["content"].as_str().unwrap().contains("mock upstream (claude-haiku-4-5)"));
    let html = app.get_page(&to, Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("Hello plainly") && html.contains("mock upstream (claude-haiku-4-5)"));
    assert_eq!(bills_of(&app, user_id).await.len(), 1);

    // A follow-up with thinking ticked stays in the conversation; a bad model comes back explained.
    let res = post(vec![
        ("conversation_id", conversation.to_string()),
        ("text", "More".into()),
        ("model", "claude-sonnet-4-5".into()),
        ("thinking", "on".into()),
    ])
    .await
    .unwrap();
    assert_eq!(res.headers()["location"].to_str().unwrap(), to);
    assert_eq!(bills_of(&app, user_id).await.len(), 2);
    let res = post(vec![("conversation_id", conversation.to_string()), ("text", "x".into()), ("model", "nope".into())])
        .await
        .unwrap();
    let back = res.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with(&format!("{to}&error=")), "{back}");
    assert!(app.get_page(&back, Some(&cookie)).await.text().await.unwrap().contains("is not offered in chat"));
    assert_eq!(bills_of(&app, user_id).await.len(), 2);
}

/// One account cannot flood web chat: more than 20 messages a minute are refused with 429 and how long to
/// wait, and nothing is stored for them.
#[tokio::test]
async fn messages_beyond_twenty_a_minute_are_refused_and_store_nothing() {
    use gatehouse::server::domain::chat::MAX_MESSAGES_PER_MINUTE;
    let app = spawn_app().await;
    let cookie = app.log_in("flood@example.com").await;
    for n in 0..MAX_MESSAGES_PER_MINUTE {
        let res = ask(&app, &cookie, None, &format!("message {n}"), "claude-haiku-4-5", false).await;
        assert_eq!(res.status(), 200, "message {n}");
    }
    let res = ask(&app, &cookie, None, "one too many", "claude-haiku-4-5", false).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(res.text().await.unwrap().contains("messages a minute"));
    let list: Value = app.post_form("/api/chat_conversations", &[], Some(&cookie)).await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), usize::try_from(MAX_MESSAGES_PER_MINUTE).unwrap());
    // Someone else is not slowed down.
    let other = app.log_in("calm@example.com").await;
    assert_eq!(ask(&app, &other, None, "hello", "claude-haiku-4-5", false).await.status(), 200);
}
