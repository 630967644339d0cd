//! Property test of the production money path: random sequences of admissions (the admission book),
//! settlements of running calls committed together in batches (the settlement writer and `settle_batch`),
//! releases, replays, top-ups, package grants, and the passing of time (package expiries, swept holds),
//! run against a plain in-memory model of the rules. After every step the balance, every package, every
//! bill's split, what the book holds and the audit must agree. Runs on SQLite or PostgreSQL (TEST_DATABASE).
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use gatehouse::server::db::Db;
use gatehouse::server::domain::audit;
use gatehouse::server::domain::channels::Scope;
use gatehouse::server::domain::ledger::{self, Credit, EntryKind, Grant};
use gatehouse::server::domain::money::Money;
use gatehouse::server::domain::packages::{self, PackageSource};
use gatehouse::server::domain::pricing::Usage;
use gatehouse::server::proxy::admission_book::{Admission, AdmissionBook, BookError};
use gatehouse::server::proxy::hot_cache::KeyCache;
use gatehouse::server::proxy::settlement_writer::{PendingSettlement, SettlementWriter};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::Arc;

const START: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;
const HOLD_TTL: i64 = 2 * HOUR;

/// The calls the API can make: (channel, model).
const ROUTES: [(&str, &str); 6] = [
    ("cc-omg", "claude-sonnet-4-5"),
    ("codex-omg", "gpt-5.5"),
    ("default", "claude-sonnet-4-5"),
    ("default", "gpt-5.5"),
    ("web-chat", "claude-sonnet-4-5"),
    ("web-chat", "gpt-5.5"),
];

#[derive(Clone, Debug)]
enum Op {
    TopUp {
        cents: i64,
    },
    Grant {
        cents: i64,
        hours: i64,
        codex: bool,
    },
    Admit {
        cents: i64,
        route: usize,
    },
    /// Settles up to `calls` running calls together, each at `percent` of its worst case.
    Settle {
        calls: usize,
        percent: i64,
    },
    Release,
    Replay,
    Wait {
        hours: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (1i64..2_000).prop_map(|cents| Op::TopUp { cents }),
        1 => (1i64..800, 1i64..72, any::<bool>()).prop_map(|(cents, hours, codex)| Op::Grant { cents, hours, codex }),
        3 => (1i64..500, 0usize..ROUTES.len()).prop_map(|(cents, route)| Op::Admit { cents, route }),
        2 => (1usize..6, 0i64..=100).prop_map(|(calls, percent)| Op::Settle { calls, percent }),
        1 => Just(Op::Release),
        1 => Just(Op::Replay),
        1 => (1i64..24).prop_map(|hours| Op::Wait { hours }),
    ]
}

#[derive(Clone, Debug)]
struct ModelPackage {
    id: i64,
    remaining: i64,
    expires_at: i64,
    codex: bool,
}

impl ModelPackage {
    /// The Claude Code scope pays for cc-omg and Claude models in web chat; the CodeX one for codex-omg.
    fn covers(&self, channel: &str, model: &str) -> bool {
        if self.codex {
            channel == "codex-omg"
        } else {
            channel == "cc-omg" || channel == "web-chat" && model.starts_with("claude")
        }
    }
}

#[derive(Clone, Debug)]
struct ModelHold {
    route: usize,
    worst: i64,
    balance: i64,
    /// Package money reserved: (package id, amount).
    packages: Vec<(i64, i64)>,
    since: i64,
}

#[derive(Default, Debug)]
struct Model {
    balance: i64,
    packages: Vec<ModelPackage>,
    holds: BTreeMap<String, ModelHold>,
    /// Settled calls: request key -> (route, official, packages paid, balance paid).
    settled: BTreeMap<String, (usize, i64, i64, i64)>,
}

fn multiplier(channel: &str) -> Decimal {
    if channel == "cc-omg" || channel == "codex-omg" {
        Decimal::new(2, 1)
    } else {
        Decimal::ONE
    }
}

fn cents(c: i64) -> Money {
    Money::from_units(c * 10_000_000)
}

fn share(amount: i64, channel: &str) -> i64 {
    Money::from_units(amount).to_decimal().checked_mul(multiplier(channel)).and_then(Money::round_from).unwrap().units()
}

