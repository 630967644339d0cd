//! What a ledger entry's memo holds: the entry's own data, never a sentence. Pages name the kind of entry in
//! the reader's language and show the memo beside it:
//! - a top-up: the amount paid, `CNY 20.00`, and how when an operator recorded it, `CNY 100.00 · bank transfer`;
//! - a redemption: the code's last symbols, `…7Q2M`;
//! - a call: its model and channel, `claude-sonnet-4-5 · cc-omg`;
//! - a package grant: the package's title; an adjustment: the operator's reason; a welcome balance: nothing.

use super::topups::{format_minor, parse_minor};

/// Between the parts of a memo.
const SEPARATOR: &str = " · ";

/// A top-up's memo: the amount paid (`CNY 20.00`) and, for an offline payment, how it was paid.
pub fn paid(amount_minor: i64, currency: &str, method: Option<&str>) -> String {
    match method {
        Some(m) => format!("{}{SEPARATOR}{m}", format_minor(amount_minor, currency)),
        None => format_minor(amount_minor, currency),
    }
}

/// A redemption's memo: the last symbols of the code.
pub fn code_ending(hint: &str) -> String {
    format!("…{hint}")
}

/// A call's memo: its model and channel.
pub fn call(model: &str, channel: &str) -> String {
    format!("{model}{SEPARATOR}{channel}")
}

/// A top-up's memo read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paid<'a> {
    pub amount_minor: i64,
    pub currency: &'a str,
    pub method: Option<&'a str>,
}

/// Reads a top-up's memo written by [`paid`]; `None` for any other text.
pub fn read_paid(memo: &str) -> Option<Paid<'_>> {
    let (amount, method) = match memo.split_once(SEPARATOR) {
        Some((a, m)) => (a, Some(m)),
        None => (memo, None),
    };
    let (currency, number) = amount.split_once(' ')?;
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let amount_minor = parse_minor(number).ok()?;
    Some(Paid { amount_minor, currency, method })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paid_memo_reads_back_as_written() {
        assert_eq!(paid(2000, "CNY", None), "CNY 20.00");
        assert_eq!(read_paid("CNY 20.00"), Some(Paid { amount_minor: 2000, currency: "CNY", method: None }));
        let offline = paid(10_050, "USD", Some("bank transfer"));
        assert_eq!(offline, "USD 100.50 · bank transfer");
        assert_eq!(
            read_paid(&offline),
            Some(Paid { amount_minor: 10_050, currency: "USD", method: Some("bank transfer") })
        );
    }

    #[test]
    fn other_memos_are_not_read_as_paid() {
        for memo in ["", "Claude Code API $20", "Goodwill after the outage", "…7Q2M", "Top-up CNY 20.00", "cny 2.00"]
        {
            assert_eq!(read_paid(memo), None, "{memo}");
        }
        assert_eq!(call("claude-sonnet-4-5", "cc-omg"), "claude-sonnet-4-5 · cc-omg");
        assert_eq!(code_ending("7Q2M"), "…7Q2M");
    }
}
