//! The models web chat offers, from the price table: Claude models first (Claude Sonnet 4.5, "CS4.5", is
//! the default), then GPT models. Deep thinking is Anthropic's extended thinking, so only Claude models
//! from the 3.7 generation on have it; the picker says why it is off for the others.

use crate::server::domain::pricing::Pricing;
use crate::shared::dto::{ChatModel, NoThinking};

pub const DEFAULT_MODEL: &str = "claude-sonnet-4-5";
/// Extended thinking's token budget, and the reply's output limit with and without it.
pub const THINKING_BUDGET: u64 = 6_000;
pub const MAX_TOKENS_THINKING: u64 = 16_000;
pub const MAX_TOKENS: u64 = 8_000;

/// "claude-sonnet-4-5" -> ("Claude Sonnet 4.5", "CS4.5"); GPT ids keep their own spelling.
pub fn label(id: &str) -> (String, String) {
    let parts: Vec<&str> = id.split('-').collect();
    match parts.as_slice() {
        ["claude", family, version @ ..] if !version.is_empty() && version.iter().all(|v| v.parse::<u32>().is_ok()) => {
            let family_name = {
                let mut c = family.chars();
                c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
            };
            let v = version.join(".");
            let initial = family_name.chars().next().unwrap_or('C');
            (format!("Claude {family_name} {v}"), format!("C{initial}{v}"))
        }
        _ => (id.replace("gpt", "GPT"), id.replace("gpt", "GPT")),
    }
}

/// Extended thinking: Claude 3.7 Sonnet and every Claude 4 or later.
pub fn thinking_supported(id: &str) -> bool {
    if id == "claude-3-7-sonnet" {
        return true;
    }
    let parts: Vec<&str> = id.split('-').collect();
    match parts.as_slice() {
        ["claude", _, major, ..] => major.parse::<u32>().is_ok_and(|m| m >= 4),
        _ => false,
    }
}

fn no_thinking(id: &str) -> Option<NoThinking> {
    if thinking_supported(id) {
        None
    } else if id.starts_with("claude") {
        Some(NoThinking::OlderClaude)
    } else {
        Some(NoThinking::NotClaude)
    }
}

/// The picker's list: priced Opus, Sonnet and Haiku models and GPT models, default first.
pub fn offered(pricing: &Pricing) -> Vec<ChatModel> {
    let table = &pricing.table;
    let ids = table.model_ids();
    let wanted = |id: &str| {
        let claude = ["claude-opus-", "claude-sonnet-", "claude-haiku-"].iter().any(|p| id.starts_with(p))
            && label(id).0.starts_with("Claude ");
        (claude || id.starts_with("gpt-")) && pricing.serves(super::reply::CHANNEL, id)
    };
    let mut models: Vec<ChatModel> = ids
        .iter()
        .filter(|id| wanted(id))
        .map(|id| {
            let (name, short) = label(id);
            ChatModel {
                id: id.to_string(),
                label: if short == name { name } else { format!("{name} ({short})") },
                thinking: thinking_supported(id),
                no_thinking: no_thinking(id),
                price: String::new(),
            }
        })
        .collect();
    let rank = |m: &ChatModel| {
        let family = if m.id == DEFAULT_MODEL {
            0
        } else if m.id.starts_with("claude-sonnet") {
            1
        } else if m.id.starts_with("claude-opus") {
            2
        } else if m.id.starts_with("claude-haiku") {
            3
        } else {
            4
        };
        (family, std::cmp::Reverse(m.id.clone()))
    };
    models.sort_by_key(rank);
    models
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_ids_get_names_and_short_names() {
        assert_eq!(label("claude-sonnet-4-5"), ("Claude Sonnet 4.5".to_string(), "CS4.5".to_string()));
        assert_eq!(label("claude-opus-4-1"), ("Claude Opus 4.1".to_string(), "CO4.1".to_string()));
        assert_eq!(label("gpt-5-mini").0, "GPT-5-mini");
    }

    #[test]
    fn thinking_is_for_claude_4_and_3_7() {
        assert!(thinking_supported("claude-sonnet-4-5") && thinking_supported("claude-haiku-4-5"));
        assert!(thinking_supported("claude-3-7-sonnet") && thinking_supported("claude-opus-5-5"));
        assert!(!thinking_supported("claude-haiku-3-5") && !thinking_supported("gpt-5"));
        assert_eq!(no_thinking("gpt-5"), Some(NoThinking::NotClaude));
        assert_eq!(no_thinking("claude-haiku-3-5"), Some(NoThinking::OlderClaude));
        assert_eq!(no_thinking("claude-sonnet-4-5"), None);
    }

    #[test]
    fn cs4_5_comes_first_and_gpt_models_are_offered() {
        let pricing = Pricing {
            table: crate::server::domain::pricing::PriceTable::shipped().unwrap(),
            multipliers: Default::default(),
            channels: Default::default(),
            table_text: String::new(),
        };
        let models = offered(&pricing);
        assert!(
            models
                .iter()
                .all(|m| !m.id.contains("embedding") && !m.id.starts_with("tts") && !m.id.contains("instruct")),
            "chat models only"
        );
        assert_eq!(models[0].id, "claude-sonnet-4-5");
        assert!(models[0].label.contains("CS4.5"));
        assert!(models.iter().any(|m| m.id.starts_with("claude-opus")));
        assert!(models.iter().any(|m| m.id.starts_with("claude-haiku")));
        assert!(models.iter().any(|m| m.id == "gpt-5" && !m.thinking));
        assert!(!models.iter().any(|m| m.id.contains('*')));
    }
}
