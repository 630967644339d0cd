//! OpenAI images, on `/v1/images/generations` (JSON) and `/v1/images/edits` (`multipart/form-data`, passed
//! on as it came), and on `/api/v1/ai/openai/{channel}/v1/images/...`. An image model's call passes through
//! to the OpenAI upstream and is billed by the price table's unit for it:
//! - per image (`image:MODEL SIZE QUALITY PRICE`, DALL·E): the hold is every image asked for (`n`) at the
//!   price of the size and quality asked; the bill is the images that came back. A size or quality without
//!   a price is refused before anything is sent.
//! - per token (gpt-image): text input, image input and image output tokens as the upstream reports them;
//!   the hold is every output token each image may have. An answer without usage is billed that worst
//!   case for each image it holds, never nothing.
//!
//! gpt-image models stream when asked (`stream: true`): partial images, then each image completed with its
//! usage, passed on as they come. A stream that fails before its first event costs nothing; one that breaks
//! after is billed what it reported (at least the partial images seen).

use super::call::{self, Admitted, Ask, ImageAsk};
use super::dialect::{Dialect, ProxyError};
use super::metering::{lenient_count, Meter};
use super::multipart;
use super::settlement_writer::CallGuard;
use super::sse;
use super::upstream::{Outgoing, UpstreamBody, UpstreamError};
use super::{CallBody, OnChannel, OpenAiBody, OpenAiChannel};
use crate::server::domain::ledger::CallOutcome;
use crate::server::domain::pricing::{ModelKind, Usage, DEFAULT_IMAGE_QUALITY, DEFAULT_IMAGE_SIZE};
use crate::server::metrics::Surface;
use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use std::time::Instant;

const D: Dialect = Dialect::OpenAi;
const GENERATIONS: &str = "/v1/images/generations";
const EDITS: &str = "/v1/images/edits";

/// What OpenAI bills each partial image of a stream, in output tokens (counted when a stream breaks
/// before reporting its usage).
const PARTIAL_IMAGE_TOKENS: usize = 100;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(GENERATIONS, post(call::<false>))
        .route("/api/v1/ai/openai/{channel}/v1/images/generations", post(call::<false>))
        .route(EDITS, post(call::<true>))
        .route("/api/v1/ai/openai/{channel}/v1/images/edits", post(call::<true>))
}

/// A generation (JSON), or an edit (`EDIT`: a form).
async fn call<const EDIT: bool>(
    State(state): State<AppState>,
    OnChannel(channel): OpenAiChannel,
    headers: HeaderMap,
    body: Result<OpenAiBody, Response>,
) -> Response {
    let s = state.clone();
    let on = (Surface::Images, D, channel);
    call::charged(&state, on, body.map(|CallBody(b)| b), |body, running| run(s, channel, headers, body, running, EDIT))
        .await
}

/// What admission and the relay need of an image request, from its JSON or its form.
#[derive(Debug, Default, PartialEq, Eq)]
struct Request {
    model: String,
    n: u64,
    size: Option<String>,
    quality: Option<String>,
    stream: bool,
}

/// Reads a generation's JSON.
fn from_json(body: &[u8]) -> Result<Request, ProxyError> {
    #[derive(serde::Deserialize)]
    struct Peek {
        #[serde(default)]
        model: Option<String>,
        #[serde(default)]
        prompt: Option<String>,
        #[serde(default)]
        n: Option<serde_json::Value>,
        #[serde(default)]
        size: Option<String>,
        #[serde(default)]
        quality: Option<String>,
        #[serde(default)]
        stream: Option<bool>,
    }
    let p: Peek = call::read_request(body)?;
    if p.prompt.as_deref().is_none_or(|t| t.trim().is_empty()) {
        return Err(ProxyError::BadRequest("`prompt` is required: the picture to make, in words.".into()));
    }
    let n = match p.n {
        None | Some(serde_json::Value::Null) => 1,
        Some(v) => v.as_u64().ok_or_else(|| ProxyError::BadRequest("`n` must be a whole number.".into()))?,
    };
    Ok(Request {
        model: p.model.unwrap_or_default(),
        n,
        size: p.size,
        quality: p.quality,
        stream: p.stream == Some(true),
    })
}

