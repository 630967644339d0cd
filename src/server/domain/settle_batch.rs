//! Many calls settled in one transaction with a handful of statements instead of about ten per call: the
//! same charges as `ledger::settle_in` applied one after another in the given order (a test compares the
//! two), computed in memory per account after one lock and one read of its packages, then written with
//! multi-row inserts (idempotency records, bills, ledger entries) and one update per account, package and
//! key. Every call keeps its idempotency key: a call settled before is answered from its bill, unchanged.
//!
//! For settlements whose running calls' package reservations are known (`reserved_by_others` is `Some`:
//! the proxy's admission book, which keeps holds in memory). Others go through `ledger::settle_in`.

use super::charge::{self, PackageFunds};
use super::ledger::{
    self, bind_bill, call_fingerprint, call_operation_key, lock_account, EntryKind, LedgerError, Settled, Settlement,
    BILL_COLUMNS,
};
use super::money::Money;
use super::packages;
use sqlx::AnyConnection;
use std::collections::{HashMap, HashSet};

/// Rows per multi-row insert: a few fixed sizes, so each statement shape is prepared once and cached.
const CHUNKS: [usize; 4] = [64, 16, 4, 1];

/// Splits `items` into runs of the fixed sizes (greedy: 37 -> 16, 16, 4, 1).
fn runs<T>(items: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let size = CHUNKS.iter().copied().find(|c| *c <= rest.len()).unwrap_or(1);
        let (run, tail) = rest.split_at(size);
        out.push(run);
        rest = tail;
    }
    out
}

struct Entry {
    user_id: i64,
    key: String,
    op_key: String,
    kind: EntryKind,
    balance_delta: i64,
    balance_after: i64,
    package: Option<(i64, i64)>,
    request_key: String,
    memo: String,
    now: i64,
}

