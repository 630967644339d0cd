//! The mock's OpenAI embeddings (`POST /v1/embeddings`): a deterministic unit vector for each input (a
//! string, a list of strings, a list of token ids or a list of such lists), as floats or, when asked (the
//! Python SDK asks by default), as base64 of little-endian f32s; usage counts the input's tokens. The
//! failure suffixes of `mock` apply (`-usage-max` reports no more than input: an embedding writes nothing).

use super::{failure, first_byte_wait, fxhash, reported, tokens_of, Shape};
use crate::server::proxy::upstream::{UpstreamError, UpstreamResponse};
use base64::Engine;
use serde_json::{json, Value};

/// The length of a model's vectors when the request gives no `dimensions`.
fn native_dimensions(model: &str) -> usize {
    if model.contains("3-large") {
        3072
    } else {
        1536
    }
}

/// The inputs of a request, each as text to embed and its token count.
fn inputs(input: &Value) -> Result<Vec<(String, u64)>, &'static str> {
    let one = |v: &Value| -> Result<(String, u64), &'static str> {
        match v {
            Value::String(s) if !s.is_empty() => Ok((s.clone(), tokens_of(s))),
            Value::Number(_) => Ok((v.to_string(), 1)),
            Value::Array(ids) if !ids.is_empty() && ids.iter().all(Value::is_u64) => {
                Ok((v.to_string(), u64::try_from(ids.len()).unwrap_or(u64::MAX)))
            }
            _ => Err("each input must be a non-empty string or a non-empty list of token ids"),
        }
    };
    match input {
        Value::String(_) => Ok(vec![one(input)?]),
        Value::Array(items) if items.is_empty() => Err("`input` must not be empty"),
        // A list of token ids is one input; a list of strings or of token lists is many.
        Value::Array(items) if items.iter().all(Value::is_u64) => Ok(vec![one(input)?]),
        Value::Array(items) => items.iter().map(one).collect(),
        _ => Err("`input` must be a string, a list of strings or a list of token ids"),
    }
}

/// A deterministic unit vector of `dims` numbers for `text`.
fn vector(text: &str, dims: usize) -> Vec<f32> {
    let mut state = fxhash(text) | 1;
    let raw: Vec<f32> = (0..dims)
        .map(|_| {
            // xorshift64: spread over [-1, 1).
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    raw.into_iter().map(|x| x / norm).collect()
}

fn bad_request(message: &str) -> UpstreamError {
    let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": "input", "code": null}});
    UpstreamError::Status { status: 400, body: body.to_string() }
}

pub async fn answer(request: &Value, shape: Shape) -> Result<UpstreamResponse, UpstreamError> {
    let model = request["model"].as_str().unwrap_or("text-embedding-3-small").to_string();
    if let Some(e) = failure(&model) {
        return Err(e);
    }
    first_byte_wait(&model, shape).await;
    let inputs = inputs(&request["input"]).map_err(bad_request)?;
    let dims = match request["dimensions"].as_u64() {
        Some(d) if (1..=native_dimensions(&model) as u64).contains(&d) => usize::try_from(d).unwrap_or(1),
        Some(_) => return Err(bad_request("`dimensions` must be between 1 and the model's own length")),
        None => native_dimensions(&model),
    };
    let base64 = request["encoding_format"] == "base64";
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, (text, _))| {
            let v = vector(text, dims);
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let tokens = inputs.iter().fold(0u64, |sum, (_, t)| sum.saturating_add(*t));
    let mut body = json!({"object": "list", "data": data, "model": model});
    if let Some((input, _)) = reported(&model, tokens, 0) {
        body["usage"] = json!({"prompt_tokens": input, "total_tokens": input});
    }
    Ok(UpstreamResponse::json(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::proxy::upstream::UpstreamBody;

    async fn json_of(request: Value) -> Value {
        match answer(&request, Shape::default()).await.unwrap().body {
            UpstreamBody::Json(b) => serde_json::from_slice(&b).unwrap(),
            UpstreamBody::Stream(_) => panic!("embeddings answer in JSON"),
        }
    }

    #[tokio::test]
    async fn each_input_gets_a_unit_vector_and_usage_counts_them_all() {
        let v = json_of(json!({"model": "text-embedding-3-small", "input": ["hello there", "again"]})).await;
        let data = v["data"].as_array().unwrap();
        assert_eq!(data.len(), 2);
        let first: Vec<f64> = serde_json::from_value(data[0]["embedding"].clone()).unwrap();
        assert_eq!(first.len(), 1536);
        let norm: f64 = first.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "{norm}");
        assert_eq!(v["usage"]["prompt_tokens"], tokens_of("hello there") + tokens_of("again"));
        // The same text, the same vector.
        let again = json_of(json!({"model": "text-embedding-3-small", "input": "hello there"})).await;
        assert_eq!(again["data"][0]["embedding"], data[0]["embedding"]);
    }

    #[tokio::test]
    async fn base64_holds_the_same_floats_and_dimensions_shorten_them() {
        let v = json_of(
            json!({"model": "text-embedding-3-large", "input": [1, 2, 3], "encoding_format": "base64", "dimensions": 8}),
        )
        .await;
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(v["data"][0]["embedding"].as_str().unwrap()).unwrap();
        assert_eq!(bytes.len(), 8 * 4);
        assert_eq!(v["usage"]["prompt_tokens"], 3, "three token ids are three tokens");
    }

    #[tokio::test]
    async fn bad_input_is_refused_like_openai() {
        for input in [json!(""), json!([]), json!({"x": 1}), json!([["a"]])] {
            let r = answer(&json!({"model": "text-embedding-3-small", "input": input}), Shape::default()).await;
            assert!(matches!(r, Err(UpstreamError::Status { status: 400, .. })), "{input}");
        }
    }
}
