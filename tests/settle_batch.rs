//! `settle_batch` charges a batch exactly as one call at a time (`ledger::settle`, a batch of one): two
//! identical accounts get the same pseudo-random calls, one settled call by call, the other in batches of
//! random sizes, and
//! end with the same balance, packages, bills, ledger sums and key usage, with the audit clean. Replays of
//! a batched call change nothing.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use gatehouse::server::db::Db;
use gatehouse::server::domain::channels::Scope;
use gatehouse::server::domain::ledger::{self, Credit, EntryKind, Grant, LedgerError, Settlement};
use gatehouse::server::domain::money::Money;
use gatehouse::server::domain::packages::PackageSource;
use gatehouse::server::domain::pricing::Usage;
use gatehouse::server::domain::settle_batch::settle_batch;
use gatehouse::server::domain::{account, audit};
use rust_decimal::Decimal;

const NOW: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

/// A small deterministic generator (no extra crate): the same calls for both accounts.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

async fn account_with_funds(db: &Db, email: &str) -> (i64, i64) {
    let user_id = common::insert_user(db, email).await;
    let credit = Credit {
        user_id,
        key: &format!("funds-{user_id}"),
        kind: EntryKind::Adjustment,
        amount: Money::from_units(500_000_000),
        paid_minor: 0,
        memo: "test",
        now: NOW,
    };
    ledger::credit_now(db.pool(), credit).await.unwrap();
    for (n, (usd_cents, scope, days)) in
        [(30, "cc-omg", 1), (20, "cc-omg,web-chat:claude-*", 2)].into_iter().enumerate()
    {
        let scope = Scope::parse(scope).unwrap();
        let g = Grant {
            user_id,
            key: &format!("grant-{user_id}-{n}"),
            title: "test package",
            scope: &scope,
            amount: Money::from_units(usd_cents * 10_000_000),
            lifetime_ms: days * DAY,
            source: PackageSource::Admin,
            now: NOW,
        };
        ledger::grant_package_now(db.pool(), g).await.unwrap();
    }
    (user_id, insert_key(db, user_id, "k").await)
}

async fn insert_key(db: &Db, user_id: i64, name: &str) -> i64 {
    let (key_id,): (i64,) = sqlx::query_as(
        "INSERT INTO api_keys (user_id, key_hash, prefix, name, created_at, models) VALUES ($1, $2, 'sk-gh-x', $3, 0, '') RETURNING id",
    )
    .bind(user_id)
    .bind(format!("hash-{name}-{user_id}"))
    .bind(name)
    .fetch_one(db.pool())
    .await
    .unwrap();
    key_id
}

struct Call {
    channel: &'static str,
    official: Money,
    multiplier: Decimal,
    now: i64,
}

fn calls(seed: u64, n: usize) -> Vec<Call> {
    let mut r = Lcg(seed);
    let mut now = NOW;
    (0..n)
        .map(|_| {
            now += i64::try_from(r.next(3 * 3_600_000)).unwrap(); // some calls land after the first package expires
            let channel = ["cc-omg", "web-chat", "default"][usize::try_from(r.next(3)).unwrap()];
            Call {
                channel,
                official: Money::from_units(i64::try_from(r.next(60_000_000)).unwrap()),
                multiplier: if channel == "default" { Decimal::ONE } else { Decimal::new(2, 1) },
                now,
            }
        })
        .collect()
}

fn settlement<'a>(user_id: i64, key_id: i64, request_key: &'a str, c: &Call) -> Settlement<'a> {
    Settlement {
        facts: Default::default(),
        user_id,
        request_key,
        api_key_id: Some(key_id),
        key_name: Some("k"),
        channel: c.channel,
        model: "claude-sonnet-4-5",
        usage: Usage { input: 100, output: 50, ..Usage::default() },
        official: c.official,
        multiplier: c.multiplier,
        now: c.now,
    }
}

type State = (i64, Vec<i64>, Vec<(i64, i64, i64)>, i64, i64, (i64, i64));

