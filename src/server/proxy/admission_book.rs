//! The one admission path: each account's balance and packages as last read, plus the holds of its calls
//! running on this instance, in memory. A call is admitted (or refused) by the admission rule
//! (`charge::admit`) under the account's lock for a few microseconds, without a database round trip.
//!
//! When a settlement of the account commits, the settlement writer tells the book what the balance and each
//! package paid and the snapshot follows (a version number makes sure a read that raced a commit is not
//! kept). The snapshot is read again after a top-up here, a settlement whose outcome is unknown, and every
//! `FRESH_MS` otherwise (a top-up or charge made by another process or instance). A hold lives until its
//! call's settlement commits or its call is released, so between the two the money is counted exactly once:
//! in the hold before the commit, in the balance after it. Holds also count against their key's spending
//! cap, so parallel calls cannot overshoot it by more than one call.
//!
//! Package money is reserved from particular packages (those that can pay for the call, soonest expiry
//! first), so a call on one channel never finds its own package taken by calls another package pays for.
//!
//! While the database cannot be read, an account read within the last `OUTAGE_GRACE_MS` is admitted from
//! that snapshot (its own charges still followed); past that, or never read, admission answers
//! `Unavailable` (503 with Retry-After). With several instances each knows only its own calls' holds, so a
//! burst spread over N instances can reach N times the one-instance debt bound (`charge`).

use crate::server::db::Db;
use crate::server::domain::charge::{self, Funds, Hold, KeyBudget, PackageFunds, PackageRoom, Refusal};
use crate::server::domain::money::Money;
use crate::server::domain::packages;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// How long a snapshot is trusted without news from this instance's settlements.
pub const FRESH_MS: i64 = 2_000;
/// How old a snapshot may be to admit from while the database cannot be read.
pub const OUTAGE_GRACE_MS: i64 = 60_000;
const SHARDS: usize = 64;
/// Above this many accounts in a shard, accounts with no running call and an old snapshot are dropped.
const SHARD_CAPACITY: usize = 4_096;

/// A call asking to be admitted.
#[derive(Clone, Copy)]
pub struct Admission<'a> {
    pub user_id: i64,
    pub request_key: &'a str,
    pub channel: &'a str,
    pub model: &'a str,
    /// The most the call can cost at the official price.
    pub worst_case: Money,
    pub multiplier: Decimal,
    /// Packages counted on must outlive the call by this much.
    pub ttl_ms: i64,
    pub now: i64,
    /// The key's spending cap, when it has one.
    pub key_cap: Option<KeyCap<'a>>,
}

/// A key's cap, and how to learn what it has spent (the key cache's figure, read under the account's lock:
/// a settlement adds its spend to the cache before its hold leaves the book, so a call is never missed by
/// both).
#[derive(Clone, Copy)]
pub struct KeyCap<'a> {
    pub key_id: i64,
    pub cap: Money,
    pub spent: &'a (dyn Fn() -> Money + Sync),
}

struct OpenHold {
    hold: Hold,
    key_id: Option<i64>,
    since: i64,
}

#[derive(Default)]
struct Account {
    balance: Money,
    packages: Vec<PackageFunds>,
    /// When the snapshot was last trusted as fresh.
    loaded_at: i64,
    /// When it was last read from the database (0: never): within `OUTAGE_GRACE_MS` of this it stands in
    /// while the database is away.
    read_at: i64,
    /// Needs reading: never read, a settlement committed, or a top-up arrived.
    stale: bool,
    /// Commits of this account's settlements seen by the book; a read taken across one is thrown away.
    commits: u64,
    /// Open holds of this instance's calls, by request key.
    holds: HashMap<String, OpenHold>,
    /// Their sums, kept as holds come and go (a busy account can have hundreds open): the balance's, each
    /// package's, and each capped key's.
    balance_held: Money,
    package_held: HashMap<i64, Money>,
    key_held: HashMap<i64, Money>,
}

fn add(map: &mut HashMap<i64, Money>, id: i64, amount: Money) {
    let held = map.entry(id).or_insert(Money::ZERO);
    *held = held.saturating_add(amount);
}

fn take(map: &mut HashMap<i64, Money>, id: i64, amount: Money) {
    if let Some(held) = map.get_mut(&id) {
        *held = held.saturating_sub(amount);
        if !held.is_positive() {
            map.remove(&id);
        }
    }
}

