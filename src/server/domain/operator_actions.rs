//! What operators do to accounts and programs, for the command line and the admin console alike: credit or
//! debit a balance, record a payment made outside the payment provider (it counts toward the tier), grant a
//! package, disable or enable an account, give or take the operator role, decide a held referral, stop or
//! restart an invite code, create redemption codes. Each action and its operator-log entry are written in
//! one transaction, so nothing happens unrecorded. The caller tells the gateway what changed.

use super::ledger::{self, Credit, Credited, EntryKind, Grant, Granted, LedgerError};
use super::money::Money;
use super::operator_log::{self, Action, Actor};
use super::redemption::{self, NewCodes, RedeemError};
use super::referral::{self, CodeChange, Decision, InviteCode, Promotion, ReferralError};
use super::topups::format_minor;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use sqlx::{AnyConnection, AnyPool};

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// Bad input; `field` names the form field it belongs to.
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl ActionError {
    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { field, message: message.into() }
    }
}

impl From<ReferralError> for ActionError {
    fn from(e: ReferralError) -> Self {
        match e {
            ReferralError::Ledger(e) => Self::Ledger(e),
            other => Self::invalid("referral", other.to_string()),
        }
    }
}

impl From<RedeemError> for ActionError {
    fn from(e: RedeemError) -> Self {
        Self::invalid("codes", e.to_string())
    }
}

/// The account an action is about, as the operator named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub user_id: i64,
    pub email: String,
}

/// Every action says why; the reason is logged (and, for money, shown to the person).
fn reason_given(reason: &str) -> Result<&str, ActionError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ActionError::invalid("reason", "Say why: the reason is kept in the operator log."));
    }
    if reason.chars().count() > 500 {
        return Err(ActionError::invalid("reason", "Keep the reason under 500 characters."));
    }
    Ok(reason)
}

/// Adds `amount` to the balance, or takes it when negative. `key` makes a retry apply once.
pub async fn adjust_balance(
    pool: &AnyPool,
    actor: Actor<'_>,
    target: &Target,
    amount: Money,
    reason: &str,
    key: &str,
    now: i64,
) -> Result<Credited, ActionError> {
    let reason = reason_given(reason)?;
    if amount.is_zero() {
        return Err(ActionError::invalid("amount", "Enter an amount other than zero."));
    }
    let mut tx = pool.begin().await?;
    let done = ledger::credit(
        &mut tx,
        Credit {
            user_id: target.user_id,
            key: &format!("admin:{key}"),
            kind: EntryKind::Adjustment,
            amount,
            paid_minor: 0,
            memo: reason,
            now,
        },
    )
    .await?;
    if !done.replayed {
        let (verb, shown) = if amount.is_positive() { ("credit", amount) } else { ("debit", amount.negated()) };
        let detail = format!("{verb} {shown} (ledger entry {})", done.entry_id);
        record(&mut tx, actor, verb, &target.email, &detail, reason, now).await?;
    }
    tx.commit().await?;
    Ok(done)
}

/// A payment received outside the payment provider (bank transfer, Alipay, WeChat Pay ...).
#[derive(Clone, Copy, Debug)]
pub struct OfflinePayment<'a> {
    /// ISO code as typed: the top-up currency, or USD.
    pub currency: &'a str,
    /// Minor units (cents, fen) of `currency`.
    pub amount_minor: i64,
    /// How it was paid, in words.
    pub method: &'a str,
}

