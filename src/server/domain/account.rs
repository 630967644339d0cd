//! An account's money at a glance: balance, paid top-ups (for the tier), and what calls in flight hold.

use super::money::Money;
use sqlx::AnyPool;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountMoney {
    pub balance: Money,
    /// Paid top-ups so far, minor units of the top-up currency.
    pub paid_topups_minor: i64,
    pub balance_held: Money,
}

pub async fn money_of(pool: &AnyPool, user_id: i64) -> Result<Option<AccountMoney>, sqlx::Error> {
    let row: Option<(i64, i64)> = sqlx::query_as("SELECT balance, paid_topups_minor FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(pool)
        .await?;
    let Some((balance, paid)) = row else { return Ok(None) };
    let (held,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(balance_amount), 0) AS BIGINT) FROM holds WHERE user_id = $1 AND closed_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(pool)
    .await?;
    Ok(Some(AccountMoney {
        balance: Money::from_units(balance),
        paid_topups_minor: paid,
        balance_held: Money::from_units(held),
    }))
}

/// The account id of an email address (normalized form), for operator commands.
pub async fn user_id_by_email(pool: &AnyPool, normalized: &str) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE email_normalized = $1")
        .bind(normalized)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| r.0))
}
