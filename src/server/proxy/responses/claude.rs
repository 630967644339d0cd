//! The Responses API for Claude models: a request (with the conversation it continues) as an Anthropic
//! Messages request, and the answer back as a response object or as `response.*` stream events. Text,
//! images, function calls and their outputs, and reasoning (as thinking, its signature kept as the
//! reasoning item's `encrypted_content` so it can be sent back) are translated; other tool kinds are not
//! offered to Claude.

use crate::server::proxy::messages::events::{Block, Delta, Event, UsageReport};
use crate::server::proxy::messages::request::{image_block, push, DEFAULT_MAX_TOKENS};
use crate::server::proxy::sse;
use axum::body::Bytes;
use serde_json::{json, Map, Value};

/// Thinking budget for each reasoning effort.
fn thinking_budget(effort: &str) -> Option<u64> {
    match effort {
        "low" => Some(2_048),
        "medium" => Some(8_192),
        "high" | "xhigh" => Some(24_576),
        _ => None,
    }
}

/// A Responses content part (or a message's string content) as Anthropic content blocks.
fn blocks_of(content: &Value) -> Vec<Value> {
    match content {
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match p["type"].as_str() {
                Some("input_text" | "output_text" | "text") => Some(json!({"type": "text", "text": p["text"]})),
                Some("input_image") => Some(image_block(p["image_url"].as_str()?)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A Responses request, continuing `conversation` (the items so far, this request's input last), as an
/// Anthropic Messages request.
pub fn to_messages(request: &Value, conversation: &[Value]) -> Value {
    let requested = request["max_output_tokens"].as_u64();
    let has_functions = request["tools"].as_array().is_some_and(|t| t.iter().any(|t| t["type"] == "function"));
    let forced = has_functions
        && match &request["tool_choice"] {
            Value::String(s) => s == "required",
            Value::Object(o) => o.get("type").and_then(Value::as_str) == Some("function"),
            _ => false,
        };
    // Anthropic refuses thinking together with a forced tool: the forced tool wins.
    let budget = request["reasoning"]["effort"].as_str().and_then(thinking_budget).filter(|_| !forced);
    // `max_output_tokens` counts reasoning too, as Anthropic's `max_tokens` counts thinking.
    let (max_tokens, budget) = match (requested, budget) {
        (Some(max), Some(b)) => (max, Some(b.min(max.saturating_sub(1_024))).filter(|b| *b >= 1_024)),
        (None, Some(b)) => (b + DEFAULT_MAX_TOKENS, Some(b)),
        (max, None) => (max.unwrap_or(DEFAULT_MAX_TOKENS), None),
    };
    let mut system: Vec<String> = request["instructions"].as_str().map(str::to_string).into_iter().collect();
    let mut messages: Vec<Value> = Vec::new();
    for item in conversation {
        match (item["type"].as_str(), item["role"].as_str()) {
            (Some("message"), Some("system" | "developer")) => {
                system.push(super::items::text_of(&item["content"]));
            }
            (Some("message"), Some("assistant")) => push(&mut messages, "assistant", blocks_of(&item["content"])),
            (Some("message"), _) => push(&mut messages, "user", blocks_of(&item["content"])),
            (Some("function_call"), _) => {
                let input: Value = item["arguments"]
                    .as_str()
                    .and_then(|a| serde_json::from_str(a).ok())
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({}));
                push(
                    &mut messages,
                    "assistant",
                    vec![json!({"type": "tool_use", "id": item["call_id"], "name": item["name"], "input": input})],
                );
            }
            (Some("function_call_output"), _) => push(
                &mut messages,
                "user",
                vec![
                    json!({"type": "tool_result", "tool_use_id": item["call_id"], "content": super::items::text_of(&item["output"])}),
                ],
            ),
            // Claude's own thinking, sent back with its signature (only while thinking is on).
            (Some("reasoning"), _) if budget.is_some() => {
                if let Some(signature) = item["encrypted_content"].as_str() {
                    let thinking: String =
                        item["summary"].as_array().into_iter().flatten().filter_map(|s| s["text"].as_str()).collect();
                    push(
                        &mut messages,
                        "assistant",
                        vec![json!({"type": "thinking", "thinking": thinking, "signature": signature})],
                    );
                }
            }
            _ => {}
        }
    }
    // In a user message, tool results come before anything else (Anthropic's rule).
    for m in messages.iter_mut().filter(|m| m["role"] == "user") {
        if let Some(content) = m["content"].as_array_mut() {
            content.sort_by_key(|b| b["type"] != "tool_result");
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), request["model"].clone());
    out.insert("messages".into(), Value::Array(messages));
    out.insert("max_tokens".into(), json!(max_tokens));
    let system: Vec<String> = system.into_iter().filter(|s| !s.is_empty()).collect();
    if !system.is_empty() {
        out.insert("system".into(), json!(system.join("\n\n")));
    }
    match budget {
        Some(b) => {
            out.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": b}));
        }
        // Anthropic accepts sampling settings only without thinking.
        None => {
            for key in ["temperature", "top_p"] {
                if !request[key].is_null() {
                    out.insert(key.into(), request[key].clone());
                }
            }
        }
    }
    let tools: Vec<Value> = request["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["type"] == "function")
        .map(|t| {
            json!({
                "name": t["name"],
                "description": t["description"].as_str().unwrap_or(""),
                "input_schema": if t["parameters"].is_object() { t["parameters"].clone() } else { json!({"type": "object", "properties": {}}) }
            })
        })
        .collect();
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        let mut choice = match &request["tool_choice"] {
            Value::String(s) if s == "required" => json!({"type": "any"}),
            Value::String(s) if s == "none" => json!({"type": "none"}),
            Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
                json!({"type": "tool", "name": o["name"]})
            }
            _ => json!({"type": "auto"}),
        };
        if request["parallel_tool_calls"] == false && choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = json!(true);
        }
        if choice != json!({"type": "auto"}) {
            out.insert("tool_choice".into(), choice);
        }
    }
    if request["stream"] == true {
        out.insert("stream".into(), json!(true));
    }
    Value::Object(out)
}

/// Anthropic's usage as the Responses API reports it (cache reads and writes count as input).
fn usage_of(u: &UsageReport) -> Value {
    let input = u.prompt_tokens();
    let output = u.output_tokens.unwrap_or(0);
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": u.cache_read_input_tokens.unwrap_or(0)},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output
    })
}

