//! Stage 2 of a call: admit it. The model's name must be well formed, the model priced, served on the
//! channel and routed, the request within the model's limits, the account under its requests-per-minute
//! tier, and its funds (and the key's cap) able to hold the call's worst case. Refusals worth showing a
//! person (402, 429) are kept for the Bills page. The same for API calls and web chat.

use super::failures::{internal, unavailable};
use super::provider_dialect;
use crate::server::domain::charge::Refusal;
use crate::server::domain::keys::ApiKey;
use crate::server::domain::money::Money;
use crate::server::domain::pricing::{check_model_name, image_fees, ModelKind, Pricing, UsageLimits};
use crate::server::domain::refusals::Why;
use crate::server::proxy::admission_book::{Admission, BookError, KeyCap, OUTAGE_GRACE_MS};
use crate::server::proxy::dialect::ProxyError;
use crate::server::secrets::random_token;
use crate::server::state::AppState;
use crate::server::time::now_ms;
use axum::http::HeaderMap;
use std::sync::Arc;
use tracing::Instrument;

/// Packages counted on at admission must outlive this much of the call.
pub const HOLD_TTL_MS: i64 = 30 * 60_000;
/// A hold is swept as stale (its call's task died) only after this long: longer than any call may run
/// (`UPSTREAM_CALL_DEADLINE_SECS` is at most [`MAX_CALL_DEADLINE_SECS`]) plus the shutdown grace.
pub const STALE_HOLD_MS: i64 = 2 * 60 * 60_000;
/// The longest call deadline an operator may set.
pub const MAX_CALL_DEADLINE_SECS: u64 = 6000;

/// A busy account's paid total read again in the background before it expires (see `hot_cache`).
fn refresh_tier(state: AppState, user_id: i64) {
    tokio::spawn(
        async move {
            let generation = state.gateway.tiers.generation();
            let read_at = now_ms();
            match paid_topups(&state, user_id).await {
                Ok(paid) => state.gateway.tiers.put(user_id, paid, read_at, generation),
                Err(e) => {
                    state.gateway.tiers.refresh_failed(user_id);
                    tracing::warn!(error = %e, "tier refresh failed; the next call tries again");
                }
            }
        }
        .in_current_span(),
    );
}

async fn paid_topups(state: &AppState, user_id: i64) -> Result<i64, sqlx::Error> {
    let (paid,): (i64,) = sqlx::query_as("SELECT paid_topups_minor FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(state.db.pool())
        .await?;
    Ok(paid)
}

/// The account's requests per minute, from its paid top-ups (cached for a few seconds, a busy account's
/// read again in the background before it expires).
async fn rpm_of(state: &AppState, user_id: i64, now: i64) -> Result<u32, ProxyError> {
    let paid = match state.gateway.tiers.get(user_id, now) {
        Some((paid, refresh)) => {
            if refresh {
                refresh_tier(state.clone(), user_id);
            }
            paid
        }
        None => {
            let generation = state.gateway.tiers.generation();
            match state.db.hot_read(paid_topups(state, user_id)).await {
                Ok(paid) => {
                    state.gateway.tiers.put(user_id, paid, now, generation);
                    paid
                }
                Err(e) => match state.gateway.tiers.recent(user_id, now, OUTAGE_GRACE_MS) {
                    Some(paid) => paid,
                    None => return Err(unavailable("tier lookup", e)),
                },
            }
        }
    };
    Ok(state.settings.money.tiers.tier_for(paid).rpm)
}

/// A call's request key (its settlement's idempotency key): the time in milliseconds, then this process's
/// random instance id and a counter, so keys never repeat across instances and restarts, and the unique
/// indexes they go into (bills, ledger entries) grow at one end instead of touching a random page of each
/// for every call. Not a secret: it names a call, it grants nothing.
fn next_request_key(now: i64) -> Result<String, getrandom::Error> {
    static INSTANCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let instance = match INSTANCE.get() {
        Some(i) => i,
        None => {
            let fresh = random_token()?[..12].to_string();
            INSTANCE.get_or_init(|| fresh)
        }
    };
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(format!("api:{:011x}{instance}{n:08x}", now.max(0)))
}

/// The key a call came with, as its bill names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRef {
    pub id: i64,
    pub name: String,
}

