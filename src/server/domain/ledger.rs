//! The append-only ledger and every operation that moves money: credits (welcome, top-up, code,
//! refund, adjustment), package grants, and the settlement of calls (written by `settle_batch`; one call
//! is a batch of one).
//!
//! Each operation runs in one transaction that first locks the account row (so operations on one
//! account are serialised on both databases), records its idempotency key in `money_operations` (a
//! call's is its bill's request key), then writes its ledger entries together with the balance, package
//! and bill changes. Replaying a key returns the first result; the same key with different parameters is
//! refused.

use super::channels::Scope;
use super::charge;
use super::money::Money;
use super::packages::PackageSource;
use super::pricing::Usage;
use rust_decimal::Decimal;
use sqlx::{AnyConnection, AnyPool};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("the idempotency key {0:?} was already used with different parameters")]
    KeyReused(String),
    #[error("no such account")]
    NoSuchAccount,
    /// A credit or grant the ledger refuses (the console words it; see [`Refused`]).
    #[error("{0}")]
    Refused(Refused),
    /// A stored or computed amount that cannot be used (never the result of a person's input).
    #[error("{0}")]
    InvalidAmount(&'static str),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A credit or package grant the ledger refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("a credit must be a positive amount")]
    CreditNotPositive,
    #[error("a paid amount cannot be negative")]
    PaidNegative,
    #[error("a package must hold a positive amount")]
    PackageEmpty,
    #[error("a package must last a positive time")]
    PackageNoTime,
    #[error("a package must pay for at least one channel")]
    PackageNoChannel,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Welcome,
    Topup,
    Redemption,
    PackageGrant,
    PackageDeduction,
    BalanceCharge,
    Refund,
    Adjustment,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Welcome => "welcome",
            Self::Topup => "topup",
            Self::Redemption => "redemption",
            Self::PackageGrant => "package_grant",
            Self::PackageDeduction => "package_deduction",
            Self::BalanceCharge => "balance_charge",
            Self::Refund => "refund",
            Self::Adjustment => "adjustment",
        }
    }
}

/// Locks the account for the rest of the transaction and returns its balance. PostgreSQL takes a row
/// lock (no new row version is written); SQLite has one writer at a time, and a transaction becomes it by
/// writing, so there the lock is a write that changes nothing.
pub async fn lock_account(conn: &mut AnyConnection, user_id: i64) -> Result<Money, LedgerError> {
    let sql = if conn.backend_name().eq_ignore_ascii_case("postgresql") {
        "SELECT balance FROM users WHERE id = $1 FOR UPDATE"
    } else {
        "UPDATE users SET balance = balance WHERE id = $1 RETURNING balance"
    };
    let row: Option<(i64,)> = sqlx::query_as(sql).bind(user_id).fetch_optional(&mut *conn).await?;
    row.map(|(b,)| Money::from_units(b)).ok_or(LedgerError::NoSuchAccount)
}

enum Started {
    New,
    Replay(String),
}

async fn start_operation(
    conn: &mut AnyConnection,
    key: &str,
    user_id: i64,
    kind: &str,
    fingerprint: &str,
    now: i64,
) -> Result<Started, LedgerError> {
    let inserted: Option<(String,)> = sqlx::query_as(
        "INSERT INTO money_operations (idempotency_key, user_id, kind, fingerprint, result, created_at) \
         VALUES ($1, $2, $3, $4, '', $5) ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key",
    )
    .bind(key)
    .bind(user_id)
    .bind(kind)
    .bind(fingerprint)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if inserted.is_some() {
        return Ok(Started::New);
    }
    let (uid, k, fp, result): (i64, String, String, String) =
        sqlx::query_as("SELECT user_id, kind, fingerprint, result FROM money_operations WHERE idempotency_key = $1")
            .bind(key)
            .fetch_one(&mut *conn)
            .await?;
    if uid == user_id && k == kind && fp == fingerprint {
        Ok(Started::Replay(result))
    } else {
        Err(LedgerError::KeyReused(key.to_string()))
    }
}

