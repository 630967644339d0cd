//! The admin console's data and actions: the dashboard, accounts, referrals and the operator log. Every
//! action runs through `domain::operator_actions` (so it is logged with its reason) and then tells the
//! gateway which account changed. What the operator reads (form errors, states, descriptions) is written in the
//! request's language; the domain's errors keep their English and are translated here.

use crate::i18n::{td_string, Locale};
use crate::server::auth::users::{self, User};
use crate::server::billing_view;
use crate::server::domain::activity::{self, Grouping};
use crate::server::domain::channels::{Scope, ScopeError};
use crate::server::domain::ledger::{self, Grant, LedgerError};
use crate::server::domain::money::{Money, MoneyError};
use crate::server::domain::operator_actions::{self, ActionError, Invalid, OfflinePayment, Target};
use crate::server::domain::operator_log::{self, Actor};
use crate::server::domain::packages::PackageSource;
use crate::server::domain::price_versions::{self, NewVersion, VersionError};
use crate::server::domain::redemption::{self, NewCodes, RedeemError};
use crate::server::domain::referral::{self, Decision, ReferralRow};
use crate::server::domain::topups;
use crate::server::error::internal;
use crate::server::operator_log_view::log_row;
use crate::server::secrets::random_token;
use crate::server::state::AppState;
use crate::server::time::{date_time_for, format_utc, now_ms, table_time, DAY_MS};
use crate::server::usd_view::cents;
use crate::shared::admin::{
    AccountRow, AccountView, CodeRow, CodesView, DashboardView, DayStats, LogRow, LogView, PeriodStats,
    PriceVersionRow, PricesAdminView, ProviderRow, ProvidersView, ReferralRowView, ReferralsView, SpendShare,
};
use crate::shared::billing::BillQuery;
use crate::shared::error::AppError;
use crate::shared::text::fill;

/// Days the dashboard looks back over.
const DAYS: i64 = 7;
const LOG_PAGE: i64 = 50;

fn action_error(e: ActionError, locale: Locale) -> AppError {
    match e {
        ActionError::Invalid(i) => AppError::invalid(i.field(), invalid_text(&i, locale)),
        ActionError::NoInviteCode(code) => {
            AppError::invalid("target", fill(td_string!(locale, admin_errors.no_invite_code), &[("code", &code)]))
        }
        ActionError::NoCodeToWithdraw(id) => {
            AppError::invalid("target", fill(td_string!(locale, admin_errors.no_code_to_withdraw), &[("id", &id)]))
        }
        ActionError::Referral(e) => AppError::invalid("referral", crate::server::referral_view::error_text(&e, locale)),
        ActionError::Codes(RedeemError::Ledger(detail)) => internal("redemption codes", detail),
        ActionError::Codes(e) => AppError::invalid("codes", crate::server::billing_view::redeem_text(&e, locale)),
        ActionError::Ledger(LedgerError::NoSuchAccount) => AppError::NotFound,
        ActionError::Ledger(LedgerError::KeyReused(_)) => {
            AppError::invalid("key", td_string!(locale, admin_errors.key_reused))
        }
        ActionError::Ledger(LedgerError::Refused(r)) => AppError::invalid("amount", ledger_refusal(r, locale)),
        ActionError::Ledger(e @ LedgerError::InvalidAmount(_)) => internal("operator action", e),
        ActionError::Ledger(LedgerError::Db(e)) | ActionError::Db(e) => internal("operator action", e),
    }
}

/// What was wrong with an operator's input, in `locale`.
fn invalid_text(i: &Invalid, locale: Locale) -> String {
    match i {
        Invalid::ReasonMissing => td_string!(locale, admin_errors.reason_missing).into(),
        Invalid::ReasonTooLong => td_string!(locale, admin_errors.reason_too_long).into(),
        Invalid::ZeroAmount => td_string!(locale, admin_errors.zero_amount).into(),
        Invalid::NothingReceived => td_string!(locale, admin_errors.zero_amount_received).into(),
        Invalid::TooLarge => td_string!(locale, admin_errors.amount_too_large).into(),
        Invalid::Amount(e) => money_error(*e, locale),
        Invalid::Currency(currency) => {
            fill(td_string!(locale, admin_errors.payment_currency), &[("currency", currency)])
        }
        Invalid::Method => td_string!(locale, admin_errors.method_missing).into(),
        Invalid::NotInviteCode(code) => fill(td_string!(locale, admin_errors.not_invite_code), &[("code", code)]),
        Invalid::BatchAlreadyMade => td_string!(locale, admin_errors.batch_already_made).into(),
    }
}