async fn state_of(db: &Db, user_id: i64, key_id: i64) -> State {
    let balance = account::money_of(db.pool(), user_id).await.unwrap().unwrap().balance.units();
    let packages: Vec<(i64,)> = sqlx::query_as("SELECT remaining FROM packages WHERE user_id = $1 ORDER BY id")
        .bind(user_id)
        .fetch_all(db.pool())
        .await
        .unwrap();
    let bills: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT official_cost, packages_paid, balance_paid FROM bills WHERE user_id = $1 ORDER BY created_at, id",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await
    .unwrap();
    let (entries, delta): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(balance_delta), 0) AS BIGINT) FROM ledger_entries WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    let key: (i64, i64) = sqlx::query_as("SELECT used_times, spent FROM api_keys WHERE id = $1")
        .bind(key_id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    (balance, packages.into_iter().map(|p| p.0).collect(), bills, entries, delta, key)
}

#[tokio::test]
async fn batches_charge_exactly_what_one_by_one_settlement_charges() {
    let db = common::fresh_db().await;
    for seed in 1..=6u64 {
        let (one, one_key) = account_with_funds(&db, &format!("one-{seed}@example.com")).await;
        let (many, many_key) = account_with_funds(&db, &format!("many-{seed}@example.com")).await;
        let list = calls(seed, 60);
        let one_keys: Vec<String> = (0..list.len()).map(|i| format!("one-{seed}-{i}")).collect();
        let many_keys: Vec<String> = (0..list.len()).map(|i| format!("many-{seed}-{i}")).collect();
        for (i, c) in list.iter().enumerate() {
            ledger::settle(db.pool(), settlement(one, one_key, &one_keys[i], c)).await.unwrap();
        }
        let mut sizes = Lcg(seed * 7919);
        let mut i = 0;
        while i < list.len() {
            let n = (1 + usize::try_from(sizes.next(12)).unwrap()).min(list.len() - i);
            let batch: Vec<Settlement<'_>> =
                (i..i + n).map(|j| settlement(many, many_key, &many_keys[j], &list[j])).collect();
            let mut tx = db.pool().begin().await.unwrap();
            let done = settle_batch(&mut tx, &batch).await.unwrap();
            tx.commit().await.unwrap();
            assert_eq!(done.len(), n);
            assert!(done.iter().all(|d| !d.replayed && d.bill_id > 0));
            i += n;
        }
        let a = state_of(&db, one, one_key).await;
        let b = state_of(&db, many, many_key).await;
        assert_eq!(a, b, "seed {seed}");
        assert!(
            a.2.iter().any(|bill| bill.1 > 0) && a.2.iter().any(|bill| bill.2 > 0),
            "both packages and balance paid"
        );

        // Replaying batched calls changes nothing and answers with the first result.
        let replay: Vec<Settlement<'_>> = (0..3).map(|j| settlement(many, many_key, &many_keys[j], &list[j])).collect();
        let mut tx = db.pool().begin().await.unwrap();
        let again = settle_batch(&mut tx, &replay).await.unwrap();
        tx.commit().await.unwrap();
        assert!(again.iter().all(|d| d.replayed));
        assert_eq!(state_of(&db, many, many_key).await, b);
    }
    let report = audit::run(db.pool(), NOW + 30 * DAY).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.breaches);
}