/// The admission rule, plainly: refused at a balance <= 0; otherwise the call reserves package money no
/// running call reserved, from the packages that can pay for it until its hold ends (soonest expiry first),
/// and is refused when it needs the balance while running calls' balance reservations already reach the
/// balance plus those packages' worth at the channel's rate.
fn model_admit(m: &Model, worst: i64, channel: &str, model: &str, now: i64) -> Option<(Vec<(i64, i64)>, i64)> {
    if m.balance <= 0 {
        return None;
    }
    let until = now + HOLD_TTL;
    let mut usable: Vec<&ModelPackage> =
        m.packages.iter().filter(|p| p.expires_at > until && p.remaining > 0 && p.covers(channel, model)).collect();
    usable.sort_by_key(|p| (p.expires_at, p.id));
    let reserved = |id: i64| -> i64 {
        m.holds.values().flat_map(|h| h.packages.iter()).filter(|(p, _)| *p == id).map(|(_, a)| a).sum()
    };
    let mut left = worst;
    let mut taken = Vec::new();
    for p in &usable {
        let take = left.min((p.remaining - reserved(p.id)).max(0));
        if take > 0 {
            taken.push((p.id, take));
            left -= take;
        }
    }
    let from_balance = share(left, channel);
    let balance_held: i64 = m.holds.values().map(|h| h.balance).sum();
    let available: i64 = usable.iter().map(|p| p.remaining).sum();
    if from_balance > 0 && balance_held >= m.balance + share(available, channel) {
        return None;
    }
    Some((taken, from_balance))
}

/// The charge rule, plainly: packages that can pay now, soonest expiry first, from what they hold; the
/// balance pays the rest at the channel's rate. Running calls' reservations play no part.
fn model_charge(m: &mut Model, official: i64, channel: &str, model: &str, now: i64) -> (i64, i64) {
    let mut order: Vec<usize> = (0..m.packages.len())
        .filter(|&i| {
            let p = &m.packages[i];
            p.expires_at > now && p.remaining > 0 && p.covers(channel, model)
        })
        .collect();
    order.sort_by_key(|&i| (m.packages[i].expires_at, m.packages[i].id));
    let mut left = official;
    for i in order {
        let take = left.min(m.packages[i].remaining);
        m.packages[i].remaining -= take;
        left -= take;
    }
    let balance = share(left, channel);
    m.balance -= balance;
    (official - left, balance)
}

struct Rig {
    db: Db,
    book: Arc<AdmissionBook>,
    writer: SettlementWriter,
}

fn pending(user: i64, key: &str, route: usize, official: i64, now: i64) -> PendingSettlement {
    let (channel, model) = ROUTES[route];
    PendingSettlement {
        outcome: Default::default(),
        latency_ms: None,
        request_id: None,
        user_id: user,
        request_key: key.to_string(),
        api_key_id: None,
        key_name: None,
        channel,
        model: model.to_string(),
        usage: Usage { input: u64::try_from(official).unwrap() % 1000, ..Usage::default() },
        official: Money::from_units(official),
        multiplier: multiplier(channel),
        now,
    }
}

