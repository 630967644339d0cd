//! What the proxy reads on every call, kept in memory so a call needs no database read before admission:
//! API keys by the SHA-256 of their secret, and each account's paid total (its rate tier).
//!
//! Entries live a few seconds (`FRESH_MS`), so a change made by another instance is seen within that time.
//! An entry still in use when it is `REFRESH_AFTER_MS` old is read again in the background (the caller
//! gets the cached entry at once), so a busy key or account never makes a call wait for a read; an entry
//! nobody used in its last second expires and the next call reads it. Changes made through this instance
//! (key pages, key-management API, top-ups) invalidate at once (a read that started before an invalidation
//! is not cached), and settlements add their spend to the cached key, so a spending cap holds between
//! reloads: spend added while a reload was out is added to what it read (see [`ReadTicket`]).
//!
//! A secret that matches no key is remembered as unknown for `MISS_MS` (at most `MAX_MISSES` of them), so
//! a client retrying a wrong key costs no database query per request; any key change of this instance
//! forgets them all, so a key created a moment after being guessed works at once. While the database is
//! away, an entry read within the outage grace still answers (`recent`).

use crate::server::domain::keys::ApiKey;
use crate::server::domain::money::Money;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How long a cached entry is trusted before it is read again.
pub const FRESH_MS: i64 = 5_000;
/// From this age on, using an entry starts a background read of it (one at a time per entry).
pub const REFRESH_AFTER_MS: i64 = 4_000;
/// Above this many entries, stale ones are dropped (a few hundred bytes an entry).
const MAX_ENTRIES: usize = 200_000;
/// How long a secret that matched no key is refused without a database query.
pub const MISS_MS: i64 = 5_000;
/// Unknown secrets remembered at most (about 80 bytes each).
const MAX_MISSES: usize = 50_000;

struct CachedKey {
    key: Arc<ApiKey>,
    loaded_at: i64,
    refreshing: bool,
    /// Spend and uses settlements added to this secret's entries so far (carried over by reloads).
    added: Money,
    added_times: i64,
}

/// Taken before a key is read from the database and handed back with what was read: an invalidation since
/// then keeps the read out of the cache, and spend settled since then (which the read may not show) is
/// added to it. Spend settled just before the read started and added just after is counted twice until
/// the next reload, a window of microseconds.
#[derive(Clone, Copy, Debug)]
pub struct ReadTicket {
    generation: u64,
    added: Money,
    added_times: i64,
}

/// A secret's SHA-256 as 32 bytes (`secrets::token_digest`): half the size of its hex, kept twice per key.
pub type Digest = [u8; 32];

#[derive(Default)]
struct KeyMaps {
    by_hash: HashMap<Digest, CachedKey>,
    hash_of: HashMap<i64, Digest>,
    /// Secrets that matched no key, and when that was read.
    misses: HashMap<Digest, i64>,
    /// Counts invalidations: a read that started before one is not cached.
    generation: u64,
}

impl KeyMaps {
    fn clear_refreshing(&mut self, digest: &Digest) {
        if let Some(c) = self.by_hash.get_mut(digest) {
            c.refreshing = false;
        }
    }
}

/// A key served from the cache, and the ticket for reading it again in the background when it is due.
pub struct CachedHit {
    pub key: Arc<ApiKey>,
    pub refresh: Option<ReadTicket>,
}

#[derive(Default)]
pub struct KeyCache {
    maps: Mutex<KeyMaps>,
}

impl KeyCache {
    /// The cached key for a secret's digest, when it was loaded less than `FRESH_MS` ago; `refresh` is set
    /// for the one caller that should read it again now.
    pub fn get(&self, digest: &Digest, now: i64) -> Option<CachedHit> {
        let mut maps = self.maps.lock().ok()?;
        let generation = maps.generation;
        let c = maps.by_hash.get_mut(digest).filter(|c| now - c.loaded_at < FRESH_MS)?;
        let due = !c.refreshing && now - c.loaded_at >= REFRESH_AFTER_MS;
        c.refreshing |= due;
        let refresh = due.then_some(ReadTicket { generation, added: c.added, added_times: c.added_times });
        Some(CachedHit { key: Arc::clone(&c.key), refresh })
    }

    /// The cached key for a digest read within `max_age`, however stale: stands in while the database is away.
    pub fn recent(&self, digest: &Digest, now: i64, max_age: i64) -> Option<Arc<ApiKey>> {
        let maps = self.maps.lock().ok()?;
        maps.by_hash.get(digest).filter(|c| now - c.loaded_at <= max_age).map(|c| Arc::clone(&c.key))
    }

    /// True when this secret matched no key less than `MISS_MS` ago.
    pub fn known_missing(&self, digest: &Digest, now: i64) -> bool {
        self.maps.lock().is_ok_and(|m| m.misses.get(digest).is_some_and(|at| now - at < MISS_MS))
    }

