//! Responses API stream events, whole responses and usage, typed. An event is parsed once, keeping only
//! what Gatehouse reads: its type, the response's id, status and usage, and the length of a text delta.

use crate::server::domain::pricing::Usage;
use crate::server::proxy::metering::{lenient_count, Meter, Reported};
use serde::de::{Deserializer, IgnoredAny, Visitor};
use serde::Deserialize;
use std::borrow::Cow;

/// The Responses API's usage object: `input_tokens` includes cached ones (billed at the cached price) and
/// `output_tokens` already includes reasoning tokens.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct UsageReport {
    #[serde(default, deserialize_with = "lenient_count")]
    pub input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub input_tokens_details: Option<InputDetails>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct InputDetails {
    #[serde(default, deserialize_with = "lenient_count")]
    pub cached_tokens: Option<u64>,
}

impl Reported for UsageReport {
    fn usage(&self) -> Usage {
        let input = self.input_tokens.unwrap_or(0);
        let cached = self.input_tokens_details.and_then(|d| d.cached_tokens).unwrap_or(0).min(input);
        Usage { input: input - cached, output: self.output_tokens.unwrap_or(0), cache_read: cached, ..Usage::default() }
    }
}

/// A response object as far as Gatehouse reads it (a whole answer, or the one inside an event).
#[derive(Debug, Default, Deserialize, PartialEq)]
pub struct ResponseHead<'a> {
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(default)]
    pub usage: Option<UsageReport>,
    /// The output items' types (for the web searches it ran, billed per search).
    #[serde(default, borrow)]
    pub output: Option<Vec<OutputItem<'a>>>,
}

/// An output item as far as Gatehouse reads it: its type.
#[derive(Debug, Default, Deserialize, PartialEq)]
pub struct OutputItem<'a> {
    #[serde(rename = "type", default, borrow)]
    pub kind: Cow<'a, str>,
}

impl<'a> ResponseHead<'a> {
    /// Reads a whole response; `None` when it is not JSON.
    pub fn parse(answer: &'a [u8]) -> Option<ResponseHead<'a>> {
        serde_json::from_slice(answer).ok()
    }

    /// Still running upstream (a background response).
    pub fn running(&self) -> bool {
        matches!(self.status.as_deref(), Some("queued" | "in_progress"))
    }

    /// The usage reported (empty when none was), with the web searches its output shows.
    pub fn usage(&self) -> Usage {
        let mut usage = self.usage.map(|u| u.usage()).unwrap_or_default();
        let searches = self.output.iter().flatten().filter(|i| i.kind == "web_search_call").count();
        usage.web_searches = u64::try_from(searches).unwrap_or(u64::MAX);
        usage
    }
}

/// One stream event.
#[derive(Debug, Deserialize, PartialEq)]
pub struct Event<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub response: Option<ResponseHead<'a>>,
    /// The length of a text delta (`delta` is a string in every delta event that carries output).
    #[serde(default)]
    pub delta: DeltaLength,
}

/// How many bytes a `delta` string holds; anything else counts nothing.
#[derive(Debug, Default, PartialEq)]
pub struct DeltaLength(pub usize);

impl<'de> Deserialize<'de> for DeltaLength {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Len;
        impl<'de> Visitor<'de> for Len {
            type Value = DeltaLength;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a delta")
            }
            fn visit_str<E>(self, s: &str) -> Result<DeltaLength, E> {
                Ok(DeltaLength(s.len()))
            }
            fn visit_unit<E>(self) -> Result<DeltaLength, E> {
                Ok(DeltaLength(0))
            }
            fn visit_u64<E>(self, _: u64) -> Result<DeltaLength, E> {
                Ok(DeltaLength(0))
            }
            fn visit_i64<E>(self, _: i64) -> Result<DeltaLength, E> {
                Ok(DeltaLength(0))
            }
            fn visit_f64<E>(self, _: f64) -> Result<DeltaLength, E> {
                Ok(DeltaLength(0))
            }
            fn visit_bool<E>(self, _: bool) -> Result<DeltaLength, E> {
                Ok(DeltaLength(0))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<DeltaLength, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(DeltaLength(0))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<DeltaLength, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(DeltaLength(0))
            }
        }
        d.deserialize_any(Len)
    }
}

impl<'a> Event<'a> {
    /// Reads one event's data; `None` when it is not a JSON object with a `type`.
    pub fn parse(data: &'a str) -> Option<Event<'a>> {
        serde_json::from_str(data).ok()
    }

    /// The response's id, when this event announces it (`response.created`).
    pub fn created_id(&self) -> Option<&str> {
        (self.kind == "response.created").then(|| self.response.as_ref()?.id.as_deref()).flatten()
    }

    /// What this event tells the meter: the final usage comes with the response's last event
    /// (`response.completed`, `response.incomplete` or `response.failed`).
    pub fn meter(&self, m: &mut Meter) {
        match self.kind.as_ref() {
            "response.completed" | "response.incomplete" | "response.failed" => {
                if let Some(r) = self.response.as_ref().filter(|r| r.usage.is_some()) {
                    m.report(r.usage());
                }
                m.finished = true;
            }
            "response.output_text.delta"
            | "response.function_call_arguments.delta"
            | "response.reasoning_summary_text.delta"
            | "response.reasoning_text.delta"
            | "response.refusal.delta" => m.saw_output(self.delta.0),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usage_bills_cached_input_at_the_cached_price_and_reasoning_as_output() {
        let mut m = Meter::default();
        let data = json!({"type": "response.output_text.delta", "delta": "0123456789abcdef"}).to_string();
        Event::parse(&data).unwrap().meter(&mut m);
        assert_eq!((m.output_chars, m.reported), (16, false));
        let data = json!({"type": "response.completed", "response": {"id": "resp_1", "status": "completed", "output": [{"x": 1}], "usage": {
            "input_tokens": 1000, "input_tokens_details": {"cached_tokens": 600},
            "output_tokens": 90, "output_tokens_details": {"reasoning_tokens": 64}, "total_tokens": 1090}}})
        .to_string();
        Event::parse(&data).unwrap().meter(&mut m);
        assert!(m.reported && m.finished);
        assert_eq!(m.usage, Usage { input: 400, output: 90, cache_read: 600, ..Usage::default() });
    }

    #[test]
    fn the_created_event_names_the_response_and_odd_deltas_count_nothing() {
        let data =
            json!({"type": "response.created", "response": {"id": "resp_9", "status": "in_progress", "usage": null}})
                .to_string();
        assert_eq!(Event::parse(&data).unwrap().created_id(), Some("resp_9"));
        let data = json!({"type": "response.audio.delta", "delta": {"odd": [1]}}).to_string();
        assert_eq!(Event::parse(&data).unwrap().delta, DeltaLength(0));
        let head = ResponseHead::parse(br#"{"id":"resp_2","status":"queued"}"#).unwrap();
        assert!(head.running() && head.usage().is_empty());
    }
}
