//! OpenAI chat completion chunks and usage, typed. A chunk is parsed once, keeping only what Gatehouse
//! reads (usage, the first choice's text, how much text all choices carried); the rest is skipped.

use crate::server::domain::pricing::Usage;
use crate::server::proxy::metering::{lenient_count, Meter, Reported};
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;

/// OpenAI's usage object: `prompt_tokens` includes the cached ones, which are billed at the cached price.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct UsageReport {
    #[serde(default, deserialize_with = "lenient_count")]
    pub prompt_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub completion_tokens: Option<u64>,
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct PromptDetails {
    #[serde(default, deserialize_with = "lenient_count")]
    pub cached_tokens: Option<u64>,
}

impl Reported for UsageReport {
    fn usage(&self) -> Usage {
        let prompt = self.prompt_tokens.unwrap_or(0);
        let cached = self.prompt_tokens_details.and_then(|d| d.cached_tokens).unwrap_or(0).min(prompt);
        Usage {
            input: prompt - cached,
            output: self.completion_tokens.unwrap_or(0),
            cache_read: cached,
            ..Usage::default()
        }
    }
}

/// One streamed chunk (`[DONE]` is not one: see [`Chunk::parse`]).
#[derive(Debug, Default, Deserialize, PartialEq)]
pub struct Chunk<'a> {
    /// The completion's id (a stored one is remembered by it).
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(default)]
    pub usage: Option<UsageReport>,
    #[serde(default, borrow)]
    pub choices: Choices<'a>,
}

/// What the chunk's choices carried: how many, the first one's text, and the text of all of them.
#[derive(Debug, Default, PartialEq)]
pub struct Choices<'a> {
    pub count: usize,
    pub first_text: Option<Cow<'a, str>>,
    pub text_bytes: usize,
}

impl<'a> Chunk<'a> {
    /// Reads one event's data: `None` for `[DONE]` and anything else that is not a chunk.
    pub fn parse(data: &'a str) -> Option<Chunk<'a>> {
        serde_json::from_str(data).ok()
    }

    /// The usage-only chunk sent last when `stream_options.include_usage` is on.
    pub fn is_usage_only(&self) -> bool {
        self.usage.is_some() && self.choices.count == 0
    }

    pub fn meter(&self, m: &mut Meter) {
        if let Some(u) = &self.usage {
            m.report(u.usage());
        }
        m.saw_output(self.choices.text_bytes);
    }
}

/// The end of an OpenAI stream: `data: [DONE]`.
pub fn is_done(data: &str) -> bool {
    data == "[DONE]"
}

/// A chat completion chunk's choice carries its text in `delta.content`; a legacy text completion's in
/// `text`. Either is output that was streamed (and is billed when the stream breaks before its usage).
#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default, borrow)]
    delta: Option<ChoiceDelta<'a>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ChoiceDelta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Choices<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Seen<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Seen<'a> {
            type Value = Choices<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of choices")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Choices::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut seen = Choices::default();
                while let Some(c) = seq.next_element::<Choice<'a>>()? {
                    let text = c.delta.and_then(|d| d.content).or(c.text);
                    seen.text_bytes += text.as_ref().map_or(0, |t| t.len());
                    if seen.count == 0 {
                        seen.first_text = text;
                    }
                    seen.count += 1;
                }
                Ok(seen)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Choices::default())
            }
        }
        d.deserialize_any(Seen(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cached_tokens_are_taken_out_of_the_prompt() {
        let u: UsageReport = serde_json::from_value(
            json!({"prompt_tokens": 1000, "completion_tokens": 20, "prompt_tokens_details": {"cached_tokens": 800}}),
        )
        .unwrap();
        assert_eq!(u.usage(), Usage { input: 200, output: 20, cache_read: 800, ..Usage::default() });
    }

    #[test]
    fn chunks_are_read_for_text_and_usage() {
        let data = json!({"id": "c", "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": {"content": "Hé \"x\""}, "finish_reason": null},
            {"index": 1, "delta": {"tool_calls": [{"index": 0}]}}]})
        .to_string();
        let c = Chunk::parse(&data).unwrap();
        assert_eq!(c.choices.count, 2);
        assert_eq!(c.choices.first_text.as_deref(), Some("Hé \"x\""));
        assert_eq!(c.choices.text_bytes, "Hé \"x\"".len());
        assert!(!c.is_usage_only());
        let data = json!({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}).to_string();
        let c = Chunk::parse(&data).unwrap();
        assert!(c.is_usage_only());
        let mut m = Meter::default();
        c.meter(&mut m);
        assert_eq!((m.usage.input, m.usage.output, m.reported), (9, 2, true));
        assert!(Chunk::parse("[DONE]").is_none() && is_done("[DONE]"));
    }

    #[test]
    fn a_legacy_completion_chunk_counts_its_text() {
        let data = json!({"object": "text_completion", "choices": [
            {"index": 0, "text": "Once upon", "finish_reason": null},
            {"index": 1, "text": " a time", "finish_reason": null}]})
        .to_string();
        let c = Chunk::parse(&data).unwrap();
        assert_eq!(c.choices.first_text.as_deref(), Some("Once upon"));
        let mut m = Meter::default();
        c.meter(&mut m);
        assert_eq!(m.output_chars, "Once upon a time".len());
    }
}
