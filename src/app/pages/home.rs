//! `/`: what Gatehouse is (signed out) or the account overview (signed in).

use crate::app::components::layout::ViewerResource;
use crate::shared::dto::{SignedInUser, Viewer};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn HomePage() -> impl IntoView {
    let viewer = expect_context::<ViewerResource>();
    view! {
        <Title text="" />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(Viewer { user: Some(user), .. }) => signed_in(user).into_any(),
                    _ => landing().into_any(),
                }
            })}
        </Suspense>
    }
}

fn landing() -> impl IntoView {
    view! {
        <section class="hero">
            <h1>"Claude and GPT behind one key, on your own server."</h1>
            <p class="lead">
                "Gatehouse is a self-hosted LLM API platform: sign in with a link sent to your email, "
                "create API keys for Claude Code and the OpenAI and Anthropic SDKs, chat in the browser, "
                "and pay from resource packages first, then your balance."
            </p>
            <div class="actions">
                <a class="btn primary" href="/login">"Log in or sign up"</a>
            </div>
        </section>
        <section class="features">
            <div class="card">
                <h2>"No passwords"</h2>
                <p class="muted">"Enter your email, click the link we send, confirm. The same link creates your account the first time."</p>
            </div>
            <div class="card">
                <h2>"Compatible APIs"</h2>
                <p class="muted">"Anthropic Messages and OpenAI chat completions, so Claude Code and the official SDKs work unchanged."</p>
            </div>
            <div class="card">
                <h2>"Clear billing"</h2>
                <p class="muted">"Every call shows its official cost, what your packages paid and what your balance paid."</p>
            </div>
        </section>
    }
}

fn signed_in(user: SignedInUser) -> impl IntoView {
    view! {
        <section class="card">
            <p class="eyebrow">"Your account"</p>
            <h1 class="welcome">"Welcome, " {user.email.clone()}</h1>
            <dl class="facts">
                <div>
                    <dt>"Email"</dt>
                    <dd>{user.email}</dd>
                </div>
                <div>
                    <dt>"Member since"</dt>
                    <dd>{user.member_since}</dd>
                </div>
            </dl>
        </section>
    }
}
