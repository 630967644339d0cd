//! How one call is paid: in-scope active packages first (soonest expiry first) at the official price,
//! the rest from the balance at official price x the channel multiplier, rounded once. Also the
//! admission rule and the hold (reservation) a call places while it runs.

use super::money::Money;
use rust_decimal::Decimal;

/// A package as the charge planner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageFunds {
    pub id: i64,
    pub remaining: Money,
    pub expires_at: i64,
    /// Channels the package pays for.
    pub scope: Vec<String>,
}

impl PackageFunds {
    /// Pays for this channel now: in scope, not expired, something left.
    pub fn can_pay(&self, channel: &str, now: i64) -> bool {
        self.expires_at > now && self.remaining.is_positive() && self.scope.iter().any(|c| c == channel)
    }
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

/// Plans the charge of a call that officially costs `official`.
pub fn plan(official: Money, channel: &str, multiplier: Decimal, packages: &[PackageFunds], now: i64) -> ChargePlan {
    plan_within(official, channel, multiplier, packages, now, Money::from_units(i64::MAX))
}

/// Like [`plan`], with packages paying at most `package_cap` in total: what other calls in flight have
/// reserved of the packages stays theirs.
pub fn plan_within(
    official: Money,
    channel: &str,
    multiplier: Decimal,
    packages: &[PackageFunds],
    now: i64,
    package_cap: Money,
) -> ChargePlan {
    let mut usable: Vec<&PackageFunds> = packages.iter().filter(|p| p.can_pay(channel, now)).collect();
    usable.sort_by_key(|p| (p.expires_at, p.id));
    let covered = official.max(Money::ZERO).min(package_cap.max(Money::ZERO));
    let mut left = covered;
    let mut deductions = Vec::new();
    for p in usable {
        if left.is_zero() {
            break;
        }
        let take = left.min(p.remaining);
        deductions.push((p.id, take));
        left = left.saturating_sub(take);
    }
    let paid_by_packages = covered.saturating_sub(left);
    let balance = balance_part(official.max(Money::ZERO).saturating_sub(paid_by_packages), multiplier);
    ChargePlan { official, deductions, balance, multiplier }
}

/// The balance's share of an uncovered official amount.
pub fn balance_part(uncovered: Money, multiplier: Decimal) -> Money {
    uncovered.to_decimal().checked_mul(multiplier).and_then(Money::round_from).unwrap_or(Money::from_units(i64::MAX))
}

/// Why a call was not admitted. Both answer HTTP 402 at the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The seed's rule: a balance <= 0 blocks API access whatever packages remain.
    BalanceNotPositive { balance: Money },
    /// Calls already in flight have reserved everything the balance holds.
    FundsReserved { balance: Money, reserved: Money },
}

impl Refusal {
    pub fn message(&self) -> String {
        match self {
            Self::BalanceNotPositive { balance } => format!(
                "Your balance is {balance}. API access is blocked until your balance is positive, whatever resource packages remain. Top up to continue."
            ),
            Self::FundsReserved { balance, reserved } => format!(
                "Your balance of {balance} is fully reserved by calls still running ({reserved}). Wait for them to finish or top up."
            ),
        }
    }
}

/// What a call reserves while it runs: the part of its worst-case cost packages can cover, and the
/// worst-case balance charge for the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hold {
    pub packages: Money,
    pub balance: Money,
}

/// The state of an account at admission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Funds {
    pub balance: Money,
    /// Balance reserved by calls in flight.
    pub balance_held: Money,
    /// What in-scope active packages hold for this channel, and what calls in flight reserved of them.
    pub packages_available: Money,
    pub packages_held: Money,
}

