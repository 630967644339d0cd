//! Web chat: each account's conversations and their messages. Every read and write names the account, so
//! one person can never reach another's conversation (it is simply "not found").
//!
//! A reply goes through three steps: [`ask`] stores the person's message and a `pending` reply in one
//! transaction; [`start_reply`] claims it exactly once (`streaming`) and returns the history to send
//! upstream; [`finish_reply`] stores the answer as `done`, `stopped` or `failed`.

use sqlx::AnyPool;

/// The longest message a person can send, in characters.
pub const MAX_MESSAGE_CHARS: usize = 100_000;
pub const MAX_TITLE_CHARS: usize = 80;
/// Conversations one account may keep; beyond it the oldest must be deleted before a new one starts.
pub const MAX_CONVERSATIONS: i64 = 1000;
/// Messages one account may send per minute, across its conversations.
pub const MAX_MESSAGES_PER_MINUTE: i64 = 20;
/// A reply still unfinished after this long is given up (longer than the upstream read timeout allows).
pub const STALE_REPLY_MS: i64 = 15 * 60_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversation {
    pub id: i64,
    pub title: String,
    pub model: String,
    pub thinking: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: i64,
    pub role: String,
    pub content: String,
    pub thinking: String,
    pub model: String,
    pub thinking_on: bool,
    /// `done`, `pending`, `streaming`, `stopped` or `failed`.
    pub status: String,
    pub error: Option<String>,
    /// The error is one the Billing page can fix (balance at zero, rate limit).
    pub error_billing: bool,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    #[error("No such conversation.")]
    NotFound,
    #[error("Write a message first.")]
    Empty,
    #[error("A message can be at most {MAX_MESSAGE_CHARS} characters.")]
    TooLong,
    #[error("Give the conversation a title (up to {MAX_TITLE_CHARS} characters).")]
    BadTitle,
    #[error("A reply is still being written in this conversation; wait for it or stop it.")]
    Busy,
    #[error("This reply has already been answered.")]
    AlreadyStarted,
    #[error("You have {MAX_CONVERSATIONS} conversations; delete some to start a new one.")]
    TooManyConversations,
    #[error("You are sending more than {MAX_MESSAGES_PER_MINUTE} messages a minute; wait {0} s.")]
    TooFast(i64),
    #[error("{0}")]
    Db(String),
}

impl From<sqlx::Error> for ChatError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e.to_string())
    }
}

/// A title from the first message: its first line, shortened.
pub fn title_from(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let mut title: String = line.chars().take(60).collect();
    if line.chars().count() > 60 {
        title.push('…');
    }
    title
}

fn clean_title(title: &str) -> Result<String, ChatError> {
    let t = title.trim();
    if t.is_empty() || t.chars().count() > MAX_TITLE_CHARS || t.chars().any(char::is_control) {
        return Err(ChatError::BadTitle);
    }
    Ok(t.to_string())
}

type ConvRow = (i64, String, String, i64, i64, i64);

fn conversation(r: ConvRow) -> Conversation {
    Conversation { id: r.0, title: r.1, model: r.2, thinking: r.3 != 0, created_at: r.4, updated_at: r.5 }
}

/// The account's conversations, most recently used first.
pub async fn list(pool: &AnyPool, user_id: i64) -> Result<Vec<Conversation>, ChatError> {
    let rows: Vec<ConvRow> = sqlx::query_as(
        "SELECT id, title, model, thinking, created_at, updated_at FROM conversations WHERE user_id = $1 \
         ORDER BY updated_at DESC, id DESC",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(conversation).collect())
}

pub async fn get(pool: &AnyPool, user_id: i64, id: i64) -> Result<Conversation, ChatError> {
    let row: Option<ConvRow> = sqlx::query_as(
        "SELECT id, title, model, thinking, created_at, updated_at FROM conversations WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    row.map(conversation).ok_or(ChatError::NotFound)
}

type MsgRow = (i64, String, String, String, String, i64, String, Option<String>, i64, i64);

fn message(r: MsgRow) -> Message {
    Message {
        id: r.0,
        role: r.1,
        content: r.2,
        thinking: r.3,
        model: r.4,
        thinking_on: r.5 != 0,
        status: r.6,
        error: r.7,
        error_billing: r.8 != 0,
        created_at: r.9,
    }
}

/// A conversation's messages, oldest first.
pub async fn messages(pool: &AnyPool, user_id: i64, conversation_id: i64) -> Result<Vec<Message>, ChatError> {
    get(pool, user_id, conversation_id).await?;
    let rows: Vec<MsgRow> = sqlx::query_as(
        "SELECT id, role, content, thinking, model, thinking_on, status, error, error_billing, created_at \
         FROM chat_messages \
         WHERE conversation_id = $1 ORDER BY id",
    )
    .bind(conversation_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(message).collect())
}

pub async fn rename(pool: &AnyPool, user_id: i64, id: i64, title: &str) -> Result<(), ChatError> {
    let done = sqlx::query("UPDATE conversations SET title = $1 WHERE id = $2 AND user_id = $3")
        .bind(clean_title(title)?)
        .bind(id)
        .bind(user_id)
        .execute(pool)
        .await?;
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(ChatError::NotFound)
    }
}