#[tokio::test]
async fn batches_mixing_accounts_and_keys_charge_what_one_by_one_settlement_charges() {
    // Three accounts with two keys each, their calls interleaved in batches of up to 80 (more rows than one
    // multi-row statement takes): every account and key ends as if settled call by call.
    let db = common::fresh_db().await;
    for seed in 1..=3u64 {
        let mut one = Vec::new();
        let mut many = Vec::new();
        for a in 0..3 {
            let (u, k) = account_with_funds(&db, &format!("mix-one-{seed}-{a}@example.com")).await;
            one.push((u, [k, insert_key(&db, u, "k2").await]));
            let (u, k) = account_with_funds(&db, &format!("mix-many-{seed}-{a}@example.com")).await;
            many.push((u, [k, insert_key(&db, u, "k2").await]));
        }
        let list = calls(seed + 100, 180);
        let whose = |i: usize| (i % 3, (i / 3) % 2);
        let one_keys: Vec<String> = (0..list.len()).map(|i| format!("mix-one-{seed}-{i}")).collect();
        let many_keys: Vec<String> = (0..list.len()).map(|i| format!("mix-many-{seed}-{i}")).collect();
        for (i, c) in list.iter().enumerate() {
            let (a, k) = whose(i);
            ledger::settle(db.pool(), settlement(one[a].0, one[a].1[k], &one_keys[i], c)).await.unwrap();
        }
        let mut sizes = Lcg(seed * 104_729);
        let mut i = 0;
        while i < list.len() {
            let n = (1 + usize::try_from(sizes.next(80)).unwrap()).min(list.len() - i);
            // As the writer hands them over: accounts in id order, each account's calls in their order.
            let mut batch: Vec<Settlement<'_>> = (i..i + n)
                .map(|j| {
                    let (a, k) = whose(j);
                    settlement(many[a].0, many[a].1[k], &many_keys[j], &list[j])
                })
                .collect();
            batch.sort_by_key(|s| s.user_id);
            let mut tx = db.pool().begin().await.unwrap();
            let done = settle_batch(&mut tx, &batch).await.unwrap();
            tx.commit().await.unwrap();
            assert!(done.iter().all(|d| !d.replayed && d.bill_id > 0));
            i += n;
        }
        for a in 0..3 {
            for k in 0..2 {
                let expected = state_of(&db, one[a].0, one[a].1[k]).await;
                assert_eq!(state_of(&db, many[a].0, many[a].1[k]).await, expected, "seed {seed}, account {a}, key {k}");
            }
        }
    }
    let report = audit::run(db.pool(), NOW + 30 * DAY).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.breaches);
}

#[tokio::test]
async fn a_reused_key_with_other_parameters_fails_the_whole_batch() {
    let db = common::fresh_db().await;
    let (user, key) = account_with_funds(&db, "reuse@example.com").await;
    let list = calls(99, 2);
    let mut tx = db.pool().begin().await.unwrap();
    settle_batch(&mut tx, &[settlement(user, key, "same", &list[0])]).await.unwrap();
    tx.commit().await.unwrap();
    let before = state_of(&db, user, key).await;
    let mut other = settlement(user, key, "same", &list[0]);
    other.official = other.official.saturating_add(Money::from_units(1));
    let mut tx = db.pool().begin().await.unwrap();
    let fresh = settlement(user, key, "fresh", &list[1]);
    assert!(settle_batch(&mut tx, &[fresh, other]).await.is_err());
    drop(tx);
    assert_eq!(state_of(&db, user, key).await, before, "rolled back: nothing half-written");
}

#[tokio::test]
async fn a_call_settled_either_way_is_a_replay_the_other_way_and_its_key_stays_its_accounts() {
    let db = common::fresh_db().await;
    let (user, key) = account_with_funds(&db, "both-ways@example.com").await;
    let (other, other_key) = account_with_funds(&db, "other-account@example.com").await;
    let list = calls(5, 2);
    let mut tx = db.pool().begin().await.unwrap();
    let batched = settle_batch(&mut tx, &[settlement(user, key, "batched", &list[0])]).await.unwrap();
    tx.commit().await.unwrap();
    let single = ledger::settle(db.pool(), settlement(user, key, "single", &list[1])).await.unwrap();
    let before = state_of(&db, user, key).await;

    let again = ledger::settle(db.pool(), settlement(user, key, "batched", &list[0])).await.unwrap();
    assert!(again.replayed);
    assert_eq!((again.bill_id, again.packages_paid, again.balance_paid), {
        let b = &batched[0];
        (b.bill_id, b.packages_paid, b.balance_paid)
    });
    let mut tx = db.pool().begin().await.unwrap();
    let again = settle_batch(&mut tx, &[settlement(user, key, "single", &list[1])]).await.unwrap();
    tx.commit().await.unwrap();
    assert!(again[0].replayed);
    assert_eq!(again[0].bill_id, single.bill_id);
    assert_eq!(state_of(&db, user, key).await, before, "replays change nothing");

    // Another account presenting the same request key is refused, either way.
    assert!(matches!(
        ledger::settle(db.pool(), settlement(other, other_key, "batched", &list[0])).await,
        Err(LedgerError::KeyReused(_))
    ));
    let other_before = state_of(&db, other, other_key).await;
    let mut tx = db.pool().begin().await.unwrap();
    assert!(matches!(
        settle_batch(&mut tx, &[settlement(other, other_key, "single", &list[1])]).await,
        Err(LedgerError::KeyReused(_))
    ));
    drop(tx);
    // The same key with another model, or other usage, is refused too.
    let mut other_model = settlement(user, key, "batched", &list[0]);
    other_model.model = "some-other-model";
    assert!(matches!(ledger::settle(db.pool(), other_model).await, Err(LedgerError::KeyReused(_))));
    let mut more_output = settlement(user, key, "single", &list[1]);
    more_output.usage.output += 1;
    let mut tx = db.pool().begin().await.unwrap();
    assert!(matches!(settle_batch(&mut tx, &[more_output]).await, Err(LedgerError::KeyReused(_))));
    drop(tx);
    assert_eq!(state_of(&db, user, key).await, before);
    assert_eq!(state_of(&db, other, other_key).await, other_before);
}

