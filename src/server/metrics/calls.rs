//! What the proxy's API calls did: how many were answered, by API surface, channel and HTTP status, how
//! long they took, and how long a stream took to send its first piece.
//!
//! Every label is known when the process starts (surfaces are an enum, channels the proxy's own list,
//! statuses 100 to 599), so the counters are one pre-sized array of atomics indexed by all three: counting
//! a call is one atomic addition (and two for its duration's histogram), with no lock, map or allocation
//! on the hot path.

use super::exposition::{Exposition, Kind};
use super::histogram::{Histogram, SECONDS_BOUNDS_US, US_PER_SECOND};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The API surface a call came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    /// Anthropic's `POST /v1/messages`.
    Messages,
    /// Anthropic's `POST /v1/messages/count_tokens`.
    CountTokens,
    /// OpenAI's `POST /v1/chat/completions`.
    ChatCompletions,
    /// OpenAI's `POST /v1/responses` (creating a response).
    Responses,
    /// OpenAI's `/v1/responses/{id}` and what hangs off it: retrieve, delete, cancel, input items.
    ResponsesById,
    /// `GET /v1/models`.
    Models,
    /// OpenAI's `POST /v1/embeddings`.
    Embeddings,
    /// OpenAI's legacy `POST /v1/completions`.
    Completions,
    /// OpenAI's `POST /v1/audio/speech`.
    Speech,
    /// OpenAI's `POST /v1/images/generations` and `/v1/images/edits`.
    Images,
    /// OpenAI's Conversations (`/v1/conversations` and what hangs off it).
    Conversations,
    /// OpenAI's stored chat completions (`GET /v1/chat/completions`, `/v1/chat/completions/{id}`...).
    StoredCompletions,
}