/// The response object around `output`: the request's settings echoed, as OpenAI answers.
fn response(request: &Value, id: &str, created_at: i64, status: &str, output: Vec<Value>, usage: Value) -> Value {
    let incomplete = (status == "incomplete").then(|| json!({"reason": "max_output_tokens"}));
    json!({
        "id": id, "object": "response", "created_at": created_at, "status": status, "background": false,
        "error": null, "incomplete_details": incomplete, "instructions": request["instructions"],
        "max_output_tokens": request["max_output_tokens"], "model": request["model"], "output": output,
        "parallel_tool_calls": request["parallel_tool_calls"].as_bool().unwrap_or(true),
        "previous_response_id": request["previous_response_id"],
        "reasoning": {"effort": request["reasoning"]["effort"], "summary": request["reasoning"]["summary"]},
        "store": request["store"] != false, "temperature": request["temperature"].as_f64().unwrap_or(1.0),
        "text": {"format": {"type": "text"}}, "tool_choice": request["tool_choice"].clone(),
        "tools": request["tools"].as_array().cloned().unwrap_or_default(),
        "top_p": request["top_p"].as_f64().unwrap_or(1.0), "truncation": "disabled", "user": null,
        "metadata": request["metadata"].as_object().cloned().unwrap_or_default(),
        "usage": usage
    })
}

