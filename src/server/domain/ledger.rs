//! The append-only ledger and every operation that moves money: credits (welcome, top-up, code,
//! refund, adjustment), package grants, holds at admission, and the settlement of a call.
//!
//! Each operation runs in one transaction that first locks the account row (so operations on one
//! account are serialised on both databases), records its idempotency key in `money_operations` (a
//! call's is its bill's request key), then writes its ledger entries together with the balance, package
//! and bill changes. Replaying a key returns the first result; the same key with different parameters is
//! refused.

use super::charge::{self, Funds, Hold, PackageFunds};
use super::money::Money;
use super::packages::{self, PackageSource};
use super::pricing::Usage;
use rust_decimal::Decimal;
use sqlx::{AnyConnection, AnyPool};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("the idempotency key {0:?} was already used with different parameters")]
    KeyReused(String),
    #[error("no such account")]
    NoSuchAccount,
    #[error("{}", .0.message())]
    Refused(charge::Refusal),
    #[error("{0}")]
    InvalidAmount(&'static str),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
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

    /// How the Bills page names the movement.
    pub fn label(kind: &str) -> &'static str {
        match kind {
            "welcome" => "Welcome balance",
            "topup" => "Top-up",
            "redemption" => "Redemption code",
            "package_grant" => "Package granted",
            "package_deduction" => "Package deduction",
            "balance_charge" => "API call",
            "refund" => "Refund",
            "adjustment" => "Adjustment",
            _ => "Other",
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
        return Err(LedgerError::InvalidAmount("a credit must be a positive amount"));
    }
    if c.paid_minor < 0 {
        return Err(LedgerError::InvalidAmount("a paid amount cannot be negative"));
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
    pub scope: &'a [String],
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
        return Err(LedgerError::InvalidAmount("a package must hold a positive amount"));
    }
    if g.lifetime_ms <= 0 {
        return Err(LedgerError::InvalidAmount("a package must last a positive time"));
    }
    if g.scope.is_empty() {
        return Err(LedgerError::InvalidAmount("a package must pay for at least one channel"));
    }
    lock_account(conn, g.user_id).await?;
    let scope = g.scope.join(",");
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

/// A call asking to be admitted.
#[derive(Clone, Debug)]
pub struct Admission<'a> {
    pub user_id: i64,
    pub request_key: &'a str,
    pub channel: &'a str,
    /// The most the call can cost at the official price.
    pub worst_case: Money,
    pub multiplier: Decimal,
    pub ttl_ms: i64,
    pub now: i64,
}

/// Admits a call and reserves its worst case (see [`charge::admit`]); refuses with 402 reasons.
/// Placing the same request key twice returns the first hold.
pub async fn place_hold(pool: &AnyPool, a: Admission<'_>) -> Result<Hold, LedgerError> {
    let mut tx = pool.begin().await?;
    let balance = lock_account(&mut tx, a.user_id).await?;
    let existing: Option<(i64, i64, i64, Option<i64>)> =
        sqlx::query_as("SELECT user_id, package_amount, balance_amount, closed_at FROM holds WHERE request_key = $1")
            .bind(a.request_key)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some((owner, p, b, closed_at)) = existing {
        tx.rollback().await?;
        // Request keys are made by the server; a key seen before is a retry of the same open call only.
        if owner != a.user_id || closed_at.is_some() {
            return Err(LedgerError::KeyReused(a.request_key.to_string()));
        }
        return Ok(Hold { packages: Money::from_units(p), balance: Money::from_units(b) });
    }
    let (balance_held, packages_held): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(balance_amount), 0) AS BIGINT), CAST(COALESCE(SUM(package_amount), 0) AS BIGINT) \
         FROM holds WHERE user_id = $1 AND closed_at IS NULL",
    )
    .bind(a.user_id)
    .fetch_one(&mut *tx)
    .await?;
    // Only packages still active when the hold runs out can be counted on to pay for this call.
    let outlives_hold = a.now.saturating_add(a.ttl_ms);
    let packages_available = packages::funds(&mut tx, a.user_id, a.now)
        .await?
        .iter()
        .filter(|p| p.can_pay(a.channel, outlives_hold))
        .fold(Money::ZERO, |sum, p| sum.saturating_add(p.remaining));
    let funds = Funds {
        balance,
        balance_held: Money::from_units(balance_held),
        packages_available,
        packages_held: Money::from_units(packages_held),
    };
    let hold = charge::admit(funds, a.worst_case, a.multiplier).map_err(LedgerError::Refused)?;
    sqlx::query(
        "INSERT INTO holds (user_id, request_key, balance_amount, package_amount, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(a.user_id)
    .bind(a.request_key)
    .bind(hold.balance.units())
    .bind(hold.packages.units())
    .bind(a.now)
    .bind(a.now.saturating_add(a.ttl_ms))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(hold)
}