impl Account {
    fn admit(&mut self, a: &Admission<'_>) -> Result<Hold, Refusal> {
        let outlives = a.now.saturating_add(a.ttl_ms);
        let packages = self
            .packages
            .iter()
            .filter(|p| p.can_pay(a.channel, a.model, outlives))
            .map(|p| PackageRoom {
                id: p.id,
                remaining: p.remaining,
                expires_at: p.expires_at,
                reserved: self.package_held.get(&p.id).copied().unwrap_or(Money::ZERO),
            })
            .collect();
        let funds = Funds { balance: self.balance, balance_held: self.balance_held, packages };
        let key = a.key_cap.map(|k| KeyBudget {
            cap: k.cap,
            spent: (k.spent)(),
            held: self.key_held.get(&k.key_id).copied().unwrap_or(Money::ZERO),
        });
        let hold = charge::admit(&funds, a.worst_case, a.multiplier, key)?;
        let key_id = a.key_cap.map(|k| k.key_id);
        self.remove(a.request_key);
        self.balance_held = self.balance_held.saturating_add(hold.balance);
        for (id, amount) in &hold.packages {
            add(&mut self.package_held, *id, *amount);
        }
        if let Some(id) = key_id {
            add(&mut self.key_held, id, hold.key_spend);
        }
        self.holds.insert(a.request_key.to_string(), OpenHold { hold: hold.clone(), key_id, since: a.now });
        Ok(hold)
    }

    fn remove(&mut self, request_key: &str) {
        let Some(open) = self.holds.remove(request_key) else { return };
        self.balance_held = self.balance_held.saturating_sub(open.hold.balance);
        for (id, amount) in &open.hold.packages {
            take(&mut self.package_held, *id, *amount);
        }
        if let Some(id) = open.key_id {
            take(&mut self.key_held, id, open.hold.key_spend);
        }
    }

    /// Can stand in for the database at `now`.
    fn stands_in(&self, now: i64) -> bool {
        self.read_at > 0 && now - self.read_at <= OUTAGE_GRACE_MS
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BookError {
    #[error("{}", .0.message())]
    Refused(Refusal),
    #[error("no such account")]
    NoSuchAccount,
    /// The account cannot be read and no recent snapshot of it stands in.
    #[error("the database cannot be reached: {0}")]
    Unavailable(sqlx::Error),
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

    fn lock(&self, user_id: i64) -> MutexGuard<'_, HashMap<i64, Account>> {
        // A panic while a shard was locked leaves sums that are still whole (each update is a few saturating
        // additions), so the shard stays usable.
        self.shard(user_id).lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn with<T>(&self, user_id: i64, f: impl FnOnce(&mut Account) -> T) -> T {
        let mut shard = self.lock(user_id);
        if shard.len() >= SHARD_CAPACITY && !shard.contains_key(&user_id) {
            let newest = shard.values().map(|a| a.loaded_at).max().unwrap_or(0);
            shard.retain(|_, a| !a.holds.is_empty() || newest - a.loaded_at < FRESH_MS);
        }
        let account = shard.entry(user_id).or_insert_with(|| Account { stale: true, ..Account::default() });
        f(account)
    }

    /// Admits a call and keeps its hold, reading the account first (a hot read, see `Db::hot_read`) when its
    /// snapshot is not fresh.
    pub async fn admit(&self, db: &Db, a: Admission<'_>) -> Result<Hold, BookError> {
        let mut attempts = 0;
        loop {
            let seen = match self.with(a.user_id, |acc| {
                if acc.stale || a.now - acc.loaded_at >= FRESH_MS {
                    Err(acc.commits)
                } else {
                    Ok(acc.admit(&a))
                }
            }) {
                Ok(admitted) => return admitted.map_err(BookError::Refused),
                Err(commits) => commits,
            };
            let (balance, funds) = match read(db, a.user_id, a.now).await {
                Ok(read) => read,
                Err(ReadError::NoSuchAccount) => return Err(BookError::NoSuchAccount),
                Err(ReadError::Db(e)) => {
                    // The database is away: a recent snapshot stands in for a while.
                    return match self.with(a.user_id, |acc| acc.stands_in(a.now).then(|| acc.admit(&a))) {
                        Some(admitted) => admitted.map_err(BookError::Refused),
                        None => Err(BookError::Unavailable(e)),
                    };
                }
            };
            attempts += 1;
            let installed = self.with(a.user_id, |acc| {
                // A settlement committed while we read: read again, unless this account commits faster than
                // a read returns. Then the snapshot is trusted as it stands (it followed every commit of this
                // instance) or, when it had been marked for reading, the read is taken (at worst one charge
                // counted twice or missed until the next read, two seconds at most).
                if acc.commits != seen && attempts < 3 {
                    return None;
                }
                if acc.commits == seen || acc.stale {
                    acc.balance = balance;
                    acc.packages = funds;
                    acc.read_at = a.now;
                    acc.stale = false;
                }
                acc.loaded_at = a.now;
                Some(acc.admit(&a))
            });
            if let Some(admitted) = installed {
                return admitted.map_err(BookError::Refused);
            }
        }
    }

    /// What the account's running calls (on this instance) may still charge its balance at most: the
    /// Balance page's "reserved by calls still running".
    pub fn balance_held(&self, user_id: i64) -> Money {
        self.with(user_id, |acc| acc.balance_held)
    }

    /// The call failed before any token: its hold goes, nothing else changed.
    pub fn release(&self, user_id: i64, request_key: &str) {
        self.with(user_id, |acc| acc.remove(request_key));
    }

    /// The call's settlement committed: the hold goes and the snapshot follows the charge (what the balance
    /// and each package paid), so the next call needs no read. `None` (set aside, or a replay): read again.
    /// A snapshot already marked for reading follows the charge too, so it stays the best stand-in while the
    /// database is away.
    pub fn settled(&self, user_id: i64, request_key: &str, charge: Option<(Money, &[(i64, Money)])>) {
        self.with(user_id, |acc| {
            acc.remove(request_key);
            acc.commits += 1;
            match charge {
                Some((balance_paid, deductions)) => {
                    acc.balance = acc.balance.saturating_sub(balance_paid);
                    for (id, paid) in deductions {
                        if let Some(p) = acc.packages.iter_mut().find(|p| p.id == *id) {
                            p.remaining = p.remaining.saturating_sub(*paid);
                        }
                    }
                    acc.packages.retain(|p| p.remaining.is_positive());
                }
                None => acc.stale = true,
            }
        });
    }

    /// The account's money or packages changed elsewhere (a top-up, a referral reward): read it again on its
    /// next call. Only the accounts concerned are read again.
    pub fn invalidate(&self, user_id: i64) {
        self.with(user_id, |acc| {
            acc.commits += 1;
            acc.stale = true;
        });
    }

    /// Drops holds older than `older_than_ms` (a call whose task died without settling or releasing): the
    /// money they reserved is free again. Returns how many went.
    pub fn sweep(&self, now: i64, older_than_ms: i64) -> usize {
        let mut swept = 0;
        for shard in &self.shards {
            for acc in shard.lock().unwrap_or_else(PoisonError::into_inner).values_mut() {
                let stale: Vec<String> = acc
                    .holds
                    .iter()
                    .filter(|(_, open)| now - open.since > older_than_ms)
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in stale {
                    acc.remove(&k);
                    swept += 1;
                }
            }
        }
        swept
    }

    /// Holds open on this instance (tests, shutdown logs).
    pub fn open_holds(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).values().map(|a| a.holds.len()).sum::<usize>())
            .sum()
    }
}

