//! OpenAI's Conversations and the Store of chat completions against the mock upstream: ids made through
//! Gatehouse are remembered with their account, another account's id gets 404 and is never forwarded, and
//! lists show only the caller's. None of it is charged; the chat completions that fill the Store are, once.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spawn_app, TestApp};
use serde_json::{json, Value};

async fn caller(app: &TestApp, email: &str) -> (i64, String) {
    app.log_in(email).await;
    let user_id = app.user_id(email).await;
    app.top_up(user_id, "20").await;
    (user_id, app.create_key(user_id, false).await)
}

async fn call(app: &TestApp, method: reqwest::Method, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str, key: &str) -> (u16, Value) {
    call(app, reqwest::Method::GET, path, key, None).await
}

async fn post(app: &TestApp, path: &str, key: &str, body: Value) -> (u16, Value) {
    call(app, reqwest::Method::POST, path, key, Some(body)).await
}

async fn delete(app: &TestApp, path: &str, key: &str) -> (u16, Value) {
    call(app, reqwest::Method::DELETE, path, key, None).await
}

fn ids(list: &Value) -> Vec<String> {
    list["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
}

/// A stored chat completion of `model` with `metadata`, streamed or not; its id.
async fn stored(app: &TestApp, key: &str, model: &str, metadata: Value, stream: bool) -> String {
    let body = json!({"model": model, "store": true, "metadata": metadata, "stream": stream,
                      "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]});
    let res = app.client.post(app.url("/v1/chat/completions")).bearer_auth(key).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let first = match stream {
        false => serde_json::from_str::<Value>(&text).unwrap(),
        true => serde_json::from_str(text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap(),
    };
    first["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn stored_chat_completions_are_the_callers_alone() {
    let app = spawn_app().await;
    let (user_id, key) = caller(&app, "store@example.com").await;
    let (_, other) = caller(&app, "store-other@example.com").await;
    let a = stored(&app, &key, "gpt-4o", json!({"project": "kite"}), false).await;
    let b = stored(&app, &key, "gpt-4o-mini", json!({"project": "kite", "stage": "draft"}), true).await;
    let c = stored(&app, &key, "gpt-4o", json!({}), false).await;
    let theirs = stored(&app, &other, "gpt-4o", json!({"project": "kite"}), false).await;
    // A completion without `store` is not in the Store.
    let (status, _) = post(
        &app,
        "/v1/chat/completions",
        &key,
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(status, 200);
    // The list: the caller's own, oldest first, filtered and paged.
    let (status, list) = get(&app, "/v1/chat/completions", &key).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(ids(&list), [a.clone(), b.clone(), c.clone()], "only the caller's, in order");
    assert_eq!(list["data"][1]["metadata"]["stage"], "draft", "as the upstream keeps it");
    assert_eq!(list["object"], "list");
    let (_, kites) = get(&app, "/v1/chat/completions?metadata[project]=kite&order=desc", &key).await;
    assert_eq!(ids(&kites), [b.clone(), a.clone()]);
    let (_, minis) = get(&app, "/v1/chat/completions?model=gpt-4o-mini", &key).await;
    assert_eq!(ids(&minis), [b.as_str()]);
    let (_, page) = get(&app, "/v1/chat/completions?limit=1", &key).await;
    assert_eq!((ids(&page), page["has_more"].as_bool()), (vec![a.clone()], Some(true)));
    let (_, unknown) = get(&app, "/v1/chat/completions?after=chatcmpl-not-mine", &key).await;
    assert_eq!((ids(&unknown).len(), unknown["has_more"].as_bool()), (0, Some(false)), "never starts over");
    let (_, next) = get(&app, &format!("/v1/chat/completions?limit=1&after={a}"), &key).await;
    assert_eq!(ids(&next), [b.as_str()]);
    let (_, list) = get(&app, "/v1/chat/completions", &other).await;
    assert_eq!(ids(&list), [theirs.as_str()]);
    // Retrieve, its messages, update its metadata (the list filters on the new one).
    let (status, got) = get(&app, &format!("/v1/chat/completions/{a}"), &key).await;
    assert_eq!((status, got["id"].as_str()), (200, Some(a.as_str())));
    assert!(got["choices"][0]["message"]["content"].as_str().unwrap().contains("mock upstream"));
    let (status, messages) = get(&app, &format!("/v1/chat/completions/{a}/messages?limit=1"), &key).await;
    assert_eq!((status, messages["data"][0]["content"].as_str()), (200, Some("Be brief.")));
    assert_eq!(messages["has_more"], true);
    let (status, updated) =
        post(&app, &format!("/v1/chat/completions/{c}"), &key, json!({"metadata": {"project": "kite"}})).await;
    assert_eq!((status, &updated["metadata"]), (200, &json!({"project": "kite"})));
    let (_, kites) = get(&app, "/v1/chat/completions?metadata[project]=kite", &key).await;
    assert_eq!(ids(&kites), [a.clone(), b.clone(), c.clone()]);
    // Another account: every operation on the caller's id is 404, and nothing changes.
    for (method, path, body) in [
        (reqwest::Method::GET, format!("/v1/chat/completions/{a}"), None),
        (reqwest::Method::GET, format!("/v1/chat/completions/{a}/messages"), None),
        (reqwest::Method::POST, format!("/v1/chat/completions/{a}"), Some(json!({"metadata": {"x": "y"}}))),
        (reqwest::Method::DELETE, format!("/v1/chat/completions/{a}"), None),
    ] {
        let (status, v) = call(&app, method.clone(), &path, &other, body).await;
        assert_eq!(status, 404, "{method} {path}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("No chat completion found"), "{v}");
    }
    let (status, got) = get(&app, &format!("/v1/chat/completions/{a}"), &key).await;
    assert_eq!((status, &got["metadata"]), (200, &json!({"project": "kite"})), "untouched by the other account");
    // Delete: gone for the caller too, and from the list.
    let (status, gone) = delete(&app, &format!("/v1/chat/completions/{a}"), &key).await;
    assert_eq!((status, gone["deleted"].as_bool()), (200, Some(true)));
    assert_eq!(get(&app, &format!("/v1/chat/completions/{a}"), &key).await.0, 404);
    let (_, list) = get(&app, "/v1/chat/completions", &key).await;
    assert_eq!(ids(&list), [b, c]);
    // The Store costs nothing; the four completions were billed once each.
    assert_eq!(app.bills_of(user_id).await.len(), 4);
    app.audit_clean().await;
}

#[tokio::test]
async fn store_refusals_are_clear_and_free() {
    let app = spawn_app().await;
    let (user_id, key) = caller(&app, "store-bad@example.com").await;
    let (status, v) = post(
        &app,
        "/v1/chat/completions",
        &key,
        json!({"model": "claude-haiku-4-5", "store": true, "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("OpenAI models only"), "{v}");
    let (status, _) = post(
        &app,
        "/v1/chat/completions",
        &key,
        json!({"model": "gpt-4o", "store": true, "metadata": {"n": 1}, "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(status, 400, "metadata values are strings");
    for path in ["/v1/chat/completions?limit=0", "/v1/chat/completions?order=sideways"] {
        assert_eq!(get(&app, path, &key).await.0, 400, "{path}");
    }
    assert_eq!(get(&app, "/v1/chat/completions/chatcmpl-nobody", &key).await.0, 404);
    let res = app.client.get(app.url("/v1/chat/completions")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(app.bills_of(user_id).await.is_empty());
    app.audit_clean().await;
}

#[tokio::test]
async fn conversations_and_their_items_are_the_callers_alone() {
    let app = spawn_app().await;
    let (user_id, key) = caller(&app, "conv@example.com").await;
    let (_, other) = caller(&app, "conv-other@example.com").await;
    let (status, conv) = post(
        &app,
        "/v1/conversations",
        &key,
        json!({"metadata": {"topic": "kites"}, "items": [{"type": "message", "role": "user", "content": "Hello"}]}),
    )
    .await;
    assert_eq!(status, 200, "{conv}");
    let id = conv["id"].as_str().unwrap().to_string();
    assert_eq!((conv["object"].as_str(), &conv["metadata"]), (Some("conversation"), &json!({"topic": "kites"})));
    let base = format!("/v1/conversations/{id}");
    assert_eq!(get(&app, &base, &key).await.1["id"], id.as_str());
    let (status, updated) = post(&app, &base, &key, json!({"metadata": {"topic": "kites", "stage": "two"}})).await;
    assert_eq!((status, updated["metadata"]["stage"].as_str()), (200, Some("two")));
    let (status, added) = post(
        &app,
        &format!("{base}/items"),
        &key,
        json!({"items": [{"type": "message", "role": "assistant", "content": "Hi! Kites?"}, {"role": "user", "content": "Yes"}]}),
    )
    .await;
    assert_eq!((status, added["data"].as_array().unwrap().len()), (200, 2), "{added}");
    let item = added["data"][0]["id"].as_str().unwrap().to_string();
    let (_, listed) = get(&app, &format!("{base}/items?order=asc"), &key).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 3);
    assert_eq!(listed["data"][1]["id"], item.as_str());
    let (_, page) = get(&app, &format!("{base}/items?limit=1"), &key).await;
    assert_eq!((page["data"][0]["content"][0]["text"].as_str(), page["has_more"].as_bool()), (Some("Yes"), Some(true)));
    let (status, got) = get(&app, &format!("{base}/items/{item}"), &key).await;
    assert_eq!((status, got["role"].as_str()), (200, Some("assistant")));
    // A response continues the conversation; another account's conversation reads as unknown.
    let (status, r) =
        post(&app, "/v1/responses", &key, json!({"model": "gpt-5-mini", "input": "More", "conversation": id})).await;
    assert_eq!(status, 200, "{r}");
    let (status, _) =
        post(&app, "/v1/responses", &other, json!({"model": "gpt-5-mini", "input": "x", "conversation": {"id": id}}))
            .await;
    assert_eq!(status, 404);
    // Every operation by another account: 404, nothing forwarded, nothing changed.
    for (method, path, body) in [
        (reqwest::Method::GET, base.clone(), None),
        (reqwest::Method::POST, base.clone(), Some(json!({"metadata": {}}))),
        (reqwest::Method::POST, format!("{base}/items"), Some(json!({"items": [{"role": "user", "content": "x"}]}))),
        (reqwest::Method::GET, format!("{base}/items"), None),
        (reqwest::Method::GET, format!("{base}/items/{item}"), None),
        (reqwest::Method::DELETE, format!("{base}/items/{item}"), None),
        (reqwest::Method::DELETE, base.clone(), None),
    ] {
        let (status, v) = call(&app, method.clone(), &path, &other, body).await;
        assert_eq!(status, 404, "{method} {path}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("No conversation found"), "{v}");
    }
    assert_eq!(get(&app, &format!("{base}/items"), &key).await.1["data"].as_array().unwrap().len(), 3);
    // Delete an item (the conversation comes back), then the conversation.
    let (status, after) = delete(&app, &format!("{base}/items/{item}"), &key).await;
    assert_eq!((status, after["id"].as_str()), (200, Some(id.as_str())));
    assert_eq!(get(&app, &format!("{base}/items/{item}"), &key).await.0, 404);
    let (status, gone) = delete(&app, &base, &key).await;
    assert_eq!((status, gone["deleted"].as_bool()), (200, Some(true)));
    assert_eq!(get(&app, &base, &key).await.0, 404);
    // Only the response was charged.
    assert_eq!(app.bills_of(user_id).await.len(), 1);
    app.audit_clean().await;
}

#[tokio::test]
async fn conversation_refusals_are_clear() {
    let app = spawn_app().await;
    let (user_id, key) = caller(&app, "conv-bad@example.com").await;
    let (status, conv) = post(&app, "/v1/conversations", &key, json!({})).await;
    assert_eq!(status, 200, "an empty conversation: {conv}");
    let id = conv["id"].as_str().unwrap();
    let res = app.client.post(app.url("/v1/conversations")).bearer_auth(&key).body("{not json").send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(post(&app, "/v1/conversations", &key, json!({"metadata": ["x"]})).await.0, 400);
    assert_eq!(post(&app, &format!("/v1/conversations/{id}/items"), &key, json!({"items": []})).await.0, 400);
    // Items by reference are another account's for all Gatehouse knows: refused, however spelled.
    let reference = json!({"items": [{"type": "item_reference", "id": "msg_someone_elses"}]});
    assert_eq!(post(&app, &format!("/v1/conversations/{id}/items"), &key, reference.clone()).await.0, 400);
    assert_eq!(post(&app, "/v1/conversations", &key, reference).await.0, 400);
    let escaped = r#"{"items": [{"type": "item_\u0072eference", "id": "msg_someone_elses"}]}"#;
    let res = app
        .client
        .post(app.url(&format!("/v1/conversations/{id}/items")))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(escaped)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(get(&app, &format!("/v1/conversations/{id}/items/..%2Fsecret"), &key).await.0, 404);
    // A Claude model cannot continue an OpenAI conversation.
    let (status, v) =
        post(&app, "/v1/responses", &key, json!({"model": "claude-haiku-4-5", "input": "x", "conversation": id})).await;
    assert_eq!(status, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("OpenAI models only"), "{v}");
    let res = app.client.post(app.url("/v1/conversations")).json(&json!({})).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(app.bills_of(user_id).await.is_empty());
    app.audit_clean().await;
}
