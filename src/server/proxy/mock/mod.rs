//! The built-in `mock` upstream, a provider like any other: answers Anthropic Messages and OpenAI chat
//! completions deterministically (the Responses API is in `responses`, embeddings in `embeddings`, legacy
//! text completions in `completions`, text to speech in `speech`; `server` serves them all over HTTP
//! for the benchmark's bare-proxy baseline), as JSON or SSE, with realistic usage numbers, so the whole product runs without upstream credentials.
//! Model names ending in `-fail-500`, `-fail-429`, `-fail-midstream` or `-slow` (400 ms to the first byte, 40 ms
//! between stream pieces) trigger failure modes; `-usage-max` (u64::MAX output tokens), `-usage-huge`
//! (10^12 input and output tokens) and `-usage-none` (no usage at all) make it report usage as a
//! misbehaving upstream would. A [`Shape`] sets the upstream's latency, the pause between
//! stream pieces and how many pieces a streamed answer has (the benchmark's knobs).

pub mod completions;
pub mod embeddings;
pub mod images;
pub mod responses;
pub mod server;
pub mod speech;
pub mod stored;

use super::sse;
use super::upstream::{ByteStream, UpstreamError, UpstreamResponse};
use axum::body::Bytes;
use serde_json::{json, Value};
use std::time::Duration;

/// How long a `-slow` model takes before its first byte.
pub const FIRST_BYTE_DELAY: Duration = Duration::from_millis(400);

/// How the mock answers: its latency before the first byte, the pause between stream pieces, and how
/// many text pieces a streamed answer is cut into.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    pub latency: Duration,
    pub pace: Duration,
    /// `None`: a piece every three words of the answer. `Some(n)`: exactly `n` text pieces (the answer's
    /// words repeated as needed), so a benchmark can set the chunk count.
    pub pieces: Option<usize>,
}

impl Shape {
    /// Pieces every `pace` and nothing else (`MOCK_STREAM_PACE_MS`, so demos stream visibly).
    pub fn paced(pace: Duration) -> Self {
        Self { pace, ..Self::default() }
    }
}

