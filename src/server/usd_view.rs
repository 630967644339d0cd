//! Amounts for pages: the figure by the display rule (`Shown`) with the exact one beside it.

use crate::server::domain::money::{Money, Shown};
use crate::shared::dto::Usd;

/// A balance, total, package amount or movement, in cents.
pub fn cents(m: Money) -> Usd {
    usd(m, Shown::Cents)
}

/// One call's cost, to four decimals.
pub fn per_call(m: Money) -> Usd {
    usd(m, Shown::PerCall)
}

fn usd(m: Money, rule: Shown) -> Usd {
    let (shown, exact) = m.shown_and_exact(rule);
    Usd { shown, exact: m.to_string(), rounded: !exact }
}