/// The ledger's refusal of a credit or grant, in `locale`.
fn ledger_refusal(r: ledger::Refused, locale: Locale) -> String {
    let text = match r {
        ledger::Refused::CreditNotPositive => td_string!(locale, admin_errors.credit_positive),
        ledger::Refused::PaidNegative => td_string!(locale, admin_errors.paid_negative),
        ledger::Refused::PackageEmpty => td_string!(locale, admin_errors.package_positive),
        ledger::Refused::PackageNoTime => td_string!(locale, admin_errors.package_lifetime),
        ledger::Refused::PackageNoChannel => td_string!(locale, admin_errors.package_channel),
    };
    text.to_string()
}

/// `Money`'s refusal of a typed amount, in `locale`.
fn money_error(e: MoneyError, locale: Locale) -> String {
    let text = match e {
        MoneyError::NotANumber => td_string!(locale, admin_errors.amount_not_a_number),
        MoneyError::Negative => td_string!(locale, admin_errors.amount_negative),
        MoneyError::TooPrecise => td_string!(locale, admin_errors.amount_too_precise),
        MoneyError::TooLarge => td_string!(locale, admin_errors.amount_too_large),
    };
    text.to_string()
}

fn topup_amount_error(e: topups::AmountError, locale: Locale) -> String {
    match e {
        topups::AmountError::NotANumber => td_string!(locale, admin_errors.payment_not_a_number).to_string(),
        topups::AmountError::OutOfRange(currency) => fill(
            td_string!(locale, admin_errors.topup_range),
            &[("min", &topups::MIN_CUSTOM), ("max", &topups::MAX_CUSTOM), ("currency", &currency)],
        ),
    }
}

/// Why a package scope does not read, in `locale`.
fn scope_error(e: &ScopeError, locale: Locale) -> String {
    match e {
        ScopeError::NoChannel => td_string!(locale, admin_errors.scope_empty).to_string(),
        ScopeError::NoPattern => td_string!(locale, admin_errors.scope_no_pattern).to_string(),
        ScopeError::NotAChannel(text) => fill(td_string!(locale, admin_errors.scope_not_channel), &[("text", text)]),
        ScopeError::NotAPattern(text) => fill(td_string!(locale, admin_errors.scope_not_pattern), &[("text", text)]),
    }
}

fn rate(errors: i64, asked: i64) -> String {
    if asked <= 0 {
        return "–".into();
    }
    format!("{:.1}%", errors as f64 * 100.0 / asked as f64)
}

fn percent(part: i64, whole: i64) -> u8 {
    if whole <= 0 {
        return 0;
    }
    u8::try_from((i128::from(part.max(0)) * 100 / i128::from(whole)).clamp(0, 100)).unwrap_or(0)
}

