//! The gateway: what every charged call goes through besides the database and the price table. It owns
//! the upstreams, the rate limiter, the in-memory key and tier caches, the admission book (balances,
//! packages and running calls' holds), the settlement writer, the tracker of running calls, the log of
//! refused calls and the owners of Responses API ids. `AppState` holds one.
//!
//! Outside the proxy nobody reaches into these: pages, payments and the key API tell the gateway what
//! happened ([`Gateway::key_changed`], [`Gateway::money_moved`]) and only the account concerned is read
//! again; shutdown asks it to finish ([`Gateway::finish_calls`], [`Gateway::flush`]). The inspection
//! methods at the end are for tests and operators' diagnostics, `/metrics` ([`Gateway::render_metrics`])
//! and the operators' console ([`Gateway::provider_health`]).

use super::admission_book::AdmissionBook;
use super::hot_cache::{KeyCache, TierCache};
use super::owned_ids::IdOwners;
use super::rate_limit::RateLimiter;
use super::refusal_log::RefusalLog;
use super::response_owners::ResponseOwners;
use super::settlement_writer::{CallGuard, CallTracker, SettlementWriter};
use super::upstream::Upstreams;
use crate::server::db::Db;
use crate::server::domain::money::{Money, UNITS_PER_USD};
use crate::server::metrics::{CallMetrics, Exposition, Kind, ProviderHealth};
use std::sync::Arc;
use std::time::Duration;

/// How long calls whose streams were cut at shutdown get to queue their charges.
const CUT_SETTLES_WITHIN: Duration = Duration::from_secs(5);

pub struct Gateway {
    pub(super) upstreams: Upstreams,
    pub(super) limiter: RateLimiter,
    pub(super) keys: Arc<KeyCache>,
    pub(super) tiers: TierCache,
    pub(super) admissions: Arc<AdmissionBook>,
    pub(super) settlements: SettlementWriter,
    pub(super) calls: CallTracker,
    pub(super) refusals: RefusalLog,
    /// Response ids of the Responses API and their accounts, written behind the calls.
    pub(super) responses: ResponseOwners,
    /// Conversation and stored chat completion ids and their accounts, written behind the calls.
    pub(super) owned: IdOwners,
    /// API calls answered, their durations and streams' first pieces (`/metrics`).
    pub(super) metrics: Arc<CallMetrics>,
}

impl Gateway {
    /// A gateway over `upstreams` and `limiter`, writing charges to `db`.
    pub fn start(db: &Db, upstreams: Upstreams, limiter: RateLimiter) -> Self {
        let keys = Arc::new(KeyCache::default());
        let admissions = Arc::new(AdmissionBook::default());
        let settlements = SettlementWriter::start(db.clone(), Arc::clone(&keys), Arc::clone(&admissions));
        // Every channel a call can come on, so calls are counted without looking anything up.
        let channels: Vec<&'static str> =
            std::iter::once("default").chain(super::NAMED_CHANNELS.iter().copied()).collect();
        Self {
            upstreams,
            limiter,
            keys,
            tiers: TierCache::default(),
            admissions,
            settlements,
            calls: CallTracker::default(),
            refusals: RefusalLog::default(),
            responses: ResponseOwners::start(db.clone()),
            owned: IdOwners::start(db.clone()),
            metrics: Arc::new(CallMetrics::new(&channels)),
        }
    }

    /// A key of this account was created, changed or deleted.
    pub fn key_changed(&self, user_id: i64) {
        self.keys.invalidate_user(user_id);
    }

    /// This account's balance, paid top-ups or packages changed outside a call (a top-up, a code, a grant).
    pub fn money_moved(&self, user_id: i64) {
        self.tiers.invalidate(user_id);
        self.admissions.invalidate(user_id);
    }

    /// What running calls of this account hold on its balance (the Balance page shows it).
    pub fn balance_held(&self, user_id: i64) -> Money {
        self.admissions.balance_held(user_id)
    }

    /// True when any call can be answered by the built-in mock (pages say so).
    pub fn uses_mock(&self) -> bool {
        self.upstreams.uses_mock()
    }

    /// A call begins (web chat's replies too); it counts as running until the guard is dropped.
    pub fn begin_call(&self) -> CallGuard {
        self.calls.begin()
    }

    /// Where calls go (web chat sends its replies through the same upstreams).
    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    /// Waits until every running call has ended, at most `limit`; false when some still run.
    pub async fn finish_calls(&self, limit: Duration) -> bool {
        if self.calls.wait_idle(limit).await {
            return true;
        }
        // The grace ran out: streams still running end now and settle what they carried.
        self.cut_streams();
        self.calls.wait_idle(CUT_SETTLES_WITHIN).await
    }

    /// Ends every running upstream stream now; each call settles what it carried.
    pub fn cut_streams(&self) {
        self.upstreams.cut_streams();
    }

    /// Calls running now.
    pub fn running_calls(&self) -> usize {
        self.calls.running()
    }

    /// Waits until every charge handed to the settlement writer, and every id owner, is committed.
    pub async fn flush(&self) {
        self.settlements.flush().await;
        self.responses.flush().await;
        self.owned.flush().await;
    }

    /// Charges handed over but not yet committed.
    pub fn unwritten(&self) -> usize {
        self.settlements.unwritten()
    }

    /// Waits until every running call has finished and its charge is committed (tests, shutdown).
    pub async fn settled(&self, limit: Duration) -> bool {
        let idle = self.finish_calls(limit).await;
        let flushed = tokio::time::timeout(limit, self.flush()).await.is_ok();
        idle && flushed
    }

    /// Drops holds of calls whose task died without ending them (older than `older_than_ms`).
    pub fn sweep_stale_holds(&self, now: i64, older_than_ms: i64) -> usize {
        self.admissions.sweep(now, older_than_ms)
    }

    // Inspection, for tests and diagnostics.

    /// The admission book (holds, balances as the proxy sees them).
    pub fn admissions(&self) -> &AdmissionBook {
        &self.admissions
    }

    /// The settlement writer.
    pub fn settlements(&self) -> &SettlementWriter {
        &self.settlements
    }

    /// The key cache.
    pub fn key_cache(&self) -> &KeyCache {
        &self.keys
    }

    /// The rate limiter.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// API calls answered, by surface, channel and status; their durations.
    pub fn metrics(&self) -> &CallMetrics {
        &self.metrics
    }

    /// Each upstream provider's last five minutes (calls, errors, latency, failovers) and its last error.
    pub fn provider_health(&self, now_ms: i64) -> Vec<ProviderHealth> {
        self.upstreams.health(now_ms)
    }

    /// Everything the gateway counts, in Prometheus' text format: calls, upstreams, settlements, and the
    /// gauges read now (charges not yet written, open holds, running calls).
    pub fn render_metrics(&self, out: &mut Exposition) {
        self.metrics.render(out);
        self.upstreams.stats().render(out);
        self.settlements.stats().render(out, UNITS_PER_USD as f64);
        let gauges = [
            (
                "gatehouse_settlement_queue_depth",
                "Charges handed to the settlement writer and not yet committed (queued, being written, or \
                 waiting to be tried again).",
                self.settlements.unwritten(),
            ),
            (
                "gatehouse_open_holds",
                "Holds of running calls on this instance's admission book (money reserved until the call settles).",
                self.admissions.open_holds(),
            ),
            ("gatehouse_running_calls", "API calls and web chat replies running now.", self.calls.running()),
        ];
        for (name, help, value) in gauges {
            out.family(name, Kind::Gauge, help);
            out.count(name, &[], u64::try_from(value).unwrap_or(u64::MAX));
        }
    }
}
