//! The key-management API of the seed's "API KEY management" section, for scripts: POST with a Bearer key
//! that may manage keys, form-encoded bodies, replies `{"statusCode", "message", "data"}`. Listed keys show
//! only their prefix (we keep hashes). What a managing key may grant or change is `domain::key_rights`:
//! nothing beyond its own limits, never itself, and limits set on the keys page only tighter.

use super::call;
use crate::server::domain::account;
use crate::server::domain::key_rights::{self, Limits};
use crate::server::domain::keys::{self, ApiKey, KeyUpdate, NewKey};
use crate::server::domain::money::Money;
use crate::server::domain::packages::{self, PackageStatus};
use crate::server::domain::pricing::ModelKind;
use crate::server::state::AppState;
use crate::server::time::now_ms;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/user/admin/balance", post(balance))
        .route("/api/v1/user/admin/new-api-token", post(new_token))
        .route("/api/v1/user/admin/get-api-tokens", post(list_tokens))
        .route("/api/v1/user/admin/update-api-token", post(update_token))
        .route("/api/v1/user/admin/del-api-token", post(delete_token))
        .route("/api/v1/user/admin/rate-limit", post(rate_limit))
        .route("/api/v1/user/admin/model-multiplier", post(multipliers))
        .route("/api/v1/user/admin/membership-expiry", post(membership))
}

fn reply(status: StatusCode, message: &str, data: Value) -> Response {
    (status, axum::Json(json!({ "statusCode": status.as_u16(), "message": message, "data": data }))).into_response()
}

type Answer = Result<Response, Refused>;

fn ok(data: Value) -> Answer {
    Ok(reply(StatusCode::OK, "success", data))
}

/// A refusal in the API's reply shape.
pub struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        reply(self.0, &self.1, Value::Null)
    }
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Refused {
    Refused(status, message.into())
}

/// The calling key, which must hold management rights.
async fn manager(state: &AppState, headers: &HeaderMap) -> Result<std::sync::Arc<ApiKey>, Refused> {
    let key = call::authenticate(state, headers).await.map_err(|e| {
        let status = e.status();
        refuse(status, e.body(super::dialect::Dialect::OpenAi)["error"]["message"].as_str().unwrap_or("Unauthorized"))
    })?;
    if !key.can_manage {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "This key may not manage keys; create one with that right on the API keys page.",
        ));
    }
    Ok(key)
}

