//! What the proxy reads on every call, kept in memory so a call needs no database read before admission:
//! API keys by the SHA-256 of their secret, and each account's paid total (its rate tier).
//!
//! Entries live a few seconds (`FRESH_MS`), so a change made by another instance is seen within that time.
//! Changes made through this instance (key pages, key-management API, top-ups) invalidate at once, and
//! settlements add their spend to the cached key, so a spending cap holds between reloads.

use crate::server::domain::keys::ApiKey;
use crate::server::domain::money::Money;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How long a cached entry is trusted before it is read again.
pub const FRESH_MS: i64 = 5_000;
/// Above this many entries, stale ones are dropped (a few hundred bytes an entry).
const MAX_ENTRIES: usize = 200_000;

struct CachedKey {
    key: Arc<ApiKey>,
    loaded_at: i64,
}

/// A secret's SHA-256 as 32 bytes (`secrets::token_digest`): half the size of its hex, kept twice per key.
pub type Digest = [u8; 32];

#[derive(Default)]
struct KeyMaps {
    by_hash: HashMap<Digest, CachedKey>,
    hash_of: HashMap<i64, Digest>,
}

#[derive(Default)]
pub struct KeyCache {
    maps: Mutex<KeyMaps>,
}

impl KeyCache {
    /// The cached key for a secret's digest, when it was loaded less than `FRESH_MS` ago.
    pub fn get(&self, digest: &Digest, now: i64) -> Option<Arc<ApiKey>> {
        let maps = self.maps.lock().ok()?;
        maps.by_hash.get(digest).filter(|c| now - c.loaded_at < FRESH_MS).map(|c| Arc::clone(&c.key))
    }

    pub fn put(&self, digest: &Digest, key: ApiKey, now: i64) -> Arc<ApiKey> {
        let key = Arc::new(key);
        if let Ok(mut maps) = self.maps.lock() {
            if maps.by_hash.len() >= MAX_ENTRIES {
                maps.by_hash.retain(|_, c| now - c.loaded_at < FRESH_MS);
                let KeyMaps { by_hash, hash_of } = &mut *maps;
                hash_of.retain(|_, h| by_hash.contains_key(h));
            }
            maps.hash_of.insert(key.id, *digest);
            maps.by_hash.insert(*digest, CachedKey { key: Arc::clone(&key), loaded_at: now });
        }
        key
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
        }
    }

    /// Forgets an account's keys after one of them changed (renamed, disabled, capped, deleted).
    pub fn invalidate_user(&self, user_id: i64) {
        let Ok(mut maps) = self.maps.lock() else { return };
        let KeyMaps { by_hash, hash_of } = &mut *maps;
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
    paid: Mutex<HashMap<i64, (i64, i64)>>,
}

impl TierCache {
    pub fn get(&self, user_id: i64, now: i64) -> Option<i64> {
        let map = self.paid.lock().ok()?;
        map.get(&user_id).filter(|(_, at)| now - at < FRESH_MS).map(|(paid, _)| *paid)
    }

    pub fn put(&self, user_id: i64, paid_minor: i64, now: i64) {
        if let Ok(mut map) = self.paid.lock() {
            if map.len() >= MAX_ENTRIES {
                map.retain(|_, (_, at)| now - *at < FRESH_MS);
            }
            map.insert(user_id, (paid_minor, now));
        }
    }

    /// A top-up raised the account's tier: read it again on the next call.
    pub fn invalidate(&self, user_id: i64) {
        if let Ok(mut map) = self.paid.lock() {
            map.remove(&user_id);
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
        }
    }

    #[test]
    fn keys_are_served_while_fresh_and_count_settled_spend() {
        let cache = KeyCache::default();
        cache.put(&h("h1"), key(1, 7), 0);
        assert!(cache.get(&h("h1"), FRESH_MS - 1).is_some());
        assert!(cache.get(&h("h1"), FRESH_MS).is_none(), "stale entries are read again");
        cache.add_spend(1, Money::from_units(100), 10);
        let k = cache.get(&h("h1"), 20).unwrap();
        assert!(k.cap_reached());
        assert_eq!((k.used_times, k.last_used_at), (1, Some(10)));
    }

    #[test]
    fn a_change_to_an_account_forgets_its_keys_only() {
        let cache = KeyCache::default();
        cache.put(&h("a"), key(1, 7), 0);
        cache.put(&h("b"), key(2, 7), 0);
        cache.put(&h("c"), key(3, 8), 0);
        cache.invalidate_user(7);
        assert!(cache.get(&h("a"), 1).is_none() && cache.get(&h("b"), 1).is_none());
        assert!(cache.get(&h("c"), 1).is_some());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn tiers_expire_and_are_invalidated_by_top_ups() {
        let cache = TierCache::default();
        cache.put(1, 2000, 0);
        assert_eq!(cache.get(1, 1), Some(2000));
        cache.invalidate(1);
        assert_eq!(cache.get(1, 1), None);
        cache.put(1, 2000, 0);
        assert_eq!(cache.get(1, FRESH_MS), None);
    }
}
