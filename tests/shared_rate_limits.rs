#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Rate limits shared through the real Redis by instances that lease cells: together they admit no more
//! than the limit, a busy account costs few round trips, and cells a lease did not use go back.

use gatehouse::server::proxy::rate_limit::{RateLimiter, LEASE_MS};
use gatehouse::server::proxy::redis_client::{RedisClient, Reply};
use gatehouse::server::time::now_ms;
use std::time::Instant;

const REDIS: &str = "redis://127.0.0.1:6379";

fn prefix(test: &str) -> String {
    format!("gatehouse-test-{test}-{}", now_ms())
}

#[tokio::test]
async fn two_leasing_instances_together_admit_the_limit_and_no_more() {
    let prefix = prefix("lease-pair");
    let instances = [RateLimiter::redis(REDIS, &prefix).unwrap(), RateLimiter::redis(REDIS, &prefix).unwrap()];
    // 2400 a minute: a burst of 2400, then one every 25 ms; leases of up to 10 cells.
    let started = Instant::now();
    let (mut admitted, mut refused) = (0u32, 0u32);
    for i in 0..6000 {
        match instances[i % 2].check(42, 2400, now_ms()).await {
            Ok(()) => admitted += 1,
            Err(wait) => {
                assert!((1..=25).contains(&wait), "one interval at most: {wait}");
                refused += 1;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let refilled = (secs * 40.0).ceil() as u32 + 1;
    // Cells still leased when the loop ended (10 each at most) were counted in Redis but not used.
    assert!(admitted >= 2400 - 20 && admitted <= 2400 + refilled, "{admitted} admitted in {secs:.2} s");
    assert_eq!(admitted + refused, 6000);
    let trips = instances[0].round_trips() + instances[1].round_trips();
    assert!(trips < u64::from(admitted) / 4 + u64::from(refused), "{trips} round trips for {admitted} admitted");
}

#[tokio::test]
async fn cells_left_in_an_expired_lease_are_given_back() {
    let prefix = prefix("give-back");
    let limiter = RateLimiter::redis(REDIS, &prefix).unwrap();
    let redis = RedisClient::new(REDIS).unwrap();
    let key = format!("{prefix}:rl:9");
    let pttl = || async { redis.command(&[b"PTTL", key.as_bytes()]).await.unwrap() };
    // Leases of 1, 2, 4 and 8 cells for 8 calls: 15 cells counted in Redis (15 x 25 ms), 7 unused.
    let t0 = now_ms();
    for _ in 0..8 {
        limiter.check(9, 2400, t0).await.unwrap();
    }
    assert_eq!(limiter.round_trips(), 4);
    let Reply::Integer(before) = pttl().await else { panic!("no key") };
    let elapsed = now_ms() - t0;
    assert!((375 - elapsed - 5..=375).contains(&before), "15 cells ahead: {before} ms ({elapsed} ms elapsed)");
    // Past the lease (by the instance's clock, which is all a lease goes by): the 7 come back and a lease
    // of 4 is taken, 12 cells ahead instead of 19.
    limiter.check(9, 2400, t0 + LEASE_MS).await.unwrap();
    assert_eq!(limiter.round_trips(), 5);
    let Reply::Integer(after) = pttl().await else { panic!("no key") };
    let elapsed = now_ms() - t0;
    assert!((300 - elapsed - 5..=300).contains(&after), "12 cells ahead: {after} ms ({elapsed} ms elapsed)");
}
