//! Requests-per-minute limits with GCRA (generic cell rate algorithm): one timestamp per account, a full
//! minute's burst allowed, refused calls told when to retry.
//!
//! In memory for one instance by default. With `REDIS_URL` set, every instance runs the same GCRA step as
//! one Lua script inside Redis, with Redis's clock, so several instances share one limit per account. A
//! busy account's instance reserves several cells in one round trip (a lease, see [`Leases`]) and admits
//! the next calls from them, so most of its calls wait for no round trip.
//!
//! When Redis cannot be reached the instance limits in its own memory (it never refuses calls because the
//! limiter is down) and says so in the log. That memory is not a fresh quota: every call admitted through
//! Redis is also recorded there, so an account keeps what it used on this instance. A failed or hung
//! Redis is found out once: for [`COOL_DOWN_MS`] calls go straight to memory, then one call tries Redis
//! again ([`Breaker`]). An account admitted in memory meanwhile has its shared time moved at least as far
//! ahead as memory put it, with the account's next round trip once Redis answers again: the calls count,
//! and time that passed still frees room as it would have.

use super::redis_client::{RedisClient, Reply};
use crate::server::time::monotonic_ms;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

const WINDOW_MS: i64 = 60_000;
/// GCRA runs in microseconds, so every rate keeps its exact interval: in whole milliseconds, a tier above
/// 60,000 a minute would have been held to 60,000.
const WINDOW_US: i64 = 60_000_000;
/// How long leased cells stay usable: a call admitted from a lease was counted in Redis at most this long
/// before it ran, so the shared limit holds with this much slack in time and never in count.
pub const LEASE_MS: i64 = 250;
/// Cells leased in one round trip at most.
const MAX_LEASE: u32 = 64;
/// After Redis failed, how long calls are limited in memory before one tries Redis again.
pub const COOL_DOWN_MS: i64 = 2_000;

/// GCRA's emission interval and burst tolerance for a rate, in µs.
fn gcra_params(rpm: u32) -> (i64, i64) {
    let interval = (WINDOW_US / i64::from(rpm.max(1))).max(1);
    (interval, WINDOW_US - interval)
}

/// A wait in µs as whole ms, rounded up (a caller told to retry in 0 ms would retry too soon).
fn wait_ms(us: i64) -> i64 {
    (us + 999) / 1000
}

/// One GCRA step in memory.
#[derive(Default)]
pub struct MemoryLimiter {
    /// Account id -> theoretical arrival time (unix µs) of the next request.
    tat: Mutex<HashMap<i64, i64>>,
}

impl MemoryLimiter {
    /// Admits one request for `account` under `rpm`, or says how many ms to wait.
    pub fn check(&self, account: i64, rpm: u32, now: i64) -> Result<(), i64> {
        let (interval, tolerance) = gcra_params(rpm);
        let now = now.saturating_mul(1000);
        let Ok(mut map) = self.tat.lock() else { return Ok(()) };
        let tat = map.get(&account).copied().unwrap_or(now).max(now);
        if tat - now > tolerance {
            return Err(wait_ms(tat - now - tolerance));
        }
        map.insert(account, tat + interval);
        if map.len() > 100_000 {
            map.retain(|_, t| *t > now);
        }
        Ok(())
    }

    /// How far ahead of `now` (ms) the account's next request time is, in µs (0 when it is not ahead), at
    /// most `rpm`'s burst tolerance.
    pub fn lead_us(&self, account: i64, rpm: u32, now: i64) -> i64 {
        let (_, tolerance) = gcra_params(rpm);
        let now = now.saturating_mul(1000);
        self.tat.lock().ok().and_then(|m| m.get(&account).copied()).map_or(0, |tat| (tat - now).clamp(0, tolerance))
    }

    /// Counts a request admitted elsewhere (through Redis), whatever room is left.
    pub fn record(&self, account: i64, rpm: u32, now: i64) {
        let (interval, _) = gcra_params(rpm);
        let now = now.saturating_mul(1000);
        if let Ok(mut map) = self.tat.lock() {
            let tat = map.get(&account).copied().unwrap_or(now).max(now);
            map.insert(account, tat + interval);
        }
    }
}

/// Whether Redis is worth asking: closed (healthy), open for [`COOL_DOWN_MS`] after a failure, then
/// half-open: one call probes while the others stay in memory.
#[derive(Default)]
pub struct Breaker {
    /// Monotonic ms until which Redis is not asked (0: healthy).
    down_until: AtomicI64,
    probing: std::sync::atomic::AtomicBool,
}

