//! The upstream providers API calls go to, and which models each one serves.
//!
//! Without a providers file there are two: Anthropic for Claude models (`ANTHROPIC_API_KEY`,
//! `ANTHROPIC_BASE_URL`) and OpenAI for the rest (`OPENAI_API_KEY`, `OPENAI_BASE_URL`); one without a key is
//! the built-in mock. `UPSTREAM_PROVIDERS_FILE` lists providers instead, one per line:
//!
//! ```text
//! # name        api        base URL                     key variable       models (optional)
//! anthropic     anthropic  https://api.anthropic.com    ANTHROPIC_API_KEY  claude-*
//! backup        anthropic  https://claude.example.net   BACKUP_KEY         claude-sonnet-* claude-haiku-*
//! local-vllm    openai     http://10.0.0.5:8000         -                  qwen-*
//! demo          anthropic  mock                         -
//! ```
//!
//! A call goes to the first provider whose api matches the model (Claude models: `anthropic`, others:
//! `openai`) and whose patterns match its id (`*` at the end matches any rest; no patterns: every model);
//! the later matching ones are its failovers, in file order. Keys are named by variable, so the file holds
//! no secrets; `-` means no key (a local server), `mock` as base URL means the built-in mock.

use crate::server::config::Secret;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderApi {
    Anthropic,
    OpenAi,
}

#[derive(Clone, Debug)]
pub struct ProviderSpec {
    pub name: String,
    pub api: ProviderApi,
    /// `None`: the built-in mock.
    pub base_url: Option<String>,
    pub api_key: Option<Secret>,
    /// Model id patterns (lower case); empty: every model of its api.
    pub models: Vec<String>,
}

impl ProviderSpec {
    pub fn serves(&self, model: &str) -> bool {
        let model = model.to_ascii_lowercase();
        self.models.is_empty()
            || self.models.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => model.starts_with(prefix),
                None => *p == model,
            })
    }
}

/// The two default providers from the `ANTHROPIC_*` and `OPENAI_*` variables.
pub fn defaults(get: &dyn Fn(&str) -> Option<String>) -> Vec<ProviderSpec> {
    let one = |name: &str, api, key_var: &str, base_var: &str, base_default: &str| {
        let api_key = get(key_var).map(Secret::new);
        ProviderSpec {
            name: name.to_string(),
            api,
            base_url: api_key.as_ref().map(|_| get(base_var).unwrap_or_else(|| base_default.to_string())),
            api_key,
            models: Vec::new(),
        }
    };
    vec![
        one(
            "anthropic",
            ProviderApi::Anthropic,
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_BASE_URL",
            "https://api.anthropic.com",
        ),
        one("openai", ProviderApi::OpenAi, "OPENAI_API_KEY", "OPENAI_BASE_URL", "https://api.openai.com"),
    ]
}

/// Reads a providers file; keys come from `get` (environment or config file).
pub fn parse(text: &str, get: &dyn Fn(&str) -> Option<String>) -> Result<Vec<ProviderSpec>, String> {
    let mut out: Vec<ProviderSpec> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |problem: String| format!("line {}: {problem}", n + 1);
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, api, base, key_var, patterns @ ..] = fields.as_slice() else {
            return Err(at("expected: name api base-url key-variable [models...]".into()));
        };
        if out.iter().any(|p| p.name == *name) {
            return Err(at(format!("the name {name:?} is used twice")));
        }
        let api = match *api {
            "anthropic" => ProviderApi::Anthropic,
            "openai" => ProviderApi::OpenAi,
            other => return Err(at(format!("api must be anthropic or openai, got {other:?}"))),
        };
        let base_url = match *base {
            "mock" => None,
            url if url.starts_with("http://") || url.starts_with("https://") => {
                Some(url.trim_end_matches('/').to_string())
            }
            other => {
                return Err(at(format!("base URL must start with http:// or https://, or be mock; got {other:?}")))
            }
        };
        let api_key = match *key_var {
            "-" => None,
            var => Some(Secret::new(get(var).ok_or_else(|| at(format!("the key variable {var} is not set")))?)),
        };
        out.push(ProviderSpec {
            name: name.to_string(),
            api,
            base_url,
            api_key,
            models: patterns.iter().map(|p| p.to_ascii_lowercase()).collect(),
        });
    }
    if out.is_empty() {
        return Err("no providers listed".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(key: &str) -> Option<String> {
        (key == "K1").then(|| "secret-1".to_string())
    }

    #[test]
    fn a_providers_file_lists_providers_in_order_with_their_models() {
        let text = "# comment\nmain anthropic https://a.example/ K1 claude-*\n\nlocal openai http://10.0.0.5:8000 - qwen-* gpt-oss\ndemo anthropic mock -\n";
        let p = parse(text, &env).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].base_url.as_deref(), Some("https://a.example"));
        assert_eq!(p[0].api_key.as_ref().map(Secret::expose), Some("secret-1"));
        assert!(p[0].serves("claude-opus-5-5") && !p[0].serves("gpt-5"));
        assert!(p[1].serves("Qwen-3") && p[1].serves("gpt-oss") && !p[1].serves("gpt-oss-2"));
        assert!(p[2].base_url.is_none() && p[2].serves("anything"));
    }

    #[test]
    fn mistakes_in_the_file_name_their_line() {
        assert_eq!(
            parse("x anthropic", &env).unwrap_err(),
            "line 1: expected: name api base-url key-variable [models...]"
        );
        assert!(parse("x grok https://a K1", &env).unwrap_err().contains("api must be"));
        assert!(parse("x openai ftp://a K1", &env).unwrap_err().contains("base URL"));
        assert!(parse("x openai https://a MISSING", &env).unwrap_err().contains("MISSING is not set"));
        assert!(parse("x openai mock -\nx openai mock -", &env).unwrap_err().starts_with("line 2"));
        assert!(parse("# nothing", &env).is_err());
    }

    #[test]
    fn defaults_use_the_mock_without_keys() {
        let d = defaults(&env);
        assert!(d.iter().all(|p| p.base_url.is_none() && p.api_key.is_none()));
        let with_key = defaults(&|k| (k == "ANTHROPIC_API_KEY").then(|| "k".to_string()));
        assert_eq!(with_key[0].base_url.as_deref(), Some("https://api.anthropic.com"));
        assert!(with_key[1].base_url.is_none());
    }
}
