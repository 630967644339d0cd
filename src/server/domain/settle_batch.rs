//! The one settlement path: calls charged by the charge rule (`charge::plan`: packages first from what
//! they actually hold, then the balance) one after another in the given order, in one transaction with a
//! handful of statements instead of about ten per call. Computed in memory per account after one lock and
//! one read of its packages, then written with multi-row statements: inserts of bills and ledger entries,
//! and `UPDATE … FROM (VALUES …)` of balances, packages and keys, so a batch costs about the same few
//! statements whether it touches one account or hundreds of keys. Settling one call is a batch of one
//! (`ledger::settle`). Every call keeps its idempotency key, its bill's unique request key: a call settled
//! before is answered from its bill, unchanged (`ledger::settled_call`).

use super::channels::Scope;
use super::charge::{self, PackageFunds};
use super::ledger::{
    self, bind_bill, call_operation_key, EntryKind, LedgerError, Settled, Settlement, BILL_COLUMNS, BILL_COLUMN_COUNT,
};
use super::ledger_memo;
use super::money::Money;
use crate::server::db::batch_sql;
use sqlx::AnyConnection;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

/// Rows per multi-row statement: a few fixed sizes, so each statement shape is prepared once and cached.
/// At most 32: sqlx's SQLite worker thread hands rows (`RETURNING`) to the caller through a channel of 50,
/// and a statement returning more stalls the thread on it, a context switch every few rows.
const CHUNKS: [usize; 6] = [32, 16, 8, 4, 2, 1];
/// Lengths of `IN (…)` lists, padded with their last value (repeats change nothing in a list).
const LISTS: [usize; 4] = [1, 4, 16, 32];

/// Splits `items` into runs of the fixed sizes (greedy: 37 -> 32, 4, 1).
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

/// The statements a batch is written with; each has one SQL text per size, built once and kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Statement {
    LockAccounts,
    PackageFunds,
    SettledBefore,
    Bills,
    Entries,
    Balances,
    Packages,
    Keys,
}

impl Statement {
    /// The SQL for `n` rows (or `IN` list items).
    fn build(self, n: usize, positional: bool) -> String {
        let rows = |cols| batch_sql::rows(n, cols, positional);
        let ids = batch_sql::in_list(n, 1, positional);
        match self {
            Self::LockAccounts if positional => {
                format!("UPDATE users SET balance = balance WHERE id IN {ids} RETURNING id, balance")
            }
            Self::LockAccounts => format!("SELECT id, balance FROM users WHERE id IN {ids} ORDER BY id FOR UPDATE"),
            Self::PackageFunds => format!(
                "SELECT user_id, id, remaining, expires_at, scope FROM packages WHERE user_id IN {ids} \
                 AND remaining > 0 AND expires_at > {} ORDER BY user_id, expires_at, id",
                if positional { "?".to_string() } else { format!("${}", n + 1) }
            ),
            Self::SettledBefore => format!("SELECT request_key FROM bills WHERE request_key IN {ids}"),
            Self::Bills => format!(
                "INSERT INTO bills ({BILL_COLUMNS}) VALUES {} RETURNING id, request_key",
                rows(BILL_COLUMN_COUNT)
            ),
            Self::Entries => format!(
                "INSERT INTO ledger_entries (user_id, idempotency_key, operation_key, kind, balance_delta, \
                 balance_after, package_id, package_delta, bill_id, memo, created_at) VALUES {}",
                rows(11)
            ),
            // VALUES names its columns column1, column2, … on both databases.
            Self::Balances => format!(
                "UPDATE users SET balance = v.column2 FROM (VALUES {}) AS v WHERE users.id = v.column1",
                rows(2)
            ),
            Self::Packages => format!(
                "UPDATE packages SET remaining = remaining - v.column2 FROM (VALUES {}) AS v \
                 WHERE packages.id = v.column1 AND packages.remaining >= v.column2",
                rows(2)
            ),
            Self::Keys => format!(
                "UPDATE api_keys SET used_times = used_times + v.column3, spent = spent + v.column4, \
                 last_used_at = CASE WHEN api_keys.last_used_at IS NULL OR api_keys.last_used_at < v.column5 \
                 THEN v.column5 ELSE api_keys.last_used_at END \
                 FROM (VALUES {}) AS v WHERE api_keys.id = v.column1 AND api_keys.user_id = v.column2",
                rows(5)
            ),
        }
    }
}

/// The SQL of `statement` for `n` rows, built the first time and then shared.
fn statement_sql(statement: Statement, n: usize, positional: bool) -> Arc<str> {
    type Built = Mutex<HashMap<(Statement, usize, bool), Arc<str>>>;
    static BUILT: LazyLock<Built> = LazyLock::new(Default::default);
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(built.entry((statement, n, positional)).or_insert_with(|| statement.build(n, positional).into()))
}

