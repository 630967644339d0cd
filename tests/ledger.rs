//! The ledger against a real database (SQLite, or PostgreSQL with TEST_DATABASE=postgres): the seed's
//! charging examples, admission and holds (the admission book, the one admission path), packages first
//! under running calls' reservations, idempotency, concurrency, and the audit.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fresh_db, insert_user};
use gatehouse::server::db::Db;
use gatehouse::server::domain::account;
use gatehouse::server::domain::audit;
use gatehouse::server::domain::channels::{Scope, CLAUDE_CODE_SCOPE};
use gatehouse::server::domain::charge::{Hold, Refusal};
use gatehouse::server::domain::ledger::{self, Credit, EntryKind, Grant, LedgerError, Settlement};
use gatehouse::server::domain::money::Money;
use gatehouse::server::domain::packages::{self, PackageSource};
use gatehouse::server::domain::pricing::{PriceTable, Usage};
use gatehouse::server::proxy::admission_book::{Admission, AdmissionBook, BookError};
use rust_decimal::Decimal;
use std::str::FromStr;

const NOW: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

fn usd(s: &str) -> Money {
    Money::parse_usd(s).unwrap()
}

fn rate(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn cc_scope() -> Scope {
    Scope::parse(CLAUDE_CODE_SCOPE).unwrap()
}

async fn top_up(db: &Db, user_id: i64, amount: &str, key: &str) {
    let c = Credit {
        user_id,
        key,
        kind: EntryKind::Topup,
        amount: usd(amount),
        paid_minor: 0,
        memo: "test top-up",
        now: NOW,
    };
    ledger::credit_now(db.pool(), c).await.unwrap();
}

async fn grant(db: &Db, user_id: i64, amount: &str, days: i64, scope: &Scope, key: &str) -> i64 {
    let g = Grant {
        user_id,
        key,
        title: "Claude Code API $20",
        scope,
        amount: usd(amount),
        lifetime_ms: days * DAY,
        source: PackageSource::Referral,
        now: NOW,
    };
    ledger::grant_package_now(db.pool(), g).await.unwrap().package_id
}

fn call<'a>(user_id: i64, key: &'a str, channel: &'a str, official: Money, now: i64) -> Settlement<'a> {
    Settlement {
        facts: Default::default(),
        user_id,
        request_key: key,
        api_key_id: None,
        key_name: Some("test key"),
        channel,
        model: "claude-opus-4-1",
        usage: Usage { input: 100, output: 100, ..Usage::default() },
        official,
        multiplier: if channel == "default" { Decimal::ONE } else { rate("0.2") },
        now,
    }
}

async fn balance(db: &Db, user_id: i64) -> Money {
    account::money_of(db.pool(), user_id).await.unwrap().unwrap().balance
}

async fn remaining(db: &Db, user_id: i64, package_id: i64) -> Money {
    packages::list(db.pool(), user_id, NOW).await.unwrap().into_iter().find(|p| p.id == package_id).unwrap().remaining
}

async fn assert_audit_clean(db: &Db, now: i64) {
    let report = audit::run(db.pool(), now).await.unwrap();
    assert!(report.is_clean(), "audit breaches: {:?}", report.breaches);
}

#[tokio::test]
async fn the_seed_example_a_one_dollar_opus_call_takes_one_dollar_from_a_package_or_twenty_cents_from_the_balance() {
    let db = fresh_db().await;
    let with_package = insert_user(&db, "with@example.com").await;
    top_up(&db, with_package, "5", "t1").await;
    let pkg = grant(&db, with_package, "20", 30, &cc_scope(), "g1").await;
    let s = ledger::settle(db.pool(), call(with_package, "r1", "cc-omg", usd("1"), NOW)).await.unwrap();
    assert_eq!((s.packages_paid, s.balance_paid), (usd("1"), Money::ZERO));
    assert_eq!(remaining(&db, with_package, pkg).await, usd("19"));
    assert_eq!(balance(&db, with_package).await, usd("5"));

    let without = insert_user(&db, "without@example.com").await;
    top_up(&db, without, "5", "t2").await;
    let s = ledger::settle(db.pool(), call(without, "r2", "cc-omg", usd("1"), NOW)).await.unwrap();
    assert_eq!((s.packages_paid, s.balance_paid), (Money::ZERO, usd("0.2")));
    assert_eq!(balance(&db, without).await, usd("4.8"));
    assert_audit_clean(&db, NOW).await;
}

#[tokio::test]
async fn the_opus_price_from_the_table_flows_into_the_bill() {
    let db = fresh_db().await;
    let user = insert_user(&db, "table@example.com").await;
    top_up(&db, user, "1", "t").await;
    let table = PriceTable::shipped().unwrap();
    let usage = Usage { input: 20_000, output: 9_333, ..Usage::default() };
    let official = table.cost("claude-opus-4-1", &usage).unwrap();
    let mut c = call(user, "r", "cc-omg", official, NOW);
    c.usage = usage;
    let s = ledger::settle(db.pool(), c).await.unwrap();
    assert_eq!(s.balance_paid, usd("0.199995"));
    let (rows, total) =
        gatehouse::server::domain::bills::page(db.pool(), user, &Default::default(), 10, 0).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!(rows[0].official_cost, usd("0.999975"));
    assert_eq!((rows[0].input_tokens, rows[0].output_tokens), (20_000, 9_333));
    assert_eq!(rows[0].multiplier, "0.2");
}

#[tokio::test]
async fn a_half_covered_call_splits_and_the_bill_shows_both_parts() {
    let db = fresh_db().await;
    let user = insert_user(&db, "split@example.com").await;
    top_up(&db, user, "1", "t").await;
    let pkg = grant(&db, user, "0.5", 30, &cc_scope(), "g").await;
    let s = ledger::settle(db.pool(), call(user, "r", "cc-omg", usd("1"), NOW)).await.unwrap();
    assert_eq!((s.packages_paid, s.balance_paid), (usd("0.5"), usd("0.1")));
    assert_eq!(remaining(&db, user, pkg).await, Money::ZERO);
    assert_eq!(balance(&db, user).await, usd("0.9"));
    let deductions = packages::deductions(db.pool(), user, pkg).await.unwrap().unwrap();
    assert_eq!(deductions.len(), 1);
    assert_eq!(deductions[0].amount, usd("0.5"));
    assert_audit_clean(&db, NOW).await;
}

#[tokio::test]
async fn expired_and_out_of_scope_packages_pay_nothing() {
    let db = fresh_db().await;
    let user = insert_user(&db, "expired@example.com").await;
    top_up(&db, user, "2", "t").await;
    let expired = grant(&db, user, "20", 1, &cc_scope(), "g1").await;
    let codex_only = grant(&db, user, "20", 30, &Scope::parse("codex-omg").unwrap(), "g2").await;
    // Two days later the first package has expired; the second does not cover the Claude Code channel.
    let later = NOW + 2 * DAY;
    let s = ledger::settle(db.pool(), call(user, "r", "cc-omg", usd("1"), later)).await.unwrap();
    assert_eq!((s.packages_paid, s.balance_paid), (Money::ZERO, usd("0.2")));
    assert_eq!(remaining(&db, user, expired).await, usd("20"));
    assert_eq!(remaining(&db, user, codex_only).await, usd("20"));
    // The plain channel is outside the Claude Code package's scope, and costs x 1.0.
    let fresh = grant(&db, user, "20", 30, &cc_scope(), "g3").await;
    let s = ledger::settle(db.pool(), call(user, "r2", "default", usd("1"), later)).await.unwrap();
    assert_eq!((s.packages_paid, s.balance_paid), (Money::ZERO, usd("1")));
    assert_eq!(remaining(&db, user, fresh).await, usd("20"));
    assert_audit_clean(&db, later).await;
}

fn admission<'a>(user_id: i64, key: &'a str, worst: &str) -> Admission<'a> {
    Admission {
        user_id,
        request_key: key,
        channel: "cc-omg",
        model: "claude-opus-4-1",
        worst_case: usd(worst),
        multiplier: rate("0.2"),
        ttl_ms: 600_000,
        now: NOW,
        key_cap: None,
    }
}

