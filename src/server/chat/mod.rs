//! Web chat on the server: the page's data and actions (this file), the model list (`models`), and the
//! streaming endpoint that runs each reply through the proxy's admission, upstream and metering (`reply`).
pub mod models;
pub mod reply;

use crate::i18n::{td_string, Locale};
use crate::server::domain::chat::{
    self, Ask, ChatError, MAX_CONVERSATIONS, MAX_MESSAGES_PER_MINUTE, MAX_MESSAGE_CHARS,
};
use crate::server::error::internal;
use crate::server::prices_view::per_million;
use crate::server::state::AppState;
use crate::server::time::{now_ms, relative};
use crate::shared::dto::{AskedReply, ChatMessageRow, ChatSetup, ChatThread, ConversationRow};
use crate::shared::error::AppError;
use crate::shared::markdown;
use crate::shared::text::fill;

use crate::server::domain::chat::MAX_TITLE_CHARS;

/// A chat refusal, in the person's language.
fn chat_error(e: ChatError, locale: Locale) -> AppError {
    let message = match e {
        ChatError::Db(detail) => return internal("web chat", detail),
        ChatError::NotFound => return AppError::NotFound,
        ChatError::BadTitle => {
            let message = fill(td_string!(locale, chat.err_bad_title), &[("max", &MAX_TITLE_CHARS)]);
            return AppError::invalid("title", message);
        }
        ChatError::TooFast(secs) => {
            let message =
                fill(td_string!(locale, chat.err_too_fast), &[("max", &MAX_MESSAGES_PER_MINUTE), ("secs", &secs)]);
            return AppError::RateLimited { message, retry_after_secs: u64::try_from(secs).unwrap_or(60) };
        }
        ChatError::Empty => td_string!(locale, chat.err_empty).to_string(),
        ChatError::TooLong => fill(td_string!(locale, chat.err_too_long), &[("max", &MAX_MESSAGE_CHARS)]),
        ChatError::Busy => td_string!(locale, chat.err_busy).to_string(),
        ChatError::AlreadyStarted => td_string!(locale, chat.err_already_started).to_string(),
        ChatError::TooManyConversations => {
            fill(td_string!(locale, chat.err_too_many_conversations), &[("max", &MAX_CONVERSATIONS)])
        }
    };
    AppError::invalid("message", message)
}

pub fn setup(state: &AppState) -> ChatSetup {
    let prices = state.pricing.current();
    let multiplier = prices.multipliers.for_channel(reply::CHANNEL);
    let mut offered = models::offered(&prices);
    for m in &mut offered {
        if let Some(p) = prices.table.lookup(&m.id) {
            let r = p.base_rates();
            m.price = format!("{} / {}", per_million(r.input * multiplier), per_million(r.output * multiplier));
        }
    }
    ChatSetup {
        models: offered,
        default_model: models::DEFAULT_MODEL.to_string(),
        mock_upstream: state.gateway.uses_mock(),
    }
}

fn row(c: chat::Conversation, now: i64, locale: Locale) -> ConversationRow {
    ConversationRow {
        id: c.id,
        title: c.title,
        model: c.model,
        thinking: c.thinking,
        updated: updated_text(c.updated_at, now, locale),
    }
}

/// "just now" within the last minute (and for a clock a little ahead), else "3 minutes ago".
fn updated_text(at: i64, now: i64, locale: Locale) -> String {
    if now - at < 60_000 {
        td_string!(locale, chat.just_now).to_string()
    } else {
        relative(at, now, locale)
    }
}

pub async fn conversations(state: &AppState, user_id: i64, locale: Locale) -> Result<Vec<ConversationRow>, AppError> {
    let now = now_ms();
    let list = chat::list(state.db.pool(), user_id).await.map_err(|e| chat_error(e, locale))?;
    Ok(list.into_iter().map(|c| row(c, now, locale)).collect())
}

pub async fn thread(state: &AppState, user_id: i64, id: i64, locale: Locale) -> Result<ChatThread, AppError> {
    let conversation = chat::get(state.db.pool(), user_id, id).await.map_err(|e| chat_error(e, locale))?;
    let messages = chat::messages(state.db.pool(), user_id, id).await.map_err(|e| chat_error(e, locale))?;
    Ok(ChatThread {
        conversation: row(conversation, now_ms(), locale),
        messages: messages
            .into_iter()
            .map(|m| ChatMessageRow {
                id: m.id,
                html: if m.role == "assistant" { markdown::to_html(&m.content) } else { String::new() },
                model_label: models::label(&m.model).0,
                role: m.role,
                content: m.content,
                thinking: m.thinking,
                status: m.status,
                error: m.error,
                error_billing: m.error_billing,
            })
            .collect(),
    })
}

/// Stores the person's message and a waiting reply; the page then streams the reply.
pub async fn ask(
    state: &AppState,
    user_id: i64,
    conversation_id: Option<i64>,
    text: &str,
    model: &str,
    thinking: bool,
    locale: Locale,
) -> Result<AskedReply, AppError> {
    if !models::offered(&state.pricing.current()).iter().any(|m| m.id == model) {
        return Err(AppError::invalid(
            "model",
            fill(td_string!(locale, chat.err_model_not_offered), &[("model", &model)]),
        ));
    }
    let thinking = thinking && models::thinking_supported(model);
    let unfinished = td_string!(locale, chat.reply_unfinished);
    let ask = Ask { user_id, conversation_id, text, model, thinking, unfinished, now: now_ms() };
    let asked = chat::ask(state.db.pool(), ask).await.map_err(|e| chat_error(e, locale))?;
    Ok(AskedReply { conversation_id: asked.conversation_id, reply_id: asked.reply_id })
}

pub async fn rename(state: &AppState, user_id: i64, id: i64, title: &str, locale: Locale) -> Result<(), AppError> {
    chat::rename(state.db.pool(), user_id, id, title).await.map_err(|e| chat_error(e, locale))
}

pub async fn delete(state: &AppState, user_id: i64, id: i64, locale: Locale) -> Result<(), AppError> {
    chat::delete(state.db.pool(), user_id, id).await.map_err(|e| chat_error(e, locale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_conversations_say_just_now() {
        assert_eq!(updated_text(1_000, 1_000, Locale::en), "just now");
        assert_eq!(updated_text(1_000, 59_000, Locale::en), "just now");
        assert_eq!(updated_text(0, 3 * 60_000, Locale::en), "3 minutes ago");
        assert_eq!(updated_text(1_000, 1_000, Locale::zh), "刚刚");
    }

    #[test]
    fn refusals_read_as_before_in_english() {
        let en = |e: ChatError| match chat_error(e, Locale::en) {
            AppError::Invalid { message, .. } | AppError::RateLimited { message, .. } => message,
            other => panic!("{other:?}"),
        };
        for e in [
            ChatError::Empty,
            ChatError::TooLong,
            ChatError::BadTitle,
            ChatError::Busy,
            ChatError::AlreadyStarted,
            ChatError::TooManyConversations,
            ChatError::TooFast(7),
        ] {
            assert_eq!(en(e.clone()), e.to_string());
        }
    }
}
