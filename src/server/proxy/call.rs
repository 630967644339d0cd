//! One API call from start to finish: authenticate the key, read the request (model name, channel, limits),
//! price the model, apply the rate limit and admission (hold), forward to the upstream (translating OpenAI
//! <-> Anthropic when the caller's dialect differs from the provider's), stream the answer back, and settle
//! the charge exactly once on every exit path, metered within the request's limits.

use super::admission_book::{Admission, BookError, KeyCap, OUTAGE_GRACE_MS};
use super::dialect::{Dialect, ProxyError};
use super::hot_cache::{Digest, ReadTicket};
use super::metering::{self, Meter};
use super::settlement_writer::{CallGuard, PendingSettlement};
use super::sse;
use super::translate::{self, StreamTranslator};
use super::upstream::{Outgoing, UpstreamBody, UpstreamError};
use crate::server::domain::charge::Refusal;
use crate::server::domain::keys::{self, ApiKey};
use crate::server::domain::ledger::CallOutcome;
use crate::server::domain::money::Money;
use crate::server::domain::pricing::{check_model_name, Usage, UsageLimits};
use crate::server::secrets::{digest_hex, random_token, token_digest};
use crate::server::state::AppState;
use crate::server::time::now_ms;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::Instrument;

/// Packages counted on at admission must outlive the longest call (the upstream read timeout is shorter).
pub const HOLD_TTL_MS: i64 = 30 * 60_000;

/// The key presented in `Authorization: Bearer` or `x-api-key`.
pub fn presented_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
        })
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The caller's key, refused with 401 when missing, unknown, disabled or expired. Keys come from the
/// in-memory cache when it has them (see `hot_cache`), so a call normally reads nothing here.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Arc<ApiKey>, ProxyError> {
    let secret = presented_key(headers).ok_or_else(|| {
        ProxyError::Unauthenticated("No API key: send it as `Authorization: Bearer sk-gh-...` or `x-api-key`.".into())
    })?;
    let digest = token_digest(&secret);
    let now = now_ms();
    let invalid = || ProxyError::Unauthenticated("Invalid API key.".into());
    let key = match state.key_cache.get(&digest, now) {
        Some(hit) => {
            if let Some(ticket) = hit.refresh {
                refresh_key(state.clone(), digest, ticket);
            }
            hit.key
        }
        // A secret found unknown a moment ago is refused without asking the database again.
        None if state.key_cache.known_missing(&digest, now) => return Err(invalid()),
        None => {
            let ticket = state.key_cache.ticket(&digest);
            // Reads on the call's path go through `hot_read`: while the database is away the call goes on
            // from what this instance read recently, or gets 503, instead of waiting for the pool.
            match state.db.hot_read(keys::by_hash(state.db.pool(), &digest_hex(&digest))).await {
                Ok(Some(k)) => state.key_cache.put(&digest, k, now, ticket),
                Ok(None) => {
                    state.key_cache.remember_missing(&digest, now, ticket);
                    return Err(invalid());
                }
                // The database is away: a key read within the outage grace still stands.
                Err(e) => match state.key_cache.recent(&digest, now, OUTAGE_GRACE_MS) {
                    Some(k) => k,
                    None => return Err(unavailable("key lookup", e)),
                },
            }
        }
    };
    if key.disabled {
        return Err(ProxyError::Unauthenticated("This API key is disabled.".into()));
    }
    if key.is_expired(now) {
        return Err(ProxyError::Unauthenticated("This API key has expired.".into()));
    }
    Ok(key)
}

/// A busy key's entry read again in the background before it expires (see `hot_cache`).
fn refresh_key(state: AppState, digest: Digest, ticket: ReadTicket) {
    tokio::spawn(
        async move {
            let read_at = now_ms();
            match keys::by_hash(state.db.pool(), &digest_hex(&digest)).await {
                Ok(Some(k)) => {
                    state.key_cache.put(&digest, k, read_at, ticket);
                }
                Ok(None) => state.key_cache.forget(&digest),
                Err(e) => {
                    state.key_cache.refresh_failed(&digest);
                    tracing::warn!(error = %e, "key refresh failed; the next call tries again");
                }
            }
        }
        .in_current_span(),
    );
}