/// Ends a hold without charging (the call failed before any token was produced).
pub async fn release_hold(pool: &AnyPool, user_id: i64, request_key: &str, now: i64) -> Result<bool, LedgerError> {
    let done = sqlx::query(
        "UPDATE holds SET closed_at = $1, outcome = 'released' WHERE request_key = $2 AND user_id = $3 AND closed_at IS NULL",
    )
    .bind(now)
    .bind(request_key)
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Closes holds whose call never settled (the process stopped mid-call) once their TTL has passed,
/// without charging: after a crash there is no usage to bill. The TTL must exceed the longest call the
/// proxy allows, so a running call never loses its hold. Returns how many were closed.
pub async fn sweep_stale_holds(pool: &AnyPool, now: i64) -> Result<u64, LedgerError> {
    let done = sqlx::query(
        "UPDATE holds SET closed_at = $1, outcome = 'expired' WHERE closed_at IS NULL AND expires_at <= $1",
    )
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// One finished call to charge.
#[derive(Clone, Debug)]
pub struct Settlement<'a> {
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
    /// Package money other running calls reserved, when their holds are kept in memory (the proxy's
    /// admission book); `None`: read from the `holds` table, where `place_hold` keeps them.
    pub reserved_by_others: Option<Money>,
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
    balance_paid, multiplier, created_at";

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

/// Charges a call exactly once: packages first, then the balance; writes its bill and closes its hold.
pub async fn settle(pool: &AnyPool, s: Settlement<'_>) -> Result<Settled, LedgerError> {
    let mut tx = pool.begin().await?;
    let done = settle_in(&mut tx, s).await?;
    tx.commit().await?;
    Ok(done)
}

pub async fn settle_in(conn: &mut AnyConnection, s: Settlement<'_>) -> Result<Settled, LedgerError> {
    if s.official < Money::ZERO {
        return Err(LedgerError::InvalidAmount("a call cannot cost less than nothing"));
    }
    lock_account(conn, s.user_id).await?;
    if let Some(replayed) = settled_call(conn, &s).await? {
        return Ok(replayed);
    }
    let key = call_operation_key(s.request_key);
    let funds: Vec<PackageFunds> = packages::funds(conn, s.user_id, s.now).await?;
    // Package money other calls in flight reserved stays theirs, so their admission promise holds.
    let reserved_by_others = match s.reserved_by_others {
        Some(m) => m.units(),
        None => {
            let (units,): (i64,) = sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(package_amount), 0) AS BIGINT) FROM holds \
                 WHERE user_id = $1 AND closed_at IS NULL AND request_key <> $2",
            )
            .bind(s.user_id)
            .bind(s.request_key)
            .fetch_one(&mut *conn)
            .await?;
            units
        }
    };
    let in_scope = funds
        .iter()
        .filter(|p| p.can_pay(s.channel, s.now))
        .fold(Money::ZERO, |sum, p| sum.saturating_add(p.remaining));
    let cap = in_scope.saturating_sub(Money::from_units(reserved_by_others)).max(Money::ZERO);
    let plan = charge::plan_within(s.official, s.channel, s.multiplier, &funds, s.now, cap);
    let sql = format!("INSERT INTO bills ({BILL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id");
    let (bill_id,): (i64,) = bind_bill(sqlx::query_as(&sql), &s, &plan).fetch_one(&mut *conn).await?;
    let memo = format!("{} on {}", s.model, s.channel);
    let mut seq = 0;
    for (package_id, amount) in &plan.deductions {
        let moved = sqlx::query("UPDATE packages SET remaining = remaining - $1 WHERE id = $2 AND remaining >= $1")
            .bind(amount.units())
            .bind(package_id)
            .execute(&mut *conn)
            .await?;
        if moved.rows_affected() != 1 {
            return Err(LedgerError::Db(sqlx::Error::RowNotFound));
        }
        seq += 1;
        add_entry(
            conn,
            Entry {
                user_id: s.user_id,
                op_key: &key,
                seq,
                kind: EntryKind::PackageDeduction,
                balance_delta: Money::ZERO,
                package: Some((*package_id, amount.negated())),
                bill_id: Some(bill_id),
                memo: &memo,
                now: s.now,
            },
        )
        .await?;
    }
    if plan.balance.is_positive() {
        seq += 1;
        add_entry(
            conn,
            Entry {
                user_id: s.user_id,
                op_key: &key,
                seq,
                kind: EntryKind::BalanceCharge,
                balance_delta: plan.balance.negated(),
                package: None,
                bill_id: Some(bill_id),
                memo: &memo,
                now: s.now,
            },
        )
        .await?;
    }
    if let Some(key_id) = s.api_key_id {
        // The key's calls, spend (checked against its cap) and last use move with the charge.
        sqlx::query(
            "UPDATE api_keys SET used_times = used_times + 1, spent = spent + $1, last_used_at = $2 \
             WHERE id = $3 AND user_id = $4",
        )
        .bind(plan.packages_paid().saturating_add(plan.balance).units())
        .bind(s.now)
        .bind(key_id)
        .bind(s.user_id)
        .execute(&mut *conn)
        .await?;
    }
    if s.reserved_by_others.is_none() {
        sqlx::query(
            "UPDATE holds SET closed_at = $1, outcome = 'settled' WHERE request_key = $2 AND user_id = $3 AND closed_at IS NULL",
        )
        .bind(s.now)
        .bind(s.request_key)
        .bind(s.user_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(Settled {
        bill_id,
        packages_paid: plan.packages_paid(),
        balance_paid: plan.balance,
        replayed: false,
        deductions: plan.deductions,
    })
}
