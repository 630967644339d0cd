//! Admission without a database round trip: each account's balance and packages as last read, plus the
//! holds of its calls running on this instance, in memory. A call is admitted (or refused with 402) by the
//! same rule as `ledger::place_hold` (`charge::admit`), under the account's lock for a few microseconds.
//!
//! When a settlement of the account commits, the settlement writer tells the book what the balance and each
//! package paid and the snapshot follows (a version number makes sure a read that raced a commit is not
//! kept). The snapshot is read again after a top-up here, a settlement whose outcome is unknown, and every
//! `FRESH_MS` otherwise (a top-up or charge made by another process or instance). A hold lives until its
//! call's settlement commits or its call is released, so between the two the money is counted exactly once:
//! in the hold before the commit, in the balance after it.
//!
//! With several instances each knows only its own calls' holds, so a burst spread over N instances can go
//! at most N calls' overrun below zero (one instance: one call's, as the ledger's own admission).

use crate::server::domain::charge::{self, Funds, Hold, PackageFunds, Refusal};
use crate::server::domain::ledger::Admission;
use crate::server::domain::money::Money;
use crate::server::domain::packages;
use rust_decimal::Decimal;
use sqlx::AnyPool;
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a snapshot is trusted without news from this instance's settlements.
pub const FRESH_MS: i64 = 2_000;
const SHARDS: usize = 64;
/// Above this many accounts in a shard, accounts with no running call and an old snapshot are dropped.
const SHARD_CAPACITY: usize = 4_096;

#[derive(Default)]
struct Account {
    balance: Money,
    packages: Vec<PackageFunds>,
    loaded_at: i64,
    /// Needs reading: never read, a settlement committed, or a top-up arrived.
    stale: bool,
    /// Commits of this account's settlements seen by the book; a read taken across one is thrown away.
    commits: u64,
    /// Open holds of this instance's calls: request key -> what it reserves, and since when.
    holds: HashMap<String, (Hold, i64)>,
    /// Their sums, kept as holds come and go (a busy account can have hundreds open).
    balance_held: Money,
    packages_held: Money,
}

impl Account {
    fn admit(
        &mut self,
        request_key: &str,
        channel: &str,
        worst: Money,
        multiplier: Decimal,
        outlives: i64,
        now: i64,
    ) -> Result<Hold, Refusal> {
        let (balance_held, packages_held) = (self.balance_held, self.packages_held);
        let packages_available = self
            .packages
            .iter()
            .filter(|p| p.can_pay(channel, outlives))
            .fold(Money::ZERO, |sum, p| sum.saturating_add(p.remaining));
        let funds = Funds { balance: self.balance, balance_held, packages_available, packages_held };
        let hold = charge::admit(funds, worst, multiplier)?;
        if let Some((old, _)) = self.holds.insert(request_key.to_string(), (hold, now)) {
            self.forget(old);
        }
        self.balance_held = self.balance_held.saturating_add(hold.balance);
        self.packages_held = self.packages_held.saturating_add(hold.packages);
        Ok(hold)
    }

    fn remove(&mut self, request_key: &str) {
        if let Some((h, _)) = self.holds.remove(request_key) {
            self.forget(h);
        }
    }

    fn forget(&mut self, h: Hold) {
        self.balance_held = self.balance_held.saturating_sub(h.balance);
        self.packages_held = self.packages_held.saturating_sub(h.packages);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BookError {
    #[error("{}", .0.message())]
    Refused(Refusal),
    #[error("no such account")]
    NoSuchAccount,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub struct AdmissionBook {
    shards: Vec<Mutex<HashMap<i64, Account>>>,
}

impl Default for AdmissionBook {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect() }
    }
}

impl AdmissionBook {
    fn shard(&self, user_id: i64) -> &Mutex<HashMap<i64, Account>> {
        &self.shards[usize::try_from(user_id.rem_euclid(SHARDS as i64)).unwrap_or(0)]
    }

    fn with<T>(&self, user_id: i64, f: impl FnOnce(&mut Account) -> T) -> Option<T> {
        let mut shard = self.shard(user_id).lock().ok()?;
        if shard.len() >= SHARD_CAPACITY && !shard.contains_key(&user_id) {
            let newest = shard.values().map(|a| a.loaded_at).max().unwrap_or(0);
            shard.retain(|_, a| !a.holds.is_empty() || newest - a.loaded_at < FRESH_MS);
        }
        let account = shard.entry(user_id).or_insert_with(|| Account { stale: true, ..Account::default() });
        Some(f(account))
    }

