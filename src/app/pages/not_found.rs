//! The 404 page (answers with status 404 when rendered on the server).

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Page not found" />
        <section class="card narrow center">
            <h1>"Page not found"</h1>
            <p class="muted">"There is nothing at this address. It may have moved, or the link may be mistyped."</p>
            <a class="btn primary" href="/">"Go to the home page"</a>
        </section>
    }
}
