//! Gatehouse: a self-hosted LLM API platform. `app` is the Leptos UI (server-rendered and hydrated),
//! `shared` holds what both sides need, `server` is everything that only runs in the axum process.
#![recursion_limit = "256"]

pub mod app;
pub mod shared;

#[cfg(feature = "ssr")]
pub mod server;

/// Browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
