//! Background responses being followed upstream until their final usage is known and billed. Kept in the
//! database so a restart follows them again instead of giving them away; deleted once their charge is
//! committed. The instance following one touches it at every look upstream ([`touch`]); one left
//! untouched for [`ABANDONED_MS`] is claimed by exactly one instance ([`claim`]) and followed again.

use sqlx::AnyPool;

/// A follow untouched this long has no instance following it (they touch it every few seconds).
pub const ABANDONED_MS: i64 = 60_000;

/// Everything needed to bill a followed response when it ends: the call as it was admitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Follow {
    pub response_id: String,
    pub request_key: String,
    pub user_id: i64,
    pub api_key_id: Option<i64>,
    pub key_name: Option<String>,
    pub channel: String,
    pub model: String,
    /// The channel's multiplier at admission, as a decimal string.
    pub multiplier: String,
    pub estimated_input: i64,
    pub max_input: i64,
    pub max_output: i64,
    /// How many hosted web searches the call may bill (its tools' limit; 0 without a search tool).
    pub max_web_searches: i64,
    /// The call's worst case (its hold), in money units.
    pub worst_case: i64,
    pub request_id: Option<String>,
    pub started_at: i64,
    /// When the instance following it last looked upstream.
    pub alive_at: i64,
}

/// Records a follow (again: a second record of one response keeps the first).
pub async fn record(pool: &AnyPool, f: &Follow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO background_follows (response_id, request_key, user_id, api_key_id, key_name, channel, model, \
         multiplier, estimated_input, max_input, max_output, worst_case, request_id, started_at, alive_at, \
         max_web_searches) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT (response_id) DO NOTHING",
    )
    .bind(&f.response_id)
    .bind(&f.request_key)
    .bind(f.user_id)
    .bind(f.api_key_id)
    .bind(&f.key_name)
    .bind(&f.channel)
    .bind(&f.model)
    .bind(&f.multiplier)
    .bind(f.estimated_input)
    .bind(f.max_input)
    .bind(f.max_output)
    .bind(f.worst_case)
    .bind(&f.request_id)
    .bind(f.started_at)
    .bind(f.alive_at)
    .bind(f.max_web_searches)
    .execute(pool)
    .await
    .map(|_| ())
}

/// Every follow, oldest first.
pub async fn all(pool: &AnyPool) -> Result<Vec<Follow>, sqlx::Error> {
    abandoned(pool, i64::MAX).await
}

/// The follows nobody has touched since `before` (their instance stopped), oldest first.
pub async fn abandoned(pool: &AnyPool, before: i64) -> Result<Vec<Follow>, sqlx::Error> {
    type Row = (
        String,
        String,
        i64,
        Option<i64>,
        Option<String>,
        String,
        String,
        String,
        i64,
        i64,
        i64,
        i64,
        Option<String>,
        i64,
        i64,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT response_id, request_key, user_id, api_key_id, key_name, channel, model, multiplier, \
         estimated_input, max_input, max_output, worst_case, request_id, started_at, alive_at, max_web_searches \
         FROM background_follows WHERE alive_at < $1 ORDER BY started_at",
    )
    .bind(before)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Follow {
            response_id: r.0,
            request_key: r.1,
            user_id: r.2,
            api_key_id: r.3,
            key_name: r.4,
            channel: r.5,
            model: r.6,
            multiplier: r.7,
            estimated_input: r.8,
            max_input: r.9,
            max_output: r.10,
            worst_case: r.11,
            request_id: r.12,
            started_at: r.13,
            alive_at: r.14,
            max_web_searches: r.15,
        })
        .collect())
}

/// Claims an abandoned follow for this instance: true for exactly one of the instances that saw it with
/// `seen_alive_at` (compare-and-set).
pub async fn claim(pool: &AnyPool, f: &Follow, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE background_follows SET alive_at = $1 WHERE response_id = $2 AND alive_at = $3")
        .bind(now)
        .bind(&f.response_id)
        .bind(f.alive_at)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The follow's instance is still at it.
pub async fn touch(pool: &AnyPool, response_id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE background_follows SET alive_at = $1 WHERE response_id = $2")
        .bind(now)
        .bind(response_id)
        .execute(pool)
        .await
        .map(|_| ())
}

/// The follow is over: its charge is committed.
pub async fn done(pool: &AnyPool, response_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM background_follows WHERE response_id = $1")
        .bind(response_id)
        .execute(pool)
        .await
        .map(|_| ())
}

/// True when the charge with this request key is already committed, or set aside for the operator (a
/// follow that ended just before a restart, whose row was not deleted yet).
pub async fn billed(pool: &AnyPool, request_key: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM bills WHERE request_key = $1) \
         + (SELECT COUNT(*) FROM unsettled_calls WHERE request_key = $1)",
    )
    .bind(request_key)
    .fetch_one(pool)
    .await?;
    Ok(n > 0)
}
