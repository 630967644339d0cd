//! The built-in mock upstream's OpenAI Responses API: create (JSON, SSE `response.*` events, background),
//! retrieve, delete, cancel and input items, with realistic usage (cached input, reasoning tokens).
//!
//! Scripted behaviour: a prompt containing "use a tool" makes the answer a call of the request's first
//! function tool (its required arguments filled in: strings with `echo hello from the mock tool`); a
//! request whose last input is a function call's output is answered by quoting that output. A request with
//! `reasoning` gets a reasoning item with a summary. The model-name suffixes of `mock` apply (`-fail-500`,
//! `-fail-429`, `-fail-midstream`, `-slow`, `-usage-none`, `-usage-max`, `-usage-huge`). Stored responses
//! (`store` not false) live in memory, the newest [`KEEP`]; a background response completes
//! [`BACKGROUND_RUN`] after it was created unless cancelled first.

use super as mock;
use super::Shape;
use crate::server::proxy::responses::items;
use crate::server::proxy::sse;
use crate::server::proxy::upstream::{UpstreamError, UpstreamResponse};
use crate::server::time::now_ms;
use axum::body::Bytes;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Stored responses kept in memory, newest first out last.
pub const KEEP: usize = 10_000;
/// How long a background response runs before it completes.
pub const BACKGROUND_RUN: Duration = Duration::from_millis(300);
/// What the scripted tool call asks a shell tool to run.
pub const TOOL_COMMAND: &str = "echo hello from the mock tool";

struct Kept {
    /// The response as it is once finished.
    finished: Value,
    input_items: Vec<Value>,
    /// A background response still running until then.
    ready_at: Option<Instant>,
    cancelled: bool,
}

/// The responses the mock stored.
#[derive(Default)]
pub struct Store {
    inner: Mutex<(HashMap<String, Kept>, VecDeque<String>)>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.inner.lock().unwrap_or_else(PoisonError::into_inner).0.len();
        f.debug_struct("Store").field("kept", &kept).finish()
    }
}

impl Store {
    fn keep(&self, id: &str, kept: Kept) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (map, order) = &mut *inner;
        map.insert(id.to_string(), kept);
        order.push_back(id.to_string());
        while order.len() > KEEP {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    /// The response as it stands now.
    fn current(&self, id: &str) -> Option<Value> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.0.get(id).map(|k| view(k, Instant::now()))
    }
}

fn view(k: &Kept, now: Instant) -> Value {
    let mut r = k.finished.clone();
    if k.cancelled {
        r["status"] = json!("cancelled");
        r["output"] = json!([]);
        r["usage"] = Value::Null;
    } else if k.ready_at.is_some_and(|at| now < at) {
        r["status"] = json!("in_progress");
        r["output"] = json!([]);
        r["usage"] = Value::Null;
    }
    r
}

fn not_found(id: &str) -> UpstreamError {
    let body = json!({"error": {"message": format!("Response with id '{id}' not found."), "type": "invalid_request_error", "param": null, "code": null}});
    UpstreamError::Status { status: 404, body: body.to_string() }
}

fn bad_request(message: &str) -> UpstreamError {
    let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}});
    UpstreamError::Status { status: 400, body: body.to_string() }
}

/// One Responses API request to the mock: `method` and `path` (`/v1/responses...`), with its body.
pub async fn handle(
    method: &str,
    path: &str,
    body: &[u8],
    shape: Shape,
    store: &Store,
) -> Result<UpstreamResponse, UpstreamError> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let rest = path.strip_prefix("/v1/responses").unwrap_or(path);
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    match (method, parts.as_slice()) {
        ("POST", []) => {
            let request: Value = serde_json::from_slice(body).map_err(|_| bad_request("The body is not JSON."))?;
            create(&request, shape, store).await
        }
        ("GET", [id]) => store.current(id).map(UpstreamResponse::json).ok_or_else(|| not_found(id)),
        ("DELETE", [id]) => {
            let mut inner = store.inner.lock().unwrap_or_else(PoisonError::into_inner);
            match inner.0.remove(*id) {
                Some(_) => Ok(UpstreamResponse::json(json!({"id": id, "object": "response.deleted", "deleted": true}))),
                None => Err(not_found(id)),
            }
        }
        ("POST", [id, "cancel"]) => {
            let mut inner = store.inner.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let Some(k) = inner.0.get_mut(*id) else { return Err(not_found(id)) };
            match k.ready_at {
                None => Err(bad_request("Only responses created with background=true can be cancelled.")),
                Some(at) if now >= at && !k.cancelled => Err(bad_request("Cannot cancel a completed response.")),
                Some(_) => {
                    k.cancelled = true;
                    Ok(UpstreamResponse::json(view(k, now)))
                }
            }
        }
        ("GET", [id, "input_items"]) => {
            let inner = store.inner.lock().unwrap_or_else(PoisonError::into_inner);
            let k = inner.0.get(*id).ok_or_else(|| not_found(id))?;
            Ok(UpstreamResponse::json(items::list(&k.input_items)))
        }
        _ => Err(UpstreamError::Status { status: 404, body: "mock upstream: no such endpoint".into() }),
    }
}

