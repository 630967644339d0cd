//! The API keys page's data and actions.

use crate::i18n::{td_string, Locale};
use crate::server::domain::keys::{self, KeyError, KeyUpdate, NewKey, MAX_KEYS_PER_ACCOUNT};
use crate::server::domain::money::{Money, MoneyError, Shown};
use crate::server::error::internal;
use crate::server::state::AppState;
use crate::server::time::{date_time_for, now_ms, DAY_MS};
use crate::shared::dto::{KeyRow, NewKeyShown};
use crate::shared::error::AppError;
use crate::shared::text::fill;

/// A key change's refusal, in the person's language.
fn key_error(e: KeyError, locale: Locale) -> AppError {
    let message = match e {
        KeyError::Db(detail) => return internal("api keys", detail),
        KeyError::NotFound => return AppError::NotFound,
        KeyError::BadName => td_string!(locale, keys.err_bad_name).to_string(),
        KeyError::ExpiryInPast => td_string!(locale, keys.err_expiry_past).to_string(),
        KeyError::TooMany => fill(td_string!(locale, keys.err_too_many_keys), &[("max", &MAX_KEYS_PER_ACCOUNT)]),
        // Written by the rule that refused (the keys page's own rule refuses nothing).
        KeyError::NotAllowed(why) => why,
    };
    AppError::invalid("name", message)
}

/// A spending cap that is not an amount, in the person's language.
fn money_error(e: &MoneyError, locale: Locale) -> &'static str {
    match e {
        MoneyError::NotANumber => td_string!(locale, keys.err_amount_not_number),
        MoneyError::Negative => td_string!(locale, keys.err_amount_negative),
        MoneyError::TooPrecise => td_string!(locale, keys.err_amount_too_precise),
        MoneyError::TooLarge => td_string!(locale, keys.err_amount_too_large),
    }
}

/// The account's keys for the page, their words (never, none, all, expired) in `locale`.
pub async fn list(state: &AppState, user_id: i64, locale: Locale) -> Result<Vec<KeyRow>, AppError> {
    let now = now_ms();
    Ok(keys::list(state.db.pool(), user_id)
        .await?
        .into_iter()
        .map(|k| KeyRow {
            id: k.id,
            expires: match k.expires_at {
                Some(e) if e <= now => {
                    fill(td_string!(locale, keys.expired_on), &[("date", &date_time_for(e, locale))])
                }
                Some(e) => date_time_for(e, locale),
                None => td_string!(locale, keys.never).into(),
            },
            name: k.name,
            prefix: k.prefix,
            created: date_time_for(k.created_at, locale),
            last_used: k
                .last_used_at
                .map(|t| date_time_for(t, locale))
                .unwrap_or_else(|| td_string!(locale, keys.never_used).into()),
            used_times: k.used_times,
            spent: crate::server::usd_view::cents(k.spent),
            cap: k.spend_cap.map(|c| c.shown(Shown::Cents)).unwrap_or_else(|| td_string!(locale, keys.none).into()),
            models: if k.models.is_empty() { td_string!(locale, keys.all_models).into() } else { k.models.join(", ") },
            can_manage: k.can_manage,
            disabled: k.disabled,
        })
        .collect())
}

/// Creates a key from the form: name, optional days until expiry, optional USD cap, optional models. Its
/// refusals are written in `locale`.
#[allow(clippy::too_many_arguments)]
pub async fn create(
    state: &AppState,
    user_id: i64,
    name: &str,
    days: &str,
    cap: &str,
    models: &str,
    can_manage: bool,
    locale: Locale,
) -> Result<NewKeyShown, AppError> {
    let now = now_ms();
    let expires_at = match days.trim() {
        "" => None,
        d => Some(
            d.parse::<i64>()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| AppError::invalid("days", td_string!(locale, keys.err_days)))?
                * DAY_MS
                + now,
        ),
    };
    let spend_cap = match cap.trim() {
        "" => None,
        c => Some(Money::parse_usd(c).map_err(|e| AppError::invalid("cap", money_error(&e, locale)))?),
    };
    let models: Vec<String> =
        models.split([',', ' ', '\n']).map(str::trim).filter(|m| !m.is_empty()).map(str::to_string).collect();
    for m in &models {
        if state.pricing.current().table.lookup(m).is_none() {
            return Err(AppError::invalid(
                "models",
                fill(td_string!(locale, keys.err_model_not_offered), &[("model", m)]),
            ));
        }
    }
    let (key, secret) = keys::create(
        state.db.pool(),
        NewKey { user_id, name, expires_at, spend_cap, models: &models, can_manage, on_page: true, now },
    )
    .await
    .map_err(|e| key_error(e, locale))?;
    // A secret someone presented before it existed must not stay remembered as unknown.
    state.gateway.key_changed(user_id);
    Ok(NewKeyShown { name: key.name, secret })
}

pub async fn rename(state: &AppState, user_id: i64, id: i64, name: &str, locale: Locale) -> Result<(), AppError> {
    let update = KeyUpdate { name: Some(name), on_page: true, ..KeyUpdate::default() };
    keys::update(state.db.pool(), user_id, id, update).await.map_err(|e| key_error(e, locale))?;
    state.gateway.key_changed(user_id);
    Ok(())
}

pub async fn set_disabled(
    state: &AppState,
    user_id: i64,
    id: i64,
    disabled: bool,
    locale: Locale,
) -> Result<(), AppError> {
    let update = KeyUpdate { disabled: Some(disabled), on_page: true, ..KeyUpdate::default() };
    keys::update(state.db.pool(), user_id, id, update).await.map_err(|e| key_error(e, locale))?;
    state.gateway.key_changed(user_id);
    Ok(())
}

pub async fn delete(state: &AppState, user_id: i64, id: i64, locale: Locale) -> Result<(), AppError> {
    keys::delete(state.db.pool(), user_id, id).await.map_err(|e| key_error(e, locale))?;
    state.gateway.key_changed(user_id);
    Ok(())
}
