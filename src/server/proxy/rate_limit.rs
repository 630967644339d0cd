//! Requests-per-minute limits with GCRA (generic cell rate algorithm): one timestamp per account, a full
//! minute's burst allowed, refused calls told when to retry. In memory for one instance.

use std::collections::HashMap;
use std::sync::Mutex;

const WINDOW_MS: i64 = 60_000;

#[derive(Default)]
pub struct RateLimiter {
    /// Account id -> theoretical arrival time (unix ms) of the next request.
    tat: Mutex<HashMap<i64, i64>>,
}

impl RateLimiter {
    /// Admits one request for `account` under `rpm`, or says how many ms to wait.
    pub fn check(&self, account: i64, rpm: u32, now: i64) -> Result<(), i64> {
        let interval = (WINDOW_MS / i64::from(rpm.max(1))).max(1);
        let tolerance = WINDOW_MS - interval;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixty_rpm_allows_a_minute_of_burst_then_one_per_second() {
        let limiter = RateLimiter::default();
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
