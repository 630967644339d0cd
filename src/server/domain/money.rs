//! `Money`: an amount of USD as a whole number of units of 1e-9 USD, parsed strictly and shown exactly.
//!
//! The one rounding rule: an amount computed with `rust_decimal` that falls between two units is rounded
//! half away from zero to the nearest unit, once, where the amount is recorded.

use rust_decimal::{Decimal, RoundingStrategy};
use std::fmt;

/// Decimal places of one unit: 1e-9 USD, so the cheapest token in the price table is a whole number of units.
pub const SCALE: u32 = 9;
pub const UNITS_PER_USD: i64 = 1_000_000_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("Enter an amount such as 20 or 4.50.")]
    NotANumber,
    #[error("The amount cannot be negative.")]
    Negative,
    #[error("Amounts have at most 9 decimal places.")]
    TooPrecise,
    #[error("That amount is too large.")]
    TooLarge,
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_units(units: i64) -> Self {
        Self(units)
    }

    /// Whole US dollars (for defaults and tests).
    pub const fn usd(dollars: i64) -> Self {
        Self(dollars * UNITS_PER_USD)
    }

    pub const fn units(self) -> i64 {
        self.0
    }

    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, SCALE)
    }

    /// Rounds an exactly computed amount to a unit with the one rounding rule. `None` on overflow.
    pub fn round_from(amount: Decimal) -> Option<Self> {
        let scaled = amount.checked_mul(Decimal::from(UNITS_PER_USD))?;
        let units = scaled.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
        i64::try_from(units).ok().map(Self)
    }

    /// An exact amount; `None` when it is not a whole number of units or does not fit.
    pub fn exact_from(amount: Decimal) -> Option<Self> {
        let scaled = amount.checked_mul(Decimal::from(UNITS_PER_USD))?;
        if scaled.fract() != Decimal::ZERO {
            return None;
        }
        i64::try_from(scaled).ok().map(Self)
    }

    /// Parses a non-negative USD amount typed by a person or written in a config file: digits with an
    /// optional decimal point and an optional leading `$`. Refuses signs, exponents, `NaN`, `inf`,
    /// separators and anything finer than one unit.
    pub fn parse_usd(text: &str) -> Result<Self, MoneyError> {
        let t = text.trim();
        let t = t.strip_prefix('$').unwrap_or(t).trim();
        if t.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() && frac.is_empty()
            || !digits_only(int)
            || !digits_only(frac)
            || t.ends_with('.') && int.is_empty()
        {
            return Err(MoneyError::NotANumber);
        }
        if frac.len() > SCALE as usize {
            return Err(MoneyError::TooPrecise);
        }
        let value: Decimal = t.parse().map_err(|_| MoneyError::TooLarge)?;
        Self::exact_from(value).ok_or(MoneyError::TooLarge)
    }

    /// An adjustment: a USD amount with an optional leading `-` (take) or `+` (give).
    pub fn parse_signed_usd(text: &str) -> Result<Self, MoneyError> {
        let t = text.trim();
        match t.strip_prefix('-') {
            Some(taken) => Self::parse_usd(taken).map(Money::negated),
            None => Self::parse_usd(t.strip_prefix('+').unwrap_or(t)),
        }
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    pub fn saturating_add(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }

    pub fn saturating_sub(self, other: Money) -> Money {
        Money(self.0.saturating_sub(other.0))
    }

    pub fn min(self, other: Money) -> Money {
        Money(self.0.min(other.0))
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn negated(self) -> Money {
        Money(-self.0)
    }

    /// The amount as a plain decimal string without a currency sign (`"-0.2"`, `"20"`), for APIs and CSV.
    pub fn to_plain(self) -> String {
        self.to_decimal().normalize().to_string()
    }
}

/// How pages show amounts (the one display rule). Balances, totals and movements read in cents; one call's
/// cost reads to four decimals, because most calls cost less than a cent. A non-zero amount never reads as
/// zero: below the shown precision it reads `<$0.0001` or to four decimals. Pages keep the exact figure
/// (`Display`) beside it, in a tooltip; CSV files carry the exact plain figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    /// Balances, totals, package amounts, movements: `$2.59`.
    Cents,
    /// One call's cost: `$0.0016`.
    PerCall,
}

impl Money {
    pub fn shown(self, rule: Shown) -> String {
        self.shown_and_exact(rule).0
    }

    /// The shown figure, and whether it is the exact amount (nothing was rounded away).
    pub fn shown_and_exact(self, rule: Shown) -> (String, bool) {
        let d = self.to_decimal().abs();
        let places = match rule {
            Shown::Cents if self.is_zero() || d >= Decimal::new(5, 3) => 2,
            _ => 4,
        };
        let rounded = d.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
        let sign = if self.0 < 0 { "-" } else { "" };
        if rounded.is_zero() && !self.is_zero() {
            return (format!("{sign}<$0.0001"), false);
        }
        (format!("{sign}${rounded:.prec$}", prec = places as usize), rounded == d)
    }
}