pub async fn dashboard(state: &AppState, locale: Locale) -> Result<DashboardView, AppError> {
    let pool = state.db.pool();
    let now = now_ms();
    let today = now - now.rem_euclid(DAY_MS);
    let week = today - (DAYS - 1) * DAY_MS;
    let mut periods = Vec::new();
    let mut week_spend = Money::ZERO;
    let labels = [td_string!(locale, admin.dashboard.today_utc), td_string!(locale, admin.dashboard.last_7_days)];
    for (label, since) in [(labels[0], today), (labels[1], week)] {
        let t = activity::totals(pool, since).await?;
        week_spend = t.spend;
        periods.push(PeriodStats {
            label: label.into(),
            calls: t.asked(),
            errors: t.errors(),
            error_rate: rate(t.errors(), t.asked()),
            active_accounts: t.active_accounts,
            spend: cents(t.spend),
        });
    }
    let found = activity::by_day(pool, week).await?;
    let busiest = found.iter().map(|d| d.calls).max().unwrap_or(0);
    let costliest = found.iter().map(|d| d.spend.units()).max().unwrap_or(0);
    let days = (0..DAYS)
        .map(|i| {
            let start = week + i * DAY_MS;
            let d = found.iter().find(|d| d.day == start / DAY_MS);
            let (calls, errors, spend) = d.map(|d| (d.calls, d.errors, d.spend)).unwrap_or((0, 0, Money::ZERO));
            DayStats {
                day: crate::server::time::format_date(start).get(5..).unwrap_or_default().to_string(),
                calls,
                errors,
                spend: cents(spend),
                calls_percent: percent(calls, busiest),
                spend_percent: percent(spend.units(), costliest),
            }
        })
        .collect();
    let total = week_spend.units();
    let shares = |rows: Vec<activity::Share>, label: &dyn Fn(&str) -> String| -> Vec<SpendShare> {
        rows.into_iter()
            .map(|s| SpendShare {
                name: label(&s.name),
                calls: s.calls,
                spend: cents(s.spend),
                percent: percent(s.spend.units(), total),
            })
            .collect()
    };
    let channel_label = |channel: &str| billing_view::channel_label(channel, locale);
    let by_channel = shares(activity::spend_by(pool, Grouping::Channel, week, 20).await?, &channel_label);
    let by_model = shares(activity::spend_by(pool, Grouping::Model, week, 10).await?, &str::to_string);
    let (accounts, new_accounts, held_referrals) = activity::accounts(pool, week).await?;
    Ok(DashboardView {
        periods,
        days,
        by_channel,
        by_model,
        accounts,
        new_accounts,
        held_referrals,
        uses_mock: state.gateway.uses_mock(),
    })
}

fn account_row(u: &User, balance: Money, admin_emails: &[String], locale: Locale) -> AccountRow {
    AccountRow {
        id: u.id,
        email: u.email.clone(),
        created: date_time_for(u.created_at, locale),
        last_login: u
            .last_login_at
            .map(|t| date_time_for(t, locale))
            .unwrap_or_else(|| td_string!(locale, admin.accounts.never).into()),
        balance: cents(balance),
        operator: u.is_operator_given(admin_emails),
        disabled: u.disabled_at.is_some(),
    }
}

/// Accounts whose email contains `q` (all accounts, newest first, when `q` is empty).
pub async fn search(state: &AppState, q: &str, locale: Locale) -> Result<Vec<AccountRow>, AppError> {
    let mut out = Vec::new();
    for u in users::search(&state.db, q, 100).await? {
        let money = crate::server::domain::account::money_of(state.db.pool(), u.id).await?;
        out.push(account_row(
            &u,
            money.map(|m| m.balance).unwrap_or_default(),
            &state.settings.operators.admin_emails,
            locale,
        ));
    }
    Ok(out)
}

async fn target(state: &AppState, user_id: i64) -> Result<(User, Target), AppError> {
    let user = users::find(&state.db, user_id).await?.ok_or(AppError::NotFound)?;
    let target = Target { user_id: user.id, email: user.email_normalized.clone() };
    Ok((user, target))
}

fn referral_row(r: ReferralRow, locale: Locale) -> ReferralRowView {
    ReferralRowView {
        id: r.id,
        inviter: r.inviter_email,
        invitee: r.invitee_email,
        date: date_time_for(r.created_at, locale),
        status: crate::server::referral_view::status_label(&r.status, locale).to_string(),
        reason: crate::server::referral_view::reason_text(&r.reason, locale),
        via: r.via,
    }
}

