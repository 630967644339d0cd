//! The mock's OpenAI text to speech (`POST /v1/audio/speech`): silence as long as the text would take to
//! read (about 15 characters a second, at most 10 s), streamed in pieces: a real WAV file for
//! `response_format: wav`, raw 16-bit PCM for `pcm`, and MPEG audio frames otherwise. Asked for
//! `stream_format: "sse"` (which tts-1 and tts-1-hd refuse, as OpenAI's do), the audio comes as
//! `speech.audio.delta` events (base64) and ends with `speech.audio.done` and its usage: text and
//! instruction tokens in, about 21 audio tokens a second out. The failure and usage suffixes of `mock`
//! apply (`-fail-midstream` breaks it halfway).

use super::{failure, first_byte_wait, reported, stream_of, tokens_of, Shape};
use crate::server::proxy::sse;
use crate::server::proxy::upstream::{UpstreamError, UpstreamResponse};
use axum::body::Bytes;
use base64::Engine;
use serde_json::{json, Value};

/// The PCM the mock speaks: 24 kHz, 16-bit, mono (as OpenAI's `pcm`).
const RATE: u32 = 24_000;
/// One MPEG-1 Layer III frame at 128 kbit/s and 44.1 kHz: 417 bytes, 26 ms.
const MP3_FRAME: usize = 417;
/// Bytes sent a piece.
const PIECE: usize = 16 * 1024;

fn bad_request(message: &str, param: &str) -> UpstreamError {
    let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": null}});
    UpstreamError::Status { status: 400, body: body.to_string() }
}

/// The audio of `seconds` of silence in `format`.
fn silence(format: &str, seconds: f64) -> Vec<u8> {
    let samples = (f64::from(RATE) * seconds) as u32;
    let pcm = vec![0u8; samples as usize * 2];
    match format {
        "pcm" => pcm,
        "wav" => {
            let mut wav = Vec::with_capacity(44 + pcm.len());
            let data = u32::try_from(pcm.len()).unwrap_or(u32::MAX);
            wav.extend_from_slice(b"RIFF");
            wav.extend_from_slice(&(36 + data).to_le_bytes());
            wav.extend_from_slice(b"WAVEfmt ");
            wav.extend_from_slice(&16u32.to_le_bytes());
            wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
            wav.extend_from_slice(&1u16.to_le_bytes()); // mono
            wav.extend_from_slice(&RATE.to_le_bytes());
            wav.extend_from_slice(&(RATE * 2).to_le_bytes());
            wav.extend_from_slice(&2u16.to_le_bytes());
            wav.extend_from_slice(&16u16.to_le_bytes());
            wav.extend_from_slice(b"data");
            wav.extend_from_slice(&data.to_le_bytes());
            wav.extend_from_slice(&pcm);
            wav
        }
        _ => {
            let frames = ((seconds / 0.026) as usize).max(1);
            let mut frame = vec![0u8; MP3_FRAME];
            frame[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
            frame.repeat(frames)
        }
    }
}

pub async fn answer(request: &Value, shape: Shape) -> Result<UpstreamResponse, UpstreamError> {
    let model = request["model"].as_str().unwrap_or("tts-1").to_string();
    if let Some(e) = failure(&model) {
        return Err(e);
    }
    let Some(text) = request["input"].as_str().filter(|t| !t.is_empty()) else {
        return Err(bad_request("`input` is required: the text to read out.", "input"));
    };
    if request["voice"].as_str().is_none_or(str::is_empty) {
        return Err(bad_request("`voice` is required (alloy, echo, fable, onyx, nova, shimmer, ...).", "voice"));
    }
    let events = request["stream_format"] == "sse";
    if events && model.starts_with("tts-1") {
        return Err(bad_request(&format!("`stream_format: sse` is not supported for {model}."), "stream_format"));
    }
    first_byte_wait(&model, shape).await;
    let seconds = (text.chars().count() as f64 / 15.0).clamp(0.5, 10.0);
    let format = request["response_format"].as_str().unwrap_or("mp3");
    let audio = silence(format, seconds);
    let mut chunks: Vec<Bytes> = audio.chunks(PIECE).map(Bytes::copy_from_slice).collect();
    if events {
        let engine = base64::engine::general_purpose::STANDARD;
        let delta = |c: &Bytes| json!({"type": "speech.audio.delta", "audio": engine.encode(c)}).to_string();
        chunks = chunks.iter().map(|c| sse::write(None, &delta(c))).collect();
        let instructions = request["instructions"].as_str().map_or(0, tokens_of);
        let mut done = json!({"type": "speech.audio.done"});
        if let Some((input, output)) = reported(&model, tokens_of(text) + instructions, audio_tokens(seconds)) {
            done["usage"] = json!({"input_tokens": input, "output_tokens": output,
                                   "total_tokens": input.saturating_add(output)});
        }
        chunks.push(sse::write(None, &done.to_string()));
    }
    Ok(UpstreamResponse::stream(stream_of(chunks, &model, shape.pace)))
}

/// The audio tokens `seconds` of speech make (gpt-4o-mini-tts: 1,250 a minute).
fn audio_tokens(seconds: f64) -> u64 {
    (seconds * 1250.0 / 60.0).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wav_says_its_length_and_mp3_is_whole_frames() {
        let wav = silence("wav", 1.0);
        assert_eq!(&wav[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize, wav.len() - 44);
        assert_eq!(wav.len() - 44, 48_000);
        let mp3 = silence("mp3", 1.0);
        assert_eq!(mp3.len() % MP3_FRAME, 0);
        assert_eq!(&mp3[..2], &[0xFF, 0xFB]);
    }

    #[tokio::test]
    async fn asked_for_events_the_audio_comes_in_deltas_and_ends_with_its_usage() {
        use futures_util::StreamExt;
        let ask = json!({"model": "gpt-4o-mini-tts", "voice": "coral", "input": "x".repeat(150),
                         "instructions": "Calmly.", "stream_format": "sse"});
        let crate::server::proxy::upstream::UpstreamBody::Stream(mut s) =
            answer(&ask, Shape::default()).await.unwrap().body
        else {
            panic!("a stream")
        };
        let mut parser = sse::Parser::default();
        let mut events = Vec::new();
        while let Some(chunk) = s.next().await {
            events.extend(parser.push(&chunk.unwrap()));
        }
        let last: Value = serde_json::from_str(&events.pop().unwrap().data).unwrap();
        // 150 characters: 10 s of audio, 209 audio tokens; 38 + 2 tokens of text in.
        assert_eq!(last["usage"], json!({"input_tokens": 40, "output_tokens": 209, "total_tokens": 249}));
        let audio: Vec<u8> = events
            .iter()
            .flat_map(|e| {
                let v: Value = serde_json::from_str(&e.data).unwrap();
                assert_eq!(v["type"], "speech.audio.delta");
                base64::engine::general_purpose::STANDARD.decode(v["audio"].as_str().unwrap()).unwrap()
            })
            .collect();
        assert_eq!(audio, silence("mp3", 10.0));
        let tts = json!({"model": "tts-1", "voice": "alloy", "input": "hi", "stream_format": "sse"});
        assert!(matches!(answer(&tts, Shape::default()).await, Err(UpstreamError::Status { status: 400, .. })));
    }
}