/// Deletes a conversation and its messages (bills of its replies stay: they are the account's record).
pub async fn delete(pool: &AnyPool, user_id: i64, id: i64) -> Result<(), ChatError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "DELETE FROM chat_messages WHERE conversation_id IN (SELECT id FROM conversations WHERE id = $1 AND user_id = $2)",
    )
    .bind(id)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    let done = sqlx::query("DELETE FROM conversations WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(ChatError::NotFound);
    }
    tx.commit().await?;
    Ok(())
}

/// What the person asked for.
pub struct Ask<'a> {
    pub user_id: i64,
    /// `None` starts a new conversation titled after the message.
    pub conversation_id: Option<i64>,
    pub text: &'a str,
    pub model: &'a str,
    pub thinking: bool,
    /// What a reply never finished (its tab closed at once, or a crash) says, in the person's language.
    pub unfinished: &'a str,
    pub now: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asked {
    pub conversation_id: i64,
    pub message_id: i64,
    pub reply_id: i64,
}

/// Stores the person's message and a pending reply, in one transaction.
pub async fn ask(pool: &AnyPool, a: Ask<'_>) -> Result<Asked, ChatError> {
    let text = a.text.trim();
    if text.is_empty() {
        return Err(ChatError::Empty);
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ChatError::TooLong);
    }
    let mut tx = pool.begin().await?;
    // The account's row is locked first, so parallel messages count one after another. The count is kept
    // apart from the messages (deleting conversations does not reset it), per minute window.
    super::ledger::lock_account(&mut tx, a.user_id).await.map_err(|e| ChatError::Db(e.to_string()))?;
    let window = a.now - a.now.rem_euclid(60_000);
    let (sent,): (i64,) = sqlx::query_as(
        "INSERT INTO chat_send_windows (user_id, window_start, sent) VALUES ($1, $2, 1) ON CONFLICT (user_id) \
         DO UPDATE SET sent = CASE WHEN chat_send_windows.window_start = $2 THEN chat_send_windows.sent + 1 ELSE 1 END, \
         window_start = $2 RETURNING sent",
    )
    .bind(a.user_id)
    .bind(window)
    .fetch_one(&mut *tx)
    .await?;
    if sent > MAX_MESSAGES_PER_MINUTE {
        return Err(ChatError::TooFast(((window + 60_000 - a.now) + 999).max(1000) / 1000));
    }
    let conversation_id = match a.conversation_id {
        Some(id) => {
            let updated = sqlx::query(
                "UPDATE conversations SET model = $1, thinking = $2, updated_at = $3 WHERE id = $4 AND user_id = $5",
            )
            .bind(a.model)
            .bind(i64::from(a.thinking))
            .bind(a.now)
            .bind(id)
            .bind(a.user_id)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() != 1 {
                return Err(ChatError::NotFound);
            }
            // A reply nobody streamed (the tab closed at once) or one cut off by a crash does not block the
            // conversation for ever.
            sqlx::query(
                "UPDATE chat_messages SET status = 'failed', error = $1 WHERE conversation_id = $2 \
                 AND status IN ('pending', 'streaming') AND created_at < $3",
            )
            .bind(a.unfinished)
            .bind(id)
            .bind(a.now - STALE_REPLY_MS)
            .execute(&mut *tx)
            .await?;
            let (running,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM chat_messages WHERE conversation_id = $1 AND status IN ('pending', 'streaming')",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            if running > 0 {
                return Err(ChatError::Busy);
            }
            id
        }
        None => {
            let (kept,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM conversations WHERE user_id = $1")
                .bind(a.user_id)
                .fetch_one(&mut *tx)
                .await?;
            if kept >= MAX_CONVERSATIONS {
                return Err(ChatError::TooManyConversations);
            }
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO conversations (user_id, title, model, thinking, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            )
            .bind(a.user_id)
            .bind(title_from(text))
            .bind(a.model)
            .bind(i64::from(a.thinking))
            .bind(a.now)
            .fetch_one(&mut *tx)
            .await?;
            id
        }
    };
    let insert = "INSERT INTO chat_messages (conversation_id, role, content, model, thinking_on, status, created_at) \
                  VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
    let (message_id,): (i64,) = sqlx::query_as(insert)
        .bind(conversation_id)
        .bind("user")
        .bind(text)
        .bind(a.model)
        .bind(i64::from(a.thinking))
        .bind("done")
        .bind(a.now)
        .fetch_one(&mut *tx)
        .await?;
    let (reply_id,): (i64,) = sqlx::query_as(insert)
        .bind(conversation_id)
        .bind("assistant")
        .bind("")
        .bind(a.model)
        .bind(i64::from(a.thinking))
        .bind("pending")
        .bind(a.now)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Asked { conversation_id, message_id, reply_id })
}