async fn admit(book: &AdmissionBook, db: &Db, a: Admission<'_>) -> Result<Hold, Refusal> {
    match book.admit(db, a).await {
        Ok(hold) => Ok(hold),
        Err(BookError::Refused(r)) => Err(r),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// Settles an admitted call as the settlement writer does: charge, then the hold goes and the book follows.
async fn settle_admitted(book: &AdmissionBook, db: &Db, s: Settlement<'_>) -> ledger::Settled {
    let (user, key) = (s.user_id, s.request_key.to_string());
    let done = ledger::settle(db.pool(), s).await.unwrap();
    book.settled(user, &key, Some((done.balance_paid, &done.deductions)));
    done
}

#[tokio::test]
async fn calls_are_refused_with_402_at_a_zero_or_negative_balance_whatever_packages_remain() {
    let db = fresh_db().await;
    let book = AdmissionBook::default();
    let user = insert_user(&db, "zero@example.com").await;
    grant(&db, user, "20", 30, &cc_scope(), "g").await;
    let refused = admit(&book, &db, admission(user, "a1", "1")).await.unwrap_err();
    assert!(matches!(refused, Refusal::BalanceNotPositive { balance } if balance == Money::ZERO));
    assert!(refused.message().contains("blocked until your balance is positive"), "{}", refused.message());

    // A cent in debt: still refused.
    top_up(&db, user, "0.01", "t").await;
    ledger::settle(db.pool(), call(user, "r", "default", usd("0.02"), NOW)).await.unwrap();
    book.invalidate(user);
    assert_eq!(balance(&db, user).await, usd("0.01").negated());
    let refused = admit(&book, &db, admission(user, "a2", "1")).await.unwrap_err();
    assert!(matches!(refused, Refusal::BalanceNotPositive { .. }));

    // Topping up past zero restores access.
    top_up(&db, user, "0.02", "t2").await;
    book.invalidate(user);
    assert!(admit(&book, &db, admission(user, "a3", "1")).await.is_ok());
}

#[tokio::test]
async fn fifty_concurrent_admissions_cannot_take_more_than_one_call_beyond_the_funds() {
    let db = fresh_db().await;
    let book = std::sync::Arc::new(AdmissionBook::default());
    let user = insert_user(&db, "burst@example.com").await;
    top_up(&db, user, "0.10", "t").await;
    // Each call is worth $0.25 officially, $0.05 from the balance on the Claude Code channel.
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (db, book) = (db.clone(), book.clone());
        tasks.push(tokio::spawn(async move {
            let key = format!("burst-{i}");
            match admit(&book, &db, admission(user, &key, "0.25")).await {
                Ok(_) => {
                    settle_admitted(&book, &db, call(user, &key, "cc-omg", usd("0.25"), NOW)).await;
                    true
                }
                Err(_) => false,
            }
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        admitted += usize::from(t.await.unwrap());
    }
    let final_balance = balance(&db, user).await;
    // At most one call's balance charge ($0.05) beyond the $0.10 the account held.
    assert!(final_balance >= usd("0.05").negated(), "debt too deep: {final_balance} after {admitted} calls");
    assert!(admitted >= 2, "admitted {admitted}");
    assert_audit_clean(&db, NOW).await;
}

#[tokio::test]
async fn package_covered_calls_do_not_tie_up_the_balance() {
    let db = fresh_db().await;
    let book = AdmissionBook::default();
    let user = insert_user(&db, "invitee@example.com").await;
    top_up(&db, user, "0.10", "t").await;
    grant(&db, user, "20", 30, &cc_scope(), "g").await;
    // The seed's new invitee: $0.10 welcome balance and a $20 package; several calls run at once.
    for i in 0..10 {
        let hold = admit(&book, &db, admission(user, &format!("p{i}"), "1")).await.unwrap();
        assert_eq!((hold.from_packages(), hold.balance), (usd("1"), Money::ZERO));
    }
    assert_eq!(book.balance_held(user), Money::ZERO);
}

#[tokio::test]
async fn a_call_settling_while_others_hold_worst_case_package_reservations_pays_from_the_package() {
    let db = fresh_db().await;
    let book = AdmissionBook::default();
    let user = insert_user(&db, "reserved@example.com").await;
    top_up(&db, user, "0.10", "t").await;
    let pkg = grant(&db, user, "2", 30, &cc_scope(), "g").await;
    // Two running calls reserve the whole package in their worst cases.
    for key in ["long-1", "long-2"] {
        let hold = admit(&book, &db, admission(user, key, "1")).await.unwrap();
        assert_eq!((hold.from_packages(), hold.balance), (usd("1"), Money::ZERO));
    }
    // A third call is admitted against the balance ($0.20 worst case) and actually costs $0.30: the package
    // still holds $2 right now, so it pays; the balance does not move.
    let hold = admit(&book, &db, admission(user, "third", "1")).await.unwrap();
    assert_eq!((hold.from_packages(), hold.balance), (Money::ZERO, usd("0.2")));
    let third = settle_admitted(&book, &db, call(user, "third", "cc-omg", usd("0.3"), NOW)).await;
    assert_eq!((third.packages_paid, third.balance_paid), (usd("0.3"), Money::ZERO));
    // The first two cost less than their worst cases and are paid by the package too.
    for key in ["long-1", "long-2"] {
        let s = settle_admitted(&book, &db, call(user, key, "cc-omg", usd("0.5"), NOW)).await;
        assert_eq!((s.packages_paid, s.balance_paid), (usd("0.5"), Money::ZERO));
    }
    assert_eq!(balance(&db, user).await, usd("0.10"));
    assert_eq!(remaining(&db, user, pkg).await, usd("0.7"));
    assert_eq!(book.open_holds(), 0);
    assert_audit_clean(&db, NOW).await;
}

#[tokio::test]
async fn a_package_expiring_before_the_hold_does_not_count_at_admission() {
    let db = fresh_db().await;
    let book = AdmissionBook::default();
    let user = insert_user(&db, "expiring@example.com").await;
    top_up(&db, user, "1", "t").await;
    // One day left on the package: a call whose hold lasts two days cannot count on it.
    grant(&db, user, "20", 1, &cc_scope(), "g").await;
    let long = Admission { ttl_ms: 2 * DAY, ..admission(user, "long", "1") };
    let hold = admit(&book, &db, long).await.unwrap();
    assert_eq!((hold.from_packages(), hold.balance), (Money::ZERO, usd("0.2")));
    let short = admit(&book, &db, admission(user, "short", "1")).await.unwrap();
    assert_eq!((short.from_packages(), short.balance), (usd("1"), Money::ZERO));
}

#[tokio::test]
async fn replaying_an_idempotency_key_returns_the_first_result_and_a_changed_replay_is_refused() {
    let db = fresh_db().await;
    let user = insert_user(&db, "replay@example.com").await;
    let c = |amount: &'static str| Credit {
        user_id: user,
        key: "stripe-topup-7",
        kind: EntryKind::Topup,
        amount: usd(amount),
        paid_minor: 2000,
        memo: "Top-up",
        now: NOW,
    };
    let first = ledger::credit_now(db.pool(), c("2.8")).await.unwrap();
    let again = ledger::credit_now(db.pool(), c("2.8")).await.unwrap();
    assert!(!first.replayed && again.replayed);
    assert_eq!(first.entry_id, again.entry_id);
    assert_eq!(balance(&db, user).await, usd("2.8"));
    let changed = ledger::credit_now(db.pool(), c("28")).await.unwrap_err();
    assert!(matches!(changed, LedgerError::KeyReused(_)), "{changed}");
    assert_eq!(balance(&db, user).await, usd("2.8"));

    // A settled call replayed is charged once.
    let s1 = ledger::settle(db.pool(), call(user, "req-1", "cc-omg", usd("1"), NOW)).await.unwrap();
    let s2 = ledger::settle(db.pool(), call(user, "req-1", "cc-omg", usd("1"), NOW)).await.unwrap();
    assert_eq!(s1.bill_id, s2.bill_id);
    assert!(s2.replayed);
    assert_eq!(balance(&db, user).await, usd("2.6"));
    assert!(matches!(
        ledger::settle(db.pool(), call(user, "req-1", "cc-omg", usd("2"), NOW)).await,
        Err(LedgerError::KeyReused(_))
    ));
    assert_audit_clean(&db, NOW).await;
}

#[tokio::test]
async fn concurrent_settlements_of_the_same_call_charge_it_once() {
    let db = fresh_db().await;
    let user = insert_user(&db, "race@example.com").await;
    top_up(&db, user, "10", "t").await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            ledger::settle(db.pool(), call(user, "same-call", "cc-omg", usd("1"), NOW)).await.unwrap()
        }));
    }
    let mut bills = std::collections::HashSet::new();
    for t in tasks {
        bills.insert(t.await.unwrap().bill_id);
    }
    assert_eq!(bills.len(), 1);
    assert_eq!(balance(&db, user).await, usd("9.8"));
    assert_audit_clean(&db, NOW).await;
}

