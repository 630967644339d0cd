//! The mock's OpenAI images (`POST /v1/images/generations` and `/v1/images/edits`, the edit's form read
//! into the same JSON by [`super::form_request`]): each image a small PNG of one colour taken from the
//! prompt, as base64 or as a URL (`response_format`; gpt-image models always answer base64). DALL·E models
//! check their sizes, qualities and `n` as OpenAI does and report no usage; gpt-image models report tokens
//! as OpenAI does (text and image input, image output by size and quality) and stream when asked: partial
//! images, then each image completed with its usage. The failure suffixes of `mock` apply.

use super::{failure, first_byte_wait, fxhash, reported, sse, stream_of, tokens_of, Shape};
use crate::server::proxy::upstream::{UpstreamError, UpstreamResponse};
use axum::body::Bytes;
use base64::Engine;
use serde_json::{json, Value};

fn bad_request(message: &str, param: &str) -> UpstreamError {
    let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": null}});
    UpstreamError::Status { status: 400, body: body.to_string() }
}

/// A PNG of `side`×`side` pixels of one RGB colour (stored, not compressed: the mock needs no encoder).
pub fn png(side: u32, rgb: [u8; 3]) -> Vec<u8> {
    let row: Vec<u8> = std::iter::once(0u8).chain((0..side).flat_map(|_| rgb)).collect();
    let raw: Vec<u8> = (0..side).flat_map(|_| row.iter().copied()).collect();
    // A zlib stream of stored blocks (at most 65,535 bytes each), then the Adler-32 of the raw bytes.
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        let len = u16::try_from(block.len()).unwrap_or(u16::MAX);
        z.push(u8::from(i + 1 == blocks.len()));
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    let (a, b) = raw.iter().fold((1u32, 0u32), |(a, b), x| {
        let a = (a + u32::from(*x)) % 65_521;
        (a, (b + a) % 65_521)
    });
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    for (kind, data) in [(b"IHDR", ihdr), (b"IDAT", z), (b"IEND", Vec::new())] {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(&data);
        out.extend_from_slice(&chunk);
        out.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |crc, b| {
        (0..8).fold(crc ^ u32::from(*b), |c, _| if c & 1 == 1 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 })
    })
}

/// The sizes and qualities a model makes (`None`: the model is not an image model the mock knows).
fn offered(model: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    if model.starts_with("dall-e-3") {
        Some((&["1024x1024", "1792x1024", "1024x1792"], &["standard", "hd", "auto"]))
    } else if model.starts_with("dall-e-2") {
        Some((&["256x256", "512x512", "1024x1024"], &["standard", "auto"]))
    } else if model.starts_with("gpt-image") {
        Some((&["auto", "1024x1024", "1536x1024", "1024x1536"], &["low", "medium", "high", "auto"]))
    } else {
        None
    }
}

/// The image tokens OpenAI bills a gpt-image picture of `size` at `quality`.
fn output_tokens(size: &str, quality: &str) -> u64 {
    let square = matches!(size, "1024x1024" | "auto");
    match (quality, square) {
        ("low", true) => 272,
        ("low", false) => 408,
        ("high", true) => 4160,
        ("high", false) => 6240,
        (_, true) => 1056,
        (_, false) => 1584,
    }
}

/// Input tokens of each image given to an edit.
const TOKENS_PER_INPUT_IMAGE: u64 = 323;
/// Output tokens of each partial image of a stream.
const TOKENS_PER_PARTIAL: u64 = 100;