/// Reads an edit's form (its images stay where they are: only the text fields are read).
fn from_form(content_type: Option<&HeaderValue>, body: &[u8]) -> Result<Request, ProxyError> {
    let content_type = content_type.and_then(|v| v.to_str().ok()).unwrap_or_default();
    let form = multipart::read(content_type, body).map_err(ProxyError::BadRequest)?;
    if form.field("prompt").is_none_or(|t| t.trim().is_empty()) {
        return Err(ProxyError::BadRequest("`prompt` is required: the change to make, in words.".into()));
    }
    if form.file_count("image") == 0 {
        return Err(ProxyError::BadRequest("`image` is required: the image (or images) to edit, as files.".into()));
    }
    let n = match form.field("n") {
        None => 1,
        Some(n) => n.trim().parse().map_err(|_| ProxyError::BadRequest("`n` must be a whole number.".into()))?,
    };
    let text = |name: &str| form.field(name).map(str::to_string);
    // Read as an upstream would: a stream asked for in any spelling of true is a stream.
    let stream = match form.field("stream").map(|s| s.trim().to_ascii_lowercase()) {
        None => false,
        Some(s) if s == "true" || s == "1" => true,
        Some(s) if s == "false" || s == "0" || s.is_empty() => false,
        Some(_) => return Err(ProxyError::BadRequest("`stream` must be true or false.".into())),
    };
    Ok(Request { model: text("model").unwrap_or_default(), n, size: text("size"), quality: text("quality"), stream })
}

async fn run(
    state: AppState,
    channel: &'static str,
    headers: HeaderMap,
    body: Bytes,
    (running, started): (CallGuard, Instant),
    is_edit: bool,
) -> Response {
    let key = match call::authenticate(&state, &headers).await {
        Ok(k) => k,
        Err(e) => return e.into_response(D),
    };
    let form = is_edit.then(|| headers.get(header::CONTENT_TYPE).cloned()).flatten();
    let read = if is_edit { from_form(form.as_ref(), &body) } else { from_json(&body) };
    let request = match read {
        Ok(r) => r,
        Err(e) => return e.into_response(D),
    };
    let ask = Ask {
        user_id: key.user_id,
        key: Some(key),
        channel,
        model: request.model.clone(),
        kind: ModelKind::Image,
        max_tokens: None,
        choices: Some(request.n),
        prompts: 1,
        request_bytes: body.len(),
        web_searches: 0,
        image: Some(ImageAsk { size: request.size.clone(), quality: request.quality.clone() }),
        request_id: call::request_id_of(&headers),
    };
    let admitted = match call::admit(&state, ask).await {
        Ok(a) => a,
        Err(e) => return e.into_response(D),
    };
    let path = if is_edit { EDITS } else { GENERATIONS };
    // A generation priced per image names the size and quality it is billed for, so the upstream makes
    // exactly that (its own `auto` might choose a dearer one).
    let body = match admitted.per_image.is_some() && !is_edit {
        true => match pin_billed_options(&body) {
            Ok(b) => b,
            Err(e) => {
                call::release(&state, &admitted).await;
                return call::not_json(e).into_response(D);
            }
        },
        false => body,
    };
    let outgoing = Outgoing { bytes: body, stream: request.stream, form };
    let answer = match call::send_upstream(&state, &admitted, (D, D), path, &outgoing, &headers).await {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    match answer {
        UpstreamBody::Json(answer) => {
            let Some(usage) = whole_usage(&answer, &admitted) else {
                tracing::warn!(model = %admitted.model, "upstream answered with something that is not JSON");
                call::release(&state, &admitted).await;
                return call::upstream_error(&UpstreamError::Broken("not JSON".into())).into_response(D);
            };
            call::settle(&state, &admitted, usage, CallOutcome::Complete).await;
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], answer).into_response()
        }
        UpstreamBody::Stream(upstream) => {
            let watch = call::StreamWatch::new(&state, Surface::Images, started);
            let (relay, response) = call::open_stream(D, watch);
            let mut parser = sse::Parser::default();
            let mut made = Usage::default();
            // The upstream's bytes go as they came; each event is read once, for metering.
            call::relay_stream(state, admitted, running, (upstream, relay), move |piece, meter| {
                for ev in parser.push(&piece) {
                    meter_event(&ev.data, &mut made, meter);
                }
                vec![piece]
            });
            response
        }
    }
}

/// A generation's body with the size and quality it is billed for written in where it named none (or
/// `auto`).
fn pin_billed_options(body: &[u8]) -> Result<Bytes, serde_json::Error> {
    let mut v: serde_json::Value = serde_json::from_slice(body)?;
    for (field, default) in [("size", DEFAULT_IMAGE_SIZE), ("quality", DEFAULT_IMAGE_QUALITY)] {
        if v[field].as_str().is_none_or(|s| s.trim().is_empty() || s.trim() == "auto") {
            v[field] = serde_json::json!(default);
        }
    }
    Ok(Bytes::from(v.to_string()))
}