/// Plans PostgreSQL made while the tables were small must not stay: after the tables have grown, the
/// batch's statements use their indexes, on a connection that ran them many times before (autovacuum is
/// off on some servers, so no statistics arrive to replace a cached plan).
#[tokio::test]
async fn batches_use_the_indexes_after_the_tables_grew() {
    let db = common::fresh_db().await;
    if db.backend() != gatehouse::server::db::Backend::Postgres {
        return; // SQLite plans without statistics and prefers indexes.
    }
    let (user, key) = account_with_funds(&db, "plans@example.com").await;
    let list = calls(3, 150);
    let keys: Vec<String> = (0..list.len()).map(|i| format!("plan-{i}")).collect();
    let mut conn = db.pool().acquire().await.unwrap();
    async fn settle(conn: &mut sqlx::AnyConnection, batch: Vec<Settlement<'_>>) {
        let mut tx = sqlx::Connection::begin(&mut *conn).await.unwrap();
        settle_batch(&mut tx, &batch).await.unwrap();
        tx.commit().await.unwrap();
    }
    async fn seq_scans(conn: &mut sqlx::AnyConnection) -> i64 {
        sqlx::query("SELECT pg_stat_force_next_flush()").execute(&mut *conn).await.unwrap();
        let (n,): (i64,) = sqlx::query_as(
            "SELECT CAST(SUM(seq_scan) AS BIGINT) FROM pg_stat_user_tables \
             WHERE relname IN ('users', 'api_keys', 'bills', 'ledger_entries', 'packages')",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        n
    }
    for i in 0..10 {
        settle(&mut conn, (i * 10..i * 10 + 10).map(|j| settlement(user, key, &keys[j], &list[j])).collect()).await;
    }
    // Other accounts' rows: 20 000 accounts with a key each, 50 000 bills and ledger entries.
    for sql in [
        "INSERT INTO users (email, email_normalized, created_at, last_login_at) \
         SELECT 'u' || g || '@example.com', 'u' || g || '@example.com', 0, 0 FROM generate_series(1, 20000) g",
        "INSERT INTO api_keys (user_id, key_hash, prefix, name, created_at, models) \
         SELECT id, 'hash-' || id, 'sk-gh-x', 'k', 0, '' FROM users WHERE email LIKE 'u%'",
        "INSERT INTO bills (user_id, request_key, channel, model, input_tokens, output_tokens, \
         cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, official_cost, packages_paid, \
         balance_paid, multiplier, created_at) \
         SELECT u.id, 'other-' || g, 'api', 'm', 0, 0, 0, 0, 0, 0, 0, 0, '1', 0 \
         FROM generate_series(1, 50000) g JOIN users u ON u.email = 'u' || (1 + g % 20000) || '@example.com'",
        "INSERT INTO ledger_entries (user_id, idempotency_key, operation_key, kind, balance_delta, balance_after, \
         package_delta, bill_id, memo, created_at) \
         SELECT user_id, request_key, request_key, 'call', 0, 0, 0, id, 'm', 0 FROM bills WHERE request_key LIKE 'other-%'",
    ] {
        sqlx::query(sql).execute(&mut *conn).await.unwrap();
    }
    let before = seq_scans(&mut conn).await;
    for i in 10..15 {
        settle(&mut conn, (i * 10..i * 10 + 10).map(|j| settlement(user, key, &keys[j], &list[j])).collect()).await;
    }
    assert_eq!(seq_scans(&mut conn).await, before, "a batch scanned a whole table");
}
