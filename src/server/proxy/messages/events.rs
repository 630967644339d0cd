//! Anthropic Messages stream events and usage, typed. Each event is parsed once, into a flat record whose
//! text borrows from the event's bytes (unknown fields are skipped without being built), then read as an
//! [`Event`] by the meter, the translators and web chat alike.

use crate::server::domain::pricing::Usage;
use crate::server::proxy::metering::{lenient_count, Meter, Reported};
use serde::Deserialize;
use std::borrow::Cow;

/// Anthropic's usage object. In a stream it is cumulative: `message_start` carries the input side and
/// each `message_delta` the totals so far, so the last value of each field wins.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct UsageReport {
    #[serde(default, deserialize_with = "lenient_count")]
    pub input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub output_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation: Option<CacheCreation>,
    /// Uses of Anthropic's server tools (web search is billed per search).
    #[serde(default)]
    pub server_tool_use: Option<ServerToolUse>,
}

/// `usage.server_tool_use`: how often each server tool ran.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ServerToolUse {
    #[serde(default, deserialize_with = "lenient_count")]
    pub web_search_requests: Option<u64>,
}

/// The split of cache writes by lifetime, when the upstream reports it.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct CacheCreation {
    #[serde(default, deserialize_with = "lenient_count")]
    pub ephemeral_5m_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub ephemeral_1h_input_tokens: Option<u64>,
}

impl UsageReport {
    /// Applies the fields present onto `usage` (absent fields keep their earlier value).
    pub fn apply(&self, usage: &mut Usage) {
        if let Some(x) = self.input_tokens {
            usage.input = x;
        }
        if let Some(x) = self.output_tokens {
            usage.output = x;
        }
        if let Some(x) = self.cache_read_input_tokens {
            usage.cache_read = x;
        }
        match (self.cache_creation, self.cache_creation_input_tokens) {
            (Some(split), _) => {
                usage.cache_write_5m = split.ephemeral_5m_input_tokens.unwrap_or(0);
                usage.cache_write_1h = split.ephemeral_1h_input_tokens.unwrap_or(0);
            }
            (None, Some(x)) => {
                usage.cache_write_5m = x;
                usage.cache_write_1h = 0;
            }
            (None, None) => {}
        }
        if let Some(x) = self.server_tool_use.and_then(|t| t.web_search_requests) {
            usage.web_searches = x;
        }
    }

    /// Later values over earlier ones, field by field.
    pub fn merge(&mut self, later: &UsageReport) {
        let keep = |a: &mut Option<u64>, b: Option<u64>| {
            if b.is_some() {
                *a = b;
            }
        };
        keep(&mut self.input_tokens, later.input_tokens);
        keep(&mut self.output_tokens, later.output_tokens);
        keep(&mut self.cache_read_input_tokens, later.cache_read_input_tokens);
        keep(&mut self.cache_creation_input_tokens, later.cache_creation_input_tokens);
        if later.cache_creation.is_some() {
            self.cache_creation = later.cache_creation;
        }
        if later.server_tool_use.is_some() {
            self.server_tool_use = later.server_tool_use;
        }
    }

    /// A usage object already parsed as part of a whole answer (an absent or odd one reads as empty).
    pub fn of(v: &serde_json::Value) -> UsageReport {
        UsageReport::deserialize(v).unwrap_or_default()
    }

    /// Input tokens of every kind: fresh, read from the cache and written to it.
    pub fn prompt_tokens(&self) -> u64 {
        self.input_tokens.unwrap_or(0)
            + self.cache_read_input_tokens.unwrap_or(0)
            + self.cache_creation_input_tokens.unwrap_or(0)
    }
}

impl Reported for UsageReport {
    fn usage(&self) -> Usage {
        let mut u = Usage::default();
        self.apply(&mut u);
        u
    }
}