pub async fn account(state: &AppState, user_id: i64, locale: Locale) -> Result<AccountView, AppError> {
    let (user, target) = target(state, user_id).await?;
    let pool = state.db.pool();
    let bills = billing_view::bills(state, user_id, &BillQuery::default(), locale).await?;
    let invite: Option<(String, i64)> = sqlx::query_as("SELECT code, disabled FROM invite_codes WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(pool)
        .await?;
    let invited_by = match referral::referral_of(pool, user_id).await?.map(|(code, status, reason)| {
        let reason = crate::server::referral_view::reason_text(&reason, locale);
        (code, crate::server::referral_view::status_label(&status, locale), reason)
    }) {
        Some((code, status, reason)) if reason.is_empty() => {
            Some(fill(td_string!(locale, admin_account.joined_with), &[("code", &code), ("status", &status)]))
        }
        Some((code, status, reason)) => Some(fill(
            td_string!(locale, admin_account.joined_with_reason),
            &[("code", &code), ("status", &status), ("reason", &reason)],
        )),
        None => None,
    };
    Ok(AccountView {
        id: user.id,
        operator: user.is_operator_given(&state.settings.operators.admin_emails),
        disabled: user.disabled_at.map(|t| date_time_for(t, locale)),
        created: date_time_for(user.created_at, locale),
        last_login: user
            .last_login_at
            .map(|t| date_time_for(t, locale))
            .unwrap_or_else(|| td_string!(locale, admin_account.never).into()),
        money: billing_view::balance(state, user_id, locale).await?,
        packages: billing_view::packages(state, user_id, locale).await?,
        calls: bills.total,
        bills: bills.rows.into_iter().take(20).collect(),
        movements: billing_view::movements(state, user_id, locale).await?.into_iter().rev().take(20).collect(),
        keys: crate::server::keys_view::list(state, user_id, locale).await?,
        sessions: crate::server::sessions_view::list(state, user_id, None, locale).await?,
        invited_by,
        invite_code_disabled: invite.as_ref().is_some_and(|i| i.1 != 0),
        invite_code: invite.map(|i| i.0),
        invitees: referral::invitees_of(pool, user_id).await?.into_iter().map(|r| referral_row(r, locale)).collect(),
        topup_currency: state.settings.money.topup_currency.clone(),
        form_key: random_token().map_err(|e| internal("form key", e))?,
        log: operator_log::about_target(pool, &target.email, 20)
            .await?
            .into_iter()
            .map(|e| log_row(e, locale))
            .collect(),
        email: user.email,
    })
}

/// A form's idempotency key: one the page gave (a resent form applies once), or a fresh one.
fn form_key(key: &str, locale: Locale) -> Result<String, AppError> {
    let key = key.trim();
    if key.is_empty() {
        return random_token().map_err(|e| internal("form key", e));
    }
    if key.len() > 64 || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(AppError::invalid("key", td_string!(locale, admin_errors.form_key_invalid)));
    }
    Ok(key.to_string())
}

/// Credit (positive) or debit (negative) USD.
pub async fn adjust(
    state: &AppState,
    operator: &User,
    user_id: i64,
    amount: &str,
    reason: &str,
    key: &str,
    locale: Locale,
) -> Result<(), AppError> {
    let (_, target) = target(state, user_id).await?;
    let amount = Money::parse_signed_usd(amount).map_err(|e| AppError::invalid("amount", money_error(e, locale)))?;
    let actor = Actor(&operator.email_normalized);
    let key = form_key(key, locale)?;
    operator_actions::adjust_balance(state.db.pool(), actor, &target, amount, reason, &key, now_ms())
        .await
        .map_err(|e| action_error(e, locale))?;
    state.gateway.money_moved(user_id);
    Ok(())
}

pub struct PaymentForm<'a> {
    pub amount: &'a str,
    pub currency: &'a str,
    pub method: &'a str,
    pub reason: &'a str,
    pub key: &'a str,
}