/// `ids` split into lists of the fixed `IN` lengths, each padded with its last id.
fn id_lists<T: Clone>(ids: &[T]) -> Vec<Vec<T>> {
    ids.chunks(LISTS[LISTS.len() - 1])
        .map(|chunk| {
            let len = LISTS.iter().copied().find(|l| *l >= chunk.len()).unwrap_or(chunk.len());
            let mut list = chunk.to_vec();
            list.resize(len, chunk[chunk.len() - 1].clone());
            list
        })
        .collect()
}

/// Which of `request_keys` have a bill already.
async fn settled_before(
    conn: &mut AnyConnection,
    request_keys: &[&str],
    positional: bool,
) -> Result<HashSet<String>, LedgerError> {
    let mut found = HashSet::new();
    for list in id_lists(request_keys) {
        let sql = statement_sql(Statement::SettledBefore, list.len(), positional);
        let mut q = sqlx::query_as::<_, (String,)>(&sql);
        for key in list {
            q = q.bind(key);
        }
        found.extend(q.fetch_all(&mut *conn).await?.into_iter().map(|(k,)| k));
    }
    Ok(found)
}

/// Locks the accounts (PostgreSQL: `FOR UPDATE` in id order; SQLite: a no-op update takes the write lock)
/// and reads their balances.
async fn lock_accounts(
    conn: &mut AnyConnection,
    users: &[i64],
    positional: bool,
) -> Result<HashMap<i64, i64>, LedgerError> {
    let mut balances = HashMap::new();
    for list in id_lists(users) {
        let sql = statement_sql(Statement::LockAccounts, list.len(), positional);
        let mut q = sqlx::query_as::<_, (i64, i64)>(&sql);
        for id in &list {
            q = q.bind(*id);
        }
        balances.extend(q.fetch_all(&mut *conn).await?);
    }
    if users.iter().any(|u| !balances.contains_key(u)) {
        return Err(LedgerError::NoSuchAccount);
    }
    Ok(balances)
}

/// The accounts' packages that can still pay at `now` or later, as the charge planner needs them.
async fn package_funds(
    conn: &mut AnyConnection,
    users: &[i64],
    now: i64,
    positional: bool,
) -> Result<HashMap<i64, Vec<PackageFunds>>, LedgerError> {
    let mut funds: HashMap<i64, Vec<PackageFunds>> = users.iter().map(|u| (*u, Vec::new())).collect();
    for list in id_lists(users) {
        let sql = statement_sql(Statement::PackageFunds, list.len(), positional);
        let mut q = sqlx::query_as::<_, (i64, i64, i64, i64, String)>(&sql);
        for id in &list {
            q = q.bind(*id);
        }
        for (user_id, id, remaining, expires_at, scope) in q.bind(now).fetch_all(&mut *conn).await? {
            funds.entry(user_id).or_default().push(PackageFunds {
                id,
                remaining: Money::from_units(remaining),
                expires_at,
                scope: Scope::lenient(&scope),
            });
        }
    }
    Ok(funds)
}

/// Runs a two-column `UPDATE … FROM (VALUES …)` ([`Statement::Balances`] or [`Statement::Packages`]) over
/// `rows` (id, value); returns how many rows it changed.
async fn update_pairs(
    conn: &mut AnyConnection,
    statement: Statement,
    rows: &[(i64, i64)],
    positional: bool,
) -> Result<u64, LedgerError> {
    let mut changed = 0;
    for chunk in runs(rows) {
        let sql = statement_sql(statement, chunk.len(), positional);
        let mut q = sqlx::query(&sql);
        for (id, value) in chunk {
            q = q.bind(*id).bind(*value);
        }
        changed += q.execute(&mut *conn).await?.rows_affected();
    }
    Ok(changed)
}