impl Surface {
    pub const ALL: [Surface; 12] = [
        Self::Messages,
        Self::CountTokens,
        Self::ChatCompletions,
        Self::Responses,
        Self::ResponsesById,
        Self::Models,
        Self::Embeddings,
        Self::Completions,
        Self::Speech,
        Self::Images,
        Self::Conversations,
        Self::StoredCompletions,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Messages => "messages",
            Self::CountTokens => "count_tokens",
            Self::ChatCompletions => "chat_completions",
            Self::Responses => "responses",
            Self::ResponsesById => "responses_by_id",
            Self::Models => "models",
            Self::Embeddings => "embeddings",
            Self::Completions => "completions",
            Self::Speech => "speech",
            Self::Images => "images",
            Self::Conversations => "conversations",
            Self::StoredCompletions => "stored_completions",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The statuses counted one by one; anything else is not a status an HTTP response can carry.
const FIRST_STATUS: u16 = 100;
const STATUSES: usize = 500;
/// The label of calls on a channel the list given at start did not name (none, as routes stand).
const OTHER_CHANNEL: &str = "other";

#[derive(Debug)]
pub struct CallMetrics {
    /// The channels calls come on, in label order; one more slot counts any other.
    channels: Box<[&'static str]>,
    /// Answered calls, by surface, then channel, then status.
    answered: Box<[AtomicU64]>,
    /// By surface.
    durations: Box<[Histogram]>,
    first_pieces: Box<[Histogram]>,
}

impl CallMetrics {
    /// Counters for calls on `channels` (the plain channel's name among them).
    pub fn new(channels: &[&'static str]) -> Self {
        let slots = Surface::ALL.len() * (channels.len() + 1) * STATUSES;
        Self {
            channels: channels.into(),
            answered: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            durations: Surface::ALL.iter().map(|_| Histogram::new(&SECONDS_BOUNDS_US)).collect(),
            first_pieces: Surface::ALL.iter().map(|_| Histogram::new(&SECONDS_BOUNDS_US)).collect(),
        }
    }

    fn channel_index(&self, channel: &str) -> usize {
        self.channels.iter().position(|c| *c == channel).unwrap_or(self.channels.len())
    }

    fn slot(&self, surface: Surface, channel: usize, status: u16) -> Option<&AtomicU64> {
        let status = usize::from(status.checked_sub(FIRST_STATUS)?);
        if status >= STATUSES {
            return None;
        }
        self.answered.get((surface.index() * (self.channels.len() + 1) + channel) * STATUSES + status)
    }

    /// A call was answered with `status` (a refusal as much as a success).
    pub fn answered(&self, surface: Surface, channel: &str, status: u16) {
        if let Some(counter) = self.slot(surface, self.channel_index(channel), status) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How long a call took: to its whole answer, or to the end of its stream.
    pub fn took(&self, surface: Surface, elapsed: Duration) {
        if let Some(h) = self.durations.get(surface.index()) {
            h.observe(micros(elapsed));
        }
    }

    /// How long a streamed call took to hand its caller the first piece of the stream.
    pub fn first_piece(&self, surface: Surface, elapsed: Duration) {
        if let Some(h) = self.first_pieces.get(surface.index()) {
            h.observe(micros(elapsed));
        }
    }

    /// Calls answered so far with this surface, channel and status (tests, diagnostics).
    pub fn answered_count(&self, surface: Surface, channel: &str, status: u16) -> u64 {
        self.slot(surface, self.channel_index(channel), status).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    pub fn render(&self, out: &mut Exposition) {
        out.family(
            "gatehouse_requests_total",
            Kind::Counter,
            "API calls answered, by API surface, channel and HTTP status (refusals included).",
        );
        for surface in Surface::ALL {
            for channel in 0..=self.channels.len() {
                let name = self.channels.get(channel).copied().unwrap_or(OTHER_CHANNEL);
                for status in 0..STATUSES {
                    let code = FIRST_STATUS + u16::try_from(status).unwrap_or(0);
                    let n = self.slot(surface, channel, code).map_or(0, |c| c.load(Ordering::Relaxed));
                    // Only the combinations that happened: most of the grid never does.
                    if n > 0 {
                        let code = code.to_string();
                        let labels = [("surface", surface.as_str()), ("channel", name), ("status", code.as_str())];
                        out.count("gatehouse_requests_total", &labels, n);
                    }
                }
            }
        }
        out.family(
            "gatehouse_request_duration_seconds",
            Kind::Histogram,
            "How long API calls took, by API surface: to the whole answer, or to the end of a streamed one.",
        );
        for (surface, h) in Surface::ALL.iter().zip(self.durations.iter()) {
            let labels = [("surface", surface.as_str())];
            out.histogram("gatehouse_request_duration_seconds", &labels, &h.snapshot(), US_PER_SECOND);
        }
        out.family(
            "gatehouse_stream_first_byte_seconds",
            Kind::Histogram,
            "How long streamed API calls took to hand the caller the first piece of the stream, by API surface.",
        );
        for (surface, h) in Surface::ALL.iter().zip(self.first_pieces.iter()) {
            let labels = [("surface", surface.as_str())];
            out.histogram("gatehouse_stream_first_byte_seconds", &labels, &h.snapshot(), US_PER_SECOND);
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANNELS: &[&str] = &["default", "cc-omg", "codex-omg"];

    #[test]
    fn calls_are_counted_by_surface_channel_and_status() {
        let m = CallMetrics::new(CHANNELS);
        m.answered(Surface::Messages, "cc-omg", 200);
        m.answered(Surface::Messages, "cc-omg", 200);
        m.answered(Surface::Messages, "default", 401);
        m.answered(Surface::Models, "codex-omg", 599);
        m.answered(Surface::Responses, "elsewhere", 200);
        // Not statuses: ignored rather than counted somewhere wrong.
        m.answered(Surface::Messages, "default", 99);
        m.answered(Surface::Messages, "default", 600);
        assert_eq!(m.answered_count(Surface::Messages, "cc-omg", 200), 2);
        assert_eq!(m.answered_count(Surface::Messages, "default", 401), 1);
        assert_eq!(m.answered_count(Surface::Messages, "default", 200), 0);
        assert_eq!(m.answered_count(Surface::Models, "codex-omg", 599), 1);
        assert_eq!(m.answered_count(Surface::Responses, "other", 200), 1);
        let mut out = Exposition::default();
        m.render(&mut out);
        let text = out.finish();
        assert!(text.contains("gatehouse_requests_total{surface=\"messages\",channel=\"cc-omg\",status=\"200\"} 2\n"));
        assert!(text.contains("gatehouse_requests_total{surface=\"messages\",channel=\"default\",status=\"401\"} 1\n"));
        assert!(text.contains("gatehouse_requests_total{surface=\"responses\",channel=\"other\",status=\"200\"} 1\n"));
        assert_eq!(text.matches("gatehouse_requests_total{").count(), 4, "only what happened: {text}");
    }

    #[test]
    fn durations_and_first_pieces_are_histograms_by_surface() {
        let m = CallMetrics::new(CHANNELS);
        m.took(Surface::ChatCompletions, Duration::from_millis(30));
        m.took(Surface::ChatCompletions, Duration::from_secs(2));
        m.first_piece(Surface::Messages, Duration::from_millis(7));
        let mut out = Exposition::default();
        m.render(&mut out);
        let text = out.finish();
        let bucket =
            |le: &str| format!("gatehouse_request_duration_seconds_bucket{{surface=\"chat_completions\",le=\"{le}\"}}");
        assert!(text.contains(&format!("{} 1\n", bucket("0.05"))), "{text}");
        assert!(text.contains(&format!("{} 2\n", bucket("+Inf"))), "{text}");
        assert!(text.contains("gatehouse_request_duration_seconds_sum{surface=\"chat_completions\"} 2.03\n"));
        assert!(text.contains("gatehouse_stream_first_byte_seconds_count{surface=\"messages\"} 1\n"));
        assert!(text.contains("gatehouse_stream_first_byte_seconds_count{surface=\"models\"} 0\n"));
    }
}