pub async fn offline_payment(
    state: &AppState,
    operator: &User,
    user_id: i64,
    form: PaymentForm<'_>,
    locale: Locale,
) -> Result<(), AppError> {
    let (_, target) = target(state, user_id).await?;
    let amount_minor =
        topups::parse_minor(form.amount).map_err(|e| AppError::invalid("amount", topup_amount_error(e, locale)))?;
    let money = &state.settings.money;
    operator_actions::record_offline_payment(
        state.db.pool(),
        Actor(&operator.email_normalized),
        &target,
        OfflinePayment { currency: form.currency, amount_minor, method: form.method },
        (&money.topup_currency, money.usd_per_topup_unit),
        form.reason,
        &form_key(form.key, locale)?,
        now_ms(),
    )
    .await
    .map_err(|e| action_error(e, locale))?;
    state.gateway.money_moved(user_id);
    Ok(())
}

pub struct GrantForm<'a> {
    pub amount: &'a str,
    pub title: &'a str,
    pub scope: &'a str,
    pub days: &'a str,
    pub reason: &'a str,
    pub key: &'a str,
}

pub async fn grant(
    state: &AppState,
    operator: &User,
    user_id: i64,
    form: GrantForm<'_>,
    locale: Locale,
) -> Result<(), AppError> {
    let (_, target) = target(state, user_id).await?;
    let amount =
        Money::parse_usd(form.amount.trim()).map_err(|e| AppError::invalid("amount", money_error(e, locale)))?;
    let scope = Scope::parse(form.scope.trim()).map_err(|e| AppError::invalid("scope", scope_error(&e, locale)))?;
    // A package for a channel that does not exist would pay for nothing.
    let known = crate::server::proxy::charged_channels();
    if let Some(unknown) = scope.entries.iter().find(|e| !known.contains(&e.channel.as_str())) {
        let channel = format!("{:?}", unknown.channel);
        let channels = known.join(", ");
        return Err(AppError::invalid(
            "scope",
            fill(td_string!(locale, admin_errors.no_such_channel), &[("channel", &channel), ("channels", &channels)]),
        ));
    }
    let days: i64 = form
        .days
        .trim()
        .parse()
        .ok()
        .filter(|d| (1..=3650).contains(d))
        .ok_or_else(|| AppError::invalid("days", td_string!(locale, admin_errors.package_days)))?;
    let title = form.title.trim();
    let default_title = format!("Package {amount}");
    let title = if title.is_empty() { default_title.as_str() } else { title };
    if title.chars().count() > 80 {
        return Err(AppError::invalid("title", td_string!(locale, admin_errors.title_too_long)));
    }
    let key = format!("admin-grant:{}", form_key(form.key, locale)?);
    let grant = Grant {
        user_id,
        key: &key,
        title,
        scope: &scope,
        amount,
        lifetime_ms: days * DAY_MS,
        source: PackageSource::Admin,
        now: now_ms(),
    };
    operator_actions::grant_package(state.db.pool(), Actor(&operator.email_normalized), &target, grant, form.reason)
        .await
        .map_err(|e| action_error(e, locale))?;
    state.gateway.money_moved(user_id);
    Ok(())
}

pub async fn set_disabled(
    state: &AppState,
    operator: &User,
    user_id: i64,
    disabled: bool,
    reason: &str,
    locale: Locale,
) -> Result<(), AppError> {
    let (_, target) = target(state, user_id).await?;
    if disabled && user_id == operator.id {
        return Err(AppError::invalid("reason", td_string!(locale, admin_errors.cannot_disable_self)));
    }
    let actor = Actor(&operator.email_normalized);
    operator_actions::set_disabled(state.db.pool(), actor, &target, disabled, reason, now_ms())
        .await
        .map_err(|e| action_error(e, locale))?;
    // Its keys are read again on their next call (and refused); its sessions are gone already.
    state.gateway.key_changed(user_id);
    Ok(())
}

pub async fn referrals(state: &AppState, locale: Locale) -> Result<ReferralsView, AppError> {
    let pool = state.db.pool();
    let held = referral::all(pool, Some("held")).await?.into_iter().map(|r| referral_row(r, locale)).collect();
    let recent = referral::decided(pool, 50).await?.into_iter().map(|r| referral_row(r, locale)).collect();
    Ok(ReferralsView { held, recent })
}

