//! The mock's stored chat completions (`store: true`: list, retrieve, update metadata, delete, messages)
//! and Conversations (create, retrieve, update, delete; create, list, retrieve and delete items), kept in
//! memory (the newest [`KEEP`] of each) as OpenAI keeps them: ids unique per call, lists in pages
//! (`after`, `limit`, `order`).

use super::{chat, fxhash, Shape};
use crate::server::proxy::responses::items;
use crate::server::proxy::upstream::{UpstreamBody, UpstreamError, UpstreamResponse};
use crate::server::time::now_ms;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// Stored completions and conversations kept, of each.
pub const KEEP: usize = 10_000;
/// Items a conversation is created with, at most (as OpenAI).
const MAX_CREATE_ITEMS: usize = 20;

/// Kept in insertion order; the oldest go first past [`KEEP`].
#[derive(Default)]
struct Kept {
    map: HashMap<String, Value>,
    order: VecDeque<String>,
}

impl Kept {
    fn put(&mut self, id: &str, v: Value) {
        if self.map.insert(id.to_string(), v).is_none() {
            self.order.push_back(id.to_string());
        }
        while self.order.len() > KEEP {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    fn remove(&mut self, id: &str) -> Option<Value> {
        self.order.retain(|k| k != id);
        self.map.remove(id)
    }
}

/// What the mock stored: completions (the completion, its request's messages) and conversations (the
/// conversation, its items).
#[derive(Default)]
pub struct Stored {
    completions: Mutex<Kept>,
    conversations: Mutex<Kept>,
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = |m: &Mutex<Kept>| m.lock().unwrap_or_else(PoisonError::into_inner).map.len();
        f.debug_struct("Stored")
            .field("completions", &n(&self.completions))
            .field("conversations", &n(&self.conversations))
            .finish()
    }
}

fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:016x}", fxhash(&format!("{}-{n}", now_ms())) ^ n)
}

fn not_found(what: &str, id: &str) -> UpstreamError {
    let body = json!({"error": {"message": format!("No {what} found with id '{id}'."), "type": "invalid_request_error", "param": null, "code": null}});
    UpstreamError::Status { status: 404, body: body.to_string() }
}

fn bad_request(message: &str) -> UpstreamError {
    let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}});
    UpstreamError::Status { status: 400, body: body.to_string() }
}

/// The query parameter `name` of a path.
fn param(path: &str, name: &str) -> Option<String> {
    let query = path.split_once('?')?.1;
    query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
}

/// A page of `all` (oldest first as kept) as the API lists it: `order` (`default_order` unless given),
/// `after` an id, `limit` (20 by default, at most 100).
fn page(mut all: Vec<Value>, path: &str, default_order: &str) -> Value {
    if param(path, "order").as_deref().unwrap_or(default_order) == "desc" {
        all.reverse();
    }
    if let Some(after) = param(path, "after") {
        if let Some(at) = all.iter().position(|i| i["id"] == after.as_str()) {
            all.drain(..=at);
        }
    }
    let limit = param(path, "limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(20).clamp(1, 100);
    let has_more = all.len() > limit;
    all.truncate(limit);
    let mut list = items::list(&all);
    list["has_more"] = json!(has_more);
    list
}

fn body_of(bytes: &[u8]) -> Result<Value, UpstreamError> {
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(bytes).map_err(|_| bad_request("The body is not JSON."))
}

/// Metadata as OpenAI takes it: an object of at most 16 string values.
fn metadata(v: &Value) -> Result<Value, UpstreamError> {
    match v {
        Value::Null => Ok(json!({})),
        Value::Object(m) if m.len() <= 16 && m.values().all(Value::is_string) => Ok(v.clone()),
        _ => Err(bad_request("`metadata` must be an object of at most 16 string values.")),
    }
}

/// A chat completion with `store: true`: answered like any other, with an id of its own, and kept.
pub async fn create_completion(
    request: &Value,
    shape: Shape,
    stored: &Stored,
) -> Result<UpstreamResponse, UpstreamError> {
    let meta = metadata(&request["metadata"])?;
    let id = unique("chatcmpl-mock");
    let mut whole = request.clone();
    whole["stream"] = json!(false);
    let kept = match chat(&whole, Shape::default(), id.clone()).await?.body {
        UpstreamBody::Json(b) => serde_json::from_slice::<Value>(&b).unwrap_or_default(),
        UpstreamBody::Stream(_) => Value::Null,
    };
    let answer = chat(request, shape, id.clone()).await?;
    let mut completion = kept;
    completion["metadata"] = meta;
    completion["request_id"] = json!(unique("req_"));
    let messages: Vec<Value> = request["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, mut m)| {
            m["id"] = json!(format!("{id}-{i}"));
            m
        })
        .collect();
    stored
        .completions
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .put(&id, json!({"completion": completion, "messages": messages}));
    Ok(answer)
}

