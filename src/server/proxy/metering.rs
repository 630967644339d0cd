//! Stage 4 of a call: meter it. Each API surface reads its own usage and events (`messages::events`,
//! `chat_completions::chunk`, `responses::events`) and tells a [`Meter`] what they said; the meter keeps the
//! usage so far, the output seen, and whether the answer ended properly, and gives the usage to bill.

use crate::server::domain::pricing::Usage;
use serde::de::DeserializeOwned;

/// A surface's usage object, read from the upstream's JSON.
pub trait Reported: DeserializeOwned {
    /// The usage it reports, in the units the price table bills.
    fn usage(&self) -> Usage;
}

/// The usage of a whole (not streamed) answer, read as `R` without building the rest of the answer: empty
/// when the answer has none (or one that cannot be read: billed by the estimate), `None` only when the
/// answer is not JSON. An answer's usage is read straight into `R`; only one that `R` cannot take as it
/// stands (not an object, a key twice) is read again, through a JSON value, so that it bills what it can.
pub fn answer_usage<R: Reported>(answer: &[u8]) -> Option<Usage> {
    #[derive(serde::Deserialize)]
    struct Answer<U> {
        usage: Option<U>,
    }
    if let Ok(a) = serde_json::from_slice::<Answer<R>>(answer) {
        return Some(a.usage.map(|u| u.usage()).unwrap_or_default());
    }
    let a: Answer<serde_json::Value> = serde_json::from_slice(answer).ok()?;
    Some(a.usage.and_then(|u| R::deserialize(u).ok()).map(|u| u.usage()).unwrap_or_default())
}

/// A token count as upstreams send it: anything but a non-negative integer (null, a float, a string) reads
/// as absent instead of failing the whole usage object, so one odd field never hides the others.
pub fn lenient_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::Deserialize;
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => {
            n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0).map(|f| f as u64))
        }
        _ => None,
    })
}

/// Follows a stream and keeps the usage so far, and whether it ended properly.
#[derive(Default)]
pub struct Meter {
    pub usage: Usage,
    /// Usage was reported by the upstream (not only estimated).
    pub reported: bool,
    pub finished: bool,
    /// Bytes of output seen, for an estimate when the stream breaks before reporting usage.
    pub output_chars: usize,
}

impl Meter {
    /// The upstream reported the call's whole usage so far.
    pub fn report(&mut self, usage: Usage) {
        self.usage = usage;
        self.reported = true;
    }

    /// Output text of `bytes` bytes went by.
    pub fn saw_output(&mut self, bytes: usize) {
        self.output_chars = self.output_chars.saturating_add(bytes);
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

    #[test]
    fn reported_usage_is_billed_with_the_output_at_least_what_was_seen() {
        let mut m = Meter::default();
        m.saw_output(400);
        m.report(Usage { input: 10, output: 20, ..Usage::default() });
        assert_eq!(m.usage_for_billing(99), Usage { input: 10, output: 100, ..Usage::default() });
        assert_eq!(Meter::default().usage_for_billing(0), Usage { input: 1, output: 0, ..Usage::default() });
    }

    #[derive(serde::Deserialize)]
    struct Counted {
        #[serde(default, deserialize_with = "lenient_count")]
        n: Option<u64>,
    }

    #[derive(serde::Deserialize)]
    struct Reports {
        #[serde(default, deserialize_with = "lenient_count")]
        n: Option<u64>,
        #[serde(default)]
        inner: Option<Counted>,
    }

    impl Reported for Reports {
        fn usage(&self) -> Usage {
            Usage {
                input: self.n.unwrap_or(0),
                output: self.inner.as_ref().and_then(|i| i.n).unwrap_or(0),
                ..Usage::default()
            }
        }
    }

    #[test]
    fn an_answers_usage_is_read_whatever_its_shape_and_only_what_is_not_json_fails() {
        let read = |json: &str| answer_usage::<Reports>(json.as_bytes());
        let usage = |input, output| Some(Usage { input, output, ..Usage::default() });
        assert_eq!(
            read(r#"{"id": "x", "content": [{"text": "hi"}], "usage": {"n": 3, "inner": {"n": 4}}}"#),
            usage(3, 4)
        );
        assert_eq!(read(r#"{"id": "x"}"#), usage(0, 0), "no usage: billed by the estimate");
        assert_eq!(read(r#"{"usage": null}"#), usage(0, 0));
        assert_eq!(read(r#"{"usage": "lots"}"#), usage(0, 0), "unreadable usage: billed by the estimate");
        assert_eq!(read(r#"{"usage": {"n": 3, "inner": "odd"}}"#), usage(0, 0));
        // A key twice: the last one counts, as a JSON value keeps it.
        assert_eq!(read(r#"{"usage": {"n": 3, "n": 5}}"#), usage(5, 0));
        // Content of a field nobody reads is not checked (as anywhere else in the answer): the usage counts.
        assert_eq!(read(r#"{"usage": {"n": 3, "x": 1e400, "y": "\ud800"}}"#), usage(3, 0));
        assert_eq!(read("not json"), None);
        assert_eq!(read(r#"{"usage": {"n": 3}"#), None, "cut short");
    }

    #[test]
    fn odd_token_counts_read_as_absent_and_never_fail_the_object() {
        let read = |json: &str| serde_json::from_str::<Counted>(json).map(|c| c.n).unwrap();
        assert_eq!(read(r#"{"n": 12}"#), Some(12));
        assert_eq!(read(r#"{"n": 12.0}"#), Some(12));
        assert_eq!(read(r#"{"n": null}"#), None);
        assert_eq!(read(r#"{"n": -3}"#), None);
        assert_eq!(read(r#"{"n": "7"}"#), None);
        assert_eq!(read(r#"{}"#), None);
    }
}
