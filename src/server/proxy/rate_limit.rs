//! Requests-per-minute limits with GCRA (generic cell rate algorithm): one timestamp per account, a full
//! minute's burst allowed, refused calls told when to retry.
//!
//! In memory for one instance by default. With `REDIS_URL` set, every instance runs the same GCRA step as
//! one Lua script inside Redis, with Redis's clock, so several instances share one limit per account. When
//! Redis cannot be reached the instance falls back to its own memory (it never refuses calls because the
//! limiter is down) and says so in the log.

use super::redis_client::{RedisClient, Reply};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

const WINDOW_MS: i64 = 60_000;

/// GCRA's emission interval and burst tolerance for a rate, in ms.
fn gcra_params(rpm: u32) -> (i64, i64) {
    let interval = (WINDOW_MS / i64::from(rpm.max(1))).max(1);
    (interval, WINDOW_MS - interval)
}

/// One GCRA step in memory.
#[derive(Default)]
pub struct MemoryLimiter {
    /// Account id -> theoretical arrival time (unix ms) of the next request.
    tat: Mutex<HashMap<i64, i64>>,
}

impl MemoryLimiter {
    /// Admits one request for `account` under `rpm`, or says how many ms to wait.
    pub fn check(&self, account: i64, rpm: u32, now: i64) -> Result<(), i64> {
        let (interval, tolerance) = gcra_params(rpm);
        let Ok(mut map) = self.tat.lock() else { return Ok(()) };
        let tat = map.get(&account).copied().unwrap_or(now).max(now);
        if tat - now > tolerance {
            return Err(tat - now - tolerance);
        }
        map.insert(account, tat + interval);
        if map.len() > 100_000 {
            map.retain(|_, t| *t > now);
        }
        Ok(())
    }
}

/// The GCRA step as Redis runs it: KEYS[1] the account's key, ARGV interval and tolerance in ms. Returns 0
/// when admitted, otherwise the ms to wait. The time is Redis's own, so instances' clocks do not matter.
const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local wait = tat - now - tolerance
if wait > 0 then return wait end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.max(1, next_tat - now))
return 0
";

pub struct RedisLimiter {
    client: RedisClient,
    /// Keys are `{prefix}:rl:{account}`, so several deployments can share one Redis.
    prefix: String,
    /// Unix ms of the last "Redis unreachable" warning (one a minute at most).
    last_warned: AtomicI64,
}

pub enum RateLimiter {
    Memory(MemoryLimiter),
    Redis { redis: RedisLimiter, fallback: MemoryLimiter },
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
            redis: RedisLimiter { client, prefix: prefix.to_string(), last_warned: AtomicI64::new(0) },
            fallback: MemoryLimiter::default(),
        })
    }

    pub fn shared(&self) -> bool {
        matches!(self, Self::Redis { .. })
    }

    /// Admits one request for `account` under `rpm`, or says how many ms to wait.
    pub async fn check(&self, account: i64, rpm: u32, now: i64) -> Result<(), i64> {
        match self {
            Self::Memory(m) => m.check(account, rpm, now),
            Self::Redis { redis, fallback } => {
                let (interval, tolerance) = gcra_params(rpm);
                let key = format!("{}:rl:{account}", redis.prefix);
                let args = [interval.to_string(), tolerance.to_string()];
                match redis.client.eval_script(GCRA_SCRIPT, &[key.as_str()], &[&args[0], &args[1]]).await {
                    Ok(Reply::Integer(0)) => Ok(()),
                    Ok(Reply::Integer(wait)) => Err(wait),
                    other => {
                        let last = redis.last_warned.load(Ordering::Relaxed);
                        if now - last > WINDOW_MS {
                            redis.last_warned.store(now, Ordering::Relaxed);
                            match other {
                                Err(e) => {
                                    tracing::warn!(error = %e, "Redis rate limit unavailable; limiting in memory")
                                }
                                Ok(r) => {
                                    tracing::warn!(reply = ?r, "Redis rate limit gave an odd reply; limiting in memory")
                                }
                            }
                        }
                        fallback.check(account, rpm, now)
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
}
