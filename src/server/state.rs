//! `AppState`: the one bundle of shared services handed to every handler and server function.

use crate::server::config::Settings;
use crate::server::db::Db;
use crate::server::mail::Mailer;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub mailer: Arc<Mailer>,
    pub leptos: LeptosOptions,
    /// `PUBLIC_BASE_URL`, or `http://` plus the bound address; no trailing slash.
    pub public_base_url: Arc<str>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
