//! What operators do to accounts and programs, for the command line and the admin console alike: credit or
//! debit a balance, record a payment made outside the payment provider (it counts toward the tier), grant a
//! package, disable or enable an account, give or take the operator role, decide a held referral, stop or
//! restart an invite code, create redemption codes. Each action and its operator-log entry are written in
//! one transaction, so nothing happens unrecorded. The caller tells the gateway what changed.

use super::ledger::{self, Credit, Credited, EntryKind, Grant, Granted, LedgerError};
use super::ledger_memo;
use super::money::{Money, MoneyError};
use super::operator_log::{self, Action, Actor, Detail};
use super::redemption::{self, NewCodes, RedeemError};
use super::referral::{self, CodeChange, Decision, InviteCode, Promotion, ReferralError};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use sqlx::{AnyConnection, AnyPool};

/// Why an operator action did not happen. Each is typed: the console words it in the reader's language; the
/// English of `Display` is the command line's.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// Bad input ([`Invalid::field`] names the form field it belongs to).
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("No invite code {0}.")]
    NoInviteCode(String),
    #[error("No redemption code {0} that can still be withdrawn.")]
    NoCodeToWithdraw(i64),
    #[error(transparent)]
    Referral(ReferralError),
    #[error(transparent)]
    Codes(RedeemError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// What was wrong with an operator's input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("Say why: the reason is kept in the operator log.")]
    ReasonMissing,
    #[error("Keep the reason under 500 characters.")]
    ReasonTooLong,
    #[error("Enter an amount other than zero.")]
    ZeroAmount,
    #[error("Enter the amount received, above zero.")]
    NothingReceived,
    #[error("That amount is too large.")]
    TooLarge,
    #[error("{0}")]
    Amount(MoneyError),
    /// Offline payments are recorded in the top-up currency (named) or USD.
    #[error("Record the payment in {0} or USD (the top-up currencies this server converts).")]
    Currency(String),
    #[error("Say how it was paid, e.g. bank transfer (up to 60 characters).")]
    Method,
    #[error("{0:?} is not an invite code")]
    NotInviteCode(String),
    #[error(
        "This batch was already made (the form was sent twice): its codes are in the list, shown only once. \
         Reload the page to make another batch."
    )]
    BatchAlreadyMade,
}

impl Invalid {
    /// The form field the input came from.
    pub fn field(&self) -> &'static str {
        match self {
            Self::ReasonMissing | Self::ReasonTooLong => "reason",
            Self::ZeroAmount | Self::NothingReceived | Self::TooLarge | Self::Amount(_) => "amount",
            Self::Currency(_) => "currency",
            Self::Method => "method",
            Self::NotInviteCode(_) => "code",
            Self::BatchAlreadyMade => "key",
        }
    }
}

impl From<ReferralError> for ActionError {
    fn from(e: ReferralError) -> Self {
        match e {
            ReferralError::Ledger(e) => Self::Ledger(e),
            other => Self::Referral(other),
        }
    }
}