impl fmt::Display for Money {
    /// Exact: `$20.00`, `-$0.20`, `$0.000123`: at least cents, and every significant digit below them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.to_decimal().abs().normalize();
        let shown = if d.scale() < 2 { format!("{d:.2}") } else { d.to_string() };
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}${shown}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn adjustments_read_a_leading_sign() {
        assert_eq!(Money::parse_signed_usd(" -2.50 ").unwrap(), Money::parse_usd("2.5").unwrap().negated());
        assert_eq!(Money::parse_signed_usd("+5").unwrap(), Money::usd(5));
        assert_eq!(Money::parse_signed_usd("$5").unwrap(), Money::usd(5));
        assert!(Money::parse_signed_usd("--5").is_err());
        assert!(Money::parse_signed_usd("abc").is_err());
    }

    use super::*;
    use std::str::FromStr;

    #[test]
    fn parsing_accepts_plain_amounts_and_a_dollar_sign() {
        assert_eq!(Money::parse_usd("20").unwrap(), Money::usd(20));
        assert_eq!(Money::parse_usd("$0.10").unwrap(), Money::from_units(100_000_000));
        assert_eq!(Money::parse_usd(" 0.000000001 ").unwrap(), Money::from_units(1));
        assert_eq!(Money::parse_usd(".5").unwrap(), Money::from_units(500_000_000));
        assert_eq!(Money::parse_usd("0").unwrap(), Money::ZERO);
    }

    #[test]
    fn parsing_refuses_negatives_nan_exponents_and_excess_precision() {
        assert_eq!(Money::parse_usd("-1"), Err(MoneyError::Negative));
        for bad in ["NaN", "inf", "1e5", "", "$", ".", "1,000", "+3", "1.2.3", "0x10", "½"] {
            assert_eq!(Money::parse_usd(bad), Err(MoneyError::NotANumber), "{bad}");
        }
        assert_eq!(Money::parse_usd("0.0000000001"), Err(MoneyError::TooPrecise));
        assert_eq!(Money::parse_usd("99999999999999999999"), Err(MoneyError::TooLarge));
    }

    #[test]
    fn display_shows_cents_and_every_significant_digit() {
        assert_eq!(Money::usd(20).to_string(), "$20.00");
        assert_eq!(Money::from_units(-200_000_000).to_string(), "-$0.20");
        assert_eq!(Money::from_units(123_000).to_string(), "$0.000123");
        assert_eq!(Money::from_units(1).to_string(), "$0.000000001");
        assert_eq!(Money::from_units(-200_000_000).to_plain(), "-0.2");
    }

    #[test]
    fn pages_show_cents_and_calls_four_decimals_and_never_a_false_zero() {
        let m = |units: i64| Money::from_units(units);
        assert_eq!(m(2_585_603_850).shown(Shown::Cents), "$2.59");
        assert_eq!(m(16_340_258_000).shown(Shown::Cents), "$16.34");
        assert_eq!(m(-200_000_000).shown(Shown::Cents), "-$0.20");
        assert_eq!(Money::ZERO.shown(Shown::Cents), "$0.00");
        assert_eq!(m(5_000_000).shown(Shown::Cents), "$0.01");
        // Below half a cent, cents would read as zero: four decimals instead.
        assert_eq!(m(4_990_000).shown(Shown::Cents), "$0.0050");
        assert_eq!(m(-1_234_000).shown(Shown::Cents), "-$0.0012");
        assert_eq!(m(99_520_000).shown(Shown::PerCall), "$0.0995");
        assert_eq!(m(1_600_000).shown(Shown::PerCall), "$0.0016");
        assert_eq!(m(2_585_603_850).shown(Shown::PerCall), "$2.5856");
        assert_eq!(m(40_000).shown(Shown::PerCall), "<$0.0001");
        assert_eq!(m(-40_000).shown(Shown::PerCall), "-<$0.0001");
        assert_eq!(Money::ZERO.shown(Shown::PerCall), "$0.0000");
        assert!(m(2_800_000_000).shown_and_exact(Shown::Cents).1);
        assert!(!m(2_899_520_000).shown_and_exact(Shown::Cents).1);
        assert!(Money::ZERO.shown_and_exact(Shown::PerCall).1);
        assert!(!m(40_000).shown_and_exact(Shown::PerCall).1);
    }

    #[test]
    fn rounding_is_half_away_from_zero_to_one_unit() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(Money::round_from(d("0.0000000015")), Some(Money::from_units(2)));
        assert_eq!(Money::round_from(d("0.0000000014")), Some(Money::from_units(1)));
        assert_eq!(Money::round_from(d("-0.0000000015")), Some(Money::from_units(-2)));
        assert_eq!(Money::exact_from(d("0.0000000015")), None);
        assert_eq!(Money::exact_from(d("1.5")), Some(Money::from_units(1_500_000_000)));
    }
}