    /// Remembers that a secret matched no key (unless a key changed since the ticket was taken).
    pub fn remember_missing(&self, digest: &Digest, now: i64, ticket: ReadTicket) {
        let Ok(mut maps) = self.maps.lock() else { return };
        if maps.generation != ticket.generation {
            return;
        }
        if maps.misses.len() >= MAX_MISSES {
            maps.misses.retain(|_, at| now - *at < MISS_MS);
            if maps.misses.len() >= MAX_MISSES {
                maps.misses.clear();
            }
        }
        maps.misses.insert(*digest, now);
    }

    /// Taken before reading a secret's key from the database, handed to [`put`](Self::put) with the read.
    pub fn ticket(&self, digest: &Digest) -> ReadTicket {
        let Ok(maps) = self.maps.lock() else {
            return ReadTicket { generation: u64::MAX, added: Money::ZERO, added_times: 0 };
        };
        let (added, added_times) = maps.by_hash.get(digest).map_or((Money::ZERO, 0), |c| (c.added, c.added_times));
        ReadTicket { generation: maps.generation, added, added_times }
    }

    /// Caches a key read at `read_at` (unless an invalidation came after the ticket was taken), with the
    /// spend settled since the ticket added to what was read.
    pub fn put(&self, digest: &Digest, mut key: ApiKey, read_at: i64, ticket: ReadTicket) -> Arc<ApiKey> {
        let Ok(mut maps) = self.maps.lock() else { return Arc::new(key) };
        if maps.generation != ticket.generation {
            // Read again by the next call that finds it due (or, past its freshness, missing).
            maps.clear_refreshing(digest);
            return Arc::new(key);
        }
        if maps.by_hash.len() >= MAX_ENTRIES {
            maps.by_hash.retain(|_, c| read_at - c.loaded_at < FRESH_MS);
            let KeyMaps { by_hash, hash_of, .. } = &mut *maps;
            hash_of.retain(|_, h| by_hash.contains_key(h));
        }
        let (mut added, mut added_times) = (Money::ZERO, 0);
        if let Some(old) = maps.by_hash.get(digest).filter(|c| c.key.id == key.id) {
            (added, added_times) = (old.added, old.added_times);
            key.spent = key.spent.saturating_add(old.added.saturating_sub(ticket.added).max(Money::ZERO));
            key.used_times += (old.added_times - ticket.added_times).max(0);
            key.last_used_at = key.last_used_at.max(old.key.last_used_at);
        }
        let key = Arc::new(key);
        maps.hash_of.insert(key.id, *digest);
        let entry = CachedKey { key: Arc::clone(&key), loaded_at: read_at, refreshing: false, added, added_times };
        maps.by_hash.insert(*digest, entry);
        key
    }

    /// A background read failed: the next call that finds the entry due tries again.
    pub fn refresh_failed(&self, digest: &Digest) {
        if let Ok(mut maps) = self.maps.lock() {
            maps.clear_refreshing(digest);
        }
    }

    /// A background read found the key gone (deleted): the next call reads it and is refused.
    pub fn forget(&self, digest: &Digest) {
        let Ok(mut maps) = self.maps.lock() else { return };
        if let Some(c) = maps.by_hash.remove(digest) {
            maps.hash_of.remove(&c.key.id);
        }
    }

    /// What a cached key has spent, its settled calls included.
    pub fn spent(&self, key_id: i64) -> Option<Money> {
        let maps = self.maps.lock().ok()?;
        let hash = maps.hash_of.get(&key_id)?;
        maps.by_hash.get(hash).map(|c| c.key.spent)
    }

    /// A settled call's charge, counted on the cached key until it is next read from the database.
    pub fn add_spend(&self, key_id: i64, amount: Money, now: i64) {
        let Ok(mut maps) = self.maps.lock() else { return };
        let Some(hash) = maps.hash_of.get(&key_id).copied() else { return };
        if let Some(c) = maps.by_hash.get_mut(&hash) {
            let mut k = (*c.key).clone();
            k.spent = k.spent.saturating_add(amount);
            k.used_times += 1;
            k.last_used_at = Some(now);
            c.key = Arc::new(k);
            c.added = c.added.saturating_add(amount);
            c.added_times += 1;
        }
    }

    /// Forgets an account's keys after one of them changed (renamed, disabled, capped, deleted).
    pub fn invalidate_user(&self, user_id: i64) {
        let Ok(mut maps) = self.maps.lock() else { return };
        maps.generation += 1;
        maps.misses.clear();
        let KeyMaps { by_hash, hash_of, .. } = &mut *maps;
        by_hash.retain(|_, c| c.key.user_id != user_id);
        hash_of.retain(|_, h| by_hash.contains_key(h));
    }