/// One stream event, as the proxy reads it.
#[derive(Debug, PartialEq)]
pub enum Event<'a> {
    MessageStart {
        id: Cow<'a, str>,
        model: Cow<'a, str>,
        usage: UsageReport,
    },
    BlockStart {
        index: u64,
        block: Block<'a>,
    },
    BlockDelta {
        index: u64,
        delta: Delta<'a>,
    },
    BlockStop {
        index: u64,
    },
    MessageDelta {
        stop_reason: Option<Cow<'a, str>>,
        usage: UsageReport,
    },
    MessageStop,
    Error {
        message: Cow<'a, str>,
    },
    /// `ping`, and any event type this version does not know.
    Other,
}

/// The kind of a content block that starts.
#[derive(Debug, PartialEq)]
pub enum Block<'a> {
    Text,
    Thinking,
    ToolUse { id: Cow<'a, str>, name: Cow<'a, str> },
    Other,
}

/// A piece of a content block.
#[derive(Debug, PartialEq)]
pub enum Delta<'a> {
    Text(Cow<'a, str>),
    Thinking(Cow<'a, str>),
    Signature(Cow<'a, str>),
    InputJson(Cow<'a, str>),
    Other,
}

#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    index: u64,
    #[serde(default, borrow)]
    message: Option<RawMessage<'a>>,
    #[serde(default, borrow)]
    content_block: Option<RawPart<'a>>,
    #[serde(default, borrow)]
    delta: Option<RawPart<'a>>,
    #[serde(default)]
    usage: Option<UsageReport>,
    #[serde(default, borrow)]
    error: Option<RawError<'a>>,
}

#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(default, borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default)]
    usage: Option<UsageReport>,
}

/// A content block or a delta: which fields are present depends on its type.
#[derive(Deserialize)]
struct RawPart<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    signature: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct RawError<'a> {
    #[serde(default, borrow)]
    message: Cow<'a, str>,
}