impl Breaker {
    /// May this call ask Redis (at monotonic `now`)?
    pub fn allows(&self, now: i64) -> bool {
        let until = self.down_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        now >= until && self.probing.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    pub fn succeeded(&self) {
        if self.down_until.load(Ordering::Acquire) != 0 {
            self.down_until.store(0, Ordering::Release);
            self.probing.store(false, Ordering::Release);
        }
    }

    pub fn failed(&self, now: i64) {
        self.down_until.store(now + COOL_DOWN_MS, Ordering::Release);
        self.probing.store(false, Ordering::Release);
    }
}

/// The GCRA step as Redis runs it, for `want` cells at once: KEYS[1] the account's key, ARGV interval and
/// tolerance in µs, the cells wanted, then what an expired lease left unused: its µs of cells and the Redis
/// time its cells reached, and last how far ahead of now (µs) this instance's memory put the account while
/// Redis was away: the account's time is moved at least that far, so calls admitted meanwhile count. Only the part of the unused cells still ahead of now is given back (cells whose
/// time has passed were spent by time itself, and taking more would take other calls' cells). Returns
/// {granted, the time the grant reached} with granted 1 to want (as many as the limit has room for), or
/// when there is no room {minus the µs to wait, 0}. The time is Redis's own (µs since 1970: exact in Lua's
/// numbers), so clocks do not matter.
const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local back = math.min(tonumber(ARGV[4]), math.max(0, tonumber(ARGV[5]) - now))
local lead = tonumber(ARGV[6])
local tat = (tonumber(redis.call('GET', KEYS[1])) or now) - back
if tat < now then tat = now end
if tat < now + lead then tat = now + lead end
local room = tolerance - (tat - now)
local granted = 0
if room >= 0 then granted = math.min(want, math.floor(room / interval) + 1) end
local next_tat = tat + granted * interval
if granted > 0 or back > 0 or lead > 0 then
  if next_tat > now then
    redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
  else
    redis.call('DEL', KEYS[1])
  end
end
if granted > 0 then return {granted, next_tat} end
return {room, 0}
";

/// One account's cells leased from Redis by this instance.
#[derive(Debug, Default, Clone, PartialEq)]
struct Lease {
    /// Cells left to admit calls with, until `expires`.
    cells: u32,
    /// Monotonic ms (see [`monotonic_ms`]: a lease must not outlive [`LEASE_MS`] when the wall clock is set back) after which the cells are not used (they are given back with
    /// the next round trip).
    expires: i64,
    /// The µs one cell stood for when it was granted, and the Redis time (µs) the grant reached.
    cell_us: i64,
    redis_end: i64,
    /// Cells asked for at the last round trip: doubled when a lease ran out in time, halved when it expired.
    size: u32,
    /// A round trip for this account is out: calls meanwhile ask for one cell each.
    refilling: bool,
}

/// What a call needs from Redis when no leased cell was left for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refill {
    pub want: u32,
    /// The unused cells of an expired lease, in µs, and the Redis time (µs) they reached.
    pub give_back_us: i64,
    pub give_back_end: i64,
    /// This round trip sizes the lease (the others out at the same time ask for one cell).
    sizing: bool,
}

impl Refill {
    const ONE: Self = Self { want: 1, give_back_us: 0, give_back_end: 0, sizing: false };
}

/// What Redis granted a round trip: cells, the µs each stands for, and the Redis time (µs) they reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub cells: u32,
    pub cell_us: i64,
    pub redis_end: i64,
}

/// The leases of every account this instance has admitted calls for lately.
#[derive(Default)]
pub struct Leases {
    by_account: Mutex<HashMap<i64, Lease>>,
}

/// The most cells worth leasing for a rate: what the account may spend in [`LEASE_MS`] at its sustained
/// rate, so an instance never sits on more than a quarter second of an account's limit (at least one).
fn lease_cap(rpm: u32) -> u32 {
    let per_lease = i64::from(rpm) * LEASE_MS / WINDOW_MS;
    u32::try_from(per_lease).unwrap_or(MAX_LEASE).clamp(1, MAX_LEASE)
}