/// Charges `batch` in order, each call exactly once; a call whose bill exists already is a replay (answered
/// from its bill, nothing written). Fails as a whole (the caller's transaction rolls back) when any call
/// cannot be charged.
pub async fn settle_batch(conn: &mut AnyConnection, batch: &[Settlement<'_>]) -> Result<Vec<Settled>, LedgerError> {
    if batch.iter().any(|s| s.official < Money::ZERO) {
        return Err(LedgerError::InvalidAmount("a call cannot cost less than nothing"));
    }
    let positional = batch_sql::positional(conn.backend_name());
    // Accounts are locked in id order (the writer sorts its batches), before anything is written.
    let mut users: Vec<i64> = batch.iter().map(|s| s.user_id).collect();
    users.sort_unstable();
    users.dedup();
    let mut balances = lock_accounts(conn, &users, positional).await?;
    let balances_before = balances.clone();
    // Calls with a bill already (a retried batch) are replays: read from the unique index, nothing written.
    let request_keys: Vec<&str> = batch.iter().map(|s| s.request_key).collect();
    let settled_before = settled_before(conn, &request_keys, positional).await?;
    let mut results: Vec<Option<Settled>> = vec![None; batch.len()];
    for (i, s) in batch.iter().enumerate() {
        if settled_before.contains(s.request_key) {
            // Replays touch nothing; a reused key with other parameters fails the batch.
            results[i] = ledger::settled_call(conn, s).await?;
        }
    }
    let op_keys: Vec<String> = batch.iter().map(|s| call_operation_key(s.request_key)).collect();
    // Plan every new charge in order, each account's packages and balance followed in memory.
    // Packages that could pay the earliest call; each call then checks expiry at its own time.
    let earliest = batch.iter().map(|s| s.now).min().unwrap_or(0);
    let mut funds = package_funds(conn, &users, earliest, positional).await?;
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
        let plan = charge::plan(s.official, s.channel, s.model, s.multiplier, account_funds, s.now)
            .ok_or(LedgerError::InvalidAmount("the balance's share of this charge does not fit in an amount"))?;
        let op_key = &op_keys[i];
        let memo = ledger_memo::call(s.model, s.channel);
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
            *balance = balance
                .checked_sub(plan.balance.units())
                .ok_or(LedgerError::InvalidAmount("the charge would take the balance beyond what an amount holds"))?;
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
        let sql = statement_sql(Statement::Bills, chunk.len(), positional);
        let mut q = sqlx::query_as::<_, (i64, String)>(&sql);
        for (i, plan) in chunk {
            q = bind_bill(q, &batch[*i], plan);
        }
        bill_ids.extend(q.fetch_all(&mut *conn).await?.into_iter().map(|(id, rk)| (rk, id)));
    }
    for chunk in runs(&entries) {
        let sql = statement_sql(Statement::Entries, chunk.len(), positional);
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
    // Balances that changed, packages that paid, and keys that were used: one `UPDATE … FROM (VALUES …)`
    // per run of rows.
    let mut changed: Vec<(i64, i64)> =
        balances.iter().filter(|(u, b)| balances_before.get(u) != Some(b)).map(|(u, b)| (*u, *b)).collect();
    changed.sort_unstable();
    update_pairs(conn, Statement::Balances, &changed, positional).await?;
    let mut moved: Vec<(i64, i64)> = package_moves.into_iter().collect();
    moved.sort_unstable();
    // A package that could not pay its part (it changed under us) fails the batch.
    if update_pairs(conn, Statement::Packages, &moved, positional).await? != moved.len() as u64 {
        return Err(LedgerError::Db(sqlx::Error::RowNotFound));
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
    for chunk in runs(&key_use) {
        let sql = statement_sql(Statement::Keys, chunk.len(), positional);
        let mut q = sqlx::query(&sql);
        for ((key_id, user_id), (calls, spent, last)) in chunk {
            q = q.bind(*key_id).bind(*user_id).bind(*calls).bind(*spent).bind(*last);
        }
        q.execute(&mut *conn).await?;
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
    fn rows_are_split_into_a_few_fixed_sizes() {
        let items: Vec<u8> = vec![0; 37];
        assert_eq!(runs(&items).iter().map(|r| r.len()).collect::<Vec<_>>(), vec![32, 4, 1]);
        assert_eq!(runs(&vec![0; 130]).iter().map(|r| r.len()).collect::<Vec<_>>(), vec![32, 32, 32, 32, 2]);
        assert!(runs::<u8>(&[]).is_empty());
    }

    #[test]
    fn statements_have_a_parameter_for_every_value_bound() {
        let per_row = [
            (Statement::LockAccounts, 1, 0),
            (Statement::PackageFunds, 1, 1),
            (Statement::SettledBefore, 1, 0),
            (Statement::Bills, 21, 0),
            (Statement::Entries, 11, 0),
            (Statement::Balances, 2, 0),
            (Statement::Packages, 2, 0),
            (Statement::Keys, 5, 0),
        ];
        for (statement, cols, extra) in per_row {
            for n in [1, 4, 32] {
                let sql = statement_sql(statement, n, true);
                assert_eq!(sql.matches('?').count(), n * cols + extra, "{statement:?} x{n}");
                let numbered = statement_sql(statement, n, false);
                assert!(numbered.contains(&format!("${}", n * cols + extra)), "{statement:?} x{n}: {numbered}");
                assert!(!numbered.contains(&format!("${}", n * cols + extra + 1)), "{statement:?} x{n}");
                assert!(Arc::ptr_eq(&sql, &statement_sql(statement, n, true)), "built once");
            }
        }
    }

    #[test]
    fn id_lists_are_padded_to_a_few_lengths_with_their_last_id() {
        assert_eq!(id_lists(&[7]), vec![vec![7]]);
        assert_eq!(id_lists(&[1, 2, 3]), vec![vec![1, 2, 3, 3]]);
        let many: Vec<i64> = (1..=38).collect();
        let lists = id_lists(&many);
        assert_eq!(lists.iter().map(Vec::len).collect::<Vec<_>>(), vec![32, 16]);
        assert_eq!(lists[1][..6], [33, 34, 35, 36, 37, 38]);
        assert!(lists[1][6..].iter().all(|id| *id == 38));
    }
}
