//! Builds what the Billing pages show from the domain: balance and tier, top-up choices, packages with
//! their deductions, bills and other movements, and the bills CSV.

use crate::i18n::{td_string, Locale};
use crate::server::domain::account;
use crate::server::domain::bills::{self, BillFilter};
use crate::server::domain::charge::Refusal;
use crate::server::domain::ledger::EntryKind;
use crate::server::domain::ledger_memo;
use crate::server::domain::money::Money;
use crate::server::domain::packages::{self, PackageSource, PackageStatus};
use crate::server::domain::redemption::{self, RedeemError};
use crate::server::domain::refusals;
use crate::server::domain::topups;
use crate::server::paid_view;
use crate::server::state::AppState;
use crate::server::time::{
    date_for, date_time_for, format_date, format_utc, now_ms, parse_date, relative, table_time, DAY_MS,
};
use crate::server::usd_view::{cents, per_call};
use crate::shared::billing::*;
use crate::shared::error::AppError;
use crate::shared::text::fill;

pub const BILLS_PER_PAGE: i64 = 50;
/// The movements list covers this many days (the Bills CSV has every call).
pub const MOVEMENTS_DAYS: i64 = 90;

/// A channel's short name in `locale`, for table cells.
pub fn channel_short(channel: &str, locale: Locale) -> String {
    match channel {
        "cc-omg" => "Claude Code".into(),
        "codex-omg" => "CodeX".into(),
        "web-chat" => td_string!(locale, channels.web_chat).into(),
        "default" => td_string!(locale, channels.standard).into(),
        other => other.into(),
    }
}

/// How the pages name a channel, in `locale`.
pub fn channel_label(channel: &str, locale: Locale) -> String {
    match channel {
        "cc-omg" => "Claude Code (cc-omg)".into(),
        "codex-omg" => "CodeX (codex-omg)".into(),
        "web-chat" => td_string!(locale, channels.web_chat).into(),
        "default" => td_string!(locale, channels.standard_api).into(),
        other => other.into(),
    }
}

/// What a package pays for, as people read it (in `locale`): "Claude Code (cc-omg)", "Claude models in
/// web chat".
pub fn scope_labels(scope: &crate::server::domain::channels::Scope, locale: Locale) -> Vec<String> {
    let family = |pattern: String| match pattern.as_str() {
        "claude-*" => "Claude".to_string(),
        "gpt-*" => "GPT".to_string(),
        _ => pattern,
    };
    scope
        .entries
        .iter()
        .map(|e| match &e.models {
            None => channel_label(&e.channel, locale),
            Some(models) => {
                let names: Vec<String> = models.iter().map(|m| family(m.to_string())).collect();
                let names = names.join(", ");
                match e.channel.as_str() {
                    "web-chat" => fill(td_string!(locale, channels.models_in_web_chat), &[("names", &names)]),
                    channel => fill(
                        td_string!(locale, channels.models_on),
                        &[("names", &names), ("channel", &channel_label(channel, locale))],
                    ),
                }
            }
        })
        .collect()
}

