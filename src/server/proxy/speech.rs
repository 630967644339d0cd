//! OpenAI text to speech, on `/v1/audio/speech` and `/api/v1/ai/openai/{channel}/v1/audio/speech`. A speech
//! model is billed one of two ways (its price line's unit):
//! - **per character** of `input` (tts-1, tts-1-hd: the line's input column is per million characters),
//!   known before the call: the hold is the bill. The call passes through as it came, and its audio comes
//!   back as the upstream streams it.
//! - **per token** (gpt-4o-mini-tts, `billed=tokens`): text in, audio out, which the upstream reports only
//!   at the end of its event stream (`speech.audio.done`). Gatehouse always asks for that stream
//!   (`stream_format: "sse"`); a caller who asked for it gets the events as they came, any other gets the
//!   audio itself, decoded from the events' base64 as they arrive. Until the report, the call counts the
//!   audio heard so far (by its length), so a stream that breaks is billed what was made.
//!
//! Failing before the first byte costs nothing; once audio flowed the call is billed, however it ended.

use super::call::{self, Ask};
use super::dialect::{Dialect, ProxyError};
use super::metering::{lenient_count, Meter};
use super::settlement_writer::CallGuard;
use super::sse;
use super::upstream::{Outgoing, UpstreamBody, UpstreamError};
use super::{CallBody, OnChannel, OpenAiBody, OpenAiChannel};
use crate::server::domain::pricing::{ModelKind, Unit, Usage, AUDIO_TOKENS_PER_SECOND};
use crate::server::metrics::Surface;
use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use base64::Engine;
use std::borrow::Cow;
use std::time::Instant;

const D: Dialect = Dialect::OpenAi;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/audio/speech", post(call)).route("/api/v1/ai/openai/{channel}/v1/audio/speech", post(call))
}

async fn call(
    State(state): State<AppState>,
    OnChannel(channel): OpenAiChannel,
    headers: HeaderMap,
    body: Result<OpenAiBody, Response>,
) -> Response {
    let s = state.clone();
    let on = (Surface::Speech, D, channel);
    call::charged(&state, on, body.map(|CallBody(b)| b), |body, running| run(s, channel, headers, body, running)).await
}

#[derive(serde::Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    input: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    voice: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    response_format: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stream_format: Option<Cow<'a, str>>,
}

/// The content type of the audio asked for (OpenAI's answers carry the same; the mock's too).
pub fn content_type(response_format: Option<&str>, stream_format: Option<&str>) -> &'static str {
    if stream_format == Some("sse") {
        return "text/event-stream";
    }
    match response_format.unwrap_or("mp3") {
        "opus" => "audio/opus",
        "aac" => "audio/aac",
        "flac" => "audio/flac",
        "wav" => "audio/wav",
        "pcm" => "audio/pcm",
        _ => "audio/mpeg",
    }
}

async fn run(
    state: AppState,
    channel: &'static str,
    headers: HeaderMap,
    body: Bytes,
    (running, started): (CallGuard, Instant),
) -> Response {
    let key = match call::authenticate(&state, &headers).await {
        Ok(k) => k,
        Err(e) => return e.into_response(D),
    };
    let peek: Peek<'_> = match call::read_request(&body) {
        Ok(p) => p,
        Err(e) => return e.into_response(D),
    };
    let characters = peek.input.as_deref().map_or(0, |t| t.chars().count());
    if characters == 0 {
        return ProxyError::BadRequest("`input` is required: the text to read out.".into()).into_response(D);
    }
    if peek.voice.as_deref().is_none_or(str::is_empty) {
        return ProxyError::BadRequest("`voice` is required (such as alloy, nova or shimmer).".into()).into_response(D);
    }
    let kind = content_type(peek.response_format.as_deref(), peek.stream_format.as_deref());
    let ask = Ask {
        user_id: key.user_id,
        key: Some(key),
        channel,
        model: peek.model.as_deref().unwrap_or_default().to_string(),
        kind: ModelKind::Speech,
        max_tokens: None,
        choices: None,
        prompts: 1,
        request_bytes: body.len(),
        web_searches: 0,
        image: None,
        request_id: call::request_id_of(&headers),
    };
    let admitted = match call::admit(&state, ask).await {
        Ok(a) => a,
        Err(e) => return e.into_response(D),
    };
    let by_tokens = admitted.prices.table.lookup(&admitted.model).is_some_and(|p| p.unit() == Unit::Tokens);
    let events = peek.stream_format.as_deref() == Some("sse");
    let audio_format = peek.response_format.as_deref().unwrap_or("mp3").to_string();
    // Per character: the bill, known now: the characters read out, at most as many as the model reads in
    // one request (its price line's `context=`).
    let usage = Usage { input: u64::try_from(characters).unwrap_or(u64::MAX), ..Usage::default() };
    if !by_tokens && usage.input > admitted.limits.input {
        call::release(&state, &admitted).await;
        return ProxyError::BadRequest(format!(
            "`input` must be at most {} characters for `{}` (it has {characters}).",
            admitted.limits.input, admitted.model
        ))
        .into_response(D);
    }
    // Per token: the usage comes only in the event stream, so that is what the upstream is asked for.
    let body = match (by_tokens, events) {
        (true, false) => match ask_for_events(&body) {
            Ok(b) => b,
            Err(e) => {
                call::release(&state, &admitted).await;
                return call::not_json(e).into_response(D);
            }
        },
        _ => body,
    };
    let outgoing = Outgoing::body(body, true);
    let answer = match call::send_upstream(&state, &admitted, (D, D), "/v1/audio/speech", &outgoing, &headers).await {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    // Asked for as a stream, the audio comes as one (from every provider, the mock included).
    let UpstreamBody::Stream(upstream) = answer else {
        call::release(&state, &admitted).await;
        return call::upstream_error(&UpstreamError::Broken("whole audio where a stream was asked".into()))
            .into_response(D);
    };
    let watch = call::StreamWatch::new(&state, Surface::Speech, started);
    let (relay, mut response) = call::open_stream(D, watch);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if by_tokens {
        let mut heard = Heard::new(events, &audio_format, admitted.estimated_input);
        call::relay_stream(state, admitted, running, (upstream, relay), move |piece, meter| heard.each(piece, meter));
        return response;
    }
    // The audio passes as it comes; its first byte makes the call billable.
    call::relay_stream(state, admitted, running, (upstream, relay), move |piece, meter| {
        if !meter.reported && !piece.is_empty() {
            meter.report(usage);
        }
        vec![piece]
    });
    response
}