fn status_of(stop_reason: Option<&str>) -> &'static str {
    if stop_reason == Some("max_tokens") {
        "incomplete"
    } else {
        "completed"
    }
}

fn message_item(id: &str, text: &str) -> Value {
    json!({"type": "message", "id": id, "status": "completed", "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

fn reasoning_item(id: &str, thinking: &str, signature: &str) -> Value {
    json!({"type": "reasoning", "id": id, "summary": [{"type": "summary_text", "text": thinking}],
           "encrypted_content": signature})
}

fn call_item(id: &str, call_id: &str, name: &str, arguments: &str) -> Value {
    json!({"type": "function_call", "id": id, "call_id": call_id, "name": name, "arguments": arguments,
           "status": "completed"})
}

/// A whole Anthropic Messages answer as a response object with id `id`.
pub fn response_of(message: &Value, request: &Value, id: &str, created_at: i64) -> Value {
    let mut output = Vec::new();
    for (i, block) in message["content"].as_array().into_iter().flatten().enumerate() {
        match block["type"].as_str() {
            Some("thinking") => output.push(reasoning_item(
                &format!("rs_{id}_{i}"),
                block["thinking"].as_str().unwrap_or(""),
                block["signature"].as_str().unwrap_or(""),
            )),
            Some("text") => output.push(message_item(&format!("msg_{id}_{i}"), block["text"].as_str().unwrap_or(""))),
            Some("tool_use") => output.push(call_item(
                &format!("fc_{id}_{i}"),
                block["id"].as_str().unwrap_or(""),
                block["name"].as_str().unwrap_or(""),
                &block["input"].to_string(),
            )),
            _ => {}
        }
    }
    let status = status_of(message["stop_reason"].as_str());
    response(request, id, created_at, status, output, usage_of(&UsageReport::of(&message["usage"])))
}

/// One content block being streamed.
struct Open {
    /// Anthropic's block index.
    block: u64,
    output_index: usize,
    item_id: String,
    kind: Kind,
    text: String,
    signature: String,
}

#[derive(Clone, PartialEq)]
enum Kind {
    Text,
    Thinking,
    Call { call_id: String, name: String },
}

/// Turns Anthropic stream events (parsed once, by the caller) into Responses API events, and keeps the
/// finished response for storing.
pub struct Stream {
    request: Value,
    id: String,
    created_at: i64,
    sequence: u64,
    output: Vec<Value>,
    open: Vec<Open>,
    usage: UsageReport,
    stop_reason: Option<String>,
    finished: Option<Value>,
}

impl Stream {
    pub fn new(request: &Value, id: &str, created_at: i64) -> Self {
        // The stream echoes the request's settings, not its input.
        let mut request = request.clone();
        if let Some(o) = request.as_object_mut() {
            o.remove("input");
        }
        Self {
            request,
            id: id.to_string(),
            created_at,
            sequence: 0,
            output: Vec::new(),
            open: Vec::new(),
            usage: UsageReport::default(),
            stop_reason: None,
            finished: None,
        }
    }

    fn emit(&mut self, out: &mut Vec<Bytes>, name: &str, mut data: Value) {
        data["type"] = json!(name);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.push(sse::write(Some(name), &data.to_string()));
    }

    fn now(&self, status: &str, output: Vec<Value>, usage: Value) -> Value {
        response(&self.request, &self.id, self.created_at, status, output, usage)
    }

    /// The finished response, once the stream ended properly.
    pub fn finished(&self) -> Option<&Value> {
        self.finished.as_ref()
    }

    /// One Anthropic stream event (parsed once, by the relay) as the Responses API events it becomes.
    pub fn on_event(&mut self, event: &Event<'_>) -> Vec<Bytes> {
        let mut out = Vec::new();
        match event {
            Event::MessageStart { usage, .. } => {
                self.usage.merge(usage);
                let r = self.now("in_progress", Vec::new(), Value::Null);
                self.emit(&mut out, "response.created", json!({"response": r}));
                self.emit(&mut out, "response.in_progress", json!({"response": r}));
            }
            Event::BlockStart { index, block } => self.start(*index, block, &mut out),
            Event::BlockDelta { index, delta } => self.delta(*index, delta, &mut out),
            Event::BlockStop { index } => self.stop(*index, &mut out),
            Event::MessageDelta { stop_reason, usage } => {
                self.usage.merge(usage);
                if let Some(r) = stop_reason {
                    self.stop_reason = Some(r.to_string());
                }
            }
            Event::MessageStop => {
                let status = status_of(self.stop_reason.as_deref());
                let r = self.now(status, self.output.clone(), usage_of(&self.usage));
                let name = if status == "incomplete" { "response.incomplete" } else { "response.completed" };
                self.emit(&mut out, name, json!({"response": r}));
                self.finished = Some(r);
            }
            Event::Error { message } => {
                let mut r = self.now("failed", self.output.clone(), usage_of(&self.usage));
                r["error"] = json!({"code": "server_error", "message": message});
                self.emit(&mut out, "response.failed", json!({"response": r}));
            }
            Event::Other => {}
        }
        out
    }

    fn start(&mut self, block: u64, started: &Block<'_>, out: &mut Vec<Bytes>) {
        let output_index = self.output.len() + self.open.len();
        let (kind, item_id, added) = match started {
            Block::Text => {
                let id = format!("msg_{}_{block}", self.id);
                let added =
                    json!({"type": "message", "id": id, "status": "in_progress", "role": "assistant", "content": []});
                (Kind::Text, id, added)
            }
            Block::Thinking => {
                let id = format!("rs_{}_{block}", self.id);
                (Kind::Thinking, id.clone(), json!({"type": "reasoning", "id": id, "summary": []}))
            }
            Block::ToolUse { id: call_id, name } => {
                let id = format!("fc_{}_{block}", self.id);
                let added = json!({"type": "function_call", "id": id, "call_id": call_id, "name": name,
                                   "arguments": "", "status": "in_progress"});
                (Kind::Call { call_id: call_id.to_string(), name: name.to_string() }, id, added)
            }
            Block::Other => return,
        };
        self.emit(out, "response.output_item.added", json!({"output_index": output_index, "item": added}));
        match kind {
            Kind::Text => self.emit(out, "response.content_part.added", json!({"item_id": item_id, "output_index": output_index, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}})),
            Kind::Thinking => self.emit(out, "response.reasoning_summary_part.added", json!({"item_id": item_id, "output_index": output_index, "summary_index": 0, "part": {"type": "summary_text", "text": ""}})),
            Kind::Call { .. } => {}
        }
        self.open.push(Open { block, output_index, item_id, kind, text: String::new(), signature: String::new() });
    }

    fn delta(&mut self, block: u64, delta: &Delta<'_>, out: &mut Vec<Bytes>) {
        let Some(at) = self.open.iter().position(|o| o.block == block) else { return };
        let (name, piece) = match delta {
            Delta::Text(t) => ("response.output_text.delta", t.as_ref()),
            Delta::Thinking(t) => ("response.reasoning_summary_text.delta", t.as_ref()),
            Delta::InputJson(t) => ("response.function_call_arguments.delta", t.as_ref()),
            Delta::Signature(t) => {
                self.open[at].signature.push_str(t);
                return;
            }
            Delta::Other => return,
        };
        let o = &mut self.open[at];
        o.text.push_str(piece);
        let mut data = json!({"item_id": o.item_id, "output_index": o.output_index, "delta": piece});
        match o.kind {
            Kind::Text => {
                data["content_index"] = json!(0);
                data["logprobs"] = json!([]);
            }
            Kind::Thinking => data["summary_index"] = json!(0),
            Kind::Call { .. } => {}
        }
        self.emit(out, name, data);
    }

    fn stop(&mut self, block: u64, out: &mut Vec<Bytes>) {
        let Some(at) = self.open.iter().position(|o| o.block == block) else { return };
        let o = self.open.remove(at);
        let (id, index) = (o.item_id.clone(), o.output_index);
        let item = match &o.kind {
            Kind::Text => {
                self.emit(
                    out,
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": o.text, "logprobs": []}),
                );
                self.emit(out, "response.content_part.done", json!({"item_id": id, "output_index": index, "content_index": 0, "part": {"type": "output_text", "text": o.text, "annotations": []}}));
                message_item(&id, &o.text)
            }
            Kind::Thinking => {
                self.emit(
                    out,
                    "response.reasoning_summary_text.done",
                    json!({"item_id": id, "output_index": index, "summary_index": 0, "text": o.text}),
                );
                self.emit(out, "response.reasoning_summary_part.done", json!({"item_id": id, "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": o.text}}));
                reasoning_item(&id, &o.text, &o.signature)
            }
            Kind::Call { call_id, name } => {
                let arguments = if o.text.is_empty() { "{}".to_string() } else { o.text.clone() };
                self.emit(
                    out,
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": index, "arguments": arguments}),
                );
                call_item(&id, call_id, name, &arguments)
            }
        };
        self.emit(out, "response.output_item.done", json!({"output_index": index, "item": item}));
        self.output.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::proxy::responses::items::input_items;

    #[test]
    fn a_conversation_with_a_function_call_becomes_alternating_messages() {
        let request = json!({"model": "claude-sonnet-4-5", "instructions": "Be brief.", "max_output_tokens": 500,
            "tools": [{"type": "function", "name": "exec_command", "parameters": {"type": "object"}}, {"type": "web_search"}],
            "tool_choice": "required"});
        let conversation = input_items(
            &json!([
                {"role": "developer", "content": "Use the shell."},
                {"role": "user", "content": [{"type": "input_text", "text": "List files"}, {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]},
                {"type": "function_call", "call_id": "toolu_1", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"},
                {"type": "function_call_output", "call_id": "toolu_1", "output": "a.txt"}
            ]),
            "in",
        );
        let m = to_messages(&request, &conversation);
        assert_eq!(m["system"], "Be brief.\n\nUse the shell.");
        assert_eq!(m["max_tokens"], 500);
        assert_eq!(m["messages"][0]["role"], "user");
        assert_eq!(m["messages"][0]["content"][1]["source"]["media_type"], "image/png");
        assert_eq!(m["messages"][1]["content"][0]["type"], "tool_use");
        assert_eq!(m["messages"][1]["content"][0]["input"]["cmd"], "ls");
        assert_eq!(m["messages"][2]["content"][0]["type"], "tool_result");
        assert_eq!(m["messages"][2]["content"][0]["content"], "a.txt");
        assert_eq!(m["tools"].as_array().unwrap().len(), 1, "only function tools reach Claude");
        assert_eq!(m["tool_choice"]["type"], "any");
        assert!(m.get("thinking").is_none());
    }

    #[test]
    fn tool_results_come_first_a_forced_tool_turns_thinking_off_and_parallel_calls_can_be_refused() {
        let conversation = input_items(
            &json!([
                {"type": "function_call", "call_id": "toolu_1", "name": "f", "arguments": "{}"},
                {"role": "user", "content": "Also this"},
                {"type": "function_call_output", "call_id": "toolu_1", "output": "done"}
            ]),
            "in",
        );
        let tools = json!([{"type": "function", "name": "f", "parameters": {"type": "object"}}]);
        let m = to_messages(
            &json!({"model": "c", "tools": tools, "tool_choice": "required", "reasoning": {"effort": "high"}}),
            &conversation,
        );
        assert_eq!(m["messages"][1]["content"][0]["type"], "tool_result");
        assert_eq!(m["messages"][1]["content"][1]["type"], "text");
        assert!(m.get("thinking").is_none(), "{m}");
        assert_eq!(m["tool_choice"]["type"], "any");
        let m = to_messages(&json!({"model": "c", "tools": tools, "parallel_tool_calls": false}), &[]);
        assert_eq!(m["tool_choice"], json!({"type": "auto", "disable_parallel_tool_use": true}));
    }

    #[test]
    fn reasoning_effort_turns_thinking_on_within_max_output_tokens() {
        let m = to_messages(
            &json!({"model": "claude-sonnet-4-5", "reasoning": {"effort": "medium"}, "temperature": 0.2}),
            &[],
        );
        assert_eq!(m["thinking"]["budget_tokens"], 8_192);
        assert_eq!(m["max_tokens"], 8_192 + DEFAULT_MAX_TOKENS);
        assert!(m.get("temperature").is_none());
        let m = to_messages(&json!({"model": "c", "reasoning": {"effort": "high"}, "max_output_tokens": 3000}), &[]);
        assert_eq!((m["max_tokens"].as_u64(), m["thinking"]["budget_tokens"].as_u64()), (Some(3000), Some(1976)));
        let m = to_messages(&json!({"model": "c", "reasoning": {"effort": "low"}, "max_output_tokens": 1500}), &[]);
        assert!(m.get("thinking").is_none(), "no room for the minimum budget");
    }

    #[test]
    fn a_messages_answer_becomes_a_response_with_reasoning_text_and_a_call() {
        let message = json!({"id": "msg_1", "stop_reason": "tool_use", "content": [
            {"type": "thinking", "thinking": "Hmm.", "signature": "sig"},
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_9", "name": "lookup", "input": {"q": "x"}}],
            "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 3, "cache_creation_input_tokens": 2}});
        let r = response_of(&message, &json!({"model": "claude-haiku-4-5", "store": false}), "resp_a", 7);
        assert_eq!(r["status"], "completed");
        assert_eq!(r["store"], false);
        assert_eq!(r["output"][0]["encrypted_content"], "sig");
        assert_eq!(r["output"][1]["content"][0]["text"], "Let me look.");
        assert_eq!(r["output"][2]["call_id"], "toolu_9");
        assert_eq!(r["output"][2]["arguments"], "{\"q\":\"x\"}");
        assert_eq!(r["usage"]["input_tokens"], 15);
        assert_eq!(r["usage"]["input_tokens_details"]["cached_tokens"], 3);
    }

    #[test]
    fn anthropic_stream_events_become_response_events_ending_in_the_whole_response() {
        let mut s = Stream::new(&json!({"model": "claude-haiku-4-5", "input": "hi"}), "resp_b", 7);
        let mut out = Vec::new();
        for v in [
            json!({"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 9, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi "}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "there"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":1}"}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 6}}),
            json!({"type": "message_stop"}),
        ] {
            let data = v.to_string();
            out.extend(s.on_event(&Event::parse(&data).unwrap()));
        }
        let mut parser = sse::Parser::default();
        let events: Vec<Value> =
            out.iter().flat_map(|b| parser.push(b)).map(|e| serde_json::from_str(&e.data).unwrap()).collect();
        let names: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(names.first(), Some(&"response.created"));
        assert_eq!(names.last(), Some(&"response.completed"));
        assert!(names.contains(&"response.function_call_arguments.done"));
        let seq: Vec<u64> = events.iter().map(|e| e["sequence_number"].as_u64().unwrap()).collect();
        assert!(seq.windows(2).all(|w| w[1] == w[0] + 1), "{seq:?}");
        let done = s.finished().unwrap();
        assert_eq!(done["output"][0]["content"][0]["text"], "Hi there");
        assert_eq!(done["output"][1]["arguments"], "{\"a\":1}");
        assert_eq!(done["usage"]["output_tokens"], 6);
        assert!(done.get("input").is_none());
    }
}