async fn finish_operation(conn: &mut AnyConnection, key: &str, result: &str) -> Result<(), LedgerError> {
    sqlx::query("UPDATE money_operations SET result = $1 WHERE idempotency_key = $2")
        .bind(result)
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

struct Entry<'a> {
    user_id: i64,
    op_key: &'a str,
    seq: usize,
    kind: EntryKind,
    balance_delta: Money,
    package: Option<(i64, Money)>,
    bill_id: Option<i64>,
    memo: &'a str,
    now: i64,
}

/// Writes one entry and applies its balance change; returns the entry id and the balance after it.
async fn add_entry(conn: &mut AnyConnection, e: Entry<'_>) -> Result<(i64, Money), LedgerError> {
    let (balance_after,): (i64,) =
        sqlx::query_as("UPDATE users SET balance = balance + $1 WHERE id = $2 RETURNING balance")
            .bind(e.balance_delta.units())
            .bind(e.user_id)
            .fetch_one(&mut *conn)
            .await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO ledger_entries (user_id, idempotency_key, operation_key, kind, balance_delta, balance_after, \
         package_id, package_delta, bill_id, memo, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         RETURNING id",
    )
    .bind(e.user_id)
    .bind(format!("{}#{}", e.op_key, e.seq))
    .bind(e.op_key)
    .bind(e.kind.as_str())
    .bind(e.balance_delta.units())
    .bind(balance_after)
    .bind(e.package.map(|p| p.0))
    .bind(e.package.map(|p| p.1.units()).unwrap_or(0))
    .bind(e.bill_id)
    .bind(e.memo)
    .bind(e.now)
    .fetch_one(&mut *conn)
    .await?;
    Ok((id, Money::from_units(balance_after)))
}

/// Money added to (or, for adjustments, taken from) the balance.
#[derive(Clone, Debug)]
pub struct Credit<'a> {
    pub user_id: i64,
    pub key: &'a str,
    pub kind: EntryKind,
    pub amount: Money,
    /// Minor units of the top-up currency this counts toward the rate-limit tier (0 for gifts).
    pub paid_minor: i64,
    pub memo: &'a str,
    pub now: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credited {
    pub entry_id: i64,
    pub replayed: bool,
}

/// Credits the balance inside the caller's transaction.
pub async fn credit(conn: &mut AnyConnection, c: Credit<'_>) -> Result<Credited, LedgerError> {
    let allowed_negative = matches!(c.kind, EntryKind::Adjustment);
    if c.amount.is_zero() || (!allowed_negative && !c.amount.is_positive()) {
        return Err(LedgerError::Refused(Refused::CreditNotPositive));
    }
    if c.paid_minor < 0 {
        return Err(LedgerError::Refused(Refused::PaidNegative));
    }
    lock_account(conn, c.user_id).await?;
    let fingerprint = format!("{}|{}|{}", c.kind.as_str(), c.amount.units(), c.paid_minor);
    if let Started::Replay(result) = start_operation(conn, c.key, c.user_id, "credit", &fingerprint, c.now).await? {
        return Ok(Credited { entry_id: result.parse().unwrap_or(0), replayed: true });
    }
    let (entry_id, _) = add_entry(
        conn,
        Entry {
            user_id: c.user_id,
            op_key: c.key,
            seq: 1,
            kind: c.kind,
            balance_delta: c.amount,
            package: None,
            bill_id: None,
            memo: c.memo,
            now: c.now,
        },
    )
    .await?;
    if c.paid_minor > 0 {
        sqlx::query("UPDATE users SET paid_topups_minor = paid_topups_minor + $1 WHERE id = $2")
            .bind(c.paid_minor)
            .bind(c.user_id)
            .execute(&mut *conn)
            .await?;
    }
    finish_operation(conn, c.key, &entry_id.to_string()).await?;
    Ok(Credited { entry_id, replayed: false })
}

/// Runs [`credit`] in its own transaction.
pub async fn credit_now(pool: &AnyPool, c: Credit<'_>) -> Result<Credited, LedgerError> {
    let mut tx = pool.begin().await?;
    let done = credit(&mut tx, c).await?;
    tx.commit().await?;
    Ok(done)
}