/// The request with `stream_format: "sse"` written in (the caller asked for the audio itself).
fn ask_for_events(body: &[u8]) -> Result<Bytes, serde_json::Error> {
    let mut v: serde_json::Value = serde_json::from_slice(body)?;
    v["stream_format"] = serde_json::json!("sse");
    Ok(Bytes::from(v.to_string()))
}

/// Bytes a second of audio takes in `format`, for counting the audio heard before the upstream's report:
/// 24 kHz 16-bit PCM (and WAV), and the bit rates of the compressed formats.
fn bytes_per_second(format: &str) -> u64 {
    match format {
        "pcm" | "wav" => 48_000,
        "flac" => 32_000,
        "opus" => 8_000,
        // mp3 and aac at 128 kbit/s.
        _ => 16_000,
    }
}

/// One event of the upstream's speech stream: a piece of audio (base64) or the end with the usage.
#[derive(serde::Deserialize)]
struct SpeechEvent {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    audio: Option<String>,
    #[serde(default)]
    usage: Option<SpeechUsage>,
}

#[derive(serde::Deserialize)]
struct SpeechUsage {
    #[serde(default, deserialize_with = "lenient_count")]
    input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    output_tokens: Option<u64>,
}

/// Base64 as upstreams send it: with or without its padding.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// How a speech stream came: not known before its first bytes say (held until then, a few bytes), server-sent
/// events as asked, or audio from an upstream that ignored `stream_format`.
enum Form {
    Unknown(Vec<u8>),
    Events,
    Audio,
}

/// The most bytes held while a stream's form is unknown (blank lines, say) before it counts as audio.
const FORM_UNKNOWN_BYTES: usize = 4096;

/// Follows a token-billed speech stream: what the caller gets of each piece (the events as they came, or
/// the audio in them), and the usage to bill: the upstream's report, with any audio heard after it, or
/// until then the audio heard.
struct Heard {
    parser: sse::Parser,
    /// The caller asked for the events themselves (`stream_format: "sse"`).
    events: bool,
    form: Form,
    audio_bytes: u64,
    bytes_per_second: u64,
    estimated_input: u64,
    /// The upstream's report (`speech.audio.done`), and the audio heard when it came.
    reported: Option<(Usage, u64)>,
}

impl Heard {
    fn new(events: bool, format: &str, estimated_input: u64) -> Self {
        Self {
            parser: sse::Parser::default(),
            events,
            form: Form::Unknown(Vec::new()),
            audio_bytes: 0,
            bytes_per_second: bytes_per_second(format),
            estimated_input,
            reported: None,
        }
    }

