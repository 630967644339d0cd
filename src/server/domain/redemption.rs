//! Redemption codes: operator-created vouchers (an amount, one or N uses, an optional expiry) that a
//! person redeems once into their balance. Only each code's SHA-256 is stored. Codes are gifts: they do
//! not count toward the rate-limit tier.

use super::ledger::{self, Credit, EntryKind, LedgerError};
use super::ledger_memo;
use super::money::Money;
use crate::server::secrets::hash_token;
use sqlx::{AnyConnection, AnyPool};

/// No 0/O, 1/I/L: codes are read aloud and typed by hand.
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// 16 symbols of 31: 79 bits.
const SYMBOLS: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedeemError {
    #[error("That code does not exist. Check it and try again.")]
    Unknown,
    #[error("That code has expired.")]
    Expired,
    #[error("That code has already been used.")]
    UsedUp,
    #[error("You have already redeemed that code.")]
    AlreadyRedeemed,
    #[error("That code has been withdrawn.")]
    Disabled,
    #[error("codes need a positive amount and uses, and a batch of 1 to {} codes", MAX_BATCH)]
    BadBatch,
    #[error("{0}")]
    Ledger(String),
}

impl From<LedgerError> for RedeemError {
    fn from(e: LedgerError) -> Self {
        Self::Ledger(e.to_string())
    }
}

impl From<sqlx::Error> for RedeemError {
    fn from(e: sqlx::Error) -> Self {
        Self::Ledger(e.to_string())
    }
}

/// Upper-case symbols without separators, as stored (hashed).
pub fn normalize(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect::<String>()
}

fn new_code() -> Result<String, getrandom::Error> {
    let mut out = String::from("GH");
    let mut bytes = [0u8; SYMBOLS];
    getrandom::fill(&mut bytes)?;
    for (i, b) in bytes.iter().enumerate() {
        if i % 4 == 0 {
            out.push('-');
        }
        // 31 symbols from 256 values: rejection would be exact; the bias of a modulo is below 1% and a
        // code is a one-time voucher, not a key, so a simple mapping is enough.
        out.push(char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]));
    }
    Ok(out)
}

#[derive(Clone, Debug)]
pub struct NewCodes<'a> {
    pub count: usize,
    pub amount: Money,
    pub max_uses: i64,
    pub expires_at: Option<i64>,
    pub note: &'a str,
    pub now: i64,
}

/// The most codes one batch makes.
pub const MAX_BATCH: usize = 10_000;

/// Creates codes (inside the caller's transaction) and returns them in clear text, the only time they are ever shown.
pub async fn create(conn: &mut AnyConnection, c: NewCodes<'_>) -> Result<Vec<String>, RedeemError> {
    if !c.amount.is_positive() || c.max_uses < 1 || c.count == 0 || c.count > MAX_BATCH {
        return Err(RedeemError::BadBatch);
    }
    let mut codes = Vec::with_capacity(c.count);
    for _ in 0..c.count {
        let code = new_code().map_err(|e| RedeemError::Ledger(e.to_string()))?;
        let normalized = normalize(&code);
        sqlx::query(
            "INSERT INTO redemption_codes (code_hash, code_hint, amount, max_uses, uses, expires_at, note, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5, $6, $7)",
        )
        .bind(hash_token(&normalized))
        .bind(&normalized[normalized.len().saturating_sub(4)..])
        .bind(c.amount.units())
        .bind(c.max_uses)
        .bind(c.expires_at)
        .bind(c.note)
        .bind(c.now)
        .execute(&mut *conn)
        .await?;
        codes.push(code);
    }
    Ok(codes)
}

