//! Background responses (OpenAI models): Gatehouse follows each upstream until it ends and bills its final
//! usage then; one that ended without usage (cancelled early) or disappeared is billed by the estimate, one
//! still running after [`FOLLOW_FOR`] at its worst case: never free. While followed it cannot be deleted.
//! Every follow is recorded (`domain::background_follows`) before the response's id reaches the caller
//! ([`track`]) and forgotten once its charge is committed; the follower touches it at every look upstream,
//! and [`resume_abandoned`] follows again (on exactly one instance) what a stopped server left.

use crate::server::domain::background_follows::{self, Follow, ABANDONED_MS};
use crate::server::domain::ledger::CallOutcome;
use crate::server::domain::money::Money;
use crate::server::domain::pricing::{Pricing, Usage, UsageLimits};
use crate::server::proxy::call::{self, Admitted, KeyRef};
use crate::server::proxy::dialect::Dialect;
use crate::server::proxy::metering;
use crate::server::proxy::response_owners::Following;
use crate::server::proxy::settlement_writer::CallGuard;
use crate::server::proxy::upstream::{UpstreamBody, UpstreamError, UpstreamResponse};
use crate::server::state::AppState;
use crate::server::time::now_ms;
use axum::http::HeaderMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// How long a background response is followed before its worst case is billed (deep-research models can
/// run for hours; the admission book lets the hold go after 30 minutes, the charge still comes here).
pub const FOLLOW_FOR: Duration = Duration::from_secs(6 * 3600);

/// How often a background response is looked at upstream: soon at first, then less often.
fn poll_after(attempt: u32) -> Duration {
    Duration::from_millis((250u64 << attempt.min(5)).min(5_000))
}

/// A background response marked followed (it cannot be deleted) and recorded (a restart follows it again).
pub struct Tracked {
    id: String,
    _following: Following,
}

/// Marks and records a background response of an admitted call; done before its id reaches the caller.
pub async fn track(state: &AppState, admitted: &Admitted, id: &str) -> Tracked {
    let following = state.gateway.responses.follow(id);
    if let Err(e) = background_follows::record(state.db.pool(), &follow_record(admitted, id)).await {
        // Followed all the same; only a stop before it ends would lose it.
        tracing::error!(error = %e, response = %id, "background response not recorded; a stop before it ends would leave it unbilled");
    }
    Tracked { id: id.to_string(), _following: following }
}

/// Follows a tracked response upstream in a task of its own until it ends, then bills it. `seen_output` is
/// what its stream already carried (bytes), the least its estimate counts.
pub fn follow(state: &AppState, admitted: Admitted, tracked: Tracked, running: CallGuard, seen_output: usize) {
    let give_up = tokio::time::Instant::now() + FOLLOW_FOR;
    tokio::spawn(run(state.clone(), admitted, tracked, give_up, running, seen_output).in_current_span());
}

/// A tracked response whose stream reached its end and was billed there: forgotten once that charge is
/// committed.
pub async fn ended_in_stream(state: &AppState, tracked: Tracked) {
    forget_when_committed(state, &tracked.id).await;
}

async fn forget_when_committed(state: &AppState, id: &str) {
    state.gateway.flush().await;
    if let Err(e) = background_follows::done(state.db.pool(), id).await {
        tracing::warn!(error = %e, response = %id, "billed background response not forgotten; it will be on the next look");
    }
}

/// Every [`ABANDONED_MS`] / 2 (from the start): the follows nobody touched for [`ABANDONED_MS`] (their
/// server stopped or crashed) are claimed, one instance each, and followed again. One whose charge was
/// committed before the stop is only forgotten: the request key never bills twice.
pub async fn resume_abandoned(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_millis(u64::try_from(ABANDONED_MS / 2).unwrap_or(30_000)));
    loop {
        tick.tick().await;
        resume_once(&state, now_ms() - ABANDONED_MS).await;
    }
}

/// Claims and follows again the follows untouched since `before`.
pub async fn resume_once(state: &AppState, before: i64) {
    let pool = state.db.pool();
    let follows = match background_follows::abandoned(pool, before).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "background responses to follow could not be read");
            return;
        }
    };
    for f in follows {
        match background_follows::claim(pool, &f, now_ms()).await {
            Ok(true) => {}
            Ok(false) => continue, // another instance took it
            Err(e) => {
                tracing::error!(error = %e, response = %f.response_id, "background response not resumed");
                continue;
            }
        }
        match background_follows::billed(pool, &f.request_key).await {
            Ok(false) => {}
            Ok(true) => {
                if let Err(e) = background_follows::done(pool, &f.response_id).await {
                    tracing::warn!(error = %e, response = %f.response_id, "billed background response not forgotten");
                }
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, response = %f.response_id, "background response not resumed");
                continue;
            }
        }
        tracing::info!(response = %f.response_id, "following a background response its server left");
        let elapsed = Duration::from_millis(u64::try_from(now_ms() - f.started_at).unwrap_or(0));
        let give_up = tokio::time::Instant::now() + FOLLOW_FOR.saturating_sub(elapsed);
        let tracked = Tracked { id: f.response_id.clone(), _following: state.gateway.responses.follow(&f.response_id) };
        let running = state.gateway.begin_call();
        tokio::spawn(run(
            state.clone(),
            admitted_of(f, elapsed, state.pricing.current()),
            tracked,
            give_up,
            running,
            0,
        ));
    }
}

