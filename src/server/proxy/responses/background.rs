//! Background responses (OpenAI models): Gatehouse follows each upstream until it ends and bills its final
//! usage then; one that ended without usage (cancelled early) or disappeared is billed by the estimate, one
//! still running after [`FOLLOW_FOR`] at its worst case: never free. While followed it cannot be deleted.
//! Every follow is recorded (`domain::background_follows`) before the response's id reaches the caller
//! and forgotten once its charge is committed; at start, [`resume`] follows again what a stopped server left.

use crate::server::domain::background_follows::{self, Follow};
use crate::server::domain::ledger::CallOutcome;
use crate::server::domain::money::Money;
use crate::server::domain::pricing::{Usage, UsageLimits};
use crate::server::proxy::call::{self, Admitted, KeyRef};
use crate::server::proxy::dialect::Dialect;
use crate::server::proxy::metering;
use crate::server::proxy::response_owners::Following;
use crate::server::proxy::settlement_writer::CallGuard;
use crate::server::proxy::upstream::{UpstreamBody, UpstreamError, UpstreamResponse};
use crate::server::state::AppState;
use crate::server::time::now_ms;
use axum::http::HeaderMap;
use std::time::Duration;
use tracing::Instrument;

/// How long a background response is followed before its worst case is billed (deep-research models can
/// run for hours; the admission book lets the hold go after 30 minutes, the charge still comes here).
pub const FOLLOW_FOR: Duration = Duration::from_secs(6 * 3600);

/// How often a background response is looked at upstream: soon at first, then less often.
fn poll_after(attempt: u32) -> Duration {
    Duration::from_millis((250u64 << attempt.min(5)).min(5_000))
}

/// Starts following a background response of an admitted call: marked followed and recorded before this
/// returns (so before the caller can learn the id), then followed in a task of its own.
pub async fn follow(state: &AppState, admitted: Admitted, id: &str, running: CallGuard) {
    let following = state.gateway.responses.follow(id);
    let record = follow_record(&admitted, id);
    if let Err(e) = background_follows::record(state.db.pool(), &record).await {
        // Followed all the same; only a restart before it ends would lose it.
        tracing::error!(error = %e, response = %id, "background response not recorded; a restart before it ends would leave it unbilled");
    }
    let give_up = tokio::time::Instant::now() + FOLLOW_FOR;
    tokio::spawn(run(state.clone(), admitted, id.to_string(), give_up, (running, following)).in_current_span());
}

/// Follows again every background response a stopped server was following (called once, at start). One
/// whose charge was committed before the stop is only forgotten: the request key never bills twice.
pub async fn resume(state: &AppState) {
    let follows = match background_follows::all(state.db.pool()).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "background responses to follow could not be read");
            return;
        }
    };
    for f in follows {
        match background_follows::billed(state.db.pool(), &f.request_key).await {
            Ok(true) => {
                if let Err(e) = background_follows::done(state.db.pool(), &f.response_id).await {
                    tracing::warn!(error = %e, response = %f.response_id, "billed background response not forgotten");
                }
                continue;
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, response = %f.response_id, "background response not resumed");
                continue;
            }
        }
        tracing::info!(response = %f.response_id, "following a background response again after a restart");
        let elapsed = Duration::from_millis(u64::try_from(now_ms() - f.started_at).unwrap_or(0));
        let give_up = tokio::time::Instant::now() + FOLLOW_FOR.saturating_sub(elapsed);
        let guards = (state.gateway.begin_call(), state.gateway.responses.follow(&f.response_id));
        let id = f.response_id.clone();
        tokio::spawn(run(state.clone(), admitted_of(f, elapsed), id, give_up, guards));
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
        worst_case: a.worst_case.units(),
        request_id: a.request_id.clone(),
        started_at: now_ms() - i64::try_from(a.started.elapsed().as_millis()).unwrap_or(0),
    }
}

/// The admitted call a record stands for (its hold died with the server that placed it).
fn admitted_of(f: Follow, elapsed: Duration) -> Admitted {
    let n = |x: i64| u64::try_from(x).unwrap_or(0);
    let channel = crate::server::proxy::channel_of(&f.channel).unwrap_or("default");
    Admitted {
        user_id: f.user_id,
        key: f.api_key_id.map(|id| KeyRef { id, name: f.key_name.unwrap_or_default() }),
        channel,
        model: f.model,
        multiplier: f.multiplier.parse().unwrap_or(rust_decimal::Decimal::ONE),
        request_key: f.request_key,
        estimated_input: n(f.estimated_input),
        limits: UsageLimits { input: n(f.max_input), output: n(f.max_output) },
        worst_case: Money::from_units(f.worst_case),
        started: std::time::Instant::now().checked_sub(elapsed).unwrap_or_else(std::time::Instant::now),
        request_id: f.request_id,
    }
}

async fn run(
    state: AppState,
    admitted: Admitted,
    id: String,
    give_up: tokio::time::Instant,
    _guards: (CallGuard, Following),
) {
    let (usage, outcome) = ending(&state, &admitted, &id, give_up).await;
    call::settle(&state, &admitted, usage, outcome).await;
    // Forgotten only once the charge is committed: a stop in between follows it again, billed once.
    state.gateway.flush().await;
    if let Err(e) = background_follows::done(state.db.pool(), &id).await {
        tracing::warn!(error = %e, response = %id, "billed background response not forgotten; the next start will");
    }
}

/// Polls the response upstream until it ends: what to bill, and how it ended.
async fn ending(
    state: &AppState,
    admitted: &Admitted,
    id: &str,
    give_up: tokio::time::Instant,
) -> (Usage, CallOutcome) {
    let path = format!("/v1/responses/{id}");
    let mut attempt = 0;
    let estimate = || metering::estimated(admitted.estimated_input, 0);
    while tokio::time::Instant::now() < give_up {
        tokio::time::sleep(poll_after(attempt)).await;
        attempt += 1;
        let got = state
            .gateway
            .upstreams
            .request(reqwest::Method::GET, Dialect::OpenAi, &admitted.model, &path, None, &HeaderMap::new())
            .await;
        let bytes = match got {
            Ok(UpstreamResponse { body: UpstreamBody::Json(b) }) => b,
            Ok(_) => continue,
            Err(UpstreamError::Status { status: 404, .. }) => {
                tracing::warn!(response = %id, "background response gone upstream before it ended; billed by the estimate");
                return (estimate(), CallOutcome::Stopped);
            }
            Err(e) => {
                tracing::warn!(error = %e, response = %id, "background response could not be read; trying again");
                continue;
            }
        };
        let v = super::events::ResponseHead::parse(&bytes).unwrap_or_default();
        if v.running() {
            continue;
        }
        let usage = v.usage();
        let outcome =
            if v.status.as_deref() == Some("completed") { CallOutcome::Complete } else { CallOutcome::Stopped };
        return (if usage.is_empty() { estimate() } else { usage }, outcome);
    }
    tracing::error!(response = %id, "background response still running after {} h; billed at its worst case", FOLLOW_FOR.as_secs() / 3600);
    (Usage { input: admitted.limits.input, output: admitted.limits.output, ..Default::default() }, CallOutcome::Stopped)
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
