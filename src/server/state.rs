//! `AppState`: the one bundle of shared services handed to every handler and server function. It is one
//! `Arc` (axum clones the state for every request and extractor, so a clone is one reference count).

use crate::server::config::{Secret, Settings};
use crate::server::db::Db;
use crate::server::domain::referral::EmailPolicy;
use crate::server::http::origin_guard::SiteOrigins;
use crate::server::live_pricing::LivePricing;
use crate::server::mail::Mailer;
use crate::server::proxy::gateway::Gateway;
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
    /// The origins (and in dev the hosts) the site's pages are served from; see `http::origin_guard`.
    pub site_origins: Arc<SiteOrigins>,
    /// The prices in force (replaced when operators save a new version; see `live_pricing`).
    pub pricing: Arc<LivePricing>,
    /// What every charged call goes through: upstreams, rate limits, caches, holds, settlement (see
    /// `proxy::gateway`). Pages tell it what changed; they never reach into it.
    pub gateway: Arc<Gateway>,
    /// Which emails qualify for referral rewards.
    pub email_policy: Arc<EmailPolicy>,
    /// Outgoing HTTP (Stripe).
    pub http: reqwest::Client,
    /// Signs dev mode's test payments when Stripe is not configured; random per process.
    pub test_payment_secret: Arc<Secret>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