/// Roughly four characters per token, as tokenizers average on English text.
pub(super) fn tokens_of(text: &str) -> u64 {
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

pub(super) fn answer_for(model: &str, prompt: &str) -> String {
    let quoted: String = prompt.chars().take(80).collect();
    format!(
        "Hello from Gatehouse's mock upstream ({model}). No real model was called. You said: \"{quoted}\". \
         This reply is deterministic, so tests and demos can rely on it."
    )
}

/// Splits text into stream pieces: a few words each, or exactly `count` pieces of one word each, the
/// words repeated when the text has fewer (the answer is then the pieces joined).
pub(super) fn pieces(text: &str, count: Option<usize>) -> Vec<String> {
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    match count {
        None => words.chunks(3).map(|c| c.concat()).collect(),
        Some(n) => (0..n).map(|i| words[i % words.len().max(1)].to_string()).collect(),
    }
}

pub(super) fn failure(model: &str) -> Option<UpstreamError> {
    if model.ends_with("-fail-500") {
        Some(UpstreamError::Status { status: 500, body: "mock upstream: internal error".into() })
    } else if model.ends_with("-fail-429") {
        Some(UpstreamError::Status { status: 429, body: "mock upstream: rate limited".into() })
    } else {
        None
    }
}

/// The (input, output) tokens the mock reports for an answer, or `None` for no usage at all.
pub(super) fn reported(model: &str, input: u64, output: u64) -> Option<(u64, u64)> {
    if model.ends_with("-usage-none") {
        None
    } else if model.ends_with("-usage-max") {
        Some((input, u64::MAX))
    } else if model.ends_with("-usage-huge") {
        Some((1_000_000_000_000, 1_000_000_000_000))
    } else {
        Some((input, output))
    }
}

/// The upstream's latency before it answers (at least `FIRST_BYTE_DELAY` for a `-slow` model).
pub(super) async fn first_byte_wait(model: &str, shape: Shape) {
    let latency = if model.ends_with("-slow") { shape.latency.max(FIRST_BYTE_DELAY) } else { shape.latency };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}

pub(super) fn stream_of(chunks: Vec<Bytes>, model: &str, pace: Duration) -> ByteStream {
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
pub async fn anthropic(request: &Value, shape: Shape) -> Result<UpstreamResponse, UpstreamError> {
    let model = request["model"].as_str().unwrap_or("claude").to_string();
    if let Some(e) = failure(&model) {
        return Err(e);
    }
    first_byte_wait(&model, shape).await;
    let prompt = last_user_text(&request["messages"]);
    let streamed = request["stream"] == true;
    let text_pieces = pieces(&answer_for(&model, &prompt), if streamed { shape.pieces } else { None });
    let text = text_pieces.concat();
    let input_tokens = tokens_of(&request.to_string());
    let thinking = request["thinking"]["type"] == "enabled";
    let thought =
        format!("The user wrote {} characters. A friendly, deterministic answer fits.", prompt.chars().count());
    let output_tokens = tokens_of(&text) + if thinking { tokens_of(&thought) } else { 0 };
    let id = format!("msg_mock_{:016x}", fxhash(&request.to_string()));
    let reported = reported(&model, input_tokens, output_tokens);
    // Offered the web search server tool, the mock searches twice (reported with the final usage).
    let searches = request["tools"]
        .as_array()
        .is_some_and(|tools| tools.iter().any(|t| t["type"].as_str().is_some_and(|k| k.starts_with("web_search"))))
        .then_some(2u64);
    let usage = |output: Option<u64>| match reported {
        Some((input, all)) => {
            let mut u = json!({
                "input_tokens": input,
                "output_tokens": output.unwrap_or(all),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0
            });
            if let (None, Some(n)) = (output, searches) {
                u["server_tool_use"] = json!({"web_search_requests": n});
            }
            u
        }
        None => Value::Null,
    };
    if !streamed {
        let mut content = Vec::new();
        if thinking {
            content.push(json!({"type": "thinking", "thinking": thought, "signature": "mock-signature"}));
        }
        content.push(json!({"type": "text", "text": text}));
        let mut body = json!({
            "id": id, "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": "end_turn", "stop_sequence": null, "usage": usage(None)
        });
        if reported.is_none() {
            body.as_object_mut().map(|b| b.remove("usage"));
        }
        return Ok(UpstreamResponse::json(body));
    }
    let mut chunks = vec![sse::write(
        Some("message_start"),
        &json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": usage(Some(1))
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
        for piece in pieces(&thought, None) {
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
    for piece in text_pieces {
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
        &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
        "usage": reported.map(|(_, output)| match searches {
            Some(n) => json!({"output_tokens": output, "server_tool_use": {"web_search_requests": n}}),
            None => json!({"output_tokens": output}),
        })})
        .to_string(),
    ));
    chunks.push(sse::write(Some("message_stop"), &json!({"type": "message_stop"}).to_string()));
    Ok(UpstreamResponse::stream(stream_of(chunks, &model, shape.pace)))
}

/// An OpenAI chat completion request (a GPT model) answered in OpenAI's dialect.
pub async fn openai(request: &Value, shape: Shape) -> Result<UpstreamResponse, UpstreamError> {
    chat(request, shape, format!("chatcmpl-mock{:016x}", fxhash(&request.to_string()))).await
}

/// A chat completion answered with the id given (a stored one's must be unique).
pub(super) async fn chat(request: &Value, shape: Shape, id: String) -> Result<UpstreamResponse, UpstreamError> {
    let model = request["model"].as_str().unwrap_or("gpt").to_string();
    if let Some(e) = failure(&model) {
        return Err(e);
    }
    first_byte_wait(&model, shape).await;
    let streamed = request["stream"] == true;
    let text_pieces =
        pieces(&answer_for(&model, &last_user_text(&request["messages"])), if streamed { shape.pieces } else { None });
    let text = text_pieces.concat();
    // `n` choices, each the same answer, as OpenAI bills them: every choice's tokens count.
    let choices = request["n"].as_u64().unwrap_or(1).clamp(1, 128);
    let prompt_tokens = tokens_of(&request["messages"].to_string());
    let completion_tokens = tokens_of(&text).saturating_mul(choices);
    let usage = reported(&model, prompt_tokens, completion_tokens).map(|(input, output)| {
        json!({
            "prompt_tokens": input, "completion_tokens": output,
            "total_tokens": input.saturating_add(output), "prompt_tokens_details": {"cached_tokens": 0}
        })
    });
    let created = crate::server::time::now_ms() / 1000;
    if !streamed {
        let all: Vec<Value> = (0..choices)
            .map(|i| json!({"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}))
            .collect();
        let mut body =
            json!({"id": id, "object": "chat.completion", "created": created, "model": model, "choices": all});
        if let Some(u) = usage {
            body["usage"] = u;
        }
        return Ok(UpstreamResponse::json(body));
    }
    let chunk = |delta: Value, finish: Value| {
        let all: Vec<Value> =
            (0..choices).map(|i| json!({"index": i, "delta": delta, "finish_reason": finish})).collect();
        sse::write(
            None,
            &json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": all})
                .to_string(),
        )
    };
    let mut chunks = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    for piece in text_pieces {
        chunks.push(chunk(json!({"content": piece}), Value::Null));
    }
    chunks.push(chunk(json!({}), json!("stop")));
    if let Some(usage) = usage.filter(|_| request["stream_options"]["include_usage"] == true) {
        chunks.push(sse::write(
            None,
            &json!({"id": id, "object": "chat.completion.chunk", "created": created,
            "model": model, "choices": [], "usage": usage})
            .to_string(),
        ));
    }
    chunks.push(sse::write(None, "[DONE]"));
    Ok(UpstreamResponse::stream(stream_of(chunks, &model, shape.pace)))
}

/// An OpenAI request (other than the Responses API's) answered at `path`.
pub async fn openai_at(path: &str, request: &Value, shape: Shape) -> Result<UpstreamResponse, UpstreamError> {
    match path {
        "/v1/embeddings" => embeddings::answer(request, shape).await,
        "/v1/completions" => completions::answer(request, shape).await,
        "/v1/audio/speech" => speech::answer(request, shape).await,
        "/v1/images/generations" | "/v1/images/edits" => images::answer(path, request, shape).await,
        _ => openai(request, shape).await,
    }
}

/// A `multipart/form-data` request (an image edit) as the JSON the mock reads: its text fields (`n` and
/// `partial_images` as numbers, `stream` as a boolean) and, for each file field, how many files it holds.
pub fn form_request(content_type: &axum::http::HeaderValue, body: &[u8]) -> Option<Value> {
    let form = super::multipart::read(content_type.to_str().ok()?, body).ok()?;
    let mut request = serde_json::Map::new();
    for (name, value) in &form.fields {
        let v = match name.as_str() {
            "n" | "partial_images" => value.parse::<u64>().map(Value::from).unwrap_or_else(|_| json!(value)),
            "stream" => json!(value == "true"),
            _ => json!(value),
        };
        request.insert(name.clone(), v);
    }
    for name in form.files.keys() {
        let name = name.trim_end_matches("[]");
        request.insert(name.to_string(), json!(form.file_count(name)));
    }
    Some(Value::Object(request))
}

/// A stable, non-cryptographic hash for deterministic ids.
pub(super) fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn streamed_text_pieces(request: Value, shape: Shape) -> usize {
        let Ok(UpstreamResponse { body: super::super::upstream::UpstreamBody::Stream(mut s) }) =
            anthropic(&request, shape).await
        else {
            panic!("a stream was asked for");
        };
        let mut parser = sse::Parser::default();
        let mut n = 0;
        while let Some(chunk) = futures_util::StreamExt::next(&mut s).await {
            n += parser.push(&chunk.unwrap()).iter().filter(|e| e.data.contains("text_delta")).count();
        }
        n
    }

    #[tokio::test]
    async fn the_chunk_count_knob_sets_how_many_pieces_a_stream_has() {
        let request =
            json!({"model": "claude-haiku-4-5", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
        let default = streamed_text_pieces(request.clone(), Shape::default()).await;
        assert!(default > 3, "the answer comes in pieces of three words: {default}");
        for n in [1, 7, 200] {
            let shape = Shape { pieces: Some(n), ..Shape::default() };
            assert_eq!(streamed_text_pieces(request.clone(), shape).await, n);
        }
    }

    #[tokio::test]
    async fn latency_delays_the_answer() {
        let request = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
        let started = std::time::Instant::now();
        let shape = Shape { latency: Duration::from_millis(30), ..Shape::default() };
        openai(&request, shape).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
