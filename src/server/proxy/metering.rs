//! Reading usage from upstream answers: Anthropic's usage object (cumulative in `message_delta`: the last
//! value wins), OpenAI chat completions' (`prompt_tokens` includes cached tokens, billed at the cached
//! price) and the Responses API's (`input_tokens` includes cached tokens, `output_tokens` reasoning ones).

use super::sse::Event;
use crate::server::domain::pricing::Usage;
use serde_json::Value;

fn n(v: &Value) -> Option<u64> {
    v.as_u64()
}

/// Applies the fields present in an Anthropic usage object onto `usage`.
pub fn apply_anthropic(usage: &mut Usage, u: &Value) {
    if let Some(x) = n(&u["input_tokens"]) {
        usage.input = x;
    }
    if let Some(x) = n(&u["output_tokens"]) {
        usage.output = x;
    }
    if let Some(x) = n(&u["cache_read_input_tokens"]) {
        usage.cache_read = x;
    }
    let split = &u["cache_creation"];
    if split.is_object() {
        usage.cache_write_5m = n(&split["ephemeral_5m_input_tokens"]).unwrap_or(0);
        usage.cache_write_1h = n(&split["ephemeral_1h_input_tokens"]).unwrap_or(0);
    } else if let Some(x) = n(&u["cache_creation_input_tokens"]) {
        usage.cache_write_5m = x;
        usage.cache_write_1h = 0;
    }
}

pub fn openai(u: &Value) -> Usage {
    let prompt = n(&u["prompt_tokens"]).unwrap_or(0);
    let cached = n(&u["prompt_tokens_details"]["cached_tokens"]).unwrap_or(0).min(prompt);
    Usage {
        input: prompt - cached,
        output: n(&u["completion_tokens"]).unwrap_or(0),
        cache_read: cached,
        ..Usage::default()
    }
}

/// The Responses API's usage object: cached input tokens are billed at the cached price, and output
/// tokens already include reasoning tokens.
pub fn responses(u: &Value) -> Usage {
    let input = n(&u["input_tokens"]).unwrap_or(0);
    let cached = n(&u["input_tokens_details"]["cached_tokens"]).unwrap_or(0).min(input);
    Usage { input: input - cached, output: n(&u["output_tokens"]).unwrap_or(0), cache_read: cached, ..Usage::default() }
}

/// Follows a stream's events and keeps the usage so far, and whether it ended properly.
#[derive(Default)]
pub struct Meter {
    pub usage: Usage,
    /// Usage was reported by the upstream (not only estimated).
    pub reported: bool,
    pub finished: bool,
    /// Characters of output seen, for an estimate when the stream breaks before reporting usage.
    pub output_chars: usize,
}

impl Meter {
    pub fn on_anthropic(&mut self, ev: &Event) {
        if let Ok(v) = serde_json::from_str::<Value>(&ev.data) {
            self.on_anthropic_event(&v);
        }
    }

    /// An Anthropic stream event already parsed (by a translator reading the same event).
    pub fn on_anthropic_event(&mut self, v: &Value) {
        match v["type"].as_str() {
            Some("message_start") => {
                apply_anthropic(&mut self.usage, &v["message"]["usage"]);
                self.reported = true;
            }
            Some("message_delta") => {
                apply_anthropic(&mut self.usage, &v["usage"]);
                self.reported = true;
            }
            Some("content_block_delta") => {
                let d = &v["delta"];
                let seen: usize = [&d["text"], &d["thinking"], &d["partial_json"]]
                    .iter()
                    .filter_map(|t| t.as_str())
                    .map(str::len)
                    .sum();
                self.output_chars = self.output_chars.saturating_add(seen);
            }
            Some("message_stop") => self.finished = true,
            _ => {}
        }
    }

    pub fn on_openai(&mut self, ev: &Event) {
        if ev.data == "[DONE]" {
            self.finished = true;
            return;
        }
        if let Ok(v) = serde_json::from_str::<Value>(&ev.data) {
            self.on_openai_event(&v);
        }
    }

    /// An OpenAI chat completion chunk already parsed (`[DONE]` is not JSON: see [`Meter::on_openai`]).
    pub fn on_openai_event(&mut self, v: &Value) {
        if v["usage"].is_object() {
            self.usage = openai(&v["usage"]);
            self.reported = true;
        }
        if let Some(choices) = v["choices"].as_array() {
            for c in choices {
                let seen = c["delta"]["content"].as_str().map(str::len).unwrap_or(0);
                self.output_chars = self.output_chars.saturating_add(seen);
            }
        }
    }