/// A resource package to grant.
#[derive(Clone, Debug)]
pub struct Grant<'a> {
    pub user_id: i64,
    pub key: &'a str,
    pub title: &'a str,
    pub scope: &'a Scope,
    pub amount: Money,
    /// How long it lasts from the grant.
    pub lifetime_ms: i64,
    pub source: PackageSource,
    pub now: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Granted {
    pub package_id: i64,
    pub replayed: bool,
}

/// Grants a package inside the caller's transaction.
pub async fn grant_package(conn: &mut AnyConnection, g: Grant<'_>) -> Result<Granted, LedgerError> {
    if !g.amount.is_positive() {
        return Err(LedgerError::Refused(Refused::PackageEmpty));
    }
    if g.lifetime_ms <= 0 {
        return Err(LedgerError::Refused(Refused::PackageNoTime));
    }
    if g.scope.entries.is_empty() {
        return Err(LedgerError::Refused(Refused::PackageNoChannel));
    }
    lock_account(conn, g.user_id).await?;
    let scope = g.scope.to_text();
    let fingerprint = format!("{}|{}|{}|{}|{}", g.title, scope, g.amount.units(), g.lifetime_ms, g.source.as_str());
    if let Started::Replay(result) = start_operation(conn, g.key, g.user_id, "grant", &fingerprint, g.now).await? {
        return Ok(Granted { package_id: result.parse().unwrap_or(0), replayed: true });
    }
    let (package_id,): (i64,) = sqlx::query_as(
        "INSERT INTO packages (user_id, title, scope, original, remaining, granted_at, expires_at, source, operation_key) \
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(g.user_id)
    .bind(g.title)
    .bind(&scope)
    .bind(g.amount.units())
    .bind(g.now)
    .bind(g.now.saturating_add(g.lifetime_ms))
    .bind(g.source.as_str())
    .bind(g.key)
    .fetch_one(&mut *conn)
    .await?;
    add_entry(
        conn,
        Entry {
            user_id: g.user_id,
            op_key: g.key,
            seq: 1,
            kind: EntryKind::PackageGrant,
            balance_delta: Money::ZERO,
            package: Some((package_id, g.amount)),
            bill_id: None,
            memo: g.title,
            now: g.now,
        },
    )
    .await?;
    finish_operation(conn, g.key, &package_id.to_string()).await?;
    Ok(Granted { package_id, replayed: false })
}

/// Runs [`grant_package`] in its own transaction.
pub async fn grant_package_now(pool: &AnyPool, g: Grant<'_>) -> Result<Granted, LedgerError> {
    let mut tx = pool.begin().await?;
    let done = grant_package(&mut tx, g).await?;
    tx.commit().await?;
    Ok(done)
}

/// One finished call to charge.
#[derive(Clone, Debug)]
pub struct Settlement<'a> {
    pub facts: CallFacts<'a>,
    pub user_id: i64,
    pub request_key: &'a str,
    pub api_key_id: Option<i64>,
    pub key_name: Option<&'a str>,
    pub channel: &'a str,
    pub model: &'a str,
    pub usage: Usage,
    pub official: Money,
    pub multiplier: Decimal,
    pub now: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    pub bill_id: i64,
    pub packages_paid: Money,
    pub balance_paid: Money,
    pub replayed: bool,
    /// What each package paid (empty for a replay), so a cache of the account can follow without reading.
    pub deductions: Vec<(i64, Money)>,
}

/// The columns of a bill, in the order [`bind_bill`] binds them.
pub const BILL_COLUMNS: &str = "user_id, request_key, api_key_id, key_name, channel, model, input_tokens, \
    output_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, official_cost, packages_paid, \
    balance_paid, multiplier, created_at, outcome, latency_ms, request_id, web_searches, images";
/// How many columns [`BILL_COLUMNS`] names.
pub const BILL_COLUMN_COUNT: usize = 21;

/// What the Bills page tells about a call besides its cost: how it ended, how long it took, and the
/// request id its caller saw (`x-request-id`), to quote when asking for help.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallFacts<'a> {
    pub outcome: CallOutcome,
    pub latency_ms: Option<i64>,
    pub request_id: Option<&'a str>,
}

