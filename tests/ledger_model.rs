//! Property test: random sequences of top-ups, grants, holds, settlements, releases, replays and the
//! passing of time, run against the real ledger and against a plain in-memory model. After every step
//! the balance, every package and the audit must agree. Runs on SQLite or PostgreSQL (TEST_DATABASE).
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use gatehouse::server::db::Db;
use gatehouse::server::domain::account;
use gatehouse::server::domain::audit;
use gatehouse::server::domain::ledger::{self, Admission, Credit, EntryKind, Grant, LedgerError, Settlement};
use gatehouse::server::domain::money::Money;
use gatehouse::server::domain::packages::{self, PackageSource};
use gatehouse::server::domain::pricing::Usage;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rust_decimal::Decimal;
use std::collections::HashMap;

const START: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;
const HOLD_TTL: i64 = 2 * HOUR;

#[derive(Clone, Debug)]
enum Op {
    TopUp { cents: i64 },
    Grant { cents: i64, hours: i64, codex_only: bool },
    Hold { cents: i64, channel: u8 },
    Settle { cents: i64, channel: u8, own_hold: bool },
    Release,
    Replay,
    Wait { hours: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i64..2_000).prop_map(|cents| Op::TopUp { cents }),
        (1i64..800, 1i64..72, any::<bool>()).prop_map(|(cents, hours, codex_only)| Op::Grant {
            cents,
            hours,
            codex_only
        }),
        (1i64..500, 0u8..3).prop_map(|(cents, channel)| Op::Hold { cents, channel }),
        (0i64..800, 0u8..3, any::<bool>()).prop_map(|(cents, channel, own_hold)| Op::Settle {
            cents,
            channel,
            own_hold
        }),
        Just(Op::Release),
        Just(Op::Replay),
        (1i64..24).prop_map(|hours| Op::Wait { hours }),
    ]
}

#[derive(Clone, Debug)]
struct ModelPackage {
    id: i64,
    remaining: i64,
    expires_at: i64,
    scope: Vec<&'static str>,
}