pub async fn decide(
    state: &AppState,
    operator: &User,
    id: i64,
    approve: bool,
    reason: &str,
    locale: Locale,
) -> Result<(), AppError> {
    let decision = operator_actions::decide_referral(
        state.db.pool(),
        Actor(&operator.email_normalized),
        &state.settings.referral.promotion,
        id,
        approve,
        reason,
        now_ms(),
    )
    .await
    .map_err(|e| action_error(e, locale))?;
    match decision {
        Decision::NoSuchReferral => Err(AppError::NotFound),
        Decision::NotHeld(status) => Err(AppError::invalid(
            "referral",
            fill(td_string!(locale, admin_errors.referral_not_held), &[("id", &id), ("status", &status)]),
        )),
        Decision::Decided { inviter_id, invitee_id, .. } => {
            // An approval granted both packages: the admission snapshots of both accounts are stale.
            state.gateway.money_moved(inviter_id);
            state.gateway.money_moved(invitee_id);
            Ok(())
        }
    }
}

pub async fn set_invite_code(
    state: &AppState,
    operator: &User,
    code: &str,
    disabled: bool,
    reason: &str,
    locale: Locale,
) -> Result<(), AppError> {
    operator_actions::set_invite_code_disabled(
        state.db.pool(),
        Actor(&operator.email_normalized),
        code,
        disabled,
        reason,
        now_ms(),
    )
    .await
    .map_err(|e| action_error(e, locale))
}

/// A page of the operator log, worded in `locale`.
pub async fn log(state: &AppState, before: Option<i64>, about: &str, locale: Locale) -> Result<LogView, AppError> {
    let about = Some(about.trim()).filter(|a| !a.is_empty());
    let rows: Vec<LogRow> = operator_log::page(state.db.pool(), before, about, LOG_PAGE)
        .await?
        .into_iter()
        .map(|e| log_row(e, locale))
        .collect();
    let older = (rows.len() as i64 == LOG_PAGE).then(|| rows.last().map(|r| r.id)).flatten();
    Ok(LogView { rows, older })
}

pub fn providers(state: &AppState) -> ProvidersView {
    let rows = state
        .gateway
        .provider_health(now_ms())
        .into_iter()
        .map(|p| {
            let ms = |v: Option<f64>| v.map(|v| format!("{v:.0} ms")).unwrap_or_else(|| "–".into());
            ProviderRow {
                error_rate: if p.calls == 0 {
                    "–".into()
                } else {
                    format!("{:.1}%", p.errors as f64 * 100.0 / p.calls as f64)
                },
                p50: ms(p.p50_ms),
                p99: ms(p.p99_ms),
                last_error: p.last_error.map(|(at, what)| format!("{}: {what}", format_utc(at))).unwrap_or_default(),
                name: p.name,
                calls: p.calls,
                errors: p.errors,
                failovers: p.failovers,
            }
        })
        .collect();
    ProvidersView { rows, uses_mock: state.gateway.uses_mock() }
}

const CODES_PAGE: i64 = 100;

/// One code as the console shows it, its words in `locale` (the CSV export's in English).
fn code_row(c: redemption::CodeRow, now: i64, locale: Locale) -> CodeRow {
    let (state, usable) = if c.disabled_at.is_some() {
        (td_string!(locale, admin_codes.state_withdrawn), false)
    } else if c.uses >= c.max_uses {
        (td_string!(locale, admin_codes.state_used_up), false)
    } else if c.expires_at.is_some_and(|e| e <= now) {
        (td_string!(locale, admin_codes.state_expired), false)
    } else {
        (td_string!(locale, admin_codes.state_active), true)
    };
    CodeRow {
        id: c.id,
        hint: format!("…{}", c.hint),
        amount: cents(c.amount),
        uses: fill(td_string!(locale, admin_codes.uses_of), &[("uses", &c.uses), ("max", &c.max_uses)]),
        expires: c
            .expires_at
            .map(|t| date_time_for(t, locale))
            .unwrap_or_else(|| td_string!(locale, admin_codes.never).into()),
        note: c.note,
        created: date_time_for(c.created_at, locale),
        state: state.into(),
        usable,
    }
}

