//! The mock's OpenAI legacy text completions (`POST /v1/completions`): each prompt (a string, or a list of
//! them) continued with the mock's deterministic answer (cut at `max_tokens`, 16 unless asked), `n`
//! choices a prompt (`best_of` candidates generated, and billed, a prompt), as JSON or as SSE chunks
//! (`choices[].text`, then usage when `stream_options.include_usage` is on, then `[DONE]`), with the failure
//! suffixes of `mock`.

use super::{answer_for, failure, first_byte_wait, fxhash, pieces, reported, stream_of, tokens_of, Shape};
use crate::server::proxy::sse;
use crate::server::proxy::upstream::{UpstreamError, UpstreamResponse};
use serde_json::{json, Value};

/// The prompts' texts: a string (or token ids) is one prompt; a list of strings (or token lists) is many.
fn prompts_of(prompt: &Value) -> Vec<String> {
    match prompt {
        Value::Array(items) if !items.is_empty() && !items.iter().all(Value::is_number) => {
            items.iter().map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string)).collect()
        }
        Value::String(s) => vec![s.clone()],
        other => vec![other.to_string()],
    }
}

pub async fn answer(request: &Value, shape: Shape) -> Result<UpstreamResponse, UpstreamError> {
    let model = request["model"].as_str().unwrap_or("gpt-3.5-turbo-instruct").to_string();
    if let Some(e) = failure(&model) {
        return Err(e);
    }
    first_byte_wait(&model, shape).await;
    let streamed = request["stream"] == true;
    let choices = request["n"].as_u64().unwrap_or(1).clamp(1, 128);
    let generated = request["best_of"].as_u64().unwrap_or(1).clamp(choices, 128);
    // Cut to `max_tokens` (OpenAI's default for this API is 16), as a model stops at it.
    let most = usize::try_from(request["max_tokens"].as_u64().unwrap_or(16).saturating_mul(4)).unwrap_or(usize::MAX);
    // Each prompt's answer: its pieces and why it ended.
    let answers: Vec<(Vec<String>, &str)> = prompts_of(&request["prompt"])
        .iter()
        .map(|prompt| {
            let whole = answer_for(&model, prompt);
            let kept: String = whole.chars().take(most).collect();
            let finish = if kept.len() < whole.len() { "length" } else { "stop" };
            (pieces(&kept, if streamed { shape.pieces } else { None }), finish)
        })
        .collect();
    let prompt_tokens = tokens_of(&request["prompt"].to_string());
    let completion_tokens =
        answers.iter().map(|(p, _)| tokens_of(&p.concat()).saturating_mul(generated)).fold(0u64, u64::saturating_add);
    let id = format!("cmpl-mock{:016x}", fxhash(&request.to_string()));
    let usage = reported(&model, prompt_tokens, completion_tokens).map(|(input, output)| {
        json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input.saturating_add(output)})
    });
    let created = crate::server::time::now_ms() / 1000;
    // Choice `p * n + i` is prompt `p`'s `i`-th, as OpenAI numbers them.
    let index = |p: usize, i: u64| u64::try_from(p).unwrap_or(0).saturating_mul(choices).saturating_add(i);
    let body = |all: Vec<Value>| json!({"id": id, "object": "text_completion", "created": created, "model": model, "choices": all});
    if !streamed {
        let all: Vec<Value> = answers
            .iter()
            .enumerate()
            .flat_map(|(p, (pieces, finish))| {
                let text = pieces.concat();
                (0..choices).map(
                    move |i| json!({"index": index(p, i), "text": text, "logprobs": null, "finish_reason": finish}),
                )
            })
            .collect();
        let mut whole = body(all);
        if let Some(u) = usage {
            whole["usage"] = u;
        }
        return Ok(UpstreamResponse::json(whole));
    }
    let chunk = |p: usize, text: &str, finish: Value| {
        let all: Vec<Value> = (0..choices)
            .map(|i| json!({"index": index(p, i), "text": text, "logprobs": null, "finish_reason": finish}))
            .collect();
        sse::write(None, &body(all).to_string())
    };
    let mut chunks = Vec::new();
    for (p, (pieces, finish)) in answers.iter().enumerate() {
        chunks.extend(pieces.iter().map(|piece| chunk(p, piece, Value::Null)));
        chunks.push(chunk(p, "", json!(finish)));
    }
    if let Some(usage) = usage.filter(|_| request["stream_options"]["include_usage"] == true) {
        let mut last = body(Vec::new());
        last["usage"] = usage;
        chunks.push(sse::write(None, &last.to_string()));
    }
    chunks.push(sse::write(None, "[DONE]"));
    Ok(UpstreamResponse::stream(stream_of(chunks, &model, shape.pace)))
}