/// What an offline payment credits in USD and counts toward the tier (minor units of the top-up
/// currency). It is recorded in the top-up currency or in USD; others are refused rather than guessed.
pub fn offline_amounts(
    p: &OfflinePayment<'_>,
    topup_currency: &str,
    usd_per_unit: Decimal,
) -> Result<(Money, i64), ActionError> {
    if p.amount_minor <= 0 {
        return Err(ActionError::invalid("amount", "Enter the amount received, above zero."));
    }
    let currency = p.currency.trim();
    if currency.eq_ignore_ascii_case(topup_currency) {
        let usd = super::topups::usd_for(p.amount_minor, usd_per_unit)
            .ok_or_else(|| ActionError::invalid("amount", "That amount is too large."))?;
        return Ok((usd, p.amount_minor));
    }
    if currency.eq_ignore_ascii_case("USD") && !usd_per_unit.is_zero() {
        let usd = Money::parse_usd(&format!("{}.{:02}", p.amount_minor / 100, p.amount_minor % 100))
            .map_err(|e| ActionError::invalid("amount", e.to_string()))?;
        // Toward the tier, a USD payment counts as what it would have bought in the top-up currency
        // (rounded down to the minor unit, so the tier is never raised by rounding).
        let counted = Decimal::from(p.amount_minor)
            .checked_div(usd_per_unit)
            .and_then(|d| d.floor().to_i64())
            .ok_or_else(|| ActionError::invalid("amount", "That amount is too large."))?;
        return Ok((usd, counted));
    }
    Err(ActionError::invalid(
        "currency",
        format!("Record the payment in {} or USD (the top-up currencies this server converts).", topup_currency),
    ))
}

/// Records an offline payment: a paid top-up (shown with the account's top-ups), credited to the balance and
/// counted toward the rate-limit tier, exactly once for one `key`.
#[allow(clippy::too_many_arguments)]
pub async fn record_offline_payment(
    pool: &AnyPool,
    actor: Actor<'_>,
    target: &Target,
    payment: OfflinePayment<'_>,
    (topup_currency, usd_per_unit): (&str, Decimal),
    reason: &str,
    key: &str,
    now: i64,
) -> Result<Credited, ActionError> {
    let reason = reason_given(reason)?;
    let method = payment.method.trim();
    if method.is_empty() || method.chars().count() > 60 {
        return Err(ActionError::invalid("method", "Say how it was paid, e.g. bank transfer (up to 60 characters)."));
    }
    let (usd, counted) = offline_amounts(&payment, topup_currency, usd_per_unit)?;
    let currency = payment.currency.trim().to_ascii_uppercase();
    let received = format_minor(payment.amount_minor, &currency);
    let mut tx = pool.begin().await?;
    let memo = format!("Top-up {received} ({method})");
    let done = ledger::credit(
        &mut tx,
        Credit {
            user_id: target.user_id,
            key: &format!("offline:{key}"),
            kind: EntryKind::Topup,
            amount: usd,
            paid_minor: counted,
            memo: &memo,
            now,
        },
    )
    .await?;
    if !done.replayed {
        sqlx::query(
            "INSERT INTO topups (user_id, provider, currency, amount_minor, usd_amount, status, created_at, paid_at) \
             VALUES ($1, 'offline', $2, $3, $4, 'paid', $5, $5)",
        )
        .bind(target.user_id)
        .bind(&currency)
        .bind(payment.amount_minor)
        .bind(usd.units())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let detail = format!(
            "offline payment {received} by {method}: {usd} credited, {} toward the tier",
            format_minor(counted, topup_currency)
        );
        record(&mut tx, actor, "offline-payment", &target.email, &detail, reason, now).await?;
    }
    tx.commit().await?;
    Ok(done)
}

/// Grants a resource package.
pub async fn grant_package(
    pool: &AnyPool,
    actor: Actor<'_>,
    target: &Target,
    grant: Grant<'_>,
    reason: &str,
) -> Result<Granted, ActionError> {
    let reason = reason_given(reason)?;
    let mut tx = pool.begin().await?;
    let done = ledger::grant_package(&mut tx, grant.clone()).await?;
    if !done.replayed {
        let detail = format!(
            "package {} \"{}\": {}, {}, {} days",
            done.package_id,
            grant.title,
            grant.amount,
            grant.scope.to_text(),
            grant.lifetime_ms / crate::server::time::DAY_MS
        );
        record(&mut tx, actor, "grant-package", &target.email, &detail, reason, grant.now).await?;
    }
    tx.commit().await?;
    Ok(done)
}