    /// Admits a call and keeps its hold, reading the account first when its snapshot is not fresh.
    pub async fn admit(&self, pool: &AnyPool, a: Admission<'_>) -> Result<Hold, BookError> {
        let outlives = a.now.saturating_add(a.ttl_ms);
        let mut attempts = 0;
        loop {
            let fresh = self.with(a.user_id, |acc| {
                if acc.stale || a.now - acc.loaded_at >= FRESH_MS {
                    Err(acc.commits)
                } else {
                    Ok(acc.admit(a.request_key, a.channel, a.worst_case, a.multiplier, outlives, a.now))
                }
            });
            let seen = match fresh {
                Some(Ok(admitted)) => return admitted.map_err(BookError::Refused),
                Some(Err(commits)) => commits,
                None => return Err(BookError::NoSuchAccount),
            };
            let (balance, funds) = read(pool, a.user_id, a.now).await?;
            attempts += 1;
            let installed = self.with(a.user_id, |acc| {
                if acc.commits != seen {
                    if attempts >= 3 && !acc.stale {
                        // A busy account commits faster than a read returns; its snapshot has followed every
                        // commit of this instance, so it is trusted for another while.
                        acc.loaded_at = a.now;
                        return Some(acc.admit(a.request_key, a.channel, a.worst_case, a.multiplier, outlives, a.now));
                    }
                    return None; // a settlement committed while we read: read again
                }
                acc.balance = balance;
                acc.packages = funds;
                acc.loaded_at = a.now;
                acc.stale = false;
                Some(acc.admit(a.request_key, a.channel, a.worst_case, a.multiplier, outlives, a.now))
            });
            match installed.flatten() {
                Some(admitted) => return admitted.map_err(BookError::Refused),
                None => continue,
            }
        }
    }

    /// Package money other running calls of the account reserved (the settlement must leave it to them).
    pub fn reserved_by_others(&self, user_id: i64, request_key: &str) -> Money {
        self.with(user_id, |acc| {
            let own = acc.holds.get(request_key).map_or(Money::ZERO, |(h, _)| h.packages);
            acc.packages_held.saturating_sub(own)
        })
        .unwrap_or(Money::ZERO)
    }

    /// The package money a call's own hold reserves.
    pub fn held_packages(&self, user_id: i64, request_key: &str) -> Money {
        self.with(user_id, |acc| acc.holds.get(request_key).map_or(Money::ZERO, |(h, _)| h.packages))
            .unwrap_or(Money::ZERO)
    }

    /// The call failed before any token: its hold goes, nothing else changed.
    pub fn release(&self, user_id: i64, request_key: &str) {
        self.with(user_id, |acc| acc.remove(request_key));
    }

    /// The call's settlement committed: the hold goes and the snapshot follows the charge (what the balance
    /// and each package paid), so the next call needs no read. `None` (given up, or a replay): read again.
    pub fn settled(&self, user_id: i64, request_key: &str, charge: Option<(Money, &[(i64, Money)])>) {
        self.with(user_id, |acc| {
            acc.remove(request_key);
            acc.commits += 1;
            match charge {
                Some((balance_paid, deductions)) if !acc.stale => {
                    acc.balance = acc.balance.saturating_sub(balance_paid);
                    for (id, paid) in deductions {
                        if let Some(p) = acc.packages.iter_mut().find(|p| p.id == *id) {
                            p.remaining = p.remaining.saturating_sub(*paid);
                        }
                    }
                    acc.packages.retain(|p| p.remaining.is_positive());
                }
                _ => acc.stale = true,
            }
        });
    }

    /// Money arrived (a top-up here): read the account on its next call.
    pub fn invalidate(&self, user_id: i64) {
        self.with(user_id, |acc| {
            acc.commits += 1;
            acc.stale = true;
        });
    }

    /// Packages were granted (a referral): every account is read again on its next call.
    pub fn invalidate_all(&self) {
        for shard in &self.shards {
            if let Ok(mut accounts) = shard.lock() {
                for acc in accounts.values_mut() {
                    acc.commits += 1;
                    acc.stale = true;
                }
            }
        }
    }

    /// Drops holds older than `older_than_ms` (a call whose task died without settling or releasing): the
    /// money they reserved is free again. Returns how many went.
    pub fn sweep(&self, now: i64, older_than_ms: i64) -> usize {
        let mut swept = 0;
        for shard in &self.shards {
            if let Ok(mut accounts) = shard.lock() {
                for acc in accounts.values_mut() {
                    let stale: Vec<String> = acc
                        .holds
                        .iter()
                        .filter(|(_, (_, at))| now - at > older_than_ms)
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in stale {
                        acc.remove(&k);
                        swept += 1;
                    }
                }
            }
        }
        swept
    }