/// Admits a call whose official cost is at most `worst_case`, and says what it must reserve.
///
/// A call is refused when the balance is <= 0, or when the balance part of its worst case is positive
/// and the balance not yet reserved is <= 0. So every admitted call saw unreserved funds, and the debt
/// a burst of parallel calls can reach is at most one call's overrun beyond the funds.
pub fn admit(funds: Funds, worst_case: Money, multiplier: Decimal) -> Result<Hold, Refusal> {
    if !funds.balance.is_positive() {
        return Err(Refusal::BalanceNotPositive { balance: funds.balance });
    }
    let packages_free = funds.packages_available.saturating_sub(funds.packages_held).max(Money::ZERO);
    let packages = worst_case.min(packages_free).max(Money::ZERO);
    let balance = balance_part(worst_case.saturating_sub(packages), multiplier);
    if balance.is_positive() && !funds.balance.saturating_sub(funds.balance_held).is_positive() {
        return Err(Refusal::FundsReserved { balance: funds.balance, reserved: funds.balance_held });
    }
    Ok(Hold { packages, balance })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const NOW: i64 = 1_000_000;
    const DAY: i64 = 86_400_000;

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
            scope: vec!["cc-omg".into(), "web-chat".into()],
        }
    }

    #[test]
    fn the_seed_example_package_pays_one_dollar_or_the_balance_pays_twenty_cents() {
        let with_package = plan(m("1"), "cc-omg", dec("0.2"), &[cc_package(7, "20", 30)], NOW);
        assert_eq!(with_package.deductions, vec![(7, m("1"))]);
        assert_eq!(with_package.balance, Money::ZERO);
        let without = plan(m("1"), "cc-omg", dec("0.2"), &[], NOW);
        assert!(without.deductions.is_empty());
        assert_eq!(without.balance, m("0.2"));
    }

    #[test]
    fn a_half_covered_call_splits_between_package_and_balance() {
        let p = plan(m("1"), "cc-omg", dec("0.2"), &[cc_package(1, "0.5", 30)], NOW);
        assert_eq!(p.deductions, vec![(1, m("0.5"))]);
        assert_eq!(p.packages_paid(), m("0.5"));
        assert_eq!(p.balance, m("0.1"));
    }

    #[test]
    fn packages_pay_soonest_expiry_first() {
        let pkgs = [cc_package(1, "5", 20), cc_package(2, "0.3", 2), cc_package(3, "5", 10)];
        let p = plan(m("1"), "cc-omg", dec("0.2"), &pkgs, NOW);
        assert_eq!(p.deductions, vec![(2, m("0.3")), (3, m("0.7"))]);
        assert_eq!(p.balance, Money::ZERO);
    }

    #[test]
    fn expired_used_up_and_out_of_scope_packages_pay_nothing() {
        let expired = cc_package(1, "20", -1);
        let empty = cc_package(2, "0", 30);
        let other_scope = PackageFunds { scope: vec!["codex-omg".into()], ..cc_package(3, "20", 30) };
        let p = plan(m("1"), "cc-omg", dec("0.2"), &[expired, empty, other_scope], NOW);
        assert!(p.deductions.is_empty());
        assert_eq!(p.balance, m("0.2"));
        // On the plain channel the Claude Code package does not pay either, and the multiplier is 1.
        let p = plan(m("1"), "default", Decimal::ONE, &[cc_package(4, "20", 30)], NOW);
        assert_eq!(p.balance, m("1"));
    }

    #[test]
    fn packages_pay_no_more_than_the_cap_left_by_other_calls_reservations() {
        let p = plan_within(m("1"), "cc-omg", dec("0.2"), &[cc_package(1, "20", 30)], NOW, m("0.25"));
        assert_eq!(p.deductions, vec![(1, m("0.25"))]);
        assert_eq!(p.balance, m("0.15"));
        let p = plan_within(m("1"), "cc-omg", dec("0.2"), &[cc_package(1, "20", 30)], NOW, Money::ZERO);
        assert!(p.deductions.is_empty());
        assert_eq!(p.balance, m("0.2"));
    }

    #[test]
    fn the_balance_part_is_rounded_once_half_away_from_zero() {
        // 1e-9 x 0.2 = 0.2e-9 rounds to 0; 3e-9 x 0.5 = 1.5e-9 rounds to 2e-9.
        assert_eq!(balance_part(Money::from_units(1), dec("0.2")), Money::ZERO);
        assert_eq!(balance_part(Money::from_units(3), dec("0.5")), Money::from_units(2));
        assert_eq!(plan(m("0.999975"), "cc-omg", dec("0.2"), &[], NOW).balance, m("0.199995"));
    }

    #[test]
    fn admission_refuses_a_balance_at_or_below_zero_whatever_packages_remain() {
        let funds = |balance: Money| Funds {
            balance,
            balance_held: Money::ZERO,
            packages_available: m("20"),
            packages_held: Money::ZERO,
        };
        assert!(matches!(admit(funds(Money::ZERO), m("1"), dec("0.2")), Err(Refusal::BalanceNotPositive { .. })));
        assert!(matches!(admit(funds(m("0").negated()), m("1"), dec("0.2")), Err(Refusal::BalanceNotPositive { .. })));
        assert!(matches!(
            admit(funds(Money::from_units(-10_000_000)), m("1"), dec("0.2")),
            Err(Refusal::BalanceNotPositive { .. })
        ));
        assert_eq!(admit(funds(m("0.01")), m("1"), dec("0.2")), Ok(Hold { packages: m("1"), balance: Money::ZERO }));
    }

    #[test]
    fn holds_reserve_the_balance_so_parallel_calls_cannot_multiply_debt() {
        let mut funds = Funds {
            balance: m("0.1"),
            balance_held: Money::ZERO,
            packages_available: Money::ZERO,
            packages_held: Money::ZERO,
        };
        let mut admitted = 0;
        for _ in 0..50 {
            if let Ok(hold) = admit(funds, m("0.2"), dec("0.2")) {
                admitted += 1;
                funds.balance_held = funds.balance_held.saturating_add(hold.balance);
            }
        }
        // Each call may take $0.04 from the balance; $0.10 admits three ($0.10, $0.06, $0.02 unreserved).
        assert_eq!(admitted, 3);
        assert!(funds.balance.saturating_sub(funds.balance_held) >= m("0.04").negated());
    }
}
