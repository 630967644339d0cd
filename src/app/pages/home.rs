//! `/`: what Gatehouse is (signed out), or where the account stands (signed in): balance and tier, packages
//! with bars, today's spend, recent keys, and for a new account three first steps.

use crate::app::components::layout::ViewerResource;
use crate::app::components::usd::Amount;
use crate::shared::dto::{Overview, SignedInUser, Viewer};
use crate::shared::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "overview")]
pub async fn get_overview() -> Result<Overview, AppError> {
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            crate::server::home_view::overview(&state, user.id).await
        }
        .await,
    )
}

#[component]
pub fn HomePage() -> impl IntoView {
    let viewer = expect_context::<ViewerResource>();
    view! {
        <Title text="" />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(Viewer { user: Some(user), .. }) => view! { <SignedIn user /> }.into_any(),
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
                <a class="btn ghost" href="/prices">"See prices"</a>
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

#[component]
fn SignedIn(user: SignedInUser) -> impl IntoView {
    let data = Resource::new(|| (), |_| get_overview());
    view! {
        <p class="eyebrow">{format!("{} · member since {}", user.email, user.member_since)}</p>
        <h1 class="welcome">"Your account"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) => overview(o).into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn overview(o: Overview) -> impl IntoView {
    let new_account = !o.steps_done.iter().all(|d| *d);
    view! {
        {new_account.then(|| first_steps(o.steps_done))}
        <div class="overview" data-testid="overview">
            <section class="card">
                <h2>"Balance"</h2>
                <p class=if o.balance_positive { "stat-value" } else { "stat-value negative" } data-testid="home-balance">
                    <Amount usd=o.balance.clone() />
                </p>
                {(!o.balance_positive).then(|| view! {
                    <p class="notice">"API calls are refused (HTTP 402) until your balance is positive."</p>
                })}
                <p class="muted small">{format!("Rate limit: {} requests per minute. ", o.rpm)}<a href="/billing/balance">"Tiers"</a></p>
                <a class="btn primary small" href="/billing/topup">"Top up"</a>
            </section>
            <section class="card">
                <h2>"Today"</h2>
                <p class="stat-value" data-testid="today-calls">{format!("{} call{}", o.today_calls, if o.today_calls == 1 { "" } else { "s" })}</p>
                <p class="muted small">
                    <Amount usd=o.today_balance.clone() />" from your balance, "
                    <Amount usd=o.today_packages.clone() />" from packages (UTC day)."
                </p>
                <a class="btn ghost small" href="/billing/bills">"Bills"</a>
            </section>
            <section class="card">
                <h2>"Resource packages"</h2>
                {if o.packages.is_empty() {
                    view! { <p class="muted small">"No active packages. Invite a friend and you each get one."</p> }.into_any()
                } else {
                    o.packages.into_iter().map(|p| view! {
                        <div class="mini-package">
                            <p class="small"><strong>{p.title}</strong></p>
                            <div class="progress" role="img" aria-label=format!("{}% left", p.percent_left)>
                                <span style=format!("width: {}%", p.percent_left)></span>
                            </div>
                            <p class="muted small">
                                <Amount usd=p.remaining />" left of "<Amount usd=p.original />{format!(", {}", p.expires_relative)}
                            </p>
                        </div>
                    }).collect_view().into_any()
                }}
                <a class="btn ghost small" href="/billing/packages">"Packages"</a>
            </section>
            <section class="card">
                <h2>"API keys"</h2>
                {if o.recent_keys.is_empty() {
                    view! { <p class="muted small">"No keys yet."</p> }.into_any()
                } else {
                    view! {
                        <ul class="plain-list small">
                            {o.recent_keys.into_iter().map(|(name, prefix, used)| view! {
                                <li><strong>{name}</strong>" "<span class="mono muted">{prefix}</span><span class="muted">{format!(" · {used}")}</span></li>
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
                <a class="btn ghost small" href="/keys">{format!("Manage keys ({})", o.key_count)}</a>
            </section>
        </div>
    }
}

fn first_steps(done: [bool; 3]) -> impl IntoView {
    let step = |i: usize, title: &'static str, text: &'static str, href: &'static str, action: &'static str| {
        view! {
            <li class:done=done[i]>
                <span class="step-mark" aria-hidden="true">{if done[i] { "✓".to_string() } else { (i + 1).to_string() }}</span>
                <div>
                    <strong>{title}</strong>{done[i].then_some(" (done)")}
                    <p class="muted small">{text}</p>
                    <a class="btn small" class:primary=!done[i] class:ghost=done[i] href=href>{action}</a>
                </div>
            </li>
        }
    };
    view! {
        <section class="card first-steps" data-testid="first-steps">
            <h2>"Get started in three steps"</h2>
            <ol class="steps">
                {step(0, "Create an API key", "One key per tool; you see it once.", "/keys", "Create a key")}
                {step(1, "Use it in Claude Code, Codex or Immersive Translate", "The Docs fill in this server's address for each tool.", "/docs", "Open the Docs")}
                {step(2, "Invite a friend", "You both get a Claude Code package when they sign up.", "/i", "Get your invite link")}
            </ol>
        </section>
    }
}
