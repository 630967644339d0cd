//! Web chat on the server: the page's data and actions (this file), the model list (`models`), and the
//! streaming endpoint that runs each reply through the proxy's admission, upstream and metering (`reply`).
pub mod models;
pub mod reply;

use crate::server::domain::chat::{self, Ask, ChatError};
use crate::server::error::internal;
use crate::server::prices_view::per_million;
use crate::server::state::AppState;
use crate::server::time::{now_ms, relative};
use crate::shared::dto::{AskedReply, ChatMessageRow, ChatSetup, ChatThread, ConversationRow};
use crate::shared::error::AppError;
use crate::shared::markdown;

fn chat_error(e: ChatError) -> AppError {
    match e {
        ChatError::Db(detail) => internal("web chat", detail),
        ChatError::NotFound => AppError::NotFound,
        ChatError::BadTitle => AppError::invalid("title", e.to_string()),
        ChatError::TooFast(secs) => {
            AppError::RateLimited { message: e.to_string(), retry_after_secs: u64::try_from(secs).unwrap_or(60) }
        }
        other => AppError::invalid("message", other.to_string()),
    }
}

pub fn setup(state: &AppState) -> ChatSetup {
    let prices = state.pricing.current();
    let multiplier = prices.multipliers.for_channel(reply::CHANNEL);
    let mut offered = models::offered(&prices.table);
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

fn row(c: chat::Conversation, now: i64) -> ConversationRow {
    ConversationRow {
        id: c.id,
        title: c.title,
        model: c.model,
        thinking: c.thinking,
        updated: updated_text(c.updated_at, now),
    }
}

/// "just now" within the last minute (and for a clock a little ahead), else "3 minutes ago".
fn updated_text(at: i64, now: i64) -> String {
    if now - at < 60_000 {
        "just now".to_string()
    } else {
        relative(at, now)
    }
}

pub async fn conversations(state: &AppState, user_id: i64) -> Result<Vec<ConversationRow>, AppError> {
    let now = now_ms();
    Ok(chat::list(state.db.pool(), user_id).await.map_err(chat_error)?.into_iter().map(|c| row(c, now)).collect())
}

pub async fn thread(state: &AppState, user_id: i64, id: i64) -> Result<ChatThread, AppError> {
    let conversation = chat::get(state.db.pool(), user_id, id).await.map_err(chat_error)?;
    let messages = chat::messages(state.db.pool(), user_id, id).await.map_err(chat_error)?;
    Ok(ChatThread {
        conversation: row(conversation, now_ms()),
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
) -> Result<AskedReply, AppError> {
    if !models::offered(&state.pricing.current().table).iter().any(|m| m.id == model) {
        return Err(AppError::invalid("model", format!("`{model}` is not offered in chat.")));
    }
    let thinking = thinking && models::thinking_supported(model);
    let asked = chat::ask(state.db.pool(), Ask { user_id, conversation_id, text, model, thinking, now: now_ms() })
        .await
        .map_err(chat_error)?;
    Ok(AskedReply { conversation_id: asked.conversation_id, reply_id: asked.reply_id })
}

pub async fn rename(state: &AppState, user_id: i64, id: i64, title: &str) -> Result<(), AppError> {
    chat::rename(state.db.pool(), user_id, id, title).await.map_err(chat_error)
}

pub async fn delete(state: &AppState, user_id: i64, id: i64) -> Result<(), AppError> {
    chat::delete(state.db.pool(), user_id, id).await.map_err(chat_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_conversations_say_just_now() {
        assert_eq!(updated_text(1_000, 1_000), "just now");
        assert_eq!(updated_text(1_000, 59_000), "just now");
        assert_eq!(updated_text(0, 3 * 60_000), "3 minutes ago");
    }
}