impl<'a> Event<'a> {
    /// Reads one event's data; `None` when it is not a JSON object with a `type`.
    pub fn parse(data: &'a str) -> Option<Event<'a>> {
        let raw: Raw<'a> = serde_json::from_str(data).ok()?;
        Some(match raw.kind.as_ref() {
            "message_start" => {
                let m = raw.message?;
                Event::MessageStart { id: m.id, model: m.model, usage: m.usage.unwrap_or_default() }
            }
            "content_block_start" => {
                let b = raw.content_block?;
                let block = match b.kind.as_deref() {
                    Some("text") => Block::Text,
                    Some("thinking") => Block::Thinking,
                    Some("tool_use") => {
                        Block::ToolUse { id: b.id.unwrap_or_default(), name: b.name.unwrap_or_default() }
                    }
                    _ => Block::Other,
                };
                Event::BlockStart { index: raw.index, block }
            }
            "content_block_delta" => {
                let d = raw.delta?;
                let delta = match d.kind.as_deref() {
                    Some("text_delta") => Delta::Text(d.text.unwrap_or_default()),
                    Some("thinking_delta") => Delta::Thinking(d.thinking.unwrap_or_default()),
                    Some("signature_delta") => Delta::Signature(d.signature.unwrap_or_default()),
                    Some("input_json_delta") => Delta::InputJson(d.partial_json.unwrap_or_default()),
                    _ => Delta::Other,
                };
                Event::BlockDelta { index: raw.index, delta }
            }
            "content_block_stop" => Event::BlockStop { index: raw.index },
            "message_delta" => Event::MessageDelta {
                stop_reason: raw.delta.and_then(|d| d.stop_reason),
                usage: raw.usage.unwrap_or_default(),
            },
            "message_stop" => Event::MessageStop,
            "error" => Event::Error { message: raw.error.map(|e| e.message).unwrap_or_default() },
            _ => Event::Other,
        })
    }

    /// What this event tells the meter: usage (cumulative), output seen, the end.
    pub fn meter(&self, m: &mut Meter) {
        match self {
            Event::MessageStart { usage, .. } | Event::MessageDelta { usage, .. } => {
                usage.apply(&mut m.usage);
                m.reported = true;
            }
            Event::BlockDelta { delta: Delta::Text(s) | Delta::Thinking(s) | Delta::InputJson(s), .. } => {
                m.saw_output(s.len())
            }
            Event::MessageStop => m.finished = true,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meter_all(events: &[serde_json::Value]) -> Meter {
        let mut m = Meter::default();
        for v in events {
            let data = v.to_string();
            Event::parse(&data).expect("an event").meter(&mut m);
        }
        m
    }

    #[test]
    fn usage_is_cumulative_and_the_last_value_wins() {
        let m = meter_all(&[
            json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "content": [], "usage": {
                "input_tokens": 100, "output_tokens": 1, "cache_read_input_tokens": 50,
                "cache_creation_input_tokens": 30, "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20}}}}),
            json!({"type": "message_delta", "delta": {"stop_reason": null}, "usage": {"output_tokens": 12}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 40}}),
            json!({"type": "message_stop"}),
        ]);
        let expected = Usage {
            input: 100,
            output: 40,
            cache_write_5m: 10,
            cache_write_1h: 20,
            cache_read: 50,
            web_searches: 0,
            images: 0,
        };
        assert_eq!(m.usage, expected);
        assert!(m.finished && m.reported);
    }

    #[test]
    fn events_are_read_with_their_text_and_unknown_ones_pass_as_other() {
        let data = json!({"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "a \"quoted\" é"}}).to_string();
        assert_eq!(
            Event::parse(&data),
            Some(Event::BlockDelta { index: 2, delta: Delta::Text("a \"quoted\" é".into()) })
        );
        let data = json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"deep": [1, {"x": 2}]}}}).to_string();
        assert_eq!(
            Event::parse(&data),
            Some(Event::BlockStart { index: 1, block: Block::ToolUse { id: "toolu_1".into(), name: "f".into() } })
        );
        assert_eq!(Event::parse(r#"{"type":"ping"}"#), Some(Event::Other));
        assert_eq!(Event::parse(r#"{"type":"future_event","payload":[1,2]}"#), Some(Event::Other));
        assert_eq!(Event::parse("[DONE]"), None);
        let data = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}).to_string();
        assert_eq!(Event::parse(&data), Some(Event::Error { message: "Overloaded".into() }));
    }

    #[test]
    fn a_broken_stream_is_billed_for_what_was_seen_never_zero() {
        let m = meter_all(&[
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "0123456789abcdef"}}),
        ]);
        let u = m.usage_for_billing(300);
        assert_eq!((u.input, u.output), (300, 4));
    }

    #[test]
    fn a_whole_answers_usage_is_read_without_the_rest() {
        let answer = json!({"id": "m", "content": [{"type": "text", "text": "hi"}], "usage": {"input_tokens": 7, "output_tokens": 3, "cache_creation_input_tokens": 2}});
        assert_eq!(
            crate::server::proxy::metering::answer_usage::<UsageReport>(answer.to_string().as_bytes()),
            Some(Usage { input: 7, output: 3, cache_write_5m: 2, ..Usage::default() })
        );
        assert_eq!(crate::server::proxy::metering::answer_usage::<UsageReport>(b"{}"), Some(Usage::default()));
        assert_eq!(crate::server::proxy::metering::answer_usage::<UsageReport>(b"<html>"), None);
        // One odd count is skipped; the rest of the usage is still read.
        let odd = json!({"usage": {"input_tokens": 7, "output_tokens": null, "cache_creation": {"ephemeral_5m_input_tokens": 1.5}}});
        assert_eq!(
            crate::server::proxy::metering::answer_usage::<UsageReport>(odd.to_string().as_bytes()),
            Some(Usage { input: 7, ..Usage::default() })
        );
        let odd = json!({"usage": "lots"});
        assert_eq!(
            crate::server::proxy::metering::answer_usage::<UsageReport>(odd.to_string().as_bytes()),
            Some(Usage::default())
        );
    }
}
