//! A person's top-up from start to credit: pick the amount, create the pending order, then either send
//! them to Stripe Checkout or (dev mode) pay with a labelled test payment through the webhook code.

use super::stripe::{self, CheckoutRequest, WebhookOutcome};
use super::stripe_signature;
use crate::i18n::{td_string, Locale};
use crate::server::auth::users::User;
use crate::server::domain::money::Money;
use crate::server::domain::topups::{self, NewTopup};
use crate::server::error::internal;
use crate::server::secrets::random_token;
use crate::server::state::AppState;
use crate::server::time::now_ms;
use crate::shared::error::AppError;
use crate::shared::text::fill;

/// The amount chosen on the top-up page: one of the offered options, or `custom` with a typed amount.
/// Messages are written in `locale`.
pub fn chosen_amount(state: &AppState, option: &str, custom: &str, locale: Locale) -> Result<i64, AppError> {
    let money = &state.settings.money;
    if option == "custom" || option.is_empty() && !custom.trim().is_empty() {
        return topups::parse_amount(custom, &money.topup_currency).map_err(|e| {
            let message = match e {
                topups::AmountError::NotANumber => td_string!(locale, topup.amount_not_a_number).to_string(),
                topups::AmountError::OutOfRange(currency) => fill(
                    td_string!(locale, topup.amount_out_of_range),
                    &[("min", &topups::MIN_CUSTOM), ("max", &topups::MAX_CUSTOM), ("currency", &currency)],
                ),
            };
            AppError::invalid("custom", message)
        });
    }
    match option.parse::<i64>() {
        Ok(n) if money.topup_options.contains(&n) => Ok(n * 100),
        _ => Err(AppError::invalid("amount", td_string!(locale, topup.choose_amount))),
    }
}

/// The secret webhook events are checked against: Stripe's, or in dev mode without Stripe, the
/// process's own secret for test payments.
pub fn signing_secret(state: &AppState) -> Option<&str> {
    match &state.settings.money.stripe {
        Some(s) => Some(s.webhook_secret.expose()),
        None if state.settings.money.test_payments => Some(state.test_payment_secret.expose()),
        None => None,
    }
}

async fn pending(
    state: &AppState,
    user: &User,
    provider: &str,
    amount_minor: i64,
    locale: Locale,
) -> Result<(i64, Money), AppError> {
    let money = &state.settings.money;
    let usd = topups::usd_for(amount_minor, money.usd_per_topup_unit)
        .ok_or_else(|| AppError::invalid("custom", td_string!(locale, topup.amount_too_large)))?;
    let now = now_ms();
    let id = topups::create_pending(
        state.db.pool(),
        NewTopup { user_id: user.id, provider, currency: &money.topup_currency, amount_minor, usd, now },
    )
    .await
    .map_err(|e| match e {
        topups::PendingError::TooManyOpen => AppError::RateLimited {
            message: fill(td_string!(locale, topup.too_many_open), &[("n", &topups::MAX_OPEN_PER_HOUR)]),
            retry_after_secs: 600,
        },
        topups::PendingError::Db(e) => e.into(),
    })?;
    Ok((id, usd))
}

/// Creates the order and its Stripe Checkout Session; returns the URL to send the browser to. Messages
/// (and the product name Stripe's page shows) are written in `locale`.
pub async fn start_card_payment(
    state: &AppState,
    user: &User,
    amount_minor: i64,
    locale: Locale,
) -> Result<String, AppError> {
    let Some(stripe_settings) = &state.settings.money.stripe else {
        return Err(AppError::Unavailable(td_string!(locale, topup.card_not_set_up).into()));
    };
    let (topup_id, usd) = pending(state, user, "stripe", amount_minor, locale).await?;
    let currency = &state.settings.money.topup_currency;
    let product = fill(td_string!(locale, topup.stripe_product), &[("usd", &usd)]);
    let base = &state.public_base_url;
    let session = stripe::create_checkout_session(
        &state.http,
        stripe_settings,
        CheckoutRequest {
            topup_id,
            amount_minor,
            currency,
            product_name: &product,
            customer_email: &user.email,
            success_url: &format!("{base}/billing/balance?topup=paid"),
            cancel_url: &format!("{base}/billing/topup?cancelled=1"),
        },
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "checkout session not created");
        AppError::Unavailable(td_string!(locale, topup.payment_page_failed).into())
    })?;
    topups::attach_session(state.db.pool(), topup_id, &session.id).await?;
    Ok(session.url)
}

/// Dev mode only: pays the order with a locally signed `checkout.session.completed` event sent through
/// the same webhook code Stripe's events go through. No money moves; the UI labels it.
pub async fn test_payment(state: &AppState, user: &User, amount_minor: i64, locale: Locale) -> Result<Money, AppError> {
    if !state.settings.money.test_payments {
        return Err(AppError::Forbidden);
    }
    let secret = signing_secret(state).ok_or(AppError::Forbidden)?.to_string();
    let (topup_id, usd) = pending(state, user, "test", amount_minor, locale).await?;
    let nonce = random_token().map_err(|e| internal("test payment id", e))?;
    let session_id = format!("cs_test_local_{}", &nonce[..24]);
    topups::attach_session(state.db.pool(), topup_id, &session_id).await?;
    let payload = stripe::completed_event(
        &format!("evt_test_local_{}", &nonce[24..]),
        &session_id,
        topup_id,
        amount_minor,
        &state.settings.money.topup_currency,
    );
    let now = now_ms();
    let signature = stripe_signature::sign(&secret, now / 1000, &payload);
    match stripe::handle_webhook(&state.db, &secret, &payload, &signature, now).await {
        Ok(WebhookOutcome::Credited { user_id }) => {
            state.gateway.money_moved(user_id);
            Ok(usd)
        }
        Ok(other) => Err(internal("test payment", format!("{other:?}"))),
        Err(e) => Err(internal("test payment", e)),
    }
}
