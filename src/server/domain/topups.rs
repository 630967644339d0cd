//! Top-ups: an order is created pending (with the payment provider's checkout session), and credited
//! exactly once when the provider confirms payment. Paid top-ups count toward the rate-limit tier.

use super::ledger::{self, Credit, EntryKind, LedgerError};
use super::ledger_memo;
use super::money::Money;
use rust_decimal::Decimal;
use sqlx::{AnyConnection, AnyPool};

/// The smallest and largest custom top-up, in whole currency units.
pub const MIN_CUSTOM: i64 = 10;
pub const MAX_CUSTOM: i64 = 50_000;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("Enter an amount such as 50 or 49.90.")]
    NotANumber,
    #[error("Top-ups are between {MIN_CUSTOM} and {MAX_CUSTOM} {0}.")]
    OutOfRange(String),
}

/// Parses a custom top-up amount (whole units or cents) into minor units.
pub fn parse_amount(text: &str, currency: &str) -> Result<i64, AmountError> {
    let minor = parse_minor(text)?;
    if !(MIN_CUSTOM * 100..=MAX_CUSTOM * 100).contains(&minor) {
        return Err(AmountError::OutOfRange(currency.to_string()));
    }
    Ok(minor)
}

/// Parses an amount of money (whole units, or with one or two decimals) into minor units.
pub fn parse_minor(text: &str) -> Result<i64, AmountError> {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() || int.len() > 9 || frac.len() > 2 || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(AmountError::NotANumber);
    }
    let whole: i64 = int.parse().map_err(|_| AmountError::NotANumber)?;
    let cents: i64 =
        if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().map_err(|_| AmountError::NotANumber)? };
    Ok(whole * 100 + cents)
}

/// What a top-up of `amount_minor` credits in USD.
pub fn usd_for(amount_minor: i64, usd_per_unit: Decimal) -> Option<Money> {
    Decimal::new(amount_minor, 2).checked_mul(usd_per_unit).and_then(Money::round_from)
}

/// `CNY 20.00`.
pub fn format_minor(amount_minor: i64, currency: &str) -> String {
    format!("{currency} {}.{:02}", amount_minor / 100, (amount_minor % 100).abs())
}

#[derive(Clone, Debug)]
pub struct NewTopup<'a> {
    pub user_id: i64,
    pub provider: &'a str,
    pub currency: &'a str,
    pub amount_minor: i64,
    pub usd: Money,
    pub now: i64,
}

/// Unpaid orders (open checkouts) one account may start per hour.
pub const MAX_OPEN_PER_HOUR: i64 = 5;

/// Why a pending order was not made.
#[derive(Debug, thiserror::Error)]
pub enum PendingError {
    #[error("{MAX_OPEN_PER_HOUR} unfinished payments in the last hour")]
    TooManyOpen,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Makes a pending order, unless the account started [`MAX_OPEN_PER_HOUR`] unpaid ones in the last hour
/// (counted with the account's row locked, so parallel requests cannot pass it).
pub async fn create_pending(pool: &AnyPool, t: NewTopup<'_>) -> Result<i64, PendingError> {
    let mut tx = pool.begin().await?;
    super::ledger::lock_account(&mut tx, t.user_id).await.map_err(|e| match e {
        super::ledger::LedgerError::Db(e) => PendingError::Db(e),
        other => PendingError::Db(sqlx::Error::Protocol(other.to_string())),
    })?;
    let (open,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM topups WHERE user_id = $1 AND status = 'pending' AND created_at > $2")
            .bind(t.user_id)
            .bind(t.now - 3_600_000)
            .fetch_one(&mut *tx)
            .await?;
    if open >= MAX_OPEN_PER_HOUR {
        return Err(PendingError::TooManyOpen);
    }
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO topups (user_id, provider, currency, amount_minor, usd_amount, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $6) RETURNING id",
    )
    .bind(t.user_id)
    .bind(t.provider)
    .bind(t.currency)
    .bind(t.amount_minor)
    .bind(t.usd.units())
    .bind(t.now)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn attach_session(pool: &AnyPool, topup_id: i64, session_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE topups SET checkout_session_id = $1 WHERE id = $2")
        .bind(session_id)
        .bind(topup_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// What the provider says was paid.
#[derive(Clone, Debug)]
pub struct Payment<'a> {
    pub topup_id: i64,
    pub session_id: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub now: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    Credited {
        user_id: i64,
        usd: Money,
    },
    AlreadyCredited,
    /// No pending order matches; nothing credited.
    Unknown,
    /// The payment does not match the order; nothing credited.
    Mismatch(String),
}

/// Credits a paid order exactly once, inside the caller's transaction.
pub async fn complete(conn: &mut AnyConnection, p: Payment<'_>) -> Result<Completion, LedgerError> {
    let row: Option<(i64, String, i64, i64, Option<String>, String)> = sqlx::query_as(
        "SELECT user_id, currency, amount_minor, usd_amount, checkout_session_id, status FROM topups WHERE id = $1",
    )
    .bind(p.topup_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((user_id, currency, amount_minor, usd, session, status)) = row else {
        return Ok(Completion::Unknown);
    };
    if session.as_deref() != Some(p.session_id) {
        return Ok(Completion::Unknown);
    }
    if status == "paid" {
        return Ok(Completion::AlreadyCredited);
    }
    if !currency.eq_ignore_ascii_case(p.currency) || amount_minor != p.amount_minor {
        return Ok(Completion::Mismatch(format!(
            "order {} is {} but {} was paid",
            p.topup_id,
            format_minor(amount_minor, &currency),
            format_minor(p.amount_minor, &p.currency.to_ascii_uppercase())
        )));
    }
    let updated = sqlx::query("UPDATE topups SET status = 'paid', paid_at = $1 WHERE id = $2 AND status = 'pending'")
        .bind(p.now)
        .bind(p.topup_id)
        .execute(&mut *conn)
        .await?;
    if updated.rows_affected() != 1 {
        return Ok(Completion::AlreadyCredited);
    }
    let usd = Money::from_units(usd);
    let memo = ledger_memo::paid(amount_minor, &currency, None);
    ledger::credit(
        conn,
        Credit {
            user_id,
            key: &format!("topup:{}", p.topup_id),
            kind: EntryKind::Topup,
            amount: usd,
            paid_minor: amount_minor,
            memo: &memo,
            now: p.now,
        },
    )
    .await?;
    Ok(Completion::Credited { user_id, usd })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn custom_amounts_are_whole_or_cents_within_range() {
        assert_eq!(parse_amount("50", "CNY"), Ok(5000));
        assert_eq!(parse_amount(" 49.9 ", "CNY"), Ok(4990));
        assert_eq!(parse_amount("49.90", "CNY"), Ok(4990));
        assert!(matches!(parse_amount("9.99", "CNY"), Err(AmountError::OutOfRange(_))));
        assert!(matches!(parse_amount("50001", "CNY"), Err(AmountError::OutOfRange(_))));
        for bad in ["", "-20", "1e3", "20.001", "NaN", "20,5", ".5"] {
            assert_eq!(parse_amount(bad, "CNY"), Err(AmountError::NotANumber), "{bad}");
        }
    }

    #[test]
    fn top_ups_convert_at_the_configured_rate() {
        let rate = Decimal::from_str("0.14").unwrap();
        assert_eq!(usd_for(2000, rate), Some(Money::parse_usd("2.8").unwrap()));
        assert_eq!(format_minor(2000, "CNY"), "CNY 20.00");
        assert_eq!(format_minor(4990, "CNY"), "CNY 49.90");
    }
}