/// The Balance page, its channel names in `locale`.
pub async fn balance(state: &AppState, user_id: i64, locale: Locale) -> Result<BalanceView, AppError> {
    let money = account::money_of(state.db.pool(), user_id).await?.ok_or(AppError::Unauthorized)?;
    let settings = &state.settings.money;
    let currency = &settings.topup_currency;
    let tier = settings.tiers.tier_for(money.paid_topups_minor);
    // Progress is counted from nothing paid, so the bar shows what has been paid toward the next tier (a
    // first top-up that reached a tier does not read 0%).
    let next_tier = tier.next.map(|(threshold, rpm)| {
        let span = threshold.max(1);
        let done = money.paid_topups_minor.clamp(0, span);
        NextTier {
            rpm,
            threshold: paid_view::paid(threshold, currency, locale),
            still_needed: paid_view::paid(threshold - money.paid_topups_minor, currency, locale),
            percent: u8::try_from(done * 100 / span).unwrap_or(0),
        }
    });
    let now = now_ms();
    let pkgs = packages::list(state.db.pool(), user_id, now).await?;
    let active: Vec<_> = pkgs.iter().filter(|p| p.status == PackageStatus::Active).collect();
    let prices = state.pricing.current();
    Ok(BalanceView {
        balance: cents(money.balance),
        balance_positive: money.balance.is_positive(),
        reserved: {
            let held = state.gateway.balance_held(user_id);
            held.is_positive().then(|| cents(held))
        },
        rpm: tier.rpm,
        paid_total: paid_view::paid(money.paid_topups_minor, currency, locale),
        next_tier,
        tiers: settings.tiers.all().iter().map(|(t, rpm)| (paid_view::paid(*t, currency, locale), *rpm)).collect(),
        multipliers: prices
            .multipliers
            .all()
            .into_iter()
            .map(|(c, m)| (channel_label(&c, locale), m.normalize().to_string()))
            .collect(),
        claude_code_rate: prices.multipliers.for_channel("cc-omg").normalize().to_string(),
        claude_code_dollar: crate::server::domain::charge::balance_part(
            Money::usd(1),
            prices.multipliers.for_channel("cc-omg"),
        )
        .unwrap_or_default()
        .to_string(),
        active_packages: active.len(),
        packages_remaining: cents(active.iter().fold(Money::ZERO, |s, p| s.saturating_add(p.remaining))),
        support_email: state.settings.operators.support_email.clone(),
    })
}

/// The Top-up page, its amounts in `locale`.
pub async fn topup(state: &AppState, user_id: i64, locale: Locale) -> Result<TopupView, AppError> {
    let money = account::money_of(state.db.pool(), user_id).await?.ok_or(AppError::Unauthorized)?;
    let s = &state.settings.money;
    let credit =
        |units: i64| topups::usd_for(units * 100, s.usd_per_topup_unit).map(|m| m.to_string()).unwrap_or_default();
    Ok(TopupView {
        currency: s.topup_currency.clone(),
        options: s
            .topup_options
            .iter()
            .map(|n| (n.to_string(), paid_view::whole(*n, &s.topup_currency, locale), credit(*n)))
            .collect(),
        min_custom: topups::MIN_CUSTOM,
        max_custom: topups::MAX_CUSTOM,
        usd_per_unit: s.usd_per_topup_unit.normalize().to_string(),
        card_payments: s.stripe.is_some(),
        test_payments: s.test_payments,
        balance: cents(money.balance),
    })
}

/// The Resource packages page, its words in `locale`.
pub async fn packages(state: &AppState, user_id: i64, locale: Locale) -> Result<Vec<PackageView>, AppError> {
    let now = now_ms();
    let mut out = Vec::new();
    for p in packages::list(state.db.pool(), user_id, now).await? {
        let deductions = packages::deductions(state.db.pool(), user_id, p.id).await?.unwrap_or_default();
        let percent_left = percent_left(p.remaining, p.original);
        let expires_relative = if p.expires_at > now {
            fill(td_string!(locale, packages.expires_when), &[("when", &relative(p.expires_at, now, locale))])
        } else {
            fill(td_string!(locale, packages.expired_when), &[("when", &relative(p.expires_at, now, locale))])
        };
        out.push(PackageView {
            id: p.id,
            title: p.title,
            scope: scope_labels(&p.scope, locale),
            original: cents(p.original),
            remaining: cents(p.remaining),
            used: cents(p.original.saturating_sub(p.remaining)),
            percent_left,
            granted: date_time_for(p.granted_at, locale),
            expires: date_time_for(p.expires_at, locale),
            expires_relative,
            source: source_label(&p.source, locale),
            status: status_label(p.status, locale).to_string(),
            active: p.status == PackageStatus::Active,
            deductions: deductions
                .into_iter()
                .map(|d| DeductionView {
                    at: table_time(d.at, locale),
                    amount: per_call(d.amount.negated()),
                    model: d.model,
                    channel: channel_short(&d.channel, locale),
                    key_name: d.key_name.unwrap_or_else(|| "—".into()),
                })
                .collect(),
        });
    }
    Ok(out)
}

