//! The 404 page (answers with status 404 when rendered on the server).

use crate::i18n::*;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    let i18n = use_i18n();
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text=tu_string!(i18n, not_found.title) />
        <section class="card narrow center">
            <h1>{t!(i18n, not_found.title)}</h1>
            <p class="muted">{t!(i18n, not_found.text)}</p>
            <a class="btn primary" href="/">{t!(i18n, not_found.go_home)}</a>
        </section>
    }
}
