//! Responses made through the OpenAI Responses API, remembered with the account that made them. An id is
//! only ever looked up together with the caller's account, so another account's id reads as unknown (404)
//! and is never forwarded upstream. Responses Gatehouse wrote itself (a Claude model, translated) keep
//! their content here, since no upstream holds them.

use sqlx::AnyPool;

/// Responses are kept this long (OpenAI keeps stored responses 30 days).
pub const KEEP_MS: i64 = 30 * 86_400_000;

/// What Gatehouse keeps of a response it wrote itself: the response object, the request's input items,
/// and the conversation through this response (input items then output items, all as JSON arrays).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub body: String,
    pub input_items: String,
    pub conversation: String,
}

/// A response id and whose it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owned {
    pub id: String,
    pub user_id: i64,
    pub channel: String,
    pub model: String,
    /// `None`: the upstream holds the response (a pass-through model); ask it.
    pub written: Option<Written>,
    pub created_at: i64,
}

/// Remembers responses for their accounts, all in one statement. An id seen before keeps its first owner
/// (ids are the upstream's, so a second row for one id would mean an upstream reusing ids: the first
/// account keeps it).
pub async fn remember(pool: &AnyPool, rows: &[Owned]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut conn = pool.acquire().await?;
    let positional = crate::server::db::batch_sql::positional(conn.backend_name());
    let sql = format!(
        "INSERT INTO responses (id, user_id, channel, model, body, input_items, conversation, created_at) \
         VALUES {} ON CONFLICT (id) DO NOTHING",
        crate::server::db::batch_sql::rows(rows.len(), 8, positional)
    );
    let mut q = sqlx::query(&sql);
    for r in rows {
        let w = r.written.as_ref();
        q = q
            .bind(&r.id)
            .bind(r.user_id)
            .bind(&r.channel)
            .bind(&r.model)
            .bind(w.map(|w| w.body.clone()))
            .bind(w.map(|w| w.input_items.clone()))
            .bind(w.map(|w| w.conversation.clone()))
            .bind(r.created_at);
    }
    q.execute(&mut *conn).await.map(|_| ())
}

/// The caller's response with this id; `None` when there is none or it is another account's.
pub async fn find(pool: &AnyPool, user_id: i64, id: &str) -> Result<Option<Owned>, sqlx::Error> {
    type Row = (String, String, Option<String>, Option<String>, Option<String>, i64);
    let row: Option<Row> = sqlx::query_as(
        "SELECT channel, model, body, input_items, conversation, created_at FROM responses \
         WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(channel, model, body, input_items, conversation, created_at)| Owned {
        id: id.to_string(),
        user_id,
        channel,
        model,
        written: match (body, input_items, conversation) {
            (Some(body), Some(input_items), Some(conversation)) => Some(Written { body, input_items, conversation }),
            _ => None,
        },
        created_at,
    }))
}

/// Forgets the caller's response; false when it was not theirs (or not there).
pub async fn forget(pool: &AnyPool, user_id: i64, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM responses WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes responses older than [`KEEP_MS`].
pub async fn purge(pool: &AnyPool, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM responses WHERE created_at < $1").bind(now - KEEP_MS).execute(pool).await?;
    Ok(done.rows_affected())
}