/// 0..=100: the share of a package's original amount that is left.
pub fn percent_left(remaining: Money, original: Money) -> u8 {
    if !original.is_positive() {
        return 0;
    }
    u8::try_from((i128::from(remaining.units()) * 100 / i128::from(original.units())).clamp(0, 100)).unwrap_or(0)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// Where a package came from, in `locale` (an unknown stored source is shown capitalized).
fn source_label(source: &str, locale: Locale) -> String {
    match PackageSource::parse(source) {
        Some(PackageSource::Referral) => td_string!(locale, packages.source_referral).into(),
        Some(PackageSource::Promotion) => td_string!(locale, packages.source_promotion).into(),
        Some(PackageSource::Admin) => td_string!(locale, packages.source_admin).into(),
        Some(PackageSource::Purchase) => td_string!(locale, packages.source_purchase).into(),
        None => capitalize(source),
    }
}

/// A package's state, in `locale`.
fn status_label(status: PackageStatus, locale: Locale) -> &'static str {
    match status {
        PackageStatus::Active => td_string!(locale, packages.status_active),
        PackageStatus::UsedUp => td_string!(locale, packages.status_used_up),
        PackageStatus::Expired => td_string!(locale, packages.status_expired),
    }
}

/// A ledger entry's kind, in `locale`.
fn entry_label(kind: &str, locale: Locale) -> &'static str {
    match kind {
        "welcome" => td_string!(locale, billing.entry_welcome),
        "topup" => td_string!(locale, billing.entry_topup),
        "redemption" => td_string!(locale, billing.entry_redemption),
        "package_grant" => td_string!(locale, billing.entry_package_grant),
        "package_deduction" => td_string!(locale, billing.entry_package_deduction),
        "balance_charge" => td_string!(locale, billing.entry_balance_charge),
        "refund" => td_string!(locale, billing.entry_refund),
        "adjustment" => td_string!(locale, billing.entry_adjustment),
        _ => td_string!(locale, billing.entry_misc),
    }
}

/// A movement's memo as shown: a top-up's amount in `locale`'s form (`¥20.00 · bank transfer`), any other memo
/// (a package title, an operator's reason, a code's last symbols) as written.
fn memo_text(kind: &str, memo: String, locale: Locale) -> String {
    if kind != EntryKind::Topup.as_str() {
        return memo;
    }
    match ledger_memo::read_paid(&memo) {
        Some(p) => {
            let amount = paid_view::paid(p.amount_minor, p.currency, locale);
            match p.method {
                Some(m) => format!("{amount} · {m}"),
                None => amount,
            }
        }
        None => memo,
    }
}

/// Why a call was refused, in `locale` (a reason recorded as an English sentence before, as written).
fn refused_text(why: &refusals::Why, locale: Locale) -> String {
    match why {
        refusals::Why::RateLimited { rpm, retry_secs } => {
            fill(td_string!(locale, bills.refused_rate), &[("rpm", rpm), ("secs", retry_secs)])
        }
        refusals::Why::Payment(Refusal::BalanceNotPositive { balance }) => {
            fill(td_string!(locale, bills.refused_balance), &[("balance", balance)])
        }
        refusals::Why::Payment(Refusal::FundsReserved { balance, reserved }) => {
            fill(td_string!(locale, bills.refused_reserved), &[("balance", balance), ("reserved", reserved)])
        }
        refusals::Why::Payment(Refusal::KeyCapReached { cap, spent, reserved }) if reserved.is_positive() => fill(
            td_string!(locale, bills.refused_key_cap_running),
            &[("cap", cap), ("spent", spent), ("reserved", reserved)],
        ),
        refusals::Why::Payment(Refusal::KeyCapReached { cap, .. }) => {
            fill(td_string!(locale, bills.refused_key_cap), &[("cap", cap)])
        }
        refusals::Why::Payment(Refusal::WorstCaseTooLarge) => td_string!(locale, bills.refused_too_large).into(),
        refusals::Why::Written(text) => text.clone(),
    }
}