pub async fn answer(path: &str, request: &Value, shape: Shape) -> Result<UpstreamResponse, UpstreamError> {
    let edit = path.ends_with("/edits");
    let model = request["model"].as_str().unwrap_or("dall-e-2").to_string();
    if let Some(e) = failure(&model) {
        return Err(e);
    }
    let Some((sizes, qualities)) = offered(&model) else {
        return Err(bad_request(&format!("`{model}` does not make images."), "model"));
    };
    let Some(prompt) = request["prompt"].as_str().filter(|p| !p.trim().is_empty()) else {
        return Err(bad_request("`prompt` is required.", "prompt"));
    };
    let inputs = request["image"].as_u64().unwrap_or(0);
    if edit && inputs == 0 {
        return Err(bad_request("`image` is required: the image to edit.", "image"));
    }
    let gpt_image = model.starts_with("gpt-image");
    let n = request["n"].as_u64().unwrap_or(1);
    let most = if model.starts_with("dall-e-3") { 1 } else { 10 };
    if n == 0 || n > most {
        return Err(bad_request(&format!("`n` must be between 1 and {most} for `{model}`."), "n"));
    }
    let size = request["size"].as_str().unwrap_or(if gpt_image { "auto" } else { "1024x1024" });
    if !sizes.contains(&size) {
        return Err(bad_request(&format!("`size` must be one of {} for `{model}`.", sizes.join(", ")), "size"));
    }
    let quality = request["quality"].as_str().unwrap_or("auto");
    if !qualities.contains(&quality) {
        return Err(bad_request(
            &format!("`quality` must be one of {} for `{model}`.", qualities.join(", ")),
            "quality",
        ));
    }
    let stream = request["stream"] == true;
    if stream && !gpt_image {
        return Err(bad_request("Streaming is supported for gpt-image models only.", "stream"));
    }
    first_byte_wait(&model, shape).await;
    let base64 = gpt_image || request["response_format"] == "b64_json";
    let hash = fxhash(prompt);
    let colour = |i: u64| {
        let h = hash.rotate_left(u32::try_from(i % 64).unwrap_or(0) * 8);
        [h as u8, (h >> 8) as u8, (h >> 16) as u8]
    };
    let image = |i: u64| base64::engine::general_purpose::STANDARD.encode(png(16, colour(i)));
    let text_tokens = tokens_of(prompt);
    let image_tokens = inputs.saturating_mul(TOKENS_PER_INPUT_IMAGE);
    let per_image = output_tokens(size, quality);
    let usage = |output: u64| {
        reported(&model, text_tokens + image_tokens, output).map(|(input, output)| {
            json!({"total_tokens": input.saturating_add(output), "input_tokens": input, "output_tokens": output,
                   "input_tokens_details": {"text_tokens": input.saturating_sub(image_tokens).min(input), "image_tokens": image_tokens.min(input)}})
        })
    };
    let created = crate::server::time::now_ms() / 1000;
    if stream {
        let partials = request["partial_images"].as_u64().unwrap_or(0).min(3);
        let prefix = if edit { "image_edit" } else { "image_generation" };
        let mut events: Vec<Bytes> = Vec::new();
        for i in 0..n {
            for p in 0..partials {
                let data = json!({"type": format!("{prefix}.partial_image"), "b64_json": image(i), "partial_image_index": p,
                                  "created_at": created, "size": size, "quality": quality, "background": "opaque", "output_format": "png"});
                events.push(sse::write(Some(&format!("{prefix}.partial_image")), &data.to_string()));
            }
            let mut done = json!({"type": format!("{prefix}.completed"), "b64_json": image(i), "created_at": created,
                                  "size": size, "quality": quality, "background": "opaque", "output_format": "png"});
            // The first image carries the prompt's input; each its own output and partial images.
            if let Some(u) = usage(per_image + partials * TOKENS_PER_PARTIAL) {
                done["usage"] = u;
                if i > 0 {
                    done["usage"]["input_tokens"] = json!(0);
                    done["usage"]["input_tokens_details"] = json!({"text_tokens": 0, "image_tokens": 0});
                }
            }
            events.push(sse::write(Some(&format!("{prefix}.completed")), &done.to_string()));
        }
        return Ok(UpstreamResponse::stream(stream_of(events, &model, shape.pace)));
    }
    let data: Vec<Value> = (0..n)
        .map(|i| {
            let mut d = if base64 {
                json!({"b64_json": image(i)})
            } else {
                json!({"url": format!("https://mock-upstream.invalid/images/{:016x}-{i}.png", hash)})
            };
            if model.starts_with("dall-e-3") {
                d["revised_prompt"] = json!(format!("A picture of: {prompt}"));
            }
            d
        })
        .collect();
    let mut body = json!({"created": created, "data": data});
    if gpt_image {
        body["size"] = json!(size);
        body["quality"] = json!(quality);
        body["background"] = json!("opaque");
        body["output_format"] = json!("png");
        if let Some(u) = usage(per_image.saturating_mul(n)) {
            body["usage"] = u;
        }
    }
    Ok(UpstreamResponse::json(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::proxy::upstream::UpstreamBody;

    #[test]
    fn the_png_is_a_png_of_the_size_asked() {
        let p = png(16, [10, 20, 30]);
        assert_eq!(&p[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&p[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes(p[16..20].try_into().unwrap()), 16);
        // The IHDR chunk's CRC, as zlib's crc32 gives it.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert!(p.ends_with(&[0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82]), "IEND and its CRC");
    }

    async fn json_of(path: &str, request: Value) -> Value {
        match answer(path, &request, Shape::default()).await.unwrap().body {
            UpstreamBody::Json(b) => serde_json::from_slice(&b).unwrap(),
            UpstreamBody::Stream(_) => panic!("asked for JSON"),
        }
    }

    #[tokio::test]
    async fn dall_e_answers_urls_or_base64_and_no_usage() {
        let v = json_of("/v1/images/generations", json!({"model": "dall-e-2", "prompt": "a cat", "n": 3})).await;
        assert_eq!(v["data"].as_array().unwrap().len(), 3);
        assert!(v["data"][0]["url"].as_str().unwrap().ends_with(".png") && v.get("usage").is_none());
        let v = json_of(
            "/v1/images/generations",
            json!({"model": "dall-e-3", "prompt": "a cat", "response_format": "b64_json", "quality": "hd"}),
        )
        .await;
        assert!(v["data"][0]["b64_json"].is_string() && v["data"][0]["revised_prompt"].is_string());
        for bad in [
            json!({"model": "dall-e-3", "prompt": "x", "n": 2}),
            json!({"model": "dall-e-3", "prompt": "x", "size": "256x256"}),
            json!({"model": "dall-e-2", "prompt": "x", "quality": "hd"}),
            json!({"model": "dall-e-2", "prompt": ""}),
            json!({"model": "dall-e-2", "prompt": "x", "stream": true}),
        ] {
            let r = answer("/v1/images/generations", &bad, Shape::default()).await;
            assert!(matches!(r, Err(UpstreamError::Status { status: 400, .. })), "{bad}");
        }
    }

    #[tokio::test]
    async fn gpt_image_reports_tokens_by_size_quality_and_input_images() {
        let v = json_of(
            "/v1/images/edits",
            json!({"model": "gpt-image-1", "prompt": "make it blue", "image": 2, "quality": "high", "size": "1536x1024"}),
        )
        .await;
        assert_eq!(v["usage"]["output_tokens"], 6240);
        assert_eq!(v["usage"]["input_tokens_details"]["image_tokens"], 2 * TOKENS_PER_INPUT_IMAGE);
        assert_eq!(v["usage"]["input_tokens_details"]["text_tokens"], tokens_of("make it blue"));
        let r = answer("/v1/images/edits", &json!({"model": "gpt-image-1", "prompt": "x"}), Shape::default()).await;
        assert!(matches!(r, Err(UpstreamError::Status { status: 400, .. })), "an edit needs an image");
    }
}