enum ReadError {
    NoSuchAccount,
    Db(sqlx::Error),
}

async fn read(db: &Db, user_id: i64, now: i64) -> Result<(Money, Vec<PackageFunds>), ReadError> {
    let read = db.hot_read(async {
        let mut conn = db.pool().acquire().await?;
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT balance FROM users WHERE id = $1").bind(user_id).fetch_optional(&mut *conn).await?;
        match row {
            Some((balance,)) => Ok(Some((Money::from_units(balance), packages::funds(&mut conn, user_id, now).await?))),
            None => Ok(None),
        }
    });
    read.await.map_err(ReadError::Db)?.ok_or(ReadError::NoSuchAccount)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::domain::channels::Scope;

    fn account(balance: i64) -> Account {
        Account { balance: Money::usd(balance), loaded_at: 0, ..Account::default() }
    }

    fn ask<'a>(key: &'a str, worst: Money, now: i64) -> Admission<'a> {
        Admission {
            user_id: 7,
            request_key: key,
            channel: "cc-omg",
            model: "claude-opus-4-1",
            worst_case: worst,
            multiplier: Decimal::ONE,
            ttl_ms: 10,
            now,
            key_cap: None,
        }
    }

    #[test]
    fn holds_count_until_settled_and_a_settlement_makes_the_account_read_again() {
        let book = AdmissionBook::default();
        book.with(7, |a| *a = account(1));
        // $1 of balance: calls are admitted while something is left unreserved.
        let first = book.with(7, |a| a.admit(&ask("a", Money::usd(1), 0))).unwrap();
        assert_eq!(first.balance, Money::usd(1));
        assert_eq!(book.balance_held(7), Money::usd(1));
        assert!(book.with(7, |a| a.admit(&ask("b", Money::usd(1), 0))).is_err(), "all reserved");
        book.release(7, "a");
        assert!(book.with(7, |a| a.admit(&ask("b", Money::usd(1), 0))).is_ok());
        book.settled(7, "b", Some((Money::usd(1), &[])));
        assert_eq!(book.open_holds(), 0);
        assert!(book.with(7, |a| !a.stale && a.commits == 1 && a.balance == Money::ZERO), "followed the charge");
        assert!(book.with(7, |a| a.admit(&ask("c", Money::usd(1), 0))).is_err(), "nothing left");
        book.settled(7, "gone", None);
        assert!(book.with(7, |a| a.stale && a.commits == 2), "unknown outcome: read again");
        // A snapshot marked for reading still follows charges (the stand-in while the database is away).
        book.settled(7, "later", Some((Money::usd(2), &[])));
        assert!(book.with(7, |a| a.balance == Money::usd(2).negated()));
    }

    #[test]
    fn holds_left_behind_by_a_dead_call_are_swept() {
        let book = AdmissionBook::default();
        book.with(7, |a| *a = account(1));
        book.with(7, |a| a.admit(&ask("old", Money::usd(1), 0))).unwrap();
        book.with(7, |a| a.admit(&ask("new", Money::ZERO, 500))).unwrap();
        assert_eq!(book.sweep(1_000, 600), 1);
        assert_eq!(book.open_holds(), 1);
        assert_eq!(book.balance_held(7), Money::ZERO, "the swept hold's money is free");
    }

    #[test]
    fn running_calls_reserve_against_their_keys_cap_with_the_spend_read_under_the_lock() {
        let book = AdmissionBook::default();
        book.with(7, |a| *a = account(100));
        let spent = std::sync::atomic::AtomicI64::new(0);
        let read = || Money::from_units(spent.load(std::sync::atomic::Ordering::SeqCst));
        let capped = |key: &'static str, id: i64| Admission {
            key_cap: Some(KeyCap { key_id: id, cap: Money::usd(3), spent: &read }),
            ..ask(key, Money::usd(1), 0)
        };
        for k in ["a", "b", "c"] {
            book.with(7, |a| a.admit(&capped(k, 3))).unwrap();
        }
        let refused = book.with(7, |a| a.admit(&capped("d", 3))).unwrap_err();
        assert!(matches!(refused, Refusal::KeyCapReached { .. }));
        // "a" settles: its spend reaches the key before its hold goes, so the cap stays full.
        spent.store(Money::usd(1).units(), std::sync::atomic::Ordering::SeqCst);
        assert!(book.with(7, |a| a.admit(&capped("d", 3))).is_err(), "counted once, in the spend");
        book.settled(7, "a", Some((Money::usd(1), &[])));
        assert!(book.with(7, |a| a.admit(&capped("d", 3))).is_err(), "still counted in the spend");
        book.release(7, "b");
        assert!(book.with(7, |a| a.admit(&capped("d", 3))).is_ok(), "a released hold frees the cap");
        // Another key of the same account is not held back.
        assert!(book.with(7, |a| a.admit(&capped("e", 4))).is_ok());
    }

    #[test]
    fn package_money_is_reserved_by_the_calls_its_scope_covers_and_only_from_their_packages() {
        let book = AdmissionBook::default();
        let package = |id, scope| PackageFunds {
            id,
            remaining: Money::usd(5),
            expires_at: i64::MAX,
            scope: Scope::parse(scope).unwrap(),
        };
        book.with(7, |a| {
            *a = account(1);
            a.packages = vec![package(1, "cc-omg"), package(2, "codex-omg")];
        });
        let held = book.with(7, |a| a.admit(&ask("x", Money::usd(5), 0))).unwrap();
        assert_eq!((held.packages, held.balance), (vec![(1, Money::usd(5))], Money::ZERO));
        // The Claude Code package is fully reserved; a CodeX call still has its own package.
        let codex = Admission { channel: "codex-omg", model: "gpt-5.5", ..ask("y", Money::usd(2), 0) };
        let held = book.with(7, |a| a.admit(&codex)).unwrap();
        assert_eq!((held.packages, held.balance), (vec![(2, Money::usd(2))], Money::ZERO));
        let gpt = Admission { channel: "default", model: "gpt-5.5", ..ask("z", Money::usd(2), 0) };
        let held = book.with(7, |a| a.admit(&gpt)).unwrap();
        assert_eq!((held.from_packages(), held.balance), (Money::ZERO, Money::usd(2)), "out of every package's scope");
    }
}
