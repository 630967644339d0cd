//! OpenAI images against the mock upstream: DALL·E billed per image by size and quality (a size without a
//! price refused, never free), gpt-image billed its text and image input and image output tokens, edits
//! sent as forms with their images passed on as they came, streamed images billed once, and every exit
//! path settled once.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{price_table_with, spawn_app, spawn_app_with, TestApp};
use gatehouse::server::domain::money::Money;
use gatehouse::server::domain::pricing::Usage;
use serde_json::{json, Value};

async fn caller(app: &TestApp, email: &str, dollars: &str) -> (i64, String) {
    app.log_in(email).await;
    let user_id = app.user_id(email).await;
    app.top_up(user_id, dollars).await;
    (user_id, app.create_key(user_id, false).await)
}

async fn post(app: &TestApp, path: &str, key: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url(path)).bearer_auth(key).json(&body).send().await.unwrap()
}

/// A `multipart/form-data` body of text fields and PNG files, as the SDKs send an edit.
fn form(fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "gatehouse-test-boundary-7e1f";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    for (i, (name, bytes)) in files.iter().enumerate() {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"in{i}.png\"\r\nContent-Type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_form(app: &TestApp, path: &str, key: &str, (content_type, body): (String, Vec<u8>)) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

fn usd(s: &str) -> Money {
    Money::parse_usd(s).unwrap()
}

fn message(v: &Value) -> String {
    v["error"]["message"].as_str().unwrap_or_default().to_string()
}

/// A real PNG (the mock's own), as an edit's input.
fn png() -> Vec<u8> {
    gatehouse::server::proxy::mock::images::png(4, [200, 40, 40])
}

#[tokio::test]
async fn dall_e_images_are_billed_per_image_by_size_and_quality() {
    let app = spawn_app().await;
    let (user_id, key) = caller(&app, "dalle@example.com", "20").await;
    let body = json!({"model": "dall-e-3", "prompt": "A lighthouse at dusk", "size": "1792x1024", "quality": "hd", "response_format": "b64_json"});
    let res = post(&app, "/v1/images/generations", &key, body).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert!(v["data"][0]["b64_json"].as_str().is_some_and(|b| b.len() > 40), "{v}");
    assert!(v["data"][0]["revised_prompt"].is_string());
    let b = app.bills_of(user_id).await;
    assert_eq!(b.len(), 1);
    assert_eq!((b[0].model.as_str(), b[0].images, b[0].official_cost), ("dall-e-3", 1, usd("0.12")));
    assert_eq!(b[0].balance_paid, usd("0.12"));
    // Three small DALL·E 2 pictures as URLs, no size or quality named: 1024x1024 standard, $0.02 each.
    let v: Value = post(&app, "/v1/images/generations", &key, json!({"model": "dall-e-2", "prompt": "A cat", "n": 3}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    assert!(v["data"][2]["url"].as_str().unwrap().starts_with("https://"), "{v}");
    let b = app.bills_of(user_id).await;
    assert_eq!((b[0].images, b[0].official_cost, b[0].input_tokens), (3, usd("0.06"), 0));
    // An edit of one image as a form, 256x256: $0.016.
    let edit = form(&[("model", "dall-e-2"), ("prompt", "Add a hat"), ("size", "256x256")], &[("image", &png())]);
    let res = post_form(&app, "/v1/images/edits", &key, edit).await;
    assert_eq!(res.status(), 200);
    let b = app.bills_of(user_id).await;
    assert_eq!((b[0].images, b[0].official_cost), (1, usd("0.016")));
    app.audit_clean().await;
}

#[tokio::test]
async fn a_size_or_quality_without_a_price_and_other_bad_image_calls_are_refused_and_free() {
    let app = spawn_app().await;
    let (user_id, key) = caller(&app, "dalle-bad@example.com", "20").await;
    for (body, status, says) in [
        (json!({"model": "dall-e-3", "prompt": "x", "size": "256x256"}), 400, "256x256 standard has no price"),
        (json!({"model": "dall-e-2", "prompt": "x", "quality": "hd"}), 400, "1024x1024 hd has no price"),
        (json!({"model": "dall-e-2", "prompt": "x", "n": 11}), 400, "`n` must be between 1 and 10"),
        (json!({"model": "dall-e-2", "prompt": "x", "n": 0}), 400, "`n`"),
        (json!({"model": "dall-e-2"}), 400, "`prompt` is required"),
        (json!({"model": "dall-e-9", "prompt": "x"}), 404, "dall-e-9"),
        (json!({"model": "gpt-4o", "prompt": "x"}), 400, "/v1/chat/completions"),
    ] {
        let res = post(&app, "/v1/images/generations", &key, body.clone()).await;
        assert_eq!(res.status(), status, "{body}");
        let m = message(&res.json().await.unwrap());
        assert!(m.contains(says), "{body}: {m}");
    }
    // An image model on a chat endpoint, and on a named channel (chat models only there).
    let res = post(
        &app,
        "/v1/chat/completions",
        &key,
        json!({"model": "dall-e-3", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(message(&res.json().await.unwrap()).contains("/v1/images/generations"));
    let res = post(
        &app,
        "/api/v1/ai/openai/codex-omg/v1/images/generations",
        &key,
        json!({"model": "gpt-image-1", "prompt": "x"}),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(message(&res.json().await.unwrap()).contains("chat models only"));
    // An edit must be a form with an image.
    let res = post(&app, "/v1/images/edits", &key, json!({"model": "dall-e-2", "prompt": "x"})).await;
    assert_eq!(res.status(), 400);
    assert!(message(&res.json().await.unwrap()).contains("multipart/form-data"));
    let res = post_form(&app, "/v1/images/edits", &key, form(&[("model", "dall-e-2"), ("prompt", "x")], &[])).await;
    assert_eq!(res.status(), 400);
    assert!(message(&res.json().await.unwrap()).contains("`image` is required"));
    // No key, no call.
    let res = app
        .client
        .post(app.url("/v1/images/generations"))
        .json(&json!({"model": "dall-e-2", "prompt": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(app.bills_of(user_id).await.is_empty(), "nothing refused was charged");
    app.audit_clean().await;
}

#[tokio::test]
async fn the_hold_is_every_image_asked_for() {
    let prices = price_table_with_failure_modes();
    let app = spawn_app_with(&[("PRICE_TABLE", prices.to_str().unwrap())]).await;
    // The welcome balance alone ($0.10): five $0.02 pictures hold all of it while they are made, so a second
    // call meanwhile is refused (holding one picture's price would have let it through).
    app.log_in("dalle-hold@example.com").await;
    let user_id = app.user_id("dalle-hold@example.com").await;
    assert_eq!(app.state.settings.money.welcome_balance, usd("0.10"));
    let key = app.create_key(user_id, false).await;
    let first = {
        let (client, url, key) = (app.client.clone(), app.url("/v1/images/generations"), key.clone());
        tokio::spawn(async move {
            let body = json!({"model": "dall-e-2-slow", "prompt": "x", "n": 5});
            client.post(url).bearer_auth(key).json(&body).send().await.unwrap().status()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let res = post(&app, "/v1/images/generations", &key, json!({"model": "dall-e-2", "prompt": "x"})).await;
    assert_eq!(res.status(), 402, "the running call holds every image it asked for");
    assert_eq!(first.await.unwrap(), 200);
    let b = app.bills_of(user_id).await;
    assert_eq!((b.len(), b[0].images, b[0].official_cost), (1, 5, usd("0.1")));
    app.audit_clean().await;
    let _ = std::fs::remove_file(prices);
}

#[tokio::test]
async fn gpt_image_is_billed_its_text_and_image_tokens() {
    let app = spawn_app().await;
    let (user_id, key) = caller(&app, "gpt-image@example.com", "20").await;
    let body = json!({"model": "gpt-image-1", "prompt": "A red kite over the sea", "n": 2, "quality": "high", "size": "1024x1024"});
    let res = post(&app, "/v1/images/generations", &key, body).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["usage"]["output_tokens"], 2 * 4160);
    let text = v["usage"]["input_tokens_details"]["text_tokens"].as_u64().unwrap();
    let b = app.bills_of(user_id).await;
    assert_eq!((b[0].images, b[0].input_tokens as u64, b[0].output_tokens), (2, text, 8320));
    let want =
        app.state.pricing.current().table.cost("gpt-image-1", &Usage { input: text, output: 8320, ..Usage::default() });
    assert_eq!(Some(b[0].official_cost), want, "$5 per million text tokens in, $40 per million image tokens out");
    // An edit of two images: their input tokens at the image input price ($10 per million).
    let edit = form(
        &[("model", "gpt-image-1"), ("prompt", "Make both blue"), ("quality", "low")],
        &[("image[]", &png()), ("image[]", &png())],
    );
    let res = post_form(&app, "/v1/images/edits", &key, edit).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    let image_in = v["usage"]["input_tokens_details"]["image_tokens"].as_u64().unwrap();
    let text_in = v["usage"]["input_tokens_details"]["text_tokens"].as_u64().unwrap();
    assert_eq!(image_in, 2 * 323, "both files reached the upstream");
    let b = app.bills_of(user_id).await;
    assert_eq!(
        (b[0].input_tokens as u64, b[0].cache_write_tokens as u64, b[0].output_tokens),
        (text_in, image_in, 272)
    );
    let usage = Usage { input: text_in, cache_write_5m: image_in, output: 272, ..Usage::default() };
    assert_eq!(Some(b[0].official_cost), app.state.pricing.current().table.cost("gpt-image-1", &usage));
    app.audit_clean().await;
}

/// The `data:` payloads of a streamed answer.
fn events(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|b| b.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test]
async fn a_streamed_image_passes_its_partial_images_and_is_billed_once() {
    let app = spawn_app().await;
    let (user_id, key) = caller(&app, "gpt-image-stream@example.com", "20").await;
    let body =
        json!({"model": "gpt-image-1", "prompt": "A kite", "stream": true, "partial_images": 2, "quality": "medium"});
    let res = post(&app, "/v1/images/generations", &key, body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let ev = events(&res.text().await.unwrap());
    let kinds: Vec<&str> = ev.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        kinds,
        ["image_generation.partial_image", "image_generation.partial_image", "image_generation.completed"]
    );
    let output = ev[2]["usage"]["output_tokens"].as_u64().unwrap();
    assert_eq!(output, 1056 + 200, "the picture and its two partial images");
    let b = app.bills_of(user_id).await;
    assert_eq!((b.len(), b[0].images, b[0].output_tokens as u64, b[0].outcome.as_str()), (1, 1, output, "complete"));
    // An edit streams too, as a form.
    let edit = form(&[("model", "gpt-image-1"), ("prompt", "Blue"), ("stream", "true")], &[("image", &png())]);
    let res = post_form(&app, "/v1/images/edits", &key, edit).await;
    let ev = events(&res.text().await.unwrap());
    assert_eq!(ev.last().unwrap()["type"], "image_edit.completed");
    assert_eq!(app.bills_of(user_id).await.len(), 2);
    app.audit_clean().await;
}

/// The shipped price table with the mock's failure-mode variants of the image models priced too.
fn price_table_with_failure_modes() -> std::path::PathBuf {
    let mut text = String::new();
    for suffix in ["fail-500", "fail-midstream", "usage-none", "usage-huge", "slow"] {
        text.push_str(&format!(
            "gpt-image-1-{suffix} 5 40 10 2.50 1.25 max_output=6600 context=100000 kind=image\n\
             dall-e-2-{suffix} 0 0 0 0 0 kind=image\nimage:dall-e-2-{suffix} 1024x1024 standard 0.02\n"
        ));
    }
    price_table_with(&text)
}

#[tokio::test]
async fn image_failures_are_free_and_answers_without_usage_are_never_free() {
    let prices = price_table_with_failure_modes();
    let app = spawn_app_with(&[("PRICE_TABLE", prices.to_str().unwrap())]).await;
    let (user_id, key) = caller(&app, "image-fail@example.com", "20").await;
    for model in ["gpt-image-1-fail-500", "dall-e-2-fail-500"] {
        let res = post(&app, "/v1/images/generations", &key, json!({"model": model, "prompt": "x"})).await;
        assert!(res.status().is_server_error(), "{model}: {}", res.status());
        assert!(!message(&res.json().await.unwrap()).is_empty());
    }
    assert!(app.bills_of(user_id).await.is_empty(), "a failed call costs nothing");
    // gpt-image without usage: each image billed its worst case (every output token it could have).
    let res =
        post(&app, "/v1/images/generations", &key, json!({"model": "gpt-image-1-usage-none", "prompt": "x", "n": 2}))
            .await;
    assert_eq!(res.status(), 200);
    let b = app.bills_of(user_id).await;
    assert_eq!((b[0].images, b[0].output_tokens), (2, 2 * 6600));
    // An absurd report is cut to what the request allowed.
    let res =
        post(&app, "/v1/images/generations", &key, json!({"model": "gpt-image-1-usage-huge", "prompt": "x"})).await;
    assert_eq!(res.status(), 200);
    let b = app.bills_of(user_id).await;
    assert_eq!((b[0].output_tokens, b[0].input_tokens + b[0].cache_write_tokens <= 100_000), (6600, true));
    // A stream that breaks after its first image is billed what it reported; DALL·E without usage is
    // billed per image all the same.
    let body = json!({"model": "gpt-image-1-fail-midstream", "prompt": "x", "n": 2, "stream": true});
    let res = post(&app, "/v1/images/generations", &key, body).await;
    assert_eq!(res.status(), 200);
    let _ = res.text().await;
    let res = post(&app, "/v1/images/generations", &key, json!({"model": "dall-e-2-usage-none", "prompt": "x"})).await;
    assert_eq!(res.status(), 200);
    let b = app.bills_of(user_id).await;
    assert_eq!(b.len(), 4);
    assert_eq!((b[0].images, b[0].official_cost), (1, usd("0.02")));
    assert_eq!((b[1].outcome.as_str(), b[1].images), ("upstream_broke", 1), "{:?}", b[1]);
    app.audit_clean().await;
    let _ = std::fs::remove_file(prices);
}