/// How a charged call ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// Answered in full.
    #[default]
    Complete,
    /// The caller disconnected mid-stream; the answer was metered to its end.
    CallerLeft,
    /// The upstream's stream broke after some output; what came is billed.
    UpstreamBroke,
    /// Stopped in web chat; what was written is billed.
    Stopped,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::CallerLeft => "caller_left",
            Self::UpstreamBroke => "upstream_broke",
            Self::Stopped => "stopped",
        }
    }
}

/// A bill's token columns, in [`BILL_COLUMNS`] order: input, output, 5-minute and 1-hour cache writes,
/// cache reads.
fn token_counts(u: &Usage) -> [i64; 5] {
    [u.input, u.output, u.cache_write_5m, u.cache_write_1h, u.cache_read].map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// Binds one call's bill (the [`BILL_COLUMNS`]) to an insert.
pub fn bind_bill<'q, O>(
    q: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>,
    s: &Settlement<'q>,
    plan: &charge::ChargePlan,
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>> {
    let [input, output, write_5m, write_1h, read] = token_counts(&s.usage);
    q.bind(s.user_id)
        .bind(s.request_key)
        .bind(s.api_key_id)
        .bind(s.key_name)
        .bind(s.channel)
        .bind(s.model)
        .bind(input)
        .bind(output)
        .bind(write_5m)
        .bind(write_1h)
        .bind(read)
        .bind(plan.official.units())
        .bind(plan.packages_paid().units())
        .bind(plan.balance.units())
        .bind(plan.multiplier.normalize().to_string())
        .bind(s.now)
        .bind(s.facts.outcome.as_str())
        .bind(s.facts.latency_ms)
        .bind(s.facts.request_id)
        .bind(i64::try_from(s.usage.web_searches).unwrap_or(i64::MAX))
        .bind(i64::try_from(s.usage.images).unwrap_or(i64::MAX))
}

/// The idempotency key of a call's settlement.
pub fn call_operation_key(request_key: &str) -> String {
    format!("call:{request_key}")
}

/// A call settled before, found by its request key: its bill is the call's idempotency record (no
/// `money_operations` row per call). The same call replayed is answered from the bill; the key used for
/// another account or with other usage, cost or multiplier is refused.
pub async fn settled_call(conn: &mut AnyConnection, s: &Settlement<'_>) -> Result<Option<Settled>, LedgerError> {
    type BillRow = (i64, i64, String, String, i64, i64, i64, i64, i64, i64, String, i64, i64);
    let row: Option<BillRow> = sqlx::query_as(
        "SELECT id, user_id, channel, model, input_tokens, output_tokens, cache_write_5m_tokens, \
         cache_write_1h_tokens, cache_read_tokens, official_cost, multiplier, packages_paid, balance_paid \
         FROM bills WHERE request_key = $1",
    )
    .bind(s.request_key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((bill_id, user_id, channel, model, input, output, w5m, w1h, read, official, multiplier, p, b)) = row
    else {
        return Ok(None);
    };
    let same = user_id == s.user_id
        && channel == s.channel
        && model == s.model
        && [input, output, w5m, w1h, read] == token_counts(&s.usage)
        && official == s.official.units()
        && multiplier.parse::<Decimal>().is_ok_and(|m| m == s.multiplier);
    if !same {
        return Err(LedgerError::KeyReused(s.request_key.to_string()));
    }
    Ok(Some(Settled {
        bill_id,
        packages_paid: Money::from_units(p),
        balance_paid: Money::from_units(b),
        replayed: true,
        deductions: Vec::new(),
    }))
}

/// Charges one call exactly once (a batch of one, see `settle_batch`) in its own transaction.
pub async fn settle(pool: &AnyPool, s: Settlement<'_>) -> Result<Settled, LedgerError> {
    let mut tx = pool.begin().await?;
    let done = super::settle_batch::settle_batch(&mut tx, std::slice::from_ref(&s)).await?;
    tx.commit().await?;
    done.into_iter().next().ok_or(LedgerError::NoSuchAccount)
}