/// Disables an account (its keys stop answering and every browser is signed out) or enables it again.
/// Returns false when it already was in that state (nothing logged).
pub async fn set_disabled(
    pool: &AnyPool,
    actor: Actor<'_>,
    target: &Target,
    disabled: bool,
    reason: &str,
    now: i64,
) -> Result<bool, ActionError> {
    let reason = reason_given(reason)?;
    let mut tx = pool.begin().await?;
    let change = if disabled {
        sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL").bind(now)
    } else {
        sqlx::query("UPDATE users SET disabled_at = NULL WHERE id = $1 AND disabled_at IS NOT NULL")
    };
    let changed = change.bind(target.user_id).execute(&mut *tx).await?.rows_affected() == 1;
    if changed {
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(target.user_id).execute(&mut *tx).await?;
        }
        let (action, detail) = if disabled {
            ("disable-account", "account disabled: its API keys refused, its browsers signed out")
        } else {
            ("enable-account", "account enabled again")
        };
        record(&mut tx, actor, action, &target.email, detail, reason, now).await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// Gives or takes the operator role (the command line only: no page can grant it).
pub async fn set_operator(pool: &AnyPool, target: &Target, operator: bool, now: i64) -> Result<bool, ActionError> {
    let mut tx = pool.begin().await?;
    let changed = sqlx::query("UPDATE users SET is_operator = $1 WHERE id = $2 AND is_operator <> $1")
        .bind(i64::from(operator))
        .bind(target.user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if changed {
        let (action, detail) =
            if operator { ("promote", "operator role given") } else { ("demote", "operator role taken") };
        record(&mut tx, Actor::CLI, action, &target.email, detail, "command line", now).await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// Approves (both packages granted) or rejects a referral held for review.
pub async fn decide_referral(
    pool: &AnyPool,
    actor: Actor<'_>,
    promotion: &Promotion,
    referral_id: i64,
    approve: bool,
    reason: &str,
    now: i64,
) -> Result<Decision, ActionError> {
    let reason = match reason.trim() {
        "" if approve => "approved after review",
        _ => reason_given(reason)?,
    };
    let mut tx = pool.begin().await?;
    let decision = referral::decide(&mut tx, promotion, referral_id, approve, reason, now).await?;
    if let Decision::Decided { status, .. } = &decision {
        let target = format!("referral {referral_id}");
        record(
            &mut tx,
            actor,
            if approve { "approve-referral" } else { "reject-referral" },
            &target,
            status,
            reason,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(decision)
}

/// Stops (or restarts) an account's invitation link.
pub async fn set_invite_code_disabled(
    pool: &AnyPool,
    actor: Actor<'_>,
    code: &str,
    disabled: bool,
    reason: &str,
    now: i64,
) -> Result<(), ActionError> {
    let reason = reason_given(reason)?;
    let parsed = InviteCode::parse(code)
        .ok_or_else(|| ActionError::invalid("code", format!("{code:?} is not an invite code")))?;
    let mut tx = pool.begin().await?;
    match referral::set_code_disabled(&mut tx, &parsed, disabled).await? {
        CodeChange::NoSuchCode => return Err(ActionError::NotFound(format!("No invite code {}.", parsed.as_str()))),
        // A form sent twice: nothing changes, nothing more is logged.
        CodeChange::Unchanged => return Ok(()),
        CodeChange::Changed => {}
    }
    let action = if disabled { "disable-invite-code" } else { "enable-invite-code" };
    let detail = if disabled { "invite link stopped" } else { "invite link working again" };
    record(&mut tx, actor, action, parsed.as_str(), detail, reason, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Creates a batch of redemption codes; returns them in clear text, the only time they are shown. `key`
/// makes a batch once: the same key again is refused (its codes were shown the first time only).
pub async fn create_codes(
    pool: &AnyPool,
    actor: Actor<'_>,
    codes: NewCodes<'_>,
    reason: &str,
    key: &str,
) -> Result<Vec<String>, ActionError> {
    let reason = reason_given(reason)?;
    let mut tx = pool.begin().await?;
    let first = sqlx::query("INSERT INTO code_batches (batch_key, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(key)
        .bind(codes.now)
        .execute(&mut *tx)
        .await?;
    if first.rows_affected() != 1 {
        return Err(ActionError::invalid(
            "key",
            "This batch was already made (the form was sent twice): its codes are in the list, shown only once. \
             Reload the page to make another batch.",
        ));
    }
    let made = redemption::create(&mut tx, codes.clone()).await?;
    let detail = format!("{} code(s) worth {}, {} use(s) each", made.len(), codes.amount, codes.max_uses);
    record(&mut tx, actor, "create-codes", codes.note, &detail, reason, codes.now).await?;
    tx.commit().await?;
    Ok(made)
}

/// Withdraws a redemption code: it can no longer be redeemed (what it already credited stays).
pub async fn disable_code(
    pool: &AnyPool,
    actor: Actor<'_>,
    id: i64,
    reason: &str,
    now: i64,
) -> Result<(), ActionError> {
    let reason = reason_given(reason)?;
    let mut tx = pool.begin().await?;
    if !redemption::disable(&mut tx, id, now).await? {
        return Err(ActionError::NotFound(format!("No redemption code {id} that can still be withdrawn.")));
    }
    record(&mut tx, actor, "disable-code", &format!("redemption code {id}"), "withdrawn", reason, now).await?;
    tx.commit().await?;
    Ok(())
}

async fn record(
    conn: &mut AnyConnection,
    actor: Actor<'_>,
    action: &str,
    target: &str,
    detail: &str,
    reason: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    operator_log::record(conn, Action { actor, action, target, detail, reason, now }).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn payment(currency: &str, amount_minor: i64) -> OfflinePayment<'_> {
        OfflinePayment { currency, amount_minor, method: "bank transfer" }
    }

    #[test]
    fn an_offline_payment_in_the_top_up_currency_counts_toward_the_tier_in_full() {
        let rate = Decimal::from_str("0.14").unwrap();
        let (usd, counted) = offline_amounts(&payment("cny", 2000), "CNY", rate).unwrap();
        assert_eq!(usd, Money::parse_usd("2.80").unwrap());
        assert_eq!(counted, 2000);
    }

    #[test]
    fn an_offline_payment_in_usd_counts_what_it_would_have_bought_rounded_down() {
        let rate = Decimal::from_str("0.14").unwrap();
        let (usd, counted) = offline_amounts(&payment("USD", 1000), "CNY", rate).unwrap();
        assert_eq!(usd, Money::parse_usd("10").unwrap());
        // $10 / 0.14 = CNY 71.428...: 7142 fen.
        assert_eq!(counted, 7142);
    }

    #[test]
    fn offline_payments_in_other_currencies_or_without_an_amount_are_refused() {
        let rate = Decimal::from_str("0.14").unwrap();
        assert!(matches!(
            offline_amounts(&payment("EUR", 1000), "CNY", rate),
            Err(ActionError::Invalid { field: "currency", .. })
        ));
        assert!(matches!(offline_amounts(&payment("CNY", 0), "CNY", rate), Err(ActionError::Invalid { .. })));
        assert!(matches!(offline_amounts(&payment("CNY", -5), "CNY", rate), Err(ActionError::Invalid { .. })));
    }

    #[test]
    fn every_action_needs_a_reason() {
        assert!(reason_given("  ").is_err());
        assert!(reason_given(&"x".repeat(501)).is_err());
        assert_eq!(reason_given(" paid by bank ").unwrap(), "paid by bank");
    }
}
