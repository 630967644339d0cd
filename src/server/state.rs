//! `AppState`: the one bundle of shared services handed to every handler and server function. It is one
//! `Arc` (axum clones the state for every request and extractor, so a clone is one reference count).

use crate::server::config::{Secret, Settings};
use crate::server::db::Db;
use crate::server::domain::pricing::Pricing;
use crate::server::domain::referral::EmailPolicy;
use crate::server::mail::Mailer;
use crate::server::proxy::admission_book::AdmissionBook;
use crate::server::proxy::hot_cache::{KeyCache, TierCache};
use crate::server::proxy::settlement_writer::{CallTracker, SettlementWriter};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub mailer: Arc<Mailer>,
    pub leptos: LeptosOptions,
    /// `PUBLIC_BASE_URL`, or `http://` plus the bound address; no trailing slash.
    pub public_base_url: Arc<str>,
    pub pricing: Arc<Pricing>,
    /// Where API calls go (the mock, or configured providers).
    pub upstreams: Arc<crate::server::proxy::upstream::Upstreams>,
    pub rate_limiter: Arc<crate::server::proxy::rate_limit::RateLimiter>,
    /// API keys and rate tiers the proxy reads on every call, in memory.
    pub key_cache: Arc<KeyCache>,
    pub tier_cache: Arc<TierCache>,
    /// Balances, packages and running calls' holds, for admission without a database round trip.
    pub admissions: Arc<AdmissionBook>,
    /// Writes finished calls' charges in batches, off the request path.
    pub settlements: Arc<SettlementWriter>,
    /// Calls still running (streams outlive their handler); shutdown waits for them.
    pub calls: CallTracker,
    /// Refused calls (402, 429) kept for the Bills page, at most one per account and status a window.
    pub refusals: Arc<crate::server::proxy::refusal_log::RefusalLog>,
    /// Which emails qualify for referral rewards.
    pub email_policy: Arc<EmailPolicy>,
    /// Outgoing HTTP (Stripe).
    pub http: reqwest::Client,
    /// Signs dev mode's test payments when Stripe is not configured; random per process.
    pub test_payment_secret: Arc<Secret>,
}

impl AppState {
    /// Waits until every running call has finished and its charge is committed (tests, shutdown).
    pub async fn settled(&self, limit: std::time::Duration) -> bool {
        let idle = self.calls.wait_idle(limit).await;
        let flushed = tokio::time::timeout(limit, self.settlements.flush()).await.is_ok();
        idle && flushed
    }
}

/// What pages, payments and the key API tell the proxy when something changed outside a call; they never
/// reach into its caches themselves, and only the account concerned is read again.
impl AppState {
    /// A key of this account was created, changed or deleted.
    pub fn key_changed(&self, user_id: i64) {
        self.key_cache.invalidate_user(user_id);
    }

    /// This account's balance, paid top-ups or packages changed outside a call (a top-up, a code, a grant).
    pub fn money_moved(&self, user_id: i64) {
        self.tier_cache.invalidate(user_id);
        self.admissions.invalidate(user_id);
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