impl Leases {
    /// Admits the call from a leased cell (`None`), or says what to ask Redis for. A `Some` must be
    /// answered with [`granted`](Self::granted), also when the round trip failed or was abandoned.
    pub fn take(&self, account: i64, rpm: u32, now: i64) -> Option<Refill> {
        let Ok(mut map) = self.by_account.lock() else { return Some(Refill::ONE) };
        let lease = map.entry(account).or_default();
        let live = now < lease.expires;
        if live && lease.cells > 0 {
            lease.cells -= 1;
            return None;
        }
        if lease.refilling {
            return Some(Refill::ONE);
        }
        let unused = if live { 0 } else { std::mem::take(&mut lease.cells) };
        // Ran out while it was live: the account is busy, lease more. Expired: lease less.
        let size = match (lease.size, live) {
            (0, _) => 1,
            (s, true) => s.saturating_mul(2),
            (s, false) => s / 2,
        };
        lease.size = size.clamp(1, lease_cap(rpm));
        lease.refilling = true;
        let refill = Refill {
            want: lease.size,
            give_back_us: i64::from(unused).saturating_mul(lease.cell_us),
            give_back_end: lease.redis_end,
            sizing: true,
        };
        if map.len() > 100_000 {
            map.retain(|_, l| l.refilling || l.expires > now);
        }
        Some(refill)
    }

    /// Records what Redis granted (`None` when the round trip failed or was abandoned): the call that
    /// asked takes one cell, the rest are leased until [`LEASE_MS`] from `now` (taken before asking).
    /// Only a sizing round trip leases; the one-cell ones made meanwhile have nothing to leave.
    pub fn granted(&self, account: i64, refill: Refill, grant: Option<Grant>, now: i64) {
        if !refill.sizing {
            return;
        }
        let Ok(mut map) = self.by_account.lock() else { return };
        let lease = map.entry(account).or_default();
        lease.refilling = false;
        // The lease had no cells left when this round trip was sized (`take`), and none came since.
        if let Some(grant) = grant {
            lease.cells = grant.cells.saturating_sub(1);
            lease.expires = now + LEASE_MS;
            lease.cell_us = grant.cell_us;
            lease.redis_end = grant.redis_end;
        }
    }
}

/// Answers a refill when its round trip ends any other way than through `granted` (the caller's future
/// was dropped, say, when the client went away), so the account can size a lease again.
struct RefillGuard<'a> {
    leases: &'a Leases,
    account: i64,
    refill: Option<Refill>,
    now: i64,
}

impl RefillGuard<'_> {
    fn finish(mut self, grant: Option<Grant>) {
        if let Some(refill) = self.refill.take() {
            self.leases.granted(self.account, refill, grant, self.now);
        }
    }
}

impl Drop for RefillGuard<'_> {
    fn drop(&mut self) {
        if let Some(refill) = self.refill.take() {
            self.leases.granted(self.account, refill, None, self.now);
        }
    }
}

pub struct RedisLimiter {
    client: RedisClient,
    /// Keys are `{prefix}:rl:{account}`, so several deployments can share one Redis.
    prefix: String,
    leases: Leases,
    /// Round trips made (calls admitted from a lease make none).
    round_trips: AtomicU64,
    /// Unix ms of the last "Redis unreachable" warning (one a minute at most).
    last_warned: AtomicI64,
    breaker: Breaker,
    /// Accounts admitted in memory while Redis was away, whose shared time is still to be moved.
    owed: Mutex<std::collections::HashSet<i64>>,
}

impl RedisLimiter {
    /// Limits a call in memory while Redis is away; an admitted call is owed to the shared limit.
    fn in_memory(&self, fallback: &MemoryLimiter, account: i64, rpm: u32, now: i64) -> Result<(), i64> {
        let admitted = fallback.check(account, rpm, now);
        if admitted.is_ok() {
            if let Ok(mut owed) = self.owed.lock() {
                owed.insert(account);
            }
        }
        admitted
    }

    /// Whether the account was admitted in memory while Redis was away (and forgets it).
    fn take_owed(&self, account: i64) -> bool {
        self.owed.lock().is_ok_and(|mut o| o.remove(&account))
    }

    fn restore_owed(&self, account: i64, owed: bool) {
        if owed {
            if let Ok(mut o) = self.owed.lock() {
                o.insert(account);
            }
        }
    }
}

pub enum RateLimiter {
    Memory(MemoryLimiter),
    Redis { redis: Box<RedisLimiter>, fallback: MemoryLimiter },
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::Memory(MemoryLimiter::default())
    }
}

impl RateLimiter {
    /// Limits shared through Redis (`redis://[:password@]host[:port][/db]`).
    pub fn redis(url: &str, prefix: &str) -> Result<Self, String> {
        let client = RedisClient::new(url)?;
        Ok(Self::Redis {
            redis: Box::new(RedisLimiter {
                client,
                prefix: prefix.to_string(),
                leases: Leases::default(),
                round_trips: AtomicU64::new(0),
                last_warned: AtomicI64::new(0),
                breaker: Breaker::default(),
                owed: Mutex::default(),
            }),
            fallback: MemoryLimiter::default(),
        })
    }

