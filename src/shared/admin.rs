//! What the admin console shows: amounts and times arrive formatted by the server.

use crate::shared::billing::{BalanceView, BillRow, MovementRow, PackageView};
use crate::shared::dto::{KeyRow, SessionRow, Usd};
use serde::{Deserialize, Serialize};

/// The dashboard: today and the last 7 days, a bar per day, and where the money went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardView {
    /// Today (UTC) and the last 7 days.
    pub periods: Vec<PeriodStats>,
    /// The last 7 days, oldest first, days without calls included.
    pub days: Vec<DayStats>,
    /// The last 7 days' spend by channel and by model, largest first.
    pub by_channel: Vec<SpendShare>,
    pub by_model: Vec<SpendShare>,
    /// Accounts in all, and new ones in the last 7 days.
    pub accounts: i64,
    pub new_accounts: i64,
    pub held_referrals: i64,
    pub uses_mock: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodStats {
    pub label: String,
    pub calls: i64,
    /// Calls refused for money or rate (402, 429) and calls that did not complete.
    pub errors: i64,
    /// `1.2%`; `–` without calls.
    pub error_rate: String,
    pub active_accounts: i64,
    pub spend: Usd,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayStats {
    /// `11-24`.
    pub day: String,
    pub calls: i64,
    pub errors: i64,
    pub spend: Usd,
    /// 0..=100: this day's calls and spend against the busiest day's, for the bars.
    pub calls_percent: u8,
    pub spend_percent: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendShare {
    pub name: String,
    pub calls: i64,
    pub spend: Usd,
    /// 0..=100 of the period's spend.
    pub percent: u8,
}

/// One account in the search results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRow {
    pub id: i64,
    pub email: String,
    pub created: String,
    pub last_login: String,
    pub balance: Usd,
    pub operator: bool,
    pub disabled: bool,
}

/// One account, whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub id: i64,
    pub email: String,
    pub created: String,
    pub last_login: String,
    pub operator: bool,
    /// When it was disabled.
    pub disabled: Option<String>,
    pub money: BalanceView,
    pub packages: Vec<PackageView>,
    /// The newest calls.
    pub bills: Vec<BillRow>,
    pub calls: i64,
    pub movements: Vec<MovementRow>,
    pub keys: Vec<KeyRow>,
    pub sessions: Vec<SessionRow>,
    /// `Invited by a…@example.com with ABCD2345: rewarded`, when it joined through an invitation.
    pub invited_by: Option<String>,
    pub invite_code: Option<String>,
    pub invite_code_disabled: bool,
    pub invitees: Vec<ReferralRowView>,
    /// The top-up currency offline payments are recorded in (or USD).
    pub topup_currency: String,
    /// A fresh idempotency key for this page's forms: a form sent twice applies once.
    pub form_key: String,
    /// What the operators did to this account, newest first.
    pub log: Vec<LogRow>,
}

/// A referral, for the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralRowView {
    pub id: i64,
    pub inviter: String,
    pub invitee: String,
    pub date: String,
    pub status: String,
    pub reason: String,
    pub via: String,
}

/// The referrals page: those held for review, and the latest decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralsView {
    pub held: Vec<ReferralRowView>,
    pub recent: Vec<ReferralRowView>,
}

/// One operator-log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// The target is data as written (an email, an invite code, a batch's note), not words of the console's.
    pub target_as_written: bool,
    pub detail: String,
    /// The operator's own words.
    pub reason: String,
}

/// A page of the operator log, newest first; `older` continues it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogView {
    pub rows: Vec<LogRow>,
    pub older: Option<i64>,
}

/// The providers page: each upstream, and whether the built-in demo upstream answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvidersView {
    pub rows: Vec<ProviderRow>,
    pub uses_mock: bool,
}

/// One upstream provider's last 5 minutes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRow {
    pub name: String,
    pub calls: u64,
    pub errors: u64,
    /// `0.4%`; `–` without calls.
    pub error_rate: String,
    /// `120 ms`; `–` without calls.
    pub p50: String,
    pub p99: String,
    /// When and what, or empty.
    pub last_error: String,
    pub failovers: u64,
}

/// One redemption code, as the operator sees it (the code itself is shown only when made).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRow {
    pub id: i64,
    /// `…K7QX`: the code's last symbols.
    pub hint: String,
    pub amount: Usd,
    /// `1 of 1`.
    pub uses: String,
    pub expires: String,
    pub note: String,
    pub created: String,
    /// `Active`, `Used up`, `Expired` or `Withdrawn`.
    pub state: String,
    pub usable: bool,
}

/// The codes page: newest first; `older` continues it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodesView {
    pub rows: Vec<CodeRow>,
    pub older: Option<i64>,
    /// A fresh key for the batch form: the same form sent twice makes one batch.
    pub form_key: String,
}

/// The price table and channel multipliers in force, for viewing and editing, with the saved versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricesAdminView {
    /// What is in force, in words: a saved version (by whom, when, why) or the configuration's prices.
    pub in_force: String,
    pub version: Option<i64>,
    pub table_text: String,
    pub multipliers_text: String,
    /// Each channel and its multiplier, e.g. ("Claude Code (cc-omg)", "0.2").
    pub multipliers: Vec<(String, String)>,
    /// Priced models and family patterns.
    pub models: usize,
    pub versions: Vec<PriceVersionRow>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceVersionRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub reason: String,
    pub multipliers: String,
    pub in_force: bool,
}
