//! Calls refused before they ran (402: the balance cannot pay; 429: over the rate limit), kept so a person
//! can see on the Bills page why a tool failed. Nothing was charged for them.

use super::charge::Refusal;
use super::money::Money;
use sqlx::AnyPool;

/// Refused calls are kept this long.
pub const KEEP_MS: i64 = 30 * 86_400_000;

/// Why a call was refused, kept as data (`rate_limit:60:12`, `balance:-2000`) and worded by the Bills page in
/// the reader's language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// Over the account's requests per minute; it could retry after `retry_secs`.
    RateLimited { rpm: u32, retry_secs: u64 },
    /// The account or the key could not pay (402).
    Payment(Refusal),
    /// Recorded as a sentence before reasons were data.
    Written(String),
}

impl Why {
    pub fn stored(&self) -> String {
        match self {
            Self::RateLimited { rpm, retry_secs } => format!("rate_limit:{rpm}:{retry_secs}"),
            Self::Payment(Refusal::BalanceNotPositive { balance }) => format!("balance:{}", balance.units()),
            Self::Payment(Refusal::FundsReserved { balance, reserved }) => {
                format!("reserved:{}:{}", balance.units(), reserved.units())
            }
            Self::Payment(Refusal::KeyCapReached { cap, spent, reserved }) => {
                format!("key_cap:{}:{}:{}", cap.units(), spent.units(), reserved.units())
            }
            Self::Payment(Refusal::WorstCaseTooLarge) => "too_large".into(),
            Self::Written(text) => text.clone(),
        }
    }

    pub fn read(stored: &str) -> Self {
        let mut parts = stored.split(':');
        let kind = parts.next().unwrap_or("");
        let numbers: Option<Vec<i64>> = parts.map(|p| p.parse().ok()).collect();
        let money = Money::from_units;
        match (kind, numbers.as_deref()) {
            ("rate_limit", Some(&[rpm, secs])) => match (u32::try_from(rpm), u64::try_from(secs)) {
                (Ok(rpm), Ok(retry_secs)) => Self::RateLimited { rpm, retry_secs },
                _ => Self::Written(stored.into()),
            },
            ("balance", Some(&[b])) => Self::Payment(Refusal::BalanceNotPositive { balance: money(b) }),
            ("reserved", Some(&[b, r])) => {
                Self::Payment(Refusal::FundsReserved { balance: money(b), reserved: money(r) })
            }
            ("key_cap", Some(&[c, s, r])) => {
                Self::Payment(Refusal::KeyCapReached { cap: money(c), spent: money(s), reserved: money(r) })
            }
            ("too_large", Some(&[])) => Self::Payment(Refusal::WorstCaseTooLarge),
            _ => Self::Written(stored.into()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub user_id: i64,
    pub key_name: Option<String>,
    pub channel: String,
    pub model: String,
    pub status: u16,
    pub why: Why,
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
    .bind(r.why.stored())
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
            why: Why::read(&reason),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_reads_back_as_stored() {
        let m = |cents: i64| Money::from_units(cents * 100_000);
        for why in [
            Why::RateLimited { rpm: 60, retry_secs: 12 },
            Why::Payment(Refusal::BalanceNotPositive { balance: m(-20) }),
            Why::Payment(Refusal::FundsReserved { balance: m(50), reserved: m(75) }),
            Why::Payment(Refusal::KeyCapReached { cap: m(500), spent: m(480), reserved: m(30) }),
            Why::Payment(Refusal::WorstCaseTooLarge),
        ] {
            assert_eq!(Why::read(&why.stored()), why);
        }
        let old = "Your balance is -$0.20. API access is blocked until your balance is positive.";
        assert_eq!(Why::read(old), Why::Written(old.into()));
        assert_eq!(Why::read("balance:x"), Why::Written("balance:x".into()));
    }
}