/// Why a redemption code was refused (or a batch of them not made), in `locale`.
pub fn redeem_text(e: &RedeemError, locale: Locale) -> String {
    match e {
        RedeemError::Unknown => td_string!(locale, topup.code_unknown).into(),
        RedeemError::Expired => td_string!(locale, topup.code_expired).into(),
        RedeemError::UsedUp => td_string!(locale, topup.code_used_up).into(),
        RedeemError::AlreadyRedeemed => td_string!(locale, topup.code_already_redeemed).into(),
        RedeemError::Disabled => td_string!(locale, topup.code_withdrawn).into(),
        RedeemError::BadBatch => fill(td_string!(locale, admin_errors.bad_batch), &[("max", &redemption::MAX_BATCH)]),
        RedeemError::Ledger(_) => td_string!(locale, errors.internal).into(),
    }
}

/// How a call ended, in `locale`.
fn outcome_label(stored: &str, locale: Locale) -> &'static str {
    match stored {
        "caller_left" => td_string!(locale, billing.outcome_caller_left),
        "upstream_broke" => td_string!(locale, billing.outcome_upstream_broke),
        "stopped" => td_string!(locale, billing.outcome_stopped),
        _ => td_string!(locale, billing.outcome_complete),
    }
}

/// Reads the page's filters; a date that cannot be read is reported (in `locale`), not ignored silently.
pub fn filter_of(q: &BillQuery, locale: Locale) -> Result<BillFilter, String> {
    let date = |text: &str, message: &str| -> Result<Option<i64>, String> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        parse_date(text).map(Some).ok_or_else(|| fill(message, &[("text", &format!("{text:?}"))]))
    };
    let from = date(&q.from, td_string!(locale, billing.bad_from_date))?;
    let until = date(&q.until, td_string!(locale, billing.bad_until_date))?.map(|d| d + DAY_MS);
    if let (Some(f), Some(u)) = (from, until) {
        if f >= u {
            return Err(td_string!(locale, billing.from_after_until).into());
        }
    }
    let text = |t: &str| Some(t.trim().to_string()).filter(|t| !t.is_empty());
    Ok(BillFilter { from, until, key_name: text(&q.key), model: text(&q.model), up_to_id: None })
}

fn bill_row(b: bills::Bill, pricing: &crate::server::domain::pricing::Pricing, locale: Locale) -> BillRow {
    let price = pricing.table.lookup(&b.model);
    let read_characters = price.is_some_and(|p| p.unit() == crate::server::domain::pricing::Unit::Characters);
    let made_images = price.is_some_and(|p| p.kind == crate::server::domain::pricing::ModelKind::Image);
    BillRow {
        at: table_time(b.at, locale),
        key_name: b.key_name.unwrap_or_else(|| {
            if b.channel == "web-chat" {
                td_string!(locale, channels.web_chat).into()
            } else {
                "—".into()
            }
        }),
        channel: channel_short(&b.channel, locale),
        model: b.model,
        input_tokens: b.input_tokens,
        output_tokens: b.output_tokens,
        cache_write_tokens: b.cache_write_tokens,
        cache_read_tokens: b.cache_read_tokens,
        read_characters,
        web_searches: b.web_searches,
        images: b.images,
        made_images,
        official_cost: per_call(b.official_cost),
        packages_paid: per_call(b.packages_paid),
        balance_paid: per_call(b.balance_paid),
        multiplier: b.multiplier,
        outcome: outcome_label(&b.outcome, locale).to_string(),
        latency: b.latency_ms.map(latency_text).unwrap_or_default(),
        request_id: b.request_id.unwrap_or_default(),
    }
}