    fn each(&mut self, piece: Bytes, meter: &mut Meter) -> Vec<Bytes> {
        let piece = match &mut self.form {
            Form::Unknown(held) => {
                held.extend_from_slice(&piece);
                match form_of(held) {
                    None => return Vec::new(),
                    Some(form) => {
                        let first = Bytes::from(std::mem::take(held));
                        self.form = form;
                        first
                    }
                }
            }
            _ => piece,
        };
        if matches!(self.form, Form::Audio) {
            self.heard(piece.len(), meter);
            return vec![piece];
        }
        let mut audio = Vec::new();
        for ev in self.parser.push(&piece) {
            let Ok(event) = serde_json::from_str::<SpeechEvent>(&ev.data) else { continue };
            match event.kind.as_str() {
                "speech.audio.delta" => {
                    let text = event.audio.unwrap_or_default();
                    match BASE64.decode(text.trim()) {
                        Ok(bytes) => {
                            self.heard(bytes.len(), meter);
                            if !self.events {
                                audio.push(Bytes::from(bytes));
                            }
                        }
                        Err(e) => {
                            // Counted as the audio it would have been, whoever can read it.
                            tracing::warn!(error = %e, "upstream anomaly: speech audio that is not base64");
                            self.heard(text.len() / 4 * 3, meter);
                        }
                    }
                }
                "speech.audio.done" => match event.usage.and_then(|u| Some((u.input_tokens, u.output_tokens?))) {
                    // No audio tokens reported for audio that was heard is no report.
                    Some((input, output)) if output > 0 || self.audio_bytes == 0 => {
                        let input = input.unwrap_or(self.estimated_input);
                        self.reported = Some((Usage { input, output, ..Usage::default() }, self.audio_bytes));
                        self.bill(meter);
                    }
                    _ => tracing::warn!("upstream anomaly: speech without its usage; billed by the audio heard"),
                },
                _ => {}
            }
        }
        if self.events {
            vec![piece]
        } else {
            audio
        }
    }

    /// Audio of `bytes` bytes was heard.
    fn heard(&mut self, bytes: usize, meter: &mut Meter) {
        self.audio_bytes = self.audio_bytes.saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
        self.bill(meter);
    }

    /// The usage to bill so far: the upstream's report and the audio tokens of any audio after it, or before
    /// it the estimated input and the audio tokens of the audio heard.
    fn bill(&self, meter: &mut Meter) {
        let tokens = |bytes: u64| bytes.saturating_mul(AUDIO_TOKENS_PER_SECOND).div_ceil(self.bytes_per_second);
        let usage = match self.reported {
            Some((usage, at)) => Usage { output: usage.output.saturating_add(tokens(self.audio_bytes - at)), ..usage },
            None => Usage { input: self.estimated_input, output: tokens(self.audio_bytes).max(1), ..Usage::default() },
        };
        meter.report(usage);
    }
}