/// An image model's usage object (gpt-image): input split into text and image tokens, output image tokens.
#[derive(serde::Deserialize, Default)]
struct ImageUsage {
    #[serde(default, deserialize_with = "lenient_count")]
    input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    output_tokens: Option<u64>,
    #[serde(default)]
    input_tokens_details: Option<InputDetails>,
}

#[derive(serde::Deserialize, Default)]
struct InputDetails {
    #[serde(default, deserialize_with = "lenient_count")]
    text_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    image_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    cached_tokens: Option<u64>,
}

impl ImageUsage {
    /// In the price table's columns for an image model: text input, image output, image input, cached
    /// image input, cached text input. Cached tokens (reported as one number) are split between text and
    /// images in proportion to each.
    fn usage(&self) -> Usage {
        let details = self.input_tokens_details.as_ref();
        let image_in = details.and_then(|d| d.image_tokens).unwrap_or(0);
        let text_in = details
            .and_then(|d| d.text_tokens)
            .unwrap_or_else(|| self.input_tokens.unwrap_or(0).saturating_sub(image_in));
        let all = text_in.saturating_add(image_in);
        let cached = details.and_then(|d| d.cached_tokens).unwrap_or(0).min(all);
        let cached_image = match all {
            0 => 0,
            _ => u64::try_from(u128::from(cached) * u128::from(image_in) / u128::from(all)).unwrap_or(0),
        };
        let cached_text = cached - cached_image;
        Usage {
            input: text_in - cached_text,
            output: self.output_tokens.unwrap_or(0),
            cache_write_5m: image_in - cached_image,
            cache_write_1h: cached_image,
            cache_read: cached_text,
            ..Usage::default()
        }
    }
}

/// A whole answer's usage: the images it holds (every image asked for when it does not say), and its
/// tokens. `None` when the answer is not JSON.
fn whole_usage(answer: &[u8], p: &Admitted) -> Option<Usage> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(default)]
        data: Option<Vec<serde::de::IgnoredAny>>,
        #[serde(default)]
        usage: Option<serde_json::Value>,
    }
    let a: Answer = serde_json::from_slice(answer).ok()?;
    let images = a.data.map_or(p.limits.images, |d| u64::try_from(d.len()).unwrap_or(u64::MAX));
    let reported = a.usage.and_then(|u| serde_json::from_value::<ImageUsage>(u).ok()).map(|u| u.usage());
    let mut usage = Usage { images, ..reported.unwrap_or_default() };
    if p.per_image.is_none() && usage.has_no_tokens() {
        // Priced per token but reported none: each image held at its worst case, never free.
        tracing::warn!(model = %p.model, request = %p.request_key, "upstream anomaly: images without usage; billed at their worst case");
        usage.input = p.estimated_input;
        usage.output = (p.limits.output / p.limits.images.max(1)).saturating_mul(images);
    }
    Some(usage)
}