pub async fn codes(state: &AppState, before: Option<i64>, note: &str, locale: Locale) -> Result<CodesView, AppError> {
    let form_key = random_token().map_err(|e| internal("form key", e))?;
    let note = Some(note.trim()).filter(|n| !n.is_empty());
    let now = now_ms();
    let rows: Vec<CodeRow> = redemption::list(state.db.pool(), before, note, CODES_PAGE)
        .await?
        .into_iter()
        .map(|c| code_row(c, now, locale))
        .collect();
    let older = (rows.len() as i64 == CODES_PAGE).then(|| rows.last().map(|r| r.id)).flatten();
    Ok(CodesView { rows, older, form_key })
}

pub struct CodesForm<'a> {
    pub amount: &'a str,
    pub count: &'a str,
    pub uses: &'a str,
    pub days: &'a str,
    pub note: &'a str,
    pub reason: &'a str,
    /// The form's key: the same form sent twice makes one batch.
    pub key: &'a str,
}

/// Makes a batch; returns the codes, the only time they are shown.
pub async fn create_codes(
    state: &AppState,
    operator: &User,
    form: CodesForm<'_>,
    locale: Locale,
) -> Result<Vec<String>, AppError> {
    let amount =
        Money::parse_usd(form.amount.trim()).map_err(|e| AppError::invalid("amount", money_error(e, locale)))?;
    let whole = |text: &str, field: &'static str, range: std::ops::RangeInclusive<i64>| -> Result<i64, AppError> {
        text.trim().parse::<i64>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
            let template = td_string!(locale, admin_errors.whole_number);
            AppError::invalid(field, fill(template, &[("min", range.start()), ("max", range.end())]))
        })
    };
    let count = whole(form.count, "count", 1..=i64::try_from(redemption::MAX_BATCH).unwrap_or(1000))?;
    let uses = whole(form.uses, "uses", 1..=1_000_000)?;
    let now = now_ms();
    let expires_at = match form.days.trim() {
        "" => None,
        days => Some(now + whole(days, "days", 1..=3650)? * DAY_MS),
    };
    let note = form.note.trim();
    if note.chars().count() > 80 {
        return Err(AppError::invalid("note", td_string!(locale, admin_errors.note_too_long)));
    }
    let batch = NewCodes { count: usize::try_from(count).unwrap_or(1), amount, max_uses: uses, expires_at, note, now };
    let key = format!("console:{}", form_key(form.key, locale)?);
    operator_actions::create_codes(state.db.pool(), Actor(&operator.email_normalized), batch, form.reason, &key)
        .await
        .map_err(|e| action_error(e, locale))
}

pub async fn disable_code(
    state: &AppState,
    operator: &User,
    id: i64,
    reason: &str,
    locale: Locale,
) -> Result<(), AppError> {
    operator_actions::disable_code(state.db.pool(), Actor(&operator.email_normalized), id, reason, now_ms())
        .await
        .map_err(|e| action_error(e, locale))
}