impl From<RedeemError> for ActionError {
    fn from(e: RedeemError) -> Self {
        Self::Codes(e)
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
        return Err(Invalid::ReasonMissing.into());
    }
    if reason.chars().count() > 500 {
        return Err(Invalid::ReasonTooLong.into());
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
        return Err(Invalid::ZeroAmount.into());
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
        let detail = Detail::Adjusted { amount: amount.units(), entry: done.entry_id };
        record(&mut tx, actor, &target.email, &detail, reason, now).await?;
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
        return Err(Invalid::NothingReceived.into());
    }
    let currency = p.currency.trim();
    if currency.eq_ignore_ascii_case(topup_currency) {
        let usd = super::topups::usd_for(p.amount_minor, usd_per_unit).ok_or(Invalid::TooLarge)?;
        return Ok((usd, p.amount_minor));
    }
    if currency.eq_ignore_ascii_case("USD") && !usd_per_unit.is_zero() {
        let usd = Money::parse_usd(&format!("{}.{:02}", p.amount_minor / 100, p.amount_minor % 100))
            .map_err(Invalid::Amount)?;
        // Toward the tier, a USD payment counts as what it would have bought in the top-up currency
        // (rounded down to the minor unit, so the tier is never raised by rounding).
        let counted = Decimal::from(p.amount_minor)
            .checked_div(usd_per_unit)
            .and_then(|d| d.floor().to_i64())
            .ok_or(Invalid::TooLarge)?;
        return Ok((usd, counted));
    }
    Err(Invalid::Currency(topup_currency.to_string()).into())
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
        return Err(Invalid::Method.into());
    }
    let (usd, counted) = offline_amounts(&payment, topup_currency, usd_per_unit)?;
    let currency = payment.currency.trim().to_ascii_uppercase();
    let mut tx = pool.begin().await?;
    let memo = ledger_memo::paid(payment.amount_minor, &currency, Some(method));
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
        let detail = Detail::OfflinePayment {
            received: payment.amount_minor,
            currency,
            method: method.to_string(),
            credited: usd.units(),
            counted,
            tier_currency: topup_currency.to_string(),
        };
        record(&mut tx, actor, &target.email, &detail, reason, now).await?;
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
        let detail = Detail::PackageGranted {
            package: done.package_id,
            title: grant.title.to_string(),
            amount: grant.amount.units(),
            scope: grant.scope.to_text(),
            days: grant.lifetime_ms / crate::server::time::DAY_MS,
        };
        record(&mut tx, actor, &target.email, &detail, reason, grant.now).await?;
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
        let detail = if disabled { Detail::AccountDisabled } else { Detail::AccountEnabled };
        record(&mut tx, actor, &target.email, &detail, reason, now).await?;
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
        let detail = if operator { Detail::OperatorGiven } else { Detail::OperatorTaken };
        record(&mut tx, Actor::CLI, &target.email, &detail, "", now).await?;
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
        // An approval needs no words: the log says it was approved.
        "" if approve => "",
        _ => reason_given(reason)?,
    };
    let mut tx = pool.begin().await?;
    let decision = referral::decide(&mut tx, promotion, referral_id, approve, reason, now).await?;
    if let Decision::Decided { status, .. } = &decision {
        let target = format!("referral {referral_id}");
        let detail = Detail::ReferralDecided { referral: referral_id, status: (*status).to_string() };
        record(&mut tx, actor, &target, &detail, reason, now).await?;
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
    let parsed = InviteCode::parse(code).ok_or_else(|| Invalid::NotInviteCode(code.to_string()))?;
    let mut tx = pool.begin().await?;
    match referral::set_code_disabled(&mut tx, &parsed, disabled).await? {
        CodeChange::NoSuchCode => return Err(ActionError::NoInviteCode(parsed.as_str().to_string())),
        // A form sent twice: nothing changes, nothing more is logged.
        CodeChange::Unchanged => return Ok(()),
        CodeChange::Changed => {}
    }
    let detail = if disabled { Detail::InviteStopped } else { Detail::InviteRestarted };
    record(&mut tx, actor, parsed.as_str(), &detail, reason, now).await?;
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
        return Err(Invalid::BatchAlreadyMade.into());
    }
    let made = redemption::create(&mut tx, codes.clone()).await?;
    let detail = Detail::CodesMade { count: made.len(), amount: codes.amount.units(), uses: codes.max_uses };
    record(&mut tx, actor, codes.note, &detail, reason, codes.now).await?;
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
        return Err(ActionError::NoCodeToWithdraw(id));
    }
    record(&mut tx, actor, &format!("redemption code {id}"), &Detail::CodeWithdrawn { code: id }, reason, now).await?;
    tx.commit().await?;
    Ok(())
}

async fn record(
    conn: &mut AnyConnection,
    actor: Actor<'_>,
    target: &str,
    detail: &Detail,
    reason: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    operator_log::record(conn, Action { actor, target, detail, reason, now }).await
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
            Err(ActionError::Invalid(Invalid::Currency(c))) if c == "CNY"
        ));
        assert!(matches!(
            offline_amounts(&payment("CNY", 0), "CNY", rate),
            Err(ActionError::Invalid(Invalid::NothingReceived))
        ));
        assert!(matches!(
            offline_amounts(&payment("CNY", -5), "CNY", rate),
            Err(ActionError::Invalid(Invalid::NothingReceived))
        ));
    }

    #[test]
    fn every_action_needs_a_reason() {
        assert!(reason_given("  ").is_err());
        assert!(reason_given(&"x".repeat(501)).is_err());
        assert_eq!(reason_given(" paid by bank ").unwrap(), "paid by bank");
    }
}