    pub fn len(&self) -> usize {
        self.maps.lock().map(|m| m.by_hash.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Each account's cumulative paid top-ups (minor units), which set its requests-per-minute tier.
#[derive(Default)]
pub struct TierCache {
    inner: Mutex<Tiers>,
}

#[derive(Default)]
struct Tiers {
    /// Account id -> (paid minor units, read at, a background read is out).
    paid: HashMap<i64, (i64, i64, bool)>,
    /// Counts invalidations: a read that started before one is not cached.
    generation: u64,
}

impl TierCache {
    /// The account's paid total while fresh, and whether the caller should read it again in the background.
    pub fn get(&self, user_id: i64, now: i64) -> Option<(i64, bool)> {
        let mut tiers = self.inner.lock().ok()?;
        let (paid, at, refreshing) = tiers.paid.get_mut(&user_id).filter(|(_, at, _)| now - *at < FRESH_MS)?;
        let refresh = !*refreshing && now - *at >= REFRESH_AFTER_MS;
        *refreshing |= refresh;
        Some((*paid, refresh))
    }

    /// The account's paid total read within `max_age`: stands in while the database is away.
    pub fn recent(&self, user_id: i64, now: i64, max_age: i64) -> Option<i64> {
        let tiers = self.inner.lock().ok()?;
        tiers.paid.get(&user_id).filter(|(_, at, _)| now - *at <= max_age).map(|(paid, _, _)| *paid)
    }

    /// Taken before reading an account's paid total, handed to [`put`](Self::put) with what was read.
    pub fn generation(&self) -> u64 {
        self.inner.lock().map(|t| t.generation).unwrap_or(u64::MAX)
    }

    pub fn put(&self, user_id: i64, paid_minor: i64, read_at: i64, generation: u64) {
        let Ok(mut tiers) = self.inner.lock() else { return };
        if tiers.generation != generation {
            Self::clear_refreshing(&mut tiers, user_id);
            return;
        }
        if tiers.paid.len() >= MAX_ENTRIES {
            tiers.paid.retain(|_, (_, at, _)| read_at - *at < FRESH_MS);
        }
        tiers.paid.insert(user_id, (paid_minor, read_at, false));
    }

    /// A background read failed: the next call that finds the entry due tries again.
    pub fn refresh_failed(&self, user_id: i64) {
        if let Ok(mut tiers) = self.inner.lock() {
            Self::clear_refreshing(&mut tiers, user_id);
        }
    }

    fn clear_refreshing(tiers: &mut Tiers, user_id: i64) {
        if let Some((_, _, refreshing)) = tiers.paid.get_mut(&user_id) {
            *refreshing = false;
        }
    }

    /// A top-up raised the account's tier: read it again on the next call.
    pub fn invalidate(&self, user_id: i64) {
        if let Ok(mut tiers) = self.inner.lock() {
            tiers.generation += 1;
            tiers.paid.remove(&user_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::secrets::token_digest as h;

    fn key(id: i64, user_id: i64) -> ApiKey {
        ApiKey {
            id,
            user_id,
            name: "k".into(),
            prefix: "sk-gh-abcd…".into(),
            created_at: 0,
            expires_at: None,
            spend_cap: Some(Money::from_units(100)),
            models: vec![],
            disabled: false,
            last_used_at: None,
            used_times: 0,
            spent: Money::ZERO,
            can_manage: false,
            limits_from_page: true,
        }
    }

    #[test]
    fn keys_are_served_while_fresh_and_count_settled_spend() {
        let cache = KeyCache::default();
        cache.put(&h("h1"), key(1, 7), 0, cache.ticket(&h("h1")));
        assert!(cache.get(&h("h1"), FRESH_MS - 1).is_some());
        assert!(cache.get(&h("h1"), FRESH_MS).is_none(), "stale entries are read again");
        cache.add_spend(1, Money::from_units(100), 10);
        let k = cache.get(&h("h1"), 20).unwrap().key;
        assert_eq!(k.spent, Money::from_units(100));
        assert_eq!(cache.spent(1), Some(Money::from_units(100)));
        assert_eq!((k.used_times, k.last_used_at), (1, Some(10)));
    }

    #[test]
    fn a_key_in_use_is_refreshed_once_before_it_expires_keeping_the_spend_settled_meanwhile() {
        let cache = KeyCache::default();
        cache.put(&h("k"), key(1, 7), 0, cache.ticket(&h("k")));
        cache.add_spend(1, Money::from_units(10), 100);
        assert!(cache.get(&h("k"), REFRESH_AFTER_MS - 1).unwrap().refresh.is_none());
        let ticket = cache.get(&h("k"), REFRESH_AFTER_MS).unwrap().refresh.expect("the first caller past 4 s");
        assert!(cache.get(&h("k"), REFRESH_AFTER_MS + 1).unwrap().refresh.is_none(), "one refresh at a time");
        // A settlement lands while the refresh is out, and the read does not show it.
        cache.add_spend(1, Money::from_units(40), 4_100);
        let mut read = key(1, 7);
        (read.spent, read.used_times) = (Money::from_units(10), 1);
        cache.put(&h("k"), read, 4_000, ticket);
        let k = cache.get(&h("k"), 4_200).unwrap().key;
        assert_eq!((k.spent, k.used_times), (Money::from_units(50), 2));
        assert!(cache.get(&h("k"), 4_000 + FRESH_MS - 1).is_some(), "fresh again from the read");
        // The next read shows both: nothing is counted twice.
        let ticket = cache.ticket(&h("k"));
        let mut read = key(1, 7);
        (read.spent, read.used_times) = (Money::from_units(50), 2);
        let k = cache.put(&h("k"), read, 8_000, ticket);
        assert_eq!((k.spent, k.used_times), (Money::from_units(50), 2));
        cache.forget(&h("k"));
        assert!(cache.get(&h("k"), 8_100).is_none());
    }

    #[test]
    fn unknown_secrets_are_remembered_briefly_and_forgotten_when_a_key_changes() {
        let cache = KeyCache::default();
        let digest = [9u8; 32];
        let ticket = cache.ticket(&digest);
        assert!(!cache.known_missing(&digest, 0));
        cache.remember_missing(&digest, 0, ticket);
        assert!(cache.known_missing(&digest, MISS_MS - 1));
        assert!(!cache.known_missing(&digest, MISS_MS), "only briefly");
        cache.remember_missing(&digest, 10, cache.ticket(&digest));
        cache.invalidate_user(1);
        assert!(!cache.known_missing(&digest, 11), "a key change forgets every miss");
        // A miss read before a key changed is not remembered.
        let stale = cache.ticket(&digest);
        cache.invalidate_user(1);
        cache.remember_missing(&digest, 20, stale);
        assert!(!cache.known_missing(&digest, 21));
    }

    #[test]
    fn while_the_database_is_away_a_recently_read_key_still_stands() {
        let cache = KeyCache::default();
        let digest = [3u8; 32];
        cache.put(&digest, key(1, 1), 0, cache.ticket(&digest));
        assert!(cache.get(&digest, FRESH_MS).is_none(), "no longer fresh");
        assert!(cache.recent(&digest, 60_000, 60_000).is_some());
        assert!(cache.recent(&digest, 60_001, 60_000).is_none());
    }

    #[test]
    fn a_failed_refresh_is_tried_again_by_the_next_call() {
        let cache = KeyCache::default();
        cache.put(&h("k"), key(1, 7), 0, cache.ticket(&h("k")));
        assert!(cache.get(&h("k"), REFRESH_AFTER_MS).unwrap().refresh.is_some());
        cache.refresh_failed(&h("k"));
        assert!(cache.get(&h("k"), REFRESH_AFTER_MS + 1).unwrap().refresh.is_some());
    }

    #[test]
    fn a_read_that_started_before_an_invalidation_is_not_cached() {
        let cache = KeyCache::default();
        let ticket = cache.ticket(&h("k"));
        cache.invalidate_user(7);
        let k = cache.put(&h("k"), key(1, 7), 0, ticket);
        assert_eq!(k.id, 1, "the caller still gets what it read");
        assert!(cache.get(&h("k"), 1).is_none());
    }

    #[test]
    fn a_change_to_an_account_forgets_its_keys_only() {
        let cache = KeyCache::default();
        for (name, id, user) in [("a", 1, 7), ("b", 2, 7), ("c", 3, 8)] {
            cache.put(&h(name), key(id, user), 0, cache.ticket(&h(name)));
        }
        cache.invalidate_user(7);
        assert!(cache.get(&h("a"), 1).is_none() && cache.get(&h("b"), 1).is_none());
        assert!(cache.get(&h("c"), 1).is_some());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn tiers_expire_are_refreshed_ahead_and_are_invalidated_by_top_ups() {
        let cache = TierCache::default();
        cache.put(1, 2000, 0, cache.generation());
        assert_eq!(cache.get(1, 1), Some((2000, false)));
        assert_eq!(cache.get(1, REFRESH_AFTER_MS), Some((2000, true)));
        assert_eq!(cache.get(1, REFRESH_AFTER_MS), Some((2000, false)));
        let before_top_up = cache.generation();
        cache.invalidate(1);
        assert_eq!(cache.get(1, 1), None);
        cache.put(1, 1000, 0, before_top_up);
        assert_eq!(cache.get(1, 1), None, "a read from before the top-up is not kept");
        cache.put(1, 2000, 0, cache.generation());
        assert_eq!(cache.get(1, FRESH_MS), None);
    }
}
