//! The built-in `mock` upstream: answers Anthropic Messages and OpenAI chat completions deterministically,
//! as JSON or SSE, with realistic usage numbers, so the whole product runs without upstream credentials.
//! Model names ending in `-fail-500`, `-fail-429`, `-fail-midstream` or `-slow` (400 ms to the first byte, 40 ms
//! between stream pieces) trigger failure modes.

use super::sse;
use super::upstream::{ByteStream, UpstreamError, UpstreamResponse};
use axum::body::Bytes;
use serde_json::{json, Value};
use std::time::Duration;

/// How long a `-slow` model takes before its first byte.
pub const FIRST_BYTE_DELAY: Duration = Duration::from_millis(400);

/// Roughly four characters per token, as tokenizers average on English text.
fn tokens_of(text: &str) -> u64 {
    u64::try_from(text.chars().count().div_ceil(4)).unwrap_or(u64::MAX).max(1)
}

fn last_user_text(messages: &Value) -> String {
    let Some(list) = messages.as_array() else { return String::new() };
    for m in list.iter().rev() {
        if m["role"] == "user" {
            return match &m["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join(" "),
                _ => String::new(),
            };
        }
    }
    String::new()
}

fn answer_for(model: &str, prompt: &str) -> String {
    let quoted: String = prompt.chars().take(80).collect();
    format!(
        "Hello from Gatehouse's mock upstream ({model}). No real model was called. You said: \"{quoted}\". \
         This reply is deterministic, so tests and demos can rely on it."
    )
}

/// Splits text into stream pieces of a few words.
fn pieces(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    words.chunks(3).map(|c| c.concat()).collect()
}

fn failure(model: &str) -> Option<UpstreamError> {
    if model.ends_with("-fail-500") {
        Some(UpstreamError::Status { status: 500, body: "mock upstream: internal error".into() })
    } else if model.ends_with("-fail-429") {
        Some(UpstreamError::Status { status: 429, body: "mock upstream: rate limited".into() })
    } else {
        None
    }
}

fn stream_of(chunks: Vec<Bytes>, model: &str, pace: Duration) -> ByteStream {
    let break_midway = model.ends_with("-fail-midstream");
    let pace = if model.ends_with("-slow") { pace.max(Duration::from_millis(40)) } else { pace };
    let cut = chunks.len() / 2;
    Box::pin(futures_util::stream::unfold((chunks.into_iter().enumerate(), false), move |(mut it, done)| async move {
        if done {
            return None;
        }
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
        match it.next() {
            Some((i, _)) if break_midway && i == cut => {
                Some((Err(UpstreamError::Broken("mock upstream: connection reset mid-stream".into())), (it, true)))
            }
            Some((_, chunk)) => Some((Ok(chunk), (it, false))),
            None => None,
        }
    }))
}

/// An Anthropic Messages request answered in Anthropic's dialect.
/// `pace` is the pause between stream pieces (`MOCK_STREAM_PACE_MS`), so demos stream visibly.
pub async fn anthropic(request: &Value, pace: Duration) -> Result<UpstreamResponse, UpstreamError> {
    let model = request["model"].as_str().unwrap_or("claude").to_string();
    if let Some(e) = failure(&model) {
        return Err(e);
    }
    if model.ends_with("-slow") {
        // A slow upstream: time to first byte, then each stream piece.
        tokio::time::sleep(FIRST_BYTE_DELAY).await;
    }
    let prompt = last_user_text(&request["messages"]);
    let text = answer_for(&model, &prompt);
    let input_tokens = tokens_of(&request.to_string());
    let thinking = request["thinking"]["type"] == "enabled";
    let thought =
        format!("The user wrote {} characters. A friendly, deterministic answer fits.", prompt.chars().count());
    let output_tokens = tokens_of(&text) + if thinking { tokens_of(&thought) } else { 0 };
    let id = format!("msg_mock_{:016x}", fxhash(&request.to_string()));
    let usage = json!({
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0
    });
    if request["stream"] != true {
        let mut content = Vec::new();
        if thinking {
            content.push(json!({"type": "thinking", "thinking": thought, "signature": "mock-signature"}));
        }
        content.push(json!({"type": "text", "text": text}));
        let body = json!({
            "id": id, "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": "end_turn", "stop_sequence": null, "usage": usage
        });
        return Ok(UpstreamResponse::json(body));
    }
    let mut chunks = vec![sse::write(
        Some("message_start"),
        &json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        }})
        .to_string(),
    )];
    let mut index = 0;
    if thinking {
        chunks.push(sse::write(
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}})
                .to_string(),
        ));
        for piece in pieces(&thought) {
            chunks.push(sse::write(Some("content_block_delta"), &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": piece}}).to_string()));
        }
        chunks.push(sse::write(Some("content_block_delta"), &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "mock-signature"}}).to_string()));
        chunks.push(sse::write(
            Some("content_block_stop"),
            &json!({"type": "content_block_stop", "index": 0}).to_string(),
        ));
        index = 1;
    }
    chunks.push(sse::write(
        Some("content_block_start"),
        &json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
            .to_string(),
    ));
    chunks.push(sse::write(Some("ping"), &json!({"type": "ping"}).to_string()));
    for piece in pieces(&text) {
        chunks.push(sse::write(
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}})
                .to_string(),
        ));
    }
    chunks.push(sse::write(
        Some("content_block_stop"),
        &json!({"type": "content_block_stop", "index": index}).to_string(),
    ));
    chunks.push(sse::write(
        Some("message_delta"),
        &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": output_tokens}}).to_string(),
    ));
    chunks.push(sse::write(Some("message_stop"), &json!({"type": "message_stop"}).to_string()));
    Ok(UpstreamResponse::stream(stream_of(chunks, &model, pace)))
}

/// An OpenAI chat completion request (a GPT model) answered in OpenAI's dialect.
pub async fn openai(request: &Value, pace: Duration) -> Result<UpstreamResponse, UpstreamError> {
    let model = request["model"].as_str().unwrap_or("gpt").to_string();
    if let Some(e) = failure(&model) {
        return Err(e);
    }
    if model.ends_with("-slow") {
        // A slow upstream: time to first byte, then each stream piece.
        tokio::time::sleep(FIRST_BYTE_DELAY).await;
    }
    let text = answer_for(&model, &last_user_text(&request["messages"]));
    let prompt_tokens = tokens_of(&request["messages"].to_string());
    let completion_tokens = tokens_of(&text);
    let id = format!("chatcmpl-mock{:016x}", fxhash(&request.to_string()));
    let usage = json!({
        "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens, "prompt_tokens_details": {"cached_tokens": 0}
    });
    let created = crate::server::time::now_ms() / 1000;
    if request["stream"] != true {
        return Ok(UpstreamResponse::json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage
        })));
    }
    let chunk = |delta: Value, finish: Value| {
        sse::write(
            None,
            &json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            .to_string(),
        )
    };
    let mut chunks = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    for piece in pieces(&text) {
        chunks.push(chunk(json!({"content": piece}), Value::Null));
    }
    chunks.push(chunk(json!({}), json!("stop")));
    if request["stream_options"]["include_usage"] == true {
        chunks.push(sse::write(
            None,
            &json!({"id": id, "object": "chat.completion.chunk", "created": created,
            "model": model, "choices": [], "usage": usage})
            .to_string(),
        ));
    }
    chunks.push(sse::write(None, "[DONE]"));
    Ok(UpstreamResponse::stream(stream_of(chunks, &model, pace)))
}

/// A stable, non-cryptographic hash for deterministic ids.
fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