/// A busy account's paid total read again in the background before it expires (see `hot_cache`).
fn refresh_tier(state: AppState, user_id: i64) {
    tokio::spawn(
        async move {
            let generation = state.tier_cache.generation();
            let read_at = now_ms();
            match paid_topups(&state, user_id).await {
                Ok(paid) => state.tier_cache.put(user_id, paid, read_at, generation),
                Err(e) => {
                    state.tier_cache.refresh_failed(user_id);
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
    let paid = match state.tier_cache.get(user_id, now) {
        Some((paid, refresh)) => {
            if refresh {
                refresh_tier(state.clone(), user_id);
            }
            paid
        }
        None => {
            let generation = state.tier_cache.generation();
            match state.db.hot_read(paid_topups(state, user_id)).await {
                Ok(paid) => {
                    state.tier_cache.put(user_id, paid, now, generation);
                    paid
                }
                Err(e) => match state.tier_cache.recent(user_id, now, OUTAGE_GRACE_MS) {
                    Some(paid) => paid,
                    None => return Err(unavailable("tier lookup", e)),
                },
            }
        }
    };
    Ok(state.settings.money.tiers.tier_for(paid).rpm)
}

fn internal(context: &'static str, e: impl std::fmt::Display) -> ProxyError {
    tracing::error!(error = %e, "{context}");
    ProxyError::Internal
}

/// The database cannot be reached and nothing recent stands in: 503, retry shortly.
fn unavailable(context: &'static str, e: impl std::fmt::Display) -> ProxyError {
    tracing::warn!(error = %e, "{context}: database unavailable");
    ProxyError::Unavailable { retry_after_secs: 5 }
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

/// An admitted call: its hold is placed, and it must end in [`settle`] or [`release`].
pub struct Admitted {
    pub user_id: i64,
    /// The API key it came with; `None` for web chat (the person's session).
    pub key: Option<Arc<ApiKey>>,
    pub channel: &'static str,
    pub model: String,
    pub multiplier: rust_decimal::Decimal,
    pub request_key: String,
    /// The input tokens assumed when the upstream reports none (about 3 bytes a token of the request).
    pub estimated_input: u64,
    /// What the request allows: metered usage beyond it is cut to it.
    pub limits: UsageLimits,
    /// The most the call can cost officially (its hold).
    pub worst_case: Money,
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
    /// Output tokens asked for per choice (`max_tokens`); `None`: the model's maximum.
    pub max_tokens: Option<u64>,
    /// Choices asked for (OpenAI's `n`).
    pub choices: Option<u64>,
    /// Size of the request body, for the worst-case input.
    pub request_bytes: usize,
    /// The `x-request-id` the caller saw (kept on the bill, or on the refusal).
    pub request_id: Option<String>,
}

/// The `x-request-id` of a request (set by the request-id layer when the caller sent none).
pub fn request_id_of(headers: &HeaderMap) -> Option<String> {
    headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(|v| v.chars().take(64).collect())
}

/// Keeps a refused call (402, 429) for the Bills page.
fn note_refusal(state: &AppState, ask: &Ask, model: &str, status: u16, reason: &str) {
    let refused = crate::server::domain::refusals::Refused {
        user_id: ask.user_id,
        key_name: ask.key.as_ref().map(|k| k.name.clone()),
        channel: ask.channel.to_string(),
        model: model.to_string(),
        status,
        reason: reason.to_string(),
        request_id: ask.request_id.clone(),
        at: now_ms(),
    };
    state.refusals.note(&state.db, refused);
}

/// Admission shared by every charged call: the model's name must be well formed, the model priced, served
/// on the channel and routed, the request within the model's limits, the account under its
/// requests-per-minute tier, and its funds (and the key's cap) able to hold the call's worst case.
pub async fn admit(state: &AppState, ask: Ask) -> Result<Admitted, ProxyError> {
    let started = std::time::Instant::now();
    let model = ask.model.clone();
    check_model_name(&model).map_err(ProxyError::BadRequest)?;
    let price = state.pricing.table.lookup(&model).ok_or_else(|| {
        ProxyError::UnknownModel(format!("The model `{model}` is not offered here (it has no price). See /v1/models."))
    })?;
    if ask.key.as_ref().is_some_and(|k| !k.allows_model(&model)) {
        return Err(ProxyError::Forbidden(format!("This API key may not use `{model}`.")));
    }
    if !state.pricing.channels.serves(ask.channel, &model) {
        let serves = state.pricing.channels.described(ask.channel).unwrap_or_default();
        return Err(ProxyError::BadRequest(format!(
            "The {} channel serves {serves} models only; `{model}` is not one of them. Call it on another channel (such as the plain /v1 API). You were not charged.",
            ask.channel
        )));
    }
    let limits =
        price.limits(&model, ask.max_tokens, ask.choices).map_err(|e| ProxyError::BadRequest(e.to_string()))?;
    let worst = price
        .worst_case(limits, ask.request_bytes)
        .ok_or_else(|| ProxyError::BadRequest(Refusal::WorstCaseTooLarge.message()))?;
    if !state.upstreams.serves(provider_dialect(&model), &model) {
        return Err(ProxyError::UnknownModel(format!("No upstream provider is configured for `{model}`.")));
    }
    let now = now_ms();
    let rpm = rpm_of(state, ask.user_id, now).await?;
    if let Err(wait_ms) = state.rate_limiter.check(ask.user_id, rpm, now).await {
        let secs = u64::try_from((wait_ms + 999) / 1000).unwrap_or(1).max(1);
        let message = format!(
            "Rate limit of {rpm} requests per minute reached; retry in {secs} s. Paid top-ups raise the limit."
        );
        note_refusal(state, &ask, &model, 429, &message);
        return Err(ProxyError::RateLimited { message, retry_after_secs: secs });
    }
    // Billed when the upstream reports no input: about 3 bytes a token of the request.
    let estimated_input = u64::try_from(ask.request_bytes / 3).unwrap_or(u64::MAX).clamp(1, limits.input);
    let multiplier = state.pricing.multipliers.for_channel(ask.channel);
    let request_key = next_request_key(now).map_err(|e| internal("request key", e))?;
    // A capped key's spend, read when admission holds the account's lock (see `KeyCap`).
    let spent = || ask.key.as_ref().map_or(Money::ZERO, |k| state.key_cache.spent(k.id).unwrap_or(k.spent));
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
    state.admissions.admit(&state.db, admission).await.map_err(|e| match e {
        BookError::Refused(Refusal::WorstCaseTooLarge) => ProxyError::BadRequest(Refusal::WorstCaseTooLarge.message()),
        BookError::Refused(r) => {
            note_refusal(state, &ask, &model, 402, &r.message());
            ProxyError::PaymentRequired(r.message())
        }
        BookError::Unavailable(e) => unavailable("admission", e),
        // The key outlived its account (deleted a moment ago).
        BookError::NoSuchAccount => ProxyError::Unauthenticated("Invalid API key.".into()),
    })?;
    Ok(Admitted {
        user_id: ask.user_id,
        key: ask.key,
        channel: ask.channel,
        model,
        multiplier,
        request_key,
        estimated_input,
        limits,
        worst_case: worst,
        started,
        request_id: ask.request_id,
    })
}

/// The few fields of a request the proxy reads; everything else passes through unparsed into a tree.
#[derive(serde::Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    model: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default)]
    n: Option<u64>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<PeekStreamOptions>,
}

#[derive(serde::Deserialize)]
struct PeekStreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// What an API call asked for, once admitted.
struct Asked {
    stream: bool,
    include_usage: bool,
}

/// An API call up to admission: the key, the request, the key's own limits, then [`admit`].
async fn prepare(
    state: &AppState,
    dialect: Dialect,
    channel: &'static str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Admitted, Asked), ProxyError> {
    let key = authenticate(state, headers).await?;
    let peek: Peek<'_> = serde_json::from_slice(body).map_err(not_json)?;
    let model = peek.model.as_deref().unwrap_or_default().to_string();
    let (max_tokens, choices) = match dialect {
        Dialect::Anthropic => (peek.max_tokens, None),
        // A Claude model asked for in the OpenAI dialect gets the translation's default when none is given.
        Dialect::OpenAi if provider_dialect(&model) == Dialect::Anthropic => {
            (peek.max_completion_tokens.or(peek.max_tokens).or(Some(translate::DEFAULT_MAX_TOKENS)), peek.n)
        }
        Dialect::OpenAi => (peek.max_completion_tokens.or(peek.max_tokens), peek.n),
    };
    let asked = Asked {
        stream: peek.stream == Some(true),
        include_usage: peek.stream_options.and_then(|o| o.include_usage) == Some(true),
    };
    let ask = Ask {
        user_id: key.user_id,
        key: Some(key),
        channel,
        model,
        max_tokens,
        choices,
        request_bytes: body.len(),
        request_id: request_id_of(headers),
    };
    Ok((admit(state, ask).await?, asked))
}

/// The usage of a whole JSON answer, without building the rest of it; `None` when it is not JSON.
fn usage_of(target: Dialect, answer: &[u8]) -> Option<Usage> {
    #[derive(serde::Deserialize)]
    struct WithUsage {
        #[serde(default)]
        usage: Value,
    }
    let w: WithUsage = serde_json::from_slice(answer).ok()?;
    Some(match target {
        Dialect::Anthropic => {
            let mut u = Usage::default();
            metering::apply_anthropic(&mut u, &w.usage);
            u
        }
        Dialect::OpenAi => metering::openai(&w.usage),
    })
}

fn parsed(body: &Bytes) -> Result<Value, ProxyError> {
    serde_json::from_slice(body).map_err(not_json)
}

fn not_json(e: serde_json::Error) -> ProxyError {
    ProxyError::BadRequest(format!("The request body is not valid JSON: {e}"))
}

/// Hands a finished call's charge to the settlement writer (committed within milliseconds, exactly once:
/// the request key is its idempotency key). The usage is first held to what the request allowed: an
/// upstream reporting more (or numbers that do not fit) is an anomaly, logged, and billed at most the
/// request's limits; a cost that cannot be computed is billed at the call's worst case, never at zero.
pub async fn settle(state: &AppState, p: &Admitted, reported: Usage, outcome: CallOutcome) {
    let (usage, cut) = reported.clamped(p.limits);
    if cut {
        tracing::warn!(model = %p.model, request = %p.request_key, ?reported, ?usage, "upstream anomaly: usage beyond what the request allowed; billed within its limits");
    }
    let official = state.pricing.table.cost(&p.model, &usage).unwrap_or_else(|| {
        tracing::error!(model = %p.model, request = %p.request_key, ?usage, "usage could not be priced; billed at the call's worst case");
        p.worst_case
    });
    let pending = PendingSettlement {
        user_id: p.user_id,
        request_key: p.request_key.clone(),
        api_key_id: p.key.as_ref().map(|k| k.id),
        key_name: p.key.as_ref().map(|k| k.name.clone()),
        channel: p.channel,
        model: p.model.clone(),
        usage,
        official,
        multiplier: p.multiplier,
        now: now_ms(),
        outcome,
        latency_ms: Some(i64::try_from(p.started.elapsed().as_millis()).unwrap_or(i64::MAX)),
        request_id: p.request_id.clone(),
    };
    state.settlements.submit(pending).await;
}

/// Ends an admitted call without charging (it failed before any token).
pub async fn release(state: &AppState, p: &Admitted) {
    state.admissions.release(p.user_id, &p.request_key);
}

fn upstream_error(e: &UpstreamError) -> ProxyError {
    match e {
        UpstreamError::Status { status: 429, .. } => ProxyError::Upstream {
            status: 503,
            message: "The upstream provider is rate limiting us; please retry shortly. You were not charged.".into(),
        },
        UpstreamError::Status { status, .. } if *status >= 400 && *status < 500 => ProxyError::Upstream {
            status: *status,
            message: format!("The upstream provider refused the request ({status}). You were not charged."),
        },
        _ => ProxyError::Upstream {
            status: 502,
            message: "The upstream provider failed before answering. You were not charged; please retry.".into(),
        },
    }
}

/// Which dialect answers a model: Claude models go to Anthropic, everything else to OpenAI.
pub fn provider_dialect(model: &str) -> Dialect {
    if crate::server::domain::pricing::base_model_id(model).starts_with("claude") {
        Dialect::Anthropic
    } else {
        Dialect::OpenAi
    }
}

/// A charged call: Anthropic Messages (`dialect` Anthropic) or OpenAI chat completions (OpenAi).
///
/// The call runs in its own task, so a caller who disconnects does not cancel it halfway: once admitted,
/// it is answered by the upstream, metered and settled (or its hold released) whatever the caller does.
pub async fn handle(
    state: AppState,
    dialect: Dialect,
    channel: &'static str,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let running = state.calls.begin();
    // The task keeps the request's span, so its lines carry the request id.
    match tokio::spawn(run(state, dialect, channel, query, headers, body, running).in_current_span()).await {
        Ok(response) => response,
        Err(e) => internal("call task", e).into_response(dialect),
    }
}

async fn run(
    state: AppState,
    dialect: Dialect,
    channel: &'static str,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    running: CallGuard,
) -> Response {
    let (prepared, asked) = match prepare(&state, dialect, channel, &headers, &body).await {
        Ok(p) => p,
        Err(e) => return e.into_response(dialect),
    };
    let target = provider_dialect(&prepared.model);
    let (streaming, include_usage) = (asked.stream, asked.include_usage);
    // The request as the provider gets it: the caller's bytes when nothing changes, translated otherwise.
    let outgoing = match (dialect, target) {
        (Dialect::Anthropic, Dialect::Anthropic) => Ok(Outgoing { bytes: body.clone(), stream: streaming }),
        (Dialect::OpenAi, Dialect::OpenAi) if !streaming || include_usage => {
            Ok(Outgoing { bytes: body.clone(), stream: streaming })
        }
        (Dialect::OpenAi, Dialect::OpenAi) => parsed(&body).map(|mut r| {
            // Ask for usage so the call can be metered; the caller only sees it if they asked.
            r["stream_options"] = serde_json::json!({"include_usage": true});
            Outgoing::json(&r)
        }),
        (Dialect::OpenAi, Dialect::Anthropic) => {
            parsed(&body).map(|r| Outgoing::json(&translate::request_to_anthropic(&r)))
        }
        (Dialect::Anthropic, Dialect::OpenAi) => Err(ProxyError::BadRequest(format!(
            "`{}` is not a Claude model; call it through the OpenAI-compatible /v1/chat/completions.",
            prepared.model
        ))),
    };
    let outgoing = match outgoing {
        Ok(o) => o,
        Err(e) => {
            release(&state, &prepared).await;
            return e.into_response(dialect);
        }
    };
    let path = match (target, &query) {
        (Dialect::Anthropic, Some(q)) if dialect == Dialect::Anthropic => format!("/v1/messages?{q}"),
        (Dialect::Anthropic, _) => "/v1/messages".to_string(),
        (Dialect::OpenAi, _) => "/v1/chat/completions".to_string(),
    };
    let reply = match state.upstreams.send(target, &prepared.model, &path, &outgoing, &headers).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, model = %prepared.model, "upstream failed before answering");
            release(&state, &prepared).await;
            return upstream_error(&e).into_response(dialect);
        }
    };
    match reply.body {
        UpstreamBody::Json(answer) => {
            let usage = match usage_of(target, &answer) {
                Some(u) if !u.is_empty() => u,
                Some(_) => {
                    // Answered without usage: billed by the estimate, never free.
                    tracing::warn!(model = %prepared.model, request = %prepared.request_key, "upstream anomaly: an answer without usage; billed by the estimate");
                    metering::estimated(prepared.estimated_input, answer.len())
                }
                None => {
                    tracing::warn!(model = %prepared.model, "upstream answered with something that is not JSON");
                    release(&state, &prepared).await;
                    return upstream_error(&UpstreamError::Broken("not JSON".into())).into_response(dialect);
                }
            };
            settle(&state, &prepared, usage, CallOutcome::Complete).await;
            match (dialect, target) {
                (Dialect::OpenAi, Dialect::Anthropic) => {
                    let v: Value = serde_json::from_slice(&answer).unwrap_or_default();
                    (StatusCode::OK, axum::Json(translate::response_to_openai(&v, now_ms() / 1000))).into_response()
                }
                _ => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], answer).into_response(),
            }
        }
        UpstreamBody::Stream(mut upstream) => {
            let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
            tokio::spawn(
                async move {
                    // The call counts as running until its charge is queued.
                    let _running = running;
                    let mut parser = sse::Parser::default();
                    let mut meter = Meter::default();
                    let mut translator =
                        (dialect != target).then(|| StreamTranslator::new(now_ms() / 1000, include_usage));
                    // Nothing to translate or hold back: the upstream's bytes go to the caller as they came (still
                    // parsed, for metering), without writing each event again.
                    let raw = translator.is_none() && (target == Dialect::Anthropic || include_usage);
                    let mut client_gone = false;
                    let mut broke = false;
                    while let Some(chunk) = upstream.next().await {
                        let chunk = match chunk {
                            Ok(c) => c,
                            Err(e) => {
                                tracing::warn!(error = %e, "upstream stream broke");
                                broke = true;
                                break;
                            }
                        };
                        let mut out: Vec<Bytes> = Vec::new();
                        for ev in parser.push(&chunk) {
                            match target {
                                Dialect::Anthropic => meter.on_anthropic(&ev),
                                Dialect::OpenAi => meter.on_openai(&ev),
                            }
                            if raw {
                                continue;
                            }
                            match (&mut translator, target) {
                                (Some(t), _) => out.extend(t.on_event(&ev)),
                                // The usage chunk we asked for on the caller's behalf stays with us.
                                (None, Dialect::OpenAi) if !include_usage && is_usage_only_chunk(&ev) => {}
                                (None, _) => out.push(sse::write(ev.event.as_deref(), &ev.data)),
                            }
                        }
                        if raw {
                            out.push(chunk);
                        }
                        // After a disconnect, keep reading the upstream to learn the real usage.
                        if !client_gone {
                            for b in out {
                                if tx.send(Ok(b)).await.is_err() {
                                    client_gone = true;
                                    tracing::info!("caller disconnected mid-stream; metering to the end");
                                    break;
                                }
                            }
                        }
                    }
                    if !meter.reported && meter.output_chars == 0 {
                        // The upstream produced nothing (it broke or ended before its first event): no charge.
                        release(&state, &prepared).await;
                    } else {
                        let usage = meter.usage_for_billing(prepared.estimated_input);
                        let outcome = if broke {
                            CallOutcome::UpstreamBroke
                        } else if client_gone {
                            CallOutcome::CallerLeft
                        } else {
                            CallOutcome::Complete
                        };
                        settle(&state, &prepared, usage, outcome).await;
                    }
                }
                .in_current_span(),
            );
            let stream =
                futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/event-stream")
                .header(header::CACHE_CONTROL, "no-cache")
                .body(Body::from_stream(stream))
                .unwrap_or_else(|_| ProxyError::Internal.into_response(dialect))
        }
    }
}

fn is_usage_only_chunk(ev: &sse::Event) -> bool {
    serde_json::from_str::<Value>(&ev.data)
        .map(|v| v["usage"].is_object() && v["choices"].as_array().is_some_and(|c| c.is_empty()))
        .unwrap_or(false)
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