    pub fn shared(&self) -> bool {
        matches!(self, Self::Redis { .. })
    }

    /// Round trips to Redis so far (0 without Redis).
    pub fn round_trips(&self) -> u64 {
        match self {
            Self::Memory(_) => 0,
            Self::Redis { redis, .. } => redis.round_trips.load(Ordering::Relaxed),
        }
    }

    /// Admits one request for `account` under `rpm`, or says how many ms to wait. `now` (unix ms) serves
    /// the in-memory limiter; leases go by a monotonic clock read here.
    pub async fn check(&self, account: i64, rpm: u32, now: i64) -> Result<(), i64> {
        match self {
            Self::Memory(m) => m.check(account, rpm, now),
            Self::Redis { redis, fallback } => {
                let asked_at = monotonic_ms();
                let Some(refill) = redis.leases.take(account, rpm, asked_at) else {
                    fallback.record(account, rpm, now);
                    return Ok(());
                };
                let guard = RefillGuard { leases: &redis.leases, account, refill: Some(refill), now: asked_at };
                if !redis.breaker.allows(asked_at) {
                    guard.finish(None);
                    return redis.in_memory(fallback, account, rpm, now);
                }
                let (interval, tolerance) = gcra_params(rpm);
                let key = format!("{}:rl:{account}", redis.prefix);
                let owed = redis.take_owed(account);
                let lead = if owed { fallback.lead_us(account, rpm, now) } else { 0 };
                let args =
                    [interval, tolerance, i64::from(refill.want), refill.give_back_us, refill.give_back_end, lead]
                        .map(|n| n.to_string());
                let args = args.each_ref().map(String::as_str);
                redis.round_trips.fetch_add(1, Ordering::Relaxed);
                let reply = redis.client.eval_script(GCRA_SCRIPT, &[key.as_str()], &args).await;
                let answer = match &reply {
                    Ok(Reply::Array(items)) => match items.as_slice() {
                        [Reply::Integer(n), Reply::Integer(end)] => Some((*n, *end)),
                        _ => None,
                    },
                    _ => None,
                };
                let grant = answer.filter(|(n, _)| *n > 0).map(|(n, end)| Grant {
                    cells: u32::try_from(n).unwrap_or(1),
                    cell_us: interval,
                    redis_end: end,
                });
                guard.finish(grant);
                match answer {
                    Some((n, _)) if n > 0 => {
                        redis.breaker.succeeded();
                        fallback.record(account, rpm, now);
                        Ok(())
                    }
                    Some((n, _)) => {
                        redis.breaker.succeeded();
                        Err(wait_ms(-n))
                    }
                    None => {
                        redis.restore_owed(account, owed);
                        redis.breaker.failed(monotonic_ms());
                        let last = redis.last_warned.load(Ordering::Relaxed);
                        if now - last > WINDOW_MS {
                            redis.last_warned.store(now, Ordering::Relaxed);
                            match reply {
                                Err(e) => {
                                    tracing::warn!(error = %e, "Redis rate limit unavailable; limiting in memory")
                                }
                                Ok(r) => {
                                    tracing::warn!(reply = ?r, "Redis rate limit gave an odd reply; limiting in memory")
                                }
                            }
                        }
                        redis.in_memory(fallback, account, rpm, now)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_redis_is_left_alone_for_the_cool_down_then_probed_by_one_call() {
        let b = Breaker::default();
        assert!(b.allows(0));
        b.failed(100);
        assert!(!b.allows(100));
        assert!(!b.allows(100 + COOL_DOWN_MS - 1));
        assert!(b.allows(100 + COOL_DOWN_MS), "one call probes");
        assert!(!b.allows(100 + COOL_DOWN_MS), "the others stay in memory while it does");
        b.failed(100 + COOL_DOWN_MS);
        assert!(!b.allows(100 + COOL_DOWN_MS + 1));
        b.succeeded();
        assert!(b.allows(0) && b.allows(0));
    }

    #[test]
    fn memory_keeps_what_redis_admitted() {
        let m = MemoryLimiter::default();
        for _ in 0..60 {
            m.record(7, 60, 1_000);
        }
        assert!(m.check(7, 60, 1_000).is_err(), "no fresh quota when Redis goes away");
        assert!(m.check(8, 60, 1_000).is_ok());
    }

    #[test]
    fn sixty_rpm_allows_a_minute_of_burst_then_one_per_second() {
        let limiter = MemoryLimiter::default();
        for _ in 0..60 {
            assert!(limiter.check(1, 60, 0).is_ok());
        }
        let wait = limiter.check(1, 60, 0).unwrap_err();
        assert_eq!(wait, 1000);
        assert!(limiter.check(1, 60, 999).is_err());
        assert!(limiter.check(1, 60, 1000).is_ok());
        assert!(limiter.check(2, 60, 0).is_ok(), "accounts are limited separately");
    }

    #[test]
    fn tiers_above_sixty_thousand_a_minute_keep_their_rate() {
        // 120,000 a minute: a minute's burst, then two a millisecond (whole ms would have allowed one).
        let limiter = MemoryLimiter::default();
        for _ in 0..120_000 {
            assert!(limiter.check(1, 120_000, 0).is_ok());
        }
        assert_eq!(limiter.check(1, 120_000, 0), Err(1));
        assert!(limiter.check(1, 120_000, 1).is_ok());
        assert!(limiter.check(1, 120_000, 1).is_ok());
        assert!(limiter.check(1, 120_000, 1).is_err());
        assert_eq!(gcra_params(120_000), (500, 59_999_500));
        assert_eq!(gcra_params(1_000_000).0, 60);
    }

    fn grant(cells: u32, redis_end: i64) -> Option<Grant> {
        Some(Grant { cells, cell_us: 6_000, redis_end })
    }

    /// Takes a cell for one call, granting whatever Redis is asked for; returns the round trip's wish.
    fn call(leases: &Leases, rpm: u32, now: i64) -> Option<Refill> {
        let refill = leases.take(7, rpm, now);
        if let Some(r) = refill {
            leases.granted(7, r, grant(r.want, 1_000 + now), now);
        }
        refill
    }

    #[test]
    fn a_busy_account_leases_more_cells_each_time_up_to_a_quarter_second_of_its_rate() {
        let leases = Leases::default();
        let mut wants = Vec::new();
        for _ in 0..200 {
            if let Some(r) = call(&leases, 10_000, 0) {
                wants.push(r.want);
            }
        }
        // 10 000 a minute is 41 in a quarter second.
        assert_eq!(wants[..7], [1, 2, 4, 8, 16, 32, 41]);
        assert!(wants[7..].iter().all(|w| *w == 41), "{wants:?}");
        assert_eq!(wants.iter().sum::<u32>(), 200 + leases.by_account.lock().unwrap()[&7].cells);
        assert_eq!(lease_cap(100_000_000), MAX_LEASE);
    }

    #[test]
    fn the_free_tier_makes_a_round_trip_for_every_call() {
        let leases = Leases::default();
        for _ in 0..50 {
            let refill = call(&leases, 60, 0).unwrap();
            assert_eq!((refill.want, refill.give_back_us, refill.sizing), (1, 0, true));
        }
    }

    #[test]
    fn expired_cells_go_back_to_redis_and_the_next_lease_is_smaller() {
        let leases = Leases::default();
        for _ in 0..4 {
            call(&leases, 10_000, 0);
        }
        // Leases of 1, 2 and 4 for 4 calls: 3 cells left, usable until LEASE_MS.
        assert_eq!(leases.take(7, 10_000, LEASE_MS - 1), None);
        let refill = leases.take(7, 10_000, LEASE_MS).unwrap();
        // Two cells of 6 ms each, which reached the Redis time of the last grant.
        assert_eq!(refill, Refill { want: 2, give_back_us: 12_000, give_back_end: 1_000, sizing: true });
    }

    #[test]
    fn calls_during_a_round_trip_ask_for_one_cell_each_and_a_failure_ends_the_refill() {
        let leases = Leases::default();
        call(&leases, 10_000, 0);
        let sizing = leases.take(7, 10_000, 1).unwrap();
        assert_eq!(sizing.want, 2);
        let other = leases.take(7, 10_000, 1).unwrap();
        assert_eq!(other, Refill::ONE);
        leases.granted(7, other, grant(1, 1_001), 1);
        leases.granted(7, sizing, None, 1);
        // Nothing was leased, and the next call sizes a lease again.
        assert_eq!(leases.take(7, 10_000, 2).map(|r| r.sizing), Some(true));
    }

    #[test]
    fn a_round_trip_abandoned_midway_still_lets_the_account_size_a_lease_again() {
        let leases = Leases::default();
        let refill = leases.take(7, 10_000, 0).unwrap();
        drop(RefillGuard { leases: &leases, account: 7, refill: Some(refill), now: 0 });
        assert_eq!(leases.take(7, 10_000, 1).map(|r| r.sizing), Some(true));
    }
}
