//! Reading a Messages request (the few fields the proxy needs) and the pieces translators build one from.

use serde_json::{json, Value};
use std::borrow::Cow;

/// The `max_tokens` a translated request gets when the caller gave none (Anthropic requires one).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// The few fields of a Messages request the proxy reads; everything else passes through unparsed.
#[derive(serde::Deserialize)]
pub struct Peek<'a> {
    #[serde(borrow, default)]
    pub model: Option<Cow<'a, str>>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default, borrow)]
    pub tools: Option<Vec<PeekTool<'a>>>,
}

/// A tool of the request, read for Anthropic's web search server tool and its `max_uses`.
#[derive(serde::Deserialize)]
pub struct PeekTool<'a> {
    #[serde(rename = "type", default, borrow)]
    pub kind: Option<Cow<'a, str>>,
    #[serde(default)]
    pub max_uses: Option<u64>,
}

/// The searches a web search tool without `max_uses` may run in one call (billed and held at most).
pub const WEB_SEARCHES_WITHOUT_MAX_USES: u64 = 20;

impl Peek<'_> {
    /// Web searches the request allows: its web search tool's `max_uses`, 0 without the tool.
    pub fn web_searches_allowed(&self) -> u64 {
        web_searches_allowed(self.tools.as_deref())
    }
}

/// Hosted tools whose cost the upstream's answer does not report (Anthropic's code execution, billed by
/// container time; OpenAI's code interpreter, file search and image generation, billed per container, per
/// call or as images): Gatehouse could not bill them, so a request offering one is refused, never free.
const UNMETERED_TOOLS: [&str; 4] = ["code_execution", "code_interpreter", "file_search", "image_generation"];

/// Why a request's tools are refused (see [`UNMETERED_TOOLS`]), if they are.
pub fn unmetered_tool(tools: Option<&[PeekTool<'_>]>) -> Option<String> {
    let kind = tools
        .into_iter()
        .flatten()
        .filter_map(|t| t.kind.as_deref())
        .find(|k| UNMETERED_TOOLS.iter().any(|u| k.starts_with(u)))?;
    Some(format!(
        "The `{kind}` tool is billed by the provider in a way its answers do not report, so this server does not offer it; call without it. You were not charged."
    ))
}

/// Whether a web search tool has no limit of its own (Anthropic's without `max_uses`).
pub fn unlimited_search(tools: Option<&[PeekTool<'_>]>) -> bool {
    tools
        .into_iter()
        .flatten()
        .any(|t| t.kind.as_deref().is_some_and(|k| k.starts_with("web_search")) && t.max_uses.is_none())
}

/// The request with its searches held to what Gatehouse holds and bills
/// ([`WEB_SEARCHES_WITHOUT_MAX_USES`]): Anthropic's web search tools get that `max_uses`; for OpenAI's
/// (`openai`), which have none, the response gets that `max_tool_calls`. `None` when the body is not a
/// JSON object.
pub fn with_search_limit(body: &[u8], openai: bool) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    if openai {
        v.as_object_mut()?.entry("max_tool_calls").or_insert(json!(WEB_SEARCHES_WITHOUT_MAX_USES));
    } else {
        for tool in v["tools"].as_array_mut()?.iter_mut() {
            if tool["type"].as_str().is_some_and(|k| k.starts_with("web_search")) && tool.get("max_uses").is_none() {
                tool["max_uses"] = json!(WEB_SEARCHES_WITHOUT_MAX_USES);
            }
        }
    }
    serde_json::to_vec(&v).ok()
}

/// Web searches a request's tools allow: a web search tool's `max_uses` (Anthropic's), or
/// [`WEB_SEARCHES_WITHOUT_MAX_USES`] (OpenAI's has none); 0 without one.
pub fn web_searches_allowed(tools: Option<&[PeekTool<'_>]>) -> u64 {
    tools
        .into_iter()
        .flatten()
        .filter(|t| t.kind.as_deref().is_some_and(|k| k.starts_with("web_search")))
        .map(|t| t.max_uses.unwrap_or(WEB_SEARCHES_WITHOUT_MAX_USES))
        .max()
        .unwrap_or(0)
}

/// An image given by URL (a `data:` URL, or a link) as an Anthropic image block.
pub fn image_block(url: &str) -> Value {
    match url.strip_prefix("data:").and_then(|rest| rest.split_once(";base64,")) {
        Some((media_type, data)) => {
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}})
        }
        None => json!({"type": "image", "source": {"type": "url", "url": url}}),
    }
}

