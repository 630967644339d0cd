//! The two money rules of a call, pure: admission (may the call start, and what does it reserve while
//! it runs) and the charge (how its actual cost is paid). Every API surface and web chat go through both,
//! via the admission book and the settlement writer; settling one call is a batch of one.
//!
//! The charge: in-scope active packages pay first from what they actually hold (soonest expiry first) at
//! the official price; the balance pays only what the packages cannot, at official x the channel
//! multiplier, rounded once. Other calls' reservations never move a charge onto the balance.
//!
//! Admission: refused while the balance is <= 0 (the guide's rule). Otherwise the call reserves its worst
//! case: first from package money no running call reserved, the rest as a worst-case balance charge. Running
//! calls may reserve against the balance up to the balance plus what the call's in-scope packages are worth
//! at the channel's rate; past that a call is refused (402, "reserved by calls still running"). So running
//! calls' worst cases never refuse a user whose packages can pay, and the debt a burst can leave on one
//! instance is bounded: at most the packages' worth at the channel rate plus one call's worst-case balance
//! charge below zero (none without packages but that one call). A key's spending cap is reserved against the
//! same way: its spend plus its running calls' worst cases must stay under the cap to start a call.

use super::channels::Scope;
use super::money::Money;
use rust_decimal::Decimal;

/// A package as the charge planner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageFunds {
    pub id: i64,
    pub remaining: Money,
    pub expires_at: i64,
    /// The channels (and models there) the package pays for.
    pub scope: Scope,
}

impl PackageFunds {
    /// Pays for this model on this channel now: in scope, not expired, something left.
    pub fn can_pay(&self, channel: &str, model: &str, now: i64) -> bool {
        self.expires_at > now && self.remaining.is_positive() && self.scope.covers(channel, model)
    }
}

/// What the in-scope packages able to pay at `now` hold in all.
pub fn in_scope(packages: &[PackageFunds], channel: &str, model: &str, now: i64) -> Money {
    packages
        .iter()
        .filter(|p| p.can_pay(channel, model, now))
        .fold(Money::ZERO, |sum, p| sum.saturating_add(p.remaining))
}

/// The split of one call's official cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargePlan {
    pub official: Money,
    /// (package id, amount taken), in the order taken.
    pub deductions: Vec<(i64, Money)>,
    /// What the balance pays: the uncovered part x multiplier, rounded half away from zero once.
    pub balance: Money,
    pub multiplier: Decimal,
}

impl ChargePlan {
    pub fn packages_paid(&self) -> Money {
        self.deductions.iter().fold(Money::ZERO, |sum, (_, m)| sum.saturating_add(*m))
    }
}

/// The charge rule: how a call of `model` on `channel` that officially cost `official` is paid from the
/// account's packages as they are at settlement (what they actually hold), then the balance. `None` when
/// the balance's share does not fit in an amount (nothing is charged then: the caller refuses the charge).
pub fn plan(
    official: Money,
    channel: &str,
    model: &str,
    multiplier: Decimal,
    packages: &[PackageFunds],
    now: i64,
) -> Option<ChargePlan> {
    let mut usable: Vec<&PackageFunds> = packages.iter().filter(|p| p.can_pay(channel, model, now)).collect();
    usable.sort_by_key(|p| (p.expires_at, p.id));
    let cost = official.max(Money::ZERO);
    let mut left = cost;
    let mut deductions = Vec::new();
    for p in usable {
        if left.is_zero() {
            break;
        }
        let take = left.min(p.remaining);
        deductions.push((p.id, take));
        left = left.saturating_sub(take);
    }
    let balance = balance_part(left, multiplier)?;
    Some(ChargePlan { official, deductions, balance, multiplier })
}

/// The balance's share of an uncovered official amount; `None` when it does not fit.
pub fn balance_part(uncovered: Money, multiplier: Decimal) -> Option<Money> {
    uncovered.to_decimal().checked_mul(multiplier).and_then(Money::round_from)
}

/// Why a call was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The guide's rule: a balance <= 0 blocks API access whatever packages remain (402).
    BalanceNotPositive { balance: Money },
    /// Calls still running have reserved, in their worst cases, everything the account can pay (402).
    FundsReserved { balance: Money, reserved: Money },
    /// The key's spend plus its running calls' worst cases reached its cap (402).
    KeyCapReached { cap: Money, spent: Money, reserved: Money },
    /// The call's worst case does not fit in an amount of money (400).
    WorstCaseTooLarge,
}