#[tokio::test]
async fn a_call_the_database_refused_is_listed_by_the_audit_until_an_operator_settles_or_drops_it() {
    use gatehouse::server::domain::unsettled::{self, StoredCall};
    let db = fresh_db().await;
    let user = insert_user(&db, "aside@example.com").await;
    top_up(&db, user, "1", "t").await;
    for key in ["aside-1", "aside-2"] {
        let stored = StoredCall::of(&call(user, key, "cc-omg", usd("1"), NOW));
        unsettled::set_aside(db.pool(), &stored, "refused by the database", NOW).await.unwrap();
    }
    let report = audit::run(db.pool(), NOW + 5_000).await.unwrap();
    assert_eq!(report.breaches.len(), 2, "{:?}", report.breaches);
    assert!(report.breaches[0].0.contains("aside-1") && report.breaches[0].0.contains("refused by the database"));
    let listed = unsettled::list(db.pool()).await.unwrap();
    let retried = unsettled::retry(db.pool(), listed[0].id).await.unwrap().unwrap();
    assert_eq!(retried.balance_paid, usd("0.2"));
    assert!(unsettled::drop_call(db.pool(), listed[1].id).await.unwrap());
    assert!(unsettled::retry(db.pool(), listed[1].id).await.unwrap().is_none());
    assert_eq!(balance(&db, user).await, usd("0.8"));
    assert_audit_clean(&db, NOW).await;
}

