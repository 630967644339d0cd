//! The API keys page's data and actions.

use crate::server::domain::keys::{self, KeyError, KeyUpdate, NewKey};
use crate::server::domain::money::{Money, Shown};
use crate::server::error::internal;
use crate::server::state::AppState;
use crate::server::time::{format_utc, now_ms, DAY_MS};
use crate::shared::dto::{KeyRow, NewKeyShown};
use crate::shared::error::AppError;

fn key_error(e: KeyError) -> AppError {
    match e {
        KeyError::Db(detail) => internal("api keys", detail),
        KeyError::NotFound => AppError::NotFound,
        other => AppError::invalid("name", other.to_string()),
    }
}

pub async fn list(state: &AppState, user_id: i64) -> Result<Vec<KeyRow>, AppError> {
    let now = now_ms();
    Ok(keys::list(state.db.pool(), user_id)
        .await?
        .into_iter()
        .map(|k| KeyRow {
            id: k.id,
            expires: match k.expires_at {
                Some(e) if e <= now => format!("expired {}", format_utc(e)),
                Some(e) => format_utc(e),
                None => "never".into(),
            },
            name: k.name,
            prefix: k.prefix,
            created: format_utc(k.created_at),
            last_used: k.last_used_at.map(format_utc).unwrap_or_else(|| "never".into()),
            used_times: k.used_times,
            spent: crate::server::usd_view::cents(k.spent),
            cap: k.spend_cap.map(|c| c.shown(Shown::Cents)).unwrap_or_else(|| "none".into()),
            models: if k.models.is_empty() { "all".into() } else { k.models.join(", ") },
            can_manage: k.can_manage,
            disabled: k.disabled,
        })
        .collect())
}

/// Creates a key from the form: name, optional days until expiry, optional USD cap, optional models.
pub async fn create(
    state: &AppState,
    user_id: i64,
    name: &str,
    days: &str,
    cap: &str,
    models: &str,
    can_manage: bool,
) -> Result<NewKeyShown, AppError> {
    let now = now_ms();
    let expires_at = match days.trim() {
        "" => None,
        d => Some(
            d.parse::<i64>().ok().filter(|d| (1..=3650).contains(d)).ok_or_else(|| {
                AppError::invalid("days", "Expiry is a number of days from 1 to 3650, or empty for never.")
            })? * DAY_MS
                + now,
        ),
    };
    let spend_cap = match cap.trim() {
        "" => None,
        c => Some(Money::parse_usd(c).map_err(|e| AppError::invalid("cap", e.to_string()))?),
    };
    let models: Vec<String> =
        models.split([',', ' ', '\n']).map(str::trim).filter(|m| !m.is_empty()).map(str::to_string).collect();
    for m in &models {
        if state.pricing.current().table.lookup(m).is_none() {
            return Err(AppError::invalid("models", format!("`{m}` is not a model offered here.")));
        }
    }
    let (key, secret) = keys::create(
        state.db.pool(),
        NewKey { user_id, name, expires_at, spend_cap, models: &models, can_manage, on_page: true, now },
    )
    .await
    .map_err(key_error)?;
    // A secret someone presented before it existed must not stay remembered as unknown.
    state.gateway.key_changed(user_id);
    Ok(NewKeyShown { name: key.name, secret })
}

pub async fn rename(state: &AppState, user_id: i64, id: i64, name: &str) -> Result<(), AppError> {
    let update = KeyUpdate { name: Some(name), on_page: true, ..KeyUpdate::default() };
    keys::update(state.db.pool(), user_id, id, update).await.map_err(key_error)?;
    state.gateway.key_changed(user_id);
    Ok(())
}

pub async fn set_disabled(state: &AppState, user_id: i64, id: i64, disabled: bool) -> Result<(), AppError> {
    let update = KeyUpdate { disabled: Some(disabled), on_page: true, ..KeyUpdate::default() };
    keys::update(state.db.pool(), user_id, id, update).await.map_err(key_error)?;
    state.gateway.key_changed(user_id);
    Ok(())
}

pub async fn delete(state: &AppState, user_id: i64, id: i64) -> Result<(), AppError> {
    keys::delete(state.db.pool(), user_id, id).await.map_err(key_error)?;
    state.gateway.key_changed(user_id);
    Ok(())
}
