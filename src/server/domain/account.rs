//! An account's money at a glance: balance and paid top-ups (for the tier). What running calls reserve
//! lives in the admission book, in memory, not here.

use super::money::Money;
use sqlx::AnyPool;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountMoney {
    pub balance: Money,
    /// Paid top-ups so far, minor units of the top-up currency.
    pub paid_topups_minor: i64,
}

pub async fn money_of(pool: &AnyPool, user_id: i64) -> Result<Option<AccountMoney>, sqlx::Error> {
    let row: Option<(i64, i64)> = sqlx::query_as("SELECT balance, paid_topups_minor FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(pool)
        .await?;
    let Some((balance, paid)) = row else { return Ok(None) };
    Ok(Some(AccountMoney { balance: Money::from_units(balance), paid_topups_minor: paid }))
}

/// The account id of an email address (normalized form), for operator commands.
pub async fn user_id_by_email(pool: &AnyPool, normalized: &str) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE email_normalized = $1")
        .bind(normalized)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| r.0))
}