async fn run_case(rig: &Rig, case: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let (db, book) = (&rig.db, &rig.book);
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
                book.invalidate(user);
                m.balance += cents(c).units();
            }
            Op::Grant { cents: c, hours, codex } => {
                let scope = Scope::parse(if codex { "codex-omg" } else { "cc-omg,web-chat:claude-*" }).unwrap();
                let g = Grant {
                    user_id: user,
                    key: &key,
                    title: "package",
                    scope: &scope,
                    amount: cents(c),
                    lifetime_ms: hours * HOUR,
                    source: PackageSource::Promotion,
                    now,
                };
                let id = ledger::grant_package_now(db.pool(), g).await.unwrap().package_id;
                book.invalidate(user);
                m.packages.push(ModelPackage {
                    id,
                    remaining: cents(c).units(),
                    expires_at: now + hours * HOUR,
                    codex,
                });
            }
            Op::Admit { cents: c, route } => {
                let (channel, model) = ROUTES[route];
                let a = Admission {
                    user_id: user,
                    request_key: &key,
                    channel,
                    model,
                    worst_case: cents(c),
                    multiplier: multiplier(channel),
                    ttl_ms: HOLD_TTL,
                    now,
                    key_cap: None,
                };
                let expected = model_admit(&m, cents(c).units(), channel, model, now);
                match book.admit(db, a).await {
                    Ok(h) => {
                        let got: Vec<(i64, i64)> = h.packages.iter().map(|(id, a)| (*id, a.units())).collect();
                        prop_assert_eq!(Some((got.clone(), h.balance.units())), expected, "{:?}", m);
                        let hold = ModelHold {
                            route,
                            worst: cents(c).units(),
                            balance: h.balance.units(),
                            packages: got,
                            since: now,
                        };
                        m.holds.insert(key.clone(), hold);
                    }
                    Err(BookError::Refused(_)) => {
                        prop_assert!(expected.is_none(), "refused although the rule admits: {m:?}")
                    }
                    Err(e) => return Err(TestCaseError::fail(e.to_string())),
                }
            }
            Op::Settle { calls, percent } => {
                // Running calls finish together: their charges are committed in one batch.
                let finishing: Vec<String> = m.holds.keys().take(calls).cloned().collect();
                for k in &finishing {
                    let h = m.holds.remove(k).unwrap();
                    let official = h.worst * percent / 100;
                    let (channel, model) = ROUTES[h.route];
                    let (p, b) = model_charge(&mut m, official, channel, model, now);
                    m.settled.insert(k.clone(), (h.route, official, p, b));
                    rig.writer.submit(pending(user, k, h.route, official, now)).await;
                }
                rig.writer.flush().await;
                for k in &finishing {
                    let (_, official, p, b) = m.settled[k];
                    let bill: (i64, i64, i64) = sqlx::query_as(
                        "SELECT official_cost, packages_paid, balance_paid FROM bills WHERE request_key = $1",
                    )
                    .bind(k)
                    .fetch_one(db.pool())
                    .await
                    .unwrap();
                    prop_assert_eq!(bill, (official, p, b), "bill of {}", k);
                }
            }
            Op::Release => {
                if let Some(k) = m.holds.keys().next().cloned() {
                    book.release(user, &k);
                    m.holds.remove(&k);
                }
            }
            Op::Replay => {
                if let Some((k, (route, official, _, _))) = m.settled.iter().next_back().map(|(k, v)| (k.clone(), *v)) {
                    rig.writer.submit(pending(user, &k, route, official, now)).await;
                    rig.writer.flush().await;
                }
            }
            Op::Wait { hours } => {
                now += hours * HOUR;
                book.sweep(now, HOLD_TTL);
                m.holds.retain(|_, h| now - h.since <= HOLD_TTL);
            }
        }
        // Invariants after every step.
        let (balance,): (i64,) =
            sqlx::query_as("SELECT balance FROM users WHERE id = $1").bind(user).fetch_one(db.pool()).await.unwrap();
        prop_assert_eq!(balance, m.balance);
        prop_assert_eq!(book.balance_held(user).units(), m.holds.values().map(|h| h.balance).sum::<i64>());
        let listed = packages::list(db.pool(), user, now).await.unwrap();
        for p in &m.packages {
            let actual = listed.iter().find(|l| l.id == p.id).unwrap();
            prop_assert_eq!(actual.remaining.units(), p.remaining);
            prop_assert!(actual.remaining.units() >= 0);
        }
        let report = audit::run(db.pool(), now).await.unwrap();
        prop_assert!(report.is_clean(), "{:?}", report.breaches);
    }
    for k in m.holds.keys() {
        book.release(user, k);
    }
    Ok(())
}

fn rand_suffix() -> String {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn random_sequences_of_money_operations_on_the_production_path_keep_every_invariant() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let rig = rt.block_on(async {
        let db = common::fresh_db().await;
        let book = Arc::new(AdmissionBook::default());
        let writer = SettlementWriter::start(db.clone(), Arc::new(KeyCache::default()), Arc::clone(&book));
        Rig { db, book, writer }
    });
    let cases: u32 = std::env::var("LEDGER_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let case = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&prop::collection::vec(op(), 1..40), |ops| {
            let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            rt.block_on(run_case(&rig, n, ops))
        })
        .unwrap();
}
