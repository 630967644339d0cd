//! Items of the Responses API as they are kept and listed: a request's `input` (a string, or an array of
//! messages, function calls and their outputs, reasoning) as a list of items, each with an id, and the
//! text a person wrote last.

use serde_json::{json, Value};

/// The request's `input` as items with ids (`prefix` plus the item's position, where the caller gave none).
pub fn input_items(input: &Value, prefix: &str) -> Vec<Value> {
    let items = match input {
        Value::String(text) => {
            vec![json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})]
        }
        Value::Array(list) => list.clone(),
        _ => Vec::new(),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, mut item)| {
            if let Some(o) = item.as_object_mut() {
                // `{"role": "user", "content": ...}` without a type is a message.
                if !o.contains_key("type") && o.contains_key("role") {
                    o.insert("type".into(), json!("message"));
                }
                if o.get("content").is_some_and(Value::is_string) && o.get("type") == Some(&json!("message")) {
                    let kind = if o.get("role") == Some(&json!("assistant")) { "output_text" } else { "input_text" };
                    let text = o["content"].clone();
                    o.insert("content".into(), json!([{"type": kind, "text": text}]));
                }
                if !o.contains_key("id") {
                    o.insert("id".into(), json!(format!("{prefix}_{i}")));
                }
            }
            item
        })
        .collect()
}

/// The text of a message's content: a string, or the text of its text parts.
pub fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}

/// The text of the last user message among the items.
pub fn last_user_text(items: &[Value]) -> String {
    items
        .iter()
        .rev()
        .find(|i| i["type"] == "message" && i["role"] == "user")
        .map(|i| text_of(&i["content"]))
        .unwrap_or_default()
}

/// Whether a request body refers to an upstream item by id (`{"type": "item_reference"}` anywhere in it):
/// item ids are the upstream's, shared by every account, so such a request is never forwarded. Read
/// without parsing unless the body could hold it (the word itself, or a JSON escape that might spell it).
pub fn refers_to_items(body: &[u8]) -> bool {
    let find = |needle: &[u8]| memchr::memmem::find(body, needle).is_some();
    if !find(b"item_reference") && !find(b"\\u") {
        return false;
    }
    fn walk(v: &Value) -> bool {
        match v {
            Value::Object(o) => o.get("type").is_some_and(|t| t == "item_reference") || o.values().any(walk),
            Value::Array(a) => a.iter().any(walk),
            _ => false,
        }
    }
    // A body that does not parse is refused elsewhere; here it refers to nothing.
    serde_json::from_slice::<Value>(body).is_ok_and(|v| walk(&v))
}

/// `{"object": "list", ...}` of items, as the input-items endpoint answers.
pub fn list(items: &[Value]) -> Value {
    json!({
        "object": "list",
        "data": items,
        "first_id": items.first().map(|i| i["id"].clone()),
        "last_id": items.last().map(|i| i["id"].clone()),
        "has_more": false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_references_are_found_however_they_are_spelled() {
        assert!(refers_to_items(br#"{"input": [{"type": "item_reference", "id": "msg_1"}]}"#));
        assert!(refers_to_items(br#"{"items": [{"type": "item_\u0072eference", "id": "msg_1"}]}"#));
        assert!(!refers_to_items(br#"{"input": "tell me about item_reference"}"#));
        assert!(!refers_to_items(br#"{"input": "caf\u00e9"}"#));
    }

    #[test]
    fn a_string_input_is_one_user_message_and_every_item_gets_an_id() {
        let items = input_items(&json!("Hi"), "in");
        assert_eq!(
            items,
            vec![json!({"type": "message", "role": "user", "id": "in_0",
            "content": [{"type": "input_text", "text": "Hi"}]})]
        );
        let items = input_items(
            &json!([{"role": "user", "content": "a"}, {"type": "function_call_output", "call_id": "c", "output": "4", "id": "x"}]),
            "in",
        );
        assert_eq!(items[0]["type"], "message");
        assert_eq!(items[0]["content"][0]["text"], "a");
        assert_eq!(items[1]["id"], "x");
        assert_eq!(last_user_text(&items), "a");
    }
}