fn internal(e: impl std::fmt::Display) -> Refused {
    tracing::error!(error = %e, "key management");
    refuse(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong inside Gatehouse; please retry.")
}

fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    form.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn models_of(text: &str, state: &AppState) -> Result<Vec<String>, Refused> {
    let list: Vec<String> = serde_json::from_str(text)
        .map_err(|_| refuse(StatusCode::BAD_REQUEST, "permissions must be a JSON list of model names"))?;
    for m in &list {
        if state.pricing.current().table.lookup(m).is_none() {
            return Err(refuse(StatusCode::BAD_REQUEST, format!("`{m}` is not a model offered here")));
        }
    }
    Ok(list)
}

/// `expired_at`: unix seconds (0 or empty: never).
fn expiry_of(text: Option<&str>) -> Result<Option<i64>, Refused> {
    match text {
        None | Some("0") => Ok(None),
        Some(t) => t
            .parse::<i64>()
            .map(|s| Some(s * 1000))
            .map_err(|_| refuse(StatusCode::BAD_REQUEST, "expired_at is a unix time in seconds")),
    }
}

fn cap_of(text: Option<&str>) -> Result<Option<Money>, Refused> {
    match text {
        None | Some("0") => Ok(None),
        Some(t) => Money::parse_usd(t).map(Some).map_err(|e| refuse(StatusCode::BAD_REQUEST, format!("max_fee: {e}"))),
    }
}

fn shown(k: &ApiKey) -> Value {
    json!({
        "token": k.prefix,
        "remark": k.name,
        "created_at": k.created_at / 1000,
        "used_at": k.last_used_at.map(|t| t / 1000),
        "expired_at": k.expires_at.map(|t| t / 1000),
        "used_times": k.used_times,
        "used_fee": k.spent.to_plain(),
        "max_fee": k.spend_cap.map(Money::to_plain),
        "permissions": k.models,
        "is_admin": k.can_manage,
        "is_disabled": k.disabled,
    })
}

/// The account's money and its resource packages, as they stand now.
async fn money_and_packages(
    state: &AppState,
    user_id: i64,
) -> Result<(account::AccountMoney, Vec<packages::Package>), Refused> {
    match (account::money_of(state.db.pool(), user_id).await, packages::list(state.db.pool(), user_id, now_ms()).await)
    {
        (Ok(Some(m)), Ok(p)) => Ok((m, p)),
        (Err(e), _) | (_, Err(e)) => Err(internal(e)),
        (Ok(None), _) => Err(refuse(StatusCode::NOT_FOUND, "no such account")),
    }
}

async fn balance(State(state): State<AppState>, headers: HeaderMap) -> Answer {
    let key = manager(&state, &headers).await?;
    let (money, pkgs) = money_and_packages(&state, key.user_id).await?;
    let free = pkgs
        .iter()
        .filter(|p| p.status == PackageStatus::Active)
        .fold(Money::ZERO, |s, p| s.saturating_add(p.remaining));
    ok(json!({ "balance": money.balance.to_plain(), "free_balance": free.to_plain() }))
}

async fn new_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Answer {
    let key = manager(&state, &headers).await?;
    let now = now_ms();
    let expires_at = expiry_of(field(&form, "expired_at"))?;
    let cap = cap_of(field(&form, "max_fee"))?;
    let models = field(&form, "permissions").map(|p| models_of(p, &state)).transpose()?.unwrap_or_default();
    let name = field(&form, "remark").unwrap_or("API key");
    let asked = Limits { expires_at, spend_cap: cap, models: models.clone(), disabled: false };
    let rule = |all: &[ApiKey], _: Option<&ApiKey>| {
        let manager = as_it_is(&key, all)?;
        key_rights::may_create(manager, &asked, key_rights::committed(manager, all, None)).map_err(|e| e.to_string())
    };
    let new = NewKey {
        user_id: key.user_id,
        name,
        expires_at,
        spend_cap: cap,
        models: &models,
        can_manage: false,
        on_page: false,
        now,
    };
    let created = keys::create_within(state.db.pool(), new, &rule).await;
    match created {
        Ok((k, secret)) => {
            state.gateway.key_changed(key.user_id);
            let mut data = shown(&k);
            data["token"] = json!(secret);
            ok(data)
        }
        Err(e) => Err(key_refused(e)),
    }
}

/// The managing key as it stands in the change's transaction (its spend may have grown, or it may have been
/// disabled on the keys page, since another instance cached it).
fn as_it_is<'a>(manager: &ApiKey, all: &'a [ApiKey]) -> Result<&'a ApiKey, String> {
    match all.iter().find(|k| k.id == manager.id) {
        Some(k) if k.can_manage && !k.disabled && !k.is_expired(now_ms()) => Ok(k),
        _ => Err("This key may no longer manage keys.".to_string()),
    }
}