/// The required arguments of a function tool, filled in.
fn scripted_arguments(parameters: &Value) -> Value {
    let mut args = Map::new();
    for name in parameters["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        let value = match parameters["properties"][name]["type"].as_str() {
            Some("string") => json!(TOOL_COMMAND),
            Some("number" | "integer") => json!(1),
            Some("boolean") => json!(false),
            Some("array") => json!([]),
            Some("object") => json!({}),
            _ => Value::Null,
        };
        args.insert(name.to_string(), value);
    }
    Value::Object(args)
}

/// What the mock answers a request with: a function call, or text.
enum Answer {
    Text(String),
    Call { name: String, arguments: String },
}

fn answer(model: &str, request: &Value, input: &[Value]) -> Answer {
    if let Some(last) = input.last().filter(|i| i["type"] == "function_call_output") {
        let output: String = items::text_of(&last["output"]).chars().take(200).collect();
        return Answer::Text(format!("The tool answered: {output}"));
    }
    let prompt = items::last_user_text(input);
    let tool = request["tools"].as_array().into_iter().flatten().find(|t| t["type"] == "function");
    match tool {
        Some(t) if prompt.to_lowercase().contains("use a tool") => Answer::Call {
            name: t["name"].as_str().unwrap_or("tool").to_string(),
            arguments: scripted_arguments(&t["parameters"]).to_string(),
        },
        _ => Answer::Text(mock::answer_for(model, &prompt)),
    }
}

