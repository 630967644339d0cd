//! The operator log: every operator action (who, when, what, why), append-only. The tables refuse updates
//! and deletes (triggers in the migration); entries are written in the same transaction as the action.

use sqlx::{AnyConnection, AnyPool};

/// Who acted: an operator's email, or [`Actor::CLI`] for the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor<'a>(pub &'a str);

impl Actor<'static> {
    pub const CLI: Actor<'static> = Actor("cli");
}

/// One action to record.
#[derive(Clone, Copy, Debug)]
pub struct Action<'a> {
    pub actor: Actor<'a>,
    /// A short verb: `credit`, `offline-payment`, `grant-package`, `disable-account` ...
    pub action: &'a str,
    /// What it was done to: an account's email, `referral 12`, an invite code ...
    pub target: &'a str,
    /// What exactly changed, in words.
    pub detail: &'a str,
    pub reason: &'a str,
    pub now: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub reason: String,
    pub created_at: i64,
}

/// Records an action inside the caller's transaction.
pub async fn record(conn: &mut AnyConnection, a: Action<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO operator_log (actor, action, target, detail, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(a.actor.0)
    .bind(a.action)
    .bind(a.target)
    .bind(a.detail)
    .bind(a.reason)
    .bind(a.now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What was done to one target (an account's email, exactly), newest first.
pub async fn about_target(pool: &AnyPool, target: &str, limit: i64) -> Result<Vec<Entry>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, actor, action, target, detail, reason, created_at FROM operator_log WHERE target = $1 \
         ORDER BY id DESC LIMIT $2",
    )
    .bind(target)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(entry).collect())
}

type Row = (i64, String, String, String, String, String, i64);

fn entry(r: Row) -> Entry {
    Entry { id: r.0, actor: r.1, action: r.2, target: r.3, detail: r.4, reason: r.5, created_at: r.6 }
}

/// Newest first: up to `limit` entries older than `before` (an entry id), optionally only those whose target
/// or actor contains `about`.
pub async fn page(
    pool: &AnyPool,
    before: Option<i64>,
    about: Option<&str>,
    limit: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    let like = about.map(|a| crate::server::db::contains_pattern(&a.trim().to_lowercase()));
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, actor, action, target, detail, reason, created_at FROM operator_log \
         WHERE id < $1 AND ($2 = '' OR LOWER(target) LIKE $2 ESCAPE '\\' OR LOWER(actor) LIKE $2 ESCAPE '\\') \
         ORDER BY id DESC LIMIT $3",
    )
    .bind(before.unwrap_or(i64::MAX))
    .bind(like.unwrap_or_default())
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(entry).collect())
}