fn follow_record(a: &Admitted, id: &str) -> Follow {
    let n = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
    Follow {
        response_id: id.to_string(),
        request_key: a.request_key.clone(),
        user_id: a.user_id,
        api_key_id: a.key.as_ref().map(|k| k.id),
        key_name: a.key.as_ref().map(|k| k.name.clone()),
        channel: a.channel.to_string(),
        model: a.model.clone(),
        multiplier: a.multiplier.to_string(),
        estimated_input: n(a.estimated_input),
        max_input: n(a.limits.input),
        max_output: n(a.limits.output),
        max_web_searches: n(a.limits.web_searches),
        worst_case: a.worst_case.units(),
        request_id: a.request_id.clone(),
        started_at: now_ms() - i64::try_from(a.started.elapsed().as_millis()).unwrap_or(0),
        alive_at: now_ms(),
    }
}

/// The admitted call a record stands for (its hold died with the server that placed it).
fn admitted_of(f: Follow, elapsed: Duration, prices: Arc<Pricing>) -> Admitted {
    let n = |x: i64| u64::try_from(x).unwrap_or(0);
    let channel = crate::server::proxy::channel_of(&f.channel).unwrap_or("default");
    Admitted {
        user_id: f.user_id,
        key: f.api_key_id.map(|id| KeyRef { id, name: f.key_name.unwrap_or_default() }),
        channel,
        model: f.model,
        multiplier: f.multiplier.parse().unwrap_or(rust_decimal::Decimal::ONE),
        // The prices its server admitted it at are gone with that server; those in force now apply.
        prices,
        request_key: f.request_key,
        estimated_input: n(f.estimated_input),
        limits: UsageLimits {
            input: n(f.max_input),
            output: n(f.max_output),
            web_searches: n(f.max_web_searches),
            images: 0,
        },
        worst_case: Money::from_units(f.worst_case),
        // Background responses are chat calls: no images priced per image.
        per_image: None,
        started: std::time::Instant::now().checked_sub(elapsed).unwrap_or_else(std::time::Instant::now),
        request_id: f.request_id,
    }
}

async fn run(
    state: AppState,
    admitted: Admitted,
    tracked: Tracked,
    give_up: tokio::time::Instant,
    _running: CallGuard,
    seen_output: usize,
) {
    let (usage, outcome) = ending(&state, &admitted, &tracked.id, give_up, seen_output).await;
    call::settle(&state, &admitted, usage, outcome).await;
    // Forgotten only once the charge is committed: a stop in between follows it again, billed once.
    forget_when_committed(&state, &tracked.id).await;
}

/// Polls the response upstream until it ends: what to bill, and how it ended. It is looked at at least once,
/// however late (a follow resumed after its deadline is billed what it used if it ended).
async fn ending(
    state: &AppState,
    admitted: &Admitted,
    id: &str,
    give_up: tokio::time::Instant,
    seen_output: usize,
) -> (Usage, CallOutcome) {
    let path = format!("/v1/responses/{id}");
    let estimate = || metering::estimated(admitted.estimated_input, seen_output);
    let mut attempt = 0;
    loop {
        tokio::time::sleep(poll_after(attempt)).await;
        attempt += 1;
        if let Err(e) = background_follows::touch(state.db.pool(), id, now_ms()).await {
            tracing::warn!(error = %e, response = %id, "background follow not touched");
        }
        let got = state
            .gateway
            .upstreams
            .request_kept(
                reqwest::Method::GET,
                (Dialect::OpenAi, Some(&admitted.model)),
                &path,
                None,
                &HeaderMap::new(),
            )
            .await;
        match got {
            Ok(UpstreamResponse { body: UpstreamBody::Json(bytes) }) => {
                let v = super::events::ResponseHead::parse(&bytes).unwrap_or_default();
                if !v.running() {
                    let usage = v.usage();
                    let outcome = if v.status.as_deref() == Some("completed") {
                        CallOutcome::Complete
                    } else {
                        CallOutcome::Stopped
                    };
                    return (if usage.is_empty() { estimate() } else { usage }, outcome);
                }
            }
            Ok(_) => {}
            Err(UpstreamError::Status { status: 404, .. }) => {
                tracing::warn!(response = %id, "background response gone upstream before it ended; billed by the estimate");
                return (estimate(), CallOutcome::Stopped);
            }
            Err(e) => tracing::warn!(error = %e, response = %id, "background response could not be read; trying again"),
        }
        if tokio::time::Instant::now() >= give_up {
            break;
        }
    }
    tracing::error!(response = %id, "background response still running after {} h; billed at its worst case", FOLLOW_FOR.as_secs() / 3600);
    let limits = &admitted.limits;
    (
        Usage { input: limits.input, output: limits.output, web_searches: limits.web_searches, ..Default::default() },
        CallOutcome::Stopped,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_start_soon_and_settle_at_five_seconds() {
        assert_eq!(poll_after(0), Duration::from_millis(250));
        assert_eq!(poll_after(2), Duration::from_millis(1000));
        assert_eq!(poll_after(9), Duration::from_secs(5));
    }
}
