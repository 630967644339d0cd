//! The `users` table: one row per normalized email.

use crate::server::db::Db;
use sqlx::AnyConnection;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub email_normalized: String,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    /// Given by `gatehouse admin promote` (operators listed in `ADMIN_EMAILS` hold the role without it).
    pub is_operator: bool,
    /// When an operator disabled the account; its keys and sessions stop.
    pub disabled_at: Option<i64>,
    /// The language chosen on the site while signed in (`en`, `zh`, `ja`); emails are written in it.
    pub locale: Option<String>,
}

type Row = (i64, String, String, i64, Option<i64>, i64, Option<i64>, Option<String>);

const COLUMNS: &str = "id, email, email_normalized, created_at, last_login_at, is_operator, disabled_at, locale";

fn from_row(r: Row) -> User {
    User {
        id: r.0,
        email: r.1,
        email_normalized: r.2,
        created_at: r.3,
        last_login_at: r.4,
        is_operator: r.5 != 0,
        disabled_at: r.6,
        locale: r.7,
    }
}

pub async fn find(db: &Db, id: i64) -> Result<Option<User>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(from_row))
}

/// The account of an email address (normalized form).
pub async fn by_email(db: &Db, normalized: &str) -> Result<Option<User>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE email_normalized = $1"))
        .bind(normalized)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(from_row))
}

/// Accounts whose email contains `text` (lower-cased), newest first.
pub async fn search(db: &Db, text: &str, limit: i64) -> Result<Vec<User>, sqlx::Error> {
    let like = crate::server::db::contains_pattern(&text.trim().to_lowercase());
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users WHERE email_normalized LIKE $1 ESCAPE '\\' ORDER BY id DESC LIMIT $2"
    ))
    .bind(like)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// The account `id` when it holds the operator role (see [`User::is_operator_given`]).
pub async fn operator(db: &Db, id: i64, admin_emails: &[String]) -> Result<Option<User>, sqlx::Error> {
    Ok(find(db, id).await?.filter(|u| u.is_operator_given(admin_emails)))
}

impl User {
    /// Holds the operator role: promoted, or listed in `ADMIN_EMAILS`. A disabled account holds nothing.
    pub fn is_operator_given(&self, admin_emails: &[String]) -> bool {
        self.disabled_at.is_none() && (self.is_operator || admin_emails.iter().any(|e| e == &self.email_normalized))
    }
}

/// Keeps the language the person chose, for the emails sent to them.
pub async fn set_locale(db: &Db, id: i64, locale: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET locale = $1 WHERE id = $2").bind(locale).bind(id).execute(db.pool()).await?;
    Ok(())
}

/// The language chosen by the account with this email, if it exists and chose one.
pub async fn locale_of_email(db: &Db, normalized: &str) -> Result<Option<String>, sqlx::Error> {
    Ok(by_email(db, normalized).await?.and_then(|u| u.locale))
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

/// True when an operator disabled the account (read inside a login's transaction).
pub async fn is_disabled(conn: &mut AnyConnection, user_id: i64) -> Result<bool, sqlx::Error> {
    let row: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT disabled_at FROM users WHERE id = $1").bind(user_id).fetch_optional(&mut *conn).await?;
    Ok(row.is_some_and(|r| r.0.is_some()))
}