/// An admitted call: its hold is placed, and it must end in [`settle`] or [`release`].
pub struct Admitted {
    pub user_id: i64,
    /// The API key it came with; `None` for web chat (the person's session).
    pub key: Option<KeyRef>,
    pub channel: &'static str,
    pub model: String,
    pub multiplier: rust_decimal::Decimal,
    /// The prices in force when it was admitted, which it is charged at.
    pub prices: Arc<Pricing>,
    pub request_key: String,
    /// The input tokens assumed when the upstream reports none (about 3 bytes a token of the request).
    pub estimated_input: u64,
    /// What the request allows: metered usage beyond it is cut to it.
    pub limits: UsageLimits,
    /// The most the call can cost officially (its hold).
    pub worst_case: Money,
    /// The price of each image of the size and quality asked for (an image model priced per image).
    pub per_image: Option<rust_decimal::Decimal>,
    /// When admission began, for the bill's latency.
    pub started: std::time::Instant,
    /// The `x-request-id` the caller saw.
    pub request_id: Option<String>,
}

/// What a call asks of admission; the same for API calls and web chat.
pub struct Ask {
    pub user_id: i64,
    pub key: Option<Arc<ApiKey>>,
    pub channel: &'static str,
    pub model: String,
    /// The kind of model the surface it came on serves (chat, legacy completions, embeddings).
    pub kind: ModelKind,
    /// Output tokens asked for per choice (`max_tokens`); `None`: the model's maximum.
    pub max_tokens: Option<u64>,
    /// Choices asked for (OpenAI's `n`).
    pub choices: Option<u64>,
    /// Prompts in the request, each answered `choices` times within its own context (a legacy completion
    /// may send a list of them; 1 for everything else).
    pub prompts: u64,
    /// Size of the request body, for the worst-case input.
    pub request_bytes: usize,
    /// Web searches the request allows (its web search server tool's `max_uses`; 0 without the tool).
    pub web_searches: u64,
    /// The size and quality of the images asked for (image calls; their number is `choices`).
    pub image: Option<ImageAsk>,
    /// The `x-request-id` the caller saw (kept on the bill, or on the refusal).
    pub request_id: Option<String>,
}

/// The size and quality an image call asked for, as it named them (`None`: not named).
#[derive(Clone, Debug, Default)]
pub struct ImageAsk {
    pub size: Option<String>,
    pub quality: Option<String>,
}

/// The `x-request-id` of a request (set by the edge layer when the caller sent none, or one not sane), up
/// to 64 characters. A sane id is plain ASCII, so it is cut by bytes.
pub fn request_id_of(headers: &HeaderMap) -> Option<String> {
    let id = headers.get(crate::server::http::request_id::HEADER)?.to_str().ok()?;
    Some(id.get(..64).unwrap_or(id).to_string())
}

/// Keeps a refused call (402, 429) for the Bills page.
fn note_refusal(state: &AppState, ask: &Ask, model: &str, status: u16, why: Why) {
    let refused = crate::server::domain::refusals::Refused {
        user_id: ask.user_id,
        key_name: ask.key.as_ref().map(|k| k.name.clone()),
        channel: ask.channel.to_string(),
        model: model.to_string(),
        status,
        why,
        request_id: ask.request_id.clone(),
        at: now_ms(),
    };
    state.gateway.refusals.note(&state.db, refused);
}