/// `/v1/chat/completions` (GET, the list) and `/v1/chat/completions/{id}[/messages]`.
pub fn completions(method: &str, path: &str, body: &[u8], stored: &Stored) -> Result<UpstreamResponse, UpstreamError> {
    let bare = path.split_once('?').map_or(path, |(p, _)| p);
    let rest = bare.strip_prefix("/v1/chat/completions").unwrap_or(bare);
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let mut kept = stored.completions.lock().unwrap_or_else(PoisonError::into_inner);
    let json = UpstreamResponse::json;
    match (method, parts.as_slice()) {
        ("GET", []) => {
            let all: Vec<Value> =
                kept.order.iter().filter_map(|id| kept.map.get(id)).map(|k| k["completion"].clone()).collect();
            Ok(json(page(all, path, "asc")))
        }
        ("GET", [id]) => {
            kept.map.get(*id).map(|k| json(k["completion"].clone())).ok_or_else(|| not_found("chat completion", id))
        }
        ("POST", [id]) => {
            let update = body_of(body)?;
            let meta = metadata(&update["metadata"])?;
            let k = kept.map.get_mut(*id).ok_or_else(|| not_found("chat completion", id))?;
            k["completion"]["metadata"] = meta;
            Ok(json(k["completion"].clone()))
        }
        ("DELETE", [id]) => match kept.remove(id) {
            Some(_) => Ok(json(json!({"object": "chat.completion.deleted", "id": id, "deleted": true}))),
            None => Err(not_found("chat completion", id)),
        },
        ("GET", [id, "messages"]) => {
            let k = kept.map.get(*id).ok_or_else(|| not_found("chat completion", id))?;
            let all = k["messages"].as_array().cloned().unwrap_or_default();
            Ok(json(page(all, path, "asc")))
        }
        _ => Err(UpstreamError::Status { status: 404, body: "mock upstream: no such endpoint".into() }),
    }
}

/// Items as a conversation keeps them: typed, with ids, messages' text as content parts.
fn conversation_items(given: &Value) -> Result<Vec<Value>, UpstreamError> {
    let list = match given {
        Value::Null => return Ok(Vec::new()),
        Value::Array(list) => list,
        _ => return Err(bad_request("`items` must be a list of items.")),
    };
    let prefix = unique("msg_");
    Ok(items::input_items(&Value::Array(list.clone()), &prefix)
        .into_iter()
        .map(|mut i| {
            if i["type"] == "message" && i.get("status").is_none() {
                i["status"] = json!("completed");
            }
            i
        })
        .collect())
}

