//! The Usage page's data: the last [`USAGE_DAYS`] days of calls summed per day (the chart) and per channel,
//! model and key, with totals, and the same sums as CSV.

use crate::i18n::{td_string, Locale};
use crate::server::billing_view::{channel_short, csv_field};
use crate::server::domain::bills::{self, UsageGroup};
use crate::server::domain::money::Money;
use crate::server::state::AppState;
use crate::server::time::{format_date, now_ms, DAY_MS};
use crate::server::usd_view::cents;
use crate::shared::billing::{UsageDay, UsageLine, UsageView};
use crate::shared::error::AppError;
use std::collections::BTreeMap;

pub const USAGE_DAYS: i64 = 30;

/// Running sums for one line.
#[derive(Clone, Copy, Default)]
struct Sum {
    calls: i64,
    input: i64,
    output: i64,
    official: Money,
    packages: Money,
    balance: Money,
}

impl Sum {
    fn add(&mut self, g: &UsageGroup) {
        self.calls += g.calls;
        self.input = self.input.saturating_add(g.input_tokens);
        self.output = self.output.saturating_add(g.output_tokens);
        self.official = self.official.saturating_add(g.official_cost);
        self.packages = self.packages.saturating_add(g.packages_paid);
        self.balance = self.balance.saturating_add(g.balance_paid);
    }

    fn line(self, label: String) -> UsageLine {
        UsageLine {
            label,
            calls: self.calls,
            input_tokens: self.input,
            output_tokens: self.output,
            official_cost: cents(self.official),
            packages_paid: cents(self.packages),
            balance_paid: cents(self.balance),
        }
    }
}

fn key_label(g: &UsageGroup, locale: Locale) -> String {
    match &g.key_name {
        Some(k) => k.clone(),
        None if g.channel == "web-chat" => td_string!(locale, channels.web_chat).into(),
        None => "—".into(),
    }
}

/// Lines for each distinct label, the costliest first.
fn lines_by(groups: &[UsageGroup], label: impl Fn(&UsageGroup) -> String) -> Vec<UsageLine> {
    let mut sums: BTreeMap<String, Sum> = BTreeMap::new();
    for g in groups {
        sums.entry(label(g)).or_default().add(g);
    }
    let mut lines: Vec<(Sum, String)> = sums.into_iter().map(|(l, s)| (s, l)).collect();
    lines.sort_by_key(|(s, l)| (std::cmp::Reverse(s.official), l.clone()));
    lines.into_iter().map(|(s, l)| s.line(l)).collect()
}

/// The page from the groups of days `first_day..=last_day` (days since 1970-01-01), its labels in `locale`.
pub fn summarize(groups: &[UsageGroup], first_day: i64, last_day: i64, locale: Locale) -> UsageView {
    let mut per_day: BTreeMap<i64, Sum> = (first_day..=last_day).map(|d| (d, Sum::default())).collect();
    let mut total = Sum::default();
    for g in groups.iter().filter(|g| (first_day..=last_day).contains(&g.day)) {
        per_day.entry(g.day).or_default().add(g);
        total.add(g);
    }
    UsageView {
        days: per_day
            .into_iter()
            .map(|(day, s)| UsageDay {
                date: format_date(day * DAY_MS),
                calls: s.calls,
                packages_units: s.packages.units(),
                balance_units: s.balance.units(),
                packages: cents(s.packages),
                balance: cents(s.balance),
            })
            .collect(),
        by_channel: lines_by(groups, |g| channel_short(&g.channel, locale)),
        by_model: lines_by(groups, |g| g.model.clone()),
        by_key: lines_by(groups, |g| key_label(g, locale)),
        total: total.line(td_string!(locale, billing.total).into()),
    }
}

/// The first day of the period ending today (days since 1970-01-01), and today.
fn period(now: i64) -> (i64, i64) {
    let today = now.div_euclid(DAY_MS);
    (today - (USAGE_DAYS - 1), today)
}

/// The Usage page, its labels in `locale`.
pub async fn usage(state: &AppState, user_id: i64, locale: Locale) -> Result<UsageView, AppError> {
    let (first, last) = period(now_ms());
    let groups = bills::usage(state.db.pool(), user_id, first * DAY_MS).await?;
    Ok(summarize(&groups, first, last, locale))
}

/// The same sums as CSV: one row per day, channel, model and key (amounts exact, as plain USD decimals).
pub async fn usage_csv(state: &AppState, user_id: i64) -> Result<String, AppError> {
    let (first, _) = period(now_ms());
    let groups = bills::usage(state.db.pool(), user_id, first * DAY_MS).await?;
    let mut out = String::from(
        "date_utc,channel,model,key,calls,input_tokens,output_tokens,official_cost_usd,packages_paid_usd,balance_paid_usd\n",
    );
    for g in &groups {
        let fields = [
            format_date(g.day * DAY_MS),
            g.channel.clone(),
            g.model.clone(),
            g.key_name.clone().unwrap_or_default(),
            g.calls.to_string(),
            g.input_tokens.to_string(),
            g.output_tokens.to_string(),
            g.official_cost.to_plain(),
            g.packages_paid.to_plain(),
            g.balance_paid.to_plain(),
        ];
        out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(day: i64, channel: &str, model: &str, key: Option<&str>, calls: i64, balance: i64) -> UsageGroup {
        UsageGroup {
            day,
            channel: channel.into(),
            model: model.into(),
            key_name: key.map(str::to_string),
            calls,
            input_tokens: 100 * calls,
            output_tokens: 10 * calls,
            official_cost: Money::from_units(balance * 2),
            packages_paid: Money::from_units(balance),
            balance_paid: Money::from_units(balance),
        }
    }

    #[test]
    fn every_day_of_the_period_is_a_bar_and_the_lines_add_up_to_the_total() {
        let groups = [
            group(100, "cc-omg", "claude-sonnet-4-5", Some("laptop"), 3, 30_000_000),
            group(100, "default", "gpt-4o", Some("laptop"), 1, 5_000_000),
            group(102, "web-chat", "claude-sonnet-4-5", None, 2, 20_000_000),
        ];
        let v = summarize(&groups, 99, 102, Locale::en);
        assert_eq!(v.days.len(), 4);
        assert_eq!(v.days[0].calls, 0);
        assert_eq!((v.days[1].calls, v.days[1].balance_units), (4, 35_000_000));
        assert_eq!(v.days[3].date, format_date(102 * DAY_MS));
        assert_eq!(v.total.calls, 6);
        assert_eq!(v.total.balance_paid.exact, "$0.055");
        assert_eq!(v.by_channel[0].label, "Claude Code");
        assert_eq!(v.by_model[0].label, "claude-sonnet-4-5");
        assert_eq!(v.by_model[0].calls, 5);
        assert_eq!(v.by_key.iter().map(|l| l.label.as_str()).collect::<Vec<_>>(), ["laptop", "Web chat"]);
        for lines in [&v.by_channel, &v.by_model, &v.by_key] {
            assert_eq!(lines.iter().map(|l| l.calls).sum::<i64>(), v.total.calls);
        }
    }
}