/// Meters one streamed event: a completed image adds its output to what the stream made (the prompt's
/// input is read once: the most any event reports); a partial image counts as the output tokens it is
/// billed, should the stream break before reporting.
fn meter_event(data: &str, made: &mut Usage, meter: &mut Meter) {
    #[derive(serde::Deserialize)]
    struct Event {
        #[serde(rename = "type", default)]
        kind: String,
        #[serde(default)]
        usage: Option<serde_json::Value>,
    }
    let Ok(ev) = serde_json::from_str::<Event>(data) else { return };
    if ev.kind.ends_with(".partial_image") {
        meter.saw_output(PARTIAL_IMAGE_TOKENS * 4);
    } else if ev.kind.ends_with(".completed") {
        let u = ev.usage.and_then(|u| serde_json::from_value::<ImageUsage>(u).ok()).unwrap_or_default().usage();
        let input = |u: &Usage| (u.input, u.cache_write_5m, u.cache_write_1h, u.cache_read);
        let (i, w5, w1, r) = if u.prompt_tokens() > made.prompt_tokens() { input(&u) } else { input(made) };
        *made = Usage {
            input: i,
            cache_write_5m: w5,
            cache_write_1h: w1,
            cache_read: r,
            output: made.output.saturating_add(u.output),
            images: made.images.saturating_add(1),
            ..Usage::default()
        };
        meter.report(*made);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generation_and_an_edit_read_the_same_fields() {
        let json = br#"{"model": "dall-e-3", "prompt": "a cat", "n": 1, "size": "1792x1024", "quality": "hd"}"#;
        let want = Request {
            model: "dall-e-3".into(),
            n: 1,
            size: Some("1792x1024".into()),
            quality: Some("hd".into()),
            stream: false,
        };
        assert_eq!(from_json(json).unwrap(), want);
        let form = b"--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ndall-e-3\r\n\
            --b\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na cat\r\n\
            --b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"c.png\"\r\n\r\n\x89PNG\r\n\
            --b\r\nContent-Disposition: form-data; name=\"size\"\r\n\r\n1792x1024\r\n\
            --b\r\nContent-Disposition: form-data; name=\"quality\"\r\n\r\nhd\r\n--b--\r\n";
        let ct = HeaderValue::from_static("multipart/form-data; boundary=b");
        assert_eq!(from_form(Some(&ct), form).unwrap(), want);
        assert_eq!(from_json(br#"{"model": "x", "prompt": "p"}"#).unwrap().n, 1);
    }

    #[test]
    fn bad_requests_say_what_is_missing() {
        let err = |r: Result<Request, ProxyError>| match r {
            Err(ProxyError::BadRequest(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(err(from_json(br#"{"model": "dall-e-3"}"#)).contains("`prompt` is required"));
        assert!(err(from_json(br#"{"model": "dall-e-3", "prompt": "p", "n": 1.5}"#)).contains("`n`"));
        let no_image = b"--b\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nx\r\n--b--";
        let ct = HeaderValue::from_static("multipart/form-data; boundary=b");
        assert!(err(from_form(Some(&ct), no_image)).contains("`image` is required"));
        assert!(err(from_form(None, no_image)).contains("multipart/form-data"));
    }

    #[test]
    fn a_generation_priced_per_image_names_the_size_and_quality_it_is_billed_for() {
        let pinned = |body: &str| {
            serde_json::from_slice::<serde_json::Value>(&pin_billed_options(body.as_bytes()).unwrap()).unwrap()
        };
        let v = pinned(r#"{"model": "dall-e-3", "prompt": "p", "quality": "auto"}"#);
        assert_eq!((v["size"].as_str(), v["quality"].as_str()), (Some("1024x1024"), Some("standard")));
        let v = pinned(r#"{"model": "dall-e-3", "prompt": "p", "size": "1792x1024", "quality": "hd"}"#);
        assert_eq!((v["size"].as_str(), v["quality"].as_str()), (Some("1792x1024"), Some("hd")), "named: kept");
    }

    #[test]
    fn image_usage_splits_text_and_image_input() {
        let u: ImageUsage = serde_json::from_str(
            r#"{"input_tokens": 50, "output_tokens": 4160, "input_tokens_details": {"text_tokens": 10, "image_tokens": 40}}"#,
        )
        .unwrap();
        assert_eq!(u.usage(), Usage { input: 10, output: 4160, cache_write_5m: 40, ..Usage::default() });
        let plain: ImageUsage = serde_json::from_str(r#"{"input_tokens": 12, "output_tokens": 272}"#).unwrap();
        assert_eq!(plain.usage(), Usage { input: 12, output: 272, ..Usage::default() });
        // 30 cached of 40 image and 20 text tokens: 20 of them images, 10 text.
        let cached: ImageUsage = serde_json::from_str(
            r#"{"input_tokens": 60, "output_tokens": 1, "input_tokens_details": {"text_tokens": 20, "image_tokens": 40, "cached_tokens": 30}}"#,
        )
        .unwrap();
        assert_eq!(
            cached.usage(),
            Usage { input: 10, output: 1, cache_write_5m: 20, cache_write_1h: 20, cache_read: 10, ..Usage::default() }
        );
    }

    #[test]
    fn a_stream_counts_completed_images_and_partial_ones() {
        let mut made = Usage::default();
        let mut meter = Meter::default();
        meter_event(r#"{"type": "image_generation.partial_image", "b64_json": "x"}"#, &mut made, &mut meter);
        assert!(!meter.reported && meter.output_chars == 400);
        let done = r#"{"type": "image_generation.completed", "usage": {"input_tokens": 9, "output_tokens": 1156,
            "input_tokens_details": {"text_tokens": 9, "image_tokens": 0}}}"#;
        meter_event(done, &mut made, &mut meter);
        meter_event(done, &mut made, &mut meter);
        assert_eq!(meter.usage, Usage { input: 9, output: 2312, images: 2, ..Usage::default() }, "input read once");
    }
}
