//! The `users` table: one row per normalized email.

use crate::server::db::Db;
use sqlx::AnyConnection;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

pub async fn find(db: &Db, id: i64) -> Result<Option<User>, sqlx::Error> {
    let row: Option<(i64, String, i64, Option<i64>)> =
        sqlx::query_as("SELECT id, email, created_at, last_login_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|(id, email, created_at, last_login_at)| User { id, email, created_at, last_login_at }))
}

/// Creates the account on first login, or records the login. Returns the id and whether it is new.
pub async fn upsert_on_login(
    conn: &mut AnyConnection,
    email: &str,
    normalized: &str,
    now: i64,
) -> Result<(i64, bool), sqlx::Error> {
    let (id, created_at): (i64, i64) = sqlx::query_as(
        "INSERT INTO users (email, email_normalized, created_at, last_login_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (email_normalized) DO UPDATE SET last_login_at = excluded.last_login_at \
         RETURNING id, created_at",
    )
    .bind(email)
    .bind(normalized)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok((id, created_at == now))
}