fn key_refused(e: keys::KeyError) -> Refused {
    match e {
        keys::KeyError::Db(e) => internal(e),
        keys::KeyError::NotAllowed(why) => refuse(StatusCode::FORBIDDEN, why),
        keys::KeyError::NotFound => refuse(StatusCode::NOT_FOUND, "No such key on this account."),
        e => refuse(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn list_tokens(State(state): State<AppState>, headers: HeaderMap) -> Answer {
    let key = manager(&state, &headers).await?;
    match keys::list(state.db.pool(), key.user_id).await {
        Ok(list) => ok(Value::Array(list.iter().map(shown).collect())),
        Err(e) => Err(internal(e)),
    }
}

async fn target(state: &AppState, manager: &ApiKey, form: &HashMap<String, String>) -> Result<ApiKey, Refused> {
    let given = field(form, "key").ok_or_else(|| refuse(StatusCode::BAD_REQUEST, "key is required"))?;
    match keys::find_for_user(state.db.pool(), manager.user_id, given).await {
        Ok(Some(k)) => Ok(k),
        Ok(None) => Err(refuse(StatusCode::NOT_FOUND, "No such key on this account.")),
        Err(e) => Err(internal(e)),
    }
}

async fn update_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Answer {
    let key = manager(&state, &headers).await?;
    let target = target(&state, &key, &form).await?;
    let expires_at =
        match form.get("expired_at").map(|v| expiry_of(Some(v.trim()).filter(|v| !v.is_empty()))).transpose() {
            Ok(e) => e,
            Err(r) => return Err(r),
        };
    let spend_cap = match form.get("max_fee").map(|v| cap_of(Some(v.trim()).filter(|v| !v.is_empty()))).transpose() {
        Ok(c) => c,
        Err(r) => return Err(r),
    };
    let models = match field(&form, "permissions").map(|p| models_of(p, &state)).transpose() {
        Ok(m) => m,
        Err(r) => return Err(r),
    };
    let disabled = field(&form, "is_disabled").map(|v| matches!(v, "1" | "true" | "on"));
    let rule = |all: &[ApiKey], target: Option<&ApiKey>| {
        let manager = as_it_is(&key, all)?;
        let target = target.ok_or("No such key on this account.")?;
        let after = Limits {
            expires_at: expires_at.unwrap_or(target.expires_at),
            spend_cap: spend_cap.unwrap_or(target.spend_cap),
            models: models.clone().unwrap_or_else(|| target.models.clone()),
            disabled: disabled.unwrap_or(target.disabled),
        };
        let committed = key_rights::committed(manager, all, Some(target.id));
        key_rights::may_update(manager, target, &after, committed).map_err(|e| e.to_string())
    };
    let update = KeyUpdate {
        name: field(&form, "remark"),
        expires_at,
        spend_cap,
        models: models.as_deref(),
        disabled,
        on_page: false,
    };
    let updated = keys::update_within(state.db.pool(), key.user_id, target.id, update, &rule).await;
    state.gateway.key_changed(key.user_id);
    match updated {
        Ok(()) => match keys::find_for_user(state.db.pool(), key.user_id, &target.prefix).await {
            Ok(Some(k)) => ok(shown(&k)),
            Ok(None) => ok(Value::Null),
            Err(e) => Err(internal(e)),
        },
        Err(e) => Err(key_refused(e)),
    }
}

async fn delete_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Answer {
    let key = manager(&state, &headers).await?;
    let target = target(&state, &key, &form).await?;
    let rule = |all: &[ApiKey], target: Option<&ApiKey>| {
        let manager = as_it_is(&key, all)?;
        key_rights::may_delete(manager, target.ok_or("No such key on this account.")?).map_err(|e| e.to_string())
    };
    let deleted = keys::delete_within(state.db.pool(), key.user_id, target.id, &rule).await;
    state.gateway.key_changed(key.user_id);
    match deleted {
        Ok(()) => ok(json!({ "deleted": target.prefix })),
        Err(e) => Err(key_refused(e)),
    }
}

async fn rate_limit(State(state): State<AppState>, headers: HeaderMap) -> Answer {
    let key = manager(&state, &headers).await?;
    match account::money_of(state.db.pool(), key.user_id).await {
        Ok(Some(m)) => {
            let tier = state.settings.money.tiers.tier_for(m.paid_topups_minor);
            ok(json!({ "rpm": tier.rpm, "paid_topups": m.paid_topups_minor as f64 / 100.0,
                       "currency": state.settings.money.topup_currency }))
        }
        Ok(None) => Err(refuse(StatusCode::NOT_FOUND, "no such account")),
        Err(e) => Err(internal(e)),
    }
}

/// The channels' multipliers (`{"cc-omg": "0.2", ...}`), or with `model` (one id or several, comma
/// separated) each model's: its kind, official USD per million units (tokens; characters for speech read
/// per character) or per
/// image by size and quality (an image model priced per image), and the multiplier the balance pays
/// on each channel that serves it. A model without a price is refused (404), naming it.
async fn multipliers(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Answer {
    manager(&state, &headers).await?;
    let pricing = state.pricing.current();
    let as_text = |d: rust_decimal::Decimal| json!(d.normalize().to_string());
    let asked = form.as_ref().ok().and_then(|Form(f)| field(f, "model")).filter(|m| !m.trim().is_empty());
    let Some(asked) = asked else {
        let map: serde_json::Map<String, Value> =
            pricing.multipliers.all().into_iter().map(|(c, m)| (c, as_text(m))).collect();
        return ok(Value::Object(map));
    };
    let mut models = serde_json::Map::new();
    for model in asked.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let Some(price) = pricing.table.lookup(model) else {
            return Err(refuse(
                StatusCode::NOT_FOUND,
                format!("The model `{model}` is not offered here (it has no price)."),
            ));
        };
        let channels: serde_json::Map<String, Value> = crate::server::proxy::charged_channels()
            .into_iter()
            .filter(|c| pricing.serves(c, model))
            .map(|c| (c.to_string(), as_text(pricing.multipliers.for_channel(c))))
            .collect();
        let rates = price.base_rates();
        let per_image = price.image_prices();
        let mut entry = json!({ "kind": price.kind.as_str(), "channels": channels });
        if per_image.is_empty() {
            let mut official = json!({ "input": as_text(rates.input) });
            if price.writes() {
                official["output"] = as_text(rates.output);
            }
            // A cache applies to text and image models, not to speech.
            if price.writes() && price.kind != ModelKind::Speech {
                official["cache_read"] = as_text(rates.cache_read);
            }
            if price.kind == ModelKind::Image {
                official["image_input"] = as_text(rates.cache_write_5m);
            }
            // Speech read per character is priced by the characters, everything else by tokens.
            entry["unit"] = json!(price.unit().as_str());
            entry["usd_per_million"] = official;
        } else {
            // Priced per image: each size and quality's USD price.
            entry["unit"] = json!(price.unit().as_str());
            entry["usd_per_image"] = per_image
                .iter()
                .map(|p| json!({ "size": p.size, "quality": p.quality, "usd": as_text(p.usd) }))
                .collect::<Value>();
        }
        models.insert(model.to_string(), entry);
    }
    ok(Value::Object(models))
}

/// Gatehouse's answer to the guide's membership-expiry query: the account's rate tier (from paid top-ups;
/// it never expires) and its resource packages, the latest expiry among those still usable first.
async fn membership(State(state): State<AppState>, headers: HeaderMap) -> Answer {
    let key = manager(&state, &headers).await?;
    let (money, pkgs) = money_and_packages(&state, key.user_id).await?;
    let tier = state.settings.money.tiers.tier_for(money.paid_topups_minor);
    let active: Vec<&packages::Package> = pkgs.iter().filter(|p| p.status == PackageStatus::Active).collect();
    let expires_at = active.iter().map(|p| p.expires_at).max();
    let shown: Vec<Value> = active
        .iter()
        .map(|p| {
            json!({
                "title": p.title,
                "scope": p.scope.to_text(),
                "remaining": p.remaining.to_plain(),
                "granted_at": p.granted_at / 1000,
                "expired_at": p.expires_at / 1000,
            })
        })
        .collect();
    ok(json!({
        "is_member": expires_at.is_some(),
        "expired_at": expires_at.map(|t| t / 1000),
        "expired_at_utc": expires_at.map(crate::server::time::format_utc),
        "packages": shown,
        "tier": { "rpm": tier.rpm, "paid_topups": money.paid_topups_minor as f64 / 100.0,
                  "currency": state.settings.money.topup_currency, "expires": false },
    }))
}
