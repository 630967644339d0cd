//! Stage 5 of a call: settle it. A finished call's charge goes to the gateway's settlement writer
//! (committed within milliseconds, exactly once: the request key is its idempotency key); a call that
//! produced nothing has its hold released. The one rule for every exit path of every API surface.

use super::admit::Admitted;
use crate::server::domain::ledger::CallOutcome;
use crate::server::domain::pricing::Usage;
use crate::server::proxy::metering::{self, Meter};
use crate::server::proxy::settlement_writer::PendingSettlement;
use crate::server::state::AppState;
use crate::server::time::now_ms;

/// Hands a finished call's charge to the settlement writer (committed within milliseconds, exactly once:
/// the request key is its idempotency key). The usage is first held to what the request allowed: an
/// upstream reporting more (or numbers that do not fit) is an anomaly, logged, and billed at most the
/// request's limits; a cost that cannot be computed is billed at the call's worst case, never at zero.
pub async fn settle(state: &AppState, p: &Admitted, reported: Usage, outcome: CallOutcome) {
    let (usage, cut) = reported.clamped(p.limits);
    if cut {
        tracing::warn!(model = %p.model, request = %p.request_key, ?reported, ?usage, "upstream anomaly: usage beyond what the request allowed; billed within its limits");
    }
    let official = p.prices.table.call_cost(&p.model, &usage, p.per_image).unwrap_or_else(|| {
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
    state.gateway.settlements.submit(pending).await;
}

/// A whole (not streamed) answer: billed its reported usage, or by the estimate when the upstream reported
/// none (never free).
pub async fn settle_whole(state: &AppState, p: &Admitted, reported: Usage, answer_bytes: usize) {
    let usage = if reported.is_empty() {
        tracing::warn!(model = %p.model, request = %p.request_key, "upstream anomaly: an answer without usage; billed by the estimate");
        // A call allowed no output (an embedding) is estimated with none.
        let output_bytes = if p.limits.output == 0 { 0 } else { answer_bytes };
        metering::estimated(p.estimated_input, output_bytes)
    } else {
        reported
    };
    settle(state, p, usage, CallOutcome::Complete).await;
}

/// The one rule for ending a streamed call: when the upstream produced nothing (it broke or ended before its
/// first event) the hold is released and nothing is charged; otherwise the usage seen is billed (at least
/// what was streamed, see [`Meter::usage_for_billing`]), with how the stream ended.
pub async fn end_stream(state: &AppState, p: &Admitted, meter: &Meter, broke: bool, caller_left: bool) {
    if !meter.reported && meter.output_chars == 0 {
        release(state, p).await;
        return;
    }
    let outcome = if broke {
        CallOutcome::UpstreamBroke
    } else if caller_left {
        CallOutcome::CallerLeft
    } else {
        CallOutcome::Complete
    };
    settle(state, p, meter.usage_for_billing(p.estimated_input), outcome).await;
}

/// Ends an admitted call without charging (it failed before any token).
pub async fn release(state: &AppState, p: &Admitted) {
    state.gateway.admissions.release(p.user_id, &p.request_key);
}