async fn create(request: &Value, shape: Shape, store: &Store) -> Result<UpstreamResponse, UpstreamError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let model = request["model"].as_str().unwrap_or("gpt").to_string();
    if let Some(e) = mock::failure(&model) {
        return Err(e);
    }
    let background = request["background"] == true;
    let stored = request["store"] != false;
    if background && !stored {
        return Err(bad_request("Background responses must be stored (store=true)."));
    }
    if !background {
        mock::first_byte_wait(&model, shape).await;
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let id = format!("resp_mock{:012x}{n:06x}", mock::fxhash(&request.to_string()) >> 16);
    let input = items::input_items(&request["input"], &format!("msg_in{n:06x}"));
    let streamed = request["stream"] == true && !background;
    let created_at = now_ms() / 1000;

    let reasoning = request["reasoning"].is_object()
        && !matches!(request["reasoning"]["effort"].as_str(), Some("none" | "minimal"));
    let thought = format!("The request has {} input items; a short, deterministic answer fits.", input.len());
    let answer = answer(&model, request, &input);
    let (text_pieces, call) = match &answer {
        Answer::Text(t) => (mock::pieces(t, if streamed { shape.pieces } else { None }), None),
        Answer::Call { name, arguments } => (Vec::new(), Some((name.clone(), arguments.clone()))),
    };
    let text = text_pieces.concat();
    let reasoning_tokens = if reasoning { mock::tokens_of(&thought) } else { 0 };
    let visible = if call.is_some() {
        mock::tokens_of(&call.as_ref().map(|c| c.1.clone()).unwrap_or_default())
    } else {
        mock::tokens_of(&text)
    };
    let input_tokens = mock::tokens_of(&format!("{}{}{}", request["instructions"], request["input"], request["tools"]));
    // A request repeating a long prompt reads part of it from the cache, as OpenAI's prompt caching does.
    let cached = if input_tokens >= 1024 { input_tokens / 2 / 128 * 128 } else { 0 };
    let usage = mock::reported(&model, input_tokens, visible.saturating_add(reasoning_tokens)).map(|(i, o)| {
        json!({"input_tokens": i, "input_tokens_details": {"cached_tokens": cached.min(i)},
               "output_tokens": o, "output_tokens_details": {"reasoning_tokens": reasoning_tokens.min(o)},
               "total_tokens": i.saturating_add(o)})
    });

    // The output items, finished.
    let mut output = Vec::new();
    let rs_id = format!("rs_mock{n:06x}");
    let encrypted = request["include"].as_array().is_some_and(|i| i.iter().any(|x| x == "reasoning.encrypted_content"));
    if reasoning {
        let mut item =
            json!({"type": "reasoning", "id": rs_id, "summary": [{"type": "summary_text", "text": thought}]});
        if encrypted {
            item["encrypted_content"] = json!("mock-encrypted-reasoning");
        }
        output.push(item);
    }
    let item_id = format!("msg_mock{n:06x}");
    let fc_id = format!("fc_mock{n:06x}");
    let call_id = format!("call_mock{n:06x}");
    match &call {
        Some((name, arguments)) => output.push(json!({"type": "function_call", "id": fc_id, "call_id": call_id,
            "name": name, "arguments": arguments, "status": "completed"})),
        None => output.push(json!({"type": "message", "id": item_id, "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]})),
    }
    // Offered OpenAI's web search tool, the mock searches once (an output item of its own).
    let searches = request["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["type"].as_str().is_some_and(|k| k.starts_with("web_search")));
    if searches {
        output.push(json!({"type": "web_search_call", "id": format!("ws_mock{n:06x}"), "status": "completed",
            "action": {"type": "search", "query": "mock search"}}));
    }
    let base = |status: &str, output: Value, usage: Option<&Value>| {
        let mut r = json!({
            "id": id, "object": "response", "created_at": created_at, "status": status, "background": background,
            "error": null, "incomplete_details": null, "instructions": request["instructions"],
            "max_output_tokens": request["max_output_tokens"], "model": model, "output": output,
            "parallel_tool_calls": request["parallel_tool_calls"].as_bool().unwrap_or(true),
            "previous_response_id": request["previous_response_id"],
            "reasoning": {"effort": request["reasoning"]["effort"], "summary": request["reasoning"]["summary"]},
            "store": stored, "temperature": request["temperature"].as_f64().unwrap_or(1.0),
            "text": {"format": {"type": "text"}}, "tool_choice": request["tool_choice"].as_str().unwrap_or("auto"),
            "tools": request["tools"].as_array().cloned().unwrap_or_default(),
            "top_p": request["top_p"].as_f64().unwrap_or(1.0), "truncation": "disabled", "user": null,
            "metadata": request["metadata"].as_object().cloned().unwrap_or_default()
        });
        if let Some(u) = usage {
            r["usage"] = u.clone();
        } else {
            r["usage"] = Value::Null;
        }
        r
    };
    let finished = base("completed", Value::Array(output.clone()), usage.as_ref());
    if stored {
        let ready_at = background.then(|| {
            let run = if model.ends_with("-slow") { BACKGROUND_RUN * 5 } else { BACKGROUND_RUN };
            Instant::now() + run
        });
        store.keep(&id, Kept { finished: finished.clone(), input_items: input.clone(), ready_at, cancelled: false });
    }
    if background {
        return Ok(UpstreamResponse::json(base("queued", json!([]), None)));
    }
    if !streamed {
        return Ok(UpstreamResponse::json(finished));
    }

    let mut seq = 0u64;
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut emit = |name: &str, mut data: Value| {
        data["type"] = json!(name);
        data["sequence_number"] = json!(seq);
        seq += 1;
        chunks.push(sse::write(Some(name), &data.to_string()));
    };
    emit("response.created", json!({"response": base("in_progress", json!([]), None)}));
    emit("response.in_progress", json!({"response": base("in_progress", json!([]), None)}));
    let mut index = 0;
    if reasoning {
        emit(
            "response.output_item.added",
            json!({"output_index": index, "item": {"type": "reasoning", "id": rs_id, "summary": []}}),
        );
        emit(
            "response.reasoning_summary_part.added",
            json!({"item_id": rs_id, "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}),
        );
        for piece in mock::pieces(&thought, None) {
            emit(
                "response.reasoning_summary_text.delta",
                json!({"item_id": rs_id, "output_index": index, "summary_index": 0, "delta": piece}),
            );
        }
        emit(
            "response.reasoning_summary_text.done",
            json!({"item_id": rs_id, "output_index": index, "summary_index": 0, "text": thought}),
        );
        emit(
            "response.reasoning_summary_part.done",
            json!({"item_id": rs_id, "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": thought}}),
        );
        emit("response.output_item.done", json!({"output_index": index, "item": output[0]}));
        index += 1;
    }
    match &call {
        Some((name, arguments)) => {
            emit(
                "response.output_item.added",
                json!({"output_index": index, "item": {"type": "function_call", "id": fc_id, "call_id": call_id, "name": name, "arguments": "", "status": "in_progress"}}),
            );
            let cut = arguments.len() / 2;
            let cut = (0..=cut).rev().find(|i| arguments.is_char_boundary(*i)).unwrap_or(0);
            for delta in [&arguments[..cut], &arguments[cut..]] {
                emit(
                    "response.function_call_arguments.delta",
                    json!({"item_id": fc_id, "output_index": index, "delta": delta}),
                );
            }
            emit(
                "response.function_call_arguments.done",
                json!({"item_id": fc_id, "output_index": index, "arguments": arguments}),
            );
        }
        None => {
            emit(
                "response.output_item.added",
                json!({"output_index": index, "item": {"type": "message", "id": item_id, "status": "in_progress", "role": "assistant", "content": []}}),
            );
            emit(
                "response.content_part.added",
                json!({"item_id": item_id, "output_index": index, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
            );
            for piece in &text_pieces {
                emit(
                    "response.output_text.delta",
                    json!({"item_id": item_id, "output_index": index, "content_index": 0, "delta": piece, "logprobs": []}),
                );
            }
            emit(
                "response.output_text.done",
                json!({"item_id": item_id, "output_index": index, "content_index": 0, "text": text, "logprobs": []}),
            );
            emit(
                "response.content_part.done",
                json!({"item_id": item_id, "output_index": index, "content_index": 0, "part": {"type": "output_text", "text": text, "annotations": []}}),
            );
        }
    }
    emit("response.output_item.done", json!({"output_index": index, "item": output[index]}));
    emit("response.completed", json!({"response": finished}));
    Ok(UpstreamResponse::stream(mock::stream_of(chunks, &model, shape.pace)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::proxy::upstream::UpstreamBody;

    fn json_of(r: UpstreamResponse) -> Value {
        match r.body {
            UpstreamBody::Json(b) => serde_json::from_slice(&b).unwrap(),
            UpstreamBody::Stream(_) => panic!("a JSON answer was expected"),
        }
    }

    #[tokio::test]
    async fn a_stored_response_can_be_retrieved_listed_and_deleted() {
        let store = Store::default();
        let body = json!({"model": "gpt-5", "input": "Hi", "reasoning": {"effort": "low"}}).to_string();
        let r = json_of(handle("POST", "/v1/responses", body.as_bytes(), Shape::default(), &store).await.unwrap());
        let id = r["id"].as_str().unwrap().to_string();
        assert_eq!(r["status"], "completed");
        assert_eq!(r["output"][0]["type"], "reasoning");
        assert!(r["usage"]["output_tokens_details"]["reasoning_tokens"].as_u64().unwrap() > 0);
        let got = json_of(handle("GET", &format!("/v1/responses/{id}"), b"", Shape::default(), &store).await.unwrap());
        assert_eq!(got, r);
        let items = json_of(
            handle("GET", &format!("/v1/responses/{id}/input_items"), b"", Shape::default(), &store).await.unwrap(),
        );
        assert_eq!(items["data"][0]["content"][0]["text"], "Hi");
        handle("DELETE", &format!("/v1/responses/{id}"), b"", Shape::default(), &store).await.unwrap();
        let gone = handle("GET", &format!("/v1/responses/{id}"), b"", Shape::default(), &store).await;
        assert!(matches!(gone, Err(UpstreamError::Status { status: 404, .. })));
    }

    #[tokio::test]
    async fn use_a_tool_calls_the_first_function_with_its_required_arguments() {
        let store = Store::default();
        let body = json!({"model": "gpt-5", "input": "Please use a tool", "store": false, "tools": [
            {"type": "web_search"},
            {"type": "function", "name": "exec_command", "parameters": {"type": "object", "required": ["cmd"], "properties": {"cmd": {"type": "string"}}}}
        ]})
        .to_string();
        let r = json_of(handle("POST", "/v1/responses", body.as_bytes(), Shape::default(), &store).await.unwrap());
        assert_eq!(r["output"][0]["type"], "function_call");
        assert_eq!(r["output"][0]["name"], "exec_command");
        assert_eq!(r["output"][0]["arguments"], json!({"cmd": TOOL_COMMAND}).to_string());
        let path = format!("/v1/responses/{}", r["id"].as_str().unwrap());
        let gone = handle("GET", &path, b"", Shape::default(), &store).await;
        assert!(gone.is_err(), "store=false keeps nothing");
    }

    #[tokio::test]
    async fn a_background_response_completes_later_unless_cancelled() {
        let store = Store::default();
        let body = json!({"model": "gpt-5", "input": "Hi", "background": true}).to_string();
        let a = json_of(handle("POST", "/v1/responses", body.as_bytes(), Shape::default(), &store).await.unwrap());
        let b = json_of(handle("POST", "/v1/responses", body.as_bytes(), Shape::default(), &store).await.unwrap());
        assert_eq!(a["status"], "queued");
        let cancelled = json_of(
            handle(
                "POST",
                &format!("/v1/responses/{}/cancel", b["id"].as_str().unwrap()),
                b"",
                Shape::default(),
                &store,
            )
            .await
            .unwrap(),
        );
        assert_eq!(cancelled["status"], "cancelled");
        tokio::time::sleep(BACKGROUND_RUN + Duration::from_millis(20)).await;
        let done = json_of(
            handle("GET", &format!("/v1/responses/{}", a["id"].as_str().unwrap()), b"", Shape::default(), &store)
                .await
                .unwrap(),
        );
        assert_eq!(done["status"], "completed");
        assert!(done["usage"]["input_tokens"].as_u64().unwrap() > 0);
    }
}