/// Redeems a code into the account's balance, once per account, in one transaction.
pub async fn redeem(pool: &AnyPool, user_id: i64, code: &str, now: i64) -> Result<Money, RedeemError> {
    let normalized = normalize(code);
    if normalized.is_empty() {
        return Err(RedeemError::Unknown);
    }
    let mut tx = pool.begin().await?;
    ledger::lock_account(&mut tx, user_id).await?;
    type Code = (i64, i64, i64, i64, Option<i64>, String, Option<i64>);
    let row: Option<Code> = sqlx::query_as(
        "SELECT id, amount, max_uses, uses, expires_at, code_hint, disabled_at FROM redemption_codes \
         WHERE code_hash = $1",
    )
    .bind(hash_token(&normalized))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((code_id, amount, max_uses, uses, expires_at, hint, disabled_at)) = row else {
        return Err(RedeemError::Unknown);
    };
    if disabled_at.is_some() {
        return Err(RedeemError::Disabled);
    }
    if expires_at.is_some_and(|e| e <= now) {
        return Err(RedeemError::Expired);
    }
    let mine: Option<(i64,)> = sqlx::query_as("SELECT id FROM redemptions WHERE code_id = $1 AND user_id = $2")
        .bind(code_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
    if mine.is_some() {
        return Err(RedeemError::AlreadyRedeemed);
    }
    if uses >= max_uses {
        return Err(RedeemError::UsedUp);
    }
    // The row is checked again as it is taken: a code withdrawn (or used up) since it was read is refused.
    let taken = sqlx::query(
        "UPDATE redemption_codes SET uses = uses + 1 WHERE id = $1 AND uses < max_uses AND disabled_at IS NULL",
    )
    .bind(code_id)
    .execute(&mut *tx)
    .await?;
    if taken.rows_affected() != 1 {
        let (withdrawn,): (Option<i64>,) = sqlx::query_as("SELECT disabled_at FROM redemption_codes WHERE id = $1")
            .bind(code_id)
            .fetch_one(&mut *tx)
            .await?;
        return Err(if withdrawn.is_some() { RedeemError::Disabled } else { RedeemError::UsedUp });
    }
    sqlx::query("INSERT INTO redemptions (code_id, user_id, created_at) VALUES ($1, $2, $3)")
        .bind(code_id)
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let amount = Money::from_units(amount);
    ledger::credit(
        &mut tx,
        Credit {
            user_id,
            key: &format!("redeem:{code_id}:{user_id}"),
            kind: EntryKind::Redemption,
            amount,
            paid_minor: 0,
            memo: &ledger_memo::code_ending(&hint),
            now,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(amount)
}

/// One code as the operator sees it (never the code itself: only its last four symbols are kept in clear).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeRow {
    pub id: i64,
    pub hint: String,
    pub amount: Money,
    pub uses: i64,
    pub max_uses: i64,
    pub expires_at: Option<i64>,
    pub note: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

/// Codes, newest first: up to `limit` older than `before` (an id), optionally only those whose note contains
/// `note`.
pub async fn list(
    pool: &AnyPool,
    before: Option<i64>,
    note: Option<&str>,
    limit: i64,
) -> Result<Vec<CodeRow>, sqlx::Error> {
    type Row = (i64, String, i64, i64, i64, Option<i64>, String, i64, Option<i64>);
    let like = note.map(|n| crate::server::db::contains_pattern(&n.to_lowercase())).unwrap_or_default();
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, code_hint, amount, uses, max_uses, expires_at, note, created_at, disabled_at FROM redemption_codes \
         WHERE id < $1 AND ($2 = '' OR LOWER(note) LIKE $2 ESCAPE '\\') ORDER BY id DESC LIMIT $3",
    )
    .bind(before.unwrap_or(i64::MAX))
    .bind(like)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| CodeRow {
            id: r.0,
            hint: r.1,
            amount: Money::from_units(r.2),
            uses: r.3,
            max_uses: r.4,
            expires_at: r.5,
            note: r.6,
            created_at: r.7,
            disabled_at: r.8,
        })
        .collect())
}

/// Withdraws a code (inside the caller's transaction): it can no longer be redeemed. False when there is no
/// such code or it was already withdrawn.
pub async fn disable(conn: &mut AnyConnection, id: i64, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE redemption_codes SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_an_unambiguous_alphabet_and_normalize_for_typing() {
        let code = new_code().unwrap();
        assert_eq!(code.len(), 2 + 4 * 5);
        assert!(!code.contains(['0', 'O', '1', 'I', 'L']), "{code}");
        assert_eq!(normalize(" gh-abcd-2345 "), "GHABCD2345");
        assert_ne!(new_code().unwrap(), code);
    }
}