impl Refusal {
    pub fn message(&self) -> String {
        match self {
            Self::BalanceNotPositive { balance } => format!(
                "Your balance is {balance}. API access is blocked until your balance is positive, whatever resource packages remain. Top up to continue."
            ),
            Self::FundsReserved { balance, reserved } => format!(
                "Calls you have running right now reserve up to {reserved} (what they could cost at most if they use every token they asked for), which is all your balance of {balance} and your packages can cover. This is not a debt: the reservation frees up as those calls finish, usually within seconds. Retry then, lower max_tokens, or top up."
            ),
            Self::KeyCapReached { cap, spent, reserved } if reserved.is_positive() => format!(
                "This API key has spent {spent} of its {cap} spending cap, and its calls still running may cost up to {reserved} more. Retry when they finish, or raise the cap."
            ),
            Self::KeyCapReached { cap, .. } => format!("This API key has reached its spending cap of {cap}."),
            Self::WorstCaseTooLarge => {
                "This request's worst-case cost is too large to reserve: lower max_tokens or n.".to_string()
            }
        }
    }
}

/// What a call reserves while it runs: package money (from which packages, and how much of each), the
/// worst-case balance charge for the rest, and the most its key's spend can grow by.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hold {
    pub packages: Vec<(i64, Money)>,
    pub balance: Money,
    pub key_spend: Money,
}

impl Hold {
    /// The package money reserved, all packages together.
    pub fn from_packages(&self) -> Money {
        self.packages.iter().fold(Money::ZERO, |sum, (_, m)| sum.saturating_add(*m))
    }
}

/// A package that can pay for the call being admitted (in scope, still active when the call must end), with
/// what running calls have reserved of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageRoom {
    pub id: i64,
    pub remaining: Money,
    pub expires_at: i64,
    pub reserved: Money,
}

/// The state of an account at admission, as it concerns one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Funds {
    pub balance: Money,
    /// Worst-case balance charges of calls still running.
    pub balance_held: Money,
    /// The packages that can pay for this call.
    pub packages: Vec<PackageRoom>,
}

/// A key's spending cap at admission: its cap, its spend so far, and its running calls' worst cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyBudget {
    pub cap: Money,
    pub spent: Money,
    pub held: Money,
}