#[derive(Default, Debug)]
struct Model {
    balance: i64,
    packages: Vec<ModelPackage>,
    /// Open holds: request key -> (balance part, expires at, package part).
    holds: HashMap<String, (i64, i64, i64)>,
    /// Settled calls: request key -> (official, channel), for replays.
    settled: Vec<(String, i64, &'static str)>,
}

const CHANNELS: [&str; 3] = ["cc-omg", "codex-omg", "default"];

fn multiplier(channel: &str) -> Decimal {
    if channel == "default" {
        Decimal::ONE
    } else {
        Decimal::new(2, 1)
    }
}

fn cents(c: i64) -> Money {
    Money::from_units(c * 10_000_000)
}

fn balance_share(amount: i64, channel: &str) -> i64 {
    Money::from_units(amount).to_decimal().checked_mul(multiplier(channel)).and_then(Money::round_from).unwrap().units()
}

/// What packages able to pay `channel` until `until` still hold.
fn package_funds(m: &Model, channel: &str, until: i64) -> i64 {
    m.packages
        .iter()
        .filter(|p| p.expires_at > until && p.remaining > 0 && p.scope.contains(&channel))
        .map(|p| p.remaining)
        .sum()
}

/// The model's admission: what the call reserves, or `None` when it is refused.
fn model_admit(m: &Model, worst: i64, channel: &str, now: i64) -> Option<(i64, i64)> {
    if m.balance <= 0 {
        return None;
    }
    let package_held: i64 = m.holds.values().map(|h| h.2).sum();
    let balance_held: i64 = m.holds.values().map(|h| h.0).sum();
    let free = (package_funds(m, channel, now + HOLD_TTL) - package_held).max(0);
    let from_packages = worst.min(free);
    let from_balance = balance_share(worst - from_packages, channel);
    if from_balance > 0 && m.balance - balance_held <= 0 {
        return None;
    }
    Some((from_packages, from_balance))
}

/// The model's charge: the same rule, written plainly. Other open holds keep their package reservations.
fn model_charge(m: &mut Model, key: &str, official: i64, channel: &str, now: i64) -> (i64, i64) {
    let others: i64 = m.holds.iter().filter(|(k, _)| k.as_str() != key).map(|(_, h)| h.2).sum();
    let cap = (package_funds(m, channel, now) - others).max(0);
    let mut order: Vec<usize> = (0..m.packages.len())
        .filter(|&i| {
            let p = &m.packages[i];
            p.expires_at > now && p.remaining > 0 && p.scope.contains(&channel)
        })
        .collect();
    order.sort_by_key(|&i| (m.packages[i].expires_at, m.packages[i].id));
    let mut left = official.min(cap);
    let mut from_packages = 0;
    for i in order {
        let take = left.min(m.packages[i].remaining);
        m.packages[i].remaining -= take;
        from_packages += take;
        left -= take;
    }
    let balance = balance_share(official - from_packages, channel);
    m.balance -= balance;
    (from_packages, balance)
}

async fn run_case(db: &Db, case: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let user = common::insert_user(db, &format!("model-{case}-{}@example.com", rand_suffix())).await;
    let mut m = Model::default();
    let mut now = START;
    let mut seq = 0;
    for op in ops {
        seq += 1;
        let key = format!("u{user}-op{seq}");
        match op {
            Op::TopUp { cents: c } => {
                let credit = Credit {
                    user_id: user,
                    key: &key,
                    kind: EntryKind::Topup,
                    amount: cents(c),
                    paid_minor: c,
                    memo: "top-up",
                    now,
                };
                ledger::credit_now(db.pool(), credit).await.unwrap();
                m.balance += cents(c).units();
            }
            Op::Grant { cents: c, hours, codex_only } => {
                let scope: Vec<&'static str> = if codex_only { vec!["codex-omg"] } else { vec!["cc-omg", "web-chat"] };
                let owned: Vec<String> = scope.iter().map(|s| s.to_string()).collect();
                let g = Grant {
                    user_id: user,
                    key: &key,
                    title: "package",
                    scope: &owned,
                    amount: cents(c),
                    lifetime_ms: hours * HOUR,
                    source: PackageSource::Promotion,
                    now,
                };
                let id = ledger::grant_package_now(db.pool(), g).await.unwrap().package_id;
                m.packages.push(ModelPackage {
                    id,
                    remaining: cents(c).units(),
                    expires_at: now + hours * HOUR,
                    scope,
                });
            }
            Op::Hold { cents: c, channel } => {
                let channel = CHANNELS[usize::from(channel)];
                let a = Admission {
                    user_id: user,
                    request_key: &key,
                    channel,
                    worst_case: cents(c),
                    multiplier: multiplier(channel),
                    ttl_ms: HOLD_TTL,
                    now,
                };
                let expected = model_admit(&m, cents(c).units(), channel, now);
                match ledger::place_hold(db.pool(), a).await {
                    Ok(h) => {
                        prop_assert_eq!(Some((h.packages.units(), h.balance.units())), expected, "{:?}", m);
                        m.holds.insert(key.clone(), (h.balance.units(), now + HOLD_TTL, h.packages.units()));
                    }
                    Err(LedgerError::Refused(_)) => {
                        prop_assert!(expected.is_none(), "refused although funds are free: {m:?}")
                    }
                    Err(e) => return Err(TestCaseError::fail(e.to_string())),
                }
            }
            Op::Settle { cents: c, channel, own_hold } => {
                let channel = CHANNELS[usize::from(channel)];
                // Settle the oldest open hold (as the proxy would), or a call without a hold while others run.
                let request_key =
                    if own_hold { m.holds.keys().min().cloned().unwrap_or_else(|| key.clone()) } else { key.clone() };
                let s = Settlement {
                    user_id: user,
                    request_key: &request_key,
                    api_key_id: None,
                    key_name: None,
                    channel,
                    model: "claude-sonnet-4-5",
                    usage: Usage::default(),
                    official: cents(c),
                    multiplier: multiplier(channel),
                    now,
                    reserved_by_others: None,
                };
                let done = ledger::settle(db.pool(), s).await.unwrap();
                let (p, b) = model_charge(&mut m, &request_key, cents(c).units(), channel, now);
                prop_assert_eq!((done.packages_paid.units(), done.balance_paid.units()), (p, b));
                m.holds.remove(&request_key);
                m.settled.push((request_key, cents(c).units(), channel));
            }
            Op::Release => {
                if let Some(k) = m.holds.keys().min().cloned() {
                    prop_assert!(ledger::release_hold(db.pool(), user, &k, now).await.unwrap());
                    m.holds.remove(&k);
                }
            }
            Op::Replay => {
                if let Some((k, official, channel)) = m.settled.last().cloned() {
                    let s = Settlement {
                        user_id: user,
                        request_key: &k,
                        api_key_id: None,
                        key_name: None,
                        channel,
                        model: "claude-sonnet-4-5",
                        usage: Usage::default(),
                        official: Money::from_units(official),
                        multiplier: multiplier(channel),
                        now,
                        reserved_by_others: None,
                    };
                    prop_assert!(ledger::settle(db.pool(), s).await.unwrap().replayed);
                }
            }
            Op::Wait { hours } => {
                now += hours * HOUR;
                ledger::sweep_stale_holds(db.pool(), now).await.unwrap();
                m.holds.retain(|_, h| h.1 > now);
            }
        }
        // Invariants after every step.
        let money = account::money_of(db.pool(), user).await.unwrap().unwrap();
        prop_assert_eq!(money.balance.units(), m.balance);
        prop_assert_eq!(money.balance_held.units(), m.holds.values().map(|h| h.0).sum::<i64>());
        let listed = packages::list(db.pool(), user, now).await.unwrap();
        for p in &m.packages {
            let actual = listed.iter().find(|l| l.id == p.id).unwrap();
            prop_assert_eq!(actual.remaining.units(), p.remaining);
            prop_assert!(actual.remaining.units() >= 0);
        }
        let report = audit::run(db.pool(), now).await.unwrap();
        prop_assert!(report.is_clean(), "{:?}", report.breaches);
    }
    Ok(())
}

fn rand_suffix() -> String {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn random_sequences_of_money_operations_keep_every_invariant() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let db = rt.block_on(common::fresh_db());
    let cases: u32 = std::env::var("LEDGER_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let case = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&prop::collection::vec(op(), 1..40), |ops| {
            let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            rt.block_on(run_case(&db, n, ops))
        })
        .unwrap();
}