    /// A Responses API stream event (already parsed): the final usage comes with the response's last
    /// event (`response.completed`, `response.incomplete` or `response.failed`).
    pub fn on_responses_event(&mut self, v: &Value) {
        match v["type"].as_str() {
            Some("response.completed" | "response.incomplete" | "response.failed") => {
                let usage = &v["response"]["usage"];
                if usage.is_object() {
                    self.usage = responses(usage);
                    self.reported = true;
                }
                self.finished = true;
            }
            Some(
                "response.output_text.delta"
                | "response.function_call_arguments.delta"
                | "response.reasoning_summary_text.delta"
                | "response.reasoning_text.delta"
                | "response.refusal.delta",
            ) => {
                let seen = v["delta"].as_str().map(str::len).unwrap_or(0);
                self.output_chars = self.output_chars.saturating_add(seen);
            }
            _ => {}
        }
    }

    /// The usage to bill: what was reported, with the input estimated when none was reported and the output
    /// at least what was seen (a stream that ended early, or an upstream that reported nothing).
    pub fn usage_for_billing(&self, estimated_input: u64) -> Usage {
        let mut u = self.usage;
        let guess = estimated(estimated_input, self.output_chars);
        if u.prompt_tokens() == 0 {
            u.input = guess.input;
        }
        u.output = u.output.max(guess.output);
        u
    }
}

/// The usage billed when the upstream reports none: the request's estimated input, and a token for every
/// four bytes of output seen.
pub fn estimated(estimated_input: u64, output_bytes: usize) -> Usage {
    Usage {
        input: estimated_input.max(1),
        output: u64::try_from(output_bytes.div_ceil(4)).unwrap_or(u64::MAX),
        ..Usage::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(v: Value) -> Event {
        Event { event: None, data: v.to_string() }
    }

    #[test]
    fn anthropic_usage_is_cumulative_and_the_last_value_wins() {
        let mut m = Meter::default();
        m.on_anthropic(&ev(json!({"type": "message_start", "message": {"usage": {
            "input_tokens": 100, "output_tokens": 1, "cache_read_input_tokens": 50,
            "cache_creation_input_tokens": 30, "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20}}}})));
        m.on_anthropic(&ev(json!({"type": "message_delta", "usage": {"output_tokens": 12}})));
        m.on_anthropic(&ev(json!({"type": "message_delta", "usage": {"output_tokens": 40}})));
        m.on_anthropic(&ev(json!({"type": "message_stop"})));
        assert_eq!(m.usage, Usage { input: 100, output: 40, cache_write_5m: 10, cache_write_1h: 20, cache_read: 50 });
        assert!(m.finished && m.reported);
    }

    #[test]
    fn openai_cached_tokens_are_taken_out_of_the_prompt() {
        let u = openai(
            &json!({"prompt_tokens": 1000, "completion_tokens": 20, "prompt_tokens_details": {"cached_tokens": 800}}),
        );
        assert_eq!(u, Usage { input: 200, output: 20, cache_read: 800, ..Usage::default() });
    }

    #[test]
    fn responses_usage_bills_cached_input_at_the_cached_price_and_reasoning_as_output() {
        let mut m = Meter::default();
        m.on_responses_event(&json!({"type": "response.output_text.delta", "delta": "0123456789abcdef"}));
        assert_eq!((m.output_chars, m.reported), (16, false));
        m.on_responses_event(&json!({"type": "response.completed", "response": {"usage": {
            "input_tokens": 1000, "input_tokens_details": {"cached_tokens": 600},
            "output_tokens": 90, "output_tokens_details": {"reasoning_tokens": 64}, "total_tokens": 1090}}}));
        assert!(m.reported && m.finished);
        assert_eq!(m.usage, Usage { input: 400, output: 90, cache_read: 600, ..Usage::default() });
    }

    #[test]
    fn a_broken_stream_is_billed_for_what_was_seen_never_zero() {
        let mut m = Meter::default();
        m.on_anthropic(&ev(
            json!({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "0123456789abcdef"}}),
        ));
        let u = m.usage_for_billing(300);
        assert_eq!((u.input, u.output), (300, 4));
    }
}