/// A claimed reply: what to ask the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyJob {
    pub conversation_id: i64,
    pub model: String,
    pub thinking: bool,
    /// (role, text), oldest first, roles alternating and starting with the person.
    pub history: Vec<(String, String)>,
}

/// Claims a pending reply (once: a second claim, say a reconnecting browser, gets `AlreadyStarted`).
pub async fn start_reply(pool: &AnyPool, user_id: i64, reply_id: i64) -> Result<ReplyJob, ChatError> {
    let row: Option<(i64, String, i64, String)> = sqlx::query_as(
        "SELECT m.conversation_id, m.model, m.thinking_on, m.status FROM chat_messages m \
         JOIN conversations c ON c.id = m.conversation_id WHERE m.id = $1 AND c.user_id = $2 AND m.role = 'assistant'",
    )
    .bind(reply_id)
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    let (conversation_id, model, thinking, status) = row.ok_or(ChatError::NotFound)?;
    if status != "pending" {
        return Err(ChatError::AlreadyStarted);
    }
    let claimed = sqlx::query("UPDATE chat_messages SET status = 'streaming' WHERE id = $1 AND status = 'pending'")
        .bind(reply_id)
        .execute(pool)
        .await?;
    if claimed.rows_affected() != 1 {
        return Err(ChatError::AlreadyStarted);
    }
    let earlier: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT role, content, status FROM chat_messages WHERE conversation_id = $1 AND id < $2 ORDER BY id",
    )
    .bind(conversation_id)
    .bind(reply_id)
    .fetch_all(pool)
    .await?;
    Ok(ReplyJob { conversation_id, model, thinking: thinking != 0, history: history_of(&earlier) })
}

/// The turns to send: answers that failed or are empty are left out, and neighbouring turns of one role
/// are joined, so roles alternate as the Messages API requires.
pub fn history_of(messages: &[(String, String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (role, content, status) in messages {
        let usable = !content.trim().is_empty() && (role == "user" || matches!(status.as_str(), "done" | "stopped"));
        if !usable {
            continue;
        }
        match out.last_mut() {
            Some((last_role, text)) if last_role == role => {
                text.push_str("\n\n");
                text.push_str(content);
            }
            _ => out.push((role.clone(), content.clone())),
        }
    }
    while out.first().is_some_and(|(r, _)| r != "user") {
        out.remove(0);
    }
    out
}

/// How a reply ended.
pub struct Finish<'a> {
    pub reply_id: i64,
    pub content: &'a str,
    pub thinking: &'a str,
    /// `done`, `stopped` or `failed`.
    pub status: &'a str,
    pub error: Option<&'a str>,
    /// The error is one Billing can fix.
    pub error_billing: bool,
    pub now: i64,
}

pub async fn finish_reply(pool: &AnyPool, f: Finish<'_>) -> Result<(), ChatError> {
    let mut tx = pool.begin().await?;
    let (conversation_id,): (i64,) = sqlx::query_as(
        "UPDATE chat_messages SET content = $1, thinking = $2, status = $3, error = $4, error_billing = $5 \
         WHERE id = $6 RETURNING conversation_id",
    )
    .bind(f.content)
    .bind(f.thinking)
    .bind(f.status)
    .bind(f.error)
    .bind(i64::from(f.error_billing))
    .bind(f.reply_id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE conversations SET updated_at = $1 WHERE id = $2")
        .bind(f.now)
        .bind(conversation_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(role: &str, content: &str, status: &str) -> (String, String, String) {
        (role.into(), content.into(), status.into())
    }

    #[test]
    fn history_alternates_and_leaves_out_failed_answers() {
        let h = history_of(&[
            m("user", "one", "done"),
            m("assistant", "", "failed"),
            m("user", "two", "done"),
            m("assistant", "answer", "done"),
            m("user", "three", "done"),
            m("assistant", "partial", "stopped"),
        ]);
        assert_eq!(
            h,
            vec![
                ("user".to_string(), "one\n\ntwo".to_string()),
                ("assistant".to_string(), "answer".to_string()),
                ("user".to_string(), "three".to_string()),
                ("assistant".to_string(), "partial".to_string()),
            ]
        );
    }

    #[test]
    fn titles_come_from_the_first_line() {
        assert_eq!(title_from("\n  Hello there\nmore"), "Hello there");
        assert_eq!(title_from(&"x".repeat(70)).chars().count(), 61);
        assert_eq!(clean_title("  ok "), Ok("ok".to_string()));
        assert_eq!(clean_title(" "), Err(ChatError::BadTitle));
    }
}
