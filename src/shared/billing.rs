//! What the Billing pages show: amounts arrive formatted by the server (money never as floats here).

pub use crate::shared::dto::Usd;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceView {
    pub balance: Usd,
    /// False when the balance is <= 0: API access is blocked (HTTP 402).
    pub balance_positive: bool,
    /// Balance reserved by calls still running, when any.
    pub reserved: Option<Usd>,
    pub rpm: u32,
    /// Paid top-ups so far, e.g. `CNY 20.00`.
    pub paid_total: String,
    pub next_tier: Option<NextTier>,
    /// Every tier: (paid top-ups needed, requests per minute).
    pub tiers: Vec<(String, u32)>,
    /// Channel label and multiplier, e.g. ("Claude Code (cc-omg)", "0.2").
    pub multipliers: Vec<(String, String)>,
    /// The Claude Code channel's multiplier, e.g. `0.2`, and what a $1 call costs the balance there.
    pub claude_code_rate: String,
    pub claude_code_dollar: String,
    pub active_packages: usize,
    pub packages_remaining: Usd,
    /// `SUPPORT_EMAIL`, for the FAQ.
    pub support_email: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextTier {
    pub rpm: u32,
    pub threshold: String,
    pub still_needed: String,
    /// 0..=100: paid top-ups as a share of the next tier's threshold.
    pub percent: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopupView {
    pub currency: String,
    /// (value to post, label such as `CNY 20`, what it credits such as `$2.80`).
    pub options: Vec<(String, String, String)>,
    pub min_custom: i64,
    pub max_custom: i64,
    /// USD credited per currency unit, e.g. `0.14`.
    pub usd_per_unit: String,
    pub card_payments: bool,
    /// Dev mode's labelled test payments.
    pub test_payments: bool,
    pub balance: Usd,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageView {
    pub id: i64,
    pub title: String,
    pub scope: Vec<String>,
    pub original: Usd,
    pub remaining: Usd,
    pub used: Usd,
    /// 0..=100: share of the original amount that is left.
    pub percent_left: u8,
    pub granted: String,
    pub expires: String,
    /// `in 29 days`, `expired 2 days ago`.
    pub expires_relative: String,
    pub source: String,
    pub status: String,
    pub active: bool,
    pub deductions: Vec<DeductionView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeductionView {
    pub at: String,
    pub amount: Usd,
    pub model: String,
    pub channel: String,
    pub key_name: String,
}

/// The Bills page's filters and page, as they appear in its URL.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BillQuery {
    /// `YYYY-MM-DD`, UTC, inclusive.
    pub from: String,
    /// `YYYY-MM-DD`, UTC, inclusive.
    pub until: String,
    pub key: String,
    pub model: String,
    pub page: u32,
}

impl BillQuery {
    /// The query string for these filters (without the page), for links and the CSV export.
    pub fn filter_query(&self) -> String {
        let mut parts = Vec::new();
        for (name, value) in [("from", &self.from), ("until", &self.until), ("key", &self.key), ("model", &self.model)]
        {
            if !value.is_empty() {
                parts.push(format!("{name}={}", encode(value)));
            }
        }
        parts.join("&")
    }
}

/// Percent-encodes a query-string value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillRow {
    pub at: String,
    pub key_name: String,
    pub channel: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_write_tokens: i64,
    pub cache_read_tokens: i64,
    /// A text-to-speech call billed per character: its `input_tokens` are the characters it read out.
    pub read_characters: bool,
    /// Web searches run for the call (billed in its cost).
    pub web_searches: i64,
    /// Images an image call made; its tokens, if any, are shown beside them (input = text, image input
    /// and cached input together).
    pub images: i64,
    /// An image model's call: the images it made come first.
    pub made_images: bool,
    pub official_cost: Usd,
    pub packages_paid: Usd,
    pub balance_paid: Usd,
    pub multiplier: String,
    /// How the call ended: `complete`, `caller left`, `upstream broke`, `stopped`.
    pub outcome: String,
    /// `850 ms`, `12.4 s`; empty when not measured (older calls).
    pub latency: String,
    /// The `x-request-id` the caller saw; empty when not kept.
    pub request_id: String,
}

/// The Usage page: the last days' spend per day (for the chart) and per channel, model and key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageView {
    /// Every day of the period, oldest first, days without calls included.
    pub days: Vec<UsageDay>,
    pub by_channel: Vec<UsageLine>,
    pub by_model: Vec<UsageLine>,
    pub by_key: Vec<UsageLine>,
    pub total: UsageLine,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageDay {
    /// `2026-11-30`.
    pub date: String,
    pub calls: i64,
    /// What packages and the balance paid that day, in 1e-9 USD (the chart's bar heights), and shown.
    pub packages_units: i64,
    pub balance_units: i64,
    pub packages: Usd,
    pub balance: Usd,
}

/// Calls and what they cost, for one channel, model or key (or all of them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageLine {
    pub label: String,
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub official_cost: Usd,
    pub packages_paid: Usd,
    pub balance_paid: Usd,
}

/// A call refused before it ran (402, 429): nothing was charged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedRow {
    pub at: String,
    pub key_name: String,
    pub channel: String,
    pub model: String,
    pub status: u16,
    pub reason: String,
    pub request_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillsView {
    pub rows: Vec<BillRow>,
    /// Calls matching the filter, and what they cost in all.
    pub total: i64,
    pub totals: BillTotals,
    pub page: u32,
    pub pages: u32,
    pub keys: Vec<String>,
    pub models: Vec<String>,
    /// A filter that could not be read, explained.
    pub filter_error: Option<String>,
}

/// What the calls matching the Bills filter cost in all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillTotals {
    pub official_cost: Usd,
    pub packages_paid: Usd,
    pub balance_paid: Usd,
}

/// One line of the movements list: a top-up, grant or adjustment, or a day's run of API calls between them
/// (`calls` > 0). Each line's `balance_after` is the previous line's plus its `balance_change`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovementRow {
    pub at: String,
    /// The line's UTC day, `2026-11-30` (what the Bills page's filter reads), and as the reader writes it.
    pub day: String,
    pub day_shown: String,
    pub what: String,
    pub memo: String,
    pub calls: i64,
    pub balance_change: Usd,
    pub package_change: Usd,
    pub balance_after: Usd,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_queries_encode_their_values() {
        let q = BillQuery { from: "2026-11-01".into(), key: "my key&1".into(), ..BillQuery::default() };
        assert_eq!(q.filter_query(), "from=2026-11-01&key=my%20key%261");
        assert_eq!(BillQuery::default().filter_query(), "");
    }
}