/// What a stream's first bytes say it is: server-sent events (a field or a comment line), audio, or not yet
/// known (nothing but blank lines, or the start of a field name, so far).
fn form_of(first: &[u8]) -> Option<Form> {
    const FIELDS: [&[u8]; 5] = [b"data:", b"event:", b"id:", b"retry:", b":"];
    let start = first.iter().position(|b| !b.is_ascii_whitespace()).map_or(&[][..], |i| &first[i..]);
    if FIELDS.iter().any(|f| start.starts_with(f)) {
        return Some(Form::Events);
    }
    let undecided = start.is_empty() || FIELDS.iter().any(|f| f.starts_with(start));
    match undecided && first.len() < FORM_UNKNOWN_BYTES {
        true => None,
        false => Some(Form::Audio),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audio_keeps_the_content_type_of_its_format() {
        assert_eq!(content_type(None, None), "audio/mpeg");
        assert_eq!(content_type(Some("wav"), None), "audio/wav");
        assert_eq!(content_type(Some("opus"), None), "audio/opus");
        assert_eq!(content_type(Some("mp3"), Some("sse")), "text/event-stream");
    }

    fn delta(audio: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(audio);
        format!("data: {{\"type\":\"speech.audio.delta\",\"audio\":\"{b64}\"}}\n\n")
    }

    const DONE: &str =
        "data: {\"type\":\"speech.audio.done\",\"usage\":{\"input_tokens\":14,\"output_tokens\":101,\"total_tokens\":115}}\n\n";

    #[test]
    fn the_audio_is_decoded_from_the_events_and_billed_as_the_upstream_reports() {
        let mut heard = Heard::new(false, "mp3", 30);
        let mut meter = Meter::default();
        let stream = format!("{}{}{DONE}", delta(&[1, 2, 3]), delta(&[4; 16_000]));
        // Cut anywhere, even inside an event: the caller gets the audio bytes and nothing else.
        let (a, b) = stream.as_bytes().split_at(20);
        let mut audio = heard.each(Bytes::copy_from_slice(a), &mut meter);
        assert!(audio.is_empty() && !meter.reported);
        audio.extend(heard.each(Bytes::copy_from_slice(b), &mut meter));
        assert_eq!(audio.concat(), [&[1u8, 2, 3][..], &[4; 16_000]].concat());
        assert_eq!(meter.usage, Usage { input: 14, output: 101, ..Usage::default() });
    }

    #[test]
    fn until_the_report_the_audio_heard_is_billed_and_events_pass_as_they_came() {
        let mut heard = Heard::new(true, "pcm", 30);
        let mut meter = Meter::default();
        // Two seconds of 24 kHz PCM, and the stream breaks: 42 audio tokens, the input estimated.
        let piece = Bytes::from(delta(&[0; 96_000]));
        assert_eq!(heard.each(piece.clone(), &mut meter), vec![piece]);
        assert_eq!(meter.usage, Usage { input: 30, output: 42, ..Usage::default() });
        // A stream that ends without usage keeps what was heard; a report replaces it.
        heard.each(Bytes::from_static(b"data: {\"type\":\"speech.audio.done\"}\n\n"), &mut meter);
        assert_eq!(meter.usage.output, 42);
        heard.each(Bytes::from_static(DONE.as_bytes()), &mut meter);
        assert_eq!(meter.usage, Usage { input: 14, output: 101, ..Usage::default() });
    }

    #[test]
    fn audio_where_events_were_asked_passes_and_is_counted_by_its_length() {
        let mut heard = Heard::new(false, "mp3", 5);
        let mut meter = Meter::default();
        let mp3 = Bytes::from(vec![0xFF; 32_000]);
        assert_eq!(heard.each(mp3.clone(), &mut meter), vec![mp3]);
        assert_eq!(meter.usage, Usage { input: 5, output: 42, ..Usage::default() });
        // The form is known once the first bytes say it, held until then.
        assert!(matches!(form_of(b"\n: keep-alive\n\n"), Some(Form::Events)));
        assert!(matches!(form_of(b"data: {}"), Some(Form::Events)));
        assert!(form_of(b"\n").is_none() && form_of(b"da").is_none() && form_of(b"").is_none());
        assert!(matches!(form_of(b"RIFF....WAVE"), Some(Form::Audio)));
        assert!(matches!(form_of(&[b'\n'; FORM_UNKNOWN_BYTES]), Some(Form::Audio)));
        let mut heard = Heard::new(false, "mp3", 5);
        let mut meter = Meter::default();
        assert!(heard.each(Bytes::from_static(b"\n"), &mut meter).is_empty());
        assert!(heard.each(Bytes::from_static(b"da"), &mut meter).is_empty());
        let rest = format!("{}{DONE}", delta(&[7; 10]).trim_start_matches("da"));
        assert_eq!(heard.each(Bytes::from(rest), &mut meter).concat(), vec![7; 10]);
        assert_eq!(meter.usage, Usage { input: 14, output: 101, ..Usage::default() });
    }

    #[test]
    fn a_report_without_audio_tokens_keeps_the_audio_heard_and_audio_after_it_is_billed_too() {
        let mut heard = Heard::new(true, "pcm", 30);
        let mut meter = Meter::default();
        heard.each(Bytes::from(delta(&[0; 48_000])), &mut meter);
        for empty in [r#"{}"#, r#"{"input_tokens": 9}"#, r#"{"input_tokens": 9, "output_tokens": 0}"#] {
            let done = format!("data: {{\"type\":\"speech.audio.done\",\"usage\":{empty}}}\n\n");
            heard.each(Bytes::from(done), &mut meter);
            assert_eq!(meter.usage, Usage { input: 30, output: 21, ..Usage::default() }, "{empty}");
        }
        heard.each(Bytes::from_static(DONE.as_bytes()), &mut meter);
        heard.each(Bytes::from(delta(&[0; 96_000])), &mut meter);
        assert_eq!(meter.usage, Usage { input: 14, output: 101 + 42, ..Usage::default() });
        // Audio that is not base64 is counted as the audio it would have been; unpadded base64 is read.
        let mut heard = Heard::new(false, "pcm", 30);
        let mut meter = Meter::default();
        let odd = "data: {\"type\":\"speech.audio.delta\",\"audio\":\"!!!!\"}\n\n";
        assert!(heard.each(Bytes::from_static(odd.as_bytes()), &mut meter).is_empty());
        assert_eq!(meter.usage.output, 1);
        let unpadded = "data: {\"type\":\"speech.audio.delta\",\"audio\":\"AQI\"}\n\n";
        assert_eq!(heard.each(Bytes::from_static(unpadded.as_bytes()), &mut meter).concat(), vec![1, 2]);
    }

    #[test]
    fn the_upstream_is_asked_for_events() {
        let body = ask_for_events(br#"{"model":"gpt-4o-mini-tts","input":"hi","stream_format":"audio"}"#).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!((v["stream_format"].as_str(), v["input"].as_str()), (Some("sse"), Some("hi")));
    }
}