/// `850 ms` under a second, else `12.4 s`.
fn latency_text(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// The account's calls refused before they ran (402, 429), newest first, their labels in `locale`.
pub async fn refused(state: &AppState, user_id: i64, locale: Locale) -> Result<Vec<RefusedRow>, AppError> {
    Ok(refusals::recent(state.db.pool(), user_id, 200)
        .await?
        .into_iter()
        .map(|r| RefusedRow {
            at: table_time(r.at, locale),
            key_name: r.key_name.unwrap_or_else(|| {
                if r.channel == "web-chat" {
                    td_string!(locale, channels.web_chat).into()
                } else {
                    "—".into()
                }
            }),
            channel: channel_short(&r.channel, locale),
            model: r.model,
            status: r.status,
            reason: refused_text(&r.why, locale),
            request_id: r.request_id.unwrap_or_default(),
        })
        .collect())
}

/// The Bills page, its labels and messages in `locale`.
pub async fn bills(state: &AppState, user_id: i64, q: &BillQuery, locale: Locale) -> Result<BillsView, AppError> {
    let (keys, models) = bills::filter_choices(state.db.pool(), user_id).await?;
    let (filter, filter_error) = match filter_of(q, locale) {
        Ok(f) => (f, None),
        Err(e) => (BillFilter::default(), Some(e)),
    };
    let page = q.page.max(1);
    let offset = i64::from(page - 1) * BILLS_PER_PAGE;
    let (rows, total) = bills::page(state.db.pool(), user_id, &filter, BILLS_PER_PAGE, offset).await?;
    let sums = bills::totals(state.db.pool(), user_id, &filter).await?;
    let totals = BillTotals {
        official_cost: cents(sums.official_cost),
        packages_paid: cents(sums.packages_paid),
        balance_paid: cents(sums.balance_paid),
    };
    let pages = u32::try_from((total + BILLS_PER_PAGE - 1) / BILLS_PER_PAGE).unwrap_or(u32::MAX).max(1);
    let pricing = state.pricing.current();
    let rows = rows.into_iter().map(|b| bill_row(b, &pricing, locale)).collect();
    Ok(BillsView { rows, total, totals, page, pages, keys, models, filter_error })
}

/// Balance and package movements of the last [`MOVEMENTS_DAYS`] days, their labels in `locale`.
pub async fn movements(state: &AppState, user_id: i64, locale: Locale) -> Result<Vec<MovementRow>, AppError> {
    let since = now_ms() - MOVEMENTS_DAYS * DAY_MS;
    Ok(bills::movements(state.db.pool(), user_id, since, 200)
        .await?
        .into_iter()
        .map(|m| MovementRow {
            at: table_time(m.at, locale),
            day: format_date(m.at),
            day_shown: date_for(m.at, locale),
            what: if m.calls > 0 {
                let sentence = if m.calls == 1 {
                    td_string!(locale, billing.api_calls_single)
                } else {
                    td_string!(locale, billing.api_calls_plural)
                };
                fill(sentence, &[("n", &m.calls)])
            } else {
                entry_label(&m.kind, locale).to_string()
            },
            memo: memo_text(&m.kind, m.memo, locale),
            calls: m.calls,
            balance_change: cents(m.balance_delta),
            package_change: cents(m.package_delta),
            balance_after: cents(m.balance_after),
        })
        .collect())
}

/// Every bill matching the filter, as CSV (amounts as plain USD decimals).
pub async fn bills_csv(state: &AppState, user_id: i64, filter: &BillFilter) -> Result<String, AppError> {
    let filter = &BillFilter {
        up_to_id: Some(bills::newest_id(state.db.pool(), user_id).await?.unwrap_or(0)),
        ..filter.clone()
    };
    let mut out = String::from(
        "time_utc,key,channel,model,input_tokens,output_tokens,cache_write_tokens,cache_read_tokens,\
         official_cost_usd,packages_paid_usd,balance_paid_usd,multiplier,outcome,latency_ms,request_id,web_searches,images\n",
    );
    let mut offset = 0;
    loop {
        let (rows, _) = bills::page(state.db.pool(), user_id, filter, 1000, offset).await?;
        if rows.is_empty() {
            break;
        }
        offset += i64::try_from(rows.len()).unwrap_or(1000);
        for b in rows {
            let fields = [
                format_utc(b.at),
                b.key_name.unwrap_or_default(),
                b.channel,
                b.model,
                b.input_tokens.to_string(),
                b.output_tokens.to_string(),
                b.cache_write_tokens.to_string(),
                b.cache_read_tokens.to_string(),
                b.official_cost.to_plain(),
                b.packages_paid.to_plain(),
                b.balance_paid.to_plain(),
                b.multiplier,
                b.outcome,
                b.latency_ms.map(|l| l.to_string()).unwrap_or_default(),
                b.request_id.unwrap_or_default(),
                b.web_searches.to_string(),
                b.images.to_string(),
            ];
            out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
            out.push('\n');
        }
    }
    Ok(out)
}

/// Quotes a CSV field when needed, and defuses spreadsheet formulas in text a person chose (key names).
pub fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) && value.parse::<f64>().is_err() {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_scopes_read_as_people_say_them() {
        let scope =
            crate::server::domain::channels::Scope::parse("cc-omg,web-chat:claude-*,codex-omg:gpt-*|o3*").unwrap();
        assert_eq!(
            scope_labels(&scope, Locale::en),
            vec!["Claude Code (cc-omg)", "Claude models in web chat", "GPT, o3* models on CodeX (codex-omg)"]
        );
    }

    #[test]
    fn a_top_ups_memo_reads_in_the_readers_currency_format_and_other_memos_as_written() {
        let offline = crate::server::domain::ledger_memo::paid(10_000, "CNY", Some("bank transfer"));
        assert_eq!(memo_text("topup", offline.clone(), Locale::zh), "¥100.00 · bank transfer");
        assert_eq!(memo_text("topup", offline, Locale::ja), "CN¥100.00 · bank transfer");
        assert_eq!(memo_text("topup", "CNY 20.00".into(), Locale::en), "CN¥20.00");
        assert_eq!(memo_text("package_grant", "CNY 20.00".into(), Locale::zh), "CNY 20.00", "a title, as written");
        assert_eq!(memo_text("adjustment", "Goodwill".into(), Locale::zh), "Goodwill");
    }

    #[test]
    fn refusals_are_worded_in_each_language() {
        let why = refusals::Why::RateLimited { rpm: 60, retry_secs: 12 };
        assert!(refused_text(&why, Locale::en).starts_with("Over the rate limit of 60 requests per minute"));
        assert!(refused_text(&why, Locale::ja).contains("60") && refused_text(&why, Locale::ja).contains("12"));
        let cap = refusals::Why::Payment(Refusal::KeyCapReached {
            cap: Money::usd(5),
            spent: Money::usd(5),
            reserved: Money::ZERO,
        });
        assert_eq!(refused_text(&cap, Locale::en), "The key reached its spending cap of $5.00.");
        let old = refusals::Why::Written("Your balance is -$0.20.".into());
        assert_eq!(refused_text(&old, Locale::zh), "Your balance is -$0.20.", "recorded before: as written");
    }

    #[test]
    fn english_labels() {
        assert_eq!(entry_label("topup", Locale::en), "Top-up");
        assert_eq!(entry_label("no-such-kind", Locale::en), "Other");
        assert_eq!(outcome_label("caller_left", Locale::en), "caller left");
        assert_eq!(outcome_label("no-such-outcome", Locale::en), "complete");
        assert_eq!(status_label(PackageStatus::UsedUp, Locale::en), "Used up");
        assert_eq!(source_label("referral", Locale::en), "Referral");
        assert_eq!(source_label("gift", Locale::en), "Gift");
        assert_eq!(channel_label("default", Locale::en), "Standard API");
        assert_eq!(channel_short("web-chat", Locale::en), "Web chat");
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("-0.2"), "-0.2");
    }

    #[test]
    fn bill_filters_read_dates_and_explain_bad_ones() {
        let f = filter_of(
            &BillQuery { from: "2026-11-01".into(), until: "2026-11-01".into(), ..BillQuery::default() },
            Locale::en,
        )
        .unwrap();
        assert_eq!(f.until.unwrap() - f.from.unwrap(), DAY_MS);
        let bad = filter_of(&BillQuery { from: "nope".into(), ..BillQuery::default() }, Locale::en).unwrap_err();
        assert_eq!(bad, "The from date \"nope\" is not a date like 2026-11-25.");
        assert!(filter_of(
            &BillQuery { from: "2026-11-02".into(), until: "2026-11-01".into(), ..BillQuery::default() },
            Locale::en,
        )
        .is_err());
    }
}