    /// A hold placed directly, for tests of what reads the book.
    #[cfg(test)]
    pub fn hold_for_test(&self, user_id: i64, request_key: &str, packages: Money) {
        self.with(user_id, |acc| {
            acc.holds.insert(request_key.to_string(), (Hold { packages, balance: Money::ZERO }, 0));
            acc.packages_held = acc.packages_held.saturating_add(packages);
        });
    }

    /// Holds open on this instance (tests, shutdown logs).
    pub fn open_holds(&self) -> usize {
        self.shards.iter().filter_map(|s| s.lock().ok()).map(|s| s.values().map(|a| a.holds.len()).sum::<usize>()).sum()
    }
}

async fn read(pool: &AnyPool, user_id: i64, now: i64) -> Result<(Money, Vec<PackageFunds>), BookError> {
    let mut conn = pool.acquire().await?;
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT balance FROM users WHERE id = $1").bind(user_id).fetch_optional(&mut *conn).await?;
    let (balance,) = row.ok_or(BookError::NoSuchAccount)?;
    let funds = packages::funds(&mut conn, user_id, now).await?;
    Ok((Money::from_units(balance), funds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(balance: i64) -> Account {
        Account { balance: Money::usd(balance), loaded_at: 0, ..Account::default() }
    }

    #[test]
    fn holds_count_until_settled_and_a_settlement_makes_the_account_read_again() {
        let book = AdmissionBook::default();
        book.with(7, |a| *a = account(1));
        let one = Decimal::ONE;
        // $1 of balance: calls are admitted while something is left unreserved.
        let first = book.with(7, |a| a.admit("a", "default", Money::usd(1), one, 10, 0)).unwrap().unwrap();
        assert_eq!(first.balance, Money::usd(1));
        assert!(book.with(7, |a| a.admit("b", "default", Money::usd(1), one, 10, 0)).unwrap().is_err(), "all reserved");
        book.release(7, "a");
        assert!(book.with(7, |a| a.admit("b", "default", Money::usd(1), one, 10, 0)).unwrap().is_ok());
        book.settled(7, "b", Some((Money::usd(1), &[])));
        assert_eq!(book.open_holds(), 0);
        assert!(
            book.with(7, |a| !a.stale && a.commits == 1 && a.balance == Money::ZERO).unwrap(),
            "followed the charge"
        );
        assert!(book.with(7, |a| a.admit("c", "default", Money::usd(1), one, 10, 0)).unwrap().is_err(), "nothing left");
        book.settled(7, "gone", None);
        assert!(book.with(7, |a| a.stale && a.commits == 2).unwrap(), "unknown outcome: read again");
    }

    #[test]
    fn holds_left_behind_by_a_dead_call_are_swept() {
        let book = AdmissionBook::default();
        book.with(3, |a| *a = account(1));
        book.with(3, |a| a.admit("old", "default", Money::usd(1), Decimal::ONE, 10, 0)).unwrap().unwrap();
        book.with(3, |a| a.admit("new", "default", Money::ZERO, Decimal::ONE, 10, 500)).unwrap().unwrap();
        assert_eq!(book.sweep(1_000, 600), 1);
        assert_eq!(book.open_holds(), 1);
        assert_eq!(book.reserved_by_others(3, "x"), Money::ZERO);
        assert!(book.with(3, |a| a.balance_held == Money::ZERO).unwrap(), "the swept hold's money is free");
    }

    #[test]
    fn package_reservations_of_other_calls_are_reported_for_settlement() {
        let book = AdmissionBook::default();
        book.with(1, |a| {
            *a = account(1);
            a.packages = vec![PackageFunds {
                id: 1,
                remaining: Money::usd(5),
                expires_at: i64::MAX,
                scope: vec!["cc-omg".into()],
            }];
        });
        let one = Decimal::ONE;
        let held = book.with(1, |a| a.admit("x", "cc-omg", Money::usd(2), one, 10, 0)).unwrap().unwrap();
        assert_eq!(held.packages, Money::usd(2));
        book.with(1, |a| a.admit("y", "cc-omg", Money::usd(2), one, 10, 0)).unwrap().unwrap();
        assert_eq!(book.reserved_by_others(1, "y"), Money::usd(2));
        assert_eq!(book.reserved_by_others(1, "z"), Money::usd(4));
    }
}
