//! Channels and the models they serve and pay for: model patterns (`claude-*`, or an exact id), which
//! models each channel serves (`cc-omg` Claude models only, `codex-omg` OpenAI models only; a model another
//! channel serves is refused there, never discounted), and a package's scope: the channels it pays for,
//! each optionally narrowed to model patterns (`web-chat:claude-*`: Claude models in web chat).

use super::pricing::base_model_id;
use std::collections::HashMap;

/// A model id, or a family when it ends in `*`; matched against the model's base id (lower case, without
/// its date or `[1m]` suffix), as the price table matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelPattern {
    /// Lower case, without the `*`.
    text: String,
    family: bool,
}

/// Why a scope or a list of model patterns does not read (the console words each; `Display` is English, for
/// the command line and the configuration).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("{0:?} is not a model or family such as claude-*")]
    NotAPattern(String),
    #[error("name at least one model pattern")]
    NoPattern,
    #[error("{0:?} is not a channel name")]
    NotAChannel(String),
    #[error("name at least one channel")]
    NoChannel,
}

impl ModelPattern {
    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        let t = text.trim().to_ascii_lowercase();
        let (body, family) = match t.strip_suffix('*') {
            Some(b) => (b.to_string(), true),
            None => (t.clone(), false),
        };
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'/');
        if body.is_empty() || !body.bytes().all(allowed) {
            return Err(ScopeError::NotAPattern(text.to_string()));
        }
        Ok(Self { text: body, family })
    }

    pub fn matches(&self, model: &str) -> bool {
        let id = base_model_id(model);
        if self.family {
            id.starts_with(&self.text)
        } else {
            id == self.text
        }
    }
}

impl std::fmt::Display for ModelPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.text, if self.family { "*" } else { "" })
    }
}

fn patterns(list: &str) -> Result<Vec<ModelPattern>, ScopeError> {
    let out: Vec<ModelPattern> =
        list.split(['|', ' ']).filter(|p| !p.trim().is_empty()).map(ModelPattern::parse).collect::<Result<_, _>>()?;
    if out.is_empty() {
        return Err(ScopeError::NoPattern);
    }
    Ok(out)
}

/// Which models each channel serves. Channels not listed serve every priced model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelModels {
    by_channel: HashMap<String, Vec<ModelPattern>>,
}

/// The shipped binding: the Claude Code channel serves Claude models, the CodeX channel OpenAI's (GPT,
/// codex and the o-series).
pub const DEFAULT_CHANNEL_MODELS: &str = "cc-omg=claude-*;codex-omg=gpt-*|o1*|o3*|o4*|codex-*|chatgpt-*";

impl ChannelModels {
    /// `channel=pattern|pattern` entries separated by `;`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut by_channel = HashMap::new();
        for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (channel, list) =
                entry.split_once('=').ok_or_else(|| format!("{entry:?}: expected channel=patterns"))?;
            let list = patterns(list).map_err(|e| format!("{}: {e}", channel.trim()))?;
            by_channel.insert(channel.trim().to_string(), list);
        }
        Ok(Self { by_channel })
    }

    pub fn serves(&self, channel: &str, model: &str) -> bool {
        self.by_channel.get(channel).is_none_or(|list| list.iter().any(|p| p.matches(model)))
    }

    /// What a channel serves, for messages: `claude-*`, or `gpt-*, o1*, …`; `None` when it serves every model.
    pub fn described(&self, channel: &str) -> Option<String> {
        self.by_channel.get(channel).map(|l| l.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
    }
}

impl Default for ChannelModels {
    fn default() -> Self {
        Self::parse(DEFAULT_CHANNEL_MODELS).unwrap_or(Self { by_channel: HashMap::new() })
    }
}

/// One channel a package pays for, with the models it pays for there (`None`: every model the channel
/// serves).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeEntry {
    pub channel: String,
    pub models: Option<Vec<ModelPattern>>,
}

/// What a package pays for, written `cc-omg,web-chat:claude-*` (entries separated by commas; a channel
/// followed by `:` and `|`-separated model patterns pays for those models only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    pub entries: Vec<ScopeEntry>,
}

impl Scope {
    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        let mut entries = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (channel, models) = match part.split_once(':') {
                Some((c, list)) => (c.trim(), Some(patterns(list)?)),
                None => (part, None),
            };
            if channel.is_empty() || !channel.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return Err(ScopeError::NotAChannel(channel.to_string()));
            }
            entries.push(ScopeEntry { channel: channel.to_string(), models });
        }
        if entries.is_empty() {
            return Err(ScopeError::NoChannel);
        }
        Ok(Self { entries })
    }

    /// Reads a stored scope; an entry that no longer parses pays for nothing.
    pub fn lenient(text: &str) -> Self {
        let entries = text.split(',').filter_map(|p| Self::parse(p).ok()).flat_map(|s| s.entries).collect();
        Self { entries }
    }

    pub fn covers(&self, channel: &str, model: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.channel == channel && e.models.as_ref().is_none_or(|l| l.iter().any(|p| p.matches(model))))
    }

    /// The stored form.
    pub fn to_text(&self) -> String {
        self.entries
            .iter()
            .map(|e| match &e.models {
                None => e.channel.clone(),
                Some(l) => format!("{}:{}", e.channel, l.iter().map(ToString::to_string).collect::<Vec<_>>().join("|")),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The Claude Code package's scope: the Claude Code channel, and Claude models in web chat.
pub const CLAUDE_CODE_SCOPE: &str = "cc-omg,web-chat:claude-*";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_channels_serve_their_own_family_only() {
        let c = ChannelModels::default();
        assert!(c.serves("cc-omg", "claude-haiku-4-5"));
        assert!(c.serves("cc-omg", "Claude-Opus-4-1-20250805"));
        assert!(!c.serves("cc-omg", "gpt-5.5"));
        for m in ["gpt-5.1-codex", "o3-mini", "o4-mini", "codex-mini-latest", "gpt-4o"] {
            assert!(c.serves("codex-omg", m), "{m}");
        }
        assert!(!c.serves("codex-omg", "claude-sonnet-4-5"));
        assert!(c.serves("default", "gpt-5.5") && c.serves("web-chat", "claude-opus-4-1"));
        assert_eq!(c.described("cc-omg").as_deref(), Some("claude-*"));
        assert!(ChannelModels::parse("cc-omg").is_err());
        assert!(ChannelModels::parse("cc-omg=").is_err());
        assert!(!ChannelModels::parse("cc-omg=claude-haiku-4-5").unwrap().serves("cc-omg", "claude-haiku-4-5-x"));
    }

    #[test]
    fn a_scope_pays_for_its_channels_and_only_the_models_named_there() {
        let s = Scope::parse(CLAUDE_CODE_SCOPE).unwrap();
        assert!(s.covers("cc-omg", "claude-opus-4-1"));
        assert!(s.covers("web-chat", "claude-sonnet-4-5"));
        assert!(!s.covers("web-chat", "gpt-5.5"), "GPT chats are paid by the balance");
        assert!(!s.covers("default", "claude-sonnet-4-5"));
        assert_eq!(s.to_text(), CLAUDE_CODE_SCOPE);
        assert_eq!(Scope::parse("cc-omg, codex-omg:gpt-*|o3*").unwrap().to_text(), "cc-omg,codex-omg:gpt-*|o3*");
        assert!(Scope::parse("").is_err());
        assert!(Scope::parse("web chat").is_err());
        assert!(Scope::parse("web-chat:").is_err());
        assert_eq!(Scope::lenient("cc-omg,bad channel").to_text(), "cc-omg");
    }
}
