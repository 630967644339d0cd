//! The whole server's activity for operators: calls, what they cost, errors and active accounts since a
//! time, per UTC day, and by channel or model. Read from the bills and the refused calls.

use super::money::Money;
use sqlx::AnyPool;

/// Calls since a time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Calls that ran (and were billed).
    pub calls: i64,
    /// Of those, calls that did not complete (the caller left, the upstream broke).
    pub broken: i64,
    /// Calls refused for money or rate (402, 429), not in `calls`.
    pub refused: i64,
    /// Packages and balance together.
    pub spend: Money,
    pub active_accounts: i64,
}

/// Everything since `since` (unix ms).
pub async fn totals(pool: &AnyPool, since: i64) -> Result<Totals, sqlx::Error> {
    let (calls, spend, active, broken): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(packages_paid + balance_paid), 0) AS BIGINT), COUNT(DISTINCT user_id), \
         CAST(COALESCE(SUM(CASE WHEN outcome <> 'complete' THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM bills WHERE created_at >= $1",
    )
    .bind(since)
    .fetch_one(pool)
    .await?;
    let (refused,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM refused_calls WHERE created_at >= $1").bind(since).fetch_one(pool).await?;
    Ok(Totals { calls, broken, refused, spend: Money::from_units(spend), active_accounts: active })
}

impl Totals {
    /// Calls asked for: those that ran and those refused.
    pub fn asked(&self) -> i64 {
        self.calls + self.refused
    }

    pub fn errors(&self) -> i64 {
        self.broken + self.refused
    }
}

/// One UTC day's calls (days without calls are absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Day {
    /// Days since 1970-01-01.
    pub day: i64,
    /// Calls asked for: those that ran and those refused.
    pub calls: i64,
    /// Refused, or ran but did not complete.
    pub errors: i64,
    pub spend: Money,
}

/// Each UTC day since `since`, oldest first.
pub async fn by_day(pool: &AnyPool, since: i64) -> Result<Vec<Day>, sqlx::Error> {
    let bills: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT created_at / 86400000, COUNT(*), CAST(COALESCE(SUM(packages_paid + balance_paid), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN outcome <> 'complete' THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM bills WHERE created_at >= $1 GROUP BY created_at / 86400000",
    )
    .bind(since)
    .fetch_all(pool)
    .await?;
    let refused: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT created_at / 86400000, COUNT(*) FROM refused_calls WHERE created_at >= $1 GROUP BY created_at / 86400000",
    )
    .bind(since)
    .fetch_all(pool)
    .await?;
    let mut days: Vec<Day> = bills
        .into_iter()
        .map(|(day, calls, spend, errors)| Day { day, calls, errors, spend: Money::from_units(spend) })
        .collect();
    for (day, n) in refused {
        match days.iter_mut().find(|d| d.day == day) {
            Some(d) => {
                d.calls += n;
                d.errors += n;
            }
            None => days.push(Day { day, calls: n, errors: n, spend: Money::ZERO }),
        }
    }
    days.sort_by_key(|d| d.day);
    Ok(days)
}

/// Spend and calls of one channel or model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    pub name: String,
    pub calls: i64,
    pub spend: Money,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    Channel,
    Model,
}

/// Spend since `since` by channel or model, largest first, at most `limit`.
pub async fn spend_by(pool: &AnyPool, grouping: Grouping, since: i64, limit: i64) -> Result<Vec<Share>, sqlx::Error> {
    let column = match grouping {
        Grouping::Channel => "channel",
        Grouping::Model => "model",
    };
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(&format!(
        "SELECT {column}, COUNT(*), CAST(COALESCE(SUM(packages_paid + balance_paid), 0) AS BIGINT) AS spend \
         FROM bills WHERE created_at >= $1 GROUP BY {column} ORDER BY spend DESC, {column} LIMIT $2"
    ))
    .bind(since)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(name, calls, spend)| Share { name, calls, spend: Money::from_units(spend) }).collect())
}

/// (accounts in all, accounts created since `since`, referrals held for review).
pub async fn accounts(pool: &AnyPool, since: i64) -> Result<(i64, i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM users WHERE created_at >= $1), \
         (SELECT COUNT(*) FROM referrals WHERE status = 'held')",
    )
    .bind(since)
    .fetch_one(pool)
    .await
}
