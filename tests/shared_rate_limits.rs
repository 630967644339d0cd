#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Rate limits shared through the real Redis by instances that lease cells: together they admit no more
//! than the limit, a busy account costs few round trips, and cells a lease did not use go back.

use gatehouse::server::proxy::rate_limit::{RateLimiter, LEASE_MS};
use gatehouse::server::proxy::redis_client::{RedisClient, Reply};
use gatehouse::server::time::now_ms;
use std::time::{Duration, Instant};

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
    // The burst's 2400 take a few hundred round trips (leases of up to 10); after it each call makes one.
    let trips = instances[0].round_trips() + instances[1].round_trips();
    let after_burst = u64::from(refused + admitted.saturating_sub(2380));
    assert!(trips < 600 + after_burst, "{trips} round trips for {admitted} admitted and {refused} refused");
}

async fn pttl(redis: &RedisClient, key: &str) -> i64 {
    match redis.command(&[b"PTTL", key.as_bytes()]).await.unwrap() {
        Reply::Integer(ms) => ms,
        other => panic!("no key: {other:?}"),
    }
}

/// Eight calls at 2400 a minute (25 ms a cell): leases of 1, 2, 4 and 8 cells, so 15 cells (375 ms) are
/// counted in Redis and 7 of them are left unused in the lease.
async fn lease_with_seven_left(limiter: &RateLimiter, account: i64) {
    for _ in 0..8 {
        limiter.check(account, 2400, now_ms()).await.unwrap();
    }
    assert_eq!(limiter.round_trips(), 4);
}

#[tokio::test]
async fn cells_left_in_an_expired_lease_are_given_back() {
    let prefix = prefix("give-back");
    let limiter = RateLimiter::redis(REDIS, &prefix).unwrap();
    let redis = RedisClient::new(REDIS).unwrap();
    let key = format!("{prefix}:rl:9");
    let t0 = now_ms();
    lease_with_seven_left(&limiter, 9).await;
    let before = pttl(&redis, &key).await;
    let elapsed = now_ms() - t0;
    // The limiter counts in µs and the key's time to live is rounded up to the next ms: up to 1 ms more.
    assert!((375 - elapsed - 5..=376).contains(&before), "15 cells ahead: {before} ms ({elapsed} ms elapsed)");
    // Past the lease the unused cells still ahead go back, and a lease of 4 is taken: 100 ms ahead. Kept,
    // they would leave the account 375 - 250 + 100 = 225 ms ahead.
    tokio::time::sleep(Duration::from_millis(u64::try_from(LEASE_MS).unwrap())).await;
    limiter.check(9, 2400, now_ms()).await.unwrap();
    assert_eq!(limiter.round_trips(), 5);
    let after = pttl(&redis, &key).await;
    assert!((90..=101).contains(&after), "4 cells ahead of now: {after} ms");
}

#[tokio::test]
async fn cells_whose_time_has_passed_are_not_given_back_over_other_instances_calls() {
    let prefix = prefix("late-give-back");
    let first = RateLimiter::redis(REDIS, &prefix).unwrap();
    let second = RateLimiter::redis(REDIS, &prefix).unwrap();
    let redis = RedisClient::new(REDIS).unwrap();
    let key = format!("{prefix}:rl:5");
    lease_with_seven_left(&first, 5).await;
    // The first instance's 15 cells lie in the past once 375 ms have gone; the second then takes 25 cells.
    tokio::time::sleep(Duration::from_millis(450)).await;
    for _ in 0..20 {
        second.check(5, 2400, now_ms()).await.unwrap();
    }
    let before = pttl(&redis, &key).await;
    // The first instance's next call gives back nothing (its unused cells' time has passed) and leases 4:
    // 100 ms more. Giving back its 7 cells would take 175 ms of the second instance's calls.
    first.check(5, 2400, now_ms()).await.unwrap();
    let after = pttl(&redis, &key).await;
    // Each time to live is rounded up to a whole ms, so the difference may read 1 ms more.
    assert!((90..=101).contains(&(after - before)), "4 cells more: {before} -> {after} ms");
}

/// A TCP proxy in front of the real Redis that can play dead: while `hung`, it accepts connections and
/// forwards nothing (a hung Redis, not a refused one).
async fn hangable_redis() -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hung = std::sync::Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let flag = hung.clone();
    tokio::spawn(async move {
        loop {
            let (client, _) = listener.accept().await.unwrap();
            let flag = flag.clone();
            tokio::spawn(async move {
                if flag.load(Ordering::SeqCst) {
                    // Hold the connection open and say nothing.
                    tokio::time::sleep(Duration::from_secs(600)).await;
                    drop(client);
                    return;
                }
                let server = tokio::net::TcpStream::connect("127.0.0.1:6379").await.unwrap();
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up_flag = flag.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        if !up_flag.load(Ordering::SeqCst) && sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = sr.read(&mut buf).await {
                    if n == 0 || cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (format!("redis://{addr}"), hung)
}

/// When Redis hangs, the instance keeps limiting with what it knew (the calls it admitted through Redis),
/// asks Redis once rather than on every call, and once Redis answers again the calls it admitted meanwhile
/// count in the shared limit.
#[tokio::test]
async fn a_hung_redis_is_detected_once_gives_no_fresh_quota_and_is_paid_back_when_it_returns() {
    use gatehouse::server::proxy::rate_limit::COOL_DOWN_MS;
    use std::sync::atomic::Ordering;
    let (url, hung) = hangable_redis().await;
    let prefix = prefix("outage");
    let limiter = RateLimiter::redis(&url, &prefix).unwrap();
    let account = 77;
    for _ in 0..30 {
        limiter.check(account, 60, now_ms()).await.expect("the first 30 of 60 through Redis");
    }
    hung.store(true, Ordering::SeqCst);
    let trips_before = limiter.round_trips();
    let (mut admitted, mut refused) = (0, 0);
    for _ in 0..40 {
        match limiter.check(account, 60, now_ms()).await {
            Ok(()) => admitted += 1,
            Err(_) => refused += 1,
        }
    }
    assert!((29..=31).contains(&admitted), "memory remembered the 30 used: {admitted} admitted, {refused} refused");
    assert_eq!(limiter.round_trips() - trips_before, 1, "Redis asked once, not on every call");

    // Redis is back: past the cool-down one call probes it, and the calls admitted in memory count there.
    hung.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(u64::try_from(COOL_DOWN_MS).unwrap() + 100)).await;
    let mut after = 0;
    for _ in 0..40 {
        if limiter.check(account, 60, now_ms()).await.is_ok() {
            after += 1;
        }
    }
    // 30 through Redis and about 30 in memory: only the seconds that passed since have room again.
    assert!(after <= 5, "{after} admitted after Redis came back");
    assert!(limiter.round_trips() - trips_before >= 40, "Redis is asked again once it answers");
    // Another instance sharing Redis sees the same account as spent.
    let other = RateLimiter::redis(REDIS, &prefix).unwrap();
    assert!(other.check(account, 60, now_ms()).await.is_err(), "the shared limit counts the outage's calls");
}