/// The admission rule (see the module's notes): admits a call whose official cost is at most `worst_case`
/// and says what it reserves: package money no running call reserved, soonest expiry first, then the
/// balance.
pub fn admit(funds: &Funds, worst_case: Money, multiplier: Decimal, key: Option<KeyBudget>) -> Result<Hold, Refusal> {
    if !funds.balance.is_positive() {
        return Err(Refusal::BalanceNotPositive { balance: funds.balance });
    }
    if let Some(k) = key {
        if k.spent.saturating_add(k.held) >= k.cap {
            return Err(Refusal::KeyCapReached { cap: k.cap, spent: k.spent, reserved: k.held });
        }
    }
    let worst = worst_case.max(Money::ZERO);
    let mut rooms: Vec<&PackageRoom> = funds.packages.iter().collect();
    rooms.sort_by_key(|p| (p.expires_at, p.id));
    let mut left = worst;
    let mut packages = Vec::new();
    for p in rooms {
        let free = p.remaining.saturating_sub(p.reserved).max(Money::ZERO);
        let take = left.min(free);
        if take.is_positive() {
            packages.push((p.id, take));
            left = left.saturating_sub(take);
        }
    }
    let balance = balance_part(left, multiplier).ok_or(Refusal::WorstCaseTooLarge)?;
    let available = funds.packages.iter().fold(Money::ZERO, |sum, p| sum.saturating_add(p.remaining.max(Money::ZERO)));
    let credit = funds.balance.saturating_add(balance_part(available, multiplier).unwrap_or(Money::ZERO));
    if balance.is_positive() && funds.balance_held >= credit {
        return Err(Refusal::FundsReserved { balance: funds.balance, reserved: funds.balance_held });
    }
    // The key counts what the call is charged: at most the worst case, or its balance price when higher.
    let key_spend = worst.max(balance_part(worst, multiplier).ok_or(Refusal::WorstCaseTooLarge)?);
    Ok(Hold { packages, balance, key_spend })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const NOW: i64 = 1_000_000;
    const DAY: i64 = 86_400_000;
    const OPUS: &str = "claude-opus-4-1";

    fn m(s: &str) -> Money {
        Money::parse_usd(s).unwrap()
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn cc_package(id: i64, remaining: &str, expires_in_days: i64) -> PackageFunds {
        PackageFunds {
            id,
            remaining: m(remaining),
            expires_at: NOW + expires_in_days * DAY,
            scope: Scope::parse(super::super::channels::CLAUDE_CODE_SCOPE).unwrap(),
        }
    }

    fn plan_cc(official: &str, packages: &[PackageFunds]) -> ChargePlan {
        plan(m(official), "cc-omg", OPUS, dec("0.2"), packages, NOW).unwrap()
    }

    #[test]
    fn the_seed_example_package_pays_one_dollar_or_the_balance_pays_twenty_cents() {
        let with_package = plan_cc("1", &[cc_package(7, "20", 30)]);
        assert_eq!(with_package.deductions, vec![(7, m("1"))]);
        assert_eq!(with_package.balance, Money::ZERO);
        let without = plan_cc("1", &[]);
        assert!(without.deductions.is_empty());
        assert_eq!(without.balance, m("0.2"));
    }

    #[test]
    fn a_half_covered_call_splits_between_package_and_balance() {
        let p = plan_cc("1", &[cc_package(1, "0.5", 30)]);
        assert_eq!(p.deductions, vec![(1, m("0.5"))]);
        assert_eq!(p.packages_paid(), m("0.5"));
        assert_eq!(p.balance, m("0.1"));
    }

    #[test]
    fn packages_pay_soonest_expiry_first() {
        let p = plan_cc("1", &[cc_package(1, "5", 20), cc_package(2, "0.3", 2), cc_package(3, "5", 10)]);
        assert_eq!(p.deductions, vec![(2, m("0.3")), (3, m("0.7"))]);
        assert_eq!(p.balance, Money::ZERO);
    }

    #[test]
    fn expired_used_up_and_out_of_scope_packages_pay_nothing() {
        let expired = cc_package(1, "20", -1);
        let empty = cc_package(2, "0", 30);
        let other_scope = PackageFunds { scope: Scope::parse("codex-omg").unwrap(), ..cc_package(3, "20", 30) };
        let p = plan_cc("1", &[expired, empty, other_scope]);
        assert!(p.deductions.is_empty());
        assert_eq!(p.balance, m("0.2"));
        // On the plain channel the Claude Code package does not pay either, and the multiplier is 1.
        let p = plan(m("1"), "default", OPUS, Decimal::ONE, &[cc_package(4, "20", 30)], NOW).unwrap();
        assert_eq!(p.balance, m("1"));
        // In web chat it pays for Claude models only.
        let p = plan(m("1"), "web-chat", "gpt-5.5", Decimal::ONE, &[cc_package(5, "20", 30)], NOW).unwrap();
        assert_eq!((p.packages_paid(), p.balance), (Money::ZERO, m("1")));
        let p = plan(m("1"), "web-chat", "claude-sonnet-4-5", Decimal::ONE, &[cc_package(5, "20", 30)], NOW).unwrap();
        assert_eq!((p.packages_paid(), p.balance), (m("1"), Money::ZERO));
    }

    #[test]
    fn the_balance_part_is_rounded_once_half_away_from_zero() {
        // 1e-9 x 0.2 = 0.2e-9 rounds to 0; 3e-9 x 0.5 = 1.5e-9 rounds to 2e-9.
        assert_eq!(balance_part(Money::from_units(1), dec("0.2")), Some(Money::ZERO));
        assert_eq!(balance_part(Money::from_units(3), dec("0.5")), Some(Money::from_units(2)));
        assert_eq!(plan_cc("0.999975", &[]).balance, m("0.199995"));
        assert_eq!(balance_part(Money::from_units(i64::MAX), dec("2")), None);
        assert!(
            plan(Money::from_units(i64::MAX), "default", OPUS, dec("2"), &[], NOW).is_none(),
            "never a wrapped charge"
        );
    }

    fn funds(balance: &str, packages: &str) -> Funds {
        let room = PackageRoom { id: 1, remaining: m(packages), expires_at: NOW + DAY, reserved: Money::ZERO };
        Funds { balance: m(balance), balance_held: Money::ZERO, packages: vec![room] }
    }

    #[test]
    fn admission_refuses_a_balance_at_or_below_zero_whatever_packages_remain() {
        let refused = |balance: Money| {
            matches!(
                admit(&Funds { balance, ..funds("0", "20") }, m("1"), dec("0.2"), None),
                Err(Refusal::BalanceNotPositive { .. })
            )
        };
        assert!(refused(Money::ZERO));
        assert!(refused(Money::from_units(-10_000_000)));
        let held = admit(&funds("0.01", "20"), m("1"), dec("0.2"), None).unwrap();
        assert_eq!((held.packages, held.balance), (vec![(1, m("1"))], Money::ZERO));
    }

    /// Admits `calls` calls of `worst` one after another, each keeping its hold; returns how many started.
    fn burst(mut f: Funds, calls: usize, worst: &str, multiplier: &str) -> (usize, Funds) {
        let mut admitted = 0;
        for _ in 0..calls {
            if let Ok(hold) = admit(&f, m(worst), dec(multiplier), None) {
                admitted += 1;
                f.balance_held = f.balance_held.saturating_add(hold.balance);
                for (id, amount) in hold.packages {
                    let room = f.packages.iter_mut().find(|p| p.id == id).unwrap();
                    room.reserved = room.reserved.saturating_add(amount);
                }
            }
        }
        (admitted, f)
    }

    #[test]
    fn without_packages_a_burst_overruns_the_balance_by_one_call_at_most() {
        // Each call may take $0.04 from the balance; $0.10 admits three ($0.10, $0.06, $0.02 unreserved).
        let (admitted, f) = burst(funds("0.1", "0"), 50, "0.2", "0.2");
        assert_eq!(admitted, 3);
        assert!(f.balance.saturating_sub(f.balance_held) >= m("0.04").negated());
    }

    #[test]
    fn the_claude_code_user_runs_sixteen_worst_case_opus_calls_on_a_twenty_dollar_package() {
        // 32000 output tokens of Opus 4.1 is $2.40 at most; eight fill the package's reservations.
        let (admitted, f) = burst(funds("0.1", "20"), 16, "2.401", "0.2");
        assert_eq!(admitted, 16);
        // The bound: at most the package's worth at x0.2 ($4) and one call's balance charge below the funds.
        assert!(f.balance_held <= m("0.1").saturating_add(m("4")).saturating_add(m("0.4802")));
        let (admitted, f) = burst(funds("0.1", "20"), 100, "2.401", "0.2");
        assert_eq!(admitted, 17, "the seventeenth still fits under $4.10; the eighteenth does not");
        let refused = admit(&f, m("2.401"), dec("0.2"), None).unwrap_err();
        assert!(matches!(refused, Refusal::FundsReserved { .. }));
        assert!(refused.message().contains("frees up as those calls finish"), "{}", refused.message());
    }

    #[test]
    fn package_money_is_reserved_from_the_packages_that_can_pay_soonest_expiry_first() {
        let room = |id, remaining: &str, days, reserved: &str| PackageRoom {
            id,
            remaining: m(remaining),
            expires_at: NOW + days * DAY,
            reserved: m(reserved),
        };
        let f = Funds {
            balance: m("1"),
            balance_held: Money::ZERO,
            packages: vec![room(1, "5", 20, "0"), room(2, "1", 2, "0.5"), room(3, "2", 10, "2")],
        };
        let hold = admit(&f, m("3"), Decimal::ONE, None).unwrap();
        // Package 2 has $0.50 unreserved, package 3 none; package 1 gives the rest.
        assert_eq!(hold.packages, vec![(2, m("0.5")), (1, m("2.5"))]);
        assert_eq!((hold.from_packages(), hold.balance), (m("3"), Money::ZERO));
    }

    #[test]
    fn a_key_cap_is_reserved_against_by_running_calls() {
        let key = |spent: &str, held: &str| Some(KeyBudget { cap: m("0.05"), spent: m(spent), held: m(held) });
        let hold = admit(&funds("10", "0"), m("0.02"), Decimal::ONE, key("0", "0")).unwrap();
        assert_eq!(hold.key_spend, m("0.02"));
        assert!(admit(&funds("10", "0"), m("0.02"), Decimal::ONE, key("0.01", "0.03")).is_ok());
        let refused = admit(&funds("10", "0"), m("0.02"), Decimal::ONE, key("0.01", "0.04")).unwrap_err();
        assert!(matches!(refused, Refusal::KeyCapReached { .. }));
        assert!(refused.message().contains("still running"));
        // A multiplier above 1 makes the balance price the key's worst case.
        assert_eq!(admit(&funds("10", "0"), m("1"), dec("1.5"), None).unwrap().key_spend, m("1.5"));
    }

    #[test]
    fn a_worst_case_that_does_not_fit_is_refused_never_held_at_zero() {
        let f = funds("10", "0");
        assert_eq!(admit(&f, Money::from_units(i64::MAX), dec("2"), None), Err(Refusal::WorstCaseTooLarge));
    }
}