/// Every code as CSV (never the codes themselves).
pub async fn codes_csv(state: &AppState) -> Result<String, AppError> {
    let now = now_ms();
    let mut out = String::from("id,ends_with,amount_usd,uses,max_uses,expires_utc,note,created_utc,state\n");
    let mut before = None;
    loop {
        let page = redemption::list(state.db.pool(), before, None, 1000).await?;
        let Some(last) = page.last().map(|c| c.id) else { break };
        for c in page {
            let (uses, max_uses, amount) = (c.uses, c.max_uses, c.amount.to_string());
            // A file other programs read: its words stay English.
            let row = code_row(c, now, Locale::en);
            let fields = [
                row.id.to_string(),
                row.hint.trim_start_matches('…').to_string(),
                amount.trim_start_matches('$').to_string(),
                uses.to_string(),
                max_uses.to_string(),
                row.expires,
                row.note,
                row.created,
                row.state,
            ];
            let line: Vec<String> = fields.iter().map(|f| billing_view::csv_field(f)).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        before = Some(last);
    }
    Ok(out)
}

/// The most text a price table may have (the shipped one is about 10 KB).
const MAX_TABLE_BYTES: usize = 256 * 1024;

/// A version the domain refused, in `locale`: a table line's or a multiplier's problem stays in the domain's
/// words inside a translated frame.
fn version_error(e: VersionError, locale: Locale) -> AppError {
    match e {
        VersionError::Table(detail) => AppError::invalid(
            "table",
            fill(td_string!(locale, admin_errors.price_table_detail), &[("detail", &detail)]),
        ),
        VersionError::Multipliers(detail) => AppError::invalid(
            "multipliers",
            fill(td_string!(locale, admin_errors.multipliers_detail), &[("detail", &detail)]),
        ),
        VersionError::NoReason => AppError::invalid("reason", td_string!(locale, admin_errors.price_reason_missing)),
        VersionError::Stale(version) => {
            AppError::invalid("base", fill(td_string!(locale, admin_errors.prices_stale), &[("version", &version)]))
        }
        VersionError::Db(e) => internal("price versions", e),
    }
}

pub async fn prices(state: &AppState, locale: Locale) -> Result<PricesAdminView, AppError> {
    let in_force = state.pricing.version();
    let current = state.pricing.current();
    let versions = price_versions::list(state.db.pool(), 50).await?;
    let described = match in_force.and_then(|id| versions.iter().find(|v| v.id == id)) {
        Some(v) => fill(
            td_string!(locale, admin_prices.version_in_force),
            &[("id", &v.id), ("actor", &v.actor), ("at", &date_time_for(v.created_at, locale)), ("reason", &v.reason)],
        ),
        None => match &state.settings.money.price_table_path {
            Some(path) => fill(td_string!(locale, admin_prices.config_prices_path), &[("path", path)]),
            None => td_string!(locale, admin_prices.config_prices_shipped).to_string(),
        },
    };
    Ok(PricesAdminView {
        in_force: described,
        version: in_force,
        table_text: current.table_text.clone(),
        multipliers_text: current.multipliers.to_text(),
        multipliers: current
            .multipliers
            .all()
            .into_iter()
            .map(|(c, m)| (billing_view::channel_label(&c, locale), m.normalize().to_string()))
            .collect(),
        models: current.table.model_ids().len(),
        versions: versions
            .into_iter()
            .map(|v| PriceVersionRow {
                in_force: Some(v.id) == in_force,
                id: v.id,
                at: table_time(v.created_at, locale),
                actor: v.actor,
                reason: v.reason,
                multipliers: v.multipliers_text,
            })
            .collect(),
    })
}

/// Saves (and puts in force at once on this instance; the others follow within seconds) a new version.
pub async fn save_prices(
    state: &AppState,
    operator: &User,
    table: &str,
    multipliers: &str,
    reason: &str,
    (restored, base): (Option<i64>, i64),
    locale: Locale,
) -> Result<i64, AppError> {
    if table.len() > MAX_TABLE_BYTES {
        return Err(AppError::invalid("table", td_string!(locale, admin_errors.table_too_long)));
    }
    let version = NewVersion {
        actor: Actor(&operator.email_normalized),
        table_text: table,
        multipliers_text: multipliers,
        reason,
        restored,
        base,
        now: now_ms(),
    };
    let charged = crate::server::proxy::charged_channels();
    let (id, pricing) = price_versions::save(state.db.pool(), version, &state.pricing.configured().channels, &charged)
        .await
        .map_err(|e| version_error(e, locale))?;
    state.pricing.install(pricing, id);
    Ok(id)
}

/// Puts an earlier version in force again, as a new version (the history stays whole). `base`: the version
/// in force when the page was opened.
pub async fn restore_prices(
    state: &AppState,
    operator: &User,
    id: i64,
    reason: &str,
    base: i64,
    locale: Locale,
) -> Result<i64, AppError> {
    let old = price_versions::by_id(state.db.pool(), id).await?.ok_or(AppError::NotFound)?;
    save_prices(state, operator, &old.table_text, &old.multipliers_text, reason, (Some(id), base), locale).await
}