/// `($1, $2, …), ($n, …)` for `rows` rows of `cols` columns; plain `?` on SQLite, where numbered
/// parameters are looked up by name one by one (quadratic in a long statement).
fn placeholders(rows: usize, cols: usize, positional: bool) -> String {
    (0..rows)
        .map(|r| {
            let row: Vec<String> =
                (1..=cols).map(|c| if positional { "?".to_string() } else { format!("${}", r * cols + c) }).collect();
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn settle_batch(conn: &mut AnyConnection, batch: &[Settlement<'_>]) -> Result<Vec<Settled>, LedgerError> {
    if batch.iter().any(|s| s.reserved_by_others.is_none()) {
        let mut out = Vec::with_capacity(batch.len());
        for s in batch {
            out.push(ledger::settle_in(conn, s.clone()).await?);
        }
        return Ok(out);
    }
    if batch.iter().any(|s| s.official < Money::ZERO) {
        return Err(LedgerError::InvalidAmount("a call cannot cost less than nothing"));
    }
    let positional = !conn.backend_name().eq_ignore_ascii_case("postgresql");
    // Accounts are locked in id order (the writer sorts its batches), before anything is written.
    let mut users: Vec<i64> = batch.iter().map(|s| s.user_id).collect();
    users.sort_unstable();
    users.dedup();
    let mut balances: HashMap<i64, i64> = HashMap::new();
    for u in &users {
        balances.insert(*u, lock_account(conn, *u).await?.units());
    }
    // Claim every call's idempotency key at once; a key already there is a replay (or a misuse).
    let mut claimed: HashSet<String> = HashSet::new();
    for chunk in runs(batch) {
        let sql = format!(
            "INSERT INTO money_operations (idempotency_key, user_id, kind, fingerprint, result, created_at) VALUES {} \
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key",
            placeholders(chunk.len(), 6, positional)
        );
        let mut q = sqlx::query_as::<_, (String,)>(&sql);
        for s in chunk {
            q = q
                .bind(call_operation_key(s.request_key))
                .bind(s.user_id)
                .bind("call")
                .bind(call_fingerprint(s))
                .bind("")
                .bind(s.now);
        }
        claimed.extend(q.fetch_all(&mut *conn).await?.into_iter().map(|(k,)| k));
    }
    let mut results: Vec<Option<Settled>> = vec![None; batch.len()];
    for (i, s) in batch.iter().enumerate() {
        if !claimed.contains(&call_operation_key(s.request_key)) {
            // Replays touch nothing; a reused key with other parameters fails the batch.
            results[i] = Some(ledger::settle_in(conn, s.clone()).await?);
        }
    }
    // Plan every new charge in order, each account's packages and balance followed in memory.
    let mut funds: HashMap<i64, Vec<PackageFunds>> = HashMap::new();
    for u in &users {
        let earliest = batch.iter().filter(|s| s.user_id == *u).map(|s| s.now).min().unwrap_or(0);
        funds.insert(*u, packages::funds(conn, *u, earliest).await?);
    }
    let mut plans: Vec<(usize, charge::ChargePlan)> = Vec::new();
    let mut entries: Vec<Entry> = Vec::new();
    let mut package_moves: HashMap<i64, i64> = HashMap::new();
    for (i, s) in batch.iter().enumerate() {
        if results[i].is_some() {
            continue;
        }
        let (Some(account_funds), Some(balance)) = (funds.get_mut(&s.user_id), balances.get_mut(&s.user_id)) else {
            return Err(LedgerError::NoSuchAccount);
        };
        let in_scope = account_funds
            .iter()
            .filter(|p| p.can_pay(s.channel, s.now))
            .fold(Money::ZERO, |sum, p| sum.saturating_add(p.remaining));
        let reserved = s.reserved_by_others.unwrap_or(Money::ZERO);
        let cap = in_scope.saturating_sub(reserved).max(Money::ZERO);
        let plan = charge::plan_within(s.official, s.channel, s.multiplier, account_funds, s.now, cap);
        let op_key = call_operation_key(s.request_key);
        let memo = format!("{} on {}", s.model, s.channel);
        let mut seq = 0;
        for (package_id, amount) in &plan.deductions {
            if let Some(p) = account_funds.iter_mut().find(|p| p.id == *package_id) {
                p.remaining = p.remaining.saturating_sub(*amount);
            }
            *package_moves.entry(*package_id).or_insert(0) += amount.units();
            seq += 1;
            entries.push(Entry {
                user_id: s.user_id,
                key: format!("{op_key}#{seq}"),
                op_key: op_key.clone(),
                kind: EntryKind::PackageDeduction,
                balance_delta: 0,
                balance_after: *balance,
                package: Some((*package_id, amount.negated().units())),
                request_key: s.request_key.to_string(),
                memo: memo.clone(),
                now: s.now,
            });
        }
        if plan.balance.is_positive() {
            seq += 1;
            *balance -= plan.balance.units();
            entries.push(Entry {
                user_id: s.user_id,
                key: format!("{op_key}#{seq}"),
                op_key: op_key.clone(),
                kind: EntryKind::BalanceCharge,
                balance_delta: plan.balance.negated().units(),
                balance_after: *balance,
                package: None,
                request_key: s.request_key.to_string(),
                memo,
                now: s.now,
            });
        }
        plans.push((i, plan));
    }
    // Bills, then the entries that point at them.
    let mut bill_ids: HashMap<String, i64> = HashMap::new();
    for chunk in runs(&plans) {
        let sql = format!(
            "INSERT INTO bills ({BILL_COLUMNS}) VALUES {} RETURNING id, request_key",
            placeholders(chunk.len(), 16, positional)
        );
        let mut q = sqlx::query_as::<_, (i64, String)>(&sql);
        for (i, plan) in chunk {
            q = bind_bill(q, &batch[*i], plan);
        }
        bill_ids.extend(q.fetch_all(&mut *conn).await?.into_iter().map(|(id, rk)| (rk, id)));
    }
    for chunk in runs(&entries) {
        let sql = format!(
            "INSERT INTO ledger_entries (user_id, idempotency_key, operation_key, kind, balance_delta, balance_after, \
             package_id, package_delta, bill_id, memo, created_at) VALUES {}",
            placeholders(chunk.len(), 11, positional)
        );
        let mut q = sqlx::query(&sql);
        for e in chunk {
            q = q
                .bind(e.user_id)
                .bind(&e.key)
                .bind(&e.op_key)
                .bind(e.kind.as_str())
                .bind(e.balance_delta)
                .bind(e.balance_after)
                .bind(e.package.map(|p| p.0))
                .bind(e.package.map(|p| p.1).unwrap_or(0))
                .bind(bill_ids.get(&e.request_key).copied())
                .bind(&e.memo)
                .bind(e.now);
        }
        q.execute(&mut *conn).await?;
    }
    // One update per account, package and key.
    for u in &users {
        sqlx::query("UPDATE users SET balance = $1 WHERE id = $2")
            .bind(balances.get(u).copied().unwrap_or(0))
            .bind(*u)
            .execute(&mut *conn)
            .await?;
    }
    let mut moved: Vec<(i64, i64)> = package_moves.into_iter().collect();
    moved.sort_unstable();
    for (package_id, amount) in moved {
        let done = sqlx::query("UPDATE packages SET remaining = remaining - $1 WHERE id = $2 AND remaining >= $1")
            .bind(amount)
            .bind(package_id)
            .execute(&mut *conn)
            .await?;
        if done.rows_affected() != 1 {
            return Err(LedgerError::Db(sqlx::Error::RowNotFound));
        }
    }
    let mut key_use: HashMap<(i64, i64), (i64, i64, i64)> = HashMap::new();
    for (i, plan) in &plans {
        let s = &batch[*i];
        if let Some(key_id) = s.api_key_id {
            let e = key_use.entry((key_id, s.user_id)).or_insert((0, 0, 0));
            e.0 += 1;
            e.1 += plan.packages_paid().saturating_add(plan.balance).units();
            e.2 = e.2.max(s.now);
        }
    }
    let mut key_use: Vec<_> = key_use.into_iter().collect();
    key_use.sort_unstable();
    for ((key_id, user_id), (calls, spent, last)) in key_use {
        sqlx::query(
            "UPDATE api_keys SET used_times = used_times + $1, spent = spent + $2, \
             last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $3 THEN $3 ELSE last_used_at END \
             WHERE id = $4 AND user_id = $5",
        )
        .bind(calls)
        .bind(spent)
        .bind(last)
        .bind(key_id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    }
    for (i, plan) in plans {
        let s = &batch[i];
        results[i] = Some(Settled {
            bill_id: bill_ids.get(s.request_key).copied().unwrap_or(0),
            packages_paid: plan.packages_paid(),
            balance_paid: plan.balance,
            replayed: false,
            deductions: plan.deductions,
        });
    }
    Ok(results.into_iter().map(|r| r.unwrap_or_else(empty)).collect())
}

fn empty() -> Settled {
    Settled {
        bill_id: 0,
        packages_paid: Money::ZERO,
        balance_paid: Money::ZERO,
        replayed: true,
        deductions: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_then_columns() {
        assert_eq!(placeholders(2, 3, false), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(2, 2, true), "(?, ?), (?, ?)");
    }

    #[test]
    fn rows_are_split_into_a_few_fixed_sizes() {
        let items: Vec<u8> = vec![0; 37];
        assert_eq!(runs(&items).iter().map(|r| r.len()).collect::<Vec<_>>(), vec![16, 16, 4, 1]);
        assert_eq!(runs(&vec![0; 130]).iter().map(|r| r.len()).collect::<Vec<_>>(), vec![64, 64, 1, 1]);
        assert!(runs::<u8>(&[]).is_empty());
    }
}
