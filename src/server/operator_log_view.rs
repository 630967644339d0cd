//! The operator log as the console shows it: each action named, and what it changed worded, in the reader's
//! language from the entry's [`Detail`]. Entries written before details were data show their English sentence
//! as written. Targets, reasons, titles and methods are the operators' own words and stay as written.

use crate::i18n::{td_string, Locale};
use crate::server::billing_view::scope_labels;
use crate::server::domain::channels::Scope;
use crate::server::domain::money::Money;
use crate::server::domain::operator_log::{Detail, Entry};
use crate::server::paid_view;
use crate::server::referral_view::status_label;
use crate::server::time::table_time;
use crate::shared::admin::LogRow;
use crate::shared::text::fill;

/// One entry, worded in `locale`.
pub fn log_row(e: Entry, locale: Locale) -> LogRow {
    let detail = Detail::read(&e.detail);
    let worded_target = detail.as_ref().and_then(|d| target_text(d, locale));
    LogRow {
        id: e.id,
        at: table_time(e.created_at, locale),
        actor: e.actor,
        action: action_label(&e.action, locale).map_or(e.action, str::to_string),
        target_as_written: worded_target.is_none(),
        target: worded_target.unwrap_or(e.target),
        detail: match &detail {
            Some(d) => detail_text(d, locale),
            None => e.detail,
        },
        reason: e.reason,
    }
}

/// How the console names an action filed under `verb`; `None` for a verb it does not know.
fn action_label(verb: &str, locale: Locale) -> Option<&'static str> {
    Some(match verb {
        "credit" => td_string!(locale, admin.log.action_credit),
        "debit" => td_string!(locale, admin.log.action_debit),
        "offline-payment" => td_string!(locale, admin.log.action_offline_payment),
        "grant-package" => td_string!(locale, admin.log.action_grant_package),
        "disable-account" => td_string!(locale, admin.log.action_disable_account),
        "enable-account" => td_string!(locale, admin.log.action_enable_account),
        "promote" => td_string!(locale, admin.log.action_promote),
        "demote" => td_string!(locale, admin.log.action_demote),
        "approve-referral" => td_string!(locale, admin.log.action_approve_referral),
        "reject-referral" => td_string!(locale, admin.log.action_reject_referral),
        "disable-invite-code" => td_string!(locale, admin.log.action_disable_invite_code),
        "enable-invite-code" => td_string!(locale, admin.log.action_enable_invite_code),
        "create-codes" => td_string!(locale, admin.log.action_create_codes),
        "disable-code" => td_string!(locale, admin.log.action_disable_code),
        "edit-prices" => td_string!(locale, admin.log.action_edit_prices),
        _ => return None,
    })
}

/// The target, when the detail names it better than the stored text (a referral, a code, the price table).
fn target_text(d: &Detail, locale: Locale) -> Option<String> {
    match d {
        Detail::ReferralDecided { referral, .. } => {
            Some(fill(td_string!(locale, admin.log.target_referral), &[("id", referral)]))
        }
        Detail::CodeWithdrawn { code } => Some(fill(td_string!(locale, admin.log.target_code), &[("id", code)])),
        Detail::PricesSaved { .. } => Some(td_string!(locale, admin.log.target_prices).to_string()),
        _ => None,
    }
}