/// Admission shared by every charged call: the model's name must be well formed, the model priced, served
/// on the channel and routed, the request within the model's limits, the account under its
/// requests-per-minute tier, and its funds (and the key's cap) able to hold the call's worst case.
pub async fn admit(state: &AppState, ask: Ask) -> Result<Admitted, ProxyError> {
    let started = std::time::Instant::now();
    let model = ask.model.clone();
    check_model_name(&model).map_err(ProxyError::BadRequest)?;
    // The prices in force now: the call is charged at them whenever it ends.
    let prices = state.pricing.current();
    let price = prices.table.lookup(&model).ok_or_else(|| {
        ProxyError::UnknownModel(format!("The model `{model}` is not offered here (it has no price). See /v1/models."))
    })?;
    price.check_kind(&model, ask.kind).map_err(|e| ProxyError::BadRequest(e.to_string()))?;
    if ask.key.as_ref().is_some_and(|k| !k.allows_model(&model)) {
        return Err(ProxyError::Forbidden(format!("This API key may not use `{model}`.")));
    }
    if !prices.serves_as(ask.channel, &model, price.kind) {
        if prices.channels.serves(ask.channel, &model) {
            return Err(ProxyError::BadRequest(format!(
                "The {} channel serves chat models only; call `{model}` on the plain /v1 API. You were not charged.",
                ask.channel
            )));
        }
        let serves = prices.channels.described(ask.channel).unwrap_or_default();
        return Err(ProxyError::BadRequest(format!(
            "The {} channel serves {serves} models only; `{model}` is not one of them. Call it on another channel (such as the plain /v1 API). You were not charged.",
            ask.channel
        )));
    }
    let mut limits =
        price.limits(&model, ask.max_tokens, ask.choices).map_err(|e| ProxyError::BadRequest(e.to_string()))?;
    limits.web_searches = ask.web_searches;
    let prompts = ask.prompts.max(1);
    limits.input = limits.input.saturating_mul(prompts);
    limits.output = limits.output.saturating_mul(prompts);
    let search_fees = prices.table.web_search_fees(ask.web_searches).ok_or_else(|| {
        ProxyError::BadRequest("Web search has no price on this server; call without the web search tool.".into())
    })?;
    // An image model priced per image: every image asked for, at its size's and quality's price.
    let per_image = match &ask.image {
        Some(i) => price
            .image_price(&model, i.size.as_deref(), i.quality.as_deref())
            .map_err(|e| ProxyError::BadRequest(e.to_string()))?,
        None => None,
    };
    let image_fees = per_image.map_or(Some(Money::ZERO), |p| image_fees(limits.images, p));
    let worst = price
        .worst_case(limits, ask.request_bytes)
        .and_then(|w| w.checked_add(search_fees))
        .and_then(|w| w.checked_add(image_fees?))
        .ok_or_else(|| ProxyError::BadRequest(Refusal::WorstCaseTooLarge.message()))?;
    if !state.gateway.upstreams.serves(provider_dialect(&model), &model) {
        return Err(ProxyError::UnknownModel(format!("No upstream provider is configured for `{model}`.")));
    }
    let now = now_ms();
    let rpm = rpm_of(state, ask.user_id, now).await?;
    if let Err(wait_ms) = state.gateway.limiter.check(ask.user_id, rpm, now).await {
        let secs = u64::try_from((wait_ms + 999) / 1000).unwrap_or(1).max(1);
        let message = format!(
            "Rate limit of {rpm} requests per minute reached; retry in {secs} s. Paid top-ups raise the limit."
        );
        note_refusal(state, &ask, &model, 429, Why::RateLimited { rpm, retry_secs: secs });
        return Err(ProxyError::RateLimited { message, retry_after_secs: secs });
    }
    // Billed when the upstream reports no input: about 3 bytes a token of the request.
    let estimated_input = u64::try_from(ask.request_bytes / 3).unwrap_or(u64::MAX).clamp(1, limits.input);
    let multiplier = prices.multipliers.for_channel(ask.channel);
    let request_key = next_request_key(now).map_err(|e| internal("request key", e))?;
    // A capped key's spend, read when admission holds the account's lock (see `KeyCap`).
    let spent = || ask.key.as_ref().map_or(Money::ZERO, |k| state.gateway.keys.spent(k.id).unwrap_or(k.spent));
    let key_cap = ask.key.as_ref().and_then(|k| k.spend_cap.map(|cap| KeyCap { key_id: k.id, cap, spent: &spent }));
    let admission = Admission {
        user_id: ask.user_id,
        request_key: &request_key,
        channel: ask.channel,
        model: &model,
        worst_case: worst,
        multiplier,
        ttl_ms: HOLD_TTL_MS,
        now,
        key_cap,
    };
    state.gateway.admissions.admit(&state.db, admission).await.map_err(|e| match e {
        BookError::Refused(Refusal::WorstCaseTooLarge) => ProxyError::BadRequest(Refusal::WorstCaseTooLarge.message()),
        BookError::Refused(r) => {
            note_refusal(state, &ask, &model, 402, Why::Payment(r));
            ProxyError::PaymentRequired(r)
        }
        BookError::Unavailable(e) => unavailable("admission", e),
        // The key outlived its account (deleted a moment ago).
        BookError::NoSuchAccount => ProxyError::Unauthenticated("Invalid API key.".into()),
    })?;
    Ok(Admitted {
        user_id: ask.user_id,
        key: ask.key.map(|k| KeyRef { id: k.id, name: k.name.clone() }),
        channel: ask.channel,
        model,
        multiplier,
        prices,
        request_key,
        estimated_input,
        limits,
        worst_case: worst,
        per_image,
        started,
        request_id: ask.request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_keys_are_unique_and_ordered_by_time() {
        let a = next_request_key(1_700_000_000_000).unwrap();
        let b = next_request_key(1_700_000_000_000).unwrap();
        let c = next_request_key(1_700_000_000_001).unwrap();
        assert_ne!(a, b);
        assert!(a < c && b < c, "{a} {b} {c}");
        assert!(a.starts_with("api:") && a.len() == 4 + 11 + 12 + 8, "{a}");
    }
}