/// `/v1/conversations` and what hangs off it.
pub fn conversations(
    method: &str,
    path: &str,
    body: &[u8],
    stored: &Stored,
) -> Result<UpstreamResponse, UpstreamError> {
    let bare = path.split_once('?').map_or(path, |(p, _)| p);
    let rest = bare.strip_prefix("/v1/conversations").unwrap_or(bare);
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let json = UpstreamResponse::json;
    let mut kept = stored.conversations.lock().unwrap_or_else(PoisonError::into_inner);
    match (method, parts.as_slice()) {
        ("POST", []) => {
            let request = body_of(body)?;
            let meta = metadata(&request["metadata"])?;
            let new = conversation_items(&request["items"])?;
            if new.len() > MAX_CREATE_ITEMS {
                return Err(bad_request("A conversation is created with at most 20 items; add more afterwards."));
            }
            let id = unique("conv_");
            let conversation =
                json!({"id": id, "object": "conversation", "created_at": now_ms() / 1000, "metadata": meta});
            kept.put(&id, json!({"conversation": conversation, "items": new}));
            Ok(json(conversation))
        }
        ("GET", [id]) => {
            kept.map.get(*id).map(|k| json(k["conversation"].clone())).ok_or_else(|| not_found("conversation", id))
        }
        ("POST", [id]) => {
            let update = body_of(body)?;
            let meta = metadata(&update["metadata"])?;
            let k = kept.map.get_mut(*id).ok_or_else(|| not_found("conversation", id))?;
            k["conversation"]["metadata"] = meta;
            Ok(json(k["conversation"].clone()))
        }
        ("DELETE", [id]) => match kept.remove(id) {
            Some(_) => Ok(json(json!({"id": id, "object": "conversation.deleted", "deleted": true}))),
            None => Err(not_found("conversation", id)),
        },
        ("POST", [id, "items"]) => {
            let request = body_of(body)?;
            let new = conversation_items(&request["items"])?;
            if new.is_empty() {
                return Err(bad_request("`items` must hold at least one item."));
            }
            let k = kept.map.get_mut(*id).ok_or_else(|| not_found("conversation", id))?;
            if let Some(all) = k["items"].as_array_mut() {
                all.extend(new.iter().cloned());
            }
            Ok(json(items::list(&new)))
        }
        ("GET", [id, "items"]) => {
            let k = kept.map.get(*id).ok_or_else(|| not_found("conversation", id))?;
            Ok(json(page(k["items"].as_array().cloned().unwrap_or_default(), path, "desc")))
        }
        ("GET", [id, "items", item]) => {
            let k = kept.map.get(*id).ok_or_else(|| not_found("conversation", id))?;
            let found = k["items"].as_array().and_then(|all| all.iter().find(|i| i["id"] == *item)).cloned();
            found.map(json).ok_or_else(|| not_found("item", item))
        }
        ("DELETE", [id, "items", item]) => {
            let k = kept.map.get_mut(*id).ok_or_else(|| not_found("conversation", id))?;
            let all = k["items"].as_array_mut().ok_or_else(|| not_found("item", item))?;
            let before = all.len();
            all.retain(|i| i["id"] != *item);
            if all.len() == before {
                return Err(not_found("item", item));
            }
            Ok(json(k["conversation"].clone()))
        }
        _ => Err(UpstreamError::Status { status: 404, body: "mock upstream: no such endpoint".into() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(r: Result<UpstreamResponse, UpstreamError>) -> Value {
        match r.unwrap().body {
            UpstreamBody::Json(b) => serde_json::from_slice(&b).unwrap(),
            UpstreamBody::Stream(_) => panic!("JSON was expected"),
        }
    }

    #[tokio::test]
    async fn a_stored_completion_is_kept_with_its_messages_and_metadata() {
        let stored = Stored::default();
        let request = json!({"model": "gpt-4o", "store": true, "metadata": {"project": "kite"},
                             "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]});
        let first = answer(create_completion(&request, Shape::default(), &stored).await);
        let second = answer(create_completion(&request, Shape::default(), &stored).await);
        let id = first["id"].as_str().unwrap();
        assert_ne!(id, second["id"].as_str().unwrap(), "each call has its own id");
        let got = answer(completions("GET", &format!("/v1/chat/completions/{id}"), b"", &stored));
        assert_eq!(
            (got["metadata"]["project"].as_str(), got["choices"][0]["message"]["content"].as_str()),
            (Some("kite"), first["choices"][0]["message"]["content"].as_str())
        );
        let messages = answer(completions("GET", &format!("/v1/chat/completions/{id}/messages?limit=1"), b"", &stored));
        assert_eq!(
            (messages["data"][0]["content"].as_str(), messages["has_more"].as_bool()),
            (Some("Be brief."), Some(true))
        );
        let updated = answer(completions(
            "POST",
            &format!("/v1/chat/completions/{id}"),
            br#"{"metadata": {"stage": "final"}}"#,
            &stored,
        ));
        assert_eq!(updated["metadata"], json!({"stage": "final"}));
        let deleted = answer(completions("DELETE", &format!("/v1/chat/completions/{id}"), b"", &stored));
        assert_eq!(deleted["deleted"], true);
        assert!(completions("GET", &format!("/v1/chat/completions/{id}"), b"", &stored).is_err());
    }

    #[test]
    fn a_conversation_keeps_its_items_in_order() {
        let stored = Stored::default();
        let body =
            br#"{"items": [{"type": "message", "role": "user", "content": "Hello"}], "metadata": {"topic": "kites"}}"#;
        let conv = answer(conversations("POST", "/v1/conversations", body, &stored));
        let id = conv["id"].as_str().unwrap();
        assert!(id.starts_with("conv_") && conv["metadata"]["topic"] == "kites");
        let added = answer(conversations(
            "POST",
            &format!("/v1/conversations/{id}/items"),
            br#"{"items": [{"role": "assistant", "content": "Hi"}]}"#,
            &stored,
        ));
        let item = added["data"][0]["id"].as_str().unwrap().to_string();
        assert_eq!(added["data"][0]["content"][0]["type"], "output_text");
        let listed = answer(conversations("GET", &format!("/v1/conversations/{id}/items"), b"", &stored));
        assert_eq!(listed["data"][0]["id"], item.as_str(), "newest first");
        assert_eq!(listed["data"].as_array().unwrap().len(), 2);
        let got = answer(conversations("GET", &format!("/v1/conversations/{id}/items/{item}"), b"", &stored));
        assert_eq!(got["role"], "assistant");
        let after = answer(conversations("DELETE", &format!("/v1/conversations/{id}/items/{item}"), b"", &stored));
        assert_eq!(after["id"], id);
        assert!(conversations("GET", &format!("/v1/conversations/{id}/items/{item}"), b"", &stored).is_err());
        assert_eq!(answer(conversations("DELETE", &format!("/v1/conversations/{id}"), b"", &stored))["deleted"], true);
        assert!(conversations("GET", &format!("/v1/conversations/{id}"), b"", &stored).is_err());
    }
}