/// Appends blocks to the last message when it has the same role (Anthropic wants roles to alternate).
pub fn push(messages: &mut Vec<Value>, role: &str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    if let Some(last) = messages.last_mut() {
        if last["role"] == role {
            if let Some(content) = last["content"].as_array_mut() {
                content.extend(blocks);
                return;
            }
        }
    }
    messages.push(json!({"role": role, "content": blocks}));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosted_tools_whose_cost_is_not_reported_are_named() {
        fn peek(body: &str) -> Vec<PeekTool<'_>> {
            serde_json::from_str::<Peek<'_>>(body).unwrap().tools.unwrap_or_default()
        }
        let refused = [
            r#"{"tools":[{"type":"code_execution_20250825","name":"code_execution"}]}"#,
            r#"{"tools":[{"type":"function","name":"f"},{"type":"code_interpreter","container":{"type":"auto"}}]}"#,
            r#"{"tools":[{"type":"file_search","vector_store_ids":["vs_1"]}]}"#,
            r#"{"tools":[{"type":"image_generation"}]}"#,
        ];
        for body in refused {
            let tools = peek(body);
            assert!(unmetered_tool(Some(&tools)).is_some_and(|m| m.contains("not charged")), "{body}");
        }
        let allowed = [
            r#"{"tools":[{"type":"web_search_20250305","name":"web_search"},{"name":"bash","input_schema":{}}]}"#,
            r#"{"tools":[{"type":"function","name":"code_interpreter"},{"type":"local_shell"}]}"#,
            r#"{"model":"x"}"#,
        ];
        for body in allowed {
            assert_eq!(unmetered_tool(Some(&peek(body))), None, "{body}");
        }
    }

    #[test]
    fn a_search_tool_without_a_limit_gets_the_one_gatehouse_bills() {
        let body = br#"{"model":"m","tools":[{"type":"web_search_20250305","name":"web_search"},{"type":"custom","name":"x"}]}"#;
        let v: Value = serde_json::from_slice(&with_search_limit(body, false).unwrap()).unwrap();
        assert_eq!(v["tools"][0]["max_uses"], WEB_SEARCHES_WITHOUT_MAX_USES);
        assert!(v["tools"][1].get("max_uses").is_none());
        let openai = br#"{"model":"gpt-5","tools":[{"type":"web_search"}]}"#;
        let v: Value = serde_json::from_slice(&with_search_limit(openai, true).unwrap()).unwrap();
        assert_eq!(v["max_tool_calls"], WEB_SEARCHES_WITHOUT_MAX_USES);
        let kept = br#"{"model":"gpt-5","max_tool_calls":3,"tools":[{"type":"web_search"}]}"#;
        let v: Value = serde_json::from_slice(&with_search_limit(kept, true).unwrap()).unwrap();
        assert_eq!(v["max_tool_calls"], 3);
    }

    #[test]
    fn same_role_messages_are_joined_and_images_keep_their_type() {
        let mut m = Vec::new();
        push(&mut m, "user", vec![json!({"type": "text", "text": "a"})]);
        push(&mut m, "user", vec![image_block("data:image/png;base64,AAAA")]);
        push(&mut m, "assistant", Vec::new());
        assert_eq!(m.len(), 1);
        assert_eq!(m[0]["content"][1]["source"]["media_type"], "image/png");
        assert_eq!(image_block("https://x/y.png")["source"]["type"], "url");
    }
}
