//! OpenAI chat completions for Claude models, translated to the Anthropic Messages API and back:
//! roles, system prompts, images, tools and tool results, stop reasons, usage, and streaming (from the
//! Messages surface's typed events).

use crate::server::proxy::messages::events::{Block, Delta, Event, UsageReport};
use crate::server::proxy::messages::request::{image_block, push, DEFAULT_MAX_TOKENS};
use crate::server::proxy::sse;
use axum::body::Bytes;
use serde_json::{json, Map, Value};

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}

/// An OpenAI content (string or parts) as Anthropic content blocks.
pub fn blocks_of(content: &Value) -> Vec<Value> {
    match content {
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match p["type"].as_str() {
                Some("text") => Some(json!({"type": "text", "text": p["text"]})),
                Some("image_url") => {
                    Some(image_block(p["image_url"]["url"].as_str().or_else(|| p["image_url"].as_str())?))
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// An OpenAI chat completion request as an Anthropic Messages request.
pub fn request_to_anthropic(req: &Value) -> Value {
    let mut system = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    for m in req["messages"].as_array().into_iter().flatten() {
        match m["role"].as_str() {
            Some("system" | "developer") => system.push(text_of(&m["content"])),
            Some("assistant") => {
                let mut blocks = blocks_of(&m["content"]);
                for call in m["tool_calls"].as_array().into_iter().flatten() {
                    let input: Value = call["function"]["arguments"]
                        .as_str()
                        .and_then(|a| serde_json::from_str(a).ok())
                        .unwrap_or_else(|| json!({}));
                    blocks.push(
                        json!({"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": input}),
                    );
                }
                push(&mut messages, "assistant", blocks);
            }
            Some("tool") => push(
                &mut messages,
                "user",
                vec![
                    json!({"type": "tool_result", "tool_use_id": m["tool_call_id"], "content": text_of(&m["content"])}),
                ],
            ),
            _ => push(&mut messages, "user", blocks_of(&m["content"])),
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), req["model"].clone());
    out.insert("messages".into(), Value::Array(messages));
    let max_tokens =
        req["max_completion_tokens"].as_u64().or_else(|| req["max_tokens"].as_u64()).unwrap_or(DEFAULT_MAX_TOKENS);
    out.insert("max_tokens".into(), json!(max_tokens));
    if !system.is_empty() {
        out.insert("system".into(), json!(system.join("\n\n")));
    }
    for (from, to) in [("temperature", "temperature"), ("top_p", "top_p")] {
        if !req[from].is_null() {
            out.insert(to.into(), req[from].clone());
        }
    }
    match &req["stop"] {
        Value::String(s) => {
            out.insert("stop_sequences".into(), json!([s]));
        }
        Value::Array(list) => {
            out.insert("stop_sequences".into(), Value::Array(list.clone()));
        }
        _ => {}
    }
    if let Some(tools) = req["tools"].as_array() {
        let tools: Vec<Value> = tools
            .iter()
            .filter(|t| t["type"] == "function")
            .map(|t| {
                json!({
                    "name": t["function"]["name"],
                    "description": t["function"]["description"].as_str().unwrap_or(""),
                    "input_schema": if t["function"]["parameters"].is_object() { t["function"]["parameters"].clone() } else { json!({"type": "object", "properties": {}}) }
                })
            })
            .collect();
        out.insert("tools".into(), Value::Array(tools));
    }
    match &req["tool_choice"] {
        Value::String(s) if s == "required" => {
            out.insert("tool_choice".into(), json!({"type": "any"}));
        }
        Value::String(s) if s == "none" => {
            out.insert("tool_choice".into(), json!({"type": "none"}));
        }
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            out.insert("tool_choice".into(), json!({"type": "tool", "name": o["function"]["name"]}));
        }
        _ => {}
    }
    if req["stream"] == true {
        out.insert("stream".into(), json!(true));
    }
    Value::Object(out)
}

pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// Anthropic's usage in OpenAI's shape (cache reads and writes count as prompt tokens).
pub fn usage_to_openai(u: &UsageReport) -> Value {
    let prompt = u.prompt_tokens();
    let output = u.output_tokens.unwrap_or(0);
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": u.cache_read_input_tokens.unwrap_or(0)}
    })
}

/// An Anthropic Messages response as an OpenAI chat completion.
pub fn response_to_openai(resp: &Value, created: i64) -> Value {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in resp["content"].as_array().into_iter().flatten() {
        match block["type"].as_str() {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or("")),
            Some("tool_use") => tool_calls.push(json!({
                "id": block["id"], "type": "function",
                "function": {"name": block["name"], "arguments": block["input"].to_string()}
            })),
            _ => {}
        }
    }
    let mut message = json!({"role": "assistant", "content": text});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    json!({
        "id": format!("chatcmpl-{}", resp["id"].as_str().unwrap_or("gatehouse")),
        "object": "chat.completion",
        "created": created,
        "model": resp["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(resp["stop_reason"].as_str().unwrap_or("end_turn"))}],
        "usage": usage_to_openai(&UsageReport::of(&resp["usage"]))
    })
}

/// Turns Anthropic stream events into OpenAI chunks, one event at a time.
pub struct StreamTranslator {
    id: String,
    model: String,
    created: i64,
    include_usage: bool,
    usage: UsageReport,
    /// Anthropic block index -> OpenAI tool call index.
    tools: Vec<(u64, usize)>,
}

impl StreamTranslator {
    pub fn new(created: i64, include_usage: bool) -> Self {
        Self {
            id: "chatcmpl-gatehouse".into(),
            model: String::new(),
            created,
            include_usage,
            usage: UsageReport::default(),
            tools: Vec::new(),
        }
    }

    fn chunk(&self, delta: Value, finish: Value) -> Bytes {
        sse::write(
            None,
            &json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            .to_string(),
        )
    }

    /// One Anthropic stream event (parsed once, by the relay) as the chunks it becomes.
    pub fn on_event(&mut self, event: &Event<'_>) -> Vec<Bytes> {
        match event {
            Event::MessageStart { id, model, usage } => {
                self.id = format!("chatcmpl-{}", if id.is_empty() { "gatehouse" } else { id });
                self.model = model.to_string();
                self.usage.merge(usage);
                vec![self.chunk(json!({"role": "assistant", "content": ""}), Value::Null)]
            }
            Event::BlockStart { index: block, block: Block::ToolUse { id, name } } => {
                let index = self.tools.len();
                self.tools.push((*block, index));
                vec![self.chunk(
                    json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                        "function": {"name": name, "arguments": ""}}]}),
                    Value::Null,
                )]
            }
            Event::BlockDelta { delta: Delta::Text(text), .. } => {
                vec![self.chunk(json!({"content": text}), Value::Null)]
            }
            Event::BlockDelta { index: block, delta: Delta::InputJson(partial) } => {
                let index = self.tools.iter().find(|t| t.0 == *block).map(|t| t.1).unwrap_or(0);
                vec![self
                    .chunk(json!({"tool_calls": [{"index": index, "function": {"arguments": partial}}]}), Value::Null)]
            }
            Event::MessageDelta { stop_reason, usage } => {
                self.usage.merge(usage);
                let reason = finish_reason(stop_reason.as_deref().unwrap_or("end_turn"));
                vec![self.chunk(json!({}), json!(reason))]
            }
            Event::MessageStop => {
                let mut out = Vec::new();
                if self.include_usage {
                    out.push(sse::write(
                        None,
                        &json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                            "model": self.model, "choices": [], "usage": usage_to_openai(&self.usage)})
                        .to_string(),
                    ));
                }
                out.push(sse::write(None, "[DONE]"));
                out
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_requests_become_anthropic_requests() {
        let req = json!({
            "model": "claude-haiku-4-5", "max_tokens": 100, "stream": true, "temperature": 0.3, "stop": "END",
            "messages": [
                {"role": "system", "content": "Translate to French."},
                {"role": "user", "content": [{"type": "text", "text": "Hello"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"x\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "42"}
            ],
            "tools": [{"type": "function", "function": {"name": "lookup", "description": "Look up", "parameters": {"type": "object"}}}],
            "tool_choice": "required"
        });
        let a = request_to_anthropic(&req);
        assert_eq!(a["system"], "Translate to French.");
        assert_eq!(a["max_tokens"], 100);
        assert_eq!(a["stop_sequences"], json!(["END"]));
        assert_eq!(a["messages"][0]["content"][1]["source"]["media_type"], "image/png");
        assert_eq!(a["messages"][1]["content"][0]["type"], "tool_use");
        assert_eq!(a["messages"][1]["content"][0]["input"]["q"], "x");
        assert_eq!(a["messages"][2]["content"][0]["type"], "tool_result");
        assert_eq!(a["tools"][0]["input_schema"]["type"], "object");
        assert_eq!(a["tool_choice"]["type"], "any");
        assert_eq!(a["stream"], true);
    }

    #[test]
    fn anthropic_responses_become_openai_completions() {
        let resp = json!({"id": "msg_1", "model": "claude-haiku-4-5", "stop_reason": "tool_use",
            "content": [{"type": "text", "text": "Let me check."}, {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}}],
            "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 3, "cache_creation_input_tokens": 0}});
        let o = response_to_openai(&resp, 7);
        assert_eq!(o["choices"][0]["message"]["content"], "Let me check.");
        assert_eq!(o["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(o["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"], "{\"q\":\"x\"}");
        assert_eq!(o["usage"]["prompt_tokens"], 13);
        assert_eq!(o["usage"]["prompt_tokens_details"]["cached_tokens"], 3);
    }

    #[test]
    fn anthropic_stream_events_become_openai_chunks_with_usage_last() {
        let mut t = StreamTranslator::new(7, true);
        let mut out = Vec::new();
        for v in [
            json!({"type": "message_start", "message": {"id": "msg_1", "model": "m", "usage": {"input_tokens": 9, "output_tokens": 1}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
            json!({"type": "message_stop"}),
        ] {
            let data = v.to_string();
            out.extend(t.on_event(&Event::parse(&data).unwrap()));
        }
        let text: String = out.iter().map(|b| String::from_utf8_lossy(b).to_string()).collect();
        assert!(text.contains("\"role\":\"assistant\""));
        assert!(text.contains("\"content\":\"Hi\""));
        assert!(text.contains("\"finish_reason\":\"stop\""));
        assert!(text.contains("\"completion_tokens\":2"));
        assert!(text.ends_with("data: [DONE]\n\n"));
    }
}
