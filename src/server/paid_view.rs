//! Amounts paid in a currency (top-ups, tiers, offline payments) as people read them in each language:
//! `¥20.00` in Chinese; `CN¥20.00` in English and Japanese, where `¥` alone reads as the yen; `$20.00` for US
//! dollars; `€`, `£` likewise; any other currency by its code, `HKD 20.00`. Balances are USD (`usd_view`).

use crate::i18n::Locale;
use crate::shared::numbers::thousands;

/// `¥20.00`, `CN¥1,000.00`, `$5.50`.
pub fn paid(amount_minor: i64, currency: &str, locale: Locale) -> String {
    let sign = if amount_minor < 0 { "-" } else { "" };
    let abs = amount_minor.unsigned_abs();
    let whole = thousands(i64::try_from(abs / 100).unwrap_or(i64::MAX));
    with_symbol(sign, &format!("{whole}.{:02}", abs % 100), currency, locale)
}

/// A whole amount, as top-up choices show it: `¥20`, `CN¥300`.
pub fn whole(units: i64, currency: &str, locale: Locale) -> String {
    let sign = if units < 0 { "-" } else { "" };
    with_symbol(sign, &thousands(i64::try_from(units.unsigned_abs()).unwrap_or(i64::MAX)), currency, locale)
}

fn with_symbol(sign: &str, number: &str, currency: &str, locale: Locale) -> String {
    let symbol = match (currency.to_ascii_uppercase().as_str(), locale) {
        ("CNY", Locale::zh) => "¥",
        ("CNY", _) => "CN¥",
        ("USD", _) => "$",
        ("EUR", _) => "€",
        ("GBP", _) => "£",
        (code, _) => return format!("{sign}{code} {number}"),
    };
    format!("{sign}{symbol}{number}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_reads_with_its_sign_in_each_language() {
        assert_eq!(paid(2000, "CNY", Locale::zh), "¥20.00");
        assert_eq!(paid(2000, "CNY", Locale::en), "CN¥20.00");
        assert_eq!(paid(2000, "CNY", Locale::ja), "CN¥20.00");
        assert_eq!(paid(1_234_567, "CNY", Locale::zh), "¥12,345.67");
        assert_eq!(whole(300, "CNY", Locale::zh), "¥300");
        assert_eq!(whole(1000, "CNY", Locale::en), "CN¥1,000");
    }

    #[test]
    fn other_currencies_use_their_sign_or_code() {
        assert_eq!(paid(550, "USD", Locale::ja), "$5.50");
        assert_eq!(paid(550, "usd", Locale::zh), "$5.50");
        assert_eq!(paid(5, "EUR", Locale::en), "€0.05");
        assert_eq!(paid(2000, "HKD", Locale::zh), "HKD 20.00");
        assert_eq!(paid(-2050, "CNY", Locale::zh), "-¥20.50");
    }
}