fn detail_text(d: &Detail, locale: Locale) -> String {
    let usd = |units: i64| Money::from_units(units).to_string();
    match d {
        Detail::Adjusted { amount, entry } if *amount < 0 => fill(
            td_string!(locale, admin.log.detail_debited),
            &[("amount", &usd(amount.saturating_neg())), ("entry", entry)],
        ),
        Detail::Adjusted { amount, entry } => {
            fill(td_string!(locale, admin.log.detail_credited), &[("amount", &usd(*amount)), ("entry", entry)])
        }
        Detail::OfflinePayment { received, currency, method, credited, counted, tier_currency } => fill(
            td_string!(locale, admin.log.detail_offline_payment),
            &[
                ("received", &paid_view::paid(*received, currency, locale)),
                ("method", method),
                ("credited", &usd(*credited)),
                ("counted", &paid_view::paid(*counted, tier_currency, locale)),
            ],
        ),
        Detail::PackageGranted { package, title, amount, scope, days } => {
            let scope = Scope::parse(scope).map_or_else(|_| scope.clone(), |s| scope_labels(&s, locale).join(", "));
            fill(
                td_string!(locale, admin.log.detail_package_granted),
                &[("id", package), ("title", title), ("amount", &usd(*amount)), ("scope", &scope), ("days", days)],
            )
        }
        Detail::AccountDisabled => td_string!(locale, admin.log.detail_account_disabled).into(),
        Detail::AccountEnabled => td_string!(locale, admin.log.detail_account_enabled).into(),
        Detail::OperatorGiven => td_string!(locale, admin.log.detail_operator_given).into(),
        Detail::OperatorTaken => td_string!(locale, admin.log.detail_operator_taken).into(),
        Detail::ReferralDecided { status, .. } => {
            fill(td_string!(locale, admin.log.detail_referral_decided), &[("status", &status_label(status, locale))])
        }
        Detail::InviteStopped => td_string!(locale, admin.log.detail_invite_stopped).into(),
        Detail::InviteRestarted => td_string!(locale, admin.log.detail_invite_restarted).into(),
        Detail::CodesMade { count, amount, uses } => fill(
            td_string!(locale, admin.log.detail_codes_made),
            &[("count", count), ("amount", &usd(*amount)), ("uses", uses)],
        ),
        Detail::CodeWithdrawn { .. } => td_string!(locale, admin.log.detail_code_withdrawn).into(),
        Detail::PricesSaved { version, restored: None, multipliers } => fill(
            td_string!(locale, admin.log.detail_prices_saved),
            &[("version", version), ("multipliers", multipliers)],
        ),
        Detail::PricesSaved { version, restored: Some(from), multipliers } => fill(
            td_string!(locale, admin.log.detail_prices_restored),
            &[("version", version), ("from", from), ("multipliers", multipliers)],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str, target: &str, detail: &str) -> Entry {
        Entry {
            id: 1,
            actor: "op@example.com".into(),
            action: action.into(),
            target: target.into(),
            detail: detail.into(),
            reason: "Transfer reference 4471".into(),
            created_at: 1_795_620_840_000,
        }
    }

    #[test]
    fn a_detail_is_worded_in_each_language() {
        let d = Detail::OfflinePayment {
            received: 2000,
            currency: "CNY".into(),
            method: "WeChat Pay".into(),
            credited: Money::parse_usd("2.80").unwrap().units(),
            counted: 2000,
            tier_currency: "CNY".into(),
        };
        let stored = serde_json::to_string(&d).unwrap();
        let en = log_row(entry(d.action(), "a@example.com", &stored), Locale::en);
        assert_eq!(en.action, "Offline payment");
        assert_eq!(en.detail, "CN¥20.00 paid by WeChat Pay: $2.80 credited, CN¥20.00 toward the tier");
        assert_eq!(en.target, "a@example.com");
        assert_eq!(en.reason, "Transfer reference 4471", "the operator's words stay as written");
        assert_eq!(en.at, "2026-11-25 15:34");
        let zh = log_row(entry(d.action(), "a@example.com", &stored), Locale::zh);
        assert!(zh.detail.contains("¥20.00") && zh.detail.contains("WeChat Pay") && zh.detail.contains("$2.80"));
        assert!(!zh.detail.contains("credited"), "{}", zh.detail);
        assert_eq!(zh.at, "2026/11/25 15:34");

        let referral = Detail::ReferralDecided { referral: 12, status: "rejected".into() };
        let ja =
            log_row(entry(referral.action(), "referral 12", &serde_json::to_string(&referral).unwrap()), Locale::ja);
        assert!(!ja.target.contains("referral") && ja.target.contains("12"), "{}", ja.target);
        assert!(!ja.action.contains("referral"), "{}", ja.action);
    }

    #[test]
    fn an_entry_from_before_shows_as_written() {
        let old = log_row(entry("offline-payment", "a@example.com", "offline payment CNY 20.00 by bank"), Locale::zh);
        assert_eq!(old.detail, "offline payment CNY 20.00 by bank");
        assert_ne!(old.action, "offline-payment", "the action is still named in Chinese");
        let unknown = log_row(entry("some-new-verb", "x", "y"), Locale::zh);
        assert_eq!(unknown.action, "some-new-verb");
    }
}