#[tokio::test]
async fn the_audit_finds_a_balance_that_does_not_match_its_ledger_and_a_tampered_package() {
    let db = fresh_db().await;
    let user = insert_user(&db, "tamper@example.com").await;
    top_up(&db, user, "1", "t").await;
    let pkg = grant(&db, user, "20", 30, &cc_scope(), "g").await;
    assert_audit_clean(&db, NOW).await;
    sqlx::query("UPDATE users SET balance = balance + 1").execute(db.pool()).await.unwrap();
    sqlx::query("UPDATE packages SET remaining = remaining - 5 WHERE id = $1")
        .bind(pkg)
        .execute(db.pool())
        .await
        .unwrap();
    let report = audit::run(db.pool(), NOW).await.unwrap();
    assert_eq!(report.breaches.len(), 2, "{:?}", report.breaches);
    assert!(report.breaches.iter().any(|b| b.0.contains("tamper@example.com")));
    assert!(report.breaches.iter().any(|b| b.0.contains(&format!("package {pkg}"))));
}

#[tokio::test]
async fn bad_amounts_change_nothing() {
    let db = fresh_db().await;
    let user = insert_user(&db, "bad@example.com").await;
    let negative = Credit {
        user_id: user,
        key: "neg",
        kind: EntryKind::Topup,
        amount: usd("1").negated(),
        paid_minor: 0,
        memo: "",
        now: NOW,
    };
    assert!(matches!(
        ledger::credit_now(db.pool(), negative).await,
        Err(LedgerError::Refused(ledger::Refused::CreditNotPositive))
    ));
    let g = Grant {
        user_id: user,
        key: "g",
        title: "t",
        scope: &Scope::default(),
        amount: usd("1"),
        lifetime_ms: DAY,
        source: PackageSource::Admin,
        now: NOW,
    };
    assert!(matches!(
        ledger::grant_package_now(db.pool(), g).await,
        Err(LedgerError::Refused(ledger::Refused::PackageNoChannel))
    ));
    let missing = Credit {
        user_id: 999_999,
        key: "nobody",
        kind: EntryKind::Topup,
        amount: usd("1"),
        paid_minor: 0,
        memo: "",
        now: NOW,
    };
    assert!(matches!(ledger::credit_now(db.pool(), missing).await, Err(LedgerError::NoSuchAccount)));
    assert_eq!(balance(&db, user).await, Money::ZERO);
    let report = audit::run(db.pool(), NOW).await.unwrap();
    assert_eq!(report.entries, 0);
}
