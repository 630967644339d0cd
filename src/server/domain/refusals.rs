//! Calls refused before they ran (402: the balance cannot pay; 429: over the rate limit), kept so a person
//! can see on the Bills page why a tool failed. Nothing was charged for them.

use sqlx::AnyPool;

/// Refused calls are kept this long.
pub const KEEP_MS: i64 = 30 * 86_400_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub user_id: i64,
    pub key_name: Option<String>,
    pub channel: String,
    pub model: String,
    pub status: u16,
    pub reason: String,
    pub request_id: Option<String>,
    pub at: i64,
}

pub async fn record(pool: &AnyPool, r: &Refused) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refused_calls (user_id, key_name, channel, model, status, reason, request_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(r.user_id)
    .bind(r.key_name.as_deref())
    .bind(&r.channel)
    .bind(&r.model)
    .bind(i32::from(r.status))
    .bind(&r.reason)
    .bind(r.request_id.as_deref())
    .bind(r.at)
    .execute(pool)
    .await
    .map(|_| ())
}

/// An account's newest refused calls, newest first.
pub async fn recent(pool: &AnyPool, user_id: i64, limit: i64) -> Result<Vec<Refused>, sqlx::Error> {
    type Row = (Option<String>, String, String, i32, String, Option<String>, i64);
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT key_name, channel, model, status, reason, request_id, created_at FROM refused_calls \
         WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT {}",
        limit.clamp(1, 1000)
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(key_name, channel, model, status, reason, request_id, at)| Refused {
            user_id,
            key_name,
            channel,
            model,
            status: u16::try_from(status).unwrap_or(0),
            reason,
            request_id,
            at,
        })
        .collect())
}

/// Deletes refused calls older than [`KEEP_MS`].
pub async fn purge(pool: &AnyPool, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM refused_calls WHERE created_at < $1").bind(now - KEEP_MS).execute(pool).await?;
    Ok(done.rows_affected())
}
